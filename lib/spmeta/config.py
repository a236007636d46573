"""The scale switch: every data size and iteration count a chapter uses comes from here.

Three scales exist:

- ``quick``: CI and nbval (``SPMETA_QUICK=1``). Every chapter runs in about a minute on 2 CPU cores.
- ``book``: the default, used by ``make book``. The whole book executes in about half an hour.
- ``paper``: the protocol's full sizes, asked for explicitly by ``python -m spmeta.bench run --scale paper``.

``SPMETA_QUICK`` is read here and nowhere else. Any value other than empty, ``0``, ``false`` or
``no`` selects ``quick``. :func:`set_scale` overrides the environment for the current process.

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from ._checks import check_choice

__all__ = ["Scale", "SCALES", "PROTOCOL_SHOTS", "get_scale", "set_scale", "is_quick"]


@dataclass(frozen=True)
class Scale:
    """Sizes for one scale. Chapters read these fields and never hard-code counts.

    Attributes:
        name: ``"quick"``, ``"book"`` or ``"paper"``.
        n_train: training systems (parameter instances) per family.
        n_test: test systems per family.
        n_val: validation systems per family (protocol v2: for every choice made after meta-training, such as
            the test-time optimiser; never the test systems).
        n_traj: trajectories per system.
        epochs: meta-training epochs.
        fit_steps: optimiser steps of a single-system fit.
        adapt_steps: test-time adaptation steps.
        grid: points per axis of the vector-field grid.
        n_portraits: parameter values shown as small multiples.
        long_periods: oscillation periods of the long-horizon integrator study.
        shots: support sizes of the shots sweep, in (x, ẋ) samples.
    """

    name: str
    n_train: int
    n_test: int
    n_val: int
    n_traj: int
    epochs: int
    fit_steps: int
    adapt_steps: int
    grid: int
    n_portraits: int
    long_periods: int
    shots: tuple[int, ...]


#: The protocol's shots sweep, in (x, ẋ) samples (the book and paper scales run all of it).
PROTOCOL_SHOTS = (1, 5, 10, 30, 100, 300)

SCALES: dict[str, Scale] = {
    "quick": Scale("quick", n_train=8, n_test=3, n_val=2, n_traj=10, epochs=60, fit_steps=1000, adapt_steps=30,
                   grid=12, n_portraits=3, long_periods=60, shots=(1, 10, 100)),
    "book": Scale("book", n_train=30, n_test=5, n_val=5, n_traj=10, epochs=1000, fit_steps=3000, adapt_steps=100,
                  grid=20, n_portraits=4, long_periods=300, shots=PROTOCOL_SHOTS),
    "paper": Scale("paper", n_train=70, n_test=10, n_val=10, n_traj=10, epochs=2000, fit_steps=5000, adapt_steps=100,
                   grid=20, n_portraits=4, long_periods=1000, shots=PROTOCOL_SHOTS),
}

_override: str | None = None


def _from_environment() -> str:
    value = os.environ.get("SPMETA_QUICK", "").strip().lower()
    return "book" if value in ("", "0", "false", "no") else "quick"


def set_scale(name: str | None) -> Scale:
    """Select a scale for this process (``None`` goes back to the environment). Returns it."""
    global _override
    if name is not None:
        check_choice(name, "scale", sorted(SCALES))
    _override = name
    return get_scale()


def get_scale(**overrides) -> Scale:
    """The current :class:`Scale`; keyword arguments replace single fields (e.g. ``epochs=10``)."""
    scale = SCALES[_override or _from_environment()]
    return dataclasses.replace(scale, **overrides) if overrides else scale


def is_quick() -> bool:
    """True when the current scale is ``quick``."""
    return get_scale().name == "quick"
