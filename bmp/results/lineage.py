"""What a pruned, packed or filled run descends from, read from the records: the pruned record behind it, and the
target (a size or a speed) that run was pruned to."""
from __future__ import annotations

from bmp.results.records import PRUNED_KINDS
from bmp.results.teachers import folder_key


def target_of(record: dict, records: list[dict]) -> dict | None:
    """``{"speedup": 2.5}`` or ``{"density": 0.3}`` for a run pruned to a target (a pruned record's recipe says so;
    a packed or filled one names its pruned folder), else None; with the pruned record's predictions."""
    pruned = pruned_of(record, records)
    if pruned is None:
        return None
    target = {k: v for k, v in ((pruned.get("config", {}).get("recipe") or {}).get("target") or {}).items()
              if v is not None}
    if not target:
        return None
    metrics = pruned.get("metrics", {})
    # records from before the steering method name none: the top-k was then the only way to follow a target
    recipe = pruned.get("config", {}).get("recipe") or {}
    method = recipe.get("target_method", "topk")
    lead = (recipe.get("steering") or {}).get("lead") if method == "steer" else None
    return {**target, "method": method, **({"lead": lead} if lead else {}), **{key: metrics[key] for key in
                                           ("predicted_speedup", "predicted_fill_rate", "final_lambda")
                                           if key in metrics}}


def pruned_of(record: dict, records: list[dict]) -> dict | None:
    """The pruned record behind a pruned, packed or filled record (a packed or filled one names its pruned folder),
    or None."""
    if record.get("kind") == "pruned":
        return record
    if record.get("kind") not in PRUNED_KINDS:
        return None
    folder = folder_key(record.get("config", {}).get("pruned", ""))
    return next((r for r in records if r.get("kind") == "pruned"
                 and folder_key(r.get("config", {}).get("output_dir", "")) == folder), None)


__all__ = ["pruned_of", "target_of"]
