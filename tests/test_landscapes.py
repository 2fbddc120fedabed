import numpy as np
import pytest
import torch

from labkit.landscapes import bowl, grid, rosenbrock, trajectory
from labkit.plots import trajectory_figure


def test_surfaces_have_their_minima_where_documented():
    assert bowl(torch.tensor([0.0, 0.0])) == 0 and bowl(torch.tensor([1.0, 1.0])) == 10.5
    assert rosenbrock(torch.tensor([1.0, 1.0])) == 0 and rosenbrock(torch.tensor([0.0, 0.0])) == 1
    X, Y, Z = grid(rosenbrock, (-2, 2), (-1, 3), n=41)
    assert X.shape == Y.shape == Z.shape == (41, 41) and np.isclose(Z.min(), 0.0, atol=1e-2)
    assert X[0, 0] == -2 and Y[-1, 0] == 3 and Z[0, 0] == rosenbrock(torch.tensor([-2.0, -1.0]))


def test_gradient_descent_on_the_bowl_converges_below_two_over_the_curvature():
    # curvatures 1 and 20: GD converges iff lr < 2 / 20 = 0.1
    below = trajectory(bowl, (1.0, 1.0), "sgd", lr=0.095, steps=400)
    above = trajectory(bowl, (1.0, 1.0), "sgd", lr=0.105, steps=400)
    assert np.abs(below[-1]).max() < 1e-3
    assert abs(above[-1][1]) > 1e3 * abs(above[0][1])  # the steep coordinate blows up
    assert below.shape == (401, 2)


def test_trajectory_follows_torch_optim_step_for_step():
    path = trajectory(rosenbrock, (-1.5, 2.0), "adam", lr=0.05, steps=5)
    p = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.05)
    for row in path[1:]:
        opt.zero_grad()
        rosenbrock(p).backward()
        opt.step()
        assert np.array_equal(p.detach().numpy(), row)


def test_trajectory_stops_when_it_leaves_the_finite_numbers():
    path = trajectory(bowl, (1.0, 1.0), "sgd", lr=1e6, steps=500)
    assert len(path) < 501 and np.isfinite(path).all()


def test_trajectory_figure_draws_every_path():
    paths = {"sgd": trajectory(bowl, (1.0, 1.0), "sgd", lr=0.05, steps=10)}
    fig = trajectory_figure(bowl, paths, xlim=(-2, 2), ylim=(-2, 2), minimum=(0, 0))
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "sgd (10 steps)" in labels
    with pytest.raises(TypeError):
        trajectory_figure(bowl, paths)  # the ranges are required
