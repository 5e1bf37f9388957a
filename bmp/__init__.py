"""bmp: block movement pruning for BERT-family question answering models.

The main pieces, in the order a run uses them::

    model, tokenizer = bmp.load_base()                  # embedded default, a hub name, a folder or "tiny"
    bmp.add_masks(model, bmp.preset("hybrid"))          # scores on 32x32 attention blocks and FFN neurons
    bmp.set_threshold(model, 0.1)                       # one call sets every mask's threshold
    print(bmp.kept_report(model))                       # density, heads and neurons kept per layer
    small = bmp.pack(model)                             # a new, smaller dense model; the input is untouched
    bmp.save_packed(small, "out", tokenizer)            # loads with bmp.load_packed or trust_remote_code

Training runs (Hugging Face ``Trainer`` underneath): :func:`bmp.finetune.finetune_dense`,
:func:`bmp.prune.prune_run`, :func:`bmp.fill.finalize_run`.
"""
from .answer import answer
from .granularity import PRESETS, PruningConfig, preset
from .masked import add_masks, baked_copy, set_threshold
from .models import load_base, load_tokenizer, tiny_bert
from .pack import pack
from .profiles import get_profile
from .report import kept_report
from .saving import load_packed, save_packed
from .schedule import CubicSchedule
from .size import size_report

__version__ = "0.1.0"
__all__ = ["answer", "PRESETS", "PruningConfig", "preset", "add_masks", "baked_copy", "set_threshold", "load_base",
           "load_tokenizer", "tiny_bert", "pack", "get_profile", "kept_report", "load_packed", "save_packed",
           "CubicSchedule", "size_report"]
