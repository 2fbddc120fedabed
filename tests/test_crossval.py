import itertools
import statistics

import pytest
import torch

from labkit.crossval import CrossValidation, cross_validate, paired_difference
from labkit.data import make_blobs
from labkit.models import MLP
from labkit.train import TrainConfig
from labkit.validate import ConfigError


def _model():
    return MLP(in_features=4, hidden=(16,), classes=3)


def test_cross_validation_scores_every_fold_and_repeats():
    x, y = make_blobs(150, features=4, classes=3, spread=2.0, seed=0)
    cfg = TrainConfig(lr=0.02, epochs=5, batch_size=16)
    cv = cross_validate(_model, x, y, cfg, k_folds=3, seed=0, show_progress=False)
    assert len(cv.accuracy) == len(cv.f1_macro) == 3
    assert 0.7 < cv.accuracy_mean <= 1 and cv.accuracy_std >= 0
    assert min(cv.accuracy) <= cv.accuracy_mean <= max(cv.accuracy)
    again = cross_validate(_model, x, y, cfg, k_folds=3, seed=0, show_progress=False)
    assert again == cv  # seeded folds, seeded training: identical scores
    other = cross_validate(_model, x, y, cfg, k_folds=3, seed=1, show_progress=False)
    assert other.accuracy != cv.accuracy  # other folds


def test_cross_validation_refuses_early_stopping_on_the_scored_fold():
    x, y = make_blobs(60, features=4, classes=3, seed=0)
    with pytest.raises(ConfigError, match="patience=0"):
        cross_validate(_model, x, y, TrainConfig(patience=2), k_folds=3)
    with pytest.raises(ConfigError, match="k_folds must be an integer >= 2"):
        cross_validate(_model, x, y, TrainConfig(), k_folds=1)


def test_augmentation_is_built_per_fold_from_its_own_data():
    x, y = make_blobs(90, features=4, classes=3, seed=0)
    built = []

    def factory(fold):
        built.append(fold)
        return lambda batch: batch

    cross_validate(_model, x, y, TrainConfig(epochs=1), k_folds=3, augment=factory,
                   show_progress=False)  # fmt: skip
    assert len(built) == 3 and len({id(f.mean) for f in built}) == 3
    # each fold standardizes with the mean of its own training rows
    assert not any(torch.equal(a.mean, b.mean) for a, b in itertools.combinations(built, 2))


def test_paired_difference_takes_fold_by_fold_differences():
    a = CrossValidation([0.90, 0.95, 0.80, 0.99, 0.85], [0.9] * 5)
    b = CrossValidation([0.91, 0.96, 0.81, 0.99, 0.87], [0.9] * 5)
    d = paired_difference(a, b)
    assert d.differences == pytest.approx([0.01, 0.01, 0.01, 0.0, 0.02])
    assert d.mean == pytest.approx(0.01)
    assert d.standard_error == pytest.approx(statistics.stdev(d.differences) / 5**0.5)
    # The folds differ in difficulty by far more than the recipes do: unpaired, the lead of
    # 0.01 is lost in the spread (0.075); paired, it is several standard errors.
    assert d.mean < max(a.accuracy_std, b.accuracy_std) and d.beyond_one_standard_error
    assert paired_difference(b, a).mean == pytest.approx(-0.01)
    assert not paired_difference(b, a).beyond_one_standard_error
    assert paired_difference(a, b, metric="f1_macro").differences == [0.0] * 5


def test_a_tie_is_not_beyond_one_standard_error():
    a = CrossValidation([0.90, 0.95, 0.80], [0.9] * 3)
    b = CrossValidation([0.92, 0.94, 0.80], [0.9] * 3)  # +0.02, -0.01, 0: mean 0.0033
    d = paired_difference(a, b)
    assert 0 < d.mean < d.standard_error and not d.beyond_one_standard_error
    same = paired_difference(a, a)
    assert same.mean == same.standard_error == 0 and not same.beyond_one_standard_error


def test_paired_difference_refuses_unpaired_folds_and_unknown_metrics():
    a = CrossValidation([0.9, 0.8, 0.7], [0.9] * 3)
    with pytest.raises(ConfigError, match="paired folds needed: a has 3 folds and b 2"):
        paired_difference(a, CrossValidation([0.9, 0.8], [0.9] * 2))
    with pytest.raises(ConfigError, match="metric must be 'accuracy' or 'f1_macro'"):
        paired_difference(a, a, metric="loss")
