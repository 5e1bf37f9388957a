"""Runs pruned to a target (a size or a speed) instead of a λ: what each asked for, what its latency model predicted,
what was measured, and its F1 gap to the λ-swept front at that speed.

A target run lands when its measured speedup lies within :data:`SPEED_TOLERANCE` of the speed asked for (or its
fill rate within :data:`DENSITY_TOLERANCE` of the size), and it is as good as a λ hunt when its held-out F1 is no
more than :data:`F1_MARGIN` below the λ-swept setting chosen on validation F1 among those at least as fast, like for
like (same teacher, same epochs). The gap carries its paired interval and the one verdict rule
(:func:`bmp.results.intervals.verdict`).
"""
from __future__ import annotations

from dataclasses import dataclass

from bmp.results.analysis import Analysis, ComparedPoint, compare_at_speed
from bmp.results.intervals import verdict
from bmp.results.lineage import target_of
from bmp.results.records import FINAL_KIND, PRUNED_KINDS, RESULTS_DIR, fmt, teacher_record

LANDING_DIR = RESULTS_DIR / "landing"  # target runs from the course's own teacher (scripts/target_landing.sh)
SPEED_TOLERANCE = 0.10  # measured within ±10% of the speedup asked for
DENSITY_TOLERANCE = 0.03  # packed fill rate within ±0.03 of the density asked for
F1_MARGIN = 1.0  # F1 below the λ-swept front at the same speed


@dataclass(frozen=True)
class TargetRun:
    """One target setting (over its seeds) against the λ-swept front at its speed."""

    compared: ComparedPoint
    target: dict  # asked for, and what was predicted

    def to_dict(self) -> dict:
        point, speedup = self.compared.point, self.target.get("speedup")
        lead = self.target.get("lead", 0.0) if self.target.get("method") == "steer" else None
        measured = point.speedup
        gap = self.compared.gap
        return {"name": point.name, "kind": point.kind, "seeds": list(point.seeds), "f1": point.f1,
                "target_speedup": speedup, "target_density": self.target.get("density"),
                "target_method": self.target.get("method"), "steering_lead": lead,
                "final_lambda": self.target.get("final_lambda"),
                "predicted_speedup": self.target.get("predicted_speedup"),
                "predicted_fill_rate": self.target.get("predicted_fill_rate"),
                "measured_speedup": measured, "fill_rate": point.fill_rate,
                "landed": landed(self.target, measured, point.fill_rate),
                "front": None if self.compared.rival is None else self.compared.rival.name,
                "front_chosen_on": "validation", "f1_gap_to_front": gap,
                "ci95": None if self.compared.interval is None else self.compared.interval.ci95,
                "verdict": verdict(self.compared.interval, F1_MARGIN) if gap is not None else "not measured"}


def target_runs(analysis: Analysis, records: list[dict]) -> list[TargetRun]:
    """Every target setting of ``analysis`` met with the λ-swept setting chosen on validation F1 among those at
    least as fast, like for like; ``records``: all of them (the pruned records hold the targets). Filled models are
    set against filled ones; a target run recorded packed only (not filled) against the packed λ points."""
    runs = []
    for kind in (FINAL_KIND, "packed"):
        targets = {name: target_of(record, records) for (kind_, name), record in analysis.records.items()
                   if kind_ == kind}
        settings = [s for s in analysis.settings if s.kind == kind]
        aimed = [s for s in settings if targets.get(s.runs[0])]
        if kind != FINAL_KIND:  # packed only where the run was not filled
            filled = {run.compared.point.runs[0] for run in runs}
            aimed = [s for s in aimed if _filled_name(s.runs[0]) not in filled]
        swept = [s for s in settings if not targets.get(s.runs[0])]
        comparison = compare_at_speed(aimed, swept, about="the target run minus the λ-swept front",
                                      point_minus_rival=True,
                                      scores=lambda setting: analysis.scores(setting.kind, setting.runs))
        runs += [TargetRun(point, targets[point.point.runs[0]]) for point in comparison.points]
    return runs


def _interval(ci95) -> str:
    return "not computed (no per-question predictions)" if ci95 is None else f"[{ci95[0]:+.1f}, {ci95[1]:+.1f}]"


def _filled_name(packed: str) -> str:
    """The filled model's record name of a packed one (finalize names them ``<run>-packed`` and ``<run>-filled``)."""
    return packed.removesuffix("-packed") + "-filled"


def landed(asked: dict, speedup: float | None, fill_rate: float | None) -> bool | None:
    """Whether a run met what it asked for: its measured speedup within :data:`SPEED_TOLERANCE` of a speed, or its
    packed fill rate within :data:`DENSITY_TOLERANCE` of a size (None: not measured)."""
    if asked.get("speedup") is not None:
        return None if speedup is None else abs(speedup - asked["speedup"]) <= SPEED_TOLERANCE * asked["speedup"]
    if asked.get("density") is not None:
        return None if fill_rate is None else abs(fill_rate - asked["density"]) <= DENSITY_TOLERANCE
    return None


METHOD_WORDS = {"steer": "steering λ", "topk": "a top-k of units"}  # how a target run followed its budget


def method_words(asked: dict) -> str:
    """How a target run followed its budget, in words (``asked``: :func:`target_of`'s), with the steering's
    look-ahead when it had one."""
    words = METHOD_WORDS.get(asked["method"], asked["method"])
    lead = asked.get("lead")
    return words + (f", the size gap judged {lead:g} response time{'' if lead == 1 else 's'} ahead" if lead else "")


def landing_lines(records: list[dict], analysis: Analysis | None = None) -> list[str]:
    """One line per packed or filled run pruned to a target: asked, predicted by the latency model, measured, whether
    it landed, and its F1 against its teacher's when ``records`` hold the teacher's record. The measured speed is
    ``analysis``'s (the timing runs' median, as the targets judge it, with their range and finalize's one
    fresh-process timing beside it) when it has one for the run, else finalize's timing: a run read on its own
    (``scripts/target_landing.sh``, from a teacher without a λ front)."""
    lines = []
    for record in sorted(records, key=lambda r: (r["name"], r["kind"])):
        if record.get("kind") not in PRUNED_KINDS:
            continue
        asked = target_of(record, records)
        if not asked:
            continue
        m = record["metrics"]
        fresh, fill_rate = m.get("cpu_speedup"), m.get("fill_rate")
        timed = None if analysis is None or not analysis.speed.one_run else analysis.speed.speedup_of(record)
        speedup = fresh if timed is None else timed
        verdict_ = {True: "landed", False: "missed", None: "not measured"}[landed(asked, speedup, fill_rate)]
        teacher = record.get("config", {}).get("teacher")
        dense = teacher_record(records, teacher) if teacher else None
        against = f" (its teacher {dense['metrics']['f1']:.1f})" if dense else ""
        if asked.get("speedup") is not None:
            what = (f"asked {asked['speedup']:g}x, predicted {fmt(asked.get('predicted_speedup'), '.2f')}x, "
                    + ("not timed" if speedup is None else f"measured {speedup:.2f}x"))
            if timed is not None:
                spread = analysis.speed_intervals.get(record["name"])
                what += (f" ({spread.how}: {spread.low:.2f}-{spread.high:.2f}x" if spread else " (the timing run")
                what += f"; finalize's fresh-process timing {fmt(fresh, '.2f')}x)"
        else:
            what = (f"asked a fill rate of {asked['density']:g}, predicted "
                    f"{fmt(asked.get('predicted_fill_rate'), '.3f')}, packed {fmt(fill_rate, '.3f')}")
        tolerance = f"±{SPEED_TOLERANCE:.0%}" if asked.get("speedup") is not None else f"±{DENSITY_TOLERANCE:g}"
        how = method_words(asked)
        if asked.get("final_lambda") is not None:
            how += f", ending at λ {asked['final_lambda']:.3g}"
        lines.append(f"- {record['name']} ({how}): {what}: **{verdict_}** ({tolerance}); fill rate "
                     f"{fmt(fill_rate, '.3f')}, held-out F1 {m['f1']:.1f}{against}")
    return lines


def target_run_lines(analysis: Analysis, records: list[dict]) -> list[str]:
    """One line per run pruned to a target: asked, predicted, measured, and its gap to the λ-swept front."""
    lines = []
    for run in target_runs(analysis, records):
        row = run.to_dict()
        if row["target_speedup"] is not None:
            asked = (f"{row['target_speedup']:g}x (predicted {fmt(row['predicted_speedup'], '.2f')}x), measured "
                     f"{fmt(row['measured_speedup'], '.2f')}x")
        else:
            asked = (f"fill rate {row['target_density']:g} (predicted {fmt(row['predicted_fill_rate'], '.3f')}), "
                     f"measured {fmt(row['fill_rate'], '.3f')}")
        landed = {True: "landed", False: "missed its target", None: "not measured"}[row["landed"]]
        unmatched = ("faster than every λ-swept setting like it" if run.compared.rivals else
                     "no λ-swept setting like it (another teacher, length or FFN balance)")
        front = (f"{unmatched}, so not compared" if row["front"] is None else
                 f"{row['f1_gap_to_front']:+.1f} F1 against {row['front']} (the λ front at least as fast, chosen on "
                 f"validation F1), 95% interval {_interval(row['ci95'])}: {row['verdict']}")
        lines.append(f"- target run {row['name']} ({row['kind']}, {row['f1']:.1f} F1, "
                     f"{method_words(run.target)}): asked {asked}, {landed}; "
                     f"{front}.")
    return lines


def shape_table(records: list[dict]) -> list[str]:
    """Where each packed or filled run kept its heads and FFN neurons, layer by layer, with its F1s and speed (as
    finalize timed it): the λ runs beside the target runs."""
    rows = ["| run | how | heads per layer | FFN neurons per layer | fill rate | held-out F1 | validation F1 | "
            "speedup |", "|---|---|---|---|---|---|---|---|"]
    for record in sorted(records, key=lambda r: (r["kind"], r["name"])):
        if record.get("kind") not in PRUNED_KINDS:
            continue
        m, asked = record["metrics"], target_of(record, records)
        how = method_words(asked) if asked else "λ"
        rows.append(f"| {record['name']} | {how} | {m.get('heads_per_layer')} | {m.get('neurons_per_layer')} | "
                    f"{fmt(m.get('fill_rate'), '.3f')} | {fmt(m.get('f1'), '.1f')} | "
                    f"{fmt(m.get('validation_f1'), '.1f')} | {fmt(m.get('cpu_speedup'), '.2f')}x |")
    return rows



__all__ = ["DENSITY_TOLERANCE", "F1_MARGIN", "LANDING_DIR", "METHOD_WORDS", "SPEED_TOLERANCE",
           "TargetRun", "landed", "landing_lines", "method_words", "shape_table", "target_run_lines", "target_runs"]
