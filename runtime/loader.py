"""Blob bytes -> Program, validating everything first (docs/blob-format.md, "What the loader checks").

Every problem is a BlobError with a one-line message naming what is wrong and where, so a
corrupt or mismatched blob never reaches the emulator, the firmware or the RTL.
"""

from __future__ import annotations

import json
import os
import zlib
from typing import NoReturn

import numpy as np

from atalla import isa
from atalla.blob_format import (CONFIG_FIELDS, HEADER, HOST_OP, MAGIC, MAX_DIMS, NO_CONSTANT, SECTION, SECTION_ALIGN,
                                TENSOR, VERSION_MAJOR, VERSION_MINOR, DType, Record, Role, SectionKind)
from atalla.config import HardwareConfig
from atalla.host_ops import host_op_problem, tensor_refs
from atalla.isa import COMMAND_BYTES, COMMAND_WORDS, BMode, Command, Flag, Opcode
from atalla.program import HostOp, Program, TensorInfo
from atalla.runtime_abi import LoadError


class BlobError(ValueError):
    """The blob is malformed, corrupt, from an unsupported version or for another config; kind is the
    failure class (atalla.runtime_abi.LoadError), the same the C loader returns."""

    def __init__(self, message: str, kind: LoadError):
        super().__init__(message)
        self.kind = kind


def _fail(kind: LoadError, msg: str) -> NoReturn:
    raise BlobError(msg, kind)


def _range(start: int, size: int) -> str:
    return f"[{start:#x}, {start + size:#x})"


def load_file(path: str | os.PathLike, expect_config: HardwareConfig | None = None) -> Program:
    with open(path, "rb") as f:
        data = f.read()
    try:
        return load(data, expect_config)
    except BlobError as e:
        raise BlobError(f"{os.fspath(path)}: {e}", e.kind) from None


def load(data: bytes, expect_config: HardwareConfig | None = None) -> Program:
    data = bytes(data)
    header = _read_header(data)
    sections = _read_sections(data, header)
    config = _read_config(header, expect_config)
    metadata = _read_metadata(sections[SectionKind.METADATA])
    strings, constants = sections[SectionKind.STRINGS], sections[SectionKind.CONSTANTS]
    tensors = _read_tensors(sections[SectionKind.TENSORS], strings, constants, config)
    used = header["dram_bytes_used"]
    if used > config.dram_bytes:
        _fail(LoadError.BAD_HEADER,
              f"header: dram_bytes_used {used:#x} exceeds config {config.name!r} DRAM of {config.dram_bytes:#x} bytes")
    for i, t in enumerate(tensors):
        if t.dram_offset + t.nbytes > used:
            _fail(LoadError.BAD_TENSOR, f"tensor {i} ({t.name!r}): DRAM range {_range(t.dram_offset, t.nbytes)} "
                  f"ends beyond dram_bytes_used {used:#x}")
    host_ops = _read_host_ops(sections[SectionKind.HOST_OPS], strings, len(tensors))
    commands = _read_commands(sections[SectionKind.COMMANDS], header, config, tensors, len(host_ops))
    return Program(config=config, tensors=tensors, constants=constants, commands=commands,
                   host_ops=host_ops, program_dram_offset=header["program_dram_offset"],
                   dram_bytes_used=used, metadata=metadata)


# --- header and section table ---------------------------------------------------------------

def _read_header(data: bytes) -> dict:
    if len(data) < len(MAGIC):
        _fail(LoadError.TRUNCATED, f"truncated blob: expected at least {HEADER.size} header bytes, got {len(data)}")
    if data[: len(MAGIC)] != MAGIC:
        _fail(LoadError.BAD_MAGIC, f"bad magic {data[:len(MAGIC)]!r}: expected {MAGIC!r}, this is not an Atalla blob")
    if len(data) < HEADER.size:
        _fail(LoadError.TRUNCATED, f"truncated blob: expected at least {HEADER.size} header bytes, got {len(data)}")
    h = HEADER.unpack(data)
    # Versions before the CRC: another major version may lay out or checksum the header differently.
    version, ours = f"{h['version_major']}.{h['version_minor']}", f"{VERSION_MAJOR}.{VERSION_MINOR}"
    if h["version_major"] != VERSION_MAJOR:
        _fail(LoadError.BAD_VERSION,
              f"unsupported blob major version: blob is version {version}, this loader reads {ours}")
    if h["version_minor"] > VERSION_MINOR:
        _fail(LoadError.BAD_VERSION,
              f"unsupported blob minor version: blob is version {version}, newer than this loader's {ours}")
    expected = HEADER.size + h["section_count"] * SECTION.size
    if h["header_bytes"] != expected:
        _fail(LoadError.BAD_HEADER,
              f"header: header_bytes {h['header_bytes']} != {expected} for section_count {h['section_count']}")
    if len(data) < expected:
        _fail(LoadError.TRUNCATED, f"truncated blob: header and section table need {expected} bytes, got {len(data)}")
    crc = zlib.crc32(HEADER.pack({**h, "header_crc32": 0}) + data[HEADER.size : expected])
    if crc != h["header_crc32"]:
        _fail(LoadError.BAD_CRC, f"header CRC mismatch: stored {h['header_crc32']:#010x}, computed {crc:#010x}")
    return h


def _read_sections(data: bytes, header: dict) -> dict[SectionKind, bytes]:
    entries: dict[SectionKind, dict] = {}
    for i in range(header["section_count"]):
        s = SECTION.unpack(data, HEADER.size + i * SECTION.size)
        if s["kind"] not in SectionKind._value2member_map_:
            _fail(LoadError.BAD_SECTION_TABLE, f"section table entry {i}: unknown section kind {s['kind']}")
        kind = SectionKind(s["kind"])
        if kind in entries:
            _fail(LoadError.BAD_SECTION_TABLE, f"section table entry {i}: duplicated section {kind.name}")
        if s["offset"] % SECTION_ALIGN:
            _fail(LoadError.BAD_SECTION_TABLE,
                  f"section {kind.name}: offset {s['offset']:#x} is not aligned to {SECTION_ALIGN}")
        if s["offset"] < header["header_bytes"]:
            _fail(LoadError.BAD_SECTION_TABLE, f"section {kind.name}: offset {s['offset']:#x} is inside the header "
                  f"(header_bytes {header['header_bytes']:#x})")
        if s["offset"] + s["size"] > len(data):
            _fail(LoadError.TRUNCATED, f"truncated blob: section {kind.name} {_range(s['offset'], s['size'])} needs "
                  f"{s['offset'] + s['size']} bytes, got {len(data)}")
        entries[kind] = s
    missing = [k.name for k in SectionKind if k not in entries]
    if missing:
        _fail(LoadError.BAD_SECTION_TABLE, f"section table: missing section(s) {', '.join(missing)}")

    # Sections must not overlap; every byte between them (alignment padding) must be zero.
    pos, prev = header["header_bytes"], "header"
    for kind, s in sorted(entries.items(), key=lambda e: (e[1]["offset"], e[1]["size"])):
        if s["offset"] < pos:
            _fail(LoadError.BAD_SECTION_TABLE,
                  f"section {kind.name} {_range(s['offset'], s['size'])} overlaps {prev} (which ends at {pos:#x})")
        gap = data[pos : s["offset"]]
        if any(gap):
            bad = pos + next(i for i, b in enumerate(gap) if b)
            _fail(LoadError.BAD_SECTION_TABLE,
                  f"non-zero padding byte at offset {bad:#x} between {prev} and section {kind.name}")
        pos, prev = s["offset"] + s["size"], f"section {kind.name}"
    if len(data) != pos:
        _fail(LoadError.BAD_SECTION_TABLE,
              f"{len(data) - pos} unexpected trailing bytes after {prev} (blob should end at {pos:#x})")

    out = {}
    for kind, s in entries.items():
        body = data[s["offset"] : s["offset"] + s["size"]]
        crc = zlib.crc32(body)
        if crc != s["crc32"]:
            _fail(LoadError.BAD_CRC,
                  f"section {kind.name}: CRC mismatch (stored {s['crc32']:#010x}, computed {crc:#010x})")
        out[kind] = body
    return out


def _read_config(header: dict, expect: HardwareConfig | None) -> HardwareConfig:
    raw = header["config_name"].rstrip(b"\0")
    if not raw or b"\0" in raw:
        _fail(LoadError.BAD_CONFIG, f"config record: config_name {header['config_name']!r} is not a NUL-padded name")
    try:
        config = HardwareConfig(name=raw.decode(), **{f: header[f"cfg_{f}"] for f in CONFIG_FIELDS})
    except ValueError as e:  # includes UnicodeDecodeError
        _fail(LoadError.BAD_CONFIG, f"config record is not a valid hardware config: {e}")
    if expect is not None and config != expect:
        field = next((f for f in CONFIG_FIELDS if getattr(config, f) != getattr(expect, f)), "name")
        _fail(LoadError.CONFIG_MISMATCH,
              f"blob was compiled for config {config.name!r} but this run uses {expect.name!r} "
              f"({field} {getattr(config, field)!r} != {getattr(expect, field)!r})")
    return config


def _read_metadata(body: bytes) -> dict:
    try:
        metadata = json.loads(body.decode())
    except (ValueError, RecursionError) as e:
        _fail(LoadError.BAD_METADATA, f"section METADATA: not valid UTF-8 JSON: {e}")
    if not isinstance(metadata, dict):
        _fail(LoadError.BAD_METADATA, f"section METADATA: expected a JSON object, got {type(metadata).__name__}")
    return metadata


def _string(strings: bytes, offset: int, length: int, what: str) -> str:
    if offset + length > len(strings):
        _fail(LoadError.BAD_STRING,
              f"{what}: string {_range(offset, length)} is outside STRINGS ({len(strings)} bytes)")
    try:
        return strings[offset : offset + length].decode()
    except UnicodeDecodeError as e:
        _fail(LoadError.BAD_STRING, f"{what}: string at STRINGS offset {offset:#x} is not valid UTF-8: {e.reason}")


def _records(body: bytes, record: Record, section: SectionKind, kind: LoadError) -> list[dict]:
    if len(body) % record.size:
        _fail(kind, f"section {section.name}: size {len(body)} is not a multiple of the {record.size}-byte "
                    f"{record.name} record")
    return [record.unpack(body, off) for off in range(0, len(body), record.size)]


# --- tensors ---------------------------------------------------------------------------------

def _read_tensors(body: bytes, strings: bytes, constants: bytes, config: HardwareConfig) -> list[TensorInfo]:
    tensors: list[TensorInfo] = []
    seen: dict[str, int] = {}
    for i, r in enumerate(_records(body, TENSOR, SectionKind.TENSORS, LoadError.BAD_TENSOR)):
        name = _string(strings, r["name_offset"], r["name_len"], f"tensor {i} name")
        where = f"tensor {i} ({name!r})"
        if name in seen:
            _fail(LoadError.BAD_TENSOR, f"{where}: name already used by tensor {seen[name]}")
        seen[name] = i
        if r["dtype"] not in DType._value2member_map_:
            _fail(LoadError.BAD_TENSOR, f"{where}: unknown dtype {r['dtype']}")
        if r["role"] not in Role._value2member_map_:
            _fail(LoadError.BAD_TENSOR, f"{where}: unknown role {r['role']}")
        ndim = r["ndim"]
        if ndim > MAX_DIMS:
            _fail(LoadError.BAD_TENSOR, f"{where}: ndim {ndim} > MAX_DIMS {MAX_DIMS}")
        if r["reserved"] or any(r["shape"][ndim:]) or any(r["strides"][ndim:]):
            _fail(LoadError.BAD_TENSOR, f"{where}: reserved byte or shape/strides beyond ndim {ndim} are not zero")
        t = TensorInfo(name=name, role=Role(r["role"]), shape=r["shape"][:ndim], dram_offset=r["dram_offset"],
                       dtype=DType(r["dtype"]), const_offset=r["const_offset"], index_bound=r["index_bound"])
        if t.dtype == DType.INT32 and (t.role != Role.INPUT or t.index_bound == 0):
            _fail(LoadError.BAD_TENSOR, f"{where}: an INT32 tensor holds an input's row ids: it must be an INPUT with "
                                        f"an index_bound (it is {t.role.name}, index_bound {t.index_bound})")
        if t.dtype != DType.INT32 and t.index_bound:
            _fail(LoadError.BAD_TENSOR, f"{where}: index_bound {t.index_bound} on a {t.dtype.name} tensor (only INT32 "
                                        "row ids have one)")
        if r["nbytes"] != t.nbytes:
            _fail(LoadError.BAD_TENSOR,
                  f"{where}: nbytes {r['nbytes']} != {t.nbytes} for shape {list(t.shape)} {t.dtype.name}")
        if r["strides"][:ndim] != t.strides:
            _fail(LoadError.BAD_TENSOR,
                  f"{where}: strides {list(r['strides'][:ndim])} are not contiguous {list(t.strides)}")
        if t.dram_offset % config.dram_align:
            _fail(LoadError.BAD_TENSOR,
                  f"{where}: dram_offset {t.dram_offset:#x} is not aligned to dram_align {config.dram_align}")
        if t.dram_offset + t.nbytes > config.dram_bytes:
            _fail(LoadError.BAD_TENSOR, f"{where}: DRAM range {_range(t.dram_offset, t.nbytes)} is outside DRAM "
                  f"(config {config.name!r} has {config.dram_bytes:#x} bytes)")
        has_data = t.const_offset != NO_CONSTANT
        if t.role == Role.CONSTANT and not has_data:
            _fail(LoadError.BAD_TENSOR, f"{where}: CONSTANT tensor has no data (const_offset is NO_CONSTANT)")
        if t.role != Role.CONSTANT and has_data:
            _fail(LoadError.BAD_TENSOR,
                  f"{where}: only CONSTANT tensors may have constant data, this one is {t.role.name}")
        if has_data and t.const_offset + t.nbytes > len(constants):
            _fail(LoadError.BAD_TENSOR,
                  f"{where}: constant data {_range(t.const_offset, t.nbytes)} is outside CONSTANTS "
                  f"({len(constants)} bytes)")
        tensors.append(t)
    return tensors


# --- host ops --------------------------------------------------------------------------------

def _is_id(value: object, count: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count


def _read_host_ops(body: bytes, strings: bytes, num_tensors: int) -> list[HostOp]:
    ops = []
    for i, r in enumerate(_records(body, HOST_OP, SectionKind.HOST_OPS, LoadError.BAD_HOST_OP)):
        target = _string(strings, r["target_offset"], r["target_len"], f"host op {i} target")
        where = f"host op {i} ({target!r})"
        if not target:
            _fail(LoadError.BAD_HOST_OP, f"host op {i}: empty target")
        text = _string(strings, r["args_offset"], r["args_len"], f"{where} args")
        try:
            spec = json.loads(text)
        except (ValueError, RecursionError) as e:
            _fail(LoadError.BAD_HOST_OP, f"{where}: args are not valid JSON: {e}")
        if not (isinstance(spec, dict) and set(spec) == {"args", "kwargs", "outputs"}
                and isinstance(spec["args"], list) and isinstance(spec["kwargs"], dict)
                and isinstance(spec["outputs"], list)):
            _fail(LoadError.BAD_HOST_OP,
                  f"{where}: args JSON must be {{\"args\": [...], \"kwargs\": {{...}}, \"outputs\": [...]}}")
        problem = host_op_problem(target, spec["args"], spec["kwargs"])
        if problem is not None:
            _fail(LoadError.BAD_HOST_OP, f"{where}: {problem}")
        for ref in tensor_refs(spec["args"], spec["kwargs"]):
            if not _is_id(ref, num_tensors):
                _fail(LoadError.BAD_HOST_OP, f"{where}: tensor reference {ref!r} is not a tensor id (< {num_tensors})")
        for out in spec["outputs"]:
            if not _is_id(out, num_tensors):
                _fail(LoadError.BAD_HOST_OP, f"{where}: output {out!r} is not a tensor id (< {num_tensors})")
        ops.append(HostOp(target=target, args=spec["args"], kwargs=spec["kwargs"], outputs=spec["outputs"]))
    return ops


# --- commands --------------------------------------------------------------------------------

# Fields holding a buffer reference (handle[31:24] | row[23:0]).
_REF_FIELDS: dict[Opcode, tuple[str, ...]] = {
    Opcode.DMA_LOAD: ("sp",), Opcode.DMA_STORE: ("sp",), Opcode.GEMM: ("a", "b", "c", "d"), Opcode.VEC: ("dst", "a", "b"),
}
# Flag bits each opcode defines; any other bit set is a corrupt or miscompiled command.
_ALLOWED_FLAGS: dict[Opcode, int] = {
    Opcode.DMA_LOAD: Flag.GATHER,
    Opcode.GEMM: isa.GEMM_FLAGS,
    Opcode.VEC: Flag.DST_FP32 | Flag.A_FP32 | Flag.B_FP32 | isa.BMODE_MASK,
}


def _check_command(i: int, c: Command, config: HardwareConfig, num_host_ops: int) -> None:
    where = f"command {i} ({c.kind})"
    if c.op not in (Opcode.VEC, Opcode.GEMM) and c.func:
        _fail(LoadError.BAD_COMMAND, f"{where}: func {c.func} must be 0 outside VEC and GEMM")
    if c.flags & ~_ALLOWED_FLAGS.get(c.op, 0):
        _fail(LoadError.BAD_COMMAND, f"{where}: undefined flag bits {c.flags & ~_ALLOWED_FLAGS.get(c.op, 0):#x}")
    handles = [("handle", c.field("handle"))] if c.op in (Opcode.ALLOC, Opcode.FREE) else []
    for name in _REF_FIELDS.get(c.op, ()):
        if c.op == Opcode.VEC and name == "b" and (
                c.func in isa.UNARY_FUNCS or (c.flags & isa.BMODE_MASK) >> isa.BMODE_SHIFT == BMode.SCALAR):
            continue  # b is unused or holds fp32 scalar bits, not a reference
        handles.append((name, isa.split_ref(c.field(name))[0]))
    for name, h in handles:
        if h >= config.num_handles:
            _fail(LoadError.BAD_COMMAND, f"{where}: {name} handle {h} >= num_handles {config.num_handles}")
    if "ticket" in isa.COMMAND_FIELDS[c.op] and c.field("ticket") >= config.num_tickets:
        _fail(LoadError.BAD_COMMAND, f"{where}: ticket {c.field('ticket')} >= num_tickets {config.num_tickets}")
    if c.op == Opcode.HOST and c.field("index") >= num_host_ops:
        _fail(LoadError.BAD_COMMAND, f"{where}: host op index {c.field('index')} >= {num_host_ops} host ops")


def _read_commands(body: bytes, header: dict, config: HardwareConfig, tensors: list[TensorInfo],
                   num_host_ops: int) -> list[Command]:
    if len(body) % COMMAND_BYTES:
        _fail(LoadError.BAD_COMMAND,
              f"section COMMANDS: size {len(body)} is not a multiple of COMMAND_BYTES {COMMAND_BYTES}")
    count = len(body) // COMMAND_BYTES
    if count != header["command_count"]:
        _fail(LoadError.BAD_COMMAND,
              f"section COMMANDS holds {count} commands but header command_count is {header['command_count']}")
    if count == 0:
        _fail(LoadError.BAD_COMMAND, "section COMMANDS is empty: the stream must end with END")
    start, size = header["program_dram_offset"], len(body)
    if start % 4:
        _fail(LoadError.BAD_COMMAND, f"command stream: program_dram_offset {start:#x} is not word aligned")
    if start + size > config.dram_bytes:
        _fail(LoadError.BAD_COMMAND, f"command stream: DRAM range {_range(start, size)} is outside DRAM "
              f"(config {config.name!r} has {config.dram_bytes:#x} bytes)")
    for i, t in enumerate(tensors):
        if t.nbytes and start < t.dram_offset + t.nbytes and t.dram_offset < start + size:
            _fail(LoadError.BAD_COMMAND,
                  f"command stream: DRAM range {_range(start, size)} overlaps tensor {i} ({t.name!r}) "
                  f"{_range(t.dram_offset, t.nbytes)}")

    words = np.frombuffer(body, dtype="<u4").reshape(count, COMMAND_WORDS)
    commands = []
    for i in range(count):
        try:
            c = isa.decode(words[i], i)
        except ValueError as e:
            _fail(LoadError.BAD_COMMAND, str(e))
        if c.op == Opcode.END and i != count - 1:
            _fail(LoadError.BAD_COMMAND, f"command {i}: END before the last command ({count - 1})")
        _check_command(i, c, config, num_host_ops)
        commands.append(c)
    if commands[-1].op != Opcode.END:
        _fail(LoadError.BAD_COMMAND, f"command {count - 1}: the last command is {commands[-1].kind}, not END")
    return commands
