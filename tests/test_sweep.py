"""The sweep's points: parsed from the command line, read back from run names, and chosen from the records."""
import pytest

from bmp.profiles import get_profile
from bmp.results.records import provenance, record
from bmp.results.run_id import RunId
from bmp.training.sweep import chosen_points, of_run

COURSE = get_profile("course")


@pytest.mark.parametrize("point", [RunId("hybrid", 60.0), RunId("struct", 2.5, seed=43),
                                   RunId("unstructured", 200.0, seed=7), RunId("hybrid", 120.0, 240.0, seed=43),
                                   RunId("hybrid", target=("speedup", 2.5), seed=43)])
def test_a_run_name_gives_back_its_point(point):
    for stage in (None, "packed", "filled"):
        named = point.with_(stage=stage)
        assert RunId.parse(named.name) == named
        assert of_run(named.name, COURSE, point.seed) == point
    assert of_run(point.name, COURSE, 44) == point.with_(seed=44)  # the seed asked for
    assert RunId.point(str(point)) == point
    assert point.with_(seed=44, stage="filled").setting == point.with_(seed=42, stage="filled").name


@pytest.mark.parametrize("text,point,name", [
    ("hybrid:60", RunId("hybrid", 60.0), "hybrid-lam60-course"),
    ("hybrid:120/240@43", RunId("hybrid", 120.0, 240.0, seed=43), "hybrid-lam120-ffn240-course-s43"),
    ("struct:2.5@7", RunId("struct", 2.5, seed=7), "struct-lam2.5-course-s7"),
    ("hybrid:speedup=4", RunId("hybrid", target=("speedup", 4.0)), "hybrid-speedup4-course"),
    ("hybrid:120/120", RunId("hybrid", 120.0), "hybrid-lam120-course")])  # the same recipe: one name
def test_points_parse_and_name_their_runs(text, point, name):
    assert RunId.point(text) == point and point.name == name


@pytest.mark.parametrize("text,match", [("hybrid", "must look like"), ("hybrid:60/x", "must look like"),
                                        ("hybrid:60/", "must look like"),
                                        ("nope:60", "unknown"), ("hybrid:60/-1", "negative")])
def test_bad_points_are_refused_with_the_form(text, match):
    with pytest.raises(ValueError, match=match):
        RunId.point(text)


@pytest.mark.parametrize("name", ["distil-3L-course", "hybrid-lam60-smoke", "hybrid-lamx-course",
                                  "course-hybrid-lam20-course"])
def test_a_name_the_sweep_did_not_make_is_refused(name):
    with pytest.raises(ValueError, match=f"run '{name}' was not made by the sweep"):
        of_run(name, COURSE, 42)


def test_the_notebooks_runs_carry_their_origin():
    run = RunId.parse("course-hybrid-lam20-course")
    assert (run.prefix, run.preset, run.lam) == ("course", "hybrid", 20.0) and run.name == "course-hybrid-lam20-course"


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
    assert points == [RunId("hybrid", 60.0, seed=43), RunId("hybrid", 140.0, seed=43)]  # lam60 chosen twice: once
