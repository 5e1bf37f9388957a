"""Does packing deliver the speed of its shape? ``python -m bmp.bench packing [--batch 8 --seq 384 --repeats 5]``

Builds the embedded model (or a random BERT of its shape when the package is missing), zeroes realistic,
non-uniform per-layer sets of heads and FFN neurons (chosen at random with a fixed seed), packs it, and times three
models on the same batch, interleaved: the packed model, a model freshly built with the packed per-layer sizes
(the best packing can hope for), and the unpruned dense model.

``ratio_vs_same_shape`` = same-shape time / packed time (≈ 1: packing adds no overhead; target ≥ 0.95);
``speedup_vs_dense`` = dense time / packed time; ``linear_flop_reduction`` = dense / packed linear parameters.
Ratios use each model's fastest repeat: on a shared CPU other load only ever adds time, so the minimum is the
least disturbed estimate; the ``*_median`` ratios are there too, and agree with them on a quiet machine.
"""
from __future__ import annotations

import argparse
import copy

import torch
from transformers import BertConfig, BertForQuestionAnswering

from bmp.models import EMBEDDED_SHAPE
from bmp.packing.pack import pack
from bmp.packing.size import size_report
from bmp.pruning.anatomy import encoder_layers
from bmp.speed.timing import CPU_SETTING, dense_like, synthetic_batch, time_interleaved

HEADS_KEPT = (8, 7, 6, 5, 4, 3)
FFN_KEPT = (1400, 1200, 900, 500, 250, 120)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench packing", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=CPU_SETTING.batch)
    parser.add_argument("--seq", type=int, default=CPU_SETTING.seq)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--align-heads", type=int, default=1)
    parser.add_argument("--align-ffn", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); 1 suffers less from a busy shared CPU")
    parser.add_argument("--base", choices=("embedded", "random"), default="embedded",
                        help="embedded model (falls back to random weights of its shape when not installed)")
    return parser.parse_args(argv)


def base_model(which: str, seed: int) -> tuple[BertForQuestionAnswering, str]:
    if which == "embedded":
        try:
            from bmp.models import load_base
            model, _ = load_base()
            return model.eval(), "embedded"
        except (ImportError, OSError):
            pass
    torch.manual_seed(seed)
    config = BertConfig(**EMBEDDED_SHAPE)
    return BertForQuestionAnswering(config).eval(), "random"


@torch.no_grad()
def zero_random_structure(model: BertForQuestionAnswering, heads_kept, ffn_kept, seed: int):
    """A copy of ``model`` with all but ``heads_kept[i]`` heads and ``ffn_kept[i]`` neurons of layer ``i`` zeroed."""
    pruned = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    for parts, heads, neurons in zip(encoder_layers(pruned), heads_kept, ffn_kept, strict=True):
        d = parts.head_dim
        for head in torch.randperm(parts.num_heads, generator=generator)[heads:].tolist():
            rows = slice(head * d, (head + 1) * d)
            for linear in (parts.query, parts.key, parts.value):
                linear.weight[rows] = 0
                linear.bias[rows] = 0
            parts.attn_out.weight[:, rows] = 0
        dead = torch.randperm(parts.ffn_size, generator=generator)[neurons:]
        parts.ffn_in.weight[dead] = 0
        parts.ffn_in.bias[dead] = 0
        parts.ffn_out.weight[:, dead] = 0
    return pruned


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dense, source = base_model(args.base, args.seed)
    pruned = zero_random_structure(dense, HEADS_KEPT, FFN_KEPT, args.seed)
    packed = pack(pruned, align_heads=args.align_heads, align_ffn=args.align_ffn)
    same_shape = dense_like(packed, seed=args.seed)

    with torch.inference_mode():  # exactness on a small batch, with padding
        ids, mask = synthetic_batch(dense.config.vocab_size, 2, 128, seed=args.seed + 1)
        mask[1, 100:] = 0
        diff = (pruned(input_ids=ids, attention_mask=mask).start_logits
                - packed(input_ids=ids, attention_mask=mask).start_logits).abs().max().item()

    input_ids, attention_mask = synthetic_batch(dense.config.vocab_size, args.batch, args.seq, seed=args.seed)
    timings = time_interleaved({"packed": packed, "same_shape": same_shape, "dense": dense}, input_ids,
                               attention_mask, repeats=args.repeats, warmup=args.warmup)
    size = size_report(packed)
    fastest = {name: result.min_s for name, result in timings.items()}
    median = {name: result.median_s for name, result in timings.items()}
    return {
        "bench": "packing",
        "base": source,
        "ratio_vs_same_shape": round(fastest["same_shape"] / fastest["packed"], 3),
        "speedup_vs_dense": round(fastest["dense"] / fastest["packed"], 3),
        "ratio_vs_same_shape_median": round(median["same_shape"] / median["packed"], 3),
        "speedup_vs_dense_median": round(median["dense"] / median["packed"], 3),
        "linear_flop_reduction": round(size.linear_reduction, 3),
        "fill_rate": round(size.fill_rate, 4),
        "heads_per_layer": list(size.heads_per_layer),
        "intermediate_per_layer": list(size.neurons_per_layer),
        "max_abs_logit_diff": diff,
        "timings": {name: {"min_s": round(result.min_s, 4), "median_s": round(result.median_s, 4),
                           "max_s": round(result.max_s, 4), "unstable": result.unstable}
                    for name, result in timings.items()},
        "batch": args.batch, "seq": args.seq, "repeats": args.repeats,
        "threads": timings["packed"].threads,
        "torch_version": timings["packed"].torch_version,
        "device": timings["packed"].device,
        "dtype": timings["packed"].dtype,
    }
