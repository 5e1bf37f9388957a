"""The targets' verdicts and the comparisons at equal speed, as the lines ``docs/results.md`` and the README show:
the reference, where the speeds come from, the one verdict rule, each target's verdict, and every compared point
with its rival, its paired interval and its verdict."""
from __future__ import annotations

from bmp.results.analysis import Analysis, analyse
from bmp.results.attempts import attempt_lines
from bmp.results.intervals import NO_PREDICTIONS, judge, verdict
from bmp.results.records import fmt
from bmp.results.seeds import f1_text
from bmp.results.serving import shipped_lines
from bmp.results.target_runs import landing_lines, shape_table, target_run_lines
from bmp.results.targets import TARGETS, check_all


def _gap_lines(comparison, target, label: str, lead: str = "") -> list[str]:
    """One line per compared point: the rival chosen on validation F1, the signed gap (``lead`` names whom it
    favours, "struct is"), its 95% interval and its verdict against ``target``'s margin."""
    lines = []
    for p in comparison.points:
        s = p.point
        head = (f"- {label} {s.name} ({f1_text(s.f1, s.f1_std, len(s.seeds))} at {s.speedup:.2f}x, "
                f"{fmt(s.train_epochs, 'g')} epochs)")
        if p.rival is None:
            lines.append(f"{head}: faster than every like-for-like rival, so not compared (no extrapolation)."
                         if p.rivals else f"{head}: no like-for-like rival (same teacher, epochs and FFN balance), "
                         "so not compared.")
            continue
        r = p.rival
        judged = "" if target is None else f": {verdict(p.interval, target.margin)}"
        ci = ("no interval (" + NO_PREDICTIONS + ")" if p.interval is None
              else f"95% CI [{p.interval.low:+.1f}, {p.interval.high:+.1f}]")
        lines.append(f"{head}: meets {r.name} ({f1_text(r.f1, r.f1_std, len(r.seeds))} at {r.speedup:.2f}x, "
                     f"chosen on validation F1), {lead + ' ' if lead else ''}**{p.gap:+.1f} F1**, {ci}{judged}"
                     + ("." if p.in_mean else "; reported on its own, not in the mean."))
    return lines


def verdict_rule() -> str:
    """The verdict rule as :func:`bmp.results.intervals.judge` states it (its docstring's first paragraph)."""
    first = judge.__doc__.split("\n\n")[0]
    return " ".join(first.replace("``", "").split())


def comparison_lines(analysis: Analysis) -> list[str]:
    """The reference (max of teacher and control trained as long), where the speeds come from, the verdict rule,
    each target's verdict, then every point of the comparisons at equal speed with its rival, interval and
    verdict."""
    by_gap = {t.gap: t for t in TARGETS if t.gap is not None}
    lines = [f"- Reference (of the teacher most runs came from; each run is measured against its own teacher's, "
             f"with controls trained as long): {analysis.reference.describe()}.",
             f"- Speeds: {analysis.describe_speed()}.",
             "- Settings, and the rival each comparison meets, are chosen on validation F1 and reported on held-out "
             "F1 (mean ± std over seeds); where a record has no validation F1, a target's choice falls back to "
             "held-out F1 and says so, and a comparison leaves it out.",
             f"- Verdicts: {verdict_rule()} Intervals are 95%, paired over the held-out questions and pooled over "
             "seeds (`bmp.results.intervals`)."]
    for c in check_all(analysis):
        lines.append(f"- {c.target.describe()}: **{c.status}**; {c.note}.")
    lines += _gap_lines(analysis.struct_vs_hybrid, by_gap.get("struct_vs_hybrid"), "struct point", "struct is")
    lines += _gap_lines(analysis.vs_distil_recipe, by_gap.get("vs_distil_recipe"), "vs the layer-dropped student")
    lines += _gap_lines(analysis.vs_torch_pruning, by_gap.get("vs_torch_pruning"), "vs the Torch-Pruning model")
    return lines


def front_section(front: list[dict]) -> list[str]:
    """A front's records (:mod:`bmp.results.fronts`: every run from one teacher on one CPU kind), whose models keep
    their per-question predictions: its comparisons and verdicts (:func:`comparison_lines`), each target run
    against the λ front, the attempts to close the gap, what int8 costs each shipped model, the landing on the same
    speeds, and every model's shape; nothing until a run is filled."""
    if not any(r["kind"] == "filled" for r in front):
        return []
    analysis = analyse(front)
    return [*comparison_lines(analysis), *target_run_lines(analysis, front),
            *attempt_lines(analysis.attempts), *shipped_lines(front, analysis), *landing_lines(front, analysis), "",
            *shape_table(front)]


def _cells(check) -> list[str]:
    """A target's check as table cells: its verdict, what it measured, its gap's interval, and its speed."""
    interval = "–" if check.gap is None else f"[{check.gap.low:+.1f}, {check.gap.high:+.1f}]"
    of_each = "" if check.target.min_speedup is not None else " of each point"
    too_few = (f"; so far {check.so_far}, but needs {check.target.min_seeds} seeds{of_each}: {check.short_of_seeds}"
               if check.short_of_seeds else "")  # measured, but on too few seeds for a verdict
    if check.value is None:
        measured = "–"
    elif check.target.min_speedup is not None:  # a speed target's value is the F1 its setting loses
        beat = "" if check.replaced is None else f"; the plain run it beat on validation: {check.replaced.status}"
        against = "its reference" if check.reference is None else check.reference
        measured = f"{check.run}: {check.value:.1f} F1 below {against}{too_few}{beat}"
    else:
        measured = f"mean gap {check.value:+.1f} F1{too_few}"
    speed = "–" if check.speed is None else \
        f"{check.speed.estimate:.2f}x ({check.speed.low:.2f}–{check.speed.high:.2f})"
    return [f"**{check.status}**", measured, interval, speed]


def target_table(judged: list[tuple[str, Analysis]]) -> list[str]:
    """One row per target and place it was judged on (``judged``: each place's name and analysis, each held to its
    own reference): the verdict, what was measured, the gap's 95% interval and the speed with its interval
    (:func:`~bmp.results.intervals.speed_interval`). A target measured on too few seeds to be judged is a row too;
    those a place has no model for yet are named in a line below."""
    measured, unmeasured = {}, {}
    for where, analysis in judged:
        for check in check_all(analysis):
            found = unmeasured if check.status == "not measured" and check.value is None else measured
            found.setdefault(check.target.describe(), []).append((where, check))
    lines = ["| target | judged on | verdict | measured | 95% interval of the F1 gap | speed (interval) |",
             "|---|---|---|---|---|---|"]
    for said, places in measured.items():
        lines += ["| " + " | ".join([said if i == 0 else "", where, *_cells(check)]) + " |"
                  for i, (where, check) in enumerate(places)]
    if unmeasured:
        lines += ["", "Not measured yet: " + "; ".join(
            f"{said} ({'anywhere' if len(places) == len(judged) else 'on ' + ', '.join(f'the {w}' for w, _ in places)})"
            for said, places in unmeasured.items()) + "."]
    return lines


__all__ = ["comparison_lines", "front_section", "target_table", "verdict_rule"]
