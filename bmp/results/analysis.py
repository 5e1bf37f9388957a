"""The recorded trade-off, compared honestly: every run against its own teacher's reference (controls trained as
long), seeds averaged, every choice made on validation F1, speeds from the timing runs, gaps taken at equal speed
like for like, each with a paired interval over the held-out questions (:mod:`bmp.results.intervals`).

    analysis = analyse(load_records())
    analysis.best_at(4.0)            # the setting a >= 4x target is judged on (chosen on validation F1)
    analysis.vs_distil_recipe.mean   # the pruned settings' lead over the layer-dropped students
    analysis.vs_distil_recipe.interval   # its 95% interval (None until the runs have per-question predictions)

:mod:`bmp.results.targets` checks the targets on it; ``python -m bmp summary`` and ``python -m bmp.bench pareto``
both read it, so the README and the bench can't disagree.
"""
from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from bmp.results import intervals, tradeoff
from bmp.results.attempts import Attempt, attempts
from bmp.results.intervals import Gap, SpeedInterval
from bmp.results.records import FINAL_KIND, PRUNED_KINDS, teacher_record
from bmp.results.seeds import VALIDATION, Choice, Setting, at_most, best_at, group_settings, like_for_like
from bmp.results.shipped import INT8_AT, Int8Drop, int8_drop
from bmp.results.speeds import SpeedSource
from bmp.results.teachers import Reference, folder_key, reference_for, reference_of_record

DISTIL_KIND, TORCH_PRUNING_KIND = "distil-recipe", "torch-pruning"


@dataclass(frozen=True)
class ComparedPoint:
    """One point of a comparison and the rival it meets: the like-for-like rival setting
    (:func:`~bmp.results.seeds.like_for_like`) chosen on validation F1 among those at least as fast. ``gap`` is the
    signed difference of their mean held-out F1s; ``interval`` its paired interval (None while a run of either lacks
    per-question predictions: ``missing_predictions`` names them)."""

    point: Setting
    rivals: tuple[str, ...]  # the like-for-like rival settings, at any speed
    rival: Setting | None  # None: the point is faster than every rival (no extrapolation)
    gap: float | None
    interval: Gap | None = None
    missing_predictions: tuple[str, ...] = ()
    in_mean: bool = True  # False: reported on its own, never averaged with sound points (see compare_at_speed)

    @property
    def name(self) -> str:
        return self.point.name

    @property
    def front_f1(self) -> float | None:
        return None if self.rival is None else self.rival.f1

    def to_dict(self) -> dict:
        p, r = self.point, self.rival
        return {"name": p.name, "f1": p.f1, "f1_std": p.f1_std, "speedup": p.speedup, "train_epochs": p.train_epochs,
                "single_seed": p.single_seed, "seeds": {"point": list(p.seeds), "rival": [] if r is None else
                                                        list(r.seeds)},
                "rivals": list(self.rivals), "rivals_compared": len(self.rivals), "front_chosen_on": VALIDATION,
                "rival": None if r is None else r.name, "front_f1": self.front_f1,
                "rival_speedup": None if r is None else r.speedup,
                "rival_validation_f1": None if r is None else r.validation_f1, "gap": self.gap,
                "ci95": None if self.interval is None else self.interval.ci95,
                "questions": None if self.interval is None else self.interval.questions,
                "missing_predictions": list(self.missing_predictions), "in_mean": self.in_mean}


@dataclass(frozen=True)
class Comparison:
    """A comparison at equal speed: ``about`` says which side minus which; ``mean`` is over the points that met a
    rival (None when none did: not measured), ``interval`` the paired interval of that mean (None while a compared
    run lacks per-question predictions)."""

    about: str
    points: tuple[ComparedPoint, ...]
    interval: Gap | None = None
    missing_predictions: tuple[str, ...] = ()

    @property
    def compared(self) -> list[ComparedPoint]:
        """The points that met a rival and count towards the mean."""
        return [p for p in self.points if p.gap is not None and p.in_mean]

    @property
    def mean(self) -> float | None:
        gaps = [p.gap for p in self.compared]
        return float(np.mean(gaps)) if gaps else None

    @property
    def rivals_used(self) -> list[str]:
        return sorted({p.rival.name for p in self.compared})

    def to_dict(self) -> dict:
        return {"about": self.about, "mean": self.mean, "ci95": None if self.interval is None else self.interval.ci95,
                "front_chosen_on": VALIDATION, "rivals_used": self.rivals_used,
                "seeds": {"points": {p.name: list(p.point.seeds) for p in self.compared},
                          "rivals": {p.rival.name: list(p.rival.seeds) for p in self.compared}},
                "missing_predictions": list(self.missing_predictions),
                "points": [p.to_dict() for p in self.points]}


COMPARISONS = ("struct_vs_hybrid", "vs_distil_recipe", "vs_torch_pruning")


@dataclass(frozen=True)
class Analysis:
    """Everything the targets and the README say about the runs scored on ``split``.

    ``reference`` is that of the teacher most runs came from (each setting's own ``f1_drop`` uses its own runs'
    teacher and controls trained as long); ``settings`` holds every run kind, seeds grouped, speeds from ``speed``;
    ``speed_intervals`` each timed run's speed interval over the timing records behind ``speed`` that time it
    (``timing_runs``: the fewest behind any run's speed)."""

    split: str | None
    speed: SpeedSource
    reference: Reference
    settings: tuple[Setting, ...]
    struct_vs_hybrid: Comparison
    vs_distil_recipe: Comparison
    vs_torch_pruning: Comparison
    int8: Int8Drop | None
    left_out_other_splits: tuple[tuple[str, int], ...] = ()
    timing_runs: int = 0
    main_epochs: float | None = None  # how long most of the main teacher's filled runs trained after it
    speed_intervals: Mapping[str, SpeedInterval] = field(default_factory=dict, hash=False, repr=False)
    references: Mapping[tuple, Reference] = field(default_factory=dict, hash=False, repr=False)
    records: Mapping[tuple[str, str], dict] = field(default_factory=dict, hash=False, repr=False)  # (kind, name)
    attempts: tuple[Attempt, ...] = field(default=(), hash=False, repr=False)  # to close the gap, at each target

    def of_kinds(self, kinds) -> list[Setting]:
        return [s for s in self.settings if s.kind in kinds]

    @property
    def pruned(self) -> list[Setting]:
        return self.of_kinds(PRUNED_KINDS)

    @property
    def front(self) -> list[Setting]:
        """The pruned settings on the held-out F1 / speed front (mean F1 over seeds), slowest first: what the plots
        draw. No comparison picks from it: they choose on validation F1."""
        return tradeoff.front(self.pruned)

    @property
    def main_line(self) -> list[Setting]:
        """The pruned settings from the main reference's teacher, trained no longer than most of its filled runs: the
        headline is chosen from them, and an attempt from another teacher or length, held to its own reference, may
        then replace it (:meth:`best_at`)."""
        if not any(s.teacher == self.reference.teacher_dir for s in self.pruned):  # no run names its teacher
            return self.pruned
        return [s for s in self.pruned if s.teacher == self.reference.teacher_dir and (
            self.main_epochs is None or (s.train_epochs is not None and at_most(s.train_epochs, self.main_epochs)))]

    def best_at(self, min_speedup: float) -> Choice | None:
        """The setting a speed target is judged on: the main line's setting chosen on validation F1 among those that
        may be ``min_speedup`` times faster (:meth:`reach`), unless an attempt at that setting's target becomes the
        recipe (it lands nearer its own reference on validation: :mod:`~.attempts`) and may be as fast; then the one
        landing nearest. Whatever wins is the headline recipe, so its seeds are what a target needs."""
        choice = best_at(self.main_line, min_speedup, reach=self.reach)
        won = [] if choice is None else [
            a for a in self.attempts if a.plain == choice.setting and a.becomes_recipe
            and a.setting.speedup is not None and at_most(min_speedup, self.reach(a.setting))]
        if not won:
            return choice
        return Choice(max(won, key=lambda a: a.validation).setting, choice.chosen_on, min_speedup, choice.setting)

    def reach(self, setting: Setting) -> float | None:
        """The fastest a setting may be, for a speed target: the top of its speed's interval over several timing runs
        (else its speed: one run's range is that of its repeats). A setting whose interval straddles a target's line
        is judged there, and its speed is inconclusive."""
        return intervals.fastest(setting.speedup, self.speed_interval(setting))

    def gap(self, name: str) -> Comparison:
        if name not in COMPARISONS:
            raise ValueError(f"unknown comparison {name!r}: use {', '.join(COMPARISONS)}")
        return getattr(self, name)

    def scores(self, kind: str, names, split: str = "heldout") -> tuple[list[dict] | None, list[str]]:
        """Per-question F1 on ``split`` (the held-out questions, or ``"validation"``) of the runs ``names`` of
        ``kind`` (:func:`~bmp.results.intervals.scores_of`)."""
        return _scores(self.records, kind, names, split)

    def reference_scores(self, setting: Setting, split: str = "heldout") -> tuple[list[dict] | None, list[str]]:
        """Per-question F1 of the setting's reference: its control's seeds, or its teacher when that is stronger
        (None, with no names, when the reference is unknown)."""
        ref = self.reference_of(setting)
        if ref is None or ref.reference_f1 is None:
            return None, []
        kind, names = ("control", ref.controls) if ref.source == "control" else (ref.teacher_kind, (ref.teacher,))
        return self.scores(kind, names, split)

    def reference_of(self, setting: Setting) -> Reference | None:
        return self.references.get((setting.teacher, setting.train_epochs))

    def reference_gap(self, setting: Setting) -> tuple[Gap | None, list[str]]:
        """F1(setting) - F1(its reference), paired on the held-out questions and pooled over the setting's seeds and
        the control's (or, when the teacher is the reference, the teacher alone); and the runs lacking
        predictions."""
        against, missing_ref = self.reference_scores(setting)
        if against is None and not missing_ref:
            return None, []
        point, missing = self.scores(setting.kind, setting.runs)
        if point is None or against is None:
            return None, missing + missing_ref
        return intervals.paired_gap(point, against), []

    def speed_interval(self, setting: Setting) -> SpeedInterval | None:
        """The setting's speed over the timing runs, over its seeds' models (None without timing runs)."""
        return _speed_of(self.speed_intervals, setting)

    def describe_speed(self) -> str:
        if len(self.speed.runs) > 1:
            first, *_, last = self.speed.runs
            return (f"{self.speed.where} (timing records `{first}` to `{last}`), each speedup against the dense "
                    "base timed in the same run; each speed's interval is the runs' range, or, once there are enough "
                    "runs for one, the median's 95% order-statistic interval")
        if self.timing_runs == 1:
            return (f"{self.speed.describe()}; a single timing run, so each speed's range is that of its repeats "
                    "(the targets ask for >= 3 interleaved runs)")
        return f"{self.speed.describe()}; no timing run to give a speed its range, so no speed target can be met"


def _speed_of(speed_intervals: Mapping[str, SpeedInterval], setting: Setting) -> SpeedInterval | None:
    return intervals.seeds_interval([speed_intervals.get(run) for run in setting.runs])


def _scores(records: Mapping[tuple[str, str], dict], kind: str, names,
            split: str = "heldout") -> tuple[list[dict] | None, list[str]]:
    return intervals.scores_of([records[(kind, name)] for name in names], split)


def compare_at_speed(points, rivals, *, about: str, point_minus_rival: bool = False,
                     scores=None, in_mean=lambda point: True, speed_of=lambda setting: None) -> Comparison:
    """Meet each of ``points`` with the rival chosen on validation F1 (:func:`~bmp.results.seeds.best_at`, never on
    held-out F1) among the like-for-like ``rivals`` at least as fast as the point, as far as the timing runs tell
    (``speed_of(setting)``: its speed's interval; a rival whose interval reaches the bottom of the point's counts):
    a rival gains nothing by being measurably slower, and a point faster than every rival is not compared (no
    extrapolation).

    The gap is rival minus point, or point minus rival with ``point_minus_rival``. ``scores(setting)`` gives its
    runs' per-question F1 and the names lacking them (:meth:`Analysis.scores`); with both sides' scores the gap gets
    a paired interval, and the comparison's mean gets one when every compared point has it. A point for which
    ``in_mean`` is False is met and reported like the others, but left out of the mean."""
    rows, pairs, missing = [], [], []
    for point in points:
        if point.speedup is None:
            continue
        fair = [rival for rival in rivals if like_for_like(point, rival)]
        choice = best_at(fair, intervals.slowest(point.speedup, speed_of(point)), validation_only=True,
                         reach=lambda s: intervals.fastest(s.speedup, speed_of(s)))
        rival = None if choice is None else choice.setting
        gap = interval = None
        lacking: list[str] = []
        if rival is not None:
            gap = point.f1 - rival.f1 if point_minus_rival else rival.f1 - point.f1
            if scores is not None:
                (ours, ours_missing), (theirs, theirs_missing) = scores(point), scores(rival)
                lacking = ours_missing + theirs_missing
                if not lacking:
                    pair = (ours, theirs) if point_minus_rival else (theirs, ours)
                    interval = intervals.paired_gap(*pair)
            else:
                lacking = [*point.runs, *rival.runs]
        missing += lacking
        counted = in_mean(point)
        if interval is not None and counted:
            pairs.append(pair)
        rows.append(ComparedPoint(point, tuple(r.name for r in fair), rival, gap, interval, tuple(lacking), counted))
    whole = intervals.mean_gap(pairs) if pairs and len(pairs) == sum(r.gap is not None and r.in_mean
                                                                     for r in rows) else None
    return Comparison(about, tuple(rows), whole, tuple(sorted(set(missing))))


def departs_from_recipe(record: dict) -> bool:
    """Whether a layer-dropped student departs from the DistilBERT recipe as published: every other layer kept from
    the first (0, 2, 4, ...; ``--keep 2`` keeps 0 and 3 of 6), and the hidden states distilled with a cosine loss
    beside the logits (a record from before hidden-state distillation distilled logits only). Such a student is
    reported on its own, never averaged in; a record that names no layers is taken at its word on them."""
    layers = record.get("metrics", {}).get("layers_kept") or record.get("config", {}).get("layers")
    distillation = record.get("config", {}).get("distillation") or {}
    cosine = (distillation.get("hidden") or 0) > 0 and distillation.get("hidden_loss") == "cosine"
    return (bool(layers) and list(layers) != list(range(0, 2 * len(layers), 2))) or not cosine


def best_per_budget(peers: list[Setting], records: Mapping) -> list[Setting]:
    """Of the Torch-Pruning settings at each budget (the linear density they were asked for), the one with the best
    validation F1 (held-out F1 where none has it): the peer at its best; the others are reported as labelled rows."""
    budgets: dict[object, list[Setting]] = {}
    for peer in peers:
        config = records.get((TORCH_PRUNING_KIND, peer.runs[0]), {}).get("config", {})
        budgets.setdefault(config.get("target_density", peer.name), []).append(peer)
    return [max(group, key=lambda s: (s.validation_f1 if s.validation_f1 is not None else -1.0, s.f1))
            for group in budgets.values()]


def ffn_balance_of(record: dict, pruned_by_folder: Mapping[str, dict]) -> float | None:
    """FFN lambda over attention lambda of the pruning recipe behind a pruned, packed or filled record (a packed or
    filled record names its pruned model's folder), the steering's ratio for a run steered to a target; None for
    other kinds or when the recipe is not recorded."""
    config = record.get("config", {})
    if record.get("kind") in PRUNED_KINDS:
        config = pruned_by_folder.get(folder_key(config.get("pruned", "")), {}).get("config", {})
    elif record.get("kind") != "pruned":
        return None
    recipe = config.get("recipe") or {}
    if recipe.get("target") and recipe.get("target_method") == "steer":  # λ is steered, the balance held fixed
        ratio = (recipe.get("steering") or {}).get("ffn_ratio")
        return None if ratio is None else float(ratio)
    regularization = recipe.get("regularization") or {}
    attention, ffn = regularization.get("attention"), regularization.get("ffn")
    return None if not attention or ffn is None else float(ffn) / float(attention)


def _main_reference(records, runs: list[tradeoff.Run], split: str | None) -> tuple[Reference, float | None]:
    """The reference of the teacher most runs name (a fine-tuned teacher before a control distilled from one, whose
    runs are attempts with a stronger teacher; ties: the folder first in order), with its controls trained as long as
    most of its filled runs (of all its runs when none is filled), and that length; without runs, that of the newest
    dense record on ``split``."""
    counts = Counter(run.teacher for run in runs if run.teacher is not None)
    if counts:
        def is_control(folder) -> bool:
            return (teacher_record(records, folder, split) or {}).get("kind") == "control"

        folder = min(counts, key=lambda t: (is_control(t), -counts[t], t))
        own = [run for run in runs if run.teacher == folder]
        # how long its filled models trained (a packed model is a step on the way to its filled one)
        lengths = Counter(run.train_epochs for run in [r for r in own if r.kind == FINAL_KIND] or own)
        epochs = min(lengths, key=lambda e: (-lengths[e], e is None, e or 0.0))
        return reference_for(records, folder, split, epochs), epochs
    dense = [r for r in records if r.get("kind") == "dense" and tradeoff.eval_split_of(r) == split
             and r.get("metrics", {}).get("f1") is not None]
    newest = max(dense, key=lambda r: r.get("provenance", {}).get("date", ""), default=None)
    return (Reference(None, split) if newest is None else reference_of_record(records, newest)), None


def analyse(records, split: str | None = None, speed: SpeedSource | None = None) -> Analysis:
    """The comparisons on ``split`` (default: the one most runs were scored on). ``speed`` (default: each compared
    run's median over the timing runs that time it, the newest timing every one, see
    :func:`~bmp.results.intervals.judged_speeds`, else each record's own speedup)."""
    split = tradeoff.pick_split(records, split)
    compared = [r["name"] for r in records if r.get("kind") in tradeoff.RUN_KINDS
                and tradeoff.eval_split_of(r) == split and r.get("metrics", {}).get("f1") is not None]
    speed, timed = (speed, []) if speed is not None else intervals.judged_speeds(records, compared)
    runs = tradeoff.runs(records, split=split, speed=speed)
    references = {(run.teacher, run.train_epochs): reference_for(records, run.teacher, split, run.train_epochs)
                  for run in runs}
    pruned_by_folder = {folder_key(r["config"]["output_dir"]): r for r in records
                        if r.get("kind") == "pruned" and r.get("config", {}).get("output_dir")}
    on_split = {(r["kind"], r["name"]): r for r in records
                if r.get("kind") in (*tradeoff.RUN_KINDS, "control", "dense") and tradeoff.eval_split_of(r) == split}
    balances = {name: ffn_balance_of(r, pruned_by_folder) for (_, name), r in on_split.items()}
    settings = group_settings(runs, references, balances)
    finals = [s for s in settings if s.kind == FINAL_KIND]
    pruned = [s for s in settings if s.kind in PRUNED_KINDS]
    reference, main_epochs = _main_reference(records, runs, split)
    other_splits = Counter(tradeoff.eval_split_of(r) for r in records
                           if r.get("kind") in tradeoff.RUN_KINDS and tradeoff.eval_split_of(r) != split)

    def scores(setting: Setting):
        return _scores(on_split, setting.kind, setting.runs)

    timed_speeds = {name: i for name in compared if (i := intervals.speed_interval(timed, name)) is not None} \
        if timed else {}
    speed_of = functools.partial(_speed_of, timed_speeds)  # as Analysis.speed_interval

    like = "chosen on validation F1 among those at least as fast (as far as the timing runs tell), same teacher " \
        "and epochs"
    peers = [s for s in settings if s.kind == TORCH_PRUNING_KIND]
    peer_best = best_per_budget(peers, on_split)
    analysis = Analysis(
        split=split, speed=speed, reference=reference, settings=tuple(settings),
        struct_vs_hybrid=compare_at_speed(
            [s for s in finals if s.preset == "struct"], [s for s in finals if s.preset == "hybrid"],
            about=f"struct minus the hybrid setting {like} and FFN balance ({FINAL_KIND})", point_minus_rival=True,
            scores=scores, speed_of=speed_of),
        vs_distil_recipe=compare_at_speed(
            [s for s in settings if s.kind == DISTIL_KIND], pruned, scores=scores, speed_of=speed_of,
            in_mean=lambda s: not departs_from_recipe(on_split.get((DISTIL_KIND, s.runs[0]), {})),
            about=f"the pruned setting {like}, minus the layer-dropped student (the mean counts only students "
                  "of the DistilBERT recipe: every other layer kept, hidden states distilled with a cosine loss)"),
        vs_torch_pruning=compare_at_speed(
            peers, pruned, scores=scores, in_mean=lambda s: s in peer_best, speed_of=speed_of,
            about=f"the pruned setting {like}, minus the Torch-Pruning model (the mean counts, at each budget, "
                  "the variant its users would pick: the best on validation F1)"),
        int8=None, left_out_other_splits=tuple(sorted((str(k), v) for k, v in other_splits.items())),
        timing_runs=min((intervals.runs_timing(timed, name) for name in compared), default=0) if timed else 0,
        main_epochs=main_epochs,
        speed_intervals=timed_speeds, references=references, records=on_split)
    analysis = replace(analysis, attempts=tuple(attempts(analysis, records)))
    headline = analysis.best_at(INT8_AT)
    return replace(analysis, int8=int8_drop(records, None if headline is None else headline.setting.name))


__all__ = ["COMPARISONS", "FINAL_KIND", "Analysis", "ComparedPoint", "Comparison", "analyse", "compare_at_speed",
           "ffn_balance_of"]
