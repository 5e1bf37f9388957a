"""Reference solution of notebook 06's exercise (find the live heads). Headless runs (``BMP_SOLUTIONS=1``) use it
in place of the notebook's stub; try the exercise before reading it."""
import torch


def my_live_heads(value_weight: torch.Tensor, value_bias: torch.Tensor, out_weight: torch.Tensor,
                  num_heads: int) -> torch.Tensor:
    """True for each head with a non-zero value row (weight or bias) and a non-zero attention-output column."""
    head_dim = value_weight.shape[0] // num_heads
    value_used = (value_weight != 0).any(dim=1) | (value_bias != 0)  # (heads * head_dim,): rows in use
    value_alive = value_used.view(num_heads, head_dim).any(dim=1)
    out_alive = (out_weight != 0).any(dim=0).view(num_heads, head_dim).any(dim=1)
    return value_alive & out_alive
