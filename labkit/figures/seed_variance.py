"""Notebook 05, section 5: the chosen setting over several seeds, and what its spread says
about the sweep's one-run cells.

One rule for validation and test accuracy alike (`labkit.noise`): one run's spread is the
larger of the sample std over seeds and the sampling error √(p(1−p)/n) of one accuracy on the
n images it was measured on, and two independent single runs differ beyond the noise only
past 2·√2 × that spread. The reports also print how rough that is: a std from few seeds has
a wide interval (chi-square), and 2·√2·std covers fewer than 95 % of the differences when
std is estimated (Student's t).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import chi2
from scipy.stats import t as student_t

from labkit import noise


def noise_band(std: float, p: float, n: int) -> tuple[float, float]:
    """The spread of one run (the larger of the seed std and the sampling error of an accuracy
    p on n images) and the rough band 2·√2·spread for two independent single runs."""
    spread = noise.spread(std, p, n)
    return spread, noise.difference_band(spread)


def std_interval(std: float, seeds: int) -> tuple[float, float]:
    """A 95 % interval for the true std, as factors of a sample std from `seeds` numbers."""
    dof = seeds - 1
    low, high = (math.sqrt(dof / chi2.ppf(q, dof)) for q in (0.975, 0.025))
    return low, high


def seed_report(test: Sequence[float], val: Sequence[float], n_test: int) -> str:
    """The test and validation accuracies per seed with mean ± sample std, the sampling error
    of one test accuracy on `n_test` images, one run's spread (the larger), and how rough a
    std from so few seeds is."""
    test, val = np.asarray(test, float), np.asarray(val, float)
    lines = []
    if len(test) > 1:
        mean, std = float(test.mean()), float(test.std(ddof=1))
        lines.append(
            "test accuracy per seed:       "
            + ", ".join(f"{a:.3f}" for a in test)
            + f"  → mean ± std {mean:.3f} ± {std:.3f}"
        )
    else:
        lines.append("fewer than two seeds finished: no spread to measure")
    if len(val) > 1:
        lines.append(
            "validation accuracy per seed: "
            + ", ".join(f"{a:.3f}" for a in val)
            + f"  → mean ± std {val.mean():.3f} ± {val.std(ddof=1):.3f}"
        )
    if len(test) > 1:
        spread, _ = noise_band(std, mean, n_test)
        lines.append(
            f"sampling error of one test accuracy ({n_test} images): "
            f"± {noise.sampling_error(mean, n_test):.3f}; spread of one run's "
            f"test accuracy, the larger of the two: {spread:.3f}"
        )
        low, high = std_interval(std, len(test))
        lines.append(
            f"a std from {len(test)} seeds is rough: the true one may be {low:.2f} to "
            f"{high:.2f} times it (95 % interval), here {low * std:.3f} to "
            f"{high * std:.3f}"
        )
    return "\n".join(lines)


def band_report(
    best: Any, runner_up: Any, candidates: Any, val: Sequence[float], n_val: int
) -> str:
    """One run's spread of the validation accuracy from the seeds `val` and the band for two
    single runs, how rough that band is, the settings of the grid inside it (one run each
    cannot rank those against the chosen one), and the runner-up's verdict."""
    val = np.asarray(val, float)
    std, mean, dof = float(val.std(ddof=1)), float(val.mean()), len(val) - 1
    spread, band = noise_band(std, mean, n_val)
    lines = [
        f"spread of one run's validation accuracy: std over {len(val)} seeds {std:.3f} "
        f"(rough), sampling error on {n_val} images "
        f"{noise.sampling_error(mean, n_val):.3f}; the larger: {spread:.3f}",
        f"rough band for two independent single runs: 2·√2·{spread:.3f} = {band:.3f}",
        f"  (with a std from {len(val)} seeds, 2·√2·std covers about "
        f"{100 * (2 * student_t.cdf(2, dof) - 1):.0f} % of the differences, not 95 %; a 95 % "
        f"band from the seed std alone is {student_t.ppf(0.975, dof):.2f}·√2·std = "
        f"{student_t.ppf(0.975, dof) * math.sqrt(2) * std:.3f})",
    ]
    others = candidates[candidates.run_id != best.run_id]
    if len(others):
        ties = [
            not math.isnan(v) and noise.verdict(best.val_accuracy - v, band) == "tie"
            for v in others.val_accuracy
        ]  # a nan (no score) ties nothing
        within = others[ties]
        lines.append(
            f"{len(within)} of the {len(others)} other settings have a validation accuracy "
            f"within {band:.3f} of the chosen one's ({best.val_accuracy:.3f}): one run each "
            "cannot rank those against it"
            + "".join(
                f"\n  {r.optimizer}, lr={r.lr:g}, batch size {r.batch_size}: {r.val_accuracy:.3f}"
                for _, r in within.iterrows()
            )
        )
    if runner_up is not None:
        gap = best.val_accuracy - runner_up.val_accuracy
        tie = not math.isnan(gap) and noise.verdict(gap, band) == "tie"
        reading = (
            "inside the rough band: a tie, not enough evidence that the chosen one is better"
            if tie
            else "outside the rough band: a hint that the chosen one is better, not a proof"
        )
        lines.append(
            f"runner-up on validation: {runner_up.optimizer}, lr={runner_up.lr:g}, batch size "
            f"{runner_up.batch_size}: val {runner_up.val_accuracy:.3f}; gap {gap:+.3f} "
            f"({round(gap * n_val)} of {n_val} images), {gap / spread:.1f} × the spread of one "
            f"run; {reading} (rough: std from {len(val)} seeds)"
        )
    return "\n".join(lines)
