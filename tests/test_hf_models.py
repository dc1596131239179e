"""Hugging Face models, built from small configs with random weights (nothing is downloaded),
captured with torch.export and run on the emulator against PyTorch."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2Model
from transformers.utils import logging as hf_logging

from compiler.partition import FOLDED, HOST
from golden.reference import compare
from tests.helpers import emulate, randn

# The ops Atalla has no kernel for yet (kernels for them are being added separately).
GPT2_HOST_OPS = {False: {"aten.layer_norm.default", "aten.pow.Tensor_Scalar", "aten.tanh.default"},
                 True: {"aten.native_layer_norm.default", "aten.pow.Tensor_Scalar", "aten.tanh.default"}}


class GPT2FromEmbeddings(torch.nn.Module):
    """GPT2Model fed `inputs_embeds` (float), returning the last hidden state."""

    def __init__(self):
        super().__init__()
        hf_logging.set_verbosity_error()
        config = GPT2Config(n_embd=64, n_head=2, n_layer=2, n_positions=16, vocab_size=128,
                            bos_token_id=0, eos_token_id=0)
        self.gpt2 = GPT2Model(config)

    def forward(self, embeds):
        return self.gpt2(inputs_embeds=embeds, use_cache=False).last_hidden_state


@pytest.mark.parametrize("decompose", [False, True])
def test_gpt2_model_runs_with_attention_on_atalla(decompose):
    torch.manual_seed(0)
    module, inputs = GPT2FromEmbeddings().eval(), (randn(2, 7, 64),)
    (out,), compiled, _ = emulate(module, inputs, decompose=decompose)
    assert compare("last_hidden_state", out, module(*inputs).detach().numpy()).passed
    placements = compiled.placements
    assert {p.target for p in placements if p.where == HOST} == GPT2_HOST_OPS[decompose], compiled.partition_report()
    on_atalla = {p.target for p in placements if p.where not in (HOST, FOLDED)}
    assert "aten.scaled_dot_product_attention.default" in on_atalla
    folded = {p.target for p in placements if p.where == FOLDED}
    assert "aten.embedding.default" in folded and any(t.startswith("aten.arange.") for t in folded)
    for op in compiled.program.host_ops:  # no device or other constructor argument reaches the firmware
        assert "arange" not in op.target and "full" not in op.target and "device" not in str(op.kwargs)
