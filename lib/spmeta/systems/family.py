"""What every parametric family of systems shares: a parameter box, initial conditions, a time grid.

:class:`Family` holds everything that does not depend on the physics: validation of the μ box, seeded sampling
of μ and of initial states, broadcasting of states against parameters, and ground-truth trajectories. The
physics, a ``vector_field(x, mu)``, comes from a subclass: :class:`~spmeta.systems.hamiltonian.HamiltonianFamily`
or :class:`~spmeta.systems.generic.GenericFamily`.

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

import inspect
import math
from typing import Callable, Mapping

import torch

from .. import integrators
from .._checks import check_int

Tensor = torch.Tensor
#: Parameter names that are masses and must be positive in every box.
MASS_NAMES = frozenset({"m", "mass"})

__all__ = ["Family", "as_generator", "MASS_NAMES"]


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
            raise ValueError(f"{what}[{key!r}] = ({lo}, {hi}): {key!r} must be positive")
        checked[key] = (lo, hi)
    return checked


class Family:
    """Base class of parametric families: everything except the vector field.

    Args:
        name: a short identifier.
        state_dim: length n of the state x.
        param_ranges: ``{name: (low, high)}``, the box μ is drawn from uniformly; its order fixes μ's entries.
        t_span: (t0, t1) of every trajectory.
        n_steps: number of time points on the uniform grid over ``t_span`` (t0 included).
        ic_sampler: ``None`` for the radius default (a uniformly random direction in R^n scaled by
            r ~ U[ic_radius]); otherwise ``f(n, generator) -> (n, state_dim)``, or ``f(n, generator, mu)``
            when the initial conditions depend on the system's parameters mu: (n_mu,). ``generator`` is a
            ``torch.Generator``: draw with ``torch.rand(..., generator=generator)``. Only a third parameter
            without a default receives μ.
        ood_ranges: an out-of-distribution box with the same names (optional).
        ic_radius: (r_min, r_max) of the default sampler.
        positive: parameter names that must be positive, besides the masses ``m``/``mass``.

    See chapter 01 (book/01_hamiltonian_systems.md).
    """

    def __init__(self, name: str, state_dim: int, param_ranges: Mapping[str, tuple[float, float]],
                 t_span: tuple[float, float], n_steps: int, ic_sampler: Callable | None = None, *,
                 ood_ranges: Mapping | None = None, ic_radius: tuple[float, float] = (0.1, 1.0),
                 positive: tuple[str, ...] = ()):
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        self.name = name
        self.state_dim = check_int(state_dim, "the state dimension", 1)
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
        self.t_span = (t0, t1)
        self.n_steps = check_int(n_steps, "n_steps (time points on the grid)", 2)
        r0, r1 = (float(r) for r in ic_radius)
        if not 0 <= r0 < r1:
            raise ValueError(f"ic_radius must satisfy 0 <= r_min < r_max; got {ic_radius!r}")
        self.ic_radius, self.ic_sampler = (r0, r1), ic_sampler

    # -- description -------------------------------------------------------------------------------
    @property
    def param_names(self) -> list[str]:
        return list(self.param_ranges)

    @property
    def n_params(self) -> int:
        return len(self.param_ranges)

    def time_grid(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The sampling times, shape (n_steps,)."""
        return torch.linspace(*self.t_span, self.n_steps, dtype=dtype)

    def box_centre(self) -> Tensor:
        """The centre of the parameter box, shape (n_mu,), float64."""
        lo, hi = (torch.tensor(b, dtype=torch.float64) for b in zip(*self.param_ranges.values()))
        return (lo + hi) / 2

    def __repr__(self) -> str:
        box = ", ".join(f"{k}∈[{lo:g}, {hi:g}]" for k, (lo, hi) in self.param_ranges.items())
        return (f"{type(self).__name__}({self.name!r}, state_dim={self.state_dim}, {box}, t={self.t_span}, "
                f"n_steps={self.n_steps})")

    # -- dynamics ------------------------------------------------------------------------------------
    def vector_field(self, x: Tensor, mu: Tensor) -> Tensor:
        """ẋ = f(x; μ). x: (..., n), mu: (..., n_mu) broadcastable  ->  (..., n)."""
        raise NotImplementedError

    def _broadcast(self, x: Tensor, mu: Tensor) -> tuple[Tensor, Tensor]:
        """Check the last dimensions and broadcast the batch dimensions of x and mu against each other."""
        x, mu = torch.as_tensor(x), torch.as_tensor(mu)
        if x.ndim == 0 or x.shape[-1] != self.state_dim:
            raise ValueError(f"{self.name}: the state must have last dimension {self.state_dim}; "
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

    def _call(self, fn: Callable, what: str, x: Tensor, mu: Tensor):
        """fn(x, mu) for a user function, with a hint when it cannot take batches."""
        try:
            return fn(x, mu)
        except (RuntimeError, IndexError) as error:
            raise ValueError(f"{self.name}: {what}(x, mu) failed on x: {tuple(x.shape)}, mu: {tuple(mu.shape)} "
                             f"({error}); it must take any batch shape: index the last dimension, x[..., i] and "
                             "mu[..., j]") from error

    def _scalar(self, fn: Callable, what: str, x: Tensor, mu: Tensor) -> Tensor:
        """Call a user scalar function fn(x, mu) and check that it returns one value per state."""
        x, mu = self._broadcast(x, mu)
        value = self._call(fn, what, x, mu)
        if not isinstance(value, Tensor) or value.shape != x.shape[:-1]:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"{self.name}: {what}(x, mu) must return shape x.shape[:-1] = "
                             f"{tuple(x.shape[:-1])}, one value per state; got {got}")
        return value

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
        """n initial states for the system with parameters mu: (n_mu,). Returns (n, state_dim), float64."""
        gen, mu = as_generator(seed), self.check_params(mu)
        if self.ic_sampler is None:
            if self.state_dim == 2:  # r(cos θ, sin θ), θ ~ U[0, 2π), as in the protocol
                theta = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
                direction = torch.stack([theta.cos(), theta.sin()], -1)
            else:  # a uniformly random direction on the unit sphere of R^n
                direction = torch.randn(n, self.state_dim, generator=gen, dtype=torch.float64)
                direction = direction / direction.norm(dim=-1, keepdim=True)
            r0, r1 = self.ic_radius
            return (r0 + (r1 - r0) * torch.rand(n, 1, generator=gen, dtype=torch.float64)) * direction
        required = [p for p in inspect.signature(self.ic_sampler).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        takes_mu = len(required) >= 3  # f(n, generator, mu); a defaulted third parameter is not μ
        try:
            x0 = self.ic_sampler(n, gen, mu) if takes_mu else self.ic_sampler(n, gen)
        except AttributeError as error:  # e.g. a numpy-style rng.uniform(...)
            raise ValueError(f"{self.name}: ic_sampler failed ({error}); its generator is a torch.Generator: "
                             "draw with torch.rand(..., generator=generator)") from error
        x0 = torch.as_tensor(x0, dtype=torch.float64)
        if x0.shape != (n, self.state_dim):
            raise ValueError(f"{self.name}: ic_sampler must return shape ({n}, {self.state_dim}); "
                             f"got {tuple(x0.shape)}")
        return x0

    def trajectories(self, mu: Tensor, x0: Tensor) -> Tensor:
        """Ground truth by ``solve_ivp`` (DOP853, rtol = atol = 1e-10) on :meth:`time_grid`.

        mu: (n_mu,), x0: (B, n)  ->  (B, n_steps, n), float64.
        """
        mu = self.check_params(mu)
        if mu.ndim != 1:
            raise ValueError(f"{self.name}: trajectories() takes the parameters of one system, mu: "
                             f"({self.n_params},); got shape {tuple(mu.shape)}")
        x0 = torch.as_tensor(x0, dtype=torch.float64)
        if x0.ndim != 2 or x0.shape[-1] != self.state_dim:
            raise ValueError(f"{self.name}: x0 must have shape (B, {self.state_dim}); got {tuple(x0.shape)}")
        return integrators.solve_ground_truth(lambda x: self.vector_field(x, mu), x0, self.time_grid())

    def _probe_states(self) -> tuple[Tensor, Tensor]:
        """n_mu + 2 initial states, each of its own μ from the box, for checking user functions at construction:
        x: (n_mu + 2, n), mu: (n_mu + 2, n_mu). The count differs from n_mu, so a function that indexes
        ``mu[0]`` instead of ``mu[..., 0]`` fails to broadcast."""
        mu = self.sample_params(self.n_params + 2, seed=0)
        return torch.cat([self.sample_initial_conditions(1, m, seed=i) for i, m in enumerate(mu)]), mu

    def _check_batching(self, fn: Callable, what: str) -> None:
        """Raise unless ``fn`` maps a batch of probe states as it maps each one alone (a function that mixes
        the batch, e.g. ``mu[0]`` for ``mu[..., 0]``, gives every state the first one's parameters)."""
        x, mu = self._probe_states()
        batched = fn(x, mu)
        alone = torch.cat([fn(x[i:i + 1], mu[i:i + 1]) for i in range(len(x))])
        if not torch.allclose(batched, alone, rtol=1e-10, atol=1e-12):
            raise ValueError(f"{self.name}: {what}(x, mu) gives other values for a batch of states than for each "
                             "state alone; index the last dimension (x[..., i], mu[..., j]) and keep the batch "
                             "dimensions apart")
