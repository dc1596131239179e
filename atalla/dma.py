"""A DMA transfer as the firmware's DMA call names it: the one definition of a block's elements.

Element (r, c) of a block is the bf16 at DRAM byte dram_addr + BF16_BYTES*(r*row_stride +
c*col_stride) and at scratchpad byte sp_addr + r*sp_row_bytes + BF16_BYTES*c. Loads zero the rest
of each scratchpad row. A GATHER is a load whose row r is table row ids[r]: DRAM byte dram_addr +
BF16_BYTES*(ids[r]*row_stride + c), with ids the int32 row ids at DRAM byte col_stride (the
argument's slot holds their address; a gathered row is contiguous). The emulator, the firmware,
the RTL benches and the compiler's checks all address blocks through it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from atalla.isa import BF16_BYTES, INDEX_BYTES, MAILBOX_ARGS, DmaDirection, MailboxCall


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
            raise ValueError(f"DMA direction {args[0]} is not one of LOAD, STORE, GATHER") from None
        return cls(direction, *map(int, args[1:]))

    @property
    def index_addr(self) -> int:
        """A GATHER's row ids: the DRAM byte address of `rows` int32s (the col_stride slot)."""
        return self.col_stride

    def describe(self) -> str:
        where = (f"ids={self.index_addr:#010x} row_stride={self.row_stride}" if self.direction == DmaDirection.GATHER
                 else f"stride=({self.row_stride},{self.col_stride})")
        return (f"DMA {self.direction.name.lower()} sp={self.sp_addr:#06x} dram={self.dram_addr:#010x} "
                f"rows={self.rows} cols={self.cols} {where} ticket={self.ticket}")

    def index_span(self) -> tuple[int, int]:
        """[lowest, highest] DRAM byte of a GATHER's row ids."""
        return self.index_addr, self.index_addr + INDEX_BYTES * self.rows - 1

    def row_ids(self, dram: np.ndarray) -> np.ndarray:
        """A GATHER's row ids as they are in `dram` (uint8) now; the caller has checked index_span."""
        return dram[self.index_addr : self.index_addr + INDEX_BYTES * self.rows].view("<i4").astype(np.int64)

    def dram_elements(self, ids: np.ndarray | None = None) -> np.ndarray:
        """rows x cols DRAM element indices (byte address // BF16_BYTES) of the block; a GATHER's
        are those of its table rows, given its row ids."""
        c = np.arange(self.cols, dtype=np.int64)[None, :]
        if self.direction == DmaDirection.GATHER:
            return self.dram_addr // BF16_BYTES + ids[:, None] * self.row_stride + c
        r = np.arange(self.rows, dtype=np.int64)[:, None] * self.row_stride
        return self.dram_addr // BF16_BYTES + r + c * self.col_stride

    def dram_span(self, ids: np.ndarray | None = None) -> tuple[int, int]:
        """[lowest, highest] DRAM byte of the block's elements (a GATHER's given its row ids)."""
        if self.direction == DmaDirection.GATHER:
            first, last = (int(ids.min()), int(ids.max())) if len(ids) else (0, 0)
            lo = self.dram_addr + BF16_BYTES * min(first * self.row_stride, last * self.row_stride)
            hi = self.dram_addr + BF16_BYTES * (max(first * self.row_stride, last * self.row_stride) + self.cols) - 1
            return lo, hi
        r, c = (self.rows - 1) * self.row_stride, (self.cols - 1) * self.col_stride
        lo = self.dram_addr + BF16_BYTES * (min(r, 0) + min(c, 0))
        hi = self.dram_addr + BF16_BYTES * (max(r, 0) + max(c, 0)) + BF16_BYTES - 1
        return lo, hi


# The fields are the mailbox call's arguments, in order; fail loudly if they ever drift apart.
if DmaDescriptor._fields != MAILBOX_ARGS[MailboxCall.DMA]:
    raise ImportError(f"DmaDescriptor fields {DmaDescriptor._fields} are not the DMA call's arguments "
                      f"{MAILBOX_ARGS[MailboxCall.DMA]}")
