"""The ExecuTorch backend as ExecuTorch's own backend tests check one: export, lower through the
partitioner, count the delegates, the ops that must not remain, serialize a .pte, run it (the
delegates on our emulator, and once on the RTL) and compare with eager PyTorch and with our own
compiled blob, bit for bit."""

from __future__ import annotations

import logging
import warnings
from functools import cache

import numpy as np
import pytest
import torch
from executorch.exir import to_edge_transform_and_lower

from atalla.config import get_config
from cli.main import main
from compiler.driver import compile_model
from compiler.executorch import AtallaPartitioner, aten_program
from compiler.partition import ATALLA, HOST, partition
from golden.reference import compare, golden_outputs
from golden.zoo import REGRESSION_MODELS, ZOO
from runtime.emulator.backend import EmulatorBackend
from runtime.executorch import AtallaDelegates, DelegateError, read_pte, run_pte
from runtime.loader import load
from runtime.rtl.backend import RtlBackend
from tests.helpers import assert_same_bits

DELEGATE = "executorch_call_delegate"


def lower(model: str, config: str = "small"):
    module, inputs = ZOO[model]()
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
    """The .pte of a lowering of its own: to_executorch rewrites the edge program it is called on."""
    return lower(model)[2].to_executorch().buffer


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
    if expected_delegates == 1:  # the very program `atalla compile` makes: commands, weights, DRAM plan
        payload = runs[0].program
        assert [c.encode().tobytes() for c in payload.commands] == [c.encode().tobytes() for c in program.commands]
        assert payload.constants == program.constants
        assert [(t.role, t.shape, t.dram_offset) for t in payload.tensors] == \
            [(t.role, t.shape, t.dram_offset) for t in program.tensors]


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


def test_mlp_delegate_on_the_rtl(tmp_path):
    module, inputs, edge = lowered("mlp")
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
