"""Runs pruned to a target (a size or a speed) instead of a λ: what each asked for, what its latency model predicted,
what was measured, and its F1 gap to the λ-swept front at that speed.

A target run lands when its measured speedup lies within :data:`SPEED_TOLERANCE` of the speed asked for (or its
fill rate within :data:`DENSITY_TOLERANCE` of the size), and it is as good as a λ hunt when its held-out F1 is no
more than :data:`F1_MARGIN` below the λ-swept setting chosen on validation F1 among those at least as fast, like for
like (same teacher, same epochs). The gap carries its paired interval and the one verdict rule
(:func:`bmp.results.intervals.verdict`).
"""
from __future__ import annotations

from dataclasses import dataclass

from bmp.results.analysis import FINAL_KIND, Analysis, ComparedPoint, compare_at_speed
from bmp.results.intervals import verdict
from bmp.results.records import PRUNED_KINDS
from bmp.results.teachers import folder_key

SPEED_TOLERANCE = 0.10  # measured within ±10% of the speedup asked for
DENSITY_TOLERANCE = 0.03  # packed fill rate within ±0.03 of the density asked for
F1_MARGIN = 1.0  # F1 below the λ-swept front at the same speed


def target_of(record: dict, records: list[dict]) -> dict | None:
    """``{"speedup": 2.5}`` or ``{"density": 0.3}`` for a run pruned to a target (a pruned record's recipe says so;
    a packed or filled one names its pruned folder), else None; with the pruned record's predictions."""
    pruned = record
    if record.get("kind") in PRUNED_KINDS:
        folder = folder_key(record.get("config", {}).get("pruned", ""))
        pruned = next((r for r in records if r.get("kind") == "pruned"
                       and folder_key(r.get("config", {}).get("output_dir", "")) == folder), None)
    elif record.get("kind") != "pruned":
        return None
    if pruned is None:
        return None
    target = {k: v for k, v in ((pruned.get("config", {}).get("recipe") or {}).get("target") or {}).items()
              if v is not None}
    if not target:
        return None
    metrics = pruned.get("metrics", {})
    return {**target, **{key: metrics[key] for key in ("predicted_speedup", "predicted_fill_rate") if key in metrics}}


@dataclass(frozen=True)
class TargetRun:
    """One target setting (over its seeds) against the λ-swept front at its speed."""

    compared: ComparedPoint
    target: dict  # asked for, and what was predicted

    def to_dict(self) -> dict:
        point, speedup = self.compared.point, self.target.get("speedup")
        measured = point.speedup
        landed = None
        if speedup is not None and measured is not None:
            landed = abs(measured - speedup) <= SPEED_TOLERANCE * speedup
        elif self.target.get("density") is not None and point.fill_rate is not None:
            landed = abs(point.fill_rate - self.target["density"]) <= DENSITY_TOLERANCE
        gap = self.compared.gap
        return {"name": point.name, "seeds": list(point.seeds), "f1": point.f1,
                "target_speedup": speedup, "target_density": self.target.get("density"),
                "predicted_speedup": self.target.get("predicted_speedup"),
                "predicted_fill_rate": self.target.get("predicted_fill_rate"),
                "measured_speedup": measured, "fill_rate": point.fill_rate, "landed": landed,
                "front": None if self.compared.rival is None else self.compared.rival.name,
                "front_chosen_on": "validation", "f1_gap_to_front": gap,
                "ci95": None if self.compared.interval is None else self.compared.interval.ci95,
                "verdict": verdict(self.compared.interval, F1_MARGIN) if gap is not None else "not measured"}


def target_runs(analysis: Analysis, records: list[dict]) -> list[TargetRun]:
    """Every target setting (filled) of ``analysis`` met with the λ-swept filled setting chosen on validation F1
    among those at least as fast, like for like; ``records``: all of them (the pruned records hold the targets)."""
    targets = {name: target_of(record, records) for (kind, name), record in analysis.records.items()
               if kind == FINAL_KIND}
    finals = [s for s in analysis.settings if s.kind == FINAL_KIND]
    aimed = [s for s in finals if targets.get(s.runs[0])]
    swept = [s for s in finals if not targets.get(s.runs[0])]
    comparison = compare_at_speed(aimed, swept, about="the target run minus the λ-swept front", point_minus_rival=True,
                                  scores=lambda setting: analysis.scores(setting.kind, setting.runs))
    return [TargetRun(point, targets[point.point.runs[0]]) for point in comparison.points]


__all__ = ["DENSITY_TOLERANCE", "F1_MARGIN", "SPEED_TOLERANCE", "TargetRun", "target_of", "target_runs"]
