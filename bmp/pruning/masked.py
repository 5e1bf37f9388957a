"""Masked layers: each owns its scores and its threshold; masks multiply weights (and the biases of dead rows).

Three tiers, as in the rest of bmp:
- :class:`UnitScores` (one score per head or FFN neuron) and :class:`MaskedLinear` (block scores of its own, plus
  references to the unit scores it shares with sibling layers);
- :func:`add_masks` puts them into a BERT-family model in place, through its anatomy (:mod:`bmp.pruning.anatomy`);
- :func:`set_threshold` (one call, each training step) and :func:`baked_copy` (masks multiplied into plain weights).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bmp.pruning.anatomy import LINEAR_NAMES, encoder_layers
from bmp.pruning.binarizers import (
    HardMask,
    TopK,
    global_topk_masks,
    magnitude_scores,
    sigmoid_threshold_mask,
    threshold_mask,
)
from bmp.pruning.granularity import PruningConfig, check_threshold


def _binarize(scores: Tensor, method: str, threshold: float, hard: Tensor | None) -> Tensor:
    if hard is not None:  # set from outside (a global top-k, a size budget): it wins over the method's own rule
        return HardMask.apply(scores, hard)
    if method == "sigmoid_threshold":
        return sigmoid_threshold_mask(scores, threshold)
    if method == "threshold":
        return threshold_mask(scores, threshold)
    if method == "topk":
        return TopK.apply(scores, threshold)
    if method == "topk_global":
        raise RuntimeError("topk_global masks are set by bmp.set_threshold(model, keep) before each forward")
    raise ValueError(f"no learned scores for method {method!r}")


class UnitScores(nn.Module):
    """One score per attention head or FFN neuron; ``unit`` rows/columns of each matrix share it.

    ``covers`` is how many weights one score masks (for the weight-counting global top-k). ``floor`` units with the
    best scores stay kept whatever the threshold says: a layer left without heads gets no movement signal back
    (a fully masked head has exactly zero gradient), so the floor is the only way such a layer recovers.
    """

    def __init__(self, count: int, unit: int, config: PruningConfig, kind: str, covers: int = 1, floor: int = 0):
        super().__init__()
        self.scores = nn.Parameter(torch.full((count,), float(config.score_init)))
        self.unit, self.method, self.kind = unit, config.method, kind  # kind: "head" | "neuron"
        self.covers, self.floor = covers, min(floor, count)
        self.threshold: float = config.initial_threshold
        self.hard: Tensor | None = None  # set by set_threshold for topk_global, or by a size budget

    def mask(self) -> Tensor:  # (count,)
        mask = _binarize(self.scores, self.method, self.threshold, self.hard)
        if self.floor:
            best = TopK.apply(self.scores.detach(), self.floor / self.scores.numel())
            mask = HardMask.apply(self.scores, torch.maximum(mask.detach(), best))  # same straight-through gradient
        return mask

    def expanded(self) -> Tensor:  # (count * unit,)
        return self.mask().repeat_interleave(self.unit)

    def extra_repr(self) -> str:
        floor = f", at least {self.floor} kept" if self.floor else ""
        return f"{self.kind}s={self.scores.numel()}, unit={self.unit}, method={self.method}{floor}"


class MaskedLinear(nn.Module):
    """A linear layer whose weight is ``W * M``, with M the product of its own block mask and shared unit masks.

    ``weight`` and ``bias`` keep their names, so a masked model's state dict extends the plain one.
    """

    def __init__(self, linear: nn.Linear, config: PruningConfig, block: tuple[int, int] | None, part: str,
                 rows: UnitScores | None = None, cols: UnitScores | None = None):
        super().__init__()
        self.part = part  # "attention" | "ffn": which regularization lambda applies
        out_features, in_features = linear.weight.shape
        self.in_features, self.out_features = in_features, out_features
        self.weight, self.bias = linear.weight, linear.bias
        self.method = config.method
        self.threshold: float = config.initial_threshold
        self.hard: Tensor | None = None
        self.block = block
        if block is not None:
            bh, bw = block
            if out_features % bh or in_features % bw:
                raise ValueError(
                    f"block {bh}x{bw} does not divide a {out_features}x{in_features} matrix: choose a block whose "
                    f"height divides {out_features} and width divides {in_features} (e.g. (32, 32) or (1, 1))")
            shape = (out_features // bh, in_features // bw)
            # magnitude pruning ranks |W|; it learns nothing, so it keeps no scores
            self.scores = (None if config.method == "magnitude"
                           else nn.Parameter(torch.full(shape, float(config.score_init))))
        else:
            self.scores = None
        # shared unit scores live on the transformer layer; plain attributes here avoid registering them twice
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_cols", cols)

    @property
    def covers(self) -> int:
        """Weights masked by one block score."""
        return self.block[0] * self.block[1] if self.block else 0

    @property
    def row_scores(self) -> UnitScores | None:
        return self._rows

    @property
    def col_scores(self) -> UnitScores | None:
        return self._cols

    def block_mask(self) -> Tensor | None:  # (out/bh, in/bw)
        if self.block is None:
            return None
        if self.method == "magnitude":
            return TopK.apply(magnitude_scores(self.weight, self.block), self.threshold)
        return _binarize(self.scores, self.method, self.threshold, self.hard)

    def mask(self) -> Tensor | None:
        """The full (out, in) weight mask, or None when nothing masks this layer (for inspection; the forward
        pass broadcasts the factors instead of building it)."""
        if self.block is None and self._rows is None and self._cols is None:
            return None
        return self.masked_weight_and_bias(torch.ones_like(self.weight))[0]

    def masked_weight_and_bias(self, weight: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``W * M`` and the bias with dead output rows zeroed. Factors are broadcast, never expanded to (out, in)."""
        weight = self.weight if weight is None else weight
        bias, rows_alive = self.bias, None
        blocks = self.block_mask()
        if blocks is not None:
            bh, bw = self.block
            r, c = blocks.shape
            weight = (weight.view(r, bh, c, bw) * blocks[:, None, :, None]).view(self.out_features, self.in_features)
            # a row is dead when all its blocks are; no gradient through this bias mask (it has no score of its own)
            rows_alive = blocks.detach().amax(dim=1).repeat_interleave(bh)
        if self._rows is not None:
            row = self._rows.expanded()  # (out,): a head's rows or a neuron's row share its score
            weight = weight * row[:, None]
            # the bias follows its row's fate but gets no vote: scores learn from the weights' movement alone,
            # for unit scores as for block scores (the reference tests the row non-differentiably too)
            rows_alive = row.detach() if rows_alive is None else rows_alive * row.detach()
        if self._cols is not None:
            weight = weight * self._cols.expanded()[None, :]
        if bias is not None and rows_alive is not None:
            bias = bias * rows_alive  # a dead output row must not leak through its bias, or packing is not exact
        return weight, bias

    def masked_weight(self) -> Tensor:
        return self.masked_weight_and_bias()[0]

    def forward(self, x: Tensor) -> Tensor:  # (..., in) -> (..., out)
        weight, bias = self.masked_weight_and_bias()
        return F.linear(x, weight, bias)

    def extra_repr(self) -> str:
        shared = [name for name, src in (("rows", self._rows), ("cols", self._cols)) if src is not None]
        return (f"{self.in_features} -> {self.out_features}, {self.part}, block={self.block}, method={self.method}"
                + (f", shared {'+'.join(shared)}" if shared else ""))


def _block_for(granularity) -> tuple[int, int] | None:
    return granularity if isinstance(granularity, tuple) else None


def _transposed(block: tuple[int, int] | None) -> tuple[int, int] | None:
    return None if block is None else (block[1], block[0])


def add_masks(model: nn.Module, config: PruningConfig) -> nn.Module:
    """Replace the six linear layers of every encoder layer by :class:`MaskedLinear`, in place; returns ``model``.

    The output matrices (attention output, FFN out) read the heads and neurons along their *columns*, so they take
    the block transposed: a ``(1, hidden)`` block is a row score on Q/K/V and a column score on the attention output.
    """
    if any(isinstance(m, MaskedLinear) for m in model.modules()):
        raise ValueError("model already has masks: call add_masks once (use bmp.baked_copy for a plain copy)")
    for part in encoder_layers(model):
        heads = ffn = None
        if config.attention == "head":
            covers = part.head_dim * (part.query.in_features + part.key.in_features + part.value.in_features
                                      + part.attn_out.out_features)
            heads = UnitScores(part.num_heads, part.head_dim, config, "head", covers, config.min_heads)
            part.layer.head_scores = heads
        if config.ffn == "neuron":
            ffn = UnitScores(part.ffn_size, 1, config, "neuron", part.ffn_in.in_features + part.ffn_out.out_features)
            part.layer.neuron_scores = ffn
        attn_block, ffn_block = _block_for(config.attention), _block_for(config.ffn)
        # swapped through the layer's anatomy: each architecture keeps its linears under its own names
        if config.attention != "dense":
            for name in ("query", "key", "value"):
                part.replace(name, MaskedLinear(part.get(name), config, attn_block, "attention", rows=heads))
            part.replace("attn_out", MaskedLinear(part.attn_out, config, _transposed(attn_block), "attention",
                                                  cols=heads))
        if config.ffn != "dense":
            part.replace("ffn_in", MaskedLinear(part.ffn_in, config, ffn_block, "ffn", rows=ffn))
            part.replace("ffn_out", MaskedLinear(part.ffn_out, config, _transposed(ffn_block), "ffn", cols=ffn))
    return model


def masked_modules(model: nn.Module) -> list[nn.Module]:
    """Every module that turns scores (or magnitudes) into a mask: MaskedLinear with blocks, and UnitScores."""
    return [m for m in model.modules()
            if isinstance(m, UnitScores) or (isinstance(m, MaskedLinear) and m.block is not None)]


def has_masks(model: nn.Module) -> bool:
    return any(isinstance(m, MaskedLinear) for m in model.modules())


def set_threshold(model: nn.Module, value: float) -> None:
    """Set every mask's threshold (or keep fraction) to ``value``. For ``topk_global``, rank all scores together,
    each weighted by the number of weights it masks.

    What ``value`` means depends on the method: with ``sigmoid_threshold`` a *higher* value prunes more (scores
    must clear it), with the TopK methods it is the share *kept*, so a higher value prunes less. Masks a size budget
    set (:class:`bmp.pruning.budget.UnitBudget`) are handed back to the method's rule."""
    if not has_masks(model):
        raise ValueError("model has no masks: call bmp.add_masks(model, config) first")
    modules = [m for m in model.modules() if isinstance(m, (MaskedLinear, UnitScores))]
    for method in {m.method for m in modules}:
        check_threshold(method, float(value))
    for module in modules:
        module.threshold = float(value)
        module.hard = None
    global_ones = [m for m in masked_modules(model) if m.method == "topk_global"]
    if global_ones:
        with torch.no_grad():
            hards = global_topk_masks([m.scores for m in global_ones], value, [m.covers for m in global_ones])
            for module, hard in zip(global_ones, hards):
                module.hard = hard


def score_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if name.endswith("scores")]


@torch.no_grad()
def baked_copy(model: nn.Module) -> nn.Module:
    """A new model with plain ``nn.Linear`` layers holding ``W * M`` (and masked biases); scores are dropped."""
    baked = copy.deepcopy(model)
    for part in encoder_layers(baked):
        for name in LINEAR_NAMES:
            module = part.get(name)
            if isinstance(module, MaskedLinear):
                weight, bias = module.masked_weight_and_bias()
                linear = nn.Linear(module.in_features, module.out_features, bias=bias is not None)
                linear = linear.to(device=weight.device, dtype=weight.dtype)
                linear.weight.copy_(weight)
                if bias is not None:
                    linear.bias.copy_(bias)
                part.replace(name, linear)
        for attr in ("head_scores", "neuron_scores"):
            if hasattr(part.layer, attr):
                delattr(part.layer, attr)
    return baked


# ---------------------------------------------------------------- the trained masked model, kept for re-masking

MASKED_WEIGHTS = "masked.safetensors"  # weights as trained (before masking) plus every score
MASKED_CONFIG = "pruning_config.json"


def save_masked(model: nn.Module, config: PruningConfig, folder) -> None:
    """Save a masked model's unmasked weights and its scores next to its baked copy, so its masks can be redrawn
    later at another threshold (the live widget does) without retraining."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}
    save_file(state, str(folder / MASKED_WEIGHTS))
    (folder / MASKED_CONFIG).write_text(json.dumps(asdict(config), indent=2) + "\n")


def load_pruning_config(folder) -> PruningConfig:
    """The :class:`PruningConfig` :func:`save_masked` wrote in ``folder``."""
    import json
    from pathlib import Path

    raw = json.loads((Path(folder) / MASKED_CONFIG).read_text())
    return PruningConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def load_masked(model: nn.Module, folder) -> tuple[nn.Module, PruningConfig]:
    """Put masks on ``model`` (a plain model of the same shapes, e.g. the baked copy) and load the trained weights
    and scores saved by :func:`save_masked` from ``folder``."""
    from pathlib import Path

    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / MASKED_WEIGHTS).is_file() or not (folder / MASKED_CONFIG).is_file():
        raise FileNotFoundError(f"{folder} holds no learned scores ({MASKED_WEIGHTS}, {MASKED_CONFIG}): pruned runs "
                                "save them since bmp.training.prune records scores; rerun the pruning to get them")
    config = load_pruning_config(folder)
    add_masks(model, config)
    model.load_state_dict(load_file(str(folder / MASKED_WEIGHTS)))
    return model, config
