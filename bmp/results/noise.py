"""How big the noise is, before a gap is read: F1 over seeds, and speed over repeated timings, from the records.

- **Seeds.** Runs of one setting that differ only in their seed (``-s<seed>`` in the name, :mod:`bmp.results.seeds`)
  and the dense control's seeds: the range of their F1 is what the seed alone moves a score.
- **Repeats.** A timing record (``python -m bmp.bench timing --record``) keeps, for every model, its fastest and
  slowest of several repeats: their ratio is the spread within one run (``bmp.speed.timing`` flags over 1.3 as
  unstable; the median it reports is steadier than that).
- **Repeated timings.** Every run's record also keeps its own ``cpu_speedup``, timed in another process on another
  day when the model was made; set against the one timing run's speedup of the same model, the ratio is how far two
  honest measurements of one speed disagree.

    noise(load_records()).describe()   # the paragraph notebook 07 prints
    noise_figure(noise(load_records()))
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from bmp.results import tradeoff
from bmp.results.seeds import seed_of, setting_name
from bmp.results.speeds import newest_timing
from bmp.speed.timing import UNSTABLE_SPREAD

SEED_KINDS = ("control", "packed", "filled")


@dataclass(frozen=True)
class SeedSpread:
    """One setting scored with several seeds: its F1 per seed."""

    setting: str  # the name every seed shares
    kind: str
    seeds: tuple
    f1s: tuple[float, ...]

    @property
    def range(self) -> float:
        return max(self.f1s) - min(self.f1s)


@dataclass(frozen=True)
class TimingSpread:
    """One model in a timing run: slowest repeat over fastest."""

    name: str
    spread: float
    repeats: int
    unstable: bool


@dataclass(frozen=True)
class RepeatedTiming:
    """One model timed twice: in the one timing run, and in its own record when it was made."""

    name: str
    one_run: float
    own: float

    @property
    def ratio(self) -> float:
        return self.own / self.one_run


def seed_spreads(records, split: str | None = None, kinds=SEED_KINDS) -> list[SeedSpread]:
    """The settings of ``kinds`` scored on ``split`` (default: the comparison's, :func:`~bmp.results.tradeoff.
    pick_split`) with two seeds or more, widest first."""
    split = tradeoff.pick_split(records, split)
    groups = defaultdict(dict)
    for record in records:
        metrics = record.get("metrics", {})
        if record.get("kind") in kinds and metrics.get("eval_split") == split and metrics.get("f1") is not None:
            groups[(record["kind"], setting_name(record["name"]))][seed_of(record)] = float(metrics["f1"])
    spreads = [SeedSpread(setting, kind, tuple(by_seed), tuple(by_seed.values()))
               for (kind, setting), by_seed in groups.items() if len(by_seed) > 1]
    return sorted(spreads, key=lambda s: (-s.range, s.setting))


def timing_spreads(timing: dict | None) -> list[TimingSpread]:
    """Each model the timing record timed (a model timed as another one's shape, ``timed_as``, counts once)."""
    if timing is None:
        return []
    metrics = timing.get("metrics", {})
    shared = set(metrics.get("timed_as") or {})
    return [TimingSpread(name, t["max_s"] / t["min_s"], int(t.get("repeats", 0)),
                         bool(t.get("unstable", t["max_s"] / t["min_s"] > UNSTABLE_SPREAD)))
            for name, t in (metrics.get("timings") or {}).items() if name not in shared and t.get("min_s")]


def repeated_timings(records, timing: dict | None) -> list[RepeatedTiming]:
    """The runs whose record's own ``cpu_speedup`` and the timing run's speedup both exist."""
    if timing is None:
        return []
    speedups = timing.get("metrics", {}).get("speedups") or {}
    pairs = []
    for record in records:
        own = record.get("metrics", {}).get("cpu_speedup")
        if record.get("kind") in tradeoff.RUN_KINDS and own and speedups.get(record.get("name")):
            pairs.append(RepeatedTiming(record["name"], float(speedups[record["name"]]), float(own)))
    return pairs


@dataclass(frozen=True)
class Noise:
    seeds: list[SeedSpread]
    timings: list[TimingSpread]
    repeated: list[RepeatedTiming]
    timing_record: str | None

    @property
    def f1_noise(self) -> float | None:
        """The widest F1 range over seeds of one setting: a gap between single-seed runs smaller than this is
        not evidence."""
        return max((s.range for s in self.seeds), default=None)

    @property
    def speed_noise(self) -> float | None:
        """The widest relative disagreement between two timings of one model (0.1: 10%)."""
        return max((abs(p.ratio - 1) for p in self.repeated), default=None)

    def describe(self) -> str:
        """The paragraph on noise, in markdown, every number from the records."""
        parts = []
        controls = [s for s in self.seeds if s.kind == "control"]
        runs = [s for s in self.seeds if s.kind != "control"]
        if controls:
            c = controls[0]
            parts.append(f"The dense control `{c.setting}` scored {', '.join(f'{f:.1f}' for f in c.f1s)} F1 with "
                         f"seeds {', '.join(str(s) for s in c.seeds)}: the seed alone moved it {c.range:.1f} F1.")
        if runs:
            ranges = ", ".join(f"`{s.setting}` {s.range:.1f}" for s in runs)
            parts.append(f"Pruned settings run with two seeds or more differ by: {ranges} F1.")
        if self.f1_noise is not None:
            parts.append(f"So a gap under about **{self.f1_noise:.1f} F1** between two runs of one seed each is "
                         "within what a seed alone does, and is no evidence either way; a gap must be larger, or "
                         "rest on several seeds, before it is read.")
        else:
            parts.append("No setting has two seeds recorded yet, so the seed noise is unmeasured: read every F1 gap "
                         "between single runs as unproven.")
        if self.timings:
            spreads = np.array([t.spread for t in self.timings])
            unstable = sum(t.unstable for t in self.timings)
            repeats = sorted({t.repeats for t in self.timings})
            parts.append(f"In the timing run `{self.timing_record}`, each model's slowest of "
                         f"{'/'.join(map(str, repeats))} repeats was {spreads.min():.2f} to {spreads.max():.2f} "
                         f"times its fastest (median {np.median(spreads):.2f}); {unstable} of {len(self.timings)} "
                         f"models exceed the {UNSTABLE_SPREAD:g} that `bmp.speed.timing` flags as unstable. The "
                         "median of the repeats is what is compared, and it is steadier than that.")
        if self.repeated:
            ratios = np.array([p.ratio for p in self.repeated])
            parts.append(f"How steady: {len(ratios)} runs were also timed on their own when they were made, and "
                         f"those speedups are {ratios.min():.2f} to {ratios.max():.2f} times the timing run's. So "
                         f"two speedups within about **{self.speed_noise:.0%}** of each other are not different "
                         "speeds; the figures use the one timing run for every recorded model, so at least they "
                         "share its conditions.")
        return " ".join(parts)


def noise(records, split: str | None = None) -> Noise:
    """The seed spreads, the newest CPU timing run's repeat spreads, and the repeated timings of ``records``."""
    timing = newest_timing(records)
    return Noise(seeds=seed_spreads(records, split), timings=timing_spreads(timing),
                 repeated=repeated_timings(records, timing), timing_record=None if timing is None else timing["name"])


def noise_figure(found: Noise, figsize=(14, 5.2)) -> Figure:
    """Left: F1 per seed of each setting with several seeds (gid ``seeds``). Right: each model's repeat spread in
    the timing run (gid ``repeats``) and, where it was also timed on its own, that timing over the run's
    (gid ``repeated``), against the unstable line."""
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=figsize, layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=(1, 1.6))
        if found.seeds:
            for row, spread in enumerate(found.seeds):
                left.plot(spread.f1s, [row] * len(spread.f1s), color="gray", lw=1, zorder=1)
                left.scatter(spread.f1s, [row] * len(spread.f1s), s=40, zorder=2, gid="seeds",
                             color="black" if spread.kind == "control" else "tab:blue")
                left.annotate(f"{spread.range:.1f}", (max(spread.f1s), row), textcoords="offset points",
                              xytext=(6, -3), fontsize=8)
            left.set_yticks(range(len(found.seeds)), [f"{s.setting} ({s.kind})" for s in found.seeds], fontsize=8)
            left.invert_yaxis()
        else:
            left.text(0.5, 0.5, "no setting has two seeds recorded", transform=left.transAxes, ha="center")
        left.set_xlabel("held-out F1, one dot per seed (the number: the range)")
        left.set_title("F1: what the seed alone moves", fontsize=10)

        if found.timings:
            names = [t.name for t in found.timings]
            xs = np.arange(len(names))
            right.bar(xs, [t.spread for t in found.timings], color=["tab:orange" if t.unstable else "tab:gray"
                                                                    for t in found.timings],
                      label="slowest / fastest of the repeats (orange: flagged unstable)", gid="repeats")
            repeated = {p.name: p.ratio for p in found.repeated}
            marked = [(x, repeated[n]) for x, n in zip(xs, names) if n in repeated]
            if marked:
                right.scatter([x for x, _ in marked], [r for _, r in marked], marker="D", color="tab:blue",
                              zorder=3, label="its own timing / the timing run's speedup", gid="repeated")
            right.axhline(UNSTABLE_SPREAD, color="tab:red", ls="--", lw=1, label=f"unstable above {UNSTABLE_SPREAD:g}")
            right.axhline(1.0, color="black", lw=0.8)
            right.set_xticks(xs, names, rotation=75, fontsize=6)
            top = max([t.spread for t in found.timings] + [r for _, r in marked])
            right.set_ylim(min([0.8] + [r - 0.05 for _, r in marked]), top + 0.45)  # room for the legend
            right.set_ylabel("ratio")
            right.legend(fontsize=7, loc="upper left")
            right.set_title(f"Speed: repeats within one timing run, and a second timing\n({found.timing_record})",
                            fontsize=10)
        else:
            right.text(0.5, 0.5, "no timing run recorded", transform=right.transAxes, ha="center")
        return fig


__all__ = ["Noise", "RepeatedTiming", "SeedSpread", "TimingSpread", "noise", "noise_figure", "repeated_timings",
           "seed_spreads", "timing_spreads"]
