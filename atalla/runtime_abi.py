"""The failure classes of the two runtimes: one code per way a blob is refused or a run stops.

runtime/loader.py tags every BlobError with its LoadError, and the C runtime (runtime/c) returns the
same code beside the same message, so the two loaders can be compared verdict for verdict. RunFailure
classifies why the C model stopped a program (the emulator raises the same message). Both are
generated into include/atalla_abi.h (atalla.codegen).
"""

from __future__ import annotations

from enum import IntEnum

# A DMA block of more DRAM elements than this is never listed element by element: it is taken as
# sharing an element with every transfer in flight whose range it overlaps (the emulator's and the C
# model's race check), so a block of absurd size (not yet refused by the firmware) costs nothing.
MAX_LISTED_ELEMENTS = 1 << 26


class LoadError(IntEnum):
    """Why a loader refused a blob (ATALLA_LOAD_OK: it did not)."""

    OK = 0
    TRUNCATED = 1  # the file ends before a part it declares
    BAD_MAGIC = 2
    BAD_VERSION = 3  # another major version, or a newer minor one
    BAD_HEADER = 4  # header fields that contradict each other or the config
    BAD_CRC = 5  # the header's or a section's checksum
    BAD_SECTION_TABLE = 6  # unknown, duplicated, missing, misaligned or overlapping sections, padding
    BAD_CONFIG = 7  # the config record is not a valid hardware config
    CONFIG_MISMATCH = 8  # a valid config, not the one this run uses
    BAD_METADATA = 9
    BAD_STRING = 10  # a string outside STRINGS or not UTF-8
    BAD_TENSOR = 11
    BAD_HOST_OP = 12
    BAD_COMMAND = 13
    HOST_MEMORY = 14  # the C loader could not allocate its own memory (never the Python loader)


class RunFailure(IntEnum):
    """Why a run stopped before END (ATALLA_RUN_OK: it did not)."""

    OK = 0
    BAD_INPUT = 1  # the inputs given do not fit the program's input tensors
    FIRMWARE = 2  # a mailbox call answered with a status other than OK (the status says which)
    UNBOUND_HANDLE = 3  # a command names a handle with no buffer
    HANDLE_IN_USE = 4  # ALLOC of a handle that already has a buffer
    TICKET = 5  # WAIT on a ticket with no DMA, or a DMA on a ticket still in flight
    HAZARD = 6  # touches memory a DMA in flight owns, or ends or runs a host op with DMA in flight
    OPERAND = 7  # a tile that does not fit the hardware or its buffer, or operands that overlap
    HOST_MEMORY = 8  # the C runtime could not allocate its own memory
