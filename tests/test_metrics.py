import pytest
import torch

import spmeta
from spmeta.metrics import energy_drift, eps_field, eps_traj, field_points, generic_rates


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


def test_generic_rates_vanish_for_the_true_dynamics_and_flag_a_wrong_field():
    family = spmeta.get_family("damped_oscillator")
    mu = torch.tensor([1.2, 0.3], dtype=torch.float64)
    x = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grad_e, grad_s = family.gradients(x, mu)
    dE, relative, dS = generic_rates(grad_e, grad_s, family.vector_field(x, mu))
    assert relative.max() < 1e-14 and dE.max() < 1e-14 and dS.min() >= 0
    assert torch.allclose(dS, mu[1] * x[:, 1] ** 2)  # Ṡ = γ p²
    _, relative, _ = generic_rates(grad_e, grad_s, grad_e)  # gradient ascent on E is as far from GENERIC as it gets
    assert torch.allclose(relative, torch.ones(50, dtype=torch.float64))


def test_energy_drift_is_relative_to_the_start():
    E = torch.tensor([[2.0, 2.0, 3.0, 1.0]], dtype=torch.float64)
    assert energy_drift(E).tolist() == [[0.0, 0.0, 0.5, 0.5]]


def test_ssim_of_a_flat_true_field_is_finite_and_rewards_a_match():
    from spmeta.metrics import ssim_field

    grid = field_points(torch.tensor([[-1.0, -1.0], [1.0, 1.0]], dtype=torch.float64), n=8)
    flat = lambda x: torch.ones_like(x) / 2**0.5  # noqa: E731  (|F| = 1 everywhere)
    bumpy = lambda x: flat(x) * (1 + 0.1 * x[..., :1])  # noqa: E731
    same, other = ssim_field(flat, flat, grid, 1), ssim_field(bumpy, flat, grid, 1)
    assert torch.isfinite(same).all() and torch.isfinite(other).all()
    assert same.item() == 1.0 and other.item() < 1.0


def test_generic_rates_stay_finite_in_float32():
    grad = torch.zeros(3, 2, dtype=torch.float32)
    _, relative, _ = generic_rates(grad, grad, grad)
    assert torch.isfinite(relative).all() and (relative == 0).all()
