"""The live pruning widget: move a threshold over a pruned run's learned scores and watch what the model becomes.

::

    box = live_pruning_widget("runs/hybrid-lam30-course/final", "runs/teacher-course/final", data, tokenizer)
    display(box)
    box.slider.value = 0.3            # what moving the slider does
    box.method.value = "topk"         # the same scores, a fixed share kept per matrix
    box.report                        # the numbers shown (a bmp.course.remask.LiveReport)
    box.target.land(2.5)              # or name a speed instead: the budget picks heads and neurons, packed and timed
    box.target.landing                # asked, predicted and measured (a bmp.course.landing.Landing)

Every change redraws the masks (:func:`bmp.course.remask.remask_report`), then shows them per layer in notebook
02's style (black = kept; columns are output units, red lines mark heads), the heads and FFN neurons kept, the
packed size, a quick CPU timing against the dense teacher and F1 on a small cached held-out subset. Figures are PNGs
in ``ipywidgets.Image`` s, so the widget builds and updates without a display (tests drive it from code).

Below the threshold sits the target form (:class:`TargetControl`): a speed slider that lands the target on the same
learned scores (:func:`bmp.course.landing.land`, what ``python -m bmp prune --target-speedup`` does at its last
step), so the learner compares "a threshold of 0.3" with "2.5x" on one run.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
from matplotlib.figure import Figure

from bmp.course.landing import Landing, land
from bmp.course.remask import METHODS, SUBSET, LiveReport, LiveRun, load_live_run, remask_report
from bmp.course.widgets import SLIDER_LAYOUT, SLIDER_STYLE, image, png
from bmp.pruning.anatomy import ATTENTION_LINEARS, LINEAR_NAMES, encoder_layers
from bmp.results.plots import structure_heatmap
from bmp.speed.timing import CPU_SETTING
from bmp.training.target import Target

TARGET_RANGE = (1.2, 6.0, 0.1)  # min, max, step of the target speedup slider
RANGES = {"sigmoid_threshold": (0.0, 0.99, 0.01), "topk": (0.01, 1.0, 0.01)}  # min, max, step
LABELS = {"sigmoid_threshold": "sigmoid threshold (higher prunes more)", "topk": "TopK keep fraction (share kept)"}
EXPLAIN = {
    "sigmoid_threshold": "A sigmoid threshold keeps what the learned scores put above it, so each layer keeps its "
                         "own share: the scores decide where the model stays dense.",
    "topk": "TopK keeps the same share of every matrix (and of every layer's heads and neurons), whatever the "
            "scores say about the layer as a whole: the same learned scores, ranked within each matrix only.",
}


def mask_figure(model, title: str | None = None, width: float = 11.0) -> Figure:
    """Every layer's six masks in one row (black = kept) with the share each keeps, each laid out with one column
    per output unit (Q, K, V and FFN in transposed), red lines at head boundaries; a matrix without masks shows
    its non-zero weights."""
    parts = encoder_layers(model)
    fig = Figure(figsize=(width, 0.4 + 1.4 * len(parts)), layout="constrained")
    axes = fig.subplots(len(parts), len(LINEAR_NAMES), squeeze=False)
    for row, part in enumerate(parts):
        for col, name in enumerate(LINEAR_NAMES):
            module, ax = getattr(part, name), axes[row, col]
            mask = module.mask() if hasattr(module, "mask") else None
            mask = (module.weight != 0).float() if mask is None else mask.detach().float()
            mask = mask if name in ("attn_out", "ffn_out") else mask.T
            ax.imshow(mask.cpu().numpy(), cmap="Greys", vmin=0, vmax=1, aspect="auto")  # grey: mixed when shrunk
            if name in ATTENTION_LINEARS:
                for boundary in range(part.head_dim, mask.shape[1], part.head_dim):
                    ax.axvline(boundary - 0.5, color="tab:red", lw=0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{float(mask.mean()):.0%} kept", fontsize=7, labelpad=1)
            if row == 0:
                ax.set_title(name + ("" if name in ("attn_out", "ffn_out") else " (T)"), fontsize=8)
            if col == 0:
                ax.set_ylabel(f"layer {part.index}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def report_html(report: LiveReport) -> str:
    """The numbers of ``report`` as a small HTML table, with what they mean."""
    unstable = " <i>(unstable: the machine is busy, move again to re-time)</i>" if report.timing_unstable else ""
    rows = [
        ("linear density", f"{report.linear_density:.1%} of the six linears' weights kept"),
        ("heads kept per layer", f"{list(report.heads_per_layer)} of {report.dense_heads}"),
        ("FFN neurons kept per layer", f"{list(report.neurons_per_layer)} of {report.dense_neurons}"),
        ("packed size", f"{report.params / 1e6:.2f}M parameters (teacher {report.dense_params / 1e6:.2f}M); "
                        f"fill rate {report.fill_rate:.1%} of the dense encoder's linear parameters"),
        ("CPU speed (quick estimate)", f"<b>{report.speedup:.2f}x</b> the dense teacher: {report.packed_ms:.1f} ms vs "
                                       f"{report.teacher_ms:.1f} ms per pass at batch {report.timing_shape[0]} x "
                                       f"{report.timing_shape[1]}, fastest of a few interleaved passes{unstable}"),
        ("F1 (small held-out subset)", f"<b>{report.f1:.1f}</b> vs the teacher's {report.teacher_f1:.1f} "
                                       f"({-report.f1_drop:+.1f}) on {report.questions} questions; "
                                       f"EM {report.exact_match:.1f}"),
    ]
    body = "".join(f"<tr><td style='padding-right:1em'>{html.escape(k)}</td><td class='bmp-live-{i}'>{v}</td></tr>"
                   for i, (k, v) in enumerate(rows))
    return (f"<table class='bmp-live-report'>{body}</table><small>{html.escape(EXPLAIN[report.method])} Redrawn, "
            f"packed, timed and scored in {report.seconds:.1f} s. The recorded speedups use batch 8 x 384, median "
            f"of ten.</small>")


def landing_html(landing: Landing) -> str:
    """What a landed target asked, what the latency model predicted and what the packed model measured."""
    rows = [
        ("asked", f"<b>{landing.target.speedup:g}x</b> the teacher's speed" if landing.target.speedup is not None
         else f"a fill rate of <b>{landing.target.density:g}</b>"),
        ("predicted (latency model)", (f"{landing.predicted_speedup:.2f}x, " if landing.predicted_speedup else "")
         + f"fill rate {landing.predicted_fill_rate:.1%}"),
        ("measured (packed, interleaved with the teacher)", f"<b>{landing.measured_speedup:.2f}x</b>, fill rate "
                                                            f"{landing.fill_rate:.1%}"),
        ("heads / FFN neurons kept per layer", f"{list(landing.heads_per_layer)} / {list(landing.neurons_per_layer)}"),
        ("F1 before filling", f"<b>{landing.f1:.1f}</b> vs the teacher's {landing.teacher_f1:.1f} on "
                              f"{landing.questions} questions"),
    ]
    body = "".join(f"<tr><td style='padding-right:1em'>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return (f"<table class='bmp-live-target'>{body}</table><small>The budget keeps the best-scored heads and "
            "neurons (by this run's learned scores) whose packed shape the latency model prices within the target; "
            f"a head counts as gone only when all its blocks are. Timed at batch {CPU_SETTING.batch} x "
            f"{CPU_SETTING.seq}, as the recorded speedups are.</small>")


class TargetControl(widgets.VBox):
    """A target speed instead of a threshold, on the same run: move the slider (or call :meth:`land`) and the
    budget picks heads and neurons from the run's scores, packs, times and scores the result. The latency model is
    calibrated on the first landing (timed shapes of this model: the slow part) and reused."""

    def __init__(self, run: LiveRun, *, speedup: float = 2.5):
        self.run = run
        self.landing: Landing | None = None  # the newest landing; None before the first and after a refusal
        self._latency = None  # calibrated on the first landing, reused after
        low, high, step = TARGET_RANGE
        self.slider = widgets.FloatSlider(value=speedup, min=low, max=high, step=step, readout_format=".1f",
                                          description="or a target: times the teacher's speed",
                                          continuous_update=False, style=SLIDER_STYLE,
                                          layout=widgets.Layout(**SLIDER_LAYOUT))
        self.status = widgets.HTML("<i>move the slider to land a target on this run's scores</i>")
        self.numbers = widgets.HTML()
        self.kept = image()
        self.kept.layout.display = "none"  # shown once a target has landed (an empty image draws as a broken one)
        super().__init__([self.slider, self.status, self.numbers, self.kept])
        self.add_class("bmp-live-target-form")
        self.slider.observe(lambda change: self.update(), names="value")

    def land(self, speedup: float) -> Landing | None:
        """Land ``speedup`` (as moving the slider there does) and return the landing (None when refused). A speed
        outside the slider's range is refused, not moved to its end."""
        low, high, _ = TARGET_RANGE
        if not low <= speedup <= high:
            raise ValueError(f"target speedup {speedup:g}: the slider spans {low:g}x to {high:g}x; for another "
                             f"speed, call bmp.course.landing.land(widget.run, Target(speedup={speedup:g}))")
        if self.slider.value == speedup:
            self.update()
        else:
            self.slider.value = speedup
        return self.landing

    def update(self) -> None:
        self.status.value = ("<i>landing the target (packing, timing, scoring)...</i>" if self._latency else
                             "<i>calibrating the latency model on this machine, then landing...</i>")
        try:
            self.landing = land(self.run, Target(speedup=float(self.slider.value)), latency=self._latency)
        except ValueError as err:  # an unreachable target names the limit: show it instead of a landing
            self.landing = None
            self.status.value = f"<b>refused:</b> {html.escape(str(err))}"
            self.numbers.value = ""
            self.kept.value = b""  # no heatmap of an earlier landing beside the refusal
            self.kept.layout.display = "none"
            return
        self._latency = self.landing.latency
        self.numbers.value = landing_html(self.landing)
        config = self.run.model.config
        self.kept.value = png(structure_heatmap(self.landing.heads_per_layer, self.landing.neurons_per_layer,
                                                dense_heads=config.num_attention_heads,
                                                dense_neurons=config.intermediate_size,
                                                title=f"kept at {self.slider.value:g}x"), dpi=80)
        self.kept.layout.display = None
        self.status.value = ""


class LivePruningWidget(widgets.VBox):
    """Method toggle, threshold slider, the numbers, the masks per layer and the heads/neurons kept; then the
    target form (:class:`TargetControl`, ``.target``) on the same run."""

    def __init__(self, run: LiveRun, *, method: str | None = None, value: float | None = None):
        self.run = run
        method = method or (run.config.method if run.config.method in METHODS else METHODS[0])
        if method not in METHODS:
            raise ValueError(f"method {method!r}: choose one of {METHODS}")
        start = value if value is not None else run.config.final_threshold if method == run.config.method else 0.5
        self._values = {method: start}
        self.report: LiveReport | None = None
        self.method = widgets.ToggleButtons(options=[(LABELS[m], m) for m in METHODS], value=method,
                                            style={"button_width": "auto"})
        low, high, step = RANGES[method]
        self.slider = widgets.FloatSlider(value=min(max(self._values[method], low), high), min=low, max=high,
                                          step=step, description=LABELS[method], readout_format=".2f",
                                          continuous_update=False, style=SLIDER_STYLE,
                                          layout=widgets.Layout(**SLIDER_LAYOUT))
        self.status = widgets.HTML()
        self.numbers = widgets.HTML()
        self.masks = image()
        self.kept = image()
        self.target = TargetControl(run)
        super().__init__([self.method, self.slider, self.status, self.numbers, self.masks, self.kept, self.target])
        self.add_class("bmp-live")  # for the browser test's selectors, and for styling
        self._switching = False
        self.slider.observe(self._on_value, names="value")
        self.method.observe(self._on_method, names="value")
        self.update()

    def _on_value(self, change) -> None:
        if not self._switching:
            self.update()

    def _on_method(self, change) -> None:
        """Switch how masks are drawn; TopK starts at the share the threshold kept, so the two compare at one
        size and differ only in where the weights are kept."""
        old, new = change["old"], change["new"]
        self._values[old] = self.slider.value
        if new not in self._values:
            self._values[new] = round(self.report.linear_density, 2) if new == "topk" and self.report else 0.5
        low, high, step = RANGES[new]
        self._switching = True
        try:
            self.slider.min, self.slider.max = min(self.slider.min, low), max(self.slider.max, high)  # never empty
            self.slider.value = min(max(self._values[new], low), high)
            self.slider.min, self.slider.max, self.slider.step = low, high, step
            self.slider.description = LABELS[new]
        finally:
            self._switching = False
        self.update()

    def update(self) -> None:
        """Redraw the masks at the slider's value and refresh everything shown."""
        method, value = self.method.value, float(self.slider.value)
        self.status.value = "<i>redrawing the masks, packing, timing and scoring...</i>"
        try:
            self.report = remask_report(self.run, value, method)
        except Exception as err:  # an observer's error would vanish into the kernel log: show it instead
            self.status.value = f"<b>could not redraw at {value:g}:</b> {html.escape(f'{type(err).__name__}: {err}')}"
            raise
        self.numbers.value = report_html(self.report)
        title = f"{self.run.folder.parent.name}: masks at {LABELS[method].split(' (')[0]} {value:.2f}"
        self.masks.value = png(mask_figure(self.run.model, title), dpi=80)
        self.kept.value = png(structure_heatmap(self.report.heads_per_layer, self.report.neurons_per_layer,
                                                dense_heads=self.report.dense_heads,
                                                dense_neurons=self.report.dense_neurons, title="kept"), dpi=80)
        self.status.value = ""


def live_pruning_widget(run_folder, teacher_folder, data=None, tokenizer=None, *, subset: int = SUBSET,
                        method: str | None = None, value: float | None = None) -> LivePruningWidget:
    """The live pruning widget on the pruned run saved in ``run_folder`` (its ``final`` folder, holding
    ``masked.safetensors``) against its dense teacher in ``teacher_folder``. F1 is scored on the first ``subset``
    held-out questions of ``data`` (a QAData, SquadSplits or list of examples; None: the profile's held-out
    split), tokenized once. ``method`` (sigmoid_threshold or topk) and ``value`` set the start; by default the
    run's own method at the threshold it was trained to."""
    run = load_live_run(run_folder, teacher_folder, data, tokenizer, subset=subset)
    return LivePruningWidget(run, method=method, value=value)


__all__ = ["LivePruningWidget", "TARGET_RANGE", "TargetControl", "landing_html", "live_pruning_widget", "mask_figure",
           "report_html"]
