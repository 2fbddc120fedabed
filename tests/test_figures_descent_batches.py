"""labkit.figures.descent_batches: notebook 01's runs draw their batches as labkit.Batches with
drop_last does (one reshuffle per epoch, the leftover rows dropped, every seed its own order),
and the gradient-noise batches are means over shuffled epochs, at least as many as asked."""

import numpy as np
import torch

from labkit.figures.descent_batches import epoch_batch_means, shuffled_batches


def take(stream, k):
    return [next(stream) for _ in range(k)]


def test_each_epoch_is_a_fresh_permutation_cut_into_batches_with_the_rest_dropped():
    n, b = 10, 3  # 3 batches per epoch, 1 row dropped
    x = np.arange(n, dtype=float)[:, None] * np.array([1.0, -1.0])  # (n, 2): row i is (i, -i)
    y = np.arange(n, dtype=float)
    steps = take(shuffled_batches(x, y, b, seeds=(0, 1)), 6)
    for xb, yb in steps:
        assert xb.shape == (2, b, 2) and yb.shape == (2, b, 1)
        assert np.array_equal(xb[..., 0], yb[..., 0]) and np.array_equal(xb[..., 1], -yb[..., 0])
    for epoch in (steps[:3], steps[3:]):
        rows = np.concatenate([yb for _, yb in epoch], axis=1)[..., 0]  # (runs, 9)
        assert all(len(set(r)) == 9 for r in rows), "an epoch uses each row at most once"
    first, second = (np.concatenate([yb for _, yb in e], 1) for e in (steps[:3], steps[3:]))
    assert not np.array_equal(first, second), "reshuffled every epoch"
    assert not np.array_equal(first[0], first[1]), "each seed its own order"


def test_the_stream_is_its_seeds_and_the_full_batch_repeats():
    x, y = np.random.default_rng(5).normal(size=(8, 2)), np.arange(8.0)
    a = take(shuffled_batches(x, y, 2, seeds=(3,)), 9)
    b = take(shuffled_batches(x, y, 2, seeds=(3,)), 9)
    assert all(
        np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) for p, q in zip(a, b, strict=True)
    )
    full = take(shuffled_batches(x, y, 8, seeds=(0,)), 3)
    assert sorted(full[0][1].ravel()) == list(range(8))
    assert all(np.array_equal(f[1], full[0][1]) for f in full)


def test_epoch_batch_means_are_batch_means_over_whole_epochs():
    n = 64
    rows = torch.randn(n, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    means = epoch_batch_means(rows, (1, 4, 16), seed=0, at_least=100)
    assert [len(m) for m in means.values()] == [128, 112, 100]  # whole epochs, ≥ 100 batches
    assert torch.allclose(means[1][:n].sort(0).values, rows.sort(0).values), "B = 1: the rows"
    for b, m in means.items():  # each epoch's batch means average to the mean of all rows
        epoch = m[: n // b].mean(0)
        assert torch.allclose(epoch, rows.mean(0)), b
    again = epoch_batch_means(rows, (1, 4, 16), seed=0, at_least=100)
    other = epoch_batch_means(rows, (1, 4, 16), seed=1, at_least=100)
    assert all(torch.equal(again[b], means[b]) for b in means)
    assert not torch.equal(other[4], means[4])
