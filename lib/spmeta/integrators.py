"""Time integration: batched RK4 and leapfrog steps, rollouts, and tight-tolerance ground truth.

Every integrator takes a vector field ``f(x) -> ẋ`` acting on x: (..., n), so the same code integrates a
true family, a learned network, or a batch of K systems at once (μ or latents broadcast inside ``f``).

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._checks import check_choice, check_int

Tensor = torch.Tensor
VectorField = Callable[[Tensor], Tensor]

__all__ = ["rk4_step", "leapfrog_step", "rollout", "solve_ground_truth", "METHODS"]


def rk4_step(f: VectorField, x: Tensor, h: float) -> Tensor:
    """One classical Runge–Kutta step of size h. x: (..., n) -> (..., n). Local error O(h⁵)."""
    k1 = f(x)
    k2 = f(x + h / 2 * k1)
    k3 = f(x + h / 2 * k2)
    k4 = f(x + h * k3)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def leapfrog_step(f: VectorField, x: Tensor, h: float) -> Tensor:
    """One Störmer–Verlet (kick–drift–kick) step for a separable H = T(p) + V(q).

    x: (..., 2d) = (q, p) -> (..., 2d). With q̇ = ∂H/∂p depending on p only and ṗ = −∂H/∂q on q only,
    the step is explicit, symplectic and time-reversible, so the energy error stays bounded.
    """
    d = x.shape[-1] // 2

    def kick(state: Tensor, dt: float) -> Tensor:
        return torch.cat([state[..., :d], state[..., d:] + dt * f(state)[..., d:]], -1)

    x = kick(x, h / 2)
    x = torch.cat([x[..., :d] + h * f(x)[..., :d], x[..., d:]], -1)
    return kick(x, h / 2)


METHODS = {"rk4": rk4_step, "leapfrog": leapfrog_step}


def _check_finite(x0: Tensor) -> None:
    if not torch.isfinite(x0).all():
        raise ValueError("initial states contain NaN or inf")


def rollout(f: VectorField, x0: Tensor, t: Tensor, method: str = "rk4", substeps: int = 1) -> Tensor:
    """Integrate ẋ = f(x) from x0 and return the states at the times t.

    Args:
        f: the vector field, (..., n) -> (..., n).
        x0: initial states, (..., n), at time t[0].
        t: increasing times, (T,).
        method: ``"rk4"`` or ``"leapfrog"`` (separable Hamiltonians only; needs an even n).
        substeps: equal steps taken between consecutive times.

    Returns:
        (..., T, n), with ``out[..., 0, :] == x0``.

    See chapter 01 (book/01_hamiltonian_systems.md).
    """
    check_choice(method, "integrator", sorted(METHODS))
    if method == "leapfrog" and x0.shape[-1] % 2:
        raise ValueError(f"leapfrog needs a state (q, p) of even length; got {x0.shape[-1]}")
    check_int(substeps, "substeps")
    _check_finite(x0)
    step, states, x = METHODS[method], [x0], x0
    for dt in torch.diff(torch.as_tensor(t)).tolist():
        for _ in range(substeps):
            x = step(f, x, dt / substeps)
        states.append(x)
    return torch.stack(states, dim=-2)


def solve_ground_truth(f: VectorField, x0: Tensor, t: Tensor, rtol: float = 1e-10, atol: float = 1e-10) -> Tensor:
    """Reference trajectories with ``scipy.integrate.solve_ivp`` (DOP853) in float64.

    The B initial states are integrated as one stacked system. solve_ivp controls the RMS error over all
    components, so the tolerances are divided by √B: each trajectory then meets rtol/atol on its own.

    Args:
        f: the vector field on torch float64 tensors, (B, n) -> (B, n).
        x0: (B, n) initial states at t[0].
        t: (T,) output times.

    Returns:
        (B, T, n) float64 tensor.
    """
    from scipy.integrate import solve_ivp  # lazy: scipy is not needed to import spmeta

    x0 = torch.as_tensor(x0, dtype=torch.float64)
    _check_finite(x0)
    t = torch.as_tensor(t, dtype=torch.float64)
    shape = x0.shape

    def rhs(_, y):
        with torch.no_grad():
            return f(torch.from_numpy(y).reshape(shape)).reshape(-1).numpy()

    scale = math.sqrt(shape[0])
    sol = solve_ivp(rhs, (t[0].item(), t[-1].item()), x0.reshape(-1).numpy(), method="DOP853",
                    t_eval=t.numpy(), rtol=rtol / scale, atol=atol / scale)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return torch.from_numpy(sol.y.T.copy()).reshape(len(t), *shape).movedim(0, -2)
