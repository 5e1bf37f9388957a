"""Knowledge distillation for extractive QA: a pure loss on start/end logits."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Distillation:
    """KL at ``temperature`` weighted ``alpha``, plus the task cross-entropy weighted ``1 - alpha``
    (reference: 2, 0.9)."""

    temperature: float = 2.0
    alpha: float = 0.9

    def __post_init__(self):
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")


def kd_loss(student: Tensor, teacher: Tensor, temperature: float, mask: Tensor | None = None) -> Tensor:
    """KL(teacher || student) on softened (B, T) logits, times T^2 so gradients keep their scale across T.

    ``mask`` (B, T) marks real tokens; padded positions get -inf logits so they carry no probability.
    """
    if mask is not None:
        neg = -1e4 if student.dtype in (torch.float16, torch.bfloat16) else -1e9
        student = student.masked_fill(mask == 0, neg)
        teacher = teacher.masked_fill(mask == 0, neg)
    log_p_student = F.log_softmax(student / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher / temperature, dim=-1)
    return F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean") * temperature ** 2


def qa_distillation_loss(student_start: Tensor, student_end: Tensor, teacher_start: Tensor, teacher_end: Tensor,
                         task_loss: Tensor | None, config: Distillation, mask: Tensor | None = None) -> Tensor:
    kd = 0.5 * (kd_loss(student_start, teacher_start, config.temperature, mask)
                + kd_loss(student_end, teacher_end, config.temperature, mask))
    if task_loss is None:
        return kd
    return config.alpha * kd + (1.0 - config.alpha) * task_loss


def check_teacher(student, teacher) -> None:
    """Fail early when the teacher can't read the student's token ids."""
    s_vocab, t_vocab = student.config.vocab_size, teacher.config.vocab_size
    if s_vocab != t_vocab:
        raise ValueError(
            f"teacher vocabulary ({t_vocab}) differs from the student's ({s_vocab}): distil from a teacher fine-tuned "
            "from the same base model (same tokenizer), e.g. the dense teacher of notebook 04")
