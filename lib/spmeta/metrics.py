"""Metrics of the benchmark protocol: ε_traj, ε_field, SSIM and the structure checks.

- ε_traj: roll each trajectory out from its true initial state and average ‖X̂ − X‖_F / ‖X‖_F.
- ε_field: ‖F̂ − F‖_F / ‖F‖_F over field points: for 2-D states a uniform n × n grid over
  [−R_q, R_q] × [−R_p, R_p] with R = 1.2 × the largest |coordinate| of the training states; for higher
  dimensions, uniform points in the training states' bounding box (no enlargement).
- SSIM between the predicted and true |F| images on the 2-D grid (scikit-image).
- Structure: the relative drift of an energy along trajectories; the rates dE/dt and dS/dt of a GENERIC model.

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor

__all__ = ["relative_error", "eps_traj", "field_points", "eps_field", "eps_field_per_system", "ssim_field",
           "energy_drift", "generic_rates", "WORST_CASE"]

#: The structure checks, reported as their worst case over test systems and seeds rather than a mean:
#: "max" or "min".
WORST_CASE = {"energy_drift": "max", "learned_energy_drift": "max", "max_abs_dE_dt": "max", "max_rel_dE_dt": "max",
              "min_dS_dt": "min"}


def relative_error(pred: Tensor, true: Tensor, dims: tuple[int, ...]) -> Tensor:
    """‖pred − true‖_F / ‖true‖_F over the dimensions ``dims``. pred, true: (...) -> (...) without ``dims``."""
    return (pred - true).norm(dim=dims) / true.norm(dim=dims)


def eps_traj(X_pred: Tensor, X_true: Tensor) -> float:
    """Mean relative trajectory error. X_pred, X_true: (..., T, n); the mean runs over the leading dims."""
    return relative_error(X_pred, X_true, dims=(-2, -1)).mean().item()


def field_points(train_states: Tensor, n: int = 20, enlarge: float = 1.2, n_random: int = 2000,
                 seed: int = 0) -> Tensor:
    """The protocol's field evaluation points from training states (..., d).

    d = 2: the n × n grid over ±enlarge × max |coordinate|, returned as (n, n, 2) (index [i, j] is
    p_i, q_j, as ``meshgrid`` gives). d > 2: ``n_random`` uniform points in the bounding box, (n_random, d).
    """
    states = train_states.reshape(-1, train_states.shape[-1])
    if states.shape[-1] == 2:
        radius = enlarge * states.abs().amax(0)
        q = torch.linspace(-radius[0].item(), radius[0].item(), n, dtype=states.dtype)
        p = torch.linspace(-radius[1].item(), radius[1].item(), n, dtype=states.dtype)
        qq, pp = torch.meshgrid(q, p, indexing="xy")
        return torch.stack([qq, pp], -1)
    lo, hi = states.amin(0), states.amax(0)
    u = torch.rand(n_random, states.shape[-1], generator=torch.Generator().manual_seed(seed), dtype=states.dtype)
    return lo + (hi - lo) * u


def eps_field(field_pred, field_true, points: Tensor) -> float:
    """‖F̂ − F‖_F / ‖F‖_F over all points and components. points: (..., n); field_*: (..., n) -> (..., n)."""
    with torch.no_grad():
        pred, true = field_pred(points), field_true(points)
    return relative_error(pred.reshape(-1), true.reshape(-1), dims=(0,)).item()


def eps_field_per_system(field_pred, field_true, points: Tensor, n_systems: int) -> Tensor:
    """ε_field of each of K systems on shared points. field_*: (K, P, n) -> (K, P, n); points: (..., n).

    Returns (K,), one relative error per system (the protocol averages them).
    """
    pts = points.reshape(1, -1, points.shape[-1]).expand(n_systems, -1, -1)
    with torch.no_grad():
        pred, true = field_pred(pts), field_true(pts)
    return relative_error(pred, true, dims=(-2, -1))


def ssim_field(field_pred, field_true, grid: Tensor, n_systems: int) -> Tensor:
    """SSIM between the predicted and true |F| images on a 2-D grid (n, n, 2), one value per system.

    field_*: (K, n·n, 2) -> (K, n·n, 2). Uses ``skimage.metrics.structural_similarity`` with ``data_range`` the
    true image's range. Returns (K,).
    """
    from skimage.metrics import structural_similarity  # lazy: only SSIM needs scikit-image

    n = grid.shape[0]
    pts = grid.reshape(1, -1, 2).expand(n_systems, -1, -1)
    with torch.no_grad():
        pred = field_pred(pts).norm(dim=-1).reshape(-1, n, n).numpy()
        true = field_true(pts).norm(dim=-1).reshape(-1, n, n).numpy()
    return torch.tensor([structural_similarity(p, t, data_range=float(t.max() - t.min())) for p, t in zip(pred, true)])


def energy_drift(energy: Tensor) -> Tensor:
    """|E(t) − E(0)| / |E(0)| along trajectories (|E(0)| floored at 1e-12). energy: (..., T) -> (..., T)."""
    return (energy - energy[..., :1]).abs() / energy[..., :1].abs().clamp(min=1e-12)


def generic_rates(grad_e: Tensor, grad_s: Tensor, f: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A GENERIC model's laws at states where its field is f = ẋ: |dE/dt| = |∇E·ẋ|, the same relative to
    ‖∇E‖ ‖ẋ‖ (0 for exact conservation, 1 at worst), and dS/dt = ∇S·ẋ (≥ 0). Each input (..., n) -> (...)."""
    dE_dt = (grad_e * f).sum(-1).abs()
    relative = dE_dt / (grad_e.norm(dim=-1) * f.norm(dim=-1)).clamp(min=1e-300)
    return dE_dt, relative, (grad_s * f).sum(-1)
