"""An unstructured baseline: the vector field is the output of a plain MLP, with no physics built in.

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

import torch
from torch import nn

from ..nn.mlp import DEFAULT_ACTIVATION, MLP
from .fields import check_state

__all__ = ["VectorFieldMLP"]


class VectorFieldMLP(nn.Module):
    """ẋ = f_θ(x) with f_θ an ``MLP(n, n, width, depth, activation)``. x: (..., n) -> (..., n).

    See chapter 02 (book/02_hamiltonian_neural_networks.md).
    """

    def __init__(self, state_dim: int, width: int = 100, depth: int = 3, activation=DEFAULT_ACTIVATION):
        super().__init__()
        self.state_dim = state_dim
        self.net = MLP(state_dim, state_dim, width, depth, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_state(x, self.state_dim, "VectorFieldMLP")
        return self.net(x)
