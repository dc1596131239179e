"""Atalla firmware: the mailbox services (allocator, DMA bookkeeping, host fallback, call log)."""

from firmware.dma import DmaEngine, DmaError, validate
from firmware.host_ops import HostOpError, run_host_op
from firmware.services import CallRecord, Firmware

__all__ = ["CallRecord", "DmaEngine", "DmaError", "Firmware", "HostOpError", "run_host_op", "validate"]
