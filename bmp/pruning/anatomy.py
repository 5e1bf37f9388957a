"""Where a BERT-family model keeps its linear layers, found by walking attributes (never by matching names).

``encoder_layers(model)`` returns one :class:`LayerParts` per transformer layer: the six linear layers that pruning
scores (Q, K, V, attention output, FFN in, FFN out) plus the modules that own them, so other modules can swap them.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

EXPECTED = (
    "model.bert.encoder.layer[i] (or model.encoder.layer[i] for a bare BertModel), each with "
    ".attention.self.{query,key,value}, .attention.output.dense, .intermediate.dense and .output.dense as nn.Linear"
)


class UnsupportedModelError(TypeError):
    pass


@dataclass(frozen=True)
class LayerParts:
    index: int
    layer: nn.Module
    self_attention: nn.Module  # owns query/key/value
    attention_output: nn.Module  # owns dense (+ LayerNorm)
    intermediate: nn.Module  # owns dense (FFN in)
    output: nn.Module  # owns dense (FFN out)
    head_dim: int

    # the six linear layers, read through the modules that own them (so other code can swap them in place)
    query = property(lambda self: self.self_attention.query)
    key = property(lambda self: self.self_attention.key)
    value = property(lambda self: self.self_attention.value)
    attn_out = property(lambda self: self.attention_output.dense)
    ffn_in = property(lambda self: self.intermediate.dense)
    ffn_out = property(lambda self: self.output.dense)

    @property
    def num_heads(self) -> int:
        return self.query.out_features // self.head_dim

    @property
    def ffn_size(self) -> int:
        return self.ffn_in.out_features

    def linears(self) -> dict[str, nn.Module]:
        return {"query": self.query, "key": self.key, "value": self.value,
                "attn_out": self.attn_out, "ffn_in": self.ffn_in, "ffn_out": self.ffn_out}


LINEAR_NAMES = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")
ATTENTION_LINEARS = ("query", "key", "value", "attn_out")
FFN_LINEARS = ("ffn_in", "ffn_out")


def base_model(model: nn.Module) -> nn.Module:
    """The encoder-owning body: ``model.bert`` for task heads, the model itself for a bare ``BertModel``."""
    body = getattr(model, "bert", model)
    if not hasattr(body, "encoder") or not hasattr(body.encoder, "layer"):
        raise UnsupportedModelError(
            f"{type(model).__name__} is not a supported BERT-family model: expected {EXPECTED}. "
            "Load a BERT checkpoint (e.g. with bmp.load_base) or convert your model first."
        )
    return body


def head_dim_of(model: nn.Module) -> int:
    config = model.config
    head_dim = getattr(config, "head_dim", None)
    return head_dim or config.hidden_size // config.num_attention_heads


def encoder_layers(model: nn.Module) -> list[LayerParts]:
    body = base_model(model)
    head_dim = head_dim_of(model)
    parts = []
    for index, layer in enumerate(body.encoder.layer):
        try:
            part = LayerParts(index, layer, layer.attention.self, layer.attention.output,
                              layer.intermediate, layer.output, head_dim)
            linears = part.linears()
        except AttributeError as err:
            raise UnsupportedModelError(
                f"layer {index} of {type(model).__name__} lacks {err.name!r}: expected {EXPECTED}") from err
        for name, module in linears.items():
            if not hasattr(module, "weight") or module.weight.dim() != 2:
                raise UnsupportedModelError(f"layer {index}.{name} is {type(module).__name__}, not a linear layer: "
                                            f"expected {EXPECTED}")
        parts.append(part)
    return parts
