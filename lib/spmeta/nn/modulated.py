"""An MLP whose hidden layers are modulated per system by a latent code z through a hypernetwork.

The base MLP (shared by all systems), one :class:`~spmeta.nn.modulation.Modulation` per hidden layer, and a
linear :class:`~spmeta.nn.modulation.Hypernetwork` z ↦ θ. The output layer is not modulated (as in functa
and COIN++).

See chapter 06 (book/06_latent_modulation.md).
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_int
from .mlp import DEFAULT_ACTIVATION, MLP, explicit_input_gradient
from .modulation import Hypernetwork, make_modulation

Tensor = torch.Tensor

__all__ = ["ModulatedMLP"]


class ModulatedMLP(nn.Module):
    """x: (K, N, in_dim), z: (K, d_z)  ->  (K, N, out_dim); system k's network is modulated by z[k].

    Args:
        in_dim, out_dim, width, depth, activation: of the base :class:`~spmeta.nn.mlp.MLP`.
        modulation: a name in :data:`~spmeta.nn.modulation.MODULATIONS`.
        latent_dim: d_z.
        rank: r of ``multi_rank`` and ``svd`` (default 5); an error for the other modulations.

    See chapter 06 (book/06_latent_modulation.md).
    """

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 100, depth: int = 3, activation=DEFAULT_ACTIVATION,
                 modulation: str = "rank_one", latent_dim: int = 10, rank: int | None = None):
        super().__init__()
        check_int(latent_dim, "latent_dim")
        check_int(depth, "depth (modulation acts on the hidden layers)")
        self.base = MLP(in_dim, out_dim, width, depth, activation)
        widths = self.base.widths
        self.modulation_name, self.latent_dim = modulation, latent_dim
        self.modulations = nn.ModuleList(make_modulation(modulation, w_in, w_out, rank)
                                         for w_in, w_out in zip(widths[:-2], widths[1:-1]))
        self.sizes = [m.n_params() for m in self.modulations]
        self.hypernet = Hypernetwork(latent_dim, sum(self.sizes))

    @property
    def in_dim(self) -> int:
        return self.base.in_dim

    def n_modulation_params(self) -> int:
        """m, the number of modulation parameters the hypernetwork outputs per system."""
        return sum(self.sizes)

    def penalty(self) -> Tensor:
        """The modulations' own regularisers (the SVD-like bases' orthogonality); zero for the others."""
        return sum((m.penalty() for m in self.modulations), torch.zeros(()))

    def _check(self, x: Tensor, z: Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(f"ModulatedMLP expects x: (K, N, {self.in_dim}); got shape {tuple(x.shape)}")
        if z.ndim != 2 or z.shape[-1] != self.latent_dim or z.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"ModulatedMLP expects z: (K, {self.latent_dim}) with K = {x.shape[0]} "
                             f"systems; got shape {tuple(z.shape)}")

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        self._check(x, z)
        thetas = self.hypernet(z.to(x.dtype)).split(self.sizes, dim=-1)
        h, last = x, len(self.base.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.base.weights, self.base.biases)):
            a = h @ weight.mT + bias
            if i < last:
                h = self.base.activation(self.modulations[i](h, a, thetas[i]))
            else:
                h = a
        return h

    def input_gradient(self, x: Tensor, z: Tensor) -> Tensor:
        """∇ₓ of the scalar output for system k's network, computed explicitly (no double backward).

        x: (K, N, in_dim), z: (K, d_z) -> (K, N, in_dim). See :func:`~spmeta.nn.mlp.explicit_input_gradient`.
        """
        self._check(x, z)
        if self.base.out_dim != 1 or self.base.derivative is None:
            raise ValueError("an explicit input gradient needs a scalar output and a named activation")
        thetas = self.hypernet(z.to(x.dtype)).split(self.sizes, dim=-1)
        h, pre = x, []
        for weight, bias, modulation, theta in zip(self.base.weights, self.base.biases, self.modulations, thetas):
            pre.append(modulation(h, h @ weight.mT + bias, theta))
            h = self.base.activation(pre[-1])
        vjps = [lambda d, m=m, w=w, t=t: m.input_vjp(d, w, t)
                for m, w, t in zip(self.modulations, self.base.weights, thetas)]
        return explicit_input_gradient(self.base.weights, pre, self.base.derivative, vjps)
