import itertools

import pytest
import torch

from labkit.crossval import cross_validate
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
