"""Reference solution of notebook 05's exercise (the distillation loss). Headless runs (``BMP_SOLUTIONS=1``) use
it in place of the notebook's stub; try the exercise before reading it."""
import torch


def my_kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
               mask: torch.Tensor) -> torch.Tensor:
    """KL(p_teacher || p_student) at ``temperature`` over the real tokens of each row, mean over rows, times T²."""
    real = mask.bool()
    log_p_student = (student / temperature).masked_fill(~real, float("-inf")).log_softmax(dim=-1)
    log_p_teacher = (teacher / temperature).masked_fill(~real, float("-inf")).log_softmax(dim=-1)
    per_token = log_p_teacher.exp() * (log_p_teacher - log_p_student)
    per_row = torch.where(real, per_token, torch.zeros_like(per_token)).sum(dim=-1)  # (B,): padding adds nothing
    return per_row.mean() * temperature ** 2
