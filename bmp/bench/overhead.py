"""Training-step overhead of masks: one step of the pruning trainer (hybrid preset: scores, schedule, L1) against
one step of the plain trainer on the same dense model and batch, on CPU, timed in one interleaved run. Both steps
are the trainers' own ``training_step`` plus the optimizer step, so this measures what a run pays.
Target: ratio <= 1.25.

    python -m bmp.bench overhead [--batch 16 --seq 192 --repeats 5 --base embedded|random]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile

import torch
from transformers import BertConfig, BertForQuestionAnswering, TrainingArguments

from bmp.models import EMBEDDED_SHAPE
from bmp.pruning.granularity import preset
from bmp.pruning.masked import add_masks
from bmp.speed.timing import time_calls
from bmp.training.trainer import DistillationTrainer, PruningRecipe, PruningTrainer

TARGET = 1.25


def _base(kind: str):
    if kind == "embedded":
        try:
            from bmp.models import load_base
            return load_base()[0]
        except (ImportError, OSError):
            pass
    torch.manual_seed(0)
    return BertForQuestionAnswering(BertConfig(**EMBEDDED_SHAPE))


def _step(trainer, batch, total_steps: int):
    """One optimizer step exactly as ``Trainer`` takes it (loss, backward, step), as a zero-argument callable."""
    trainer.create_optimizer()
    trainer.state.max_steps = total_steps  # the pruning schedule reads it
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train's loop, which this step stands in for
    model = trainer.model.train()

    def step():
        trainer.training_step(model, batch)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.state.global_step += 1

    return step


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench overhead")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=192)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--base", default="embedded", choices=["embedded", "random"])
    args = parser.parse_args(argv)

    dense = _base(args.base)
    recipe = PruningRecipe(pruning=preset("hybrid"))
    masked = add_masks(copy.deepcopy(dense), recipe.pruning)
    g = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(1000, 20000, (args.batch, args.seq), generator=g),
             "attention_mask": torch.ones(args.batch, args.seq, dtype=torch.long),
             "start_positions": torch.randint(0, args.seq, (args.batch,), generator=g),
             "end_positions": torch.randint(0, args.seq, (args.batch,), generator=g)}
    total = 2 * (args.repeats + 1)
    with tempfile.TemporaryDirectory() as scratch:
        train_args = TrainingArguments(output_dir=scratch, learning_rate=1e-5, report_to=[], use_cpu=True,
                                       disable_tqdm=True)
        steps = {"dense": _step(DistillationTrainer(model=dense, args=train_args), batch, total),
                 "masked": _step(PruningTrainer(model=masked, args=train_args, recipe=recipe), batch, total)}
        times = time_calls(steps, repeats=args.repeats, warmup=1)
    summary = {name: {"min_s": min(t), "median_s": statistics.median(t), "max_s": max(t)} for name, t in times.items()}
    ratio = summary["masked"]["median_s"] / summary["dense"]["median_s"]
    return {"bench": "overhead", "ratio": round(ratio, 3), "target": TARGET, "met": ratio <= TARGET,
            "ratio_min": round(summary["masked"]["min_s"] / summary["dense"]["min_s"], 3), "timings": summary,
            "batch": args.batch, "seq": args.seq, "preset": "hybrid", "threads": torch.get_num_threads(),
            "torch_version": torch.__version__, "device": "cpu", "dtype": "float32", "base": args.base}
