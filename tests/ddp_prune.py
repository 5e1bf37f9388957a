"""Run by tests/test_trainer.py under `torchrun --nproc_per_node 2` (gloo, CPU): each rank saves its final masks."""
import sys

import torch
import torch.distributed as dist
from trainer_helpers import make_trainer, masks_of

if __name__ == "__main__":
    out = sys.argv[1]
    trainer = make_trainer(out, max_steps=6, save_steps=100, ddp_backend="gloo")
    trainer.train()
    rank = dist.get_rank() if dist.is_initialized() else 0
    torch.save([m.detach() for m in masks_of(trainer.model)], f"{out}/masks_rank{rank}.pt")
