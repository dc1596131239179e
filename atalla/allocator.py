"""The scratchpad allocation policy: page-granular, first-fit over contiguous free pages.

A contract, not a choice of either side: the firmware serves ALLOC and FREE with it (one instance
behind both front doors, emulator and cocotb, so both see the same addresses), and the compiler
replays it while it emits, so a program that compiles never runs out of scratchpad at run time.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from types import MappingProxyType


class AllocatorError(Exception):
    """A malformed request (e.g. zero bytes). Subclasses name the two service failures."""


class OutOfMemory(AllocatorError):
    pass


class BadFree(AllocatorError):
    pass


class ScratchpadAllocator:
    """Kept as a sorted list of free page runs: the firmware serves a call in the simulation's time
    slot, so each call is a few list steps (a page map in NumPy cost tens of microseconds a call)."""

    def __init__(self, capacity_bytes: int, page_bytes: int) -> None:
        if page_bytes <= 0 or capacity_bytes < 0:
            raise ValueError(f"bad allocator geometry: capacity {capacity_bytes}, page {page_bytes}")
        self.page_bytes = page_bytes
        # A capacity that is not whole pages (fault injection) is floored to whole pages.
        pages = capacity_bytes // page_bytes
        self.capacity_bytes = pages * page_bytes
        self._free_runs: list[list[int]] = [[0, pages]] if pages else []  # [first page, end page), address order
        self._live: dict[int, tuple[int, str]] = {}  # addr -> (reserved bytes, owner)
        self.buffers: Mapping[int, tuple[int, str]] = MappingProxyType(self._live)  # live(), unordered
        self.used_bytes = 0
        self.peak_bytes = 0

    def largest_free_bytes(self) -> int:
        return max((end - first for first, end in self._free_runs), default=0) * self.page_bytes

    def alloc(self, nbytes: int, owner: str) -> int:
        if nbytes <= 0:
            raise AllocatorError(f"scratchpad alloc by {owner}: asked {nbytes} bytes; must be positive")
        pages = -(-nbytes // self.page_bytes)
        for i, run in enumerate(self._free_runs):
            first, end = run
            if end - first >= pages:
                break
        else:
            raise OutOfMemory(
                f"scratchpad out of memory: {owner} asked {nbytes} bytes; "
                f"{self.capacity_bytes - self.used_bytes} of {self.capacity_bytes} bytes free, "
                f"largest free run {self.largest_free_bytes()} bytes")
        if end - first == pages:
            del self._free_runs[i]
        else:
            run[0] = first + pages
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
        self.used_bytes -= size
        first = addr // self.page_bytes
        end = first + size // self.page_bytes
        runs = self._free_runs
        i = bisect.bisect_left(runs, [first])  # the first free run after the buffer
        if i < len(runs) and runs[i][0] == end:  # joins the run after
            runs[i][0] = first
        else:
            runs.insert(i, [first, end])
        if i > 0 and runs[i - 1][1] == first:  # and the run before
            runs[i - 1][1] = runs[i][1]
            del runs[i]

    def live(self) -> dict[int, tuple[int, str]]:
        """addr -> (reserved bytes, i.e. rounded up to pages, owner), in address order."""
        return dict(sorted(self._live.items()))
