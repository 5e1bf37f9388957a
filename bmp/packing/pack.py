"""Pack: cut dead heads and FFN neurons out of a BERT-family QA model (BERT, RoBERTa, ELECTRA, DistilBERT), returning
a new, smaller model of the same architecture with the same function.

Three tiers, as in Torch-Pruning:

- layer: :func:`live_heads` and :func:`live_neurons` say which heads and neurons of one layer still contribute;
- model: :func:`structure` says what :func:`pack` would keep, and :func:`pack` builds the smaller model.

*What is dead* is decided from exact zeros in the weights only, so a pruned model must have its masks baked in
first (:func:`pack` and :func:`structure` do that themselves for models with masked layers).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from bmp.packing.packed_bert import PACKED_MODELS, PackedForQuestionAnswering, PerLayerSizes
from bmp.pruning.anatomy import LayerParts, anatomy_of, encoder_layers
from bmp.pruning.liveness import alive_heads, alive_neurons
from bmp.pruning.masked import baked_copy, has_masks

ALIGN_FFN = 8  # the FFN sizes runs pack to: multiples of 8 keep tensor cores and CPU vector units busy; exact

# Config keys that describe the saved file, not the architecture: never carried over to a packed config.
_NOT_ARCHITECTURE = ("model_type", "transformers_version", "architectures", "auto_map",
                     "heads_per_layer", "intermediate_per_layer")


# ---------------------------------------------------------------- layer tier

def live_heads(parts: LayerParts) -> torch.Tensor:
    """Bool ``(num_heads,)``: which heads of one layer can change its output (:mod:`bmp.pruning.liveness`)."""
    return alive_heads(parts.value.weight, parts.value.bias, parts.attn_out.weight, parts.head_dim)


def live_neurons(parts: LayerParts, activation: str | nn.Module = "gelu") -> torch.Tensor:
    """Bool ``(ffn_size,)``: which FFN neurons of one layer can change its output (:mod:`bmp.pruning.liveness`)."""
    return alive_neurons(parts.ffn_in.weight, parts.ffn_in.bias, parts.ffn_out.weight, activation)


# ---------------------------------------------------------------- model tier

@dataclass(frozen=True)
class PackedStructure:
    """What :func:`pack` keeps: per-layer sizes after alignment, and which original heads and neurons survive
    (padding heads and neurons come after them)."""

    heads_per_layer: tuple[int, ...]
    intermediate_per_layer: tuple[int, ...]
    kept_heads: tuple[tuple[int, ...], ...] = field(repr=False)
    kept_neurons: tuple[tuple[int, ...], ...] = field(repr=False)

    @property
    def live_heads_per_layer(self) -> tuple[int, ...]:
        return tuple(len(kept) for kept in self.kept_heads)

    @property
    def live_neurons_per_layer(self) -> tuple[int, ...]:
        return tuple(len(kept) for kept in self.kept_neurons)

    def to_dict(self) -> dict:
        return {"heads_per_layer": list(self.heads_per_layer),
                "intermediate_per_layer": list(self.intermediate_per_layer),
                "live_heads_per_layer": list(self.live_heads_per_layer),
                "live_neurons_per_layer": list(self.live_neurons_per_layer)}


def structure(model: nn.Module, *, align_heads: int = 1, align_ffn: int = 1) -> PackedStructure:
    """Which heads and neurons of ``model`` are live, and the per-layer sizes :func:`pack` would give."""
    _check_alignment(align_heads, align_ffn)
    return _structure_of_plain(_plain_model(model), align_heads, align_ffn)


def pack(model: nn.Module, *, align_heads: int = 1, align_ffn: int = 1) -> PackedForQuestionAnswering:
    """A new packed model (``PackedBertForQuestionAnswering`` for BERT, ``PackedRobertaForQuestionAnswering`` for
    RoBERTa, ...) computing the same function as ``model``, without its dead heads and FFN neurons (see
    :func:`live_heads` and :func:`live_neurons` for the exact rule).

    ``model`` is a ``BertForQuestionAnswering``, ``RobertaForQuestionAnswering``, ``ElectraForQuestionAnswering`` or
    ``DistilBertForQuestionAnswering`` (possibly already packed, possibly with masked layers, whose masks are baked
    in first); it is never modified. Kept head counts are rounded *up* to a multiple of ``align_heads``
    and FFN sizes to a multiple of ``align_ffn`` by adding zero heads and zero neurons (zero in, zero out: exact),
    so that matmul shapes suit the hardware; a layer with nothing live stays empty. Output biases, embeddings,
    LayerNorms and ``qa_outputs`` are copied unchanged. The result is in eval mode, on ``model``'s device and dtype.
    """
    _check_alignment(align_heads, align_ffn)
    source = _plain_model(model)
    kept = _structure_of_plain(source, align_heads, align_ffn)
    parameter = next(source.parameters())
    packed_class = PACKED_MODELS[anatomy_of(source).family]  # same architecture, so the same stock embeddings
    packed = packed_class(_packed_config(source.config, packed_class.config_class, kept))
    packed.to(device=parameter.device, dtype=parameter.dtype).eval()

    # Everything but the six encoder linears is copied by name; those are filled layer by layer below.
    names = {module: name for name, module in source.named_modules()}
    source_parts = encoder_layers(source)
    linear_keys = {f"{names[linear]}.{kind}" for part in source_parts for linear in part.linears().values()
                   for kind in ("weight", "bias")}
    state = {key: value for key, value in source.state_dict().items() if key not in linear_keys}
    result = packed.load_state_dict(state, strict=False)
    if result.unexpected_keys or set(result.missing_keys) - linear_keys:
        raise ValueError(
            f"can't pack {type(model).__name__}: parameters outside the encoder's linear layers don't match a "
            f"{packed_class.__name__} (unexpected {sorted(result.unexpected_keys)[:5]}, missing "
            f"{sorted(set(result.missing_keys) - linear_keys)[:5]}). Pack a question-answering model "
            f"({', '.join(sorted(PACKED_MODELS))}), e.g. one loaded with AutoModelForQuestionAnswering.")

    with torch.no_grad():
        for src, dst, heads, neurons in zip(source_parts, encoder_layers(packed), kept.kept_heads, kept.kept_neurons):
            _copy_attention(src, dst, heads)
            _copy_ffn(src, dst, neurons)
    return packed


def _structure_of_plain(model: nn.Module, align_heads: int, align_ffn: int) -> PackedStructure:
    activation = anatomy_of(model).activation(model.config)
    heads, neurons = [], []
    for parts in encoder_layers(model):
        heads.append(tuple(live_heads(parts).nonzero().flatten().tolist()))
        neurons.append(tuple(live_neurons(parts, activation).nonzero().flatten().tolist()))
    return PackedStructure(
        heads_per_layer=tuple(_round_up(len(kept), align_heads) for kept in heads),
        intermediate_per_layer=tuple(_round_up(len(kept), align_ffn) for kept in neurons),
        kept_heads=tuple(heads), kept_neurons=tuple(neurons))


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple  # 0 stays 0


def _check_alignment(align_heads: int, align_ffn: int) -> None:
    for name, value in (("align_heads", align_heads), ("align_ffn", align_ffn)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer (1 means no padding), got {value!r}")


def _copy_attention(src: LayerParts, dst: LayerParts, heads: tuple[int, ...]) -> None:
    d = src.head_dim
    rows = (torch.tensor(heads, dtype=torch.long)[:, None] * d + torch.arange(d)).flatten()  # (kept*d,)
    rows = rows.to(src.value.weight.device)
    width = len(rows)
    for name in ("query", "key", "value"):
        old, new = getattr(src, name), getattr(dst, name)
        new.weight.zero_()[:width] = old.weight[rows]  # zero rows beyond `width` are the padding heads
        new.bias.zero_()[:width] = old.bias[rows] if old.bias is not None else 0
    dst.attn_out.weight.zero_()[:, :width] = src.attn_out.weight[:, rows]
    _copy_bias(src.attn_out, dst.attn_out)


def _copy_ffn(src: LayerParts, dst: LayerParts, neurons: tuple[int, ...]) -> None:
    keep = torch.tensor(neurons, dtype=torch.long, device=src.ffn_in.weight.device)
    width = len(keep)
    dst.ffn_in.weight.zero_()[:width] = src.ffn_in.weight[keep]  # zero rows beyond `width` are padding neurons
    dst.ffn_in.bias.zero_()[:width] = src.ffn_in.bias[keep] if src.ffn_in.bias is not None else 0
    dst.ffn_out.weight.zero_()[:, :width] = src.ffn_out.weight[:, keep]
    _copy_bias(src.ffn_out, dst.ffn_out)


def _copy_bias(old: nn.Module, new: nn.Linear) -> None:
    new.bias.copy_(old.bias if old.bias is not None else torch.zeros_like(new.bias))


def _packed_config(config, config_class: type[PerLayerSizes], kept: PackedStructure) -> PerLayerSizes:
    values = {key: value for key, value in config.to_dict().items() if key not in _NOT_ARCHITECTURE}
    packed = config_class(**values, heads_per_layer=list(kept.heads_per_layer),
                          intermediate_per_layer=list(kept.intermediate_per_layer))
    packed._attn_implementation = config._attn_implementation  # same attention kernel as the source
    return packed


# ---------------------------------------------------------------- masked models

def _plain_model(model: nn.Module) -> nn.Module:
    """``model`` itself when its linears are plain (it is only read), else a baked copy with masks multiplied in."""
    return baked_copy(model) if has_masks(model) else model


__all__ = ["PackedStructure", "live_heads", "live_neurons", "pack", "structure"]
