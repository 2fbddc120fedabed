"""Notebook 09's exercises: the references pass, placeholders are "not attempted", and each
diagnosed mistake gets its own hint."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_checks import assert_wrong

from labkit.compress.distill import distillation_loss
from labkit.exercises import check

# ---- soft_gradient -------------------------------------------------------------------------


def soft_gradient(s, t, T):
    q, p = torch.softmax(s / T, dim=-1), torch.softmax(t / T, dim=-1)
    return (q - p) / (T * len(s))


def by_autograd(s, t, T):
    s = s.clone().requires_grad_(True)
    kl = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), reduction="batchmean",
                  log_target=True)  # fmt: skip
    (grad,) = torch.autograd.grad(kl, s)
    return grad


def with_numpy(s, t, T):
    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    s, t = np.asarray(s), np.asarray(t)
    return (softmax(s / T) - softmax(t / T)) / (T * len(s))


@pytest.mark.parametrize(
    "answer",
    [soft_gradient, by_autograd, with_numpy, lambda s, t, T: soft_gradient(s, t, T).float()],
)
def test_soft_gradient_accepts_every_correct_answer(answer):
    result = check("soft_gradient", answer)
    assert result.passed and "5 batches" in result.message, result


def unsoftened(student, teacher):
    def answer(s, t, T):
        q = torch.softmax(s / (1 if student else T), -1)
        p = torch.softmax(t / (1 if teacher else T), -1)
        return (q - p) / (T * len(s))

    return answer


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda s, t, T: soft_gradient(s, t, T) * T, "you dropped the 1/T of the chain rule"),
        (lambda s, t, T: -soft_gradient(s, t, T), "wrong sign"),
        (lambda s, t, T: soft_gradient(s, t, T) * len(s), "you summed over the batch"),
        (lambda s, t, T: soft_gradient(s, t, T) * T**2, "that is the gradient of T²·KL"),
        (unsoftened(True, False), "you softened only the teacher"),
        (unsoftened(False, True), "you softened only the student"),
        (lambda s, t, T: soft_gradient(s, t, T) / s.shape[1], "you averaged over every element"),
        (lambda s, t, T: soft_gradient(s, t, T)[0], "return one number per logit, shape"),
        (lambda s, t, T: soft_gradient(s, t, T) + 1e-3, "4 × 10 logits at T = 4, entry ("),
        (lambda s, t, T: "(q - p) / T", "return the gradient as a tensor or array"),
        (lambda s, t, T: soft_gradient(s, t, T) * float("nan"), "nan or inf"),
        (lambda s, t, T: s.foo, "raised AttributeError"),
    ],
)
def test_soft_gradient_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("soft_gradient", answer), hint)


def test_soft_gradient_placeholder_is_not_attempted():
    def answer(s, t, T):
        raise NotImplementedError

    assert check("soft_gradient", answer).status == "not attempted"


# ---- distill_step --------------------------------------------------------------------------


def step(student, teacher, x, y, optimizer, T, alpha, *, mistake=""):
    if mistake != "teacher train":
        teacher.eval()
    if mistake == "student eval":
        student.eval()
    if mistake == "grad through teacher":
        soft = teacher(x)
    else:
        with torch.no_grad():
            soft = teacher(x)
    logits = student(x)
    if mistake == "labels only":
        loss = F.cross_entropy(logits, y)
    elif mistake == "no T squared":
        kl = F.kl_div(F.log_softmax(logits / T, -1), F.log_softmax(soft / T, -1),
                      reduction="batchmean", log_target=True)  # fmt: skip
        loss = (1 - alpha) * F.cross_entropy(logits, y) + alpha * kl
    else:
        weight = 1 - alpha if mistake == "alpha swapped" else alpha
        loss = distillation_loss(logits, y, soft, temperature=T, alpha=weight)
    if mistake != "no zero_grad":
        optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if mistake == "teacher stepped":
        with torch.no_grad():
            for p in teacher.parameters():
                p.mul_(0.99)
    if mistake == "loss after":
        with torch.no_grad():
            return distillation_loss(student(x), y, soft, temperature=T, alpha=alpha).item()
    return loss if mistake == "tensor" else loss.item()


def student_first(student, teacher, x, y, optimizer, T, alpha):
    logits = student(x)  # the student's forward first: the teacher in eval mode draws nothing
    teacher.eval()
    with torch.no_grad():
        soft = teacher(x).detach()
    loss = distillation_loss(logits, y, soft, temperature=T, alpha=alpha)
    optimizer.zero_grad(set_to_none=False)
    loss.backward()
    optimizer.step()
    return float(loss)


@pytest.mark.parametrize(
    "answer",
    [step, student_first, lambda *a: step(*a, mistake="tensor")],
    ids=["ref", "order", "tensor"],
)
def test_distill_step_accepts_every_correct_answer(answer):
    result = check("distill_step", answer)
    assert result.passed and "4 cases" in result.message, result


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        ("teacher train", "put the teacher in eval mode"),
        ("grad through teacher", "gradients flowed into the teacher"),
        ("teacher stepped", "the teacher's weights changed"),
        ("no T squared", "the soft term must be multiplied by T²"),
        ("alpha swapped", "you swapped them"),
        ("labels only", "you trained on the labels alone"),
        ("no zero_grad", "clear the gradients before each backward"),
        ("student eval", "leave it in training mode"),
        ("loss after", "return the loss computed before the step"),
    ],
)
def test_distill_step_diagnoses_each_mistake(mistake, hint):
    assert_wrong(check("distill_step", lambda *a: step(*a, mistake=mistake)), hint)


def test_distill_step_other_wrong_answers_get_a_hint():
    assert_wrong(check("distill_step", lambda *a: "0.5"), "return the batch's loss as one number")
    assert_wrong(check("distill_step", lambda *a: step(*a) + 1.0), "the losses you returned")
    doubled = lambda s, t, x, y, o, T, a: step(s, t, x, y, o, T, min(1.0, 2 * a))  # noqa: E731
    assert_wrong(check("distill_step", doubled), "the student's weights differ from one step")
    assert_wrong(check("distill_step", lambda *a: a[99]), "raised IndexError")


def test_distill_step_leaves_the_learners_rng_and_threads_as_they_were():
    torch.manual_seed(123)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    assert check("distill_step", step).passed
    assert torch.equal(torch.rand(3), expected) and torch.get_num_threads() == threads
