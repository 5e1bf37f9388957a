"""BERT for question answering with its own number of heads and FFN neurons in every layer.

Self-contained on purpose (imports only torch and transformers): ``bmp.packing.pack.save_packed`` copies this file
next to the weights as ``modeling_packed_bert.py``, so ``AutoModelForQuestionAnswering.from_pretrained(folder,
trust_remote_code=True)`` loads a packed model without bmp installed.

The config keeps the dense ``num_attention_heads`` and ``intermediate_size`` (they fix the head size and say what
the model was pruned from) and adds ``heads_per_layer`` and ``intermediate_per_layer``. The model is the stock
``BertForQuestionAnswering`` with each layer's six linear layers resized; the stock attention infers its head count
from the Q/K/V widths. A layer with no heads left gets :class:`NoHeadsSelfAttention`, because the stock reshape
can't infer a head count from zero features. A layer with no FFN neurons needs nothing special:
``Linear(hidden, 0)`` then ``Linear(0, hidden)`` gives the output bias.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn
from transformers import BertConfig, BertForQuestionAnswering
from transformers.models.bert.modeling_bert import BertSelfAttention


class PackedBertConfig(BertConfig):
    """``BertConfig`` plus per-layer sizes; both lists default to the dense sizes."""

    model_type = "packed_bert"

    heads_per_layer: list[int] | None = None
    intermediate_per_layer: list[int] | None = None

    def __post_init__(self, **kwargs):
        if self.heads_per_layer is None:
            self.heads_per_layer = [self.num_attention_heads] * self.num_hidden_layers
        if self.intermediate_per_layer is None:
            self.intermediate_per_layer = [self.intermediate_size] * self.num_hidden_layers
        self.heads_per_layer = [int(n) for n in self.heads_per_layer]
        self.intermediate_per_layer = [int(n) for n in self.intermediate_per_layer]
        self.check_per_layer_sizes()
        super().__post_init__(**kwargs)

    def check_per_layer_sizes(self) -> None:
        for name in ("heads_per_layer", "intermediate_per_layer"):
            sizes = getattr(self, name)
            if len(sizes) != self.num_hidden_layers:
                raise ValueError(f"{name} has {len(sizes)} entries but num_hidden_layers is {self.num_hidden_layers}: "
                                 f"give one size per layer")
            if any(n < 0 for n in sizes):
                raise ValueError(f"{name} = {sizes} has a negative size: sizes are counts of kept heads or neurons")

    @property
    def attention_head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads


def _linear_like(old: nn.Linear, in_features: int, out_features: int) -> nn.Linear:
    """A fresh ``nn.Linear`` of the given size, on ``old``'s device and dtype (sizes may be 0)."""
    with warnings.catch_warnings():  # torch warns that initialising a zero-element tensor is a no-op
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return nn.Linear(in_features, out_features, bias=old.bias is not None,
                         device=old.weight.device, dtype=old.weight.dtype)


class NoHeadsSelfAttention(BertSelfAttention):
    """Self-attention of a layer whose heads were all pruned: an empty context.

    ``attention.output.dense`` is then ``Linear(0, hidden)``, so the attention block outputs
    ``LayerNorm(residual + output bias)``, exactly what the unpacked model computes with every head zeroed.
    Q/K/V stay as zero-width ``Linear`` layers so that every packed checkpoint has the same keys.
    """

    def __init__(self, config, is_causal=False, layer_idx=None):
        super().__init__(config, is_causal=is_causal, layer_idx=layer_idx)
        self.num_attention_heads = 0
        self.all_head_size = 0
        for name in ("query", "key", "value"):
            setattr(self, name, _linear_like(getattr(self, name), config.hidden_size, 0))

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args, **kwargs):
        batch, seq = hidden_states.shape[:2]
        context = hidden_states.new_zeros(batch, seq, 0)  # (B, T, 0): no heads, no features
        weights = hidden_states.new_zeros(batch, 0, seq, seq)  # (B, 0, T, T): no heads, no attention maps
        return context, weights


class PackedBertForQuestionAnswering(BertForQuestionAnswering):
    """``BertForQuestionAnswering`` whose layer ``i`` keeps ``heads_per_layer[i]`` heads and
    ``intermediate_per_layer[i]`` FFN neurons (freshly initialised; ``from_pretrained`` loads the weights)."""

    config_class = PackedBertConfig

    def __init__(self, config: PackedBertConfig):
        super().__init__(config)
        config.check_per_layer_sizes()
        for index, layer in enumerate(self.bert.encoder.layer):
            self._resize_layer(layer, index, config.heads_per_layer[index], config.intermediate_per_layer[index])
        # Initialise only the modules made above (the rest carry transformers' "already initialised" flag);
        # a no-op under from_pretrained's meta-device construction.
        self.init_weights()

    def _resize_layer(self, layer: nn.Module, index: int, heads: int, neurons: int) -> None:
        hidden, width = self.config.hidden_size, heads * self.config.attention_head_size
        attention = layer.attention
        if heads == self.config.num_attention_heads and neurons == self.config.intermediate_size:
            return  # a dense layer: keep the stock modules
        if heads == 0:
            attention.self = NoHeadsSelfAttention(self.config, is_causal=attention.self.is_causal, layer_idx=index)
        else:
            attention.self.num_attention_heads = heads
            attention.self.all_head_size = width
            for name in ("query", "key", "value"):
                setattr(attention.self, name, _linear_like(getattr(attention.self, name), hidden, width))
        attention.output.dense = _linear_like(attention.output.dense, width, hidden)
        layer.intermediate.dense = _linear_like(layer.intermediate.dense, hidden, neurons)
        layer.output.dense = _linear_like(layer.output.dense, neurons, hidden)


__all__ = ["NoHeadsSelfAttention", "PackedBertConfig", "PackedBertForQuestionAnswering"]
