"""Recorded runs: one JSON file per run in ``data/results/``, each with its provenance.

Every number shown in a notebook, the README or a plot is read from these records. A record says which command
made it, on which base model, data split, profile and hardware, when, and at which git commit.
"""
from __future__ import annotations

import datetime as _dt
import gzip
import io
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import torch

from bmp.profiles import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "data" / "results"  # the tracked records: written only by the recorded sweep
PROBES_DIR = RESULTS_DIR / "probes"  # short pruning probes behind the recipe's defaults (scripts/probe_recipe.sh)
SCRATCH_RESULTS_DIR = REPO_ROOT / "outputs" / "results"  # ignored: where a learner's own runs are recorded
RESULTS_ENV = "BMP_RESULTS_DIR"
COMMAND_ENV = "BMP_COMMAND"  # set by runners (bmp course) whose records would otherwise name a kernel
COMMIT_ENV = "BMP_GIT_COMMIT"  # set where the checkout travels without its .git (scripts/gpu_sweep.sh)


def results_dir() -> Path:
    """Where new records go: ``$BMP_RESULTS_DIR``, else the ignored ``outputs/results`` of this checkout (the
    course's kernels run in ``notebooks/``), or of the working directory when bmp is installed as a package (never
    inside site-packages). A learner's runs never change the tracked ``data/results`` (``scripts/sweep.sh`` sets the
    variable to write there on purpose)."""
    if RESULTS_ENV in os.environ:
        return Path(os.environ[RESULTS_ENV])
    in_checkout = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "bmp").is_dir()
    return SCRATCH_RESULTS_DIR if in_checkout else Path.cwd() / "outputs" / "results"


def git_commit() -> str:
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), falling back to the architecture where it can't be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    import transformers

    info = {"cpu": platform.machine(), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def hardware_label(hw: dict) -> str:
    cpu = hw.get("cpu_model") or hw.get("cpu", "?")
    return hw.get("gpu") or f"CPU {cpu} x{hw.get('torch_threads', '?')} threads"


def invocation() -> str:
    """The command line that is running, with ``python -m bmp.x`` restored for module runs."""
    if os.environ.get(COMMAND_ENV):
        return os.environ[COMMAND_ENV]
    argv = list(sys.argv)
    if argv and argv[0].startswith("python -m "):  # set by ``python -m bmp COMMAND`` (bmp.cli)
        return " ".join([argv[0], *(shlex.quote(_relative_argument(a)) for a in argv[1:])])
    script = Path(argv[0]).resolve() if argv and argv[0] else None
    package = REPO_ROOT / "bmp"
    if script is not None and script.suffix == ".py" and package in script.parents:
        module = ".".join(script.relative_to(REPO_ROOT).with_suffix("").parts)
        argv = ["-m", module.removesuffix(".__main__"), *argv[1:]]
    return " ".join(shlex.quote(_relative_argument(a)) for a in ["python", *argv])


def _relative_argument(argument: str) -> str:
    """A command-line argument with a path inside the repository made repo-relative (``/repo/runs/x`` and
    ``--out=/repo/runs/x`` alike)."""
    option, equals, value = argument.rpartition("=") if argument.startswith("-") else ("", "", argument)
    return option + equals + (repo_relative(value) if value.startswith("/") else value)


def repo_relative(path) -> str:
    """``path`` relative to the repository when it lies inside it (records must not name a scratch folder)."""
    path = Path(path)
    for candidate in (Path(os.path.abspath(path)), path.resolve()):  # as written first: data/squad may be a link
        try:
            return str(candidate.relative_to(REPO_ROOT))
        except ValueError:
            continue
    return str(path)


def provenance(*, base_model: str, data_split: str, profile: str, command: str | None = None,
               seed: int | None = None) -> dict:
    return {
        "command": command or invocation(),
        "base_model": base_model, "data_split": data_split, "profile": profile, "hardware": hardware(),
        "seed": seed,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "git_commit": git_commit(),
    }


def fmt(value, spec: str) -> str:
    """A recorded number for a table or a line (``spec`` as in ``format``), or a dash where it was not recorded."""
    return "–" if value is None else format(value, spec)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


PREDICTIONS_KEY = "predictions"  # metrics key: a Predictions when evaluated, the sidecar's path once recorded
INIT_SEED_KEY = "init_seed"  # a fine-tune's config: the seed its new head was drawn with (none: not reproducible)
PREDICTIONS_FOLDER = "predictions"  # beside the records: <records>/predictions/<kind>__<name>.json.gz
SPLITS = ("heldout", "validation")  # the splits a run is evaluated on (QAData.split)


class Predictions(Mapping):
    """One model's answers, question by question: ``{split: {question id: (predicted text, EM, F1)}}``, EM and F1
    on 0-1 as the official script scores a question (their mean times 100 is the record's score).

    ``bmp.training.evaluation.evaluate_qa`` returns one under ``metrics["predictions"]``; :func:`record` writes it
    beside the record (:func:`write_predictions`) and keeps only its path in the record, so any two recorded models
    can be compared on the same questions (:mod:`bmp.results.intervals`)."""

    def __init__(self, splits: Mapping[str, Mapping[str, tuple]]):
        # F1 kept to 4 decimals, as saved: a model's predictions equal their sidecar read back
        self._splits = {str(split): {str(qid): (str(row[0]), float(row[1]), round(float(row[2]), 4))
                                     for qid, row in questions.items()} for split, questions in splits.items()}

    def __getitem__(self, split):
        return self._splits[split]

    def __iter__(self):
        return iter(self._splits)

    def __len__(self):
        return len(self._splits)

    def __or__(self, other: Mapping) -> "Predictions":
        return Predictions({**self._splits, **other})

    def __repr__(self) -> str:
        return "Predictions(" + ", ".join(f"{split}: {len(q):,} questions" for split, q in self.items()) + ")"

    def to_bytes(self) -> bytes:
        """Gzipped JSON with sorted keys, F1 rounded to 4 decimals and a fixed gzip header: the same answers always
        give the same bytes, so a rescored model leaves git with nothing to commit."""
        payload = {split: {qid: [text, int(em), f1] for qid, (text, em, f1) in questions.items()}
                   for split, questions in self.items()}
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as handle:
            handle.write(text)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Predictions":
        return cls(json.loads(gzip.decompress(data)))


def predictions_path(record_path: Path) -> Path:
    """Where the sidecar of the record at ``record_path`` lives: ``<its folder>/predictions/<its stem>.json.gz``."""
    return record_path.parent / PREDICTIONS_FOLDER / f"{record_path.stem}.json.gz"


def write_predictions(record_path: Path, predictions: Predictions) -> str:
    """Write the sidecar of the record at ``record_path``; return the path the record keeps (repo-relative)."""
    path = predictions_path(Path(record_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(predictions.to_bytes())
    return repo_relative(path)


def load_predictions(record: dict) -> Predictions | None:
    """The per-question predictions a record points at (``metrics.predictions``), or None when it has none (every
    record made before they were saved: ``python -m bmp rescore`` adds them). The sidecar is looked for where the
    record says, then beside the record file (a folder of records copied elsewhere)."""
    pointer = record.get("metrics", {}).get(PREDICTIONS_KEY)
    if not isinstance(pointer, str):
        return None
    candidates = [Path(pointer) if Path(pointer).is_absolute() else REPO_ROOT / pointer]
    if record.get("_path"):
        candidates.append(Path(record["_path"]).parent / PREDICTIONS_FOLDER / Path(pointer).name)
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        raise FileNotFoundError(f"record {record.get('name')!r} points at predictions {pointer} but no such file "
                                "exists: restore it from git or rerun `python -m bmp rescore` for this record")
    return Predictions.from_bytes(found.read_bytes())


def record_path_of(name: str, kind: str, directory: str | Path | None = None) -> Path:
    """``<dir>/<kind>__<name>.json``: where :func:`record` writes the record of a run."""
    return Path(directory or results_dir()) / f"{slug(kind)}__{slug(name)}.json"


def record(name: str, kind: str, metrics: dict, provenance: dict, config: dict | None = None,
           directory: str | Path | None = None) -> Path:
    """Write ``<dir>/<kind>__<name>.json`` (replacing an older record of the same run) and return its path. A
    :class:`Predictions` under ``metrics["predictions"]`` goes to its sidecar, and the record keeps its path."""
    path = record_path_of(name, kind, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = dict(metrics)
    if isinstance(metrics.get(PREDICTIONS_KEY), Predictions):
        metrics[PREDICTIONS_KEY] = write_predictions(path, metrics[PREDICTIONS_KEY])
    payload = {"name": name, "kind": kind, "metrics": metrics, "config": config or {}, "provenance": provenance}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def load_records(directory: str | Path | None = None, kind: str | None = None) -> list[dict]:
    """The records in ``directory`` (default: the tracked ``data/results``), optionally of one ``kind``."""
    directory = Path(directory) if directory else RESULTS_DIR
    records = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}): fix or delete it, then rerun") from err
        if kind is None or data.get("kind") == kind:
            data["_path"] = str(path)
            records.append(data)
    return records


def teacher_base_model(teacher_dir, directory: str | Path | None = None) -> str | None:
    """The base model named by the dense record of ``teacher_dir`` (in ``directory``, default where new records go):
    a run distilled from that teacher starts from the same base. None when the teacher has no record there."""
    found = teacher_record(load_records(directory or results_dir()), teacher_dir)
    return found.get("provenance", {}).get("base_model") if found else None


def teacher_record(records: list[dict], teacher_dir, split: str | None = None) -> dict | None:
    """The dense record whose saved model is ``teacher_dir`` (scored on ``split`` when given), or None. A dense
    control is a teacher too when runs are distilled from it (a stronger teacher than the one it came from).

    The one teacher lookup: folders are compared repo-relative, so a record made in another checkout still
    matches; when several records name the folder, the newest wins."""
    wanted = repo_relative(teacher_dir)
    matches = [r for r in records if r.get("kind") in ("dense", "control")
               and repo_relative(REPO_ROOT / r.get("config", {}).get("output_dir", "")) == wanted
               and (split is None or r.get("metrics", {}).get("eval_split") == split)]
    return max(matches, key=lambda r: r.get("provenance", {}).get("date", ""), default=None)


PRUNED_KINDS = ("packed", "filled")
FINAL_KIND = "filled"  # struct and hybrid are compared as the models one ships: packed, then filled
STUDENT_KINDS = ("distil-recipe", "torch-pruning")  # trained for a number of epochs recorded in config.epochs


def train_epochs_of(record: dict, records=()) -> float | None:
    """Epochs of training a run had after its dense teacher (``None`` when its record doesn't say).

    ``pruned``: its pruning epochs; ``packed``: those of the pruned run it was packed from (found in ``records``
    by folder); ``filled``: those plus its filling epochs; ``distil-recipe``, ``torch-pruning`` and ``control``:
    their epochs. Used to compare runs only with runs that trained no longer."""
    metrics, config = record.get("metrics", {}), record.get("config", {})
    if metrics.get("train_epochs") is not None:
        return float(metrics["train_epochs"])
    profile = config.get("profile") or {}
    kind = record.get("kind")
    if kind in (*STUDENT_KINDS, "control"):
        epochs = config.get("epochs", metrics.get("epochs"))
    elif kind == "pruned":
        epochs = config.get("epochs", profile.get("prune_epochs"))
    elif kind in PRUNED_KINDS:
        source = next((r for r in records if r.get("kind") == "pruned"
                       and r.get("config", {}).get("output_dir") == config.get("pruned")), None)
        epochs = train_epochs_of(source) if source else profile.get("prune_epochs")
        if epochs is not None and kind == "filled":
            fill_epochs = config.get("epochs", profile.get("epochs"))
            epochs = None if fill_epochs is None else epochs + fill_epochs
    else:
        epochs = None
    return None if epochs is None else float(epochs)
