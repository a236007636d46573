import math
import subprocess
import sys

import pytest
import torch

import spmeta
from spmeta import integrators

MU = torch.tensor([1.0, 1.0], dtype=torch.float64)


def _pendulum():
    family = spmeta.get_family("pendulum")
    return family, (lambda x: family.vector_field(x, MU))


def _final_error(method, n_steps, horizon=2.0):
    """Error at t = horizon against the DOP853 reference, for the pendulum from q = 1."""
    family, f = _pendulum()
    x0 = torch.tensor([[1.0, 0.2]], dtype=torch.float64)
    t = torch.linspace(0, horizon, n_steps + 1, dtype=torch.float64)
    reference = integrators.solve_ground_truth(f, x0, t[[0, -1]], rtol=1e-13, atol=1e-13)[:, -1]
    return (integrators.rollout(f, x0, t, method=method)[:, -1] - reference).norm().item()


@pytest.mark.parametrize("method, order", [("rk4", 4), ("leapfrog", 2)])
def test_convergence_order(method, order):
    errors = [_final_error(method, n) for n in (20, 40, 80, 160)]
    rates = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert all(abs(r - order) < 0.3 for r in rates), rates


def test_leapfrog_energy_stays_bounded_and_rk4_drifts():
    family, f = _pendulum()
    x0 = torch.tensor([[1.5, 0.0]], dtype=torch.float64)
    h = 0.3
    t = torch.arange(2000, dtype=torch.float64) * h  # about 165 periods
    drift = {}
    for method in ("leapfrog", "rk4"):
        H = family.energy(integrators.rollout(f, x0, t, method=method), MU)[0]
        error = ((H - H[0]) / H[0]).abs()
        drift[method] = (error[:500].max().item(), error[-500:].max().item())
    first, last = drift["leapfrog"]
    assert last < 1.2 * first and last < 0.1
    first, last = drift["rk4"]
    assert last > 2.5 * first


def test_rollout_shapes_and_initial_state():
    family, _ = _pendulum()
    mus = family.sample_params(3, seed=0)[:, None, :]  # (K, 1, n_mu): K systems broadcast over N states
    x0 = torch.randn(3, 5, 2, dtype=torch.float64)
    t = family.time_grid()
    X = integrators.rollout(lambda x: family.vector_field(x, mus), x0, t, substeps=2)
    assert X.shape == (3, 5, len(t), 2)
    assert torch.equal(X[..., 0, :], x0)
    # each system evolves with its own μ: compare one system with a separate rollout
    single = integrators.rollout(lambda x: family.vector_field(x, mus[1]), x0[1], t, substeps=2)
    torch.testing.assert_close(X[1], single)


def test_rk4_with_substeps_tracks_ground_truth():
    family, f = _pendulum()
    x0 = family.sample_initial_conditions(4, MU, seed=0)
    t = family.time_grid()
    truth = family.trajectories(MU, x0)
    X = integrators.rollout(f, x0, t, substeps=10)
    assert ((X - truth).norm() / truth.norm()).item() < 1e-7


def test_ground_truth_shape_and_energy():
    family, f = _pendulum()
    x0 = family.sample_initial_conditions(6, MU, seed=3)
    X = integrators.solve_ground_truth(f, x0, family.time_grid())
    assert X.shape == (6, family.n_steps, 2) and X.dtype == torch.float64
    H = family.energy(X, MU)
    assert ((H - H[:, :1]) / H[:, :1]).abs().max() <= 1e-8


def test_bad_arguments():
    _, f = _pendulum()
    t = torch.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="leapfrog.*rk4"):
        integrators.rollout(f, torch.zeros(1, 2), t, method="euler")
    with pytest.raises(ValueError, match="NaN or inf"):
        integrators.rollout(f, torch.tensor([[float("inf"), 0.0]]), t)
    with pytest.raises(ValueError, match="even length"):
        integrators.rollout(lambda x: x, torch.zeros(1, 3), t, method="leapfrog")
    with pytest.raises(ValueError, match="NaN or inf"):
        integrators.solve_ground_truth(f, torch.tensor([[float("nan"), 0.0]]), t)


def test_import_needs_only_torch_and_numpy():
    # (tqdm is not checked: torch itself imports it)
    code = ("import sys, spmeta; heavy = {'matplotlib', 'scipy', 'skimage', 'IPython'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
