"""How hard the L1 pull is against the movement signal, for each kind of score: why struct lost its heads.

For every score, the L1 gradient (lambda = 10 on both parts, ``head_scale`` 1, full schedule progress) is divided by
the spread of its movement gradient across batches of real training windows. Under Adam a score whose ratio is
large walks down steadily; one whose ratio is small follows its movement signal. The medians per kind (head,
32x32 block, FFN neuron) are printed, with the head scale that would give heads a block's ratio.

    python -m bmp.bench score_balance --teacher runs/teacher-course/final [--batches 8 --profile course]
"""
from __future__ import annotations

import argparse
import copy

import torch

from bmp.pruning.granularity import preset
from bmp.pruning.masked import UnitScores, add_masks, masked_modules, set_threshold
from bmp.pruning.regularization import Regularization, l1_sigmoid


def _kind(module) -> str:
    return module.kind if isinstance(module, UnitScores) else ("block" if module.part == "attention" else "ffn-block")


def score_ratios(model, batches, regularization: Regularization = Regularization(10.0, 10.0, head_scale=1.0)
                 ) -> dict[str, float]:
    """Median over scores of |L1 gradient| / std over batches of the movement gradient, per kind of score."""
    modules = masked_modules(model)
    set_threshold(model, 0.0)
    movement = {id(m): [] for m in modules}
    model.train()
    for batch in batches:
        model.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        for m in modules:
            movement[id(m)].append(m.scores.grad.detach().clone())
    model.zero_grad(set_to_none=True)
    l1_sigmoid(model, regularization).backward()
    ratios: dict[str, list[torch.Tensor]] = {}
    for m in modules:
        noise = torch.stack(movement[id(m)]).std(dim=0).clamp_min(1e-12)
        ratios.setdefault(_kind(m), []).append((m.scores.grad.abs() / noise).flatten())
    return {kind: round(float(torch.cat(r).median()), 3) for kind, r in ratios.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True, help="a fine-tuned dense QA model folder")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args(argv)
    from bmp.models import load_saved, load_tokenizer
    from bmp.profiles import get_profile
    from bmp.squad import train_collator
    from bmp.training.evaluation import prepare_data

    profile = get_profile(args.profile)
    tokenizer = load_tokenizer(args.teacher)
    data = prepare_data(profile, tokenizer)
    collate = train_collator(tokenizer)
    torch.manual_seed(0)
    picks = torch.randperm(len(data.train_features))[: args.batches * profile.batch_size].tolist()
    batches = [collate([data.train_features[i] for i in picks[b * profile.batch_size:(b + 1) * profile.batch_size]])
               for b in range(args.batches)]
    teacher = load_saved(args.teacher)
    result = {}
    for name in ("struct", "hybrid"):
        result[name] = score_ratios(add_masks(copy.deepcopy(teacher), preset(name)), batches)
    head, block = result["struct"]["head"], result["hybrid"]["block"]
    return {**result, "head_ratio": head, "block_ratio": block, "neuron_ratio": result["hybrid"]["neuron"],
            "head_scale_for_block_balance": round(block / head, 3), "teacher": args.teacher,
            "batches": args.batches, "profile": profile.name}


if __name__ == "__main__":
    import json

    print(json.dumps(main()))
