"""Notebook 10 (export): `parity` and `serve`.

`parity(expected, got)` is graded on pairs of logits (B, C), PyTorch's and a runtime's, of
one row, several rows, identical outputs, and differences whose largest is negative,
against what `labkit.export.check_parity` computes: (the largest |got − expected|, the
fraction of rows whose top class agrees). Mistakes diagnosed: the mean difference in place
of the largest, the signed difference (no absolute value), a count of agreeing rows in place
of a fraction, a percentage, the disagreement in place of the agreement, and the top class
taken over the rows (axis 0) in place of the classes.

`serve(raw, metadata, run)` is graded on raw inputs with the statistics and class names a
file's metadata holds (`labkit.export.data_metadata`), run through a fixed linear model: the
reference standardizes with the stored mean and std, runs, and names each row's top class.
Mistakes diagnosed: no standardization, the mean or the std forgotten, the statistics
applied backwards (× std), class indices in place of names, and the top class taken over
the rows (row numbers that index past the class list). Exposed as `EXERCISES`, which
`labkit.exercises` merges.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from labkit.exercises.core import Exercise, array, call

# ---- parity --------------------------------------------------------------------------------


def _parity(expected: np.ndarray, got: np.ndarray, *, mistake: str = "") -> tuple[float, float]:
    """Reference (mistake=''): check_parity's two numbers. The mistakes replay wrong answers."""
    diff = got - expected
    if mistake == "signed":
        largest = float(diff.max())
    elif mistake == "mean":
        largest = float(np.abs(diff).mean())
    else:
        largest = float(np.abs(diff).max())
    axis = 0 if mistake == "axis 0" else 1
    same = got.argmax(axis) == expected.argmax(axis)
    agreement = float(same.mean())
    if mistake == "count":
        agreement = float(same.sum())
    elif mistake == "percent":
        agreement *= 100
    elif mistake == "disagreement":
        agreement = 1 - agreement
    return largest, agreement


def _parity_cases() -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(expected, got, description) on fixed seeds: float32 logits as a runtime returns."""
    rng = np.random.default_rng(10)
    cases = []
    expected = rng.normal(size=(7, 10)).astype(np.float32)
    got = expected + rng.normal(scale=1e-6, size=(7, 10)).astype(np.float32)
    cases.append((expected, got, "7 rows × 10 classes that differ by about 1e-6 (fp32 noise)"))
    expected = rng.normal(size=(12, 10)).astype(np.float32)
    got = expected + rng.normal(scale=0.05, size=(12, 10)).astype(np.float32)
    for row in (2, 5, 9):  # an int8 model: a few rows change their top class
        top = expected[row].argmax()
        got[row, (top + 1) % 10] = expected[row, top] + 0.5
    got[7, 3] = expected[7, 3] - 0.9  # the largest difference is negative
    cases.append((expected, got, "12 rows × 10 classes, 3 rows changing their top class and "
                                 "the largest difference negative"))  # fmt: skip
    expected = rng.normal(size=(1, 4)).astype(np.float32)
    got = expected.copy()
    got[0, expected[0].argmin()] -= 0.2
    cases.append((expected, got, "one row of 4 classes"))
    expected = rng.normal(size=(5, 3)).astype(np.float32)
    cases.append((expected, expected.copy(), "5 rows, got identical to expected"))
    expected = rng.normal(size=(3, 8)).astype(np.float32)
    got = expected + rng.normal(scale=0.3, size=(3, 8)).astype(np.float32)
    got[1, expected[1].argmax()] -= 5.0  # this row's top class changes
    cases.append((expected, got, "3 rows × 8 classes, one row changing its top class"))
    return cases


_PARITY_MISTAKES = (  # checked in this order: the first that replays every case gives the hint
    ("mean", "that is the mean difference; the gate needs the largest, |got − expected|.max(): "
             "one wrong logit is enough to change an answer"),
    ("signed", "take the absolute value before the max: a runtime that answers 0.9 lower is as "
               "wrong as one that answers 0.9 higher, np.abs(got − expected).max()"),
    ("count", "that is the number of agreeing rows; the agreement is a fraction of the rows, "
              "from 0 to 1: (top classes equal).mean()"),
    ("percent", "return the agreement as a fraction from 0 to 1, not a percentage"),
    ("disagreement", "that is the share of rows whose top class differs; return the share whose "
                     "top class agrees"),
    ("axis 0", "take each row's top class, argmax over the classes (axis=1); argmax(0) picks, "
               "for each class, the row that scores it highest"),
)  # fmt: skip


def _pair(out: Any) -> tuple[float, float] | None:
    if isinstance(out, (str, bytes, dict)) or not isinstance(out, Iterable):
        return None
    items = list(out)
    numbers = [array(v) for v in items]
    if len(items) != 2 or any(v is None or v.size != 1 for v in numbers):
        return None
    return tuple(float(v.reshape(())) for v in numbers)  # type: ignore[return-value]


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-9) for x, y in zip(a, b, strict=True))


def _check_parity(fn: Any) -> str | None:
    cases = _parity_cases()
    outs = []
    for expected, got, on in cases:
        out = call(fn, expected.copy(), got.copy(), on=on)
        pair = _pair(out)
        if pair is None:
            return f"return two numbers, (max_abs_diff, top1_agreement); got {out!r} for {on}"
        outs.append(pair)
    wanted = [_parity(e, g) for e, g, _ in cases]
    if all(_close(o, w) for o, w in zip(outs, wanted, strict=True)):
        return None
    if all(_close(o[::-1], w) for o, w in zip(outs, wanted, strict=True)):
        return "you returned (top1_agreement, max_abs_diff); return (max_abs_diff, top1_agreement)"
    for mistake, hint in _PARITY_MISTAKES:
        replayed = [_parity(e, g, mistake=mistake) for e, g, _ in cases]
        if all(_close(o, r) for o, r in zip(outs, replayed, strict=True)):
            return hint
    for out, want, (_, _, on) in zip(outs, wanted, cases, strict=True):
        if not _close(out, want):
            return (f"for {on} the answer is ({want[0]:.6g}, {want[1]:.6g}); you returned "
                    f"({out[0]:.6g}, {out[1]:.6g})")  # fmt: skip
    return None


# ---- serve ---------------------------------------------------------------------------------


def _linear_run(w: np.ndarray, b: np.ndarray) -> Callable[[Any], np.ndarray]:
    """A stand-in for ort_predictor(session): float32 rows (N, F) -> logits (N, C)."""

    def run(x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != w.shape[0]:
            raise ValueError(f"the model takes rows of shape (N, {w.shape[0]}); got {x.shape}")
        return x @ w + b

    return run


def _serve_cases() -> list[tuple[np.ndarray, dict, Callable, np.ndarray, np.ndarray, str]]:
    """(raw, metadata, run, w, b, description): raw rows far from standardized, as a client
    sends them, with the training statistics and class names a file's metadata holds."""
    rng = np.random.default_rng(20)
    cases = []
    for n, features, names, on in (
        (30, 64, ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                  "nine"], "30 rows of 64 raw pixels, 10 digit classes"),
        (9, 5, ["cat", "dog", "bird"], "9 rows of 5 features, classes cat, dog, bird"),
        (1, 64, ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                 "nine"], "a single row of 64 raw pixels"),
    ):  # fmt: skip
        mean = rng.uniform(2, 10, size=features).astype(np.float32)
        std = rng.uniform(0.3, 4, size=features).astype(np.float32)
        raw = (mean + std * rng.normal(size=(n, features))).astype(np.float32)
        w = rng.normal(size=(features, len(names))).astype(np.float32)
        b = rng.normal(size=len(names)).astype(np.float32)
        metadata = {"classes": names, "mean": mean.tolist(), "std": std.tolist()}
        cases.append((raw, metadata, _linear_run(w, b), w, b, on))
    return cases


def _serve(raw: np.ndarray, metadata: dict, w: np.ndarray, b: np.ndarray, *, mistake: str = ""):
    """Reference (mistake=''): (raw − mean) / std, the linear model, each row's class name."""
    mean, std = np.asarray(metadata["mean"]), np.asarray(metadata["std"])
    inputs = {"raw": raw, "no std": raw - mean, "no mean": raw / std}
    inputs["times std"] = (raw - mean) * std
    x = inputs.get(mistake, (raw - mean) / std)
    top = (x.astype(np.float32) @ w + b).argmax(1)
    if mistake == "indices":
        return [int(i) for i in top]
    return [metadata["classes"][i] for i in top]


_SERVE_MISTAKES = (  # checked in this order: the first that replays every case gives the hint
    ("raw", "the model was trained on standardized inputs: compute (raw − mean) / std with the "
            "metadata's mean and std before calling run, or it sees values it never saw"),
    ("no std", "divide by the std too: (raw − mean) / std, feature by feature"),
    ("no mean", "subtract the mean first: (raw − mean) / std, feature by feature"),
    ("times std", "that undoes a standardization; to standardize, divide: (raw − mean) / std"),
    ("indices", "return the class names, metadata['classes'][i] for each row's top index i, "
                "not the indices: the server answers in the labels its clients know"),
)  # fmt: skip
_SERVE_WHY = {  # argmax over the rows (axis 0) gives row numbers, past the list of classes
    IndexError: "is an index past the class list? Take each row's top class, argmax over the "
    "classes (axis=1), one name per row"
}


def _names(out: Any) -> list | None:
    if isinstance(out, (str, bytes, dict)) or not isinstance(out, Iterable):
        return None
    items = list(out.tolist() if isinstance(out, np.ndarray) else out)
    return [i.item() if isinstance(i, np.generic) else i for i in items]


def _check_serve(fn: Any) -> str | None:
    cases = _serve_cases()
    outs = []
    for raw, metadata, run, _, _, on in cases:
        meta = {k: list(v) for k, v in metadata.items()}  # a copy the answer may change
        answer = call(fn, raw.copy(), meta, run, on=on, why=_SERVE_WHY)
        out = _names(answer)
        if out is None:
            return f"return a list with one class name per row; got {answer!r} for {on}"
        outs.append(out)
    wanted = [_serve(raw, meta, w, b) for raw, meta, _, w, b, _ in cases]
    if outs == wanted:
        return None
    for mistake, hint in _SERVE_MISTAKES:
        if outs == [_serve(raw, m, w, b, mistake=mistake) for raw, m, _, w, b, _ in cases]:
            return hint
    for out, want, case in zip(outs, wanted, cases, strict=True):
        if len(out) != len(want):
            return f"return one class name per row: {len(want)} for {case[-1]}; got {len(out)}"
        if out != want:
            wrong = next(i for i, (o, e) in enumerate(zip(out, want, strict=True)) if o != e)
            return (f"for {case[-1]}, row {wrong} is {want[wrong]!r}; you returned "
                    f"{out[wrong]!r}")  # fmt: skip
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "parity",
            "Write `parity(expected, got)`: for two arrays of logits of shape (B, C), PyTorch's "
            "`expected` and a runtime's `got`, return (max_abs_diff, top1_agreement): the "
            "largest |got − expected| over every element, and the fraction of rows (0 to 1) "
            "whose top class (argmax) is the same in both. These are the two numbers the "
            "parity gate, labkit.export.check_parity, judges a file by.",
            _check_parity,
            f"passed on {len(_parity_cases())} pairs of logits (one row to 12, identical "
            "outputs, top classes that change, a negative largest difference)",
        ),
        Exercise(
            "serve",
            "Write `serve(raw, metadata, run)`: `raw` is an array (N, F) of raw inputs as a "
            "client sends them, `metadata` the dict stored in the model's file ('classes': the "
            "class names, 'mean' and 'std': F numbers each, the training statistics), and "
            "`run` the model (a function of an (N, F) float32 array returning logits (N, C)). "
            "Return a list of N class names, the predicted class of each row.",
            _check_serve,
            f"passed on {len(_serve_cases())} requests (64 pixels and 10 digits, 5 features "
            "and 3 named classes, a single row): standardized with the file's statistics, "
            "answered with its class names",
        ),
    )
}
