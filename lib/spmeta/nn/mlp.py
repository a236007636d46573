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

from .._checks import check_choice, check_int

Tensor = torch.Tensor

#: Activations by name. Smooth ones are needed: the models differentiate the network with respect to x.
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh, "softplus": F.softplus, "silu": F.silu, "gelu": F.gelu, "sin": torch.sin,
}



def _gelu_derivative(a: Tensor) -> Tensor:  # Φ(a) + a φ(a)
    return 0.5 * (1 + torch.erf(a * 0.5 ** 0.5)) + a * torch.exp(-0.5 * a * a) * (2 * math.pi) ** -0.5


def _silu_derivative(a: Tensor) -> Tensor:
    s = torch.sigmoid(a)
    return s * (1 + a * (1 - s))


#: σ' for each named activation, as tensor ops, for the explicit input gradient (autograd differentiates it again).
ACTIVATION_DERIVATIVES: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": lambda a: 1 - torch.tanh(a).square(), "softplus": torch.sigmoid, "silu": _silu_derivative,
    "gelu": _gelu_derivative, "sin": torch.cos,
}

#: The book's base-network activation. The paper does not name one; tanh (bounded) flattens H̃ outside the
#: training energies and its field dies away there, GELU extrapolates (chapters 02 and 07).
DEFAULT_ACTIVATION = "gelu"
#: The activation of the GFINN construction, as in the GFINN code. The projection construction uses GELU: its
#: bounded friction factor keeps the field bounded, so rollouts cannot run away (chapter 04).
GENERIC_ACTIVATION = "tanh"

__all__ = ["MLP", "ACTIVATIONS", "ACTIVATION_DERIVATIVES", "DEFAULT_ACTIVATION", "GENERIC_ACTIVATION",
           "explicit_input_gradient"]


def explicit_input_gradient(weights, pre_activations: list[Tensor], derivative: Callable[[Tensor], Tensor],
                            input_vjps: list[Callable[[Tensor], Tensor]]) -> Tensor:
    """∇ₓ of a scalar-output MLP from its hidden pre-activations, as plain tensor ops (a hand-written backward).

    With hidden layers hₗ₊₁ = σ(aₗ(hₗ)) and output w_outᵀ h_L + b, the gradient is
    ∇ₓ = J₀ᵀ(σ'(a₀) ⊙ J₁ᵀ(σ'(a₁) ⊙ … (σ'(a_{L−1}) ⊙ w_out))), with Jₗ = ∂aₗ/∂hₗ applied by ``input_vjps[l]``
    (δ ↦ δ Jₗ). A loss on the result then needs one ordinary backward pass instead of a double backward.

    Args:
        weights: the linear maps; only the last, (…, 1, w), is read.
        pre_activations: aₗ of the hidden layers, each (…, N, w).
        derivative: σ'.
        input_vjps: per hidden layer, δ: (…, N, w_out) -> δ Jₗ: (…, N, w_in).

    Returns: (…, N, in_dim).
    """
    delta = derivative(pre_activations[-1]) * weights[-1][..., 0:1, :]
    for layer in range(len(pre_activations) - 1, -1, -1):
        grad = input_vjps[layer](delta)
        if layer:
            delta = grad * derivative(pre_activations[layer - 1])
    return grad


class MLP(nn.Module):
    """in_dim → width → … → width → out_dim, with ``depth`` hidden layers and an activation after each.

    The book's base network is ``MLP(2d, 1, width=100, depth=3)``: four linear maps, GELU (the written protocol's
    tanh is ``activation="tanh"``; book/protocol.md says why the book departs from it).

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
            check_int(value, what, minimum)
        if isinstance(activation, str):
            check_choice(activation, "activation", sorted(ACTIVATIONS))
            self.derivative = ACTIVATION_DERIVATIVES[activation]
            activation = ACTIVATIONS[activation]
        else:  # a callable: no known derivative, so models fall back to autograd input gradients
            self.derivative = None
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

    def input_gradient(self, x: Tensor) -> Tensor:
        """∇ₓ of the scalar output, computed explicitly (see :func:`explicit_input_gradient`): (..., in_dim)."""
        if self.out_dim != 1 or self.derivative is None:
            raise ValueError("an explicit input gradient needs a scalar output and a named activation")
        h, pre = x, []
        for weight, bias in zip(self.weights[:-1], self.biases[:-1]):
            pre.append(h @ weight.mT + bias)
            h = self.activation(pre[-1])
        vjps = [lambda d, w=w: d @ w for w in self.weights[:-1]]
        return explicit_input_gradient(self.weights, pre, self.derivative, vjps)

    def extra_repr(self) -> str:
        ensemble = "" if self.n_models is None else f", n_models={self.n_models}"
        return f"widths={self.widths}{ensemble}"
