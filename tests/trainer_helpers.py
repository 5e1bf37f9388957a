"""A tiny synthetic QA task and pruning-trainer factory shared by the trainer tests and the torchrun script."""
import torch
from transformers import TrainerCallback, TrainingArguments

from bmp.models import tiny_bert
from bmp.pruning.granularity import preset
from bmp.pruning.masked import add_masks, masked_modules
from bmp.pruning.regularization import Regularization
from bmp.training.distill import Distillation
from bmp.training.trainer import PruningRecipe, PruningTrainer


def synthetic_qa(n=48, seq=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ids = torch.randint(1000, 3000, (seq,), generator=g)
        start = int(torch.randint(1, seq - 3, (1,), generator=g))
        ids[start - 1] = 7  # a cue token before the answer makes the task learnable
        rows.append({"input_ids": ids, "attention_mask": torch.ones(seq, dtype=torch.long),
                     "token_type_ids": torch.zeros(seq, dtype=torch.long),
                     "start_positions": torch.tensor(start), "end_positions": torch.tensor(start + 2)})
    return rows


RECIPE = PruningRecipe(pruning=preset("hybrid", attention=(16, 16), score_init=-1.5),
                       regularization=Regularization(20.0, 20.0),
                       distillation=Distillation(), score_learning_rate=0.5, schedule_warmup=0.0,
                       schedule_cooldown=0.25)


def make_trainer(output_dir, max_steps=8, save_steps=4, with_teacher=True, **arg_overrides):
    student = add_masks(tiny_bert(seed=0), RECIPE.pruning)
    teacher = tiny_bert(seed=1) if with_teacher else None
    args = TrainingArguments(
        output_dir=str(output_dir), max_steps=max_steps, per_device_train_batch_size=8, learning_rate=1e-3,
        save_strategy="steps", save_steps=save_steps, logging_steps=1, report_to=[], seed=0, data_seed=0,
        use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, **arg_overrides)
    return PruningTrainer(model=student, args=args, train_dataset=synthetic_qa(), recipe=RECIPE, teacher=teacher)


def masks_of(model):
    return [m.block_mask() if hasattr(m, "block_mask") else m.mask() for m in masked_modules(model)]


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control
