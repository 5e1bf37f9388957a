"""The like-for-like baseline: what DistilBERT did (keep every other layer, distil), applied to our own teacher.

A pruned model must beat *this*, trained on the same data, from the same teacher, with the same distillation and
the same number of steps, before its speed is worth anything.

    python -m bmp.distil_recipe --teacher runs/teacher-course/final --layers 0,2,4
"""
from __future__ import annotations

import argparse
import copy
import time
from dataclasses import asdict
from pathlib import Path

from torch import nn

from .finetune import QAData, RunResult, evaluate_qa, fast_bf16, prepare_data, resume_point, training_arguments
from .layers import base_model
from .models import load_tokenizer
from .profiles import Profile, get_profile
from .prune import load_teacher
from .results import provenance, record
from .size import size_report
from .speedup import fresh_speedup
from .squad import train_collator
from .trainer import DistillationTrainer


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


def distil_recipe_run(teacher_dir, layers: list[int], profile: Profile | None = None, output_dir=None,
                      data: QAData | None = None, epochs: float | None = None, name: str | None = None,
                      base_model_name: str | None = None) -> RunResult:
    """Fine-tune the layer-dropped teacher with distillation for ``epochs`` (default: the pruning pipeline's
    prune + fill epochs, so both get the same number of steps); record it like a packed model."""
    profile = profile or get_profile()
    name = name or f"distil-{len(layers)}L-{profile.name}"
    output_dir = Path(output_dir or Path("runs") / name)
    tokenizer = load_tokenizer(teacher_dir)
    data = data or prepare_data(profile, tokenizer)
    teacher = load_teacher(teacher_dir)
    student = keep_layers(teacher, layers)
    epochs = epochs or profile.prune_epochs + profile.epochs
    args = training_arguments(profile, output_dir, epochs=epochs, learning_rate=profile.prune_learning_rate)
    trainer = DistillationTrainer(model=student, args=args, train_dataset=data.train_features,
                                  data_collator=train_collator(tokenizer), processing_class=tokenizer,
                                  teacher=teacher)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_point(output_dir))
    train_s = time.perf_counter() - start
    final = output_dir / "final"
    trainer.save_model(str(final))
    # measure what users will load: the trained model object may still carry the trainer's autocast wrapper
    model = load_teacher(final).eval()
    size = size_report(model, teacher.config, folder=final).to_dict()
    metrics = {**evaluate_qa(model, data, tokenizer), **fresh_speedup(teacher_dir, final), "train_s": round(train_s, 1),
               "train_steps": trainer.state.global_step, "layers_kept": layers,
               **{k: size[k] for k in ("total_params", "linear_params", "dense_linear_params", "fill_rate",
                                       "linear_reduction", "heads_per_layer", "neurons_per_layer", "disk_bytes")}}
    path = None
    if trainer.is_world_process_zero():
        path = record(name, "distil-recipe", metrics,
                      provenance(base_model=base_model_name or profile.model, data_split=data.splits.description,
                                 profile=profile.name),
                      config={"teacher": str(teacher_dir), "layers": layers, "epochs": epochs,
                              "output_dir": str(final), "bf16_autocast": fast_bf16(), "profile": asdict(profile)})
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="DistilBERT-recipe baseline: drop layers, distil.")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--layers", default=None, help="comma-separated layer indices (default: every other)")
    parser.add_argument("--keep", type=int, default=None, help="number of evenly spaced layers to keep")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--epochs", type=float, default=None)
    args = parser.parse_args(argv)
    teacher_layers = load_teacher(args.teacher).config.num_hidden_layers
    if args.layers:
        layers = [int(i) for i in args.layers.split(",")]
    else:
        layers = every_other(teacher_layers, args.keep or teacher_layers // 2)
    result = distil_recipe_run(args.teacher, layers, get_profile(args.profile), epochs=args.epochs)
    print(result, {k: result.metrics[k] for k in ("f1", "fill_rate", "cpu_speedup")})


if __name__ == "__main__":
    main()
