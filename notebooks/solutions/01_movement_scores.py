"""Reference solution of notebook 01's exercise (TopK by hand). Headless runs (``BMP_SOLUTIONS=1``) use it in
place of the notebook's stub; try the exercise before reading it."""
import torch


def my_topk_mask(scores: torch.Tensor, keep: float) -> torch.Tensor:
    """1.0 at the ``round(keep * scores.numel())`` highest scores, 0.0 elsewhere, shaped like ``scores``."""
    k = round(keep * scores.numel())
    mask = torch.zeros(scores.numel(), dtype=scores.dtype)
    mask[scores.flatten().argsort(descending=True)[:k]] = 1.0
    return mask.view_as(scores)
