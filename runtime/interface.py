"""The one interface every way of running a blob implements, in the spirit of an ExecuTorch
delegate's runtime: ``init(blob)`` validates and loads the program, ``execute(inputs)`` runs it,
``stats()`` says what the run did and cost. The emulator (runtime/emulator/backend.py) and the RTL
co-simulation (runtime/rtl/backend.py) implement it; runtime/check.py runs any of them against
the emulator and PyTorch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from atalla.config import HardwareConfig
from atalla.isa import MailboxCall, Status
from atalla.program import Program

# A firmware call as every backend logs it: (kind, argument words, status, value).
FirmwareCall = tuple[MailboxCall, tuple[int, ...], Status, int]


class RunError(Exception):
    """The program could not run to its end: a refusal, a fault, the watchdog, a failed build."""


class Backend(Protocol):
    name: str

    def init(self, blob: bytes, expect_config: HardwareConfig | None = None) -> Program:
        """Validate the blob (runtime.loader; BlobError names what is wrong), refusing one compiled
        for another config than expect_config, and prepare to run it."""
        ...

    def execute(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run the program on inputs in the model's order; returns outputs in the model's order.
        RunError if it cannot finish."""
        ...

    def read_tensor(self, name: str) -> np.ndarray:
        """A tensor's value in DRAM at the end of the last execute."""
        ...

    def firmware_calls(self) -> list[FirmwareCall]:
        """Every firmware call of the last execute, in order."""
        ...

    def stats(self) -> dict:
        """What the last execute did and cost, JSON-ready."""
        ...
