"""Notebook 01's exercises: each reference passes, each diagnosed mistake gets its hint, a
placeholder is "not attempted", and the learner's inputs are left as they were."""

import numpy as np
import pytest
import torch

from labkit.exercises import check, prompt
from labkit.exercises.gradient_descent import EXERCISES


def assert_wrong(name, answer, hint):
    result = check(name, answer)
    assert result.status == "wrong", result
    assert hint in result.message, result


def test_the_notebook_has_three_exercises_with_prompts():
    assert list(EXERCISES) == ["mse_gradient", "gd_path", "max_stable_lr"]
    for name in EXERCISES:
        assert name in prompt(name)


# ---- mse_gradient --------------------------------------------------------------------------


def mse_gradient(X, y, w, b):
    r = X @ w + b - y
    return 2 * X.T @ r / len(y), 2 * r.mean()


def autograd_gradient(X, y, w, b):
    w, b = w.clone().requires_grad_(), torch.tensor(b, dtype=X.dtype, requires_grad=True)
    ((X @ w + b - y) ** 2).mean().backward()
    return w.grad, b.grad


@pytest.mark.parametrize(
    "answer",
    [
        mse_gradient,
        autograd_gradient,
        lambda X, y, w, b: tuple(g.numpy() for g in mse_gradient(X, y, w, b)),
        lambda X, y, w, b: [mse_gradient(X, y, w, b)[0], mse_gradient(X, y, w, b)[1].item()],
    ],
)
def test_mse_gradient_passes_by_hand_by_autograd_as_numpy_or_a_list(answer):
    assert check("mse_gradient", answer).passed


def in_float32(answer):
    """`answer` computed in single precision, as a learner who converts the inputs does."""

    def run(X, y, w, b):
        return answer(X.float(), y.float(), w.float(), b)

    return run


@pytest.mark.parametrize("returns", ["tensors", "numpy", "item"])
def test_mse_gradient_accepts_a_correct_float32_answer(returns):
    def answer(X, y, w, b):
        gw, gb = in_float32(mse_gradient)(X, y, w, b)
        assert gw.dtype == torch.float32
        if returns == "numpy":
            return gw.numpy(), gb.numpy()
        return (gw, gb.item()) if returns == "item" else (gw, gb)

    # float32 rounds at 1e-7 relative: the old fixed 1e-9 absolute tolerance rejected this
    assert check("mse_gradient", answer).passed


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda X, y, w, b: [g / 2 for g in mse_gradient(X, y, w, b)], "the factor 2 is missing"),
        (lambda X, y, w, b: mse_gradient(X, y, w, 0.0), "you left b out of the residual"),
        (
            lambda X, y, w, b: (mse_gradient(X, y, w, b)[0], 1.01 * mse_gradient(X, y, w, b)[1]),
            "grad_b came out",
        ),
        (
            lambda X, y, w, b: (1.001 * mse_gradient(X, y, w, b)[0], mse_gradient(X, y, w, b)[1]),
            "grad_w came out",
        ),
    ],
)
def test_mse_gradient_still_rejects_a_wrong_float32_answer(answer, hint):
    assert_wrong("mse_gradient", in_float32(answer), hint)


def test_mse_gradient_in_half_precision_is_told_to_use_float32():
    answer = lambda X, y, w, b: [g.half() for g in mse_gradient(X, y, w, b)]  # noqa: E731
    assert_wrong("mse_gradient", answer, "compute in float32 or float64")


def residual(X, y, w, b):
    return X @ w + b - y


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda X, y, w, b: [g / 2 for g in mse_gradient(X, y, w, b)], "the factor 2 is missing"),
        (
            lambda X, y, w, b: [g * len(y) for g in mse_gradient(X, y, w, b)],
            "gradient of the *sum* of squared errors",
        ),
        (lambda X, y, w, b: [-g for g in mse_gradient(X, y, w, b)], "the sign is flipped: with"),
        (
            lambda X, y, w, b: [-g / 2 for g in mse_gradient(X, y, w, b)],
            "the sign is flipped and the factor 2 is missing",
        ),
        (lambda X, y, w, b: mse_gradient(X, y, w, 0.0), "you left b out of the residual"),
        (
            lambda X, y, w, b: (
                2 * residual(X, y, w, b).mean() * X.mean(0),
                2 * residual(X, y, w, b).mean(),
            ),
            "not the product of the means",
        ),
        (
            lambda X, y, w, b: (
                2 * X.T @ residual(X, y, w, b) / X.shape[1],
                2 * residual(X, y, w, b).mean(),
            ),
            "number of features d",
        ),
        (
            lambda X, y, w, b: (mse_gradient(X, y, w, b)[0], residual(X, y, w, b).mean()),
            "grad_b misses the factor 2",
        ),
        (
            lambda X, y, w, b: (mse_gradient(X, y, w, b)[0], 2 * residual(X, y, w, b).sum()),
            "grad_b is a sum over the rows",
        ),
        (
            lambda X, y, w, b: (mse_gradient(X, y, w, b)[0], -2 * residual(X, y, w, b).mean()),
            "grad_b has the wrong sign",
        ),
        (
            lambda X, y, w, b: (mse_gradient(X, y, w, b)[0], 1.1 * mse_gradient(X, y, w, b)[1]),
            "grad_b came out",
        ),
        (
            lambda X, y, w, b: (1.1 * mse_gradient(X, y, w, b)[0], mse_gradient(X, y, w, b)[1]),
            "for X of shape (20, 2) (b = ",
        ),
        (
            lambda X, y, w, b: (mse_gradient(X, y, w, b)[0][:, None], mse_gradient(X, y, w, b)[1]),
            "right values, but grad_w is shaped (2, 1)",
        ),
        (lambda X, y, w, b: (residual(X, y, w, b), 0.0), "grad_w holds the residuals"),
        (lambda X, y, w, b: (residual(X, y, w, b) ** 2).mean(), "return two things"),
        (lambda X, y, w, b: mse_gradient(X, y, w, b)[0], "return two things"),
        (lambda X, y, w, b: (X.T @ X, 0.0), "shape (2,); you returned shape (2, 2)"),
        (lambda X, y, w, b: ("grad", 0.0), "return a tensor (d,) and a number"),
        (lambda X, y, w, b: (mse_gradient(X, y, w, b)[0], X @ w), "grad_b is one number"),
        (lambda X, y, w, b: (torch.tensor(1.0), 0.0), "one entry per weight, shape (2,)"),
        (lambda X, y, w, b: None, "your function returned None"),
    ],
)
def test_mse_gradient_mistakes(answer, hint):
    assert_wrong("mse_gradient", answer, hint)


def test_mse_gradient_exception_names_the_input():
    assert_wrong("mse_gradient", lambda X, y, w, b: X @ X, "raised RuntimeError")
    assert_wrong("mse_gradient", lambda X, y, w, b: X @ X, "on X of shape (20, 2)")
    result = check("mse_gradient", lambda X, y, w, b: X @ X)
    assert "r[:, None]" not in result.message  # the broadcasting hint is for broadcasting only


def rows_times_residuals(X, y, w, b):  # X (n, d) * r (n,): r lines up with the columns
    r = X @ w + b - y
    return 2 * (X * r).mean(0), 2 * r.mean()


@pytest.mark.parametrize("as_numpy", [False, True])
def test_mse_gradient_broadcasting_the_residuals_gets_the_column_hint(as_numpy):
    def answer(X, y, w, b):
        if as_numpy:
            X, y, w = X.numpy(), y.numpy(), w.numpy()
        return rows_times_residuals(X, y, w, b)

    assert_wrong("mse_gradient", answer, "give r a column axis: r[:, None] * X")


# ---- gd_path -------------------------------------------------------------------------------


def gd_path(grad, w0, lr, steps):
    w, path = w0.clone(), [w0.clone()]
    for _ in range(steps):
        w = w - lr * grad(w)
        path.append(w)
    return torch.stack(path)


def in_place_same_tensor(grad, w0, lr, steps):
    w, path = w0.clone(), [w0.clone()]
    for _ in range(steps):
        w -= lr * grad(w)
        path.append(w)  # the same tensor every time
    return torch.stack(path)


def mutates_w0(grad, w0, lr, steps):
    w, path = w0, [w0.clone()]
    for _ in range(steps):
        w -= lr * grad(w)
        path.append(w.clone())
    return torch.stack(path)


def test_gd_path_passes_as_a_tensor_or_a_list_of_points():
    assert check("gd_path", gd_path).passed
    assert check("gd_path", lambda *a: list(gd_path(*a))).passed


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (in_place_same_tensor, "every row after the start is the same point"),
        (mutates_w0, "changed the caller's w0 in place"),
        (lambda g, w0, lr, s: gd_path(g, w0, lr, s)[1:], "the start is missing"),
        (lambda g, w0, lr, s: gd_path(g, w0, lr, s)[-1], "you returned one point"),
        (lambda g, w0, lr, s: gd_path(g, w0, lr, s + 1), "has shape (8, 2); expected (7, 2)"),
        (lambda g, w0, lr, s: gd_path(lambda w: -g(w), w0, lr, s), "gradient *ascent*"),
        (lambda g, w0, lr, s: gd_path(g, w0, 1.0, s), "scale each step by the learning rate"),
        (
            lambda g, w0, lr, s: torch.stack([w0 - t * lr * g(w0) for t in range(s + 1)]),
            "you computed the gradient once, at w0",
        ),
        (lambda g, w0, lr, s: gd_path(g, w0, 0.9 * lr, s), "row 1 of your path is"),
        (lambda g, w0, lr, s: None, "your function returned None: end it with `return`"),
    ],
)
def test_gd_path_mistakes(answer, hint):
    result = check("gd_path", answer)
    assert hint in result.message and not result.passed, result


# ---- max_stable_lr -------------------------------------------------------------------------


def hessian(X):
    return 2 * X.T @ X / len(X)


def max_stable_lr(X):
    return 2 / torch.linalg.eigvalsh(hessian(X))[-1].item()


@pytest.mark.parametrize(
    "answer",
    [
        max_stable_lr,
        lambda X: 2 / np.linalg.eigvalsh(hessian(X).numpy())[-1],  # numpy float
        lambda X: len(X) / torch.linalg.svdvals(X)[0] ** 2,  # 0-d tensor, via singular values
    ],
)
def test_max_stable_lr_passes(answer):
    assert check("max_stable_lr", answer).passed


def complex_max(X):  # torch raises NotImplementedError: complex numbers have no max
    return 2 / torch.linalg.eigvals(hessian(X)).max()


def builtin_max_of_complex(X):  # ... nor an order, for the built-in max
    return 2 / max(torch.linalg.eigvals(hessian(X)))


@pytest.mark.parametrize("answer", [complex_max, builtin_max_of_complex])
def test_max_stable_lr_complex_eigenvalues_get_the_eigvalsh_hint(answer):
    # torch's own NotImplementedError is a wrong answer, not the learner's placeholder
    assert_wrong("max_stable_lr", answer, "raised NotImplementedError")
    assert_wrong("max_stable_lr", answer, "complex numbers (which have no max or order)")


def smallest_when_four_features(X):  # an unsorted eigenvalue in one case only
    lam = torch.linalg.eigvalsh(hessian(X))
    return 2 / (lam[0] if X.shape[1] == 4 else lam[-1]).item()


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda X: 2 * max_stable_lr(X), "you left out the 2"),
        (lambda X: max_stable_lr(X) / 2, "1/λ_max is the rate that solves the steepest"),
        (lambda X: max_stable_lr(X) / len(X), "divide by n"),
        (lambda X: 2 / max_stable_lr(X), "you returned λ_max"),
        (lambda X: len(X) / torch.linalg.svdvals(X)[0].item(), "square the largest one"),
        (lambda X: 2 / torch.trace(hessian(X)), "the trace is the sum of all eigenvalues"),
        (lambda X: 2 / torch.diag(hessian(X)).max(), "the diagonal of the Hessian"),
        (lambda X: 2 / torch.linalg.eigvalsh(hessian(X))[0].item(), "the *smallest* eigenvalue"),
        (lambda X: 2 / torch.linalg.eigvals(hessian(X)).real[-1], "eigvals does not sort at all"),
        (smallest_when_four_features, "an eigenvalue that is not the largest"),
        (lambda X: 2 / torch.linalg.eigvals(hessian(X))[0], "return a real number"),
        (lambda X: torch.ones(2), "return one real number (a float)"),
        (lambda X: 0.1, "you returned 0.1; expected 2/λ_max"),
        (lambda X: 1 / 0, "you divided by 0"),
    ],
)
def test_max_stable_lr_mistakes(answer, hint):
    assert_wrong("max_stable_lr", answer, hint)


def test_checkers_leave_the_inputs_and_the_rng_as_they_were():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    for name in EXERCISES:
        check(name, lambda *a: torch.rand(3))  # wrong, and draws random numbers
    assert torch.equal(torch.get_rng_state(), before)
