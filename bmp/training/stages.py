"""One Python entry point per stage: ``bmp.finetune``, ``bmp.prune``, ``bmp.finalize``, ``bmp.evaluate`` (and
``bmp.export_onnx`` / ``bmp.quantize_int8`` for deployment). The command line and the notebooks call these same
run kinds; each takes your objects (a model or a folder, your data, your ``TrainingArguments``) and returns a
:class:`~bmp.training.skeleton.RunResult` (``.model``, ``.metrics``, ``.output_dir``, ``.record_path``).

    import bmp
    from transformers import TrainingArguments

    data = bmp.load_squad(train="my_train.jsonl", validation="my_dev.json")
    teacher = bmp.finetune("bert-base-uncased", data, output_dir="runs/teacher")
    run = bmp.prune(teacher, data, preset="hybrid", lam=120, output_dir="runs/pruned",
                    args=TrainingArguments("runs/pruned", num_train_epochs=2, learning_rate=3e-5, bf16=True))
    small = bmp.finalize(run, teacher, data)          # pack, time, fill: the filled model and its record
    bmp.evaluate(small, data.validation)              # {"exact_match": ..., "f1": ...}
    bmp.export_onnx(small, "model.onnx"); bmp.quantize_int8("model.onnx", "model-int8.onnx")

Records go to ``$BMP_RESULTS_DIR``, else ``./outputs/results``. Under ``torchrun`` call them on every process:
training is shared, and only the main process writes.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn
from transformers import TrainingArguments

from bmp.models import load_saved, load_tokenizer
from bmp.packing.pack import ALIGN_FFN
from bmp.profiles import Profile, get_profile
from bmp.pruning.steering import Steering
from bmp.results.run_id import RunId
from bmp.squad import SquadSplits, load_squad
from bmp.training.control import control_run
from bmp.training.distill import Distillation
from bmp.training.evaluation import QAData, evaluate_qa, prepare_data
from bmp.training.finalize import finalize_run
from bmp.training.finetune import finetune_dense
from bmp.training.prune import keep_run_folder, method_changes, prune_run, recipe_for, target_from
from bmp.training.skeleton import RunResult


def finetune(model="embedded", data=None, *, output_dir=None, args: TrainingArguments | None = None,
             profile: Profile | str | None = None, name: str | None = None, overwrite: bool = False,
             max_seq_length: int | None = None, doc_stride: int | None = None) -> RunResult:
    """Fine-tune ``model`` (``"embedded"``, ``"tiny"``, a hub name or a folder) for extractive QA on ``data`` and
    save it to ``output_dir/final`` (default: your ``args.output_dir``, else ``runs/teacher``): the teacher of every
    later stage.

    ``data``: what :func:`bmp.load_squad` returns, or anything it reads (a file, a ``datasets`` object); None is
    the profile's data. ``args``: your ``TrainingArguments`` (else the profile's).

    >>> teacher = bmp.finetune("tiny", bmp.load_squad(train="train.jsonl", validation="dev.jsonl"),
    ...                        output_dir="runs/teacher")               # doctest: +SKIP
    """
    profile = _profile(profile)
    output_dir = output_dir or (args.output_dir if args is not None else "runs/teacher")
    return finetune_dense(profile, model, output_dir, data=data, record_name=name or Path(output_dir).name,
                          args=args, overwrite=overwrite, max_seq_length=max_seq_length, doc_stride=doc_stride)


def prune(teacher, data=None, *, preset: str = "hybrid", lam: float | None = None, lam_ffn: float | None = None,
          target_density: float | None = None, target_speedup: float | None = None,
          target_method: str | None = None, steering: Steering | None = None, method: str = "sigmoid_threshold",
          keep: float | None = None,
          output_dir=None, args: TrainingArguments | None = None, profile: Profile | str | None = None,
          score_lr: float | None = None, distillation: Distillation | None = None, distill: bool = True,
          name: str | None = None, overwrite: bool = False, max_seq_length: int | None = None,
          doc_stride: int | None = None) -> RunResult:
    """Prune a copy of ``teacher`` (a folder or the result of :func:`finetune`) with movement scores while
    distilling from it. ``preset``: ``"hybrid"`` (32x32 attention blocks, FFN neurons), ``"struct"`` (heads and
    neurons), ``"block"`` or ``"unstructured"``; ``lam`` (and ``lam_ffn``) weigh the L1 pull on the scores: higher
    prunes more (default: the profile's). Saves the pruned model to ``output_dir/final`` and records it.

    Or name what you want instead of a ``lam``: ``target_density`` (the packed encoder's linear weights as a share
    of the teacher's, the fill rate :func:`finalize` reports) or ``target_speedup`` (a speed at the recorded CPU
    timing setting, through a latency model timed on this machine first: seconds). The run lands on it whatever
    its length, and records ``predicted_fill_rate`` (and ``predicted_speedup``, with the latency model) to set
    beside what :func:`finalize` measures. Not with ``preset="unstructured"``, which packs to nothing smaller.
    ``target_method``: ``"steer"`` (default; a λ run whose λ follows the size schedule) or ``"topk"`` (the
    best-scored heads and neurons that fit, each step); ``steering``: a :class:`bmp.pruning.steering.Steering`
    with the steered λ's knobs (the FFN's share of the pull, a look-ahead).
    Or keep a fixed share of every matrix: ``method="topk"`` (ranked by the learned scores) or ``"magnitude"``
    (by |W|) with ``keep=0.25``, reached on the same schedule, with no L1 pull unless ``lam`` is given.

    >>> run = bmp.prune("runs/teacher/final", data, preset="hybrid", lam=120,
    ...                 output_dir="runs/pruned")                       # doctest: +SKIP
    >>> run.metrics["linear_density"], run.metrics["heads_per_layer"]  # doctest: +SKIP
    >>> run = bmp.prune(teacher, data, preset="hybrid", target_speedup=2.5)   # doctest: +SKIP
    >>> run.metrics["predicted_speedup"]                                # doctest: +SKIP
    """
    profile = _profile(profile)
    lam_flags = {"lam": lam, "lam_ffn": lam_ffn}
    target = target_from(target_density, target_speedup, lam_flags=lam_flags)
    changes = method_changes(method, keep, target)
    lam = (0.0 if changes else profile.prune_lambda) if lam is None else lam
    recipe = recipe_for(preset, lam, lam_ffn, score_lr or profile.score_learning_rate,
                        distillation=distillation or Distillation(), target=target, target_method=target_method,
                        steering=steering, **changes)
    run_id = RunId(preset, None if target else lam, None if target else lam_ffn,
                   target=target.as_pair() if target else None, profile=profile.name)
    default = keep_run_folder(preset, method, keep, profile.name) if changes else f"runs/{run_id.name}"
    output_dir = output_dir or (args.output_dir if args is not None else default)
    return prune_run(teacher, recipe, profile, output_dir, data=data, name=name, distill=distill, args=args,
                     overwrite=overwrite, max_seq_length=max_seq_length, doc_stride=doc_stride)


def finalize(run, teacher, data=None, *, output_dir=None, args: TrainingArguments | None = None, fill: bool = True,
             profile: Profile | str | None = None, name: str | None = None, align_ffn: int = ALIGN_FFN,
             overwrite: bool = False, max_seq_length: int | None = None, doc_stride: int | None = None) -> RunResult:
    """Pack a pruned ``run`` (the result of :func:`prune`, or its ``…/final`` folder): cut its dead heads and FFN
    neurons into a smaller dense model, time it, then fill it (fine-tune with distillation, so the zeros left inside
    the kept heads grow back). Each folder gets a model card. Returns the filled model's result (the packed one's
    with ``fill=False``).

    >>> small = bmp.finalize(run, "runs/teacher/final", data)             # doctest: +SKIP
    >>> small.metrics["fill_rate"], small.metrics["cpu_speedup"]          # doctest: +SKIP
    """
    results = finalize_run(run, teacher, _profile(profile), output_dir=output_dir, data=data, do_fill=fill,
                           align_ffn=align_ffn, name=name, args=args, overwrite=overwrite,
                           max_seq_length=max_seq_length, doc_stride=doc_stride)
    return results[-1]


def control(teacher, data=None, *, output_dir=None, args: TrainingArguments | None = None,
            profile: Profile | str | None = None, epochs: float | None = None, name: str | None = None,
            overwrite: bool = False) -> RunResult:
    """The dense control: ``teacher`` distilled into itself for as long as prune + fill. A pruned model is only as
    good as the gap to this (extra distillation lifts a dense model too)."""
    output_dir = output_dir or (args.output_dir if args is not None else None)
    return control_run(teacher, _profile(profile), output_dir, data=data, epochs=epochs, name=name, args=args,
                       overwrite=overwrite)


def evaluate(model, data, tokenizer=None, *, max_seq_length: int = 384, doc_stride: int = 128,
             batch_size: int = 32) -> dict:
    """Exact match and F1 (official SQuAD v1.1 rules, 0-100) of ``model`` on ``data``.

    ``model``: a model, a :class:`RunResult` or a saved folder; ``tokenizer`` is needed only for a bare model.
    ``data``: a list of examples (e.g. ``splits.validation``), a :class:`SquadSplits` (its held-out part is scored),
    a ``datasets.Dataset`` or a file :func:`bmp.load_squad` reads.

    >>> bmp.evaluate("runs/pruned/filled", splits.validation)          # doctest: +SKIP
    {'exact_match': ..., 'f1': ..., 'eval_questions': ...}
    """
    model, tokenizer = _model_and_tokenizer(model, tokenizer)
    if isinstance(data, QAData):
        return evaluate_qa(model, data, tokenizer, batch_size=batch_size)
    examples = data.eval if isinstance(data, SquadSplits) else data
    if not isinstance(examples, list):
        examples = load_squad(train=examples).train
    if not examples:
        raise ValueError("no questions to evaluate: the data is empty")
    splits = SquadSplits(train=[], eval=examples, split_name="given", description=f"{len(examples):,} questions",
                         source="given")
    profile = get_profile().with_(max_seq_length=max_seq_length, doc_stride=doc_stride)
    qa = prepare_data(profile, tokenizer, splits=splits)
    return evaluate_qa(model, qa, tokenizer, batch_size=batch_size)


def export_onnx(model, path, **options):
    """:func:`bmp.deploy.export_onnx` for a model, a :class:`RunResult` or a packed folder (needs the ``deploy``
    extra): the exported graph is checked against torch."""
    from bmp.deploy import export_onnx as export

    return export(_model_and_tokenizer(model, None, need_tokenizer=False)[0], path, **options)


def quantize_int8(onnx_path, out_path, **options):
    """:func:`bmp.deploy.quantize_int8`: dynamic int8 weights, per channel (needs the ``deploy`` extra)."""
    from bmp.deploy import quantize_int8 as quantize

    return quantize(onnx_path, out_path, **options)


def _profile(profile) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def _model_and_tokenizer(model, tokenizer, need_tokenizer: bool = True):
    if isinstance(model, RunResult):
        return model.model.eval(), tokenizer or (load_tokenizer(model.output_dir) if need_tokenizer else None)
    if isinstance(model, (str, Path)):
        return load_saved(model), tokenizer or (load_tokenizer(model) if need_tokenizer else None)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a model, a RunResult or a folder, not {type(model).__name__}")
    if tokenizer is None and need_tokenizer:
        raise ValueError(f"a model given as an object ({type(model).__name__}) needs its tokenizer: "
                         "pass tokenizer=..., or pass the model's folder instead")
    return model.eval(), tokenizer


__all__ = ["control", "evaluate", "export_onnx", "finalize", "finetune", "prune", "quantize_int8"]
