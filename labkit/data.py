"""Data that ships or is generated from a seed, split and standardized, batched in memory.

Nothing here downloads: the digits come with scikit-learn (1,797 8×8 images, 10 classes)
and the synthetic sets (2-D toy problems, a sorting task for a tiny transformer) are drawn
from a seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from labkit.validate import ConfigError, check_float, check_int


@dataclass(frozen=True)
class Split:
    """Inputs `x` (N, F) float32 and integer class labels `y` (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class Data:
    """Train/val/test splits standardized with statistics of the training split only."""

    train: Split
    val: Split
    test: Split
    mean: torch.Tensor  # (F,) per-feature mean of the raw training inputs
    std: torch.Tensor  # (F,) per-feature std of the raw training inputs (1 where constant)
    classes: int

    @property
    def features(self) -> int:
        return self.train.x.shape[1]

    def unstandardize(self, x: torch.Tensor) -> torch.Tensor:
        """Map standardized inputs back to raw values, e.g. to show the digit images."""
        return x * self.std + self.mean


def split(
    x: np.ndarray,
    y: np.ndarray,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Data:
    """Shuffle with `seed`, split stratified by class, standardize with train statistics.

    Using test or validation rows to compute the mean and std would leak information about
    held-out data into training; so only the training rows are used.
    """
    check_float("val_fraction", val_fraction, minimum=0.0, maximum=0.4)
    check_float("test_fraction", test_fraction, minimum=0.0, maximum=0.4)
    check_int("seed", seed)
    y = np.asarray(y)
    idx = np.arange(len(y))
    rest, test = _split_idx(idx, y, test_fraction, seed)
    train, val = _split_idx(rest, y, val_fraction / (1 - test_fraction), seed + 1)

    return _standardized(x, y, train, val, test)


def kfold_splits(x: np.ndarray, y: np.ndarray, *, k_folds: int = 5, seed: int = 0) -> list[Data]:
    """Stratified k-fold cross-validation: fold i validates on the i-th part and trains on
    the other k-1, standardized with that fold's training rows only (`test` is empty).

    Every row is validated on exactly once, and each part keeps the class proportions.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    smallest = int(np.bincount(y).min(initial=len(y)) if len(y) else 0)
    check_int("k_folds", k_folds, minimum=2)
    if k_folds > smallest:
        raise ConfigError(
            f"k_folds must be at most the smallest class count ({smallest}), so that every "
            f"fold holds every class; got {k_folds}"
        )
    check_int("seed", seed)
    folds = StratifiedKFold(k_folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return [_standardized(x, y, train, val, val[:0]) for train, val in folds]


def _standardized(x, y, train: np.ndarray, val: np.ndarray, test: np.ndarray) -> Data:
    # Statistics of the training rows only: using held-out rows would leak them into training.
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    mean = x[train].mean(0)
    std = x[train].std(0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))  # constant pixels: leave at 0

    def part(i: np.ndarray) -> Split:
        return Split((x[i] - mean) / std, y[i])

    classes = int(y.max()) + 1
    return Data(part(train), part(val), part(test), mean, std, classes)


def random_shifts(data: Data, *, max_shift: int = 1) -> Callable[[torch.Tensor], torch.Tensor]:
    """Data augmentation for square images given as standardized rows (the digits): an
    `augment` for `fit` that moves every image by up to `max_shift` pixels along each axis.

    A digit shifted by a pixel is still the same digit, so the model sees plausible new
    examples every epoch. Shifting happens on raw pixels (the uncovered border becomes
    background, 0) and the result is standardized again, then clipped to the range each
    pixel has in the training split: a pixel that is almost never inked there has a tiny
    standard deviation, and ink shifted onto it would otherwise become a value (hundreds)
    no real image produces. Draws from torch's global generator, which `fit` seeds and
    checkpoints.
    """
    side = math.isqrt(data.features)
    if side * side != data.features:
        raise ConfigError(f"random_shifts needs square images; got {data.features} features")
    s = check_int("max_shift", max_shift, minimum=0)
    low, high = data.train.x.min(0).values, data.train.x.max(0).values  # (F,) per pixel

    def shift(x: torch.Tensor) -> torch.Tensor:  # x (B, side*side), standardized
        mean, std = data.mean.to(x.device), data.std.to(x.device)
        raw = (x * std + mean).reshape(-1, side, side)
        padded = torch.nn.functional.pad(raw, (s, s, s, s))  # (B, side+2s, side+2s), 0 border
        offset = torch.randint(0, 2 * s + 1, (len(x), 2), device=x.device)  # top-left corner
        out = torch.empty_like(raw)
        for dy in range(2 * s + 1):
            for dx in range(2 * s + 1):
                pick = (offset[:, 0] == dy) & (offset[:, 1] == dx)
                out[pick] = padded[pick, dy : dy + side, dx : dx + side]
        moved = (out.reshape(len(x), -1) - mean) / std
        return torch.clamp(moved, low.to(x.device), high.to(x.device))

    return shift


def _split_idx(idx: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split  # scikit-learn loads in ~1 s: lazily

    if fraction == 0:
        return idx, idx[:0]
    return train_test_split(idx, test_size=fraction, random_state=seed, stratify=y[idx])


def load_digits(*, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0) -> Data:
    """scikit-learn's bundled 8×8 digits as 64 features in [0, 16], split and standardized."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return split(
        bunch.data, bunch.target, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
    )


def make_blobs(
    n: int = 600,
    *,
    features: int = 2,
    classes: int = 3,
    spread: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """`n` points around `classes` random centres in `features` dimensions (for tests, toys)."""
    check_int("n", n, minimum=classes)
    check_int("features", features, minimum=1)
    check_int("classes", classes, minimum=2)
    check_float("spread", spread, positive=True)
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(classes, features))
    y = np.arange(n) % classes
    x = centres[y] + rng.normal(scale=spread, size=(n, features))
    return x.astype(np.float32), y


def make_spirals(
    n: int = 600, *, classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved 2-D spiral arms, one per class: not linearly separable."""
    check_int("n", n, minimum=classes)
    check_int("classes", classes, minimum=2)
    check_float("noise", noise, minimum=0.0)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    r = rng.uniform(0.1, 1.0, size=n)
    theta = 4.0 * r + y * (2 * math.pi / classes) + rng.normal(scale=noise, size=n)
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return x.astype(np.float32), y


IGNORE = -100  # a target cross-entropy skips (its default ignore_index): a prompt position


def sort_task(
    n_train: int, n_test: int, *, length: int = 6, digits: int = 10, seed: int = 0
) -> tuple[Split, Split]:
    """A rule for a tiny transformer to learn: `length` random digits, then the same sorted.

    Each sequence is prompt + answer, 2·length tokens from a vocabulary of `digits`. The
    model reads all but the last token, x (N, 2·length − 1), and is scored on predicting the
    next token at the answer positions: y (N, 2·length − 1) holds the next token there and
    IGNORE on the prompt, where the next digit is random. The test prompts are distinct
    from the training prompts, so exact-match accuracy on them measures the rule, not recall.
    """
    check_int("n_train", n_train, minimum=1)
    check_int("n_test", n_test, minimum=1)
    check_int("length", length, minimum=2)
    check_int("digits", digits, minimum=2)
    if n_train + n_test > digits**length:
        raise ConfigError(
            f"n_train + n_test = {n_train + n_test} distinct prompts asked for, but there are "
            f"only digits**length = {digits**length}; lower them or raise length or digits"
        )
    rng = np.random.default_rng(seed)
    prompts: dict[tuple[int, ...], None] = {}  # insertion-ordered and distinct
    while len(prompts) < n_train + n_test:
        for row in rng.integers(0, digits, size=(n_train + n_test, length)):
            prompts.setdefault(tuple(row.tolist()))
    rows = np.array(list(prompts)[: n_train + n_test])
    seqs = torch.as_tensor(np.concatenate([rows, np.sort(rows, axis=1)], axis=1))
    x, y = seqs[:, :-1].clone(), seqs[:, 1:].clone()
    y[:, : length - 1] = IGNORE  # the next prompt digit is random: nothing to learn
    return Split(x[:n_train], y[:n_train]), Split(x[n_train:], y[n_train:])


def sequence_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of next-token logits (B, T, vocab) over the targets y (B, T) that
    are not IGNORE."""
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE)


def exact_match(model: torch.nn.Module, data: Split) -> float:
    """Share of sequences whose whole answer the model generates right, greedily, one token
    at a time from the prompt (not read off teacher-forced logits)."""
    answer = int((data.y[0] != IGNORE).sum())
    prompt_len = data.x.shape[1] + 1 - answer
    device = next(model.parameters()).device
    out = model.generate(data.x[:, :prompt_len].to(device), answer)[:, prompt_len:]
    return (out.cpu() == data.y[:, prompt_len - 1 :]).all(1).float().mean().item()


class Batches:
    """Mini-batches `(x, y)` of in-memory tensors, reshuffled every pass.

    Indexing whole tensors with a random permutation is much cheaper than a `DataLoader`
    that collates sample by sample. The shuffle uses its own seeded generator, whose state
    is part of a checkpoint, so a resumed run sees exactly the batches it would have seen.
    With `shard=(rank, world)` every rank draws the same batches and keeps rows rank,
    rank + world, ...: together the ranks see each batch once.
    """

    def __init__(
        self,
        data: Split,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.data = data
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(seed)
        self.rank, self.world = shard  # data parallel: this rank's rows of every batch

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def sizes(self) -> list[int]:
        """The rows of each batch of a pass, over all ranks: batch_size, the last maybe fewer."""
        n = len(self.data)
        return [
            min(self.batch_size, n - start)
            for start in range(0, len(self) * self.batch_size, self.batch_size)
        ]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.data.x.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            i = order[start : start + self.batch_size][self.rank :: self.world]
            yield self.data.x[i], self.data.y[i]
