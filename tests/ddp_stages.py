"""Run by tests/test_stages.py under `torchrun --nproc_per_node 2` (gloo, CPU), and once as one process, for
comparison: bmp.prune then bmp.finalize on every process, as a user's script would be launched. Only the main
process may write. The batches are taken in file order and split over the processes, so every step sees the same
questions however many processes share it."""
import os
import sys

import torch.distributed as dist
from transformers import TrainingArguments

import bmp

if __name__ == "__main__":
    teacher, train, dev, out = sys.argv[1:5]
    world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun sets it; one process otherwise
    data = bmp.load_squad(train=train, validation=dev)

    def args(steps: int) -> TrainingArguments:
        return TrainingArguments(out, max_steps=steps, per_device_train_batch_size=8 // world, learning_rate=5e-4,
                                 report_to=[], use_cpu=True, save_steps=2, disable_tqdm=True,
                                 ddp_backend="gloo" if world > 1 else None,
                                 train_sampling_strategy="sequential")

    run = bmp.prune(teacher, data, preset="hybrid", lam=200, score_lr=1.0, output_dir=f"{out}/pruned",
                    args=args(4), profile="smoke")
    small = bmp.finalize(run, teacher, data, args=args(2), profile="smoke")
    rank = dist.get_rank() if dist.is_initialized() else 0
    # every process ends with the same saved model loaded; only the main one has metrics and a record
    print(f"rank {rank}: record={small.record_path} f1={small.metrics.get('f1')} "
          f"heads={small.model.config.heads_per_layer}", flush=True)
