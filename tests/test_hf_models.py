"""Hugging Face models, built from small configs with random weights (nothing is downloaded),
captured with torch.export and run on the emulator against PyTorch: whole on Atalla, no host op."""

from __future__ import annotations

import pytest
import torch

from atalla.blob_format import Role
from compiler.partition import ATALLA, FOLDED, HOST
from golden.hf import bert, gpt2, gpt2_tokens, llama
from golden.reference import compare
from tests.helpers import emulate, randn

@pytest.mark.parametrize("decompose", [False, True])
def test_gpt2_model_runs_with_attention_on_atalla(decompose):
    torch.manual_seed(0)
    module, inputs = gpt2(), (randn(2, 7, 64),)
    (out,), compiled, _ = emulate(module, inputs, decompose=decompose)
    assert compare("last_hidden_state", out, module(*inputs).detach().numpy()).passed
    placements = compiled.placements
    assert not [p.target for p in placements if p.where == HOST], compiled.partition_report()
    on_atalla = {p.target for p in placements if p.where not in (HOST, FOLDED)}
    assert "aten.scaled_dot_product_attention.default" in on_atalla
    folded = {p.target for p in placements if p.where == FOLDED}
    assert "aten.embedding.default" in folded and any(t.startswith("aten.arange.") for t in folded)
    for op in compiled.program.host_ops:  # no device or other constructor argument reaches the firmware
        assert "arange" not in op.target and "full" not in op.target and "device" not in str(op.kwargs)


def test_gpt2_fed_token_ids_gathers_its_embedding_on_atalla():
    torch.manual_seed(0)
    module, ids = gpt2_tokens(), torch.randint(0, 128, (2, 7))
    (out,), compiled, _ = emulate(module, (ids,))
    assert compare("last_hidden_state", out, module(ids).detach().numpy()).passed
    assert not compiled.program.host_ops, compiled.partition_report()
    embeddings = [p.where for p in compiled.placements if p.target == "aten.embedding.default"]
    assert sorted(embeddings) == [ATALLA, FOLDED]  # the tokens' gathered, the positions' (constant ids) folded
    (spec,) = compiled.program.by_role(Role.INPUT)
    assert spec.index_bound == 128


# Bert: token type ids (zeros) and positions fold into one constant; Llama: rotary tables from
# arange fold, fp32 casts are views, grouped-query heads (repeat_kv) are views, sdpa on Atalla.
OTHER_MODELS = {"bert": bert, "llama": llama}


@pytest.mark.parametrize("name", sorted(OTHER_MODELS))
def test_other_models_run_with_attention_on_atalla(name):
    torch.manual_seed(0)
    module, inputs = OTHER_MODELS[name](), (randn(2, 5, 32),)
    (out,), compiled, _ = emulate(module, inputs)
    assert compare("last_hidden_state", out, module(*inputs).detach().numpy()).passed
    assert not [p.target for p in compiled.placements if p.where == HOST], compiled.partition_report()
    assert "aten.scaled_dot_product_attention.default" in {p.target for p in compiled.placements if p.where == ATALLA}
