"""Latent modulation of an MLP: one small class per modulation, one shared interface, and the hypernetwork.

A hidden layer computes a = W h + b from its input h: (K, N, w_in), one row of K per system. A modulation
receives h, the base pre-activation a: (K, N, w_out) and this layer's slice θ: (K, n_params) of the
hypernetwork's output, and returns the modulated pre-activation. Per-system weight matrices are formed only
where nothing cheaper exists (full-weight modulation); low-rank ones act by broadcasting,
(W + u vᵀ) h = W h + u (vᵀ h). θ = 0 gives back the base layer exactly.

| name | modulated pre-activation | θ per layer |
|---|---|---|
| ``shift`` | a + s | s ∈ R^{w_out} |
| ``film`` | (1 + γ) ⊙ a + β | γ, β ∈ R^{w_out} |
| ``full_weight`` | a + ΔW h + Δb | ΔW, Δb |
| ``rank_one`` | a + u (vᵀh) + s | u ∈ R^{w_out}, v ∈ R^{w_in}, s |
| ``multi_rank`` | a + U (Vᵀh) + s | U ∈ R^{w_out×r}, V ∈ R^{w_in×r}, s |
| ``svd`` | a + U₀ diag(ReLU(d)) V₀ᵀ h + s | d ∈ R^r, s; U₀, V₀ shared base parameters |

See chapter 06 (book/06_latent_modulation.md).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_choice

Tensor = torch.Tensor

__all__ = ["Modulation", "Shift", "FiLM", "FullWeight", "RankOne", "MultiRank", "SVDLike", "Hypernetwork",
           "MODULATIONS", "RANKED", "DEFAULT_RANK", "check_rank", "make_modulation"]


class Modulation(nn.Module):
    """Base class: the modulation of one hidden layer with widths (w_in, w_out)."""

    def __init__(self, w_in: int, w_out: int):
        super().__init__()
        self.w_in, self.w_out = w_in, w_out

    def n_params(self) -> int:
        """How many hypernetwork outputs this layer takes."""
        raise NotImplementedError

    def forward(self, h: Tensor, a: Tensor, theta: Tensor) -> Tensor:
        """h: (K, N, w_in), a: (K, N, w_out), theta: (K, n_params) -> (K, N, w_out)."""
        raise NotImplementedError

    def input_vjp(self, delta: Tensor, weight: Tensor, theta: Tensor) -> Tensor:
        """δ ∂a/∂h for the modulated pre-activation a(h): delta: (K, N, w_out) -> (K, N, w_in).

        ``weight`` is the base W: (w_out, w_in). Used by the explicit input gradient."""
        raise NotImplementedError

    def penalty(self) -> Tensor:
        """A regulariser on this layer's own base parameters (zero unless overridden)."""
        return torch.zeros(())

    def _split(self, theta: Tensor, *sizes: int) -> list[Tensor]:
        return list(theta.split(sizes, dim=-1))


class Shift(Modulation):
    """σ(W h + b + s): shifts the biases (functa, COIN++)."""

    def n_params(self) -> int:
        return self.w_out

    def forward(self, h, a, theta):
        return a + theta[:, None, :]

    def input_vjp(self, delta, weight, theta):
        return delta @ weight


class FiLM(Modulation):
    """σ((1 + γ) ⊙ (W h + b) + β): feature-wise scale and shift, centred on the identity (Perez et al.)."""

    def n_params(self) -> int:
        return 2 * self.w_out

    def forward(self, h, a, theta):
        gamma, beta = self._split(theta, self.w_out, self.w_out)
        return (1 + gamma[:, None, :]) * a + beta[:, None, :]

    def input_vjp(self, delta, weight, theta):
        return ((1 + theta[:, None, : self.w_out]) * delta) @ weight


class FullWeight(Modulation):
    """σ((W + ΔW) h + b + Δb): every weight and bias offset by a linear function of z (CoDA)."""

    def n_params(self) -> int:
        return self.w_out * self.w_in + self.w_out

    def forward(self, h, a, theta):
        delta_w, delta_b = self._split(theta, self.w_out * self.w_in, self.w_out)
        delta_w = delta_w.reshape(-1, self.w_out, self.w_in)  # the one modulation that needs K matrices
        return a + torch.einsum("kni,koi->kno", h, delta_w) + delta_b[:, None, :]

    def input_vjp(self, delta, weight, theta):
        delta_w = theta[:, : self.w_out * self.w_in].reshape(-1, self.w_out, self.w_in)
        return delta @ weight + delta @ delta_w


class MultiRank(Modulation):
    """σ((W + U Vᵀ) h + b + s) with U: (w_out, r), V: (w_in, r) generated per system."""

    def __init__(self, w_in: int, w_out: int, rank: int = 5):
        super().__init__(w_in, w_out)
        if rank < 1:
            raise ValueError(f"rank must be >= 1; got {rank}")
        self.rank = rank

    def n_params(self) -> int:
        return self.rank * (self.w_out + self.w_in) + self.w_out

    def forward(self, h, a, theta):
        r = self.rank
        u, v, s = self._split(theta, self.w_out * r, self.w_in * r, self.w_out)
        u, v = u.reshape(-1, self.w_out, r), v.reshape(-1, self.w_in, r)
        return a + (h @ v) @ u.mT + s[:, None, :]

    def input_vjp(self, delta, weight, theta):
        r = self.rank
        u, v, _ = self._split(theta, self.w_out * r, self.w_in * r, self.w_out)
        return delta @ weight + (delta @ u.reshape(-1, self.w_out, r)) @ v.reshape(-1, self.w_in, r).mT


class RankOne(MultiRank):
    """σ((W + u vᵀ) h + b + s): the latent rank-one modulation, MR with r = 1."""

    def __init__(self, w_in: int, w_out: int, rank: int = 1):
        if rank != 1:
            raise ValueError(f"RankOne has rank 1; got rank={rank}: use MultiRank(w_in, w_out, rank={rank})")
        super().__init__(w_in, w_out, rank=1)


def _orthonormal(rows: int, cols: int) -> Tensor:
    """A (rows, cols) matrix with orthonormal columns (or rows, when rows < cols), from a Gaussian's QR."""
    q, _ = torch.linalg.qr(torch.randn(max(rows, cols), min(rows, cols)))
    return q if rows >= cols else q.T


class SVDLike(Modulation):
    """σ((W + Σᵢ ReLU(dᵢ) uᵢ vᵢᵀ) h + b + s): only d ∈ R^r and s come from z; the bases U₀ = [uᵢ], V₀ = [vᵢ]
    are shared base parameters, kept near-orthonormal by :meth:`penalty`."""

    def __init__(self, w_in: int, w_out: int, rank: int = 5):
        super().__init__(w_in, w_out)
        if rank < 1:
            raise ValueError(f"rank must be >= 1; got {rank}")
        self.rank = rank
        self.U = nn.Parameter(_orthonormal(w_out, rank))
        self.V = nn.Parameter(_orthonormal(w_in, rank))

    def n_params(self) -> int:
        return self.rank + self.w_out

    def singular_values(self, theta: Tensor) -> Tensor:
        """The non-negative weights d = ReLU(θ_d): (K, r)."""
        return torch.relu(theta[..., : self.rank])

    def forward(self, h, a, theta):
        d, s = self.singular_values(theta), theta[..., self.rank:]
        return a + ((h @ self.V.to(h.dtype)) * d[:, None, :]) @ self.U.to(h.dtype).mT + s[:, None, :]

    def input_vjp(self, delta, weight, theta):
        d = self.singular_values(theta)
        return delta @ weight + ((delta @ self.U.to(delta.dtype)) * d[:, None, :]) @ self.V.to(delta.dtype).mT

    def penalty(self) -> Tensor:
        """‖UᵀU − I‖_F + ‖VᵀV − I‖_F (on the smaller Gram matrix when a basis has more vectors than rows)."""
        def gram_error(m: Tensor) -> Tensor:
            g = m.mT @ m if m.shape[0] >= m.shape[1] else m @ m.mT
            return (g - torch.eye(g.shape[0], dtype=m.dtype, device=m.device)).norm()
        return gram_error(self.U) + gram_error(self.V)


MODULATIONS: dict[str, type[Modulation]] = {
    "shift": Shift, "film": FiLM, "full_weight": FullWeight, "rank_one": RankOne,
    "multi_rank": MultiRank, "svd": SVDLike,
}


#: The modulations with a rank r, and its default.
RANKED = ("multi_rank", "svd")
DEFAULT_RANK = 5


def check_rank(name: str, rank: int | None) -> int | None:
    """``rank`` for the modulation ``name``: ``DEFAULT_RANK`` if None for a ranked one (:data:`RANKED`); a
    ``ValueError`` for a rank given to one without (shift, film, full_weight, rank_one)."""
    if name in RANKED:
        return DEFAULT_RANK if rank is None else rank
    if rank is not None:
        raise ValueError(f"the {name!r} modulation has no rank (only {' and '.join(RANKED)} do); got rank={rank}")
    return None


def make_modulation(name: str, w_in: int, w_out: int, rank: int | None = None) -> Modulation:
    """The modulation ``name`` for a layer (w_in → w_out); ``rank``: r of ``multi_rank`` and ``svd`` (default
    :data:`DEFAULT_RANK`), an error for the others."""
    check_choice(name, "modulation", sorted(MODULATIONS))
    rank = check_rank(name, rank)
    cls = MODULATIONS[name]
    return cls(w_in, w_out) if rank is None else cls(w_in, w_out, rank)


class Hypernetwork(nn.Module):
    """A linear map from latent codes z: (K, d_z) to all modulated layers' parameters θ: (K, m).

    The weights start small (std ``init_scale``/√d_z) and the bias at zero, so z = 0 gives θ = 0: the base
    network unmodulated.
    """

    def __init__(self, latent_dim: int, n_outputs: int, init_scale: float = 0.1):
        super().__init__()
        self.linear = nn.Linear(latent_dim, n_outputs)
        with torch.no_grad():
            self.linear.weight.normal_(0.0, init_scale / math.sqrt(latent_dim))
            self.linear.bias.zero_()

    def forward(self, z: Tensor) -> Tensor:
        return self.linear(z)
