"""Redraw a pruned run's masks at another threshold and measure what that buys: the pure part of the live widget.

A pruned run keeps its trained, unmasked weights and its scores (:func:`bmp.pruning.masked.save_masked`), so its
masks can be redrawn at any threshold without retraining. Two ways to draw them from the *same* learned scores:

- ``sigmoid_threshold``: keep what the scores put above the threshold. Each matrix keeps what its scores earned,
  so every layer ends up with its own density;
- ``topk``: keep a fixed share of every score tensor (each attention matrix's blocks, each layer's heads and
  neurons), whatever the scores say about the layer as a whole.

::

    run = load_live_run("runs/hybrid-lam30-course/final", "runs/teacher-course/final", data, tokenizer)
    remask_report(run, 0.2)                    # sigmoid threshold 0.2
    remask_report(run, 0.3, method="topk")     # keep 30% of every score tensor

Each report re-packs the model, times it against the dense teacher (the fastest of a few interleaved passes at
batch 4 x 128: a quick estimate, not the batch 8 x 384 median of ten the recorded speedups use) and scores F1 on a
small cached subset of held-out questions.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

from torch import nn

from bmp.models import load_saved, load_tokenizer
from bmp.packing.pack import pack
from bmp.packing.size import size_report
from bmp.pruning.anatomy import LINEAR_NAMES
from bmp.pruning.granularity import PruningConfig, check_threshold
from bmp.pruning.kept import kept_report
from bmp.pruning.masked import MaskedLinear, UnitScores, load_masked, set_threshold
from bmp.speed.timing import synthetic_batch, time_interleaved
from bmp.training.evaluation import QAData, evaluate_qa

METHODS = ("sigmoid_threshold", "topk")  # what the live widget switches between, on the same learned scores
TIMING_SHAPE = (4, 128)  # batch, sequence: small, so that a slider move is timed in about a second
TIMING_REPEATS, TIMING_WARMUP = 5, 2
SUBSET = 300  # held-out questions F1 is scored on


@dataclass(frozen=True)
class LiveRun:
    """A pruned run ready for re-masking: its masked model (trained weights and scores), its dense teacher, and a
    small held-out subset tokenized once (``subset``, a :class:`~bmp.training.evaluation.QAData` of its own)."""

    folder: Path
    model: nn.Module = field(repr=False)
    config: PruningConfig
    teacher: nn.Module = field(repr=False)
    tokenizer: object = field(repr=False)
    subset: QAData = field(repr=False)
    teacher_f1: float
    timing_shape: tuple[int, int] = TIMING_SHAPE

    @property
    def questions(self) -> int:
        return len(self.subset.splits.eval)


@dataclass(frozen=True)
class LiveReport:
    """What the masks drawn at ``value`` (by ``method``) keep, and what the packed model costs and scores."""

    method: str
    value: float
    linear_density: float  # kept / total weights of the six linears of every layer, under the masks
    matrix_density: tuple[tuple[float, ...], ...]  # per layer, per matrix in LINEAR_NAMES order
    heads_per_layer: tuple[int, ...]  # kept (alive by packing's rule)
    neurons_per_layer: tuple[int, ...]
    dense_heads: int
    dense_neurons: int
    packed_heads_per_layer: tuple[int, ...]  # the packed model's shapes: the same as the kept ones
    packed_neurons_per_layer: tuple[int, ...]
    params: int  # the packed model's parameters, all of them
    dense_params: int  # the teacher's
    linear_params: int  # the packed encoder's linear weights and biases
    fill_rate: float  # linear_params over the dense model's
    packed_ms: float  # fastest of the interleaved forward passes at timing_shape (few passes on a shared machine:
    teacher_ms: float  # the fastest is the least disturbed; the recorded speedups are medians of ten at 8 x 384)
    timing_shape: tuple[int, int]
    timing_unstable: bool  # slowest pass over 1.3x the fastest: a busy machine
    f1: float
    exact_match: float
    teacher_f1: float
    questions: int
    seconds: float  # this report's wall time

    @property
    def speedup(self) -> float:
        return self.teacher_ms / self.packed_ms

    @property
    def f1_drop(self) -> float:
        return self.teacher_f1 - self.f1

    def summary(self) -> str:
        how = "sigmoid threshold" if self.method == "sigmoid_threshold" else "TopK keep fraction"
        unstable = " (unstable: the machine is busy)" if self.timing_unstable else ""
        return (f"{how} {self.value:.2f}: linear density {self.linear_density:.1%}; heads {list(self.heads_per_layer)} "
                f"of {self.dense_heads}, FFN neurons {list(self.neurons_per_layer)} of {self.dense_neurons}; packed "
                f"{self.params / 1e6:.2f}M params, fill rate {self.fill_rate:.1%}; {self.speedup:.2f}x the teacher's "
                f"speed at batch {self.timing_shape[0]} x {self.timing_shape[1]} (quick estimate){unstable}; "
                f"F1 {self.f1:.1f} vs the teacher's {self.teacher_f1:.1f} on {self.questions} held-out questions")


def eval_subset(data, tokenizer, questions: int = SUBSET, *, profile=None) -> QAData:
    """The first ``questions`` held-out questions with their windows, as a small :class:`QAData` of their own.

    ``data``: a :class:`QAData` (its windows are reused: nothing is tokenized again), a
    :class:`~bmp.squad.SquadSplits` or a list of example dicts (tokenized here at ``profile``'s lengths), or
    None (the held-out split of ``profile``, default :func:`bmp.profiles.get_profile`)."""
    if questions < 1:
        raise ValueError(f"questions={questions}: score F1 on at least one held-out question")
    if isinstance(data, QAData):
        examples = data.splits.eval[:questions]
        ids = {example["id"] for example in examples}
        keep = [i for i, example_id in enumerate(data.eval_features["example_id"]) if example_id in ids]
        return QAData(replace(data.splits, eval=examples, validation=[]), data.train_features,
                      data.eval_features.select(keep), data.max_seq_length)
    from bmp.profiles import get_profile
    from bmp.squad import SquadSplits, splits_for_profile, tokenize_eval

    profile = profile or get_profile()
    if data is None:
        data = splits_for_profile(profile)
    if isinstance(data, SquadSplits):
        splits = replace(data, train=[], validation=[], eval=data.eval[:questions])
    elif isinstance(data, list):
        splits = SquadSplits(train=[], eval=data[:questions], split_name="given", description="given questions",
                             source="given")
    else:
        raise TypeError(f"data must be a QAData, a SquadSplits, a list of example dicts or None, got "
                        f"{type(data).__name__}")
    features = tokenize_eval(splits.eval, tokenizer, profile.max_seq_length, profile.doc_stride)
    return QAData(splits, features, features, profile.max_seq_length)


def load_live_run(run_folder, teacher_folder, data=None, tokenizer=None, *, subset: int = SUBSET,
                  timing_shape: tuple[int, int] = TIMING_SHAPE) -> LiveRun:
    """Load a pruned run's trained weights and scores (``run_folder``, the run's ``final`` folder), its dense
    teacher, and ``subset`` held-out questions of ``data`` (see :func:`eval_subset`), and score the teacher on
    them once. The masks start at the threshold the run was trained to."""
    run_folder = Path(run_folder)
    tokenizer = tokenizer or load_tokenizer(run_folder if (run_folder / "tokenizer.json").is_file() else None)
    try:
        model, config = load_masked(load_saved(run_folder), run_folder)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"live pruning needs a pruned run's trained weights and scores: {err}") from err
    if not config.learns_scores:
        raise ValueError(f"the run in {run_folder} was pruned by {config.method!r}, which learns no scores to "
                         "redraw masks from: pick a run pruned with sigmoid_threshold or topk")
    set_threshold(model, config.final_threshold)
    teacher = load_saved(teacher_folder)
    small = eval_subset(data, tokenizer, subset)
    teacher_f1 = float(evaluate_qa(teacher, small, tokenizer)["f1"])
    return LiveRun(run_folder, model.eval(), config, teacher, tokenizer, small, teacher_f1, tuple(timing_shape))


def set_method(model: nn.Module, method: str) -> None:
    """Draw every mask of ``model`` by ``method`` from here on, on the same scores (one of :data:`METHODS`)."""
    if method not in METHODS:
        raise ValueError(f"method {method!r}: the live widget draws masks by one of {METHODS}")
    for module in model.modules():
        if isinstance(module, (MaskedLinear, UnitScores)):
            module.method = method


def _time(packed: nn.Module, teacher: nn.Module, shape: tuple[int, int]):
    input_ids, attention_mask = synthetic_batch(teacher.config.vocab_size, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unstable timings are flagged in the report instead
        return time_interleaved({"packed": packed, "teacher": teacher}, input_ids, attention_mask,
                                repeats=TIMING_REPEATS, warmup=TIMING_WARMUP)


def remask_report(run: LiveRun, value: float, method: str | None = None) -> LiveReport:
    """Draw ``run``'s masks at ``value`` by ``method`` (default: the run's own when it is one of :data:`METHODS`,
    else sigmoid_threshold), pack, time against the teacher and score F1 on the subset. The masks stay drawn."""
    start = time.perf_counter()
    method = method or (run.config.method if run.config.method in METHODS else METHODS[0])
    check_threshold(method, float(value), "value")
    set_method(run.model, method)
    set_threshold(run.model, float(value))
    kept = kept_report(run.model)
    packed = pack(run.model)
    size = size_report(packed, run.model.config)
    timings = _time(packed, run.teacher, run.timing_shape)
    scores = evaluate_qa(packed, run.subset, run.tokenizer)
    density = kept.matrices.pivot(index="layer", columns="matrix", values="density")[list(LINEAR_NAMES)]
    return LiveReport(
        method=method, value=float(value), linear_density=kept.linear_density,
        matrix_density=tuple(tuple(float(v) for v in row) for row in density.to_numpy()),
        heads_per_layer=tuple(kept.heads), neurons_per_layer=tuple(kept.neurons),
        dense_heads=int(kept.layers["heads_total"].max()), dense_neurons=int(kept.layers["neurons_total"].max()),
        packed_heads_per_layer=size.heads_per_layer, packed_neurons_per_layer=size.neurons_per_layer,
        params=size.total_params, dense_params=sum(p.numel() for p in run.teacher.parameters()),
        linear_params=size.linear_params, fill_rate=size.fill_rate,
        packed_ms=timings["packed"].min_s * 1e3, teacher_ms=timings["teacher"].min_s * 1e3,
        timing_shape=run.timing_shape, timing_unstable=any(t.unstable for t in timings.values()),
        f1=float(scores["f1"]), exact_match=float(scores["exact_match"]), teacher_f1=run.teacher_f1,
        questions=run.questions, seconds=time.perf_counter() - start)


__all__ = ["METHODS", "LiveReport", "LiveRun", "eval_subset", "load_live_run", "remask_report", "set_method"]
