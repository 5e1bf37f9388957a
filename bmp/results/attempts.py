"""Attempts to close the gap to the reference: a change of the headline recipe run at the same target (the same speed
asked, followed the same way), such as a longer fill, hidden-state distillation or a stronger teacher.

A longer fill trains longer and a stronger teacher starts higher, so neither is set against the headline run on raw
F1. Each run is held to its own reference (the stronger of its teacher and that teacher's control trained as long,
:meth:`bmp.results.analysis.Analysis.reference_scores`), and an attempt helps when it lands nearer its reference
than the headline run lands to its own. That difference of gaps is taken question by question
(:func:`bmp.results.intervals.difference_of_gaps`): on the validation questions to decide whether the change becomes
the recipe (it does when it lands nearer there), and on the held-out ones to report, with its paired interval and
the one verdict rule held to zero ("met": it closes part of the gap; "missed": it widens it).
"""
from __future__ import annotations

from dataclasses import dataclass

from bmp.results.analysis import FINAL_KIND, Analysis
from bmp.results.intervals import Gap, difference_of_gaps, verdict
from bmp.results.records import SPLITS, fmt
from bmp.results.seeds import Setting
from bmp.results.target_runs import pruned_of, target_of

HELD_OUT, VALIDATION = SPLITS  # the per-question predictions of each run
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

    def changes_from(self, headline: Recipe) -> tuple[str, ...]:
        """What this recipe changes from ``headline``'s, in words (empty: the same recipe)."""
        said = []
        if self.teacher != headline.teacher:
            said.append(f"teacher {self.teacher} (the headline's: {headline.teacher})")
        if self.epochs != headline.epochs:
            said.append(f"{fmt(self.epochs, 'g')} epochs after its teacher ({fmt(headline.epochs, 'g')})")
        if self.ffn_balance != headline.ffn_balance and self.ffn_balance is not None:
            said.append(f"the FFN pulled {self.ffn_balance:g}x as hard as attention ({headline.ffn_balance:g}x)")
        for stage, mine, theirs in (("pruning", self.hidden_prune, headline.hidden_prune),
                                    ("filling", self.hidden_fill, headline.hidden_fill)):
            if mine != theirs:
                said.append(f"hidden-state distillation while {stage} at weight {mine:g} ({theirs:g})")
        return tuple(said)


def recipe_of(setting: Setting, records: list[dict]) -> Recipe:
    """The :class:`Recipe` of a filled setting (its first run's records: a setting's seeds share a recipe)."""
    filled = next(r for r in records if r.get("kind") == setting.kind and r.get("name") == setting.runs[0])
    pruned = pruned_of(filled, records) or {}
    prune_distillation = (pruned.get("config", {}).get("recipe") or {}).get("distillation") or {}
    fill_distillation = filled.get("config", {}).get("distillation") or {}
    return Recipe(setting.teacher, setting.train_epochs, setting.ffn_balance,
                  float(prune_distillation.get("hidden") or 0.0), float(fill_distillation.get("hidden") or 0.0))


def _aim(setting: Setting, records: list[dict]) -> tuple | None:
    """The target a filled setting was pruned to and how it followed it (None for a λ run)."""
    record = next(r for r in records if r.get("kind") == setting.kind and r.get("name") == setting.runs[0])
    asked = target_of(record, records)
    if not asked:
        return None
    return asked.get("speedup"), asked.get("density"), asked.get("method"), asked.get("lead", 0.0)


@dataclass(frozen=True)
class Attempt:
    """An attempt against the headline run at its target. ``validation``: the difference of gaps on the validation
    questions (what decides); ``heldout``: on the held-out ones, with its interval (what is reported); both None
    without the per-question predictions of all four models (``missing`` names the runs lacking them)."""

    setting: Setting
    headline: Setting
    changes: tuple[str, ...]
    validation: float | None
    heldout: Gap | None
    missing: tuple[str, ...] = ()

    @property
    def becomes_recipe(self) -> bool | None:
        return None if self.validation is None else self.validation > HELPS

    @property
    def verdict(self) -> str:
        return verdict(self.heldout, -HELPS)

    def to_dict(self) -> dict:
        a, h = self.setting, self.headline
        return {"name": a.name, "headline": h.name, "changes": list(self.changes), "seeds": list(a.seeds),
                "headline_seeds": list(h.seeds), "f1": a.f1, "headline_f1": h.f1, "speedup": a.speedup,
                "headline_speedup": h.speedup, "validation_gap_change": self.validation,
                "gap_change": None if self.heldout is None else self.heldout.estimate,
                "ci95": None if self.heldout is None else self.heldout.ci95, "verdict": self.verdict,
                "becomes_recipe": self.becomes_recipe, "chosen_on": "validation",
                "missing_predictions": list(self.missing)}


def _headline(candidates: list[Setting], recipes: dict[str, Recipe], analysis: Analysis) -> Setting | None:
    """The headline run among the settings aimed alike: the main teacher's, trained as long as its main line, with
    no hidden-state distillation; the one with the most seeds (then the first by name)."""
    plain = [s for s in candidates if s in analysis.main_line and s.train_epochs == analysis.main_epochs
             and recipes[s.name].hidden_prune == 0 and recipes[s.name].hidden_fill == 0]
    return min(plain, key=lambda s: (-len(s.runs), s.name), default=None)


def _difference(analysis: Analysis, attempt: Setting, headline: Setting, split: str):
    found = [analysis.scores(s.kind, s.runs, split) for s in (attempt, headline)]
    found[1:1] = [analysis.reference_scores(attempt, split)]
    found.append(analysis.reference_scores(headline, split))
    missing = tuple(name for _, lacking in found for name in lacking)
    if missing or any(scores is None for scores, _ in found):
        return None, missing
    return difference_of_gaps(*(scores for scores, _ in found)), ()


def attempts(analysis: Analysis, records: list[dict]) -> list[Attempt]:
    """Every filled setting aimed at a target like a headline run but made with another recipe, set against that
    headline run; ``records``: all of them (the pruned records hold the targets and the pruning recipes)."""
    finals = [s for s in analysis.settings if s.kind == FINAL_KIND]
    aims = {s.name: _aim(s, records) for s in finals}
    recipes = {s.name: recipe_of(s, records) for s in finals if aims[s.name] is not None}
    found = []
    for aim in dict.fromkeys(a for a in aims.values() if a is not None):
        alike = [s for s in finals if aims[s.name] == aim]
        headline = _headline(alike, recipes, analysis)
        if headline is None:
            continue
        for setting in alike:
            changes = recipes[setting.name].changes_from(recipes[headline.name])
            if setting is headline or not changes:
                continue
            on_validation, lacking = _difference(analysis, setting, headline, VALIDATION)
            held_out, missing = _difference(analysis, setting, headline, HELD_OUT)
            found.append(Attempt(setting, headline, changes,
                                 None if on_validation is None else on_validation.estimate, held_out,
                                 tuple(dict.fromkeys(lacking + missing))))
    return found


def attempt_lines(found: list[Attempt]) -> list[str]:
    """One line per attempt: what it changed, at which target, how much nearer (or further from) its reference it
    landed than the headline run did, on validation and held-out with the interval, and the verdict."""
    lines = []
    for a in found:
        head = (f"- {a.setting.name} ({a.setting.f1_text()} at {a.setting.speedup:.2f}x) against the headline run "
                f"{a.headline.name} ({a.headline.f1_text()} at {a.headline.speedup:.2f}x): "
                f"{'; '.join(a.changes)}")
        if a.heldout is None:
            lines.append(f"{head}; not measured (no per-question predictions for {', '.join(a.missing)}).")
            continue
        decided = "becomes the recipe" if a.becomes_recipe else "stays an attempt"
        lines.append(f"{head}; its gap to its reference changes by **{a.heldout.estimate:+.1f} F1**, 95% CI "
                     f"[{a.heldout.low:+.1f}, {a.heldout.high:+.1f}] ({a.validation:+.1f} on validation: "
                     f"{decided}): {a.verdict}.")
    return lines


__all__ = ["HELPS", "Attempt", "Recipe", "attempt_lines", "attempts", "recipe_of"]
