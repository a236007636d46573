"""The Hamiltonian neural network: a scalar network H̃(x), and the vector field x ↦ J∇ₓH̃(x).

Because the field is a symplectic gradient, H̃ is conserved along its exact flow, and the flow preserves
volume, for any weights (Greydanus et al., 2019).

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..nn.mlp import MLP
from ..systems.hamiltonian import symplectic_gradient

Tensor = torch.Tensor

__all__ = ["HNN", "input_gradient"]


def input_gradient(scalar: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∇ₓ of a scalar network, x: (..., n) -> (..., n).

    The graph is kept (``create_graph``) whenever gradients are enabled, so a loss on the result trains the
    network; under ``torch.no_grad()`` the gradient is still computed and returned detached.
    """
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        xg = x if x.requires_grad else x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(scalar(xg).sum(), xg, create_graph=create_graph)
    return grad


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

    def _check(self, x: Tensor) -> None:
        if x.ndim == 0 or x.shape[-1] != self.state_dim:
            raise ValueError(f"HNN(dim={self.dim}) expects states with last dimension 2d = {self.state_dim}; "
                             f"got shape {tuple(x.shape)}")

    def hamiltonian(self, x: Tensor) -> Tensor:
        """The learned energy H̃(x). x: (..., 2d) -> (...)."""
        self._check(x)
        return self.hamiltonian_net(x)[..., 0]

    def forward(self, x: Tensor) -> Tensor:
        """The vector field J∇ₓH̃(x). x: (..., 2d) -> (..., 2d). Works under ``torch.no_grad()``."""
        self._check(x)
        return symplectic_gradient(input_gradient(self.hamiltonian, x))
