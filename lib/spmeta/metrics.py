"""Metrics of the benchmark protocol: ε_traj, ε_field, SSIM and the structure checks.

- ε_traj: roll each trajectory out from its true initial state and average ‖X̂ − X‖_F / ‖X‖_F.
- ε_field (protocol v2): ‖F̂ − F‖_F / ‖F‖_F on each system's *own* field points (:func:`own_box_points`): for
  2-D states a uniform n × n grid over the bounding box of the system's own states, enlarged by 10 % of its
  width on each side; for higher dimensions, uniform points in that box (no enlargement).
- ε_field_family (protocol v1's ε_field, kept as an extrapolation diagnostic): the same error on one set of
  points per family (:func:`field_points`): for 2-D states the grid over [−R_q, R_q] × [−R_p, R_p] with
  R = 1.2 × the largest |coordinate| of the training states; for higher dimensions, uniform points in the
  training states' bounding box.
- SSIM between the predicted and true |F| images on the system's own 2-D grid (scikit-image).
- Structure: the relative drift of an energy along trajectories; the rates dE/dt and dS/dt of a GENERIC model.

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

import importlib.util

import numpy as np
import torch

Tensor = torch.Tensor

__all__ = ["relative_error", "eps_traj", "field_points", "own_box_points", "eps_field", "eps_field_per_system", "ssim_available", "ssim_field",
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
    """The family's field points (ε_field_family, protocol v1's ε_field) from training states (..., d).

    d = 2: the n × n grid over ±enlarge × max |coordinate|, centred on 0, returned as (n, n, 2) (index [i, j] is
    p_i, q_j, as ``meshgrid`` gives). d > 2: ``n_random`` uniform points in the bounding box, (n_random, d).
    Only the states' bounding box matters: ``torch.stack(bounds(states))`` gives the same points.
    """
    lo, hi = bounds(train_states)
    if lo.shape[-1] == 2:
        radius = enlarge * torch.maximum(lo.abs(), hi.abs())
        return _grid(-radius, radius, n)
    return _uniform(lo, hi, n_random, seed)


def own_box_points(states: Tensor, n: int = 20, margin: float = 0.1, n_random: int = 2000, seed: int = 0) -> Tensor:
    """Protocol v2's field points of one system, from its own states (..., d).

    d = 2: the n × n grid over the states' bounding box, enlarged by ``margin`` × its width on each side,
    (n, n, 2); unlike :func:`field_points` it is not centred on 0, so it does not reach into a region (a steep
    wall of an asymmetric well) that the system never visits. d > 2: ``n_random`` uniform points in the
    bounding box, not enlarged, (n_random, d).
    """
    lo, hi = bounds(states)
    if lo.shape[-1] == 2:
        pad = margin * (hi - lo)
        return _grid(lo - pad, hi + pad, n)
    return _uniform(lo, hi, n_random, seed)


def bounds(states: Tensor) -> tuple[Tensor, Tensor]:
    """The bounding box of states (..., d): (lo, hi), each (d,)."""
    flat = states.reshape(-1, states.shape[-1])
    return flat.amin(0), flat.amax(0)


def _grid(lo: Tensor, hi: Tensor, n: int) -> Tensor:
    """The n × n grid over [lo_q, hi_q] × [lo_p, hi_p], (n, n, 2), index [i, j] = (q_j, p_i)."""
    q = torch.linspace(lo[0].item(), hi[0].item(), n, dtype=lo.dtype)
    p = torch.linspace(lo[1].item(), hi[1].item(), n, dtype=lo.dtype)
    qq, pp = torch.meshgrid(q, p, indexing="xy")
    return torch.stack([qq, pp], -1)


def _uniform(lo: Tensor, hi: Tensor, n: int, seed: int) -> Tensor:
    """n uniform points in the box [lo, hi], (n, d), from a fixed seed."""
    u = torch.rand(n, lo.shape[-1], generator=torch.Generator().manual_seed(seed), dtype=lo.dtype)
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


def ssim_available() -> bool:
    """Whether scikit-image, which :func:`ssim_field` needs, is installed (it is optional for a copied library)."""
    return importlib.util.find_spec("skimage") is not None


def ssim_field(field_pred, field_true, grid: Tensor, n_systems: int) -> Tensor:
    """SSIM between the predicted and true |F| images on 2-D grids, one value per system.

    grid: (n, n, 2), shared by the K systems, or (K, n, n, 2), one per system (protocol v2's own grids).
    field_*: (K, n·n, 2) -> (K, n·n, 2). Uses ``skimage.metrics.structural_similarity`` with ``data_range`` the
    true image's range (a flat true image: its rounding scale). Returns (K,).
    """
    from skimage.metrics import structural_similarity  # lazy: only SSIM needs scikit-image

    n = grid.shape[-2]
    pts = grid.reshape(-1, n * n, 2).expand(n_systems, -1, -1)
    with torch.no_grad():
        pred = field_pred(pts).norm(dim=-1).reshape(-1, n, n).cpu().numpy()  # a GPU model's too
        true = field_true(pts).norm(dim=-1).reshape(-1, n, n).cpu().numpy()
    return torch.tensor([structural_similarity(p, t, data_range=_data_range(t)) for p, t in zip(pred, true)])


def _data_range(image: np.ndarray) -> float:
    """SSIM's ``data_range``: the image's range, or, for a flat image (range 0, where SSIM would divide by
    zero), its rounding scale, so that a matching prediction scores 1 and any other scores below it."""
    spread = float(image.max() - image.min())
    return spread if spread > 0 else float(np.finfo(image.dtype).eps * max(1.0, abs(float(image.max()))))


def energy_drift(energy: Tensor) -> Tensor:
    """|E(t) − E(0)| / |E(0)| along trajectories (|E(0)| floored at 1e-12). energy: (..., T) -> (..., T)."""
    return (energy - energy[..., :1]).abs() / energy[..., :1].abs().clamp(min=1e-12)


def generic_rates(grad_e: Tensor, grad_s: Tensor, f: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """A GENERIC model's laws at states where its field is f = ẋ: |dE/dt| = |∇E·ẋ|, the same relative to
    ‖∇E‖ ‖ẋ‖ (0 for exact conservation, 1 at worst), and dS/dt = ∇S·ẋ (≥ 0). Each input (..., n) -> (...)."""
    dE_dt = (grad_e * f).sum(-1).abs()
    relative = dE_dt / (grad_e.norm(dim=-1) * f.norm(dim=-1)).clamp(min=torch.finfo(f.dtype).tiny)
    return dE_dt, relative, (grad_s * f).sum(-1)
