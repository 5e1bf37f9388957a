"""The Pareto front: the models no other model beats on every axis at once.

A point is on the front when no other point is at least as good on every objective and strictly better on one.
Equal points are all kept (neither beats the other); points with a NaN coordinate are never on the front and
never push another point off it.
"""
from __future__ import annotations

import numpy as np


def pareto_front(points, maximize=(True, True)) -> np.ndarray:
    """Bool mask over the rows of ``points`` (shape ``(n, k)``): which rows are on the front.

    ``maximize[j]`` says whether bigger is better for column ``j``: ``(True, True)`` for (F1, speedup),
    ``(True, False)`` for (F1, fill rate).
    """
    values = np.asarray(points, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"points must be a 2-D array of shape (n, objectives), got shape {values.shape}")
    if values.shape[1] != len(maximize):
        raise ValueError(f"points have {values.shape[1]} columns but maximize gives {len(maximize)} directions")
    signs = np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)
    better = values * signs  # (n, k): bigger is better in every column
    valid = ~np.isnan(better).any(axis=1)
    on_front = valid.copy()
    for i in np.flatnonzero(valid):
        others = better[valid]
        dominated = (others >= better[i]).all(axis=1) & (others > better[i]).any(axis=1)
        on_front[i] = not dominated.any()
    return on_front


def front_order(points, mask) -> np.ndarray:
    """Indices of the front's points sorted by the second column (how a front is drawn, left to right)."""
    values = np.asarray(points, dtype=float)
    index = np.flatnonzero(np.asarray(mask, dtype=bool))
    return index[np.argsort(values[index, 1], kind="stable")]


__all__ = ["front_order", "pareto_front"]
