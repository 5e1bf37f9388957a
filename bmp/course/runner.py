"""Run the course: execute the numbered notebooks in order, headless, under one profile.

    python -m bmp course [--profile P] [--only 01,02] [--output outputs]

Each ``notebooks/NN_topic.py`` (jupytext percent format, the source of truth) is converted to a temporary notebook
and executed by papermill with ``PROFILE`` and ``SOLUTIONS=True`` injected into its ``parameters`` cell, so a headless
run replaces each exercise's stub with its reference solution from ``notebooks/solutions/`` (the kernel also gets
``BMP_SOLUTIONS=1``). Executed copies go to ``<output>/notebooks/``, figures to ``<output>/figures/``, and the wall
time of each notebook is recorded in ``data/results/`` with its provenance. The run stops at the first notebook that
fails.

"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bmp.course.notebooks import DEFAULT_OUTPUT, OUTPUT_ENV, SOLUTIONS_ENV
from bmp.profiles import PROFILE_ENV, REPO_ROOT, get_profile
from bmp.results.records import COMMAND_ENV, RESULTS_ENV, provenance, record, repo_relative

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.py"


# ---------------------------------------------------------------- which notebooks

def discover(directory: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """Every ``NN_topic.py`` in ``directory``, in the order the course runs them (sorted by name)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no notebook folder at {directory}: run from a checkout of the project")
    return sorted((p for p in directory.glob(NOTEBOOK_PATTERN) if p.is_file()), key=lambda p: p.name)


def select(notebooks: list[Path], only: str | None) -> list[Path]:
    """Keep the notebooks whose two-digit prefix is listed in ``only`` (e.g. ``"01,02"``); all when ``only`` is None."""
    if not only:
        return list(notebooks)
    wanted = [token.strip() for token in only.split(",") if token.strip()]
    bad = [token for token in wanted if not (len(token) == 2 and token.isdigit())]
    if bad:
        raise ValueError(f"--only takes two-digit notebook numbers separated by commas (e.g. 01,02), got {bad}")
    available = {path.name[:2]: path for path in notebooks}
    missing = [token for token in wanted if token not in available]
    if missing:
        raise ValueError(f"no notebook numbered {', '.join(missing)}: available are {', '.join(sorted(available))}")
    return [path for path in notebooks if path.name[:2] in wanted]


# ---------------------------------------------------------------- executing

class NotebookFailed(RuntimeError):
    def __init__(self, notebook: Path, executed: Path, seconds: float, reason: str):
        self.notebook, self.executed, self.seconds = notebook, executed, seconds
        where = (f"\n  the executed copy, with the traceback, is {executed}" if executed.is_file()
                 else "\n  (it stopped before any cell ran, so there is no executed copy)")
        super().__init__(f"{notebook.name} failed after {seconds:.1f} s: {reason}{where}")


def _failure_reason(err: Exception) -> str:
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename is not None:  # papermill's PapermillExecutionError
        count = getattr(err, "exec_count", None)
        where = f"cell [{count}]" if count is not None else "a cell"
        return f"{where} raised {ename}: {evalue}"
    return f"{type(err).__name__}: {err}"


class _SolutionsParameterNoise(logging.Filter):
    """papermill can't parse ``SOLUTIONS = os.environ.get(...) == "1"`` as a default (it reads ``==`` as an
    assignment), so it warns, then injects ``SOLUTIONS`` all the same: drop those two warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SOLUTIONS" not in record.getMessage()


for _name in ("papermill", "papermill.translators"):
    logging.getLogger(_name).addFilter(_SolutionsParameterNoise())


def execute(notebook: Path, profile: str, executed_dir: Path) -> float:
    """Execute one ``.py`` notebook under ``profile``; write the executed ``.ipynb`` and return the wall time."""
    import jupytext
    import papermill

    executed = executed_dir / f"{notebook.stem}.ipynb"
    executed_dir.mkdir(parents=True, exist_ok=True)
    executed.unlink(missing_ok=True)  # a stale copy from an earlier run must not pass for this one
    start = time.perf_counter()
    try:
        nb = jupytext.read(notebook)
        # a script without a jupytext header names no kernel; the course is Python throughout
        nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
        kernel = nb.metadata["kernelspec"].get("name", "python3")
        with tempfile.TemporaryDirectory(prefix="bmp-course-") as tmp:
            source = Path(tmp) / f"{notebook.stem}.ipynb"
            jupytext.write(nb, source)
            papermill.execute_notebook(str(source), str(executed),
                                       parameters={"PROFILE": profile, "SOLUTIONS": True},
                                       kernel_name=kernel, cwd=str(notebook.parent), progress_bar=False)
    except Exception as err:  # any failure (a cell, the kernel, the conversion) stops the course
        raise NotebookFailed(notebook, executed, time.perf_counter() - start, _failure_reason(err)) from err
    return time.perf_counter() - start


def _say(message: str) -> None:
    print(message, flush=True)  # flushed, so progress shows up live when the output is piped to a log


def _kernel_environment(profile: str, output: Path) -> None:
    """Kernels inherit this process's environment: the profile, the output folder, the exercises' solutions in place
    of their stubs, this checkout's bmp, and ``$BMP_RESULTS_DIR`` made absolute (a kernel's cwd is ``notebooks/``)."""
    os.environ[PROFILE_ENV] = profile
    os.environ[OUTPUT_ENV] = str(output)
    os.environ[SOLUTIONS_ENV] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if os.environ.get(RESULTS_ENV):  # kernels run in notebooks/: a relative folder means the one seen from here
        os.environ[RESULTS_ENV] = str(Path(os.environ[RESULTS_ENV]).resolve())
    paths = [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


def run_course(profile: str, notebooks: list[Path], output: str | Path = DEFAULT_OUTPUT) -> dict[str, float]:
    """Execute ``notebooks`` in order and return ``{stem: seconds}``; stop with :class:`NotebookFailed`."""
    output = Path(output)
    output = output if output.is_absolute() else Path.cwd() / output
    _kernel_environment(profile, output)
    times: dict[str, float] = {}
    total = 0.0
    for number, notebook in enumerate(notebooks, start=1):
        _say(f"[{number}/{len(notebooks)}] {notebook.name} (profile {profile}) ...")
        # records written inside the kernel name the notebook, not the kernel's own command line
        os.environ[COMMAND_ENV] = f"python -m bmp course --profile {profile} (notebook {notebook.name})"
        try:
            seconds = execute(notebook, profile, output / "notebooks")
        except NotebookFailed as err:
            total += err.seconds
            _say(f"[{number}/{len(notebooks)}] {err}\n  (course elapsed {total:.1f} s)")
            raise
        times[notebook.stem] = round(seconds, 1)
        total += seconds
        _say(f"[{number}/{len(notebooks)}] {notebook.stem} done in {seconds:.1f} s (course elapsed {total:.1f} s)")
    return times


def record_times(profile: str, times: dict[str, float], complete: bool, output: Path,
                 command: str | None = None) -> Path:
    """Write the wall times with their provenance; a partial run (``--only``) gets its own record name."""
    chosen = get_profile(profile)
    name = profile if complete else f"{profile}-only-{'-'.join(stem[:2] for stem in times)}"
    data_split = ("the shipped SQuAD sample" if chosen.data == "sample"
                  else "SQuAD v1.1 dev split by article (train part / held-out part)")
    return record(name, "course-times", {"notebooks_s": times, "total_s": round(sum(times.values()), 1)},
                  provenance(base_model=chosen.model, data_split=data_split, profile=profile, command=command),
                  config={"notebooks": list(times), "output": repo_relative(output)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bmp course",
                                     description="Execute the course notebooks in order, headless.")
    parser.add_argument("--profile", default=None, help="smoke | course | full (default: $BMP_PROFILE or course)")
    parser.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,02 (default: all)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help="folder for executed notebooks and figures (default: outputs)")
    args = parser.parse_args(argv)
    try:
        profile = get_profile(args.profile).name
        everything = discover()
        notebooks = select(everything, args.only)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not notebooks:
        print(f"error: no notebooks matching {NOTEBOOK_PATTERN} in {NOTEBOOK_DIR}", file=sys.stderr)
        return 2
    output = Path(args.output).resolve()
    command = " ".join(["python -m bmp course", *(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))])
    try:
        times = run_course(profile, notebooks, output)
    except NotebookFailed as err:
        print(f"\nThe course stopped at {err.notebook.name}; the notebooks after it did not run.\n"
              f"Fix it, then rerun it alone with: python -m bmp course --profile {profile} "
              f"--only {err.notebook.name[:2]}", file=sys.stderr)
        return 1
    path = record_times(profile, times, complete=len(notebooks) == len(everything), output=output, command=command)
    print(f"{len(times)} notebook(s) ran in {sum(times.values()):.1f} s; executed copies in {output / 'notebooks'}; "
          f"times recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
