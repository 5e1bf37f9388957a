"""Timing forward passes fairly: warm-up, several repeats, models interleaved, and the conditions recorded.

On the CPU each pass is timed with ``time.perf_counter`` under ``torch.inference_mode`` (the thread count is
recorded: it changes the answer). On CUDA each pass is timed with CUDA events after a synchronised warm-up, which
excludes Python-side launch gaps between passes, like the reference implementation's measurements.
Compare medians; a result whose slowest repeat is over 1.3x its fastest is flagged ``unstable`` (a busy machine).
"""
from __future__ import annotations

import copy
import gc
import statistics
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from bmp.packing.packed_bert import PACKED_BY_TYPE, PackedForQuestionAnswering, PerLayerSizes

UNSTABLE_SPREAD = 1.3


@dataclass(frozen=True)
class TimingResult:
    min_s: float
    median_s: float
    max_s: float
    repeats: int
    device: str
    dtype: str
    batch: int
    seq: int
    torch_version: str
    threads: int
    times_s: tuple[float, ...] = field(default=(), repr=False)

    @classmethod
    def from_times(cls, times_s, **conditions) -> TimingResult:
        times_s = tuple(times_s)
        return cls(min(times_s), statistics.median(times_s), max(times_s), len(times_s),
                   times_s=times_s, **conditions)

    @property
    def spread(self) -> float:
        return self.max_s / self.min_s if self.min_s > 0 else float("inf")

    @property
    def unstable(self) -> bool:
        return self.spread > UNSTABLE_SPREAD

    def to_dict(self) -> dict:
        return {"min_s": self.min_s, "median_s": self.median_s, "max_s": self.max_s, "repeats": self.repeats,
                "device": self.device, "dtype": self.dtype, "batch": self.batch, "seq": self.seq,
                "torch_version": self.torch_version, "threads": self.threads, "unstable": self.unstable}


@dataclass(frozen=True)
class SpeedSetting:
    """The shape and precision speeds are compared at: every CPU speedup and speed target in bmp uses
    :data:`CPU_SETTING` (batch 8 x sequence 384, fp32, median of 10 interleaved rounds)."""

    batch: int
    seq: int
    dtype: str = "fp32"
    repeats: int = 10


CPU_SETTING = SpeedSetting(batch=8, seq=384)


def time_forward(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                 repeats: int = 10, warmup: int = 2, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None) -> TimingResult:
    """Time ``model(input_ids=..., attention_mask=...)`` in eval mode. ``model`` is left as it was (a copy is moved
    when ``device`` or ``dtype`` differ from its own)."""
    return time_interleaved({"model": model}, input_ids, attention_mask, repeats=repeats, warmup=warmup,
                            device=device, dtype=dtype)["model"]


def time_interleaved(models: Mapping[str, nn.Module], input_ids: torch.Tensor,
                     attention_mask: torch.Tensor | None = None, *, repeats: int = 10, warmup: int = 2,
                     device: str | torch.device | None = None,
                     dtype: torch.dtype | None = None) -> dict[str, TimingResult]:
    """Time several models on the same batch, one pass of each per round (rotating who goes first), so that a
    slow spell of a shared machine hits them all alike."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    if not models:
        raise ValueError("give at least one model to time")
    first = next(iter(next(iter(models.values())).parameters()))
    device = torch.device(device) if device is not None else first.device
    dtype = dtype or first.dtype
    ready = {name: _on(without_training_wrapper(model, name), device, dtype) for name, model in models.items()}
    batch = {"input_ids": input_ids.to(device)}
    if attention_mask is not None:
        batch["attention_mask"] = attention_mask.to(device)

    names = list(ready)
    modes = {name: model.training for name, model in ready.items()}
    try:
        for model in ready.values():
            model.eval()
        with torch.inference_mode():
            calls = {name: (lambda m=ready[name]: m(**batch)) for name in names}
            times = time_calls(calls, repeats=repeats, warmup=warmup, device=device)
    finally:
        for name, model in ready.items():
            model.train(modes[name])

    conditions = dict(device=str(device), dtype=str(dtype).removeprefix("torch."), batch=input_ids.shape[0],
                      seq=input_ids.shape[1], torch_version=torch.__version__, threads=torch.get_num_threads())
    results = {name: TimingResult.from_times(times[name], **conditions) for name in names}
    for name, result in results.items():
        if result.unstable:
            warnings.warn(f"timing of {name!r} is unstable: slowest repeat {result.spread:.2f}x the fastest "
                          f"(over {UNSTABLE_SPREAD}x); the machine is probably busy: rerun, or raise repeats",
                          RuntimeWarning, stacklevel=2)
    return results


def time_calls(calls: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int,
               device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """Seconds per call of each zero-argument callable (a torch model on a batch, an ONNX Runtime session ...):
    ``warmup`` untimed calls each, then ``repeats`` rounds in which every callable runs once, the first one
    rotating, so that a slow spell of a shared machine hits them all alike. The garbage collector is off while
    timing: a collection inside one call would charge it for every call's garbage.

    On a GPU a call returns once its kernels are queued, so the clock must run on the GPU: CUDA events recorded
    into the same stream as the kernels, read after the end event completes (what the reference measured)."""
    device = torch.device(device)
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    times = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for round_ in range(repeats):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(time_one_call(calls[name], device))
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def time_one_call(call: Callable[[], object], device: torch.device) -> float:
    """Seconds one call takes: on CUDA between two events in the kernels' stream, elsewhere on the host clock
    (after waiting for any other accelerator to finish)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        call()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000  # ms -> s
    if device.type != "cpu":
        torch.accelerator.synchronize()
    begin = time.perf_counter()
    call()
    if device.type != "cpu":
        torch.accelerator.synchronize()
    return time.perf_counter() - begin


def without_training_wrapper(model: nn.Module, name: str = "model") -> nn.Module:
    """``model`` itself, or, when a training loop left its mixed-precision wrapper on it, an unwrapped copy.

    ``accelerate`` (and so the HF ``Trainer``) replaces ``model.forward`` by an autocast version and keeps the
    original as ``model._original_forward``. Timing such a model would measure bf16/fp16 kernels while reporting
    fp32, so the copy gets its class's own ``forward`` back; the caller's model is left untouched."""
    if "_original_forward" not in vars(model):
        return model
    warnings.warn(f"{name!r} still carries a training loop's mixed-precision forward wrapper; timing an unwrapped "
                  "copy instead (reload the saved model, or use accelerate's extract_model_from_parallel, to avoid "
                  "the copy)", RuntimeWarning, stacklevel=3)
    clean = copy.deepcopy(model)
    del clean._original_forward
    vars(clean).pop("forward", None)  # the class's forward takes over again
    return clean


def _on(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    parameter = next(model.parameters())
    if parameter.device == device and parameter.dtype == dtype:
        return model
    return copy.deepcopy(model).to(device=device, dtype=dtype)


def synthetic_batch(vocab_size: int, batch: int, seq: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of shape ``(batch, seq)``: random tokens, no padding (timing only)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, vocab_size, (batch, seq), generator=generator)  # (B, T)
    return input_ids, torch.ones_like(input_ids)


def dense_like(config_or_model, seed: int = 0) -> PackedForQuestionAnswering:
    """A freshly initialised model with the same per-layer sizes: a dense model of the same architecture built at
    that shape from the start, the fair speed reference for a packed model (same shapes, no packing involved)."""
    config = getattr(config_or_model, "config", config_or_model)
    if not isinstance(config, PerLayerSizes):
        raise TypeError(f"dense_like needs a packed config such as PackedBertConfig (or a packed model), got "
                        f"{type(config).__name__}: pack the model first with bmp.packing.pack.pack(model)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PACKED_BY_TYPE[config.model_type](copy.deepcopy(config)).eval()


__all__ = ["TimingResult", "dense_like", "synthetic_batch", "time_forward", "time_interleaved",
           "without_training_wrapper"]
