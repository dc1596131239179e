"""Runs a compiled program on the RTL: builds the design for a hardware config (once; cached),
simulates it with tb_cosim serving the firmware, and returns what the run produced.

The outer process does everything heavy (compiling, the emulator, PyTorch); the simulation gets
a run directory with the blob and the inputs, and leaves its results there.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atalla.config import HardwareConfig
from atalla.isa import MailboxCall, Status
from runtime.rtl.build import Dut, run
from runtime.rtl.params import verilator_parameters

DESIGN = ("atalla_pkg.sv", "fp/fp32_pkg.sv", "pe.sv", "systolic_array.sv",
          "gemm_unit.sv", "vector_unit.sv", "cmdproc.sv", "mailbox.sv", "fetch.sv", "scratchpad.sv", "dram.sv", "dma.sv",
          "atalla_top.sv")
WATCHDOG_CYCLES = 200_000  # far longer than any single command or firmware call takes


def design(config: HardwareConfig) -> Dut:
    """The whole-design bench for one hardware config."""
    return Dut("atalla_tb", (*DESIGN, "tb/atalla_tb.sv"),
               cpp=("dram_model.cpp", "tb/trace_recorder.cpp", "tb/firmware_port.cpp"),
               vlt="tb/atalla_tb.vlt",
               parameters=(*verilator_parameters(config, "atalla_tb"), ("WATCHDOG_CYCLES", WATCHDOG_CYCLES)))


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
            progress: bool = False, quiet: bool = False) -> RtlRun:
    """waves: None, "vcd" or "fst"; progress: show a line that follows the simulation; quiet: keep the
    tools' logs in files (sim_build/*.log, run_dir/sim/sim.log) rather than on the console.

    Fault injection: sp_capacity gives the firmware's allocator less scratchpad; drop_call makes
    the firmware never answer that call (counted from 0); raise_call makes it raise in that call,
    as a bug in it would (the run ends there and this raises RuntimeError naming the exception)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob("rtl_*"):
        stale.unlink()
    (run_dir / "model.atb").write_bytes(blob)
    np.savez(run_dir / "inputs.npz", **{f"input{i}": x for i, x in enumerate(inputs)})
    # The simulation is one thread and host ops are small: PyTorch's OpenMP workers must sleep between
    # ops rather than spin for a core the simulator needs (measured on 2 cores: a GELU took 7 ms, now 80 us).
    env = {"COSIM_DIR": str(run_dir), "OMP_WAIT_POLICY": "PASSIVE"}
    if sp_capacity is not None:
        env["COSIM_SP_CAPACITY"] = str(sp_capacity)
    if drop_call is not None:
        env["COSIM_DROP_CALL"] = str(drop_call)
    if raise_call is not None:
        env["COSIM_RAISE_CALL"] = str(raise_call)
    with _Progress(run_dir / "progress.txt", enabled=progress):
        run(design(config), "runtime.rtl.tb_cosim", extra_env=env, waves=waves, test_dir=run_dir / "sim",
            quiet=quiet or progress)
    result_file, error_file = run_dir / "rtl_result.json", run_dir / "rtl_firmware_error.txt"
    if error_file.exists():
        last = error_file.read_text().strip().splitlines()[-1]
        raise RuntimeError(f"the firmware raised during the simulation: {last} (traceback in {error_file})")
    if not result_file.exists():
        raise RuntimeError(f"the simulation ended without a result; see {run_dir / 'sim'}")
    result = json.loads(result_file.read_text())
    outputs = np.load(run_dir / "rtl_outputs.npz")
    calls = [(MailboxCall(k), tuple(a), Status(s), v)
             for k, a, s, v in json.loads((run_dir / "rtl_firmware_log.json").read_text())]
    return RtlRun(**result, outputs=[outputs[f"output{i}"] for i in range(len(outputs.files))],
                  intermediates=dict(np.load(run_dir / "rtl_tensors.npz")), firmware_calls=calls,
                  trace=np.load(run_dir / "rtl_trace.npy"), run_dir=run_dir)


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


def intact_intermediates(program) -> list[str]:
    """Intermediates no later tensor overwrote, in the order they were produced: their final DRAM
    bytes are their values, so RTL and emulator can be compared on them after the run."""
    lifetimes = program.metadata.get("lifetimes", {})
    tensors = sorted((t for t in program.tensors if t.name in lifetimes), key=lambda t: lifetimes[t.name][0])
    intact = []
    for t in tensors:
        born = lifetimes[t.name][0]
        if not any(lifetimes[u.name][0] > born and u.dram_offset < t.dram_offset + t.nbytes
                   and t.dram_offset < u.dram_offset + u.nbytes for u in tensors):
            intact.append(t.name)
    return intact


def first_difference(got: np.ndarray, want: np.ndarray) -> str | None:
    """Where two arrays first differ bit for bit, and the values there, or None."""
    diff = np.argwhere(got.view(np.uint32) != want.view(np.uint32))
    if not len(diff):
        return None
    at = tuple(int(i) for i in diff[0])
    return f"{len(diff)} elements differ, first {list(at)}: rtl {got[at]!r}, emulator {want[at]!r}"
