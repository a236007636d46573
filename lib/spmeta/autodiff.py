"""The input gradient ∇ₓ of a scalar function by autograd: what the ground truth (J∇H, ∇E, ∇S of a family)
and the reference path of the learned models (∇ₓH̃, ∇E, ∇S of a network) both need.

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

from typing import Callable

import torch

Tensor = torch.Tensor

__all__ = ["input_gradient"]


def input_gradient(scalar: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∇ₓ of a scalar function, x: (..., n) -> (..., n) (``scalar``: (..., n) -> (...)).

    The graph is kept (``create_graph``) whenever gradients are enabled, so a loss on the result trains the
    function's parameters; under ``torch.no_grad()`` the gradient is still computed and returned detached.
    """
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        xg = x if x.requires_grad else x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(scalar(xg).sum(), xg, create_graph=create_graph)
    return grad
