"""Fitting one model to one system's data by derivative matching (also the Scratch baseline's trainer).

The loss is the mean squared error between predicted and true time derivatives,
mean ‖f_θ(x) − ẋ‖², the "symplectic" loss of HNNs and the same form for GENERIC networks.

See chapter 02 (book/02_hamiltonian_neural_networks.md).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_choice, check_int
from ._progress import tqdm

Tensor = torch.Tensor

__all__ = ["checkpoint_due", "squared_error", "derivative_loss", "fit_vector_field", "TrainingDiverged",
           "check_finite_loss", "OPTIMISERS"]

#: The optimisers a fit or a test-time adaptation can use, by name.
OPTIMISERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def check_finite_loss(value: float, step: int, history: list[float], what: str = "training",
                      unit: str = "step") -> None:
    """Raise :class:`TrainingDiverged` naming the step and the last finite loss if ``value`` is not finite."""
    if not math.isfinite(value):
        last = next((v for v in reversed(history) if math.isfinite(v)), float("nan"))
        raise TrainingDiverged(f"{what} diverged at {unit} {step}: loss {value}, last finite loss {last:.3e}. "
                               "Lower the learning rate or check the data scale.")


def checkpoint_due(epoch: int, every: int, epochs: int) -> bool:
    """Whether a training loop writes its periodic state after ``epoch`` (0-based) of ``epochs``: every
    ``every`` epochs, but not after the last one (the finished run is saved instead)."""
    return (epoch + 1) % every == 0 and epoch + 1 < epochs


def squared_error(pred: Tensor, xdot: Tensor) -> Tensor:
    """‖pred − ẋ‖² per sample, the derivative-matching error every loss of the library averages.
    (..., n), (..., n) -> (...)."""
    return (pred - xdot).pow(2).sum(-1)


def derivative_loss(model: nn.Module, x: Tensor, xdot: Tensor) -> Tensor:
    """mean over samples of ‖model(x) − ẋ‖². x, xdot: (..., n) -> scalar."""
    return squared_error(model(x), xdot).mean()


def fit_vector_field(model: nn.Module, x: Tensor, xdot: Tensor, steps: int, lr: float = 1e-3,
                     batch_size: int | None = None, weight_decay: float = 0.0, seed: int = 0,
                     progress: bool = True, desc: str | None = None, optimiser: str = "adam") -> list[float]:
    """Train ``model`` so that model(x) ≈ ẋ with Adam (or SGD); returns the loss after every step.

    Args:
        model: maps states (..., n) to derivatives (..., n); its parameters are trained in place.
        x, xdot: states and their exact time derivatives, (N, n), or (K, N, n) for K systems (for example
            with an ``MLP(..., n_models=K)`` ensemble: Adam's per-parameter scaling then trains each member
            as if alone).
        steps: optimiser steps. lr, weight_decay: of the optimiser, ``"adam"`` or ``"sgd"``.
            Only parameters with ``requires_grad`` are trained (freeze others to fit a part of the model).
        batch_size: samples per step (drawn along the N axis); ``None`` uses all of them.
        seed: seeds the mini-batch order.
        progress: show a tqdm progress bar with the current loss.

    Raises:
        ValueError: for mismatched or non-finite data.
        TrainingDiverged: if the loss becomes non-finite, naming the step and the last finite loss.

    See chapter 02 (book/02_hamiltonian_neural_networks.md).
    """
    x, xdot = torch.as_tensor(x), torch.as_tensor(xdot)
    if x.shape != xdot.shape or x.ndim < 2:
        raise ValueError(f"x and xdot must have the same shape (N, n) or (K, N, n); got {tuple(x.shape)} "
                         f"and {tuple(xdot.shape)}")
    if not (torch.isfinite(x).all() and torch.isfinite(xdot).all()):
        raise ValueError("training data contain NaN or inf")
    check_int(steps, "steps")
    if batch_size is not None:
        check_int(batch_size, "batch_size (or None for all samples)")
    check_choice(optimiser, "optimiser", sorted(OPTIMISERS))
    n_samples = x.shape[-2]
    optimiser = OPTIMISERS[optimiser]([p for p in model.parameters() if p.requires_grad], lr=lr,
                                      weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history: list[float] = []

    bar = tqdm(range(steps), desc=desc or type(model).__name__, disable=not progress, mininterval=0.5)
    for step in bar:
        if batch_size is None or batch_size >= n_samples:
            xb, xdotb = x, xdot
        else:
            index = torch.randperm(n_samples, generator=generator)[:batch_size]
            xb, xdotb = x[..., index, :], xdot[..., index, :]
        loss = derivative_loss(model, xb, xdotb)
        value = loss.item()
        check_finite_loss(value, step, history)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        history.append(value)
        if step % 50 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{history[-1]:.2e}", refresh=False)
    return history
