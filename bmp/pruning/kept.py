"""What a pruned model keeps: density per matrix, heads and FFN neurons alive per layer.

Works on a masked model (reads its current masks) and on a plain model (reads its zeros), with packing's own
rule for which heads and neurons are alive (:mod:`bmp.pruning.liveness`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bmp.pruning.anatomy import LINEAR_NAMES, anatomy_of, encoder_layers
from bmp.pruning.liveness import alive_heads, alive_neurons

if TYPE_CHECKING:  # pandas loads on first report: the GPU timing machine may not have it
    import pandas as pd


def _nonzero(module: nn.Module) -> tuple[Tensor, Tensor | None]:
    """(out, in) bool map of the weights that are in use, and the (out,) map of the bias."""
    if hasattr(module, "masked_weight_and_bias"):
        weight, bias = module.masked_weight_and_bias()
    else:
        weight, bias = module.weight, module.bias
    return weight != 0, (None if bias is None else bias != 0)


@dataclass(frozen=True)
class KeptReport:
    matrices: "pd.DataFrame"  # one row per (layer, matrix): shape, kept and total weights, density
    layers: "pd.DataFrame"  # one row per layer: heads and neurons kept
    linear_density: float  # kept / total weights over all six linears of every layer

    @property
    def heads(self) -> list[int]:
        return self.layers["heads"].tolist()

    @property
    def neurons(self) -> list[int]:
        return self.layers["neurons"].tolist()

    def __repr__(self) -> str:
        heads, neurons = self.layers["heads_total"].max(), self.layers["neurons_total"].max()
        return (f"KeptReport(linear density {self.linear_density:.3f}; heads per layer {self.heads} of {heads}; "
                f"FFN neurons per layer {self.neurons} of {neurons})")

    def to_dict(self) -> dict:
        return {"linear_density": self.linear_density, "heads_per_layer": self.heads,
                "neurons_per_layer": self.neurons}


@torch.no_grad()
def kept_report(model: nn.Module) -> KeptReport:
    matrix_rows, layer_rows = [], []
    activation = anatomy_of(model).activation(model.config)  # DistilBERT calls it "activation"
    for part in encoder_layers(model):
        used = {}
        for name in LINEAR_NAMES:
            weight_used, bias_used = _nonzero(getattr(part, name))
            used[name] = (weight_used, bias_used)
            matrix_rows.append({"layer": part.index, "matrix": name, "shape": tuple(weight_used.shape),
                                "kept": int(weight_used.sum()), "total": weight_used.numel(),
                                "density": weight_used.float().mean().item()})
        heads = alive_heads(*used["value"], used["attn_out"][0], part.head_dim)
        neurons = alive_neurons(*used["ffn_in"], used["ffn_out"][0], activation)
        layer_rows.append({"layer": part.index, "heads": int(heads.sum()), "heads_total": heads.numel(),
                           "neurons": int(neurons.sum()), "neurons_total": neurons.numel()})
    import pandas as pd

    matrices = pd.DataFrame(matrix_rows)
    density = matrices["kept"].sum() / matrices["total"].sum()
    return KeptReport(matrices, pd.DataFrame(layer_rows), float(density))
