"""Which model to ship: read the recorded runs, keep the ones on the F1/speed front, pick one by a budget.

A *run* is a record of kind ``packed``, ``filled``, ``distil-recipe`` or ``torch-pruning`` (see
:mod:`bmp.results.records`) with its F1 on a held-out split, its speedup over the dense teacher and its fill rate.
Runs are only compared with runs scored on the same split, against the dense teacher scored on that split.

    choose(load_records(), max_f1_drop=1.0)   # the fastest front model within 1 F1 of its own reference
    choose(load_records(), min_speedup=3.0)   # the most accurate front model at least 3x faster

Only models on the F1/speedup front that run faster than their dense teacher are ever chosen: a model that another
recorded model beats on both axes, or one no faster than the teacher, is never the one to ship. The choice is made
on validation F1 whenever every candidate has one (the held-out F1 is the one reported, so it never picks).

A learner's own runs (recorded in :func:`~bmp.results.records.results_dir`, the ignored ``outputs/results``) join
the tracked ones with :func:`bmp.results.yours.with_learner_records`: they are marked (:func:`is_yours`), keep their
own timing, and never decide the split, the teacher or the speed source of the comparison.

Speedups come from one :class:`~bmp.results.speeds.SpeedSource` (``speed=``): each record's own ``cpu_speedup``
(the default of :func:`runs`), or the timing runs (``python -m bmp.bench timing --record``), each model's median over
the runs that time it, which :func:`choose` uses by default whenever the newest run times every compared run.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass, replace

import numpy as np

from bmp.results.intervals import judged_speeds
from bmp.results.pareto import pareto_front
from bmp.results.records import hardware_label, train_epochs_of
from bmp.results.seeds import HELD_OUT, TOLERANCE, VALIDATION, best_at, chosen_on, seed_of
from bmp.results.speeds import SpeedSource, speed_label
from bmp.results.teachers import folder_key, reference_for

RUN_KINDS = ("packed", "filled", "distil-recipe", "torch-pruning")
SPLIT_PREFERENCE = ("official", "dev-by-article", "sample")  # breaks ties between equally common splits
SPLIT_TITLES = {
    "official": "SQuAD v1.1 official dev set",
    "dev-by-article": "held-out articles of the SQuAD v1.1 dev file (split by article)",
    "sample": "held-out articles of the synthetic sample (not SQuAD)",
}
TEACHER_SPEED = 1.0  # a model must be strictly faster than its dense teacher to be worth shipping
YOURS = "_yours"  # key set on a learner's records by learner_records: drawn and named as "your run"


@dataclass(frozen=True)
class Run:
    name: str
    kind: str
    f1: float
    exact_match: float | None
    speedup: float | None
    fill_rate: float | None
    heads_per_layer: tuple[int, ...]
    neurons_per_layer: tuple[int, ...]
    eval_split: str | None
    speed_hardware: str  # where ``speedup`` was measured
    output_dir: str | None = None
    train_epochs: float | None = None  # training after the dense teacher: prune + fill, or the student's epochs
    scattered: bool = False  # most kept weights are zeros inside kept heads/neurons (unstructured): no speedup
    validation_f1: float | None = None  # on the validation articles: for choosing settings, never reported
    teacher: str | None = None  # the teacher's folder (repo-relative), as its dense record names it
    seed: int | None = None
    yours: bool = False  # a learner's own run (from the scratch results folder), not a tracked record

    def to_dict(self) -> dict:
        values = asdict(self)
        values.update(heads_per_layer=list(self.heads_per_layer), neurons_per_layer=list(self.neurons_per_layer))
        return values




# unstructured, drawn hollow: packing keeps at least this share of the linear weights (it found little to remove) ...
UNPACKED_ABOVE = 0.9
SCATTERED_BELOW = 0.9  # ... while the non-zero ones are under this share of the packed size: scattered zeros


def kept_fill_rate(metrics: dict) -> float | None:
    """The fill rate a run is plotted at: its non-zero linear parameters over the dense model's when recorded
    (kept parameters, as for published unstructured models), else its packed size's."""
    value = metrics.get("nonzero_fill_rate", metrics.get("fill_rate"))
    return None if value is None else float(value)


def is_scattered(metrics: dict) -> bool:
    """Whether a run's sparsity is unstructured: packing barely shrank it, yet many of its weights are zeros. A
    block-pruned model packed smaller also keeps zero blocks inside its surviving heads; that is not it."""
    nonzero, packed = metrics.get("nonzero_fill_rate"), metrics.get("fill_rate")
    return (nonzero is not None and bool(packed) and packed >= UNPACKED_ABOVE
            and nonzero < SCATTERED_BELOW * packed)


def split_title(split: str | None) -> str:
    return SPLIT_TITLES.get(split, f"split {split!r}")


def eval_split_of(record: dict) -> str | None:
    return record.get("metrics", {}).get("eval_split")


def pick_split(records, split: str | None = None, kinds=RUN_KINDS) -> str | None:
    """``split`` if given; else the split most of the runs were scored on (ties: official, dev-by-article, sample);
    without runs, the split of most dense teachers. A learner's records (:func:`is_yours`) decide only when there
    is nothing else."""
    if split is not None:
        return split
    tracked = [r for r in records if not is_yours(r)]
    records = tracked if any(r.get("kind") in (*kinds, "dense") for r in tracked) else records
    counts = Counter(eval_split_of(r) for r in records if r.get("kind") in kinds and eval_split_of(r))
    counts = counts or Counter(eval_split_of(r) for r in records if r.get("kind") == "dense" and eval_split_of(r))
    if not counts:
        return None
    rank = {name: i for i, name in enumerate(SPLIT_PREFERENCE)}
    return max(counts, key=lambda s: (counts[s], -rank.get(s, len(rank))))


def runs(records, *, kinds=RUN_KINDS, split: str | None = None, speed: SpeedSource | None = None) -> list[Run]:
    """The runs of ``kinds`` scored on ``split`` (default: :func:`pick_split`, warning when runs scored on other
    splits are left out), as :class:`Run` s, with their speedups from ``speed`` (default: each record's own)."""
    speed = speed or SpeedSource.per_record()
    asked = split
    split = pick_split(records, split, kinds)
    chosen, other_splits = [], Counter()
    for record in records:
        if record.get("kind") not in kinds:
            continue
        metrics = record.get("metrics", {})
        if eval_split_of(record) != split:
            other_splits[eval_split_of(record)] += 1
            continue
        if metrics.get("f1") is None:
            continue
        yours = is_yours(record)
        timed = SpeedSource.per_record(speed.speed_key) if yours else speed  # the learner's: timed when it was made
        speedup, teacher_dir = timed.speedup_of(record), record.get("config", {}).get("teacher")
        chosen.append(Run(
            name=record["name"], kind=record["kind"], f1=float(metrics["f1"]), exact_match=metrics.get("exact_match"),
            speedup=None if speedup is None else float(speedup), fill_rate=kept_fill_rate(metrics),
            scattered=is_scattered(metrics),
            heads_per_layer=tuple(metrics.get("heads_per_layer") or ()),
            neurons_per_layer=tuple(metrics.get("neurons_per_layer") or ()),
            eval_split=split, speed_hardware=timed.where_of(record) + (" (its own timing)" if yours else ""),
            output_dir=record.get("config", {}).get("output_dir"),
            train_epochs=train_epochs_of(record, records), validation_f1=metrics.get("validation_f1"),
            teacher=None if teacher_dir is None else folder_key(teacher_dir), seed=seed_of(record), yours=yours))
    if other_splits and asked is None:
        warnings.warn(f"left out {sum(other_splits.values())} run(s) scored on other splits "
                      f"({dict(other_splits)}): scores on different splits can't be compared; "
                      f"showing split {split!r} (pass split=... for another)", stacklevel=2)
    return chosen


def teacher(records, split: str | None, chosen_runs: list[Run] | None = None) -> dict | None:
    """The dense teacher record scored on ``split``: the one the runs were pruned from when their records name
    its folder, else the newest. A learner's teacher (:func:`is_yours`) only when no tracked one was scored there."""
    dense = [r for r in records if r.get("kind") == "dense" and eval_split_of(r) == split
             and r.get("metrics", {}).get("f1") is not None]
    dense = [r for r in dense if not is_yours(r)] or dense
    if not dense:
        return None
    used = {str(r.get("config", {}).get("teacher")) for r in records if r.get("kind") in RUN_KINDS
            and not is_yours(r)}
    named = [r for r in dense if str(r.get("config", {}).get("output_dir")) in used]
    pool = named or dense
    return max(pool, key=lambda r: r.get("provenance", {}).get("date", ""))


def teacher_f1(records, split: str | None) -> float | None:
    record = teacher(records, split)
    return None if record is None else float(record["metrics"]["f1"])


def front(chosen_runs: list[Run], x: str = "speedup") -> list[Run]:
    """The runs on the F1 front against ``x`` ("speedup": higher is better; "fill_rate": lower is better),
    sorted by ``x``. Runs without an ``x`` value are left out."""
    if x not in ("speedup", "fill_rate"):
        raise ValueError(f"x must be 'speedup' or 'fill_rate', got {x!r}")
    usable = [run for run in chosen_runs if getattr(run, x) is not None]
    if not usable:
        return []
    points = np.array([[run.f1, getattr(run, x)] for run in usable], dtype=float)
    mask = pareto_front(points, maximize=(True, x == "speedup"))
    return sorted((run for run, keep in zip(usable, mask) if keep), key=lambda run: getattr(run, x))


def faster(chosen_runs: list[Run]) -> list[Run]:
    """The runs faster than their dense teacher (speedup > 1): the only ones worth shipping."""
    return [run for run in chosen_runs if run.speedup is not None and run.speedup > TEACHER_SPEED + TOLERANCE]


def shippable(chosen_runs: list[Run], on: str | None = None) -> list[Run]:
    """The runs worth shipping: :func:`faster` than the dense teacher and on the front of F1 against speedup, with
    the F1 the choice is made on (``on``; by default :func:`~bmp.results.seeds.chosen_on` those runs). The chooser
    only ever picks among these."""
    fast = faster(chosen_runs)
    if (on or chosen_on(fast)) == HELD_OUT:
        return front(fast)
    keep = {run.name for run in front([replace(run, f1=run.validation_f1) for run in fast])}
    return sorted((run for run in fast if run.name in keep), key=lambda run: run.speedup)


def reference_f1_of(records, run: Run, split: str | None, on: str = HELD_OUT) -> float | None:
    """The F1 a run's drop is taken from: its own teacher's reference (max of that teacher and its control, see
    :mod:`bmp.results.teachers`); for a run whose record names no recorded teacher, the split's teacher. ``on``:
    the held-out F1 (reported), or the validation F1 (:data:`~bmp.results.seeds.VALIDATION`: where a budget is
    checked when a model is chosen)."""
    if run.teacher is not None:
        reference = reference_for(records, run.teacher, split)
        if reference.reference_f1 is not None:  # its own reference, even where it has no validation F1 (None)
            return reference.reference_f1 if on == HELD_OUT else reference.reference_validation_f1
    record = teacher(records, split)
    value = None if record is None else record["metrics"].get("f1" if on == HELD_OUT else "validation_f1")
    return None if value is None else float(value)


def drops(records, chosen_runs: list[Run], split: str | None) -> tuple[dict[str, float | None], str]:
    """The F1 each run gives up against its own reference (:func:`reference_f1_of`), where a budget is checked:
    on validation F1 when every run and its reference have one, else on held-out F1; and which of the two."""
    on = chosen_on(chosen_runs)
    if on == VALIDATION:
        given_up = {run.name: _drop(reference_f1_of(records, run, split, VALIDATION), run.validation_f1)
                    for run in chosen_runs}
        if None not in given_up.values():
            return given_up, on
    return {run.name: _drop(reference_f1_of(records, run, split), run.f1) for run in chosen_runs}, HELD_OUT


def _drop(reference: float | None, f1: float | None) -> float | None:
    return None if reference is None or f1 is None else reference - f1


def compared_speed(records, split: str | None, kinds=RUN_KINDS) -> SpeedSource:
    """The one speed source of a comparison on ``split``, as the targets' (:func:`~.intervals.judged_speeds`): each
    compared run's median over the timing runs that time it, when the newest run times them all, else each record's
    own timing. A learner's runs and timings (:func:`is_yours`) take no part: their runs keep their own timing
    (:func:`runs`)."""
    tracked = [r for r in records if not is_yours(r)]
    names = [r["name"] for r in tracked if r.get("kind") in kinds and eval_split_of(r) == split
             and r.get("metrics", {}).get("f1") is not None]
    return judged_speeds(tracked, names)[0]


def choose(records, max_f1_drop: float | None = None, min_speedup: float | None = None, *,
           split: str | None = None, kinds=RUN_KINDS, speed: SpeedSource | None = None) -> dict | None:
    """The fastest shippable run (:func:`shippable`: on the front, faster than the teacher) whose F1 is within
    ``max_f1_drop`` of *its own* reference (:func:`reference_f1_of`), or the most accurate shippable run with speedup
    >= ``min_speedup`` (give exactly one). ``None`` when none qualifies: no pruned model meets the budget
    (:func:`teacher_reference` says how far the teacher itself sits below the reference). Speeds come from
    ``speed``, by default :func:`compared_speed` (each model's median over the timing runs, when the newest times
    them all).

    Returns name, kind, f1, exact_match, speedup, fill_rate, heads_per_layer, neurons_per_layer, eval_split,
    speed_hardware, output_dir, teacher_f1 (the split's teacher), reference_f1 (the run's own reference), f1_drop
    (reference_f1 - F1) and chosen_on: the F1 the choice and the budget were checked on, validation when every
    candidate has it (:func:`drops`), so the reported held-out F1 (and f1_drop) never picks, and may miss the budget
    by the difference between the two splits. For the reported targets (seeds) see :mod:`bmp.results.analysis`.
    """
    if (max_f1_drop is None) == (min_speedup is None):
        raise ValueError("give exactly one of max_f1_drop (F1 points you accept to lose) and min_speedup")
    picked_split = pick_split(records, split, kinds)
    speed = speed or compared_speed(records, picked_split, kinds)
    chosen_runs = runs(records, kinds=kinds, split=split, speed=speed)
    references = {run.name: reference_f1_of(records, run, picked_split) for run in chosen_runs}
    if max_f1_drop is not None:
        if max_f1_drop < 0:
            raise ValueError(f"max_f1_drop must be >= 0 F1 points, got {max_f1_drop}")
        if not any(ref is not None for ref in references.values()) and teacher_f1(records, picked_split) is None:
            raise ValueError(f"no dense teacher record scored on split {picked_split!r}: record one "
                             f"(python -m bmp finetune) or choose by min_speedup instead")
        given_up, on = drops(records, faster(chosen_runs), picked_split)
        candidates = shippable(chosen_runs, on)
        within = [run for run in candidates if given_up[run.name] is not None
                  and given_up[run.name] <= max_f1_drop + TOLERANCE]
        pick = max(within, key=lambda run: (run.speedup, chosen_f1(run, on)), default=None)
    else:
        on = chosen_on(faster(chosen_runs))  # the front and the pick on the same split
        choice = best_at(shippable(chosen_runs, on), min_speedup, on=on)  # the one chooser of a model at a speed
        pick = None if choice is None else choice.setting
    if pick is None:
        return None
    reference = references[pick.name]
    return {**pick.to_dict(), "teacher_f1": teacher_f1(records, picked_split), "reference_f1": reference,
            "f1_drop": None if reference is None else reference - pick.f1, "chosen_on": on}


def chosen_f1(run: Run, on: str) -> float | None:
    """A run's F1 where a choice is made (``on``, from :func:`~bmp.results.seeds.chosen_on`)."""
    return run.validation_f1 if on == VALIDATION else run.f1


def teacher_reference(records, split: str | None):
    """The split's dense teacher (:func:`teacher`) and its reference (:func:`~bmp.results.teachers.reference_for`):
    what keeping the teacher costs when no pruned model meets a budget (``reference_f1 - teacher_f1``, > 0 when
    its control trained as long scored higher). ``None`` without a teacher scored on ``split``."""
    record = teacher(records, split)
    if record is None:
        return None
    return reference_for(records, record.get("config", {}).get("output_dir"), split)


def front_f1_at(front_runs: list[Run], speedup: float) -> float | None:
    """F1 of the front at ``speedup``, interpolated linearly between front models. Slower than the slowest front
    model, that model's F1 (it is faster and that good); faster than the fastest, ``None`` (no extrapolation)."""
    points = sorted((run.speedup, run.f1) for run in front_runs if run.speedup is not None)
    if not points or speedup > points[-1][0] + TOLERANCE:
        return None
    xs, ys = zip(*points)
    return float(np.interp(speedup, xs, ys))


# ---------------------------------------------------------------- the learner's own runs

def is_yours(item) -> bool:
    """Whether a record (or a :class:`Run`) is one of the learner's own (:func:`bmp.results.yours.learner_records`)."""
    return bool(item.yours if isinstance(item, Run) else item.get(YOURS))


def timing_speedups(record: dict, group: str = "speedups") -> tuple[dict[str, float], str]:
    """``({name: speedup}, hardware)`` from a ``timing`` record of ``python -m bmp.bench timing --record``;
    ``group`` "speedups" (runs vs the dense base) or "reference_speedups" (vs BERT-base)."""
    if record.get("kind") != "timing":
        raise ValueError(f"expected a record of kind 'timing', got {record.get('kind')!r}")
    metrics = record["metrics"]
    label = f"{metrics.get('hardware') or hardware_label(record['provenance']['hardware'])}, {metrics.get('dtype')}"
    return dict(metrics.get(group, {})), label


__all__ = ["RUN_KINDS", "YOURS", "Run", "choose", "chosen_f1", "compared_speed", "drops",
           "eval_split_of", "faster", "front", "front_f1_at", "is_scattered", "is_yours",
           "kept_fill_rate", "pick_split", "reference_f1_of", "runs", "shippable", "speed_label", "split_title",
           "teacher", "teacher_f1", "teacher_reference", "timing_speedups"]
