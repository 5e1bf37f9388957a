"""How big a (packed) BERT-family model is: parameters, the encoder's linear parameters, fill rate, heads, neurons,
bytes on disk.

*Linear parameters* are the weights and biases of each encoder layer's six linear layers: Q, K, V, attention
output, FFN in and FFN out. A layer with ``n`` heads of size ``d`` and ``f`` FFN neurons at hidden size ``H`` has
``3(H·nd + nd) + (nd·H + H) + (H·f + f) + (f·H + H)`` of them; the two output biases (``2H``) remain even when a
layer is emptied. *Fill rate* is that count over the same count for the dense model the pruning started from
(``num_attention_heads`` heads and ``intermediate_size`` neurons in every layer; DistilBERT calls it ``hidden_dim``),
so 1.0 means nothing was cut.
*Non-zero fill rate* counts only the non-zero ones: the same after filling, far lower for unstructured sparsity,
which packing can't remove (its kept weights are scattered over every head and neuron).
Linear parameters track the encoder's matmul FLOPs; embeddings and LayerNorms cost memory but little compute.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from bmp.pruning.anatomy import anatomy_of_config, encoder_layers


@dataclass(frozen=True)
class SizeReport:
    total_params: int
    linear_params: int  # the encoder's six linears per layer, weights + biases
    dense_linear_params: int  # the same for the dense reference
    heads_per_layer: tuple[int, ...]
    neurons_per_layer: tuple[int, ...]
    dense_heads: int
    dense_neurons: int
    disk_bytes: int | None = None  # whole folder, when one was given
    weights_bytes: int | None = None  # its *.safetensors files
    nonzero_linear_params: int | None = None  # of linear_params, those that are not zero

    @property
    def fill_rate(self) -> float:
        return self.linear_params / self.dense_linear_params

    @property
    def nonzero_fill_rate(self) -> float | None:
        return None if self.nonzero_linear_params is None else self.nonzero_linear_params / self.dense_linear_params

    @property
    def linear_reduction(self) -> float:
        """Dense linear parameters per kept one (≈ the encoder's matmul FLOP reduction)."""
        return self.dense_linear_params / self.linear_params

    def to_dict(self) -> dict:
        values = asdict(self)
        values.update(heads_per_layer=list(self.heads_per_layer), neurons_per_layer=list(self.neurons_per_layer),
                      fill_rate=self.fill_rate, nonzero_fill_rate=self.nonzero_fill_rate,
                      linear_reduction=self.linear_reduction)
        return values

    def __repr__(self) -> str:
        disk = "" if self.disk_bytes is None else f", {self.disk_bytes / 2**20:.1f} MiB on disk"
        return (f"SizeReport({self.total_params / 1e6:.2f}M params, {self.linear_params / 1e6:.2f}M linear = "
                f"{self.fill_rate:.1%} of dense {self.dense_linear_params / 1e6:.2f}M{disk}; "
                f"heads {list(self.heads_per_layer)} of {self.dense_heads}, "
                f"FFN {list(self.neurons_per_layer)} of {self.dense_neurons})")


def linear_params_of_layer(hidden: int, heads: int, head_dim: int, neurons: int) -> int:
    """Weights + biases of one layer's six linears (see the module docstring)."""
    width = heads * head_dim
    attention = 3 * (hidden * width + width) + (width * hidden + hidden)  # Q, K, V, output
    ffn = (hidden * neurons + neurons) + (neurons * hidden + hidden)  # in, out
    return attention + ffn


def dense_linear_params(config) -> int:
    """Linear parameters of the dense model ``config`` describes: full heads and FFN in every layer."""
    head_dim = config.hidden_size // config.num_attention_heads
    ffn = anatomy_of_config(config).dense_ffn_size(config)
    return config.num_hidden_layers * linear_params_of_layer(config.hidden_size, config.num_attention_heads, head_dim,
                                                             ffn)


def size_report(model: nn.Module, dense_reference=None, *, folder: str | Path | None = None) -> SizeReport:
    """Size of ``model`` against a dense reference config (default: ``model.config``'s dense sizes).

    Counts come from the model's tensors (zeros count: pack first to see the savings). ``folder``, e.g. one written
    by ``bmp.packing.saving.save_packed``, adds its size on disk.
    """
    reference = dense_reference if dense_reference is not None else model.config
    if not all(hasattr(reference, key) for key in ("hidden_size", "num_attention_heads", "num_hidden_layers")):
        raise TypeError(f"dense_reference must be a BERT-family config (hidden_size, num_attention_heads, "
                        f"num_hidden_layers, the FFN width), got {type(reference).__name__}")
    parts = encoder_layers(model)
    tensors = [tensor for part in parts for linear in part.linears().values()
               for tensor in (linear.weight, linear.bias) if tensor is not None]
    linear = sum(tensor.numel() for tensor in tensors)
    nonzero = sum(int(torch.count_nonzero(tensor.detach())) for tensor in tensors)
    disk = weights = None
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"no folder at {folder} to measure: pass the folder given to save_packed")
        files = [path for path in folder.rglob("*") if path.is_file()]
        disk = sum(path.stat().st_size for path in files)
        weights = sum(path.stat().st_size for path in files if path.suffix == ".safetensors")
    return SizeReport(
        total_params=sum(p.numel() for p in model.parameters()),
        linear_params=linear,
        dense_linear_params=dense_linear_params(reference),
        heads_per_layer=tuple(part.num_heads for part in parts),
        neurons_per_layer=tuple(part.ffn_size for part in parts),
        dense_heads=reference.num_attention_heads,
        dense_neurons=anatomy_of_config(reference).dense_ffn_size(reference),
        disk_bytes=disk, weights_bytes=weights, nonzero_linear_params=nonzero)


__all__ = ["SizeReport", "dense_linear_params", "linear_params_of_layer", "size_report"]
