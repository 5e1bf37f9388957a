"""bmp: block movement pruning for BERT-family question answering models.

One entry point per stage, each taking your model (or folder), your data and your ``TrainingArguments``::

    data = bmp.load_squad(train="my_train.jsonl", validation="my_dev.json")   # JSON, JSONL, datasets, hub
    teacher = bmp.finetune("embedded", data, output_dir="runs/teacher")
    run = bmp.prune(teacher, data, preset="hybrid", lam=120, output_dir="runs/pruned")
    small = bmp.finalize(run, teacher, data)            # pack, time, fill; a model card in each folder
    bmp.evaluate(small, data.validation)                # {"exact_match": ..., "f1": ...}
    bmp.export_onnx(small, "model.onnx"); bmp.quantize_int8("model.onnx", "model-int8.onnx")

The pieces underneath, in the order a run uses them::

    model, tokenizer = bmp.load_base()                  # embedded default, a hub name, a folder or "tiny"
    bmp.add_masks(model, bmp.preset("hybrid", method="topk"))  # scores on 32x32 attention blocks and FFN neurons
    bmp.set_threshold(model, 0.5)                       # TopK: keep the best-scored half of every matrix
    print(bmp.kept_report(model))                       # density, heads and neurons kept per layer
    small = bmp.pack(model)                             # a new, smaller dense model; the input is untouched
    bmp.save_packed(small, "out", tokenizer)            # loads with bmp.load_packed or trust_remote_code

Fresh scores are all equal; training (``python -m bmp prune``) is what makes them mean something. With the default
``sigmoid_threshold`` method, fresh scores keep everything until training and the L1 pull move them.

Two notebook widgets load on first use (they need ipywidgets and matplotlib): ``bmp.tradeoff_widget(records)``
picks the recorded model to ship for the F1 you may give up, and ``bmp.live_pruning_widget(run, teacher, data,
tokenizer)`` redraws a pruned run's masks as a threshold slider moves.

The package is laid out by pipeline stage: :mod:`bmp.pruning` (scores and masks), :mod:`bmp.packing`,
:mod:`bmp.squad`, :mod:`bmp.training` (every run), :mod:`bmp.speed`, :mod:`bmp.results`, :mod:`bmp.course`
and :mod:`bmp.bench`. Runs: ``python -m bmp --help``.
"""
from bmp.models import load_base, load_tokenizer, tiny_bert
from bmp.packing.pack import pack
from bmp.packing.saving import load_packed, save_packed
from bmp.packing.size import size_report
from bmp.profiles import get_profile
from bmp.pruning.granularity import PRESETS, PruningConfig, preset
from bmp.pruning.kept import kept_report
from bmp.pruning.masked import add_masks, baked_copy, set_threshold
from bmp.pruning.schedule import CubicSchedule
from bmp.pruning.steering import Steering
from bmp.squad.answer import Answer, answer

__version__ = "0.1.0"
_LAZY = {"tradeoff_widget": "bmp.course.widgets", "live_pruning_widget": "bmp.course.live",
         # the stage entry points import the trainer stack (transformers' Trainer, datasets) on first use
         **{name: "bmp.training.stages" for name in ("finetune", "prune", "finalize", "control", "evaluate",
                                                     "export_onnx", "quantize_int8")},
         "load_squad": "bmp.squad", "PruningTrainer": "bmp.training.trainer", "RunResult": "bmp.training.skeleton"}


def __getattr__(name: str):
    """The widgets, imported on first use so that ``import bmp`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bmp' has no attribute {name!r}")


__all__ = ["finetune", "prune", "finalize", "control", "evaluate", "export_onnx", "quantize_int8", "load_squad",
           "PruningTrainer", "RunResult", "Answer", "answer", "PRESETS", "PruningConfig", "preset", "add_masks",
           "baked_copy", "set_threshold", "load_base", "load_tokenizer", "tiny_bert", "pack", "get_profile",
           "kept_report", "load_packed", "save_packed", "CubicSchedule", "Steering", "size_report", "tradeoff_widget",
           "live_pruning_widget"]
