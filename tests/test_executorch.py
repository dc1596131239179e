"""The ExecuTorch backend as ExecuTorch's own backend tests check one: export, lower through the
partitioner, count the delegates, the ops that must not remain, serialize a .pte, run it (the
delegates on our emulator, and once on the RTL) and compare with eager PyTorch and with our own
compiled blob, bit for bit."""

from __future__ import annotations

import copy
import logging
import warnings
from functools import cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from executorch.exir import to_edge_transform_and_lower
from torch import nn

from atalla.blob_format import DType, Role
from atalla.config import get_config
from cli.main import main
from compiler.driver import compile_model
from compiler.executorch import AtallaPartitioner, aten_program
from compiler.partition import ATALLA, HOST, partition
from golden.hf import gpt2_tokens
from golden.reference import compare, golden_outputs
from golden.zoo import LARGE_MODELS, REGRESSION_MODELS, ZOO, GPT2Block
from runtime.cmodel.backend import CModelBackend
from runtime.emulator.backend import EmulatorBackend
from runtime.executorch import AtallaDelegates, DelegateError, read_pte, run_pte
from runtime.interface import RunError
from runtime.loader import load
from runtime.rtl.backend import RtlBackend
from tests.helpers import Fn, assert_same_bits

DELEGATE = "executorch_call_delegate"


class AcrossHostOp(nn.Module):
    """Compile-time values (positions from arange, a causal mask) read on both sides of a host op."""

    def __init__(self):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(16, 8), nn.Embedding(6, 8)

    def forward(self, ids):
        length = ids.shape[1]
        positions = torch.arange(length)
        mask = torch.ones(length, length, dtype=torch.bool).tril()
        h = self.tokens(ids) + self.positions(positions)
        h = torch.sin(F.scaled_dot_product_attention(h, h, h, attn_mask=mask))
        return F.scaled_dot_product_attention(h, h, h, attn_mask=mask) + self.positions(positions)


def _seeded(build):
    def factory():
        torch.manual_seed(0)
        return build()

    return factory


# Models beyond the zoo's, at the smallest shapes that show the thing: token ids (HF GPT-2 and a
# bare embedding), the zoo's GPT-2 block at width 32, compile-time values around a host op, and a
# clone into another dim order.
MODELS = {**ZOO,
          "gpt2_tokens": _seeded(lambda: (gpt2_tokens(), (torch.randint(0, 128, (2, 7)),))),
          "embedding": _seeded(lambda: (nn.Embedding(50, 16), (torch.randint(0, 50, (3, 5)),))),
          "gpt2_block_small": _seeded(lambda: (GPT2Block(32, 2), (torch.randn(1, 8, 32),))),
          "across_host_op": _seeded(lambda: (AcrossHostOp(), (torch.randint(0, 16, (2, 6)),))),
          "channels_last": _seeded(lambda: (Fn(lambda x: (x * 2).contiguous(memory_format=torch.channels_last) + 1),
                                            (torch.randn(1, 3, 4, 5),)))}


def lower(model: str, config: str = "small"):
    module, inputs = MODELS[model]()
    with warnings.catch_warnings():  # torch's and ExecuTorch's own deprecation noise
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            edge = to_edge_transform_and_lower(torch.export.export(module.eval(), inputs, strict=False),
                                               partitioner=[AtallaPartitioner(config, model)])
        finally:
            logging.disable(logging.NOTSET)
    return module, inputs, edge


@cache
def lowered(model: str, config: str = "small"):
    """(module, inputs, the EdgeProgramManager after lowering)."""
    return lower(model, config)


@cache
def pte_bytes(model: str) -> bytes:
    """The .pte of a copy of the lowering: to_executorch rewrites the edge program it is called on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return copy.deepcopy(lowered(model)[2]).to_executorch().buffer


def outside_delegates(edge) -> list[str]:
    """The ops the lowered program still runs itself (not the delegate calls or tuple access)."""
    return [str(getattr(n.target, "_op", n.target)) for n in edge.exported_program().graph.nodes if n.op == "call_function"
            and DELEGATE not in str(n.target) and "getitem" not in str(n.target)]


def delegates(edge) -> list:
    return [m for _, m in edge.exported_program().graph_module.named_children() if hasattr(m, "processed_bytes")]


def run_lowered(edge, inputs, backend=EmulatorBackend):
    with AtallaDelegates(backend) as d:
        out = edge.exported_program().module()(*inputs)
    return list(out) if isinstance(out, (tuple, list)) else [out], d.runs


def compiled_outputs(module, inputs) -> tuple[list[np.ndarray], object]:
    compiled = compile_model(module, inputs, get_config("small"), "compiled")
    emulator = EmulatorBackend()
    emulator.init(compiled.blob())
    return emulator.execute([x.numpy() for x in inputs]), compiled.program


@pytest.mark.parametrize("model", REGRESSION_MODELS)
def test_zoo_model_lowers_to_atalla_and_runs_as_compiled(model):
    module, inputs, edge = lowered(model)
    host_ops = [p for p in partition(torch.export.export(module.eval(), inputs, strict=False).graph) if p.where == HOST]
    expected_delegates = len(host_ops) + 1  # a host op splits the Atalla graph in two
    assert len(delegates(edge)) == expected_delegates
    assert len(outside_delegates(edge)) == len(host_ops)  # every supported op is in a delegate

    outputs, runs = run_lowered(edge, inputs)
    assert len(runs) == expected_delegates
    for i, (got, want) in enumerate(zip(outputs, golden_outputs(module, inputs))):
        assert compare(f"output{i}", got.numpy(), want).passed
    reference, program = compiled_outputs(module, inputs)
    for got, want in zip(outputs, reference):
        assert_same_bits(got.numpy(), want)
    if expected_delegates == 1:
        assert_same_program(runs[0].program, program)


def assert_same_program(payload, program) -> None:
    """The very program `atalla compile` makes: commands, weights, DRAM plan, tensor dtypes."""
    assert [c.encode().tobytes() for c in payload.commands] == [c.encode().tobytes() for c in program.commands]
    assert payload.constants == program.constants
    assert [(t.role, t.dtype, t.shape, t.dram_offset, t.index_bound) for t in payload.tensors] == \
        [(t.role, t.dtype, t.shape, t.dram_offset, t.index_bound) for t in program.tensors]


@pytest.mark.long  # minutes each: every delegate run is checked against the emulator
@pytest.mark.parametrize("model", sorted(LARGE_MODELS))
def test_the_large_zoo_models_lower_to_one_delegate_with_the_compiled_bits(model):
    """gpt2_block and all of GPT-2 small (HF, token ids) on atalla32: one delegate, nothing outside,
    run on the C model, within tolerance of eager PyTorch and bit for bit `atalla compile`'s blob."""
    module, inputs, edge = lower(model, "atalla32")
    assert len(delegates(edge)) == 1 and not outside_delegates(edge)
    outputs, runs = run_lowered(edge, inputs, CModelBackend)
    assert runs[0].bit_exact and runs[0].firmware_calls_equal
    got = outputs[0].detach().numpy()
    assert compare("output0", got, golden_outputs(module, inputs)[0]).passed
    compiled = CModelBackend()
    compiled.init(compile_model(module, inputs, get_config("atalla32"), model).blob())
    assert_same_bits(got, compiled.execute([x.numpy() for x in inputs])[0])


@pytest.mark.parametrize("model", ["mlp", "host_fallback"])
def test_pte_holds_the_blobs(model, tmp_path):
    _, _, edge = lowered(model)
    path = tmp_path / f"{model}.pte"
    path.write_bytes(pte_bytes(model))
    read = read_pte(path)
    assert [d.payload for d in read.delegates] == [m.processed_bytes for m in delegates(edge)]
    assert all(d.backend_id == "AtallaBackend" for d in read.delegates)
    for d in read.delegates:
        assert load(d.payload).config.name == "small"
    assert read.undelegated_ops() == ([] if model == "mlp" else ["aten::sin.out"])


def test_ops_lowered_whole_are_not_decomposed():
    _, _, edge = lowered("vit_micro")
    (delegate,) = delegates(edge)
    targets = {str(n.target) for n in aten_program(delegate.original_module).graph.nodes if n.op == "call_function"}
    assert {"aten.linear.default", "aten.layer_norm.default", "aten.gelu.default"} <= targets
    assert not {"aten.addmm.default", "aten.native_layer_norm.default", "aten.tanh.default"} & targets
    _, _, edge = lowered("mha")
    (delegate,) = delegates(edge)
    assert "aten.scaled_dot_product_attention.default" in {
        str(n.target) for n in aten_program(delegate.original_module).graph.nodes}


def test_partitioner_takes_our_partitioners_decision():
    module, inputs, edge = lowered("host_fallback")
    assert outside_delegates(edge) == ["aten.sin.default"]
    first, second = delegates(edge)
    for sub in (first, second):
        placements = partition(aten_program(sub.original_module).graph)
        assert placements and all(p.where != HOST for p in placements)
        assert any(p.where == ATALLA for p in placements)


def test_compile_specs_carry_the_config():
    _, _, edge = lowered("basic_module", "atalla32")
    (delegate,) = delegates(edge)
    assert load(delegate.processed_bytes).config == get_config("atalla32")
    assert any(s.key == "atalla_config" and b'"name": "atalla32"' in s.value for s in delegate.compile_specs)


def test_a_delegate_on_the_rtl(tmp_path):
    module, inputs, edge = lowered("basic_module")  # the smallest model that is one delegate: the RTL's time
    outputs, runs = run_lowered(edge, inputs, lambda: RtlBackend(tmp_path / "rtl", quiet=True))
    (run,) = runs
    assert run.backend == "rtl" and run.bit_exact and run.firmware_calls_equal
    assert compare("output0", outputs[0].numpy(), golden_outputs(module, inputs)[0]).passed


def test_run_pte_refuses_undelegated_ops_and_wrong_inputs(tmp_path):
    path = tmp_path / "host_fallback.pte"
    path.write_bytes(pte_bytes("host_fallback"))
    with pytest.raises(DelegateError, match=r"not delegated to Atalla .*aten::sin\.out"):
        run_pte(read_pte(path), [np.zeros((8, 64), np.float32)])
    path = tmp_path / "basic.pte"
    path.write_bytes(pte_bytes("basic_module"))
    with pytest.raises(DelegateError, match="takes 1 input"):
        run_pte(read_pte(path), [])


def test_cli_inspects_and_runs_a_pte(tmp_path, capsys):
    module, inputs, edge = lowered("basic_module")
    path = tmp_path / "basic.pte"
    path.write_bytes(pte_bytes("basic_module"))
    np.savez(tmp_path / "in.npz", inputs[0].numpy())
    np.savez(tmp_path / "golden.npz", golden_outputs(module, inputs)[0])
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 delegates, 0 ops outside them" in out and "delegate 0: blob: format" in out and "input        x" in out
    assert main(["run", str(path), "--inputs", str(tmp_path / "in.npz"), "--golden", str(tmp_path / "golden.npz"),
                 "--outputs", str(tmp_path / "out.npz")]) == 0
    assert "1 Atalla delegate call(s): PASS" in capsys.readouterr().out
    with np.load(tmp_path / "out.npz") as saved:
        assert_same_bits(saved["output0"], run_lowered(edge, inputs)[0][0].numpy())

    assert main(["run", str(path), "--inputs", str(tmp_path / "in.npz"), "--config", "atalla32"]) == 2
    assert "compiled for config 'small' but this run uses 'atalla32'" in capsys.readouterr().err

    fallback = tmp_path / "host_fallback.pte"
    fallback.write_bytes(pte_bytes("host_fallback"))
    np.savez(tmp_path / "hf.npz", np.zeros((8, 64), np.float32))
    assert main(["run", str(fallback), "--inputs", str(tmp_path / "hf.npz")]) == 2
    assert "not delegated to Atalla and cannot run here: aten::sin.out" in capsys.readouterr().err
    (tmp_path / "junk.pte").write_bytes(b"not a program")
    assert main(["inspect", str(tmp_path / "junk.pte")]) == 2
    err = capsys.readouterr().err
    assert "junk.pte: not a readable ExecuTorch program" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("model, table_rows", [("gpt2_tokens", 128), ("embedding", 50), ("gpt2_block_small", None)])
def test_token_id_models_and_the_gpt2_block_lower_to_one_delegate(model, table_rows):
    """HF GPT-2 fed int64 token ids, a bare embedding and a GPT-2 block: one delegate and nothing
    outside it (position ids, masks and dropouts included), eager PyTorch's outputs within tolerance,
    and the bits and the program of `atalla compile`; the ids enter the delegate as its row ids."""
    module, inputs, edge = lowered(model)
    assert len(delegates(edge)) == 1 and outside_delegates(edge) == []
    outputs, (run,) = run_lowered(edge, inputs)
    for i, (got, want) in enumerate(zip(outputs, golden_outputs(module, inputs))):
        assert compare(f"output{i}", got.numpy(), want).passed
    reference, program = compiled_outputs(module, inputs)
    for got, want in zip(outputs, reference):
        assert_same_bits(got.numpy(), want)
    assert_same_program(run.program, program)
    (ids,) = run.program.by_role(Role.INPUT)
    assert (ids.dtype, ids.index_bound) == ((DType.INT32, table_rows) if table_rows else (DType.BF16, 0))


def test_compile_time_values_read_across_a_host_op_are_constants_of_each_delegate():
    """The positions and the causal mask are read by both delegates around sin: each has them as
    constants (its attention on Atalla), and only the ids and float activations pass between."""
    module, inputs, edge = lowered("across_host_op")
    assert len(delegates(edge)) == 2 and outside_delegates(edge) == ["aten.sin.default"]
    outputs, runs = run_lowered(edge, inputs)
    assert [[t.dtype for t in r.program.by_role(Role.INPUT)] for r in runs] == [[DType.INT32], [DType.BF16]]
    assert [[t.dtype for t in r.program.by_role(Role.OUTPUT)] for r in runs] == [[DType.BF16], [DType.BF16]]
    assert not any(r.program.host_ops for r in runs)
    assert compare("output0", outputs[0].numpy(), golden_outputs(module, inputs)[0]).passed
    assert_same_bits(outputs[0].numpy(), compiled_outputs(module, inputs)[0][0])


def test_a_token_id_out_of_range_is_named():
    _, inputs, edge = lowered("gpt2_tokens")
    ids = inputs[0].clone()
    ids[1, 3] = 128
    with pytest.raises(RunError, match=r"input 'x': row id 128 at \[1, 3\] is out of range: the table it indexes "
                                       r"has 128 rows \(1 ids out of range\)"):
        run_lowered(edge, (ids,))


def test_cli_inspects_and_runs_a_pte_fed_token_ids(tmp_path, capsys):
    module, inputs, edge = lowered("gpt2_tokens")
    path = tmp_path / "gpt2.pte"
    path.write_bytes(pte_bytes("gpt2_tokens"))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 delegates, 0 ops outside them" in out and "input        x" in out and "int32 row ids < 128" in out
    np.savez(tmp_path / "ids.npz", inputs[0].numpy())  # int64, as the model takes them
    np.savez(tmp_path / "golden.npz", golden_outputs(module, inputs)[0])
    assert main(["run", str(path), "--inputs", str(tmp_path / "ids.npz"), "--golden", str(tmp_path / "golden.npz"),
                 "--outputs", str(tmp_path / "out.npz")]) == 0
    assert "1 Atalla delegate call(s): PASS" in capsys.readouterr().out
    with np.load(tmp_path / "out.npz") as saved:
        assert_same_bits(saved["output0"], run_lowered(edge, inputs)[0][0].numpy())

    bad = inputs[0].numpy().copy()
    bad[0, 0] = -1
    np.savez(tmp_path / "bad.npz", bad)
    assert main(["run", str(path), "--inputs", str(tmp_path / "bad.npz")]) == 2
    err = capsys.readouterr().err
    assert "input 'x': row id -1 at [0, 0] is out of range" in err and len(err.strip().splitlines()) == 1
    np.savez(tmp_path / "floats.npz", inputs[0].numpy().astype(np.float32))
    assert main(["run", str(path), "--inputs", str(tmp_path / "floats.npz")]) == 2
    assert "input 'x' is float32; the program takes integer row ids" in capsys.readouterr().err


def test_a_clone_in_the_contiguous_dim_order_is_a_view_and_another_order_the_hosts():
    """The edge dialect's _clone_dim_order: a dropout's clone lies inside GPT-2's one delegate (the
    test above); one into channels-last is left to ExecuTorch, between two delegates."""
    module, inputs, edge = lowered("channels_last")
    assert len(delegates(edge)) == 2 and outside_delegates(edge) == ["dim_order_ops._clone_dim_order.default"]
    outputs, _ = run_lowered(edge, inputs)
    assert compare("output0", outputs[0].contiguous().numpy(), golden_outputs(module, inputs)[0]).passed
