"""The project's targets, in one table, checked on the recorded runs (:mod:`bmp.results.analysis`).

``python -m bmp.bench pareto`` prints :func:`summarize` as its JSON line and ``python -m bmp summary`` writes the
same checks into the README. A target whose inputs are not recorded is "not measured", never "met".
"""
from __future__ import annotations

from dataclasses import dataclass

from bmp.results.analysis import Analysis, analyse
from bmp.results.seeds import VALIDATION
from bmp.results.speeds import SpeedSource

MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"
TOLERANCE = 1e-9  # a value exactly at the threshold meets it despite float rounding


@dataclass(frozen=True)
class Target:
    """One target. ``text`` is formatted with the target's own fields (``margin`` is ``|threshold|``).

    Speed targets (``min_speedup`` set): the setting chosen at that speed must lose at most ``threshold`` F1 to
    the reference, over at least ``min_seeds`` seeds. Gap targets (``gap`` set): the mean gap of that comparison
    must be at least ``threshold``."""

    key: str
    text: str
    threshold: float
    min_speedup: float | None = None
    min_seeds: int = 1
    gap: str | None = None

    def __post_init__(self):
        if (self.min_speedup is None) == (self.gap is None):
            raise ValueError(f"target {self.key!r}: give exactly one of min_speedup (a speed target) and gap "
                             "(a comparison at equal speed)")

    def describe(self) -> str:
        return self.text.format(threshold=self.threshold, margin=abs(self.threshold), min_speedup=self.min_speedup,
                                min_seeds=self.min_seeds)


TARGETS: tuple[Target, ...] = (
    Target("speed_2_5x", ">= {min_speedup:g}x at <= {threshold:.1f} F1 below the reference (mean of >= {min_seeds} "
           "seeds)", threshold=1.0, min_speedup=2.5, min_seeds=2),
    Target("speed_4x", ">= {min_speedup:g}x at <= {threshold:g} F1 below the reference", threshold=3.0,
           min_speedup=4.0),
    Target("struct_vs_hybrid", "struct within {margin:g} F1 of the hybrid front at equal speed", threshold=-3.0,
           gap="struct_vs_hybrid"),
    Target("vs_distil_recipe", ">= {threshold:+g} F1 over the layer-dropped students at equal speed",
           threshold=2.0, gap="vs_distil_recipe"),
    Target("vs_torch_pruning", ">= {threshold:g} F1 vs Torch-Pruning at equal speed", threshold=0.0,
           gap="vs_torch_pruning"),
)
SPEED_TARGETS = tuple(t for t in TARGETS if t.min_speedup is not None)


@dataclass(frozen=True)
class TargetCheck:
    """A target's verdict on the records: ``value`` is the F1 drop (speed targets) or the mean gap; ``note`` says
    which model or points it rests on, and what is missing when it is not measured."""

    target: Target
    status: str
    value: float | None
    note: str

    def to_dict(self) -> dict:
        return {"key": self.target.key, "target": self.target.describe(), "threshold": self.target.threshold,
                "min_speedup": self.target.min_speedup, "status": self.status, "value": self.value,
                "note": self.note}


def _verdict(ok: bool) -> str:
    return MET if ok else MISSED


def _check_speed(target: Target, analysis: Analysis) -> TargetCheck:
    choice = analysis.best_at(target.min_speedup)
    if choice is None:
        return TargetCheck(target, NOT_MEASURED, None, f"no pruned model is {target.min_speedup:g}x faster yet")
    s = choice.setting
    how = "chosen on validation F1" if choice.chosen_on == VALIDATION else \
        "chosen on held-out F1 (a candidate has no validation F1 recorded)"
    where = f"{s.name}: {s.f1_text()} at {s.speedup:.2f}x, {how}"
    if s.f1_drop is None:
        return TargetCheck(target, NOT_MEASURED, None, f"{where}; the teacher of its runs is not recorded")
    flags = "; no control recorded, so against the teacher alone" if s.control_missing else ""
    where += f", {s.f1_drop:.1f} F1 below the reference{flags}"
    if len(s.runs) < target.min_seeds:
        return TargetCheck(target, NOT_MEASURED, s.f1_drop,
                           f"{where}; needs >= {target.min_seeds} seeds, has {len(s.runs)}")
    return TargetCheck(target, _verdict(s.f1_drop <= target.threshold + TOLERANCE), s.f1_drop, where)


def _check_gap(target: Target, analysis: Analysis) -> TargetCheck:
    gap = analysis.gap(target.gap)
    if gap.mean is None:
        why = "no points to compare" if not gap.points else "no point lies within the rival front's speeds"
        return TargetCheck(target, NOT_MEASURED, None, f"{gap.about}: {why}")
    measured = [p for p in gap.points if p.gap is not None]
    single = sum(len(p.seeds) < 2 for p in measured)
    note = f"{gap.about}: mean of {len(measured)} point(s)" + (f", {single} of them single-seed" if single else "")
    return TargetCheck(target, _verdict(gap.mean >= target.threshold - TOLERANCE), gap.mean, note)


def check(target: Target, analysis: Analysis) -> TargetCheck:
    return _check_speed(target, analysis) if target.min_speedup is not None else _check_gap(target, analysis)


def check_all(analysis: Analysis, targets: tuple[Target, ...] = TARGETS) -> list[TargetCheck]:
    return [check(target, analysis) for target in targets]


def best_key(min_speedup: float) -> str:
    """``best_at_2_5x`` for 2.5: the summary key of a speed target's chosen setting."""
    return f"best_at_{format(min_speedup, 'g').replace('.', '_')}x"


def summarize(records, split: str | None = None, speed: SpeedSource | None = None) -> dict:
    """The trade-off and the targets as plain JSON values (``python -m bmp.bench pareto``'s line)."""
    analysis = analyse(records, split, speed)
    ref = analysis.reference
    result = {
        "bench": "pareto",
        "eval_split": analysis.split,
        "teacher": ref.teacher, "teacher_f1": ref.teacher_f1, "teacher_epochs": ref.teacher_epochs,
        "teacher_converged": ref.teacher_converged, "teacher_convergence": ref.convergence_note,
        "control_f1": ref.control_f1, "control_f1_std": ref.control_f1_std, "controls": list(ref.controls),
        "reference_f1": ref.reference_f1,
        "reference_source": ref.source, "control_missing": ref.control_missing,
        "speed_source": analysis.speed.kind, "speed": analysis.speed.to_dict(),
        "pruned_settings": len(analysis.pruned),
        "front": [s.name for s in analysis.front],
    }
    for target in SPEED_TARGETS:
        choice = analysis.best_at(target.min_speedup)
        result[best_key(target.min_speedup)] = None if choice is None else choice.to_dict()
    result.update({
        "struct_gap_vs_hybrid": analysis.struct_vs_hybrid.to_dict(),
        "f1_gap_vs_distil_recipe": analysis.vs_distil_recipe.to_dict(),
        "f1_gap_vs_torch_pruning": analysis.vs_torch_pruning.to_dict(),
        # the best >= 4x model's; another shipped model only stands in under "int8" (of_headline false)
        "int8_f1_drop": analysis.int8.f1_drop if analysis.int8 is not None and analysis.int8.of_headline else None,
        "int8": None if analysis.int8 is None else analysis.int8.to_dict(),
        "targets": [c.to_dict() for c in check_all(analysis)],
        "left_out_other_splits": dict(analysis.left_out_other_splits),
    })
    return result


__all__ = ["MET", "MISSED", "NOT_MEASURED", "SPEED_TARGETS", "TARGETS", "Target", "TargetCheck", "best_key",
           "check", "check_all", "summarize"]
