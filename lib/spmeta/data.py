"""Data sets of the benchmark protocol: many systems of one family, split into train, validation and test systems.

``make_dataset`` draws n_train + n_val + n_test parameter vectors μ from the family's box, n_traj initial states
per system, integrates the ground truth on the family's time grid and evaluates the exact derivatives. Test
systems are split further into a *support* (what a method may adapt on) and a *query* (what it is scored on).

Random streams (protocol v2): each split's μ, each system's initial states and each split's noise come from
their own generator, derived from the seed and a key (:func:`_stream`), so that changing n_train, n_val, n_traj
or the OOD flag never changes the test systems (nor OOD the training ones). ``streams="v1"`` reproduces the old
single-generator draws, to regenerate the systems of protocol v1 result files.

See chapter 05 (book/05_learning_families.md).
"""
from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import check_choice, check_int
from .systems.family import Family, as_generator

Tensor = torch.Tensor

__all__ = ["Trajectories", "Samples", "Dataset", "make_dataset", "support_trajectories"]


@dataclass(frozen=True)
class Samples:
    """(x, ẋ) samples of K systems: x, xdot: (K, N, n); mu: (K, n_mu) (never shown to a model).

    ``support`` is ``(shots, unit)`` for samples that :meth:`Trajectories.support` drew (None otherwise), so that
    :meth:`~spmeta.MetaLearner.evaluate` scores the query that this support leaves."""

    x: Tensor
    xdot: Tensor
    mu: Tensor
    support: tuple[int, str] | None = None

    @property
    def n_systems(self) -> int:
        return self.x.shape[0]

    @property
    def n_samples(self) -> int:
        return self.x.shape[1]

    def __getitem__(self, systems) -> "Samples":
        """The samples of some systems: an index, slice or index tensor over the K systems."""
        return Samples(self.x[systems], self.xdot[systems], self.mu[systems], self.support)


def support_trajectories(shots: int, unit: str, samples_per_trajectory: int) -> int:
    """How many trajectories a support of ``shots`` trajectories or (x, ẋ) samples touches (the query is the
    rest)."""
    check_choice(unit, "unit", ("trajectories", "samples"))
    check_int(shots, "shots")
    return shots if unit == "trajectories" else -(-shots // samples_per_trajectory)


@dataclass(frozen=True)
class Trajectories:
    """Trajectories of K systems: X, Xdot: (K, B, T, n) on the times t: (T,); mu: (K, n_mu).

    ``observed`` (K, B, T, n), where given, is X with observation noise: what a model may see (``samples()``,
    ``support()``); X itself stays exact, for scoring (``query()``)."""

    family: Family
    mu: Tensor
    t: Tensor
    X: Tensor
    Xdot: Tensor
    observed: Tensor | None = None

    @property
    def n_systems(self) -> int:
        return self.X.shape[0]

    @property
    def n_traj(self) -> int:
        return self.X.shape[1]

    def samples(self) -> Samples:
        """All states and derivatives as samples, x, xdot: (K, B·T, n)."""
        K, n = self.n_systems, self.X.shape[-1]
        X = self.X if self.observed is None else self.observed
        return Samples(X.reshape(K, -1, n), self.Xdot.reshape(K, -1, n), self.mu)

    def _n_support_traj(self, shots: int, unit: str) -> int:
        n_traj = support_trajectories(shots, unit, self.X.shape[2])
        if n_traj >= self.n_traj:
            raise ValueError(f"{shots} {unit} of support leave no query trajectory: each system has "
                             f"{self.n_traj} trajectories of {self.X.shape[2]} samples")
        return n_traj

    def support(self, shots: int = 1, unit: str = "trajectories") -> Samples:
        """The support of each system: its first ``shots`` trajectories, or, with ``unit="samples"``, its
        first ``shots`` (x, ẋ) samples in time order (trajectory after trajectory). x, xdot: (K, N, n)."""
        n_traj = self._n_support_traj(shots, unit)
        observed = None if self.observed is None else self.observed[:, :n_traj]
        samples = Trajectories(self.family, self.mu, self.t, self.X[:, :n_traj], self.Xdot[:, :n_traj],
                               observed).samples()
        if unit == "samples":
            return Samples(samples.x[:, :shots], samples.xdot[:, :shots], self.mu, (shots, unit))
        return Samples(samples.x, samples.xdot, self.mu, (shots, unit))

    def query(self, shots: int = 1, unit: str = "trajectories") -> "Trajectories":
        """The trajectories that no support of the same size touches: (K, B − b, T, n), exact (no noise)."""
        n_traj = self._n_support_traj(shots, unit)
        return Trajectories(self.family, self.mu, self.t, self.X[:, n_traj:], self.Xdot[:, n_traj:])


@dataclass(frozen=True)
class Dataset:
    """Train, test and validation systems of one family, generated with one seed."""

    family: Family
    train: Trajectories
    test: Trajectories
    val: Trajectories
    seed: int


def _stream(seed: int, *key) -> torch.Generator:
    """An independent generator for ``key`` (strings and non-negative ints, e.g. ``("ic", "test", 3)``) under
    ``seed``: numpy's SeedSequence of the seed and stable codes of the key (crc32, not the salted ``hash``)."""
    codes = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in key]
    state = np.random.SeedSequence([int(seed) % 2**64, *codes]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state[0]))


def make_dataset(family: Family, n_train: int = 70, n_test: int = 10, n_traj: int = 10, seed: int = 0,
                 ood: bool = False, noise: float = 0.0, n_val: int = 0, streams: str = "v2") -> Dataset:
    """Generate the protocol's data for ``family``.

    Args:
        family: a :class:`~spmeta.systems.HamiltonianFamily` or :class:`~spmeta.systems.GenericFamily`.
        n_train, n_test: numbers of systems (parameter vectors μ) for training and testing.
        n_traj: trajectories per system.
        seed: fixes μ, the initial states and the noise.
        ood: draw the *test* systems from the family's out-of-distribution box.
        noise: Gaussian noise of this relative size (times each coordinate's spread over the training states)
            on the observed states: the training and validation data and the test support; the derivatives stay
            exact, as in the HNN experiments, and the test query is scored against the exact trajectories.
        n_val: validation systems, drawn from the *training* box (never the OOD one).
        streams: ``"v2"``: the μ of each split (train, val, test, OOD test), the initial states of each system
            (keyed by split and index) and each split's noise come from separate seeded streams, so that the
            test systems never change with n_train, n_val, n_traj or n_test (system k stays system k), and the
            training and validation data never change with ``ood``. ``"v1"``: the old single generator (μ
            train, μ test, initial states system by system, noise train then test), bit for bit, to regenerate
            the systems of protocol v1 results; it needs n_val = 0.

    Returns:
        A :class:`Dataset`; ``train.X``: (n_train, n_traj, T, n), ``val.X``: (n_val, n_traj, T, n),
        ``test.X``: (n_test, n_traj, T, n), float64.

    See chapter 05 (book/05_learning_families.md).
    """
    for what, value, minimum in (("n_train", n_train, 1), ("n_test", n_test, 0), ("n_traj", n_traj, 1),
                                 ("n_val", n_val, 0)):
        check_int(value, what, minimum)
    check_choice(streams, "streams", ("v1", "v2"))
    if streams == "v1" and n_val:
        raise ValueError(f"streams='v1' has no validation systems; got n_val={n_val}")
    if not isinstance(family, Family):
        raise ValueError(f"make_dataset needs a Family, e.g. spmeta.get_family({family!r}); "
                         f"got a {type(family).__name__}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be finite and >= 0; got {noise}")
    gen = as_generator(seed) if streams == "v1" else None  # v1: one generator for everything, in the old order

    def stream(*key) -> torch.Generator:
        return gen if gen is not None else _stream(seed, *key)

    tested = "test_ood" if ood else "test"  # the OOD box has its own streams: the in-distribution test is kept
    mu_train = family.sample_params(n_train, stream("mu", "train"))
    mu_test = family.sample_params(n_test, stream("mu", tested), ood=ood) if n_test else mu_train[:0]
    mu_val = family.sample_params(n_val, stream("mu", "val")) if n_val else mu_train[:0]

    def generate(mus: Tensor, split: str) -> Trajectories:
        X = [family.trajectories(mu, family.sample_initial_conditions(n_traj, mu, stream("ic", split, k)))
             for k, mu in enumerate(mus)]
        X = torch.stack(X) if X else torch.zeros(0, n_traj, family.n_steps, family.state_dim, dtype=torch.float64)
        Xdot = family.vector_field(X, mus[:, None, None, :]) if len(mus) else X.clone()
        return Trajectories(family, mus, family.time_grid(), X, Xdot.detach())

    train, test, val = generate(mu_train, "train"), generate(mu_test, tested), generate(mu_val, "val")
    if noise:  # drawn after the systems, so that the noise never changes which systems are drawn
        spread = train.X.reshape(-1, train.X.shape[-1]).std(0)  # each coordinate's spread over the training states
        train, test, val = (dataclasses.replace(d, observed=d.X + noise * spread * torch.randn(
            d.X.shape, generator=stream("noise", split), dtype=d.X.dtype))
            for d, split in ((train, "train"), (test, tested), (val, "val")))
    return Dataset(family, train, test, val, seed)
