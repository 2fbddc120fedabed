"""Shared fixtures: tiny seeded data so every unit test runs in well under a second."""

from __future__ import annotations

import os

import pytest

from labkit.data import Data, make_blobs, split

os.environ.setdefault("LABKIT_PROGRESS", "0")  # keep test logs free of bars


def pytest_configure(config: pytest.Config) -> None:
    # Notebook runs use the `labkit` kernel. Its warm parent starts here, in the process
    # that starts the others (pytest-xdist's workers inherit its address), so all share one
    # and its imports overlap with collection. `make check` (-m "not slow") runs no kernel.
    if not hasattr(config, "workerinput") and "not slow" not in (config.option.markexpr or ""):
        from labkit.kernel import warm_up

        warm_up()


if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers share two cores: one thread each (and for the kernels they start), so
    # their thread pools do not fight.
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def blobs() -> Data:
    x, y = make_blobs(300, features=6, classes=3, spread=1.5, seed=0)
    return split(x, y, val_fraction=0.2, test_fraction=0.2, seed=0)
