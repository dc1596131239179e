"""Atalla firmware: the mailbox services (allocator, DMA bookkeeping, host fallback, call log)."""

from firmware.allocator import AllocatorError, BadFree, OutOfMemory, ScratchpadAllocator
from firmware.dma import DmaDescriptor, DmaEngine, DmaError, ImmediateDmaEngine, validate
from firmware.host_ops import HostOpError, run_host_op
from firmware.services import CallRecord, Firmware

__all__ = [
    "AllocatorError", "BadFree", "CallRecord", "DmaDescriptor", "DmaEngine", "DmaError", "Firmware",
    "HostOpError", "ImmediateDmaEngine", "OutOfMemory", "ScratchpadAllocator", "run_host_op", "validate",
]
