"""Why packed sizes are padded: a BERT-base-shaped packed model with an FFN size that is not a multiple of anything
useful (default 4 heads and 461 neurons in every layer), timed against the same model packed with ``align_ffn=64``
(zero neurons pad each FFN to 512; the same function, checked on a small fp32 batch) and a dense BERT-base,
interleaved. Tensor-core kernels want dimensions in multiples of 8 or more, so this is a GPU measurement (fp16).

``ratio`` = unaligned time / aligned time (> 1: padding pays); ``speedup_unaligned`` and ``speedup_aligned`` are
over the dense model. ``python -m bmp.bench align`` runs it from the command line and records it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import BertForQuestionAnswering

from bmp.packing.pack import pack
from bmp.packing.packed_bert import PackedBertConfig, PackedBertForQuestionAnswering
from bmp.speed.timing import synthetic_batch, time_interleaved

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class AlignmentProbe:
    """The shapes and the timing setting of one measurement."""

    layers: int = 12  # BERT-base has 12; fewer for a quick dry run
    heads: int = 4  # heads kept per layer (of 12)
    ffn: int = 461  # FFN neurons kept per layer (of 3072)
    align_ffn: int = 64
    batch: int = 128
    seq: int = 384
    repeats: int = 10
    warmup: int = 3
    dtype: str = "fp16"
    seed: int = 0

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r}: choose one of {', '.join(sorted(DTYPES))}")


def base_config(layers: int) -> PackedBertConfig:
    return PackedBertConfig(num_hidden_layers=layers, hidden_size=768, num_attention_heads=12, intermediate_size=3072)


def unaligned_model(layers: int, heads: int, ffn: int, seed: int) -> PackedBertForQuestionAnswering:
    config = base_config(layers)
    config.heads_per_layer, config.intermediate_per_layer = [heads] * layers, [ffn] * layers
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PackedBertForQuestionAnswering(config).eval()


def measure_alignment(args: AlignmentProbe = AlignmentProbe(), device: str | torch.device = "cuda") -> dict:
    """Time the unaligned, aligned and dense models on ``device`` (see the module docstring); a plain dict, as
    records hold it."""
    device = torch.device(device)
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
    return {
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
