"""How a random program ended on each backend, and the one judgement of whether they agree."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from runtime.verify.generator import Generated


class Ending(NamedTuple):
    status: str  # done, fault or watchdog
    index: int  # the command that faulted (-1 when done)
    fault: str  # a Fault name
    fault_status: str  # the firmware's Status name, with FIRMWARE
    message: str = ""  # the emulator's one line


def verdict(gen: Generated, emulator: Ending, rtl: Ending, emu_dram: np.ndarray, rtl_dram: np.ndarray,
            emu_calls: list[tuple], rtl_calls: list[tuple]) -> str | None:
    """None when the RTL ended as the emulator did, or one line saying the first difference.

    A legal program must end done on both with every byte of its DRAM image equal (outputs, and
    the epilogue's copy of every scratchpad buffer) and the same firmware calls. A planted command
    must stop both there, with its code, after the same firmware calls; but when the firmware
    refused a DMA, whose call is posted, the commands after it may have made calls on the RTL too:
    the emulator's calls must then be the RTL's first ones."""
    same_end = emulator[:4] == rtl[:4]
    if not same_end:
        return (f"the emulator ended {_describe(emulator)}, the RTL {_describe(rtl)}"
                + (f" ({emulator.message})" if emulator.message else ""))
    if gen.planted is not None:
        want = (gen.planted.index, gen.planted.fault.name)
        if (emulator.index, emulator.fault) != want:
            return (f"planted {gen.planted.kind} at command {want[0]} should fault {want[1]}; both ended "
                    f"{_describe(emulator)}")
        # A refused DMA faults when its answer comes: the commands after it may have made calls too.
        calls = rtl_calls[: len(emu_calls)] if emulator.fault == "FIRMWARE" else rtl_calls
        if calls != emu_calls:
            return f"firmware calls differ up to the fault: {_first_difference(emu_calls, rtl_calls)}"
        return None
    if emulator.status != "done":
        return f"the legal program did not finish: {emulator.message}"
    if rtl_calls != emu_calls:
        return f"firmware calls differ: {_first_difference(emu_calls, rtl_calls)}"
    differ = np.flatnonzero(emu_dram != rtl_dram)
    if len(differ):
        return f"DRAM differs at {len(differ)} bytes, first {_where(gen, int(differ[0]))}: " \
               f"emulator {emu_dram[differ[0]]:#04x}, RTL {rtl_dram[differ[0]]:#04x}"
    return None


def _describe(e: Ending) -> str:
    if e.status == "done":
        return "done"
    if e.status == "watchdog":
        return f"by the watchdog at command {e.index}"
    return f"with fault {e.fault}" + (f"/{e.fault_status}" if e.fault == "FIRMWARE" else "") + f" at command {e.index}"


def _first_difference(a: list[tuple], b: list[tuple]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"call {i}: emulator {x}, RTL {y}"
    return f"the emulator made {len(a)} calls, the RTL {len(b)}"


def _where(gen: Generated, address: int) -> str:
    """A DRAM byte by the tensor (and element) or the command holding it."""
    for t in gen.program.tensors:
        if t.dram_offset <= address < t.dram_offset + t.nbytes:
            return f"byte {address:#x} (tensor {t.name!r} element {(address - t.dram_offset) // 2})"
    return f"byte {address:#x} (the command stream)"
