"""Parametric families of Hamiltonian systems, and the three built-in families of the protocol.

A family is a Hamiltonian H(x, μ) with state x = (q, p) ∈ R^{2d} and parameters μ drawn from a box. The
vector field is the symplectic gradient ẋ = J∇ₓH(x, μ), with J = [[0, I], [−I, 0]], computed by autograd
from a vectorised torch H, so a user only writes H.

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

import inspect
import math
from typing import Callable, Mapping

import torch

from .. import integrators

Tensor = torch.Tensor
#: Parameter names that are masses and must be positive in every box.
MASS_NAMES = frozenset({"m", "mass"})

__all__ = ["HamiltonianFamily", "symplectic_matrix", "as_generator", "mass_spring", "pendulum", "duffing"]


def symplectic_matrix(dim: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """The canonical J = [[0, I], [−I, 0]] of shape (2·dim, 2·dim)."""
    eye, zero = torch.eye(dim, dtype=dtype), torch.zeros(dim, dim, dtype=dtype)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


def as_generator(seed: int | torch.Generator) -> torch.Generator:
    """A torch generator from an integer seed (or the generator itself)."""
    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(int(seed))


def _check_box(box: Mapping[str, tuple[float, float]], what: str, positive: frozenset[str]) -> dict:
    if not isinstance(box, Mapping) or not box:
        raise ValueError(f"{what} must be a non-empty dict name -> (low, high); got {box!r}")
    checked = {}
    for key, bounds in box.items():
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(f"{what}[{key!r}] must be a pair (low, high); got {bounds!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ValueError(f"{what}[{key!r}] = ({lo}, {hi}): the lower bound must be finite and below the upper")
        if key in positive and lo <= 0:
            raise ValueError(f"{what}[{key!r}] = ({lo}, {hi}): {key!r} is a mass or length and must be positive")
        checked[key] = (lo, hi)
    return checked


class HamiltonianFamily:
    """A parametric family of Hamiltonian systems ẋ = J∇ₓH(x, μ).

    Args:
        name: a short identifier, e.g. ``"mass_spring"``.
        hamiltonian: ``H(x, mu) -> h`` with x: (..., 2d) = (q, p), mu: (..., n_mu), h: (...). It must be
            written with torch operations and broadcast over the leading dimensions.
        dim: d, the number of degrees of freedom (the state has 2d entries).
        param_ranges: ``{name: (low, high)}``, the box μ is drawn from uniformly. Its order fixes the order
            of μ's entries.
        t_span: (t0, t1) of every trajectory.
        n_steps: number of time points on the uniform grid over ``t_span`` (t0 included).
        ic_sampler: ``None`` for the radius default (a uniformly random direction in R^{2d} scaled by
            r ~ U[ic_radius]); otherwise ``f(n, generator) -> (n, 2d)``, or ``f(n, generator, mu)`` when the
            initial conditions depend on the system's parameters mu: (n_mu,).
        ood_ranges: an out-of-distribution box with the same names (optional).
        ic_radius: (r_min, r_max) of the default sampler.
        separable: True when H = T(p) + V(q), which allows the explicit leapfrog integrator.
        positive: parameter names that must be positive, in addition to the masses ``m``/``mass``.

    See chapter 01 (book/01_hamiltonian_systems.md).
    """

    def __init__(self, name: str, hamiltonian: Callable[[Tensor, Tensor], Tensor], dim: int,
                 param_ranges: Mapping[str, tuple[float, float]], t_span: tuple[float, float], n_steps: int,
                 ic_sampler: Callable | None = None, *, ood_ranges: Mapping | None = None,
                 ic_radius: tuple[float, float] = (0.1, 1.0), separable: bool = False,
                 positive: tuple[str, ...] = ()):
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        if not callable(hamiltonian):
            raise ValueError("hamiltonian must be a callable H(x, mu)")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer (degrees of freedom); got {dim!r}")
        self.name, self.hamiltonian, self.dim = name, hamiltonian, dim
        self._positive = MASS_NAMES | frozenset(positive)
        self.param_ranges = _check_box(param_ranges, "param_ranges", self._positive)
        self.ood_ranges = None
        if ood_ranges is not None:
            self.ood_ranges = _check_box(ood_ranges, "ood_ranges", self._positive)
            if list(self.ood_ranges) != list(self.param_ranges):
                raise ValueError(f"ood_ranges names {list(self.ood_ranges)} differ from param_ranges names "
                                 f"{list(self.param_ranges)}")
        t0, t1 = (float(t) for t in t_span)
        if not t1 > t0:
            raise ValueError(f"t_span must have t0 < t1; got {t_span!r}")
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 2:
            raise ValueError(f"n_steps (time points on the grid) must be an integer >= 2; got {n_steps!r}")
        self.t_span, self.n_steps = (t0, t1), n_steps
        r0, r1 = (float(r) for r in ic_radius)
        if not 0 <= r0 < r1:
            raise ValueError(f"ic_radius must satisfy 0 <= r_min < r_max; got {ic_radius!r}")
        self.ic_radius, self.ic_sampler, self.separable = (r0, r1), ic_sampler, bool(separable)
        self._probe()

    # -- description -------------------------------------------------------------------------------
    @property
    def state_dim(self) -> int:
        """Length 2d of the state x = (q, p)."""
        return 2 * self.dim

    @property
    def param_names(self) -> list[str]:
        return list(self.param_ranges)

    @property
    def n_params(self) -> int:
        return len(self.param_ranges)

    def time_grid(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The sampling times, shape (n_steps,)."""
        return torch.linspace(*self.t_span, self.n_steps, dtype=dtype)

    def __repr__(self) -> str:
        box = ", ".join(f"{k}∈[{lo:g}, {hi:g}]" for k, (lo, hi) in self.param_ranges.items())
        return f"{type(self).__name__}({self.name!r}, dim={self.dim}, {box}, t={self.t_span}, n_steps={self.n_steps})"

    # -- dynamics ------------------------------------------------------------------------------------
    def _broadcast(self, x: Tensor, mu: Tensor) -> tuple[Tensor, Tensor]:
        x, mu = torch.as_tensor(x), torch.as_tensor(mu)
        if x.ndim == 0 or x.shape[-1] != self.state_dim:
            raise ValueError(f"{self.name}: the state must have last dimension 2d = {self.state_dim}; "
                             f"got shape {tuple(x.shape)}")
        if mu.ndim == 0 or mu.shape[-1] != self.n_params:
            raise ValueError(f"{self.name}: mu must have last dimension {self.n_params} "
                             f"({', '.join(self.param_names)}); got shape {tuple(mu.shape)}")
        try:
            batch = torch.broadcast_shapes(x.shape[:-1], mu.shape[:-1])
        except RuntimeError:
            raise ValueError(f"{self.name}: state batch {tuple(x.shape[:-1])} and mu batch "
                             f"{tuple(mu.shape[:-1])} do not broadcast") from None
        mu = mu.to(x.dtype) if x.is_floating_point() else mu
        return x.expand(*batch, self.state_dim), mu.expand(*batch, self.n_params)

    def energy(self, x: Tensor, mu: Tensor) -> Tensor:
        """H(x, μ). x: (..., 2d), mu: (..., n_mu) broadcastable  ->  (...)."""
        x, mu = self._broadcast(x, mu)
        h = self.hamiltonian(x, mu)
        if not isinstance(h, Tensor) or h.shape != x.shape[:-1]:
            got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
            raise ValueError(f"{self.name}: hamiltonian(x, mu) must return shape x.shape[:-1] = "
                             f"{tuple(x.shape[:-1])}, one energy per state; got {got}")
        return h

    def vector_field(self, x: Tensor, mu: Tensor) -> Tensor:
        """ẋ = J∇ₓH(x, μ) by autograd. x: (..., 2d), mu: (..., n_mu)  ->  (..., 2d). Works under no_grad."""
        x, mu = self._broadcast(x, mu)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(xg, mu.detach()).sum(), xg)
        dq, dp = grad[..., : self.dim], grad[..., self.dim:]
        return torch.cat([dp, -dq], dim=-1)

    # -- sampling ------------------------------------------------------------------------------------
    def sample_params(self, n: int, seed: int | torch.Generator = 0, ood: bool = False) -> Tensor:
        """n parameter vectors drawn uniformly from the box (or the OOD box), shape (n, n_mu), float64."""
        box = self.ood_ranges if ood else self.param_ranges
        if box is None:
            raise ValueError(f"{self.name} has no ood_ranges")
        lo, hi = (torch.tensor(b, dtype=torch.float64) for b in zip(*box.values()))
        return lo + (hi - lo) * torch.rand(n, self.n_params, generator=as_generator(seed), dtype=torch.float64)

    def check_params(self, mu: Tensor) -> Tensor:
        """Validate μ: shape (..., n_mu), finite, and positive where it must be. Returns it as float64."""
        mu = torch.as_tensor(mu, dtype=torch.float64)
        if mu.ndim == 0 or mu.shape[-1] != self.n_params:
            raise ValueError(f"{self.name}: mu must have last dimension {self.n_params} "
                             f"({', '.join(self.param_names)}); got shape {tuple(mu.shape)}")
        if not torch.isfinite(mu).all():
            raise ValueError(f"{self.name}: mu contains non-finite values")
        for i, key in enumerate(self.param_names):
            if key in self._positive and (mu[..., i] <= 0).any():
                raise ValueError(f"{self.name}: parameter {key!r} must be positive; got {mu[..., i].min().item()}")
        return mu

    def sample_initial_conditions(self, n: int, mu: Tensor, seed: int | torch.Generator = 0) -> Tensor:
        """n initial states for the system with parameters mu: (n_mu,). Returns (n, 2d), float64."""
        gen, mu = as_generator(seed), self.check_params(mu)
        if self.ic_sampler is None:
            if self.state_dim == 2:  # r(cos θ, sin θ), θ ~ U[0, 2π), as in the protocol
                theta = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
                direction = torch.stack([theta.cos(), theta.sin()], -1)
            else:  # a uniformly random direction on the unit sphere of R^{2d}
                direction = torch.randn(n, self.state_dim, generator=gen, dtype=torch.float64)
                direction = direction / direction.norm(dim=-1, keepdim=True)
            r0, r1 = self.ic_radius
            x0 = (r0 + (r1 - r0) * torch.rand(n, 1, generator=gen, dtype=torch.float64)) * direction
        else:
            takes_mu = len(inspect.signature(self.ic_sampler).parameters) >= 3
            x0 = self.ic_sampler(n, gen, mu) if takes_mu else self.ic_sampler(n, gen)
            x0 = torch.as_tensor(x0, dtype=torch.float64)
            if x0.shape != (n, self.state_dim):
                raise ValueError(f"{self.name}: ic_sampler must return shape ({n}, {self.state_dim}); "
                                 f"got {tuple(x0.shape)}")
        return x0

    def trajectories(self, mu: Tensor, x0: Tensor) -> Tensor:
        """Ground truth by ``solve_ivp`` (DOP853, rtol = atol = 1e-10) on :meth:`time_grid`.

        mu: (n_mu,), x0: (B, 2d)  ->  (B, n_steps, 2d), float64.
        """
        mu = self.check_params(mu)
        if mu.ndim != 1:
            raise ValueError(f"{self.name}: trajectories() takes the parameters of one system, mu: "
                             f"({self.n_params},); got shape {tuple(mu.shape)}")
        x0 = torch.as_tensor(x0, dtype=torch.float64)
        if x0.ndim != 2 or x0.shape[-1] != self.state_dim:
            raise ValueError(f"{self.name}: x0 must have shape (B, {self.state_dim}); got {tuple(x0.shape)}")
        return integrators.solve_ground_truth(lambda x: self.vector_field(x, mu), x0, self.time_grid())

    def _probe(self) -> None:
        """Call H once on representative inputs, so that a malformed H fails at construction."""
        lo, hi = (torch.tensor(b, dtype=torch.float64) for b in zip(*self.param_ranges.values()))
        mu = ((lo + hi) / 2).expand(3, self.n_params)
        x = torch.linspace(0.1, 0.5, 3 * self.state_dim, dtype=torch.float64).reshape(3, self.state_dim)
        h = self.energy(x, mu)
        if not torch.isfinite(h).all():
            raise ValueError(f"{self.name}: hamiltonian returned non-finite values at the centre of the box")


# ---------------------------------------------------------------------------------------------------------
# Built-in families, exactly as in the protocol (shared/design/protocol.md).
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
    return HamiltonianFamily("mass_spring", _h_mass_spring, dim=1, param_ranges={"m": (1.0, 5.0), "k": (1.0, 5.0)},
                             t_span=(0.0, 3.0), n_steps=30, ood_ranges={"m": (5.0, 7.0), "k": (5.0, 7.0)},
                             ic_radius=(0.1, 1.0), separable=True, positive=("k",))


def pendulum() -> HamiltonianFamily:
    """H = p²/(2ml²) + mgl(1 − cos q), g = 3, with m, l ∈ [0.5, 1.5] (OOD [1.5, 2]); t ∈ [0, 3], 45 points."""
    return HamiltonianFamily("pendulum", _h_pendulum, dim=1, param_ranges={"m": (0.5, 1.5), "l": (0.5, 1.5)},
                             t_span=(0.0, 3.0), n_steps=45, ic_sampler=_pendulum_ic,
                             ood_ranges={"m": (1.5, 2.0), "l": (1.5, 2.0)}, separable=True, positive=("l",))


def duffing() -> HamiltonianFamily:
    """H = p²/2 + αq²/2 + βq⁴/4 with α, β ∈ [0.5, 2] (OOD [2, 3]); t ∈ [0, 3], 30 points; r ~ U[0.5, 1.5]."""
    return HamiltonianFamily("duffing", _h_duffing, dim=1, param_ranges={"alpha": (0.5, 2.0), "beta": (0.5, 2.0)},
                             t_span=(0.0, 3.0), n_steps=30, ood_ranges={"alpha": (2.0, 3.0), "beta": (2.0, 3.0)},
                             ic_radius=(0.5, 1.5), separable=True)
