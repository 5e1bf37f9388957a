"""Figures of the trade-off: F1 against speed, and F1 against fill rate, beside the published models.

Every function returns a ``matplotlib.figure.Figure`` (no pyplot state, so nothing shows twice in a notebook) styled
with seaborn. The F1 figures have two panels that never share an axis:

- left, *our runs*: F1 on the split they were scored on (offline, held-out articles of the dev file) and speedups
  from the recorded timing (the hardware is named on the axis), with the Pareto front, the dense teacher and its
  dense control; a learner's own runs (:func:`bmp.results.yours.with_learner_records`) are drawn as red stars
  labelled "your run" and named, against the front of the recorded runs;
- right, *published models*: F1 on the official SQuAD v1.1 dev set, speedups as their authors report them.

Scores on held-out dev articles and on the whole official dev set are not on one scale, and a speedup depends on
the machine, so a point on the left is never drawn among points on the right. Compare shapes: how much F1 each side
gives up for each step of speed.

The left panel shows the band that matters: from a little below the lowest front point to above the reference;
runs further down are marked by a caret on the axis's bottom edge (gid ``outliers``) and named under the axis
instead of stretching it. Labels are moved off each other and off the points with ``adjustText`` (the ``course``
extra) and joined to their points by thin lines; without it they stay beside their points.

Artists carry a ``gid`` so they can be found again: ``runs:<kind>``, ``runs:yours``, ``front``, ``teacher`` on the left;
``references:<group>``, ``baseline`` on the right, where the group is the hardware of the published speedup in
:func:`f1_vs_speedup` and the structure (dense, structured, unstructured) in :func:`f1_vs_fill_rate`.
"""
from __future__ import annotations

import math
import textwrap

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from bmp.results import tradeoff
from bmp.results.records import STUDENT_KINDS
from bmp.results.speeds import SpeedSource
from bmp.results.teachers import reference_for

KIND_MARKERS = {"packed": "s", "filled": "o", "distil-recipe": "^", "torch-pruning": "D"}
YOURS_MARKER, YOURS_COLOR, YOURS_LABEL = "*", "crimson", "your run"
GROUP_MARKERS = ("o", "D", "v", "P", "X", "*")
NOTE_WIDTH = 96  # characters per line of the notes under an axis, so they stay under their own panel
BAND_DEPTH = 25.0  # F1 below the top that the F1 axis shows at most: a collapsed run, even on the front, is noted
UNSTRUCTURED_NOTE = "hollow: unstructured sparsity (non-zero weights, no dense speedup)"


def _style():
    return sns.axes_style("whitegrid")


def _two_panels(figsize) -> tuple[Figure, object, object]:
    fig = Figure(figsize=figsize, layout="constrained")
    ours, published = fig.subplots(1, 2, sharey=False, sharex=False)
    return fig, ours, published


def _references(references):
    if references is None:
        from bmp.results.references import reference_models

        references = reference_models()
    return references


def _draw_runs(ax, chosen_runs, x: str) -> tuple[list, list]:
    """Scatter the runs by kind, the learner's own as red stars, and draw the recorded runs' front; returns
    ``(front runs, runs with an x value)``."""
    palette = dict(zip(tradeoff.RUN_KINDS, sns.color_palette("deep", len(tradeoff.RUN_KINDS))))
    usable = [run for run in chosen_runs if getattr(run, x) is not None]
    for kind in tradeoff.RUN_KINDS:
        for scattered in (False, True):
            mine = [run for run in usable if run.kind == kind and run.scattered == scattered and not run.yours]
            if mine:
                ax.scatter([getattr(run, x) for run in mine], [run.f1 for run in mine], marker=KIND_MARKERS[kind],
                           s=45, facecolors="none" if scattered else palette[kind], edgecolors=palette[kind],
                           label=f"{kind}, unstructured (hollow)" if scattered else kind,
                           gid=f"runs:{kind}:unstructured" if scattered else f"runs:{kind}", zorder=3)
    yours = [run for run in usable if run.yours]
    if yours:
        draw_yours(ax, [getattr(run, x) for run in yours], [run.f1 for run in yours])
    front_runs = tradeoff.front([run for run in usable if not run.yours], x)
    if front_runs:
        ax.plot([getattr(run, x) for run in front_runs], [run.f1 for run in front_runs], color="black", lw=1.2,
                marker="o", markersize=11, markerfacecolor="none", label="Pareto front", gid="front", zorder=4)
    if not usable:
        ax.text(0.5, 0.5, "no runs recorded yet", transform=ax.transAxes, ha="center", va="center", color="gray")
    return front_runs, usable


def draw_yours(ax, xs, ys, size: float = 180) -> None:
    """The learner's own runs: red stars, labelled "your run" in the legend (gid ``runs:yours``)."""
    ax.scatter(xs, ys, marker=YOURS_MARKER, s=size, color=YOURS_COLOR, edgecolors="black", linewidths=0.6,
               label=YOURS_LABEL, gid="runs:yours", zorder=6)


def _label_runs(ax, usable, front_runs, x: str, hidden) -> list:
    """Name the front runs, the learner's own ("your run: <name>"), and of the rest the filled runs and the
    baselines (layer-dropped students, Torch-Pruning), unless they lie below the axis."""
    texts = []
    for run in usable:
        if run.yours and run not in hidden:
            texts.append(ax.text(getattr(run, x), run.f1, f"{YOURS_LABEL}: {run.name}", fontsize=8,
                                 color=YOURS_COLOR, fontweight="bold", zorder=7))
            continue
        if run in hidden or (run not in front_runs and run.kind not in ("filled", *STUDENT_KINDS)):
            continue
        on_front = run in front_runs
        texts.append(ax.text(getattr(run, x), run.f1, run.name, fontsize=7 if on_front else 6,
                             color="black" if on_front else "dimgray", zorder=5))
    return texts


def focus_f1_axis(ax, points, front_f1s, reference: float | None = None, *, describe=None) -> tuple[list, str]:
    """Limit ``ax``'s F1 axis to the band that matters: a little below the lowest front F1 (``front_f1s``) within
    ``BAND_DEPTH`` of the top, up to above ``reference`` and every point. ``points`` are ``(x, f1, item)``. Returns
    the items below the band (a collapsed run on the front among them), each marked by a caret on the bottom edge,
    and a note naming them (``describe(item)`` gives each one's words) for the caller to put under the axis."""
    front_f1s = [float(f1) for f1 in front_f1s]
    if not front_f1s:
        return [], ""
    top = max([float(f1) for _, f1, _ in points] + front_f1s + ([reference] if reference is not None else []))
    lowest = min((f1 for f1 in front_f1s if f1 >= top - BAND_DEPTH), default=top)
    span = max(top - lowest, 2.0)
    low, high = lowest - max(0.25 * span, 1.5), top + max(0.08 * span, 0.5)
    below = sorted((p for p in points if p[1] < low), key=lambda p: -p[1])
    ax.set_ylim(low, high)
    if not below:
        return [], ""
    ax.scatter([p[0] for p in below], [0.0] * len(below), transform=ax.get_xaxis_transform(), marker="v", s=30,
               color="gray", clip_on=False, gid="outliers", zorder=5)
    words = [(describe(p[2]) if describe else f"{p[1]:.1f}").replace(" ", "\u00a0") for p in below]  # unbroken
    words = words[:8] + ([f"{len(words) - 8} more"] if len(words) > 8 else [])
    return [p[2] for p in below], textwrap.fill("F1 below the axis (\u25bc): " + "; ".join(words), NOTE_WIDTH,
                                                break_long_words=False, break_on_hyphens=False)


# a step count, not a time limit: a time limit makes the figures depend on how busy the CPU is, so regenerating
# the README's figures from the same records would change them
LABEL_ITERATIONS = 300


def place_labels(ax, texts, xs=(), ys=()) -> None:
    """Move ``texts`` (made at the points they name) off each other and off the points ``xs``, ``ys``, with thin
    lines back to their points; a no-op without ``adjustText``. Call after every limit of ``ax`` is set."""
    if not texts:
        return
    try:
        from adjustText import adjust_text
    except ImportError:  # the course extra installs it; the figures stay readable enough without
        return
    fig = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # constrained layout: place the labels in the final axes
    adjust_text(texts, x=list(xs), y=list(ys), ax=ax, expand=(1.15, 1.4), force_text=(0.3, 0.5),
                arrowprops=dict(arrowstyle="-", color="gray", lw=0.5), iter_lim=LABEL_ITERATIONS)


def _outlier_words(run) -> str:
    return f"{YOURS_LABEL + ': ' if run.yours else ''}{run.name} {run.f1:.1f}"


def _our_panel(ax, records, chosen_runs, split, x: str, xlabel: str) -> tuple[list, list, list]:
    """Runs, front, teacher, the focused F1 axis and ``xlabel`` (with the note on the runs below the axis);
    returns the labels to place and the points they avoid."""
    front_runs, usable = _draw_runs(ax, chosen_runs, x)
    _draw_teacher(ax, records, split)
    references = [tradeoff.reference_f1_of(records, run, split) for run in usable]
    references = [ref for ref in references if ref is not None]
    # the learner's runs count as front points for the band: their own run stays on the axis when it can
    hidden, note = focus_f1_axis(ax, [(getattr(run, x), run.f1, run) for run in usable],
                                 [run.f1 for run in front_runs + [r for r in usable if r.yours]],
                                 max(references, default=None), describe=_outlier_words)
    ax.set_xlabel(xlabel + (f"\n{note}" if note else ""))
    xs, ys = [getattr(run, x) for run in usable], [run.f1 for run in usable]
    for a, b in zip(front_runs, front_runs[1:]):  # labels keep off the front line too, not just its points
        steps = np.linspace(0, 1, 12)[1:-1]
        xs += list(getattr(a, x) + steps * (getattr(b, x) - getattr(a, x)))
        ys += list(a.f1 + steps * (b.f1 - a.f1))
    return _label_runs(ax, usable, front_runs, x, hidden), xs, ys


def _draw_teacher(ax, records, split):
    """The dense teacher and, when recorded, its dense control trained as long: the runs' drops are taken from the
    higher of the two (:mod:`bmp.results.teachers`)."""
    record = tradeoff.teacher(records, split)
    if record is None:
        return
    f1 = float(record["metrics"]["f1"])
    ax.axhline(f1, color="gray", ls="--", lw=1, label=f"dense teacher, F1 {f1:.1f}", gid="teacher")
    control = reference_for(records, record.get("config", {}).get("output_dir"), split).control_f1
    if control is not None:
        ax.axhline(control, color="black", ls=":", lw=1, label=f"dense control (trained as long), F1 {control:.1f}",
                   gid="control")


def _no_hardware_group(how: str) -> str:
    return "baseline" if how == "baseline" else "hardware not stated"


def _draw_published(ax, references, x: str) -> tuple[list, list, list]:
    refs = references[references["f1"].notna() & references[x].notna()]
    if x == "speedup":
        groups = refs["speedup_hardware"].where(refs["speedup_hardware"].notna(),
                                                refs["speedup_how"].map(_no_hardware_group))
    else:
        groups = refs["structure"]
    palette = sns.color_palette("muted", max(len(set(groups)), 1))
    for i, group in enumerate(dict.fromkeys(groups)):
        part = refs[groups == group]
        label = f"published, {group}"
        hollow = x == "fill_rate" and group == "unstructured"
        ax.scatter(part[x], part["f1"], marker=GROUP_MARKERS[i % len(GROUP_MARKERS)], s=45,
                   facecolors="none" if hollow else palette[i], edgecolors=palette[i], label=label,
                   gid=f"references:{group}", zorder=3)
    texts = [ax.text(row[x], row["f1"], row["name"], fontsize=7, zorder=5) for _, row in refs.iterrows()]
    base = references[references["name"] == "BERT-base"]
    if len(base) and not math.isnan(base["f1"].iloc[0]):
        ax.axhline(base["f1"].iloc[0], color="gray", ls="--", lw=1,
                   label=f"BERT-base (published), F1 {base['f1'].iloc[0]:.1f}", gid="baseline")
    return texts, list(refs[x]), list(refs["f1"])


def _published_title(split: str | None) -> str:
    if split == "official":
        return "Published models: official SQuAD v1.1 dev set, as reported (their training and hardware)"
    return "Published models: official SQuAD v1.1 dev set (not the split on the left)"


def _finish(panels) -> None:
    """Legends, then labels placed: ``panels`` pairs each axis with its (labels, xs, ys)."""
    for ax, _ in panels:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best", framealpha=0.7).set_zorder(2)  # points stay visible over it
    for ax, labels in panels:
        place_labels(ax, *labels)


def _run_hardware(chosen_runs) -> str:
    labels = list(dict.fromkeys(run.speed_hardware for run in chosen_runs if run.speedup is not None))
    return "; ".join(labels) if labels else "no timings"


def f1_vs_speedup(records, references=None, *, split: str | None = None, speed: SpeedSource | None = None,
                  kinds=tradeoff.RUN_KINDS, figsize=(13, 5.2)) -> Figure:
    """F1 against speedup. Left: the recorded runs (``kinds``) on their held-out split, front marked, speedups
    from ``speed`` (default :func:`bmp.results.tradeoff.compared_speed`: each model's median over the timing runs
    when the newest times every run, else each record's own). Right: the
    reference models (default :func:`bmp.results.references.reference_models`) on the official dev set."""
    with _style():
        picked = tradeoff.pick_split(records, split, kinds)
        speed = speed or tradeoff.compared_speed(records, picked, kinds)
        chosen_runs = tradeoff.runs(records, kinds=kinds, split=split, speed=speed)
        split = picked
        fig, ours, published = _two_panels(figsize)
        our_labels = _our_panel(ours, records, chosen_runs, split, "speedup",
                                f"speedup over the dense teacher ({_run_hardware(chosen_runs)})")
        ours.set_ylabel(f"F1 on the {split or 'held-out'} split")
        ours.set_title(f"Our runs: {tradeoff.split_title(split)}", fontsize=10)

        published_labels = _draw_published(published, _references(references), "speedup")
        published.set_xlabel("speedup over BERT-base, as published (hardware in the legend)")
        published.set_ylabel("F1 on the official SQuAD v1.1 dev set")
        published.set_title(_published_title(split), fontsize=10)
        _finish([(ours, our_labels), (published, published_labels)])
        fig.suptitle("F1 against speed. The panels differ in evaluation set and hardware: compare the shapes of "
                     "the trade-off, not the heights", fontsize=10)
        return fig


def f1_vs_fill_rate(records, references=None, *, split: str | None = None, kinds=tradeoff.RUN_KINDS,
                    figsize=(13, 5.2)) -> Figure:
    """F1 against fill rate (encoder linear parameters kept). Left: the recorded runs against their dense teacher,
    front marked (more F1, less fill). Right: the references against BERT-base's 85M linear parameters (models
    larger than BERT-base are left out and named under the axis)."""
    with _style():
        chosen_runs = tradeoff.runs(records, kinds=kinds, split=split)
        split = tradeoff.pick_split(records, split, kinds)
        fig, ours, published = _two_panels(figsize)
        our_labels = _our_panel(ours, records, chosen_runs, split, "fill_rate",
                                "fill rate: encoder linear parameters kept / the dense teacher's")
        ours.set_ylabel(f"F1 on the {split or 'held-out'} split")
        ours.set_title(f"Our runs: {tradeoff.split_title(split)}", fontsize=10)
        ours.invert_xaxis()  # smaller models to the right, like faster ones in f1_vs_speedup

        references = _references(references)
        larger = references[references["fill_rate"] > 1]
        published_labels = _draw_published(published, references[~(references["fill_rate"] > 1)], "fill_rate")
        notes = [UNSTRUCTURED_NOTE] + [f"not shown: {row['name']} ({row['fill_rate']:.2f}x BERT-base)"
                                       for _, row in larger.iterrows()]
        published.set_xlabel("fill rate: encoder linear parameters / BERT-base's 85M\n" + "\n".join(notes))
        published.set_ylabel("F1 on the official SQuAD v1.1 dev set")
        published.set_title(_published_title(split), fontsize=10)
        published.invert_xaxis()
        _finish([(ours, our_labels), (published, published_labels)])
        fig.suptitle("F1 against size. The panels differ in evaluation set: compare the shapes of the trade-off, "
                     "not the heights", fontsize=10)
        return fig


def structure_heatmap(heads_per_layer, neurons_per_layer, *, dense_heads: int | None = None,
                      dense_neurons: int | None = None, title: str | None = None, figsize=(5.5, 1.9)) -> Figure:
    """Heads and FFN neurons kept per layer: counts written in the cells, colour = fraction kept (of the dense
    sizes when given, else of the largest layer's); ``title`` (e.g. the model's name) heads the figure."""
    heads, neurons = np.asarray(heads_per_layer, dtype=float), np.asarray(neurons_per_layer, dtype=float)
    if heads.shape != neurons.shape or heads.ndim != 1 or not len(heads):
        raise ValueError(f"need one head count and one neuron count per layer, got {len(heads)} and {len(neurons)}")
    scale_heads = dense_heads or max(heads.max(), 1)
    scale_neurons = dense_neurons or max(neurons.max(), 1)
    fraction = np.vstack([heads / scale_heads, neurons / scale_neurons])  # (2, layers)
    counts = np.vstack([heads, neurons]).astype(int)
    of = "of dense" if dense_heads and dense_neurons else "of the largest layer's"
    with _style():
        fig = Figure(figsize=figsize, layout="constrained")
        ax = fig.subplots()
        sns.heatmap(fraction, ax=ax, vmin=0, vmax=1, cmap="viridis", annot=counts, fmt="d",
                    annot_kws={"fontsize": 7}, cbar_kws={"label": "fraction kept"},
                    xticklabels=[str(i) for i in range(len(heads))], yticklabels=["heads", "FFN"])
        ax.set_xlabel("layer")
        ax.tick_params(axis="y", rotation=0)
        ax.set_title(f"{title + ': ' if title else ''}count kept, colour = fraction {of}", fontsize=8)
        return fig


__all__ = ["draw_yours", "f1_vs_fill_rate", "f1_vs_speedup", "focus_f1_axis", "place_labels", "structure_heatmap"]
