"""Notebook 05 (experiments): `build_grid` and `seed_spread`.

`build_grid(grid)` is graded on grids of one to three parameters with unequal numbers of
values, a parameter with a single value, and the empty grid (one run with the defaults,
`[{}]`), against `labkit.search.make_grid`: every combination, as a dict per run, the last
parameter varying fastest. `seed_spread(accuracies)` is graded on fixed and seeded lists of
two to eight accuracies (a constant list included): the mean, the sample standard deviation
(n - 1) and the noise band 2·√2·std of a difference between two single runs. When an
answer is wrong, each checker looks for the common mistake it matches (zip instead of
every combination, the first parameter varying fastest, the names sorted as ParameterGrid
does, tuples without names, one dict shared by every run, [] for the empty grid; np.std's n
instead of n - 1, the standard error in place of the std, the variance, a band of
2·std, of std/√n or from the t quantile, …) and
returns that mistake's hint. Exposed as `EXERCISES`, which `labkit.exercises` merges.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy.stats import t as student_t

from labkit.exercises.core import Exercise, array, call

# ---- build_grid ----------------------------------------------------------------------------


def _build_grid(grid: Mapping[str, list], *, mistake: str = "") -> list:
    """Reference (mistake=''): labkit.search.make_grid. The mistakes replay wrong answers."""
    if mistake == "sorted names":  # sklearn's ParameterGrid sorts the names
        grid = dict(sorted(grid.items()))
    names = list(grid)
    if mistake == "zip":
        pairs = zip(*grid.values(), strict=False)  # stops at the shortest list
        return [dict(zip(names, combo, strict=True)) for combo in pairs]
    if mistake == "first fastest":
        combos = [c[::-1] for c in itertools.product(*reversed(list(grid.values())))]
    else:
        combos = list(itertools.product(*grid.values()))
    if mistake == "empty" and not names:
        return []
    if mistake == "tuples":
        return combos
    return [dict(zip(names, combo, strict=True)) for combo in combos]


_GRIDS = (  # (grid, how the hint names it)
    ({"lr": [0.01, 0.1], "optimizer": ["sgd", "adam"]}, "lr × optimizer, 2 × 2 values"),
    (
        {"lr": [0.001, 0.01, 0.1], "batch_size": [16, 64], "optimizer": ["sgd", "adam"]},
        "lr × batch_size × optimizer, 3 × 2 × 2 values",
    ),
    ({"lr": [0.01, 0.1], "batch_size": [16, 64, 256]}, "lr × batch_size, 2 × 3 values"),
    ({"seed": [0, 1, 2]}, "one parameter, seed, with 3 values"),
    ({"lr": [0.03], "epochs": [1, 2, 5]}, "lr with 1 value × epochs with 3"),
    ({}, "the empty grid {} (no parameter swept)"),
)

_GRID_MISTAKES = (
    (
        "zip",
        "you paired the i-th values of the parameters (zip): a grid tries every combination "
        "(itertools.product), so 2 and 3 values make 6 runs, not 2",
    ),
    (
        "first fastest",
        "right runs, wrong order: the last parameter should vary fastest, as in nested for-loops "
        "with the first parameter outermost (itertools.product(*grid.values()) does that)",
    ),
    (
        "sorted names",
        "right runs, wrong order: you sorted the parameter names (sklearn's ParameterGrid does): "
        "a sweep keeps the grid's own order, the last parameter varying fastest, so its runs "
        "and folders follow the grid as written",
    ),
    (
        "tuples",
        "return one dict {name: value} per run, not tuples of values: a run needs the names to "
        "set the notebook's parameters",
    ),
    (
        "empty",
        "an empty grid is one run with every default: return [{}] (itertools.product() of no "
        "lists yields one empty combination), not []",
    ),
)


def _as_runs(out: Any) -> list | None:
    """The answer as a list of runs, or None if it is not a sequence (or iterator) of runs."""
    if isinstance(out, (str, bytes, Mapping)) or not isinstance(out, Iterable):
        return None
    return list(out)


def _show(runs: list) -> str:
    shown = ", ".join(map(repr, runs[:3])) + (", …" if len(runs) > 3 else "")
    return f"[{shown}]"


def _check_build_grid(fn: Any) -> str | None:
    outs = []
    for grid, on in _GRIDS:
        copy = {name: list(values) for name, values in grid.items()}
        out = call(fn, copy, on=f"grid = {grid!r} ({on})")
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            return (
                f"you returned a number ({out!r}) for {on}: return the list of runs, one dict "
                "per run (their number is its length)"
            )
        runs = _as_runs(out)
        if runs is None:
            return (
                f"return a list of runs (one dict {{name: value}} each), not "
                f"{type(out).__name__}, for grid = {grid!r}"
            )
        if len(runs) > 1 and all(r is runs[0] for r in runs) and isinstance(runs[0], dict):
            return (
                f"every run in your list is the same dict object (for {on}), so they all show "
                "the last combination: build a new dict for each run"
            )
        outs.append(runs)
    expected = [_build_grid(grid) for grid, _ in _GRIDS]
    if outs == expected:
        return None
    for mistake, hint in _GRID_MISTAKES:
        if outs == [_build_grid(grid, mistake=mistake) for grid, _ in _GRIDS]:
            return hint
    for runs, want, (grid, on) in zip(outs, expected, _GRIDS, strict=True):
        if runs == want:
            continue
        if not all(isinstance(r, Mapping) for r in runs):
            return f"each run must be a dict {{name: value}}; for {on} you returned {_show(runs)}"
        if len(runs) != len(want):
            return (
                f"for grid = {grid!r} ({on}) you returned {len(runs)} runs; expected "
                f"{len(want)}, the product of the numbers of values"
            )
        if sorted(map(repr, runs)) == sorted(map(repr, want)):
            return (
                f"right runs, wrong order for {on}: keep each parameter's values in the order "
                "given, and vary the last parameter fastest (the first one outermost)"
            )
        i = next(i for i, (r, w) in enumerate(zip(runs, want, strict=True)) if r != w)
        return f"for grid = {grid!r} ({on}) run {i} is {runs[i]!r}; expected {want[i]!r}"
    return None


# ---- seed_spread ---------------------------------------------------------------------------

_BAND = 2 * math.sqrt(2)  # two standard deviations of a difference of two single runs


def _seed_spread(values: list[float], *, mistake: str = "") -> tuple[float, float, float]:
    """Reference (mistake=''): mean, sample std (n - 1) and the band 2·√2·std."""
    a = np.asarray(values, dtype=np.float64)
    std = float(a.std(ddof=0 if mistake == "ddof0" else 1))
    if mistake == "variance":
        std = std**2
    if mistake == "sem":  # the standard error of the mean in place of the std
        std /= math.sqrt(len(a))
    band = {
        "band t": float(student_t.ppf(0.975, len(a) - 1)) * math.sqrt(2) * std,
        "band 2std": 2 * std,
        "band std": std,
        "band sem": 2 * std / math.sqrt(len(a)),
        "band 2sem": _BAND * std / math.sqrt(len(a)),
        "band 1.96": 1.96 * math.sqrt(2) * std,
    }.get(mistake, _BAND * std)
    return float(a.mean()), std, band


def _seed_cases() -> list[tuple[list[float], str]]:
    rng = np.random.default_rng(5)
    cases = [
        ([0.95, 0.97], "two seeds, [0.95, 0.97]"),
        ([0.9, 0.92, 0.91], "three seeds, [0.9, 0.92, 0.91]"),
        ([0.9, 0.9, 0.9], "three equal accuracies (no spread)"),
        ([0.5, 1.0, 0.75, 0.6], "four seeds, [0.5, 1.0, 0.75, 0.6]"),
    ]
    for n in (3, 5, 8):
        values = [round(float(v), 4) for v in rng.normal(0.93, 0.015, n)]
        cases.append((values, f"{n} seeds, {values}"))
    return cases


_SPREAD_MISTAKES = (  # the standard error first: with two seeds it equals the n-divided std
    (
        "sem",
        "your std is the standard error of the mean, std/√n: that is how far the *mean* of "
        "n seeds may be off; the spread of one run is the sample standard deviation itself",
    ),
    (
        "ddof0",
        "your std divides by n (np.std's default, the population formula); with a few seeds "
        "use the sample standard deviation, dividing by n - 1 (np.std(a, ddof=1) or "
        "statistics.stdev): with 3 seeds it is 1.22 times larger",
    ),
    ("variance", "you returned the variance as std: take its square root"),
    (
        "band 2std",
        "the band is for a difference of two single runs: each has spread std, and variances "
        "add, so the difference has spread √2·std; two of those: band = 2·√2·std, not 2·std",
    ),
    (
        "band std",
        "the band is two standard deviations of a difference of two single runs: "
        "2·√2·std (√2·std is the spread of a difference, as variances add), not std",
    ),
    (
        "band sem",
        "std/√n is the spread of the *mean* of n seeds; the band is for two *single* runs, "
        "each with spread std: 2·√2·std",
    ),
    (
        "band 2sem",
        "2·√2·std/√n would compare two *means* of n seeds each; the band is for two *single* "
        "runs (what one sweep row is): 2·√2·std, without the √n",
    ),
    (
        "band t",
        "t(0.975, n - 1)·√2·std is the exact 95 % band for a std from n seeds (section 5 "
        "prints it beside the rule); this exercise asks for the round rough rule 2·√2·std",
    ),
    (
        "band 1.96",
        "1.96·√2·std is the exact normal 95 % quantile, but only for a std known exactly; "
        "ours comes from a few seeds, so this exercise uses the round rough rule 2·√2·std",
    ),
)


def _triple(out: Any) -> tuple[float, float, float] | None:
    if isinstance(out, (str, bytes, Mapping)) or not isinstance(out, Iterable):
        return None
    items = list(out)
    if len(items) != 3:
        return None
    numbers = [array(v) for v in items]
    if any(v is None or v.size != 1 for v in numbers):
        return None
    return tuple(float(v.reshape(())) for v in numbers)  # type: ignore[return-value]


# float32 answers (torch.tensor(a), np.float32) carry about 7 significant digits: a relative
# tolerance of 1e-5, and an absolute one for the std of a constant list (0 up to rounding)
_REL, _ABS = 1e-5, 1e-6


def _isclose(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=_REL, abs_tol=_ABS)


def _close(a: tuple, b: tuple) -> bool:
    return all(_isclose(x, y) for x, y in zip(a, b, strict=True))


def _check_seed_spread(fn: Any) -> str | None:
    cases = _seed_cases()
    outs = []
    for values, on in cases:
        out = call(fn, list(values), on=on)
        got = _triple(out)
        if got is None:
            return f"return three numbers (mean, std, band); got {out!r} for {on}"
        if not all(map(math.isfinite, got)):
            return f"you returned {got} for {on}: every number should be finite"
        outs.append(got)
    expected = [_seed_spread(values) for values, _ in cases]
    if all(_close(o, e) for o, e in zip(outs, expected, strict=True)):
        return None
    if all(_close(o, (e[1], e[0], e[2])) for o, e in zip(outs, expected, strict=True)):
        return "you returned (std, mean, band): return (mean, std, band), in that order"
    if all(_close(o, tuple(100 * x for x in e)) for o, e in zip(outs, expected, strict=True)):
        return "keep the scale of the accuracies (fractions from 0 to 1), not percent"
    for mistake, hint in _SPREAD_MISTAKES:
        if all(
            _close(o, _seed_spread(values, mistake=mistake))
            for o, (values, _) in zip(outs, cases, strict=True)
        ):
            return hint
    for mistake, hint in _SPREAD_MISTAKES[:2]:  # the std wrong in every case, the band too
        if all(
            _isclose(o[1], _seed_spread(values, mistake=mistake)[1])
            for o, (values, _) in zip(outs, cases, strict=True)
        ):
            return hint
    for (mean, std, band), (values, on) in zip(outs, cases, strict=True):
        want = _seed_spread(values)
        if not _isclose(mean, want[0]):
            return f"the mean of {on} is {want[0]:.6g}; you returned {mean:.6g}"
        if not _isclose(std, want[1]):
            return f"the sample standard deviation of {on} is {want[1]:.6g}; you returned {std:.6g}"
        if not _isclose(band, want[2]):
            return f"for {on} the band should be 2·√2·std = {want[2]:.6g}; you returned {band:.6g}"
    return None


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "build_grid",
            "Write `build_grid(grid)`: for a dict mapping each parameter name to the values to "
            "try, return the list of runs, one dict {name: value} per combination of values, "
            "the last parameter varying fastest (as `from labkit.search import make_grid` does); "
            "an empty grid is one run with the defaults, [{}].",
            _check_build_grid,
            f"passed on {len(_GRIDS)} grids (one to three parameters, a single value, the "
            "empty grid): every combination, in order",
        ),
        Exercise(
            "seed_spread",
            "Write `seed_spread(accuracies)`: for the test accuracies of one setting trained with "
            "several seeds (a list of at least 2 floats), return (mean, std, band): the mean, "
            "the sample standard deviation (dividing by n - 1), and band = 2·√2·std: a rough rule "
            "for how far apart two independent single runs of equally good settings can land "
            "by chance (about 95 % if std were known exactly; a std from a few seeds is itself "
            "rough, so the true band is wider).",
            _check_seed_spread,
            f"passed on {len(_seed_cases())} lists of 2 to 8 accuracies, a constant one included",
        ),
    )
}
