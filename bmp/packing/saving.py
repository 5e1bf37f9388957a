"""Save and load packed models.

``save_packed`` writes a folder that loads two ways: :func:`load_packed` (bmp's classes, no remote code) and
``AutoModelForQuestionAnswering.from_pretrained(folder, trust_remote_code=True)`` (the folder carries
``modeling_packed_bert.py``, a copy of :mod:`bmp.packing.packed_bert`). transformers 5 has no question-answering
pipeline any more; :func:`bmp.squad.answer.answer` does its job. :func:`load_packed` checks the folder first, so a
broken folder gives an error that says what is wrong and how to fix it instead of a silently re-initialised model.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from bmp.packing import packed_bert
from bmp.packing.packed_bert import PackedBertConfig, PackedBertForQuestionAnswering

REMOTE_MODULE = "modeling_packed_bert"
AUTO_MAP = {
    "AutoConfig": f"{REMOTE_MODULE}.PackedBertConfig",
    "AutoModelForQuestionAnswering": f"{REMOTE_MODULE}.PackedBertForQuestionAnswering",
}
SAVE_HINT = "save the model with bmp.packing.saving.save_packed(model, folder)"


class CorruptCheckpointError(ValueError):
    """The weights file can't be read, or doesn't fit the config next to it."""


def save_packed(model: PackedBertForQuestionAnswering, folder: str | Path, tokenizer=None) -> Path:
    """Write ``model`` (and ``tokenizer``) to ``folder`` with the modelling code, for loading with or without bmp."""
    if not isinstance(model, PackedBertForQuestionAnswering):
        raise TypeError(f"save_packed expects a PackedBertForQuestionAnswering, got {type(model).__name__}: "
                        "pack it first with bmp.packing.pack.pack(model)")
    folder = Path(folder)
    model.save_pretrained(folder)
    config = copy.deepcopy(model.config)  # leave the model's own config as it was
    config.auto_map = dict(AUTO_MAP)
    config.save_pretrained(folder)
    (folder / f"{REMOTE_MODULE}.py").write_text(Path(packed_bert.__file__).read_text())
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    return folder


def load_packed(folder: str | Path, *, device: str | torch.device | None = None,
                dtype: torch.dtype | None = None) -> PackedBertForQuestionAnswering:
    """Load a folder written by :func:`save_packed` with bmp's classes, in eval mode."""
    folder = Path(folder)
    config = _read_config(folder)
    weights = _weight_files(folder)
    _check_weights(weights, config)
    try:
        model, info = PackedBertForQuestionAnswering.from_pretrained(folder, config=config, dtype=dtype,
                                                                     output_loading_info=True)
    except (RuntimeError, SafetensorError, OSError) as err:
        raise CorruptCheckpointError(f"could not load the weights in {folder}: {err}. Re-save it: {SAVE_HINT}") from err
    problems = {kind: sorted(info[kind]) for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")
                if info.get(kind)}
    if problems:
        raise CorruptCheckpointError(f"the weights in {folder} don't match its config.json ({problems}); "
                                     f"transformers would have re-initialised them. Re-save it: {SAVE_HINT}")
    if device is not None:
        model.to(device)
    return model.eval()


def _read_config(folder: Path) -> PackedBertConfig:
    if not folder.is_dir():
        raise FileNotFoundError(f"no packed model folder at {folder}: {SAVE_HINT}")
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json, so it is not a saved model: {SAVE_HINT}")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CorruptCheckpointError(f"{path} is not valid JSON ({err}): re-save the model; {SAVE_HINT}") from err
    model_type = values.get("model_type")
    if model_type != PackedBertConfig.model_type:
        raise ValueError(f"{path} describes a {model_type!r} model, not a packed one "
                         f"({PackedBertConfig.model_type!r}): load it with transformers' from_pretrained, "
                         f"or pack it with bmp.packing.pack.pack(model) and {SAVE_HINT}")
    try:
        return PackedBertConfig.from_pretrained(folder)
    except (ValueError, TypeError) as err:
        raise CorruptCheckpointError(f"{path} is not a valid packed config: {err}. {SAVE_HINT}") from err


def _weight_files(folder: Path) -> list[Path]:
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        missing = [name for name in shards if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks weight shards {missing} listed in {index.name}: {SAVE_HINT}")
        return [folder / name for name in shards]
    raise FileNotFoundError(f"{folder} has a config.json but no weights (model.safetensors): {SAVE_HINT}")


def _check_weights(files: list[Path], config: PackedBertConfig) -> None:
    """Read the safetensors headers (not the data) and compare every shape with what ``config`` builds."""
    shapes = {}
    for path in files:
        try:
            with safe_open(str(path), framework="pt") as reader:
                for key in reader.keys():
                    shapes[key] = tuple(reader.get_slice(key).get_shape())
        except (SafetensorError, OSError) as err:
            raise CorruptCheckpointError(
                f"the checkpoint {path} is corrupt ({err}); it was probably truncated while being written or "
                f"copied. Re-save it: {SAVE_HINT}") from err
    with torch.device("meta"):  # shapes only, no memory, no initialisation
        skeleton = PackedBertForQuestionAnswering(config)
    expected = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    wrong = [f"{key}: checkpoint {shapes[key]}, config {shape}" for key, shape in expected.items()
             if key in shapes and shapes[key] != shape]
    if wrong:
        raise CorruptCheckpointError(
            f"{len(wrong)} weights don't have the shapes that config.json's heads_per_layer="
            f"{config.heads_per_layer} and intermediate_per_layer={config.intermediate_per_layer} give "
            f"(first: {wrong[:3]}); the config and weights come from different saves. Re-save it: {SAVE_HINT}")


__all__ = ["AUTO_MAP", "CorruptCheckpointError", "load_packed", "save_packed"]
