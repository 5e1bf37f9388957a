"""Prune to a target instead of a lambda: a packed size (``target_density``) or a speed (``target_speedup``).

    python -m bmp prune --teacher runs/teacher-course-4ep/final --preset hybrid --target-speedup 2.5
    bmp.prune(teacher, data, preset="hybrid", target_density=0.3)

A :class:`Target` is what the user asked for; :func:`plan` turns it into a :class:`~bmp.pruning.budget.Budget` for
one model, counted in what the target is about:

- a density ``D`` is the packed encoder's linear weights as a share of the teacher's: a shape costs its linear
  parameters, counted by :mod:`bmp.packing.size` (so ``D`` is the fill rate ``finalize`` reports);
- a speedup ``S`` is a speed at :data:`~bmp.speed.timing.CPU_SETTING`: a shape costs its seconds by a latency model
  calibrated on this machine (:mod:`bmp.speed.latency`), and the budget is the dense shape's seconds over ``S``.

The trainer then follows the budget, the allowance shrinking on the recipe's cubic schedule: by steering λ
(:mod:`bmp.pruning.steering`, the default) or by keeping the best-scored heads and neurons within it at every step
(:class:`~bmp.pruning.budget.UnitBudget`, ``target_method="topk"``); both end on the budget itself. A target the
architecture can't reach (a smaller model than one head and nothing else) is refused, naming the reachable end.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bmp.packing.pack import ALIGN_FFN
from bmp.packing.size import dense_linear_params, linear_params_of_layer
from bmp.pruning.budget import Budget, CostModel, Shape, UnitBudget
from bmp.speed.latency import LatencyModel, calibrate

LATENCY_FILE = "latency_model.json"  # in the run folder: a resumed run keeps the calibration it started with


@dataclass(frozen=True)
class Target:
    """One target: ``density`` in (0, 1] or ``speedup`` above 1."""

    density: float | None = None
    speedup: float | None = None

    def __post_init__(self):
        if self.density is not None and self.speedup is not None:
            raise ValueError("give one target: target_density (a size) or target_speedup (a speed), not both")
        if self.density is None and self.speedup is None:
            raise ValueError("a Target needs target_density (a size) or target_speedup (a speed)")
        if self.density is not None and not 0 < self.density <= 1:
            raise ValueError(f"target_density={self.density:g} must lie in (0, 1]: it is the packed encoder's linear "
                             "weights as a share of the teacher's, e.g. 0.3")
        if self.speedup is not None and not self.speedup > 1:
            raise ValueError(f"target_speedup={self.speedup:g} must be above 1 (how many times faster than the "
                             "teacher), e.g. 2.5")

    def __str__(self) -> str:
        return f"target_density={self.density:g}" if self.density is not None else f"target_speedup={self.speedup:g}"

    def as_pair(self) -> tuple[str, float]:
        """``("density", 0.3)`` or ``("speedup", 2.5)``: how :class:`bmp.results.run_id.RunId` names it."""
        return ("density", self.density) if self.density is not None else ("speedup", self.speedup)


def density_cost(config) -> CostModel:
    """Linear parameters of a packed shape of ``config``'s architecture, as :mod:`bmp.packing.size` counts them
    (that count is linear in heads and neurons: the output biases stay when a layer empties)."""
    hidden, heads = config.hidden_size, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    empty = linear_params_of_layer(hidden, 0, head_dim, 0)
    return CostModel(fixed=config.num_hidden_layers * empty,
                     per_head=linear_params_of_layer(hidden, 1, head_dim, 0) - empty,
                     per_neuron=linear_params_of_layer(hidden, 0, head_dim, 1) - empty)


@dataclass(frozen=True)
class TargetPlan:
    """A target made concrete for one model: its budget, and the latency model that counts a speed target."""

    target: Target
    budget: Budget
    dense_linear_params: int
    latency: LatencyModel | None = None

    def predicted(self, shape: Shape, config) -> dict:
        """What the plan predicts for a final ``shape``, for the record (set beside what is measured later)."""
        values = {"predicted_fill_rate": round(density_cost(config).of(shape) / self.dense_linear_params, 4)}
        if self.target.density is not None:
            values["target_density"] = self.target.density
        if self.latency is not None:
            values.update(target_speedup=self.target.speedup,
                          predicted_speedup=round(self.latency.speedup(shape), 3),
                          predicted_seconds=round(self.latency.seconds(shape), 5))
        return values


def plan(target: Target, model: nn.Module, *, align_ffn: int = ALIGN_FFN,
         latency: LatencyModel | None = None) -> TargetPlan:
    """The budget that meets ``target`` on ``model`` (masked, with the preset it will be pruned at). A speed target
    uses ``latency`` when it was calibrated for this architecture, else calibrates one now (seconds). Each layer's
    FFN is kept at a multiple of ``align_ffn``, the multiple runs pack to, so packing pads nothing."""
    config = model.config
    dense_params = dense_linear_params(config)
    if target.density is not None:
        cost, latency = density_cost(config), None
        budget = Budget(cost, target.density * dense_params, align_ffn)
    else:
        if latency is None or not latency.matches(config):
            latency = calibrate(config, align_ffn=align_ffn)
        cost = latency.cost
        budget = Budget(cost, latency.dense_s / target.speedup, align_ffn)
    units = UnitBudget(model, Budget(cost, float("inf"), align_ffn))  # to read the smallest shape
    smallest = units.smallest
    if budget.target < cost.of(smallest):
        kept = f"one head and no other head or FFN neuron the preset prunes: {smallest.to_dict()}"
        if target.density is not None:
            raise ValueError(f"{target} is below the smallest model this one packs to, "
                             f"{cost.of(smallest) / dense_params:.4f} ({kept}): choose a target_density of at least "
                             "that")
        raise ValueError(f"{target} is beyond the fastest model this one packs to, {latency.speedup(smallest):.2f}x "
                         f"by the latency model calibrated here ({kept}): choose a target_speedup of at most that")
    return TargetPlan(target, budget, dense_params, latency)


def made_once(args, make: Callable[[], object]):
    """``make()`` on the main process, the same object on every process of a distributed run (each process timing
    its own latency model would give each its own masks)."""
    if args.world_size <= 1:
        return make()
    import torch.distributed as dist

    box = [make() if args.process_index == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def saved_latency(folder, config) -> LatencyModel | None:
    """The latency model saved in a run folder, when it was calibrated for ``config``'s architecture."""
    path = Path(folder) / LATENCY_FILE
    if not path.is_file():
        return None
    latency = LatencyModel.from_dict(json.loads(path.read_text()))
    return latency if latency.matches(config) else None


def save_latency(folder, latency: LatencyModel) -> None:
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / LATENCY_FILE).write_text(json.dumps(latency.to_dict(), indent=1) + "\n")


__all__ = ["LATENCY_FILE", "Target", "TargetPlan", "density_cost", "made_once", "plan", "save_latency",
           "saved_latency"]
