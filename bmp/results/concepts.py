"""The probes behind notebook 05's concepts (``scripts/probe_concepts.sh``, records in ``data/results/concepts``):

- movement against magnitude, at equal densities: :func:`movement_vs_magnitude`;
- learned blocks against random blocks, the share of heads packing removes: :func:`empty_head_shares`.

Both read records only; a missing folder gives empty tables, and the notebook says how to make them.
"""
from __future__ import annotations

from pathlib import Path

from bmp.results.records import RESULTS_DIR, load_records

CONCEPTS_DIR = RESULTS_DIR / "concepts"
PROBE_PREFIX = "probe-"  # probe-<movement|magnitude>-<preset>-keep<share>
EMPTY_HEADS_KIND = "empty-heads"  # python -m bmp.bench empty_heads --record


def concept_records(directory: str | Path = CONCEPTS_DIR) -> list[dict]:
    directory = Path(directory)
    return load_records(directory) if directory.is_dir() else []


def _probe(name: str) -> tuple[str, float] | None:
    """``("movement", 0.25)`` from ``probe-movement-block-keep0.25``; None for other names."""
    if not name.startswith(PROBE_PREFIX) or "-keep" not in name:
        return None
    method = name[len(PROBE_PREFIX):].split("-")[0]
    return method, float(name.rsplit("-keep", 1)[1])


def movement_vs_magnitude(records: list[dict]) -> list[dict]:
    """One row per probe: method, share kept per matrix, the linear density it reached, validation and held-out F1,
    steps, heads kept. Sorted by share kept, then method."""
    rows = []
    for record in records:
        probe = _probe(record["name"]) if record.get("kind") == "pruned" else None
        if probe is None:
            continue
        m = record["metrics"]
        rows.append({"method": probe[0], "keep": probe[1], "linear_density": m.get("linear_density"),
                     "validation_f1": m.get("validation_f1"), "f1": m.get("f1"), "steps": m.get("train_steps"),
                     "heads": sum(m.get("heads_per_layer") or []), "name": record["name"]})
    return sorted(rows, key=lambda row: (-row["keep"], row["method"]))


def empty_head_shares(records: list[dict]) -> list[dict]:
    """One row per run probed: the learned share of empty heads, the random one (mean and 95% range of the
    shuffles and their number), the density of V and the attention output (the matrices that decide whether a head
    lives) and the heads counted."""
    rows = []
    for record in records:
        if record.get("kind") != EMPTY_HEADS_KIND:
            continue
        m = record["metrics"]
        rows.append({"run": record["name"], "method": m.get("method"), "density": m["value_output_density"],
                     "learned": m["learned_empty_share"], "random": m["random_empty_share"],
                     "random_range": tuple(m["random_empty_share_range"]), "shuffles": m["shuffles"],
                     "heads": m["heads"]})
    return sorted(rows, key=lambda row: (-row["density"], row["run"]))


def concept_lines(records: list[dict]) -> list[str]:
    """The two probes as Markdown lines for ``docs/results.md``: one table each (nothing when unrecorded)."""
    lines = []
    contest = movement_vs_magnitude(records)
    if contest:
        lines += ["| method | share of every matrix kept | linear density | steps | heads kept | validation F1 | "
                  "held-out F1 |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {row['method']} | {row['keep']:g} | {row['linear_density']:.3f} | {row['steps']} | "
                  f"{row['heads']} | {row['validation_f1']:.1f} | {row['f1']:.1f} |" for row in contest]
    shares = empty_head_shares(records)
    if shares:
        lines += ["", "| run | V and attention output kept | heads emptied, learned blocks | the same blocks "
                      "shuffled (95% of draws) |", "|---|---|---|---|"]
        lines += [f"| {row['run']} | {row['density']:.0%} | {row['learned']:.0%} of {row['heads']} | "
                  f"{row['random']:.1%} ({row['random_range'][0]:.1%}–{row['random_range'][1]:.1%}, "
                  f"{row['shuffles']} draws) |" for row in shares]
    return lines


__all__ = ["CONCEPTS_DIR", "EMPTY_HEADS_KIND", "concept_lines", "concept_records", "empty_head_shares",
           "movement_vs_magnitude"]
