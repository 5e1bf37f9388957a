"""Do learned blocks empty whole heads more often than random blocks at the same density? (notebook 05's probe)

Hybrid pruning rests on it: when the head size is a multiple of the block's (heads of 32 or 64, blocks of 32 x 32),
each block of V or of the attention output lies inside one head, and packing removes a head only when it is empty,
when every block of its V rows or of its output columns is gone
(:mod:`bmp.pruning.liveness`). Blocks dropped at random would rarely line up like that; blocks dropped by what
training learned might. So, for a pruned run's baked model (zeros where it was masked, as packing sees it):

- **learned**: the share of attention heads packing would remove;
- **random**: the same count after shuffling the blocks of V and of the attention output at random, each matrix
  keeping exactly as many blocks as it kept (the mean and the 2.5-97.5% range over ``--shuffles`` draws).

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
from bmp.pruning.granularity import PruningConfig
from bmp.pruning.liveness import alive_heads
from bmp.pruning.masked import MASKED_CONFIG, load_pruning_config
from bmp.results.concepts import EMPTY_HEADS_KIND as KIND

RECORDS_ITSELF = True  # one record per run, named after it
SHUFFLES = 200


def block_grid(mask: Tensor, block: tuple[int, int]) -> Tensor:
    """One entry per block of an ``(out, in)`` map of weights in use: ``(out / bh, in / bw)``, True where the block
    keeps any weight."""
    rows, cols = mask.shape
    bh, bw = block
    return mask.reshape(rows // bh, bh, cols // bw, bw).any(dim=3).any(dim=1)


def shuffled(mask: Tensor, block: tuple[int, int], generator: torch.Generator) -> Tensor:
    """``mask`` with its blocks moved to random places of the same matrix: as many kept, nowhere in particular."""
    grid = block_grid(mask, block)
    flat = grid.flatten()[torch.randperm(grid.numel(), generator=generator)].reshape(grid.shape)
    return flat.repeat_interleave(block[0], 0).repeat_interleave(block[1], 1)


def empty_heads(value_mask: Tensor, out_mask: Tensor, head_dim: int) -> int:
    """Heads packing removes, from V's ``(heads*d, hidden)`` and the output's ``(hidden, heads*d)`` maps of weights
    in use (a V row with no weight left has lost its bias too: a pruned run bakes it to zero, as
    :meth:`~bmp.pruning.masked.MaskedLinear.masked_weight_and_bias` does)."""
    return int((~alive_heads(value_mask.bool(), None, out_mask.bool(), head_dim)).sum())


def attention_masks(model, block: tuple[int, int]) -> list[tuple[Tensor, Tensor, int]]:
    """Per layer of a baked pruned model (zeros where it was masked, as packing sees it): V's and the output's maps
    of weights in use, and the head size. ``block``: the run's attention block, which must tile both matrices."""
    layers = []
    for part in encoder_layers(model):
        value, out = part.value.weight.detach() != 0, part.attn_out.weight.detach() != 0
        if any(size % step for matrix in (value, out) for size, step in zip(matrix.shape, block)):
            raise ValueError(f"layer {part.index}'s attention matrices {tuple(value.shape)} are not tiled by "
                             f"{block} blocks: give the block shape the run was pruned with")
        layers.append((value, out, part.head_dim))
    return layers


def compare(model, block: tuple[int, int], shuffles: int = SHUFFLES, seed: int = 0) -> dict:
    """The share of heads a baked pruned ``model`` has emptied, against ``shuffles`` random placements of the same
    ``block``-shaped blocks in each matrix. The densities are those of V and the attention output, the matrices
    that decide whether a head lives."""
    layers = attention_masks(model, block)
    heads = sum(value.shape[0] // head_dim for value, _, head_dim in layers)
    learned = sum(empty_heads(value, out, head_dim) for value, out, head_dim in layers)
    generator = torch.Generator().manual_seed(seed)
    draws = torch.tensor([
        sum(empty_heads(shuffled(value, block, generator), shuffled(out, block, generator), head_dim)
            for value, out, head_dim in layers) / heads
        for _ in range(shuffles)])
    kept = [float(mask.float().mean()) for value, out, _ in layers for mask in (value, out)]
    return {"heads": heads, "learned_empty": learned, "learned_empty_share": learned / heads,
            "random_empty_share": float(draws.mean()),
            "random_empty_share_range": [float(draws.quantile(0.025)), float(draws.quantile(0.975))],
            "value_output_density": sum(kept) / len(kept), "block": list(block), "shuffles": shuffles, "seed": seed}


def pruned_block(folder: Path) -> tuple[PruningConfig, tuple[int, int]]:
    """The run's pruning config (saved beside its baked model) and its attention block; refuses a run whose
    attention was not pruned in blocks (heads pruned whole have nothing to shuffle)."""
    path = folder / MASKED_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"--run {folder}: no {MASKED_CONFIG} there; give a pruned run's final folder, e.g. "
                                "runs/<run>/final")
    config = load_pruning_config(folder)
    if not isinstance(config.attention, tuple):
        raise ValueError(f"--run {folder} pruned attention by {config.attention!r}: this probe compares learned "
                         "blocks with shuffled ones, so use a block or hybrid run")
    return config, config.attention


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a pruned run's final folder (its baked model and config)")
    parser.add_argument("--shuffles", type=int, default=SHUFFLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="record name (default: the run's name)")
    parser.add_argument("--record", action="store_true", help="write the result to the results folder")
    args = parser.parse_args(argv)
    if args.shuffles < 1:
        raise ValueError(f"--shuffles {args.shuffles}: draw at least one random placement, e.g. {SHUFFLES}")
    from bmp.models import load_saved

    folder = Path(args.run)
    config, block = pruned_block(folder)
    name = args.name or (folder.parent.name if folder.name == "final" else folder.name)
    result = {"run": name, "method": config.method, **compare(load_saved(folder), block, args.shuffles, args.seed)}
    if args.record:
        from bmp.results.records import provenance, record, repo_relative

        path = record(name, KIND, result, provenance(base_model=repo_relative(folder), data_split="none (masks only)",
                                                      profile="bench", seed=args.seed),
                      config={"run": repo_relative(folder), "pruning": asdict(config)})
        result["record"] = repo_relative(path)
    return result


__all__ = ["KIND", "SHUFFLES", "attention_masks", "block_grid", "compare", "empty_heads", "pruned_block", "shuffled"]
