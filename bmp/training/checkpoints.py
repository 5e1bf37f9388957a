"""Checkpoints: which ``checkpoint-N`` folders were written to the end, and the newest one to resume from."""
from __future__ import annotations

import warnings
from pathlib import Path

CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt")  # written after the model: present means complete
MODEL_FILES = ("model.safetensors", "pytorch_model.bin")


def complete_checkpoint(folder: Path) -> bool:
    """Whether a ``checkpoint-N`` folder was written to the end (a save killed midway leaves files missing or a
    truncated model file)."""
    if not all((folder / name).is_file() for name in CHECKPOINT_FILES):
        return False
    model = next((folder / name for name in MODEL_FILES if (folder / name).is_file()), None)
    if model is None:
        return False
    if model.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(model), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError):
            return False
    return True


def resume_point(output_dir) -> str | None:
    """The newest *complete* checkpoint in ``output_dir``, so an interrupted run continues where it stopped; a
    half-written newer one (a killed save) is skipped with a warning."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    checkpoints = sorted((p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                         key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for checkpoint in checkpoints:
        if complete_checkpoint(checkpoint):
            return str(checkpoint)
        warnings.warn(f"skipping {checkpoint}: it was not written to the end (a killed save?); resuming from an "
                      "older checkpoint. Delete it to silence this.", stacklevel=2)
    return None
