"""The sweep's points: parsed from the command line, read back from run names, and chosen from the records."""
import pytest

from bmp.profiles import get_profile
from bmp.results.records import provenance, record
from bmp.training.sweep import SweepPoint, chosen_points

COURSE = get_profile("course")


@pytest.mark.parametrize("point", [SweepPoint("hybrid", 60.0), SweepPoint("struct", 2.5, 43),
                                   SweepPoint("unstructured", 200.0, 7), SweepPoint("hybrid", 120.0, 43, 240.0)])
def test_a_run_name_gives_back_its_point(point):
    name = point.run_name(COURSE)
    for stage in ("", "-packed", "-filled"):
        assert SweepPoint.of_run(name + stage, COURSE, point.seed) == point
    asked = SweepPoint(point.preset, point.lam, 44, point.lam_ffn)
    assert SweepPoint.of_run(name, COURSE, 44) == asked  # the seed asked for
    assert SweepPoint.parse(str(point)) == point


@pytest.mark.parametrize("text,point,name", [
    ("hybrid:60", SweepPoint("hybrid", 60.0), "hybrid-lam60-course"),
    ("hybrid:120/240@43", SweepPoint("hybrid", 120.0, 43, 240.0), "hybrid-lam120-ffn240-course-s43"),
    ("struct:2.5@7", SweepPoint("struct", 2.5, 7), "struct-lam2.5-course-s7"),
    ("hybrid:120/120", SweepPoint("hybrid", 120.0), "hybrid-lam120-course")])  # the same recipe: one name
def test_points_parse_and_name_their_runs(text, point, name):
    assert SweepPoint.parse(text) == point and point.run_name(COURSE) == name


@pytest.mark.parametrize("text,match", [("hybrid", "must look like"), ("hybrid:60/x", "must look like"),
                                        ("hybrid:60/", "must look like"),
                                        ("nope:60", "unknown"), ("hybrid:60/-1", "negative")])
def test_bad_points_are_refused_with_the_form(text, match):
    with pytest.raises(ValueError, match=match):
        SweepPoint.parse(text)


@pytest.mark.parametrize("name", ["distil-3L-course", "hybrid-lam60-smoke", "hybrid-lamx-course",
                                  "course-hybrid-lam20-course"])
def test_a_name_the_sweep_did_not_make_is_refused(name):
    with pytest.raises(ValueError, match=f"run '{name}' was not made by the sweep"):
        SweepPoint.of_run(name, COURSE)


def test_best_points_follow_the_validation_choice(tmp_path):
    prov = provenance(base_model="embedded", data_split="test", profile="course")
    record("dense-t", "dense", {"f1": 70.0, "eval_split": "s"}, prov, {"output_dir": "runs/t/final"},
           directory=tmp_path)
    # (name, speedup, validation F1, held-out F1): at >= 2.5x, lam60 wins on validation although lam40 wins held-out
    for name, speed, val, f1 in (("hybrid-lam40-course-filled", 2.6, 66.0, 69.0),
                                 ("hybrid-lam60-course-filled", 3.1, 67.0, 65.0),
                                 ("struct-lam100-course-filled", 4.2, 60.0, 60.0),
                                 ("hybrid-lam140-course-filled", 4.4, 62.0, 61.0),
                                 ("hybrid-lam140-other-filled", 4.6, 69.0, 69.0)):  # another teacher's run
        teacher = "runs/other/final" if "other" in name else "runs/t/final"
        record(name, "filled", {"f1": f1, "validation_f1": val, "eval_split": "s", "cpu_speedup": speed,
                                "heads_per_layer": [6] * 6, "neurons_per_layer": [64] * 6},
               prov, {"teacher": teacher, "output_dir": f"runs/{name}"}, directory=tmp_path)
    points = chosen_points([2.5, 4, 3], "runs/t/final", COURSE, 43, tmp_path)
    assert points == [SweepPoint("hybrid", 60.0, 43), SweepPoint("hybrid", 140.0, 43)]  # lam60 chosen twice: once
