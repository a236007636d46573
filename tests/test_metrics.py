import pytest
import torch

import spmeta
from spmeta.metrics import eps_field, eps_traj, field_points


def test_field_grid_follows_the_protocol():
    X = torch.tensor([[[0.5, -2.0], [-1.0, 1.0]]], dtype=torch.float64)
    grid = field_points(X, n=20)
    assert grid.shape == (20, 20, 2)
    assert grid[..., 0].max() == pytest.approx(1.2) and grid[..., 0].min() == pytest.approx(-1.2)
    assert grid[..., 1].max() == pytest.approx(2.4) and grid[..., 1].min() == pytest.approx(-2.4)


def test_points_in_higher_dimensions_stay_in_the_bounding_box():
    X = torch.tensor([[0.2, 0.0, 1.0, 2.0], [1.8, 1.0, 3.0, 2.5]], dtype=torch.float64)
    points = field_points(X, n_random=500)
    assert points.shape == (500, 4)
    assert (points >= X.amin(0)).all() and (points <= X.amax(0)).all()


def test_errors_are_relative_frobenius_norms():
    family = spmeta.get_family("mass_spring")
    mu = family.box_centre()
    grid = field_points(torch.tensor([[1.0, 1.0]], dtype=torch.float64))
    true = lambda x: family.vector_field(x, mu)  # noqa: E731
    assert eps_field(true, true, grid) == 0.0
    assert eps_field(lambda x: 1.1 * true(x), true, grid) == pytest.approx(0.1)
    X = torch.randn(3, 5, 10, 2, dtype=torch.float64)
    assert eps_traj(X, X) == 0.0
    assert eps_traj(0.5 * X, X) == pytest.approx(0.5)
