"""The C model behind the backend interface (runtime/interface.py): `--backend cmodel`.

init validates the blob with the Python loader (the Program the caller gets) and with the C loader
(the program the C model runs); execute runs it in C. Firmware: "c" (default) serves ALLOC, FREE and
DMA with the C firmware (runtime/c/firmware.c, the allocator and DMA rules of firmware/ in C, the same
call log) and hands HOST calls to the Python firmware, which runs the ATen op; "python" serves every
call from the Python firmware through the C ABI's firmware table, as the cocotb testbench does.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from atalla.blob_format import DType, Role
from atalla.config import HardwareConfig
from atalla.isa import MailboxCall, Opcode, Status, VecFunc, call_name
from atalla.program import Program
from atalla.runtime_abi import RunFailure
from firmware import Firmware
from runtime import image
from runtime.cmodel.native import CFirmware, Machine, python_firmware_table
from runtime.interface import FirmwareCall, RunError
from runtime.loader import load

FIRMWARES = ("c", "python")


class CModelError(RunError):
    """The program stopped before END on the C model; the message is the emulator's for the same fault."""

    def __init__(self, message: str, failure: RunFailure, index: int, status: Status):
        super().__init__(message)
        self.failure, self.index, self.status = failure, index, status


class _CDmaEngine:
    """The Python firmware's DMA engine on the C model: the C runtime's one DMA function."""

    def __init__(self, machine: Machine):
        self.machine = machine

    def start(self, desc) -> None:
        self.machine.dma_transfer(tuple(int(x) for x in desc))


class CModelBackend:
    name = "cmodel"

    def __init__(self, firmware: str = "c", sp_capacity: int | None = None):
        if firmware not in FIRMWARES:
            raise ValueError(f"cmodel firmware {firmware!r}: one of {', '.join(FIRMWARES)}")
        self.firmware_kind = firmware
        self.sp_capacity = sp_capacity  # fault injection: the firmware's allocator gets less scratchpad
        self.program: Program | None = None
        self.machine: Machine | None = None
        self.wall_seconds = 0.0
        self._calls: list[FirmwareCall] = []
        self._stats: dict = {}

    def init(self, blob: bytes, expect_config: HardwareConfig | None = None) -> Program:
        self.program = load(blob, expect_config=expect_config)
        self.machine = Machine(blob, self.program.config)
        return self.program

    def execute(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """CModelError (a RunError) names the command and the rule when the program misbehaves."""
        program, machine = self.program, self.machine
        specs, out_specs = program.by_role(Role.INPUT), program.by_role(Role.OUTPUT)
        if len(inputs) != len(specs):
            raise CModelError(f"the program takes {len(specs)} inputs, {len(inputs)} given", RunFailure.BAD_INPUT, -1,
                              Status.OK)
        values = []
        for spec, value in zip(specs, inputs):
            value = np.asarray(value)
            if value.shape != spec.shape:
                raise CModelError(f"input {spec.name!r}: shape {value.shape} given, the program was compiled for "
                                  f"{spec.shape}", RunFailure.BAD_INPUT, -1, Status.OK)
            if spec.dtype == DType.INT32:
                try:
                    value = image.check_row_ids(spec, value).astype("<i4")
                except ValueError as e:
                    raise CModelError(str(e), RunFailure.BAD_INPUT, -1, Status.OK) from None
            values.append(np.ascontiguousarray(value, dtype="<i4" if spec.dtype == DType.INT32 else np.float32))
        outputs = [np.empty(t.shape, dtype=np.float32) for t in out_specs]
        cfg = program.config
        capacity = cfg.sp_bytes if self.sp_capacity is None else self.sp_capacity
        started = time.perf_counter()
        python_fw = Firmware(cfg, program, machine.dram, _CDmaEngine(machine), capacity)
        table, errors = python_firmware_table(python_fw)
        c_fw = CFirmware(machine, capacity, table) if self.firmware_kind == "c" else None
        failure = machine.execute(c_fw.table if c_fw else table, values, outputs)
        self.wall_seconds = time.perf_counter() - started
        if errors:
            raise errors[0]
        if c_fw is not None:
            self._calls = [(MailboxCall(k) if k in MailboxCall._value2member_map_ else k, args, Status(status), value)
                           for k, args, status, value, _ in c_fw.log()]
            peak = c_fw.peak_bytes
        else:
            self._calls = [(r.kind, r.args, r.status, r.value) for r in python_fw.log]
            peak = python_fw.sp_peak_bytes
        self._stats = self._collect(peak)
        if failure != RunFailure.OK:
            raise CModelError(machine.message, failure, machine.fault_index, machine.fault_status)
        return outputs

    def _collect(self, peak: int) -> dict:
        kinds: Counter[str] = Counter()
        for op in Opcode:
            for func in (VecFunc if op == Opcode.VEC else (0,)):
                n = self.machine.command_count(int(op), int(func))
                if n:
                    kinds[f"VEC.{VecFunc(func).name}" if op == Opcode.VEC else op.name] += n
        return {"commands_by_kind": dict(sorted(kinds.items())),
                "firmware_calls_by_kind": dict(Counter(call_name(c[0]) for c in self._calls)),
                "scratchpad_peak_bytes": peak}

    def read_tensor(self, name: str) -> np.ndarray:
        return image.read_tensor(self.machine.dram, self.program.tensors[self.program.tensor_id(name)])

    def firmware_calls(self) -> list[FirmwareCall]:
        return list(self._calls)

    def stats(self) -> dict:
        return {**self._stats, "wall_seconds": round(self.wall_seconds, 3), "firmware": self.firmware_kind}
