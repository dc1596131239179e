"""Hugging Face base models built from configs with random weights (nothing is downloaded), fed
token ids (their embedding on Atalla) or `inputs_embeds` (float), returning the last hidden state.
Needs the `models` extra (transformers); the zoo imports it only to build its GPT-2."""

from __future__ import annotations

import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, LlamaConfig, LlamaModel
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()  # its warnings about the small configs' token ids are not the user's concern


class FromEmbeddings(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, embeds):
        return self.model(inputs_embeds=embeds, use_cache=False).last_hidden_state


class FromTokenIds(torch.nn.Module):
    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).last_hidden_state


def _small_gpt2() -> GPT2Model:
    return GPT2Model(GPT2Config(n_embd=64, n_head=2, n_layer=2, n_positions=16, vocab_size=128, bos_token_id=0,
                                eos_token_id=0)).eval()


def gpt2() -> FromEmbeddings:
    """Two layers, two heads, width 64: inputs (batch, seq <= 16, 64)."""
    return FromEmbeddings(_small_gpt2())


def gpt2_tokens() -> FromTokenIds:
    """The same model fed token ids: inputs (batch, seq <= 16) in [0, 128)."""
    return FromTokenIds(_small_gpt2())


def gpt2_small() -> FromTokenIds:
    """GPT-2 small as `GPT2Config()` defines it (12 layers, 12 heads, width 768, 124M parameters),
    random weights, fed token ids: inputs (batch, seq <= 1024) in [0, 50257)."""
    return FromTokenIds(GPT2Model(GPT2Config()).eval())


def bert() -> FromEmbeddings:
    """One layer, two heads, width 32: inputs (batch, seq <= 16, 32)."""
    return FromEmbeddings(BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                               intermediate_size=64, vocab_size=64, max_position_embeddings=16),
                                    add_pooling_layer=False)).eval()


def llama() -> FromEmbeddings:
    """One layer, four query heads on two key/value heads, width 32: inputs (batch, seq <= 16, 32)."""
    return FromEmbeddings(LlamaModel(LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                                 num_key_value_heads=2, intermediate_size=64, vocab_size=64,
                                                 max_position_embeddings=16))).eval()
