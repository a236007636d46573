"""The base multilayer perceptron, optionally an ensemble of independent networks along a leading axis.

With ``n_models=None`` it is an ordinary MLP mapping x: (..., in) -> (..., out). With ``n_models=K`` it holds K
independent networks whose weights carry a leading system axis, W: (K, out, in), and it maps x: (K, N, in) ->
(K, N, out): K fresh models (for example one per test system) train in one batched call instead of a loop.

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor

#: Activations by name. Smooth ones are needed: the models differentiate the network with respect to x.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh, "softplus": F.softplus, "silu": F.silu, "gelu": F.gelu, "sin": torch.sin,
}

#: The book's base-network activation. The paper does not name one; tanh (bounded) flattens H̃ outside the
#: training energies and its field dies away there, GELU extrapolates (chapters 02 and 07).
DEFAULT_ACTIVATION = "gelu"

__all__ = ["MLP", "ACTIVATIONS", "DEFAULT_ACTIVATION"]


class MLP(nn.Module):
    """in_dim → width → … → width → out_dim, with ``depth`` hidden layers and an activation after each.

    The protocol's base network is ``MLP(2d, 1, width=100, depth=3)``: four linear maps, GELU.

    Args:
        in_dim, out_dim: input and output sizes.
        width: hidden width; depth: number of hidden layers (``depth + 1`` linear maps).
        activation: a name in :data:`ACTIVATIONS` or a callable.
        n_models: ``None`` for one network; K for K independent networks along a leading axis.

    Shapes: x: (..., in_dim) -> (..., out_dim); with ``n_models=K``, x: (K, N, in_dim) -> (K, N, out_dim).
    Weights are Glorot-uniform, biases zero.

    See chapter 02 (book/02_hamiltonian_neural_networks.md).
    """

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 100, depth: int = 3,
                 activation: str | Callable[[Tensor], Tensor] = DEFAULT_ACTIVATION, n_models: int | None = None):
        super().__init__()
        for what, value, minimum in (("in_dim", in_dim, 1), ("out_dim", out_dim, 1), ("width", width, 1),
                                     ("depth", depth, 0), ("n_models", n_models or 1, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{what} must be an integer >= {minimum}; got {value!r}")
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(f"unknown activation {activation!r}; valid names are {sorted(ACTIVATIONS)}")
            activation = ACTIVATIONS[activation]
        self.activation, self.n_models = activation, n_models
        self.widths = [in_dim] + [width] * depth + [out_dim]
        lead = () if n_models is None else (n_models,)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for w_in, w_out in zip(self.widths[:-1], self.widths[1:]):
            bound = math.sqrt(6.0 / (w_in + w_out))
            self.weights.append(nn.Parameter(torch.empty(*lead, w_out, w_in).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.zeros(*lead, *((1,) if lead else ()), w_out)))

    @property
    def in_dim(self) -> int:
        return self.widths[0]

    @property
    def out_dim(self) -> int:
        return self.widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"MLP expects inputs with last dimension {self.in_dim}; got shape {tuple(x.shape)}")
        if self.n_models is not None and (x.ndim != 3 or x.shape[0] != self.n_models):
            raise ValueError(f"an ensemble of {self.n_models} MLPs expects x: ({self.n_models}, N, {self.in_dim}); "
                             f"got shape {tuple(x.shape)}")
        h = x
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = h @ weight.mT + bias  # (..., w_in) @ (w_in, w_out), or batched per model
            if i < last:
                h = self.activation(h)
        return h

    def extra_repr(self) -> str:
        ensemble = "" if self.n_models is None else f", n_models={self.n_models}"
        return f"widths={self.widths}{ensemble}"
