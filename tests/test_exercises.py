import math
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_checks import assert_wrong

from labkit.exercises import (
    EXERCISES,
    SPLIT_QUESTIONS,
    Exercise,
    Result,
    _merge,
    check,
    distillation,
    experiments,
    export,
    generalization,
    gradient_descent,
    large_models,
    monitoring,
    optimizers,
    pipeline,
    prompt,
    pruning,
    quantization,
    serving,
    welcome,
)
from labkit.exercises.core import NotAttempted, Wrong, call
from labkit.validate import ConfigError


def stub(*args):
    raise NotImplementedError


# ---- shared behaviour ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXERCISES))
@pytest.mark.parametrize("answer", [None, ..., stub])
def test_placeholders_are_not_attempted_and_never_raise(name, answer):
    if name == "which_split" and answer is stub:
        answer = dict.fromkeys(SPLIT_QUESTIONS, ...)
    result = check(name, answer)
    assert result.status == "not attempted" and not result.passed
    assert "replace" in result.message
    assert repr(result).startswith(f"… {name}: not attempted yet")


def test_exercises_are_the_notebook_modules_in_notebook_order():
    modules = (
        welcome,
        gradient_descent,
        optimizers,
        pipeline,
        generalization,
        experiments,
        large_models,
        pruning,
        quantization,
        distillation,
        export,
        serving,
        monitoring,
    )
    assert list(EXERCISES) == [name for m in modules for name in m.EXERCISES]
    assert all(EXERCISES[name] is e for name, e in pipeline.EXERCISES.items())


def _notebook(name: str, *exercises: tuple[str, str]) -> ModuleType:
    """A stand-in notebook module whose EXERCISES holds (key, exercise name) pairs."""
    module = ModuleType(f"labkit.exercises.{name}")
    module.EXERCISES = {key: Exercise(e, "", lambda answer: None) for key, e in exercises}
    return module


def test_a_name_defined_twice_or_keyed_wrongly_raises():
    a, b = _notebook("a", ("f", "f"), ("g", "g")), _notebook("b", ("h", "h"))
    assert list(_merge((a, b))) == ["f", "g", "h"]
    twice = _notebook("c", ("g", "g"))
    with pytest.raises(ValueError, match=r"'g' is defined in both \S+\.a and \S+\.c$"):
        _merge((a, b, twice))
    with pytest.raises(ValueError, match="keys exercise 'g' as 'f'"):
        _merge((_notebook("d", ("f", "g")),))


def test_unknown_exercise_lists_the_names():
    with pytest.raises(ConfigError, match="exercise must be one of 'steps_per_epoch'") as info:
        check("nope", None)
    assert all(f"'{name}'" in str(info.value) for name in EXERCISES)
    with pytest.raises(ConfigError, match="'which_split'"):
        prompt("nope")


def test_every_exercise_has_a_prompt_naming_what_to_write():
    for name in EXERCISES:
        assert name in prompt(name) or name == "which_split"
    assert "SPLIT_QUESTIONS" in prompt("which_split")


def test_result_shows_as_one_line_per_status():
    assert repr(Result("f", "passed", "passed on 2 cases")) == "✓ f: passed on 2 cases"
    assert repr(Result("f", "wrong", "hint")) == "✗ f: hint"
    assert Result("f", "passed", "").passed and not Result("f", "wrong", "").passed

    class Printer:  # the part of IPython's pretty printer that _repr_pretty_ uses
        def __init__(self):
            self.shown = []

        def text(self, s):
            self.shown.append(s)

    p = Printer()
    Result("f", "wrong", "hint")._repr_pretty_(p, cycle=False)
    assert p.shown == ["✗ f: hint"]


def test_check_keeps_the_global_rng_state_and_threads():
    torch.manual_seed(123)
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    assert check("train_step", train_step).passed
    check("train_step", lambda m, x, y, o: float(torch.rand(())))  # wrong, and draws numbers
    check("standardize", standardize)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.get_num_threads() == threads


def test_hints_are_reproducible():
    answers = {
        "steps_per_epoch": lambda n, b: round(n / b),
        "standardize": lambda t, x: x * 2,
        "macro_f1": lambda cm: 0.5,
        "train_step": lambda m, x, y, o: 1.0,
        "which_split": dict.fromkeys(SPLIT_QUESTIONS, "train"),
    }
    for name, answer in answers.items():
        first, second = check(name, answer), check(name, answer)
        assert first.status == "wrong" and first == second


@pytest.mark.parametrize(
    ("name", "on"),
    [
        ("steps_per_epoch", "on n=100, batch_size=10"),
        ("standardize", "on train_x of shape (20, 5) and x of shape (8, 5)"),
        ("macro_f1", "on a 3-class confusion matrix"),
        ("train_step", "on call 1 on nn.Linear(5, 3)"),
    ],
)
def test_an_exception_is_wrong_and_names_the_input(name, on):
    def broken(*args):
        raise KeyError("oops")

    assert_wrong(check(name, broken), f"your function raised KeyError ('oops') {on}")


def test_a_value_instead_of_a_function_is_explained():
    assert_wrong(check("steps_per_epoch", 10), "pass your function itself, not int")


# ---- steps_per_epoch -----------------------------------------------------------------------


def test_steps_per_epoch_correct():
    result = check("steps_per_epoch", lambda n, b: math.ceil(n / b))
    assert result.passed and repr(result).startswith("✓ steps_per_epoch: passed on 8 cases")
    assert check("steps_per_epoch", lambda n, b: -(-n // b)).passed


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda n, b: n // b, "the last, smaller batch counts too"),
        (lambda n, b: n // b + 1, "n // batch_size + 1 counts one step too many"),
        (lambda n, b: float(math.ceil(n / b)), "return an int, not 10.0"),
        (lambda n, b: np.ceil(n / b), "return an int"),
        (lambda n, b: n / b, "a fraction of a step"),
        (lambda n, b: round(n / b), "steps_per_epoch(101, 10) returned 10; expected 11"),
    ],
)
def test_steps_per_epoch_mistakes(answer, hint):
    assert_wrong(check("steps_per_epoch", answer), hint)


# ---- standardize ---------------------------------------------------------------------------


def standardize(train_x, x):
    std = train_x.std(0)
    return (x - train_x.mean(0)) / torch.where(std > 1e-6, std, torch.ones_like(std))


def test_standardize_correct_either_std_tensor_or_array():
    assert check("standardize", standardize).passed

    def biased_numpy(train_x, x):
        t, x = train_x.numpy(), x.numpy()
        std = t.std(0)  # numpy's default ddof=0
        return (x - t.mean(0)) / np.where(std > 1e-6, std, 1.0)

    assert check("standardize", biased_numpy).passed


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda t, x: standardize(x, x), "leaks information from held-out data"),
        (lambda t, x: (x - t.mean()) / t.std(), "per column: dim 0"),
        (lambda t, x: (x - t.mean(0)) / torch.where(t.var(0) > 0, t.var(0), 1), "the variance"),
        (lambda t, x: x / torch.where(t.std(0) > 0, t.std(0), 1), "subtract the training mean"),
        (lambda t, x: (x - t.mean(0)) / t.std(0), "constant in the training rows (std 0)"),
        (lambda t, x: x - t.mean(0), "divide by each feature's training std"),
        (lambda t, x: standardize(t, x)[:, :2], "shaped like x"),
        (lambda t, x: standardize(t, x) * 1.01, "entry [0, 0] came out"),
    ],
)
def test_standardize_mistakes(answer, hint):
    assert_wrong(check("standardize", answer), hint)


# ---- macro_f1 ------------------------------------------------------------------------------


def macro_f1(cm):
    cm = np.asarray(cm, dtype=float)
    f1 = []
    for c in range(len(cm)):
        tp, pred, true = cm[c, c], cm[:, c].sum(), cm[c].sum()
        p = tp / pred if pred else 0.0
        r = tp / true if true else 0.0
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(f1))


def test_macro_f1_reference_agrees_with_sklearn():
    from sklearn.metrics import confusion_matrix, f1_score

    rng = np.random.default_rng(0)
    for k in range(2, 11):
        # drop some classes from the truth or the predictions to test the 0/0 conventions
        y_true = rng.choice(rng.permutation(k)[: max(1, k - 1)], 200)
        y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, k, 200))
        y_pred[y_pred == k - 1] = 0  # class k-1 is never predicted
        labels = np.arange(k)
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        want = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        assert pipeline._macro_f1(cm) == pytest.approx(want, rel=1e-12)
        assert macro_f1(cm) == pytest.approx(want, rel=1e-12)


def test_macro_f1_generated_cases_agree_with_sklearn():
    from sklearn.metrics import f1_score

    for cm, _ in pipeline._f1_cases():
        k = len(cm)
        # expand the matrix back into label vectors: cm[t, p] pairs of (true t, predicted p)
        pairs = np.repeat(np.array([(t, p) for t in range(k) for p in range(k)]), cm.ravel(), 0)
        want = f1_score(*pairs.T, labels=np.arange(k), average="macro", zero_division=0)
        assert pipeline._macro_f1(cm) == pytest.approx(want, rel=1e-12)


def test_macro_f1_correct_transposed_or_torch():
    result = check("macro_f1", macro_f1)
    assert result.passed and "6 generated confusion matrices" in result.message
    assert check("macro_f1", lambda cm: macro_f1(cm.T)).passed  # F1 is symmetric in P and R
    assert check("macro_f1", lambda cm: torch.tensor(macro_f1(cm))).passed


def _prf(cm):
    """Per-class precision, recall and F1 with 0 for 0/0: the pieces of common mistakes."""
    tp, pred, true = np.diag(cm), cm.sum(0), cm.sum(1)
    p = np.divide(tp, pred, out=np.zeros(len(cm)), where=pred > 0)
    r = np.divide(tp, true, out=np.zeros(len(cm)), where=true > 0)
    return p, r, np.divide(2 * p * r, p + r, out=np.zeros(len(cm)), where=p + r > 0)


def _unguarded(cm):
    tp = np.diag(cm)
    p, r = tp / cm.sum(0), tp / cm.sum(1)
    return 2 * p * r / (p + r)


def _python_ints(cm):
    cm = cm.tolist()
    total = 0.0
    for c in range(len(cm)):
        p = cm[c][c] / sum(row[c] for row in cm)
        r = cm[c][c] / sum(cm[c])
        total += 2 * p * r / (p + r)
    return total / len(cm)


def _harmonic_of_macros(cm):
    p, r, _ = _prf(cm)
    return 2 * p.mean() * r.mean() / (p.mean() + r.mean())


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda cm: np.trace(cm) / cm.sum(), "that is accuracy (the micro average"),
        (lambda cm: (_prf(cm)[2] * cm.sum(1)).sum() / cm.sum(), "weighted by support"),
        (lambda cm: (_prf(cm)[0].mean() + _prf(cm)[1].mean()) / 2, "mean of macro precision"),
        (_harmonic_of_macros, "F1 of macro precision and macro recall"),
        (lambda cm: _prf(cm)[1].mean(), "that is macro recall"),
        (
            lambda cm: _unguarded(cm).mean(),
            "returned nan on a 4-class confusion matrix where class 2 is never predicted",
        ),
        (lambda cm: np.nanmean(_unguarded(cm)), "left out of the mean"),
        (
            _python_ints,
            "raised ZeroDivisionError (division by zero) on a 4-class confusion matrix where "
            "class 2 is never predicted (its column is all 0): by scikit-learn's convention",
        ),
        (lambda cm: _prf(cm)[2], "you returned the F1 of each class"),
        (lambda cm: "0.5", "return one number (a float), not str"),
        (lambda cm: macro_f1(cm) + 0.01, "for cm = [[111, 9, 6], [4, 112, 0], [0, 0, 180]] you"),
    ],
)
def test_macro_f1_mistakes(answer, hint):
    assert_wrong(check("macro_f1", answer), hint)


# ---- train_step ----------------------------------------------------------------------------


def train_step(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def test_train_step_correct():
    result = check("train_step", train_step)
    assert result.passed, result

    def with_module_zero_grad(model, x, y, optimizer):
        model.zero_grad()
        loss = torch.nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    assert check("train_step", with_module_zero_grad).passed


def _step(model, x, y, optimizer, *, zero=True, backward=True, step=True, loss_fn=None, ret=None):
    if zero:
        optimizer.zero_grad()
    loss = (loss_fn or F.cross_entropy)(model(x), y)
    if backward:
        loss.backward()
    if ret == "zero_between":
        optimizer.zero_grad()
    if step:
        optimizer.step()
    if ret == "after":
        return F.cross_entropy(model(x), y).item()
    return loss if ret == "tensor" else None if ret == "none" else loss.item()


def _mse(logits, y):
    return F.mse_loss(logits, F.one_hot(y, logits.shape[1]).float())


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"step": False}, "after loss.backward(), call optimizer.step()"),
        ({"backward": False}, "hold no gradient after your call"),
        ({"ret": "zero_between"}, "not between it and the step"),
        ({"zero": False}, "gradients accumulate across calls"),
        ({"loss_fn": lambda z, y: F.cross_entropy(z.softmax(1), y)}, "takes raw logits"),
        ({"loss_fn": _mse}, "mean squared error on one-hot targets"),
        ({"loss_fn": lambda z, y: _mse(z.softmax(1), y)}, "mean squared error on one-hot"),
        ({"ret": "tensor"}, "return loss.item(), a Python float, not a Tensor"),
        ({"ret": "after"}, "loss after optimizer.step()"),
        ({"ret": "none"}, "returned None"),
        ({"loss_fn": lambda z, y: F.cross_entropy(z, y, reduction="sum")}, "after call 1 on"),
    ],
)
def test_train_step_mistakes(options, hint):
    assert_wrong(check("train_step", lambda *a: _step(*a, **options)), hint)


def test_train_step_wrong_loss_value_with_right_weights():
    result = check("train_step", lambda *a: _step(*a) + 1)
    assert_wrong(result, "the weights are right, but call 1 on nn.Linear(5, 3)")


# ---- which_split ---------------------------------------------------------------------------

RIGHT = dict(zip(SPLIT_QUESTIONS, ("val", "test", "val", "train"), strict=True))


def test_which_split_correct():
    result = check("which_split", RIGHT)
    assert result.passed and repr(result) == "✓ which_split: all 4 answers right"
    assert check("which_split", {q: a.upper() + " " for q, a in RIGHT.items()}).passed
    assert check("which_split", {**RIGHT, SPLIT_QUESTIONS[0]: "validation"}).passed


@pytest.mark.parametrize(
    ("question", "answer", "hint"),
    [
        (0, "test", "makes the reported number optimistic"),
        (0, "train", "training accuracy rewards overfitting"),
        (1, "train", "overstates how it does on new data"),
        (1, "val", "report the untouched test split"),
        (2, "test", "no longer an unseen-data estimate"),
        (2, "train", "watch the validation loss"),
        (3, "val", "leak them into training"),
        (3, "test", "leak them into training"),
    ],
)
def test_which_split_each_wrong_answer_has_its_hint(question, answer, hint):
    result = check("which_split", {**RIGHT, SPLIT_QUESTIONS[question]: answer})
    assert_wrong(result, hint)
    assert SPLIT_QUESTIONS[question] in result.message


def test_which_split_bad_answers():
    assert_wrong(check("which_split", {**RIGHT, SPLIT_QUESTIONS[0]: "dev"}), "'dev' (for")
    assert_wrong(check("which_split", {**RIGHT, SPLIT_QUESTIONS[0]: ["val"]}), "is not one of")
    assert_wrong(check("which_split", {**RIGHT, "pick the seed": "val"}), "'pick the seed'")
    partial = {**RIGHT, SPLIT_QUESTIONS[1]: ..., SPLIT_QUESTIONS[2]: ...}
    assert_wrong(check("which_split", partial), f"{SPLIT_QUESTIONS[1]!r} is still unanswered")
    missing = {q: a for q, a in RIGHT.items() if q != SPLIT_QUESTIONS[3]}
    assert_wrong(check("which_split", missing), f"no answer for {SPLIT_QUESTIONS[3]!r}")
    assert_wrong(check("which_split", ["val"]), "answer with a dict")
    two = {**RIGHT, SPLIT_QUESTIONS[0]: "test", SPLIT_QUESTIONS[3]: "val"}
    assert_wrong(check("which_split", two), "(1 more answer(s) wrong)")


def test_standardize_hints_at_eps_and_clamping_for_constant_features():
    def eps(t, x):
        return (x - t.mean(0)) / (t.std(0) + 1e-8)

    def clamped(t, x):
        return (x - t.mean(0)) / t.std(0).clamp(min=1e-6)

    for answer in (eps, clamped):
        result = check("standardize", answer)
        assert result.status == "wrong" and "divide such features by 1" in result.message


def test_macro_f1_hints_at_classes_that_never_occur():
    def sklearn_without_labels(cm):
        from sklearn.metrics import f1_score

        cm = np.asarray(cm)
        y_true = np.repeat(np.repeat(np.arange(len(cm)), len(cm)), cm.ravel())
        y_pred = np.repeat(np.tile(np.arange(len(cm)), len(cm)), cm.ravel())
        return f1_score(y_true, y_pred, average="macro", zero_division=0)

    result = check("macro_f1", sklearn_without_labels)
    assert result.status == "wrong" and "labels=range(C)" in result.message


def test_a_not_implemented_error_from_a_library_is_a_wrong_answer_not_a_placeholder():
    def uses_complex_max(x):
        return torch.linalg.eigvals(torch.eye(2) * 2).max()  # complex: torch cannot max it

    def library(x):
        raise NotImplementedError("no kernel for this dtype")

    def calls_library(x):
        return library(x)

    for answer in (uses_complex_max, calls_library):
        with pytest.raises(Wrong, match="raised NotImplementedError"):
            call(answer, 1.0, on="x = 1")
    with pytest.raises(NotAttempted):
        call(stub, 1.0, on="x = 1")
