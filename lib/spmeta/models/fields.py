"""What every vector-field model shares: input gradients of scalar networks, and state-shape checks.

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

import torch

from .._checks import check_choice
from ..autodiff import input_gradient

Tensor = torch.Tensor

__all__ = ["input_gradient", "scalar_gradient", "check_state", "GRADIENT_MODES"]


GRADIENT_MODES = ("explicit", "autograd")


def scalar_gradient(net: torch.nn.Module, x: Tensor, z: Tensor | None, mode: str = "explicit") -> Tensor:
    """∇ₓ of a scalar network's output, (..., n).

    ``mode="autograd"`` (the reference) differentiates with :func:`input_gradient`, i.e. a double backward
    during training; ``"explicit"`` uses the network's hand-written ``input_gradient`` where it has one (the
    library's MLPs with a named activation; any other network is an error). Eager, the explicit form is slower than autograd's fused kernels;
    under ``torch.compile`` it is faster (the fast path of meta-training). Both give the same values and the same
    parameter gradients (tests/test_fast_path.py).
    """
    check_choice(mode, "gradient mode", GRADIENT_MODES)
    if mode == "explicit":
        if not has_explicit_gradient(net):
            raise ValueError(f"gradient='explicit' needs the library's MLP or ModulatedMLP with a named activation; "
                             f"{type(net).__name__} has no explicit input gradient: use gradient='autograd'")
        return net.input_gradient(x, z) if _check_latents(net, z) else net.input_gradient(x)
    return input_gradient(lambda y: evaluate_scalar(net, y, z), x)


def has_explicit_gradient(net: torch.nn.Module) -> bool:
    """Whether ``net`` computes its input gradient explicitly: the library's MLP or ModulatedMLP with an
    activation named in :data:`~spmeta.nn.mlp.ACTIVATION_DERIVATIVES`."""
    return hasattr(net, "input_gradient") and getattr(getattr(net, "base", net), "derivative", None) is not None


def explicit_gradient_supported(model: torch.nn.Module) -> bool:
    """Whether every scalar network of an HNN or a GenericNet (``model.scalar_networks()``) has an explicit input
    gradient, so that ``model.gradient_mode = "explicit"`` works (the fast path sets it only then)."""
    return all(has_explicit_gradient(net) for net in model.scalar_networks().values())


def check_state(x: Tensor, state_dim: int, owner: str) -> None:
    """Raise ``ValueError`` naming the expected dimension unless x has shape (..., state_dim)."""
    if x.ndim == 0 or x.shape[-1] != state_dim:
        raise ValueError(f"{owner} expects states with last dimension {state_dim}; got shape {tuple(x.shape)}")


def scalar_network(in_dim: int, width: int, depth: int, activation, modulation: str | None = None,
                   latent_dim: int = 10, rank: int | None = None) -> torch.nn.Module:
    """The network of a scalar (H̃, E or S): a plain ``MLP(in_dim, 1, ...)``, or, with ``modulation``, a
    :class:`~spmeta.nn.modulated.ModulatedMLP` conditioned on latent codes."""
    from ..nn.mlp import MLP
    from ..nn.modulated import ModulatedMLP

    if modulation is None:
        return MLP(in_dim, 1, width, depth, activation)
    return ModulatedMLP(in_dim, 1, width, depth, activation, modulation, latent_dim, rank)


def evaluate_scalar(net: torch.nn.Module, x: Tensor, z: Tensor | None) -> Tensor:
    """net(x) or net(x, z) as a scalar per state: (...). A modulated net needs z, a plain one refuses it."""
    return (net(x, z) if _check_latents(net, z) else net(x))[..., 0]


def _check_latents(net: torch.nn.Module, z: Tensor | None) -> bool:
    """True for a modulated net given codes; raise if codes are missing, or given to a plain net."""
    from ..nn.modulated import ModulatedMLP

    if isinstance(net, ModulatedMLP):
        if z is None:
            raise ValueError(f"this model is modulated ({net.modulation_name}): pass latent codes "
                             f"z: (K, {net.latent_dim})")
        return True
    if z is not None:
        raise ValueError("this model is not modulated: z must be None (build it with modulation=...)")
    return False
