"""k-fold cross-validation: how well a training recipe does, with its spread over folds.

One split gives one number, and with a few hundred validation rows that number moves by a
point or more from split to split. Cross-validation trains the same recipe k times, each
time validating on a different fifth (say) of the data, so every row is validated on once;
the mean over folds is a steadier estimate and the standard deviation shows the spread.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from labkit.data import Data, kfold_splits
from labkit.metrics import classification_metrics
from labkit.progress import progress
from labkit.train import TrainConfig, fit, predict, seed_everything
from labkit.validate import ConfigError


@dataclass(frozen=True)
class CrossValidation:
    """Validation scores of one recipe, fold by fold."""

    accuracy: list[float]  # per fold
    f1_macro: list[float]  # per fold

    @property
    def accuracy_mean(self) -> float:
        return statistics.fmean(self.accuracy)

    @property
    def accuracy_std(self) -> float:  # sample standard deviation over the folds
        return statistics.stdev(self.accuracy)

    @property
    def f1_mean(self) -> float:
        return statistics.fmean(self.f1_macro)

    @property
    def f1_std(self) -> float:
        return statistics.stdev(self.f1_macro)


def cross_validate(
    build_model: Callable[[], nn.Module],
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    *,
    k_folds: int = 5,
    seed: int = 0,
    augment: Callable[[Data], Callable[[torch.Tensor], torch.Tensor]] | None = None,
    show_progress: bool = True,
) -> CrossValidation:
    """Train a fresh `build_model()` with `config` on each of `k_folds` stratified folds
    (seeded by `seed`) and score it on the fold it did not see: accuracy and macro-F1.

    `augment`, if given, builds each fold's augmentation from that fold's `Data` (its own
    standardization), e.g. `augment=labkit.data.random_shifts`.
    """
    if config.patience:
        raise ConfigError(
            "cross_validate needs patience=0: early stopping would pick its epoch on the very "
            "fold it is scored on"
        )
    accuracy, f1 = [], []
    folds = kfold_splits(x, y, k_folds=k_folds, seed=seed)
    for fold in progress(folds, desc="folds", enabled=show_progress):
        seed_everything(config.seed)  # the same initial weights in every fold
        model = build_model()
        fold_augment = augment(fold) if augment is not None else None
        fit(model, fold.train, config, augment=fold_augment, show_progress=False)
        pred = predict(model, fold.val.x).argmax(-1)
        scores = classification_metrics(fold.val.y, pred)
        accuracy.append(scores["accuracy"])
        f1.append(scores["f1_macro"])
    return CrossValidation(accuracy, f1)
