"""Blob serializer and loader: round trip, determinism, and that every corruption is a BlobError."""

from __future__ import annotations

import dataclasses
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atalla.blob_format import HEADER, RECORDS, SECTION, VERSION_MAJOR, VERSION_MINOR, Role, SectionKind
from atalla.config import CONFIGS
from atalla.isa import BMODE_SHIFT, BMode, Flag, Opcode, VecFunc, command, make_ref
from atalla.program import HostOp, Program, TensorInfo
from compiler.serialize import serialize
from runtime.loader import BlobError, load, load_file

CFG = CONFIGS["small"]


def make_program(**changes) -> Program:
    tensors = [
        TensorInfo("x", Role.INPUT, (2, 8), dram_offset=0),
        TensorInfo("mask", Role.INPUT, (8,), dram_offset=64),
        TensorInfo("w", Role.CONSTANT, (8, 8), dram_offset=128, const_offset=0),
        TensorInfo("bias", Role.CONSTANT, (8,), dram_offset=256, const_offset=128),
        TensorInfo("h", Role.INTERMEDIATE, (2, 8), dram_offset=320),
        TensorInfo("g", Role.INTERMEDIATE, (2, 8), dram_offset=384),
        TensorInfo("y", Role.OUTPUT, (2, 8), dram_offset=448),
        TensorInfo("y2", Role.OUTPUT, (), dram_offset=512),
    ]
    commands = [
        command(Opcode.ALLOC, handle=0, bytes=256),
        command(Opcode.ALLOC, handle=1, bytes=256),
        command(Opcode.DMA_LOAD, sp=make_ref(0), dram_addr=0, rows=2, cols=8, row_stride=8, col_stride=1, ticket=0),
        command(Opcode.DMA_LOAD, sp=make_ref(1), dram_addr=128, rows=8, cols=8, row_stride=8, col_stride=1, ticket=1),
        command(Opcode.WAIT, ticket=0),
        command(Opcode.WAIT, ticket=1),
        command(Opcode.GEMM, func=1, flags=Flag.ACCUMULATE, a=make_ref(0), b=make_ref(1), c=make_ref(1, 8), d=make_ref(1, 8), m=2, k=8, n=8),
        command(Opcode.VEC, func=VecFunc.MUL, flags=Flag.DST_FP32 | BMode.SCALAR << BMODE_SHIFT,
                dst=make_ref(1, 8), a=make_ref(1, 8), b=0x3F000000, rows=2, cols=8),
        command(Opcode.DMA_STORE, sp=make_ref(1, 8), dram_addr=320, rows=2, cols=8, row_stride=8, col_stride=1,
                ticket=2),
        command(Opcode.WAIT, ticket=2),
        command(Opcode.HOST, index=0),
        command(Opcode.FREE, handle=1),
        command(Opcode.FREE, handle=0),
        command(Opcode.NOP),
        command(Opcode.END),
    ]
    host_ops = [HostOp("aten.gelu.default", [{"tensor": 4}], {"approximate": "tanh"}, [5])]
    fields = dict(config=CFG, tensors=tensors, constants=bytes(range(144)), commands=commands, host_ops=host_ops,
                  program_dram_offset=1024, dram_bytes_used=1024 + 32 * len(commands),
                  metadata={"model": "tiny", "ops": {"gemm": 1}, "version": "0.1.0"})
    fields.update(changes)
    return Program(**fields)


PROGRAM = make_program()
BLOB = serialize(PROGRAM)


def section_offset(blob: bytes, kind: SectionKind) -> tuple[int, int]:
    for i in range(HEADER.unpack(blob)["section_count"]):
        s = SECTION.unpack(blob, HEADER.size + i * SECTION.size)
        if s["kind"] == kind:
            return s["offset"], s["size"]
    raise KeyError(kind)


def flip(blob: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(blob)
    out[offset] ^= mask
    return bytes(out)


def with_header(blob: bytes, **fields) -> bytes:
    """Rewrite header fields without fixing the CRC."""
    h = HEADER.unpack(blob)
    h.update(fields)
    return HEADER.pack(h) + blob[HEADER.size:]


def with_header_crc(blob: bytes, header: dict, table: bytes, body_start: int | None = None) -> bytes:
    """A blob with this header and section table, CRC fixed, and the original body after them."""
    crc = zlib.crc32(HEADER.pack({**header, "header_crc32": 0}) + table)
    start = header["header_bytes"] if body_start is None else body_start
    return HEADER.pack({**header, "header_crc32": crc}) + table + blob[start:]


def expect_error(blob: bytes, *words: str, **kw) -> str:
    with pytest.raises(BlobError) as info:
        load(blob, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


def test_round_trip() -> None:
    assert load(BLOB) == PROGRAM
    assert load(BLOB, expect_config=CFG) == PROGRAM


def test_load_file(tmp_path) -> None:
    path = tmp_path / "p.atb"
    path.write_bytes(BLOB)
    assert load_file(path) == PROGRAM
    path.write_bytes(BLOB[:-1])
    with pytest.raises(BlobError, match="p.atb"):
        load_file(path)


def test_deterministic() -> None:
    assert serialize(make_program()) == BLOB
    assert serialize(load(BLOB)) == BLOB


def test_sections_aligned() -> None:
    for kind in SectionKind:
        assert section_offset(BLOB, kind)[0] % 16 == 0


@pytest.mark.parametrize("cut", [0, 3, HEADER.size - 1, HEADER.size + 5, len(BLOB) - 1])
def test_truncated(cut: int) -> None:
    expect_error(BLOB[:cut], "truncated", str(cut))


@pytest.mark.parametrize("kind", list(SectionKind))
def test_flipped_byte_in_section(kind: SectionKind) -> None:
    offset, size = section_offset(BLOB, kind)
    assert size > 0
    expect_error(flip(BLOB, offset + size // 2), kind.name, "CRC mismatch")


def test_flipped_byte_in_header() -> None:
    expect_error(flip(BLOB, HEADER.size - 1), "header CRC mismatch")


def test_bad_magic() -> None:
    expect_error(b"XTLB" + BLOB[4:], "bad magic")


def test_major_version() -> None:
    expect_error(with_header(BLOB, version_major=VERSION_MAJOR + 1), "major version",
                 f"{VERSION_MAJOR + 1}.{VERSION_MINOR}", f"{VERSION_MAJOR}.{VERSION_MINOR}")


def test_minor_version() -> None:
    expect_error(with_header(BLOB, version_minor=VERSION_MINOR + 1), "minor version",
                 f"{VERSION_MAJOR}.{VERSION_MINOR + 1}", f"{VERSION_MAJOR}.{VERSION_MINOR}")


def test_tensor_outside_dram() -> None:
    bad = list(PROGRAM.tensors)
    bad[6] = dataclasses.replace(bad[6], dram_offset=CFG.dram_bytes)
    expect_error(serialize(make_program(tensors=bad)), "tensor 6", "'y'", "outside DRAM")


def test_tensor_beyond_dram_bytes_used() -> None:
    expect_error(serialize(make_program(dram_bytes_used=500)), "tensor 7", "'y2'", "dram_bytes_used")


def test_tensor_misaligned() -> None:
    bad = list(PROGRAM.tensors)
    bad[1] = dataclasses.replace(bad[1], dram_offset=66)
    expect_error(serialize(make_program(tensors=bad)), "tensor 1", "'mask'", "dram_align")


def test_constant_data_rules() -> None:
    bad = list(PROGRAM.tensors)
    bad[0] = dataclasses.replace(bad[0], const_offset=0)
    expect_error(serialize(make_program(tensors=bad)), "tensor 0", "only CONSTANT")
    bad = list(PROGRAM.tensors)
    bad[3] = dataclasses.replace(bad[3], const_offset=140)
    expect_error(serialize(make_program(tensors=bad)), "tensor 3", "outside CONSTANTS")


def test_command_stream_overlaps_tensor() -> None:
    expect_error(serialize(make_program(program_dram_offset=448)), "command stream", "overlaps tensor 6")


def test_config_mismatch() -> None:
    expect_error(BLOB, "compiled for config 'small'", "uses 'atalla32'", "array_rows 8 != 32",
                 expect_config=CONFIGS["atalla32"])


@pytest.mark.parametrize("field", ["num_handles", "sp_page_bytes", "sp_row_bytes", "sp_banks", "dram_align",
                                   "array_rows", "dma_bytes_per_cycle"])
def test_invalid_config_record(field: str) -> None:
    """A zero where the config divides or sizes something: the loader's error, never a ZeroDivisionError."""
    h = HEADER.unpack(BLOB)
    h[f"cfg_{field}"] = 0
    expect_error(with_header_crc(BLOB, h, BLOB[HEADER.size : h["header_bytes"]]),
                 "not a valid hardware config", f"{field} must be positive")


def test_unknown_opcode() -> None:
    # A stand-in with an undefined opcode: serialize() only calls encode(), so all CRCs are right.
    class Raw:
        def __init__(self, word0: int) -> None:
            self.word0 = word0

        def encode(self) -> np.ndarray:
            return np.array([self.word0] + [0] * 7, dtype="<u4")

    commands = [*PROGRAM.commands[:3], Raw(0xEE), *PROGRAM.commands[3:]]
    expect_error(serialize(make_program(commands=commands)), "command 3", "unknown opcode 238")


def test_missing_end() -> None:
    expect_error(serialize(make_program(commands=PROGRAM.commands[:-1])), "not END")
    early = [command(Opcode.END), *PROGRAM.commands]
    expect_error(serialize(make_program(commands=early)), "command 0", "END before")


@pytest.mark.parametrize("cmd, words", [
    (command(Opcode.ALLOC, handle=CFG.num_handles, bytes=16), "handle"),
    (command(Opcode.GEMM, a=make_ref(0), b=make_ref(CFG.num_handles), c=make_ref(1), d=make_ref(1), m=1, k=1,
             n=1), "b handle"),
    (command(Opcode.WAIT, ticket=CFG.num_tickets), "ticket"),
    (command(Opcode.HOST, index=1), "host op index 1"),
    (command(Opcode.DMA_LOAD, flags=Flag.ACCUMULATE, sp=0, dram_addr=0, rows=1, cols=1, row_stride=1,
             col_stride=1, ticket=0), "flag"),
])
def test_bad_command_operands(cmd, words: str) -> None:
    commands = [*PROGRAM.commands[:-1], cmd, PROGRAM.commands[-1]]
    expect_error(serialize(make_program(commands=commands)), f"command {len(commands) - 2}", words)


def test_host_op_bad_tensor_reference() -> None:
    ops = [HostOp("aten.gelu.default", [{"tensor": 99}], {}, [5])]
    expect_error(serialize(make_program(host_ops=ops)), "host op 0", "99")
    ops = [HostOp("aten.gelu.default", [{"tensor": 4}], {}, [8])]
    expect_error(serialize(make_program(host_ops=ops)), "host op 0", "output 8")


@pytest.mark.parametrize("op, words", [
    # reads a host file into a tensor bound for DRAM
    (HostOp("aten.from_file.default", ["/etc/passwd", False, 64], {}, [5]), "not an op the host may run"),
    # allocates whatever size the blob asks
    (HostOp("aten.empty.memory_format", [[1 << 40]], {}, [5]), "not an op the host may run"),
    (HostOp("aten.full.default", [[1 << 20, 1 << 20], 1.0], {}, [5]), "not an op the host may run"),
    # a string that is not one of the op's enum values (a path, a device)
    (HostOp("aten.gelu.default", [{"tensor": 4}], {"approximate": "/etc/passwd"}, [5]), "the string '/etc/passwd'"),
    (HostOp("aten.add.Tensor", [{"tensor": 4}, {"tensor": 4}], {"alpha": "cpu"}, [5]), "the string 'cpu'"),
    # an argument that is neither a tensor, a number, a boolean nor None
    (HostOp("aten.cat.default", [[{"tensor": 4}, {"path": "/etc/passwd"}]], {}, [5]), "argument 0[1] is a dict"),
])
def test_host_ops_outside_the_allow_list_are_refused(op: HostOp, words: str) -> None:
    expect_error(serialize(make_program(host_ops=[op])), f"host op 0 ({op.target!r})", words)


def test_missing_and_duplicated_sections() -> None:
    h = HEADER.unpack(BLOB)
    table = bytearray(BLOB[HEADER.size : h["header_bytes"]])

    def with_kinds(kinds: list[int]) -> bytes:
        t = bytearray(table)
        for i, k in enumerate(kinds):
            struct.pack_into("<I", t, i * SECTION.size, k)
        return with_header_crc(BLOB, h, bytes(t))

    expect_error(with_kinds([1, 2, 3, 4, 5, 5]), "section table entry 5", "duplicated section HOST_OPS")
    expect_error(with_kinds([1, 2, 3, 4, 5, 77]), "section table entry 5", "unknown section kind 77")
    # Drop the last entry (STRINGS); its 16 bytes become zero padding, so only the count is wrong.
    short = {**h, "section_count": 5, "header_bytes": h["header_bytes"] - SECTION.size}
    blob = with_header_crc(BLOB, short, bytes(table[: 5 * SECTION.size]), h["header_bytes"])
    blob = blob[: short["header_bytes"]] + bytes(SECTION.size) + blob[short["header_bytes"]:]
    expect_error(blob, "missing section(s) STRINGS")


def test_overlapping_sections() -> None:
    h = HEADER.unpack(BLOB)
    table = bytearray(BLOB[HEADER.size : h["header_bytes"]])
    meta_offset, _ = section_offset(BLOB, SectionKind.METADATA)
    struct.pack_into("<I", table, 1 * SECTION.size + 4, meta_offset)  # TENSORS now starts on METADATA
    expect_error(with_header_crc(BLOB, h, bytes(table)), "overlaps section")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offset=st.integers(0, len(BLOB) - 1), mask=st.integers(1, 255))
def test_any_flipped_byte_is_caught(offset: int, mask: int) -> None:
    try:
        loaded = load(flip(BLOB, offset, mask))
    except BlobError:
        return
    assert loaded == PROGRAM  # only possible if the byte was ignorable padding


DOC = Path(__file__).resolve().parents[1] / "docs" / "blob-format.md"


def test_doc_states_the_format_version() -> None:
    doc, version = DOC.read_text(), f"{VERSION_MAJOR}.{VERSION_MINOR}"
    assert set(re.findall(r"version (\d+\.\d+)", doc)) == {version}, "docs/blob-format.md names another version"
    assert f"currently **{version}**" in doc
    assert f"| `version_major` | u16 | {VERSION_MAJOR} (see *Versioning*) |" in doc
    assert f"| `version_minor` | u16 | {VERSION_MINOR} |" in doc


def test_doc_describes_every_record_field() -> None:
    doc = DOC.read_text()
    for rec in RECORDS:
        assert f"`{rec.name}`, {rec.size} bytes" in doc, f"docs/blob-format.md: {rec.name} size"
        for name, typ in rec.fields:
            assert f"| `{name}` | {typ} |" in doc, f"docs/blob-format.md: {rec.name}.{name} ({typ}) missing"
