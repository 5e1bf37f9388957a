"""A tiny pruned run on disk, laid out like a real one, for tests and smoke runs of the live pruning widget.

``make_tiny_run(root)`` writes, in seconds and without training:

- ``root/teacher/final``: a tiny random BERT (:func:`bmp.models.tiny_bert`, weights drawn wide enough that masks
  change its answers) and the embedded tokenizer;
- ``root/pruned/final``: the same weights with masks whose scores are random (as if learned), saved as a pruned
  run is: the baked model and tokenizer (``save_pretrained``) plus ``masked.safetensors`` and
  ``pruning_config.json`` (:func:`bmp.pruning.masked.save_masked`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from bmp.models import load_tokenizer, tiny_bert
from bmp.pruning.granularity import PruningConfig, preset
from bmp.pruning.masked import add_masks, baked_copy, save_masked, score_parameters, set_threshold

# hybrid, with attention blocks that fit the tiny model's 64 x 64 matrices 4 x 4 times (a head is 16 wide)
TINY_CONFIG = preset("hybrid", attention=(16, 16))
# BERT's 0.02 leaves the tiny model's residual stream to its embeddings, so no mask moves F1; 0.1 makes them matter
INIT_RANGE = 0.1
SCORE_SPREAD = 2.0  # scores ~ N(0, 2^2): sigmoids spread over (0, 1), so every threshold keeps a different share


@dataclass(frozen=True)
class TinyRun:
    run: Path  # the pruned run's final folder
    teacher: Path  # the dense teacher's final folder


def make_tiny_run(root, *, seed: int = 0, config: PruningConfig = TINY_CONFIG, tokenizer=None) -> TinyRun:
    """Write a tiny teacher and a tiny pruned run with random scores under ``root`` (see the module docstring)."""
    root = Path(root)
    tokenizer = tokenizer or load_tokenizer()
    teacher = tiny_bert(seed, initializer_range=INIT_RANGE)
    teacher_dir, run_dir = root / "teacher" / "final", root / "pruned" / "final"
    teacher.save_pretrained(str(teacher_dir))
    tokenizer.save_pretrained(str(teacher_dir))

    model = add_masks(copy.deepcopy(teacher), config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, scores in score_parameters(model):
            scores.copy_(SCORE_SPREAD * torch.randn(scores.shape, generator=generator))
    set_threshold(model, config.final_threshold)
    baked_copy(model).save_pretrained(str(run_dir))
    tokenizer.save_pretrained(str(run_dir))
    save_masked(model, config, run_dir)
    return TinyRun(run=run_dir, teacher=teacher_dir)


__all__ = ["TINY_CONFIG", "TinyRun", "make_tiny_run"]
