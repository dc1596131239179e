"""The emulator behind the backend interface (runtime/interface.py)."""

from __future__ import annotations

import time

import numpy as np

from atalla.config import HardwareConfig
from atalla.program import Program
from runtime.emulator.machine import Emulator
from runtime.interface import FirmwareCall
from runtime.loader import load


class EmulatorBackend:
    name = "emulator"

    def __init__(self, sp_capacity: int | None = None):
        self.sp_capacity = sp_capacity  # fault injection: the firmware's allocator gets less scratchpad
        self.program: Program | None = None
        self.emulator: Emulator | None = None
        self.wall_seconds = 0.0

    def init(self, blob: bytes, expect_config: HardwareConfig | None = None) -> Program:
        self.program = load(blob, expect_config=expect_config)
        return self.program

    def execute(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """EmulatorError (a RunError) names the command and the rule when the program misbehaves."""
        started = time.perf_counter()
        self.emulator = Emulator(self.program, sp_capacity=self.sp_capacity)
        outputs = self.emulator.run(inputs)
        self.wall_seconds = time.perf_counter() - started
        return outputs

    def read_tensor(self, name: str) -> np.ndarray:
        return self.emulator.read_tensor(name)

    def firmware_calls(self) -> list[FirmwareCall]:
        return [(r.kind, r.args, r.status, r.value) for r in self.emulator.firmware.log]

    def stats(self) -> dict:
        return {**self.emulator.stats(), "wall_seconds": round(self.wall_seconds, 3)}
