"""Speed of the reference architectures, measured here: how much faster than BERT-base each shape runs on this machine.

The published speedups in :mod:`bmp.results.references` were measured elsewhere (an RTX 3090 at batch 128 x 384 in
fp32, a CPU, or only claimed). Speed depends on the shape, not on the weights, so every reference with a standard
architecture is rebuilt with random weights and timed against a random BERT-base in the same interleaved run
(:func:`bmp.speed.timing.time_interleaved`), giving a measured speedup to set beside the published one.

Cost on the CPU: the default there is batch 1 x 128, a fraction of a second per pass for BERT-base on 2 cores.
At the reference batch of 8 x 384, BERT-base takes several seconds per pass on 2 shared cores (5-10 s was seen
here) and BERT-large WWM, with about 3.5 times BERT-base's FLOPs, several times that: pick models with ``names=``
and keep ``repeats`` small there. On a GPU the default is the reference's batch 128 x 384.

MobileBERT is made of many small matmuls, which a shared CPU treats badly: with 2 threads on 2 busy cores its
passes took anywhere from 0.4 s to 4.5 s at 1 x 128 here, against a steady 0.065 s with
``torch.set_num_threads(1)``. Look at ``spread`` and ``unstable`` before believing a CPU number.
"""
from __future__ import annotations

import torch

from bmp.speed.timing import synthetic_batch, time_interleaved

BASELINE = "BERT-base"
CPU_DEFAULTS = {"batch": 1, "seq": 128}
CUDA_DEFAULTS = {"batch": 128, "seq": 384}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def architecture_config(arch: dict):
    """A transformers config for an architecture entry (vocab 30,522 and 512 positions, like BERT's)."""
    common = dict(num_hidden_layers=arch["layers"], hidden_size=arch["hidden"], num_attention_heads=arch["heads"],
                  intermediate_size=arch["intermediate"], vocab_size=30522, max_position_embeddings=512)
    if arch["type"] == "mobilebert":
        from transformers import MobileBertConfig

        extra = {key: arch[key] for key in ("embedding_size", "true_hidden_size", "intra_bottleneck_size",
                                            "num_feedforward_networks", "normalization_type", "hidden_act")
                 if key in arch}
        return MobileBertConfig(**common, **extra)
    from transformers import BertConfig

    return BertConfig(**common)


def build_reference(config, seed: int = 0, device=None, dtype: torch.dtype | None = None):
    """A QA model of the architecture ``config`` describes, with random weights, in eval mode."""
    from transformers import BertForQuestionAnswering, MobileBertConfig, MobileBertForQuestionAnswering

    model_class = MobileBertForQuestionAnswering if isinstance(config, MobileBertConfig) else BertForQuestionAnswering
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config).eval()
    return model.to(device=device, dtype=dtype)


def time_reference_rows(architectures: dict, names=None, *, batch: int | None = None, seq: int | None = None,
                        device=None, dtype: torch.dtype = torch.float32, repeats: int = 3, warmup: int = 2,
                        seed: int = 0, published: dict | None = None) -> list[dict]:
    """Time reference architectures against BERT-base; one dict per model (pandas-free, see :func:`time_references`).

    ``architectures`` maps names to configs (:func:`bmp.results.references.reference_architectures` reads them from
    the reference file); it must hold ``"BERT-base"``, which is always timed as the baseline. ``published`` (from
    :func:`bmp.results.references.published_speedups`) puts each published speedup beside the measured one.
    """
    device = torch.device(device or default_device())
    defaults = CUDA_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS
    batch, seq = batch or defaults["batch"], seq or defaults["seq"]
    architectures = dict(architectures)
    if BASELINE not in architectures:
        raise KeyError(f"the architectures must include the baseline {BASELINE!r}, got {sorted(architectures)}")
    chosen = list(architectures) if names is None else [BASELINE, *[n for n in names if n != BASELINE]]
    unknown = [name for name in chosen if name not in architectures]
    if unknown:
        raise KeyError(f"no architecture for {unknown}; available: {list(architectures)}")

    models = {name: build_reference(architectures[name], seed, device, dtype) for name in chosen}
    input_ids, attention_mask = synthetic_batch(architectures[BASELINE].vocab_size, batch, seq, seed=seed)
    timings = time_interleaved(models, input_ids, attention_mask, repeats=repeats, warmup=warmup, device=device,
                               dtype=dtype)
    del models
    published = published or {}
    base = timings[BASELINE]
    rows = []
    for name, result in timings.items():
        ref = published.get(name, {})
        rows.append({
            "name": name, "measured_speedup": base.median_s / result.median_s,
            "published_speedup": ref.get("speedup"), "published_hardware": ref.get("hardware"),
            "published_how": ref.get("how"), "published_all": ref.get("all"),
            "median_s": result.median_s, "min_s": result.min_s, "spread": result.spread, "unstable": result.unstable,
            "params": _params(architectures[name]), "device": result.device, "dtype": result.dtype,
            "batch": result.batch, "seq": result.seq, "threads": result.threads, "repeats": result.repeats,
        })
    return rows


def _params(config) -> int:
    with torch.device("meta"):  # count without allocating
        return sum(p.numel() for p in build_reference(config).parameters())


def time_references(architectures: dict, batch: int | None = None, seq: int | None = None, device=None,
                    dtype: torch.dtype = torch.float32, repeats: int = 3, *, names=None, warmup: int = 2,
                    seed: int = 0, published: dict | None = None):
    """Measured speedup over BERT-base of each reference architecture, with the published speedup alongside.

    Returns a ``pandas.DataFrame`` with columns name, measured_speedup, published_speedup, published_hardware,
    published_how, published_all, median_s, min_s, spread, unstable, params, device, dtype, batch, seq, threads,
    repeats. Defaults: batch 1 x 128 on the CPU, 128 x 384 on a GPU (see the module docstring for the cost).
    """
    import pandas as pd

    rows = time_reference_rows(architectures, names, batch=batch, seq=seq, device=device, dtype=dtype,
                               repeats=repeats, warmup=warmup, seed=seed, published=published)
    return pd.DataFrame(rows)


__all__ = ["BASELINE", "architecture_config", "build_reference", "default_device", "time_reference_rows",
           "time_references"]
