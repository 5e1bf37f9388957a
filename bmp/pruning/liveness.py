"""Which heads and FFN neurons still change a layer's output: the one rule that packing and the kept report share.

Plain functions of tensors (the weights in use: a model's own, or masked ones), so the rule is written once.
- A head contributes nothing iff its V rows (weight *and* bias) are all zero -- its context is then exactly zero --
  or its attention-output columns are all zero -- its context is then discarded. Zero Q or K rows do *not* make a
  head dead: the scores become constant, the softmax uniform, and the head still adds the mean of V.
- An FFN neuron is dead iff its FFN-out column is all zero, or its FFN-in row and bias are all zero *and* the
  activation maps 0 to 0 (true of gelu, relu, silu, tanh; a sigmoid neuron with zero input still outputs 0.5).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def alive_heads(value_weight: Tensor, value_bias: Tensor | None, out_weight: Tensor, head_dim: int) -> Tensor:
    """Bool ``(num_heads,)`` from V's ``(heads*d, hidden)`` weight and bias and the output's ``(hidden, heads*d)``."""
    n = value_weight.shape[0] // head_dim
    v_live = value_weight.detach().reshape(n, head_dim * value_weight.shape[1]).ne(0).any(1)  # (n,)
    if value_bias is not None:
        v_live = v_live | value_bias.detach().reshape(n, head_dim).ne(0).any(1)
    o_live = out_weight.detach().reshape(out_weight.shape[0], n, head_dim).ne(0).any(2).any(0)  # (n,)
    return v_live & o_live


def alive_neurons(in_weight: Tensor, in_bias: Tensor | None, out_weight: Tensor,
                  activation: str | nn.Module = "gelu") -> Tensor:
    """Bool ``(ffn_size,)`` from FFN-in's ``(ffn, hidden)`` weight and bias and FFN-out's ``(hidden, ffn)``."""
    live = out_weight.detach().ne(0).any(0)  # (f,)
    if zero_maps_to_zero(activation):
        in_live = in_weight.detach().ne(0).any(1)
        if in_bias is not None:
            in_live = in_live | in_bias.detach().ne(0)
        live = live & in_live
    return live


def zero_maps_to_zero(activation: str | nn.Module) -> bool:
    from transformers.activations import ACT2FN

    fn = ACT2FN[activation] if isinstance(activation, str) else activation
    return bool(fn(torch.zeros(1)).eq(0).all())
