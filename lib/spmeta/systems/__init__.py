"""Families of dynamical systems: user-defined ones and the built-ins of the benchmark protocol.

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

from typing import Callable

from .._checks import check_choice
from .family import Family
from .generic import GenericFamily, damped_oscillator, gas_containers
from .hamiltonian import HamiltonianFamily, duffing, mass_spring, pendulum, symplectic_matrix

#: Built-in family constructors by name.
BUILTIN_FAMILIES: dict[str, Callable[[], Family]] = {
    "mass_spring": mass_spring,
    "pendulum": pendulum,
    "duffing": duffing,
    "damped_oscillator": damped_oscillator,
    "gas_containers": gas_containers,
}


def get_family(name: str) -> Family:
    """A fresh instance of the built-in family ``name``; an unknown name raises ``ValueError``."""
    check_choice(name, "family", sorted(BUILTIN_FAMILIES), " (the built-in families)")
    return BUILTIN_FAMILIES[name]()


__all__ = ["Family", "HamiltonianFamily", "GenericFamily", "BUILTIN_FAMILIES", "get_family", "mass_spring",
           "pendulum", "duffing", "damped_oscillator", "gas_containers", "symplectic_matrix"]
