"""A model card (``README.md`` in the Hugging Face format) for a saved packed model.

Every number on the card is one the caller passed in (``recipe``, ``metrics``) or one read from the folder's
``config.json`` (the heads and FFN neurons of each layer, the dense sizes they were cut from); a value that is
missing is left out, never guessed. The YAML header carries what the hub indexes: ``base_model``, ``library_name``,
``tags``, ``datasets``, ``pipeline_tag``.

    write_model_card(folder, base_model="bert-base-uncased", recipe={"preset": "hybrid", "lam": 20, "epochs": 2},
                     metrics={"f1": 64.2, "exact_match": 51.0, "cpu_speedup": 3.6, "fill_rate": 0.24})
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from bmp.packing.packed_bert import PACKED_BY_TYPE
from bmp.packing.size import dense_linear_params, linear_params_of_layer
from bmp.pruning.anatomy import anatomy_of_config

CARD = "README.md"
TAGS = ("question-answering", "pruning", "block-movement-pruning", "bmp")
# how recipe keys read on the card; any other key is shown with its underscores as spaces
RECIPE_LABELS = {
    "preset": "Preset", "method": "Mask method", "lam": "λ (regularization weight)",
    "lambda": "λ (regularization weight)", "lam_ffn": "λ for the FFN", "target": "Target",
    "target_speedup": "Target speedup", "epochs": "Pruning epochs", "fill_epochs": "Filling epochs",
    "teacher": "Teacher (distillation)", "alpha": "Distillation weight α", "temperature": "Distillation temperature",
    "align_ffn": "FFN sizes rounded up to a multiple of", "seed": "Seed",
}


def write_model_card(folder: str | Path, *, base_model: str | None, recipe: dict | None, metrics: dict | None,
                     datasets: list[str] | None = None) -> Path:
    """Write ``folder/README.md`` for the model saved in ``folder`` (``config.json`` must be there); returns its path.

    ``recipe``: how the model was made (``preset``, ``lam`` or ``target``, ``epochs``, ``teacher``, ... any keys).
    ``metrics``: ``f1``, ``exact_match``, ``cpu_speedup``, ``fill_rate`` where known (others are ignored).
    """
    folder = Path(folder)
    config = _read_config(folder)
    path = folder / CARD
    path.write_text(model_card(config, base_model=base_model, recipe=recipe, metrics=metrics, datasets=datasets))
    return path


def model_card(config, *, base_model: str | None, recipe: dict | None, metrics: dict | None,
               datasets: list[str] | None = None) -> str:
    """The card's text for ``config`` (see :func:`write_model_card`)."""
    anatomy = anatomy_of_config(config)
    packed = config.model_type in PACKED_BY_TYPE
    metrics = metrics or {}
    header = {"base_model": base_model, "library_name": "transformers", "tags": list(TAGS),
              "datasets": list(datasets) if datasets else None, "pipeline_tag": "question-answering"}
    header = {key: value for key, value in header.items() if value is not None}
    intro = (f"An extractive question-answering model ({anatomy.name}), pruned with block movement pruning "
             "(bmp)" + (" and packed: the heads and FFN neurons that pruning removed are cut out of its matrices, so "
                        "it is a smaller dense model, not a sparse one." if packed else "."))
    if base_model:
        intro += f" It was pruned from `{base_model}`."
    sections = [f"---\n{yaml.safe_dump(header, sort_keys=False, allow_unicode=True)}---",
                f"# {anatomy.name} for question answering, pruned with bmp", intro,
                _recipe(recipe), _structure(config, anatomy, metrics), _results(metrics), _usage(packed)]
    return "\n\n".join(section for section in sections if section) + "\n"


def _read_config(folder: Path):
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json: save the model first (bmp.save_packed(model, folder)), "
                                "then write its card")
    model_type = json.loads(path.read_text()).get("model_type")
    if model_type in PACKED_BY_TYPE:
        return PACKED_BY_TYPE[model_type].config_class.from_pretrained(folder)
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder)


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_value(item)}" for key, item in value.items())
    return _number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else f"`{value}`"


def _recipe(recipe: dict | None) -> str:
    rows = [f"- **{RECIPE_LABELS.get(key, key.replace('_', ' ').capitalize())}**: {_value(value)}"
            for key, value in (recipe or {}).items() if value is not None]
    return "## How it was made\n\n" + "\n".join(rows) if rows else ""


def _structure(config, anatomy, metrics: dict) -> str:
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    ffn = anatomy.dense_ffn_size(config)
    kept_heads = getattr(config, "heads_per_layer", None) or [heads] * layers
    kept_ffn = getattr(config, "intermediate_per_layer", None) or [ffn] * layers
    rows = [f"| {index} | {h} of {heads} | {f} of {ffn} |"
            for index, (h, f) in enumerate(zip(kept_heads, kept_ffn))]
    table = "\n".join(["| layer | attention heads | FFN neurons |", "|---|---|---|", *rows])
    fill = metrics.get("fill_rate")
    source = "as recorded"
    if fill is None:  # the same count size_report makes, from the sizes in config.json
        head_dim = config.hidden_size // heads
        kept = sum(linear_params_of_layer(config.hidden_size, h, head_dim, f) for h, f in zip(kept_heads, kept_ffn))
        fill, source = kept / dense_linear_params(config), "from config.json"
    return (f"## What is kept\n\nHeads and FFN neurons per layer, as stored in `config.json` (alignment padding "
            f"included), against the dense model's {heads} heads and {ffn} neurons:\n\n{table}\n\n"
            f"**Fill rate** ({source}): {_number(float(fill))}, the share of the dense model's encoder linear "
            f"parameters that are kept ({float(fill):.1%}).")


def _results(metrics: dict) -> str:
    rows = [f"- **{label}**: {_number(metrics[key])}{unit}" for key, label, unit in
            (("f1", "F1", ""), ("exact_match", "Exact match", ""), ("cpu_speedup", "CPU speedup over dense", "×"))
            if metrics.get(key) is not None]
    return "## Results\n\n" + "\n".join(rows) if rows else ""


def _usage(packed: bool) -> str:
    plain = ('```python\nfrom transformers import AutoModelForQuestionAnswering\n\n'
             'model = AutoModelForQuestionAnswering.from_pretrained("path/to/this/folder")\n```')
    if not packed:
        return "## How to load it\n\n" + plain
    return ("## How to load it\n\nWith bmp (`import bmp` registers the packed model types with transformers):\n\n"
            '```python\nimport bmp\n\nmodel = bmp.load_packed("path/to/this/folder")  # checks the folder first\n'
            '# or, once bmp is imported, with transformers\' Auto class:\n'
            'from transformers import AutoModelForQuestionAnswering\n\n'
            'model = AutoModelForQuestionAnswering.from_pretrained("path/to/this/folder")\n```\n\n'
            "Without bmp: the folder carries its modelling code (`modeling_packed_bert.py`, torch and transformers "
            "only), which transformers runs once you trust it:\n\n"
            '```python\nfrom transformers import AutoModelForQuestionAnswering\n\n'
            'model = AutoModelForQuestionAnswering.from_pretrained("path/to/this/folder", trust_remote_code=True)\n'
            "```")


__all__ = ["CARD", "TAGS", "model_card", "write_model_card"]
