"""The recorded trade-off, compared honestly: every run against its own teacher's reference, seeds averaged,
settings chosen on validation, speeds from one timing run when there is one, gaps taken at equal speed.

    analysis = analyse(load_records())
    analysis.best_at(4.0)            # the setting chosen on validation F1 among those >= 4x, reported held-out
    analysis.vs_distil_recipe.mean   # the pruned front's lead over the layer-dropped students

:mod:`bmp.results.targets` checks the targets on it; ``python -m bmp summary`` and ``python -m bmp.bench pareto``
both read it, so the README and the bench can't disagree.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from bmp.results import tradeoff
from bmp.results.seeds import Choice, Setting, best_at, group_settings, setting_name
from bmp.results.speeds import SpeedSource, speed_source
from bmp.results.teachers import Reference, reference_for, reference_of_record

FINAL_KIND = "filled"  # struct and hybrid are compared as the models one ships: packed, then filled
DISTIL_KIND, TORCH_PRUNING_KIND = "distil-recipe", "torch-pruning"
SHIP_KIND = "deploy-accuracy"  # python -m bmp ship: a model's F1 in torch fp32, ONNX Runtime fp32 and int8
INT8_AT = 4.0  # the int8 cost is that of the best model at >= 4x


@dataclass(frozen=True)
class Int8Drop:
    """A shipped model's held-out F1 in each form, and what int8 onnxruntime loses (record kind ``deploy-accuracy``,
    made by ``python -m bmp ship``)."""

    record: str
    model: str | None
    torch_fp32_f1: float
    ort_int8_f1: float
    run: str | None = None  # the run record that made the model, when the ship record names it
    of_headline: bool = False  # the model is the best one at >= INT8_AT x (else the newest shipped model stands in)
    ort_fp32_f1: float | None = None

    @property
    def f1_drop(self) -> float:
        return self.torch_fp32_f1 - self.ort_int8_f1

    def to_dict(self) -> dict:
        return {"record": self.record, "model": self.model, "run": self.run, "of_headline": self.of_headline,
                "torch_fp32_f1": self.torch_fp32_f1, "ort_fp32_f1": self.ort_fp32_f1,
                "ort_int8_f1": self.ort_int8_f1, "f1_drop": self.f1_drop}


@dataclass(frozen=True)
class Analysis:
    """Everything the targets and the README say about the runs scored on ``split``.

    ``reference`` is that of the teacher most runs came from (each setting's own ``f1_drop`` uses its own runs'
    teachers); ``settings`` holds every run kind, seeds grouped, speeds from ``speed``."""

    split: str | None
    speed: SpeedSource
    reference: Reference
    settings: tuple[Setting, ...]
    struct_vs_hybrid: tradeoff.Gap
    vs_distil_recipe: tradeoff.Gap
    vs_torch_pruning: tradeoff.Gap
    int8: Int8Drop | None
    left_out_other_splits: tuple[tuple[str, int], ...] = ()

    def of_kinds(self, kinds) -> list[Setting]:
        return [s for s in self.settings if s.kind in kinds]

    @property
    def pruned(self) -> list[Setting]:
        return self.of_kinds(tradeoff.PRUNED_KINDS)

    @property
    def front(self) -> list[Setting]:
        """The pruned settings on the F1 / speed front (mean F1 over seeds), slowest first."""
        return tradeoff.front(self.pruned)

    def best_at(self, min_speedup: float) -> Choice | None:
        """The pruned setting chosen on validation F1 among those at least ``min_speedup`` times faster."""
        return best_at(self.pruned, min_speedup)

    def gap(self, name: str) -> tradeoff.Gap:
        if name not in ("struct_vs_hybrid", "vs_distil_recipe", "vs_torch_pruning"):
            raise ValueError(f"unknown comparison {name!r}: use struct_vs_hybrid, vs_distil_recipe or "
                             "vs_torch_pruning")
        return getattr(self, name)


def _main_reference(records, runs: list[tradeoff.Run], split: str | None) -> Reference:
    """The reference of the teacher most runs name (ties: the folder first in order); without runs, that of the
    newest dense record on ``split``."""
    counts = Counter(run.teacher for run in runs if run.teacher is not None)
    if counts:
        folder = min(counts, key=lambda t: (-counts[t], t))
        return reference_for(records, folder, split)
    dense = [r for r in records if r.get("kind") == "dense" and tradeoff.eval_split_of(r) == split
             and r.get("metrics", {}).get("f1") is not None]
    newest = max(dense, key=lambda r: r.get("provenance", {}).get("date", ""), default=None)
    return Reference(None, split) if newest is None else reference_of_record(records, newest)


def shipped(records) -> list[Int8Drop]:
    """Every ``deploy-accuracy`` record with its torch fp32 and int8 F1, oldest first."""
    found = sorted((r for r in records if r.get("kind") == SHIP_KIND
                    and r.get("metrics", {}).get("torch_fp32_f1") is not None
                    and r.get("metrics", {}).get("ort_int8_f1") is not None),
                   key=lambda r: r.get("provenance", {}).get("date", ""))
    return [Int8Drop(record=r["name"], model=r.get("config", {}).get("model") or r.get("config", {}).get("output_dir"),
                     torch_fp32_f1=float(r["metrics"]["torch_fp32_f1"]), ort_int8_f1=float(r["metrics"]["ort_int8_f1"]),
                     run=r.get("config", {}).get("run"), ort_fp32_f1=r["metrics"].get("ort_fp32_f1"))
            for r in found]


def int8_drop(records, setting: str | None = None) -> Int8Drop | None:
    """The newest shipped model of a run of ``setting`` (the best setting at >= 4x, shipped by ``python -m bmp ship
    --best 4``); else the newest shipped model, flagged as not the headline one; None without ship records."""
    found = shipped(records)
    of_setting = [s for s in found if setting is not None and s.run is not None and setting_name(s.run) == setting]
    if not found:
        return None
    return replace((of_setting or found)[-1], of_headline=bool(of_setting))


def analyse(records, split: str | None = None, speed: SpeedSource | None = None) -> Analysis:
    """The comparisons on ``split`` (default: the one most runs were scored on). ``speed`` (default
    :func:`~bmp.results.speeds.speed_source`): one timing run when it covers every compared run, else each
    record's own speedup."""
    split = tradeoff.pick_split(records, split)
    compared = [r["name"] for r in records if r.get("kind") in tradeoff.RUN_KINDS
                and tradeoff.eval_split_of(r) == split and r.get("metrics", {}).get("f1") is not None]
    speed = speed or speed_source(records, compared)
    runs = tradeoff.runs(records, split=split, speed=speed)
    references = {teacher: reference_for(records, teacher, split) for teacher in {run.teacher for run in runs}}
    settings = group_settings(runs, references)
    finals = [s for s in settings if s.kind == FINAL_KIND]
    pruned = [s for s in settings if s.kind in tradeoff.PRUNED_KINDS]
    headline = best_at(pruned, INT8_AT)
    other_splits = Counter(tradeoff.eval_split_of(r) for r in records
                           if r.get("kind") in tradeoff.RUN_KINDS and tradeoff.eval_split_of(r) != split)
    return Analysis(
        split=split, speed=speed, reference=_main_reference(records, runs, split), settings=tuple(settings),
        struct_vs_hybrid=tradeoff.gap_at_speed(
            [s for s in finals if s.preset == "struct"], [s for s in finals if s.preset == "hybrid"],
            about=f"struct minus the hybrid front ({FINAL_KIND})", point_minus_front=True),
        vs_distil_recipe=tradeoff.gap_at_speed(
            [s for s in settings if s.kind == DISTIL_KIND], pruned,
            about="pruned front (trained no longer) minus the layer-dropped students"),
        vs_torch_pruning=tradeoff.gap_at_speed(
            [s for s in settings if s.kind == TORCH_PRUNING_KIND], pruned,
            about="pruned front (trained no longer) minus the Torch-Pruning models"),
        int8=int8_drop(records, None if headline is None else headline.setting.name),
        left_out_other_splits=tuple(sorted((str(k), v) for k, v in other_splits.items())))


__all__ = ["FINAL_KIND", "SHIP_KIND", "Analysis", "Int8Drop", "analyse", "int8_drop", "shipped"]
