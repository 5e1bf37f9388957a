"""What a learner should expect from make course: make course's own records adopted (predictions and provenance
kept), and the expected sentence read from the seeds' records."""
import json

import pytest

from bmp.results.expected import adopt, expected
from bmp.results.records import Predictions, load_predictions, load_records, record

RUN = "course-hybrid-lam20-course"
TEACHER_DIR = "runs/teacher-course/final"


def _provenance(seed=42):
    return {"command": "python -m bmp course --profile course", "date": "2026-12-06T00:00:00+00:00", "seed": seed}


def _course_records(folder, seed=42, f1=60.0, speedup=1.5):
    suffix = "" if seed == 42 else f"-s{seed}"
    predictions = Predictions({"heldout": {"q1": ("an answer", 1.0, 1.0)}})
    record("dense-course", "dense", {"f1": 64.0, "eval_questions": 10}, _provenance(),  # notebook 04's name
           config={"output_dir": TEACHER_DIR}, directory=folder)
    record(RUN + suffix, "pruned", {"f1": f1 - 2, "eval_questions": 10, "predictions": predictions},
           _provenance(seed), config={"teacher": TEACHER_DIR}, directory=folder)
    for kind in ("packed", "filled"):
        record(f"{RUN}{suffix}-{kind}", kind,
               {"f1": f1 if kind == "filled" else f1 - 1, "cpu_speedup": speedup, "eval_questions": 10,
                "predictions": predictions}, _provenance(seed), config={"teacher": TEACHER_DIR}, directory=folder)


def test_adopting_copies_records_with_their_predictions_and_provenance(tmp_path):
    source, target = tmp_path / "outputs" / "results", tmp_path / "expected"
    _course_records(source)
    written = adopt(source, target, TEACHER_DIR, RUN)
    assert sorted(p.name for p in written) == sorted(["dense__dense-course.json", f"pruned__{RUN}.json",
                                                      f"packed__{RUN}-packed.json", f"filled__{RUN}-filled.json"])
    filled = json.loads((target / f"filled__{RUN}-filled.json").read_text())
    assert filled["provenance"]["command"] == "python -m bmp course --profile course"
    assert filled["config"]["adopted_from"].endswith(f"filled__{RUN}-filled.json")
    copied = next(r for r in load_records(target) if r["kind"] == "filled")
    assert load_predictions(copied)["heldout"] == {"q1": ("an answer", 1.0, 1.0)}
    assert adopt(source, target, TEACHER_DIR, RUN) == []  # already there: left as it is


def test_adopting_before_make_course_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="dense record of runs/teacher-course/final.*run `make course` first"):
        adopt(tmp_path / "nothing", tmp_path / "expected", TEACHER_DIR, RUN)


def test_the_expected_result_is_read_over_seeds_with_the_course_time(tmp_path):
    folder = tmp_path / "expected"
    _course_records(folder, seed=42, f1=60.0, speedup=1.5)
    _course_records(folder, seed=43, f1=62.0, speedup=1.7)
    times = [{"kind": "course-times", "name": "course", "metrics": {"total_s": 2400.0},
              "provenance": {"date": "2026-12-06"}}]
    found = expected(folder, times)
    assert found.seeds == (42, 43) and found.f1 == (60.0, 62.0) and found.teacher_f1 == 64.0
    assert found.mean_f1 == pytest.approx(61.0) and found.mean_speedup == pytest.approx(1.6)
    text = str(found)
    assert text.startswith("expect about 61.0 F1 (60.0-62.0 over 2 seeds) on the 10 held-out questions")
    assert "its teacher scores 64.0, at 1.6x the teacher's speed, after about 40 min of `make course`" in text
    assert expected(tmp_path / "none", times) is None


def test_a_folder_mixing_settings_is_refused(tmp_path):
    folder = tmp_path / "expected"
    _course_records(folder)
    record("course-hybrid-lam60-course-filled", "filled", {"f1": 50.0, "cpu_speedup": 2.0, "eval_questions": 10},
           _provenance(), config={"teacher": TEACHER_DIR}, directory=folder)
    with pytest.raises(ValueError, match="several settings"):
        expected(folder, [])
