"""The C model (runtime/c, `--backend cmodel`) against the emulator, its readable specification: bit
for bit on every zoo model and on random command programs, the same firmware calls, and the same
fault at the same command with the same message; the C example program; the command-line tool."""

from __future__ import annotations

import json
import random
import subprocess
from functools import cache

import numpy as np
import pytest

from atalla.blob_format import DType, Role
from atalla.config import CONFIGS, get_config
from atalla.isa import BMODE_SHIFT, GEMM_FLAGS, UNARY_FUNCS, BMode, Flag, Opcode, VecFunc, command, make_ref
from atalla.program import Program, TensorInfo
from atalla.runtime_abi import RunFailure
from cli.main import main
from compiler.driver import compile_model
from compiler.serialize import serialize
from golden.zoo import REGRESSION_MODELS, ZOO
from runtime.check import check
from runtime.cmodel import build
from runtime.cmodel.backend import CModelBackend, CModelError
from runtime.emulator.backend import EmulatorBackend
from runtime.emulator.machine import EmulatorError
from runtime.rtl.build import ROOT
from runtime.verify import SEED_ENV, run_seed
from runtime.verify.generator import generate

CFG = CONFIGS["small"]
RANDOM_PROGRAMS = 200  # per config, about a second


@cache
def zoo_blob(name: str, config: str = "small") -> tuple[bytes, tuple[np.ndarray, ...]]:
    module, inputs = ZOO[name]()
    return compile_model(module, inputs, CONFIGS[config], name).blob(), tuple(x.numpy() for x in inputs)


@pytest.mark.parametrize("name", REGRESSION_MODELS)
def test_every_zoo_model_is_bit_exact_with_the_emulator(name):
    blob, inputs = zoo_blob(name)
    result = check(blob, list(inputs), None, CModelBackend())
    assert result.mismatches == [] and result.firmware_calls_equal
    emulator = EmulatorBackend()
    emulator.init(blob)
    emulator.execute(list(inputs))
    ours, theirs = result.stats, emulator.stats()
    for key in ("commands_by_kind", "firmware_calls_by_kind", "scratchpad_peak_bytes"):
        assert ours[key] == theirs[key]


@pytest.mark.parametrize("name", ["host_fallback", "attention"])
def test_the_python_firmware_plugs_into_the_c_abi(name):
    """Every call served by firmware.Firmware.request through the C firmware table."""
    blob, inputs = zoo_blob(name)
    result = check(blob, list(inputs), None, CModelBackend(firmware="python"))
    assert result.mismatches == [] and result.firmware_calls_equal


def test_a_config_from_a_file_is_bit_exact():
    """configs/atalla16.json: a 16x16 array, 32-byte rows."""
    module, inputs = ZOO["attention"]()
    blob = compile_model(module, inputs, get_config(str(ROOT / "configs" / "atalla16.json")), "attention").blob()
    result = check(blob, [x.numpy() for x in inputs], None, CModelBackend())
    assert result.program.config.array_rows == 16 and result.mismatches == [] and result.firmware_calls_equal


def test_a_gpt2_model_on_atalla32_is_bit_exact():
    from golden.hf import gpt2

    module, x = gpt2(), np.random.default_rng(0).standard_normal((1, 8, 64)).astype(np.float32)
    import torch

    blob = compile_model(module, (torch.from_numpy(x),), CONFIGS["atalla32"], "gpt2").blob()
    result = check(blob, [x], None, CModelBackend())
    assert result.mismatches == [] and result.firmware_calls_equal


# --- random programs: every VEC function and GEMM form on every kind of fp32 and bf16 bits --------

SPECIAL_BF16 = (0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x8080, 0x7F80, 0xFF80, 0x7FC0, 0x7FC1, 0xFFFF, 0x7F7F,
                0xFF7F, 0x3F80, 0xBF80, 0x3F00, 0x4000, 0x4B00, 0x4B40, 0x3F40, 0x3FC0, 0x4320, 0x42FE, 0xC2FE)
HANDLES, ROWS = 4, 64  # four buffers of 64 scratchpad rows


def random_program(rng: random.Random, steps: int = 24) -> Program:
    """DMA random bits (constants) into four buffers, run random VEC and GEMM commands over them, store
    every buffer whole. Operands mostly fit; now and then one does not, and both models must fault alike."""
    lanes = CFG.lanes
    n_bits = HANDLES * ROWS * lanes
    words = [rng.choice(SPECIAL_BF16) if rng.random() < 0.3 else rng.getrandbits(16) for _ in range(n_bits)]
    constants = np.array(words, dtype="<u2").tobytes()
    nbytes = ROWS * lanes * 2
    tensors = [TensorInfo("bits", Role.CONSTANT, (HANDLES * ROWS, lanes), 0, const_offset=0),
               *(TensorInfo(f"out{h}", Role.OUTPUT, (ROWS, lanes), len(constants) + h * nbytes)
                 for h in range(HANDLES))]
    cmds = [command(Opcode.ALLOC, handle=h, bytes=ROWS * CFG.sp_row_bytes) for h in range(HANDLES)]
    for h in range(HANDLES):
        cmds += [command(Opcode.DMA_LOAD, sp=make_ref(h), dram_addr=h * nbytes, rows=ROWS, cols=lanes,
                         row_stride=lanes, col_stride=1, ticket=h)]
    cmds += [command(Opcode.WAIT, ticket=h) for h in range(HANDLES)]

    def ref(handle: int, span: int) -> int:
        return make_ref(handle, rng.randrange(max(1, ROWS - span + 1) + (rng.random() < 0.03) * 8))

    for _ in range(steps):
        src, other, dst = rng.sample(range(HANDLES), 3)
        if rng.random() < 0.3:
            m, k, n = rng.randint(1, 9), rng.randint(1, CFG.array_rows), rng.randint(1, CFG.array_cols)
            step = rng.randint(0, 2)
            flags = rng.getrandbits(16) & GEMM_FLAGS
            c, d = ref(other, 2 * m), ref(dst, 2 * m)
            if rng.random() < 0.4:  # accumulating in place: C is D, the same rows in the same format
                c = d = make_ref(dst, 0)
                flags = flags & ~(Flag.C_ROW | Flag.C_BF16) | (Flag.C_BF16 if flags & Flag.D_BF16 else 0)
            cmds.append(command(Opcode.GEMM, func=step, flags=flags, a=ref(src, m * max(step, 1)), b=ref(other, k), c=c,
                                d=d, m=m, k=k, n=n))
        else:
            func = rng.choice(list(VecFunc))
            rows, cols = rng.randint(1, 8), rng.randint(1, lanes + (rng.random() < 0.03))
            flags = rng.choice((0, Flag.DST_FP32, Flag.A_FP32, Flag.B_FP32))
            flags |= rng.choice((0, Flag.DST_FP32 | Flag.A_FP32))
            mode = rng.choice(list(BMode))
            flags |= int(mode) << BMODE_SHIFT
            scalars = (0x7FC00001, 0x80000000, 0x00000001, 0x3F800000, 0x42FE0000, 0xC3800000, rng.getrandbits(32))
            b = rng.choice(scalars) if mode == BMode.SCALAR else ref(other, 2 * rows)
            a = ref(src, 2 * rows)
            in_place = func not in UNARY_FUNCS and rng.random() < 0.1
            if in_place and rng.random() < 0.9:  # the same rows in the same format
                flags = flags & ~Flag.DST_FP32 | (Flag.DST_FP32 if flags & Flag.A_FP32 else 0)
            cmds.append(command(Opcode.VEC, func=func, flags=flags, dst=a if in_place else ref(dst, 2 * rows), a=a,
                                b=b if func not in UNARY_FUNCS or mode == BMode.SCALAR else 0, rows=rows, cols=cols))
    for h in range(HANDLES):
        cmds += [command(Opcode.DMA_STORE, sp=make_ref(h), dram_addr=tensors[1 + h].dram_offset, rows=ROWS, cols=lanes,
                         row_stride=lanes, col_stride=1, ticket=h), command(Opcode.WAIT, ticket=h)]
    cmds += [command(Opcode.FREE, handle=h) for h in range(HANDLES)] + [command(Opcode.END)]
    start = len(constants) + HANDLES * nbytes
    return Program(CFG, tensors, constants, cmds, [], start, start + 32 * len(cmds), {"model": "random"})


def outcome(backend, blob: bytes):
    backend.init(blob)
    try:
        outputs = backend.execute([])
    except (EmulatorError, CModelError) as e:
        return "fault", str(e), backend.firmware_calls()
    return "ran", [o.view(np.uint32).tobytes() for o in outputs], backend.firmware_calls()


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_the_verifiers_random_programs_are_bit_exact(config):
    """runtime/verify's constrained-random programs (legal ones: a planted bad command bypasses the
    loader, which the C runtime cannot): every output byte and firmware call as the emulator's."""
    seed = run_seed()
    for index in range(RANDOM_PROGRAMS):
        result = check(serialize(generate(CONFIGS[config], seed, index).program), [], None, CModelBackend())
        assert result.bit_exact and result.firmware_calls_equal, \
            f"program {index} (rerun with {SEED_ENV}={seed}): {result.mismatches}"


def test_random_command_programs_are_bit_exact_and_fault_alike():
    rng = random.Random(14)
    ran = 0
    for case in range(150):
        blob = serialize(random_program(rng))
        emulated, ours = outcome(EmulatorBackend(), blob), outcome(CModelBackend(), blob)
        assert ours == emulated, f"random program {case} differs: {emulated[1] if emulated[0] == 'fault' else ''}"
        ran += emulated[0] == "ran"
    assert ran > 100  # most run to the end: the numerics are compared, not only the faults


# --- faults: the emulator's message, class and command index ------------------------------------

def program(*cmds, host_ops=()) -> Program:
    tensors = [TensorInfo("x", Role.INPUT, (4, 8), 0), TensorInfo("y", Role.OUTPUT, (4, 8), 64)]
    return Program(CFG, tensors, b"", [*cmds, command(Opcode.END)], list(host_ops), 128, 128 + 32 * (len(cmds) + 1))


def load(handle=0, ticket=0, dram=0, rows=4):
    return command(Opcode.DMA_LOAD, sp=make_ref(handle), dram_addr=dram, rows=rows, cols=8, row_stride=8, col_stride=1,
                   ticket=ticket)


def store(handle=1, ticket=1, dram=64):
    return command(Opcode.DMA_STORE, sp=make_ref(handle), dram_addr=dram, rows=4, cols=8, row_stride=8, col_stride=1,
                   ticket=ticket)


def vec(func=VecFunc.RELU, dst=1, src=0, rows=4, **kw):
    return command(Opcode.VEC, func=func, dst=make_ref(dst), a=make_ref(src), b=kw.pop("b", 0), rows=rows, cols=8, **kw)


ALLOC = command(Opcode.ALLOC, handle=0, bytes=256), command(Opcode.ALLOC, handle=1, bytes=256)
WAIT0 = command(Opcode.WAIT, ticket=0)
FAULTS = {
    "missing WAIT": (program(*ALLOC, load(), vec()), RunFailure.HAZARD),
    "ticket never waited": (program(*ALLOC, load()), RunFailure.HAZARD),
    "unbound handle": (program(load(handle=5)), RunFailure.UNBOUND_HANDLE),
    "handle in use": (program(*ALLOC, ALLOC[0]), RunFailure.HANDLE_IN_USE),
    "WAIT without DMA": (program(command(Opcode.WAIT, ticket=3)), RunFailure.TICKET),
    "ticket in flight": (program(*ALLOC, load(), load(1)), RunFailure.TICKET),
    "rows beyond the buffer": (program(*ALLOC, load(rows=17)), RunFailure.OPERAND),
    "tile overrun": (program(*ALLOC, vec(VecFunc.COPY, rows=40)), RunFailure.OPERAND),
    "partial overlap": (program(*ALLOC, command(Opcode.VEC, func=VecFunc.ADD, flags=int(BMode.ROW) << BMODE_SHIFT,
                                                dst=make_ref(0), a=make_ref(1), b=make_ref(0), rows=4, cols=8)),
                        RunFailure.OPERAND),
    "GEMM tile": (program(*ALLOC, command(Opcode.GEMM, func=1, a=make_ref(0), b=make_ref(0), c=0, d=make_ref(1), m=1,
                                          k=9, n=8)), RunFailure.OPERAND),
    "DMA outside DRAM": (program(ALLOC[0], load(dram=CFG.dram_bytes - 8)), RunFailure.FIRMWARE),
    "DRAM a store still owns": (program(*ALLOC, store(), load(dram=64)), RunFailure.HAZARD),
    "FREE under a DMA": (program(*ALLOC, load(), command(Opcode.FREE, handle=0)), RunFailure.HAZARD),
    "odd DRAM address": (program(*ALLOC, load(dram=3)), RunFailure.FIRMWARE),
    "zero bytes": (program(command(Opcode.ALLOC, handle=0, bytes=0)), RunFailure.FIRMWARE),
}


@pytest.mark.parametrize("name", FAULTS)
@pytest.mark.parametrize("firmware", ["c", "python"])
def test_a_fault_stops_both_models_alike(name, firmware):
    p, failure = FAULTS[name]
    blob, x = serialize(p), np.arange(32, dtype=np.float32).reshape(4, 8)
    emulator, ours = EmulatorBackend(), CModelBackend(firmware)
    emulator.init(blob), ours.init(blob)
    with pytest.raises(EmulatorError) as expected:
        emulator.execute([x])
    with pytest.raises(CModelError) as got:
        ours.execute([x])
    assert str(got.value) == str(expected.value)
    index = int(str(expected.value).split()[1])
    assert (got.value.failure, got.value.index) == (failure, index)
    assert ours.firmware_calls() == emulator.firmware_calls()


def test_token_ids_gathered_by_dma_are_bit_exact():
    """GPT-2 fed token ids: INT32 inputs, the embedding's GATHER loads."""
    import torch

    from golden.hf import gpt2_tokens

    ids = torch.randint(0, 128, (2, 7), generator=torch.Generator().manual_seed(0))
    blob = compile_model(gpt2_tokens(), (ids,), CFG, "gpt2_tokens").blob()
    result = check(blob, [ids.numpy()], None, CModelBackend())
    assert result.mismatches == [] and result.firmware_calls_equal
    assert result.program.tensors[0].dtype == DType.INT32


def gather_program(*cmds) -> Program:
    """x (4 x 8, a table of 4 rows) at 0, y at 64, ids (4 int32 row ids into x) at 128."""
    tensors = [TensorInfo("x", Role.INPUT, (4, 8), 0), TensorInfo("y", Role.OUTPUT, (4, 8), 64),
               TensorInfo("ids", Role.INPUT, (4,), 128, dtype=DType.INT32, index_bound=4)]
    return Program(CFG, tensors, b"", [*cmds, command(Opcode.END)], [], 192, 192 + 32 * (len(cmds) + 1))


def gather(ids=128, ticket=0):
    return command(Opcode.DMA_LOAD, flags=Flag.GATHER, sp=make_ref(0), dram_addr=0, rows=4, cols=8, row_stride=8,
                   col_stride=ids, ticket=ticket)


GATHER_FAULTS = {
    "ids outside DRAM": gather_program(ALLOC[0], gather(ids=CFG.dram_bytes - 8)),
    "ids a store still writes": gather_program(*ALLOC, store(dram=128), gather()),
    "table rows a store still writes": gather_program(*ALLOC, store(dram=0), gather()),
    "a store onto ids being read": gather_program(*ALLOC, gather(), store(dram=128)),
    "gathered rows in use": gather_program(*ALLOC, gather(), vec(src=0)),
}


@pytest.mark.parametrize("name", GATHER_FAULTS)
def test_a_gather_fault_stops_both_models_alike(name):
    blob = serialize(GATHER_FAULTS[name])
    inputs = [np.arange(32, dtype=np.float32).reshape(4, 8), np.array([3, 0, 2, 1])]
    emulator, ours = EmulatorBackend(), CModelBackend()
    emulator.init(blob), ours.init(blob)
    with pytest.raises(EmulatorError) as expected:
        emulator.execute(inputs)
    with pytest.raises(CModelError) as got:
        ours.execute(inputs)
    assert str(got.value) == str(expected.value)
    assert ours.firmware_calls() == emulator.firmware_calls()


def test_row_ids_out_of_range_are_refused_alike():
    blob = serialize(gather_program(ALLOC[0], gather(), command(Opcode.WAIT, ticket=0)))
    x = np.zeros((4, 8), np.float32)
    for ids in (np.array([0, 1, 4, 9]), np.array([0.5, 1, 2, 3])):
        messages = []
        for backend in (EmulatorBackend(), CModelBackend()):
            backend.init(blob)
            with pytest.raises((EmulatorError, CModelError)) as info:
                backend.execute([x, ids])
            messages.append(str(info.value))
        assert messages[0] == messages[1]


def test_every_run_starts_from_zeroed_memory():
    """A program that reads DRAM beyond its plan before it writes there: each run reads zeros."""
    far = CFG.dram_bytes - 4096
    p = program(*ALLOC, load(dram=far), WAIT0, store(handle=0, ticket=1), command(Opcode.WAIT, ticket=1),
                load(handle=1, ticket=2), command(Opcode.WAIT, ticket=2), store(handle=1, ticket=3, dram=far),
                command(Opcode.WAIT, ticket=3))
    x = np.arange(1, 33, dtype=np.float32).reshape(4, 8)
    backend = CModelBackend()
    backend.init(serialize(p))
    for _ in range(2):
        assert not backend.execute([x])[0].any()


def test_out_of_scratchpad_and_bad_inputs_match():
    blob, x = serialize(program(*ALLOC)), np.zeros((4, 8), np.float32)
    for backend in (EmulatorBackend(sp_capacity=256), CModelBackend(sp_capacity=256)):
        backend.init(blob)
        with pytest.raises((EmulatorError, CModelError), match=r"command 1 \(ALLOC\): firmware ALLOC call failed with "
                                                                r"OUT_OF_MEMORY: scratchpad out of memory: handle 1"):
            backend.execute([x])
        with pytest.raises((EmulatorError, CModelError), match=r"input 'x': shape \(2, 2\) given, the program was "
                                                                r"compiled for \(4, 8\)"):
            backend.execute([np.zeros((2, 2), np.float32)])
        with pytest.raises((EmulatorError, CModelError), match="the program takes 1 inputs, 0 given"):
            backend.execute([])


# --- the C example program and the command-line tool ---------------------------------------------

def test_the_c_example_runs_a_blob_bit_exact_and_refuses_host_ops(tmp_path):
    """Built with AddressSanitizer and UBSan: the C model and the C firmware run clean."""
    blob, inputs = zoo_blob("mlp")
    (tmp_path / "m.atb").write_bytes(blob)
    np.concatenate([x.ravel() for x in inputs]).astype("<f4").tofile(tmp_path / "in.f32")
    run = subprocess.run([str(build.example(sanitize=True)), str(tmp_path / "m.atb"), str(tmp_path / "in.f32"),
                          str(tmp_path / "out.f32")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and not run.stderr, run.stderr
    emulator = EmulatorBackend()
    emulator.init(blob)
    want = np.concatenate([o.ravel() for o in emulator.execute(list(inputs))])
    assert np.fromfile(tmp_path / "out.f32", "<f4").view(np.uint32).tolist() == want.view(np.uint32).tolist()

    blob, inputs = zoo_blob("host_fallback")
    (tmp_path / "h.atb").write_bytes(blob)
    np.concatenate([x.ravel() for x in inputs]).astype("<f4").tofile(tmp_path / "in.f32")
    run = subprocess.run([str(build.example(sanitize=True)), str(tmp_path / "h.atb"), str(tmp_path / "in.f32"),
                          str(tmp_path / "out.f32")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "Sanitizer" not in run.stderr, run.stderr
    assert "firmware HOST call failed with HOST_FAILED: HOST 0: this firmware runs no host ops" in run.stderr


def test_atalla_run_a_blob_on_the_cmodel_gives_the_emulators_bytes(tmp_path, capsys):
    blob_path = tmp_path / "m.atb"
    assert main(["compile", "mlp", "-o", str(blob_path), "--save-io"]) == 0
    outputs = {}
    for backend in ("emulator", "cmodel"):
        report = tmp_path / f"{backend}.json"
        assert main(["run", str(blob_path), "--inputs", str(tmp_path / "m.inputs.npz"), "--golden",
                     str(tmp_path / "m.golden.npz"), "--backend", backend,
                     "--outputs", str(tmp_path / f"{backend}.npz"), "--json", str(report)]) == 0
        data = json.loads(report.read_text())
        assert data["passed"] and data["wall_seconds"] > 0 and data["backend"] == backend
        with np.load(tmp_path / f"{backend}.npz") as f:
            outputs[backend] = {k: f[k].tobytes() for k in f.files}
    assert outputs["cmodel"] == outputs["emulator"]
    assert "cmodel equals emulator bit for bit: yes" in capsys.readouterr().out
