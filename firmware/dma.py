"""The firmware's DMA rules: which descriptors it hands to the engine, and the engine interface.

A descriptor (atalla.dma.DmaDescriptor) comes from a DMA mailbox call; validate() refuses one the
engine must not run, with a message that names the descriptor and the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from atalla.config import HardwareConfig
from atalla.dma import DmaDescriptor
from atalla.isa import BF16_BYTES, INDEX_BYTES, DmaDirection


class DmaError(Exception):
    pass


def validate(desc: DmaDescriptor, config: HardwareConfig, live_buffers: Mapping[int, tuple[int, str]],
             dram: np.ndarray, stream: tuple[int, int]) -> None:
    """Raise DmaError unless the descriptor is safe to hand to the engine. live_buffers: addr ->
    (bytes, owner) of the allocated scratchpad buffers, in any order; dram (uint8): where a
    GATHER's row ids are read, as the engine will read them (nothing writes them meanwhile: the
    program's ordering rules); stream: the DRAM bytes [start, end) of the program's commands, which
    no store may write (the command processor fetches them ahead of time; the functional models
    take them from the blob)."""

    def fail(why: str) -> None:
        raise DmaError(f"{desc.describe()}: {why}")

    if desc.rows == 0 or desc.cols == 0:
        fail(f"empty block (rows={desc.rows}, cols={desc.cols})")
    if desc.cols > config.lanes:
        fail(f"cols {desc.cols} > lanes {config.lanes}")
    if desc.ticket >= config.num_tickets:
        fail(f"ticket {desc.ticket} >= num_tickets {config.num_tickets}")
    if desc.dram_addr % BF16_BYTES:
        fail(f"dram_addr {desc.dram_addr:#x} is odd (not bf16-aligned)")
    if desc.direction == DmaDirection.GATHER:
        _validate_gather(desc, config, dram, fail)
    else:
        lo, hi = desc.dram_span()
        if lo < 0 or hi >= config.dram_bytes:
            fail(f"DRAM span [{lo:#x}, {hi:#x}] is outside DRAM of {config.dram_bytes:#x} bytes")
        if desc.direction == DmaDirection.STORE and lo < stream[1] and stream[0] <= hi:
            fail(f"DRAM span [{lo:#x}, {hi:#x}] overlaps the command stream [{stream[0]:#x}, {stream[1]:#x})")
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
    if desc.direction == DmaDirection.STORE and not distinct_elements(desc):
        fail("store writes some DRAM elements more than once (overlapping strides)")


def _validate_gather(desc: DmaDescriptor, config: HardwareConfig, dram: np.ndarray, fail) -> None:
    lo, hi = desc.index_span()
    if lo % INDEX_BYTES:
        fail(f"row ids at {lo:#x} are not {INDEX_BYTES}-byte aligned")
    if hi >= config.dram_bytes:
        fail(f"row ids [{lo:#x}, {hi:#x}] are outside DRAM of {config.dram_bytes:#x} bytes")
    ids = desc.row_ids(dram)
    row_bytes = BF16_BYTES * desc.cols
    for r, row_id in enumerate(ids.tolist()):
        start = desc.dram_addr + BF16_BYTES * row_id * desc.row_stride
        if row_id < 0 or start + row_bytes > config.dram_bytes:
            fail(f"row id {row_id} (row {r}) reads [{start:#x}, {start + row_bytes - 1:#x}], outside DRAM of "
                 f"{config.dram_bytes:#x} bytes")


def distinct_elements(desc: DmaDescriptor) -> bool:
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
