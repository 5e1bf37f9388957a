"""Do learned blocks empty whole heads more often than random blocks at the same density? (notebook 05's probe)

Hybrid pruning rests on it: a 32x32 block of Q, K, V or the attention output lies inside one head, and packing
removes a head only when it is empty, when every block of its V rows or of its output columns is gone
(:mod:`bmp.pruning.liveness`). Blocks dropped at random would rarely line up like that; blocks dropped by what
training learned might. So, for a pruned run's final masks:

- **learned**: the share of attention heads packing would remove;
- **random**: the same count after shuffling the blocks of every attention matrix at random, each matrix keeping
  exactly as many blocks as it learned to keep (the mean and the 2.5-97.5% range over ``--shuffles`` draws).

    python -m bmp.bench empty_heads --run runs/probe-movement-block-keep0.25/final --record

With ``--record`` the result is written as ``empty-heads__<run name>.json`` in the results folder
(``$BMP_RESULTS_DIR``; ``scripts/probe_concepts.sh`` writes the course's to ``data/results/concepts``).
"""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor

from bmp.pruning.anatomy import encoder_layers
from bmp.pruning.liveness import alive_heads
from bmp.results.concepts import EMPTY_HEADS_KIND as KIND

RECORDS_ITSELF = True  # one record per run, named after it
SHUFFLES = 200


def block_grid(mask: Tensor, block: tuple[int, int]) -> Tensor:
    """One entry per block of a full ``(out, in)`` block mask: ``(out / bh, in / bw)``."""
    rows, cols = mask.shape
    bh, bw = block
    return mask.reshape(rows // bh, bh, cols // bw, bw)[:, 0, :, 0]


def shuffled(mask: Tensor, block: tuple[int, int], generator: torch.Generator) -> Tensor:
    """``mask`` with its blocks moved to random places of the same matrix: as many kept, nowhere in particular."""
    grid = block_grid(mask, block)
    flat = grid.flatten()[torch.randperm(grid.numel(), generator=generator)].reshape(grid.shape)
    return flat.repeat_interleave(block[0], 0).repeat_interleave(block[1], 1)


def empty_heads(value_mask: Tensor, out_mask: Tensor, head_dim: int) -> int:
    """Heads packing removes, from V's ``(heads*d, hidden)`` and the output's ``(hidden, heads*d)`` masks (a V row
    with no weight left loses its bias too, as :meth:`~bmp.pruning.masked.MaskedLinear.masked_weight_and_bias`
    does)."""
    return int((~alive_heads(value_mask.bool(), None, out_mask.bool(), head_dim)).sum())


def attention_masks(model) -> list[tuple[Tensor, Tensor, tuple[int, int], tuple[int, int], int]]:
    """Per layer: V's and the output's full masks, their block shapes and the head size. Refuses a model whose
    attention is not masked in blocks (heads pruned whole have nothing to shuffle)."""
    layers = []
    for part in encoder_layers(model):
        value, out = part.value, part.attn_out
        blocks = getattr(value, "block", None), getattr(out, "block", None)
        if None in blocks or value.mask() is None or out.mask() is None:
            raise ValueError(f"layer {part.index}'s attention is not masked in blocks: this probe compares learned "
                             "blocks with shuffled ones, so use a block or hybrid run (not struct or a dense model)")
        layers.append((value.mask().detach(), out.mask().detach(), tuple(blocks[0]), tuple(blocks[1]), part.head_dim))
    return layers


def compare(model, shuffles: int = SHUFFLES, seed: int = 0) -> dict:
    """The learned share of empty heads against ``shuffles`` random placements of the same blocks."""
    layers = attention_masks(model)
    heads = sum(value.shape[0] // head_dim for value, _, _, _, head_dim in layers)
    learned = sum(empty_heads(value, out, head_dim) for value, out, _, _, head_dim in layers)
    generator = torch.Generator().manual_seed(seed)
    draws = torch.tensor([
        sum(empty_heads(shuffled(value, v_block, generator), shuffled(out, o_block, generator), head_dim)
            for value, out, v_block, o_block, head_dim in layers) / heads
        for _ in range(shuffles)])
    kept = [float(mask.float().mean()) for value, out, *_ in layers for mask in (value, out)]
    return {"heads": heads, "learned_empty": learned, "learned_empty_share": learned / heads,
            "random_empty_share": float(draws.mean()),
            "random_empty_share_range": [float(draws.quantile(0.025)), float(draws.quantile(0.975))],
            "attention_density": sum(kept) / len(kept), "shuffles": shuffles, "seed": seed}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a pruned run's final folder (holding masked.safetensors)")
    parser.add_argument("--shuffles", type=int, default=SHUFFLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="record name (default: the run's name)")
    parser.add_argument("--record", action="store_true", help="write the result to the results folder")
    args = parser.parse_args(argv)
    if args.shuffles < 1:
        raise ValueError(f"--shuffles {args.shuffles}: draw at least one random placement, e.g. {SHUFFLES}")
    from bmp.models import load_saved
    from bmp.pruning.masked import load_masked, set_threshold

    folder = Path(args.run)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"--run {folder}: no model there; give a pruned run's final folder, e.g. "
                                "runs/<run>/final")
    model, config = load_masked(load_saved(folder), folder)
    set_threshold(model, config.final_threshold)
    name = args.name or (folder.parent.name if folder.name == "final" else folder.name)
    result = {"run": name, "method": config.method, **compare(model, args.shuffles, args.seed)}
    if args.record:
        from bmp.results.records import provenance, record, repo_relative

        path = record(name, KIND, result, provenance(base_model=repo_relative(folder), data_split="none (masks only)",
                                                      profile="bench", seed=args.seed),
                      config={"run": repo_relative(folder), "pruning": asdict(config)})
        result["record"] = repo_relative(path)
    return result


__all__ = ["KIND", "SHUFFLES", "attention_masks", "block_grid", "compare", "empty_heads", "shuffled"]
