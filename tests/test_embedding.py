"""Integer row-id inputs and the embedding lookup: int32 tensors in the blob with their index bound,
the GATHER DMA on the emulator, the run-time range check, and the loader's rules for them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atalla.blob_format import DType, Role
from atalla.config import CONFIGS
from atalla.isa import Flag, Opcode
from atalla.numerics import bf16_bits_to_f32, f32_to_bf16_bits
from compiler.driver import compile_model
from compiler.errors import CompileError
from compiler.serialize import serialize
from runtime.emulator import Emulator, EmulatorError
from runtime.loader import BlobError, load
from tests.helpers import Fn, emulate, emulate_within_tolerance

SMALL = CONFIGS["small"]


class TwoTables(torch.nn.Module):
    """Token and position embeddings of one set of ids (the position table is the smaller), a
    Linear after: the ids are bounded by the smaller table."""

    def __init__(self, vocab=100, positions=40, width=20):
        super().__init__()
        self.tokens, self.positions = torch.nn.Embedding(vocab, width), torch.nn.Embedding(positions, width)
        self.head = torch.nn.Linear(width, 7)

    def forward(self, ids):
        return self.head(self.tokens(ids) + self.positions(ids))


def rows_of(table: torch.Tensor, ids: torch.Tensor) -> np.ndarray:
    """The bf16 values of the table rows: what a gather must give, bit for bit."""
    return bf16_bits_to_f32(f32_to_bf16_bits(table.detach().numpy()))[ids.numpy()]


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize("shape", [(1,), (2, 9), (3, 1, 13)])
def test_embedding_gathers_table_rows_exactly(dtype, shape):
    torch.manual_seed(0)
    table = torch.nn.Embedding(50, 37)  # 37: more than one band of lanes, a partial last band
    ids = torch.randint(0, 50, shape, dtype=dtype)
    ids.view(-1)[0] = 49  # the last row
    (out,), compiled, _ = emulate(table, (ids,))
    np.testing.assert_array_equal(out, rows_of(table.weight, ids))
    (spec,) = compiled.program.by_role(Role.INPUT)
    assert spec.dtype == DType.INT32 and spec.index_bound == 50 and spec.nbytes == 4 * ids.numel()
    gathers = [c for c in compiled.program.commands if c.op == Opcode.DMA_LOAD and c.flags & Flag.GATHER]
    assert gathers and not compiled.program.host_ops


def test_ids_are_bounded_by_the_smallest_table_and_checked_at_run_time():
    torch.manual_seed(0)
    module, ids = TwoTables(), torch.randint(0, 40, (2, 9))
    compiled = emulate_within_tolerance(module, (ids,))
    (spec,) = compiled.program.by_role(Role.INPUT)
    assert spec.index_bound == 40
    bad = ids.numpy().copy()
    bad[1, 4] = 40
    with pytest.raises(EmulatorError, match=r"input 'ids': row id 40 at \[1, 4\] is out of range: the table it "
                                            r"indexes has 40 rows \(1 ids out of range\)"):
        Emulator(compiled.program).run([bad])
    with pytest.raises(EmulatorError, match=r"input 'ids': row id -3 at \[0, 0\]"):
        Emulator(compiled.program).run([np.full((2, 9), -3)])
    with pytest.raises(EmulatorError, match=r"input 'ids' holds row ids: it must be an integer array, not float32"):
        Emulator(compiled.program).run([ids.numpy().astype(np.float32)])


def test_integer_inputs_that_no_embedding_reads_are_refused():
    with pytest.raises(CompileError, match=r"integer input \w+ is read by no embedding"):
        compile_model(Fn(lambda x, ids: x * 2), (torch.ones(3), torch.arange(3)), SMALL, "unused_ids")


def test_row_ids_in_the_blob_survive_the_loader():
    torch.manual_seed(0)
    compiled = compile_model(torch.nn.Embedding(30, 8), (torch.randint(0, 30, (5,)),), SMALL, "emb")
    loaded = load(compiled.blob())
    assert loaded.tensors == compiled.program.tensors


def _with_tensor(program, index: int, **changes):
    tensors = list(program.tensors)
    tensors[index] = tensors[index].__class__(**{**tensors[index].__dict__, **changes})
    return serialize(program.__class__(**{**program.__dict__, "tensors": tensors}))


@pytest.mark.parametrize("changes, why", [
    ({"index_bound": 0}, r"an INT32 tensor holds an input's row ids: it must be an INPUT with an index_bound "
                         r"\(it is INPUT, index_bound 0\)"),
    ({"role": Role.INTERMEDIATE}, r"it must be an INPUT with an index_bound \(it is INTERMEDIATE, index_bound 30\)"),
])
def test_loader_refuses_malformed_row_id_tensors(changes, why):
    torch.manual_seed(0)
    program = compile_model(torch.nn.Embedding(30, 8), (torch.randint(0, 30, (5,)),), SMALL, "emb").program
    with pytest.raises(BlobError, match=why):
        load(_with_tensor(program, 0, **changes))
    output = next(i for i, t in enumerate(program.tensors) if t.role == Role.OUTPUT)
    with pytest.raises(BlobError, match=r"index_bound 7 on a BF16 tensor"):
        load(_with_tensor(program, output, index_bound=7))
