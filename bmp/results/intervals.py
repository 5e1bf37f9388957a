"""How sure a comparison is: paired confidence intervals for F1 gaps, speed intervals from the timing runs, and the
one rule that turns an interval into a verdict (:func:`judge`).

Two models scored on the same questions differ by much less noise than two unpaired scores: most questions are
easy or hard for both. So a gap F1(A) - F1(B) is bootstrapped over the questions (``scipy.stats.bootstrap`` on the
per-question differences), and a model with several seeds contributes, question by question, its mean over its
seeds (pooled over seeds). The per-question scores come from the predictions saved beside each record
(:func:`bmp.results.records.load_predictions`); a record without them gets no interval, and its verdict is
"inconclusive" (:data:`NO_PREDICTIONS`).

A speed is judged on the timing runs (``python -m bmp.bench timing --record``, each one interleaved run of every
model it names): the median of the speedups of the runs that time the model, with the 95% interval of that median
from the order statistics once there are six runs or more, else the runs' range. With a single run, the range is
that run's repeats. A setting with several seeds has several models: its interval spans theirs, so it is that fast
only when every one is.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bmp.results.records import load_predictions
from bmp.results.speeds import TIMED, SpeedSource, newest_timing, speed_source

MET, MISSED, INCONCLUSIVE = "met", "missed", "inconclusive"
CONFIDENCE = 0.95
RESAMPLES = 9999
RANDOM_STATE = 0  # the bootstrap's seed: the same records always give the same interval
METHOD = "BCa"
BATCH = 1000  # resamples drawn at a time: bounds the memory to ~1000 x questions floats
NO_PREDICTIONS = "no per-question predictions recorded; rerun `python -m bmp rescore`"
DENSE_TIMING = "dense base"  # how bmp.bench.timing names the dense model every speedup is taken against


# ---------------------------------------------------------------- the verdict rule

def judge(low: float | None, high: float | None, floor: float) -> str:
    """The project's one verdict rule, for every target, comparison and speed: an interval ``[low, high]`` held to a
    ``floor`` is "met" when the whole interval lies at or above the floor, "missed" when the whole interval lies
    below it, and "inconclusive" otherwise, including when there is no interval to judge. A speed target holds two
    (the F1 gap and the speed): it is missed when either is (too inaccurate at any speed the interval allows, or
    too slow), met when both are, and inconclusive otherwise (``combine``).

    "Within 1 F1 below the reference" is a gap held to the floor -1; ">= 2.5x" is a speed held to the floor 2.5."""
    if low is None or high is None:
        return INCONCLUSIVE
    if low >= floor - 1e-9:
        return MET
    if high < floor - 1e-9:
        return MISSED
    return INCONCLUSIVE


def verdict(gap: Gap | None, margin: float) -> str:
    """:func:`judge` for a gap that may fall at most ``margin`` F1 below zero (its floor is ``-margin``: a margin of
    1.0 allows 1 F1 below, a margin of -2.0 asks for at least 2 F1 above)."""
    return judge(None if gap is None else gap.low, None if gap is None else gap.high, -margin)


def combine(*verdicts: str) -> str:
    """Several conditions that must all hold (an F1 margin and a speed): missed when one is missed, met when all
    are met, else inconclusive."""
    if MISSED in verdicts:
        return MISSED
    return MET if verdicts and all(v == MET for v in verdicts) else INCONCLUSIVE


def reason(low: float | None, high: float | None, floor: float) -> str:
    """Where an interval lies against its floor, in words: why :func:`judge` said what it said."""
    if low is None or high is None:
        return "no interval"
    where = {MET: "wholly at or above", MISSED: "wholly below", INCONCLUSIVE: "across"}[judge(low, high, floor)]
    return f"{where} {floor:+g}"


# ---------------------------------------------------------------- paired F1 gaps

def per_question_f1(predictions: Mapping | None, split: str = "heldout") -> dict[str, float] | None:
    """``{question id: F1 on 0-100}`` of a model's answers (a :class:`~bmp.results.records.Predictions`, or
    ``evaluate_qa(...)["predictions"]``) on ``split``, or None without them."""
    if predictions is None or split not in predictions:
        return None
    return {qid: 100.0 * f1 for qid, (_, _, f1) in predictions[split].items()}


def question_f1(record: dict, split: str = "heldout") -> dict[str, float] | None:
    """``{question id: F1 on 0-100}`` of a recorded model on ``split``, or None without saved predictions."""
    return per_question_f1(load_predictions(record), split)


@dataclass(frozen=True)
class Gap:
    """A paired gap F1(A) - F1(B) on ``questions`` shared questions, with its 95% interval ``[low, high]``.
    ``seeds_a`` / ``seeds_b``: how many seeds were pooled for each model compared on each side (one entry per
    compared pair; a mean over several points of a comparison has several)."""

    estimate: float
    low: float
    high: float
    seeds_a: tuple[int, ...]
    seeds_b: tuple[int, ...]
    questions: int

    @property
    def ci95(self) -> list[float]:
        return [self.low, self.high]

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "ci95": self.ci95, "seeds_a": list(self.seeds_a),
                "seeds_b": list(self.seeds_b), "questions": self.questions}


Scores = Sequence[Mapping[str, float]]  # one {question id: F1} per seed of a model


def _pooled(seeds: Scores, ids: list[str]) -> np.ndarray:
    """(questions,) mean over a model's seeds, question by question."""
    if not seeds:
        raise ValueError("a side of a comparison has no per-question scores: pass one mapping per seed")
    return np.mean([[scores[qid] for qid in ids] for scores in seeds], axis=0)


def bootstrap_interval(differences) -> tuple[float, float]:
    """95% interval of the mean of ``differences`` (one per question), resampling the questions."""
    differences = np.asarray(differences, dtype=float)
    if np.ptp(differences) == 0:  # every question moved alike (or one question): the mean can't vary
        return float(differences[0]), float(differences[0])
    return _interval(differences.tobytes())


@functools.lru_cache(maxsize=256)  # the README and the bench ask for the same gaps several times
def _interval(differences: bytes) -> tuple[float, float]:
    from scipy.stats import bootstrap

    result = bootstrap((np.frombuffer(differences),), np.mean, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                       method=METHOD, batch=BATCH, random_state=np.random.default_rng(RANDOM_STATE))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_gap(pairs: Sequence[tuple[Scores, Scores]]) -> Gap:
    """The mean over ``pairs`` of F1(A) - F1(B), bootstrapped over the questions every model shares: each question's
    difference is averaged over the pairs, each model's score over its seeds. One pair is :func:`paired_gap`."""
    if not pairs:
        raise ValueError("no pairs to compare")
    every = [scores for a, b in pairs for scores in (*a, *b)]
    ids = sorted(set.intersection(*(set(scores) for scores in every)))
    if not ids:
        raise ValueError("the compared models share no question: were they scored on the same split?")
    differences = np.mean([_pooled(a, ids) - _pooled(b, ids) for a, b in pairs], axis=0)
    low, high = bootstrap_interval(differences)
    return Gap(float(differences.mean()), low, high, tuple(len(a) for a, _ in pairs), tuple(len(b) for _, b in pairs),
               len(ids))


def difference_of_gaps(a: Scores, a_reference: Scores, b: Scores, b_reference: Scores) -> Gap:
    """(F1(A) - F1(A's reference)) - (F1(B) - F1(B's reference)) on the questions all four share, bootstrapped like
    any gap: how much nearer its own reference A lands than B does (each side pooled over its seeds)."""
    every = [*a, *a_reference, *b, *b_reference]
    ids = sorted(set.intersection(*(set(scores) for scores in every))) if every else []
    if not ids:
        raise ValueError("the compared models share no question: were they scored on the same split?")
    differences = ((_pooled(a, ids) - _pooled(a_reference, ids)) - (_pooled(b, ids) - _pooled(b_reference, ids)))
    low, high = bootstrap_interval(differences)
    return Gap(float(differences.mean()), low, high, (len(a),), (len(b),), len(ids))


def paired_gap(a: Scores, b: Scores) -> Gap:
    """F1(A) - F1(B) on the same questions, pooled over each model's seeds (``a`` and ``b``: one mapping per seed)."""
    return mean_gap([(a, b)])


def scores_of(records: Sequence[dict], split: str = "heldout") -> tuple[list[dict[str, float]] | None, list[str]]:
    """``(per-seed scores, names of the records lacking predictions)``: scores is None when any record lacks them."""
    scores = [question_f1(r, split) for r in records]
    missing = [r.get("name", "?") for r, s in zip(records, scores) if s is None]
    return (None if missing or not records else scores), missing


# ---------------------------------------------------------------- speed intervals from timing runs

@dataclass(frozen=True)
class SpeedInterval:
    """A model's speedup over the dense base: ``estimate`` (the median over ``runs`` timing runs), within
    ``[low, high]``; ``how`` says where the range comes from."""

    estimate: float
    low: float
    high: float
    runs: int
    how: str

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "interval": [self.low, self.high], "timing_runs": self.runs,
                "how": self.how}


def timing_runs(records, names) -> list[dict]:
    """The timing records at the targets' shape (:data:`~bmp.results.speeds.TIMED`) that time any run in ``names``,
    oldest first: each is one interleaved run, each speedup measured against the dense base timed in that same run,
    and a model's speed is judged on every run that times it (an older run, made before a newer model, still
    counts for the models it timed)."""
    names = set(names)
    found = [r for r in records if r.get("kind") == "timing"
             and all(r.get("metrics", {}).get(key) == value for key, value in TIMED.items())
             and names & set(r.get("metrics", {}).get("speedups") or {})]
    return sorted(found, key=lambda r: r.get("provenance", {}).get("date", ""))


def runs_timing(runs: list[dict], name: str) -> int:
    """How many of the timing ``runs`` time ``name``."""
    return sum(name in (r["metrics"].get("speedups") or {}) for r in runs)


def median_source(runs: list[dict]) -> SpeedSource:
    """One speed source from several timing runs: each model's median speedup over the runs that time it."""
    newest = SpeedSource.from_timing(runs[-1])
    names = set().union(*(set(r["metrics"]["speedups"]) for r in runs))
    medians = {name: float(np.median([r["metrics"]["speedups"][name] for r in runs
                                      if name in r["metrics"]["speedups"]])) for name in names}
    counts = {runs_timing(runs, name) for name in names}
    over = (f"median of {len(runs)} timing runs" if counts == {len(runs)} else
            f"each model's median over the {min(counts)} to {len(runs)} timing runs that time it")
    return SpeedSource(newest.kind, speedups=medians, where=f"{newest.where}, {over}",
                       timing_record=newest.timing_record, date=newest.date,
                       runs=tuple(r.get("name", "?") for r in runs))


def judged_speeds(records, compared: list[str]) -> tuple[SpeedSource, list[dict]]:
    """The speed source the comparisons use, and the timing runs behind it: each compared run's median over the
    timing runs that time it when there are several, else :func:`~bmp.results.speeds.speed_source` (the newest run,
    when it times them all). The newest timing run must time every compared run (so that every speed shares it);
    one that lacks a compared run sends every run back to its own timing."""
    newest = newest_timing(records)
    if not compared or newest is None or not set(compared) <= set(newest["metrics"].get("speedups") or {}):
        return speed_source(records, compared), []
    timed = timing_runs(records, compared)
    return (median_source(timed) if len(timed) > 1 else speed_source(records, compared)), timed


def _one_run_range(metrics: dict, name: str) -> tuple[float, float, str] | None:
    """The range of one run's speedup from its repeats: round by round when the times are recorded, else the
    extremes (the dense base's fastest over the model's slowest repeat, and the reverse)."""
    timings = metrics.get("timings") or {}
    dense, model = timings.get(DENSE_TIMING), timings.get(name)
    if not dense or not model:
        return None
    dense_times, model_times = dense.get("times_s"), model.get("times_s")
    if dense_times and model_times and len(dense_times) == len(model_times):
        ratios = np.asarray(dense_times) / np.asarray(model_times)
        return float(ratios.min()), float(ratios.max()), f"one timing run: the range over its {len(ratios)} rounds"
    if not all(t.get(key) for t in (dense, model) for key in ("min_s", "max_s")):
        return None
    return (dense["min_s"] / model["max_s"], dense["max_s"] / model["min_s"],
            f"one timing run: the extremes of its {model.get('repeats', '?')} repeats")


def _median_interval(speedups: Sequence[float]) -> tuple[float, float, str]:
    """Where the median speedup lies, and how that is known: its 95% distribution-free interval from the order
    statistics (``scipy.stats.quantile_test``) when there are enough runs for one (six at 95%), else the runs' whole
    range (three runs' range holds the median three times in four). Unlike the range, the interval narrows as runs
    accumulate."""
    from scipy.stats import quantile_test

    found = quantile_test(np.asarray(speedups, dtype=float), q=float(np.median(speedups)), p=0.5)
    interval = found.confidence_interval(CONFIDENCE)
    if np.isnan(interval.low) or np.isnan(interval.high):  # too few runs for an interval at this confidence
        return float(min(speedups)), float(max(speedups)), "their range"
    return float(interval.low), float(interval.high), f"its {CONFIDENCE:.0%} order-statistic interval"


def speed_interval(runs: list[dict], name: str) -> SpeedInterval | None:
    """``name``'s speedup over the timing ``runs`` that time it: the median with its interval
    (:func:`_median_interval`), or, with one run, that run's speedup with the range of its repeats; None when no run
    times it (or one run records no repeats)."""
    speedups = [r["metrics"]["speedups"][name] for r in runs if name in (r["metrics"].get("speedups") or {})]
    if not speedups:
        return None
    if len(speedups) > 1:
        low, high, how = _median_interval(speedups)
        return SpeedInterval(float(np.median(speedups)), low, high, len(speedups),
                             f"median of {len(speedups)} timing runs, with {how}")
    found = _one_run_range(runs[0]["metrics"], name)
    if found is None:
        return None
    low, high, how = found
    return SpeedInterval(float(speedups[0]), float(low), float(high), 1, how)


def fastest(speedup: float | None, interval: SpeedInterval | None) -> float | None:
    """The fastest a model (or setting) timed at ``speedup`` may be: the top of its speed's interval over several
    timing runs, else its speed (one run's range is that of its repeats, not of the runs)."""
    if interval is None or interval.runs < 2 or speedup is None:
        return speedup
    return max(speedup, interval.high)


def slowest(speedup: float | None, interval: SpeedInterval | None) -> float | None:
    """The slowest it may be: the bottom of that interval, else its speed (as :func:`fastest`)."""
    if interval is None or interval.runs < 2 or speedup is None:
        return speedup
    return min(speedup, interval.low)


def seeds_interval(intervals: Sequence[SpeedInterval | None]) -> SpeedInterval | None:
    """A setting's speed over its seeds' models (each a different model): the mean of their estimates, within the
    span of their intervals, from the lowest low to the highest high, so that the setting counts as that fast only
    when every seed's model is (None when a seed's model has no interval)."""
    if not intervals or any(i is None for i in intervals):
        return None
    if len(intervals) == 1:
        return intervals[0]
    runs = sorted({i.runs for i in intervals})
    over = f"{runs[0]}" if len(runs) == 1 else f"{runs[0]} to {runs[-1]}"
    return SpeedInterval(float(np.mean([i.estimate for i in intervals])), min(i.low for i in intervals),
                         max(i.high for i in intervals), runs[0],
                         f"the mean of {len(intervals)} seeds' models' speeds, over {over} timing runs each, within "
                         "the span of their intervals")


__all__ = ["CONFIDENCE", "INCONCLUSIVE", "MET", "MISSED", "NO_PREDICTIONS", "Gap", "SpeedInterval",
           "bootstrap_interval", "combine", "fastest", "judge", "judged_speeds", "mean_gap", "median_source",
           "paired_gap", "per_question_f1", "question_f1", "reason", "runs_timing", "scores_of", "seeds_interval",
           "slowest", "speed_interval", "timing_runs", "verdict"]
