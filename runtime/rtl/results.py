"""What a co-simulation run leaves in its run directory: the one definition that the bench inside
the simulator (tb_cosim.py, the writer) and its readers (cosim.py, replay.py) share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from atalla.isa import Fault, Opcode, Status
from atalla.program import Program
from runtime.rtl.signals import words

# The command processor's counters, each read from the top's <name>_o port at the end of the run.
COUNTERS = ("cycles", "fetch_cycles", "gemm_cycles", "vec_cycles", "mailbox_cycles", "wait_cycles",
            "interlock_cycles", "mac_count", "array_busy_cycles", "gemm_bank_stall_cycles", "vec_bank_stall_cycles",
            "dma_bank_stall_cycles")


@dataclass(frozen=True)
class RunFiles:
    """The files of one run, by what they hold."""

    run_dir: Path

    def __getattr__(self, name: str) -> Path:
        try:
            return self.run_dir / _FILES[name]
        except KeyError:
            raise AttributeError(f"a co-simulation run leaves no {name!r} file") from None

    def stale(self) -> list[Path]:
        """The results of an earlier run: removed before a new one starts."""
        return [self.run_dir / name for name in _FILES.values() if name.startswith("rtl_")]


_FILES = {
    # put there by the outer process
    "blob": "model.atb",
    "inputs": "inputs.npz",  # input0, input1, ... in the program's order
    "progress": "progress.txt",  # a line the simulation updates, shown by the outer process
    # a segment of a longer program (runtime/verify/segments.py): DRAM at its start, the emulator's checkpoint
    "start_dram": "start_dram.npy",
    # left by the simulation
    "result": "rtl_result.json",  # how the run ended, counters, op counts, wall time (RtlRun's fields)
    "outputs": "rtl_outputs.npz",  # output0, output1, ...
    "tensors": "rtl_tensors.npz",  # every intermediate's final DRAM bytes, by tensor name
    "firmware_calls": "rtl_firmware_log.json",  # [kind, args, status, value] per call
    "firmware_log": "rtl_firmware_log.txt",  # the firmware's readable call log
    "firmware_error": "rtl_firmware_error.txt",  # the traceback, when the firmware raised
    "trace": "rtl_trace.npy",  # the recorded events (atalla.isa.TraceEvent)
    "recording": "rtl_recording.bin",  # everything Python put into the run (recording.py)
    # a segment's DRAM at its end: "image", the start image's extent; "nonzero_beyond", the first
    # non-zero byte past it (none: an empty array)
    "dram": "rtl_dram.npz",
}


def ending(program: Program, status: str, read: Callable[[str], int]) -> dict:
    """How a run ended, from the top's ports as read(port name) gives them: where it stopped, why,
    every counter and the count of each opcode executed."""
    index = read("cmd_index_o")
    return {
        "status": status,
        "command_index": index,
        "command": program.commands[index].kind if index < len(program.commands) else None,
        "fault": Fault(read("fault_code_o")).name,
        "fault_status": Status(read("fault_status_o")).name,
        "counters": {name: read(f"{name}_o") for name in COUNTERS},
        "op_count": dict(zip((op.name for op in Opcode), words(read("op_count_o"), len(Opcode)))),
    }
