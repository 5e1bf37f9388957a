"""Attempts to close the gap to the reference: a change of the headline recipe run at the same target (the same speed
asked, followed the same way), such as a longer fill, hidden-state distillation or a stronger teacher.

An attempt is set against the plain run at its target: the same preset and target, made with the headline recipe.
A longer fill trains longer and a stronger teacher starts higher, so neither is judged on raw F1. Each run is held
to its own reference (the stronger of its teacher and that teacher's control trained as long,
:meth:`bmp.results.analysis.Analysis.reference_scores`), and an attempt helps when it lands nearer its reference
than the plain run lands to its own. That difference of gaps is taken question by question
(:func:`bmp.results.intervals.difference_of_gaps`): on the validation questions to decide whether the change becomes
the recipe (it does when it lands nearer there; the target is then judged on it, :meth:`.analysis.Analysis.best_at`),
and on the held-out ones to report, with its paired interval and the one verdict rule held to zero ("met": it closes
part of the gap; "missed": it widens it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bmp.results.intervals import Gap, difference_of_gaps, verdict
from bmp.results.lineage import pruned_of, target_of
from bmp.results.records import FINAL_KIND, SPLITS, fmt
from bmp.results.seeds import Setting, same

if TYPE_CHECKING:  # typing only: the analysis holds its attempts
    from bmp.results.analysis import Analysis

HELDOUT_SPLIT, VALIDATION_SPLIT = SPLITS  # the per-question predictions of each run
HELPS = 0.0  # the margin an attempt's difference of gaps is held to: above zero, it lands nearer its reference


@dataclass(frozen=True)
class Recipe:
    """What an attempt may change, read from a filled setting's records: its teacher, its epochs after it, the FFN's
    pull over attention's, and the weight of hidden-state distillation while pruning and while filling."""

    teacher: str | None
    epochs: float | None
    ffn_balance: float | None
    hidden_prune: float
    hidden_fill: float

    def changes_from(self, plain: Recipe) -> tuple[str, ...]:
        """What this recipe changes from ``plain``'s, in words (empty: the same recipe)."""
        said = []
        if self.teacher != plain.teacher:
            said.append(f"teacher {self.teacher} (the plain run's: {plain.teacher})")
        if _differ(self.epochs, plain.epochs):
            said.append(f"{fmt(self.epochs, 'g')} epochs after its teacher ({fmt(plain.epochs, 'g')})")
        if _differ(self.ffn_balance, plain.ffn_balance):
            said.append(f"the FFN pulled {fmt(self.ffn_balance, 'g')}x as hard as attention "
                        f"({fmt(plain.ffn_balance, 'g')}x)")
        for stage, mine, theirs in (("pruning", self.hidden_prune, plain.hidden_prune),
                                    ("filling", self.hidden_fill, plain.hidden_fill)):
            if _differ(mine, theirs):
                said.append(f"hidden-state distillation while {stage} at weight {mine:g} ({theirs:g})")
        return tuple(said)


def _differ(a: float | None, b: float | None) -> bool:
    return (a, b) != (None, None) and not same(a, b)


def recipe_of(setting: Setting, records: list[dict]) -> Recipe:
    """The :class:`Recipe` of a filled setting (its first run's records: a setting's seeds share a recipe)."""
    filled = next(r for r in records if r.get("kind") == setting.kind and r.get("name") == setting.runs[0])
    pruned = pruned_of(filled, records) or {}
    prune_distillation = (pruned.get("config", {}).get("recipe") or {}).get("distillation") or {}
    fill_distillation = filled.get("config", {}).get("distillation") or {}
    return Recipe(setting.teacher, setting.train_epochs, setting.ffn_balance,
                  float(prune_distillation.get("hidden") or 0.0), float(fill_distillation.get("hidden") or 0.0))


def _aim(setting: Setting, records: list[dict]) -> tuple | None:
    """The preset and the target a filled setting was pruned to, and how it followed it (None for a λ run)."""
    record = next(r for r in records if r.get("kind") == setting.kind and r.get("name") == setting.runs[0])
    asked = target_of(record, records)
    if not asked:
        return None
    return setting.preset, asked.get("speedup"), asked.get("density"), asked.get("method"), asked.get("lead", 0.0)


@dataclass(frozen=True)
class Attempt:
    """An attempt against the plain run at its target (the same preset and target, no recipe change: the headline
    recipe). ``validation``: the difference of gaps on the validation questions (what decides); ``heldout``: on the
    held-out ones, with its interval (what is reported); both None without what they need: ``missing`` names the
    runs lacking per-question predictions, or says whose reference is not recorded."""

    setting: Setting
    plain: Setting
    changes: tuple[str, ...]
    validation: float | None
    heldout: Gap | None
    missing: tuple[str, ...] = ()

    @property
    def becomes_recipe(self) -> bool | None:
        """Whether it lands nearer its reference than the plain run on validation (None: not measured there)."""
        return None if self.validation is None else self.validation > HELPS

    @property
    def verdict(self) -> str:
        return verdict(self.heldout, -HELPS)

    def to_dict(self) -> dict:
        a, p = self.setting, self.plain
        return {"name": a.name, "plain_run": p.name, "changes": list(self.changes), "seeds": list(a.seeds),
                "plain_seeds": list(p.seeds), "f1": a.f1, "plain_f1": p.f1, "speedup": a.speedup,
                "plain_speedup": p.speedup, "validation_gap_change": self.validation,
                "gap_change": None if self.heldout is None else self.heldout.estimate,
                "ci95": None if self.heldout is None else self.heldout.ci95, "verdict": self.verdict,
                "becomes_recipe": self.becomes_recipe, "chosen_on": "validation",
                "missing": list(self.missing)}


def _plain(candidates: list[Setting], recipes: dict[str, Recipe], analysis: Analysis) -> Setting | None:
    """The plain run among the settings aimed alike: on the main line, trained as long as its filled runs, with no
    hidden-state distillation; the best on validation F1 when there are several (then the one with more seeds)."""
    plain = [s for s in candidates if s in analysis.main_line and same(s.train_epochs, analysis.main_epochs)
             and recipes[s.name].hidden_prune == 0 and recipes[s.name].hidden_fill == 0]
    return max(plain, key=lambda s: (s.validation_f1 if s.validation_f1 is not None else float("-inf"), len(s.runs)),
               default=None)


def _difference(analysis: Analysis, attempt: Setting, plain: Setting, split: str):
    """``(difference of gaps or None, what is missing)`` on ``split``."""
    unknown = [f"the reference of {s.name} (no teacher record)" for s in (attempt, plain)
               if analysis.reference_of(s) is None or analysis.reference_of(s).reference_f1 is None]
    if unknown:
        return None, tuple(unknown)
    found = [analysis.scores(attempt.kind, attempt.runs, split), analysis.reference_scores(attempt, split),
             analysis.scores(plain.kind, plain.runs, split), analysis.reference_scores(plain, split)]
    missing = tuple(name for _, lacking in found for name in lacking)
    if missing:
        return None, missing
    return difference_of_gaps(*(scores for scores, _ in found)), ()


def attempts(analysis: Analysis, records: list[dict]) -> list[Attempt]:
    """Every filled setting aimed at a target like a plain run but made with another recipe, set against that plain
    run; ``records``: all of them (the pruned records hold the targets and the pruning recipes)."""
    finals = [s for s in analysis.settings if s.kind == FINAL_KIND]
    aims = {s.name: _aim(s, records) for s in finals}
    recipes = {s.name: recipe_of(s, records) for s in finals if aims[s.name] is not None}
    found = []
    for aim in dict.fromkeys(a for a in aims.values() if a is not None):
        alike = [s for s in finals if aims[s.name] == aim]
        plain = _plain(alike, recipes, analysis)
        if plain is None:
            continue
        for setting in alike:
            changes = recipes[setting.name].changes_from(recipes[plain.name])
            if setting is plain or not changes:
                continue
            on_validation, lacking = _difference(analysis, setting, plain, VALIDATION_SPLIT)
            held_out, missing = _difference(analysis, setting, plain, HELDOUT_SPLIT)
            found.append(Attempt(setting, plain, changes, None if on_validation is None else on_validation.estimate,
                                 held_out, tuple(dict.fromkeys(missing + lacking))))
    return found


def attempt_lines(found: list[Attempt]) -> list[str]:
    """One line per attempt: what it changed, at which target, how much nearer (or further from) its reference it
    landed than the plain run did, on validation and held-out with the interval, and the verdict."""
    lines = []
    for a in found:
        head = (f"- {a.setting.name} ({a.setting.f1_text()} at {fmt(a.setting.speedup, '.2f')}x) against the plain "
                f"run {a.plain.name} ({a.plain.f1_text()} at {fmt(a.plain.speedup, '.2f')}x): {'; '.join(a.changes)}")
        if a.heldout is None:
            lines.append(f"{head}; not measured (missing: {', '.join(a.missing)}).")
            continue
        outcome = "it wins there" if a.becomes_recipe else "it stays an attempt"
        decided = ("not measured on validation" if a.validation is None
                   else f"{a.validation:+.1f} on validation: {outcome}")
        lines.append(f"{head}; its gap to its reference changes by **{a.heldout.estimate:+.1f} F1**, 95% CI "
                     f"[{a.heldout.low:+.1f}, {a.heldout.high:+.1f}] ({decided}): {a.verdict}.")
    return lines


def attempt_table(tried: list[tuple[str, Attempt]]) -> list[str]:
    """A table of the attempts (``tried``: where each was made, and the attempt): how much nearer its reference each
    landed than the plain run at its target, on validation (what decides) and held-out (its 95% interval)."""
    lines = ["| attempt | on | speed | against the plain run | on validation | held-out, 95% CI | wins on validation |",
             "|---|---|---|---|---|---|---|"]
    for where, a in tried:
        held = "–" if a.heldout is None else \
            f"{a.heldout.estimate:+.1f} [{a.heldout.low:+.1f}, {a.heldout.high:+.1f}]"
        decides = "not measured" if a.becomes_recipe is None else ("yes" if a.becomes_recipe else "no")
        lines.append(f"| {a.setting.name} | {where} | {fmt(a.setting.speedup, '.2f')}x | {a.plain.name} "
                     f"({fmt(a.plain.speedup, '.2f')}x) | {fmt(a.validation, '+.1f')} | {held} | {decides} |")
    return lines


__all__ = ["HELPS", "Attempt", "Recipe", "attempt_lines", "attempt_table", "attempts", "recipe_of"]
