"""Notebook 01 (gradient descent), section 2: how its from-scratch runs draw their batches.

As `labkit.Batches(..., drop_last=True)` does, a run shuffles the n examples once per pass
(epoch) and cuts them into n // B batches of B rows, dropping the few left over. The notebook
keeps the descent step itself (residuals, gradient, update) in view; what is here only feeds it
batches, for many shuffling seeds at once, and cuts per-example gradients into batches the same
way for the gradient-noise measurement. Both are deterministic in their seeds, so a run is
reproduced exactly by running it again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch


def shuffled_batches(
    x: np.ndarray, y: np.ndarray, batch_size: int, seeds: Sequence[int]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """An endless stream of one step's batches for each seed's run: x (runs, B, d) and y
    (runs, B, 1). Each run has its own NumPy generator (`default_rng(seed)`) and draws a fresh
    permutation at the start of every epoch of n // B steps; the full batch (B = n) is drawn
    once and then repeats, as it is the same set of rows in any order."""
    n = len(x)
    runs, per_epoch = len(seeds), n // batch_size
    shufflers = [np.random.default_rng(s) for s in seeds]
    step = 0
    while True:
        k = step % per_epoch
        if k == 0 and (step == 0 or batch_size < n):  # a new epoch: every run reshuffles
            order = np.stack([s.permutation(n)[: per_epoch * batch_size] for s in shufflers])
            xs = x[order].reshape(runs, per_epoch, batch_size, -1)
            ys = y[order].reshape(runs, per_epoch, batch_size, 1)
        yield xs[:, k], ys[:, k]
        step += 1


def epoch_batch_means(
    per_example: torch.Tensor, sizes: Sequence[int], *, seed: int, at_least: int = 2048
) -> dict[int, torch.Tensor]:
    """For each batch size b, the means of per-example rows (n, d) over batches of b, (k, d):
    shuffled epochs cut into n // b batches, as training draws them, for enough epochs to give
    at least `at_least` batches. One torch generator seeded with `seed` shuffles every epoch
    of every size in turn, so the result depends on the seed and the sizes only."""
    n, d = per_example.shape
    shuffle = torch.Generator().manual_seed(seed)
    means = {}
    for b in sizes:
        epochs = math.ceil(at_least / (n // b))  # each epoch gives n // b batches of b
        means[b] = torch.cat([
            per_example[torch.randperm(n, generator=shuffle).to(per_example.device)[: n // b * b]]
            .view(-1, b, d).mean(1)  # (n // b, d): each batch's mean row
            for _ in range(epochs)
        ])  # fmt: skip
    return means
