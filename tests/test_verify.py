"""The random-program generator (runtime/verify) on its own: its legal programs pass the loader and
the emulator and cover the ISA; each planted command earns its fault code; the verdict catches a
difference. The RTL side is cocotb_tests/test_random_programs.py."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from atalla.config import CONFIGS
from atalla.isa import GEMM_FLAGS, BMode, Fault, Flag, Opcode, VecFunc
from compiler.serialize import serialize
from runtime.emulator import Emulator, EmulatorError
from runtime.emulator.units import bmode
from runtime.loader import load
from runtime.verify.compare import Ending, verdict
from runtime.verify.generator import PLANT_KINDS, generate

SEED = 5


def run(gen) -> tuple[Emulator, EmulatorError | None]:
    emu = Emulator(gen.program)
    gen.patch(emu.dram)
    try:
        emu.run([])
    except EmulatorError as e:
        return emu, e
    return emu, None


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_legal_programs_pass_the_loader_and_the_emulator(config):
    for index in range(40):
        gen = generate(CONFIGS[config], SEED, index)
        load(serialize(gen.program), expect_config=CONFIGS[config])
        _, error = run(gen)
        assert error is None, f"program {index}: {error}"


def test_programs_are_a_function_of_seed_and_index():
    cfg = CONFIGS["small"]
    a, b = generate(cfg, SEED, 3), generate(cfg, SEED, 3)
    assert serialize(a.program) == serialize(b.program)
    assert serialize(generate(cfg, SEED, 4).program) != serialize(a.program)
    assert serialize(generate(cfg, SEED + 1, 3).program) != serialize(a.program)


def test_legal_programs_cover_the_isa():
    cfg = CONFIGS["small"]
    ops, funcs, modes, gemm_flags, fp32, steps, data = Counter(), Counter(), Counter(), 0, set(), set(), set()
    for index in range(100):
        program = generate(cfg, SEED, index).program
        data.update(np.frombuffer(program.constants, "<u2").tolist())
        for c in program.commands:
            ops[c.op] += 1
            if c.op == Opcode.VEC:
                funcs[VecFunc(c.func)] += 1
                modes[bmode(c.flags)] += 1
                fp32.update(f for f in (Flag.DST_FP32, Flag.A_FP32, Flag.B_FP32) if c.flags & f)
            if c.op == Opcode.GEMM:
                gemm_flags |= c.flags
                steps.add(c.func)
    assert set(ops) == set(Opcode) - {Opcode.HOST}
    assert set(funcs) == set(VecFunc) and set(modes) == set(BMode)
    assert gemm_flags == GEMM_FLAGS and len(fp32) == 3 and steps == {0, 1, 2, 3}
    specials = {0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x7F7F, 0x3F80}  # bf16 words among the data
    assert specials <= data


def test_some_programs_place_their_data_high_and_stride_across_dram():
    cfg = CONFIGS["small"]
    programs = [generate(cfg, SEED, index).program for index in range(100)]
    high = [p for p in programs if p.tensors[0].dram_offset >= cfg.dram_bytes // 2]
    assert 15 <= len(high) <= 45
    loads = [c for p in high for c in p.commands if c.op == Opcode.DMA_LOAD]
    strides = [c.args[4] for c in loads] + [c.args[5] for c in loads]
    assert max(strides) >= 1 << 28 and max(c.args[1] for c in loads) >= cfg.dram_bytes // 2
    assert {p.program_dram_offset % 32 for p in high} != {0}  # streams at word-aligned, not only 32-byte, places


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_every_planted_command_earns_its_fault_on_the_emulator(config):
    seen = Counter()
    for index in range(3 * len(PLANT_KINDS)):
        gen = generate(CONFIGS[config], SEED, index, illegal=True)
        _, error = run(gen)
        assert error is not None, f"program {index}: {gen.planted.kind} ran"
        assert (error.fault, error.index) == (gen.planted.fault, gen.planted.index), \
            f"program {index}: {gen.planted.kind}: {error}"
        assert str(error).startswith(f"command {gen.planted.index}")
        seen[error.fault] += 1
    assert set(seen) == set(PLANT_KINDS)
    assert set(PLANT_KINDS) == set(Fault) - {Fault.NONE}


def test_the_verdict_names_the_first_differing_byte_and_call():
    gen = generate(CONFIGS["small"], SEED, 0)
    emu, _ = run(gen)
    used = gen.program.dram_bytes_used
    done = Ending("done", -1, "NONE", "OK")
    calls = [(r.kind, r.args, r.status, r.value) for r in emu.firmware.log]
    assert verdict(gen, done, done, emu.dram[:used], emu.dram[:used].copy(), calls, calls) is None
    rtl = emu.dram[:used].copy()
    out = gen.program.tensors[1]
    rtl[out.dram_offset + 6] ^= 0x40
    problem = verdict(gen, done, done, emu.dram[:used], rtl, calls, calls)
    assert problem.startswith("DRAM differs at 1 bytes") and "tensor 'out' element 3" in problem
    assert "call 2" in verdict(gen, done, done, emu.dram[:used], emu.dram[:used], calls, calls[:2] + calls[3:])
    hung = Ending("watchdog", 7, "NONE", "OK")
    assert verdict(gen, done, hung, emu.dram[:used], emu.dram[:used], calls, calls) == \
        "the emulator ended done, the RTL by the watchdog at command 7"
