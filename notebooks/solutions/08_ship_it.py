"""Reference solution for notebook 08's exercise."""
import torch


def my_quantize(weight: torch.Tensor, per_channel: bool) -> torch.Tensor:
    peak = weight.abs().amax(dim=1, keepdim=True) if per_channel else weight.abs().max()
    scale = torch.where(peak > 0, peak / 127, torch.ones_like(peak))  # an all-zero row keeps scale 1: stays zero
    return (weight / scale).round().clamp(-127, 127) * scale
