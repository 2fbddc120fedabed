"""labkit.figures.optim_paths: notebook 02's 2-D paths are drawn one panel per optimizer with
their losses, the surfaces table and the RMSprop replay quote the path, and a path the learner
draws is called diverged exactly when it stopped early or ended above its start."""

from functools import partial

import numpy as np
import torch

from labkit.figures import optim_paths as figs
from labkit.landscapes import bowl, rosenbrock, trajectory
from labkit.optim import OPTIMIZERS

STEEP = partial(bowl, a=1.0, b=100.0)
VIEW = {"xlim": (-4.5, 1), "ylim": (-1.7, 1.5), "minimum": (0, 0)}


def test_paths_figure_has_a_panel_per_path_and_their_losses():
    paths = {n: trajectory(STEEP, (-4.0, 1.2), n, 0.01, steps=20) for n in OPTIMIZERS}
    fig = figs.paths_figure(STEEP, paths, dict.fromkeys(OPTIMIZERS, 0.01), **VIEW, title="t")
    axes = fig.axes
    assert len(axes) == 8 and all(ax.get_visible() for ax in axes)
    assert axes[0].get_title().startswith("sgd, lr 0.01: loss")
    assert np.allclose(axes[0].lines[0].get_xydata(), paths["sgd"])
    assert len(axes[-1].lines) == len(OPTIMIZERS)  # one loss curve each
    # one path: one panel shown, the loss panel, the rest hidden; a diverged path is drawn too
    runaway = trajectory(STEEP, (-4.0, 1.2), "sgd", 0.03, steps=100)
    fig = figs.paths_figure(STEEP, {"sgd": runaway}, {"sgd": 0.03}, **VIEW, title="t")
    assert [ax.get_visible() for ax in fig.axes] == [True] + [False] * 6 + [True]
    assert fig.axes[0].get_title().endswith("loss 1.2e+62")


def test_bowl_losses_make_the_titles():
    path = trajectory(STEEP, (-4.0, 1.2), "momentum", 0.012, steps=100)
    fig = figs.paths_figure(STEEP, {"momentum": path}, {"momentum": 0.012}, **VIEW, title="t")
    final = STEEP(torch.tensor(path[-1])).item()
    assert fig.axes[0].get_title() == f"momentum, lr 0.012: loss {final:.2g}"


def test_surfaces_table_and_turns():
    paths = {
        n: trajectory(rosenbrock, (-1.2, 1.0), n, 0.001, steps=120) for n in ("sgd", "momentum")
    }
    table = figs.surfaces_table({"sgd": 1.0, "momentum": 0.1}, paths, rosenbrock)
    assert table.splitlines()[-1].startswith("lowest final loss: on the bowl momentum")
    assert figs.turns(np.array([[0, 0], [0, 1], [0, 0], [0, 1]])) == 2


def test_replay_report_quotes_the_path_at_its_peak_and_spike():
    loss = np.r_[np.full(150, 3.0), np.full(100, 0.5), 52.5, np.full(49, 1.0)]  # spike at 250
    effective = np.linspace(0.002, 0.009, 300)
    lines = figs.replay_report(loss, effective, 2e-16, 249, 250).splitlines()
    assert lines[0].endswith("to within 2e-16") and len(lines) == 7
    assert lines[1] == "step  10: loss       3, effective step eta/sqrt(s) 0.0022"
    assert lines[-1].endswith(
        "the loss had fallen to 0.5 on the way, then jumped to 52.5 at step 250"
    )


def test_blew_up_on_flags_the_runs_the_notebook_says_diverge():
    # the notebook's "Draw your own" tries, on the same bowl and start: sgd at exactly 2/b
    # bounces for ever, at 0.03 it grows to ~1e62 while staying finite; nesterov's limit is lower
    settings = (("sgd", 0.02), ("sgd", 0.03), ("momentum", 0.03), ("nesterov", 0.02))
    tries = {(n, r): trajectory(STEEP, (-4.0, 1.2), n, r, steps=100) for n, r in settings}
    assert [figs.blew_up_on(STEEP, p, 100) for p in tries.values()] == [False, True, False, True]
    assert np.isfinite(tries["sgd", 0.03]).all()
    stopped = tries["sgd", 0.02][:50]  # fewer points than steps + 1: it left the numbers
    assert figs.blew_up_on(STEEP, stopped, 100)


def test_try_line_says_how_far_w2_went_or_that_it_diverged():
    calm = trajectory(STEEP, (-4.0, 1.2), "momentum", 0.012, steps=100)
    line = figs.try_line(STEEP, "momentum", 0.012, calm, 100)
    assert line.startswith("momentum at lr 0.012: loss 80 -> ") and " in 100 steps: " in line
    assert f"w2 went from 1.2 down to {calm[:, 1].min():.2f}" in line
    wild = trajectory(STEEP, (-4.0, 1.2), "sgd", 0.03, steps=100)
    assert figs.try_line(STEEP, "sgd", 0.03, wild, 100).endswith("in 100 steps: it diverged")
