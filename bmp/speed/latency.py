"""A latency model of packed shapes: seconds of one forward pass at the recorded CPU setting, fitted on this machine.

A speed target (``prune --target-speedup 2.5``) must know what a shape costs before the shape exists. Speed depends
on the shape, not on the weights, so :func:`calibrate` builds a few packed models with random weights and random
per-layer sizes (the model's own hidden size, head size, FFN width and layer count), times them together with five
anchors (dense, empty, one head, heads only, FFN only) in one interleaved run at
:data:`~bmp.speed.timing.CPU_SETTING`, and fits

    seconds = a + sum over layers of (b * heads + c * neurons + e * [heads > 0] + f * [neurons > 0])

by non-negative least squares on the relative error, from each shape's fastest repeat. ``e`` and ``f`` are what
running a layer's attention or FFN at all costs (a layer left without heads skips its attention). The fit is the
cost a speed budget is counted in (:class:`bmp.pruning.budget.CostModel`); :meth:`LatencyModel.speedup` is the
prediction recorded with the run, to set beside the speedup the finished model is measured at.

A speedup divides the dense shape's *measured* time by a shape's predicted one: full-size matrices run slower per
weight than a line through the pruned shapes says, so a fitted dense time under-predicts every speedup (checked
against the recorded course runs' timing: by about a tenth over the fitted dense time, centred on them over the
measured one).

The vocabulary is cut to :data:`TIMING_VOCAB` tokens for the timing: an embedding lookup costs the same from any
table, and twelve copies of a 30k-token table would cost memory for nothing.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch

from bmp.packing.pack import PackedStructure, _packed_config
from bmp.packing.packed_bert import PACKED_MODELS
from bmp.pruning.anatomy import anatomy_of_config
from bmp.pruning.budget import CostModel, Shape
from bmp.speed.timing import CPU_SETTING, SpeedSetting, synthetic_batch, time_interleaved

TIMING_VOCAB = 1024
FEATURES = ("fixed", "per_head", "per_neuron", "head_layer", "neuron_layer")  # CostModel's terms, in this order


@dataclass(frozen=True)
class Architecture:
    """The dimensions a latency model was calibrated for: another model needs its own calibration."""

    family: str
    layers: int
    hidden: int
    heads: int
    head_dim: int
    ffn: int

    @classmethod
    def of(cls, config) -> Architecture:
        anatomy = anatomy_of_config(config)
        heads = config.num_attention_heads
        return cls(anatomy.family, config.num_hidden_layers, config.hidden_size, heads,
                   getattr(config, "head_dim", None) or config.hidden_size // heads, anatomy.dense_ffn_size(config))

    @property
    def dense(self) -> Shape:
        return Shape((self.heads,) * self.layers, (self.ffn,) * self.layers)


@dataclass(frozen=True)
class LatencyModel:
    """Seconds of one forward pass of a packed shape of ``architecture``, at ``setting`` on this machine."""

    cost: CostModel
    architecture: Architecture
    setting: dict  # batch, seq, dtype, threads, repeats, device
    shapes: tuple[dict, ...]  # each calibration shape: heads_per_layer, neurons_per_layer, min_s, predicted_s
    rel_rms: float  # relative error of the fit on its own shapes
    dense_s: float  # the dense shape, as timed: what speedups are over

    def __post_init__(self):
        if self.cost.unit != "seconds":
            raise ValueError(f"a latency model counts seconds, got a cost model in {self.cost.unit}: calibrate one "
                             "with bmp.speed.latency.calibrate")
        if not self.dense_s > 0:
            raise ValueError(f"dense_s must be the dense shape's timed seconds (> 0), got {self.dense_s}")

    def seconds(self, shape: Shape) -> float:
        """Predicted seconds of one pass (the dense shape: as timed)."""
        return self.dense_s if shape == self.architecture.dense else self.cost.of(shape)

    def speedup(self, shape: Shape) -> float:
        """Predicted speedup of ``shape`` over the dense model."""
        seconds = self.seconds(shape)
        return self.dense_s / seconds if seconds > 0 else math.inf

    def matches(self, config) -> bool:
        return Architecture.of(config) == self.architecture

    def to_dict(self) -> dict:
        return {"cost": asdict(self.cost), "architecture": asdict(self.architecture), "setting": dict(self.setting),
                "shapes": [dict(s) for s in self.shapes], "rel_rms": self.rel_rms, "dense_s": self.dense_s}

    @classmethod
    def from_dict(cls, values: dict) -> LatencyModel:
        return cls(CostModel(**values["cost"]), Architecture(**values["architecture"]), dict(values["setting"]),
                   tuple(dict(s) for s in values["shapes"]), float(values["rel_rms"]), float(values["dense_s"]))


def random_shapes(architecture: Architecture, count: int, *, align_ffn: int = 8, seed: int = 0) -> list[Shape]:
    """Five anchors that pin the five terms (dense, empty, one head, heads only, FFN only), then ``count`` random
    shapes. Heads and neurons get independent keep shares per shape, so the fit can tell their costs apart;
    binomial draws per layer give empty layers too."""
    a = architecture
    generator = torch.Generator().manual_seed(seed)
    none, heads, ffn = (0,) * a.layers, (a.heads,) * a.layers, (a.ffn,) * a.layers
    shapes = [a.dense, Shape(none, none), Shape((1,) + none[1:], none), Shape(heads, none), Shape(none, ffn)]
    steps = a.ffn // align_ffn
    for _ in range(count):
        keep_heads, keep_neurons = torch.rand(2, generator=generator).tolist()
        heads = torch.binomial(torch.full((a.layers,), float(a.heads)), torch.full((a.layers,), keep_heads),
                               generator=generator)
        neurons = torch.binomial(torch.full((a.layers,), float(steps)), torch.full((a.layers,), keep_neurons),
                                 generator=generator) * align_ffn
        shapes.append(Shape(tuple(int(h) for h in heads), tuple(int(n) for n in neurons)))
    return shapes


def shaped_model(config, shape: Shape, seed: int = 0) -> torch.nn.Module:
    """A packed model of ``config``'s architecture at ``shape``, random weights, vocabulary cut for timing."""
    family = anatomy_of_config(config).family
    packed_class = PACKED_MODELS[family]
    structure = PackedStructure(shape.heads, shape.neurons, kept_heads=(), kept_neurons=())
    packed_config = _packed_config(config, packed_class.config_class, structure)
    packed_config.vocab_size = min(packed_config.vocab_size, TIMING_VOCAB)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return packed_class(packed_config).eval()


def calibrate(config, *, shapes: int = 8, repeats: int = 7, warmup: int = 1, setting: SpeedSetting = CPU_SETTING,
              align_ffn: int = 8, seed: int = 0) -> LatencyModel:
    """Time ``shapes`` random packed shapes of ``config``'s architecture (plus five anchors, the dense shape first)
    on this machine's CPU at ``setting``, and fit the latency model. Seconds on a small model; on the embedded
    model (6 x 384) a minute or two on 2 shared cores. A busy machine makes a poor fit: the record keeps each shape's
    time and the fit's error (``rel_rms``), so a bad calibration shows."""
    if shapes < 1 or repeats < 1:
        raise ValueError(f"calibrating needs at least one random shape (to check the fit) and one repeat, got "
                         f"shapes={shapes}, repeats={repeats}")
    from scipy.optimize import nnls

    architecture = Architecture.of(config)
    chosen = random_shapes(architecture, shapes, align_ffn=align_ffn, seed=seed)
    models = {str(i): shaped_model(config, shape, seed=i) for i, shape in enumerate(chosen)}
    input_ids, attention_mask = synthetic_batch(TIMING_VOCAB, setting.batch, setting.seq, seed=seed)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[setting.dtype]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a busy machine: the fit's error says how much it hurt
        timings = time_interleaved(models, input_ids, attention_mask, repeats=repeats, warmup=warmup, device="cpu",
                                   dtype=dtype)
    # the fastest repeat: what other work on a shared machine disturbs least (on a quiet one it is the median)
    measured = torch.tensor([timings[str(i)].min_s for i in range(len(chosen))], dtype=torch.float64)
    features = torch.tensor([_features(shape) for shape in chosen], dtype=torch.float64)
    # relative error: each row divided by its own time, so the small shapes (the fast end a target asks for) count
    coefficients, _ = nnls((features / measured[:, None]).numpy(), torch.ones_like(measured).numpy())
    predicted = features @ torch.tensor(coefficients, dtype=torch.float64)
    rel_rms = float(torch.sqrt(torch.mean(((predicted - measured) / measured) ** 2)))
    values = dict(zip(FEATURES, (float(c) for c in coefficients)))
    if values["per_head"] == values["per_neuron"] == 0:
        raise ValueError(f"the timings could not tell what a head or an FFN neuron costs (fit error {rel_rms:.0%}): "
                         f"at batch {setting.batch} x {setting.seq} the passes are too short or the machine too busy; "
                         "rerun when it is quieter, or with more repeats")
    cost = CostModel(**values, unit="seconds")
    first = timings["0"]
    rows = tuple({**shape.to_dict(), "min_s": round(float(t), 5), "predicted_s": round(float(p), 5)}
                 for shape, t, p in zip(chosen, measured, predicted))
    conditions = {"device": "cpu", "batch": setting.batch, "seq": setting.seq, "dtype": setting.dtype,
                  "threads": first.threads, "repeats": repeats, "torch_version": first.torch_version}
    return LatencyModel(cost, architecture, conditions, rows, round(rel_rms, 4), float(measured[0]))


def _features(shape: Shape) -> list[float]:
    return [1.0, sum(shape.heads), sum(shape.neurons), sum(h > 0 for h in shape.heads),
            sum(n > 0 for n in shape.neurons)]


__all__ = ["Architecture", "LatencyModel", "TIMING_VOCAB", "calibrate", "random_shapes", "shaped_model"]
