"""Distillation: the loss is cross-entropy at alpha 0 and a hand computation otherwise,
and a student trains against its teacher inside labkit's one loop."""

import math

import pytest
import torch
import torch.nn.functional as F

import labkit
from labkit.compress.distill import DistillConfig, distill, distillation_loss


def _logits(seed, shape=(5, 4)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_alpha_zero_is_plain_cross_entropy():
    s, t, y = _logits(0), _logits(1), torch.tensor([0, 1, 2, 3, 0])
    loss = distillation_loss(s, y, t, temperature=7.0, alpha=0.0)
    assert torch.allclose(loss, F.cross_entropy(s, y))


def test_the_loss_matches_a_hand_computation():
    s, t, y = _logits(0, (2, 3)), _logits(1, (2, 3)), torch.tensor([2, 0])
    T, alpha = 3.0, 0.7
    soft = 0.0
    for i in range(2):
        p = [math.exp(v / T) for v in t[i].tolist()]
        p = [v / sum(p) for v in p]
        r = [math.exp(v / T) for v in s[i].tolist()]
        r = [v / sum(r) for v in r]
        soft += sum(pi * math.log(pi / ri) for pi, ri in zip(p, r, strict=True)) / 2
    hard = sum(-math.log(math.exp(s[i, y[i]]) / sum(math.exp(v) for v in s[i])) for i in range(2))
    expected = (1 - alpha) * hard / 2 + alpha * T**2 * soft
    assert distillation_loss(s, y, t, temperature=T, alpha=alpha).item() == pytest.approx(expected)


def test_the_soft_term_vanishes_when_the_student_copies_the_teacher():
    t, y = _logits(1), torch.tensor([0, 1, 2, 3, 0])
    assert distillation_loss(t, y, t, alpha=1.0).item() == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize(("field", "value"), [("temperature", 0.0), ("temperature", -1.0),
                                              ("alpha", -0.1), ("alpha", 1.5)])  # fmt: skip
def test_bad_temperature_and_alpha_are_refused_by_name(field, value):
    with pytest.raises(labkit.ConfigError, match=field):
        DistillConfig(**{field: value})
    with pytest.raises(labkit.ConfigError, match=field):
        distillation_loss(
            _logits(0), torch.zeros(5, dtype=torch.long), _logits(1), **{field: value}
        )


def test_a_student_learns_from_a_teacher_in_fit_and_the_teacher_is_untouched():
    data = labkit.load_digits(seed=0)
    labkit.seed_everything(0)
    teacher = labkit.MLP(hidden=(128,))
    labkit.fit(teacher, data.train, labkit.TrainConfig(epochs=5, device="cpu"), show_progress=False)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = labkit.MLP(hidden=(64,))
    config = labkit.TrainConfig(epochs=10, device="cpu")
    history = distill(student, teacher, data.train, config, DistillConfig(4.0, 1.0), val=data.val,
                      show_progress=False)  # fmt: skip
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert not teacher.training
    # Trained on the teacher alone (alpha 1), the student still learns the labels.
    assert history.val_accuracy[-1] > 0.9
    # The validation loss is the student's cross-entropy on the labels.
    assert history.val_loss[-1] == pytest.approx(labkit.evaluate(student, data.val)["loss"])
