"""What one score covers (granularity) and how scores become masks (method): small frozen configs and presets.

Granularities for the attention part (Q, K, V, attention output) and the FFN part (FFN in, FFN out):
- ``(1, 1)`` blocks: one score per weight (unstructured movement pruning);
- ``(bh, bw)`` blocks: one score per block, which must divide the matrix;
- ``"head"``: one score per attention head, shared by its Q/K/V rows and its attention-output columns;
- ``"neuron"``: one score per FFN unit, shared by its FFN-in row and its FFN-out column;
- ``"dense"``: not pruned.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Union

Granularity = Union[tuple[int, int], str]  # a block shape, "head", "neuron" or "dense"

METHODS = ("sigmoid_threshold", "threshold", "topk", "topk_global", "magnitude")


def _check_granularity(name: str, value, allowed: tuple[str, ...]) -> None:
    if isinstance(value, str):
        if value not in allowed:
            raise ValueError(f"{name} must be a block shape (rows, cols) or one of {allowed}, got {value!r}")
        return
    if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise ValueError(f"{name} block must be a tuple of two positive ints such as (32, 32), got {value!r}")


@dataclass(frozen=True)
class PruningConfig:
    """How a model is pruned. ``initial_threshold``/``final_threshold`` mean a sigmoid threshold (sigmoid_threshold),
    a raw-score threshold (threshold) or a keep fraction (topk, topk_global, magnitude)."""

    attention: Granularity = (32, 32)
    ffn: Granularity = "neuron"
    method: str = "sigmoid_threshold"
    initial_threshold: float = 0.0
    final_threshold: float = 0.1
    score_init: float = 0.0  # sigmoid(0) = 0.5 keeps everything until the threshold and L1 move the scores

    def __post_init__(self):
        _check_granularity("attention", self.attention, ("head", "dense"))
        _check_granularity("ffn", self.ffn, ("neuron", "dense"))
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        for name in ("initial_threshold", "final_threshold"):
            value = getattr(self, name)
            if self.method == "sigmoid_threshold" and not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value}: a sigmoid threshold lies in [0, 1); the reference uses 0 -> 0.1")
            if self.method in ("topk", "topk_global", "magnitude") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value}: for {self.method} it is the fraction kept, in [0, 1]")
        if self.method == "magnitude" and (self.attention == "head" or self.ffn == "neuron"):
            raise ValueError("magnitude pruning ranks blocks of |W|: use block granularities, not 'head'/'neuron'")

    @property
    def learns_scores(self) -> bool:
        return self.method != "magnitude"

    def with_(self, **changes) -> "PruningConfig":
        return replace(self, **changes)


PRESETS: dict[str, PruningConfig] = {
    # one score per weight: sparse, but no faster once packed
    "unstructured": PruningConfig(attention=(1, 1), ffn=(1, 1)),
    # 32x32 blocks everywhere
    "block": PruningConfig(attention=(32, 32), ffn=(32, 32)),
    # whole heads and whole FFN neurons: everything pruned can be packed away
    "struct": PruningConfig(attention="head", ffn="neuron"),
    # attention in 32x32 blocks, FFN by neuron; "hybrid-filled" packs this and re-fine-tunes (bmp.fill)
    "hybrid": PruningConfig(attention=(32, 32), ffn="neuron"),
}


def preset(name: str, **changes) -> PruningConfig:
    if name == "hybrid-filled":
        name = "hybrid"  # the pruning step of hybrid-filled; the filling step is bmp.fill.fill
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)} or 'hybrid-filled'")
    return replace(PRESETS[name], **changes)
