"""Optimisation-based baselines: Scratch, MAML (second- and first-order), ANIL and Reptile.

All of them work on an *unmodulated* model (HNN or GenericNet) through ``torch.func.functional_call``, so the
same module serves every task with its own parameter set. A task is one training system: for MAML, FOMAML and
ANIL its first ``n_support`` samples are the inner loop's support and the rest its query, as at test time;
Reptile has no query and takes its inner steps on all the task's samples.

- **Scratch**: a fresh network per test system, trained on its support only.
- **MAML** (Finn et al., 2017): θ' = θ − α∇_θ L_support(θ) for a few steps; the outer loss L_query(θ')
  is differentiated through the inner steps (second order), or not (``first_order=True``: FOMAML).
- **ANIL** (Raghu et al., 2020): as MAML, but only the last linear layer adapts.
- **Reptile** (Nichol et al., 2018): θ ← θ + ε(θ_k − θ), with θ_k after k SGD steps on one task.

At test time every method takes the same number of steps on the same support (:func:`fine_tune`), with the
optimiser and learning rate chosen for it on validation systems (protocol v2).

See chapter 05 (book/05_learning_families.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call

from .._checks import check_choice, check_int, check_positive
from .._progress import tqdm
from ..data import Samples
from ..training import OPTIMISERS, check_finite_loss, checkpoint_due, fit_vector_field, squared_error

Tensor = torch.Tensor
Params = dict[str, Tensor]

__all__ = ["BaselineConfig", "BASELINES", "meta_train_baseline", "adapt_parameters", "scratch", "fine_tune",
           "head_names"]

BASELINES = ("scratch", "maml", "fomaml", "anil", "reptile")


@dataclass(frozen=True)
class BaselineConfig:
    """Hyper-parameters of the optimisation-based baselines (defaults: the digest's starting values; the grid
    sets ``epochs`` and ``adapt_steps`` to its scale's). ``scratch_lr`` is Scratch's only setting: the Adam
    step of the fresh network it trains on each support."""

    epochs: int = 1000  # outer updates (one meta-batch of tasks each); the grid sets them from the budget
    tasks_per_step: int = 10
    inner_steps: int = 5
    inner_lr: float = 1e-2
    outer_lr: float = 1e-3
    reptile_step: float = 0.1
    n_support: int = 30
    adapt_steps: int = 100
    scratch_lr: float = 1e-3
    adapt_optimiser: str | None = None  # at test time: "sgd" or "adam"; None: SGD (Scratch: Adam)
    adapt_lr: float | None = None  # at test time; None: inner_lr (Scratch: scratch_lr)

    def __post_init__(self):
        for name in ("epochs", "tasks_per_step", "inner_steps", "n_support"):
            check_int(getattr(self, name), name)
        check_int(self.adapt_steps, "adapt_steps", 0)
        for name in ("inner_lr", "outer_lr", "reptile_step", "scratch_lr"):
            check_positive(getattr(self, name), name)
        if self.adapt_lr is not None:
            check_positive(self.adapt_lr, "adapt_lr")
        if self.adapt_optimiser is not None:
            check_choice(self.adapt_optimiser, "adapt_optimiser", sorted(OPTIMISERS))

    def test_time(self, method: str) -> tuple[str, float]:
        """(optimiser, learning rate) of ``method``'s test-time adaptation."""
        scratch = method == "scratch"
        optimiser = self.adapt_optimiser if self.adapt_optimiser is not None else ("adam" if scratch else "sgd")
        lr = self.adapt_lr if self.adapt_lr is not None else (self.scratch_lr if scratch else self.inner_lr)
        return optimiser, lr


def head_names(model: nn.Module) -> list[str]:
    """Names of the parameters ANIL adapts: the last linear layer of each of the model's scalar networks
    (``model.scalar_networks()``: H̃'s for an HNN, E's and S's for a GenericNet), each an unmodulated MLP."""
    from ..nn.mlp import MLP

    if not callable(getattr(model, "scalar_networks", None)):
        raise ValueError(f"ANIL adapts the last layer of a model's scalar networks; a {type(model).__name__} "
                         "has no scalar_networks() (HNN and GenericNet do)")
    heads = []
    for prefix, net in model.scalar_networks().items():
        if not isinstance(net, MLP):
            raise ValueError(f"ANIL needs plain MLP scalar networks; {prefix} is a {type(net).__name__}")
        last = len(net.weights) - 1
        heads += [f"{prefix}.weights.{last}", f"{prefix}.biases.{last}"]
    if not heads:
        raise ValueError(f"a {type(model).__name__} lists no scalar networks: ANIL would adapt nothing")
    return heads


def _loss(model: nn.Module, params: Params, x: Tensor, xdot: Tensor) -> Tensor:
    return squared_error(functional_call(model, params, (x,)), xdot).mean()


def adapt_parameters(model: nn.Module, params: Params, x: Tensor, xdot: Tensor, steps: int, lr: float,
                     names: list[str] | None = None, create_graph: bool = False) -> Params:
    """``steps`` SGD steps on the loss of (x, ẋ), x, xdot: (N, n), from ``params``, updating only ``names``
    (default: all)."""
    names = names if names is not None else list(params)
    for _ in range(steps):
        loss = _loss(model, params, x, xdot)
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=create_graph, allow_unused=True)
        params = {**params, **{n: params[n] - lr * (g if g is not None else 0) for n, g in zip(names, grads)}}
    return params


def meta_train_baseline(method: str, model: nn.Module, train: Samples, config: BaselineConfig = BaselineConfig(),
                        seed: int = 0, progress: bool = True, checkpoint: Callable[[dict], None] | None = None,
                        checkpoint_every: int = 100, resume: dict | None = None) -> list[float]:
    """Meta-train ``model`` in place with MAML, FOMAML, ANIL or Reptile; returns the outer-loss history.

    train: samples of the training systems, x, xdot: (K, N, n); each system is a task whose first
    ``n_support`` samples are its support and the rest its query. ``checkpoint`` and ``resume`` work as in
    :func:`~spmeta.meta.autodecode.meta_train` (every ``checkpoint_every`` epochs, that is, outer updates).

    See chapter 05 (book/05_learning_families.md).
    """

    check_choice(method, "meta-learning baseline", ("maml", "fomaml", "anil", "reptile"))
    if train.n_samples <= config.n_support:
        raise ValueError(f"each training system has {train.n_samples} samples; the baselines need more than "
                         f"n_support = {config.n_support} (a smaller one: MetaLearner(..., n_support=k))")
    param = next(model.parameters())
    x, xdot = train.x.to(param), train.xdot.to(param)  # the model's dtype and device
    names = head_names(model) if method == "anil" else [n for n, _ in model.named_parameters()]
    optimiser = torch.optim.Adam(model.parameters(), lr=config.outer_lr)
    gen = torch.Generator().manual_seed(seed)
    history: list[float] = []
    start = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimiser.load_state_dict(resume["optimiser"])
        gen.set_state(resume["generator"])
        start, history = resume["epoch"], list(resume["history"])
    s = config.n_support
    for epoch in tqdm(range(start, config.epochs), initial=start, total=config.epochs, desc=method,
                      disable=not progress, mininterval=0.5):
        tasks = torch.randperm(train.n_systems, generator=gen)[: config.tasks_per_step].tolist()
        params = dict(model.named_parameters())
        if method == "reptile":
            total = 0.0
            with torch.no_grad():
                delta = {n: torch.zeros_like(p) for n, p in params.items()}
            for k in tasks:
                fast = {n: p.detach().requires_grad_(True) for n, p in params.items()}
                fast = adapt_parameters(model, fast, x[k], xdot[k], config.inner_steps, config.inner_lr)
                with torch.no_grad():
                    for n in delta:
                        delta[n] += (fast[n] - params[n]) / len(tasks)
                total += _loss(model, fast, x[k], xdot[k]).item() / len(tasks)
            with torch.no_grad():
                for n, p in model.named_parameters():
                    p += config.reptile_step * delta[n]
        else:
            optimiser.zero_grad(set_to_none=True)
            total = 0.0
            for k in tasks:
                fast = adapt_parameters(model, params, x[k, :s], xdot[k, :s], config.inner_steps, config.inner_lr,
                                        names, create_graph=method != "fomaml")
                if method == "fomaml":  # first order: the query gradient at θ', applied to θ
                    fast = {n: p.detach().requires_grad_(True) for n, p in fast.items()}
                query = _loss(model, fast, x[k, s:], xdot[k, s:]) / len(tasks)
                if method == "fomaml":
                    grads = torch.autograd.grad(query, [fast[n] for n in names], allow_unused=True)
                    for n, g in zip(names, grads):
                        if g is not None:
                            params[n].grad = g if params[n].grad is None else params[n].grad + g
                else:
                    query.backward()
                total += query.item()
            optimiser.step()
        check_finite_loss(total, epoch, history, method, "epoch")
        history.append(total)
        if checkpoint is not None and checkpoint_due(epoch, checkpoint_every, config.epochs):
            checkpoint({"epoch": epoch + 1, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                        "generator": gen.get_state(), "history": list(history)})
    return history


def scratch(make_model: Callable[[], nn.Module], support: Samples, steps: int, lr: float = 1e-3,
            progress: bool = False, optimiser: str = "adam") -> list[nn.Module]:
    """K fresh models, one per test system, each trained for ``steps`` steps of ``optimiser`` on its support only
    (support.x, support.xdot: (K, N, n)); returns the K models."""
    return [fine_tune(make_model(), support.x[k], support.xdot[k], steps, lr, optimiser, progress=progress,
                      desc=f"scratch {k}") for k in range(support.n_systems)]


def fine_tune(model: nn.Module, x: Tensor, xdot: Tensor, steps: int, lr: float, optimiser: str = "sgd",
              names: list[str] | None = None, progress: bool = False, desc: str | None = None) -> nn.Module:
    """Test-time adaptation of one system: ``steps`` steps of ``optimiser`` on the loss of its support
    (x, xdot: (N, n)), training only the parameters ``names`` (default: all) of ``model``, in place; returns it."""
    trainable = set(names) if names is not None else None
    for name, p in model.named_parameters():
        p.requires_grad_(trainable is None or name in trainable)
    dtype = next(model.parameters()).dtype
    if steps:
        fit_vector_field(model, x.to(dtype), xdot.to(dtype), steps, lr=lr, optimiser=optimiser, progress=progress,
                         desc=desc)
    for p in model.parameters():
        p.requires_grad_(True)
    return model
