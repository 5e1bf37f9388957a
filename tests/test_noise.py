"""The noise paragraph and figure of notebook 07: seed spreads and timing spreads, from records built in code."""
import pytest

from bmp.results.noise import noise, noise_figure

SPLIT = "dev-by-article"


def _record(name, kind, **metrics):
    return {"name": name, "kind": kind, "metrics": {"eval_split": SPLIT, **metrics},
            "config": {"teacher": "runs/teacher/final"},
            "provenance": {"date": "2026-01-01T00:00:00+00:00", "hardware": {"cpu": "x86_64", "torch_threads": 2}}}


def _timing(name, fastest, slowest):
    return {"min_s": fastest, "median_s": (fastest + slowest) / 2, "max_s": slowest, "repeats": 10,
            "unstable": slowest / fastest > 1.3}


@pytest.fixture
def records():
    return [
        _record("teacher", "dense", f1=64.0),
        _record("control-course", "control", f1=65.0),
        _record("control-course-s43", "control", f1=67.0),  # the seed alone: 2.0 F1
        _record("hybrid-lam60-course-filled", "filled", f1=63.0, cpu_speedup=2.2),
        _record("hybrid-lam60-course-s43-filled", "filled", f1=63.5, cpu_speedup=1.8),
        _record("hybrid-lam60-course-packed", "packed", f1=60.0, cpu_speedup=2.1),  # one seed: no spread
        {"name": "cpu-timing", "kind": "timing", "provenance": {"date": "2026-02-01T00:00:00+00:00", "hardware": {}},
         "metrics": {"device": "cpu", "dtype": "fp32", "batch": 8, "seq": 384,
                     "speedups": {"hybrid-lam60-course-filled": 2.0, "hybrid-lam60-course-s43-filled": 2.0,
                                  "hybrid-lam60-course-packed": 2.0},
                     "timings": {"dense base": _timing("dense base", 1.0, 1.2),
                                 "hybrid-lam60-course-filled": _timing("a", 0.5, 0.7),
                                 "hybrid-lam60-course-s43-filled": _timing("b", 0.5, 0.55),
                                 "hybrid-lam60-course-packed": _timing("a", 0.5, 0.7)},
                     "timed_as": {"hybrid-lam60-course-packed": "hybrid-lam60-course-filled"}}},
    ]


def test_noise_is_read_from_the_records(records):
    found = noise(records)
    assert [(s.kind, s.setting) for s in found.seeds] == [("control", "control-course"),
                                                          ("filled", "hybrid-lam60-course-filled")]
    assert found.f1_noise == pytest.approx(2.0)
    assert [t.name for t in found.timings] == ["dense base", "hybrid-lam60-course-filled",
                                               "hybrid-lam60-course-s43-filled"]  # the packed shares a timing
    assert [t.unstable for t in found.timings] == [False, True, False]
    assert found.speed_noise == pytest.approx(0.1)  # own 2.2 and 1.8 against the timing run's 2.0
    text = found.describe()
    assert "moved it 2.0 F1" in text and "a gap under about **2.0 F1**" in text
    assert "1 of 3 models exceed the 1.3" in text and "within about **10%**" in text
    fig = noise_figure(found)
    left, right = fig.axes
    assert [c for c in left.collections if c.get_gid() == "seeds"]
    assert {c.get_gid() for c in right.collections} >= {"repeated"} and right.patches


def test_without_seeds_or_timings_it_says_so():
    found = noise([_record("teacher", "dense", f1=64.0), _record("run-filled", "filled", f1=60.0)])
    assert found.f1_noise is None and found.speed_noise is None
    assert "unmeasured" in found.describe()
    left, right = noise_figure(found).axes
    assert "no setting has two seeds" in left.texts[0].get_text() and "no timing run" in right.texts[0].get_text()
