"""Notebook hygiene: every ``NN_topic.py`` has an output-free ``.ipynb`` twin with the same cells, and the course
runner finds the notebooks in order. (Executing them under the smoke profile is ``pytest --nbmake``'s job.)"""
import re
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")

from bmp.course import NOTEBOOK_DIR, discover, select  # noqa: E402

SOURCES = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
TWINS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _cells(path: Path) -> list[tuple[str, str, list[str]]]:
    notebook = jupytext.read(path)
    return [(cell.cell_type, cell.source.strip(), sorted(cell.metadata.get("tags", []))) for cell in notebook.cells]


def test_there_are_notebooks():
    assert SOURCES, f"no NN_topic.py notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_source_has_an_identical_twin(source):
    twin = source.with_suffix(".ipynb")
    assert twin.is_file(), f"{twin.name} is missing: run `jupytext --to ipynb notebooks/{source.name}`"
    regenerate = f"run `jupytext --to ipynb notebooks/{source.name}`"
    mine, theirs = _cells(source), _cells(twin)
    assert len(mine) == len(theirs), f"{source.name} has {len(mine)} cells, {twin.name} {len(theirs)}: {regenerate}"
    for index, (a, b) in enumerate(zip(mine, theirs)):
        assert a == b, f"cell {index} differs between {source.name} and {twin.name}: {regenerate}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_source_has_a_parameters_cell(source):
    cells = jupytext.read(source).cells
    tagged = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{source.name} needs exactly one cell tagged 'parameters' (for papermill)"
    assert "PROFILE" in tagged[0].source, f"{source.name}: the parameters cell must define PROFILE"


@pytest.mark.parametrize("twin", TWINS, ids=lambda p: p.name)
def test_no_committed_notebook_carries_outputs(twin):
    import nbformat

    notebook = nbformat.read(twin, as_version=4)
    dirty = [index for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{twin.name} carries outputs or execution counts in cells {dirty}: clear them, or "
                       f"regenerate it with `jupytext --to ipynb notebooks/{twin.with_suffix('.py').name}`")


def test_course_discovers_the_notebooks_in_order():
    found = discover()
    assert found == SOURCES
    assert [p.name for p in found] == sorted(p.name for p in found)


def test_discover_keeps_only_numbered_scripts_sorted(tmp_path):
    for name in ("10_later.py", "02_second.py", "01_first.py", "03_third.ipynb", "helper.py", "1_short.py",
                 "ab_letters.py"):
        (tmp_path / name).write_text("# %%\n")
    assert [p.name for p in discover(tmp_path)] == ["01_first.py", "02_second.py", "10_later.py"]


def test_select_by_number(tmp_path):
    for name in ("01_a.py", "02_b.py", "03_c.py"):
        (tmp_path / name).write_text("# %%\n")
    notebooks = discover(tmp_path)
    assert [p.name for p in select(notebooks, "03,01")] == ["01_a.py", "03_c.py"]  # course order, not the listed one
    assert select(notebooks, None) == notebooks
    with pytest.raises(ValueError, match="no notebook numbered 07"):
        select(notebooks, "01,07")
    with pytest.raises(ValueError, match="two-digit"):
        select(notebooks, "1")


def test_course_run_defaults_to_the_profile_and_names_the_same_folders():
    from bmp.course import course_run
    from bmp.profiles import get_profile

    profile = get_profile("course")
    run = course_run(profile, "hybrid")
    assert (run.lam, run.score_lr) == (profile.prune_lambda, profile.score_learning_rate)
    assert run.name == f"course-hybrid-lam{profile.prune_lambda:g}-course" and run.pruned == run.run_dir / "final"
    assert run.teacher.parts[-2:] == ("teacher-course", "final")
    chosen = course_run(profile, "struct", 60, 0.1)
    assert (chosen.lam, chosen.score_lr, chosen.name) == (60.0, 0.1, "course-struct-lam60-course")


def test_a_learners_records_never_land_in_the_tracked_folder(monkeypatch, tmp_path):
    """Notebooks and `make course` record into the ignored outputs/results; only BMP_RESULTS_DIR (set by the
    recorded sweep) writes data/results."""
    import subprocess

    from bmp.profiles import REPO_ROOT
    from bmp.results.records import RESULTS_DIR, RESULTS_ENV, provenance, record, results_dir

    monkeypatch.delenv(RESULTS_ENV, raising=False)
    assert results_dir() != RESULTS_DIR
    ignored = subprocess.run(["git", "check-ignore", "-q", str(results_dir() / "x.json")], cwd=REPO_ROOT)
    assert ignored.returncode == 0, f"{results_dir()} is not git-ignored"
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    path = record("x", "dense", {"f1": 1.0}, provenance(base_model="tiny", data_split="s", profile="smoke"))
    assert path.parent == tmp_path


# ---------------------------------------------------------------- exercises: stubs for learners, solutions headless

SOLUTION_CALL = re.compile(r'solution\("([^"]+)", "([^"]+)"\)')


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_every_exercise_is_a_stub_with_a_reference_solution(source):
    from bmp.course import solution

    text = source.read_text()
    parameters = [cell for cell in jupytext.read(source).cells if "parameters" in cell.metadata.get("tags", [])]
    assert 'SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"' in parameters[0].source, source.name
    calls = SOLUTION_CALL.findall(text)
    assert calls, f"{source.name} has no exercise swapped for its solution (`if SOLUTIONS: f = solution(...)`)"
    for notebook, name in calls:
        assert notebook == source.stem, f"{source.name} loads a solution of {notebook}"
        assert f"def {name}(" in text, f"{source.name} has no stub for {name}"
        assert f'raise NotImplementedError("your turn: write {name}' in text, f"{name} in {source.name} is no stub"
        assert callable(solution(notebook, name))
    assert "A working solution is in place" not in text and "replace this solution" not in text


def test_solution_says_what_is_missing(tmp_path):
    from bmp.course import solution

    (tmp_path / "01_x.py").write_text("def f():\n    return 1\n")
    assert solution("01_x", "f", directory=tmp_path)() == 1
    with pytest.raises(AttributeError, match="has no 'g'; it defines f"):
        solution("01_x", "g", directory=tmp_path)
    with pytest.raises(FileNotFoundError, match="there are solutions for 01_x"):
        solution("02_y", "f", directory=tmp_path)


def test_the_runner_swaps_in_the_solutions(monkeypatch, tmp_path):
    import os

    from bmp.course import runner

    for name in ("BMP_PROFILE", "BMP_OUTPUT_DIR", "BMP_SOLUTIONS", "PYTHONPATH", "TOKENIZERS_PARALLELISM"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BMP_RESULTS_DIR", "data/results")  # as scripts and READMEs write it, from the repo root
    runner._kernel_environment("smoke", tmp_path)
    assert os.environ["BMP_SOLUTIONS"] == "1"
    # the kernels run in notebooks/: their records must land where the caller meant, not in notebooks/data/results
    assert os.environ["BMP_RESULTS_DIR"] == str(tmp_path.resolve() / "data" / "results")
    assert '"SOLUTIONS": True' in Path(runner.__file__).read_text()


# ---------------------------------------------------------------- measured times, read from records only

def _times(name: str, date: str, **seconds) -> dict:
    return {"name": name, "kind": "course-times", "metrics": {"notebooks_s": seconds},
            "provenance": {"profile": "course", "date": date, "hardware": {"cpu": "x86_64", "torch_threads": 2}}}


def test_time_banner_reads_the_records():
    from bmp.course import time_banner

    records = [_times("course", "2026-11-26T13:59:12+00:00", **{"03_squad_finetuning": 549.7,
                                                                 "04_pruning_with_distillation": 659.2,
                                                                 "01_movement_scores": 8.1}),
               _times("course-only-04", "2026-11-27T10:00:00+00:00", **{"04_pruning_with_distillation": 600.0})]
    assert time_banner("01_movement_scores", records=records) == \
        "measured: 8 s on CPU x86_64 x2 threads (course profile, 2026-11-26)"
    renumbered = time_banner("05_pruning_with_distillation", records=records)
    assert renumbered.startswith("measured: 10.0 min") and "2026-11-27" in renumbered  # the newest, matched by topic
    assert "timed as 04_pruning_with_distillation" in renumbered
    split = time_banner("04_teacher_finetuning", records=records)
    assert split.startswith("not timed since the split") and "9.2 min" in split
    assert time_banner("07_speed_and_size", records=records).startswith("not timed yet")
    assert time_banner("01_movement_scores", what="the slow cell", records=records).startswith(
        "the slow cell; the whole notebook measured 8 s")
    assert time_banner("01_movement_scores", profile="full", records=records).startswith("not timed yet")


def _numbered(lines) -> list[int]:
    return [int(m.group(1)) for m in (re.match(r"(\d+)\. ", line) for line in lines) if m]


def test_the_answers_file_answers_every_questionnaire():
    """notebooks/solutions/questionnaire_answers.md has one section per notebook, numbered as its questions."""
    answers = (NOTEBOOK_DIR / "solutions" / "questionnaire_answers.md").read_text()
    sections = {m.group(1): m.group(2) for m in re.finditer(r"^## (\d\d) ·[^\n]*\n(.*?)(?=^## |\Z)", answers,
                                                            re.S | re.M)}
    for source in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py")):
        text = source.read_text()
        assert "# ## Questionnaire" in text, f"{source.name} has no questionnaire"
        block = text.split("# ## Questionnaire", 1)[1].split("# ## Further research", 1)[0]
        questions = _numbered(line.removeprefix("# ") for line in block.splitlines())
        assert questions == list(range(1, len(questions) + 1)) and len(questions) >= 3, source.name
        number = source.name[:2]
        assert number in sections, f"questionnaire_answers.md has no '## {number} ·' section"
        assert _numbered(sections[number].splitlines()) == questions, f"{source.name}: answers don't match questions"


# ---------------------------------------------------------------- what the notebooks name exists

NAMED_ROOTS = ("bmp", "data", "docs", "scripts", "notebooks", "tests")
# a repository path: a tracked top-level folder, then path characters; not part of a longer word or path, and not
# a template (followed by `{`, `<` or `*`: runs/teacher-{profile}, data/results/packed__*.json)
NAMED_PATH = re.compile(r"(?<![\w./<{-])((?:%s)/[A-Za-z0-9_./-]*)(?![{<*A-Za-z0-9_./-])" % "|".join(NAMED_ROOTS))
NAMED_MODULE = re.compile(r"`(bmp(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")  # `bmp.results.tradeoff.choose`
NOTEBOOK_TEXTS = SOURCES + sorted((NOTEBOOK_DIR / "solutions").glob("*.py")) + \
    [NOTEBOOK_DIR / "solutions" / "questionnaire_answers.md"]


def missing_paths(text: str, root: Path) -> list[str]:
    """The repository paths ``text`` names (``bmp/results/tradeoff.py``, ``data/results``) that don't exist under
    ``root``; a trailing full stop ends a sentence, not the path."""
    named = {match.group(1).rstrip(".") for match in NAMED_PATH.finditer(text)}
    return sorted(path for path in named if not (root / path).exists())


def unresolved_modules(text: str) -> list[str]:
    """The backticked ``bmp.`` names in ``text`` that no module or attribute answers to."""
    import importlib

    def resolves(name: str) -> bool:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attribute in parts[cut:]:
                if not hasattr(found, attribute):
                    return False
                found = getattr(found, attribute)
            return True
        return False

    return sorted({name for name in NAMED_MODULE.findall(text) if not resolves(name)})


def test_a_wrong_path_or_name_is_caught(tmp_path):
    (tmp_path / "bmp" / "results").mkdir(parents=True)
    (tmp_path / "bmp" / "results" / "tradeoff.py").write_text("")
    text = ("Read `bmp/tradeoff.py` and `bmp/results/tradeoff.py`. The records are in data/results/packed__*.json "
            "and runs/teacher-{profile}/final; see `bmp.results.tradeoff.choose` and `bmp.results.tradeoff.chose`.")
    assert missing_paths(text, tmp_path) == ["bmp/tradeoff.py"]
    assert unresolved_modules(text) == ["bmp.results.tradeoff.chose"]


@pytest.mark.parametrize("path", NOTEBOOK_TEXTS, ids=lambda p: p.name)
def test_every_path_and_module_a_notebook_names_exists(path):
    from bmp.profiles import REPO_ROOT

    text = path.read_text()
    assert not missing_paths(text, REPO_ROOT), f"{path.name} names paths that don't exist"
    assert not unresolved_modules(text), f"{path.name} names bmp modules or functions that don't exist"
