"""How many heads and FFN neurons the peer baseline keeps in each layer: the budget, its split over layers, its steps.

Torch-Pruning scores the units (:mod:`bmp.training.peer`); this module only counts. The budget is ``density`` of the
encoder's linear parameters (:mod:`bmp.packing.size`), or a recorded run's fill rate (:func:`recorded_fill_rate`).
A layer's linear parameters are affine in its heads and its neurons, so every split over layers with the same
*totals* has the same fill rate: both scopes meet the budget alike.

- ``per-layer`` (Torch-Pruning's local pruning, its BERT example's setting): every layer keeps the same counts.
- ``global``: totals planned on the whole encoder (so finer than per layer), ranked across layers by score, heads
  against heads and neurons against neurons (the ranking ``MetaPruner(global_pruning=True)`` makes when heads and
  FFN neurons each get their own ratio; its default importance divides a layer's scores by their mean, so a unit is
  ranked by how it stands in its own layer). Each layer keeps at least one head and ``align_ffn`` neurons, since
  Torch-Pruning's dependency graph refuses to empty a layer, and FFN widths are rounded to multiples of
  ``align_ffn`` at the same total (largest remainders), so packing adds no padding.
- Iterative pruning follows Torch-Pruning's linear schedule: step ``k`` of ``n`` prunes to density
  ``1 - (1 - density) k / n``, counted on that step's scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bmp.packing.size import dense_linear_params, linear_params_of_layer
from bmp.results.records import RESULTS_DIR, load_records, results_dir

SCOPES = ("global", "per-layer")
FILL_RATE_DIGITS = 3  # --like: a recorded fill rate, rounded so that the run's name stays readable


@dataclass(frozen=True)
class LayerPlan:
    """What every layer keeps, and the linear density that gives (the fill rate of the packed model)."""

    heads: int
    neurons: int
    density: float


@dataclass(frozen=True)
class Budget:
    """What the whole encoder keeps, and the linear density that gives: any split over layers meets it."""

    heads: int
    neurons: int
    density: float


def _plan(config, density: float, align_ffn: int, layers: int) -> tuple[int, int, float]:
    """Heads and neurons kept by ``layers`` layers together: heads ``round(density * heads)`` (at least one a layer),
    then the FFN width, a multiple of ``align_ffn``, that brings the linear parameters closest to the budget."""
    hidden, heads, ffn = config.hidden_size, config.num_attention_heads, config.intermediate_size
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    emptied = linear_params_of_layer(hidden, 0, head_dim, 0)  # the output biases a layer keeps whatever it loses

    def params(kept_heads: int, neurons: int) -> int:  # affine in both, so totals are enough
        return linear_params_of_layer(hidden, kept_heads, head_dim, neurons) + (layers - 1) * emptied

    dense = dense_linear_params(config) / config.num_hidden_layers * layers
    target = density * dense
    keep_heads = min(heads * layers, max(layers, round(density * heads * layers)))
    ideal = (target - params(keep_heads, 0)) / (2 * hidden + 1)  # each neuron: a row, a column, a bias
    candidates = {min(ffn * layers, max(align_ffn * layers, align_ffn * int(ideal // align_ffn) + step))
                  for step in (0, align_ffn)}
    neurons = min(candidates, key=lambda n: abs(params(keep_heads, n) - target))
    return keep_heads, neurons, params(keep_heads, neurons) / dense


def plan_layers(config, density: float, align_ffn: int) -> LayerPlan:
    """The per-layer plan: heads kept in every layer ``round(density * heads)`` (at least one), then the FFN width,
    a multiple of ``align_ffn``, that brings the linear parameters closest to ``density`` of the dense ones."""
    return LayerPlan(*_plan(config, density, align_ffn, layers=1))


def budget(config, density: float, scope: str, align_ffn: int) -> Budget:
    """The encoder's totals at ``density``: the per-layer plan times the layers, or planned on the whole encoder."""
    layers = config.num_hidden_layers
    if scope == "per-layer":
        plan = plan_layers(config, density, align_ffn)
        return Budget(plan.heads * layers, plan.neurons * layers, plan.density)
    return Budget(*_plan(config, density, align_ffn, layers))


def step_densities(density: float, steps: int) -> list[float]:
    """Torch-Pruning's linear schedule: the density after each of ``steps`` steps, ending exactly at ``density``."""
    return [1 - (1 - density) * k / steps for k in range(1, steps)] + [density]


def allocate(scores: list[torch.Tensor], total: int, unit: int = 1, minimum: int = 1) -> list[int]:
    """How many units each layer keeps when the ``total`` best scores across layers are kept (a global threshold),
    each layer at least ``minimum`` and at most what it has, counts rounded to multiples of ``unit`` at the same
    total (``minimum`` should be one)."""
    sizes = [len(s) for s in scores]
    floors = [min(minimum, size) for size in sizes]
    # each layer's best ``minimum`` are kept anyway; the rest compete across layers
    rest = [s.detach().float().cpu().sort(descending=True).values[low:] for s, low in zip(scores, floors)]
    owners = torch.cat([torch.full((len(r),), i) for i, r in enumerate(rest)])
    best = torch.argsort(torch.cat(rest), descending=True, stable=True)[:max(0, total - sum(floors))]
    counts = [low + int((owners[best] == i).sum()) for i, low in enumerate(floors)]
    if unit == 1:
        return counts
    rounded = [count - count % unit for count in counts]
    chunks = (sum(counts) - sum(rounded)) // unit
    by_remainder = sorted(range(len(counts)), key=lambda i: counts[i] - rounded[i], reverse=True)
    for i in by_remainder:
        if chunks and rounded[i] + unit <= sizes[i]:
            rounded[i], chunks = rounded[i] + unit, chunks - 1
    return rounded


def layer_counts(head_scores: list[torch.Tensor], neuron_scores: list[torch.Tensor], config, density: float,
                 scope: str, align_ffn: int) -> tuple[list[int], list[int]]:
    """Heads and neurons each layer keeps at ``density``, given each layer's scores (one per head, one per neuron;
    a layer never keeps more than it has, so an iterative step can't grow one back)."""
    total = budget(config, density, scope, align_ffn)
    if scope == "per-layer":
        layers = config.num_hidden_layers
        return ([min(total.heads // layers, len(s)) for s in head_scores],
                [min(total.neurons // layers, len(s)) for s in neuron_scores])
    return (allocate(head_scores, total.heads),
            allocate(neuron_scores, total.neurons, unit=align_ffn, minimum=align_ffn))


def kept_units(scores: torch.Tensor, count: int) -> list[int]:
    """The units a layer keeps: all but its ``len(scores) - count`` lowest (MetaPruner's local choice, ties
    included)."""
    dropped = set(torch.topk(scores, k=len(scores) - count, largest=False).indices.tolist())
    return [i for i in range(len(scores)) if i not in dropped]


def recorded_fill_rate(run: str, directories=None) -> float:
    """The packed fill rate (kept share of the encoder's linear parameters) of the record named ``run``: the budget
    at which the peer is compared with that run. Looks where new records go, then in the tracked data/results."""
    directories = directories or list(dict.fromkeys([results_dir(), RESULTS_DIR]))
    for directory in directories:
        for found in load_records(directory):
            if found["name"] == run and found.get("metrics", {}).get("fill_rate") is not None:
                return round(float(found["metrics"]["fill_rate"]), FILL_RATE_DIGITS)
    raise ValueError(f"no record named {run!r} with a fill rate in {', '.join(map(str, directories))}: record that "
                     "run first (python -m bmp sweep), or give --density")
