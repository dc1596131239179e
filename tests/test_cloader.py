"""The C loader (runtime/c/blob.c) against the Python loader (runtime/loader.py): the same verdict,
failure class and message, on every blob of a mutation corpus, with the C side built with
AddressSanitizer and UBSan (no crash, no finding); and the mutants both accept, run on the emulator
and the C model alike.

The corpus starts from valid blobs (a hand-made program with a host op, two zoo models) and mutates
them: bit flips and truncations that the CRCs catch, and header, section-table and section-body
edits whose CRCs are recomputed afterwards, so the mutations reach the deep checks (config rules,
tensor records, UTF-8, the JSON of METADATA and of host-op arguments, every command field).
"""

from __future__ import annotations

import random
import re
import struct
import subprocess
import zlib
from functools import cache

import numpy as np
import pytest

from atalla.blob_format import HEADER, HOST_OP, SECTION, SECTION_ALIGN, TENSOR, DType, Role, SectionKind
from atalla.config import CONFIGS
from atalla.isa import BMODE_SHIFT, BMode, Flag, Opcode, VecFunc, command, make_ref
from atalla.program import HostOp, Program, TensorInfo
from atalla.runtime_abi import LoadError, RunFailure
from compiler.driver import compile_model
from compiler.serialize import serialize
from golden.zoo import ZOO
from runtime.cmodel import build
from runtime.cmodel.backend import CModelBackend
from runtime.cmodel.native import lib, load_verdict
from runtime.emulator.backend import EmulatorBackend
from runtime.interface import RunError
from runtime.loader import BlobError, load

CFG = CONFIGS["small"]
SEED = 14


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
    fields = dict(config=CFG, tensors=tensors, constants=bytes(range(128)), commands=commands,
                  host_ops=[HostOp("aten.gelu.default", [{"tensor": 2}], {"approximate": "tanh"}, [3])],
                  program_dram_offset=1024, dram_bytes_used=1024 + 32 * 20,
                  metadata={"model": "tiny", "ops": {"gemm": 1}, "version": "0.1.0"})
    fields.update(changes)
    return Program(**fields)


@cache
def seeds() -> tuple[bytes, ...]:
    zoo = []
    for name in ("host_fallback", "basic_module"):
        module, inputs = ZOO[name]()
        zoo.append(compile_model(module, inputs, CFG, name).blob())
    ids = TensorInfo("ids", Role.INPUT, (2,), 512, dtype=DType.INT32, index_bound=8)
    gather = command(Opcode.DMA_LOAD, flags=Flag.GATHER, sp=make_ref(0), dram_addr=128, rows=2, cols=8, row_stride=8,
                     col_stride=512, ticket=3)
    with_ids = tiny_program(tensors=[*tiny_program().tensors, ids],
                            commands=[*tiny_program().commands[:2], gather, command(Opcode.WAIT, ticket=3),
                                      *tiny_program().commands[2:]])
    return (serialize(tiny_program()), serialize(with_ids), *zoo)


# --- taking a blob apart and putting it back with its CRCs right ---------------------------------

def sections_of(blob: bytes) -> tuple[dict, dict[int, bytes]]:
    header = HEADER.unpack(blob)
    bodies = {}
    for i in range(header["section_count"]):
        s = SECTION.unpack(blob, HEADER.size + i * SECTION.size)
        bodies[s["kind"]] = blob[s["offset"]: s["offset"] + s["size"]]
    return header, bodies


def assemble(header: dict, bodies: dict[int, bytes]) -> bytes:
    """A blob of these sections laid out as the serializer lays them out, every CRC computed."""
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
    h = HEADER.unpack(blob)
    end = min(len(blob), HEADER.size + h["section_count"] * SECTION.size)
    crc = zlib.crc32(HEADER.pack({**h, "header_crc32": 0}) + blob[HEADER.size: end])
    return HEADER.pack({**h, "header_crc32": crc}) + blob[HEADER.size:]


def fix_section_crcs(blob: bytes) -> bytes:
    h = HEADER.unpack(blob)
    out = bytearray(blob)
    for i in range(h["section_count"]):
        at = HEADER.size + i * SECTION.size
        s = SECTION.unpack(out, at)
        if s["offset"] + s["size"] <= len(out):
            crc = zlib.crc32(out[s["offset"]: s["offset"] + s["size"]])
            out[at: at + SECTION.size] = SECTION.pack({**s, "crc32": crc})
    return fix_header_crc(bytes(out))


# --- mutations -----------------------------------------------------------------------------------

INTERESTING = (0, 1, 2, 3, 7, 8, 15, 16, 17, 63, 64, 255, 256, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFE, 0xFFFFFFFF)
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
)
JSON_ALPHABET = '{}[]:,"\\/ \n\tu0123456789abcdefE.+-ntrlsNaIfy\x01é\u2028'


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


def set_u32(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + struct.pack("<I", value & 0xFFFFFFFF) + data[at + 4:]


@cache
def corpus() -> tuple[bytes, ...]:
    rng = random.Random(SEED)
    out: list[bytes] = []
    for blob in seeds():
        header, bodies = sections_of(blob)
        out.append(blob)
        for _ in range(100):  # bit flips, CRCs left alone
            at = rng.randrange(len(blob))
            out.append(blob[:at] + bytes([blob[at] ^ 1 << rng.randrange(8)]) + blob[at + 1:])
        cuts = {0, 1, 3, 4, 5, HEADER.size - 1, HEADER.size, len(blob) - 1}
        out += [blob[:n] for n in sorted(cuts | {rng.randrange(len(blob)) for _ in range(40)})]
        for _ in range(250):  # header fields, the header CRC recomputed
            at = rng.randrange(4, HEADER.size, 2)
            value = rng.choice(INTERESTING) if rng.random() < 0.6 else rng.getrandbits(32)
            if at < 8:  # the u16 version fields
                mutated = blob[:at] + struct.pack("<H", value & 0xFFFF) + blob[at + 2:]
            else:
                mutated = set_u32(blob, at - at % 4, value)
            out.append(fix_header_crc(mutated))
        for _ in range(40):  # config name bytes
            at = HEADER.size - 16 * 4 - 16 + rng.randrange(16)
            name_at = 40 + rng.randrange(16)
            out.append(fix_header_crc(blob[:name_at] + bytes([rng.choice((0, 0x80, 0xC3, 0xE2, 0xFF, 0x27, 0x41))])
                                      + blob[name_at + 1:]))
            del at
        for _ in range(200):  # section table entries, the header CRC recomputed
            at = HEADER.size + rng.randrange(header["section_count"]) * SECTION.size + 4 * rng.randrange(4)
            old = struct.unpack_from("<I", blob, at)[0]
            value = rng.choice((old + 16, old - 16, old + 1, old - 1, rng.choice(INTERESTING), rng.randrange(8)))
            out.append(fix_header_crc(set_u32(blob, at, value)))
        for _ in range(60):  # sections reordered, dropped or duplicated
            kinds = list(bodies)
            rng.shuffle(kinds)
            if rng.random() < 0.3:
                kinds.pop()
            mutated = {k: bodies[k] for k in kinds}
            out.append(assemble(header, mutated))
            if rng.random() < 0.3:  # a duplicated kind in the table
                table_at = HEADER.size + SECTION.size
                first_kind = struct.unpack_from("<I", out[-1], HEADER.size)[0]
                out.append(fix_header_crc(set_u32(out[-1], table_at, first_kind)))
        for _ in range(500):  # section bodies edited, their CRCs recomputed
            kind = rng.choice([SectionKind.TENSORS, SectionKind.COMMANDS, SectionKind.HOST_OPS, SectionKind.STRINGS,
                               SectionKind.METADATA, SectionKind.TENSORS, SectionKind.COMMANDS])
            body = bodies[kind]
            if not body:
                continue
            if kind in (SectionKind.TENSORS, SectionKind.COMMANDS, SectionKind.HOST_OPS) and rng.random() < 0.7:
                at = rng.randrange(len(body) // 4) * 4
                old = struct.unpack_from("<I", body, at)[0]
                value = rng.choice((rng.choice(INTERESTING), old ^ 1 << rng.randrange(32), old + 1, old - 1, old + 64))
                body = set_u32(body, at, value)
            else:
                at = rng.randrange(len(body))
                byte = rng.choice((body[at] ^ 1 << rng.randrange(8), rng.randrange(256)))
                body = body[:at] + bytes([byte]) + body[at + 1:]
            out.append(assemble(header, {**bodies, kind: body}))
        for _ in range(60):  # sections cut short or grown, CRCs recomputed
            kind = rng.choice(list(bodies))
            body = bodies[kind]
            if rng.random() < 0.5:
                body = body[: rng.randrange(len(body) + 1)]
            else:
                body = body + bytes(rng.choice((1, 4, 16, 32, 72)))
            out.append(assemble(header, {**bodies, kind: body}))
    base_header, base = sections_of(seeds()[0])
    strings, ops = base[SectionKind.STRINGS], base[SectionKind.HOST_OPS]
    op = HOST_OP.unpack(ops)
    texts = list(JSON_TEXTS) + [mutate_json(rng.choice(JSON_TEXTS), rng) for _ in range(300)]
    for text in texts:  # METADATA and host-op arguments as arbitrary JSON
        data = text.encode("utf-8", errors="surrogatepass")
        out.append(assemble(base_header, {**base, SectionKind.METADATA: data}))
        new_op = HOST_OP.pack({**op, "args_offset": len(strings), "args_len": len(data)})
        out.append(assemble(base_header, {**base, SectionKind.STRINGS: strings + data, SectionKind.HOST_OPS: new_op}))
    for target in ("", "aten.sin.default", "aten.from_file.default", "x'y", "é", "\u2028", "a\"b'c", "\\"):
        data = target.encode()
        new_op = HOST_OP.pack({**op, "target_offset": len(strings), "target_len": len(data)})
        out.append(assemble(base_header, {**base, SectionKind.STRINGS: strings + data, SectionKind.HOST_OPS: new_op}))
    for raw in (b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x90\x80", b"a\xf5", b"x'", b'x"\'',
                b"\x7f\n\xc2\xa0",
                "ü".encode(), "x".encode() * 3, b"\xef\xbb\xbf"):
        t = TENSOR.unpack(base[SectionKind.TENSORS])
        rec = TENSOR.pack({**t, "name_offset": len(strings), "name_len": len(raw)})
        tensors = rec + base[SectionKind.TENSORS][TENSOR.size:]
        out.append(assemble(base_header, {**base, SectionKind.STRINGS: strings + raw, SectionKind.TENSORS: tensors}))
        out.append(assemble(base_header, {**base, SectionKind.METADATA: raw}))
    return tuple(out)


def python_verdict(blob: bytes) -> tuple[int, str]:
    try:
        load(blob)
    except BlobError as e:
        return int(e.kind), str(e)
    return int(LoadError.OK), ""


def c_verdicts(blobs: tuple[bytes, ...], tmp_path) -> list[tuple[int, str]]:
    path = tmp_path / "corpus.bin"
    path.write_bytes(b"".join(struct.pack("<I", len(b)) + b for b in blobs))
    result = subprocess.run([str(build.verdicts(sanitize=True)), str(path)], capture_output=True, timeout=120,
                            env={"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert result.returncode == 0 and not result.stderr, f"the C loader crashed or a sanitizer fired:\n" \
                                                         f"{result.stderr.decode(errors='replace')[-3000:]}"
    lines = result.stdout.decode("utf-8", errors="surrogateescape").split("\n")[:-1]
    assert len(lines) == len(blobs)
    out = []
    for line in lines:
        code, message, run = line.rsplit("\t", 1)[0].split("\t", 1) + [line.rsplit("\t", 1)[1]]
        out.append((int(code), re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), message),
                    int(run)))
    return out


def test_c_and_python_loaders_give_the_same_verdict_on_a_mutation_corpus(tmp_path):
    blobs = corpus()
    assert len(blobs) > 3000
    python = [python_verdict(b) for b in blobs]
    c_runs = c_verdicts(blobs, tmp_path)
    c = [(code, message) for code, message, _ in c_runs]
    differ = [(i, LoadError(p[0]).name, p[1], LoadError(q[0]).name, q[1]) for i, (p, q) in enumerate(zip(python, c))
              if p != q]
    assert not differ, f"{len(differ)} of {len(blobs)} verdicts differ; first: " + "\n".join(map(str, differ[:5]))
    # The corpus reaches the deep checks: every failure class but out-of-memory turns up.
    seen = {LoadError(code) for code, _ in python}
    assert seen == set(LoadError) - {LoadError.HOST_MEMORY, LoadError.CONFIG_MISMATCH}  # the next test: mismatch
    # The C model ran every blob that loads, under the sanitizers too: to the end, or to a fault.
    runs = {RunFailure(run) for code, _, run in c_runs if code == LoadError.OK}
    assert RunFailure.OK in runs and RunFailure.FIRMWARE in runs and len(runs) > 3


def test_c_loader_refuses_another_config_as_python_does():
    blob = seeds()[0]
    for other in (CONFIGS["atalla32"], CFG.__class__(**{**CFG.as_dict(), "name": "other"}),
                  CFG.__class__(**{**CFG.as_dict(), "dram_latency": 7})):
        with pytest.raises(BlobError) as info:
            load(blob, expect_config=other)
        code, message, handle = load_verdict(blob, other)
        assert (code, message, handle) == (info.value.kind, str(info.value), None)
    code, message, handle = load_verdict(blob, CFG)
    assert code == LoadError.OK and message == "" and handle
    lib().atalla_program_free(handle)


def test_the_accepted_mutants_run_alike_on_the_emulator_and_the_c_model():
    """Blobs that load but whose commands were mutated: the C model runs them to the emulator's bits or
    stops them with the emulator's fault, with the same firmware calls (a sample of a quarter)."""
    accepted = [b for b in corpus() if python_verdict(b)[0] == LoadError.OK][::4]
    ran = 0
    for blob in accepted:
        outcomes = []
        for backend in (EmulatorBackend(), CModelBackend()):
            program = backend.init(blob)
            inputs = [np.linspace(-2, 2, t.numel, dtype=np.float32).reshape(t.shape)
                      for t in program.by_role(Role.INPUT)]
            try:
                result = [o.view(np.uint32).tobytes() for o in backend.execute(inputs)]
            except RunError as e:
                result = str(e)
            outcomes.append((result, backend.firmware_calls()))
        assert outcomes[0] == outcomes[1]
        ran += not isinstance(outcomes[0][0], str)
    assert len(accepted) > 200 and 0 < ran < len(accepted)  # both ends and faults
