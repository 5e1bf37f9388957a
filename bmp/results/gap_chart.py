"""Every judged gap of a front with its 95% interval, against the line it is held to: one picture of what the speed
targets, the comparisons, the attempts to close the gap and int8 serving say, and how sure each is.

Each row is one gap in F1 (a point minus what it is held to), drawn as its estimate with its paired interval; the
short vertical bar on the row is its floor, the line :func:`bmp.results.intervals.judge` holds the interval to; the
colour is the verdict. A speed target measured on too few seeds keeps its interval and is drawn grey, "not measured".

    fig = gap_chart([("AMD EPYC front", analyse(records), records)])
"""
from __future__ import annotations

from dataclasses import dataclass

import seaborn as sns
from matplotlib.figure import Figure

from bmp.results.analysis import Analysis
from bmp.results.attempts import HELPS
from bmp.results.intervals import INCONCLUSIVE, MET, MISSED, Gap
from bmp.results.serving import INT8_F1_COST, int8_verdict
from bmp.results.shipped import shipped
from bmp.results.targets import NOT_MEASURED, check_all

VERDICT_COLORS = {MET: "tab:green", MISSED: "tab:red", INCONCLUSIVE: "tab:orange", NOT_MEASURED: "tab:gray"}


@dataclass(frozen=True)
class GapRow:
    """One gap as drawn: what it compares, its paired interval, the floor it is held to, and its verdict."""

    label: str
    gap: Gap
    floor: float
    status: str


def gap_rows(analysis: Analysis, records) -> list[GapRow]:
    """The gaps of a place that carry an interval: each target (a speed target's chosen setting against its
    reference, each comparison's mean), each attempt against its plain run, and each shipped model's int8 cost."""
    rows = []
    for check in check_all(analysis):
        if check.gap is None:
            continue
        t = check.target
        label = f"{check.run} - its reference (>= {t.min_speedup:g}x target)" if t.min_speedup is not None \
            else t.describe()
        rows.append(GapRow(label, check.gap, -t.margin, check.status))
    rows += [GapRow(f"{a.setting.name}: its gap - the plain run's", a.heldout, HELPS, a.verdict)
             for a in analysis.attempts if a.heldout is not None]
    rows += [GapRow(f"{s.run or s.record}: int8 - torch fp32", s.interval, -INT8_F1_COST.threshold, int8_verdict(s))
             for s in shipped(records) if s.interval is not None]
    return rows


def gap_chart(places) -> Figure:
    """One panel per place (``places``: ``(name, analysis, records)``), a row per gap (:func:`gap_rows`); the
    artists of each panel's intervals carry the gid ``gaps:<status>``."""
    drawn = [(name, gap_rows(analysis, records)) for name, analysis, records in places]
    drawn = [(name, rows) for name, rows in drawn if rows]
    if not drawn:
        raise ValueError("no gap with an interval to draw: record runs with per-question predictions first")
    heights = [len(rows) for _, rows in drawn]
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(11, 1.2 + 0.42 * sum(heights) + 0.6 * len(drawn)), layout="constrained")
        axes = fig.subplots(len(drawn), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
        for ax, (name, rows) in zip(axes, drawn):
            for y, row in enumerate(reversed(rows)):
                color = VERDICT_COLORS[row.status]
                ax.errorbar(row.gap.estimate, y, xerr=[[row.gap.estimate - row.gap.low], [row.gap.high -
                            row.gap.estimate]], fmt="o", color=color, capsize=4, gid=f"gaps:{row.status}")
                ax.plot([row.floor, row.floor], [y - 0.35, y + 0.35], color="black", linewidth=2, gid="floor")
            ax.axvline(0, color="grey", linewidth=0.8, linestyle=":")
            ax.set_yticks(range(len(rows)), [row.label for row in reversed(rows)], fontsize=8)
            ax.set_ylim(-0.6, len(rows) - 0.4)
            ax.set_title(f"{name}: each gap with its 95% paired interval, met when it lies wholly right of the "
                         "black bar", fontsize=10)
        axes[-1].set_xlabel("F1 gap (points): green met, red missed (wholly left of the bar), orange inconclusive, "
                            "grey measured on too few seeds")
    return fig


__all__ = ["VERDICT_COLORS", "GapRow", "gap_chart", "gap_rows"]
