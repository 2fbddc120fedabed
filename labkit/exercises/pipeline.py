"""Notebook 03 (the training pipeline): `macro_f1`, `train_step` and the `which_split` quiz.

`macro_f1` is graded on generated confusion matrices with unequal supports and the 0/0
cases (a class never predicted, one with no true examples); its reference agrees with
scikit-learn's f1_score(average='macro', zero_division=0), which the tests check.
`train_step` is replayed for a few steps on two seeded models and optimizers and compared
weight by weight with the reference step; `which_split` is a dict quiz over
`SPLIT_QUESTIONS`, with a hint for every wrong answer. When an answer is wrong, each
checker looks for the common mistake it matches and returns that mistake's hint.
Exposed as `EXERCISES`, which `labkit.exercises` merges with the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labkit.exercises.core import Exercise, array, call, scalar

# ---- macro_f1 ------------------------------------------------------------------------------


def _per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 per class; 0 wherever a denominator is 0 (zero_division=0)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp, predicted, true = np.diag(cm), cm.sum(0), cm.sum(1)  # (C,) each

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    p, r = ratio(tp, predicted), ratio(tp, true)
    return p, r, ratio(2 * p * r, p + r)


def _macro_f1(cm: np.ndarray) -> float:
    """Reference: the plain mean of the per-class F1, as sklearn's average='macro'."""
    return float(_per_class(cm)[2].mean())


_F1_SHAPES = (  # (classes, empty row, empty column of class C-2, so): the 0/0 conventions
    (3, 0, 0, ""),
    (4, 0, 1, "is never predicted (its column is all 0)"),
    (5, 1, 0, "has no true examples (its row is all 0)"),
    (6, 0, 0, ""),
    (7, 1, 1, "never occurs (its row and column are all 0)"),
    (10, 0, 0, ""),
)
_ZERO_DIVISION = (
    "by scikit-learn's convention (zero_division=0) a class nobody predicts has precision 0, "
    "one with no true examples has recall 0, and F1 is 0 when P + R = 0"
)
_F1_MISTAKES = (  # (what the learner may have computed from p, r, f1 per class and cm; hint)
    (
        lambda p, r, f, cm: np.trace(cm) / cm.sum(),
        "that is accuracy (the micro average: trace / total); macro averages the per-class F1 "
        "so every class weighs the same, however rare",
    ),
    (
        lambda p, r, f, cm: (f * cm.sum(1)).sum() / cm.sum(),
        "that is the F1 weighted by support (average='weighted'), where frequent classes count "
        "more; macro-F1 is the plain mean of the per-class F1",
    ),
    (
        lambda p, r, f, cm: (p.mean() + r.mean()) / 2,
        "that is the mean of macro precision and macro recall; compute F1 = 2PR / (P + R) for "
        "each class first, then average the F1s",
    ),
    (
        lambda p, r, f, cm: 2 * p.mean() * r.mean() / (p.mean() + r.mean()),
        "that is the F1 of macro precision and macro recall (the harmonic mean of averages); "
        "macro-F1 is the average of the per-class F1s: F1 per class first, then the mean",
    ),
    (lambda p, r, f, cm: p.mean(), "that is macro precision; F1 = 2PR / (P + R) per class"),
    (lambda p, r, f, cm: r.mean(), "that is macro recall; F1 = 2PR / (P + R) per class"),
    (
        lambda p, r, f, cm: f[(cm.sum(0) > 0) & (cm.sum(1) > 0)].mean(),
        "classes whose precision or recall is 0/0 were left out of the mean (as np.nanmean "
        "does); they count as F1 = 0 (zero_division=0) and pull the macro average down",
    ),
    (
        lambda p, r, f, cm: f[(cm.sum(0) > 0) | (cm.sum(1) > 0)].mean(),
        "a class that never occurs (an all-zero row and column) still counts, with F1 = 0: "
        "scikit-learn's f1_score leaves such a class out unless you pass labels=range(C)",
    ),
)


def _f1_cases() -> list[tuple[np.ndarray, str]]:
    """Confusion matrices with unequal supports (so weighting matters), each described."""
    rng, cases = np.random.default_rng(0), []
    for k, row, column, so in _F1_SHAPES:
        cm = rng.integers(0, 5, (k, k)) + np.diag(rng.integers(5, 40, k))
        cm *= rng.integers(1, 6, (k, 1))  # rows scaled apart: unequal supports
        if row:
            cm[k - 2, :] = 0
        if column:
            cm[:, k - 2] = 0
        where = f" where class {k - 2} {so}" if so else ""
        cases.append((cm, f"a {k}-class confusion matrix{where}"))
    return cases


def _check_macro_f1(fn: Any) -> str | None:
    cases = _f1_cases()
    why = {ZeroDivisionError: _ZERO_DIVISION}
    outs = [call(fn, cm.copy(), on=on, why=why) for cm, on in cases]
    values = [scalar(o) for o in outs]
    for (cm, on), out, value in zip(cases, outs, values, strict=True):
        if value is None:
            a = array(out)
            if a is not None and a.shape == (len(cm),) and np.allclose(a, _per_class(cm)[2]):
                return "you returned the F1 of each class; macro-F1 is one number, their mean"
            return f"return one number (a float), not {type(out).__name__}, for {on}"
        if math.isnan(value):
            return f"your function returned nan on {on}: a 0/0 happened; {_ZERO_DIVISION}"
    for mistake, hint in ((lambda p, r, f, cm: f.mean(), None), *_F1_MISTAKES):
        if all(
            math.isclose(v, mistake(*_per_class(cm), cm), rel_tol=1e-6, abs_tol=1e-9)
            for v, (cm, _) in zip(values, cases, strict=True)
        ):
            return hint
    cm, out = next(
        (cm, o)
        for (cm, _), o, v in zip(cases, outs, values, strict=True)
        if not math.isclose(v, _macro_f1(cm), rel_tol=1e-6, abs_tol=1e-9)
    )
    return f"for cm = {cm.tolist()} you returned {out!r}; expected {_macro_f1(cm):.6g}"


# ---- train_step ----------------------------------------------------------------------------


def _train_step(model: nn.Module, x, y, optimizer, *, loss_fn=F.cross_entropy, zero_grad=True):
    """Reference: one step on raw logits; the keyword arguments replay common mistakes."""
    if zero_grad:
        optimizer.zero_grad()
    loss = loss_fn(model(x), y)  # logits (B, C), labels (B,)
    loss.backward()
    optimizer.step()
    return loss.item()


def _mse_one_hot(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(scores, F.one_hot(y, scores.shape[-1]).float())


_MSE = "mean squared error on one-hot targets is not the loss here: F.cross_entropy(logits, y)"
_STEP_MISTAKES = (
    (
        partial(_train_step, zero_grad=False),
        "the first step is right but later ones are not: gradients accumulate across calls "
        "unless you call optimizer.zero_grad() at the start of each step",
    ),
    (
        partial(_train_step, loss_fn=lambda z, y: F.cross_entropy(z.softmax(-1), y)),
        "F.cross_entropy takes raw logits; it applies log-softmax itself, so a softmax before "
        "it squashes the loss and its gradients: pass model(x) straight in",
    ),
    (partial(_train_step, loss_fn=_mse_one_hot), _MSE),
    (partial(_train_step, loss_fn=lambda z, y: _mse_one_hot(z.softmax(-1), y)), _MSE),
)
_STEP_SETUPS = (  # (description, model, optimizer): each gets _CALLS steps on fresh batches
    (
        "nn.Linear(5, 3) with SGD(lr=0.1, momentum=0.9)",
        lambda: nn.Linear(5, 3),
        partial(torch.optim.SGD, lr=0.1, momentum=0.9),
    ),
    (
        "a Linear-ReLU-Linear MLP with Adam(lr=0.01)",
        lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)),
        partial(torch.optim.Adam, lr=0.01),
    ),
)
_CALLS = 3


def _run(setup: tuple, step: Callable) -> tuple[nn.Module, list, list, list]:
    """Call `step` _CALLS times on a seeded model and batches: the weights (initial, then
    after each call), what each call returned, and the batch's loss after each step."""
    desc, make_model, make_optimizer = setup
    torch.manual_seed(0)  # grade() runs us inside fork_rng, so the learner's RNG is kept
    model = make_model()
    optimizer = make_optimizer(model.parameters())
    features = next(model.parameters()).shape[1]  # first Linear's weight is (out, in)
    g = torch.Generator().manual_seed(1)

    def flat() -> torch.Tensor:
        return torch.cat([p.detach().cpu().flatten() for p in model.parameters()])

    weights, outs, after = [flat()], [], []
    for i in range(_CALLS):
        x, y = torch.randn(8, features, generator=g), torch.randint(0, 3, (8,), generator=g)
        outs.append(call(step, model, x, y, optimizer, on=f"call {i + 1} on {desc}"))
        weights.append(flat())
        with torch.no_grad():
            after.append(F.cross_entropy(model(x), y).item())
    return model, weights, outs, after


def _check_train_step(fn: Any) -> str | None:
    def same(a: list, b: list) -> bool:
        return all(torch.allclose(u, v, rtol=1e-5, atol=1e-7) for u, v in zip(a, b, strict=True))

    def close(value: float | None, expected: float) -> bool:
        return value is not None and math.isclose(value, expected, rel_tol=1e-5)

    for setup in _STEP_SETUPS:  # the first setup that goes wrong gets the hint
        _, ref_weights, ref_outs, ref_after = _run(setup, _train_step)
        model, weights, outs, _ = _run(setup, fn)
        values = [scalar(o) for o in outs]
        if same(weights, ref_weights):
            if any(o is None for o in outs):
                return "your function returned None: return the loss as a Python float, loss.item()"
            if all(map(close, values, ref_outs)):
                bad = next((o for o in outs if not isinstance(o, float)), None)
                if bad is None:
                    continue
                why = ": a tensor keeps its autograd graph alive" if torch.is_tensor(bad) else ""
                return f"return loss.item(), a Python float, not a {type(bad).__name__}{why}"
            if all(map(close, values, ref_after)):
                return (
                    "you returned the loss after optimizer.step(); return this batch's loss from "
                    "the forward pass before the step (loss.item())"
                )
            i = next(i for i, v in enumerate(values) if not close(v, ref_outs[i]))
            return (
                f"the weights are right, but call {i + 1} on {setup[0]} returned {outs[i]!r}; "
                f"expected {ref_outs[i]:.6g}, the batch's loss before the step"
            )
        if all(torch.equal(w, weights[0]) for w in weights[1:]):
            if all(p.grad is None or not p.grad.any() for p in model.parameters()):
                return (
                    "the weights did not change and hold no gradient after your call: call "
                    "loss.backward() then optimizer.step(), with optimizer.zero_grad() before "
                    "the backward, not between it and the step"
                )
            return "the weights did not change: after loss.backward(), call optimizer.step()"
        for mistake, hint in _STEP_MISTAKES:
            if same(weights, _run(setup, mistake)[1]):
                return hint
        i = next(i for i, w in enumerate(weights) if not same([w], [ref_weights[i]]))
        return (
            f"after call {i} on {setup[0]} the weights differ from the reference by up to "
            f"{(weights[i] - ref_weights[i]).abs().max():.2g}; one step is: optimizer.zero_grad(), "
            "loss = F.cross_entropy(model(x), y), loss.backward(), optimizer.step()"
        )
    return None


# ---- which_split (a quiz) ------------------------------------------------------------------

SPLIT_QUESTIONS = (
    "choose the learning rate",
    "report the final accuracy",
    "decide when to stop training (early stopping)",
    "fit the standardization mean and std",
)
_SPLITS = ("train", "val", "test")
_TUNED_ON_TEST = (
    "choosing settings on the test split makes the reported number optimistic: it is no longer "
    "an unseen-data estimate; tune on the validation split"
)
_LEAKED = (
    "statistics from held-out rows leak them into training; fit the mean and std on the "
    "training rows only, as labkit.data.split does"
)
_SPLIT_ANSWERS = dict(zip(SPLIT_QUESTIONS, ("val", "test", "val", "train"), strict=True))
_SPLIT_HINTS = {  # (question number, wrong answer): why it is wrong
    (0, "test"): _TUNED_ON_TEST,
    (0, "train"): "training accuracy rewards overfitting: the learning rate that fits the "
    "training rows best is not the one that generalizes; compare on the validation split",
    (1, "train"): "the model has fit the training rows, so their accuracy overstates how it "
    "does on new data; report the test split, used once at the end",
    (1, "val"): "settings were chosen for their validation score, so it is optimistic (the "
    "best of several tries); report the untouched test split",
    (2, "test"): _TUNED_ON_TEST,
    (2, "train"): "the training loss keeps falling while the model overfits, so it never says "
    "when to stop; watch the validation loss",
    (3, "val"): _LEAKED,
    (3, "test"): _LEAKED,
}


def _check_which_split(answer: Any) -> str | None:
    if not isinstance(answer, dict):
        return "answer with a dict {question: 'train', 'val' or 'test'} built from SPLIT_QUESTIONS"
    missing = [q for q in SPLIT_QUESTIONS if q not in answer]
    unknown = [q for q in answer if q not in SPLIT_QUESTIONS]
    if missing or unknown:
        return (
            f"no answer for {', '.join(map(repr, missing)) or 'none'}; unknown questions: "
            f"{', '.join(map(repr, unknown)) or 'none'}; build the dict from SPLIT_QUESTIONS"
        )
    unanswered = [q for q in SPLIT_QUESTIONS if answer[q] is ...]
    if unanswered:
        return (
            f"{unanswered[0]!r} is still unanswered: replace its ... with 'train', 'val' or 'test'"
        )
    wrong = []
    for i, q in enumerate(SPLIT_QUESTIONS):
        given = answer[q]
        if isinstance(given, str):  # forgive case, spaces and the long names
            given = given.strip().lower().replace("validation", "val").replace("training", "train")
        if given not in _SPLITS:
            return f"{answer[q]!r} (for {q!r}) is not one of 'train', 'val', 'test'"
        if given != _SPLIT_ANSWERS[q]:
            wrong.append(f"{q!r} on {given!r}: {_SPLIT_HINTS[i, given]}")
    more = f" ({len(wrong) - 1} more answer(s) wrong)" if len(wrong) > 1 else ""
    return wrong[0] + more if wrong else None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "macro_f1",
            "Write `macro_f1(cm) -> float` for a confusion matrix `cm` (numpy ints (C, C), row "
            "= true class, column = predicted class, as `labkit.confusion_matrix` returns): "
            "each class's precision = tp / column sum, recall = tp / row sum and F1 = 2PR / "
            "(P + R), counting any 0/0 as 0; return the mean F1 over the classes.",
            _check_macro_f1,
            f"passed on {len(_F1_SHAPES)} generated confusion matrices, including a class "
            "never predicted and one with no true examples",
        ),
        Exercise(
            "train_step",
            "Write `train_step(model, x, y, optimizer) -> float`: one step of training on the "
            "batch `x` (B, F) with integer labels `y` (B,): zero the gradients, forward, "
            "`F.cross_entropy` on the raw logits, backward, `optimizer.step()`; return the "
            "batch's loss from before the step as a Python float.",
            _check_train_step,
            f"passed: {_CALLS} steps in a row on 2 models (SGD with momentum, Adam)",
        ),
        Exercise(
            "which_split",
            "For each task in `labkit.exercises.SPLIT_QUESTIONS`, say which split it should use: "
            "'train', 'val' or 'test'. Answer with a dict {question: split}.",
            _check_which_split,
            f"all {len(SPLIT_QUESTIONS)} answers right",
        ),
    )
}
