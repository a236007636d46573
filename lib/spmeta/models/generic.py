"""The GENERIC neural network: ẋ = L∇E + M∇S with the structure built in (the GFINN construction).

Two scalar networks give the energy E(x) and the entropy S(x). The operators are assembled from their
gradients (Zhang, Shin and Karniadakis, 2022):

- Bᵢ = ∇Sᵀ ξᵢ for learnable skew n × n matrices ξᵢ (i = 1..r), so B∇S = 0;
  L = Bᵀ (A − Aᵀ) B with A(x) ∈ R^{r×r} from a small network: L is skew and L∇S = 0.
- Cᵢ = ∇Eᵀ ζᵢ for learnable skew ζᵢ, so C∇E = 0;
  M = Cᵀ D Dᵀ C with D(x) ∈ R^{r×r} from a small network: M is symmetric PSD and M∇E = 0.

Hence dE/dt = 0 and dS/dt = ∇Sᵀ M ∇S ≥ 0 for any weights and any state. The field is applied as
Bᵀ(σ(B∇E)) + Cᵀ(D(Dᵀ(C∇S))), without forming the n × n matrices.

See chapter 04 (book/04_generic_neural_networks.md).
"""
from __future__ import annotations

import torch
from torch import nn

from ..nn.mlp import GENERIC_ACTIVATION, MLP
from .fields import GRADIENT_MODES, check_state, evaluate_scalar, scalar_gradient, scalar_network

Tensor = torch.Tensor

__all__ = ["GenericNet"]


def _skew(raw: Tensor) -> Tensor:
    return raw - raw.mT


class GenericNet(nn.Module):
    """ẋ = L(x)∇E(x) + M(x)∇S(x), GENERIC by construction.

    Args:
        dim: n, the length of the state.
        width, depth, activation: of the E and S networks, ``MLP(n, 1, width, depth, activation)``.
        modulation, latent_dim, modulation_rank: with a modulation name, the E and S networks are
            :class:`~spmeta.nn.modulated.ModulatedMLP` s and every call takes latent codes z: (K, d_z);
            L and M are assembled after modulation, so the structure holds for every z.
        rank: r, the number of skew factors ξᵢ, ζᵢ (the size of A and D).
        operator_width, operator_depth: of the two networks x ↦ A(x), D(x) ∈ R^{r×r}.
        gradient: ``"autograd"`` (the reference) or ``"explicit"`` (for the fast path) for ∇E and ∇S; see
            :class:`~spmeta.models.HNN`.

    Shapes: x: (..., n) -> ẋ: (..., n); ``operators(x)`` returns L, M: (..., n, n).

    See chapter 04 (book/04_generic_neural_networks.md).
    """

    def __init__(self, dim: int, width: int = 100, depth: int = 3, activation=GENERIC_ACTIVATION, rank: int = 4,
                 operator_width: int = 30, operator_depth: int = 2, modulation: str | None = None,
                 latent_dim: int = 10, modulation_rank: int = 5, gradient: str = "autograd"):
        super().__init__()
        if gradient not in GRADIENT_MODES:
            raise ValueError(f"unknown gradient mode {gradient!r}; valid modes are {list(GRADIENT_MODES)}")
        self.gradient_mode = gradient
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"dim (the state length) must be an integer >= 2; got {dim!r}")
        self.dim, self.rank = dim, rank
        self.energy_net = scalar_network(dim, width, depth, activation, modulation, latent_dim, modulation_rank)
        self.entropy_net = scalar_network(dim, width, depth, activation, modulation, latent_dim, modulation_rank)
        self.poisson_net = MLP(dim, rank * rank, operator_width, operator_depth, activation)
        self.friction_net = MLP(dim, rank * rank, operator_width, operator_depth, activation)
        self.xi = nn.Parameter(0.1 * torch.randn(rank, dim, dim))    # skew-symmetrised when used
        self.zeta = nn.Parameter(0.1 * torch.randn(rank, dim, dim))
        for factor in (self.xi, self.zeta):  # einsum's backward hands these a transposed gradient layout
            factor.register_hook(torch.Tensor.contiguous)

    @property
    def state_dim(self) -> int:
        return self.dim

    def energy(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Learned energy E(x; z). x: (..., n) -> (...)."""
        check_state(x, self.dim, f"GenericNet(dim={self.dim})")
        return evaluate_scalar(self.energy_net, x, z)

    def entropy(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Learned entropy S(x; z). x: (..., n) -> (...)."""
        check_state(x, self.dim, f"GenericNet(dim={self.dim})")
        return evaluate_scalar(self.entropy_net, x, z)

    def gradients(self, x: Tensor, z: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(∇E, ∇S), each (..., n)."""
        check_state(x, self.dim, f"GenericNet(dim={self.dim})")
        return (scalar_gradient(self.energy_net, x, z, self.gradient_mode),
                scalar_gradient(self.entropy_net, x, z, self.gradient_mode))

    def _factors(self, x: Tensor, z: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """∇E, ∇S: (..., n); B, C: (..., r, n); σ = A − Aᵀ, D: (..., r, r)."""
        grad_e, grad_s = self.gradients(x, z)
        b = torch.einsum("...a,kab->...kb", grad_s, _skew(self.xi.to(x.dtype)))
        c = torch.einsum("...a,kab->...kb", grad_e, _skew(self.zeta.to(x.dtype)))
        shape = (*x.shape[:-1], self.rank, self.rank)
        sigma = _skew(self.poisson_net(x).reshape(shape))
        d = self.friction_net(x).reshape(shape)
        return grad_e, grad_s, b, c, sigma, d

    def operators(self, x: Tensor, z: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The operators L = Bᵀ σ B (skew) and M = Cᵀ D Dᵀ C (symmetric PSD), each (..., n, n)."""
        _, _, b, c, sigma, d = self._factors(x, z)
        cd = c.mT @ d
        return b.mT @ sigma @ b, cd @ cd.mT

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """ẋ = L∇E + M∇S. x: (..., n) -> (..., n). Works under ``torch.no_grad()``."""
        grad_e, grad_s, b, c, sigma, d = self._factors(x, z)
        reversible = (b.mT @ (sigma @ (b @ grad_e[..., None])))[..., 0]
        irreversible = (c.mT @ (d @ (d.mT @ (c @ grad_s[..., None]))))[..., 0]
        return reversible + irreversible
