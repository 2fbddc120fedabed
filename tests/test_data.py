import numpy as np
import pytest
import torch

from labkit.data import (
    Batches,
    Split,
    kfold_splits,
    load_digits,
    make_blobs,
    make_spirals,
    random_shifts,
    split,
)
from labkit.validate import ConfigError


def test_digits_shapes_and_split_sizes():
    data = load_digits(seed=0)
    assert data.features == 64 and data.classes == 10
    sizes = [len(data.train), len(data.val), len(data.test)]
    assert sum(sizes) == 1797
    assert sizes[2] == 360 and sizes[1] == 180  # 20 % test, 10 % val
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.long


def test_standardized_with_training_statistics_only():
    data = load_digits(seed=0)
    x = data.train.x
    varying = data.std != 1.0
    assert torch.allclose(x.mean(0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(x[:, varying].std(0), torch.ones(int(varying.sum())), atol=1e-4)
    # the test split is transformed with the same statistics, so it is not exactly centred
    assert data.test.x.mean(0).abs().max() > 1e-3
    raw = data.unstandardize(data.test.x)
    assert raw.min() >= -1e-4 and raw.max() <= 16 + 1e-4


def test_split_is_seeded_and_stratified():
    a, b, c = load_digits(seed=1), load_digits(seed=1), load_digits(seed=2)
    assert torch.equal(a.test.y, b.test.y) and torch.equal(a.train.x, b.train.x)
    assert not torch.equal(a.test.y, c.test.y)
    counts = torch.bincount(a.test.y, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~36 of each digit


def test_splits_do_not_overlap():
    x, y = make_blobs(200, features=3, classes=4, seed=3)
    x[:, 0] = np.arange(200)  # make rows identifiable
    data = split(x, y, seed=0)
    ids = [
        set(data.unstandardize(s.x)[:, 0].round().int().tolist())
        for s in (data.train, data.val, data.test)
    ]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == 200


def test_bad_fractions_are_rejected():
    x, y = make_blobs(100, seed=0)
    with pytest.raises(ConfigError, match="test_fraction"):
        split(x, y, test_fraction=0.9)


def test_synthetic_sets_repeat_with_seed():
    for make in (make_blobs, make_spirals):
        x1, y1 = make(90, seed=5)
        x2, y2 = make(90, seed=5)
        x3, _ = make(90, seed=6)
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
        assert not np.array_equal(x1, x3)
        assert np.bincount(y1).tolist() == [30, 30, 30]


def test_batches_cover_every_row_once_per_epoch_and_reshuffle():
    data = Split(torch.arange(10.0).unsqueeze(1), torch.arange(10))
    batches = Batches(data, batch_size=4, seed=0)
    assert len(batches) == 3
    first = [y.tolist() for _, y in batches]
    second = [y.tolist() for _, y in batches]
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(i for batch in first for i in batch) == list(range(10))
    assert first != second
    assert len(Batches(data, batch_size=4, drop_last=True)) == 2
    ordered = [y.tolist() for _, y in Batches(data, 5, shuffle=False)]
    assert ordered == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_batches_same_seed_same_order():
    data = Split(torch.randn(50, 2), torch.arange(50))
    a = [y.tolist() for _, y in Batches(data, 8, seed=7)]
    b = [y.tolist() for _, y in Batches(data, 8, seed=7)]
    assert a == b


def test_batch_size_is_validated():
    with pytest.raises(ConfigError, match="batch_size"):
        Batches(Split(torch.zeros(3, 1), torch.zeros(3)), 0)


def test_split_rows_must_match():
    with pytest.raises(ValueError, match="x has 3 rows but y has 2"):
        Split(torch.zeros(3, 1), torch.zeros(2))


def test_kfold_validates_every_row_once_with_class_proportions():
    x, y = make_blobs(200, features=3, classes=4, seed=0)
    folds = kfold_splits(x, y, k_folds=5, seed=1)
    assert len(folds) == 5
    seen = torch.cat([f.val.x * f.std + f.mean for f in folds])  # back to raw rows
    assert len(seen) == 200 and len(torch.unique(seen, dim=0)) == 200  # each row once
    for f in folds:
        assert len(f.train) + len(f.val) == 200 and len(f.test) == 0
        assert torch.bincount(f.val.y).tolist() == [10, 10, 10, 10]  # stratified
        assert torch.allclose(f.train.x.mean(0), torch.zeros(3), atol=1e-5)  # own statistics
    again = kfold_splits(x, y, k_folds=5, seed=1)
    assert all(torch.equal(a.val.x, b.val.x) for a, b in zip(folds, again, strict=True))
    other = kfold_splits(x, y, k_folds=5, seed=2)
    assert not torch.equal(folds[0].val.y, other[0].val.y) or not torch.equal(
        folds[0].val.x, other[0].val.x
    )


@pytest.mark.parametrize(
    ("k", "message"),
    [
        (1, "k_folds must be an integer >= 2"),
        (2.5, "k_folds must be an integer"),
        (51, r"k_folds must be at most the smallest class count \(50\).*got 51"),
    ],
)
def test_kfold_refuses_impossible_fold_counts(k, message):
    x, y = make_blobs(200, features=3, classes=4, seed=0)
    with pytest.raises(ConfigError, match=message):
        kfold_splits(x, y, k_folds=k)


def test_random_shifts_move_digits_by_at_most_a_pixel():
    data = load_digits(seed=0)
    shift = random_shifts(data, max_shift=1)
    torch.manual_seed(0)
    x = data.train.x[:200]
    moved = shift(x)
    raw = data.unstandardize(x).reshape(-1, 8, 8)
    low, high = data.train.x.min(0).values, data.train.x.max(0).values
    assert moved.shape == x.shape and not torch.equal(moved, x)
    for a, b in zip(raw, moved, strict=True):  # b is a shifted by some (dy, dx) in {-1, 0, 1}²
        padded = torch.nn.functional.pad(a, (1, 1, 1, 1))
        crops = [padded[dy : dy + 8, dx : dx + 8].reshape(-1) for dy in range(3) for dx in range(3)]
        expected = [torch.clamp((c - data.mean) / data.std, low, high) for c in crops]
        assert any(torch.allclose(b, e, atol=1e-4) for e in expected)
    torch.manual_seed(0)
    assert torch.equal(shift(x), moved)  # seeded: the same shifts again
    assert torch.allclose(random_shifts(data, max_shift=0)(x), x, atol=1e-5)
    with pytest.raises(ConfigError, match="max_shift must be an integer >= 0"):
        random_shifts(data, max_shift=-1)


def test_random_shifts_never_leave_the_training_range_of_a_pixel():
    data = load_digits(seed=0)
    torch.manual_seed(1)
    moved = random_shifts(data, max_shift=2)(data.train.x)
    low, high = data.train.x.min(0).values, data.train.x.max(0).values
    assert (moved >= low - 1e-6).all() and (moved <= high + 1e-6).all()
    assert moved.abs().max() <= data.train.x.abs().max() + 1e-6  # no values in the hundreds
