"""Knowledge distillation: a small student learns from a teacher's softened outputs.

The loss mixes the usual cross-entropy on the labels with the KL divergence between the
teacher's and the student's class distributions at temperature T (Hinton, Vinyals & Dean
2015). A high T spreads the teacher's probability over the wrong classes too ("this 7
looks a bit like a 1"), which carries more information per example than the label alone.
The soft term's gradients shrink as 1/T², so it is multiplied by T² to keep its weight
independent of T. The student trains in labkit's one loop: `fit(..., teacher=…)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from labkit.data import Split
from labkit.train import History, TrainConfig, fit
from labkit.validate import ConfigError, check_float


@dataclass(frozen=True)
class DistillConfig:
    """How the student weighs the teacher against the labels. Validated on construction."""

    temperature: float = 4.0  # T > 0 softens both distributions; 1 leaves them as they are
    alpha: float = 0.9  # weight of the soft (teacher) term in [0, 1]; 1 − alpha on the labels

    def __post_init__(self) -> None:
        check_float("temperature", self.temperature, positive=True)
        check_float("alpha", self.alpha, minimum=0.0, maximum=1.0)


def distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """(1 − alpha) · CE(student, labels) + alpha · T² · KL(teacher_T ‖ student_T), the mean
    over the batch, where _T is the softmax at temperature T. alpha = 0 is plain
    cross-entropy; alpha = 1 learns from the teacher alone."""
    DistillConfig(temperature, alpha)  # validates both
    if student_logits.shape != teacher_logits.shape:
        raise ConfigError(
            f"student and teacher logits must have the same shape; got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    hard = F.cross_entropy(student_logits, labels)
    log_student = F.log_softmax(student_logits / temperature, dim=-1)  # (B, C)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)  # (B, C)
    soft = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True)
    return (1 - alpha) * hard + alpha * temperature**2 * soft


def distill(
    student: nn.Module,
    teacher: nn.Module,
    train: Split,
    config: TrainConfig,
    distill_config: DistillConfig | None = None,
    **fit_kwargs: Any,
) -> History:
    """Train `student` in place on `train` with `teacher`'s soft targets, in `labkit.fit`
    (so checkpoints, early stopping, augmentation and the rest work as for any run). The
    teacher only predicts: it stays in eval mode and is never updated."""
    distill_config = distill_config or DistillConfig()
    loss = partial(
        distillation_loss,
        temperature=distill_config.temperature,
        alpha=distill_config.alpha,
    )
    return fit(student, train, config, loss_fn=loss, teacher=teacher, **fit_kwargs)
