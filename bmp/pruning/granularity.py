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


KEEP_FRACTION_METHODS = ("topk", "topk_global", "magnitude")

# Where each method's schedule starts and ends when the caller does not say. Every default starts dense:
# - sigmoid_threshold: sigma(score_init = 0) = 0.5 > 0 keeps everything; 0.1 is the reference's end point.
# - threshold: raw scores above tau are kept; start one below score_init, end at score_init (keep what grew).
# - keep fractions: from keeping everything (1.0) down to 10%, the movement-pruning paper's regime.
DEFAULT_THRESHOLDS = {"sigmoid_threshold": (0.0, 0.1), "threshold": (-1.0, 0.0),
                      "topk": (1.0, 0.1), "topk_global": (1.0, 0.1), "magnitude": (1.0, 0.1)}


def check_threshold(method: str, value: float, name: str = "threshold") -> None:
    """The one home of each method's valid range (configs and :func:`bmp.set_threshold` both ask it)."""
    if method == "sigmoid_threshold" and not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value}: a sigmoid threshold lies in [0, 1); the reference uses 0 -> 0.1")
    if method in KEEP_FRACTION_METHODS and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value}: for {method} it is the fraction kept, in [0, 1]")


@dataclass(frozen=True)
class PruningConfig:
    """How a model is pruned. ``initial_threshold``/``final_threshold`` mean a sigmoid threshold (sigmoid_threshold),
    a raw-score threshold (threshold) or a keep fraction (topk, topk_global, magnitude); left at None they take the
    method's defaults (:data:`DEFAULT_THRESHOLDS`), which all start with nothing pruned.

    ``min_heads`` is a per-layer floor for head scores: the ``min_heads`` best-scored heads of each layer are kept
    whatever the threshold says (the reference keeps a minimum number of elements per matrix the same way). It is
    off by default: in the recorded probes (``data/results/probes``, struct at lambda 200 with and without a floor
    of 1) no layer lost its last head, and the floor changed nothing.
    """

    attention: Granularity = (32, 32)
    ffn: Granularity = "neuron"
    method: str = "sigmoid_threshold"
    initial_threshold: float | None = None
    final_threshold: float | None = None
    score_init: float = 0.0  # sigmoid(0) = 0.5 keeps everything until the threshold and L1 move the scores
    min_heads: int = 0

    def __post_init__(self):
        _check_granularity("attention", self.attention, ("head", "dense"))
        _check_granularity("ffn", self.ffn, ("neuron", "dense"))
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        initial, final = DEFAULT_THRESHOLDS[self.method]
        if self.initial_threshold is None:
            object.__setattr__(self, "initial_threshold", initial)
        if self.final_threshold is None:
            object.__setattr__(self, "final_threshold", final)
        for name in ("initial_threshold", "final_threshold"):
            check_threshold(self.method, getattr(self, name), name)
        if self.method in KEEP_FRACTION_METHODS and self.final_threshold > self.initial_threshold:
            raise ValueError(f"for {self.method} the thresholds are keep fractions, which must not grow: "
                             f"{self.initial_threshold} -> {self.final_threshold}; use e.g. 1.0 -> 0.1")
        if self.method == "threshold" and self.initial_threshold >= self.score_init:
            raise ValueError(f"initial_threshold={self.initial_threshold} masks every score at score_init="
                             f"{self.score_init} (kept means score > threshold): start below score_init, e.g. "
                             f"{self.score_init - 1.0}")
        if self.method == "magnitude" and (self.attention == "head" or self.ffn == "neuron"):
            raise ValueError("magnitude pruning ranks blocks of |W|: use block granularities, not 'head'/'neuron'")
        if self.min_heads < 0 or (self.min_heads and self.attention != "head"):
            raise ValueError(f"min_heads={self.min_heads}: a per-layer head floor needs attention='head' and a "
                             "value >= 0")

    @property
    def learns_scores(self) -> bool:
        return self.method != "magnitude"

    def with_(self, **changes) -> "PruningConfig":
        return replace(self, **_method_defaults(changes))


def _method_defaults(changes: dict) -> dict:
    """A new method without thresholds takes that method's defaults, not the old method's values."""
    if "method" in changes:
        changes = {"initial_threshold": None, "final_threshold": None, **changes}
    return changes


PRESETS: dict[str, PruningConfig] = {
    # one score per weight: sparse, but no faster once packed
    "unstructured": PruningConfig(attention=(1, 1), ffn=(1, 1)),
    # 32x32 blocks everywhere
    "block": PruningConfig(attention=(32, 32), ffn=(32, 32)),
    # whole heads and whole FFN neurons: everything pruned can be packed away
    "struct": PruningConfig(attention="head", ffn="neuron"),
    # attention in 32x32 blocks, FFN by neuron; "hybrid-filled" packs this and re-fine-tunes (bmp.training.finalize)
    "hybrid": PruningConfig(attention=(32, 32), ffn="neuron"),
}


def preset(name: str, **changes) -> PruningConfig:
    if name == "hybrid-filled":
        name = "hybrid"  # the pruning step of hybrid-filled; the filling step is bmp.training.finalize.fill
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)} or 'hybrid-filled'")
    return replace(PRESETS[name], **_method_defaults(changes))


def preset_of(config: PruningConfig) -> str | None:
    """The preset whose granularity ``config`` has (attention and FFN units), or None for a custom one."""
    return next((name for name, known in PRESETS.items()
                 if (known.attention, known.ffn) == (config.attention, config.ffn)), None)
