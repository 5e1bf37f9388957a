"""A target instead of a λ, on the learner's own run: ask for a speed (or a size), watch the budget pick heads and
neurons from the run's learned scores, then measure where it landed.

    landing = land(live_run, Target(speedup=2.5))     # live_run: bmp.course.remask.load_live_run(...)
    print(landing)                                    # asked, predicted by the latency model, measured

This is what a target run (``python -m bmp prune --target-speedup 2.5``) does at its last step, applied to scores a
λ run learned: no retraining, so F1 is what those scores give at that size, before any filling. The speed is timed
at the recorded CPU setting (batch x sequence of :data:`bmp.speed.timing.CPU_SETTING`), interleaved with the
teacher, so the measurement and the latency model's prediction are about the same thing.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

from bmp.course.remask import LiveRun
from bmp.packing.pack import ALIGN_FFN, pack
from bmp.packing.size import size_report
from bmp.pruning.budget import UnitBudget
from bmp.speed.latency import LatencyModel
from bmp.speed.timing import CPU_SETTING, synthetic_batch, time_interleaved
from bmp.training.evaluation import evaluate_qa
from bmp.training.target import Target, plan

LANDING_REPEATS = 3  # interleaved passes at the CPU setting: a few seconds each on the embedded model


@dataclass(frozen=True)
class Landing:
    """Where a target landed on a run's scores: what was asked, predicted and measured, and what it kept."""

    target: Target
    predicted_speedup: float | None  # by the latency model (speed targets)
    predicted_fill_rate: float
    measured_speedup: float  # median of interleaved passes, packed against the teacher, at the CPU setting
    fill_rate: float  # of the packed model, as finalize reports it
    heads_per_layer: tuple[int, ...]
    neurons_per_layer: tuple[int, ...]
    f1: float  # on the run's question subset, before any filling
    teacher_f1: float
    questions: int
    latency: LatencyModel | None  # reuse it for the next target: calibrating takes seconds to minutes

    def __str__(self) -> str:
        if self.target.speedup is not None:
            asked = (f"asked {self.target.speedup:g}x: the latency model predicted {self.predicted_speedup:.2f}x, "
                     f"measured {self.measured_speedup:.2f}x")
        else:
            asked = (f"asked a fill rate of {self.target.density:g}: predicted {self.predicted_fill_rate:.3f}, "
                     f"packed {self.fill_rate:.3f} ({self.measured_speedup:.2f}x measured)")
        return (f"{asked}; heads per layer {list(self.heads_per_layer)}, FFN neurons {list(self.neurons_per_layer)}; "
                f"F1 {self.f1:.1f} on {self.questions} questions before filling (teacher {self.teacher_f1:.1f})")


def land(run: LiveRun, target: Target, latency: LatencyModel | None = None) -> Landing:
    """Apply ``target``'s budget to a copy of ``run``'s masked model (its learned scores rank the units), pack it,
    time it against the teacher and score it on the run's subset. ``run`` itself is left as it was."""
    model = copy.deepcopy(run.model)
    target_plan = plan(target, model, latency=latency)
    shape = UnitBudget(model, target_plan.budget).apply(1.0)  # the last step of a target run: the budget exactly
    predicted = target_plan.predicted(shape, model.config)
    packed = pack(model, align_ffn=ALIGN_FFN)  # as finalize packs: the fill rate it reports
    size = size_report(packed, model.config)
    input_ids, attention_mask = synthetic_batch(run.teacher.config.vocab_size, CPU_SETTING.batch, CPU_SETTING.seq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a busy machine's spread shows in the numbers
        timings = time_interleaved({"packed": packed, "teacher": run.teacher}, input_ids, attention_mask,
                                   repeats=LANDING_REPEATS, warmup=1)
    f1 = float(evaluate_qa(packed, run.subset, run.tokenizer)["f1"])
    return Landing(target, predicted.get("predicted_speedup"), predicted["predicted_fill_rate"],
                   timings["teacher"].median_s / timings["packed"].median_s, size.fill_rate,
                   tuple(size.heads_per_layer), tuple(size.neurons_per_layer), f1, run.teacher_f1, run.questions,
                   target_plan.latency)


__all__ = ["LANDING_REPEATS", "Landing", "land"]
