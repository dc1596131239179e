"""A checksum-aware blob fuzzer: mutated blobs through the loader and the emulator, judged.

A case is a pure function of (run seed, case index): one of a few small valid seed blobs and one
mutation of it, most of them with every CRC recomputed afterwards so that they get past the
checksums to the deep checks (config rules, records, strings, JSON, command fields):
- bit flips, with the CRCs left alone or fixed;
- interesting values (0, 1, -1, 0x7fffffff, 0x80000000, the old value +-1, ...) in a named field
  of the header (config fields, counts, versions), a section table entry, a tensor or host-op
  record, or a command word (opcode, func, flags, handles, tickets, every field);
- truncation and extension of the file or of one section; the section table's entries reordered,
  dropped or duplicated; commands swapped, duplicated, dropped or an END moved up;
- the JSON of METADATA and of host-op arguments replaced or edited; names and host-op targets
  replaced by odd strings and invalid UTF-8.

A Judge gives the verdict: the Python loader's refusal (a BlobError and its LoadError class), or, once
it loads, a run on the emulator with random inputs of the right shapes that ends normally or with
the emulator's error (an EmulatorError naming the command). Both messages must be one line. Anything
else is a crash: another exception, a run past HANG_SECONDS (the emulator executes each command
once, so only a bug can make it hang), or the C loader (runtime/c/blob.c) giving another verdict
than the Python one when it is compared.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import struct
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from atalla.blob_format import HEADER, HOST_OP, SECTION, SECTION_ALIGN, TENSOR, DType, Record, Role, SectionKind
from atalla.config import CONFIGS
from atalla.isa import (BMODE_SHIFT, COMMAND_BYTES, COMMAND_FIELDS, COMMAND_WORDS, REF_HANDLE_SHIFT, BMode, Flag,
                        Opcode, VecFunc, command, make_ref)
from atalla.program import HostOp, Program, TensorInfo
from atalla.runtime_abi import LoadError
from runtime.emulator.machine import Emulator, EmulatorError
from runtime.loader import BlobError, load

SEED_CONFIG = CONFIGS["small"]
HANG_SECONDS = 20.0  # a run's bound: far above any seed's run (tens of milliseconds)
# The verdicts a blob may earn; CRASH is a bug of the loader, the emulator or the C loader.
REFUSED, FAULT, RAN, CRASH = "refused", "fault", "ran", "crash"


# --- seeds ---------------------------------------------------------------------------------------

def tiny_program(**changes) -> Program:
    """A small program that uses every section: constants, a host op, every command kind."""
    tensors = [TensorInfo("x", Role.INPUT, (2, 8), dram_offset=0),
               TensorInfo("w", Role.CONSTANT, (8, 8), dram_offset=128, const_offset=0),
               TensorInfo("h", Role.INTERMEDIATE, (2, 8), dram_offset=320),
               TensorInfo("y", Role.OUTPUT, (2, 8), dram_offset=448)]
    commands = [
        command(Opcode.ALLOC, handle=0, bytes=256),
        command(Opcode.ALLOC, handle=1, bytes=256),
        command(Opcode.DMA_LOAD, sp=make_ref(0), dram_addr=0, rows=2, cols=8, row_stride=8, col_stride=1, ticket=0),
        command(Opcode.DMA_LOAD, sp=make_ref(1), dram_addr=128, rows=8, cols=8, row_stride=8, col_stride=1, ticket=1),
        command(Opcode.WAIT, ticket=0),
        command(Opcode.WAIT, ticket=1),
        command(Opcode.GEMM, func=1, flags=Flag.D_BF16, a=make_ref(0), b=make_ref(1), c=0, d=make_ref(0, 4), m=2, k=8,
                n=8),
        command(Opcode.VEC, func=VecFunc.MUL, flags=BMode.SCALAR << BMODE_SHIFT, dst=make_ref(0, 4),
                a=make_ref(0, 4), b=0x3F000000, rows=2, cols=8),
        command(Opcode.DMA_STORE, sp=make_ref(0, 4), dram_addr=320, rows=2, cols=8, row_stride=8, col_stride=1,
                ticket=2),
        command(Opcode.WAIT, ticket=2),
        command(Opcode.HOST, index=0),
        command(Opcode.FREE, handle=1),
        command(Opcode.FREE, handle=0),
        command(Opcode.NOP),
        command(Opcode.END),
    ]
    fields = dict(config=SEED_CONFIG, tensors=tensors, constants=bytes(range(128)), commands=commands,
                  host_ops=[HostOp("aten.gelu.default", [{"tensor": 2}], {"approximate": "tanh"}, [3])],
                  program_dram_offset=1024, dram_bytes_used=1024 + 32 * 20,
                  metadata={"model": "tiny", "ops": {"gemm": 1}, "version": "0.1.0"})
    fields.update(changes)
    return Program(**fields)


def tiny_program_with_ids() -> Program:
    """The tiny program with an INT32 input of row ids, gathered by a DMA_LOAD with the GATHER flag."""
    base = tiny_program()
    ids = TensorInfo("ids", Role.INPUT, (2,), 512, dtype=DType.INT32, index_bound=8)
    gather = command(Opcode.DMA_LOAD, flags=Flag.GATHER, sp=make_ref(0), dram_addr=128, rows=2, cols=8, row_stride=8,
                     col_stride=512, ticket=3)
    return tiny_program(tensors=[*base.tensors, ids],
                        commands=[*base.commands[:2], gather, command(Opcode.WAIT, ticket=3), *base.commands[2:]])


@cache
def seed_blobs() -> dict[str, bytes]:
    """The valid blobs every case starts from, by name: hand-made programs (a host op, row ids), a
    random program of the ISA generator (every opcode but HOST) and two zoo models compiled for the
    small config. Compiling the zoo models imports PyTorch: a few seconds, once."""
    from compiler.driver import compile_model
    from compiler.serialize import serialize
    from golden.zoo import ZOO
    from runtime.verify.generator import generate

    blobs = {"tiny": serialize(tiny_program()), "tiny_ids": serialize(tiny_program_with_ids()),
             "random_program": serialize(generate(SEED_CONFIG, 1, 0).program)}
    for name in ("host_fallback", "basic_module"):
        module, inputs = ZOO[name]()
        blobs[name] = compile_model(module, inputs, SEED_CONFIG, name).blob()
    return blobs


# How often a case starts from each seed: the zoo models' runs cost ten times the others'.
SEED_WEIGHTS = {"tiny": 30, "tiny_ids": 20, "random_program": 30, "host_fallback": 5, "basic_module": 8}


# --- taking a blob apart and putting it back with its CRCs right ---------------------------------

def sections_of(blob: bytes) -> tuple[dict, dict[int, bytes]]:
    """The header and the section bodies by kind, of a blob whose section table is sound."""
    header = HEADER.unpack(blob)
    bodies = {}
    for i in range(header["section_count"]):
        s = SECTION.unpack(blob, HEADER.size + i * SECTION.size)
        bodies[s["kind"]] = blob[s["offset"]: s["offset"] + s["size"]]
    return header, bodies


def assemble(header: dict, bodies: dict[int, bytes]) -> bytes:
    """A blob of these sections, in this order, laid out as the serializer lays them out, every CRC
    computed."""
    header_bytes = HEADER.size + len(bodies) * SECTION.size
    table, body, offset = bytearray(), bytearray(), header_bytes
    for kind, data in bodies.items():
        start = -(-offset // SECTION_ALIGN) * SECTION_ALIGN
        body += bytes(start - offset) + data
        table += SECTION.pack({"kind": kind, "offset": start, "size": len(data), "crc32": zlib.crc32(data)})
        offset = start + len(data)
    return fix_header_crc(HEADER.pack({**header, "header_bytes": header_bytes, "section_count": len(bodies),
                                       "header_crc32": 0}) + bytes(table) + bytes(body))


def fix_header_crc(blob: bytes) -> bytes:
    """The header CRC recomputed over the header and as much of the section table as there is."""
    if len(blob) < HEADER.size:
        return blob
    h = HEADER.unpack(blob)
    end = min(len(blob), HEADER.size + h["section_count"] * SECTION.size)
    crc = zlib.crc32(HEADER.pack({**h, "header_crc32": 0}) + blob[HEADER.size: end])
    return HEADER.pack({**h, "header_crc32": crc}) + blob[HEADER.size:]


def fix_crcs(blob: bytes) -> bytes:
    """Every section CRC the table lets one compute, then the header CRC."""
    if len(blob) < HEADER.size:
        return blob
    h = HEADER.unpack(blob)
    out = bytearray(blob)
    for i in range(min(h["section_count"], (len(out) - HEADER.size) // SECTION.size)):
        at = HEADER.size + i * SECTION.size
        s = SECTION.unpack(out, at)
        if s["offset"] + s["size"] <= len(out):
            crc = zlib.crc32(out[s["offset"]: s["offset"] + s["size"]])
            out[at: at + SECTION.size] = SECTION.pack({**s, "crc32": crc})
    return fix_header_crc(bytes(out))


def field_slots(record: Record) -> tuple[tuple[str, int, int], ...]:
    """(name, byte offset, byte size) of every scalar field of a record, arrays by element."""
    sizes = {"u8": 1, "u16": 2, "u32": 4, "char": 1}
    out, at = [], 0
    for name, base, count in record.layout:
        if base == "char":
            out.append((name, at, count))
            at += count
        elif count is None:
            out.append((name, at, sizes[base]))
            at += sizes[base]
        else:
            out += [(f"{name}[{i}]", at + i * sizes[base], sizes[base]) for i in range(count)]
            at += count * sizes[base]
    return tuple(out)


# --- mutations -----------------------------------------------------------------------------------

INTERESTING = (0, 1, 2, 3, 7, 8, 15, 16, 17, 63, 64, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
JSON_TEXTS = (
    '', ' ', '{', '}', '[]', '[1,]', '{"a":1,}', '{"a" 1}', '{1:2}', '"abc', '"a\\x"', '"a\\u12"', '"\\ud800"',
    '"\\ud800\\udc00"', '"\\ud800\\u12"', '\ufeff{}', '{} x', '01', '-', '1e', 'NaN', '-Infinity', 'tru', 'null',
    '{"a":1, 2}', '\n\n  [1,,2]', '"é\x01"', '[' * 40 + ']' * 40, '1' * 4400, '{"x": "\\"\'"}', '3.5', 'true', '"s"',
    '{"args": [], "kwargs": {}, "outputs": []}', '{"args": [{"tensor": 0}], "kwargs": {}, "outputs": [1]}',
    '{"args": [{"tensor": -1}], "kwargs": {}, "outputs": [1]}',
    '{"args": [{"tensor": true}], "kwargs": {}, "outputs": []}',
    '{"args": [{"tensor": 1.5e300}], "kwargs": {}, "outputs": []}', '{"args": [], "kwargs": {}, "outputs": [NaN]}',
    '{"args": [], "kwargs": {}, "outputs": [{"a": [1, "é", null]}]}', '{"args": [], "kwargs": {}, "outputs": [1e-7]}',
    '{"args": [[1, ["x"]]], "kwargs": {}, "outputs": []}', '{"args": [{"a": 1}], "kwargs": {}, "outputs": []}',
    '{"args": [], "kwargs": {"approximate": "tanh"}, "outputs": [0]}',
    '{"args": [], "kwargs": {"k": "bad\\n"}, "outputs": []}',
    '{"args": [123456789012345678901234567890], "kwargs": {}, "outputs": [123456789012345678901234567890]}',
    '{"args": [], "kwargs": {}, "outputs": [-0, 100.0, 1e16, 0.0001, 12345678901234567.0, 5e-324, "\\u0080\\u00ad"]}',
    '{"args": [], "kwargs": {}, "outputs": [], "extra": 1}', '{"args": {}, "kwargs": {}, "outputs": []}',
    '{"args": [], "args": [], "kwargs": {}, "outputs": []}',
    '{"args": [{"tensor": 2}], "kwargs": {"approximate": "none"}, "outputs": [3]}',
    '{"args": [{"tensor": 2}], "kwargs": {}, "outputs": [3]}',
    '{"args": [{"tensor": 3}], "kwargs": {}, "outputs": [3]}',
    '{"args": [{"tensor": 2}, "tanh"], "kwargs": {}, "outputs": [3]}',
    '{"args": [{"tensor": 0}], "kwargs": {}, "outputs": [1, 2]}',
)
JSON_ALPHABET = '{}[]:,"\\/ \n\tu0123456789abcdefE.+-ntrlsNaIfy\x01é\u2028'
NAMES = ("", "x", "aten.sin.default", "aten.from_file.default", "aten.empty.memory_format", "aten.relu.default",
         "aten.gelu.default", "x'y", "é", "\u2028", "a\"b'c", "\\", "w")
RAW_STRINGS = (b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x90\x80", b"a\xf5", b"x'", b'x"\'',
               b"\x7f\n\xc2\xa0", "ü".encode(), b"xxx", b"\xef\xbb\xbf")


def mutate_json(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(chars) + 1)
        what = rng.random()
        if what < 0.4 and chars:
            chars[min(at, len(chars) - 1)] = rng.choice(JSON_ALPHABET)
        elif what < 0.7:
            chars.insert(at, rng.choice(JSON_ALPHABET))
        elif chars:
            del chars[min(at, len(chars) - 1)]
    return "".join(chars)


def _set(data: bytes, at: int, size: int, value: int) -> bytes:
    return data[:at] + (value % (1 << 8 * size)).to_bytes(size, "little") + data[at + size:]


def _value(rng: random.Random, old: int, size: int) -> int:
    """An interesting replacement for an integer field of `size` bytes."""
    return rng.choice((rng.choice(INTERESTING), old + 1, old - 1, old ^ 1 << rng.randrange(8 * size),
                       old * 2, old // 2, rng.getrandbits(8 * size), -1))


def _edit_record_field(rng: random.Random, body: bytes, record: Record, what: str) -> tuple[str, bytes]:
    index = rng.randrange(len(body) // record.size)
    name, at, size = rng.choice([s for s in field_slots(record) if s[0] != "magic"])
    at += index * record.size
    old = int.from_bytes(body[at: at + size], "little")
    new = _value(rng, old, size)
    return f"{what} {index} {name} {old:#x} -> {new % (1 << 8 * size):#x}", _set(body, at, size, new)


class _Mutator:
    """The mutations of one seed blob; each returns (what it did, the mutated blob)."""

    def __init__(self, blob: bytes):
        self.blob = blob
        self.header, self.bodies = sections_of(blob)

    def with_body(self, kind: SectionKind, body: bytes) -> bytes:
        return assemble(self.header, {**self.bodies, kind: body})

    def bit_flips(self, rng: random.Random) -> tuple[str, bytes]:
        out, flipped = bytearray(self.blob), []
        for _ in range(rng.choice((1, 1, 2, 4))):
            at, bit = rng.randrange(len(out)), rng.randrange(8)
            out[at] ^= 1 << bit
            flipped.append(f"{at:#x}.{bit}")
        if rng.random() < 0.7:
            return f"bits {', '.join(flipped)} flipped, CRCs fixed", fix_crcs(bytes(out))
        return f"bits {', '.join(flipped)} flipped", bytes(out)

    def header_field(self, rng: random.Random) -> tuple[str, bytes]:
        name, at, size = rng.choice([s for s in field_slots(HEADER) if s[0] != "header_crc32"])
        if name in ("magic", "config_name"):
            at += rng.randrange(size)
            new = rng.choice((0, 0x80, 0xC3, 0xE2, 0xFF, 0x27, 0x41, 0x20, rng.randrange(256)))
            return f"header {name} byte {at} -> {new:#x}, CRC fixed", fix_header_crc(_set(self.blob, at, 1, new))
        old = int.from_bytes(self.blob[at: at + size], "little")
        new = _value(rng, old, size)
        return (f"header {name} {old:#x} -> {new % (1 << 8 * size):#x}, CRC fixed",
                fix_header_crc(_set(self.blob, at, size, new)))

    def section_entry(self, rng: random.Random) -> tuple[str, bytes]:
        entry = rng.randrange(self.header["section_count"])
        name, at, size = rng.choice(field_slots(SECTION))
        at += HEADER.size + entry * SECTION.size
        old = int.from_bytes(self.blob[at: at + size], "little")
        new = rng.choice((old + 16, old - 16, old + 1, old - 1, rng.choice(INTERESTING), rng.randrange(8)))
        return (f"section table entry {entry} {name} {old:#x} -> {new % (1 << 32):#x}, header CRC fixed",
                fix_header_crc(_set(self.blob, at, size, new)))

    def section_order(self, rng: random.Random) -> tuple[str, bytes]:
        kinds = list(self.bodies)
        rng.shuffle(kinds)
        what = "sections reordered"
        if rng.random() < 0.3:
            what = f"section {SectionKind(kinds.pop()).name} dropped"
        blob = assemble(self.header, {k: self.bodies[k] for k in kinds})
        if rng.random() < 0.3:  # a kind twice in the table
            first = struct.unpack_from("<I", blob, HEADER.size)[0]
            blob = fix_header_crc(_set(blob, HEADER.size + SECTION.size, 4, first))
            what += f", entry 1 made a second {SectionKind(first).name}"
        return what, blob

    def resize(self, rng: random.Random) -> tuple[str, bytes]:
        if rng.random() < 0.4:  # the whole file
            if rng.random() < 0.7:
                n = rng.choice((0, 1, 3, 4, 5, HEADER.size - 1, HEADER.size, len(self.blob) - 1,
                                rng.randrange(len(self.blob))))
                return f"file cut to {n} bytes", self.blob[:n]
            extra = bytes(rng.choice((1, 15, 16))) if rng.random() < 0.5 else bytes([rng.randrange(1, 256)])
            return f"{len(extra)} bytes appended", self.blob + extra
        kind = rng.choice(list(self.bodies))
        body = self.bodies[kind]
        if rng.random() < 0.5:
            n = rng.randrange(len(body) + 1)
            return f"section {SectionKind(kind).name} cut to {n} bytes, CRCs fixed", self.with_body(kind, body[:n])
        extra = rng.choice((1, 4, 16, 32, 72, 76))
        return f"section {SectionKind(kind).name} grown by {extra} zero bytes, CRCs fixed", self.with_body(
            kind, body + bytes(extra))

    def record_field(self, rng: random.Random) -> tuple[str, bytes]:
        choices = [(k, r) for k, r in ((SectionKind.TENSORS, TENSOR), (SectionKind.HOST_OPS, HOST_OP))
                   if self.bodies[k]]
        kind, record = rng.choice(choices)
        what, body = _edit_record_field(rng, self.bodies[kind], record, "tensor" if record is TENSOR else "host op")
        return what + ", CRCs fixed", self.with_body(kind, body)

    def json_text(self, rng: random.Random) -> tuple[str, bytes]:
        ops = self.bodies[SectionKind.HOST_OPS]
        in_host_op = bool(ops) and rng.random() < 0.6
        if in_host_op:
            op = HOST_OP.unpack(ops)
            original = self.bodies[SectionKind.STRINGS][op["args_offset"]: op["args_offset"] + op["args_len"]].decode()
        else:
            original = self.bodies[SectionKind.METADATA].decode()
        if rng.random() < 0.4:
            text = rng.choice(JSON_TEXTS)
        else:
            text = mutate_json(rng.choice((original, original, *JSON_TEXTS)), rng)
        data = text.encode("utf-8", errors="surrogatepass")
        if in_host_op:
            return f"host op 0 args JSON -> {text[:60]!r}, CRCs fixed", self._host_op_string(op, "args", data)
        return f"METADATA -> {text[:60]!r}, CRCs fixed", self.with_body(SectionKind.METADATA, data)

    def _host_op_string(self, op: dict, field: str, data: bytes) -> bytes:
        strings = self.bodies[SectionKind.STRINGS]
        new_op = HOST_OP.pack({**op, f"{field}_offset": len(strings), f"{field}_len": len(data)})
        return assemble(self.header, {**self.bodies, SectionKind.STRINGS: strings + data,
                                      SectionKind.HOST_OPS: new_op + self.bodies[SectionKind.HOST_OPS][HOST_OP.size:]})

    def string(self, rng: random.Random) -> tuple[str, bytes]:
        ops, tensors = self.bodies[SectionKind.HOST_OPS], self.bodies[SectionKind.TENSORS]
        data = rng.choice(RAW_STRINGS) if rng.random() < 0.4 else rng.choice(NAMES).encode()
        if ops and rng.random() < 0.4:
            return (f"host op 0 target -> {data!r}, CRCs fixed",
                    self._host_op_string(HOST_OP.unpack(ops), "target", data))
        if rng.random() < 0.2:
            return f"METADATA -> {data!r}, CRCs fixed", self.with_body(SectionKind.METADATA, data)
        index = rng.randrange(len(tensors) // TENSOR.size)
        strings = self.bodies[SectionKind.STRINGS]
        t = TENSOR.unpack(tensors, index * TENSOR.size)
        rec = TENSOR.pack({**t, "name_offset": len(strings), "name_len": len(data)})
        at = index * TENSOR.size
        return f"tensor {index} name -> {data!r}, CRCs fixed", assemble(self.header, {
            **self.bodies, SectionKind.STRINGS: strings + data,
            SectionKind.TENSORS: tensors[:at] + rec + tensors[at + TENSOR.size:]})

    def command_word(self, rng: random.Random) -> tuple[str, bytes]:
        body = self.bodies[SectionKind.COMMANDS]
        count = len(body) // COMMAND_BYTES
        index = rng.randrange(count)
        words = list(struct.unpack_from(f"<{COMMAND_WORDS}I", body, index * COMMAND_BYTES))
        op = words[0] & 0xFF
        fields = COMMAND_FIELDS.get(Opcode(op), ()) if op in Opcode._value2member_map_ else ()
        what = rng.random()
        cfg = SEED_CONFIG
        if what < 0.15:
            new = rng.choice((rng.randrange(len(Opcode)), rng.randrange(len(Opcode), 256)))
            words[0] = words[0] & ~0xFF | new
            change = f"opcode {op} -> {new}"
        elif what < 0.27:
            new = rng.choice((0, 1, 2, 3, rng.randrange(len(VecFunc) + 2), 255))
            words[0] = words[0] & ~0xFF00 | new << 8
            change = f"func -> {new}"
        elif what < 0.4:
            words[0] ^= 1 << rng.randrange(16, 32)
            change = f"flags -> {words[0] >> 16:#x}"
        else:
            w = rng.randrange(1, 1 + len(fields)) if fields and rng.random() < 0.9 else rng.randrange(1, COMMAND_WORDS)
            name = fields[w - 1] if w <= len(fields) else f"unused word {w}"
            old = words[w]
            if name == "ticket":
                new = rng.choice((rng.randrange(cfg.num_tickets + 2), old + 1, 0xFFFFFFFF))
            elif name == "handle" or (name in ("sp", "a", "b", "c", "d", "dst") and rng.random() < 0.5):
                handle = rng.choice((rng.randrange(cfg.num_handles + 2), 255))
                new = handle if name == "handle" else handle << REF_HANDLE_SHIFT | old & ((1 << REF_HANDLE_SHIFT) - 1)
            else:
                new = _value(rng, old, 4)
            words[w] = new % (1 << 32)
            change = f"{name} {old:#x} -> {words[w]:#x}"
        new_body = (body[:index * COMMAND_BYTES] + struct.pack(f"<{COMMAND_WORDS}I", *words)
                    + body[(index + 1) * COMMAND_BYTES:])
        return f"command {index} {change}, CRCs fixed", self.with_body(SectionKind.COMMANDS, new_body)

    def command_order(self, rng: random.Random) -> tuple[str, bytes]:
        body = self.bodies[SectionKind.COMMANDS]
        cmds = [body[i: i + COMMAND_BYTES] for i in range(0, len(body), COMMAND_BYTES)]
        i, j = rng.randrange(len(cmds)), rng.randrange(len(cmds))
        what = rng.random()
        if what < 0.3:
            cmds[i], cmds[j] = cmds[j], cmds[i]
            change = f"commands {i} and {j} swapped"
        elif what < 0.55:
            cmds.insert(i, cmds[j])
            change = f"command {j} copied before {i}"
        elif what < 0.8 and len(cmds) > 1:
            del cmds[i]
            change = f"command {i} dropped"
        else:
            cmds.insert(i, cmds[-1])
            change = f"an END inserted at {i}"
        header = self.header
        if rng.random() < 0.9:  # command_count kept true, so the stream's contents are what is tested
            header = {**header, "command_count": len(cmds)}
        blob = assemble(header, {**self.bodies, SectionKind.COMMANDS: b"".join(cmds)})
        return f"{change}, command_count {header['command_count']}, CRCs fixed", blob


# (mutation, weight): the deep edits, whose CRCs are fixed, most of the time.
MUTATIONS: tuple[tuple[Callable, int], ...] = (
    (_Mutator.bit_flips, 10), (_Mutator.header_field, 14), (_Mutator.section_entry, 8), (_Mutator.section_order, 4),
    (_Mutator.resize, 7), (_Mutator.record_field, 15), (_Mutator.json_text, 8), (_Mutator.string, 6),
    (_Mutator.command_word, 22), (_Mutator.command_order, 6),
)


@dataclass(frozen=True)
class Case:
    index: int
    seed_name: str
    mutation: str
    blob: bytes

    def describe(self) -> str:
        return f"case {self.index}: {self.seed_name}: {self.mutation}"


@cache
def _mutator(name: str) -> _Mutator:
    return _Mutator(seed_blobs()[name])


def make_case(seed: int, index: int) -> Case:
    """Case `index` of the run with this seed (the same on every machine and Python)."""
    rng = random.Random(f"atalla-fuzz/{seed}/{index}")
    name = rng.choices(list(SEED_WEIGHTS), weights=list(SEED_WEIGHTS.values()))[0]
    mutation = rng.choices([m for m, _ in MUTATIONS], weights=[w for _, w in MUTATIONS])[0]
    what, blob = mutation(_mutator(name), rng)
    return Case(index, name, what, blob)


def cases(seed: int, indices: Iterable[int]) -> list[Case]:
    return [make_case(seed, i) for i in indices]


# --- verdicts ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    outcome: str  # REFUSED, FAULT, RAN or CRASH
    # REFUSED: the LoadError; FAULT: the Fault, or RACE (DMA ownership, the emulator's rule alone) or
    # UNINDEXED (no command to name: the inputs refused, or a stream in DRAM that ends without END);
    # RAN: OK; CRASH: what went wrong
    kind: str
    message: str

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "kind": self.kind, "message": self.message}

    def describe(self) -> str:
        return f"{self.outcome} {self.kind}: {self.message}" if self.message else f"{self.outcome} {self.kind}"


class _Hang(BaseException):
    """The run passed its bound (BaseException: no handler in the product can swallow it)."""


# Header fields a run does not depend on: the CRC, the layout, the format version (a case re-encoded
# for a new format keeps its inputs), and the config's timing (the emulator is cycle-free).
_NOT_IN_KEY = frozenset({"header_crc32", "header_bytes", "section_count", "version_major", "version_minor",
                         "cfg_dram_latency", "cfg_fw_alloc_cycles", "cfg_fw_free_cycles", "cfg_fw_dma_cycles",
                         "cfg_fw_host_cycles", "cfg_vec_div_latency", "cfg_vec_reduce_latency"})


def _program_key(blob: bytes) -> bytes:
    """What a run depends on, of a blob that loaded: the header but _NOT_IN_KEY, and every section but
    METADATA (which nothing runs)."""
    header, bodies = sections_of(blob)
    fields = {k: v for k, v in header.items() if k not in _NOT_IN_KEY}
    digest = hashlib.sha256(repr(sorted(fields.items())).encode())
    for kind in sorted(bodies):
        if kind != SectionKind.METADATA:
            digest.update(struct.pack("<II", kind, len(bodies[kind])) + bodies[kind])
    return digest.digest()


def random_inputs(program: Program, key: bytes) -> list[np.ndarray]:
    """Inputs of the program's shapes, a function of the program: ordinary values with zeros, signed
    zeros, infinities and NaNs among them; row ids inside their bound, one in eight runs one past it."""
    rng = np.random.default_rng(int.from_bytes(key[:8], "little"))
    out = []
    for t in program.by_role(Role.INPUT):
        if t.dtype == DType.INT32:
            ids = rng.integers(0, t.index_bound, t.shape, dtype=np.int64)
            if ids.size and rng.random() < 0.125:
                ids.flat[rng.integers(ids.size)] = t.index_bound
            out.append(ids.astype(np.int32))
        else:
            x = (rng.standard_normal(t.shape) * rng.choice((1.0, 100.0, 1e30))).astype(np.float32)
            specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 3.4e38, 1e-40], dtype=np.float32)
            mask = rng.random(t.shape) < 0.05
            x[mask] = rng.choice(specials, size=int(mask.sum()))
            out.append(x)
    return out


def _one_line(outcome: str, kind: str, message: str) -> Verdict:
    if "\n" in message or not message:
        return Verdict(CRASH, f"{outcome} {kind} without a one-line message", message)
    return Verdict(outcome, kind, message)


def _run(program: Program, inputs: list[np.ndarray]) -> Verdict:
    try:
        Emulator(program).run(inputs)
    except EmulatorError as e:
        message = str(e)
        # "command I (KIND): why", or "command I: why" for an opcode that has no name
        if e.index is not None and not message.startswith((f"command {e.index} (", f"command {e.index}:")):
            return Verdict(CRASH, "fault message does not name its command", message)
        kind = e.fault.name if e.fault is not None else "RACE" if e.index is not None else "UNINDEXED"
        return _one_line(FAULT, kind, message)
    return Verdict(RAN, "OK", "")


def _bounded(run: Callable[[], Verdict]) -> Verdict:
    """run(), stopped after HANG_SECONDS (an alarm: only in the main thread; elsewhere unbounded)."""
    if threading.current_thread() is not threading.main_thread():
        return run()

    def expire(_signum, _frame):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        return run()
    except _Hang:
        return Verdict(CRASH, "hang", f"the run did not end within {HANG_SECONDS:g} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Judge:
    """Verdicts on blobs; runs of the same program (up to METADATA) are done once. c_loader: the C
    loader's verdict function (runtime.cmodel.native.load_verdict and the program's free), compared
    with the Python loader's on every blob, or None."""

    def __init__(self, c_loader: tuple[Callable, Callable] | None = None):
        self.c_loader = c_loader
        self.runs: dict[bytes, Verdict] = {}
        self.c_compared = 0

    def __call__(self, blob: bytes) -> Verdict:
        try:
            program = load(blob)
        except BlobError as e:
            python = _one_line(REFUSED, e.kind.name, str(e))
        except Exception as e:  # noqa: BLE001 -- any other exception is what the fuzzer looks for
            return Verdict(CRASH, f"loader raised {type(e).__name__}", _first_line(e))
        else:
            python = None
        if self.c_loader is not None:
            problem = self._compare_c(blob, python)
            if problem is not None:
                return problem
        if python is not None:
            return python
        key = _program_key(blob)
        if key not in self.runs:
            self.runs[key] = _bounded(lambda: self._run_guarded(program, key))
        return self.runs[key]

    @staticmethod
    def _run_guarded(program: Program, key: bytes) -> Verdict:
        try:
            return _run(program, random_inputs(program, key))
        except Exception as e:  # noqa: BLE001
            return Verdict(CRASH, f"emulator raised {type(e).__name__}", _first_line(e))

    def _compare_c(self, blob: bytes, python: Verdict | None) -> Verdict | None:
        load_verdict, free = self.c_loader
        code, message, handle = load_verdict(blob)
        if handle:
            free(handle)
        self.c_compared += 1
        expected = (LoadError.OK, "") if python is None else (LoadError[python.kind], python.message)
        if (code, message) != expected:
            return Verdict(CRASH, "the C loader's verdict differs",
                           f"C {code.name} {message!r}, Python {expected[0].name} {expected[1]!r}")
        return None


def _first_line(e: BaseException) -> str:
    where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{text} (at {where.filename}:{where.lineno})" if where else text


def c_loader() -> tuple[Callable, Callable] | str:
    """The C loader's verdict and free functions, or why it cannot be had (no C compiler)."""
    try:
        from runtime.cmodel.native import lib, load_verdict

        return load_verdict, lib().atalla_program_free
    except (OSError, RuntimeError) as e:
        return f"{type(e).__name__}: {_first_line(e)}"




# --- a run -----------------------------------------------------------------------------------------

@dataclass
class FuzzResult:
    seed: int
    indices: range
    verdicts: Counter  # (outcome, kind) -> cases
    crashes: list[tuple[Case, Verdict, Path | None]]  # with the file the blob was written to
    c_compared: int
    seconds: float

    def summary(self) -> str:
        by_outcome = {o: sum(n for (out, _), n in self.verdicts.items() if out == o) for o in (REFUSED, FAULT, RAN)}
        hangs = sum(1 for _, v, _ in self.crashes if v.kind == "hang")
        first, last = self.indices.start, self.indices.stop - 1
        return (f"seed {self.seed}: cases {first}..{last}: {by_outcome[REFUSED]} refused by the loader, "
                f"{by_outcome[FAULT]} stopped by the emulator's error, {by_outcome[RAN]} ran to END; "
                f"C loader compared on {self.c_compared}; {len(self.crashes) - hangs} crashes, {hangs} hangs "
                f"({self.seconds:.1f} s)")


def run_fuzz(seed: int, indices: range, judge: Judge, out_dir: Path | None = None) -> FuzzResult:
    """Judge every case; each crash's blob (and its case and verdict, as JSON) goes to out_dir."""
    started = time.perf_counter()
    verdicts: Counter = Counter()
    crashes = []
    for index in indices:
        case = make_case(seed, index)
        verdict = judge(case.blob)
        verdicts[verdict.outcome, verdict.kind] += 1
        if verdict.outcome == CRASH:
            crashes.append((case, verdict, write_crash(out_dir, seed, case, verdict) if out_dir else None))
    return FuzzResult(seed, indices, verdicts, crashes, judge.c_compared, time.perf_counter() - started)


def write_crash(out_dir: Path, seed: int, case: Case, verdict: Verdict) -> Path:
    """The blob as out_dir/fuzz-SEED-INDEX.atb, and beside it what made it and what it earned."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"fuzz-{seed}-{case.index}.atb"
    path.write_bytes(case.blob)
    path.with_suffix(".json").write_text(json.dumps(
        {"seed": seed, "case": case.index, "from": case.seed_name, "mutation": case.mutation,
         "verdict": verdict.as_dict()}, indent=2) + "\n")
    return path
