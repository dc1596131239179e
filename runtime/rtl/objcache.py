#!/usr/bin/env python3
"""A compile cache for the Verilator builds: verilated.mk runs every compile as `$(OBJCACHE) c++ ...`,
and build.py sets OBJCACHE to this script.

Each build compiles Verilator's run-time library (verilated.cpp, verilated_vpi.cpp, ...), cocotb's
main and the testbenches' C++ models again, about 40 s of CPU a build, although they are the same
files with the same flags in every build. A compile of a source outside the build directory is
keyed by its command and its preprocessed text (as ccache's preprocessor mode does: whatever it
includes, a generated header of the build included, is in the key), and its object and dependency
file are copied from the cache when the key is there. The model's own sources, inside the build
directory, compile as they are: they differ from build to build. Only the standard library here:
it runs once per compile.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Beside the builds (build.py's BUILD_ROOT), so that removing the builds removes it too.
CACHE_ENV = "ATALLA_OBJCACHE_DIR"


def _cacheable(command: list[str]) -> tuple[Path, Path] | None:
    """(source, object) of a plain compile of one source outside the working directory, else None."""
    if "-c" not in command or "-o" not in command or command.index("-o") + 1 >= len(command):
        return None
    source, obj = Path(command[-1]), Path(command[command.index("-o") + 1])
    if source.suffix not in (".cpp", ".cc", ".c") or not source.is_absolute():
        return None
    return None if source.resolve().is_relative_to(Path.cwd().resolve()) else (source, obj)


def _key(command: list[str]) -> str | None:
    """The cache key: the command (less its output) and the preprocessed source; None if the
    preprocessor fails (the compile then runs, to report it)."""
    o = command.index("-o")
    rest = command[:o] + command[o + 2 :]
    preprocess = ["-E" if a == "-c" else a for a in rest if a not in ("-MMD", "-MD")]
    done = subprocess.run(preprocess, capture_output=True)
    if done.returncode != 0:
        return None
    compiler = shutil.which(command[0]) or command[0]
    stat = os.stat(compiler) if os.path.exists(compiler) else None
    h = hashlib.sha256(repr((rest, compiler, stat and (stat.st_size, stat.st_mtime_ns))).encode())
    h.update(done.stdout)
    return h.hexdigest()


def main(command: list[str]) -> int:
    cacheable = _cacheable(command)
    cache = os.environ.get(CACHE_ENV)
    key = _key(command) if cacheable and cache else None
    if key is None:
        return subprocess.call(command)
    _, obj = cacheable
    entry = Path(cache) / key
    deps = obj.with_suffix(".d")
    if (entry / "object").exists():
        shutil.copyfile(entry / "object", obj)
        if (entry / "deps").exists():
            shutil.copyfile(entry / "deps", deps)
        return 0
    status = subprocess.call(command)
    if status == 0:
        # Written whole under a temporary name, then renamed: a parallel build sees all or nothing.
        partial = entry.with_name(f"{key}.{os.getpid()}.partial")
        partial.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(obj, partial / "object")
        if deps.exists():
            shutil.copyfile(deps, partial / "deps")
        try:
            partial.rename(entry)
        except OSError:  # another build stored it first
            shutil.rmtree(partial, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
