"""Notebook 04 (generalization): its data, one trained run, and how far a run moves by chance.

The notebook decides what to train; this module holds what every run shares. The reduced
training set keeps each digit's share (`stratified_subset`); its noisy copy replaces a share
of the labels by another digit (`with_wrong_labels`). `fit_run` trains a built model and
measures it, marking a run whose loss blew up instead of stopping the notebook. Every verdict
between two settings goes through the course's one rule (`labkit.noise`), `NoiseBand`: one
run's validation accuracy p on n rows moves by its sampling error √(p(1−p)/n) from split to
split, and by the spread over seeds from draw to draw; one run's *spread* is the larger of the
two. Two single runs differ beyond the noise only when their difference exceeds
`NoiseBand.difference` = 2·√2 × that spread (independent variances add: the difference of two
runs has √2 times one run's spread, and ±2 of those holds about 95 % of the differences
between equally good recipes); inside it, a tie.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from labkit import noise
from labkit.data import Data, Split
from labkit.plots import images_figure
from labkit.train import History, TrainConfig, TrainingDiverged, evaluate, fit
from labkit.validate import ConfigError, check_int

# ---- the data ------------------------------------------------------------------------------


def check_sizes(data: Data, train_size: Any, k_folds: Any) -> int:
    """Validate the notebook's two sizes against `data`, naming the parameter: `train_size`
    from 50 up to the training split's rows; `k_folds` from 2 up to the smallest class count
    of the training and validation rows together (what cross-validation folds), so that every
    fold holds every digit. Returns that smallest count."""
    check_int("train_size", train_size, minimum=50)
    if train_size > len(data.train):
        raise ConfigError(f"train_size must be at most {len(data.train)} (the training split); "
                          f"got {train_size}")  # fmt: skip
    smallest = int(torch.bincount(torch.cat([data.train.y, data.val.y])).min())
    check_int("k_folds", k_folds, minimum=2)
    if k_folds > smallest:
        raise ConfigError(f"k_folds must be at most {smallest}, the smallest class count, so "
                          f"that every fold holds every digit; got {k_folds}")  # fmt: skip
    return smallest


def stratified_subset(split: Split, n: int, seed: int) -> Split:
    """n rows of `split`, stratified: every digit keeps its share (all of it when n is its
    length)."""
    if n == len(split):
        return split
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(split)), train_size=n, random_state=seed,
                               stratify=split.y.numpy())  # fmt: skip
    return Split(split.x[keep], split.y[keep])


def with_wrong_labels(split: Split, share: float, seed: int) -> tuple[Split, torch.Tensor]:
    """A copy of `split` where round(share * rows) labels are replaced by another digit, and
    the indices of those rows."""
    g = torch.Generator().manual_seed(seed)
    wrong = torch.randperm(len(split), generator=g)[: round(share * len(split))]
    y = split.y.clone()
    y[wrong] = (y[wrong] + torch.randint(1, 10, (len(wrong),), generator=g)) % 10  # never itself
    return Split(split.x, y), wrong


def wrong_labels_figure(data: Data, clean: Split, noisy: Split, wrong: torch.Tensor) -> Figure:
    """The first eight images whose label `noisy` changed, each titled with its wrong label
    and the true one from `clean`."""
    shown = wrong[:8]
    images = data.unstandardize(clean.x[shown]).reshape(-1, 8, 8).numpy()
    return images_figure(images, [f"label {int(noisy.y[i])} (is {int(clean.y[i])})" for i in shown])


# ---- one run -------------------------------------------------------------------------------


@dataclass
class Run:
    """One trained model of the notebook and what was measured on it."""

    model: torch.nn.Module = field(repr=False)
    history: History = field(repr=False)
    recipe: TrainConfig = field(repr=False)  # what it was trained with
    rows: int  # training rows
    train_acc: float  # on the rows and labels it was trained on
    val_acc: float
    diverged: bool = False  # the loss became NaN: the model holds its last good weights

    @property
    def gap(self) -> float:
        return self.train_acc - self.val_acc

    @property
    def steps(self) -> int:
        return self.recipe.epochs * math.ceil(self.rows / self.recipe.batch_size)


def fit_run(
    model: torch.nn.Module,
    rows: Split,
    recipe: TrainConfig,
    val: Split,
    *,
    watch: bool = True,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    on_epoch: Callable[..., object] | None = None,
) -> Run:
    """`labkit.fit(model, rows, recipe)`, then the model's accuracy on its training rows (the
    labels it was trained with) and on `val`. watch: validate after every epoch (the history's
    curves; early stopping, `recipe.patience`, validates anyway). A loss that becomes NaN or
    inf does not stop the notebook: the run is marked diverged and keeps its last good
    weights."""
    try:
        history = fit(model, rows, recipe, val=val if watch or recipe.patience else None,
                      augment=augment, on_epoch=on_epoch, show_progress=False)  # fmt: skip
        diverged = False
    except TrainingDiverged as e:  # a learning rate far too large: marked (*), not fatal
        history, diverged = e.history, True
    train_acc, val_acc = (evaluate(model, split)["accuracy"] for split in (rows, val))
    return Run(model, history, recipe, len(rows), train_acc, val_acc, diverged)


def weight_length(model: torch.nn.Module) -> float:
    """‖w‖: the length of all the model's parameters as one vector."""
    return float(torch.cat([p.detach().flatten() for p in model.parameters()]).norm())


def mark(run: Run) -> str:
    """'*' after the numbers of a run that diverged: they are its last good weights'."""
    return "*" if run.diverged else " "


def diverged_note(runs: Sequence[Run]) -> str:
    """A line for the runs whose loss became NaN or inf (their rows are marked *), with a
    leading newline so that it can follow a table; '' when none did."""
    gone = [r for r in runs if r.diverged]
    if not gone:
        return ""
    return (
        f"\n* {len(gone)} of {len(runs)} runs diverged (the loss became NaN or inf) and hold their "
        f"last good weights: try a lower learning rate, e.g. {gone[0].recipe.lr / 10:g}"
    )


def epochs_text(n: int) -> str:
    """'1 epoch', '40 epochs'."""
    return f"{n} epoch" + ("" if n == 1 else "s")


# ---- noise ---------------------------------------------------------------------------------

sampling_error = noise.sampling_error  # an accuracy p on n examples: √(p(1−p)/n)
TWO_RUNS = noise.TWO_RUNS  # the band for a difference of two single runs, in spreads


@dataclass(frozen=True)
class NoiseBand:
    """How far one validation accuracy moves by chance: called, the larger of its sampling
    error on `n` rows and the spread (sample std) measured over seeds (one run's spread);
    `difference`, the band for a difference of two single runs, 2·√2 × that."""

    n: int  # validation rows
    spread: float = 0.0  # std of the validation accuracy over draws of rows and weights

    def __call__(self, p: float) -> float:
        return noise.spread(self.spread, p, self.n)

    def difference(self, p: float) -> float:
        """2·√2 × one run's spread at accuracy p: the band for a difference of two runs."""
        return noise.difference_band(self(p))


def compare(new: float, old: float, band: float) -> str:
    """`new - old` with its band and the verdict: 'higher', 'lower' or 'a tie'. `band` is the
    band for a difference of two runs (`NoiseBand.difference`), not one run's spread. Both are
    rounded to the three decimals printed, so that what reads as a tie is one."""
    delta, band = round(new - old, 3), round(band, 3)
    said = noise.verdict(delta, band)
    word = "a tie" if said == "tie" else said
    return f"{delta:+.3f} (noise ±{band:.3f}: {word})"


def helps(new: float, old: float, band: float) -> bool:
    """`new` beats `old` by more than `band`, the band for a difference of two runs (at the
    three decimals `compare` prints)."""
    return noise.verdict(round(new - old, 3), round(band, 3)) == "higher"


def seed_spread(runs: Sequence[Run]) -> float:
    """Sample std of the validation accuracies of the same recipe over several draws."""
    return statistics.stdev(r.val_acc for r in runs) if len(runs) > 1 else 0.0


def noise_report(
    draws: Mapping[str, Sequence[Run]], bands: Mapping[str, NoiseBand], threshold: float = 0.05
) -> str:
    """The wide model over several draws, per kind of labels: its validation accuracies and
    gaps, their spread, the band, and what a fixed gap threshold makes of the same recipe;
    then a line for the runs that diverged, if any."""
    lines = []
    for kind, runs in draws.items():
        va = [r.val_acc for r in runs]
        gaps = [r.gap for r in runs]
        p = statistics.fmean(va)
        band = bands[kind](p)
        lines.append(
            f"{kind}: validation " + " ".join(f"{v:.3f}" for v in va) + f", mean {p:.3f} ± "
            f"{bands[kind].spread:.3f} (std over {len(runs)} draws); gap "
            + " ".join(f"{g:+.3f}" for g in gaps)
            + f"; sampling error on {bands[kind].n} rows ±{sampling_error(p, bands[kind].n):.3f}"
            f", so one run's spread is ±{band:.3f} and the band for a difference of two runs "
            f"±{bands[kind].difference(p):.3f} (2·√2 × the spread)"
        )
        over = sum(g > threshold + 1e-9 for g in gaps)
        inside = min(gaps) - band <= threshold <= max(gaps) + band
        lines.append(
            f"   a rule 'gap > {threshold:g} is overfitting' calls {over} of {len(runs)} draws of "
            f"this one recipe overfitting; {threshold:g} lies "
            + (
                f"inside the gaps' range ± one run's spread ({min(gaps) - band:.3f} to "
                f"{max(gaps) + band:.3f}): which label one run gets is luck"
                if inside
                else f"outside the gaps' range ± one run's spread ({min(gaps) - band:.3f} to "
                f"{max(gaps) + band:.3f}): here every draw gets the same label"
            )
        )
    return "\n".join(lines) + diverged_note([r for runs in draws.values() for r in runs])
