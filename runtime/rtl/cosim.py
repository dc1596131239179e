"""Runs a compiled program on the RTL: builds the design for a hardware config (once; cached),
simulates it with tb_cosim serving the firmware, and returns what the run produced.

The outer process does everything heavy (compiling, the emulator, PyTorch); the simulation gets
a run directory with the blob and the inputs, and leaves its results there.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atalla.config import HardwareConfig
from atalla.isa import MailboxCall, Status
from runtime.rtl.build import Dut, run
from runtime.rtl.params import verilator_parameters
from runtime.rtl.results import RunFiles

DESIGN = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "systolic_array.sv", "gemm_unit.sv", "vector_unit.sv",
          "cmdproc.sv", "mailbox.sv", "fetch.sv", "sp_arbiter.sv", "scratchpad.sv", "dram.sv", "dma.sv", "atalla_top.sv")
WATCHDOG_CYCLES = 200_000  # far longer than any single command or firmware call takes


# Verilator's --threads for the whole design's model (a build per thread count). One by default:
# on this two-core machine a second thread gained 6% on the busy 32x32 array and lost half its
# speed whenever anything else ran (its workers spin), docs/performance.md section 6.
THREADS_ENV = "ATALLA_SIM_THREADS"


def sim_threads() -> int:
    """The threads the whole design's model is built for: $ATALLA_SIM_THREADS, else 1."""
    given = os.environ.get(THREADS_ENV, "1")
    if not given.isdigit() or int(given) < 1:
        raise ValueError(f"{THREADS_ENV}={given!r}: give a thread count of 1 or more")
    return int(given)


# Verilator's coverage counters (runtime/rtl/coverage.py reads what they write); branch points come
# with line coverage. (--coverage, all kinds at once, stops Verilator with an internal error.)
COVERAGE_FLAGS = ("--coverage-line", "--coverage-toggle", "--coverage-expr")


def design(config: HardwareConfig, coverage: bool = False) -> Dut:
    """The whole-design bench for one hardware config; coverage: built with coverage counters (its
    own build directory: the flags are in its key), the run writing sim/coverage.dat."""
    threads = sim_threads()
    flags = (("--threads", str(threads)) if threads > 1 else ()) + (COVERAGE_FLAGS if coverage else ())
    return Dut("atalla_tb", (*DESIGN, "tb/atalla_tb.sv"),
               cpp=("dram_model.cpp", "tb/trace_recorder.cpp", "tb/firmware_port.cpp"),
               vlt="tb/atalla_tb.vlt",
               parameters=(*verilator_parameters(config, "atalla_tb"), ("WATCHDOG_CYCLES", WATCHDOG_CYCLES)),
               extra_args=flags)


@dataclass
class RtlRun:
    status: str  # done, fault or watchdog
    command_index: int
    command: str | None
    fault: str
    fault_status: str
    firmware_error: str | None
    pending_call: str | None
    wall_seconds: float
    counters: dict[str, int]
    op_count: dict[str, int]
    outputs: list[np.ndarray]
    intermediates: dict[str, np.ndarray]
    firmware_calls: list[tuple]  # (kind, args, status, value), comparable with Firmware.log
    trace: np.ndarray  # recorded events: cycle, kind, a, b
    run_dir: Path

    def problem(self) -> str | None:
        """One line saying why the run did not finish, or None."""
        where = f"command {self.command_index} ({self.command})"
        if self.status == "fault":
            if self.fault == "FIRMWARE":
                return f"{where}: firmware call failed with {self.fault_status}: {self.firmware_error}"
            return f"{where}: the command processor faulted: {self.fault}"
        if self.status == "watchdog":
            pending = f"; mailbox call {self.pending_call} pending" if self.pending_call else ""
            return f"watchdog: no command finished for {WATCHDOG_CYCLES} cycles at {where}{pending}"
        return None


def run_rtl(blob: bytes, inputs: list[np.ndarray], config: HardwareConfig, run_dir: Path, *, waves: str | None = None,
            sp_capacity: int | None = None, drop_call: int | None = None, raise_call: int | None = None,
            progress: bool = False, quiet: bool = False, coverage: bool = False,
            start_dram: np.ndarray | None = None) -> RtlRun:
    """waves: None, "vcd" or "fst"; progress: show a line that follows the simulation; quiet: keep the
    tools' logs in files (sim_build/*.log, run_dir/sim/sim.log) rather than on the console;
    coverage: on the coverage build, leaving run_dir/sim/coverage.dat.

    start_dram: a segment of a longer program (runtime/verify/segments.py): DRAM from byte 0 at its
    start, the blob's command stream written over it, no inputs; the run leaves DRAM at its end
    in run_dir/rtl_dram.npz (RunFiles.dram).

    Fault injection: sp_capacity gives the firmware's allocator less scratchpad; drop_call makes
    the firmware never answer that call (counted from 0); raise_call makes it raise in that call,
    as a bug in it would (the run ends there and this raises RuntimeError naming the exception)."""
    files = RunFiles(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in files.stale():
        stale.unlink(missing_ok=True)
    files.blob.write_bytes(blob)
    np.savez(files.inputs, **{f"input{i}": x for i, x in enumerate(inputs)})
    files.start_dram.unlink(missing_ok=True)
    if start_dram is not None:
        np.save(files.start_dram, start_dram)
    # The simulation is one thread and host ops are small: PyTorch's OpenMP workers must sleep between
    # ops rather than spin for a core the simulator needs (measured on 2 cores: a GELU took 7 ms, now 80 us).
    # Fault injection: -1 drops or raises in no call; None leaves the allocator the whole scratchpad.
    settings = {"run_dir": str(run_dir), "sp_capacity": sp_capacity, "segment": start_dram is not None,
                "drop_call": -1 if drop_call is None else drop_call, "raise_call": -1 if raise_call is None else raise_call}
    with _Progress(files.progress, enabled=progress):
        run(design(config, coverage), "runtime.rtl.tb_cosim", settings=settings, extra_env={"OMP_WAIT_POLICY": "PASSIVE"},
            waves=waves, test_dir=run_dir / "sim", quiet=quiet or progress)
    if files.firmware_error.exists():
        last = files.firmware_error.read_text().strip().splitlines()[-1]
        raise RuntimeError(f"the firmware raised during the simulation: {last} (traceback in {files.firmware_error})")
    if not files.result.exists():
        raise RuntimeError(f"the simulation ended without a result; see {run_dir / 'sim'}")
    result = json.loads(files.result.read_text())
    outputs = np.load(files.outputs)
    calls = [(MailboxCall(k), tuple(a), Status(s), v) for k, a, s, v in json.loads(files.firmware_calls.read_text())]
    return RtlRun(**result, outputs=[outputs[f"output{i}"] for i in range(len(outputs.files))],
                  intermediates=dict(np.load(files.tensors)), firmware_calls=calls, trace=np.load(files.trace),
                  run_dir=run_dir)


class _Progress:
    """Echoes the simulation's progress file on one terminal line while it runs."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled
        self.stop = threading.Event()

    def __enter__(self):
        self.path.unlink(missing_ok=True)
        if self.enabled:
            self.thread = threading.Thread(target=self._follow, daemon=True)
            self.thread.start()
        return self

    def _follow(self) -> None:
        shown = ""
        sys.stderr.write("  building the design (cached after the first run)...\r")
        while not self.stop.wait(0.5):
            text = self.path.read_text().strip() if self.path.exists() else ""
            if text and text != shown:
                sys.stderr.write(f"\r  {text:<70}")
                shown = text
        sys.stderr.write("\r" + " " * 76 + "\r")

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.stop.set()
            self.thread.join()
