"""ScoreSnapshots: the scores against the threshold at chosen points of the schedule (notebook 05's histograms)."""
import pytest
from transformers import TrainingArguments

import bmp
from bmp.squad import load_sample, tokenize_train, train_collator
from bmp.training.trainer import PruningRecipe, PruningTrainer, ScoreSnapshots


def test_snapshots_are_taken_at_the_asked_steps_and_the_threshold_rises(tmp_path):
    teacher, tokenizer = bmp.load_base("tiny")
    recipe = PruningRecipe(pruning=bmp.preset("hybrid"), score_learning_rate=1.0)
    student = bmp.add_masks(bmp.tiny_bert(), recipe.pruning)
    windows = tokenize_train(load_sample().train[:64], tokenizer, 128, 48)
    snapshots = ScoreSnapshots(at=(0.25, 1.0))
    trainer = PruningTrainer(model=student, args=TrainingArguments(str(tmp_path), max_steps=8, report_to=[],
                                                                   per_device_train_batch_size=8, use_cpu=True,
                                                                   disable_tqdm=True),
                             train_dataset=windows, data_collator=train_collator(tokenizer), recipe=recipe,
                             teacher=teacher, callbacks=[snapshots])
    trainer.train()
    assert [step for step, _, _ in snapshots.snapshots] == [2, 8]
    (_, early, first), (_, late, last) = snapshots.snapshots
    assert late > early and first.shape == last.shape and ((0 <= last) & (last <= 1)).all()
    assert last.mean() < first.mean()  # the L1 pull on sigmoid(scores) lowers them as the schedule proceeds


def test_snapshot_points_are_shares_of_the_steps():
    with pytest.raises(ValueError, match="shares of the steps"):
        ScoreSnapshots(at=(0.0, 2.0))
