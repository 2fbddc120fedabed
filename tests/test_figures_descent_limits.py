"""labkit.figures.descent_limits: the mean-square limit and floor of SGD agree with their
closed forms in one dimension, give full-batch GD's 2/λ_max at B = n, and predict what runs of
SGD do; the bisection finds a threshold to the precision its halvings promise."""

import itertools
import math

import numpy as np
import pytest

from labkit.figures.descent_batches import shuffled_batches
from labkit.figures.descent_limits import MeanSquareSGD, bisect_threshold


def regression(n=512, scales=(2.0, 0.5), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(scales))) * np.array(scales)
    y = x @ np.arange(1.0, len(scales) + 1) + 0.5 * rng.normal(size=n)
    return x, y, np.linalg.lstsq(x, y, rcond=None)[0]


def test_one_dimension_matches_the_closed_forms():
    x, y, w = regression(scales=(1.5,))
    m = MeanSquareSGD.from_data(x, y, w)
    s, m4, m2r = (x**2).mean(), (x**4).mean(), ((y - x @ w) ** 2 * x[:, 0] ** 2).mean()
    # B = 1: T = 1 − 4 lr s + 4 lr² m4, which is 1 at lr = s / m4
    assert m.limit(1) == pytest.approx(s / m4, rel=1e-12)
    lr = 0.3 * m.limit(1)
    p = 4 * lr**2 * m2r / (4 * lr * s - 4 * lr**2 * m4)  # the fixed point P = T P + noise
    assert m.floor(lr, 1) == pytest.approx(s * p, rel=1e-12)
    assert m.floor(m.limit(1), 1) == math.inf


def test_the_full_batch_limit_is_two_over_lambda_max_and_the_limit_rises_with_b():
    x, y, w = regression()
    m = MeanSquareSGD.from_data(x, y, w)
    lam_max = np.linalg.eigvalsh(2 * x.T @ x / len(x))[-1]
    assert m.limit(len(x)) == pytest.approx(2 / lam_max, rel=1e-9)
    limits = [m.limit(b) for b in (1, 4, 16, 64, len(x))]
    assert all(a < b for a, b in itertools.pairwise(limits))
    assert limits[0] < 0.5 * limits[-1]  # Gaussian features: about a third of 2/λ_max
    top = max(abs(np.linalg.eigvals(m.step_map(limits[0], 1))))
    assert top == pytest.approx(1, abs=1e-9)
    assert m.floor(0.5 * limits[-1], len(x)) == 0  # the full batch has no noise


def test_the_derived_floor_is_what_sgd_runs_settle_at():
    x, y, w = regression()
    m = MeanSquareSGD.from_data(x, y, w)
    lr, b, steps, seeds = 0.25 * m.limit(4), 4, 4000, range(8)
    e = np.tile(w, (len(seeds), 1))[:, :, None]  # (runs, 2, 1): every run starts at w_opt
    excess = []
    for xb, yb in itertools.islice(shuffled_batches(x, y, b, seeds), steps):
        e = e - lr * 2 * xb.transpose(0, 2, 1) @ (xb @ e - yb) / b
        d = e[..., 0] - w
        excess.append(np.einsum("ri,ij,rj->r", d, m.second, d))
    measured = np.mean(excess[steps // 4 :])
    assert measured / m.floor(lr, b) == pytest.approx(1, abs=0.2)


def test_bisection_brackets_a_threshold_for_one_run_or_many():
    found = bisect_threshold(lambda lr: lr > 0.3, 1e-3, 1.0, halvings=20)
    assert isinstance(found, float) and 0.3 < found < 0.3 * (1e3 ** (1 / 2**20)) * 1.000001
    thresholds = np.array([0.02, 0.05, 0.2])
    many = bisect_threshold(lambda lr: lr > thresholds, 0.01, 0.4, halvings=12, desc="test")
    assert many.shape == (3,) and np.all(many > thresholds)
    assert np.all(many < thresholds * 40 ** (1 / 2**12) * 1.000001)
