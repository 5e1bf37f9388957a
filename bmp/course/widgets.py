"""A slider over the trade-off: say how much F1 you may give up, see which recorded model to ship.

A thin layer over :func:`bmp.results.tradeoff.choose`, with the same honest inputs as the targets: one speed source
for every run (:func:`bmp.results.tradeoff.compared_speed`: each model's median over the timing runs) and each
run's F1 given up against its *own* reference (the max of its teacher and that teacher's control), on validation F1
whenever every candidate has one (:func:`bmp.results.tradeoff.drops`: the held-out F1 is reported, never chosen on;
the figure shows the F1 the choice is made on). It chooses only among the models on the front that run faster than
the teacher; when none meets the budget it says so, and how far the teacher itself sits below the reference. A
learner's own runs (:func:`bmp.results.yours.with_learner_records`) are drawn as red stars labelled "your run", and
can be chosen like any other. It builds without a display (figures are PNGs in ``ipywidgets.Image`` s), so it
can be tested like any object::

    box = tradeoff_widget(load_records())
    box.slider.value = 2.0       # what moving the slider does
    box.chosen["name"]           # the model now shown
"""
from __future__ import annotations

import html
import io
from dataclasses import replace

import ipywidgets as widgets
from matplotlib.figure import Figure

from bmp.results import tradeoff
from bmp.results.plots import YOURS_LABEL, draw_yours, focus_f1_axis, structure_heatmap
from bmp.results.seeds import HELD_OUT, VALIDATION
from bmp.results.speeds import SpeedSource

SLIDER_LAYOUT = {"width": "90%", "max_width": "900px"}
SLIDER_STYLE = {"description_width": "initial"}
CHOSEN_COLOR = "tab:red"


def png(fig, dpi: int = 90) -> bytes:
    """A matplotlib figure as PNG bytes, for an ``ipywidgets.Image``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def image() -> widgets.Image:
    """An empty PNG image widget shown at its own size (a box would stretch it to the box's width)."""
    return widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start", max_width="100%"))


class TradeoffWidget(widgets.VBox):
    """Slider ("F1 you may give up"), the chosen model's numbers, the front with the chosen model marked, and its
    heads/neurons per layer. ``speed`` (a :class:`~bmp.results.speeds.SpeedSource`) overrides the default speeds
    (:func:`bmp.results.tradeoff.compared_speed`: each model's median over the timing runs, else each record's
    own)."""

    def __init__(self, records, *, split: str | None = None, speed: SpeedSource | None = None, value: float = 1.0,
                 max_drop: float | None = None, step: float = 0.1, dense_heads: int | None = None,
                 dense_neurons: int | None = None):
        self._records = list(records)
        self._split = tradeoff.pick_split(self._records, split)
        self.speed = speed or tradeoff.compared_speed(self._records, self._split)
        self._runs = tradeoff.runs(self._records, split=split, speed=self.speed)
        given_up, self.chosen_on = tradeoff.drops(self._records, tradeoff.faster(self._runs), self._split)
        self._references = {run.name: tradeoff.reference_f1_of(self._records, run, self._split, self.chosen_on)
                            for run in self._runs}  # on the F1 the choice is made on, as the figure shows
        self._measurable = any(ref is not None for ref in self._references.values())
        self._teacher = tradeoff.teacher_reference(self._records, self._split)
        self._dense = (dense_heads, dense_neurons)
        if max_drop is None:
            drops = [given_up[run.name] for run in tradeoff.shippable(self._runs, self.chosen_on)
                     if given_up[run.name] is not None]
            max_drop = max(1.0, step * -(-max(drops, default=0.0) // step))  # the whole front fits on the slider
        self.chosen: dict | None = None
        self.slider = widgets.FloatSlider(value=min(value, max_drop), min=0.0, max=max_drop, step=step,
                                          description="F1 you may give up (vs each run's reference)",
                                          readout_format=".1f", continuous_update=False, style=SLIDER_STYLE,
                                          layout=widgets.Layout(**SLIDER_LAYOUT), disabled=not self._measurable)
        self.summary = widgets.HTML()
        self.plot = image()
        self.heatmap = image()
        super().__init__([self.slider, self.summary, self.plot, self.heatmap])
        self.add_class("bmp-tradeoff")  # for the browser test's selectors, and for styling
        self.slider.observe(self._on_change, names="value")
        self.update(self.slider.value)

    def _on_change(self, change) -> None:
        self.update(change["new"])

    def update(self, max_f1_drop: float) -> None:
        """Choose for ``max_f1_drop`` and refresh the text and the figures."""
        if not self._measurable:
            self.chosen = None
            self.summary.value = (f"No dense teacher scored on split {html.escape(str(self._split))}: record one "
                                  f"(python -m bmp.training.finetune) to measure F1 given up.")
            self.plot.value = self.heatmap.value = b""
            return
        self.chosen = tradeoff.choose(self._records, max_f1_drop=max_f1_drop, split=self._split, speed=self.speed)
        self.summary.value = describe(self.chosen, max_f1_drop, self._split, self.speed, teacher=self._teacher,
                                      on=self.chosen_on)
        self.plot.value = png(front_figure(self._runs, self._references, max_f1_drop, self.chosen, self.chosen_on))
        self.heatmap.value = self._heatmap_png(self.chosen)

    def _heatmap_png(self, chosen: dict | None) -> bytes:
        if not chosen or not chosen["heads_per_layer"] or not chosen["neurons_per_layer"]:
            return b""
        metrics = next((r["metrics"] for r in self._records if r.get("name") == chosen["name"]), {})
        heads = self._dense[0] or metrics.get("dense_heads")
        neurons = self._dense[1] or metrics.get("dense_neurons")
        return png(structure_heatmap(chosen["heads_per_layer"], chosen["neurons_per_layer"], dense_heads=heads,
                                     dense_neurons=neurons, title=chosen["name"]))


def front_figure(runs, references: dict, max_f1_drop: float, chosen: dict | None, on: str = HELD_OUT,
                 figsize=(7.5, 3.4)) -> Figure:
    """F1 where the choice is made (``on``: held-out, or validation, with ``references`` on the same split) against
    speedup: runs within the budget of their own reference filled, the others hollow, the front drawn, the
    learner's own runs as red stars (gid ``runs:yours``), each reference dashed, the teacher's speed (1x) dotted
    when a run is no faster, and the chosen run ringed in red (gid ``chosen``)."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    runs = [replace(run, f1=tradeoff.chosen_f1(run, on)) for run in runs]  # drawn on the F1 the choice is made on
    timed = [run for run in runs if run.speedup is not None and run.f1 is not None]
    inside = [run for run in timed if references.get(run.name) is not None
              and references[run.name] - run.f1 <= max_f1_drop + tradeoff.TOLERANCE]
    outside = [run for run in timed if run not in inside]
    ax.scatter([r.speedup for r in inside], [r.f1 for r in inside], s=30, color="tab:blue", zorder=3,
               label=f"within {max_f1_drop:.1f} F1 of its reference", gid="within")
    ax.scatter([r.speedup for r in outside], [r.f1 for r in outside], s=30, facecolors="none", edgecolors="gray",
               zorder=3, label="further below its reference", gid="outside")
    yours = [run for run in timed if run.yours]
    if yours:
        draw_yours(ax, [r.speedup for r in yours], [r.f1 for r in yours], size=140)
        for run in yours:
            ax.annotate(f"{YOURS_LABEL}: {run.name}", (run.speedup, run.f1), textcoords="offset points",
                        xytext=(9, -4), ha="left", fontsize=7, color="crimson", zorder=6)
    front = tradeoff.front(timed)
    if front:
        ax.plot([r.speedup for r in front], [r.f1 for r in front], color="black", lw=1, zorder=2,
                label="front", gid="front")
    if any(run.speedup <= tradeoff.TEACHER_SPEED for run in timed):
        ax.axvline(tradeoff.TEACHER_SPEED, color="gray", ls=":", lw=0.8, gid="teacher-speed",
                   label="the teacher's speed: never chosen at or below it")
    for value in sorted({ref for ref in references.values() if ref is not None}):
        ax.axhline(value, color="gray", ls="--", lw=0.8, gid="reference")
        ax.axhline(value - max_f1_drop, color="gray", ls=":", lw=0.8, gid="budget")
    refs = [ref for ref in references.values() if ref is not None]
    focus_f1_axis(ax, [(r.speedup, r.f1, r) for r in timed], [r.f1 for r in front], max(refs, default=None))
    if chosen is not None and chosen.get("speedup") is not None:
        chosen = {**chosen, "f1": chosen["validation_f1"] if on == VALIDATION else chosen["f1"]}
        ax.scatter([chosen["speedup"]], [chosen["f1"]], s=220, facecolors="none", edgecolors=CHOSEN_COLOR,
                   linewidths=2, zorder=5, label=f"chosen: {chosen['name']}", gid="chosen")
        ax.annotate(chosen["name"], (chosen["speedup"], chosen["f1"]), textcoords="offset points", xytext=(0, 10),
                    ha="center", fontsize=8, color=CHOSEN_COLOR, zorder=6)
    ax.set_xlabel("speedup over its dense teacher")
    ax.set_ylabel(f"F1 ({on}: where the choice is made)" if on == VALIDATION else "F1 (held-out)")
    ax.set_title("dashed: reference F1; dotted: reference minus the F1 you give up", fontsize=8)
    ax.legend(fontsize=7, loc="lower left", framealpha=0.7).set_zorder(2)
    ax.grid(alpha=0.3)
    return fig


def describe(chosen: dict | None, max_f1_drop: float, split: str | None, speed: SpeedSource | None = None, *,
             teacher=None, on: str | None = None) -> str:
    """The HTML lines under the slider; ``teacher`` (a :class:`~bmp.results.teachers.Reference`, from
    :func:`bmp.results.tradeoff.teacher_reference`) says what keeping the teacher costs when nothing is chosen;
    ``on``: the F1 the budget is checked on (default: the chosen model's ``chosen_on``, else held-out)."""
    where = html.escape(tradeoff.split_title(split))
    speeds = "" if speed is None else f" Speeds: {html.escape(speed.describe())}."
    on = on or (chosen or {}).get("chosen_on") or HELD_OUT
    checked = (" The budget is checked on validation F1, so the held-out F1 (the one reported) never picks, and may "
               "land further below its reference than the budget." if on == VALIDATION else "")
    foot = (f"<br><i>Scores: {where}. Each run's F1 given up is taken from its own reference, the max of its "
            f"teacher and that teacher's control.{checked}{speeds}</i>")
    if chosen is None:
        return (f"No pruned model on the front is both faster than the teacher and within {max_f1_drop:.1f} F1 of "
                f"its reference: give up more F1, or keep the teacher.{keeping_teacher(teacher)}{foot}")
    fill = "" if chosen["fill_rate"] is None else f", fill rate {chosen['fill_rate']:.0%}"
    reference = chosen.get("reference_f1")
    versus = "" if reference is None else f" ({-chosen['f1_drop']:+.1f} vs its reference {reference:.1f})"
    if on == VALIDATION:
        versus += f"; validation F1 {chosen['validation_f1']:.1f}"
    return (f"<b>{html.escape(chosen['name'])}</b> ({html.escape(chosen['kind'])}): F1 {chosen['f1']:.1f}{versus}, "
            f"{chosen['speedup']:.2f}x faster ({html.escape(chosen['speed_hardware'])}){fill}.{foot}")


def keeping_teacher(teacher) -> str:
    """What keeping the teacher costs, against the reference the pruned models are held to (HTML, or "")."""
    if teacher is None or teacher.teacher_f1 is None or teacher.reference_f1 is None:
        return ""
    below = teacher.reference_f1 - teacher.teacher_f1
    if below <= tradeoff.TOLERANCE:
        return f" The teacher ({teacher.teacher_f1:.1f} F1) is its own reference: keeping it gives up nothing."
    return (f" Keeping the teacher is no free choice either: it scores {teacher.teacher_f1:.1f}, itself "
            f"{below:.1f} F1 below the reference {teacher.reference_f1:.1f} (its {teacher.source}'s).")


def tradeoff_widget(records=None, **options) -> TradeoffWidget:
    """The slider box for ``records`` (default: the repository's ``data/results``; options as for
    :class:`TradeoffWidget`); display it in a notebook."""
    if records is None:
        from bmp.results.records import load_records

        records = load_records()
    return TradeoffWidget(records, **options)


__all__ = ["TradeoffWidget", "describe", "front_figure", "image", "keeping_teacher", "png", "tradeoff_widget"]
