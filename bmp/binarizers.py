"""Binarizers: turn real-valued scores into a 0/1 mask, with a straight-through gradient.

Forward: a hard mask. Backward: the gradient reaching the mask is passed to the scores unchanged. Because the mask
multiplies the weights (W' = W * M(S)), the scores then receive dL/dS = sum over the block of (dL/dW') * W: the
movement signal, positive when training pushes the weights away from zero.
"""
from __future__ import annotations

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


class SigmoidThreshold(Function):
    """Soft movement: keep where sigmoid(score) > tau, tau in [0, 1)."""

    @staticmethod
    def forward(ctx, scores: Tensor, tau: float) -> Tensor:
        return (torch.sigmoid(scores) > tau).to(scores.dtype)

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
    if not 0.0 <= float(tau) < 1.0:
        raise ValueError(f"sigmoid threshold must be in [0, 1), got {tau}: the reference schedule goes 0 -> 0.1")
    return SigmoidThreshold.apply(scores, tau)


def magnitude_scores(weight: Tensor, block: tuple[int, int]) -> Tensor:
    """Block-summed |W|: the magnitude-pruning baseline's importance (no learned scores)."""
    rows, cols = weight.shape
    bh, bw = block
    return weight.detach().abs().reshape(rows // bh, bh, cols // bw, bw).sum(dim=(1, 3))


def global_topk_masks(scores: list[Tensor], keep: float) -> list[Tensor]:
    """Exactly ``round(keep * total)`` ones across all tensors together (ties broken by torch.topk)."""
    _check_fraction(keep)
    flat = torch.cat([s.detach().reshape(-1) for s in scores])
    k = int(round(keep * flat.numel()))
    mask = torch.zeros_like(flat)
    if k > 0:
        mask[torch.topk(flat, k, sorted=False).indices] = 1.0
    return [m.view_as(s) for m, s in zip(mask.split([s.numel() for s in scores]), scores)]
