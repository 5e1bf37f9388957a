"""Each CPU kind keeps its own front (a rebuilt model matches its record only there): found by its teacher's record,
begun in its own folder, and judged beside the others, each held to its own reference."""
from pathlib import Path

from bmp.results.fronts import FRONT_DIR, front_dirs, front_of_cpu, fronts
from bmp.results.records import INIT_SEED_KEY, Predictions, provenance, record

TEACHER = "runs/teacher-course/final"
INTEL, AMD = "Intel(R) Xeon(R) Processor @ 2.80GHz", "AMD EPYC"
SPLIT = {"eval_split": "dev-by-article", "train_epochs": 2}


def _answers(f1):
    return Predictions({"heldout": {f"q{i}": ("x", 0.0, f1 / 100) for i in range(4)}})


def _front(folder: Path, cpu: str, control_f1: float, run_f1: float, seeded: bool = True) -> None:
    """A front made on ``cpu``: its teacher (its head drawn from its seed unless not ``seeded``: then the front can't
    go on), its control, and one setting at 2.6x (three seeds of each, the same F1)."""
    def prov(seed=42):
        made = provenance(base_model="embedded", data_split="dev by article", profile="course", seed=seed)
        return {**made, "hardware": {**made["hardware"], "cpu_model": cpu}}

    record("dense-course", "dense", {"f1": 60.0, "eval_split": "dev-by-article", "predictions": _answers(60.0)},
           prov(), {"output_dir": TEACHER, **({INIT_SEED_KEY: 42} if seeded else {})}, directory=folder)
    for name, seed in (("control-course", 42), ("control-course-s43", 43), ("control-course-s44", 44)):
        record(name, "control", {"f1": control_f1, **SPLIT, "predictions": _answers(control_f1)}, prov(seed),
               {"teacher": TEACHER}, directory=folder)
    for name, seed in (("hybrid-speedup2.5-course-filled", 42), ("hybrid-speedup2.5-course-s43-filled", 43),
                       ("hybrid-speedup2.5-course-s44-filled", 44)):
        record(name, "filled", {"f1": run_f1, "validation_f1": run_f1, "cpu_speedup": 2.6, **SPLIT,
                                "predictions": _answers(run_f1)}, prov(seed), {"teacher": TEACHER}, directory=folder)


def test_a_cpu_kind_finds_its_own_front_or_begins_one(tmp_path):
    assert front_dirs(tmp_path) == [] and fronts(tmp_path) == []
    assert front_of_cpu(INTEL, tmp_path) == tmp_path / "front-intel-r-xeon-r-processor-2-80ghz"
    _front(tmp_path / FRONT_DIR.name, INTEL, 64.0, 63.5)
    _front(tmp_path / "front-amd-epyc", AMD, 66.0, 62.0)
    _front(tmp_path / "expected", AMD, 66.0, 62.0)  # another folder of records with its own teacher: not a front
    assert front_dirs(tmp_path) == [tmp_path / "target-front", tmp_path / "front-amd-epyc"]
    assert front_of_cpu(INTEL, tmp_path) == tmp_path / "target-front"  # found by its teacher's CPU, not its name
    assert front_of_cpu(AMD, tmp_path) == tmp_path / "front-amd-epyc"
    assert front_of_cpu("Apple M3", tmp_path) == tmp_path / "front-apple-m3"
    assert [front.label for front in fronts(tmp_path)] == ["Intel Xeon", "AMD EPYC"]


def test_a_front_whose_teacher_cannot_be_rebuilt_stands_as_recorded(tmp_path):
    """A teacher whose head was drawn unseeded can't be rebuilt, so its front takes no more runs: the CPU begins
    another beside it."""
    _front(tmp_path / FRONT_DIR.name, INTEL, 64.0, 63.5, seeded=False)
    _front(tmp_path / "front-amd-epyc", AMD, 66.0, 62.0, seeded=False)
    assert [front.open for front in fronts(tmp_path)] == [False, False]
    assert front_of_cpu(INTEL, tmp_path) == tmp_path / "front-intel-r-xeon-r-processor-2-80ghz"
    assert front_of_cpu(AMD, tmp_path) == tmp_path / "front-amd-epyc-2"
    _front(tmp_path / "front-amd-epyc-2", AMD, 66.0, 62.0)  # begun there
    assert front_of_cpu(AMD, tmp_path) == tmp_path / "front-amd-epyc-2"


def test_the_map_judges_each_front_beside_the_main_sweep(tmp_path):
    from bmp.results.records import load_records
    from bmp.results.summary import headline, render

    _front(tmp_path / "target-front", INTEL, 64.0, 63.5)  # 0.5 below its control: met
    _front(tmp_path / "front-amd-epyc", AMD, 66.0, 62.0)  # 4 below its own: missed
    _front(tmp_path / "main", INTEL, 65.0, 64.5)
    text = headline(load_records(tmp_path / "main"), fronts_=fronts(tmp_path))
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    # no timing runs here, so no speed is established: a gap inside the margin stays inconclusive
    assert rows[0] == "| >= 2.5x at <= 1.0 F1 below the reference (>= 3 seeds) | Intel Xeon front | " \
                      "**inconclusive** | hybrid-speedup2.5-course-filled: 0.5 F1 below the control control-course " \
                      "(64.0 F1, 3 seeds) | [-0.5, -0.5] | – |"
    assert rows[1] == "|  | AMD EPYC front | **missed** | hybrid-speedup2.5-course-filled: 4.0 F1 below the control " \
                      "control-course (66.0 F1, 3 seeds) | [-4.0, -4.0] | – |"
    assert rows[2].startswith("|  | main sweep | **inconclusive** | hybrid-speedup2.5-course-filled: 0.5 F1 below")
    assert "Each row names the reference its models are held to" in text  # each place held to its own
    assert "Not measured yet: >= 4x at <= 3 F1 below the reference (>= 3 seeds) (anywhere);" in text
    # one seed too few to judge the setting chosen: a row all the same, saying so, and none in the line below
    (tmp_path / "front-amd-epyc" / "filled__hybrid-speedup2.5-course-s43-filled.json").unlink()
    text = headline(load_records(tmp_path / "main"), fronts_=fronts(tmp_path))
    assert "|  | AMD EPYC front | **not measured** | hybrid-speedup2.5-course-filled: 4.0 F1 below the control " \
           "control-course (66.0 F1, 3 seeds); so far missed, but needs 3 seeds: it has 2 | [-4.0, -4.0] | – |" in text
    assert "Not measured yet: >= 4x at <= 3 F1 below the reference (>= 3 seeds) (anywhere);" in text
    record("main-4x-filled", "filled", {"f1": 60.0, "validation_f1": 60.0, "cpu_speedup": 4.5, **SPLIT,
                                        "predictions": _answers(60.0)},
           provenance(base_model="embedded", data_split="dev by article", profile="course"), {"teacher": TEACHER},
           directory=tmp_path / "main")
    text = headline(load_records(tmp_path / "main"), fronts_=fronts(tmp_path))
    assert "Not measured yet: >= 4x at <= 3 F1 below the reference (>= 3 seeds) (on the Intel Xeon front, the " \
           "AMD EPYC front);" in text
    full = render(load_records(tmp_path / "main"), fronts_=fronts(tmp_path))
    assert "The front from the course's own teacher on an Intel Xeon, a target against the λ front it replaces," in full
    assert "The front from the course's own teacher on an AMD EPYC and the comparisons with paired intervals " \
           "(`scripts/review_front.sh`, records in" in full
