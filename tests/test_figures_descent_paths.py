"""labkit.figures.descent_paths: notebook 01's 2-D paths are cut where they leave the view and
labelled with how far they got, drawn on NumPy or torch surfaces, and each path's outcome line
follows the one blow-up test."""

import numpy as np
import torch

from labkit.figures import descent_paths as figs
from labkit.landscapes import bowl


def gd_on_bowl(lr, steps, curvatures=(1.0, 20.0)):
    """Plain GD on labkit's bowl from (1, 1): (steps + 1, 2); past 2/20 it diverges."""
    factor = 1 - lr * np.array(curvatures)  # per step, along each axis
    return factor ** np.arange(steps + 1)[:, None]


def test_paths_figure_cuts_a_diverging_path_and_labels_how_far_each_got():
    paths = {"slow": gd_on_bowl(0.01, 40), "diverges": gd_on_bowl(0.15, 40)}
    fig = figs.paths_figure(bowl, paths, 40, xlim=(-2, 2), ylim=(-2, 2), front="slow",
                            minimum=(0, 0), equal=True)  # fmt: skip
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "slow: 40 steps"
    assert labels[1].startswith("diverges: left the view at step ") and labels[1].endswith("of 40")
    assert len(fig.axes[0].lines[1].get_xdata()) < 41  # cut where it left the view
    one = figs.paths_figure(bowl, {"one": paths["slow"][:2]}, 1, xlim=(-2, 2), ylim=(-2, 2))
    assert one.legends[0].get_texts()[0].get_text() == "one: 1 step"


def test_in_view_keeps_a_path_inside_and_cuts_at_the_first_point_outside_or_not_finite():
    inside = np.zeros((5, 2))
    assert figs.in_view(inside, (-1, 1), (-1, 1)) is inside
    path = np.array([[0, 0], [1, 1], [10, 0], [0, 0]], dtype=float)
    assert len(figs.in_view(path, (-1, 1), (-1, 1))) == 3
    assert len(figs.in_view(np.array([[0.0, 0.0], [np.nan, 0.0]]), (-1, 1), (-1, 1))) == 2


def test_figures_accept_torch_surfaces_as_the_notebook_passes_them():
    def surface(p):
        return bowl(torch.as_tensor(p), a=1.0, b=4.0)

    fig = figs.paths_figure(surface, {"p": np.zeros((3, 2))}, 2, xlim=(-1, 1), ylim=(-1, 1))
    assert fig.axes[0].get_xlim() == (-1, 1)


def test_paths_figure_takes_a_numpy_surface_and_other_axis_labels():
    def quadratic(p):  # NumPy in, NumPy out, as the notebook's excess_loss
        p = np.asarray(p)
        return p[..., 0] ** 2 + 4 * p[..., 1] ** 2

    fig = figs.paths_figure(quadratic, {"p": gd_on_bowl(0.01, 5)}, 5, xlim=(-2, 2),
                            ylim=(-2, 2), axis_labels=("z₁", "z₂"))  # fmt: skip
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("z₁", "z₂")
    assert len(ax.collections) > 0  # the contours were drawn from the NumPy values


def test_bowl_limits_line_puts_momentum_above_and_nesterov_below_plain_gd():
    line = figs.bowl_limits_line(20.0, 0.9)
    assert "sgd 2/λ_max = 0.1000" in line and "momentum (2 + 2μ)/λ_max = 0.1900" in line
    assert "nesterov (2 + 2μ)/((1 + 2μ) λ_max) = 0.0679" in line


def test_path_outcomes_judge_each_path_by_the_one_test():
    def surface(p):
        return bowl(p, a=1.0, b=20.0)

    paths = {"calm": gd_on_bowl(0.01, 8), "wild": gd_on_bowl(0.15, 8)}  # 2/20 = 0.1: wild blows
    lines = figs.path_outcomes(surface, paths, 0.01, 8).splitlines()
    assert lines[0].startswith("calm            lr 0.01: 8 steps, loss ")
    assert lines[1].startswith("wild            lr 0.01: blew up: loss over the last quarter")


def test_eigen_view_frames_the_start_range_to_equal_scale():
    fig = figs.paths_figure(bowl, {"p": gd_on_bowl(0.01, 3)}, 3, **figs.EIGEN_VIEW)
    ax = fig.axes[0]
    assert ax.get_xlim() == (-5.0, 5.0) and ax.get_ylim() == (-2.0, 2.0)
    assert ax.get_aspect() == 1.0 and ax.get_ylabel().startswith("z₂ (steep")


def test_path_outcome_says_where_a_path_got_or_how_it_blew_up():
    path = np.array([[1.0, 1.0], [0.5, 0.5], [0.1, 0.0]])
    assert figs.path_outcome(path, np.array([1.0, 0.3, 0.01]), 2, False).startswith("2 steps")
    assert "overflowed at step 3" in figs.path_outcome(path, np.ones(3), 5, False)
    assert "above the start 1" in figs.path_outcome(path, np.array([1.0, 5.0, 9.0]), 2, True)
