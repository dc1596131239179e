"""Program -> blob bytes (docs/blob-format.md). The loader (runtime/loader.py) is the inverse.

The output is a pure function of the Program: no timestamps, dict orders fixed by sort_keys,
strings pooled in first-use order, so the same Program always gives the same bytes.
"""

from __future__ import annotations

import json
import zlib

from atalla.blob_format import (CONFIG_FIELDS, CONFIG_NAME_BYTES, HEADER, HOST_OP, MAGIC, MAX_DIMS, SECTION,
                                SECTION_ALIGN, TENSOR, VERSION_MAJOR, VERSION_MINOR, SectionKind)
from atalla.program import HostOp, Program


def align_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def canonical_json(value: object) -> bytes:
    """The one JSON spelling used in blobs: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def host_op_json(op: HostOp) -> bytes:
    return canonical_json({"args": op.args, "kwargs": op.kwargs, "outputs": op.outputs})


class _StringPool:
    """Deduplicated UTF-8 pool; offsets are assigned in first-use order."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.offsets: dict[bytes, int] = {}

    def add(self, s: bytes) -> tuple[int, int]:
        if s not in self.offsets:
            self.offsets[s] = len(self.data)
            self.data += s
        return self.offsets[s], len(s)


def _pad(values: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(values) + (0,) * (MAX_DIMS - len(values))


def serialize(program: Program) -> bytes:
    strings = _StringPool()

    tensors = bytearray()
    for i, t in enumerate(program.tensors):
        if len(t.shape) > MAX_DIMS:
            raise ValueError(f"tensor {i} ({t.name!r}): {len(t.shape)} dims, the blob holds at most {MAX_DIMS}")
        name_offset, name_len = strings.add(t.name.encode())
        tensors += TENSOR.pack({
            "dram_offset": t.dram_offset, "nbytes": t.nbytes, "const_offset": t.const_offset,
            "name_offset": name_offset, "name_len": name_len, "dtype": int(t.dtype), "role": int(t.role),
            "ndim": len(t.shape), "reserved": 0, "shape": _pad(t.shape), "strides": _pad(t.strides),
            "index_bound": t.index_bound,
        })

    host_ops = bytearray()
    for op in program.host_ops:
        target_offset, target_len = strings.add(op.target.encode())
        args_offset, args_len = strings.add(host_op_json(op))
        host_ops += HOST_OP.pack({"target_offset": target_offset, "target_len": target_len,
                                  "args_offset": args_offset, "args_len": args_len})

    sections: dict[SectionKind, bytes] = {
        SectionKind.METADATA: canonical_json(program.metadata),
        SectionKind.TENSORS: bytes(tensors),
        SectionKind.CONSTANTS: bytes(program.constants),
        SectionKind.COMMANDS: b"".join(c.encode().tobytes() for c in program.commands),
        SectionKind.HOST_OPS: bytes(host_ops),
        SectionKind.STRINGS: bytes(strings.data),
    }

    header_bytes = HEADER.size + len(sections) * SECTION.size
    table, body, offset = bytearray(), bytearray(), header_bytes
    for kind in sorted(sections):
        data = sections[kind]
        start = align_up(offset, SECTION_ALIGN)
        body += bytes(start - offset) + data
        table += SECTION.pack({"kind": int(kind), "offset": start, "size": len(data), "crc32": zlib.crc32(data)})
        offset = start + len(data)

    name = program.config.name.encode()
    if len(name) > CONFIG_NAME_BYTES:
        raise ValueError(f"config name {program.config.name!r} is longer than {CONFIG_NAME_BYTES} bytes")
    fields = {
        "magic": MAGIC, "version_major": VERSION_MAJOR, "version_minor": VERSION_MINOR,
        "header_bytes": header_bytes, "header_crc32": 0, "section_count": len(sections),
        "program_dram_offset": program.program_dram_offset, "command_count": len(program.commands),
        "dram_bytes_used": program.dram_bytes_used,
        "config_name": name,  # struct pads "16s" with NULs
        **{f"cfg_{f}": getattr(program.config, f) for f in CONFIG_FIELDS},
    }
    header = bytearray(HEADER.pack(fields) + table)
    fields["header_crc32"] = zlib.crc32(header)
    header[: HEADER.size] = HEADER.pack(fields)
    return bytes(header + body)
