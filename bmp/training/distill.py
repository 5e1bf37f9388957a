"""Knowledge distillation for extractive QA: pure losses on start/end logits and, optionally, on the hidden states
layer by layer (CoFi's layer-wise MSE, or DistilBERT's cosine)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

HIDDEN_LOSSES = ("mse", "cosine")


@dataclass(frozen=True)
class Distillation:
    """KL at ``temperature`` weighted ``alpha``, plus the task cross-entropy weighted ``1 - alpha``
    (reference: 2, 0.9); plus ``hidden`` times a layer-wise loss between the student's and the teacher's hidden
    states (``hidden_loss``: ``"mse"`` as CoFi, ``"cosine"`` as DistilBERT; 0 turns it off, the default).
    ``layers``: the teacher layer each student layer is held to (None: the same depth, layer for layer)."""

    temperature: float = 2.0
    alpha: float = 0.9
    hidden: float = 0.0
    hidden_loss: str = "mse"
    layers: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.hidden < 0:
            raise ValueError(f"the hidden-state distillation weight must be >= 0, got {self.hidden}")
        if self.hidden_loss not in HIDDEN_LOSSES:
            raise ValueError(f"hidden_loss {self.hidden_loss!r}: choose one of {', '.join(HIDDEN_LOSSES)}")
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))


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


def hidden_state_loss(student: tuple[Tensor, ...], teacher: tuple[Tensor, ...], config: Distillation,
                      mask: Tensor | None = None) -> Tensor:
    """The mean over student layers of ``config.hidden_loss`` between each layer's output (B, T, H) and the
    teacher layer it is held to, over real tokens only. ``student`` / ``teacher``: the models' ``hidden_states``
    (the embeddings first, then one per layer)."""
    layers = config.layers if config.layers is not None else tuple(range(len(student) - 1))
    if len(layers) != len(student) - 1 or max(layers, default=-1) >= len(teacher) - 1:
        raise ValueError(f"hidden-state distillation holds {len(student) - 1} student layers to teacher layers "
                         f"{list(layers)}, but the teacher has {len(teacher) - 1}: give one teacher layer per student "
                         "layer (Distillation(layers=...))")
    weights = None if mask is None else mask.unsqueeze(-1).to(student[-1].dtype)  # (B, T, 1)
    losses = []
    for index, source in enumerate(layers):
        s, t = student[index + 1], teacher[source + 1]  # (B, T, H): layer outputs, after the embeddings
        if config.hidden_loss == "cosine":
            per_token = 1.0 - F.cosine_similarity(s, t, dim=-1).unsqueeze(-1)  # (B, T, 1)
        else:
            per_token = (s - t).pow(2).mean(dim=-1, keepdim=True)  # (B, T, 1)
        if weights is None:
            losses.append(per_token.mean())
        else:
            losses.append((per_token * weights).sum() / weights.sum().clamp(min=1.0))
    return torch.stack(losses).mean()


def check_teacher(student, teacher) -> None:
    """Fail early when the teacher can't read the student's token ids."""
    s_vocab, t_vocab = student.config.vocab_size, teacher.config.vocab_size
    if s_vocab != t_vocab:
        raise ValueError(
            f"teacher vocabulary ({t_vocab}) differs from the student's ({s_vocab}): distil from a teacher fine-tuned "
            "from the same base model (same tokenizer), e.g. the dense teacher of notebook 04")
