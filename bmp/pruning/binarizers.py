"""Binarizers: turn real-valued scores into a 0/1 mask, with a straight-through gradient.

Forward: a hard mask. Backward: the gradient reaching the mask is passed to the scores unchanged. Because the mask
multiplies the weights (W' = W * M(S)), the scores then receive dL/dS = sum over the block of (dL/dW') * W: the
movement signal, positive when training pushes the weights away from zero.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd import Function


def _check_fraction(keep: float) -> None:
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep fraction must be in [0, 1], got {keep}: pass the share of scores to keep, e.g. 0.3")



class TopK(Function):
    """Keep exactly ``round(keep * numel)`` of the highest scores (per tensor)."""

    @staticmethod
    def forward(ctx, scores: Tensor, keep: float) -> Tensor:
        _check_fraction(keep)
        k = int(round(keep * scores.numel()))
        mask = torch.zeros_like(scores)
        if k > 0:
            mask.view(-1)[torch.topk(scores.detach().view(-1), k, sorted=False).indices] = 1.0
        return mask

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad, None


class Threshold(Function):
    """Keep scores strictly above ``tau`` (a float or a 0-dim tensor: no host sync either way)."""

    @staticmethod
    def forward(ctx, scores: Tensor, tau) -> Tensor:
        return (scores > tau).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad, None


class HardMask(Function):
    """A mask computed elsewhere (e.g. a global top-k), with the straight-through gradient to ``scores``."""

    @staticmethod
    def forward(ctx, scores: Tensor, hard: Tensor) -> Tensor:
        return hard.to(scores.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad, None


def topk_mask(scores: Tensor, keep: float) -> Tensor:
    return TopK.apply(scores, keep)


def threshold_mask(scores: Tensor, tau) -> Tensor:
    return Threshold.apply(scores, tau)


def sigmoid_threshold_mask(scores: Tensor, tau: float) -> Tensor:
    """Soft movement: keep where sigmoid(score) > tau, i.e. score > logit(tau) (tau = 0 keeps everything)."""
    tau = float(tau)
    if not 0.0 <= tau < 1.0:
        raise ValueError(f"sigmoid threshold must be in [0, 1), got {tau}: the reference schedule goes 0 -> 0.1")
    return Threshold.apply(scores, math.log(tau / (1.0 - tau)) if tau > 0 else -math.inf)


def magnitude_scores(weight: Tensor, block: tuple[int, int]) -> Tensor:
    """Block-summed |W|: the magnitude-pruning baseline's importance (no learned scores)."""
    rows, cols = weight.shape
    bh, bw = block
    return weight.detach().abs().reshape(rows // bh, bh, cols // bw, bw).sum(dim=(1, 3))


def global_topk_masks(scores: list[Tensor], keep: float, covers: list[int] | None = None) -> list[Tensor]:
    """Rank all scores together and keep the best until ``keep`` of the *weights* they cover is reached.

    ``covers[i]`` is how many weights one score of ``scores[i]`` masks (a 32x32 block 1,024, a head 4 x 32 x 384,
    an FFN neuron 2 x 384). Counting each score once would let 72 head scores trade one-for-one with 9,216 neuron
    scores although a head holds 64 times a neuron's weights. With every ``covers`` 1 this keeps exactly
    ``round(keep * total)`` scores (ties broken by the sort). No host sync: the cut is a comparison on device.
    """
    _check_fraction(keep)
    covers = covers or [1] * len(scores)
    flat = torch.cat([s.detach().reshape(-1) for s in scores])
    weight = torch.cat([flat.new_full((s.numel(),), float(c)) for s, c in zip(scores, covers)])
    order = torch.argsort(flat, descending=True, stable=True)
    filled = torch.cumsum(weight[order], 0)
    budget = keep * float(weight.sum())
    # keep a score when at least half of what it covers fits under the budget: round-to-nearest in weights
    kept_sorted = (filled - weight[order] / 2 <= budget).to(flat.dtype)
    mask = torch.zeros_like(flat).scatter(0, order, kept_sorted)
    return [m.view_as(s) for m, s in zip(mask.split([s.numel() for s in scores]), scores)]
