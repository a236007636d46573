"""The Hamiltonian neural network: a scalar network H̃(x), and the vector field x ↦ J∇ₓH̃(x).

Because the field is a symplectic gradient, H̃ is conserved along its exact flow, and the flow preserves
volume, for any weights (Greydanus et al., 2019).

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

import torch
from torch import nn

from ..nn.mlp import MLP
from ..systems.hamiltonian import symplectic_gradient
from .fields import check_state, input_gradient

Tensor = torch.Tensor

__all__ = ["HNN"]


class HNN(nn.Module):
    """ẋ = J∇ₓH̃(x), with H̃ a scalar network.

    Args:
        dim: d, the degrees of freedom; states have 2d entries (q, p).
        width, depth, activation: of the default H̃ network, ``MLP(2d, 1, width, depth, activation)``.
        hamiltonian_net: any module mapping (..., 2d) -> (..., 1) to use instead.

    Shapes: x: (..., 2d) -> ẋ: (..., 2d), e.g. (K, N, 2d) for K systems of N states.

    See chapter 02 (book/02_hamiltonian_neural_networks.md).
    """

    def __init__(self, dim: int, width: int = 100, depth: int = 3, activation="tanh",
                 hamiltonian_net: nn.Module | None = None):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer (degrees of freedom); got {dim!r}")
        self.dim = dim
        self.hamiltonian_net = hamiltonian_net or MLP(2 * dim, 1, width, depth, activation)

    @property
    def state_dim(self) -> int:
        return 2 * self.dim

    def hamiltonian(self, x: Tensor) -> Tensor:
        """The learned energy H̃(x). x: (..., 2d) -> (...)."""
        check_state(x, self.state_dim, f"HNN(dim={self.dim})")
        return self.hamiltonian_net(x)[..., 0]

    def forward(self, x: Tensor) -> Tensor:
        """The vector field J∇ₓH̃(x). x: (..., 2d) -> (..., 2d). Works under ``torch.no_grad()``."""
        check_state(x, self.state_dim, f"HNN(dim={self.dim})")
        return symplectic_gradient(input_gradient(self.hamiltonian, x))
