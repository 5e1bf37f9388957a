"""The README's results block is generated from records, numbers and all."""
import pytest

from bmp.results.records import Predictions, load_records, provenance, record
from bmp.results.summary import END, MAP_END, MAP_START, RESULTS_DOC, START, render, update_readme

TEACHER = "runs/teacher-course/final"


def _answers(f1):
    """Per-question predictions whose every held-out question scores ``f1``."""
    return Predictions({"heldout": {f"q{i}": ("x", 0.0, f1 / 100) for i in range(4)}})


def _records(tmp_path):
    prov = provenance(base_model="embedded", data_split="dev by article", profile="course")
    record("dense-course", "dense", {"exact_match": 50.0, "f1": 63.25, "eval_split": "dev-by-article"}, prov,
           {"output_dir": TEACHER}, directory=tmp_path)
    record("hybrid-lam40-course-filled", "filled",
           {"exact_match": 48.0, "f1": 61.875, "fill_rate": 0.4321, "cpu_speedup": 2.345,
            "heads_per_layer": [3, 2], "neurons_per_layer": [512, 64], "eval_split": "dev-by-article"},
           prov, {"teacher": TEACHER}, directory=tmp_path)
    return load_records(tmp_path)


def test_table_carries_the_recorded_numbers(tmp_path):
    text = render(_records(tmp_path))
    assert ("| hybrid-lam40-course-filled | filled | course | – | – | 48.0 | 61.9 | – | 0.432 | [3, 2] | [512, 64] "
            "| 2.35 | dev-by-article |") in text
    assert "teacher dense-course 63.2 F1" in text or "teacher dense-course 63.3 F1" in text


def test_probe_rows_state_their_recorded_settings(tmp_path):
    prov = provenance(base_model="embedded", data_split="dev by article", profile="course")
    recipe = {"pruning": {"attention": "head", "ffn": "neuron", "min_heads": 1},
              "regularization": {"attention": 200.0, "ffn": 400.0, "head_scale": 1 / 3},
              "distillation": {"temperature": 2.0, "alpha": 0.9}, "score_learning_rate": 0.1,
              "schedule_cooldown": 0.5}
    record("probe-struct-lam200", "pruned", {"linear_density": 0.3614, "heads_per_layer": [3, 0, 2],
                                             "neurons_per_layer": [100, 20, 3], "validation_f1": 51.44, "f1": 99.0},
           prov,
           {"recipe": recipe, "teacher": "runs/teacher-x/final", "distill": False, "max_steps": 150},
           directory=tmp_path / "probes")
    text = render(_records(tmp_path), probes=load_records(tmp_path / "probes"))
    assert ("| probe-struct-lam200 | teacher-x | struct | 200 / 400 | 0.33 | 0.1 | 0.5 | none | 1 | 150 | 0.361 | 5 "
            "| 123 | 51.4 |") in text
    assert "99.0" not in text.split("Recipe probes")[1]  # probes choose settings: their held-out F1 is not shown
    assert "Recipe probes" not in render(_records(tmp_path))


def _docs(tmp_path, results_body="old", map_body="old map"):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{MAP_START}\n{map_body}\n{MAP_END}\noutro\n")
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / RESULTS_DOC).write_text(f"head\n{START}\n{results_body}\n{END}\ntail\n")
    return readme


def test_update_rewrites_only_between_markers(tmp_path):
    readme = _docs(tmp_path)
    update_readme(readme, _records(tmp_path))
    full, short = (tmp_path / RESULTS_DOC).read_text(), readme.read_text()
    assert full.startswith("head\n") and full.endswith("\ntail\n") and "\nold\n" not in full
    assert "hybrid-lam40-course-filled" in full  # every run is in docs/results.md
    assert short.startswith("intro\n") and short.endswith("\noutro\n") and "old map" not in short
    assert "| target | judged on | verdict |" in short and "01_movement_scores" in short  # the README is the map
    assert "](figures/f1_vs_speedup.png)" in full and "](docs/figures/f1_vs_speedup.png)" in short


def test_missing_markers_are_named(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers")
    (tmp_path / "docs").mkdir()
    (tmp_path / RESULTS_DOC).write_text("no markers either")
    with pytest.raises(ValueError, match="markers"):
        update_readme(readme, [])


def test_targets_speak_of_the_reference_seeds_and_speed_source(tmp_path):
    from bmp.results.summary import takeaways, targets

    records = _records(tmp_path)
    text = targets(records)
    assert "no control recorded yet" in text and "each record's own timing" in text
    assert "- >= 2.5x at <= 1.0 F1 below the reference (>= 3 seeds): **not measured**; no pruned model is " \
           "2.5x faster yet." in text
    assert "**met**" not in text  # nothing here is measured well enough to be met
    line = takeaways(records)
    assert "61.9 F1 (single seed), -1.4 vs its reference 63.2 (no control yet), at 2.35x CPU speed" in line

    prov = provenance(base_model="embedded", data_split="dev by article", profile="course", seed=43)
    split = {"eval_split": "dev-by-article", "train_epochs": 2}
    for name, seed in (("control-course", 42), ("control-course-s43", 43), ("control-course-s44", 44)):
        record(name, "control", {"f1": 64.0, **split, "predictions": _answers(64.0)},
               provenance(base_model="embedded", data_split="dev by article", profile="course", seed=seed),
               {"teacher": TEACHER}, directory=tmp_path)
    for name, f1, seed in (("hybrid-lam40-course-filled", 61.875, 42), ("hybrid-lam40-course-s43-filled", 63.875, 43),
                           ("hybrid-lam40-course-s44-filled", 62.875, 44)):
        record(name, "filled", {"f1": f1, "cpu_speedup": 2.6, "fill_rate": 0.43, "validation_f1": f1, **split,
                                "predictions": _answers(f1)},
               provenance(base_model="embedded", data_split="dev by article", profile="course", seed=seed),
               {"teacher": TEACHER}, directory=tmp_path)
    record("student", "distil-recipe", {"f1": 55.0, "cpu_speedup": 3.0, **split, "predictions": _answers(55.0)},
           prov, {"teacher": TEACHER}, directory=tmp_path)
    # every compared run timed in one run: those speeds replace the records' own
    record("CPU-fp32-b8x384", "timing", {"device": "cpu", "dtype": "fp32", "batch": 8, "seq": 384,
                                         "hardware": "CPU x86_64, 2 threads",
                                         "speedups": {"hybrid-lam40-course-filled": 2.5,
                                                      "hybrid-lam40-course-s43-filled": 2.7,
                                                      "hybrid-lam40-course-s44-filled": 2.6, "student": 2.0}},
           provenance(base_model="embedded", data_split="synthetic", profile="bench"), directory=tmp_path)
    records = load_records(tmp_path)
    text = targets(records)
    assert "(2 epochs) 64.0 ± 0.00 F1 over 3 seeds; the reference is the control's 64.0" in text
    assert "all timed in one run (CPU x86_64, 2 threads, fp32" in text
    # seeds 61.875, 63.875 and 62.875: mean 62.875, std 1.0; 64.0 - 62.875 = 1.125 > 1.0 at 2.6x (the one run's mean)
    assert "- >= 2.5x at <= 1.0 F1 below the reference (>= 3 seeds): **missed**; hybrid-lam40-course-filled: " \
           "62.9 ± 1.0 F1 over 3 seeds at 2.60x" in text
    assert "1.1 F1 below the reference" in text and "gap -1.12 F1, 95% CI [-1.12, -1.12]" in text
    # the student at 2.0x meets the pruned setting chosen on validation among those at least as fast: +7.9 F1
    assert "vs the layer-dropped student student (55.0 F1 (single seed) at 2.00x" in text and "**+7.9 F1**" in text
    assert "meets hybrid-lam40-course-filled (62.9 ± 1.0 F1 over 3 seeds at 2.60x, chosen on validation F1)" in text
    assert "timed against the teacher when recorded" not in text
    assert "62.9 ± 1.0 F1 over 3 seeds, -1.1 vs its reference 64.0, at 2.60x" in takeaways(records)
    assert "- Verdicts: The project's one verdict rule" in text  # stated once, from bmp.results.intervals.judge


def test_the_generated_results_are_what_the_records_render(repo_root):
    """The numbers in docs/results.md and in the README's map come from `python -m bmp summary`: regenerate them
    after recording a run. The README stays a map (at most 150 lines)."""
    from bmp.results.expected import expected
    from bmp.results.records import load_records
    from bmp.results.summary import FIGURES, GAPS, headline, side_records, syllabus

    records = load_records()
    figures = [f for f in (repo_root / FIGURES / f"{name}.png" for name in ("f1_vs_speedup", "f1_vs_fill_rate", GAPS))
               if f.is_file()]
    full = (repo_root / RESULTS_DOC).read_text().split(START, 1)[1].split(END, 1)[0].strip()
    side = side_records()
    rendered = render(records, figures, repo_root / RESULTS_DOC.parent, *side).strip()
    assert full == rendered, "docs/results.md is stale: run `python -m bmp summary`"
    readme = (repo_root / "README.md").read_text()
    short = readme.split(MAP_START, 1)[1].split(MAP_END, 1)[0].strip()
    generated = "\n\n".join([syllabus(records, expected()), headline(records, figures, repo_root, side[3])])
    assert short == generated.strip(), "README's map is stale: run `python -m bmp summary`"
    assert len(readme.splitlines()) <= 150, "the README is a map: move detail to docs/"


def test_tracked_records_name_no_machine_paths(repo_root):
    """Records travel with the repository: paths in them are repo-relative, commands name no checkout."""
    import json
    import re

    def strings(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    bad = []
    for path in sorted((repo_root / "data" / "results").rglob("*.json")):
        for text in strings(json.loads(path.read_text())):
            if re.search(r"(^|[\s=])/[\w.-]+/", text):  # a path that starts at the root, alone or inside a command
                bad.append(f"{path.name}: {text[:80]}")
    assert not bad, "absolute paths in records (store them with bmp.results.records.repo_relative):\n" + \
        "\n".join(bad)


def test_commands_are_recorded_repo_relative(monkeypatch):
    from bmp.profiles import REPO_ROOT
    from bmp.results.records import invocation

    monkeypatch.delenv("BMP_COMMAND", raising=False)
    monkeypatch.setattr("sys.argv", [str(REPO_ROOT / "scripts" / "x.py"), str(REPO_ROOT / "runs" / "t"), "--lam", "3"])
    assert invocation() == "python scripts/x.py runs/t --lam 3"
    monkeypatch.setattr("sys.argv", ["python -m bmp ship", "--model", str(REPO_ROOT / "runs" / "a"),
                                     f"--out={REPO_ROOT / 'runs' / 'b'}", "/elsewhere/c"])
    assert invocation() == "python -m bmp ship --model runs/a --out=runs/b /elsewhere/c"


def test_a_path_through_a_linked_folder_stays_repo_relative(tmp_path, monkeypatch):
    import bmp.results.records as records

    outside = tmp_path / "shared" / "squad"
    outside.mkdir(parents=True)
    (outside / "dev.json").write_text("{}")
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "squad").symlink_to(outside)  # data/squad linked to a shared folder
    monkeypatch.setattr(records, "REPO_ROOT", repo)
    assert records.repo_relative(repo / "data" / "squad" / "dev.json") == "data/squad/dev.json"
    assert records.repo_relative(outside / "dev.json") == str(outside / "dev.json")
