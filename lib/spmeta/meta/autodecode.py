"""Auto-decoding meta-learning with persistent latent codes (the paper's Algorithms 1 and 2, our reading).

Meta-training keeps one latent code z⁽ᵏ⁾ per training system in a :class:`LatentTable`; codes are never reset.
Each epoch visits the systems in batches of ``batch_systems`` (all at once by default), each step on all of a
system's samples or on ``batch_samples`` of them drawn afresh (the same draw for every system of the batch). For
each batch it runs
``inner_steps`` updates of that batch's codes (the inner loop), then ``outer_steps`` updates of the
shared parameters Θ: base network, hypernetwork φ and, for SVD-like modulation, the shared bases (the
outer loop). Both minimise the derivative-matching loss plus λ_z‖z‖² (codes), λ_φ‖φ‖² (hypernetwork) and
λ_orth times the modulations' own penalty. With ``simultaneous=True`` one backward pass gives both updates.

At test time, :func:`adapt` freezes Θ and fits only the codes of new systems on their support data,
starting from z_avg, the mean of the training codes.

See chapter 07 (book/07_auto_decoding.md).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from .._checks import check_choice, check_int, check_positive
from .._progress import tqdm
from ..data import Samples
from ..models.fields import explicit_gradient_supported
from ..nn.modulated import ModulatedMLP
from ..training import OPTIMISERS, check_finite_loss, checkpoint_due, squared_error

Tensor = torch.Tensor

__all__ = ["AutoDecodeConfig", "LatentTable", "meta_train", "adapt", "system_losses", "latent_lookup",
           "latent_optimiser", "latent_step"]


@dataclass(frozen=True)
class AutoDecodeConfig:
    """Hyper-parameters of meta-training and adaptation.

    The defaults were chosen on validation systems drawn apart from the test systems (mass-spring, rank-one;
    ``scripts/tune_autodecode.py``, ``results/tuning/``): batches of 10 systems, a cosine schedule and
    λ_φ = 1e-4 each lowered the validation errors at equal wall time. 2000 epochs on 70 systems × 300
    samples take about 6 minutes on 2 CPU cores (the reference path; less with the compiled fast path,
    chapter 14). The rest are the digest's starting values. ``batch_samples`` is off by default. These defaults,
    with ``latent_updates="dense"``, are the v1 grid's recipe; the grid now trains with recipe ``r2`` (:mod:`spmeta.bench.recipes`:
    ``simultaneous=True, batch_samples=50, lr_base=2e-3``), which reached the same validation error in about a
    tenth of the CPU time (chapter 14).
    """

    epochs: int = 2000
    inner_steps: int = 1
    outer_steps: int = 1
    lr_base: float = 1e-3
    lr_latent: float = 1e-2
    lambda_z: float = 1e-2
    lambda_phi: float = 1e-4
    lambda_orth: float = 1e-3
    simultaneous: bool = False
    compile: str = "auto"  # the fast path: "on", "off", or "auto" (on from COMPILE_MIN_UPDATES updates of Θ)
    batch_systems: int | None = 10  # systems per step; None: all of them (one step per epoch)
    batch_samples: int | None = None  # samples per system and step, drawn afresh; None: all of them
    lr_schedule: str = "cosine"  # or "constant"; "cosine" decays Θ's learning rate to zero over the epochs
    grad_clip: float | None = None  # clip the norm of Θ's gradient at each step to this (None: no clipping)
    # the codes' Adam: "sparse" (SparseAdam: a step moves only the batch's codes and their moments, as in
    # DeepSDF) or "dense" (Adam on the whole table, the other rows restored: their moments still decay; what the
    # grid's recipes v1 to r3 ran)
    latent_updates: str = "sparse"
    # several starts (chapter 11): ``starts`` initialisations each train ``start_trial × epochs`` epochs, and the
    # one with the lowest loss over the last tenth of its trial trains on to ``epochs``
    starts: int = 1
    start_trial: float = 0.05
    adapt_steps: int = 100
    lr_adapt: float = 1e-2
    adapt_optimiser: str = "adam"  # of the codes at test time: "adam" or "sgd"
    init: str = "mean"  # adaptation starts from z_avg ("mean") or from zero ("zero")

    def __post_init__(self):
        counts = {"epochs": 0, "inner_steps": 0, "outer_steps": 0 if self.simultaneous else 1, "adapt_steps": 0,
                  "starts": 1}
        for name, minimum in counts.items():
            check_int(getattr(self, name), name, minimum)
        for name in ("batch_systems", "batch_samples"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), f"{name} (or None)")
        if self.grad_clip is not None:
            check_positive(self.grad_clip, "grad_clip")
        for name in ("lr_base", "lr_latent", "lr_adapt"):
            check_positive(getattr(self, name), name)
        for name in ("lambda_z", "lambda_phi", "lambda_orth"):
            check_positive(getattr(self, name), name, allow_zero=True)
        check_positive(self.start_trial, "start_trial")
        if self.starts > 1 and self.epochs < 2:
            raise ValueError(f"starts={self.starts} needs epochs >= 2 (each start trains part of them before the "
                             f"choice); got epochs={self.epochs}")
        if self.start_trial >= 1:
            raise ValueError(f"start_trial is the fraction of the epochs each start trains before the choice, "
                             f"below 1; got {self.start_trial}")
        for name, valid in (("compile", ("auto", "on", "off")), ("lr_schedule", ("constant", "cosine")),
                            ("latent_updates", ("sparse", "dense")),
                            ("init", ("mean", "zero")), ("adapt_optimiser", OPTIMISERS)):
            check_choice(getattr(self, name), name, valid)

    def trial_epochs(self) -> int:
        """The epochs each start trains before the choice: 0 with one start, else at least 1."""
        return 0 if self.starts == 1 else min(self.epochs - 1, max(1, round(self.start_trial * self.epochs)))

    def samples_per_step(self, n_samples: int) -> int:
        """How many of a system's ``n_samples`` samples one meta-training step uses."""
        return min(self.batch_samples or n_samples, n_samples)


class LatentTable(nn.Module):
    """The persistent codes of the training systems, ``codes``: (n_systems, d_z).

    They start small and random (std ``init_std``), so that bilinear modulations (u vᵀ) leave their saddle
    at zero.
    """

    def __init__(self, n_systems: int, latent_dim: int, init_std: float = 1e-2, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.codes = nn.Parameter(init_std * torch.randn(n_systems, latent_dim, generator=gen))

    def mean(self) -> Tensor:
        """z_avg: (d_z,)."""
        return self.codes.detach().mean(0)


def latent_lookup(codes: Tensor, index: Tensor, config: AutoDecodeConfig) -> Tensor:
    """``codes[index]``, whose gradient is sparse (only the looked-up rows) under ``latent_updates="sparse"``.
    codes: (R, d_z), index: (...) -> (..., d_z)."""
    if config.latent_updates == "sparse":
        return torch.nn.functional.embedding(index, codes, sparse=True)
    return codes[index]


def latent_optimiser(codes: nn.Parameter, config: AutoDecodeConfig) -> torch.optim.Optimizer:
    """The codes' optimiser: SparseAdam (``latent_updates="sparse"``) or Adam, at ``lr_latent``."""
    kind = torch.optim.SparseAdam if config.latent_updates == "sparse" else torch.optim.Adam
    return kind([codes], lr=config.lr_latent)


def latent_step(optimiser: torch.optim.Optimizer, codes: nn.Parameter, index: Tensor,
                config: AutoDecodeConfig) -> None:
    """One step of the codes in ``index`` (looked up with :func:`latent_lookup`); every other code keeps its
    value. Sparse, the others' Adam moments are untouched too; dense, Adam steps the whole table and the other
    rows are put back. codes: (R, d_z), index: (...)."""
    if config.latent_updates == "sparse":
        optimiser.step()
        return
    visited = torch.zeros(codes.shape[0], dtype=torch.bool, device=codes.device)
    visited[index.reshape(-1)] = True
    before = None if visited.all() else codes.detach().clone()
    optimiser.step()
    if before is not None:
        with torch.no_grad():
            codes[~visited] = before[~visited]


def _modulated_networks(model: nn.Module) -> list[ModulatedMLP]:
    return [m for m in model.modules() if isinstance(m, ModulatedMLP)]


def _hypernet_parameters(model: nn.Module) -> list[nn.Parameter]:
    """φ: the parameters of every modulated network's hypernetwork."""
    return [p for m in _modulated_networks(model) for p in m.hypernet.parameters()]


def _modulation_penalty(model: nn.Module) -> Tensor:
    return sum((m.penalty() for m in _modulated_networks(model)), torch.zeros(()))


def base_penalty(model: nn.Module, config: AutoDecodeConfig) -> Tensor:
    """The penalty on Θ: λ_φ‖φ‖² on the hypernetwork plus λ_orth times the modulations' own penalty. A scalar."""
    return config.lambda_phi * sum(p.pow(2).sum() for p in _hypernet_parameters(model)) \
        + config.lambda_orth * _modulation_penalty(model)


def system_losses(model: nn.Module, samples: Samples, z: Tensor) -> Tensor:
    """Mean ‖f(x; z⁽ᵏ⁾) − ẋ‖² per system. samples.x: (K, N, n), z: (K, d_z) -> (K,)."""
    x, xdot = samples.x.to(z), samples.xdot.to(z)  # z's dtype and device
    return squared_error(model(x, z), xdot).mean(-1)


#: Under ``compile="auto"``, meta-training compiles its loss once it makes at least this many updates of Θ:
#: compiling costs about 20 s on a 2-core CPU and saves about a third of each step.
COMPILE_MIN_UPDATES = 2000
#: How many compiled variants of the loss (one per architecture and input shape) a process may hold. Torch's
#: default (8, ``torch._dynamo.config.recompile_limit``) is reached by a process that trains a few modulations
#: in turn, as a grid worker does; past it, dynamo silently runs the explicit form eagerly, slower than the
#: reference. The limit is raised only while this module's compiled loss runs (a scoped patch).
COMPILE_VARIANTS = 64
#: What a failed compilation raises (no C++ compiler, an unsupported operation): the fast path then falls back.
_COMPILE_ERRORS = (torch._dynamo.exc.TorchDynamoException, torch._inductor.exc.InductorError)


class _Loss:
    """:func:`system_losses`, or its fast path: explicit input gradients compiled with ``torch.compile``.

    Compiling happens at the first call (forward and backward); if it fails there, the fast path falls back to
    the reference with a warning. Later calls never switch paths: an error in the middle of a run is raised.
    Nothing process-wide is changed: compiled code is cached by torch per function and shared by networks of
    the same architecture (their parameters are inputs of the graph, not constants), and the recompile limit is
    raised to :data:`COMPILE_VARIANTS` only while a call runs. ``restore()`` puts the
    models' gradient modes back."""

    def __init__(self, model: nn.Module, fast: bool):
        self.modes = [(m, m.gradient_mode) for m in model.modules() if hasattr(m, "gradient_mode")]
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.function = system_losses
        if fast:
            for m, _ in self.modes:  # the explicit input gradient where the network has one, else autograd's
                m.gradient_mode = "explicit" if explicit_gradient_supported(m) else m.gradient_mode
            self.function = torch.compile(system_losses, dynamic=False)
        self.fast, self.tried = fast, not fast

    def __call__(self, model: nn.Module, samples: Samples, z: Tensor) -> Tensor:
        if not self.fast:
            return self.function(model, samples, z)
        with torch._dynamo.config.patch(recompile_limit=COMPILE_VARIANTS):
            return self._compiled(model, samples, z)

    def _compiled(self, model: nn.Module, samples: Samples, z: Tensor) -> Tensor:
        if self.tried:
            return self.function(model, samples, z)
        self.tried = True
        try:  # compile the forward and the backward now, on a throw-away pass: a failure shows here or nowhere
            trial = z.detach().requires_grad_(True)
            torch.autograd.grad(self.function(model, samples, trial).sum(), self.parameters + [trial],
                                allow_unused=True)
        except _COMPILE_ERRORS as error:
            warnings.warn(f"torch.compile failed ({type(error).__name__}: {error}); using the reference path")
            self.restore()
            self.fast, self.function = False, system_losses
        return self.function(model, samples, z)

    def restore(self) -> None:
        for m, mode in self.modes:
            m.gradient_mode = mode


def meta_train(model: nn.Module, train: Samples, config: AutoDecodeConfig = AutoDecodeConfig(),
               latents: LatentTable | None = None, seed: int = 0, progress: bool = True,
               checkpoint: Callable[[dict], None] | None = None, checkpoint_every: int = 100,
               resume: dict | None = None) -> tuple[LatentTable, list[float]]:
    """Meta-train a modulated model on the training systems; returns the latent table and the loss history.

    Args:
        model: a modulated HNN or GenericNet, called as ``model(x, z)``.
        train: samples of the training systems, x, xdot: (K, N, n).
        config: see :class:`AutoDecodeConfig`.
        latents: continue from an existing table (for example a loaded checkpoint).
        seed: seeds the initial codes.
        checkpoint: called every ``checkpoint_every`` epochs with the training state (a dict of tensors and
            plain values: weights, codes, optimiser and scheduler states, the random generator, the epoch and
            the history), which ``resume`` takes back to continue the same run exactly.
        resume: a state from ``checkpoint``: training continues at its epoch, with the history it carries.

    Raises:
        TrainingDiverged: on a non-finite loss, naming the epoch and the last finite loss.

    See chapter 07 (book/07_auto_decoding.md).
    """

    param = next(model.parameters())
    latent_dim = getattr(getattr(model, "hamiltonian_net", None) or model.energy_net, "latent_dim")
    latents = (latents or LatentTable(train.n_systems, latent_dim, seed=seed)).to(param.device, param.dtype)
    train = Samples(train.x.to(param), train.xdot.to(param), train.mu)  # once, on the model's device
    if latents.codes.shape[0] != train.n_systems:
        raise ValueError(f"the latent table has {latents.codes.shape[0]} codes for {train.n_systems} systems")
    base_params = list(model.parameters())
    opt_base = torch.optim.Adam(base_params, lr=config.lr_base)
    opt_latent = latent_optimiser(latents.codes, config)
    history: list[float] = []

    def data_loss(batch: Tensor, samples: Tensor) -> Tensor:
        part = train[batch]
        return losses(model, Samples(part.x[:, samples], part.xdot[:, samples], part.mu),
                      latent_lookup(latents.codes, batch, config)).mean()

    def latent_penalty(batch: Tensor) -> Tensor:  # acts on the codes only
        return config.lambda_z * latent_lookup(latents.codes, batch, config).pow(2).sum(-1).mean()

    def step_codes(batch: Tensor) -> None:  # the batch's codes; the others keep their values
        latent_step(opt_latent, latents.codes, batch, config)

    def clip(params: list[nn.Parameter]) -> None:
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], config.grad_clip)

    batch_size = min(config.batch_systems or train.n_systems, train.n_systems)
    n_drawn = config.samples_per_step(train.n_samples)
    updates = config.epochs * -(-train.n_systems // batch_size) * (1 if config.simultaneous else config.outer_steps)
    losses = _Loss(model, config.compile == "on" or (config.compile == "auto" and updates >= COMPILE_MIN_UPDATES))
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(opt_base, config.epochs)
                 if config.lr_schedule == "cosine" else None)
    gen = torch.Generator().manual_seed(seed)
    start = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        latents.load_state_dict(resume["latents"])
        opt_base.load_state_dict(resume["opt_base"])
        opt_latent.load_state_dict(resume["opt_latent"])
        if scheduler is not None:
            scheduler.load_state_dict(resume["scheduler"])
        gen.set_state(resume["generator"])
        start, history = resume["epoch"], list(resume["history"])

    def state(epoch: int) -> dict:  # everything the next epoch depends on
        return {"epoch": epoch, "model": model.state_dict(), "latents": latents.state_dict(),
                "opt_base": opt_base.state_dict(), "opt_latent": opt_latent.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "generator": gen.get_state(), "history": list(history)}

    try:
        bar = tqdm(range(start, config.epochs), initial=start, total=config.epochs, desc="meta-training",
                   disable=not progress, mininterval=0.5)
        for epoch in bar:
            order = torch.randperm(train.n_systems, generator=gen) if batch_size < train.n_systems \
                else torch.arange(train.n_systems)
            epoch_loss = 0.0
            for batch in order.to(param.device).split(batch_size):
                samples = torch.randperm(train.n_samples, generator=gen)[:n_drawn] \
                    if n_drawn < train.n_samples else slice(None)
                if config.simultaneous:
                    data = data_loss(batch, samples)
                    opt_base.zero_grad(set_to_none=True)
                    opt_latent.zero_grad(set_to_none=True)
                    (data + latent_penalty(batch) + base_penalty(model, config)).backward()
                    step_codes(batch)
                    clip(base_params)
                    opt_base.step()
                else:
                    for _ in range(config.inner_steps):
                        (grad,) = torch.autograd.grad(data_loss(batch, samples) + latent_penalty(batch),
                                                      latents.codes)
                        latents.codes.grad = grad
                        step_codes(batch)
                    for _ in range(config.outer_steps):
                        data = data_loss(batch, samples)
                        grads = torch.autograd.grad(data + base_penalty(model, config), base_params, allow_unused=True)
                        for p, g in zip(base_params, grads):
                            p.grad = g
                        clip(base_params)
                        opt_base.step()
                epoch_loss += data.detach() * (len(batch) / train.n_systems)  # one sync per epoch
            if scheduler is not None:
                scheduler.step()
            history.append(float(epoch_loss))
            check_finite_loss(history[-1], epoch, history[:-1], "meta-training", "epoch")
            if epoch % 20 == 0 or epoch == config.epochs - 1:
                bar.set_postfix(loss=f"{history[-1]:.2e}", refresh=False)
            if checkpoint is not None and checkpoint_due(epoch, checkpoint_every, config.epochs):
                checkpoint(state(epoch + 1))
    finally:
        losses.restore()
    return latents, history


def adapt(model: nn.Module, support: Samples, z_init: Tensor, config: AutoDecodeConfig = AutoDecodeConfig(),
          progress: bool = False) -> tuple[Tensor, list[float]]:
    """Fit the codes of new systems on their support data with the shared parameters frozen.

    Args:
        model: the meta-trained model.
        support: x, xdot: (K, N, n), the support samples of K new systems.
        z_init: (d_z,) or (K, d_z): where the codes start (z_avg, or zeros).
        config: ``adapt_steps`` steps of ``adapt_optimiser`` (Adam or SGD) at ``lr_adapt`` on the loss plus
            λ_z‖z‖².

    Returns:
        The codes z: (K, d_z) and the mean loss after each step.

    See chapter 07 (book/07_auto_decoding.md).
    """

    param = next(model.parameters())
    z = z_init.to(param).expand(support.n_systems, -1).clone().requires_grad_(True)
    optimiser = OPTIMISERS[config.adapt_optimiser]([z], lr=config.lr_adapt)
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    history: list[float] = []
    try:
        for step in tqdm(range(config.adapt_steps), desc="adapting", disable=not progress):
            data = system_losses(model, support, z)
            total = data.sum() + config.lambda_z * z.pow(2).sum()
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            optimiser.step()
            history.append(data.mean().item())
            check_finite_loss(history[-1], step, history[:-1], "adaptation")
    finally:
        for p, flag in zip(model.parameters(), frozen):
            p.requires_grad_(flag)
    return z.detach(), history
