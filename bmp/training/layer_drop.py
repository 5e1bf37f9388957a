"""The like-for-like baseline: what DistilBERT did (keep every other layer, distil), applied to our own teacher.

A pruned model must beat *this*, trained on the same data, from the same teacher, with the same distillation and
the same number of steps, before its speed is worth anything.

    python -m bmp layer-drop --teacher runs/teacher-course/final --layers 0,2,4
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

from torch import nn

from bmp.models import load_saved, load_tokenizer
from bmp.packing.size import size_report
from bmp.profiles import Profile, get_profile
from bmp.pruning.anatomy import base_model
from bmp.speed.fresh import fresh_speedup
from bmp.training.kit import SEED, QAData, RunResult, distil_train, evaluate_both, prepare_data, record_run


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
    name = name or f"distil-{len(layers)}L-{profile.name}" + ("" if seed == SEED else f"-s{seed}")
    output_dir = Path(output_dir or Path("runs") / name)
    teacher = load_saved(teacher_dir)  # first: a wrong folder fails before minutes of tokenizing
    tokenizer = load_tokenizer(teacher_dir)
    data = data or prepare_data(profile, tokenizer)
    epochs = epochs or profile.prune_epochs + profile.epochs
    trainer, train_s = distil_train(keep_layers(teacher, layers), teacher, tokenizer, data, profile, output_dir,
                                    epochs=epochs, learning_rate=profile.prune_learning_rate, seed=seed,
                                    **train_overrides)
    final = output_dir / "final"
    trainer.save_model(str(final))
    # measure what users will load: the trained model object may still carry the trainer's autocast wrapper
    model = load_saved(final)
    size = size_report(model, teacher.config, folder=final).to_dict()
    metrics = {**evaluate_both(model, data, tokenizer), **fresh_speedup(teacher_dir, final),
               "train_s": round(train_s, 1), "train_steps": trainer.state.global_step, "layers_kept": layers,
               **{k: size[k] for k in ("total_params", "linear_params", "dense_linear_params", "fill_rate",
                                       "linear_reduction", "heads_per_layer", "neurons_per_layer", "disk_bytes")}}
    path = None
    if trainer.is_world_process_zero():
        path = record_run(name, "distil-recipe", metrics, profile, data, seed=seed, base_model=base_model_name,
                          teacher=Path(teacher_dir), layers=layers, epochs=epochs, output_dir=final)
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="DistilBERT-recipe baseline: drop layers, distil.")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--layers", default=None, help="comma-separated layer indices (default: every other)")
    parser.add_argument("--keep", type=int, default=None, help="number of evenly spaced layers to keep")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    teacher_layers = load_saved(args.teacher).config.num_hidden_layers
    if args.layers:
        layers = [int(i) for i in args.layers.split(",")]
    else:
        layers = every_other(teacher_layers, args.keep or teacher_layers // 2)
    result = layer_drop_run(args.teacher, layers, get_profile(args.profile), epochs=args.epochs, seed=args.seed)
    print(result, {k: result.metrics[k] for k in ("f1", "fill_rate", "cpu_speedup")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
