"""L1 on sigmoid(scores): pushes scores down so that, with a sigmoid threshold, whole blocks fall below it.

The scale of lambda matches the reference (nn_pruning): each part's term is lambda times the mean over its score
tensors of mean(sigmoid(S)), and the sum is divided by the number of parts pruned (2 when attention and FFN
both are). So ``Regularization(attention=10, ffn=10)`` pulls as hard as the reference's lambda = 10, and the
reference's 5-40 range carries over unchanged.

Head scores get a smaller weight (``head_scale``). A head score sums the movement of 4 x 32 x 384 weights whose
contributions largely cancel, so at equal lambda the L1 pull outruns a head's signal about three times more than
a 32x32 block's (``python -m bmp.bench score_balance`` measures the ratio); scaling the pull on heads by the
measured ratio gives struct the attention/FFN balance that hybrid has at the same lambda.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bmp.pruning.masked import UnitScores, masked_modules

# A head's L1 pull against its movement noise is about 3x a 32x32 block's (python -m bmp.bench score_balance on the
# course teacher; data/results/bench__score_balance.json, checked by tests/test_trainer.py): scaling the head
# lambda by 1/3 gives heads a block's balance
HEAD_SCALE = 1 / 3


@dataclass(frozen=True)
class Regularization:
    """``attention`` and ``ffn`` are the lambdas for each part, on the reference's scale (it uses 5-40, with a
    separate FFN one). ``head_scale`` multiplies ``attention`` for one-score-per-head attention."""

    attention: float = 10.0
    ffn: float = 10.0
    head_scale: float = HEAD_SCALE

    def __post_init__(self):
        if self.attention < 0 or self.ffn < 0 or self.head_scale < 0:
            raise ValueError(f"regularization lambdas must be >= 0, got attention={self.attention}, "
                             f"ffn={self.ffn}, head_scale={self.head_scale}: pass e.g. 10")


def _groups(model: nn.Module) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """(head scores, other attention scores, FFN scores)."""
    heads, attention, ffn = [], [], []
    for module in masked_modules(model):
        if module.scores is None:
            continue
        if isinstance(module, UnitScores):
            (heads if module.kind == "head" else ffn).append(module.scores)
        else:
            (ffn if module.part == "ffn" else attention).append(module.scores)
    return heads, attention, ffn


def l1_sigmoid(model: nn.Module, weights: Regularization) -> Tensor:
    """(lambda_attn * mean_t mean(sigmoid(S_t)) over attention tensors + the same for the FFN) / parts pruned."""
    heads, attention, ffn = _groups(model)
    total = next(model.parameters()).new_zeros(())
    parts = 0
    for lam, tensors in ((weights.attention * weights.head_scale, heads), (weights.attention, attention),
                         (weights.ffn, ffn)):
        if tensors:
            parts += 1
            if lam:
                total = total + lam * torch.stack([torch.sigmoid(s).mean() for s in tensors]).mean()
    return total / max(parts, 1)
