"""Matmul FLOPs of a BERT encoder, to say how much faster a packed model *should* be.

Packing shrinks the six linear layers of each layer, but not the attention products (Q·Kᵀ and A·V, which shrink
only with the head count and grow with the square of the sequence), nor softmax, LayerNorm, GELU, the embeddings
and the QA head. So a packed model's speedup falls short of its linear-FLOP reduction by the share of that other
work; :func:`flop_check` says by how much, and why.
"""
from __future__ import annotations

from bmp.pruning.anatomy import encoder_layers


def encoder_flops(model, seq: int) -> dict[str, int]:
    """Multiply-add FLOPs (x2) per sequence: ``linear`` (the six linears) and ``attention`` (Q·Kᵀ and A·V)."""
    linear = attention = 0
    for part in encoder_layers(model):
        linear += 2 * seq * sum(lin.weight.numel() for lin in part.linears().values())
        attention += 2 * 2 * seq * seq * part.num_heads * part.head_dim
    return {"linear": linear, "attention": attention, "matmul": linear + attention}


def flop_check(model, dense, speedup: float, seq: int, target: float = 0.9) -> dict:
    """Compare a measured ``speedup`` with the linear-FLOP reduction; explain a shortfall below ``target``."""
    mine, base = encoder_flops(model, seq), encoder_flops(dense, seq)
    linear_reduction = base["linear"] / max(mine["linear"], 1)
    matmul_reduction = base["matmul"] / max(mine["matmul"], 1)
    ratio = speedup / linear_reduction
    check = {"speedup": round(speedup, 3), "linear_flop_reduction": round(linear_reduction, 3),
             "matmul_flop_reduction": round(matmul_reduction, 3), "ratio_to_linear_reduction": round(ratio, 3),
             "meets_target": ratio >= target, "target": target}
    if ratio < target:
        share = mine["attention"] / mine["matmul"]
        check["why"] = (
            f"at sequence {seq}, attention products (Q·Kᵀ, A·V) are {share:.0%} of the packed model's matmul FLOPs "
            f"(dense: {base['attention'] / base['matmul']:.0%}); with them the FLOP reduction is only "
            f"{matmul_reduction:.2f}x (speedup/that = {speedup / matmul_reduction:.2f}); softmax, LayerNorm, GELU, "
            "embeddings and the QA head do not shrink with packing either")
    return check
