"""Runs of one setting with different seeds, grouped, and the choice among settings made on validation F1.

A single run's F1 moves by about a point with the seed alone, so one run can't show a one-point target met. Runs
of the same setting share a name up to a ``-s<seed>`` part (``hybrid-lam60-course-s43-filled`` is seed 43 of
``hybrid-lam60-course-filled``, seed 42): they are reported as mean ± std of held-out F1, with their seeds.

Settings are chosen on the validation articles and only then reported on the held-out ones: choosing the best
held-out score and reporting that same score flatters it by the noise the choice picked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bmp.profiles import SEED
from bmp.pruning.granularity import PRESETS
from bmp.results.run_id import seed_in, without_seed

if TYPE_CHECKING:  # typing only: tradeoff imports this module
    from bmp.results.teachers import Reference
    from bmp.results.tradeoff import Run

TOLERANCE = 1e-9  # float comparisons of speeds and budgets: exactly at the line counts as on it
VALIDATION, HELD_OUT = "validation", "held-out"


def setting_name(name: str) -> str:
    """``name`` without its ``-s<seed>`` part: the name every seed of the setting shares (the rule lives in
    :mod:`bmp.results.run_id`)."""
    return without_seed(name)


def seed_of(record: dict) -> int | None:
    """The record's seed: ``provenance.seed``, else its name's ``-s<seed>`` part, else the default seed (names
    carry no part for it). A name and a provenance that disagree are a mistake in the records."""
    named = seed_in(record.get("name", ""))
    recorded = record.get("provenance", {}).get("seed")
    if recorded is not None and named is not None and int(recorded) != named:
        raise ValueError(f"record {record.get('name')!r} is named for seed {named} but its provenance.seed is "
                         f"{recorded}: rename the record or fix its provenance.seed")
    if recorded is not None:
        return int(recorded)
    return SEED if named is None else named


def preset_of(name: str) -> str | None:
    """The pruning preset a run name starts from (``nb04-hybrid-lam10-course`` -> hybrid), or None."""
    return next((part for part in name.split("-") if part in PRESETS), None)


@dataclass(frozen=True)
class Setting:
    """One setting's runs over seeds. ``f1`` (held-out) and ``validation_f1`` are means, ``f1_std`` the sample
    standard deviation (None with a single seed); ``f1_drop`` is the mean of each run's reference F1 minus its F1
    (None when a run's teacher is not recorded)."""

    name: str
    kind: str
    runs: tuple[str, ...]
    seeds: tuple[int | None, ...]
    f1: float
    f1_std: float | None
    speedup: float | None
    validation_f1: float | None
    f1_drop: float | None
    reference_f1: float | None
    control_missing: bool
    train_epochs: float | None
    fill_rate: float | None
    preset: str | None
    teacher: str | None = None  # the teacher folder its runs share (None when they name none, or differ)
    ffn_balance: float | None = None  # FFN lambda over attention lambda of its pruning recipe (None: not pruned)

    @property
    def single_seed(self) -> bool:
        return len(self.runs) < 2

    def f1_text(self) -> str:
        return f1_text(self.f1, self.f1_std, len(self.runs))

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "runs": list(self.runs), "seeds": list(self.seeds),
                "f1": self.f1, "f1_std": self.f1_std, "single_seed": self.single_seed, "speedup": self.speedup,
                "validation_f1": self.validation_f1, "f1_drop": self.f1_drop, "reference_f1": self.reference_f1,
                "control_missing": self.control_missing, "train_epochs": self.train_epochs,
                "fill_rate": self.fill_rate, "preset": self.preset, "teacher": self.teacher,
                "ffn_balance": self.ffn_balance}


def same(x: float | None, y: float | None) -> bool:
    """Whether two recorded quantities (epochs, an FFN balance) are the same: both known and equal within
    :data:`TOLERANCE`."""
    return x is not None and y is not None and abs(x - y) <= TOLERANCE


def at_most(x: float, y: float) -> bool:
    """``x <= y`` within :data:`TOLERANCE`."""
    return x <= y + TOLERANCE


def like_for_like(a: Setting, b: Setting) -> bool:
    """Whether two settings may be compared: the same teacher, the same epochs of training after it, and the same
    FFN balance when both were pruned with a recipe (a student or a Torch-Pruning model has none). The one rule every
    comparison at equal speed uses."""
    return (a.teacher is not None and a.teacher == b.teacher and same(a.train_epochs, b.train_epochs)
            and (a.ffn_balance is None or b.ffn_balance is None or same(a.ffn_balance, b.ffn_balance)))


def f1_text(f1: float, std: float | None, seeds: int) -> str:
    """``61.2 ± 0.4 F1 over 3 seeds``, or ``61.2 F1 (single seed)``: a single seed is always marked. A spread under
    0.05 keeps two decimals (``± 0.03``): seeds that agree that closely are still different models."""
    if seeds < 2 or std is None:
        return f"{f1:.1f} F1 (single seed)"
    return f"{f1:.1f} ± {std:.{2 if std < 0.05 else 1}f} F1 over {seeds} seeds"


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def group_settings(runs: list[Run], references: dict[tuple, Reference],
                   balances: dict[str, float | None] | None = None) -> list[Setting]:
    """Group ``runs`` (one split) by setting name and kind; ``references`` maps each run's ``(teacher folder,
    train_epochs)`` to its :class:`~bmp.results.teachers.Reference` (controls trained as long as the run), and
    ``balances`` each run name to its FFN balance. Two runs of a setting with the same seed are an error."""
    balances = balances or {}
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((setting_name(run.name), run.kind), []).append(run)
    settings = []
    for (name, kind), members in groups.items():
        members.sort(key=lambda run: (run.seed is None, run.seed or 0, run.name))
        seeds = [run.seed for run in members]
        repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1}, key=str)
        if repeated:
            raise ValueError(f"setting {name!r} ({kind}) has several runs with seed {repeated[0]} "
                             f"({', '.join(r.name for r in members if r.seed == repeated[0])}): delete the extra "
                             "record or name each seed's run with its -s<seed> part")
        refs = [references.get((run.teacher, run.train_epochs)) for run in members]
        teachers = {run.teacher for run in members}
        balance = {balances.get(run.name) for run in members}
        ref_f1 = [None if ref is None else ref.reference_f1 for ref in refs]
        f1s = [run.f1 for run in members]
        validation = [run.validation_f1 for run in members]
        epochs = [run.train_epochs for run in members]
        settings.append(Setting(
            name=name, kind=kind, runs=tuple(run.name for run in members), seeds=tuple(seeds),
            f1=float(np.mean(f1s)), f1_std=float(np.std(f1s, ddof=1)) if len(f1s) > 1 else None,
            speedup=_mean(run.speedup for run in members),
            validation_f1=None if None in validation else float(np.mean(validation)),
            f1_drop=None if None in ref_f1 else float(np.mean([r - f for r, f in zip(ref_f1, f1s)])),
            reference_f1=None if None in ref_f1 else float(np.mean(ref_f1)),
            control_missing=any(ref is None or ref.control_missing for ref in refs),
            train_epochs=None if None in epochs else max(epochs),
            fill_rate=_mean(run.fill_rate for run in members), preset=preset_of(name),
            teacher=teachers.pop() if len(teachers) == 1 else None,
            ffn_balance=balance.pop() if len(balance) == 1 else None))
    return sorted(settings, key=lambda s: (s.speedup is None, s.speedup or 0.0, s.name))


@dataclass(frozen=True)
class Choice:
    """The setting picked at a speed, and on which F1 it was picked (``held-out`` only when some candidate's
    records predate validation scores: a fallback the report flags); ``instead_of``: the plain run an attempt to
    close the gap replaced, having landed nearer its reference on validation (:meth:`.analysis.Analysis.best_at`)."""

    setting: Setting
    chosen_on: str
    min_speedup: float
    instead_of: Setting | None = None  # the plain run it replaces, when a changed recipe won on validation

    def to_dict(self) -> dict:
        s = self.setting
        return {"run": s.name, "f1": s.f1, "f1_std": s.f1_std, "seeds": list(s.seeds), "speedup": s.speedup,
                "validation_f1": s.validation_f1, "f1_drop": s.f1_drop, "single_seed": s.single_seed,
                "chosen_on": self.chosen_on, "control_missing": s.control_missing,
                "instead_of": None if self.instead_of is None else self.instead_of.name}


def chosen_on(candidates) -> str:
    """Where a choice among ``candidates`` (anything with ``validation_f1``) is made: on validation F1 when every one
    has it (the held-out F1 is the one reported, so it never picks), else on held-out F1."""
    return VALIDATION if all(c.validation_f1 is not None for c in candidates) else HELD_OUT


def best_at(settings: list[Setting], min_speedup: float, *, validation_only: bool = False,
            reach=None, on: str | None = None) -> Choice | None:
    """The setting (or run: anything with ``speedup``, ``validation_f1`` and ``f1``) with the best mean validation
    F1 among those at least ``min_speedup`` times faster (ties: the faster); on held-out F1 instead when a candidate
    has no validation F1, unless ``validation_only``, which leaves such candidates out. None when none is that
    fast. ``reach(setting)``: the speed a setting may count as (default its ``speedup``; a target counts the top of
    its speed's interval over the timing runs, so that a setting that straddles the line is judged, inconclusive on
    speed, rather than left out). ``on``: the split a caller already chose on for a wider set of candidates
    (default: :func:`chosen_on` those that are fast enough). The one chooser of a model at a speed: the targets
    (through :meth:`.analysis.Analysis.best_at`), every comparison and the trade-off widget use it."""
    reach = reach or (lambda s: s.speedup)
    fast = [s for s in settings if s.speedup is not None and reach(s) >= min_speedup - TOLERANCE
            and (s.validation_f1 is not None or not validation_only)]
    if not fast:
        return None
    on = on or chosen_on(fast)
    best = max(fast, key=lambda s: (s.validation_f1 if on == VALIDATION else s.f1, s.speedup))
    return Choice(best, on, min_speedup)


__all__ = ["HELD_OUT", "VALIDATION", "Choice", "Setting", "at_most", "best_at", "chosen_on", "f1_text",
           "group_settings", "like_for_like", "preset_of", "same", "seed_of", "setting_name"]
