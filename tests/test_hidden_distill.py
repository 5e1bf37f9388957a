"""Hidden-state distillation: the layer-wise loss (CoFi's MSE, DistilBERT's cosine) and a run that uses it."""
import pytest
import torch

from bmp.models import load_tokenizer, tiny_bert
from bmp.squad import load_sample, tokenize_train, train_collator
from bmp.training.distill import Distillation, hidden_state_loss
from bmp.training.layer_drop import keep_layers
from bmp.training.trainer import DistillationTrainer


def states(layers: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(seed)
    return tuple(torch.randn(2, 5, 8) for _ in range(layers + 1))  # embeddings, then one per layer


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_the_same_states_cost_nothing_and_others_do(kind):
    config = Distillation(hidden=1.0, hidden_loss=kind)
    same = states(3)
    assert hidden_state_loss(same, same, config).item() == pytest.approx(0.0, abs=1e-6)
    assert hidden_state_loss(states(3, seed=1), same, config).item() > 0.1


def test_padding_carries_no_loss():
    config = Distillation(hidden=1.0)
    teacher = states(2)
    student = tuple(t.clone() for t in teacher)
    for s in student:
        s[:, 3:] += 5.0  # differs only where the mask says padding
    mask = torch.tensor([[1, 1, 1, 0, 0]] * 2)
    assert hidden_state_loss(student, teacher, config, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert hidden_state_loss(student, teacher, config).item() > 1.0


def test_a_layer_dropped_student_is_held_to_the_layers_it_kept():
    teacher = states(4)
    student = (teacher[0], teacher[1], teacher[3])  # student layers 0, 1 are the teacher's layers 0 and 2
    assert hidden_state_loss(student, teacher, Distillation(hidden=1.0, layers=(0, 2))).item() == pytest.approx(0.0)
    assert hidden_state_loss(student, teacher, Distillation(hidden=1.0)).item() > 0.1  # layer for layer: wrong
    with pytest.raises(ValueError, match="one teacher layer per student layer"):
        hidden_state_loss(student, teacher, Distillation(hidden=1.0, layers=(0, 7)))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match=">= 0"):
        Distillation(hidden=-1.0)
    with pytest.raises(ValueError, match="mse, cosine"):
        Distillation(hidden=1.0, hidden_loss="l1")


def test_a_layer_dropped_student_trains_with_the_cosine_loss(tmp_path):
    from transformers import TrainingArguments

    tokenizer = load_tokenizer()
    teacher = tiny_bert(num_hidden_layers=4)
    student = keep_layers(teacher, [0, 2]).train()
    windows = tokenize_train(load_sample().train[:16], tokenizer, 128, 48)
    trainer = DistillationTrainer(model=student, teacher=teacher, train_dataset=windows,
                                  data_collator=train_collator(tokenizer),
                                  distillation=Distillation(hidden=1.0, hidden_loss="cosine", layers=(0, 2)),
                                  args=TrainingArguments(str(tmp_path), max_steps=2, per_device_train_batch_size=8,
                                                         report_to=[], use_cpu=True, disable_tqdm=True))
    result = trainer.train()
    assert trainer.state.global_step == 2 and result.training_loss > 0
