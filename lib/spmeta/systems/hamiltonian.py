"""Parametric families of Hamiltonian systems, and the three built-in families of the protocol.

A family is a Hamiltonian H(x, μ) with state x = (q, p) ∈ R^{2d} and parameters μ drawn from a box. The
vector field is the symplectic gradient ẋ = J∇ₓH(x, μ), with J = [[0, I], [−I, 0]], computed by autograd
from a vectorised torch H, so a user only writes H.

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Mapping

import torch

from .._checks import check_int, renamed_keyword
from ..autodiff import input_gradient
from .family import Family

Tensor = torch.Tensor

__all__ = ["HamiltonianFamily", "symplectic_matrix", "mass_spring", "pendulum", "duffing"]


def symplectic_matrix(dim: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """The canonical J = [[0, I], [−I, 0]] of shape (2·dim, 2·dim)."""
    eye, zero = torch.eye(dim, dtype=dtype), torch.zeros(dim, dim, dtype=dtype)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def symplectic_gradient(grad: Tensor) -> Tensor:
    """J∇H from ∇H = (∂H/∂q, ∂H/∂p): returns (∂H/∂p, −∂H/∂q). grad: (..., 2d) -> (..., 2d)."""
    d = grad.shape[-1] // 2
    return torch.cat([grad[..., d:], -grad[..., :d]], dim=-1)


class HamiltonianFamily(Family):
    """A parametric family of Hamiltonian systems ẋ = J∇ₓH(x, μ).

    Args:
        name: a short identifier, e.g. ``"mass_spring"``.
        hamiltonian: ``H(x, mu) -> h`` with x: (..., 2d) = (q, p), mu: (..., n_mu), h: (...). It must be
            written with torch operations and broadcast over the leading dimensions.
        dof: d, the number of degrees of freedom (the state has 2d entries; formerly ``dim``, still accepted
            with a ``DeprecationWarning``).
        param_ranges: ``{name: (low, high)}``, the box μ is drawn from uniformly. Its order fixes the order
            of μ's entries.
        t_span: (t0, t1) of every trajectory.
        n_steps: number of time points on the uniform grid over ``t_span`` (t0 included).
        ic_sampler: ``None`` for the radius default (a uniformly random direction in R^{2d} scaled by
            r ~ U[ic_radius]); otherwise ``f(n, generator) -> (n, 2d)``, or ``f(n, generator, mu)`` when the
            initial conditions depend on the system's parameters mu: (n_mu,). ``generator`` is a
            ``torch.Generator``: draw with ``torch.rand(..., generator=generator)``. Only a third parameter
            without a default receives μ.
        ood_ranges: an out-of-distribution box with the same names (optional).
        ic_radius: (r_min, r_max) of the default sampler.
        separable: True when H = T(p) + V(q), a record for the user: only then is `rollout(method="leapfrog")`
            (explicit Störmer–Verlet) the right integrator; the library does not enforce it.
        positive: parameter names that must be positive, in addition to the masses ``m``/``mass``.

    See chapter 01 (book/01_hamiltonian_systems.md).
    """

    @renamed_keyword("dim", "dof")
    def __init__(self, name: str, hamiltonian: Callable[[Tensor, Tensor], Tensor], dof: int,
                 param_ranges: Mapping[str, tuple[float, float]], t_span: tuple[float, float], n_steps: int,
                 ic_sampler: Callable | None = None, *, ood_ranges: Mapping | None = None,
                 ic_radius: tuple[float, float] = (0.1, 1.0), separable: bool = False,
                 positive: tuple[str, ...] = ()):
        check_int(dof, "dof (degrees of freedom)")
        if not callable(hamiltonian):
            raise ValueError("hamiltonian must be a callable H(x, mu)")
        super().__init__(name, 2 * dof, param_ranges, t_span, n_steps, ic_sampler, ood_ranges=ood_ranges,
                         ic_radius=ic_radius, positive=positive)
        self.dof, self.hamiltonian, self.separable = dof, hamiltonian, bool(separable)
        if not torch.isfinite(self.energy(*self._probe_states())).all():
            raise ValueError(f"{name}: hamiltonian returned non-finite values at initial states of the box")
        self._check_batching(self.energy, "hamiltonian")

    @property
    def dim(self) -> int:
        """The former name of :attr:`dof` (deprecated: a GENERIC family's ``dim`` is its state's length)."""
        warnings.warn("HamiltonianFamily.dim is now .dof (the degrees of freedom)", DeprecationWarning, stacklevel=2)
        return self.dof

    def energy(self, x: Tensor, mu: Tensor) -> Tensor:
        """H(x, μ). x: (..., 2d), mu: (..., n_mu) broadcastable  ->  (...)."""
        return self._scalar(self.hamiltonian, "hamiltonian", x, mu)

    def vector_field(self, x: Tensor, mu: Tensor) -> Tensor:
        """ẋ = J∇ₓH(x, μ) by autograd. x: (..., 2d), mu: (..., n_mu)  ->  (..., 2d). Works under no_grad."""
        x, mu = self._broadcast(x.detach(), mu.detach())
        with torch.no_grad():  # the truth: computed by autograd, returned without a graph
            return symplectic_gradient(input_gradient(lambda y: self.energy(y, mu), x))


# ---------------------------------------------------------------------------------------------------------
# Built-in families, exactly as in the book's benchmark protocol.
# ---------------------------------------------------------------------------------------------------------
G_PENDULUM = 3.0


def _h_mass_spring(x: Tensor, mu: Tensor) -> Tensor:
    q, p, m, k = x[..., 0], x[..., 1], mu[..., 0], mu[..., 1]
    return p**2 / (2 * m) + k * q**2 / 2


def _h_pendulum(x: Tensor, mu: Tensor) -> Tensor:
    q, p, m, l = x[..., 0], x[..., 1], mu[..., 0], mu[..., 1]
    return p**2 / (2 * m * l**2) + m * G_PENDULUM * l * (1 - torch.cos(q))


def _h_duffing(x: Tensor, mu: Tensor) -> Tensor:
    q, p, alpha, beta = x[..., 0], x[..., 1], mu[..., 0], mu[..., 1]
    return p**2 / 2 + alpha * q**2 / 2 + beta * q**4 / 4


def _pendulum_ic(n: int, gen: torch.Generator, mu: Tensor) -> Tensor:
    """(q, p/√(m²gl³)) = r(cos θ, sin θ), r ~ U[0.3, 1.8]: always libration (H < 2mgl)."""
    m, l = mu[0], mu[1]
    r = 0.3 + 1.5 * torch.rand(n, generator=gen, dtype=torch.float64)
    theta = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    return torch.stack([r * theta.cos(), r * theta.sin() * torch.sqrt(m**2 * G_PENDULUM * l**3)], -1)


def mass_spring() -> HamiltonianFamily:
    """H = p²/(2m) + k q²/2 with m, k ∈ [1, 5] (OOD [5, 7]); t ∈ [0, 3], 30 points; r ~ U[0.1, 1]."""
    return HamiltonianFamily("mass_spring", _h_mass_spring, dof=1, param_ranges={"m": (1.0, 5.0), "k": (1.0, 5.0)},
                             t_span=(0.0, 3.0), n_steps=30, ood_ranges={"m": (5.0, 7.0), "k": (5.0, 7.0)},
                             ic_radius=(0.1, 1.0), separable=True, positive=("k",))


def pendulum() -> HamiltonianFamily:
    """H = p²/(2ml²) + mgl(1 − cos q), g = 3, with m, l ∈ [0.5, 1.5] (OOD [1.5, 2]); t ∈ [0, 3], 45 points."""
    return HamiltonianFamily("pendulum", _h_pendulum, dof=1, param_ranges={"m": (0.5, 1.5), "l": (0.5, 1.5)},
                             t_span=(0.0, 3.0), n_steps=45, ic_sampler=_pendulum_ic,
                             ood_ranges={"m": (1.5, 2.0), "l": (1.5, 2.0)}, separable=True, positive=("l",))


def duffing() -> HamiltonianFamily:
    """H = p²/2 + αq²/2 + βq⁴/4 with α, β ∈ [0.5, 2] (OOD [2, 3]); t ∈ [0, 3], 30 points; r ~ U[0.5, 1.5]."""
    return HamiltonianFamily("duffing", _h_duffing, dof=1, param_ranges={"alpha": (0.5, 2.0), "beta": (0.5, 2.0)},
                             t_span=(0.0, 3.0), n_steps=30, ood_ranges={"alpha": (2.0, 3.0), "beta": (2.0, 3.0)},
                             ic_radius=(0.5, 1.5), separable=True)
