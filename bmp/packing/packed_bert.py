"""BERT-family models (BERT, RoBERTa, ELECTRA, DistilBERT) for question answering with their own number of heads and
FFN neurons in every layer.

Self-contained on purpose (imports only torch and transformers): ``bmp.packing.saving.save_packed`` copies this file
next to the weights as ``modeling_packed_bert.py``, so ``AutoModelForQuestionAnswering.from_pretrained(folder,
trust_remote_code=True)`` loads a packed model without bmp installed. For the same reason it keeps its own small
table of where each architecture's linears are (:data:`LAYOUTS`); a test checks that it agrees with
:mod:`bmp.pruning.anatomy`, the table the rest of bmp reads.

Each config is the stock one (it keeps the dense ``num_attention_heads`` and FFN width, which fix the head size and
say what the model was pruned from) plus ``heads_per_layer`` and ``intermediate_per_layer``. Each model is the stock
``*ForQuestionAnswering`` with each layer's six linear layers resized, so the stock embeddings (RoBERTa's position
ids offset by the padding index, ELECTRA's embedding projection) work unchanged; the stock attention infers its head
count from the Q/K/V widths. A layer with no heads left gets a ``NoHeads*SelfAttention``, because the stock reshape
can't infer a head count from zero features. A layer with no FFN neurons needs nothing special: ``Linear(hidden, 0)``
then ``Linear(0, hidden)`` gives the output bias.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    DistilBertConfig,
    DistilBertForQuestionAnswering,
    ElectraConfig,
    ElectraForQuestionAnswering,
    RobertaConfig,
    RobertaForQuestionAnswering,
)
from transformers.models.bert.modeling_bert import BertSelfAttention
from transformers.models.distilbert.modeling_distilbert import DistilBertSelfAttention
from transformers.models.electra.modeling_electra import ElectraSelfAttention
from transformers.models.roberta.modeling_roberta import RobertaSelfAttention

# ---------------------------------------------------------------- configs

class PerLayerSizes:
    """Mixin for a stock config: per-layer head and FFN sizes, both defaulting to the dense sizes.

    Each concrete config declares the two fields itself (transformers makes every config class a dataclass, and a
    plain mixin's annotations are not fields)."""

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


class PackedBertConfig(PerLayerSizes, BertConfig):
    model_type = "packed_bert"
    heads_per_layer: list[int] | None = None
    intermediate_per_layer: list[int] | None = None


class PackedRobertaConfig(PerLayerSizes, RobertaConfig):
    model_type = "packed_roberta"
    heads_per_layer: list[int] | None = None
    intermediate_per_layer: list[int] | None = None


class PackedElectraConfig(PerLayerSizes, ElectraConfig):
    model_type = "packed_electra"
    heads_per_layer: list[int] | None = None
    intermediate_per_layer: list[int] | None = None


class PackedDistilBertConfig(PerLayerSizes, DistilBertConfig):
    model_type = "packed_distilbert"
    # DistilBERT names the FFN width and activation its own way; the BERT names read (and write) the same fields
    attribute_map = {**DistilBertConfig.attribute_map, "intermediate_size": "hidden_dim", "hidden_act": "activation"}
    heads_per_layer: list[int] | None = None
    intermediate_per_layer: list[int] | None = None


# ---------------------------------------------------------------- attention without heads

def _linear_like(old: nn.Linear, in_features: int, out_features: int) -> nn.Linear:
    """A fresh ``nn.Linear`` of the given size, on ``old``'s device and dtype (sizes may be 0)."""
    with warnings.catch_warnings():  # torch warns that initialising a zero-element tensor is a no-op
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return nn.Linear(in_features, out_features, bias=old.bias is not None,
                         device=old.weight.device, dtype=old.weight.dtype)


class _NoHeads:
    """Mixin for a stock self-attention whose heads were all pruned: an empty context.

    The attention output is then ``Linear(0, hidden)``, so the attention block outputs ``LayerNorm(residual +
    output bias)``, exactly what the unpacked model computes with every head zeroed. Q/K/V stay as zero-width
    ``Linear`` layers so that every packed checkpoint has the same keys.
    """

    qkv_names = ("query", "key", "value")
    out_name: str | None = None  # DistilBERT's attention module also owns its output projection

    def __init__(self, config, **stock_kwargs):
        super().__init__(config, **stock_kwargs)
        for attribute in ("num_attention_heads", "n_heads", "all_head_size"):
            if hasattr(self, attribute):
                setattr(self, attribute, 0)
        for name in self.qkv_names:
            setattr(self, name, _linear_like(getattr(self, name), config.hidden_size, 0))

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args, **kwargs):
        batch, seq = hidden_states.shape[:2]
        context = hidden_states.new_zeros(batch, seq, 0)  # (B, T, 0): no heads, no features
        if self.out_name is not None:
            context = getattr(self, self.out_name)(context)  # (B, T, hidden): the output bias
        weights = hidden_states.new_zeros(batch, 0, seq, seq)  # (B, 0, T, T): no heads, no attention maps
        return context, weights


class NoHeadsSelfAttention(_NoHeads, BertSelfAttention):
    """BERT's self-attention with no heads left."""


class NoHeadsRobertaSelfAttention(_NoHeads, RobertaSelfAttention):
    """RoBERTa's self-attention with no heads left."""


class NoHeadsElectraSelfAttention(_NoHeads, ElectraSelfAttention):
    """ELECTRA's self-attention with no heads left."""


class NoHeadsDistilBertSelfAttention(_NoHeads, DistilBertSelfAttention):
    """DistilBERT's self-attention (which owns its output projection) with no heads left."""

    qkv_names = ("q_lin", "k_lin", "v_lin")
    out_name = "out_lin"


# ---------------------------------------------------------------- models

@dataclass(frozen=True)
class Layout:
    """Where one architecture keeps its layers (from the task model) and six linears (from a layer), as dotted
    attribute paths; Q, K and V share the module that owns them. ``attention_kwargs``: what the stock
    self-attention's constructor takes besides the config, copied from the module being replaced."""

    layers: str
    query: str
    key: str
    value: str
    attn_out: str
    ffn_in: str
    ffn_out: str
    no_heads: type
    attention_kwargs: tuple[str, ...] = ("is_causal", "layer_idx")

    @property
    def attention(self) -> str:
        return self.query.rpartition(".")[0]


def _walk(root, path: str):
    for name in path.split("."):
        root = getattr(root, name)
    return root


def _set(root, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(_walk(root, parent) if parent else root, name, module)


def _bert_like(body: str, no_heads: type) -> Layout:
    return Layout(f"{body}.encoder.layer", "attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense", "intermediate.dense", "output.dense", no_heads)


LAYOUTS = {
    "bert": _bert_like("bert", NoHeadsSelfAttention),
    "roberta": _bert_like("roberta", NoHeadsRobertaSelfAttention),
    "electra": _bert_like("electra", NoHeadsElectraSelfAttention),
    "distilbert": Layout("distilbert.transformer.layer", "attention.q_lin", "attention.k_lin", "attention.v_lin",
                         "attention.out_lin", "ffn.lin1", "ffn.lin2", NoHeadsDistilBertSelfAttention, ()),
}


class PackedForQuestionAnswering:
    """Mixin for a stock ``*ForQuestionAnswering``: layer ``i`` keeps ``heads_per_layer[i]`` heads and
    ``intermediate_per_layer[i]`` FFN neurons (freshly initialised; ``from_pretrained`` loads the weights)."""

    family: str  # the key of LAYOUTS, the stock model_type

    def __init__(self, config):
        super().__init__(config)
        config.check_per_layer_sizes()
        layout = LAYOUTS[self.family]
        for index, layer in enumerate(_walk(self, layout.layers)):
            self._resize_layer(layout, layer, config.heads_per_layer[index], config.intermediate_per_layer[index])
        # Initialise only the modules made above (the rest carry transformers' "already initialised" flag);
        # a no-op under from_pretrained's meta-device construction.
        self.init_weights()

    def _resize_layer(self, layout: Layout, layer: nn.Module, heads: int, neurons: int) -> None:
        config = self.config
        hidden, width = config.hidden_size, heads * config.attention_head_size
        if heads == config.num_attention_heads and neurons == config.intermediate_size:
            return  # a dense layer: keep the stock modules
        attention = _walk(layer, layout.attention)
        if heads == 0:
            kwargs = {name: getattr(attention, name) for name in layout.attention_kwargs}
            _set(layer, layout.attention, layout.no_heads(config, **kwargs))
        else:  # transformers reads the head count from Q's width; keep the attributes true anyway
            for attribute, value in (("num_attention_heads", heads), ("n_heads", heads), ("all_head_size", width)):
                if hasattr(attention, attribute):
                    setattr(attention, attribute, value)
            for path in (layout.query, layout.key, layout.value):
                _set(layer, path, _linear_like(_walk(layer, path), hidden, width))
        for path, size in ((layout.attn_out, (width, hidden)), (layout.ffn_in, (hidden, neurons)),
                           (layout.ffn_out, (neurons, hidden))):
            _set(layer, path, _linear_like(_walk(layer, path), *size))


class PackedBertForQuestionAnswering(PackedForQuestionAnswering, BertForQuestionAnswering):
    config_class = PackedBertConfig
    family = "bert"


class PackedRobertaForQuestionAnswering(PackedForQuestionAnswering, RobertaForQuestionAnswering):
    config_class = PackedRobertaConfig
    family = "roberta"


class PackedElectraForQuestionAnswering(PackedForQuestionAnswering, ElectraForQuestionAnswering):
    config_class = PackedElectraConfig
    family = "electra"


class PackedDistilBertForQuestionAnswering(PackedForQuestionAnswering, DistilBertForQuestionAnswering):
    config_class = PackedDistilBertConfig
    family = "distilbert"


# the stock model_type a model is packed from -> its packed class; and a packed model_type -> its packed class
PACKED_MODELS = {cls.family: cls for cls in (PackedBertForQuestionAnswering, PackedRobertaForQuestionAnswering,
                                             PackedElectraForQuestionAnswering, PackedDistilBertForQuestionAnswering)}
PACKED_BY_TYPE = {cls.config_class.model_type: cls for cls in PACKED_MODELS.values()}

__all__ = ["LAYOUTS", "NoHeadsDistilBertSelfAttention", "NoHeadsElectraSelfAttention", "NoHeadsRobertaSelfAttention",
           "NoHeadsSelfAttention", "PACKED_BY_TYPE", "PACKED_MODELS", "PackedBertConfig",
           "PackedBertForQuestionAnswering", "PackedDistilBertConfig", "PackedDistilBertForQuestionAnswering",
           "PackedElectraConfig", "PackedElectraForQuestionAnswering", "PackedForQuestionAnswering",
           "PackedRobertaConfig", "PackedRobertaForQuestionAnswering", "PerLayerSizes"]
