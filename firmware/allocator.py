"""Scratchpad allocator: page-granular, first-fit over contiguous free pages.

One instance serves both front doors (emulator and cocotb), so both see the same addresses.
"""

from __future__ import annotations

import numpy as np


class AllocatorError(Exception):
    """A malformed request (e.g. zero bytes). Subclasses name the two service failures."""


class OutOfMemory(AllocatorError):
    pass


class BadFree(AllocatorError):
    pass


class ScratchpadAllocator:
    def __init__(self, capacity_bytes: int, page_bytes: int) -> None:
        if page_bytes <= 0 or capacity_bytes < 0:
            raise ValueError(f"bad allocator geometry: capacity {capacity_bytes}, page {page_bytes}")
        self.page_bytes = page_bytes
        # A capacity that is not whole pages (fault injection) is floored to whole pages.
        self.capacity_bytes = capacity_bytes // page_bytes * page_bytes
        self._used = np.zeros(capacity_bytes // page_bytes, dtype=bool)  # page map
        self._live: dict[int, tuple[int, str]] = {}  # addr -> (reserved bytes, owner)
        self.used_bytes = 0
        self.peak_bytes = 0

    def _free_runs(self) -> tuple[np.ndarray, np.ndarray]:
        """(start page, length) of every maximal run of free pages, in address order."""
        edges = np.diff(np.concatenate(([0], (~self._used).view(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        return starts, np.flatnonzero(edges == -1) - starts

    def largest_free_bytes(self) -> int:
        _, lengths = self._free_runs()
        return int(lengths.max(initial=0)) * self.page_bytes

    def alloc(self, nbytes: int, owner: str) -> int:
        if nbytes <= 0:
            raise AllocatorError(f"scratchpad alloc by {owner}: asked {nbytes} bytes; must be positive")
        pages = -(-nbytes // self.page_bytes)
        starts, lengths = self._free_runs()
        fits = np.flatnonzero(lengths >= pages)
        if fits.size == 0:
            raise OutOfMemory(
                f"scratchpad out of memory: {owner} asked {nbytes} bytes; "
                f"{self.capacity_bytes - self.used_bytes} of {self.capacity_bytes} bytes free, "
                f"largest free run {int(lengths.max(initial=0)) * self.page_bytes} bytes")
        first = int(starts[fits[0]])
        self._used[first : first + pages] = True
        addr, size = first * self.page_bytes, pages * self.page_bytes
        self._live[addr] = (size, owner)
        self.used_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.used_bytes)
        return addr

    def free(self, addr: int, owner: str) -> None:
        entry = self._live.get(addr)
        if entry is None:
            raise BadFree(f"free of {addr:#x} by {owner}: not an allocated buffer (double free?)")
        size, holder = entry
        if holder != owner:
            # The handle table and the allocator disagree: a command-processor or compiler bug.
            raise BadFree(f"free of {addr:#x} by {owner}: the buffer belongs to {holder}")
        del self._live[addr]
        first = addr // self.page_bytes
        self._used[first : first + size // self.page_bytes] = False
        self.used_bytes -= size

    def live(self) -> dict[int, tuple[int, str]]:
        """addr -> (reserved bytes, i.e. rounded up to pages, owner), in address order."""
        return dict(sorted(self._live.items()))
