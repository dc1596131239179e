"""Capture, partition, lowering and memory planning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atalla.blob_format import Role
from atalla.config import get_config
from atalla.isa import Opcode
from compiler.driver import compile_model
from compiler.errors import CompileError
from compiler.partition import HOST
from compiler.plan import lifetime, plan
from compiler.values import Buffer
from golden.reference import compare, golden_outputs
from golden.zoo import REGRESSION_MODELS, ZOO
from tests.helpers import Fn, emulate, randn

SMALL = get_config("small")


def test_same_model_same_bytes():
    blobs = []
    for _ in range(2):
        module, inputs = ZOO["attention"]()
        blobs.append(compile_model(module, inputs, SMALL, "attention").blob())
    assert blobs[0] == blobs[1]


def test_partition_names_host_ops_and_why():
    module, inputs = ZOO["host_fallback"]()
    compiled = compile_model(module, inputs, SMALL, "host_fallback")
    host = [p for p in compiled.placements if p.where == HOST]
    assert [(p.target, p.reason) for p in host] == [("aten.sin.default", "no Atalla kernel for aten.sin.default")]
    report = compiled.partition_report()
    assert "2 compute ops on Atalla in 2 segment(s)" in report and "aten.sin.default" in report
    assert sum(c.op == Opcode.HOST for c in compiled.program.commands) == 1


@pytest.mark.parametrize("model", ["basic_module", "vit_micro", "alexnet_small"])
def test_zoo_models_run_wholly_on_atalla_within_tolerance(model):
    module, inputs = ZOO[model]()
    outs, compiled, _ = emulate(module, inputs)
    assert not compiled.program.host_ops
    comparisons = [compare("out", o, g) for o, g in zip(outs, golden_outputs(module, inputs))]
    assert all(c.passed and c.cosine >= 0.999 for c in comparisons)


@pytest.mark.parametrize("model", REGRESSION_MODELS)
def test_decomposed_graph_gives_the_same_bits(model):
    module, inputs = ZOO[model]()
    outs = [emulate(module, inputs, decompose=d)[0] for d in (False, True)]
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


def test_unsupported_variants_fall_back_to_host():
    x = randn(4, 8)
    fn = Fn(lambda t: torch.add(t, t, alpha=2.0) + torch.rsub(t, 1.0))
    (out,), compiled, _ = emulate(fn, (x,))
    reasons = {p.target: p.reason for p in compiled.placements if p.where == HOST}
    assert reasons["aten.add.Tensor"] == "alpha=2.0"
    assert "aten.rsub.Scalar" in reasons
    np.testing.assert_allclose(out, (x + 2 * x + (1 - x)).numpy(), rtol=0.02, atol=0.05)


def test_an_op_with_no_kernel_off_the_host_allow_list_is_a_compile_error():
    with pytest.raises(CompileError, match=r"^model 'lg', node lgamma \(aten.lgamma.default\): no Atalla kernel for "
                                           r"aten.lgamma.default, and the host may not run it: not an op the host "
                                           r"may run \(the allow-list is atalla/host_ops.py\)$"):
        compile_model(Fn(lambda t: torch.lgamma(t) + 1), (randn(4, 8),), SMALL, "lg")


def test_export_failure_names_the_model():
    class DataDependent(torch.nn.Module):
        def forward(self, x):
            return x[x > 0]  # output shape depends on the data

    with pytest.raises(CompileError, match=r"model 'dd': .*(torch.export failed|dynamic shape)"):
        compile_model(DataDependent(), (randn(4),), SMALL, "dd")


def test_non_float_input_is_refused():
    with pytest.raises(CompileError, match=r"model 'halves': example input 0 is torch.float16; inputs must be "
                                           r"float32, or int64/int32 row ids"):
        compile_model(Fn(lambda t: t + 1), (torch.ones(4, dtype=torch.float16),), SMALL, "halves")


def test_integer_input_that_is_not_row_ids_is_refused():
    with pytest.raises(CompileError, match=r"node add \(aten.add.Tensor\): the host reads bf16 tensors, and \w+ "
                                           r"holds INT32 row ids"):
        compile_model(Fn(lambda t: t + 1), (torch.arange(4),), SMALL, "ints")
    with pytest.raises(CompileError, match=r"output 0 is the INT32 row ids of"):
        compile_model(Fn(lambda t: t.view(2, 2)), (torch.arange(4),), SMALL, "ints")


def test_graph_output_that_is_an_input_is_copied():
    x = randn(3, 5)
    (a, b), compiled, _ = emulate(Fn(lambda t: (t, torch.relu(t))), (x,))
    outputs = compiled.program.by_role(Role.OUTPUT)
    assert [t.name for t in outputs] == ["output0", "output1"]
    np.testing.assert_allclose(a, x.numpy(), rtol=2**-8)


def test_oversized_model_is_a_clear_error():
    tiny_dram = get_config("small").__class__(**{**SMALL.as_dict(), "name": "tiny", "dram_bytes": 4096})
    with pytest.raises(CompileError, match=r"needs \d+ bytes of DRAM; config 'tiny' has 4096"):
        compile_model(torch.nn.Linear(64, 64), (randn(4, 64),), tiny_dram, "big")


def test_planner_reuses_memory_of_dead_intermediates():
    chain = Fn(lambda t: torch.relu(torch.relu(torch.relu(torch.relu(t) * 2) * 2) * 2))
    _, compiled, _ = emulate(chain, (randn(64, 64),))
    mp = compiled.program.metadata["memory_plan"]
    assert mp["peak_bytes"] < mp["tensor_bytes"]
    assert mp["peak_bytes"] <= 1.05 * mp["lower_bound_bytes"]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30))
def test_plan_never_overlaps_live_buffers(specs):
    buffers = [Buffer(f"t{i}", (n,), Role.INTERMEDIATE, defined_at=min(a, b), last_use=max(a, b))
               for i, (n, a, b) in enumerate(specs)]
    report = plan(buffers, 21, 64)
    for i, x in enumerate(buffers):
        assert x.dram_offset % 64 == 0
        for y in buffers[i + 1 :]:
            (x0, x1), (y0, y1) = lifetime(x, 21), lifetime(y, 21)
            if x0 <= y1 and y0 <= x1:
                assert x.dram_offset + x.nbytes <= y.dram_offset or y.dram_offset + y.nbytes <= x.dram_offset
    assert report.lower_bound_bytes <= report.peak_bytes <= report.tensor_bytes


@pytest.mark.parametrize("model", REGRESSION_MODELS)
def test_zoo_memory_plans_near_lower_bound(model):
    module, inputs = ZOO[model]()
    mp = compile_model(module, inputs, SMALL, model).program.metadata["memory_plan"]
    assert mp["peak_bytes"] <= 1.05 * mp["lower_bound_bytes"]
