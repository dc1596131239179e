"""The RTL co-simulation behind the backend interface (runtime/interface.py): run_rtl on a run
directory, with the cycle figures, the timeline, the mailbox log and the GTKWave save file made
from what the run left there."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atalla.blob_format import Role
from atalla.config import HardwareConfig
from atalla.dma import DmaDescriptor
from atalla.isa import BF16_BYTES, MailboxCall
from atalla.program import Program
from runtime.interface import FirmwareCall, RunError
from runtime.loader import load
from runtime.rtl import trace
from runtime.rtl.cosim import RtlRun, run_rtl
from runtime.rtl.waves import write_gtkw


class RtlError(RunError):
    """The design did not build, the simulation died, or the program faulted or hung on the RTL."""


class RtlBackend:
    name = "rtl"

    def __init__(self, run_dir: Path, *, waves: str | None = None, trace: bool = False, progress: bool = False,
                 quiet: bool = False):
        """run_dir: where the run's files go; waves: None, "vcd" or "fst"; trace: also write a Perfetto
        timeline and a mailbox log; progress: a line that follows the simulation; quiet: tool logs to files."""
        self.run_dir = Path(run_dir).resolve()
        self.waves, self.trace, self.progress, self.quiet = waves, trace, progress, quiet
        self.program: Program | None = None
        self.blob = b""
        self.run: RtlRun | None = None
        self.files: dict[str, Path] = {}  # what the run wrote for people to open, by kind

    def init(self, blob: bytes, expect_config: HardwareConfig | None = None) -> Program:
        self.program, self.blob = load(blob, expect_config=expect_config), blob
        return self.program

    def execute(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        try:
            self.run = run_rtl(self.blob, inputs, self.program.config, self.run_dir, waves=self.waves,
                               progress=self.progress, quiet=self.quiet)
        except RuntimeError as e:  # the design did not build, the simulator died or the firmware raised
            raise RtlError(str(e)) from None
        if self.run.problem() is not None:
            raise RtlError(self.run.problem())
        self.timeline = trace.timeline(self.program, self.run.trace)
        self.files = {}
        if self.trace:
            self.files["trace"] = self.run_dir / "trace.json"
            self.files["mailbox_log"] = self.run_dir / "mailbox.log"
            c = self.run.counters
            trace.write_trace(self.files["trace"], self.program, self.timeline,
                              {unit: c[f"{unit}_bank_stall_cycles"] for unit in ("gemm", "vec", "dma")})
            firmware_lines = (self.run_dir / "rtl_firmware_log.txt").read_text().splitlines()
            self.files["mailbox_log"].write_text(trace.mailbox_log(self.timeline, firmware_lines))
        dump = next((self.run_dir / "sim").glob("dump.*"), None) if self.waves else None
        if dump is not None:
            self.files["waves"], self.files["gtkw"] = dump, self.run_dir / "waves.gtkw"
            write_gtkw(self.files["gtkw"], dump, self.program.config)
        return self.run.outputs

    def read_tensor(self, name: str) -> np.ndarray:
        """Outputs and intermediates (their bytes in DRAM at the end of the run)."""
        outputs = [t.name for t in self.program.by_role(Role.OUTPUT)]
        if name in outputs:
            return self.run.outputs[outputs.index(name)]
        return self.run.intermediates[name]

    def firmware_calls(self) -> list[FirmwareCall]:
        return self.run.firmware_calls

    def stats(self) -> dict:
        run, config = self.run, self.program.config
        c = run.counters
        cycles, pes = c["cycles"], config.array_rows * config.array_cols
        calls_by_kind: dict[str, int] = {}
        for kind, *_ in run.firmware_calls:
            calls_by_kind[kind.name] = calls_by_kind.get(kind.name, 0) + 1
        dma = [DmaDescriptor.from_args(args) for kind, args, _, _ in run.firmware_calls if kind == MailboxCall.DMA]
        dma_bytes = sum(BF16_BYTES * d.rows * d.cols for d in dma)
        return {"cycles": cycles, "counters": c, "array_utilization": c["mac_count"] / (cycles * pes), "pes": pes,
                "dma_bytes": dma_bytes, "dma_busy_cycles": self.timeline.dma_busy_cycles(),
                "mailbox_calls_by_kind": dict(sorted(calls_by_kind.items())),
                "layer_cycles": {node: n for node, _, n in trace.layer_cycles(self.program, self.timeline)},
                "sim_cycles_per_second": cycles / run.wall_seconds if run.wall_seconds > 0 else 0.0,
                "wall_seconds": round(run.wall_seconds, 3), "commands_by_kind": run.op_count,
                "run_dir": str(self.run_dir), "files": {k: str(v) for k, v in self.files.items()}}
