"""The like-for-like baseline: what DistilBERT did (keep every other layer, distil), applied to our own teacher.

A pruned model must beat *this*, trained on the same data, from the same teacher, with the same distillation and
the same number of steps, before its speed is worth anything.

    python -m bmp layer-drop --teacher runs/teacher-course/final --layers 0,2,4
"""
from __future__ import annotations

import argparse
import copy

from torch import nn

from bmp.models import load_saved
from bmp.profiles import Profile, get_profile
from bmp.pruning.anatomy import base_model
from bmp.training.kit import (
    SEED,
    QAData,
    RunResult,
    add_run_arguments,
    distil_train,
    model_metrics,
    open_run,
    record_run,
    run_name,
)


def keep_layers(model: nn.Module, layers: list[int]) -> nn.Module:
    """A new model with only ``layers`` of the encoder (in that order); embeddings and QA head are copied."""
    total = len(base_model(model).encoder.layer)
    if not layers or any(not 0 <= i < total for i in layers) or len(set(layers)) != len(layers):
        raise ValueError(f"layers must be distinct indices in 0..{total - 1}, got {layers}")
    student = copy.deepcopy(model)
    body = base_model(student)
    body.encoder.layer = nn.ModuleList([body.encoder.layer[i] for i in layers])
    for new_index, layer in enumerate(body.encoder.layer):
        layer.attention.self.layer_idx = new_index  # transformers keys caches by layer index
    student.config.num_hidden_layers = len(layers)
    return student


def every_other(num_layers: int, keep: int) -> list[int]:
    """``keep`` evenly spaced layers, starting at the first (DistilBERT: 0, 2, 4, ... of 12)."""
    step = num_layers / keep
    return [int(i * step) for i in range(keep)]


def layer_drop_run(teacher_dir, layers: list[int], profile: Profile | None = None, output_dir=None,
                   data: QAData | None = None, epochs: float | None = None, name: str | None = None,
                   base_model_name: str | None = None, seed: int = SEED, **train_overrides) -> RunResult:
    """Fine-tune the layer-dropped teacher with distillation for ``epochs`` (default: the pruning pipeline's
    prune + fill epochs, so both get the same number of steps); record it like a packed model."""
    profile = profile or get_profile()
    run = open_run(teacher_dir, profile, name=name or run_name(f"distil-{len(layers)}L-{profile.name}", seed),
                   output_dir=output_dir, data=data, epochs=epochs)
    trainer, train_s = distil_train(keep_layers(run.teacher, layers), run.teacher, run.tokenizer, run.data, profile,
                                    run.output_dir, epochs=run.epochs, learning_rate=profile.prune_learning_rate,
                                    seed=seed, **train_overrides)
    final = run.output_dir / "final"
    trainer.save_model(str(final))
    # measure what users will load: the trained model object may still carry the trainer's autocast wrapper
    model = load_saved(final)
    metrics = {**model_metrics(model, final, teacher_dir, run.data, run.tokenizer, run.teacher.config),
               "train_s": round(train_s, 1), "train_steps": trainer.state.global_step, "layers_kept": layers}
    path = None
    if trainer.is_world_process_zero():
        path = record_run(run.name, "distil-recipe", metrics, profile, run.data, seed=seed, base_model=base_model_name,
                          teacher=teacher_dir, layers=layers, epochs=run.epochs, output_dir=final)
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp layer-drop",
                                     description="DistilBERT-recipe baseline: drop layers, distil.")
    add_run_arguments(parser)
    parser.add_argument("--layers", default=None, help="comma-separated layer indices (default: every other)")
    parser.add_argument("--keep", type=int, default=None, help="number of evenly spaced layers to keep")
    args = parser.parse_args(argv)
    teacher_layers = load_saved(args.teacher).config.num_hidden_layers
    if args.layers:
        layers = [int(i) for i in args.layers.split(",")]
    else:
        layers = every_other(teacher_layers, args.keep or teacher_layers // 2)
    result = layer_drop_run(args.teacher, layers, get_profile(args.profile), args.output, epochs=args.epochs,
                            name=args.name, seed=args.seed)
    print(result, {k: result.metrics[k] for k in ("f1", "fill_rate", "cpu_speedup")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
