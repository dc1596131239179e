"""The emulator refuses programs that would race or break on hardware, naming the command."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from atalla.blob_format import Role
from atalla.config import get_config
from atalla.dma import DmaDescriptor
from atalla.isa import BMode, DmaDirection, Flag, Opcode, VecFunc, command, make_ref
from atalla.program import Program, TensorInfo
from runtime.emulator import Emulator, EmulatorError
from runtime.emulator.machine import _shares_element

CFG = get_config("small")


def program(*cmds) -> Program:
    tensors = [TensorInfo("x", Role.INPUT, (4, 8), 0), TensorInfo("y", Role.OUTPUT, (4, 8), 64)]
    return Program(CFG, tensors, b"", [*cmds, command(Opcode.END)], [], 128, 128 + 32 * (len(cmds) + 1))


def load(handle=0, ticket=0, dram=0):
    return command(Opcode.DMA_LOAD, sp=make_ref(handle), dram_addr=dram, rows=4, cols=8, row_stride=8, col_stride=1,
                   ticket=ticket)


def relu(dst=1, src=0):
    return command(Opcode.VEC, func=VecFunc.RELU, dst=make_ref(dst), a=make_ref(src), b=0, rows=4, cols=8)


def run(p: Program, **kw):
    return Emulator(p, **kw).run([np.arange(32, dtype=np.float32).reshape(4, 8) - 16])


ALLOC = command(Opcode.ALLOC, handle=0, bytes=256), command(Opcode.ALLOC, handle=1, bytes=256)


def test_a_correct_program_runs():
    store = command(Opcode.DMA_STORE, sp=make_ref(1), dram_addr=64, rows=4, cols=8, row_stride=8, col_stride=1,
                    ticket=1)
    (y,) = run(program(*ALLOC, load(), command(Opcode.WAIT, ticket=0), relu(), store,
                       command(Opcode.WAIT, ticket=1)))
    np.testing.assert_array_equal(y, np.maximum(np.arange(32).reshape(4, 8) - 16, 0))


def test_missing_wait_is_a_race():
    with pytest.raises(EmulatorError, match=r"command 3 \(VEC.RELU\): touches scratchpad that DMA command 2 "
                                            r"\(ticket 0\) still owns"):
        run(program(*ALLOC, load(), relu()))


def test_unwaited_ticket_at_end():
    with pytest.raises(EmulatorError, match=r"command 3 \(END\): program ends with DMA tickets \[0\] never waited"):
        run(program(*ALLOC, load()))


def test_unbound_handle():
    with pytest.raises(EmulatorError, match=r"command 0 \(DMA_LOAD\): handle 5 is not bound"):
        run(program(load(handle=5)))


def test_row_overrun():
    big = command(Opcode.VEC, func=VecFunc.COPY, dst=make_ref(1), a=make_ref(0), b=0, rows=40, cols=8)
    with pytest.raises(EmulatorError, match=r"command 2 \(VEC.COPY\): 40 bf16 rows from row 0 overrun handle 0"):
        run(program(*ALLOC, big))


def test_partial_overlap_of_destination():
    shifted = command(Opcode.VEC, func=VecFunc.ADD, flags=int(BMode.ROW) << 4, dst=make_ref(0, 0), a=make_ref(1),
                      b=make_ref(0, 0), rows=4, cols=8)
    with pytest.raises(EmulatorError, match="partially overlaps"):
        run(program(*ALLOC, shifted))


def test_firmware_fault_names_command_and_status():
    with pytest.raises(EmulatorError, match=r"command 1 \(ALLOC\): firmware ALLOC call failed with OUT_OF_MEMORY: "
                                            r"scratchpad out of memory: handle 1"):
        run(program(*ALLOC), sp_capacity=256)


def test_dma_outside_dram_is_refused_by_firmware():
    bad = load(dram=CFG.dram_bytes - 8)
    with pytest.raises(EmulatorError, match=r"command 1 \(DMA_LOAD\): firmware DMA call failed with DMA_OUT_OF_BOUNDS"):
        run(program(ALLOC[0], bad))


def test_gemm_tile_too_big():
    cfg_fp32 = command(Opcode.GEMM, func=1, flags=Flag.ACCUMULATE, a=make_ref(0), b=make_ref(0), c=make_ref(1),
                       d=make_ref(1), m=1, k=9, n=8)
    with pytest.raises(EmulatorError, match=r"tile 1x9x8 does not fit the 8x8 array"):
        run(program(*ALLOC, cfg_fp32))


def gemm(flags=0, c=make_ref(1), d=make_ref(1)):
    """A 2x2x8 GEMM of A in rows 0..1 and B in rows 8..9 of handle 0."""
    return command(Opcode.GEMM, func=1, flags=flags, a=make_ref(0), b=make_ref(0, 8), c=c, d=d, m=2, k=2, n=8)


ACC = Flag.ACCUMULATE


@pytest.mark.parametrize("cmd,problem", [
    (gemm(d=make_ref(0, 1)), "D overlaps A"),
    (gemm(d=make_ref(0, 7)), "D overlaps B"),
    (gemm(ACC, c=make_ref(1, 0), d=make_ref(1, 2)), "D partially overlaps C"),
    (gemm(ACC | Flag.C_BF16, c=make_ref(1), d=make_ref(1)), "D partially overlaps C"),  # the same rows, not format
    (gemm(ACC, c=make_ref(1), d=make_ref(1)), None),  # in place
    (gemm(0, c=make_ref(1, 2), d=make_ref(1)), None),  # C unread without ACCUMULATE
])
def test_gemm_operand_rule(cmd, problem):
    if problem is None:
        run(program(*ALLOC, cmd))
    else:
        with pytest.raises(EmulatorError, match=rf"command 2 \(GEMM\): {problem}"):
            run(program(*ALLOC, cmd))


def test_wrong_input_shape():
    p = program()
    with pytest.raises(EmulatorError, match=r"input 'x': shape \(2, 2\) given, the program was compiled for \(4, 8\)"):
        Emulator(p).run([np.zeros((2, 2), np.float32)])


def test_firmware_call_sequence_is_recorded():
    emu = Emulator(dataclasses.replace(program(*ALLOC, load(), command(Opcode.WAIT, ticket=0))))
    emu.run([np.zeros((4, 8), np.float32)])
    assert [r.kind.name for r in emu.firmware.log] == ["ALLOC", "ALLOC", "DMA"]


def test_the_race_check_solves_for_a_dma_block_s_elements_as_listing_them_would():
    """A block is not listed element by element (a fuzzed width of 8M took 20 s to list): the
    solved check agrees with listing on random blocks, negative and zero strides included."""
    rng = np.random.default_rng(3)
    for _ in range(3000):
        rows, cols = (int(v) for v in rng.integers(1, 12, 2))
        row_stride, col_stride = (int(v) for v in rng.integers(-20, 20, 2))
        block = DmaDescriptor(DmaDirection.LOAD, 0, 2 * int(rng.integers(0, 400)), rows, cols, row_stride, col_stride, 0)
        elements = rng.integers(-300, 700, int(rng.integers(1, 30)))
        listed = np.intersect1d(block.dram_elements().ravel(), elements).size > 0
        assert _shares_element(block, elements) == listed, (block, elements)
