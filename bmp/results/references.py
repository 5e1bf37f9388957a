"""Published reference points: what other compressed BERTs score on SQuAD v1.1 and how fast they are said to run.

The numbers live in ``data/reference_models.json``, one entry per model, each with its source. They were measured by
their authors on the *official* SQuAD v1.1 dev set, on their hardware; offline, this project scores on the dev file
split by article, so its scores and these are never on the same scale (see :mod:`bmp.results.plots`).

``fill_rate`` here is a model's encoder linear parameters over BERT-base's (85M), the same quantity
:mod:`bmp.packing.size` computes for a packed model against its own dense teacher. It comes from the stated fraction
when the source gives one, else from the stated parameter count, else from the stated sparsity (``1 - sparsity``);
the column ``fill_rate_from`` says which. For unstructured sparsity it counts non-zero weights, which buy no dense
speed.

Only :func:`reference_models` needs pandas; the rest runs where only torch and transformers are installed.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from bmp.profiles import REPO_ROOT
from bmp.speed.architectures import architecture_config

REFERENCE_FILE = REPO_ROOT / "data" / "reference_models.json"
STRUCTURES = ("dense", "structured", "unstructured")
ARCHITECTURE_KEYS = ("type", "layers", "hidden", "heads", "intermediate")
ARCHITECTURE_TYPES = ("bert", "mobilebert")


class ReferenceDataError(ValueError):
    """The reference file is missing a field or holds a value that can't be right; the message names the entry."""


def load_reference_file(path: str | Path | None = None) -> dict:
    """The validated contents of the reference file (default ``data/reference_models.json``)."""
    path = Path(path) if path is not None else REFERENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no reference file at {path}: it ships with the repository as "
                                f"data/reference_models.json; run from a checkout or pass path=...")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReferenceDataError(f"{path} is not valid JSON ({err})") from err
    validate(data, str(path))
    return data


def validate(data: dict, source: str = "<reference data>") -> None:
    """Raise :class:`ReferenceDataError` naming the entry and field when ``data`` is malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list) or not data["models"]:
        raise ReferenceDataError(f"{source}: expected an object with a non-empty 'models' list")
    baseline = data.get("baseline")
    names = [entry.get("name") if isinstance(entry, dict) else None for entry in data["models"]]
    for index, entry in enumerate(data["models"]):
        _validate_entry(entry, f"{source}: models[{index}] ({names[index] or 'no name'})")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ReferenceDataError(f"{source}: names must be unique, repeated: {duplicates}")
    if baseline not in names:
        raise ReferenceDataError(f"{source}: baseline {baseline!r} is not one of the models {names}")


def _validate_entry(entry, where: str) -> None:
    if not isinstance(entry, dict):
        raise ReferenceDataError(f"{where}: each model is an object, got {type(entry).__name__}")
    for key in ("name", "source", "family"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ReferenceDataError(f"{where}: '{key}' must be a non-empty string")
    if entry.get("structure") not in STRUCTURES:
        raise ReferenceDataError(f"{where}: 'structure' must be one of {STRUCTURES}, got {entry.get('structure')!r}")
    for key in ("exact_match", "f1"):
        if key not in entry:
            raise ReferenceDataError(f"{where}: '{key}' is missing (write null when the source doesn't give it)")
        _check_number(entry[key], where, key, low=0, high=100, nullable=True)
    if entry["exact_match"] is None and entry["f1"] is None:
        raise ReferenceDataError(f"{where}: give at least one of exact_match and f1")
    _check_number(entry.get("linear_params"), where, "linear_params", low=0, high=None, nullable=True)
    for key in ("linear_fraction", "sparsity"):
        _check_number(entry.get(key), where, key, low=0, high=1, nullable=True)
    speedups = entry.get("speedups")
    if not isinstance(speedups, list) or not speedups:
        raise ReferenceDataError(f"{where}: 'speedups' must be a non-empty list of {{value, hardware, how}}")
    for i, speedup in enumerate(speedups):
        if not isinstance(speedup, dict):
            raise ReferenceDataError(f"{where}: speedups[{i}] must be an object {{value, hardware, how}}")
        _check_number(speedup.get("value"), where, f"speedups[{i}].value", low=0, high=None, nullable=False)
        if speedup["value"] == 0:
            raise ReferenceDataError(f"{where}: speedups[{i}].value must be positive")
        if speedup.get("hardware") is not None and not isinstance(speedup["hardware"], str):
            raise ReferenceDataError(f"{where}: speedups[{i}].hardware must be a string or null")
        if not isinstance(speedup.get("how"), str):
            raise ReferenceDataError(f"{where}: speedups[{i}].how must say how it was obtained (measured, claimed...)")
    if "architecture" in entry:
        _validate_architecture(entry["architecture"], where)


def _validate_architecture(arch, where: str) -> None:
    if not isinstance(arch, dict):
        raise ReferenceDataError(f"{where}: 'architecture' must be an object with {ARCHITECTURE_KEYS}")
    missing = [key for key in ARCHITECTURE_KEYS if key not in arch]
    if missing:
        raise ReferenceDataError(f"{where}: architecture lacks {missing}")
    if arch["type"] not in ARCHITECTURE_TYPES:
        raise ReferenceDataError(f"{where}: architecture type must be one of {ARCHITECTURE_TYPES}, "
                                 f"got {arch['type']!r}")
    for key in ARCHITECTURE_KEYS[1:]:
        if not isinstance(arch[key], int) or isinstance(arch[key], bool) or arch[key] < 1:
            raise ReferenceDataError(f"{where}: architecture.{key} must be a positive integer, got {arch[key]!r}")
    if arch["type"] == "bert" and arch["hidden"] % arch["heads"]:
        raise ReferenceDataError(f"{where}: hidden {arch['hidden']} is not a multiple of heads {arch['heads']}")


def _check_number(value, where: str, key: str, *, low, high, nullable: bool) -> None:
    if value is None:
        if nullable:
            return
        raise ReferenceDataError(f"{where}: '{key}' is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ReferenceDataError(f"{where}: '{key}' must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = f" and {high}" if high is not None else ""
        raise ReferenceDataError(f"{where}: '{key}' = {value} is out of range (between {low}{upper})")


def reference_rows(path: str | Path | None = None) -> list[dict]:
    """One flat dict per reference model (pandas-free; :func:`reference_models` makes the table from it)."""
    data = load_reference_file(path)
    base = next(entry for entry in data["models"] if entry["name"] == data["baseline"])
    base_linear = base.get("linear_params")
    rows = []
    for entry in data["models"]:
        primary = entry["speedups"][0]
        fill_rate, fill_from = _fill_rate(entry, base_linear)
        arch = entry.get("architecture")
        rows.append({
            "name": entry["name"], "family": entry["family"], "structure": entry["structure"],
            "exact_match": entry["exact_match"], "f1": entry["f1"],
            "linear_params": entry.get("linear_params"), "fill_rate": fill_rate, "fill_rate_from": fill_from,
            "speedup": primary["value"], "speedup_hardware": primary.get("hardware"), "speedup_how": primary["how"],
            "speedups": "; ".join(_speedup_text(s) for s in entry["speedups"]),
            "source": entry["source"], "eval_split": data.get("eval_split", "official"),
            "architecture": None if arch is None else dict(arch),
        })
    return rows


def _fill_rate(entry: dict, base_linear) -> tuple[float | None, str | None]:
    if entry.get("linear_fraction") is not None:
        return float(entry["linear_fraction"]), "stated fraction"
    if entry.get("linear_params") is not None and base_linear:
        return entry["linear_params"] / base_linear, "linear params / BERT-base's"
    if entry.get("sparsity") is not None:
        return 1.0 - entry["sparsity"], "1 - stated sparsity"
    return None, None


def _speedup_text(speedup: dict) -> str:
    where = speedup.get("hardware") or "hardware not stated"
    return f"{speedup['value']:g}x ({where}, {speedup['how']})"


def reference_models(path: str | Path | None = None):
    """The reference points as a ``pandas.DataFrame``, one row per model.

    Columns: name, family, structure, exact_match, f1 (NaN where unknown), linear_params, fill_rate,
    fill_rate_from, speedup (the plotted one), speedup_hardware, speedup_how, speedups (all, as text), source,
    eval_split ("official" for every row), architecture (a dict, or None when there is no standard one).
    """
    import pandas as pd

    return pd.DataFrame(reference_rows(path))


def reference_architectures(path: str | Path | None = None, names=None) -> dict:
    """``{name: config}`` for every reference model with a standard architecture (``BertConfig``, or
    ``MobileBertConfig`` for MobileBERT), in file order; ``names`` picks a subset (unknown names raise)."""
    rows = [row for row in reference_rows(path) if row["architecture"] is not None]
    available = [row["name"] for row in rows]
    if names is not None:
        names = list(names)
        unknown = [name for name in names if name not in available]
        if unknown:
            raise KeyError(f"no architecture for {unknown}; the references with one are {available}")
        rows = [row for row in rows if row["name"] in names]
    return {row["name"]: architecture_config(row["architecture"]) for row in rows}


def published_speedups(path: str | Path | None = None) -> dict[str, dict]:
    """``{name: {"speedup", "hardware", "how", "all"}}``: each reference's plotted speedup and the full list."""
    return {row["name"]: {"speedup": row["speedup"], "hardware": row["speedup_hardware"], "how": row["speedup_how"],
                          "all": row["speedups"]} for row in reference_rows(path)}


__all__ = ["REFERENCE_FILE", "ReferenceDataError", "load_reference_file",
           "published_speedups", "reference_architectures", "reference_models", "reference_rows", "validate"]
