"""spmeta: meta-learning structure-preserving dynamics.

The reference implementation that accompanies the book on "Meta-learning Structure-Preserving Dynamics"
(arXiv 2508.11205). Import-time dependencies are torch and numpy only. ``spmeta.plotting`` (matplotlib) and
``spmeta.book`` (the book's helpers) are imported on first use; a copy of the library without them, or without
``bench/``, still trains and evaluates.
"""
import importlib

from . import config, integrators, metrics, systems
from .data import make_dataset
from .learner import MetaLearner
from .systems import GenericFamily, HamiltonianFamily, get_family

__version__ = "0.1.0"
__all__ = ["make_dataset", "MetaLearner", "metrics", "config", "integrators", "systems", "plotting", "book", "HamiltonianFamily", "GenericFamily", "get_family", "seed_everything"]


def __getattr__(name: str):
    if name in ("book", "plotting", "bench"):  # on first use: the core never needs them
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'spmeta' has no attribute {name!r}")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch, so that a chapter gives the same numbers on every run."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

