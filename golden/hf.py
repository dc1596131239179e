"""Hugging Face base models built from configs with random weights (nothing is downloaded), fed
token ids (their embedding on Atalla) or `inputs_embeds` (float), returning the last hidden state.
Needs the `models` extra (transformers); the zoo imports it only to build its GPT-2."""

from __future__ import annotations

import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, LlamaConfig, LlamaModel
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()  # its warnings about the small configs' token ids are not the user's concern


class LastHiddenState(torch.nn.Module):
    """The model's last hidden state, fed token ids (`feed="input_ids"`) or embeddings
    (`feed="inputs_embeds"`)."""

    def __init__(self, model: torch.nn.Module, feed: str):
        super().__init__()
        self.model, self.feed = model, feed

    def forward(self, x):
        return self.model(**{self.feed: x}, use_cache=False).last_hidden_state


def _small_gpt2() -> GPT2Model:
    return GPT2Model(GPT2Config(n_embd=64, n_head=2, n_layer=2, n_positions=16, vocab_size=128, bos_token_id=0,
                                eos_token_id=0)).eval()


def gpt2() -> LastHiddenState:
    """Two layers, two heads, width 64: inputs (batch, seq <= 16, 64)."""
    return LastHiddenState(_small_gpt2(), "inputs_embeds")


def gpt2_tokens() -> LastHiddenState:
    """The same model fed token ids: inputs (batch, seq <= 16) in [0, 128)."""
    return LastHiddenState(_small_gpt2(), "input_ids")


def gpt2_small() -> LastHiddenState:
    """GPT-2 small as `GPT2Config()` defines it (12 layers, 12 heads, width 768, 124M parameters),
    random weights, fed token ids: inputs (batch, seq <= 1024) in [0, 50257)."""
    return LastHiddenState(GPT2Model(GPT2Config()).eval(), "input_ids")


def bert() -> LastHiddenState:
    """One layer, two heads, width 32: inputs (batch, seq <= 16, 32)."""
    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                 vocab_size=64, max_position_embeddings=16), add_pooling_layer=False)
    return LastHiddenState(model.eval(), "inputs_embeds")


def llama() -> LastHiddenState:
    """One layer, four query heads on two key/value heads, width 32: inputs (batch, seq <= 16, 32)."""
    model = LlamaModel(LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                   intermediate_size=64, vocab_size=64, max_position_embeddings=16))
    return LastHiddenState(model.eval(), "inputs_embeds")
