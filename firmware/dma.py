"""DMA descriptors: decoding from a mailbox call, validation, and the engine interface.

Element (r, c) of a block is the bf16 at DRAM byte dram_addr + 2*(r*row_stride + c*col_stride)
and at scratchpad byte sp_addr + r*sp_row_bytes + 2*c. Loads zero the rest of each scratchpad row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol

import numpy as np

from atalla.config import HardwareConfig
from atalla.isa import MAILBOX_ARGS, DmaDirection, MailboxCall


class DmaError(Exception):
    pass


class DmaDescriptor(NamedTuple):
    """A DMA call's arguments, in their mailbox order (a tuple: decoding one costs little)."""

    direction: DmaDirection
    sp_addr: int
    dram_addr: int
    rows: int
    cols: int
    row_stride: int  # in elements
    col_stride: int  # in elements
    ticket: int

    @classmethod
    def from_args(cls, args: tuple[int, ...]) -> DmaDescriptor:
        """Decode a DMA mailbox call; ValueError if the arguments are not a DMA call's."""
        if len(args) != len(cls._fields):
            raise ValueError(f"DMA takes {len(cls._fields)} arguments {cls._fields}, got {len(args)}")
        try:
            direction = DmaDirection(args[0])
        except ValueError:
            raise ValueError(f"DMA direction {args[0]} is neither LOAD nor STORE") from None
        return cls(direction, *map(int, args[1:]))

    def describe(self) -> str:
        return (f"DMA {self.direction.name.lower()} sp={self.sp_addr:#06x} dram={self.dram_addr:#010x} "
                f"rows={self.rows} cols={self.cols} stride=({self.row_stride},{self.col_stride}) "
                f"ticket={self.ticket}")

    def dram_elements(self) -> np.ndarray:
        """rows x cols DRAM element indices (byte address // 2) of the block."""
        r = np.arange(self.rows, dtype=np.int64)[:, None] * self.row_stride
        c = np.arange(self.cols, dtype=np.int64)[None, :] * self.col_stride
        return self.dram_addr // 2 + r + c

    def dram_span(self) -> tuple[int, int]:
        """[lowest, highest] DRAM byte touched."""
        r, c = (self.rows - 1) * self.row_stride, (self.cols - 1) * self.col_stride
        lo = self.dram_addr + 2 * (min(r, 0) + min(c, 0))
        hi = self.dram_addr + 2 * (max(r, 0) + max(c, 0)) + 1
        return lo, hi


# The fields are the mailbox call's arguments, in order; fail loudly if they ever drift apart.
if DmaDescriptor._fields != MAILBOX_ARGS[MailboxCall.DMA]:
    raise ImportError(f"DmaDescriptor fields {DmaDescriptor._fields} are not the DMA call's arguments "
                      f"{MAILBOX_ARGS[MailboxCall.DMA]}")


def validate(desc: DmaDescriptor, config: HardwareConfig, live_buffers: Mapping[int, tuple[int, str]]) -> None:
    """Raise DmaError unless the descriptor is safe to hand to the engine. live_buffers: addr ->
    (bytes, owner) of the allocated scratchpad buffers, in any order."""

    def fail(why: str) -> None:
        raise DmaError(f"{desc.describe()}: {why}")

    if desc.rows == 0 or desc.cols == 0:
        fail(f"empty block (rows={desc.rows}, cols={desc.cols})")
    if desc.cols > config.lanes:
        fail(f"cols {desc.cols} > lanes {config.lanes}")
    if desc.ticket >= config.num_tickets:
        fail(f"ticket {desc.ticket} >= num_tickets {config.num_tickets}")
    if desc.dram_addr % 2:
        fail(f"dram_addr {desc.dram_addr:#x} is odd (not bf16-aligned)")
    lo, hi = desc.dram_span()
    if lo < 0 or hi >= config.dram_bytes:
        fail(f"DRAM span [{lo:#x}, {hi:#x}] is outside DRAM of {config.dram_bytes:#x} bytes")
    # Buffer references always address whole rows; anything else is a command-processor bug.
    if desc.sp_addr % config.sp_row_bytes:
        fail(f"sp_addr {desc.sp_addr:#x} is not a multiple of sp_row_bytes {config.sp_row_bytes}")
    sp_end = desc.sp_addr + desc.rows * config.sp_row_bytes
    for base, (size, owner) in live_buffers.items():
        if base <= desc.sp_addr < base + size:
            if sp_end > base + size:
                fail(f"scratchpad span [{desc.sp_addr:#x}, {sp_end:#x}) overruns the buffer of {owner} "
                     f"[{base:#x}, {base + size:#x})")
            break
    else:
        fail(f"scratchpad span [{desc.sp_addr:#x}, {sp_end:#x}) is not inside any live buffer")
    # A store that writes one DRAM element twice has no defined result (which write wins?).
    if desc.direction == DmaDirection.STORE and not _distinct_elements(desc):
        fail("store writes some DRAM elements more than once (overlapping strides)")


def _distinct_elements(desc: DmaDescriptor) -> bool:
    """Whether the block's elements are distinct DRAM elements. Arithmetic for the usual blocks (a
    nonzero inner stride and rows that do not interleave, in either order); counted otherwise."""
    rs, cs = abs(desc.row_stride), abs(desc.col_stride)
    if desc.rows == 1 or desc.cols == 1:
        return (desc.cols == 1 or cs > 0) and (desc.rows == 1 or rs > 0)
    if (cs > 0 and rs >= desc.cols * cs) or (rs > 0 and cs >= desc.rows * rs):
        return True
    elems = desc.dram_elements()
    return np.unique(elems).size == elems.size


class DmaEngine(Protocol):
    def start(self, desc: DmaDescriptor) -> None:
        """Begin a validated transfer. Completion is tracked by the command processor's ticket."""
        ...


class ImmediateDmaEngine:
    """Reference engine: copies at once (the emulator's behaviour), over uint8 DRAM and scratchpad."""

    def __init__(self, config: HardwareConfig, dram: np.ndarray, scratchpad: np.ndarray) -> None:
        self._dram16 = dram.view("<u2")
        self._sp_rows = scratchpad.view("<u2").reshape(-1, config.lanes)
        self._row_bytes = config.sp_row_bytes

    def start(self, desc: DmaDescriptor) -> None:
        rows = slice(desc.sp_addr // self._row_bytes, desc.sp_addr // self._row_bytes + desc.rows)
        elems = desc.dram_elements()
        if desc.direction == DmaDirection.LOAD:
            self._sp_rows[rows] = 0
            self._sp_rows[rows, : desc.cols] = self._dram16[elems]
        else:
            self._dram16[elems] = self._sp_rows[rows, : desc.cols]
