"""Prune to a budget: at every step keep the best-scored heads and FFN neurons whose packed shape fits.

Packing removes whole heads and whole FFN neurons (:mod:`bmp.pruning.liveness`): a head is gone only when all its
blocks are. So a size or speed target is met by choosing *units*, never loose blocks:

- a unit is a head (or the heads one attention block spans) or an FFN neuron (or the neurons one FFN block spans);
- its importance is the mean of the scores that cover it: its own head or neuron score, or its blocks' scores in
  Q, K, V and the attention output (FFN in and FFN out for neurons);
- units are ranked together, across layers and kinds, and kept best first while the packed shape's cost fits the
  allowance: a global top-k counted in what each unit costs, as :func:`~bmp.pruning.binarizers.global_topk_masks`
  counts weights. The gap left at the cut is filled with the best later units that still fit, and each layer's FFN
  is rounded to ``align_ffn`` neurons (packing would pad it with zeros otherwise);
- the allowance follows the recipe's cubic schedule from the dense cost down to the budget, so the last steps and
  the end of training (the final projection) meet it whatever the number of steps;
- a kept unit keeps all its blocks and a dropped one loses all of them: a hard mask with the straight-through
  gradient, so inside a kept head nothing is masked (the zeros a finished hybrid run would refill) and the packed
  shape is exactly the selection;
- the best head is always kept: a model without attention can't relate the question to the context.

This is the ``topk`` target method. The default, ``steer`` (:mod:`bmp.pruning.steering`), trains as a λ run does
and uses this module only to read what is alive (:meth:`UnitBudget.alive`), to price it, and to end on the budget
(:meth:`UnitBudget.project`). A Lagrangian on the expected size (CoFi) was tried on a short probe on the course data:
it scored the same as the top-k within noise, but trailed the scheduled size all the way and ended above the
budget, so it needed a final projection anyway, with two more knobs (its multipliers' learning rate, a temperature
on the expected size).

What a shape costs is a :class:`CostModel`: linear parameters (exact, so the fill rate follows) or seconds (a
latency model fitted on this machine, :mod:`bmp.speed.latency`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bmp.pruning.anatomy import anatomy_of, encoder_layers
from bmp.pruning.liveness import alive_heads, alive_neurons
from bmp.pruning.masked import MaskedLinear, UnitScores


@dataclass(frozen=True)
class Shape:
    """A packed model's shape: heads and FFN neurons kept per layer."""

    heads: tuple[int, ...]
    neurons: tuple[int, ...]

    def __post_init__(self):
        if len(self.heads) != len(self.neurons) or min((*self.heads, *self.neurons), default=0) < 0:
            raise ValueError(f"a shape needs one head count and one FFN size per layer, none negative; got heads "
                             f"{self.heads} and neurons {self.neurons}")

    def to_dict(self) -> dict:
        return {"heads_per_layer": list(self.heads), "neurons_per_layer": list(self.neurons)}


@dataclass(frozen=True)
class CostModel:
    """What a packed shape costs: ``fixed + sum over layers of (per_head * h + per_neuron * n + head_layer * [h > 0]
    + neuron_layer * [n > 0])``. In linear parameters the per-layer terms are 0 and the count is exact; in seconds
    they are the fixed price of running a layer's attention or FFN at all (a layer with no heads skips it)."""

    fixed: float
    per_head: float
    per_neuron: float
    head_layer: float = 0.0
    neuron_layer: float = 0.0
    unit: str = "linear parameters"

    def __post_init__(self):
        terms = (self.fixed, self.per_head, self.per_neuron, self.head_layer, self.neuron_layer)
        if min(terms) < 0 or not all(math.isfinite(t) for t in terms) or self.per_head + self.per_neuron <= 0:
            raise ValueError(f"a cost model needs finite costs >= 0 and a head or a neuron that costs something, got "
                             f"{terms}: refit it (bmp.speed.latency.calibrate) or count parameters instead")

    def of(self, shape: Shape) -> float:
        return self.fixed + sum(self.per_head * h + self.per_neuron * n + self.head_layer * (h > 0)
                                + self.neuron_layer * (n > 0) for h, n in zip(shape.heads, shape.neurons))


@dataclass(frozen=True)
class Budget:
    """The final packed model may cost ``target`` (in ``cost.unit``). ``align_ffn``: each layer's FFN is kept at a
    multiple of it, the multiple packing pads to (so padding adds nothing the budget did not count)."""

    cost: CostModel
    target: float
    align_ffn: int = 1

    def __post_init__(self):
        if not self.target > 0:
            raise ValueError(f"a budget must be positive, got {self.target} {self.cost.unit}")
        if not isinstance(self.align_ffn, int) or self.align_ffn < 1:
            raise ValueError(f"align_ffn must be a positive integer (1: no rounding), got {self.align_ffn!r}")


# ---------------------------------------------------------------- units: what one keep decision covers

@dataclass(frozen=True)
class _Source:
    """A score tensor over some units: a UnitScores (1-D), or a block-scored MaskedLinear whose units run along
    its rows (``axis`` 0: Q, K, V, FFN in) or its columns (``axis`` 1: attention output, FFN out)."""

    module: nn.Module
    axis: int | None
    per_unit: int  # score entries along the unit axis per unit

    def importance(self, units: int) -> Tensor:  # (units,)
        scores = self.module.scores.detach().float()
        along = scores if self.axis is None else scores.mean(dim=1 - self.axis)
        return along.view(units, self.per_unit).mean(dim=1)

    def gate(self, keep: Tensor) -> Tensor:  # keep: (units,) -> the shape of the scores
        expanded = keep.repeat_interleave(self.per_unit)
        scores = self.module.scores
        if self.axis is None:
            return expanded
        return (expanded[:, None] if self.axis == 0 else expanded[None, :]).expand(scores.shape).contiguous()


def _along(module: nn.Module, axis: int | None) -> int:
    """Score entries per block along the unit axis (a UnitScores' entry is one unit)."""
    return 1 if axis is None else module.block[axis]


@dataclass(frozen=True)
class _Group:
    """One layer's heads or FFN neurons: ``count`` units of ``size`` heads or neurons each."""

    layer: int
    kind: str  # "head" | "neuron"
    count: int
    size: int
    sources: tuple[_Source, ...]

    def importance(self) -> Tensor:
        return torch.stack([source.importance(self.count) for source in self.sources]).mean(dim=0)

    def set_gates(self, keep: Tensor) -> None:
        for source in self.sources:
            source.module.hard = source.gate(keep)

    def narrow_gates(self, keep: Tensor, back: Tensor) -> None:
        """Keep the masks in force inside the ``keep`` units, all blocks of the ``back`` ones, none elsewhere."""
        for source in self.sources:
            module = source.module
            module.hard = None
            own = (module.mask() if isinstance(module, UnitScores) else module.block_mask()).detach()
            module.hard = source.gate(keep) * torch.maximum(own, source.gate(back))


def _group(part, kind: str, width: int, step: int, candidates) -> _Group | None:
    """The units of one layer's ``kind`` from the masked modules in ``candidates`` ((module, axis) pairs). ``width``:
    heads or neurons in the layer; ``step``: rows per head (head_dim) or per neuron (1)."""
    found = [(m, axis) for m, axis in candidates
             if isinstance(m, UnitScores) or (isinstance(m, MaskedLinear) and m.block is not None)]
    if not found:
        return None
    for module, _ in found:
        if module.scores is None:
            raise ValueError(f"layer {part.index} ranks its {kind}s by magnitude, with no learned scores: a size or "
                             "speed target ranks learned scores; use a learned method such as sigmoid_threshold")
        if isinstance(module, UnitScores) and module.floor:
            raise ValueError("min_heads keeps heads whatever the budget says: a size or speed target chooses the "
                             "heads itself; drop min_heads (or the target)")
    rows = math.lcm(step, *(_along(m, axis) for m, axis in found))  # rows of one unit in Q/K/V or FFN in
    size, count = rows // step, width // (rows // step)
    if count * size != width:
        raise ValueError(f"layer {part.index}: {width} {kind}s don't split into units of {size}: choose a block "
                         f"whose height divides the {kind}s' rows evenly")
    sources = tuple(_Source(m, axis, size if axis is None else rows // _along(m, axis)) for m, axis in found)
    return _Group(part.index, kind, count, size, sources)


class UnitBudget:
    """A masked model's heads and FFN neurons as units, kept within a :class:`Budget`.

    ``apply(progress)`` ranks the units by their current scores, keeps the best within the allowance at that point
    of the schedule (0: the dense cost, 1: the budget) and sets every masked module's hard mask to match; it
    returns the kept :class:`Shape`. A pure function of the scores and ``progress``, so a resumed run continues
    exactly and every process of a distributed run chooses the same units.
    """

    def __init__(self, model: nn.Module, budget: Budget):
        self.budget = budget
        parts = encoder_layers(model)
        self.layers, self._parts = len(parts), parts
        self._activation = anatomy_of(model).activation(model.config)
        self.dense = Shape(tuple(part.num_heads for part in parts), tuple(part.ffn_size for part in parts))
        groups = []
        for part in parts:
            head = _group(part, "head", part.num_heads, part.head_dim,
                          [(getattr(part.layer, "head_scores", None), None), (part.query, 0), (part.key, 0),
                           (part.value, 0), (part.attn_out, 1)])
            neuron = _group(part, "neuron", part.ffn_size, 1,
                            [(getattr(part.layer, "neuron_scores", None), None), (part.ffn_in, 0), (part.ffn_out, 1)])
            groups += [g for g in (head, neuron) if g is not None]
        if not groups:
            raise ValueError("the model has no masked heads or FFN neurons: add masks with a preset that prunes "
                             "them (hybrid, struct or block) before pruning to a budget")
        self.groups = groups
        self._group_of = torch.cat([torch.full((g.count,), i) for i, g in enumerate(groups)])  # (U,)
        self._is_head = torch.cat([torch.full((g.count,), g.kind == "head") for g in groups])  # (U,)
        cost = budget.cost
        self._unit_cost = torch.cat([torch.full((g.count,), (cost.per_head if g.kind == "head" else cost.per_neuron)
                                                * g.size, dtype=torch.float64) for g in groups])
        self._open_cost = torch.tensor([cost.head_layer if g.kind == "head" else cost.neuron_layer for g in groups],
                                       dtype=torch.float64)
        if budget.target < self.cost(self.smallest):
            raise ValueError(f"a budget of {budget.target:.4g} {cost.unit} is below the smallest shape this model "
                             f"packs to ({self.cost(self.smallest):.4g}: {self.smallest}); raise the target")

    # -- shapes
    def cost(self, shape: Shape) -> float:
        return self.budget.cost.of(shape)

    @property
    def smallest(self) -> Shape:
        """One head kept (the best); every other pruned head and neuron gone; parts not pruned stay whole."""
        heads, neurons = list(self.dense.heads), list(self.dense.neurons)
        for group in self.groups:
            (heads if group.kind == "head" else neurons)[group.layer] = 0
        first = next((g for g in self.groups if g.kind == "head"), None)
        if first is not None:
            heads[first.layer] = first.size
        return Shape(tuple(heads), tuple(neurons))

    def allowance(self, progress: float) -> float:
        """The cost allowed at ``progress`` through the schedule: the dense cost at 0, the budget at 1."""
        dense = self.cost(self.dense)
        return dense - (dense - min(self.budget.target, dense)) * min(max(progress, 0.0), 1.0)

    # -- the selection
    @torch.no_grad()
    def apply(self, progress: float) -> Shape:
        importance = torch.cat([g.importance().cpu() for g in self.groups])
        keep = self._select(importance, self.allowance(progress))
        keep = self._align(importance, keep)
        offset = 0
        for group in self.groups:
            mine = keep[offset:offset + group.count]
            offset += group.count
            device = group.sources[0].module.scores.device
            group.set_gates(mine.to(device=device, dtype=group.sources[0].module.scores.dtype))
        return self._shape(keep)

    @torch.no_grad()
    def alive(self) -> Tensor:
        """Bool ``(units,)``: the units packing would keep under the masks in force now (a head lives while its V
        rows and its output columns do, :mod:`bmp.pruning.liveness`), in the order :meth:`apply` ranks them."""
        alive = []
        for group in self.groups:
            part = self._parts[group.layer]
            if group.kind == "head":
                each = alive_heads(*_in_use(part.value), _in_use(part.attn_out)[0], part.head_dim)
            else:
                each = alive_neurons(*_in_use(part.ffn_in), _in_use(part.ffn_out)[0], self._activation)
            alive.append(each.view(group.count, group.size).any(dim=1))
        return torch.cat(alive).cpu()  # one copy off the device a step, not one per layer

    def shape_of(self, keep: Tensor) -> Shape:
        """The packed shape when the units ``keep`` (bool, in :meth:`alive`'s order) stay."""
        return self._shape(keep)

    @torch.no_grad()
    def project(self, alive: Tensor) -> Shape:
        """End a steered run on the budget: the ``alive`` units are kept best first while they fit (the worst of
        them go when they run over), then the gap is filled with the best pruned units that fit. A kept unit keeps
        the masks in force inside it (the zeros a fill would refill), a unit brought back gets all its blocks, a
        dropped one none. Returns the packed shape, which then meets the budget exactly as :meth:`apply` does."""
        importance = torch.cat([g.importance().cpu() for g in self.groups])
        rank = alive.double() * 2 + torch.sigmoid(importance.double())  # alive first, each side by its scores
        keep = self._align(rank, self._select(rank, self.budget.target))
        back = keep & ~alive
        offset = 0
        for group in self.groups:
            span = slice(offset, offset + group.count)
            offset += group.count
            like = group.sources[0].module.scores
            group.narrow_gates(keep[span].to(device=like.device, dtype=like.dtype),
                               back[span].to(device=like.device, dtype=like.dtype))
        return self._shape(keep)

    def _select(self, importance: Tensor, allowance: float) -> Tensor:
        units = importance.numel()
        order = torch.argsort(importance, descending=True, stable=True)
        heads_first = order[self._is_head[order]]
        if heads_first.numel():  # the best head leads, so it is kept whatever the allowance
            order = torch.cat([heads_first[:1], order[order != heads_first[0]]])
        group = self._group_of[order]
        unit_cost = self._unit_cost[order]
        first_of_group = torch.full((len(self.groups),), units).scatter_reduce(
            0, group, torch.arange(units), reduce="amin")
        opens = torch.zeros(units, dtype=torch.bool)
        opens[first_of_group[first_of_group < units]] = True
        step_cost = unit_cost + opens * self._open_cost[group]
        base = self.cost(self._shape(torch.zeros(units, dtype=torch.bool)))  # the parts that are not pruned
        spent = base + torch.cumsum(step_cost, 0)
        slack = 1e-9 * max(abs(allowance), 1.0)
        kept = max(int((spent <= allowance + slack).sum()), int(heads_first.numel() > 0))
        chosen = torch.arange(units) < kept
        # fill the gap at the cut with later units that still fit (a neuron where a head would not)
        left = allowance - (float(spent[kept - 1]) if kept else base)
        opened = torch.zeros(len(self.groups), dtype=torch.bool)
        opened[group[:kept]] = True
        for _ in range(4):
            price = unit_cost + (~opened[group]) * self._open_cost[group]  # counts a layer's opening once per unit
            fits = ~chosen & (price <= left + slack)
            if not fits.any():
                break
            take = fits & (torch.cumsum(torch.where(fits, price, 0.0), 0) <= left + slack)
            chosen |= take
            left -= float(price[take].sum())
            opened[group[take]] = True
        keep = torch.zeros(units, dtype=torch.bool)
        keep[order] = chosen
        return keep

    def _align(self, importance: Tensor, keep: Tensor) -> Tensor:
        """Round each layer's kept FFN to a multiple of ``align_ffn`` neurons (to the nearest: best dropped units
        back in, or worst kept ones out)."""
        offset = 0
        keep = keep.clone()
        for group in self.groups:
            span = slice(offset, offset + group.count)
            offset += group.count
            multiple = math.lcm(group.size, self.budget.align_ffn) // group.size
            if group.kind != "neuron" or multiple == 1:
                continue
            mine, scores = keep[span].clone(), importance[span]
            have = int(mine.sum())
            want = min(int(math.floor(have / multiple + 0.5)) * multiple, group.count)
            if want > have:
                candidates = torch.where(mine, -math.inf, scores)
                mine[torch.topk(candidates, want - have).indices] = True
            elif want < have:
                candidates = torch.where(mine, scores, math.inf)
                mine[torch.topk(candidates, have - want, largest=False).indices] = False
            keep[span] = mine
        return keep

    def _shape(self, keep: Tensor) -> Shape:
        heads, neurons = list(self.dense.heads), list(self.dense.neurons)
        offset = 0
        for group in self.groups:
            kept = int(keep[offset:offset + group.count].sum()) * group.size
            offset += group.count
            (heads if group.kind == "head" else neurons)[group.layer] = kept
        return Shape(tuple(heads), tuple(neurons))


def _in_use(module: nn.Module) -> tuple[Tensor, Tensor | None]:
    """The weight and bias a layer computes with: masked for a masked layer."""
    if isinstance(module, MaskedLinear):
        return module.masked_weight_and_bias()
    return module.weight, module.bias


__all__ = ["Budget", "CostModel", "Shape", "UnitBudget"]
