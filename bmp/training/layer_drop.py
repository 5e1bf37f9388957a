"""The like-for-like baseline: what DistilBERT did (keep every other layer, distil), applied to our own teacher.

A pruned model must beat *this*, trained on the same data, from the same teacher, with the same distillation and
the same number of steps, before its speed is worth anything.

    python -m bmp layer-drop --teacher runs/teacher-course/final --layers 0,2,4
"""
from __future__ import annotations

import argparse
import copy
from dataclasses import asdict, replace

from torch import nn
from transformers import TrainingArguments

from bmp.profiles import SEED, Profile, get_profile
from bmp.pruning.anatomy import anatomy_of, base_model, encoder_layers, layer_list, walk
from bmp.training import flags
from bmp.training.distill import Distillation
from bmp.training.skeleton import (
    RunResult,
    distil_train,
    model_metrics,
    open_distil_run,
    open_teacher,
    record_run,
    written,
)


def keep_layers(model: nn.Module, layers: list[int]) -> nn.Module:
    """A new model with only ``layers`` of the encoder (in that order); embeddings and QA head are copied. The layer
    list is found through the architecture's anatomy (BERT, RoBERTa, ELECTRA, DistilBERT)."""
    total = len(layer_list(model))
    if not layers or any(not 0 <= i < total for i in layers) or len(set(layers)) != len(layers):
        raise ValueError(f"layers must be distinct indices in 0..{total - 1}, got {layers}")
    student = copy.deepcopy(model)
    kept = nn.ModuleList([layer_list(student)[i] for i in layers])
    owner, _, attribute = anatomy_of(student).layers.rpartition(".")
    setattr(walk(base_model(student), owner) if owner else base_model(student), attribute, kept)
    for new_index, part in enumerate(encoder_layers(student)):
        if hasattr(part.self_attention, "layer_idx"):
            part.self_attention.layer_idx = new_index  # transformers keys caches by layer index
    student.config.num_hidden_layers = len(layers)
    if hasattr(student.config, "n_layers"):  # DistilBERT's name for it
        student.config.n_layers = len(layers)
    return student


def every_other(num_layers: int, keep: int) -> list[int]:
    """``keep`` evenly spaced layers, starting at the first (DistilBERT: 0, 2, 4, ... of 12)."""
    step = num_layers / keep
    return [int(i * step) for i in range(keep)]


def layer_drop_run(teacher, layers: list[int], profile: Profile | None = None, output_dir=None, data=None,
                   epochs: float | None = None, name: str | None = None, base_model_name: str | None = None,
                   seed: int = SEED, args: TrainingArguments | None = None, overwrite: bool = False,
                   distillation: Distillation | None = None, max_seq_length: int | None = None,
                   doc_stride: int | None = None, **train_overrides) -> RunResult:
    """Fine-tune the layer-dropped teacher with distillation for ``epochs`` (default: the pruning pipeline's
    prune + fill epochs, so both get the same number of steps); record it like a packed model. With hidden-state
    distillation (``distillation.hidden > 0``), student layer ``i`` is held to teacher layer ``layers[i]``."""
    profile = profile or get_profile()
    run = open_distil_run(teacher, data, profile, base=f"distil-{len(layers)}L-{profile.name}", seed=seed,
                          name=name, output_dir=output_dir, epochs=epochs, args=args, max_seq_length=max_seq_length,
                          doc_stride=doc_stride)
    teacher, data, seed, name, output_dir, epochs = (run.teacher, run.data, run.seed, run.name, run.output_dir,
                                                     run.epochs)
    distillation = replace(distillation or Distillation(), layers=tuple(layers))
    student = keep_layers(teacher.model, layers).train().requires_grad_(True)  # the teacher may be frozen already
    trainer, train_s = distil_train(student, teacher, data, profile, output_dir,
                                    epochs=epochs, default_lr=profile.prune_learning_rate, args=args,
                                    overwrite=overwrite, seed=seed, distillation=distillation, **train_overrides,
                                    settings={"kind": "distil-recipe", "teacher": str(teacher.folder),
                                              "layers": layers, "distillation": asdict(distillation)})
    final = output_dir / "final"
    model = written(trainer.args, final, lambda folder: trainer.save_model(str(folder)))
    metrics, path = {}, None
    if trainer.args.should_save:
        teacher_dir = teacher.saved_folder(output_dir / "teacher")
        metrics = {**model_metrics(model, final, teacher_dir, data, teacher.tokenizer, teacher.model.config,
                                  bf16=trainer.args.bf16),
                   "train_s": round(train_s, 1), "train_steps": trainer.state.global_step, "layers_kept": layers}
        path = record_run(name, "distil-recipe", metrics, profile, data, seed=seed, bf16=trainer.args.bf16,
                          base_model=base_model_name,
                          teacher=teacher.folder, layers=layers, epochs=epochs, output_dir=final,
                          distillation=asdict(distillation))
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp layer-drop",
                                     description="DistilBERT-recipe baseline: drop layers, distil.")
    flags.add_run_flags(parser)
    parser.add_argument("--layers", default=None, help="comma-separated layer indices (default: every other)")
    parser.add_argument("--keep", type=int, default=None, help="number of evenly spaced layers to keep")
    flags.add_hidden_flags(parser)
    flags.add_data_flags(parser)
    flags.add_training_flags(parser)
    args = parser.parse_args(argv)
    distillation = Distillation(**flags.hidden_from(args))  # checked before the teacher loads
    teacher = open_teacher(args.teacher)
    teacher_layers = teacher.model.config.num_hidden_layers
    if args.layers:
        try:
            layers = [int(i) for i in args.layers.split(",")]
        except ValueError as err:
            raise ValueError(f"--layers {args.layers!r} must be comma-separated layer indices, e.g. 0,2,4") from err
    else:
        layers = every_other(teacher_layers, args.keep or teacher_layers // 2)
    overrides = flags.trainer_overrides(args)
    result = layer_drop_run(teacher, layers, get_profile(args.profile), args.output, data=flags.data_from(args),
                            epochs=overrides.pop("num_train_epochs", None), name=args.name, seed=args.seed,
                            overwrite=args.overwrite, distillation=distillation, **flags.sequence_from(args),
                            **overrides)
    if result.metrics:
        print(result, {k: result.metrics[k] for k in ("f1", "fill_rate", "cpu_speedup")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
