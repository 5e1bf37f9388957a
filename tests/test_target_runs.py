"""Runs pruned to a target, in the results: what was asked, predicted and measured, and the gap to the λ front."""
import pytest

from bmp.results.analysis import analyse
from bmp.results.lineage import target_of
from bmp.results.records import load_records, provenance, record
from bmp.results.target_runs import target_runs
from bmp.results.targets import summarize

PROFILE = {"prune_epochs": 1, "epochs": 1}


def _prov() -> dict:
    return provenance(base_model="embedded", data_split="test", profile="course")


def _run(directory, name, *, speedup, f1, val, target=None, predicted=None, fill=0.3, method=None, lam=None,
         lead=None):
    prov = _prov()
    recipe = {"regularization": {"attention": 0.0 if target else 120.0, "ffn": 0.0 if target else 120.0},
              "target": target, **({"target_method": method} if method else {}),
              **({"steering": {"initial": 10.0, "lead": lead}} if lead is not None else {})}
    record(name, "pruned", {"f1": f1 - 2, "eval_split": "s", **({"predicted_speedup": predicted} if predicted else {}),
                            **({"final_lambda": lam} if lam else {})},
           prov, {"teacher": "runs/t/final", "output_dir": f"runs/{name}/final", "recipe": recipe,
                  "profile": PROFILE}, directory=directory)
    record(f"{name}-filled", "filled", {"f1": f1, "validation_f1": val, "eval_split": "s", "cpu_speedup": speedup,
                                        "fill_rate": fill, "heads_per_layer": [6] * 6, "neurons_per_layer": [64] * 6},
           prov, {"teacher": "runs/t/final", "pruned": f"runs/{name}/final", "output_dir": f"runs/{name}/filled",
                  "profile": PROFILE}, directory=directory)


def _teacher(directory, name="dense-t", f1=70.0):
    """The dense teacher every run here starts from (runs/t/final)."""
    record(name, "dense", {"f1": f1, "eval_split": "s"}, _prov(), {"output_dir": "runs/t/final"},
           directory=directory)


@pytest.fixture
def records(tmp_path):
    _teacher(tmp_path)
    _run(tmp_path, "hybrid-lam60-course", speedup=2.2, f1=66.0, val=65.0)
    _run(tmp_path, "hybrid-lam120-course", speedup=2.7, f1=64.0, val=63.5)  # the λ front at >= 2.6x
    _run(tmp_path, "hybrid-lam240-course", speedup=3.9, f1=60.0, val=59.0)
    _run(tmp_path, "hybrid-speedup2.5-course", speedup=2.6, f1=63.5, val=63.0, target={"speedup": 2.5,
         "density": None}, predicted=2.55)
    return load_records(tmp_path)


def test_a_target_run_is_found_through_its_pruned_record(records):
    filled = next(r for r in records if r["name"] == "hybrid-speedup2.5-course-filled")
    assert target_of(filled, records) == {"speedup": 2.5, "method": "topk", "predicted_speedup": 2.55}
    lam = next(r for r in records if r["name"] == "hybrid-lam120-course-filled")
    assert target_of(lam, records) is None


def test_a_target_run_meets_the_lambda_front_at_its_speed(records):
    (run,) = target_runs(analyse(records), records)
    row = run.to_dict()
    assert row["front"] == "hybrid-lam120-course-filled"  # λ-swept, at least as fast, chosen on validation F1
    assert row["target_speedup"] == 2.5 and row["predicted_speedup"] == 2.55 and row["measured_speedup"] == 2.6
    assert row["landed"] is True  # 2.6 within ±10% of 2.5
    assert row["f1_gap_to_front"] == pytest.approx(-0.5)
    assert row["verdict"] == "inconclusive" and row["ci95"] is None  # no per-question predictions recorded


def test_bench_pareto_reports_target_runs(records):
    rows = summarize(records)["target_runs"]
    assert [r["name"] for r in rows] == ["hybrid-speedup2.5-course-filled"]
    assert {"target_speedup", "measured_speedup", "predicted_speedup", "f1_gap_to_front"} <= set(rows[0])


def test_the_results_block_says_where_each_target_run_landed(records):
    from bmp.results.summary import targets

    (line,) = [line for line in targets(records).splitlines() if line.startswith("- target run")]
    assert "asked 2.5x (predicted 2.55x), measured 2.60x, landed" in line
    assert "-0.5 F1 against hybrid-lam120-course-filled" in line and "inconclusive" in line


def test_a_student_off_the_distilbert_recipe_is_reported_but_not_averaged(records, tmp_path):
    """distil-2L keeps layers 0 and 3 of 6, not every other one, and distil-3L-logits distils the logits only: their
    gaps are listed, the mean is that of distil-3L-cos alone (every other layer, hidden states by cosine)."""
    prov = _prov()
    cosine = {"hidden": 1.0, "hidden_loss": "cosine"}
    for name, layers, f1, distillation in (("distil-3L-cos-course", [0, 2, 4], 60.0, cosine),
                                           ("distil-3L-logits-course", [0, 2, 4], 59.0, {"hidden": 0.0}),
                                           ("distil-2L-course", [0, 3], 25.0, cosine)):
        record(name, "distil-recipe", {"f1": f1, "validation_f1": f1, "eval_split": "s", "cpu_speedup": 2.0,
                                       "layers_kept": layers},
               prov, {"teacher": "runs/t/final", "epochs": 2, "layers": layers, "output_dir": f"runs/{name}/final",
                      "distillation": distillation}, directory=tmp_path)
    comparison = analyse(load_records(tmp_path)).vs_distil_recipe
    by_name = {p.name: p for p in comparison.points}
    for off in ("distil-2L-course", "distil-3L-logits-course"):
        assert by_name[off].gap is not None and not by_name[off].in_mean
    assert by_name["distil-3L-cos-course"].in_mean
    assert comparison.mean == pytest.approx(by_name["distil-3L-cos-course"].gap)


def test_the_peer_counts_at_its_best_per_budget(records, tmp_path):
    """Two Torch-Pruning variants at one budget: both are compared, the mean counts the one best on validation."""
    prov = _prov()
    for name, val, f1 in (("torch-pruning-taylor-per-layer-d0.3-course", 58.0, 60.0),
                          ("torch-pruning-taylor-global-it4-d0.3-course", 61.0, 59.0)):
        record(name, "torch-pruning", {"f1": f1, "validation_f1": val, "eval_split": "s", "cpu_speedup": 2.5},
               prov, {"teacher": "runs/t/final", "epochs": 2, "target_density": 0.3,
                      "output_dir": f"runs/{name}/final"}, directory=tmp_path)
    comparison = analyse(load_records(tmp_path)).vs_torch_pruning
    counted = [p.name for p in comparison.points if p.in_mean]
    assert counted == ["torch-pruning-taylor-global-it4-d0.3-course"] and len(comparison.points) == 2


def test_a_target_run_without_a_front_is_read_on_its_own(tmp_path):
    """scripts/target_landing.sh's runs (the course's own teacher has no λ front): asked, predicted, measured and
    whether each landed within ±10%, with its teacher's F1."""
    from bmp.results.target_runs import landing_lines

    _teacher(tmp_path, "teacher-t", f1=61.0)
    _run(tmp_path, "course-hybrid-speedup2.5-course", speedup=2.6, f1=57.0, val=56.0,
         target={"speedup": 2.5, "density": None}, predicted=2.5)
    _run(tmp_path, "course-hybrid-speedup4-course", speedup=3.2, f1=50.0, val=49.0,
         target={"speedup": 4, "density": None}, predicted=4.0)
    lines = landing_lines(load_records(tmp_path))
    assert len(lines) == 2
    assert "asked 2.5x, predicted 2.50x, measured 2.60x: **landed** (±10%)" in lines[0]
    assert "(its teacher 61.0)" in lines[0] and "held-out F1 57.0" in lines[0]
    assert "asked 4x, predicted 4.00x, measured 3.20x: **missed**" in lines[1]


def test_a_landing_is_judged_on_the_timing_runs_when_there_are_some(tmp_path):
    """finalize's one fresh-process timing missed (3.49x for 4x) where the timing runs' median lands (3.94x): read
    on its own the line says missed; in the front's section it says landed, as the comparison does, names both
    speeds, and the packed twin (timed as the filled model) lands with it."""
    from bmp.results.target_runs import landing_lines
    from bmp.results.verdicts import front_section

    _teacher(tmp_path)
    _run(tmp_path, "hybrid-lam64-course", speedup=3.6, f1=60.0, val=59.0)
    _run(tmp_path, "hybrid-speedup4-course", speedup=3.49, f1=57.9, val=57.0,
         target={"speedup": 4, "density": None}, predicted=4.01, method="steer", lam=108.7)
    record("hybrid-speedup4-course-packed", "packed", {"f1": 48.9, "validation_f1": 48.0, "eval_split": "s",
                                                       "cpu_speedup": 3.49, "fill_rate": 0.162},
           _prov(), {"teacher": "runs/t/final", "pruned": "runs/hybrid-speedup4-course/final",
                         "output_dir": "runs/hybrid-speedup4-course/packed", "profile": PROFILE}, directory=tmp_path)
    alone = [line for line in landing_lines(load_records(tmp_path)) if "speedup4-course-filled" in line]
    assert "measured 3.49x: **missed**" in alone[0]
    for run, (target, lam64) in enumerate(((3.94, 3.6), (3.79, 3.5), (4.00, 3.7)), start=1):
        speedups = {"hybrid-speedup4-course-filled": target, "hybrid-speedup4-course-packed": target,
                    "hybrid-lam64-course-filled": lam64}
        record(f"timing-run{run}", "timing", {"device": "cpu", "dtype": "fp32", "batch": 8, "seq": 384,
                                              "hardware": "CPU test, 2 threads", "speedups": speedups},
               {**_prov(), "date": f"2026-02-0{run}T00:00:00+00:00"}, directory=tmp_path)
    section = front_section(load_records(tmp_path))
    landings = [line for line in section if line.startswith("- hybrid-speedup4-course-")]
    assert len(landings) == 2
    for line in landings:
        assert ("measured 3.94x (median of 3 timing runs, with their range: 3.79-4.00x; finalize's fresh-process "
                "timing 3.49x): **landed**") in line, line
    (compared,) = [line for line in section if line.startswith("- target run")]
    assert "measured 3.94x, landed" in compared


def test_a_target_run_says_how_it_followed_its_budget(tmp_path):
    """Steered runs name the λ they ended on; a record from before the method was named was a top-k."""
    from bmp.results.target_runs import landing_lines
    from bmp.results.verdicts import front_section

    _teacher(tmp_path)
    _run(tmp_path, "hybrid-lam40-course", speedup=2.7, f1=64.0, val=63.5)
    _run(tmp_path, "hybrid-speedup2.5-course", speedup=2.6, f1=63.5, val=63.0,
         target={"speedup": 2.5, "density": None}, predicted=2.5, method="steer", lam=57.25)
    _run(tmp_path, "topk-hybrid-speedup2.5-course", speedup=2.4, f1=55.0, val=54.0,
         target={"speedup": 2.5, "density": None}, predicted=2.5)
    _run(tmp_path, "hybrid-speedup2.5-lead1-course", speedup=2.5, f1=63.0, val=62.5,
         target={"speedup": 2.5, "density": None}, predicted=2.5, method="steer", lam=40.0, lead=1.0)
    records = load_records(tmp_path)
    lines = landing_lines(records)
    assert "hybrid-speedup2.5-course-filled (steering λ, ending at λ 57.2)" in lines[0]
    assert ("hybrid-speedup2.5-lead1-course-filled (steering λ, the size gap judged 1 response time ahead, ending at "
            "λ 40)") in lines[1]
    assert "topk-hybrid-speedup2.5-course-filled (a top-k of units)" in lines[2]
    rows = {run.to_dict()["name"]: run.to_dict() for run in target_runs(analyse(records), records)}
    steered, ranked = rows["hybrid-speedup2.5-course-filled"], rows["topk-hybrid-speedup2.5-course-filled"]
    assert steered["target_method"] == "steer" and steered["final_lambda"] == 57.25 and steered["steering_lead"] == 0
    assert rows["hybrid-speedup2.5-lead1-course-filled"]["steering_lead"] == 1.0
    assert ranked["target_method"] == "topk" and ranked["final_lambda"] is None and ranked["steering_lead"] is None
    section = front_section(records)
    assert section[0].startswith("- Reference") and any(line.startswith("- Speeds:") for line in section)
    assert any("against hybrid-lam40-course-filled" in line for line in section)
    assert any(line.startswith("| hybrid-speedup2.5-course-filled | steering λ | [6, 6, 6, 6, 6, 6] |")
               for line in section)  # each run's shape, layer by layer
    assert any(line.startswith("| hybrid-lam40-course-filled | λ |") for line in section)
    assert front_section([r for r in records if r["kind"] != "filled"]) == []  # nothing filled yet: no section


def _packed_only(directory, name, *, speedup, f1, val, target=None):
    """A run recorded pruned and packed, not filled (scripts/target_front.sh's 4x pair)."""
    prov = _prov()
    recipe = {"regularization": {"attention": 0.0 if target else 80.0, "ffn": 0.0 if target else 160.0},
              "target": target, **({"target_method": "steer"} if target else {})}
    record(name, "pruned", {"f1": f1, "eval_split": "s"}, prov,
           {"teacher": "runs/t/final", "output_dir": f"runs/{name}/final", "recipe": recipe, "profile": PROFILE},
           directory=directory)
    record(f"{name}-packed", "packed", {"f1": f1, "validation_f1": val, "eval_split": "s", "cpu_speedup": speedup,
                                        "fill_rate": 0.2, "heads_per_layer": [3] * 6, "neurons_per_layer": [32] * 6},
           prov, {"teacher": "runs/t/final", "pruned": f"runs/{name}/final", "output_dir": f"runs/{name}/packed",
                  "profile": PROFILE}, directory=directory)


def test_a_target_run_recorded_packed_meets_the_packed_front(records, tmp_path):
    """Packed is set against packed: a target run that was not filled meets the packed λ points, and a filled
    target run is reported once, filled."""
    for r in records:  # the fixture's runs: filled ones, their packed twins not recorded
        record(r["name"], r["kind"], r["metrics"], r["provenance"], r["config"], directory=tmp_path / "both")
    _packed_only(tmp_path / "both", "hybrid-lam80-ffn160-course", speedup=4.4, f1=52.0, val=51.0)
    _packed_only(tmp_path / "both", "hybrid-speedup4-course", speedup=4.1, f1=51.0, val=50.5,
                 target={"speedup": 4, "density": None})
    both = load_records(tmp_path / "both")
    rows = {run.to_dict()["name"]: run.to_dict() for run in target_runs(analyse(both), both)}
    assert set(rows) == {"hybrid-speedup2.5-course-filled", "hybrid-speedup4-course-packed"}
    packed = rows["hybrid-speedup4-course-packed"]
    assert packed["kind"] == "packed" and packed["front"] == "hybrid-lam80-ffn160-course-packed"
    assert packed["f1_gap_to_front"] == pytest.approx(-1.0) and packed["landed"] is True
