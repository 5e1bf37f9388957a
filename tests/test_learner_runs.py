"""The trade-off chooser picks on the front only, and the learner's own runs join the recorded ones.

Records are built in code and written to temporary folders: a tracked folder (the recorded runs, one timing run of
them all, a teacher below its control) and a learner's scratch folder, as ``BMP_RESULTS_DIR`` would point to.
"""
import pytest

from bmp.course.widgets import front_figure, tradeoff_widget
from bmp.results import tradeoff
from bmp.results.plots import f1_vs_speedup
from bmp.results.records import load_records, record
from bmp.results.yours import learner_records, your_runs

SPLIT = "dev-by-article"
TEACHER = "runs/teacher-course-4ep/final"
TEACHER_F1, CONTROL_F1S = 64.1, (65.4, 67.2)  # the reference is the controls' mean, 66.3: 2.2 above the teacher
REFERENCE = sum(CONTROL_F1S) / 2
# name, kind, F1, speedup. "slow" is within 1.8 F1 of the reference but slower than the teacher; "dominated" is
# beaten on both axes by "fast"
RUNS = [("slow", "packed", 64.5, 0.92), ("light", "filled", 64.4, 1.6), ("fast", "filled", 63.7, 2.72),
        ("dominated", "filled", 60.0, 2.0)]
YOUR_RUN = "course-hybrid-lam20-course-filled"


def _provenance(seed=42):
    return {"command": "test", "base_model": "tiny", "data_split": "SQuAD v1.1 dev split by article",
            "profile": "course", "hardware": {"cpu": "x86_64", "cpu_count": 2, "torch_threads": 2},
            "date": "2026-01-01T00:00:00+00:00", "git_commit": "test", "seed": seed}


def _run(name, kind, f1, speedup, folder, teacher=TEACHER, split=SPLIT):
    record(name, kind, {"f1": f1, "exact_match": f1 - 10, "cpu_speedup": speedup, "fill_rate": 0.5,
                        "eval_split": split, "cpu_timing": {"threads": 2}, "heads_per_layer": [4, 3],
                        "neurons_per_layer": [100, 50]},
           _provenance(), {"teacher": teacher, "output_dir": f"runs/{name}"}, directory=folder)


@pytest.fixture
def tracked(tmp_path):
    folder = tmp_path / "tracked"
    record("teacher-course-4ep", "dense", {"f1": TEACHER_F1, "eval_split": SPLIT}, _provenance(),
           {"output_dir": TEACHER}, directory=folder)
    for seed, f1 in zip((42, 43), CONTROL_F1S):
        record(f"control-course-s{seed}", "control", {"f1": f1, "eval_split": SPLIT}, _provenance(seed),
               {"teacher": TEACHER, "epochs": 2}, directory=folder)
    for name, kind, f1, speedup in RUNS:
        _run(name, kind, f1, speedup, folder)
    record("timing-cpu", "timing", {"device": "cpu", "dtype": "fp32", "batch": 8, "seq": 384,
                                    "hardware": "CPU test", "speedups": {n: s for n, _, _, s in RUNS}},
           {**_provenance(), "date": "2026-02-01T00:00:00+00:00"}, directory=folder)
    return load_records(folder)


# ---------------------------------------------------------------- the chooser: the front, faster than the teacher

def test_never_a_model_slower_than_the_teacher(tracked):
    # "slow" is 1.8 below the reference, within a 1.85 budget, but at 0.92x: nothing on the front qualifies
    assert REFERENCE - 64.5 <= 1.85
    assert tradeoff.choose(tracked, max_f1_drop=1.85) is None
    assert tradeoff.choose(tracked, max_f1_drop=2.0)["name"] == "light"
    assert tradeoff.choose(tracked, min_speedup=0.5)["name"] == "light"  # the most accurate *faster* front model
    assert "slow" not in {run.name for run in tradeoff.shippable(tradeoff.runs(tracked))}


def test_only_models_on_the_front(tracked, tmp_path):
    # a weaker teacher's run is within 1 F1 of its own reference, but "fast" beats it on F1 and on speed
    folder = tmp_path / "tracked"
    record("weak-teacher", "dense", {"f1": 58.0, "eval_split": SPLIT}, _provenance(),
           {"output_dir": "runs/weak/final"}, directory=folder)
    _run("weak-run", "filled", 57.5, 2.5, folder, teacher="runs/weak/final")
    records = [r for r in load_records(folder) if r["kind"] != "timing"]  # each record's own speed
    assert "weak-run" not in {run.name for run in tradeoff.front(tradeoff.runs(records))}
    assert tradeoff.choose(records, max_f1_drop=1.0) is None
    assert tradeoff.choose(records, max_f1_drop=3.0)["name"] == "fast"


def test_a_budget_no_pruned_model_meets_says_so_and_what_the_teacher_costs(tracked):
    box = tradeoff_widget(tracked, value=1.0)
    assert box.chosen is None
    text = box.summary.value
    assert "No pruned model on the front" in text and "faster than the teacher" in text
    assert f"{REFERENCE - TEACHER_F1:.1f} F1 below the reference {REFERENCE:.1f}" in text
    assert f"Keeping the teacher is no free choice either: it scores {TEACHER_F1:.1f}" in text
    box.slider.value = 3.0
    assert box.chosen["name"] == "fast" and "<b>fast</b>" in box.summary.value


# ---------------------------------------------------------------- the learner's run on the map

@pytest.fixture
def learner(tmp_path):
    folder = tmp_path / "scratch"
    record("teacher-course", "dense", {"f1": 50.0, "eval_split": SPLIT}, _provenance(),
           {"output_dir": "runs/teacher-course/final"}, directory=folder)
    _run(YOUR_RUN, "filled", 55.0, 2.0, folder, teacher="runs/teacher-course/final")
    return folder


def test_notebook_07_finds_your_run_in_the_scratch_folder(tracked, learner, monkeypatch):
    monkeypatch.setenv("BMP_RESULTS_DIR", str(learner))  # as the course runner sets it for the kernels
    mine = your_runs(tracked)  # what notebook 07 calls: the default folder is results_dir()
    assert mine.names == [YOUR_RUN] and not mine.elsewhere
    report = mine.report()
    assert f"your run **{YOUR_RUN}**" in report
    # the recorded front at 2.0x: between light (64.4 at 1.6x) and fast (63.7 at 2.72x)
    front_f1 = 64.4 + (2.0 - 1.6) / (2.72 - 1.6) * (63.7 - 64.4)
    assert f"reaches {front_f1:.1f} at that speed, so it lands {front_f1 - 55.0:.1f} F1 below it" in report
    assert "its teacher scored 50.0, the recorded runs' 64.1" in report

    # the figure: a red star labelled "your run", named; the front and the teacher stay the recorded ones
    ours = f1_vs_speedup(mine.records).axes[0]
    stars = [c for c in ours.collections if c.get_gid() == "runs:yours"]
    assert len(stars) == 1 and tuple(map(float, stars[0].get_offsets()[0])) == (2.0, 55.0)
    assert stars[0].get_label() == "your run"
    assert f"your run: {YOUR_RUN}" in {t.get_text() for t in ours.texts}
    (front,) = [line for line in ours.lines if line.get_gid() == "front"]
    assert (2.0, 55.0) not in {tuple(map(float, xy)) for xy in front.get_xydata()}
    assert tradeoff.teacher(mine.records, SPLIT)["name"] == "teacher-course-4ep"

    # the widget: your run is among its runs, keeps its own timing, and the recorded runs keep the one timing run
    box = tradeoff_widget(mine.records)
    assert box.speed.one_run
    (yours,) = [run for run in box._runs if run.yours]
    assert yours.name == YOUR_RUN and yours.speedup == 2.0 and "its own timing" in yours.speed_hardware
    figure = front_figure(box._runs, box._references, 1.0, None)
    assert [c for c in figure.axes[0].collections if c.get_gid() == "runs:yours"]
    # its own reference is its own teacher: 5 below 50 would be 5 F1 given up
    assert box._references[YOUR_RUN] == 50.0


def test_no_run_of_yours_is_said_plainly(tracked, tmp_path):
    mine = your_runs(tracked, tmp_path / "empty")
    assert mine.names == [] and mine.records == tracked
    assert "no run of yours" in mine.report()


def test_your_runs_on_another_split_are_listed_not_drawn(tracked, tmp_path):
    folder = tmp_path / "smoke"
    _run("smoke-run", "filled", 90.0, 1.2, folder, teacher="runs/teacher-smoke/final", split="sample")
    mine = your_runs(tracked, folder)
    assert mine.names == [] and [r["name"] for r in mine.elsewhere] == ["smoke-run"]
    assert not any(tradeoff.is_yours(r) for r in mine.records)
    assert "smoke-run" in mine.report() and "can't share an axis" in mine.report()


def test_the_tracked_folder_is_never_the_learners(tracked):
    from bmp.results.records import RESULTS_DIR

    assert learner_records(RESULTS_DIR) == []
    assert "no run of yours to set apart" in your_runs(tracked, RESULTS_DIR).report()
