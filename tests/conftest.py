"""Shared fixtures: tiny seeded data so every unit test runs in well under a second."""

from __future__ import annotations

import os

import pytest

from labkit.data import Data, make_blobs, split

os.environ.setdefault("LABKIT_PROGRESS", "0")  # keep test logs free of bars


@pytest.fixture(scope="session")
def blobs() -> Data:
    x, y = make_blobs(300, features=6, classes=3, spread=1.5, seed=0)
    return split(x, y, val_fraction=0.2, test_fraction=0.2, seed=0)
