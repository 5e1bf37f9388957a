"""Reference points, Pareto fronts, trade-off plots, the chooser and its widget, and the speed benches.

Records are hand-made fixtures written to a temporary folder; timing uses tiny random models.
"""
import json
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from transformers import BertConfig, MobileBertConfig

from bmp.bench import align as bench_align
from bmp.bench import pareto as bench_pareto
from bmp.bench import timing as bench_timing
from bmp.course.widgets import tradeoff_widget
from bmp.models import tiny_bert
from bmp.packing.pack import pack
from bmp.packing.saving import save_packed
from bmp.results import tradeoff
from bmp.results.pareto import pareto_front
from bmp.results.plots import KIND_MARKERS, f1_vs_fill_rate, f1_vs_speedup, structure_heatmap
from bmp.results.records import load_records, record, train_epochs_of
from bmp.results.references import (
    ReferenceDataError,
    load_reference_file,
    published_speedups,
    reference_architectures,
    reference_models,
    reference_rows,
)
from bmp.speed.architectures import build_reference, time_references

HELD_OUT = "dev-by-article"
# name, kind, F1, CPU speedup, fill rate. On the speed front: a, b, d (pruned) and s2 (a faster student);
# c is beaten by b, e by d, s1 by b. On the fill front: s2, e, d, b, a.
RUNS = [
    ("run-a", "filled", 70.5, 1.5, 0.70),
    ("run-b", "filled", 69.0, 2.2, 0.45),
    ("run-c", "packed", 66.0, 2.0, 0.50),
    ("run-d", "filled", 64.0, 3.4, 0.25),
    ("run-e", "filled", 60.0, 3.1, 0.20),
    ("student-a", "distil-recipe", 65.0, 2.0, 0.50),
    ("student-b", "distil-recipe", 55.0, 4.0, 0.15),
]
TEACHER_F1 = 70.0


def _provenance(split_text="SQuAD v1.1 dev split by article"):
    return {"command": "test", "base_model": "tiny", "data_split": split_text, "profile": "smoke",
            "hardware": {"cpu": "x86_64", "cpu_count": 2, "torch_threads": 2}, "date": "2026-01-01T00:00:00+00:00",
            "git_commit": "test"}


def _run_metrics(f1, speedup, fill, split=HELD_OUT, layers=3):
    return {"f1": f1, "exact_match": f1 - 10, "cpu_speedup": speedup, "fill_rate": fill,
            "linear_reduction": 1 / fill, "eval_split": split, "cpu_timing": {"threads": 2},
            "heads_per_layer": [4, 3, 1][:layers], "neurons_per_layer": [120, 64, 8][:layers]}


@pytest.fixture
def records_dir(tmp_path):
    folder = tmp_path / "results"
    record("teacher-course", "dense", {"f1": TEACHER_F1, "exact_match": 60.0, "eval_split": HELD_OUT},
           _provenance(), {"output_dir": "runs/teacher/final"}, directory=folder)
    record("teacher-smoke", "dense", {"f1": 95.0, "exact_match": 90.0, "eval_split": "sample"},
           _provenance("sample"), directory=folder)
    for name, kind, f1, speedup, fill in RUNS:
        record(name, kind, _run_metrics(f1, speedup, fill), _provenance(),
               {"teacher": "runs/teacher/final", "output_dir": f"runs/{name}"}, directory=folder)
    # scored on another split: must never be compared with the rest
    record("smoke-run", "filled", _run_metrics(90.0, 5.0, 0.1, split="sample"), _provenance("sample"),
           directory=folder)
    return folder


@pytest.fixture
def records(records_dir):
    return load_records(records_dir)


def _offsets(ax, gid_prefix):
    return {tuple(map(float, xy)) for c in ax.collections if (c.get_gid() or "").startswith(gid_prefix)
            for xy in c.get_offsets()}


def _line(ax, gid):
    lines = [line for line in ax.lines if line.get_gid() == gid]
    assert len(lines) == 1, f"expected one line with gid {gid!r}"
    return [tuple(map(float, xy)) for xy in lines[0].get_xydata()]


# ---------------------------------------------------------------- reference data

def test_reference_models_have_scores_and_sources():
    table = reference_models()
    assert table["source"].map(lambda s: isinstance(s, str) and len(s.strip()) > 0).all()
    assert (table["eval_split"] == "official").all()
    expected = {"BERT-base", "BERT-large WWM", "DistilBERT", "TinyBERT-6", "TinyBERT-4", "MobileBERT",
                "Block pruning hybrid-filled 1.84x", "Block pruning struct 3.64x", "Soft movement + distillation 10%",
                "CoFi 60% sparse", "CoFi 93% sparse"}
    assert expected <= set(table["name"])
    base = table.set_index("name").loc["BERT-base"]
    assert (base["exact_match"], base["f1"], base["speedup"], base["fill_rate"]) == (80.8, 88.5, 1.0, 1.0)
    cofi = table.set_index("name").loc["CoFi 60% sparse"]
    assert math.isnan(cofi["exact_match"]) and cofi["f1"] == 89.1 and cofi["speedup_hardware"] == "V100"
    distil = table.set_index("name").loc["DistilBERT"]
    assert distil["speedup"] == 2.06 and "1.63x (CPU, paper)" in distil["speedups"]


def test_reference_architectures_are_the_standard_shapes():
    archs = reference_architectures()
    assert list(archs) == ["BERT-base", "BERT-large WWM", "DistilBERT", "TinyBERT-6", "TinyBERT-4", "MobileBERT"]
    shape = {name: (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size)
             for name, c in archs.items()}
    assert shape["BERT-base"] == (12, 768, 12, 3072) and shape["BERT-large WWM"] == (24, 1024, 16, 4096)
    assert shape["TinyBERT-4"] == (4, 312, 12, 1200) and shape["DistilBERT"] == (6, 768, 12, 3072)
    assert isinstance(archs["MobileBERT"], MobileBertConfig) and archs["MobileBERT"].true_hidden_size == 128
    with pytest.raises(KeyError, match="CoFi"):
        reference_architectures(names=["CoFi 60% sparse"])


def test_reference_validation_names_the_entry(tmp_path):
    data = load_reference_file()
    del data["models"][2]["source"]
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ReferenceDataError, match=r"DistilBERT.*'source'"):
        reference_rows(path)
    data = load_reference_file()
    data["models"][0]["f1"] = 188.5
    path.write_text(json.dumps(data))
    with pytest.raises(ReferenceDataError, match="BERT-base.*out of range"):
        reference_rows(path)
    with pytest.raises(FileNotFoundError, match="reference_models.json"):
        reference_rows(tmp_path / "missing.json")


# ---------------------------------------------------------------- Pareto front

def test_pareto_front_on_hand_made_points():
    points = [[1, 1], [2, 2], [2, 1], [1, 2], [2, 2], [0, 3]]
    assert pareto_front(points).tolist() == [False, True, False, False, True, True]
    # (F1 up, fill rate down); a NaN never joins the front nor pushes anyone off it
    points = [[70, 0.5], [69, 0.3], [68, 0.4], [np.nan, 0.1], [71, 0.9]]
    assert pareto_front(points, maximize=(True, False)).tolist() == [True, True, False, False, True]
    with pytest.raises(ValueError, match="columns"):
        pareto_front([[1, 2, 3]])


# ---------------------------------------------------------------- plots

def test_f1_vs_speedup_separates_our_runs_from_published(records):
    with pytest.warns(UserWarning, match="other splits"):
        fig = f1_vs_speedup(records)
    ours, published = fig.axes
    assert "speedup over the dense teacher" in ours.get_xlabel() and "measured here" not in ours.get_xlabel()
    assert "CPU x86_64, 2 threads" in ours.get_xlabel()
    assert ours.get_ylabel() == f"F1 on the {HELD_OUT} split" and "split by article" in ours.get_title()
    assert "official" in published.get_ylabel() and "Published" in published.get_title()
    assert "as published" in published.get_xlabel()
    assert not ours.get_shared_y_axes().joined(ours, published)

    assert _offsets(ours, "runs:filled") == {(1.5, 70.5), (2.2, 69.0), (3.4, 64.0), (3.1, 60.0)}
    assert _offsets(ours, "runs:packed") == {(2.0, 66.0)}
    assert _offsets(ours, "runs:distil-recipe") == {(2.0, 65.0), (4.0, 55.0)}
    assert _line(ours, "front") == [(1.5, 70.5), (2.2, 69.0), (3.4, 64.0), (4.0, 55.0)]
    assert {y for _, y in _line(ours, "teacher")} == {TEACHER_F1}
    assert not [line for line in ours.lines if line.get_gid() == "control"]  # none recorded

    table = reference_models()
    expected = {(float(r.speedup), float(r.f1)) for r in table.itertuples() if not math.isnan(r.f1)}
    assert _offsets(published, "references:") == expected
    assert {y for _, y in _line(published, "baseline")} == {88.5}
    # nothing crosses panels: no published point on the left, none of ours (nor the other split's) on the right
    assert not _offsets(ours, "references:") and not _offsets(published, "runs:")
    assert (5.0, 90.0) not in _offsets(ours, "")


def test_every_run_kind_is_drawn(records_dir):
    assert set(KIND_MARKERS) == set(tradeoff.RUN_KINDS)  # a kind without a marker fails only once it is recorded
    record("peer", "torch-pruning", _run_metrics(62.0, 3.0, 0.3), _provenance(),
           {"teacher": "runs/teacher/final", "output_dir": "runs/peer"}, directory=records_dir)
    with pytest.warns(UserWarning, match="other splits"):
        fig = f1_vs_speedup(load_records(records_dir))
    assert _offsets(fig.axes[0], "runs:torch-pruning") == {(3.0, 62.0)}
    assert "peer" in {t.get_text() for t in fig.axes[0].texts}  # a baseline is named even off the front
    with pytest.warns(UserWarning, match="other splits"):
        fig = f1_vs_fill_rate(load_records(records_dir))
    assert _offsets(fig.axes[0], "runs:torch-pruning") == {(0.3, 62.0)}


def test_f1_vs_fill_rate_front_minimizes_fill(records):
    fig = f1_vs_fill_rate(records, split=HELD_OUT)
    ours, published = fig.axes
    assert "fill rate" in ours.get_xlabel() and "fill rate" in published.get_xlabel()
    assert _line(ours, "front") == [(0.15, 55.0), (0.2, 60.0), (0.25, 64.0), (0.45, 69.0), (0.7, 70.5)]
    assert ours.xaxis_inverted() and published.xaxis_inverted()
    plotted = _offsets(published, "references:")
    assert (0.26, 87.71) in plotted and (1.0, 88.5) in plotted
    assert not any(x > 1 for x, _ in plotted)  # BERT-large is named in a note instead
    assert "not shown: BERT-large WWM" in published.get_xlabel()


def test_label_placement_does_not_depend_on_the_clock(records, monkeypatch):
    """The README's figures are regenerated from the records: the same records must give the same labels, however
    busy the CPU (a time limit on the label solver would stop it at different steps)."""
    adjust_text = pytest.importorskip("adjustText")

    def positions():
        fig = f1_vs_speedup(records, split=HELD_OUT)
        return [tuple(np.round(t.get_position(), 9)) for ax in fig.axes for t in ax.texts]

    first = positions()
    clock = iter(range(0, 10**6, 10))  # every clock reading 10 s later than the last
    monkeypatch.setattr(adjust_text, "timer", lambda: float(next(clock)))
    assert positions() == first


def test_plots_without_runs_still_draw_the_published_panel():
    fig = f1_vs_speedup([])
    ours, published = fig.axes
    assert any("no runs" in text.get_text() for text in ours.texts)
    assert _offsets(published, "references:")


def test_structure_heatmap_counts():
    fig = structure_heatmap([4, 0], [100, 7], dense_heads=12, dense_neurons=1536)
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert texts == ["4", "0", "100", "7"]
    with pytest.raises(ValueError, match="per layer"):
        structure_heatmap([1, 2], [3])


# ---------------------------------------------------------------- choosing

@pytest.mark.parametrize("drop, expected", [(0.0, "run-a"), (1.0, "run-b"), (5.0, "run-b"), (6.0, "run-d"),
                                            (20.0, "student-b")])
def test_choose_fastest_within_f1_budget(records, drop, expected):
    with pytest.warns(UserWarning, match="other splits"):
        chosen = tradeoff.choose(records, max_f1_drop=drop)
    assert chosen["name"] == expected
    assert chosen["teacher_f1"] == TEACHER_F1 and chosen["eval_split"] == HELD_OUT
    assert chosen["heads_per_layer"] == [4, 3, 1] and chosen["fill_rate"] is not None


def test_choose_most_accurate_at_speed(records):
    with pytest.warns(UserWarning):
        assert tradeoff.choose(records, min_speedup=3.0)["name"] == "run-d"
        assert tradeoff.choose(records, min_speedup=2.0)["name"] == "run-b"
        assert tradeoff.choose(records, min_speedup=5.0) is None
        assert tradeoff.choose(records, max_f1_drop=1.0, kinds=("packed",)) is None  # run-c is 4 F1 down
        # the other split has its own teacher and runs
        assert tradeoff.choose(records, max_f1_drop=10.0, split="sample")["name"] == "smoke-run"
    with pytest.raises(ValueError, match="exactly one"):
        tradeoff.choose(records, max_f1_drop=1.0, min_speedup=2.0)


def test_widget_follows_the_slider(records):
    with pytest.warns(UserWarning):
        box = tradeoff_widget(records, value=1.0)
        assert box.chosen["name"] == "run-b" and "<b>run-b</b>" in box.summary.value
        assert bytes(box.heatmap.value).startswith(b"\x89PNG")
        assert box.slider.max >= TEACHER_F1 - 55.0
        box.slider.value = 6.0
        assert box.chosen["name"] == "run-d" and "<b>run-d</b>" in box.summary.value
        box.slider.value = 0.0
        assert "<b>run-a</b>" in box.summary.value
    assert box.children == (box.slider, box.summary, box.plot, box.heatmap)
    assert box.slider.layout.width == "90%" and box.slider.style.description_width == "initial"


def _chosen_ring(fig):
    (ring,) = [c for c in fig.axes[0].collections if c.get_gid() == "chosen"]
    return tuple(map(float, ring.get_offsets()[0]))


def test_widget_marks_the_chosen_run_on_the_front(records):
    from bmp.course.widgets import front_figure

    with pytest.warns(UserWarning):
        box = tradeoff_widget(records, value=1.0)
    refs = {run.name: TEACHER_F1 for run in box._runs}
    assert _chosen_ring(front_figure(box._runs, refs, 1.0, box.chosen)) == (2.2, 69.0)  # run-b
    assert _chosen_ring(front_figure(box._runs, refs, 6.0, tradeoff.choose(records, max_f1_drop=6.0,
                                                                           split=HELD_OUT))) == (3.4, 64.0)
    fig = front_figure(box._runs, refs, 1.0, None)
    assert not [c for c in fig.axes[0].collections if c.get_gid() == "chosen"]


def _validation_records(folder, with_validation=True, control=None):
    """x beats y on held-out F1 and speed (so y is off the held-out front); on validation, y beats x by far.
    ``control``: the teacher's control, as (held-out F1, validation F1 or None)."""
    record("teacher-course", "dense", {"f1": 70.0, "validation_f1": 66.0, "eval_split": HELD_OUT}, _provenance(),
           {"output_dir": "runs/teacher/final"}, directory=folder)
    if control is not None:
        f1, validation = control
        record("control-course", "control", {"f1": f1, "eval_split": HELD_OUT,
                                             **({} if validation is None else {"validation_f1": validation})},
               _provenance(), {"teacher": "runs/teacher/final"}, directory=folder)
    for name, f1, validation, speedup in (("x", 69.0, 60.0, 3.0), ("y", 68.0, 65.0, 2.9)):
        metrics = {**_run_metrics(f1, speedup, 0.3),
                   **({"validation_f1": validation} if with_validation or name == "x" else {})}
        record(name, "filled", metrics, _provenance(), {"teacher": "runs/teacher/final", "output_dir": f"runs/{name}"},
               directory=folder)
    return load_records(folder)


def test_a_model_is_chosen_on_validation_f1_never_on_the_held_out_f1_it_reports(tmp_path, monkeypatch):
    from bmp.course import widgets

    records = _validation_records(tmp_path / "both")
    at_speed = tradeoff.choose(records, min_speedup=2.5)
    assert (at_speed["name"], at_speed["chosen_on"], at_speed["f1"]) == ("y", "validation", 68.0)
    within = tradeoff.choose(records, max_f1_drop=3.0)  # y gives up 1 on validation (2 held-out); x gives up 6
    assert (within["name"], within["f1_drop"], within["chosen_on"]) == ("y", 2.0, "validation")
    assert tradeoff.choose(records, max_f1_drop=1.0)["name"] == "y"  # on held-out F1, x (1 given up) would be
    drawn = []
    monkeypatch.setattr(widgets, "front_figure", lambda *args: drawn.append(args) or Figure())
    box = tradeoff_widget(records, value=3.0)
    assert box.chosen_on == "validation" and box.chosen["name"] == "y" and "validation F1 65.0" in box.summary.value
    assert box.slider.max == 6.0  # the front on validation reaches x, 6 F1 below its reference there
    runs, references, budget, chosen, on = drawn[-1]  # what the widget drew: where the choice is made
    assert (references["y"], chosen["name"], on) == (66.0, "y", "validation")
    monkeypatch.undo()
    figure = widgets.front_figure(runs, references, budget, chosen, on)
    assert _chosen_ring(figure) == (2.9, 65.0) and "validation" in figure.axes[0].get_ylabel()
    # a candidate without a validation F1: every choice falls back to held-out F1, and says so
    records = _validation_records(tmp_path / "one", with_validation=False)
    assert tradeoff.choose(records, min_speedup=2.5)["name"] == "x"
    assert tradeoff.choose(records, max_f1_drop=3.0)["chosen_on"] == "held-out"


def test_a_reference_without_validation_f1_sends_the_choice_to_held_out_never_to_another_reference(tmp_path):
    # the control (72) is the runs' reference; with no validation F1 it can't be checked there, and the teacher's
    # validation F1 (66) must not stand in for it
    records = _validation_records(tmp_path / "bare", control=(72.0, None))
    chosen = tradeoff.choose(records, max_f1_drop=3.5)
    assert (chosen["name"], chosen["chosen_on"], chosen["reference_f1"]) == ("x", "held-out", 72.0)
    records = _validation_records(tmp_path / "scored", control=(72.0, 67.0))
    assert tradeoff.choose(records, max_f1_drop=3.5)["chosen_on"] == "validation"  # y: 2 below 67


def test_the_front_and_the_pick_at_a_speed_rest_on_the_same_split(tmp_path):
    # a slow run without validation F1 puts the whole choice on held-out F1: the front there keeps x alone
    _validation_records(tmp_path)
    record("slow", "filled", _run_metrics(50.0, 1.5, 0.8), _provenance(),
           {"teacher": "runs/teacher/final", "output_dir": "runs/slow"}, directory=tmp_path)
    chosen = tradeoff.choose(load_records(tmp_path), min_speedup=2.5)
    assert (chosen["name"], chosen["chosen_on"]) == ("x", "held-out")


def test_widget_uses_one_timing_run_and_each_runs_own_reference(records_dir):
    # one timing run that times every compared run: its speedups replace the records' own
    names = [name for name, *_ in RUNS]
    speedups = {name: 1.0 + i for i, name in enumerate(names)}  # student-b fastest, run-a slowest
    record("timing-cpu", "timing", {"device": "cpu", "dtype": "fp32", "batch": 8, "seq": 384,
                                    "speedups": speedups, "hardware": "CPU test"},
           {**_provenance(), "date": "2026-02-01T00:00:00+00:00"}, directory=records_dir)
    # a control of the teacher at 72 F1 raises every run's reference from 70 to 72
    record("control-teacher", "control", {"f1": 72.0, "eval_split": HELD_OUT}, _provenance(),
           {"teacher": "runs/teacher/final"}, directory=records_dir)
    records = load_records(records_dir)
    with pytest.warns(UserWarning, match="other splits"):
        box = tradeoff_widget(records, value=3.0)
    assert box.speed.one_run and "one run" in box.summary.value
    # within 3 F1 of 72: run-a (70.5, 1x) and run-b (69.0, 2x); one-run speeds make run-b the fastest
    assert box.chosen["name"] == "run-b" and box.chosen["speedup"] == 2.0
    assert box.chosen["reference_f1"] == 72.0 and box.chosen["f1_drop"] == pytest.approx(3.0)
    assert "vs its reference 72.0" in box.summary.value
    box.slider.value = 2.0  # run-b is 3 below 72 (but only 1 below the teacher): no longer qualifies
    # run-a is within 2 F1 but times at 1.0x, no faster than the teacher: never chosen
    assert box.chosen is None and tradeoff.choose(records, max_f1_drop=2.0, split=HELD_OUT) is None


def test_widget_without_teacher_says_so(records):
    runs_only = [r for r in records if r["kind"] != "dense"]
    with pytest.warns(UserWarning):
        box = tradeoff_widget(runs_only)
    assert box.chosen is None and "No dense teacher" in box.summary.value and box.slider.disabled


# ---------------------------------------------------------------- benches

def test_bench_pareto_on_fixture_records(records_dir):
    result = bench_pareto.main(["--records", str(records_dir)])
    assert result["left_out_other_splits"] == {"sample": 1}
    assert result["teacher_f1"] == TEACHER_F1 and result["eval_split"] == HELD_OUT
    assert result["front"] == ["run-a", "run-b", "run-d"]
    best = result["best_at_2_5x"]
    assert (best["run"], best["f1"], best["speedup"], best["single_seed"]) == ("run-d", 64.0, 3.4, True)
    assert result["best_at_4x"] is None
    # these records don't say how long each run trained: nothing is like for like, so nothing is compared
    assert result["f1_gap_vs_distil_recipe"]["mean"] is None
    for name, kind, f1, speedup, fill in RUNS:  # now they do, with validation F1s to choose the rival on
        if name != "run-e":
            cosine = {"distillation": {"hidden": 1.0, "hidden_loss": "cosine"}} if kind == "distil-recipe" else {}
            record(name, kind, {**_run_metrics(f1, speedup, fill), "train_epochs": 2, "validation_f1": f1},
                   _provenance(), {"teacher": "runs/teacher/final", "output_dir": f"runs/{name}", **cosine},
                   directory=records_dir)  # the students as the DistilBERT recipe distils them
    result = bench_pareto.main(["--records", str(records_dir)])
    # student-a at 2.0x meets the best on validation among the 2-epoch pruned runs at least as fast: run-b
    gap = result["f1_gap_vs_distil_recipe"]
    a = next(row for row in gap["points"] if row["name"] == "student-a")
    assert (a["rival"], a["gap"], a["front_chosen_on"]) == ("run-b", pytest.approx(69.0 - 65.0), "validation")
    assert a["ci95"] is None and gap["verdict"] == "inconclusive"  # no per-question predictions in these records
    b = next(row for row in gap["points"] if row["name"] == "student-b")
    assert b["gap"] is None  # faster than every pruned model: no extrapolation
    assert gap["mean"] == pytest.approx(4.0) and result["timing_runs"] == 0
    status = {t["key"]: t["status"] for t in result["targets"]}
    assert status["speed_2_5x"] == "not measured"  # one seed only: never "met"
    json.dumps(result)


def test_bench_pareto_without_students_or_runs(tmp_path, records):
    folder = tmp_path / "no-students"
    for rec in records:
        if rec["kind"] != "distil-recipe" and rec.get("metrics", {}).get("eval_split") == HELD_OUT:
            record(rec["name"], rec["kind"], rec["metrics"], rec["provenance"], rec["config"], directory=folder)
    result = bench_pareto.main(["--records", str(folder)])
    assert result["f1_gap_vs_distil_recipe"]["mean"] is None and result["best_at_2_5x"]["run"] == "run-d"
    with pytest.raises(FileNotFoundError, match="no such folder"):
        bench_pareto.main(["--records", str(tmp_path / "nothing")])
    (tmp_path / "nothing").mkdir()
    empty = bench_pareto.main(["--records", str(tmp_path / "nothing")])
    assert empty["teacher_f1"] is None and empty["best_at_2_5x"] is None
    teacher_only = tmp_path / "teacher-only"
    record("t", "dense", {"f1": 63.0, "eval_split": HELD_OUT}, _provenance(), directory=teacher_only)
    result = bench_pareto.main(["--records", str(teacher_only)])
    assert (result["eval_split"], result["teacher_f1"], result["front"]) == (HELD_OUT, 63.0, [])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip is what a CPU-only machine returns")
def test_bench_align_skips_without_gpu():
    assert bench_align.main([]) == {"bench": "align", "skipped": "no GPU"}


def test_bench_align_cpu_dry_run_is_exact():
    result = bench_align.main(["--device", "cpu", "--dtype", "fp32", "--layers", "1", "--batch", "1", "--seq", "16",
                               "--repeats", "1", "--warmup", "0"])
    assert result["ffn_aligned"] == 512 and result["max_abs_logit_diff_fp32"] < 1e-4 and result["ratio"] > 0


# ---------------------------------------------------------------- timing with tiny models

TINY_REFERENCES = {
    "BERT-base": BertConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                            vocab_size=1000),
    "TinyBERT-4": BertConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                             vocab_size=1000),
    "MobileBERT": MobileBertConfig(num_hidden_layers=1, hidden_size=64, num_attention_heads=2, intermediate_size=64,
                                   embedding_size=32, true_hidden_size=32, intra_bottleneck_size=32,
                                   num_feedforward_networks=2, vocab_size=1000),
}


def test_time_references_reports_measured_and_published():
    table = time_references(TINY_REFERENCES, batch=1, seq=16, device="cpu", repeats=1, warmup=0,
                            published=published_speedups())
    rows = table.set_index("name")
    assert list(rows.index) == ["BERT-base", "TinyBERT-4", "MobileBERT"]
    assert rows.loc["TinyBERT-4", "published_speedup"] == 9.4
    assert rows.loc["MobileBERT", "published_hardware"] == "RTX 3090"
    assert (rows["batch"] == 1).all() and (rows["seq"] == 16).all()
    subset = time_references(TINY_REFERENCES, batch=1, seq=8, device="cpu", repeats=1, warmup=0,
                             names=["TinyBERT-4"])
    assert list(subset["name"]) == ["BERT-base", "TinyBERT-4"]  # the baseline always comes along
    with pytest.raises(KeyError, match="CoFi"):
        time_references(TINY_REFERENCES, names=["CoFi 60% sparse"])


def test_bench_timing_times_one_architecture_once():
    from types import SimpleNamespace

    dense, other = tiny_bert(), tiny_bert()
    packed = pack(dense)
    twin = pack(other)  # the same shape with other weights: a run's packed and filled models
    models = {"dense": dense, "packed": packed, "filled": twin}
    assert bench_timing.same_architecture(models) == {"filled": "packed"}
    args = SimpleNamespace(device="cpu", batch=1, seq=8, repeats=1, warmup=0)
    result = bench_timing.time_dtype(models, "dense", [], args, "fp32")
    assert result["timed_as"] == {"filled": "packed"}
    assert result["speedups"]["filled"] == result["speedups"]["packed"]
    assert result["timings"]["filled"] == result["timings"]["packed"]


def test_build_reference_is_seeded():
    a, b = (build_reference(TINY_REFERENCES["MobileBERT"], seed=3) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_bench_timing_finds_recorded_models(tmp_path):
    dense = tiny_bert()
    with torch.no_grad():  # kill a head's value rows and outputs so packing has something to remove
        layer = dense.bert.encoder.layer[0]
        layer.attention.self.value.weight[:16] = 0
        layer.attention.self.value.bias[:16] = 0
        layer.attention.output.dense.weight[:, :16] = 0
    packed = pack(dense)
    save_packed(packed, tmp_path / "runs" / "tiny-filled")
    shapes = tmp_path / "shapes" / "tiny-shape-only"
    save_packed(packed, shapes)
    (shapes / "model.safetensors").unlink()  # a carried config.json alone
    records_dir = tmp_path / "results"
    metrics = _run_metrics(60.0, 1.2, 0.9, layers=2)
    record("tiny-filled", "filled", metrics, _provenance(), {"output_dir": str(tmp_path / "runs" / "tiny-filled")},
           directory=records_dir)
    record("tiny-shape-only", "packed", metrics, _provenance(), {"output_dir": "runs/elsewhere"},
           directory=records_dir)
    record("missing", "packed", metrics, _provenance(), {"output_dir": "runs/nowhere"}, directory=records_dir)

    models, how, skipped = bench_timing.recorded_models(load_records(records_dir), tmp_path / "shapes")
    assert set(models) == {"tiny-filled", "tiny-shape-only"} and how["tiny-filled"] == "weights"
    assert "random weights" in how["tiny-shape-only"] and [s["name"] for s in skipped] == ["missing"]
    assert models["tiny-shape-only"].config.heads_per_layer == [3, 4]

    args = bench_timing.parse_args(["--device", "cpu", "--batch", "1", "--seq", "8", "--repeats", "1",
                                    "--warmup", "0"])
    block = bench_timing.time_dtype({"dense base": dense, **models}, "dense base", [], args, "fp32")
    assert set(block["speedups"]) == {"tiny-filled", "tiny-shape-only"} and block["reference_speedups"] == {}


def test_train_epochs_follow_the_records():
    profile = {"prune_epochs": 1, "epochs": 1}
    pruned = {"name": "p", "kind": "pruned", "metrics": {},
              "config": {"output_dir": "runs/p/final", "profile": profile, "epochs": 2}}
    packed = {"name": "p-packed", "kind": "packed", "metrics": {},
              "config": {"pruned": "runs/p/final", "profile": profile}}
    filled = {"name": "p-filled", "kind": "filled", "metrics": {},
              "config": {"pruned": "runs/p/final", "profile": profile, "epochs": 3}}
    orphan = {"name": "o-filled", "kind": "filled", "metrics": {}, "config": {"pruned": "gone", "profile": profile}}
    student = {"name": "s", "kind": "distil-recipe", "metrics": {}, "config": {"epochs": 2}}
    records = [pruned, packed, filled, orphan, student]
    assert [train_epochs_of(r, records) for r in records] == [2.0, 2.0, 5.0, 2.0, 2.0]
    assert train_epochs_of({"kind": "dense", "metrics": {}, "config": {}}) is None
    assert train_epochs_of({"kind": "filled", "metrics": {"train_epochs": 4}, "config": {}}) == 4.0


def test_bench_record_flag_and_speed_table(tmp_path, monkeypatch, capsys):
    from bmp.bench.__main__ import main as bench_main
    from bmp.results.summary import render, speed_tables

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    (tmp_path / "none").mkdir()  # an empty records folder: pareto reports no points, timing only the references
    assert bench_main(["pareto", "--records", str(tmp_path / "none"), "--record"]) == 0
    assert bench_main(["timing", "--device", "cpu", "--small", "--references", "none",
                       "--records", str(tmp_path / "none"), "--record"]) == 0
    records = load_records(tmp_path / "results")
    assert sorted(r["kind"] for r in records) == ["bench", "timing"]  # timing writes its own, per dtype
    (timing_record,) = [r for r in records if r["kind"] == "timing"]
    assert timing_record["metrics"]["dtype"] == "fp32" and "fp32-b2x64" in timing_record["name"]
    table = speed_tables(records)
    assert "| dense base (embedded) |" in table and "batch 2 x sequence 64" in table
    assert "Every model timed in one run" in render(records)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["bench"] == "timing"


def test_unstructured_runs_sit_at_their_non_zero_fill_rate_hollow(records_dir):
    sparse = {**_run_metrics(66.5, 1.05, 1.0), "nonzero_fill_rate": 0.12}
    record("unstructured-packed", "packed", sparse, _provenance(),
           {"teacher": "runs/teacher/final", "output_dir": "runs/u"}, directory=records_dir)
    records = load_records(records_dir)
    (run,) = [r for r in tradeoff.runs(records, split=HELD_OUT) if r.name == "unstructured-packed"]
    assert run.scattered and run.fill_rate == 0.12
    ours, _ = f1_vs_fill_rate(records, split=HELD_OUT).axes
    assert _offsets(ours, "runs:packed:unstructured") == {(0.12, 66.5)}
    hollow = next(c for c in ours.collections if c.get_gid() == "runs:packed:unstructured")
    assert hollow.get_facecolors().size == 0 or hollow.get_facecolors()[0][3] == 0
    assert (0.12, 66.5) in set(_line(ours, "front"))  # fewest kept weights for its F1: on the fill-rate front
    speed, _ = f1_vs_speedup(records, split=HELD_OUT).axes
    assert (1.05, 66.5) not in set(_line(speed, "front"))  # but no faster
    filled = {**_run_metrics(60.0, 3.0, 0.2), "nonzero_fill_rate": 0.199}
    assert not tradeoff.is_scattered(filled) and tradeoff.kept_fill_rate(filled) == 0.199
    assert tradeoff.kept_fill_rate({"fill_rate": 0.3}) == 0.3 and not tradeoff.is_scattered({"fill_rate": 0.3})
    # a hybrid run packed to 0.215 with zero blocks left inside its heads (0.176 non-zero) is not unstructured
    packed_hybrid = {**_run_metrics(55.0, 3.8, 0.215), "nonzero_fill_rate": 0.176}
    assert not tradeoff.is_scattered(packed_hybrid) and tradeoff.kept_fill_rate(packed_hybrid) == 0.176


def test_the_f1_axis_shows_the_band_that_matters_and_names_the_runs_below(records_dir):
    record("run-far-below", "filled", _run_metrics(20.0, 2.5, 0.4), _provenance(),
           {"teacher": "runs/teacher/final", "output_dir": "runs/far"}, directory=records_dir)
    records = load_records(records_dir)
    for draw in (f1_vs_speedup, f1_vs_fill_rate):
        ours, _ = draw(records, split=HELD_OUT).axes
        low, high = ours.get_ylim()
        assert 50.0 < low < 55.0 and TEACHER_F1 < 70.5 < high < 75.0  # front from 55 (student-b) to 70.5
        assert "run-far-below 20.0" in ours.get_xlabel().replace("\u00a0", " ")
        (caret,) = [c for c in ours.collections if c.get_gid() == "outliers"]
        assert len(caret.get_offsets()) == 1
        assert "run-far-below" not in {text.get_text() for text in ours.texts}


def test_a_collapsed_run_on_the_front_is_noted_not_allowed_to_stretch_the_axis(records_dir):
    record("collapsed-fastest", "filled", _run_metrics(15.0, 9.0, 0.1), _provenance(),
           {"teacher": "runs/teacher/final", "output_dir": "runs/collapsed"}, directory=records_dir)
    ours, _ = f1_vs_speedup(load_records(records_dir), split=HELD_OUT).axes
    assert (9.0, 15.0) in set(_line(ours, "front"))  # the fastest run: on the speed front
    low, _ = ours.get_ylim()
    assert low > 45.0 and "collapsed-fastest 15.0" in ours.get_xlabel().replace("\u00a0", " ")


def test_labels_do_not_overlap(records):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = f1_vs_speedup(records, split=HELD_OUT)
    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        boxes = [text.get_window_extent() for text in ax.texts if text.get_text() and text.get_visible()]
        overlapping = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
        assert not overlapping, f"{len(overlapping)} pairs of labels overlap"


def test_students_are_named_on_the_figure(records):
    ours, _ = f1_vs_speedup(records, split=HELD_OUT).axes
    names = {text.get_text() for text in ours.texts}
    assert {"student-a", "student-b"} <= names


def test_the_dense_control_is_drawn_beside_its_teacher(records_dir):
    record("control-course", "control", {"f1": TEACHER_F1 + 2, "exact_match": 60.0, "eval_split": HELD_OUT},
           _provenance(), {"teacher": "runs/teacher/final", "output_dir": "runs/control/final"}, directory=records_dir)
    ours = f1_vs_speedup(load_records(records_dir)).axes[0]
    assert {y for _, y in _line(ours, "control")} == {TEACHER_F1 + 2}
    assert "dense control" in " ".join(text.get_text() for text in ours.get_legend().get_texts())
