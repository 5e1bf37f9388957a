"""Save and load packed models (every architecture in :data:`bmp.packing.packed_bert.PACKED_MODELS`).

``save_packed`` writes a folder that loads three ways: :func:`load_packed` (bmp's classes, no remote code),
``AutoModelForQuestionAnswering.from_pretrained(folder)`` once bmp is imported (``import bmp`` registers the packed
types with the Auto classes), and ``from_pretrained(folder, trust_remote_code=True)`` without bmp (the folder carries
``modeling_packed_bert.py``, a copy of :mod:`bmp.packing.packed_bert`). It also writes a model card (``README.md``,
:mod:`bmp.packing.card`). transformers 5 has no question-answering
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
from bmp.packing.card import write_model_card
from bmp.packing.packed_bert import PACKED_BY_TYPE, PackedForQuestionAnswering, PerLayerSizes

REMOTE_MODULE = "modeling_packed_bert"  # one file holds every packed architecture


def auto_map(model_class: type[PackedForQuestionAnswering]) -> dict[str, str]:
    """config.json's ``auto_map``: where transformers finds the remote-code classes of ``model_class``."""
    return {"AutoConfig": f"{REMOTE_MODULE}.{model_class.config_class.__name__}",
            "AutoModelForQuestionAnswering": f"{REMOTE_MODULE}.{model_class.__name__}"}


AUTO_MAP = auto_map(packed_bert.PackedBertForQuestionAnswering)  # BERT's, as saved before other architectures
CARD_KEYS = ("base_model", "recipe", "metrics", "datasets")
SAVE_HINT = "save the model with bmp.packing.saving.save_packed(model, folder)"


class CorruptCheckpointError(ValueError):
    """The weights file can't be read, or doesn't fit the config next to it."""


def save_packed(model: PackedForQuestionAnswering, folder: str | Path, tokenizer=None, *,
                card: dict | None = None) -> Path:
    """Write ``model`` (and ``tokenizer``) to ``folder`` with the modelling code, for loading with or without bmp,
    and a model card: ``card`` holds :func:`bmp.packing.card.write_model_card`'s keywords (``base_model``,
    ``recipe``, ``metrics``, ``datasets``); without it the card says only what the config says (the structure)."""
    if not isinstance(model, PackedForQuestionAnswering):
        raise TypeError(f"save_packed expects a packed model (e.g. PackedBertForQuestionAnswering), got "
                        f"{type(model).__name__}: pack it first with bmp.packing.pack.pack(model)")
    unknown = sorted(set(card or {}) - set(CARD_KEYS))
    if unknown:
        raise TypeError(f"card has keys {unknown} that write_model_card does not take: use {list(CARD_KEYS)}")
    folder = Path(folder)
    model.save_pretrained(folder)
    config = copy.deepcopy(model.config)  # leave the model's own config as it was
    config.auto_map = auto_map(type(model))
    config.save_pretrained(folder)
    (folder / f"{REMOTE_MODULE}.py").write_text(Path(packed_bert.__file__).read_text())
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    write_model_card(folder, **{"base_model": None, "recipe": None, "metrics": None, **(card or {})})
    return folder


def load_packed(folder: str | Path, *, device: str | torch.device | None = None,
                dtype: torch.dtype | None = None) -> PackedForQuestionAnswering:
    """Load a folder written by :func:`save_packed` with bmp's classes (the one its ``model_type`` names), in eval
    mode."""
    folder = Path(folder)
    config = _read_config(folder)
    weights = _weight_files(folder)
    _check_weights(weights, config)
    model_class = PACKED_BY_TYPE[config.model_type]
    try:
        model, info = model_class.from_pretrained(folder, config=config, dtype=dtype, output_loading_info=True)
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


def _read_config(folder: Path) -> PerLayerSizes:
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
    if model_type not in PACKED_BY_TYPE:
        raise ValueError(f"{path} describes a {model_type!r} model, not a packed one "
                         f"({', '.join(map(repr, PACKED_BY_TYPE))}): load it with transformers' from_pretrained, "
                         f"or pack it with bmp.packing.pack.pack(model) and {SAVE_HINT}")
    try:
        return PACKED_BY_TYPE[model_type].config_class.from_pretrained(folder)
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


def _check_weights(files: list[Path], config: PerLayerSizes) -> None:
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
        skeleton = PACKED_BY_TYPE[config.model_type](config)
    expected = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    wrong = [f"{key}: checkpoint {shapes[key]}, config {shape}" for key, shape in expected.items()
             if key in shapes and shapes[key] != shape]
    if wrong:
        raise CorruptCheckpointError(
            f"{len(wrong)} weights don't have the shapes that config.json's heads_per_layer="
            f"{config.heads_per_layer} and intermediate_per_layer={config.intermediate_per_layer} give "
            f"(first: {wrong[:3]}); the config and weights come from different saves. Re-save it: {SAVE_HINT}")


__all__ = ["AUTO_MAP", "CorruptCheckpointError", "auto_map", "load_packed", "save_packed"]
