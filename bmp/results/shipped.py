"""The shipped models (``python -m bmp ship``): each one's F1 in torch fp32, ONNX Runtime fp32 and int8, what int8
costs with its paired interval over the questions, and which one the int8 target is judged on (that of the best model
at >= :data:`INT8_AT` x)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bmp.results.intervals import Gap, paired_gap, per_question_f1
from bmp.results.records import load_predictions
from bmp.results.seeds import setting_name

SHIP_KIND = "deploy-accuracy"  # python -m bmp ship: a model's F1 in torch fp32, ONNX Runtime fp32 and int8
INT8_AT = 4.0  # the int8 cost is that of the best model at >= 4x


@dataclass(frozen=True)
class Int8Drop:
    """A shipped model's held-out F1 in each form, and what int8 onnxruntime loses (record kind ``deploy-accuracy``,
    made by ``python -m bmp ship``). ``interval``: the paired gap int8 minus torch fp32 over the held-out questions
    (None for a record made before ship saved each form's answers: rerun ``python -m bmp ship``)."""

    record: str
    model: str | None
    torch_fp32_f1: float
    ort_int8_f1: float
    run: str | None = None  # the run record that made the model, when the ship record names it
    of_headline: bool = False  # the model is the best one at >= INT8_AT x (else the newest shipped model stands in)
    ort_fp32_f1: float | None = None
    interval: Gap | None = None
    split: str | None = None  # the held-out split it was scored on
    int8_scores: Mapping[str, float] | None = field(default=None, compare=False, repr=False)  # {question: F1}

    @property
    def f1_drop(self) -> float:
        return self.torch_fp32_f1 - self.ort_int8_f1

    @property
    def drop_ci95(self) -> list[float] | None:
        """The 95% interval of :attr:`f1_drop` (torch fp32 minus int8), or None without per-question answers."""
        return None if self.interval is None else [-self.interval.high, -self.interval.low]

    def to_dict(self) -> dict:
        return {"record": self.record, "model": self.model, "run": self.run, "of_headline": self.of_headline,
                "torch_fp32_f1": self.torch_fp32_f1, "ort_fp32_f1": self.ort_fp32_f1,
                "ort_int8_f1": self.ort_int8_f1, "f1_drop": self.f1_drop, "f1_drop_ci95": self.drop_ci95}


def _form_scores(record: dict) -> dict[str, dict[str, float]] | None:
    """``{form: {question id: F1 on 0-100}}`` of a ship record's torch fp32 and int8 answers on the held-out
    questions (None for a record made before ship saved them)."""
    forms = load_predictions(record)
    if forms is None or not {"torch_fp32", "ort_int8"} <= set(forms):
        return None
    return {form: per_question_f1(forms, form) for form in ("torch_fp32", "ort_int8")}


def _shipped(record: dict) -> Int8Drop:
    metrics, config = record["metrics"], record.get("config", {})
    forms = _form_scores(record)
    return Int8Drop(record=record["name"], model=config.get("model") or config.get("output_dir"),
                    torch_fp32_f1=float(metrics["torch_fp32_f1"]), ort_int8_f1=float(metrics["ort_int8_f1"]),
                    run=config.get("run"), ort_fp32_f1=metrics.get("ort_fp32_f1"), split=metrics.get("eval_split"),
                    interval=None if forms is None else paired_gap([forms["ort_int8"]], [forms["torch_fp32"]]),
                    int8_scores=None if forms is None else forms["ort_int8"])


def shipped(records) -> list[Int8Drop]:
    """Each shipped model (a run, or a folder no run record names) with its torch fp32 and int8 F1, oldest first:
    its newest ``deploy-accuracy`` record, so that shipping a model again (after ship began keeping each form's
    answers, say) replaces what its earlier record said."""
    newest = {}
    for r in sorted((r for r in records if r.get("kind") == SHIP_KIND
                     and r.get("metrics", {}).get("torch_fp32_f1") is not None
                     and r.get("metrics", {}).get("ort_int8_f1") is not None),
                    key=lambda r: r.get("provenance", {}).get("date", "")):
        config = r.get("config", {})
        model = config.get("run") or config.get("model") or r["name"]
        newest.pop(model, None)  # put back last, so the order stays oldest first
        newest[model] = r
    return [_shipped(r) for r in newest.values()]


def int8_drop(records, setting: str | None = None) -> Int8Drop | None:
    """The newest shipped model of a run of ``setting`` (the best setting at >= 4x, shipped by ``python -m bmp ship
    --best 4``); else the newest shipped model, flagged as not the headline one; None without ship records."""
    found = shipped(records)
    of_setting = [s for s in found if setting is not None and s.run is not None and setting_name(s.run) == setting]
    if not found:
        return None
    return replace((of_setting or found)[-1], of_headline=bool(of_setting))


__all__ = ["INT8_AT", "SHIP_KIND", "Int8Drop", "int8_drop", "shipped"]
