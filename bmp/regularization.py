"""L1 on sigmoid(scores): pushes scores down so that, with a sigmoid threshold, whole blocks fall below it."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .masked import UnitScores, masked_modules


@dataclass(frozen=True)
class Regularization:
    """``attention`` and ``ffn`` are the lambdas for each part (the reference uses 5-40, with a separate FFN one)."""

    attention: float = 10.0
    ffn: float = 10.0

    def __post_init__(self):
        if self.attention < 0 or self.ffn < 0:
            raise ValueError("regularization lambdas must be >= 0")


def _groups(model: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
    attention, ffn = [], []
    for module in masked_modules(model):
        if module.scores is None:
            continue
        is_ffn = module.kind == "neuron" if isinstance(module, UnitScores) else module.part == "ffn"
        (ffn if is_ffn else attention).append(module.scores)
    return attention, ffn


def l1_sigmoid(model: nn.Module, weights: Regularization) -> Tensor:
    """lambda_attn * mean_t mean(sigmoid(S_t)) over attention score tensors, plus the same for the FFN."""
    attention, ffn = _groups(model)
    zero = next(model.parameters()).new_zeros(())
    total = zero
    for lam, tensors in ((weights.attention, attention), (weights.ffn, ffn)):
        if tensors and lam:
            total = total + lam * torch.stack([torch.sigmoid(s).mean() for s in tensors]).mean()
    return total
