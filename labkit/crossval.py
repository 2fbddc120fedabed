"""k-fold cross-validation: how well a training recipe does, with its spread over folds.

One split gives one number, and with a few hundred validation rows that number moves by a
point or more from split to split. Cross-validation trains the same recipe k times, each
time validating on a different fifth (say) of the data, so every row is validated on once;
the mean over folds is a steadier estimate and the standard deviation shows the spread.

Two recipes cross-validated with the same folds (same `seed`) are compared fold by fold:
`paired_difference` takes the per-fold differences, so that a fold that is hard for both
does not count as noise, and reports their mean with its standard error. That standard error
is too small, not too large: the k training sets share most of their rows, so the fold
scores are not independent, and no unbiased estimate of k-fold's variance exists (Bengio &
Grandvalet, 2004). Read a lead of one or two standard errors as weak evidence.
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class PairedDifference:
    """Per-fold differences `b - a` of two recipes scored on the same folds."""

    differences: list[float]  # b's score minus a's, fold by fold

    @property
    def mean(self) -> float:
        return statistics.fmean(self.differences)

    @property
    def standard_error(self) -> float:  # of the mean: sample std / sqrt(k); too small, see above
        return statistics.stdev(self.differences) / math.sqrt(len(self.differences))

    @property
    def beyond_one_standard_error(self) -> bool:
        """b leads a by more than one standard error: the one-standard-error rule prefers b."""
        return self.mean > self.standard_error


def paired_difference(
    a: CrossValidation, b: CrossValidation, *, metric: str = "accuracy"
) -> PairedDifference:
    """`b - a` fold by fold, for `metric` ("accuracy" or "f1_macro"). Both must come from
    `cross_validate` with the same folds (same data, `k_folds` and `seed`): the pairing is
    what makes the comparison fair, and nothing here can check it beyond the fold count."""
    if metric not in ("accuracy", "f1_macro"):
        raise ConfigError(f"metric must be 'accuracy' or 'f1_macro'; got {metric!r}")
    scores_a, scores_b = getattr(a, metric), getattr(b, metric)
    if len(scores_a) != len(scores_b):
        raise ConfigError(
            f"paired folds needed: a has {len(scores_a)} folds and b {len(scores_b)}; "
            "cross-validate both with the same k_folds and seed"
        )
    return PairedDifference([sb - sa for sa, sb in zip(scores_a, scores_b, strict=True)])


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
