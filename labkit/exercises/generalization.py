"""Notebook 04 (generalization): `stratified_folds`, `early_stop` and `diagnose`.

`stratified_folds(y, k)` is graded on generated labels (sorted and shuffled, unequal class
sizes, labels that are not 0..C-1, k equal to the smallest class count): the folds must
partition the rows and give each class n_c // k or n_c // k + 1 rows per fold. `early_stop`
is replayed on hand-made validation-loss curves (a tie, a late improvement, curves that
never stop, one epoch) and seeded random ones, against the rule `labkit.fit` follows with
`patience`. `diagnose(train_acc, val_acc, restrained_val_acc, noise)` defines overfitting by
what helps: a restrained model (narrower, regularized, stopped earlier) that validates
higher by more than the band for a difference of two single runs, 2·√2 × `noise`, where
`noise` is one run's spread (the larger of the seed std and the sampling error; notebook
05's rule). Its cases pair equal gaps between 0.05 and 0.10 with and without such a gain, so
that no threshold on the gap or ratio passes, and include 0.90 itself, gains inside the
noise and a gain beyond one run's spread but inside the band for two. When an answer is
wrong, each checker looks for the common mistake it matches (contiguous chunks, (train, val)
pairs, training rows, range(C) for labels, 0-based epochs, a tie counted as an improvement,
the last epoch's weights kept, the source article's definition of underfitting, a gap read
as overfitting, a gain inside the noise, one run's spread used for a difference, …) and
returns that mistake's hint. Exposed as `EXERCISES`, which `labkit.exercises` merges.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from labkit.exercises.core import Exercise, call

TWO_RUNS = 2 * math.sqrt(2)  # two single runs differ beyond the noise past 2·√2 × one's spread

# ---- stratified_folds ----------------------------------------------------------------------


def _fold_cases() -> list[tuple[np.ndarray, int, str]]:
    """(labels, k, description): grouped and shuffled labels, unequal classes, odd labels."""
    rng = np.random.default_rng(0)
    grouped = np.repeat([0, 1, 2], [10, 7, 5])  # sorted by class, as files often are
    ten = rng.permutation(np.repeat(np.arange(10), rng.integers(8, 16, 10)))
    odd = rng.permutation(np.repeat([1, 4, 9], [6, 9, 4]))  # labels 1, 4, 9; smallest 4
    two = rng.permutation(np.repeat([0, 1], [3, 12]))  # imbalanced, k = smallest count
    pairs = rng.permutation(np.repeat([0, 1, 2, 3], [5, 7, 9, 11]))
    return [
        (grouped, 3, "y = 10 zeros, 7 ones, 5 twos in that order, k = 3"),
        (ten, 5, f"{len(ten)} shuffled labels of 10 classes (8 to 15 rows each), k = 5"),
        (odd, 4, "19 shuffled labels 1, 4 and 9 (6, 9 and 4 rows), k = 4"),
        (two, 3, "15 shuffled labels: 3 zeros and 12 ones, k = 3"),
        (pairs, 2, "32 shuffled labels of 4 classes (5, 7, 9, 11 rows), k = 2"),
    ]


def _as_index_array(fold: Any) -> np.ndarray | None:
    """A fold as a 1-D integer array, or None if it is not one."""
    try:
        a = np.asarray(fold.detach().cpu() if hasattr(fold, "detach") else fold)
    except (TypeError, ValueError):
        return None
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iuf"):
        return None
    if a.dtype.kind == "f":
        if not np.all(a == np.round(a)):
            return None
        a = a.astype(np.int64)
    return a.astype(np.int64)


def _check_folds_once(out: Any, y: np.ndarray, k: int, on: str) -> str | None:
    n = len(y)
    if isinstance(out, np.ndarray) and out.ndim == 2:
        out = list(out)
    if not isinstance(out, (list, tuple)):
        return f"return a list of {k} arrays of row indices, not {type(out).__name__}, for {on}"
    if out and all(isinstance(f, (list, tuple)) and len(f) == 2 for f in out):
        sizes = [sum(len(np.atleast_1d(np.asarray(p))) for p in f) for f in out]
        if all(s == n for s in sizes):
            return (
                "you returned (train, val) pairs; return only each fold's validation row "
                "indices: the training rows of fold i are all the others"
            )
    if out and all(np.asarray(f).dtype == bool and np.asarray(f).shape == (n,) for f in out):
        return "return row indices (np.flatnonzero(mask)), not boolean masks"
    if len(out) != k:
        return f"you returned {len(out)} folds for {on}; expected k = {k}"
    folds = [_as_index_array(f) for f in out]
    if any(f is None for f in folds):
        return f"each fold must be a 1-D array of integer row indices (for {on})"
    rows = np.concatenate(folds) if folds else np.array([], dtype=np.int64)
    if len(rows) == n and np.array_equal(np.sort(rows), np.sort(y)) and set(rows) != set(range(n)):
        return "you returned labels (values of y); return row indices, the positions in y"
    outside = rows[(rows < 0) | (rows >= n)]
    if len(outside):
        return f"index {outside[0]} is not a row of y ({n} rows, 0 to {n - 1}) for {on}"
    seen = np.bincount(rows, minlength=n)
    if k > 2 and (seen == k - 1).all():
        return (
            f"every row is in {k - 1} of the {k} folds (for {on}): those are the training rows "
            "of each fold; return each fold's validation rows, the ones it leaves out"
        )
    if (seen > 1).any():
        row = np.flatnonzero(seen > 1)[0]
        return f"row {row} is in {seen[row]} folds for {on}; each row belongs to exactly one"
    if (seen == 0).any():
        missing = np.flatnonzero(seen == 0)
        lost = [int(c) for c in np.unique(y) if not seen[y == c].any()]
        if lost:
            return (
                f"no row of class {lost[0]} is in any fold (for {on}, labels "
                f"{np.unique(y).tolist()}): loop over the labels that occur, np.unique(y), "
                "not range(number of classes); labels need not be 0..C-1"
            )
        return (
            f"{len(missing)} row(s) are in no fold, e.g. row {missing[0]}, for {on}: every row "
            "must be validated once (leftovers of n_c // k included)"
        )
    for c in np.unique(y):
        counts = [int((y[f] == c).sum()) for f in folds]
        n_c = int((y == c).sum())
        low, high = n_c // k, -(-n_c // k)
        if min(counts) < low or max(counts) > high:
            chunks = [set(f.tolist()) for f in np.array_split(np.arange(n), k)]
            if [set(f.tolist()) for f in folds] == chunks:
                return (
                    "you cut the rows in order into k chunks: the folds then follow the order "
                    f"of the file, not the classes (for {on}, class {c} has {counts} rows per "
                    "fold). Split each class's rows over the folds instead"
                )
            remainder = n_c % k
            if remainder > 1 and sorted(counts) == [low] * (k - 1) + [low + remainder]:
                return (
                    f"class {c} has {n_c} rows: {low} per fold, and all {remainder} leftovers "
                    f"went to one fold (for {on}); deal the leftovers one per fold, as "
                    "np.array_split does"
                )
            return (
                f"not stratified: class {c} ({n_c} rows) has {counts} rows in the {k} folds for "
                f"{on}; each fold should get {low} or {high}. Split each class's rows over the "
                "folds (e.g. np.array_split of np.flatnonzero(y == c))"
            )
    return None


def _check_stratified_folds(fn: Any) -> str | None:
    for y, k, on in _fold_cases():
        out = call(fn, y.copy(), k, on=on)
        hint = _check_folds_once(out, y, k, on)
        if hint:
            return hint
    return None


# ---- early_stop ----------------------------------------------------------------------------


def _early_stop(
    losses: list[float],
    patience: int,
    *,
    tie: bool = False,  # mistake: a tie counts as an improvement (<=)
    late: bool = False,  # mistake: stop when epochs since the best exceed patience (>)
    previous: bool = False,  # mistake: count epochs since the last decrease, not the best
    horizon: bool = False,  # mistake: the best epoch over the whole list, even after stopping
    last: bool = False,  # mistake: a run that never stopped keeps its last epoch's weights
) -> tuple[int, int]:
    """Reference (with every flag False): the rule of labkit.fit with `patience`."""
    best_epoch, best, since = 0, math.inf, 0
    stop = len(losses)
    for epoch, loss in enumerate(losses, start=1):
        if previous:
            since = 0 if epoch == 1 or loss < losses[epoch - 2] else since + 1
        if loss < best or (tie and loss == best):
            best_epoch, best = epoch, loss
        waited = since if previous else epoch - best_epoch
        if (waited > patience) if late else (waited >= patience):
            stop = epoch
            break
    if horizon:
        best_epoch = 1 + int(np.argmin(losses))
    if last and stop - best_epoch < patience:
        best_epoch = stop
    return stop, best_epoch


def _loss_cases() -> list[tuple[list[float], int, str]]:
    cases = [
        ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9, 0.95], 3, "a curve with its minimum at epoch 3"),
        ([1.0, 0.9, 0.8, 0.7], 2, "a curve that falls every epoch"),
        ([1.0, 0.5, 0.5, 0.5, 0.6, 0.7], 2, "a curve with a tie at its lowest value"),
        ([0.9, 1.0, 0.8], 1, "a curve that rises after epoch 1, with patience 1"),
        ([1.0, 0.5, 0.9, 0.8, 0.7, 0.6, 0.55], 3, "a curve that rises, then falls slowly"),
        ([1.0, 0.6, 0.7, 0.8, 0.5, 0.9, 0.95, 0.97, 0.99, 0.4], 3, "a late new minimum"),
        ([0.3], 1, "a single epoch"),
        ([1.0, 0.5, 0.6, 0.7], 3, "a curve that never stops, its best at epoch 2"),
    ]
    rng = np.random.default_rng(0)
    for i in range(6):
        n = int(rng.integers(6, 30))
        walk = np.exp(np.cumsum(rng.normal(-0.05, 0.15, n)))
        cases.append(([round(float(v), 4) for v in walk], int(rng.integers(1, 6)), f"curve {i}"))
    return cases


_STOP_MISTAKES: tuple[tuple[Callable[[list[float], int], tuple[int, int]], str], ...] = (
    (
        lambda v, p: tuple(e - 1 for e in _early_stop(v, p)),
        "your epochs are counted from 0; count them from 1: val_losses[0] is the loss after "
        "epoch 1",
    ),
    (
        lambda v, p: _early_stop(v, p)[::-1],
        "you returned (best_epoch, stop_epoch); return (stop_epoch, best_epoch)",
    ),
    (
        partial(_early_stop, tie=True),
        "a tie is not an improvement: a new best epoch needs a strictly lower loss (<, not <=); "
        "otherwise a flat curve would never stop",
    ),
    (
        partial(_early_stop, late=True),
        "you stop one epoch late: stop as soon as the epochs since the best reach patience "
        "(epoch - best_epoch >= patience), not when they exceed it",
    ),
    (
        lambda v, p: (_early_stop(v, p)[0],) * 2,
        "you keep the weights of the epoch you stopped at; early stopping keeps (restores) "
        "the weights of the best epoch, the one with the lowest validation loss so far",
    ),
    (
        partial(_early_stop, horizon=True),
        "your best epoch is the lowest loss of the whole list, including epochs after the stop; "
        "training never ran those: the best epoch is the best among the epochs up to the stop",
    ),
    (
        partial(_early_stop, previous=True),
        "you count epochs since the loss last went down; count epochs since the best (lowest) "
        "loss so far: a slow descent that stays above the best is still no improvement",
    ),
    (
        lambda v, p: (len(v), 1 + int(np.argmin(v))),
        "you never stop early: stop after the first epoch that is `patience` epochs past the "
        "best epoch so far",
    ),
    (
        partial(_early_stop, last=True),
        "when training runs to the last epoch without stopping, you keep the last epoch's "
        "weights; labkit.fit restores the best epoch's weights at the end of a full run too: "
        "return the best epoch",
    ),
)


def _pair(out: Any) -> tuple[int, int] | None:
    """`out` as two integer epochs, or None."""
    if not isinstance(out, (tuple, list, np.ndarray)) or len(out) != 2:
        return None
    try:
        a, b = (float(v) for v in out)
    except (TypeError, ValueError):
        return None
    if not (a.is_integer() and b.is_integer()):
        return None
    return int(a), int(b)


def _check_early_stop(fn: Any) -> str | None:
    cases = _loss_cases()
    outs = []
    for losses, patience, on in cases:
        out = call(fn, list(losses), patience, on=f"{on} (patience {patience})")
        pair = _pair(out)
        if pair is None:
            kind = type(out).__name__
            return f"return a pair of epochs (stop_epoch, best_epoch), not {out!r} ({kind})"
        outs.append(pair)
    expected = [_early_stop(v, p) for v, p, _ in cases]
    if outs == expected:
        return None
    for mistake, hint in _STOP_MISTAKES:
        if outs == [mistake(v, p) for v, p, _ in cases]:
            return hint
    i = next(i for i, (o, e) in enumerate(zip(outs, expected, strict=True)) if o != e)
    losses, patience, on = cases[i]
    return (
        f"for val_losses = {losses} and patience = {patience} ({on}) you returned {outs[i]}; "
        f"expected {expected[i]}"
    )


# ---- diagnose ------------------------------------------------------------------------------

_LABELS = ("underfitting", "overfitting", "good fit")
_SYNONYMS = {"underfit": "underfitting", "overfit": "overfitting", "good": "good fit"}
# (train_acc, val_acc, restrained_val_acc, noise). Cases 4 and 5 (and 6 and 7) share train,
# validation and noise and differ only in what restraint did: no rule on the gap (t - v above
# 0.05 or 0.10, v / t below 0.95, ...) can label both right.
_DIAGNOSE_CASES = (  # noise: one run's spread; the band for a difference is 2·√2 × noise
    (0.60, 0.58, 0.55, 0.013),
    (0.70, 0.40, 0.38, 0.02),
    (1.00, 0.80, 0.88, 0.02),  # +0.08 beyond 2·√2 × 0.02 = 0.057
    (1.00, 0.93, 0.935, 0.013),  # gap 0.07, restraint ties: not overfitting
    (1.00, 0.93, 0.98, 0.013),  # gap 0.07, restraint helps (+0.05 > 0.037): overfitting
    (0.98, 0.90, 0.91, 0.015),  # gap 0.08, a tie
    (0.98, 0.90, 0.95, 0.015),  # gap 0.08, helps (+0.05 > 0.042)
    (0.99, 0.95, 0.99, 0.01),  # gap 0.04, yet restraint helps (+0.04 > 0.028)
    (0.95, 0.93, 0.92, 0.013),
    (0.90, 0.88, 0.88, 0.013),  # 0.90 itself
    (1.00, 0.94, 0.88, 0.013),  # restraint hurts: it would underfit
    (1.00, 0.91, 0.92, 0.013),  # gap 0.09; +0.01 is inside the noise
    (0.45, 0.44, 0.44, 0.013),
    (0.93, 0.99, 0.99, 0.013),
    (0.85, 0.84, 0.84, 0.013),
    (0.85, 0.92, 0.92, 0.013),  # the source article's "bad on training, good on new data"
    (0.97, 0.70, 0.80, 0.03),  # +0.10 beyond 0.085
    (0.85, 0.70, 0.76, 0.013),  # underfitting comes first, though restraint helps
    (1.00, 0.92, 0.96, 0.03),  # +0.04 is inside 2·√2 × 0.03 = 0.085 (not inside 0.037)
    (1.00, 0.94, 0.94, 0.013),  # gap 0.06, v / t = 0.94
    (1.00, 0.91, 0.93, 0.013),  # +0.02: beyond one run's spread, inside the band for two
)


def _diagnose(
    train_acc: float, val_acc: float, restrained: float, noise: float, *, mistake: str = ""
) -> str:
    """Reference (mistake=''); the mistakes replay common wrong rules."""
    helped = restrained - val_acc
    if mistake == "abs":
        helped = abs(helped)
    band = TWO_RUNS * noise  # the band for a difference of two single runs
    # 0.013: the sampling error at 0.93 on 360 digits, taken as the spread whatever `noise` is
    threshold = {"no noise": 0.0, "fixed noise": TWO_RUNS * 0.013, "one run": noise}.get(
        mistake, band
    )
    overfits = helped > threshold
    if mistake == "helps first" and overfits:
        return "overfitting"
    if mistake == "val":  # an overfit model's low validation accuracy read as underfitting
        low = val_acc < 0.90 or train_acc < 0.90
    elif mistake == "source article":  # "poor on training, good on new data"
        low = train_acc < 0.90 and val_acc >= 0.90
    elif mistake == "both":
        low = train_acc < 0.90 and val_acc < 0.90
    elif mistake == "boundary":
        low = train_acc <= 0.90
    else:
        low = train_acc < 0.90
    if low:
        return "underfitting"
    return "overfitting" if overfits else "good fit"


_DIAGNOSE_MISTAKES = (
    (
        "source article",
        "a model that is poor on its training data is underfitting, and with correct labels it "
        "is poor on new data too: underfitting is low training *and* low validation accuracy "
        "(the source article's 'good on new data' is wrong)",
    ),
    (
        "val",
        "underfitting is judged on the training accuracy: an overfit model also has a low "
        "validation accuracy, but it fits its training data (check train_acc < 0.90)",
    ),
    (
        "both",
        "training accuracy below 0.90 is underfitting whatever the validation accuracy: a "
        "validation accuracy above the training one does not rescue a model that has not "
        "learned its (correct) training labels",
    ),
    ("boundary", "0.90 itself is not below 0.90: use train_acc < 0.90, not <="),
    (
        "helps first",
        "check underfitting first: a model below 0.90 on its own training data needs capacity "
        "or training, whatever restraint does to it",
    ),
    (
        "no noise",
        "a gain inside the noise is a tie, not a sign of overfitting: call it overfitting only "
        "when restrained_val_acc - val_acc > 2 * math.sqrt(2) * noise",
    ),
    (
        "abs",
        "a restrained model that validates *lower* shows the opposite of overfitting (restraint "
        "would make it underfit): use restrained_val_acc - val_acc, not its absolute value",
    ),
    (
        "one run",
        "`noise` is one run's spread, but restrained_val_acc - val_acc is a difference of two "
        "runs: it moves by √2 × noise, and two equally good models land up to 2·√2 × noise "
        "apart. Call it overfitting only when the gain exceeds 2 * math.sqrt(2) * noise",
    ),
    (
        "fixed noise",
        "use the `noise` you are given, not a fixed ±0.013: one run's spread depends on the "
        "accuracy, the number of validation rows and the spread over seeds",
    ),
)


def _normalize(answer: Any) -> str | None:
    if not isinstance(answer, str):
        return None
    text = " ".join(answer.strip().lower().replace("_", " ").replace("-", " ").split())
    text = _SYNONYMS.get(text, text)
    return text if text in _LABELS else None


def _describe(case: tuple[float, float, float, float]) -> str:
    t, v, r, n = case
    return f"train_acc={t}, val_acc={v}, restrained_val_acc={r}, noise={n}"


def _check_diagnose(fn: Any) -> str | None:
    said = []
    for case in _DIAGNOSE_CASES:
        out = call(fn, *case, on=_describe(case))
        label = _normalize(out)
        if label is None:
            return (
                f"return one of {', '.join(map(repr, _LABELS))}; got {out!r} for {_describe(case)}"
            )
        said.append(label)
    expected = [_diagnose(*case) for case in _DIAGNOSE_CASES]
    if said == expected:
        return None
    for mistake, hint in _DIAGNOSE_MISTAKES:
        if said == [_diagnose(*case, mistake=mistake) for case in _DIAGNOSE_CASES]:
            return hint
    # Two cases that differ only in restrained_val_acc, labelled alike though they should not
    # be: the answer reads the gap (or the ratio) and ignores what restraint did.
    for i, j in itertools.combinations(range(len(_DIAGNOSE_CASES)), 2):
        (ti, vi, ri, ni), (tj, vj, rj, nj) = _DIAGNOSE_CASES[i], _DIAGNOSE_CASES[j]
        if (ti, vi, ni) == (tj, vj, nj) and said[i] == said[j] and expected[i] != expected[j]:
            return (
                f"for a gap of {ti - vi:.2f} you said {said[i]!r} both when restraint raised "
                f"validation accuracy to {max(ri, rj)} and when it only reached {min(ri, rj)}: "
                "the gap is a symptom, not the definition. Overfitting means restraint helps: "
                "restrained_val_acc - val_acc > 2·√2 × noise"
            )
    i = next(i for i, (s, e) in enumerate(zip(said, expected, strict=True)) if s != e)
    case = _DIAGNOSE_CASES[i]
    why = {
        "underfitting": "training accuracy below 0.90 is underfitting, checked first",
        "overfitting": "restraint raised validation accuracy by more than the noise "
        "(2·√2 × noise, the band for a difference of two runs)",
        "good fit": "restraint did not raise validation accuracy by more than the noise "
        "(2·√2 × noise), so this is no overfitting, whatever the gap",
    }[expected[i]]
    return f"for {_describe(case)} you said {said[i]!r}; expected {expected[i]!r}: {why}"


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "stratified_folds",
            "Write `stratified_folds(y, k)`: for integer labels `y` (1-D numpy array) return a "
            "list of `k` numpy arrays of row indices, the validation rows of each fold, so that "
            "every row is in exactly one fold and a class with n_c rows has n_c // k or "
            "n_c // k + 1 of them in every fold.",
            _check_stratified_folds,
            f"passed on {len(_fold_cases())} label sets: grouped and shuffled, unequal classes, "
            "labels that are not 0..C-1, k equal to the smallest class",
        ),
        Exercise(
            "early_stop",
            "Write `early_stop(val_losses, patience) -> (stop_epoch, best_epoch)`, epochs counted "
            "from 1: training stops after the first epoch that is `patience` epochs past the "
            "best epoch so far (lowest loss; a tie is no improvement), or after the last epoch; "
            "the best epoch's weights are kept.",
            _check_early_stop,
            f"passed on {len(_loss_cases())} validation-loss curves, ties and late minima "
            "included: the rule labkit.fit follows",
        ),
        Exercise(
            "diagnose",
            "Write `diagnose(train_acc, val_acc, restrained_val_acc, noise)` returning "
            "'underfitting' (training accuracy below 0.90), else 'overfitting' (the restrained "
            "model, narrower, regularized or stopped earlier, validates higher by more than "
            "2·√2 × `noise`, where `noise` is one run's spread: the larger of the seed std and "
            "the sampling error), else 'good fit', whatever the gap.",
            _check_diagnose,
            f"passed on {len(_DIAGNOSE_CASES)} cases, gaps of 0.05 to 0.10 with and without a "
            "gain from restraint, 0.90 itself and gains beyond one run's spread but inside "
            "the band for two runs included",
        ),
    )
}
