"""Several auto-decoding runs of one architecture as one batched model: S seeds (or S runs) of one family and
method meta-trained together, to fill a GPU.

One meta-training step of the book's small networks is launch-bound on a GPU: S separate processes each spend
their time issuing tiny kernels. :func:`meta_train_batched` instead stacks the S members' parameters and
buffers, (S, ...) each (``torch.func.stack_module_state``), and evaluates every member's loss in one call with
``torch.func.vmap`` over ``torch.func.functional_call`` on one template network (on the meta device, as in
torch.func's "model ensembling"). The members' parameters are disjoint, so one backward pass of the sum of
their losses gives each member its own gradients; one Adam over the stacked tensors equals S separate Adams
(Adam is elementwise), and the codes are one (S·K, d_z) table, member s's system k at row s·K + k, whose Adam or
SparseAdam (``latent_updates``) acts row by row too.

Each member keeps everything of its own: initial weights, training data x, xdot: (K, N, n) (equal shapes
across members), its seed, hence its initial codes and its own random draws (the order of the systems each
epoch, the sample subsets of each batch). The result equals S separate calls
``meta_train(model_s, train_s, config, seed=seed_s)``, member by member, to rounding (tests/test_batched.py
checks 1e-6 relative in float64): the same loop, the same updates (alternating or ``simultaneous``), the
same penalties, the same loss histories.

Differences from :func:`~spmeta.meta.autodecode.meta_train`: input gradients are always the explicit ones
(∇ₓH̃, ∇E, ∇S as tensor ops; ``torch.autograd.grad`` inside a forward does not compose with vmap; they agree
with autograd to rounding), so every scalar network needs a named activation; ``config.compile`` is ignored
(nothing is compiled); there is no checkpointing and no resume.

:func:`fit_batched` does the same for :class:`~spmeta.MetaLearner` s: it leaves each learner as
:meth:`~spmeta.MetaLearner.fit` would, ready to ``adapt`` and ``evaluate``.

See chapter 07 (book/07_auto_decoding.md).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .._progress import tqdm
from ..data import Samples
from ..models.fields import explicit_gradient_supported
from ..training import check_finite_loss
from .autodecode import (AutoDecodeConfig, LatentTable, base_penalty, latent_lookup, latent_optimiser, latent_step,
                         system_losses)

if TYPE_CHECKING:
    from ..data import Trajectories
    from ..learner import MetaLearner

Tensor = torch.Tensor

__all__ = ["meta_train_batched", "fit_batched"]

_PREFIX = "net."  # the template's name inside _Member


class _Member(nn.Module):
    """One member's losses, called through ``functional_call`` with that member's parameters and buffers.

    ``forward(x, xdot, z)`` with x, xdot: (B, M, n) and z: (B, d_z) returns the mean derivative-matching loss
    over the B systems, a scalar (:func:`~spmeta.meta.autodecode.system_losses`); with ``penalty=True`` also
    Θ's penalty λ_φ‖φ‖² + λ_orth·(the modulations' penalty), a scalar, as meta_train's ``base_penalty``.
    """

    def __init__(self, net: nn.Module, config: AutoDecodeConfig):
        super().__init__()
        self.net = net
        self.config = config

    def forward(self, x: Tensor, xdot: Tensor, z: Tensor, penalty: bool = False):
        data = system_losses(self.net, Samples(x, xdot, z[:, :0]), z).mean()
        if not penalty:
            return data
        return data, base_penalty(self.net, self.config)  # on the parameters functional_call swapped in


def _plain(value):
    """A module attribute in a form that compares with ``==`` (tensors by shape and dtype)."""
    return (tuple(value.shape), value.dtype) if isinstance(value, Tensor) else value


def _architecture(model: nn.Module) -> list[tuple]:
    """What must agree between members: every submodule's name, class and plain attributes (widths,
    activations, ranks, ...; not ``gradient_mode``), and every parameter's and buffer's name, shape, dtype and
    device."""
    rows = []
    for name, module in model.named_modules():
        attributes = {k: _plain(v) for k, v in vars(module).items()
                      if not k.startswith("_") and k != "gradient_mode"}
        rows.append((name or "the model", type(module), attributes))
    for kind, named in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        rows += [(f"{kind} {name}", tuple(t.shape), t.dtype, t.device, t.requires_grad) for name, t in named]
    return rows


def _difference(rows: list[tuple], reference: list[tuple]) -> str:
    """Where two :func:`_architecture` lists first differ, in words."""
    for row, ref in zip(rows, reference):
        if row == ref:
            continue
        if isinstance(row[2], dict) and isinstance(ref[2], dict) and row[1] is ref[1]:
            names = sorted(k for k in row[2].keys() | ref[2].keys() if row[2].get(k) != ref[2].get(k))
            return f"{row[0]} ({', '.join(names)})"
        return f"{row[0]}: {row[1:]} against {ref[1:]}"
    return f"the number of submodules or tensors ({len(rows)} against {len(reference)})"


def _check_members(models: Sequence[nn.Module], trains: Sequence[Samples], seeds: Sequence[int]) -> int:
    """Raise ValueError unless the members agree; returns d_z."""
    if not len(models) == len(trains) == len(seeds) or not models:
        raise ValueError(f"meta_train_batched needs one training set and one seed per model (at least one model); "
                         f"got {len(models)} models, {len(trains)} training sets and {len(seeds)} seeds")
    reference = _architecture(models[0])
    for s, model in enumerate(models[1:], 1):
        rows = _architecture(model)
        if rows != reference:
            raise ValueError(f"all models must share one architecture: model {s} differs from model 0 at "
                             f"{_difference(rows, reference)}")
    try:
        latent_dim = getattr(getattr(models[0], "hamiltonian_net", None) or models[0].energy_net, "latent_dim")
    except AttributeError:
        raise ValueError("meta_train_batched needs modulated models (an HNN or a GenericNet built with "
                         "modulation=...)") from None
    if any(getattr(m, "derivative", True) is None for m in models[0].modules()):
        raise ValueError("meta_train_batched needs named activations: it uses the explicit input gradients, and a "
                         "callable activation has none (autograd's do not compose with vmap); use meta_train")
    shape = tuple(trains[0].x.shape)
    state_dim = getattr(models[0], "state_dim", shape[-1] if shape else None)
    for s, train in enumerate(trains):
        if tuple(train.x.shape) != shape or tuple(train.xdot.shape) != shape or len(shape) != 3 \
                or shape[-1] != state_dim:
            raise ValueError(f"every member's training samples must have x, xdot: (K, N, {state_dim}) of one shape; "
                             f"member 0 has x: {shape}, member {s} has x: {tuple(train.x.shape)}, "
                             f"xdot: {tuple(train.xdot.shape)}")
    if any(isinstance(seed, bool) or not isinstance(seed, int) for seed in seeds):
        raise ValueError(f"seeds must be integers; got {list(seeds)}")
    return latent_dim


def _epoch_draws(gens: list[torch.Generator], n_systems: int, n_samples: int, batch_size: int,
                 n_drawn: int) -> tuple[Tensor, Tensor | None]:
    """Each member's draws for one epoch, in meta_train's order: the systems' order, then one sample subset per
    batch. Returns orders: (S, K) and subsets: (S, n_batches, n_drawn), or None when every step takes all
    samples."""
    n_batches = -(-n_systems // batch_size)
    orders, subsets = [], []
    for gen in gens:
        orders.append(torch.randperm(n_systems, generator=gen) if batch_size < n_systems
                      else torch.arange(n_systems))
        if n_drawn < n_samples:
            subsets.append(torch.stack([torch.randperm(n_samples, generator=gen)[:n_drawn]
                                        for _ in range(n_batches)]))
    return torch.stack(orders), torch.stack(subsets) if subsets else None


def meta_train_batched(models: Sequence[nn.Module], trains: Sequence[Samples], config: AutoDecodeConfig,
                       seeds: Sequence[int], progress: bool = True) -> list[tuple[LatentTable, list[float]]]:
    """Meta-train S modulated models of one architecture together, as S separate :func:`meta_train` calls would.

    Args:
        models: S modulated HNNs or GenericNets of the same architecture (class, sizes, activation, modulation;
            one dtype and device), each with its own weights (and, for GenericNets, its own standardisation).
            They are trained in place, as by meta_train.
        trains: S training sets, member s's x, xdot: (K, N, n), of one shape.
        config: see :class:`~spmeta.meta.AutoDecodeConfig` (``compile`` is ignored).
        seeds: S seeds: member s's initial codes and its draws, as ``meta_train(..., seed=seeds[s])``.
        progress: show one tqdm bar for all members.

    Returns:
        One (latent table with codes: (K, d_z), loss history: one float per epoch) per member, in order.

    Internally: stacked parameters (S, ...) each, codes (S, K, d_z), batches of system indices (S, B) and of
    sample indices (S, M), the gathered data (S, B, M, n) and the losses (S,).

    Raises:
        ValueError: for a different number of models, training sets and seeds, models of different architectures,
            unmodulated models, callable activations, or training samples of different shapes.
        TrainingDiverged: on a non-finite loss, naming the member, its seed and the epoch.
    """

    models, trains, seeds = list(models), list(trains), list(seeds)
    latent_dim = _check_members(models, trains, seeds)
    S = len(models)
    param = next(models[0].parameters())
    device, dtype = param.device, param.dtype
    x_all = torch.stack([train.x.to(param) for train in trains])  # (S, K, N, n), once, on the models' device
    xdot_all = torch.stack([train.xdot.to(param) for train in trains])
    n_systems, n_samples = x_all.shape[1], x_all.shape[2]
    tables = [LatentTable(n_systems, latent_dim, seed=seed).to(device, dtype) for seed in seeds]
    # the members' codes as one table, member s's system k at row s·K + k: (S·K, d_z)
    codes = nn.Parameter(torch.cat([table.codes.detach() for table in tables]))

    params, buffers = stack_module_state(models)  # (S, ...) each; the params are new leaves
    trainable = [p for p in params.values() if p.requires_grad]  # meta_train's Adam: model.parameters()
    named = ({_PREFIX + k: v for k, v in params.items()}, {_PREFIX + k: v for k, v in buffers.items()})
    template = copy.deepcopy(models[0]).to("meta")
    for module in template.modules():  # the template only: the members' own modes are left as they are
        if hasattr(module, "gradient_mode") and explicit_gradient_supported(module):
            module.gradient_mode = "explicit"
    member = _Member(template, config)
    rows = torch.arange(S, device=device)[:, None]  # (S, 1): each member's row

    def losses(x: Tensor, xdot: Tensor, batch: Tensor, penalty: bool):
        """Every member's mean loss on its batch, (S,) (and Θ's penalty, (S,)); z: (S, B, d_z)."""
        z = latent_lookup(codes, rows * n_systems + batch, config)  # (S, B, d_z)

        def one(p: dict, b: dict, x: Tensor, xdot: Tensor, z: Tensor):
            return functional_call(member, (p, b), (x, xdot, z), {"penalty": penalty})
        return vmap(one)(*named, x, xdot, z), z

    def latent_penalty(z: Tensor) -> Tensor:  # (S,); acts on the codes only
        return config.lambda_z * z.pow(2).sum(-1).mean(-1)

    def step_codes(batch: Tensor) -> None:  # the batches' codes; the others keep their values
        latent_step(opt_latent, codes, rows * n_systems + batch, config)

    opt_base = torch.optim.Adam(trainable, lr=config.lr_base)
    opt_latent = latent_optimiser(codes, config)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(opt_base, config.epochs)
                 if config.lr_schedule == "cosine" else None)
    gens = [torch.Generator().manual_seed(seed) for seed in seeds]
    batch_size = min(config.batch_systems or n_systems, n_systems)
    n_drawn = config.samples_per_step(n_samples)
    histories: list[list[float]] = [[] for _ in range(S)]
    try:
        bar = tqdm(range(config.epochs), desc=f"meta-training ({S} runs)", disable=not progress, mininterval=0.5)
        for epoch in bar:
            orders, subsets = _epoch_draws(gens, n_systems, n_samples, batch_size, n_drawn)
            orders = orders.to(device)
            subsets = None if subsets is None else subsets.to(device)
            epoch_loss = torch.zeros(S, dtype=dtype, device=device)
            for i, start in enumerate(range(0, n_systems, batch_size)):
                batch = orders[:, start:start + batch_size]  # (S, B)
                if subsets is not None:  # each member's own samples of its own systems: (S, B, M, n)
                    index = (rows[..., None], batch[..., None], subsets[:, i, None, :])
                    x, xdot = x_all[index], xdot_all[index]
                elif batch_size < n_systems:
                    x, xdot = x_all[rows, batch], xdot_all[rows, batch]
                else:  # every system in order, every sample
                    x, xdot = x_all, xdot_all
                if config.simultaneous:
                    (data, base), z = losses(x, xdot, batch, True)
                    opt_base.zero_grad(set_to_none=True)
                    opt_latent.zero_grad(set_to_none=True)
                    (data + latent_penalty(z) + base).sum().backward()
                    step_codes(batch)
                    opt_base.step()
                else:
                    for _ in range(config.inner_steps):
                        data, z = losses(x, xdot, batch, False)
                        (codes.grad,) = torch.autograd.grad((data + latent_penalty(z)).sum(), codes)
                        step_codes(batch)
                    for _ in range(config.outer_steps):
                        (data, base), _ = losses(x, xdot, batch, True)
                        grads = torch.autograd.grad((data + base).sum(), trainable, allow_unused=True)
                        for p, g in zip(trainable, grads):
                            p.grad = g
                        opt_base.step()
                epoch_loss += data.detach() * (batch.shape[1] / n_systems)  # one sync per epoch
            if scheduler is not None:
                scheduler.step()
            for s, value in enumerate(epoch_loss.tolist()):
                histories[s].append(value)
            for s, history in enumerate(histories):
                check_finite_loss(history[-1], epoch, history[:-1],
                                  f"meta-training of member {s} (seed {seeds[s]})", "epoch")
            if epoch % 20 == 0 or epoch == config.epochs - 1:
                bar.set_postfix(loss=f"{sum(h[-1] for h in histories) / S:.2e}", refresh=False)
    finally:  # the members' weights and codes as they stand, as meta_train leaves its model and table
        with torch.no_grad():
            for s, (model, table) in enumerate(zip(models, tables)):
                for name, p in model.named_parameters():
                    p.copy_(params[name][s])
                table.codes.copy_(codes[s * n_systems:(s + 1) * n_systems])
    return list(zip(tables, histories))


def fit_batched(learners: Sequence["MetaLearner"], trains: Sequence["Trajectories"], progress: bool = True) -> None:
    """:meth:`~spmeta.MetaLearner.fit` for several auto-decoding learners at once, with :func:`meta_train_batched`.

    Args:
        learners: S learners with ``method == "autodecode"`` and the same settings and configuration except
            ``seed`` (e.g. S seeds of one method).
        trains: their training trajectories, ``data.train`` from ``spmeta.make_dataset``, one per learner, with
            X: (K, B, T, n) of one shape.
        progress: show one tqdm bar.

    Each learner ends as after ``fit(train)``: a fresh network from its seed (standardised on its own data for
    GENERIC models) trained as by its own fit, its ``latents`` (K, d_z), ``history`` and ``budget``; it can
    :meth:`~spmeta.MetaLearner.adapt` and :meth:`~spmeta.MetaLearner.evaluate`.

    Raises:
        ValueError: for a different number of learners and training sets, a learner that is not auto-decoding,
            learners whose settings differ other than by seed, or training data of different shapes.
    """
    from ..learner import MetaLearner

    learners, trains = list(learners), list(trains)
    if not learners or len(learners) != len(trains):
        raise ValueError(f"fit_batched needs one training set per learner (at least one); got {len(learners)} "
                         f"learners and {len(trains)} training sets")
    for s, learner in enumerate(learners):
        if not isinstance(learner, MetaLearner) or learner.method != "autodecode":
            what = learner.method if isinstance(learner, MetaLearner) else type(learner).__name__
            raise ValueError(f"fit_batched trains auto-decoding learners (method='autodecode'); learner {s} is "
                             f"{what!r}")

    def shared(learner: "MetaLearner") -> dict:  # everything that must agree, by name
        flat = {f"settings.{k}": v for k, v in learner.settings.items() if k != "seed"}
        flat.update({f"network.{k}": v for k, v in learner.net_kwargs.items()})
        flat.update({f"config.{k}": v for k, v in dataclasses.asdict(learner.config).items()})
        flat.update(device=learner.device, dtype=learner.dtype)
        return flat
    reference = shared(learners[0])
    for s, learner in enumerate(learners[1:], 1):
        theirs = shared(learner)
        differ = sorted(k for k in reference.keys() | theirs.keys() if reference.get(k) != theirs.get(k))
        if differ:
            raise ValueError(f"fit_batched needs learners that differ only in seed; learner {s} differs from "
                             f"learner 0 in {', '.join(differ)}")
    samples = [learner._prepare(train) for learner, train in zip(learners, trains)]
    results = meta_train_batched([learner.net for learner in learners], samples, learners[0].config,
                                 [learner.seed for learner in learners], progress=progress)
    for learner, (latents, history) in zip(learners, results):
        learner.latents, learner.history = latents, history
