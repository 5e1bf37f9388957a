"""The project's targets, in one table, checked on the recorded runs (:mod:`bmp.results.analysis`).

``python -m bmp.bench pareto`` prints :func:`summarize` as its JSON line and ``python -m bmp summary`` writes the
same checks into the README. Every target is judged by the one verdict rule, :func:`bmp.results.intervals.judge`,
on the 95% interval of its F1 gap (paired over the held-out questions, pooled over seeds) and, for a speed target, on
the range of its speed over the timing runs. A target whose inputs are not recorded is "not measured", never "met".
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bmp.results.analysis import COMPARISONS, Analysis, Comparison, analyse
from bmp.results.intervals import (
    INCONCLUSIVE,
    MET,
    MISSED,
    NO_PREDICTIONS,
    Gap,
    SpeedInterval,
    combine,
    judge,
    reason,
    verdict,
)
from bmp.results.seeds import VALIDATION, Choice, seed_of
from bmp.results.speeds import SpeedSource
from bmp.results.target_runs import target_runs

NOT_MEASURED = "not measured"
COMPARISON_KEYS = {"struct_vs_hybrid": "struct_gap_vs_hybrid", "vs_distil_recipe": "f1_gap_vs_distil_recipe",
                   "vs_torch_pruning": "f1_gap_vs_torch_pruning"}  # bench pareto's key of each comparison


@dataclass(frozen=True)
class Target:
    """One target. ``text`` is formatted with the target's own fields (``margin`` is ``|threshold|``).

    Speed targets (``min_speedup`` set): the setting chosen at that speed must lose at most ``threshold`` F1 to
    the reference, over at least ``min_seeds`` seeds of it and of the control the reference is (a teacher is one
    model), and be that fast. Gap targets (``gap`` set): the mean gap of that comparison, each of its points over at
    least ``min_seeds`` seeds, must be at least ``threshold``. :attr:`margin` is what
    :func:`~bmp.results.intervals.verdict` holds the gap to."""

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

    @property
    def margin(self) -> float:
        """How far below zero the judged gap may fall: the F1 a speed target may lose (its gap is point minus
        reference), minus the lead a gap target asks for."""
        return self.threshold if self.min_speedup is not None else -self.threshold

    def seeds_short(self, seeds: int) -> bool:
        """Whether a setting measured on ``seeds`` seeds has too few for this target to be judged."""
        return seeds < self.min_seeds

    def describe(self) -> str:
        return self.text.format(threshold=self.threshold, margin=abs(self.threshold), min_speedup=self.min_speedup,
                                min_seeds=self.min_seeds)


TARGETS: tuple[Target, ...] = (
    Target("speed_2_5x", ">= {min_speedup:g}x at <= {threshold:.1f} F1 below the reference (>= {min_seeds} seeds)",
           threshold=1.0, min_speedup=2.5, min_seeds=3),
    Target("speed_4x", ">= {min_speedup:g}x at <= {threshold:g} F1 below the reference (>= {min_seeds} seeds)",
           threshold=3.0, min_speedup=4.0, min_seeds=3),
    # the rivals compared at a headline speed, two seeds each; the students, at their own speed, one
    Target("struct_vs_hybrid", "struct within {margin:g} F1 of the hybrid front at equal speed (>= {min_seeds} "
           "seeds)", threshold=-3.0, gap="struct_vs_hybrid", min_seeds=2),
    Target("vs_distil_recipe", ">= {threshold:+g} F1 over the layer-dropped students at equal speed",
           threshold=2.0, gap="vs_distil_recipe"),
    Target("vs_torch_pruning", ">= {threshold:g} F1 vs Torch-Pruning at equal speed (>= {min_seeds} seeds)",
           threshold=0.0, gap="vs_torch_pruning", min_seeds=2),
)
SPEED_TARGETS = tuple(t for t in TARGETS if t.min_speedup is not None)


@dataclass(frozen=True)
class TargetCheck:
    """A target's status on the records: the verdict of the one rule (met / missed / inconclusive), or "not
    measured". ``value`` is the F1 drop (speed targets) or the mean gap, ``gap`` its paired interval (None without
    per-question predictions), ``speed`` the chosen setting's speed range; ``note`` says which models it rests on
    and why the verdict is what it is."""

    target: Target
    status: str
    value: float | None
    note: str
    gap: Gap | None = None
    speed: SpeedInterval | None = None
    seeds: dict = field(default_factory=dict)
    timing_runs: int = 0
    run: str | None = None  # a speed target's chosen setting
    reference: str | None = None  # what a speed target's setting is held to: the model(s), their F1 and seeds
    short_of_seeds: str = ""  # which side has too few seeds to be judged ("it has 2 and its control has 1")
    so_far: str | None = None  # the verdict the rule gives on those too few seeds: not a verdict yet
    replaced: TargetCheck | None = None  # the plain run's own check, when an attempt replaced it

    def to_dict(self) -> dict:
        return {"key": self.target.key, "target": self.target.describe(), "threshold": self.target.threshold,
                "min_speedup": self.target.min_speedup, "status": self.status,
                "verdict": None if self.status == NOT_MEASURED else self.status, "value": self.value,
                "estimate": None if self.gap is None else self.gap.estimate,
                "ci95": None if self.gap is None else self.gap.ci95, "front_chosen_on": VALIDATION,
                "seeds": self.seeds, "timing_runs": self.timing_runs,
                "speed": None if self.speed is None else self.speed.to_dict(), "run": self.run,
                "reference": self.reference, "so_far": self.so_far,
                "replaced": None if self.replaced is None else {
                    "run": self.replaced.run, "status": self.replaced.status,
                    "ci95": None if self.replaced.gap is None else self.replaced.gap.ci95},
                "note": self.note}


def _gap_text(gap: Gap | None, margin: float, missing=()) -> str:
    """The F1 half of a note: the interval and the verdict it gives, or why there is none."""
    if gap is None:
        return NO_PREDICTIONS + (f" for {', '.join(missing)}" if missing else "")
    return (f"gap {gap.estimate:+.2f} F1, 95% CI [{gap.low:+.2f}, {gap.high:+.2f}] over {gap.questions:,} questions "
            f"({reason(gap.low, gap.high, -margin)}): {verdict(gap, margin)}")


def _speed_text(speed: SpeedInterval | None, min_speedup: float) -> str:
    if speed is None:
        return "no timing run gives its speed a range: inconclusive"
    low, high = speed.low, speed.high
    return (f"speed {speed.estimate:.2f}x, interval [{low:.2f}, {high:.2f}] ({reason(low, high, min_speedup)}x; "
            f"{speed.how}): {judge(low, high, min_speedup)}")


def _check_speed(target: Target, analysis: Analysis) -> TargetCheck:
    choice = analysis.best_at(target.min_speedup)
    if choice is None:
        return TargetCheck(target, NOT_MEASURED, None, f"no pruned model is {target.min_speedup:g}x faster yet",
                           timing_runs=analysis.timing_runs)
    return _judge(target, analysis, choice)


def _judge(target: Target, analysis: Analysis, choice: Choice) -> TargetCheck:
    """A speed target judged on ``choice``; when it replaced the plain run (an attempt that won on validation), the
    plain run is judged too and named beside it, so its verdict stays in sight while the winner gathers seeds."""
    s = choice.setting
    how = "chosen on validation F1" if choice.chosen_on == VALIDATION else \
        "chosen on held-out F1 (a candidate has no validation F1 recorded)"
    if s.speedup is not None and s.speedup < target.min_speedup:
        how += f", its speed's interval over the timing runs reaching {target.min_speedup:g}x"
    replaced = None
    if choice.instead_of is not None:
        replaced = _judge(target, analysis, Choice(choice.instead_of, choice.chosen_on, choice.min_speedup))
        how += (f", its recipe having won over {choice.instead_of.name}'s (it lands nearer its own reference on "
                f"validation; that plain run: {replaced.status})")
    where = f"{s.name}: {s.f1_text()} at {s.speedup:.2f}x, {how}"
    if s.f1_drop is None:
        return TargetCheck(target, NOT_MEASURED, None, f"{where}; the teacher of its runs is not recorded",
                           timing_runs=analysis.timing_runs, replaced=replaced)
    ref = analysis.reference_of(s)  # None when the setting's seeds came from different teachers
    kind, names = ("dense", ()) if ref is None else \
        ("control", ref.controls) if ref.source == "control" else (ref.teacher_kind, (ref.teacher,))
    seeds = {"point": list(s.seeds), "reference": [seed_of(analysis.records[(kind, n)]) for n in names]}
    flags = "; no control recorded, so against the teacher alone" if s.control_missing else ""
    held_to = None if ref is None else _reference_text(ref, names)
    where += f", {s.f1_drop:.1f} F1 below the reference" + ("" if held_to is None else f", {held_to}") + flags
    gap, missing = analysis.reference_gap(s)
    speed = analysis.speed_interval(s)
    found = dict(gap=gap, speed=speed, seeds=seeds, timing_runs=analysis.timing_runs if speed is None else speed.runs,
                 run=s.name, replaced=replaced, reference=held_to)
    sides = [("it", len(s.runs))] + ([("its control", len(names))] if kind == "control" else [])  # a teacher is one
    short = [f"{side} has {n}" for side, n in sides if target.seeds_short(n)]
    status = combine(verdict(gap, target.margin), INCONCLUSIVE if speed is None else
                     judge(speed.low, speed.high, target.min_speedup))
    note = f"{where}; {_gap_text(gap, target.margin, missing)}; {_speed_text(speed, target.min_speedup)}"
    if short:  # measured, and what the rule would say, but too few seeds for a verdict
        return TargetCheck(target, NOT_MEASURED, s.f1_drop, f"{note}; but needs >= {target.min_seeds} seeds, "
                           f"{' and '.join(short)}: not measured yet (so far: {status})",
                           short_of_seeds=" and ".join(short), so_far=status, **found)
    return TargetCheck(target, status, s.f1_drop, note, **found)


def _reference_text(ref, names) -> str:
    """The model(s) a speed target's setting is held to, their F1 and seeds: "the control control-course (66.5 F1, 2
    seeds)"."""
    if ref.source == "control":
        return f"the control {names[0]} ({ref.control_f1:.1f} F1, {len(names)} seed{'s' * (len(names) != 1)})"
    return f"the teacher {ref.teacher} ({ref.teacher_f1:.1f} F1)"


def _check_gap(target: Target, analysis: Analysis) -> TargetCheck:
    comparison = analysis.gap(target.gap)
    if comparison.mean is None:
        why = "no points to compare" if not comparison.points else "no point has a like-for-like rival as fast"
        return TargetCheck(target, NOT_MEASURED, None, f"{comparison.about}: {why}", timing_runs=analysis.timing_runs)
    measured = comparison.compared
    single = sum(p.point.single_seed for p in measured)
    note = (f"{comparison.about}: mean of {len(measured)} point(s)" + (f", {single} of them single-seed" if single
                                                                          else "")
            + f", against {', '.join(comparison.rivals_used)}; "
            + _gap_text(comparison.interval, target.margin, comparison.missing_predictions))
    seeds = {"points": {p.name: list(p.point.seeds) for p in measured},
             "rivals": {p.rival.name: list(p.rival.seeds) for p in measured}}
    found = dict(gap=comparison.interval, seeds=seeds, timing_runs=analysis.timing_runs)
    status = verdict(comparison.interval, target.margin)
    short = [p.name for p in measured if target.seeds_short(len(p.point.runs))]
    if short:  # what the rule would say, but on points with too few seeds for a verdict
        few = f"{len(short)} of {len(measured)} points have fewer"
        return TargetCheck(target, NOT_MEASURED, comparison.mean, f"{note}; but needs >= {target.min_seeds} seeds "
                           f"of each point, {few} ({', '.join(short)}): not measured yet (so far: {status})",
                           short_of_seeds=few, so_far=status, **found)
    return TargetCheck(target, status, comparison.mean, note, **found)


def comparison_summary(comparison: Comparison, target: Target | None) -> dict:
    """A comparison as plain JSON values, each point and the mean with their verdict against ``target``'s margin."""
    result = comparison.to_dict()
    if target is not None:
        result["verdict"] = None if comparison.mean is None else verdict(comparison.interval, target.margin)
        for row, point in zip(result["points"], comparison.points):
            row["verdict"] = None if point.gap is None else verdict(point.interval, target.margin)
    return result


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
        "control_epochs": ref.control_epochs,
        "reference_f1": ref.reference_f1,
        "reference_source": ref.source, "control_missing": ref.control_missing,
        "speed_source": analysis.speed.basis, "speed": analysis.speed.to_dict(),
        "timing_runs": analysis.timing_runs, "speed_note": analysis.describe_speed(),
        "pruned_settings": len(analysis.pruned),
        "front": [s.name for s in analysis.front],
    }
    for target in SPEED_TARGETS:
        choice = analysis.best_at(target.min_speedup)
        speed_range = None if choice is None else analysis.speed_interval(choice.setting)
        result[best_key(target.min_speedup)] = None if choice is None else {
            **choice.to_dict(), "speed_interval": None if speed_range is None else speed_range.to_dict()}
    by_gap = {t.gap: t for t in TARGETS if t.gap is not None}
    result.update({COMPARISON_KEYS[name]: comparison_summary(analysis.gap(name), by_gap.get(name))
                   for name in COMPARISONS})
    result.update({
        # the best >= 4x model's; another shipped model only stands in under "int8" (of_headline false)
        "int8_f1_drop": analysis.int8.f1_drop if analysis.int8 is not None and analysis.int8.of_headline else None,
        "int8": None if analysis.int8 is None else analysis.int8.to_dict(),
        "targets": [c.to_dict() for c in check_all(analysis)],
        # runs pruned to a size or a speed: asked, predicted, measured, and their gap to the λ-swept front
        "target_runs": [run.to_dict() for run in target_runs(analysis, records)],
        # a change of the headline recipe at its target, each held to its own reference (bmp.results.attempts)
        "attempts": [attempt.to_dict() for attempt in analysis.attempts],
        "left_out_other_splits": dict(analysis.left_out_other_splits),
    })
    return result


__all__ = ["COMPARISON_KEYS", "INCONCLUSIVE", "MET", "MISSED", "NOT_MEASURED", "SPEED_TARGETS", "TARGETS", "Target",
           "TargetCheck", "best_key", "check", "check_all", "comparison_summary", "summarize"]
