"""What a run is measured against: its own dense teacher, and that teacher's control.

A pruned model trains for prune + fill epochs after its teacher; the extra epochs alone can lift a model above a
teacher that stopped early. The ``control`` run (:mod:`bmp.training.control`) is the teacher distilled into itself
for as many epochs, so every F1 drop is taken from ``max(teacher F1, control F1)``: a pruned model then gets no
credit for training its teacher skipped. Only controls trained exactly as long as the run compared count (a longer
control would ask more of the run, a shorter one less). Without one the reference falls back to the teacher, flagged.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bmp.results.records import REPO_ROOT, repo_relative, teacher_record, train_epochs_of
from bmp.results.seeds import f1_text

CONVERGED_GAIN = 0.3  # validation F1 per extra epoch below which training longer no longer pays


@dataclass(frozen=True)
class Reference:
    """The teacher a run came from (``teacher_dir``) and its control, both scored on ``split``."""

    teacher_dir: str | None
    split: str | None
    teacher: str | None = None  # record names
    teacher_kind: str = "dense"  # of the teacher's record: a control is the teacher of runs distilled from it
    teacher_f1: float | None = None
    teacher_epochs: float | None = None
    teacher_converged: bool | None = None  # from the validation curves, when recorded (see :func:`convergence`)
    convergence_note: str = ""  # why it counts as converged, or not
    controls: tuple[str, ...] = ()
    control_f1: float | None = None  # mean over the control's seeds
    control_f1_std: float | None = None  # their sample std, with two seeds or more
    control_epochs: float | None = None  # how long the controls trained: as long as the runs they are compared with
    teacher_validation_f1: float | None = None  # on the validation articles: where choices are made
    control_validation_f1: float | None = None  # mean over the controls' seeds, when every one has it

    @property
    def reference_f1(self) -> float | None:
        scores = [f1 for f1 in (self.teacher_f1, self.control_f1) if f1 is not None]
        return max(scores) if scores else None

    @property
    def reference_validation_f1(self) -> float | None:
        """The reference on the validation articles (the max of the two, as :attr:`reference_f1`): a budget is
        checked there when a model is chosen. None when the teacher, or a control, has no validation F1."""
        pairs = [(self.teacher_f1, self.teacher_validation_f1), (self.control_f1, self.control_validation_f1)]
        if any(held_out is not None and validation is None for held_out, validation in pairs):
            return None
        scores = [validation for _, validation in pairs if validation is not None]
        return max(scores) if scores else None

    @property
    def control_missing(self) -> bool:
        return self.control_f1 is None

    @property
    def source(self) -> str | None:
        """"control" or "teacher": whose F1 the reference is."""
        if self.reference_f1 is None:
            return None
        return "control" if self.control_f1 is not None and self.control_f1 > (self.teacher_f1 or -np.inf) \
            else "teacher"

    def describe(self) -> str:
        if self.reference_f1 is None:
            return f"no dense teacher record for {self.teacher_dir} on split {self.split!r}"
        teacher = "no teacher record"
        if self.teacher_f1 is not None:
            teacher = f"teacher {self.teacher} {self.teacher_f1:.1f} F1" + (
                f" after {self.teacher_epochs:g} epoch(s)" if self.teacher_epochs is not None else "") + (
                f" ({'converged' if self.teacher_converged else 'not converged'}: {self.convergence_note})"
                if self.teacher_converged is not None else "")
        if self.control_missing:
            return f"{teacher}; no control recorded yet (python -m bmp control), so the reference is the teacher"
        control = f1_text(self.control_f1, self.control_f1_std, len(self.controls))
        trained = f" ({self.control_epochs:g} epochs)" if self.control_epochs is not None else ""
        return f"{teacher}; control {', '.join(self.controls)}{trained} {control}; the reference is the " \
               f"{self.source}'s {self.reference_f1:.1f}"

    def describe_short(self) -> str:
        """One clause for a table's caption: whose F1 the reference is, and what it is."""
        if self.reference_f1 is None:
            return "no reference yet"
        if self.source == "teacher":
            return f"the teacher's {self.reference_f1:.1f}"
        return f"the dense control's {f1_text(self.control_f1, self.control_f1_std, len(self.controls))}"

    def to_dict(self) -> dict:
        return {**asdict(self), "controls": list(self.controls), "reference_f1": self.reference_f1,
                "control_missing": self.control_missing, "reference_source": self.source}


def teacher_epochs_of(record: dict) -> float | None:
    """Epochs the dense teacher trained (``metrics.epochs``, else its config's or its profile's)."""
    metrics, config = record.get("metrics", {}), record.get("config", {})
    for value in (metrics.get("epochs"), config.get("epochs"), (config.get("profile") or {}).get("epochs")):
        if value is not None:
            return float(value)
    return None


def _schedules(records, dense: dict) -> list[dict]:
    """The dense records of the same profile, scored on the same split, with a validation curve."""
    metrics = dense.get("metrics", {})
    profile = (dense.get("config", {}).get("profile") or {}).get("name")
    return [r for r in records if r.get("kind") == "dense"
            and (r.get("config", {}).get("profile") or {}).get("name") == profile
            and r.get("metrics", {}).get("eval_split") == metrics.get("eval_split")
            and r.get("metrics", {}).get("validation_curve")]


def convergence(records, dense: dict) -> tuple[bool | None, str]:
    """Whether the teacher of ``dense`` (a dense record) has converged, and why. The rule, in one place:

    - when a longer schedule was tried (a dense record of the same profile and split, with more epochs and a
      validation curve), the teacher is converged when no epoch of any longer schedule beat its final validation F1
      by :data:`CONVERGED_GAIN` or more: training longer was tried and did not pay. Its own last
      epoch may still have been rising; the note says so;
    - the longest schedule tried is converged when its own last epoch gained less than ``CONVERGED_GAIN``
      (:func:`bmp.training.evaluation.converged`, recorded as ``metrics.converged``).

    None without validation curves."""
    metrics = dense.get("metrics", {})
    own, epochs = metrics.get("validation_f1"), teacher_epochs_of(dense)
    curve = metrics.get("validation_curve") or []
    rising = (f"its own last epoch still gained {curve[-1]['validation_f1'] - curve[-2]['validation_f1']:+.2f} "
              "validation F1, but ") if len(curve) > 1 and metrics.get("converged") is False else ""
    longer = [r for r in _schedules(records, dense) if r is not dense and (teacher_epochs_of(r) or 0) > (epochs or 0)]
    if own is not None and longer:
        best = max(longer, key=lambda r: max(p["validation_f1"] for p in r["metrics"]["validation_curve"]))
        peak = max(p["validation_f1"] for p in best["metrics"]["validation_curve"])
        if peak < own + CONVERGED_GAIN:
            return True, (f"{rising}the {teacher_epochs_of(best):g}-epoch schedule ({best['name']}) peaked at "
                          f"{peak:.1f} validation F1, no better than this teacher's {own:.1f}: training longer "
                          "did not pay")
        return False, (f"the {teacher_epochs_of(best):g}-epoch schedule ({best['name']}) reached {peak:.1f} "
                       f"validation F1, {peak - own:+.1f} over this teacher's {own:.1f}")
    if metrics.get("converged"):
        return True, f"its last epoch gained < {CONVERGED_GAIN} validation F1"
    if metrics.get("converged") is False:
        return False, "validation F1 still rising in its last epoch"
    return None, ""


def folder_key(folder) -> str:
    """A saved model's folder as records name it: repo-relative inside the repository, else absolute."""
    return repo_relative(REPO_ROOT / str(folder))


def controls_of(records, teacher_dir, split: str | None, epochs: float | None = None) -> list[dict]:
    """The ``control`` records of the teacher saved in ``teacher_dir`` (compared repo-relative), scored on
    ``split``, trained ``epochs`` epochs (any length when None): one per seed."""
    wanted = folder_key(teacher_dir)
    return [r for r in records if r.get("kind") == "control" and r.get("config", {}).get("teacher") is not None
            and folder_key(r["config"]["teacher"]) == wanted
            and r.get("metrics", {}).get("eval_split") == split and r.get("metrics", {}).get("f1") is not None
            and (epochs is None or _same_length(train_epochs_of(r), epochs))]


def _same_length(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-9


def reference_for(records, teacher_dir, split: str | None, epochs: float | None = None) -> Reference:
    """The teacher saved in ``teacher_dir`` and its control(s) trained ``epochs`` epochs, on ``split``; empty when
    ``teacher_dir`` is None. Controls of different lengths are never averaged: with ``epochs`` None (no run to match)
    the length with the most seeds counts (ties: the shorter), and :attr:`Reference.control_epochs` says which."""
    if teacher_dir is None:
        return Reference(None, split)
    dense = teacher_record(records, REPO_ROOT / str(teacher_dir), split)
    dense = dense if dense is not None and dense.get("metrics", {}).get("f1") is not None else None
    controls = controls_of(records, teacher_dir, split, epochs)
    lengths = [train_epochs_of(r) for r in controls]
    length = min(set(lengths), key=lambda e: (-lengths.count(e), e is None, e or 0.0)) if controls else None
    controls = [r for r, e in zip(controls, lengths) if e == length]
    control_f1s = [r["metrics"]["f1"] for r in controls]
    control_validation = [r["metrics"].get("validation_f1") for r in controls]
    converged, note = convergence(records, dense) if dense is not None else (None, "")
    metrics = (dense or {}).get("metrics", {})
    return Reference(
        teacher_dir=folder_key(teacher_dir), split=split, teacher=None if dense is None else dense.get("name"),
        teacher_kind="dense" if dense is None else dense.get("kind", "dense"),
        teacher_f1=None if dense is None else float(metrics["f1"]),
        teacher_epochs=None if dense is None else teacher_epochs_of(dense),
        teacher_converged=converged, convergence_note=note,
        controls=tuple(sorted(r["name"] for r in controls)),
        control_f1=float(np.mean(control_f1s)) if controls else None,
        control_f1_std=float(np.std(control_f1s, ddof=1)) if len(controls) > 1 else None,
        control_epochs=length, teacher_validation_f1=_float(metrics.get("validation_f1")),
        control_validation_f1=float(np.mean(control_validation)) if controls and None not in control_validation
        else None)


def _float(value) -> float | None:
    return None if value is None else float(value)


def reference_of_record(records, record: dict) -> Reference:
    """The reference of a standing dense record (a teacher no run names yet): that record and its controls."""
    folder = record.get("config", {}).get("output_dir")
    split = record.get("metrics", {}).get("eval_split")
    if folder is not None:
        return reference_for(records, folder, split)
    converged, note = convergence(records, record)
    return Reference(None, split, teacher=record.get("name"), teacher_f1=float(record["metrics"]["f1"]),
                     teacher_epochs=teacher_epochs_of(record), teacher_converged=converged, convergence_note=note,
                     teacher_validation_f1=_float(record["metrics"].get("validation_f1")))


__all__ = ["Reference", "controls_of", "convergence", "folder_key", "reference_for", "reference_of_record",
           "teacher_epochs_of"]
