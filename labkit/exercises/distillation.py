"""Notebook 09 (distillation): `soft_gradient` and `distill_step`.

`soft_gradient(student_logits, teacher_logits, temperature)` is graded on batches of one to
eight rows of three to ten classes at temperatures from 0.5 to 20, against the closed form
of the gradient of KL(p_T ‖ q_T), averaged over the batch, with respect to the student's
logits: (q_T − p_T) / (T · B). `distill_step(student, teacher, x, y, optimizer, temperature,
alpha)` is graded over three steps in a row on small networks with dropout (the teacher
arrives in training mode), with SGD with momentum and with Adam, against one step of
`labkit.fit(..., teacher=…)` with `labkit.compress.distill.distillation_loss`: the student's
weights after every step and the loss it returns. When an answer is wrong, each checker
looks for the common mistake it matches (the 1/T of the chain rule dropped, the sign
flipped, summed over the batch, the T² factor included, one side not softened, a mean over
every element; the teacher left in training mode, gradients flowing into the teacher, no
T², alpha on the wrong term, the labels alone, no zero_grad, the student put in eval mode,
the loss after the step) and returns that mistake's hint. Exposed as `EXERCISES`, which
`labkit.exercises` merges.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labkit.compress.distill import distillation_loss
from labkit.exercises.core import Exercise, array, call, scalar

# ---- soft_gradient -------------------------------------------------------------------------


def _soft_gradient(
    s: torch.Tensor, t: torch.Tensor, temperature: float, *, mistake: str = ""
) -> np.ndarray:
    """Reference (mistake=''): (softmax(s/T) − softmax(t/T)) / (T·B). The mistakes replay
    wrong answers."""
    b, c = s.shape
    q = torch.softmax(s / (1.0 if mistake == "student unsoftened" else temperature), dim=-1)
    p = torch.softmax(t / (1.0 if mistake == "teacher unsoftened" else temperature), dim=-1)
    scale = {
        "no 1/T": 1 / b,
        "sign": -1 / (temperature * b),
        "sum": 1 / temperature,
        "T squared": temperature / b,
        "mean": 1 / (temperature * b * c),
    }.get(mistake, 1 / (temperature * b))
    return ((q - p) * scale).double().numpy()


def _gradient_cases() -> list[tuple[torch.Tensor, torch.Tensor, float, str]]:
    g = torch.Generator().manual_seed(9)
    cases = []
    for b, c, temperature in ((4, 10, 4.0), (1, 3, 1.0), (8, 5, 20.0), (3, 10, 2.0), (5, 4, 0.5)):
        s = 3 * torch.randn(b, c, generator=g, dtype=torch.float64)
        t = 3 * torch.randn(b, c, generator=g, dtype=torch.float64)
        cases.append((s, t, temperature, f"a batch of {b} × {c} logits at T = {temperature:g}"))
    return cases


_GRADIENT_MISTAKES = (
    (
        "no 1/T",
        "you dropped the 1/T of the chain rule: the softmax takes z/T, so ∂/∂z = (1/T)·∂/∂(z/T); "
        "the gradient is (q_T − p_T)/(T·B)",
    ),
    (
        "sign",
        "wrong sign: the gradient is q_T − p_T (the student's minus the teacher's), so that a "
        "step against it moves the student's distribution toward the teacher's",
    ),
    (
        "sum",
        "you summed over the batch: 'batchmean' divides by the batch size B, (q_T − p_T)/(T·B)",
    ),
    (
        "T squared",
        "that is the gradient of T²·KL, the soft term as the loss uses it: T·(q_T − p_T)/B. The "
        "task asks for KL alone, (q_T − p_T)/(T·B); the loss multiplies by T² precisely to "
        "cancel how this shrinks (about 1/T² for large T)",
    ),
    (
        "student unsoftened",
        "you softened only the teacher: the student's probabilities are taken at temperature "
        "T too, q_T = softmax(student_logits / T)",
    ),
    (
        "teacher unsoftened",
        "you softened only the student: the teacher's soft targets are p_T = "
        "softmax(teacher_logits / T), at the same temperature",
    ),
    (
        "mean",
        "you averaged over every element (B·C, like F.kl_div's reduction='mean'): KL sums over "
        "the classes and averages over the batch only ('batchmean')",
    ),
)


def _close(out: np.ndarray, want: np.ndarray) -> bool:
    return out.shape == want.shape and bool(
        np.allclose(out, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max() or 1.0))
    )


def _check_soft_gradient(fn: Any) -> str | None:
    cases = _gradient_cases()
    outs = []
    for s, t, temperature, on in cases:
        out = array(call(fn, s.clone(), t.clone(), temperature, on=on))
        if out is None:
            return f"return the gradient as a tensor or array of shape {tuple(s.shape)}; on {on}"
        if out.shape != tuple(s.shape):
            return (
                f"return one number per logit, shape {tuple(s.shape)} (B, C), not "
                f"{out.shape}, on {on}"
            )
        if not np.isfinite(out).all():
            return f"your gradient has nan or inf on {on}: use torch.softmax, which is stable"
        outs.append(out)
    if all(
        _close(o, _soft_gradient(s, t, temp))
        for o, (s, t, temp, _) in zip(outs, cases, strict=True)
    ):
        return None
    for mistake, hint in _GRADIENT_MISTAKES:
        if all(
            _close(o, _soft_gradient(s, t, temp, mistake=mistake))
            for o, (s, t, temp, _) in zip(outs, cases, strict=True)
        ):
            return hint
    for o, (s, t, temp, on) in zip(outs, cases, strict=True):
        want = _soft_gradient(s, t, temp)
        if not _close(o, want):
            i = np.unravel_index(np.argmax(np.abs(o - want)), want.shape)
            return (
                f"on {on}, entry {tuple(int(k) for k in i)} is {o[i]:.6g}; expected {want[i]:.6g} "
                "= (q_T − p_T)/(T·B) there"
            )
    return None


# ---- distill_step --------------------------------------------------------------------------

_STEP_CASES = (  # (temperature, alpha, optimizer, batch rows, seed)
    (4.0, 0.9, "momentum", 8, 0),
    (1.0, 0.5, "adam", 5, 1),
    (20.0, 0.0, "momentum", 6, 2),
    (2.0, 1.0, "adam", 1, 3),
)
_STEPS = 3


def _models(seed: int) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    student = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Dropout(0.2), nn.Linear(12, 4))
    teacher = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4))
    return student.train(), teacher.train()  # the teacher arrives in training mode


def _reference_step(mistake: str = "") -> Callable[..., float]:
    """One step as `fit` takes it (mistake=''), or a replay of a wrong answer."""

    def step(student, teacher, x, y, optimizer, temperature, alpha):
        if mistake != "teacher train":
            teacher.eval()
        if mistake == "student eval":
            student.eval()
        with torch.no_grad():
            soft = teacher(x)
        logits = student(x)
        if mistake == "no T squared":
            loss = distillation_loss(logits, y, soft, temperature=temperature, alpha=alpha)
            loss = loss - alpha * (temperature**2 - 1) * _kl(logits, soft, temperature)
        elif mistake == "labels only":
            loss = F.cross_entropy(logits, y)
        elif mistake == "alpha swapped":
            loss = distillation_loss(logits, y, soft, temperature=temperature, alpha=1 - alpha)
        else:
            loss = distillation_loss(logits, y, soft, temperature=temperature, alpha=alpha)
        if mistake != "no zero_grad":
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if mistake == "loss after":
            with torch.no_grad():
                return distillation_loss(
                    student(x), y, soft, temperature=temperature, alpha=alpha
                ).item()
        return loss.item()

    return step


def _kl(logits: torch.Tensor, soft: torch.Tensor, temperature: float) -> torch.Tensor:
    log_q = F.log_softmax(logits / temperature, dim=-1)
    log_p = F.log_softmax(soft / temperature, dim=-1)
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def _run(step: Any, case: tuple, learner: bool) -> dict[str, Any]:
    """Three steps of `step` on fresh models: the student's weights and the losses returned,
    and what happened to the teacher."""
    temperature, alpha, name, rows, seed = case
    student, teacher = _models(seed)
    before = [p.detach().clone() for p in teacher.parameters()]
    if name == "adam":
        optimizer = torch.optim.Adam(student.parameters(), lr=0.01)
    else:
        optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(100 + seed)
    losses, on = [], f"T = {temperature:g}, alpha = {alpha:g}, {name}, {rows} rows"
    for i in range(_STEPS):
        x = torch.randn(rows, 6, generator=g)
        y = torch.randint(0, 4, (rows,), generator=g)
        torch.manual_seed(10 * seed + i)  # the dropout masks: the same draws for every answer
        if learner:
            out = call(
                step,
                student,
                teacher,
                x,
                y,
                optimizer,
                temperature,
                alpha,
                on=f"step {i + 1} ({on})",
            )
        else:
            out = step(student, teacher, x, y, optimizer, temperature, alpha)
        losses.append(out)
    return {
        "weights": [p.detach().clone() for p in student.parameters()],
        "losses": losses,
        "teacher_grad": any(p.grad is not None for p in teacher.parameters()),
        "teacher_moved": any(
            not torch.equal(a, b) for a, b in zip(before, teacher.parameters(), strict=True)
        ),
        "teacher_training": teacher.training,
        "on": on,
    }


def _same_weights(a: dict, b: dict) -> bool:
    return all(
        torch.allclose(p, q, rtol=1e-5, atol=1e-6)
        for p, q in zip(a["weights"], b["weights"], strict=True)
    )


_STEP_MISTAKES = (
    (
        "teacher train",
        "put the teacher in eval mode (teacher.eval()): it arrived in training mode, so its "
        "dropout was on and its soft targets were noisy, different at every step",
    ),
    (
        "no T squared",
        "the soft term must be multiplied by T²: its gradients shrink about as 1/T², and "
        "without the factor the teacher's weight in the loss falls as T rises",
    ),
    (
        "alpha swapped",
        "alpha weighs the soft (teacher) term and 1 − alpha the labels: (1 − alpha)·CE + "
        "alpha·T²·KL; you swapped them",
    ),
    (
        "labels only",
        "you trained on the labels alone (cross-entropy): the loss mixes in the teacher's soft "
        "targets, (1 − alpha)·CE + alpha·T²·KL(teacher_T ‖ student_T)",
    ),
    (
        "no zero_grad",
        "clear the gradients before each backward (optimizer.zero_grad()): they accumulate in "
        ".grad, so every step also repeated the previous steps' gradients",
    ),
    (
        "student eval",
        "the student is training: leave it in training mode (its dropout stays on); only the "
        "teacher goes to eval mode",
    ),
)


def _check_distill_step(fn: Any) -> str | None:
    for case in _STEP_CASES:
        got = _run(fn, case, learner=True)
        want = _run(_reference_step(), case, learner=False)
        values = [scalar(v) for v in got["losses"]]
        if any(v is None for v in values):
            return f"return the batch's loss as one number (loss.item()); got {got['losses'][0]!r}"
        if got["teacher_moved"]:
            return (
                "the teacher's weights changed: it only predicts; the optimizer holds the "
                "student's parameters alone, and the teacher is never stepped"
            )
        if got["teacher_grad"]:
            return (
                "gradients flowed into the teacher (its .grad is filled): compute its logits "
                "under torch.no_grad() (or .detach() them); it is not trained, and the "
                "backward through it only costs time and memory"
            )
        if _same_weights(got, want):
            if not all(
                math.isclose(v, w, rel_tol=1e-5, abs_tol=1e-7)
                for v, w in zip(values, want["losses"], strict=True)
            ):
                if all(
                    math.isclose(v, w, rel_tol=1e-5, abs_tol=1e-7)
                    for v, w in zip(
                        values,
                        _run(_reference_step("loss after"), case, False)["losses"],
                        strict=True,
                    )
                ):
                    return (
                        "return the loss computed before the step (the one you called "
                        "backward on), not the loss after it"
                    )
                return (
                    f"the weights are right but the losses you returned, {values}, should "
                    f"be {want['losses']} ({got['on']})"
                )
            continue
        for mistake, hint in _STEP_MISTAKES:
            if _same_weights(got, _run(_reference_step(mistake), case, learner=False)):
                return hint
        if got["teacher_training"] and case[1] > 0:
            return _STEP_MISTAKES[0][1]
        return (
            f"after {_STEPS} steps ({got['on']}) the student's weights differ from one step of "
            "labkit.fit with a teacher: teacher.eval(), its logits under torch.no_grad(), "
            "distillation_loss(student(x), y, teacher_logits, temperature=…, alpha=…), "
            "zero_grad, backward, step"
        )
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "soft_gradient",
            "Write `soft_gradient(student_logits, teacher_logits, temperature)`: the gradient of "
            "the soft term KL(p_T ‖ q_T), averaged over the batch ('batchmean', without the T² "
            "factor), with respect to the student's logits (B, C), in closed form (no "
            "autograd). p_T = softmax(teacher_logits / T), q_T = softmax(student_logits / T).",
            _check_soft_gradient,
            f"passed on {len(_gradient_cases())} batches (one row to eight, T from 0.5 to 20): "
            "(q_T − p_T)/(T·B)",
        ),
        Exercise(
            "distill_step",
            "Write `distill_step(student, teacher, x, y, optimizer, temperature, alpha)`: one "
            "training step of the student with the teacher's soft targets, as labkit.fit does "
            "with `teacher=`: the teacher (it may arrive in training mode) only predicts, the "
            "loss is labkit.compress.distill.distillation_loss (or your own), then zero_grad, "
            "backward and step. Return the batch's loss before the step as a float.",
            _check_distill_step,
            f"passed {_STEPS} steps in a row in {len(_STEP_CASES)} cases (SGD with momentum and "
            "Adam, alpha from 0 to 1, a batch of one row), the teacher untouched",
        ),
    )
}
