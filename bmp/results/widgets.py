"""A slider over the trade-off: say how much F1 you may give up, see which recorded model to ship.

A thin layer over :func:`bmp.results.tradeoff.choose`; it builds without a display (the heatmap is a PNG in an
``ipywidgets.Image``), so it can be tested like any object::

    box = tradeoff_widget(load_records())
    box.slider.value = 2.0       # what moving the slider does
    box.chosen["name"]           # the model now shown
"""
from __future__ import annotations

import html
import io

import ipywidgets as widgets

from bmp.results import tradeoff
from bmp.results.plots import structure_heatmap


class TradeoffWidget(widgets.VBox):
    """Slider ("F1 you may give up"), the chosen model's numbers, and its heads/neurons per layer."""

    def __init__(self, records, *, split: str | None = None, speed_key: str = "cpu_speedup",
                 speedups: dict[str, float] | None = None, speed_hardware: str | None = None, value: float = 1.0,
                 max_drop: float | None = None, step: float = 0.1, dense_heads: int | None = None,
                 dense_neurons: int | None = None):
        self._records = list(records)
        self._options = dict(split=split, speed_key=speed_key, speedups=speedups, speed_hardware=speed_hardware)
        self._split = tradeoff.pick_split(self._records, split)
        self._teacher_f1 = tradeoff.teacher_f1(self._records, self._split)
        self._dense = (dense_heads, dense_neurons)
        front = tradeoff.front(tradeoff.runs(self._records, split=split, speed_key=speed_key, speedups=speedups,
                                             speed_hardware=speed_hardware))
        if max_drop is None:
            worst = min((run.f1 for run in front), default=None)
            gap = 0.0 if worst is None or self._teacher_f1 is None else self._teacher_f1 - worst
            max_drop = max(1.0, step * -(-gap // step))  # the whole front fits on the slider
        self.chosen: dict | None = None
        self.slider = widgets.FloatSlider(value=min(value, max_drop), min=0.0, max=max_drop, step=step,
                                          description="F1 you may give up", readout_format=".1f",
                                          continuous_update=False, style={"description_width": "initial"},
                                          disabled=self._teacher_f1 is None)
        self.summary = widgets.HTML()
        self.heatmap = widgets.Image(format="png")
        super().__init__([self.slider, self.summary, self.heatmap])
        self.slider.observe(self._on_change, names="value")
        self.update(self.slider.value)

    def _on_change(self, change) -> None:
        self.update(change["new"])

    def update(self, max_f1_drop: float) -> None:
        """Choose for ``max_f1_drop`` and refresh the text and the heatmap."""
        if self._teacher_f1 is None:
            self.chosen = None
            self.summary.value = (f"No dense teacher scored on split {html.escape(str(self._split))}: record one "
                                  f"(python -m bmp.training.finetune) to measure F1 given up.")
            self.heatmap.value = b""
            return
        self.chosen = tradeoff.choose(self._records, max_f1_drop=max_f1_drop, **self._options)
        self.summary.value = describe(self.chosen, self._teacher_f1, max_f1_drop, self._split)
        self.heatmap.value = self._heatmap_png(self.chosen)

    def _heatmap_png(self, chosen: dict | None) -> bytes:
        if not chosen or not chosen["heads_per_layer"] or not chosen["neurons_per_layer"]:
            return b""
        metrics = next((r["metrics"] for r in self._records if r.get("name") == chosen["name"]), {})
        heads = self._dense[0] or metrics.get("dense_heads")
        neurons = self._dense[1] or metrics.get("dense_neurons")
        fig = structure_heatmap(chosen["heads_per_layer"], chosen["neurons_per_layer"], dense_heads=heads,
                                dense_neurons=neurons, title=chosen["name"])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()


def describe(chosen: dict | None, teacher_f1: float, max_f1_drop: float, split: str | None) -> str:
    """The HTML line under the slider."""
    where = html.escape(tradeoff.split_title(split))
    if chosen is None:
        return (f"No recorded model is within {max_f1_drop:.1f} F1 of the dense teacher (F1 {teacher_f1:.1f}): "
                f"keep the teacher, or give up more F1. <i>Scores: {where}.</i>")
    fill = "" if chosen["fill_rate"] is None else f", fill rate {chosen['fill_rate']:.0%}"
    return (f"<b>{html.escape(chosen['name'])}</b> ({html.escape(chosen['kind'])}): F1 {chosen['f1']:.1f} "
            f"({-chosen['f1_drop']:+.1f} vs the teacher's {teacher_f1:.1f}), {chosen['speedup']:.2f}x faster "
            f"({html.escape(chosen['speed_hardware'])}){fill}. <i>Scores: {where}.</i>")


def tradeoff_widget(records, **options) -> TradeoffWidget:
    """The slider box for ``records`` (options as for :class:`TradeoffWidget`); display it in a notebook."""
    return TradeoffWidget(records, **options)


__all__ = ["TradeoffWidget", "describe", "tradeoff_widget"]
