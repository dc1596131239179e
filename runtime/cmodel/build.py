"""Builds the C runtime (runtime/c) with the C compiler Verilator already needs, once per content.

Each product (the shared library the bindings load, the example program, the sanitized verdict
tool) goes to sim_build/cmodel-<product>-<hash>, the hash covering its sources, the headers and the
flags, through the same build_once as the Verilator builds (only a finished build is reused).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from runtime.rtl.build import BUILD_ROOT, ROOT, build_once

C_DIR = ROOT / "runtime" / "c"
INCLUDE = ROOT / "include"
LIBRARY_SOURCES = ("blob.c", "cmodel.c", "firmware.c", "pytext.c")
# -ffp-contract=off: no fused multiply-add, so every fp32 step rounds as docs/numerics.md says.
CFLAGS = ("-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-fno-fast-math")
OPTIMIZE = ("-O3",)
SANITIZE = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all")


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc) on PATH: the C runtime needs the one Verilator's builds use")
    return cc


def _build(product: str, sources: tuple[str, ...], flags: tuple[str, ...], shared: bool) -> Path:
    files = [C_DIR / s for s in sources]
    headers = sorted(C_DIR.glob("*.h")) + [INCLUDE / "atalla_abi.h"]
    h = hashlib.sha256(repr((product, sources, flags, shared, compiler())).encode())
    for f in files + headers:
        h.update(f.read_bytes())
    build_dir = BUILD_ROOT / f"cmodel-{product}-{h.hexdigest()[:12]}"
    name = f"lib{product}.so" if shared else product

    def make(tmp: Path, log: Path) -> None:
        tmp.mkdir(parents=True)
        command = [compiler(), *CFLAGS, *flags, f"-I{INCLUDE}", f"-I{C_DIR}", *map(str, files), "-o", str(tmp / name),
                   "-lm"]
        if shared:
            command[1:1] = ["-shared", "-fPIC"]
        result = subprocess.run(command, capture_output=True, text=True)
        log.write_text(" ".join(command) + "\n" + result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"building the C runtime ({product}) failed: see {log}\n{result.stderr[-2000:]}")

    return build_once(build_dir, name, make) / name


def library() -> Path:
    """The C runtime as a shared library, for runtime.cmodel's ctypes bindings."""
    return _build("atalla", LIBRARY_SOURCES, OPTIMIZE, shared=True)


def example(sanitize: bool = False) -> Path:
    """runtime/c/example.c: loads a blob and runs it on the C model with the C firmware."""
    return _build("atalla_example" + "_asan" * sanitize, (*LIBRARY_SOURCES, "example.c"),
                  SANITIZE if sanitize else OPTIMIZE, shared=False)


def verdicts(sanitize: bool = True) -> Path:
    """runtime/c/verdicts.c: the C loader's verdict on each blob of a corpus file."""
    return _build("atalla_verdicts" + "_asan" * sanitize, (*LIBRARY_SOURCES, "verdicts.c"),
                  SANITIZE if sanitize else OPTIMIZE, shared=False)
