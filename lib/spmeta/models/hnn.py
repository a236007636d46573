"""The Hamiltonian neural network: a scalar network H̃(x), and the vector field x ↦ J∇ₓH̃(x).

Because the field is a symplectic gradient, H̃ is conserved along its exact flow, and the flow preserves
volume, for any weights (Greydanus et al., 2019).

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice, check_int, renamed_keyword
from ..nn.mlp import DEFAULT_ACTIVATION
from ..systems.hamiltonian import symplectic_gradient
from .fields import (GRADIENT_MODES, check_state, evaluate_scalar, explicit_gradient_supported, scalar_gradient,
                     scalar_network)

Tensor = torch.Tensor

__all__ = ["HNN"]


class HNN(nn.Module):
    """ẋ = J∇ₓH̃(x), with H̃ a scalar network, optionally modulated per system by a latent code z.

    Args:
        dof: d, the degrees of freedom; states have 2d entries (q, p) (formerly ``dim``, still accepted with a
            ``DeprecationWarning``).
        width, depth, activation: of the H̃ network, ``MLP(2d, 1, width, depth, activation)``.
        modulation: ``None`` for one system, or a modulation name (``"rank_one"``, …) for a family: H̃ is then
            a :class:`~spmeta.nn.modulated.ModulatedMLP` and every call takes latent codes z: (K, d_z).
        latent_dim, rank: d_z, and r of ``multi_rank``/``svd`` (default 5; an error for the others).
        hamiltonian_net: any module mapping (..., 2d) -> (..., 1) to use instead of the default network.
        gradient: how ∇ₓH̃ is computed: ``"autograd"`` (the reference: a double backward during training) or
            ``"explicit"`` (a hand-written backward of the MLP as tensor ops, so training needs one ordinary
            backward; the fast path compiles it with ``torch.compile``, see :class:`~spmeta.meta.AutoDecodeConfig`).
            Both give the same field and the same parameter gradients. Settable later as ``gradient_mode``.

    Shapes: x: (..., 2d) -> ẋ: (..., 2d), e.g. (K, N, 2d) for K systems of N states; with modulation,
    x: (K, N, 2d) and z: (K, d_z). Modulation only changes H̃'s weights, so every modulated model is
    Hamiltonian, for every z.

    See chapters 02 and 06 (book/02_hamiltonian_neural_networks.md, book/06_latent_modulation.md).
    """

    @renamed_keyword("dim", "dof")
    def __init__(self, dof: int, width: int = 100, depth: int = 3, activation=DEFAULT_ACTIVATION,
                 modulation: str | None = None, latent_dim: int = 10, rank: int | None = None,
                 hamiltonian_net: nn.Module | None = None, gradient: str = "autograd"):
        super().__init__()
        self.gradient_mode = check_choice(gradient, "gradient mode", GRADIENT_MODES)
        self.dof = check_int(dof, "dof (degrees of freedom)")
        if rank is not None and modulation is None:
            raise ValueError(f"rank={rank} is a modulation's r (multi_rank, svd), and this HNN has no modulation")
        self.hamiltonian_net = hamiltonian_net or scalar_network(2 * dof, width, depth, activation, modulation,
                                                                 latent_dim, rank)
        if gradient == "explicit" and not explicit_gradient_supported(self):
            raise ValueError(f"gradient='explicit' needs the library's MLP with a named activation; this "
                             f"{type(self.hamiltonian_net).__name__} has none: use gradient='autograd'")

    def scalar_networks(self) -> dict[str, nn.Module]:
        """The networks of the model's scalars by attribute name: {"hamiltonian_net": H̃'s network}."""
        return {"hamiltonian_net": self.hamiltonian_net}

    @property
    def state_dim(self) -> int:
        return 2 * self.dof

    def hamiltonian(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """The learned energy H̃(x; z). x: (..., 2d), or (K, N, 2d) with codes z: (K, d_z) -> (...)."""
        check_state(x, self.state_dim, f"HNN(dof={self.dof})")
        return evaluate_scalar(self.hamiltonian_net, x, z)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """The vector field J∇ₓH̃(x; z). x: (..., 2d) -> (..., 2d); with a modulation x: (K, N, 2d) and
        z: (K, d_z). Works under ``torch.no_grad()``."""
        check_state(x, self.state_dim, f"HNN(dof={self.dof})")
        return symplectic_gradient(scalar_gradient(self.hamiltonian_net, x, z, self.gradient_mode))
