"""Parametric families of GENERIC (metriplectic) systems, and the two dissipative built-ins.

A GENERIC system evolves by ẋ = L(x)∇E(x) + M(x)∇S(x), with a skew Poisson operator L, a symmetric positive
semi-definite friction operator M, and the degeneracy conditions L∇S = 0 and M∇E = 0. Then dE/dt = 0 (the
first law) and dS/dt = ∇Sᵀ M ∇S ≥ 0 (the second law).

See chapter 03 (book/03_generic_formalism.md).
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch

from ..autodiff import input_gradient
from .family import Family

Tensor = torch.Tensor

__all__ = ["GenericFamily", "damped_oscillator", "gas_containers"]


class GenericFamily(Family):
    """A parametric family of GENERIC systems ẋ = L∇E + M∇S.

    Args:
        name: a short identifier.
        energy: ``E(x, mu) -> (...)`` for x: (..., n), mu: (..., n_mu).
        entropy: ``S(x, mu) -> (...)``.
        poisson: ``L(x, mu) -> (..., n, n)``, skew-symmetric with L∇S = 0.
        friction: ``M(x, mu) -> (..., n, n)``, symmetric positive semi-definite with M∇E = 0.
        dim: n, the length of the state x.
        rhs: optional closed-form right-hand side ``f(x, mu) -> (..., n)``; when given, it is used for the
            ground truth, and the constructor checks it against L∇E + M∇S at a few initial states of the box.
        The remaining arguments are those of :class:`~spmeta.systems.family.Family`.

    See chapter 03 (book/03_generic_formalism.md).
    """

    def __init__(self, name: str, energy: Callable, entropy: Callable, poisson: Callable, friction: Callable,
                 dim: int, param_ranges: Mapping[str, tuple[float, float]], t_span: tuple[float, float],
                 n_steps: int, ic_sampler: Callable | None = None, *, rhs: Callable | None = None,
                 ood_ranges: Mapping | None = None, ic_radius: tuple[float, float] = (0.1, 1.0),
                 positive: tuple[str, ...] = ()):
        for what, fn in (("energy", energy), ("entropy", entropy), ("poisson", poisson), ("friction", friction)):
            if not callable(fn):
                raise ValueError(f"{what} must be a callable of (x, mu)")
        super().__init__(name, dim, param_ranges, t_span, n_steps, ic_sampler, ood_ranges=ood_ranges,
                         ic_radius=ic_radius, positive=positive)
        self.dim, self._energy, self._entropy, self._poisson, self._friction, self.rhs = \
            dim, energy, entropy, poisson, friction, rhs
        x, mu = self._probe_states()
        field = self.generic_field(x, mu)
        if not torch.isfinite(field).all():
            raise ValueError(f"{name}: L∇E + M∇S is not finite at initial states of the box")
        for what, fn in (("energy", self.energy), ("entropy", self.entropy), ("poisson", self.poisson),
                         ("friction", self.friction)):
            self._check_batching(fn, what)
        self._check_structure(x, mu)
        if rhs is not None:
            closed = self.vector_field(x, mu)
            if not isinstance(closed, Tensor) or closed.shape != x.shape:
                got = tuple(closed.shape) if isinstance(closed, Tensor) else type(closed).__name__
                raise ValueError(f"{name}: rhs(x, mu) must return the shape of x, {tuple(x.shape)}; got {got}")
            error = ((closed - field).norm() / field.norm().clamp_min(torch.finfo(field.dtype).tiny)).item()
            if not error <= 1e-6:
                raise ValueError(f"{name}: rhs differs from L∇E + M∇S at initial states of the box (relative "
                                 f"error {error:.1e}); the closed form must be the GENERIC field")

    def _check_structure(self, x: Tensor, mu: Tensor, tol: float = 1e-8) -> None:
        """Raise unless, at the probe states, L is skew, M symmetric positive semi-definite, and L∇S = M∇E = 0,
        each relative to the sizes involved (``tol``)."""
        lmat, mmat = self.poisson(x, mu), self.friction(x, mu)
        grad_e, grad_s = self.gradients(x, mu)
        size = lambda a: a.abs().amax().clamp_min(torch.finfo(a.dtype).tiny)  # noqa: E731
        failures = []
        if (lmat + lmat.mT).abs().amax() > tol * size(lmat):
            failures.append("poisson L is not skew-symmetric (L = −Lᵀ)")
        if (mmat - mmat.mT).abs().amax() > tol * size(mmat):
            failures.append("friction M is not symmetric")
        elif torch.linalg.eigvalsh(mmat).amin() < -tol * size(mmat):
            failures.append("friction M is not positive semi-definite")
        residual_l, residual_m = self.degeneracy(x, mu)
        if residual_l.abs().amax() > tol * size(lmat) * size(grad_s):
            failures.append("L∇S ≠ 0 (the entropy must not change the reversible part)")
        if residual_m.abs().amax() > tol * size(mmat) * size(grad_e):
            failures.append("M∇E ≠ 0 (the irreversible part must conserve the energy)")
        if failures:
            raise ValueError(f"{self.name} is not GENERIC at initial states of the box: " + "; ".join(failures))

    # -- the four ingredients, with shape checks ---------------------------------------------------
    def energy(self, x: Tensor, mu: Tensor) -> Tensor:
        """E(x, μ): (..., n), (..., n_mu) -> (...)."""
        return self._scalar(self._energy, "energy", x, mu)

    def entropy(self, x: Tensor, mu: Tensor) -> Tensor:
        """S(x, μ): (..., n), (..., n_mu) -> (...)."""
        return self._scalar(self._entropy, "entropy", x, mu)

    def _operator(self, fn: Callable, what: str, x: Tensor, mu: Tensor) -> Tensor:
        x, mu = self._broadcast(x, mu)
        op = fn(x, mu)
        expected = (*x.shape[:-1], self.state_dim, self.state_dim)
        if not isinstance(op, Tensor) or op.shape != expected:
            got = tuple(op.shape) if isinstance(op, Tensor) else type(op).__name__
            raise ValueError(f"{self.name}: {what}(x, mu) must return shape {expected} (an n × n matrix per "
                             f"state, n = {self.state_dim}); got {got}")
        return op

    def poisson(self, x: Tensor, mu: Tensor) -> Tensor:
        """L(x, μ): (..., n), (..., n_mu) -> (..., n, n)."""
        return self._operator(self._poisson, "poisson", x, mu)

    def friction(self, x: Tensor, mu: Tensor) -> Tensor:
        """M(x, μ): (..., n), (..., n_mu) -> (..., n, n)."""
        return self._operator(self._friction, "friction", x, mu)

    def gradients(self, x: Tensor, mu: Tensor) -> tuple[Tensor, Tensor]:
        """(∇E, ∇S) by autograd, each (..., n). Works under no_grad."""
        x, mu = self._broadcast(x.detach(), mu.detach())
        with torch.no_grad():  # the truth: computed by autograd, returned without a graph
            return (input_gradient(lambda y: self.energy(y, mu), x),
                    input_gradient(lambda y: self.entropy(y, mu), x))

    # -- dynamics ------------------------------------------------------------------------------------
    def generic_field(self, x: Tensor, mu: Tensor) -> Tensor:
        """L∇E + M∇S assembled from the four ingredients. (..., n), (..., n_mu) -> (..., n)."""
        grad_e, grad_s = self.gradients(x, mu)
        lmat, mmat = self.poisson(x, mu), self.friction(x, mu)
        return (lmat @ grad_e[..., None] + mmat @ grad_s[..., None])[..., 0]

    def vector_field(self, x: Tensor, mu: Tensor) -> Tensor:
        """ẋ: the closed form ``rhs`` when given, else L∇E + M∇S. (..., n), (..., n_mu) -> (..., n)."""
        if self.rhs is None:
            return self.generic_field(x, mu)
        x, mu = self._broadcast(x, mu)
        return self.rhs(x, mu)

    def degeneracy(self, x: Tensor, mu: Tensor) -> tuple[Tensor, Tensor]:
        """The residuals (L∇S, M∇E), each (..., n); both vanish for a GENERIC system."""
        grad_e, grad_s = self.gradients(x, mu)
        return ((self.poisson(x, mu) @ grad_s[..., None])[..., 0],
                (self.friction(x, mu) @ grad_e[..., None])[..., 0])


# ---------------------------------------------------------------------------------------------------------
# Built-in families, exactly as in the book's benchmark protocol. The temperature T and the
# constants of the original references are 1.
# ---------------------------------------------------------------------------------------------------------
def _matrix(rows: list[list[Tensor | float]], like: Tensor) -> Tensor:
    """Stack a nested list of scalars/tensors broadcastable to like's batch shape into (..., n, n)."""
    batch = like.shape[:-1]
    return torch.stack([torch.stack([torch.as_tensor(v, dtype=like.dtype).expand(batch) for v in row], -1)
                        for row in rows], -2)


def _dno_energy(x, mu):
    q, p, s, k = x[..., 0], x[..., 1], x[..., 2], mu[..., 0]
    return p**2 / 2 - k * torch.cos(q) + s


def _dno_entropy(x, mu):
    return x[..., 2]


def _dno_poisson(x, mu):
    return _matrix([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], x)


def _dno_friction(x, mu):
    gamma, p = mu[..., 1], x[..., 1]
    v = torch.stack([torch.zeros_like(p), torch.ones_like(p), -p], -1)  # M = γ v vᵀ, v = (0, 1, −p)
    return gamma[..., None, None] * v[..., :, None] * v[..., None, :]


def _dno_rhs(x, mu):
    q, p, k, gamma = x[..., 0], x[..., 1], mu[..., 0], mu[..., 1]
    return torch.stack([p, -k * torch.sin(q) - gamma * p, gamma * p**2], -1)


def _dno_ic(n: int, gen: torch.Generator) -> Tensor:
    u = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    return torch.stack([4 * u[:, 0] - 2, 2 * u[:, 1] - 1, torch.zeros(n, dtype=torch.float64)], -1)


def damped_oscillator() -> GenericFamily:
    """DNO: E = p²/2 − k cos q + S, entropy S; q̇ = p, ṗ = −k sin q − γp, Ṡ = γp².

    k ∈ [0.5, 2], γ ∈ [0.1, 0.5] (OOD k ∈ [2, 3], γ ∈ [0.5, 0.7]); q ~ U[−2, 2], p ~ U[−1, 1], S = 0;
    t ∈ [0, 10], 100 points.
    """
    return GenericFamily("damped_oscillator", _dno_energy, _dno_entropy, _dno_poisson, _dno_friction, dim=3,
                         param_ranges={"k": (0.5, 2.0), "gamma": (0.1, 0.5)}, t_span=(0.0, 10.0), n_steps=100,
                         ic_sampler=_dno_ic, rhs=_dno_rhs, ood_ranges={"k": (2.0, 3.0), "gamma": (0.5, 0.7)},
                         positive=("k", "gamma"))


def _tgc_internal(x):
    """The gas energies E₁ = (e^{S₁}/q)^{2/3}, E₂ = (e^{S₂}/(2 − q))^{2/3}."""
    q, s1, s2 = x[..., 0], x[..., 2], x[..., 3]
    return torch.exp(2 * s1 / 3) / q ** (2 / 3), torch.exp(2 * s2 / 3) / (2 - q) ** (2 / 3)


def _tgc_energy(x, mu):
    e1, e2 = _tgc_internal(x)
    return x[..., 1] ** 2 / (2 * mu[..., 0]) + e1 + e2


def _tgc_entropy(x, mu):
    return x[..., 2] + x[..., 3]


def _tgc_poisson(x, mu):
    return _matrix([[0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0] * 4, [0.0] * 4], x)


def _tgc_friction(x, mu):
    e1, e2 = _tgc_internal(x)
    zero = torch.zeros_like(e1)
    w = torch.stack([zero, zero, 1.5 / e1, -1.5 / e2], -1)  # (0, 0, 1/T₁, −1/T₂), Tᵢ = (2/3)Eᵢ
    return mu[..., 1, None, None] * w[..., :, None] * w[..., None, :]


def _tgc_rhs(x, mu):
    q, p, m, alpha = x[..., 0], x[..., 1], mu[..., 0], mu[..., 1]
    e1, e2 = _tgc_internal(x)
    flux = 9 * alpha / 4 * (1 / e1 - 1 / e2)
    return torch.stack([p / m, 2 / 3 * (e1 / q - e2 / (2 - q)), flux / e1, -flux / e2], -1)


def _tgc_ic(n: int, gen: torch.Generator) -> Tensor:
    centre = torch.tensor([1.0, 0.0, 2.0, 2.0], dtype=torch.float64)
    spread = torch.tensor([0.8, 1.0, 1.0, 1.0], dtype=torch.float64)
    return centre + (2 * torch.rand(n, 4, generator=gen, dtype=torch.float64) - 1) * spread


def gas_containers() -> GenericFamily:
    """TGC: two gas containers exchanging heat through a moving wall at q ∈ (0, 2).

    E = p²/(2m) + E₁ + E₂, entropy S₁ + S₂; L canonical on (q, p); M = α w wᵀ with w = (0, 0, 1/T₁, −1/T₂).
    m ∈ [0.5, 2], α ∈ [1, 10] (OOD m ∈ [2, 3], α ∈ [10, 15]); x₀ = (1, 0, 2, 2) + U(−1, 1)·(0.8, 1, 1, 1);
    t ∈ [0, 8], 81 points.
    """
    return GenericFamily("gas_containers", _tgc_energy, _tgc_entropy, _tgc_poisson, _tgc_friction, dim=4,
                         param_ranges={"m": (0.5, 2.0), "alpha": (1.0, 10.0)}, t_span=(0.0, 8.0), n_steps=81,
                         ic_sampler=_tgc_ic, rhs=_tgc_rhs, ood_ranges={"m": (2.0, 3.0), "alpha": (10.0, 15.0)},
                         positive=("alpha",))


