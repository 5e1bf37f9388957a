"""Why packed sizes are padded: ``python -m bmp.bench align [--batch 128 --seq 384 --record]`` (needs a GPU)

Builds a BERT-base-shaped packed model with few heads and an FFN size that is not a multiple of anything useful
(default 4 heads and 461 neurons in every layer), and the same model packed with ``align_ffn=64``, which pads each
FFN with zero neurons up to 512 (same function, checked on a small fp32 batch). Both are timed in fp16 with a dense
BERT-base, interleaved.

``ratio`` = unaligned time / aligned time (> 1: padding pays); ``speedup_unaligned`` and ``speedup_aligned`` are
over the dense model. Tensor-core kernels want dimensions in multiples of 8 or more, which is a GPU matter: without
a GPU this returns ``{"skipped": "no GPU"}`` unless ``--device cpu`` is given (for a dry run of the code path).
"""
from __future__ import annotations

import argparse

import torch
from transformers import BertForQuestionAnswering

from bmp.packing.pack import pack
from bmp.packing.packed_bert import PackedBertConfig, PackedBertForQuestionAnswering
from bmp.speed.timing import synthetic_batch, time_interleaved

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench align", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: cuda when available, else skip")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp16")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seq", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--layers", type=int, default=12, help="BERT-base has 12; fewer for a quick dry run")
    parser.add_argument("--heads", type=int, default=4, help="heads kept per layer (of 12)")
    parser.add_argument("--ffn", type=int, default=461, help="FFN neurons kept per layer (of 3072)")
    parser.add_argument("--align-ffn", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", action="store_true", help="write the result to data/results (kind 'align')")
    return parser.parse_args(argv)


def base_config(layers: int) -> PackedBertConfig:
    return PackedBertConfig(num_hidden_layers=layers, hidden_size=768, num_attention_heads=12, intermediate_size=3072)


def unaligned_model(layers: int, heads: int, ffn: int, seed: int) -> PackedBertForQuestionAnswering:
    config = base_config(layers)
    config.heads_per_layer, config.intermediate_per_layer = [heads] * layers, [ffn] * layers
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PackedBertForQuestionAnswering(config).eval()


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    if args.device is None and not torch.cuda.is_available():
        return {"bench": "align", "skipped": "no GPU"}
    device = torch.device(args.device or "cuda")
    dtype = DTYPES[args.dtype]

    unaligned = unaligned_model(args.layers, args.heads, args.ffn, args.seed)
    aligned = pack(unaligned, align_ffn=args.align_ffn)  # every neuron is live: pads each FFN with zeros
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        dense = BertForQuestionAnswering(base_config(args.layers)).eval()

    with torch.inference_mode():  # padding must not change the function (fp32, small batch)
        ids, mask = synthetic_batch(dense.config.vocab_size, 2, 64, seed=args.seed + 1)
        diff = (unaligned(input_ids=ids, attention_mask=mask).start_logits
                - aligned(input_ids=ids, attention_mask=mask).start_logits).abs().max().item()

    models = {name: model.to(device=device, dtype=dtype)
              for name, model in (("unaligned", unaligned), ("aligned", aligned), ("dense", dense))}
    input_ids, attention_mask = synthetic_batch(dense.config.vocab_size, args.batch, args.seq, seed=args.seed)
    timings = time_interleaved(models, input_ids, attention_mask, repeats=args.repeats, warmup=args.warmup,
                               device=device, dtype=dtype)
    median = {name: result.median_s for name, result in timings.items()}
    result = {
        "bench": "align",
        "ratio": round(median["unaligned"] / median["aligned"], 3),
        "speedup_unaligned": round(median["dense"] / median["unaligned"], 3),
        "speedup_aligned": round(median["dense"] / median["aligned"], 3),
        "heads_per_layer": args.heads, "ffn_unaligned": args.ffn,
        "ffn_aligned": aligned.config.intermediate_per_layer[0], "layers": args.layers,
        "max_abs_logit_diff_fp32": diff,
        "timings": {name: t.to_dict() for name, t in timings.items()},
        "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "dtype": args.dtype, "batch": args.batch, "seq": args.seq, "repeats": args.repeats,
    }
    if args.record:
        from bmp.results.records import hardware, hardware_label, provenance, record

        name = f"{hardware_label(hardware()) if device.type == 'cuda' else 'cpu'}-{args.dtype}-b{args.batch}x{args.seq}"
        path = record(name, "align", result, provenance(base_model="random BERT-base shape", data_split="none "
                      "(synthetic batch)", profile="bench"), config=vars(args))
        result["record"] = str(path)
    return result
