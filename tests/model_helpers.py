"""Tiny inputs and randomized masked models shared by the equivalence tests."""
import torch

from bmp.pruning.masked import masked_modules


def inputs(seed=0, batch=2, seq=12):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 2000, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[1, seq - 4:] = 0  # padding in the second row
    return {"input_ids": ids, "attention_mask": mask}


def randomize_scores(model, seed=1):
    """Random scores, and random biases too (BERT starts them at zero, which would hide bias bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        for module in masked_modules(model):
            module.scores.copy_(torch.randn(module.scores.shape, generator=g))
