"""Binary layout of the blob (docs/blob-format.md): the one definition of its records.

All records are little-endian with no padding. include/atalla_abi.h is generated from these.
Record also lays out the co-simulation testbench's records (atalla/tb_formats.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from dataclasses import fields as _config_fields
from enum import IntEnum
from functools import cached_property

import numpy as np

from atalla.config import CONFIG_NAME_BYTES, HardwareConfig
from atalla.isa import BF16_BYTES, INDEX_BYTES

MAGIC = b"ATLB"
VERSION_MAJOR = 5  # a loader refuses any other major version
VERSION_MINOR = 0  # a loader accepts minor versions up to its own
NO_CONSTANT = 0xFFFFFFFF  # const_offset of a tensor that has no initial data
MAX_DIMS = 6
SECTION_ALIGN = 16  # every section starts at a multiple of this, so a C loader can cast records in place


class SectionKind(IntEnum):
    METADATA = 1  # UTF-8 JSON, keys sorted: model, compiler version, op summary, plan figures
    TENSORS = 2  # TENSOR records
    CONSTANTS = 3  # raw bytes that constant tensors are loaded from
    COMMANDS = 4  # the command stream, COMMAND_BYTES per command
    HOST_OPS = 5  # HOST_OP records
    STRINGS = 6  # UTF-8 string pool that TENSOR and HOST_OP records point into


class DType(IntEnum):
    BF16 = 1
    INT32 = 2  # row ids (an embedding's input); every element lies in [0, the tensor's index_bound)


DTYPE_BYTES = {DType.BF16: BF16_BYTES, DType.INT32: INDEX_BYTES}


class Role(IntEnum):
    INPUT = 1
    OUTPUT = 2
    CONSTANT = 3
    INTERMEDIATE = 4


_TYPE_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "i32": "i", "i64": "q"}


@dataclass(frozen=True)
class Record:
    """A fixed-size little-endian record. Field types: u8, u16, u32, u64, i32, i64, u32[N], char[N]."""

    name: str
    fields: tuple[tuple[str, str], ...]

    @cached_property
    def layout(self) -> tuple[tuple[str, str, int | None], ...]:
        """(name, base type, count) of each field; count is None for a scalar."""
        out = []
        for name, typ in self.fields:
            base, bracket, count = typ.partition("[")
            out.append((name, base, int(count.rstrip("]")) if bracket else None))
        return tuple(out)

    @cached_property
    def format(self) -> str:
        """The struct module's format."""
        return "<" + "".join(f"{n or ''}{'s' if base == 'char' else _TYPE_CODES[base]}" for _, base, n in self.layout)

    @cached_property
    def dtype(self) -> np.dtype:
        """The NumPy structured dtype, to view an array of records in place."""
        def field(name: str, base: str, n: int | None) -> tuple:
            if base == "char":
                return name, f"S{n}"
            return (name, f"<{_TYPE_CODES[base]}") + ((n,),) * (n is not None)

        return np.dtype([field(*f) for f in self.layout])

    @cached_property
    def size(self) -> int:
        return struct.calcsize(self.format)

    def pack(self, values: dict) -> bytes:
        flat = []
        for name, typ in self.fields:
            v = values[name]
            flat.extend(v if typ.startswith("u32[") else [v])
        return struct.pack(self.format, *flat)

    def unpack(self, data: bytes, offset: int = 0) -> dict:
        flat = list(struct.unpack_from(self.format, data, offset))
        out = {}
        for name, typ in self.fields:
            if typ.startswith("u32["):
                n = int(typ[4:-1])
                out[name], flat = tuple(flat[:n]), flat[n:]
            else:
                out[name] = flat.pop(0)
        return out


CONFIG_FIELDS = tuple(f.name for f in _config_fields(HardwareConfig) if f.name != "name")

HEADER = Record("atalla_blob_header", (
    ("magic", "char[4]"),
    ("version_major", "u16"),
    ("version_minor", "u16"),
    ("header_bytes", "u32"),  # this record plus the section table
    ("header_crc32", "u32"),  # CRC-32 of header_bytes with this field taken as zero
    ("section_count", "u32"),
    ("program_dram_offset", "u32"),  # where the command stream is placed in DRAM
    ("command_count", "u32"),
    ("dram_bytes_used", "u32"),  # end of the highest planned byte
    ("config_name", f"char[{CONFIG_NAME_BYTES}]"),
    *((f"cfg_{name}", "u32") for name in CONFIG_FIELDS),
))

SECTION = Record("atalla_blob_section", (
    ("kind", "u32"),
    ("offset", "u32"),  # from the start of the blob
    ("size", "u32"),
    ("crc32", "u32"),
))

TENSOR = Record("atalla_blob_tensor", (
    ("dram_offset", "u32"),
    ("nbytes", "u32"),
    ("const_offset", "u32"),  # into CONSTANTS, or NO_CONSTANT
    ("name_offset", "u32"),  # into STRINGS
    ("name_len", "u32"),
    ("dtype", "u8"),
    ("role", "u8"),
    ("ndim", "u8"),
    ("reserved", "u8"),
    ("shape", f"u32[{MAX_DIMS}]"),
    ("strides", f"u32[{MAX_DIMS}]"),  # in elements
    ("index_bound", "u32"),  # INT32: the rows of the table its ids index (>= 1); BF16: 0
))

HOST_OP = Record("atalla_blob_host_op", (
    ("target_offset", "u32"),  # ATen op name in STRINGS, e.g. "aten.gelu.default"
    ("target_len", "u32"),
    ("args_offset", "u32"),  # JSON in STRINGS: {"args": [...], "kwargs": {...}, "outputs": [ids]}
    ("args_len", "u32"),  # tensors appear in args/kwargs as {"tensor": id}
))

RECORDS = (HEADER, SECTION, TENSOR, HOST_OP)
