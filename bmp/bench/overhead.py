"""Training-step overhead of masks: a masked model (hybrid preset, scores and schedule on) against the same dense
model on the same batch, on CPU, timed in one interleaved run. Target: ratio <= 1.25.

    python -m bmp.bench overhead [--batch 16 --seq 192 --repeats 5 --base embedded|random]
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
from transformers import BertConfig, BertForQuestionAnswering

from bmp.models import EMBEDDED_SHAPE
from bmp.pruning.granularity import preset
from bmp.pruning.masked import add_masks, score_parameters, set_threshold
from bmp.pruning.regularization import Regularization, l1_sigmoid
from bmp.pruning.schedule import CubicSchedule


def _base(kind: str):
    if kind == "embedded":
        try:
            from bmp.models import load_base
            return load_base()[0]
        except (ImportError, OSError):
            pass
    torch.manual_seed(0)
    return BertForQuestionAnswering(BertConfig(**EMBEDDED_SHAPE))


def _step_fn(model, batch, masked: bool, schedule: CubicSchedule, reg: Regularization):
    weights = [p for n, p in model.named_parameters() if not n.endswith("scores")]
    groups = [{"params": weights}]
    if masked:
        groups.append({"params": [p for _, p in score_parameters(model)], "lr": 1e-2, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=1e-5)
    state = {"step": 0}

    def step():
        if masked:
            set_threshold(model, schedule(state["step"]))
        loss = model(**batch).loss
        if masked:
            loss = loss + schedule.progress(state["step"]) * l1_sigmoid(model, reg)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1

    return step


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench overhead")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=192)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--base", default="embedded", choices=["embedded", "random"])
    args = parser.parse_args(argv)

    dense = _base(args.base).train()
    masked = add_masks(copy.deepcopy(dense), preset("hybrid")).train()
    g = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(1000, 20000, (args.batch, args.seq), generator=g),
             "attention_mask": torch.ones(args.batch, args.seq, dtype=torch.long),
             "start_positions": torch.randint(0, args.seq, (args.batch,), generator=g),
             "end_positions": torch.randint(0, args.seq, (args.batch,), generator=g)}
    schedule = CubicSchedule.from_fractions(0.0, 0.1, total_steps=2 * (args.repeats + 1))
    steps = {"dense": _step_fn(dense, batch, False, schedule, Regularization()),
             "masked": _step_fn(masked, batch, True, schedule, Regularization())}
    times = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        step()
    for round_ in range(args.repeats):
        for name in (list(steps) if round_ % 2 == 0 else list(steps)[::-1]):
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    summary = {name: {"min_s": min(t), "median_s": sorted(t)[len(t) // 2], "max_s": max(t)} for name, t in times.items()}
    ratio = summary["masked"]["median_s"] / summary["dense"]["median_s"]
    return {"bench": "overhead", "ratio": round(ratio, 3), "target": 1.25, "met": ratio <= 1.25,
            "ratio_min": round(summary["masked"]["min_s"] / summary["dense"]["min_s"], 3), "timings": summary,
            "batch": args.batch, "seq": args.seq, "preset": "hybrid", "threads": torch.get_num_threads(),
            "torch_version": torch.__version__, "device": "cpu", "dtype": "float32", "base": args.base}
