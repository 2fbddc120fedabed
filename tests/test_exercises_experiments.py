"""Notebook 05's exercises: the references pass, placeholders are "not attempted", and each
diagnosed mistake gets its own hint."""

import itertools
import math
import statistics

import numpy as np
import pytest
import torch
from exercise_checks import assert_wrong
from scipy.stats import t as student_t
from sklearn.model_selection import ParameterGrid

from labkit.exercises import check
from labkit.search import make_grid

# ---- build_grid ----------------------------------------------------------------------------


def build_grid(grid):
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def nested_loops(grid):  # recursion, the first parameter outermost
    if not grid:
        return [{}]
    (name, values), *rest = grid.items()
    return [{name: v, **run} for v in values for run in nested_loops(dict(rest))]


@pytest.mark.parametrize(
    "answer",
    [
        build_grid,
        make_grid,
        nested_loops,
        lambda g: (*build_grid(g),),
        lambda g: iter(make_grid(g)),
    ],
)
def test_build_grid_accepts_every_correct_answer(answer):
    result = check("build_grid", answer)
    assert result.passed and "6 grids" in result.message, result


def zipped(grid):
    return [dict(zip(grid, values, strict=False)) for values in zip(*grid.values(), strict=False)]


def first_fastest(grid):
    names = list(grid)
    combos = itertools.product(*reversed(list(grid.values())))
    return [dict(zip(names, values[::-1], strict=True)) for values in combos]


def shared_dict(grid):
    run, runs = {}, []
    for values in itertools.product(*grid.values()):
        run.update(zip(grid, values, strict=True))
        runs.append(run)
    return runs


def empty_is_nothing(grid):
    return build_grid(grid) if grid else []


def sorted_runs(grid):  # the right runs, sorted by their text: another order
    return sorted(build_grid(grid), key=repr)


def only_swept(grid):  # drops parameters with a single value
    return build_grid({k: v for k, v in grid.items() if len(v) > 1})


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (zipped, "you paired the i-th values of the parameters (zip)"),
        (first_fastest, "right runs, wrong order: the last parameter should vary fastest"),
        (sorted_runs, "keep each parameter's values in the order given"),
        (lambda g: list(ParameterGrid(g)), "you sorted the parameter names"),
        (lambda g: list(itertools.product(*g.values())), "return one dict {name: value} per run"),
        (empty_is_nothing, "an empty grid is one run with every default: return [{}]"),
        (shared_dict, "every run in your list is the same dict object"),
        (lambda g: math.prod(len(v) for v in g.values()), "return the list of runs, one dict"),
        (lambda g: g, "return a list of runs (one dict {name: value} each), not dict"),
        (lambda g: build_grid(g)[:-1], "you returned 3 runs; expected 4"),
        (only_swept, "run 0 is {'epochs': 1}; expected {'lr': 0.03, 'epochs': 1}"),
        (lambda g: [*build_grid(g)[:1], [1], *build_grid(g)[2:]], "each run must be a dict"),
        (lambda g: g["lr"], "raised KeyError"),
    ],
)
def test_build_grid_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("build_grid", answer), hint)


def test_build_grid_leaves_the_learner_a_fresh_grid_each_call():
    seen = []

    def mutating(grid):  # empties the lists it was given: must not spoil the next case
        seen.append({k: list(v) for k, v in grid.items()})
        runs = build_grid(grid)
        for values in grid.values():
            values.clear()
        return runs

    assert check("build_grid", mutating).passed
    assert seen[0] == {"lr": [0.01, 0.1], "optimizer": ["sgd", "adam"]}


# ---- seed_spread ---------------------------------------------------------------------------

BAND = 2 * math.sqrt(2)


def seed_spread(accuracies):
    a = np.asarray(accuracies, dtype=float)
    std = a.std(ddof=1)
    return a.mean(), std, BAND * std


def with_statistics(accuracies):
    std = statistics.stdev(accuracies)
    return statistics.mean(accuracies), std, BAND * std


def with_torch(accuracies):
    t = torch.tensor(accuracies, dtype=torch.float64)
    return t.mean(), t.std(), BAND * t.std()  # torch's std divides by n - 1 already


def with_float32_torch(accuracies):
    t = torch.tensor(accuracies)  # float32: about 7 significant digits
    return t.mean(), t.std(), BAND * t.std()


def with_float32_numpy(accuracies):
    a = np.asarray(accuracies, np.float32)
    return a.mean(), a.std(ddof=1), np.float32(BAND) * a.std(ddof=1)


@pytest.mark.parametrize(
    "answer",
    [
        seed_spread,
        with_statistics,
        with_torch,
        with_float32_torch,
        with_float32_numpy,
        lambda a: list(seed_spread(a)),
    ],
)
def test_seed_spread_accepts_every_correct_answer(answer):
    result = check("seed_spread", answer)
    assert result.passed and "7 lists" in result.message, result


def spread(accuracies, ddof=1, band=BAND, power=1.0, per_mean=False):
    a = np.asarray(accuracies, dtype=float)
    std = a.std(ddof=ddof) ** power
    return a.mean(), std, band * std / (math.sqrt(len(a)) if per_mean else 1)


def sem(accuracies, band=BAND):
    a = np.asarray(accuracies, dtype=float)
    se = a.std(ddof=1) / math.sqrt(len(a))  # with two seeds this equals a.std(ddof=0)
    return a.mean(), se, band * se


def t_band(accuracies):
    a = np.asarray(accuracies, dtype=float)
    return a.mean(), a.std(ddof=1), student_t.ppf(0.975, len(a) - 1) * math.sqrt(2) * a.std(ddof=1)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda a: spread(a, ddof=0), "your std divides by n (np.std's default"),
        (lambda a: spread(a, power=2), "you returned the variance as std"),
        (lambda a: spread(a, band=2), "the difference has spread √2·std"),
        (lambda a: spread(a, band=1), "2·√2·std (√2·std is the spread of a difference"),
        (lambda a: spread(a, band=2, per_mean=True), "std/√n is the spread of the *mean*"),
        (lambda a: spread(a, per_mean=True), "would compare two *means* of n seeds each"),
        (lambda a: spread(a, band=1.96 * math.sqrt(2)), "the exact normal 95 % quantile"),
        (lambda a: sem(a), "your std is the standard error of the mean"),
        (lambda a: sem(a, band=2), "your std is the standard error of the mean"),
        (lambda a: t_band(a), "the exact 95 % band for a std from n seeds"),
        (lambda a: (spread(a)[1], spread(a)[0], spread(a)[2]), "you returned (std, mean, band)"),
        (lambda a: tuple(100 * v for v in spread(a)), "not percent"),
        (lambda a: spread(a)[:2], "return three numbers (mean, std, band)"),
        (
            lambda a: (float(np.median(a)), *spread(a)[1:]),
            "the mean of four seeds, [0.5, 1.0, 0.75, 0.6] is 0.7125",
        ),
        (lambda a: (*spread(a)[:2], 2.0), "the band should be 2·√2·std"),
        (lambda a: (spread(a)[0], 0.05, spread(a)[2]), "standard deviation of two seeds, [0.95"),
        (lambda a: (math.nan, 0.0, 0.0), "every number should be finite"),
        (lambda a: "0.9 ± 0.01", "return three numbers"),
        (lambda a: a[5], "raised IndexError"),
    ],
)
def test_seed_spread_diagnoses_each_mistake(answer, hint):
    assert_wrong(check("seed_spread", answer), hint)


def test_seed_spread_hints_at_ddof_even_when_the_band_is_also_off():
    # std with n and a band of 2·std: the std is the first thing to fix
    assert_wrong(check("seed_spread", lambda a: spread(a, ddof=0, band=2)), "divides by n")
