"""``MetaLearner``: the one-object public API. Fit on training systems, adapt to new ones, evaluate.

    learner = spmeta.MetaLearner(model="hnn", modulation="rank_one", latent_dim=10)
    learner.fit(data.train, epochs=2000)
    adapted = learner.adapt(data.test.support(shots=1), steps=100)
    scores = learner.evaluate(data.test, adapted)

``modulation=`` selects auto-decoding with a modulated network; ``method=`` selects an optimisation-based
baseline (``maml``, ``fomaml``, ``anil``, ``reptile``, ``scratch``) on the same unmodulated base network.

See chapter 07 (book/07_auto_decoding.md).
"""
from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import integrators
from ._checks import check_choice, check_int, check_positive
from .data import Samples, Trajectories
from .files import CHECKPOINT_FORMAT, read_checkpoint, save_torch
from .meta import baselines
from .meta.autodecode import AutoDecodeConfig, LatentTable, adapt, meta_train
from .meta.budget import sample_gradients, updates_per_epoch
from .meta.starts import choose_start
from .metrics import (WORST_CASE, bounds, energy_drift, eps_field_per_system, field_points, generic_rates,
                      own_box_points, relative_error, ssim_available, ssim_field)
from .models import HNN, GenericNet
from .models.generic import CONSTRUCTIONS
from .nn.mlp import DEFAULT_ACTIVATION
from .nn.modulation import MODULATIONS, RANKED, check_rank
from .systems import BUILTIN_FAMILIES, GenericFamily, HamiltonianFamily, get_family
from .training import OPTIMISERS, checkpoint_due

Tensor = torch.Tensor

__all__ = ["MetaLearner", "Adapted", "MODELS", "METHODS", "GENERIC_DEFAULTS"]

#: Settings a GENERIC learner gets unless they are passed (tuned on training and validation systems; the
#: benchmark recipes, :mod:`spmeta.bench.recipes`, set their own explicitly):
#:
#: - ``inner_lr=3e-4`` for MAML and first-order MAML: the baselines' default 1e-2 makes MAML's meta-training
#:   diverge on the damped oscillator's training systems (epoch 22); of 3e-3, 1e-3, 3e-4 and 1e-4, 3e-4 is
#:   within 1.3× of the best validation ε_traj on both GENERIC families after 300 outer steps, while 3e-3 (the
#:   former default) is 3.4× the best on the gas containers, where MAML's loss did not fall at all
#:   (``scripts/tune_baselines.py``, ``results/tuning/*_maml*.json``);
#: - ``inner_lr=3e-3`` for ANIL and Reptile (not tuned further);
#: - ``batch_samples=250`` for auto-decoding: 250 samples of each system drawn afresh for each step (of 1000 per
#:   system on the damped oscillator, 810 on the gas containers) were as accurate as all of them at equal epochs
#:   on validation systems, and about 3× cheaper (``scripts/tune_autodecode.py``,
#:   ``results/tuning/*_batch_samples.json``).
GENERIC_DEFAULTS = {"autodecode": {"batch_samples": 250}, "maml": {"inner_lr": 3e-4}, "fomaml": {"inner_lr": 3e-4},
                    "anil": {"inner_lr": 3e-3}, "reptile": {"inner_lr": 3e-3}}


MODELS = ("hnn", "generic")
METHODS = ("autodecode",) + baselines.BASELINES


@dataclass
class Adapted:
    """The result of :meth:`MetaLearner.adapt` for K test systems: ``field(x)`` maps (K, N, n) -> (K, N, n).

    ``energy(x)`` gives each system's learned energy (H̃ of an HNN, E of a GENERIC net), (K, N, n) -> (K, N);
    for GENERIC models, ``gradients(x)`` gives the learned (∇E, ∇S), each (K, N, n).
    """

    field: Callable[[Tensor], Tensor]
    n_systems: int
    history: list[float] = field(default_factory=list)
    latents: Tensor | None = None  # auto-decoding: the adapted codes, (K, d_z)
    gradients: Callable[[Tensor], tuple[Tensor, Tensor]] | None = None
    energy: Callable[[Tensor], Tensor] | None = None
    support: tuple[int, str] | None = None  # (shots, unit) of the support it was fitted on, where known

    def system_field(self, k: int) -> Callable[[Tensor], Tensor]:
        """The field of test system k alone, for plots: x: (..., n) -> (..., n)."""
        if not 0 <= k < self.n_systems:
            raise ValueError(f"system index {k} out of range for {self.n_systems} adapted systems")

        def single(x: Tensor) -> Tensor:
            batch = x.reshape(1, -1, x.shape[-1]).expand(self.n_systems, -1, -1)
            return self.field(batch)[k].reshape(x.shape)
        return single


#: How :meth:`MetaLearner.evaluate` reduces per-system scores over the test systems (default: the mean).
REDUCERS = {name: torch.amax if worst == "max" else torch.amin for name, worst in WORST_CASE.items()}


def aggregate_scores(per_system: dict[str, list[float]]) -> dict[str, float]:
    """Reduce :meth:`MetaLearner.evaluate`'s per-system lists to one number each (:data:`REDUCERS`)."""
    return {name: REDUCERS.get(name, torch.mean)(torch.tensor(values, dtype=torch.float64)).item()
            for name, values in per_system.items()}


def _one_model_per_system(models: list[nn.Module], n_systems: int) -> Adapted:
    """An :class:`Adapted` whose system k is the unmodulated model ``models[k]``."""
    def gradients(x: Tensor) -> tuple[Tensor, Tensor]:
        pairs = [m.gradients(x[k]) for k, m in enumerate(models)]
        return torch.stack([e for e, _ in pairs]), torch.stack([s for _, s in pairs])
    generic = isinstance(models[0], GenericNet)
    return Adapted(field=lambda x: torch.stack([m(x[k]) for k, m in enumerate(models)]), n_systems=n_systems,
                   gradients=gradients if generic else None,
                   energy=lambda x: torch.stack([_energy(m)(x[k]) for k, m in enumerate(models)]))


def _energy(net: nn.Module) -> Callable:
    """The learned energy function of an HNN (H̃) or a GENERIC net (E): (x[, z]) -> (...)."""
    return net.energy if isinstance(net, GenericNet) else net.hamiltonian


class MetaLearner:
    """Learn a family of systems, then adapt to new members from a few samples.

    Args:
        model: ``"hnn"`` (Hamiltonian families) or ``"generic"`` (GENERIC families).
        modulation: a modulation name for auto-decoding (``shift``, ``film``, ``full_weight``, ``rank_one``,
            ``multi_rank``, ``svd``); leave it ``None`` with a baseline ``method``.
        method: ``"autodecode"`` (the default with a modulation) or a baseline: ``maml``, ``fomaml``, ``anil``,
            ``reptile``, ``scratch``.
        latent_dim, rank: d_z (default 10) and r (``multi_rank`` and ``svd`` only, default 5); auto-decoding
            only: a baseline has no code, and an error says so.
        width, depth, activation: the base network (the book's: 100, 3 hidden layers, GELU; ``activation=None``
            picks GELU for the HNN and the construction's activation for the GENERIC net's E and S).
        construction: how the GENERIC net assembles L and M (``"projection"``, the default, ``"gfinn"`` or
            ``"nms"``, see :class:`~spmeta.models.GenericNet`); only for ``model="generic"``. The GENERIC net's inputs are
            standardised with the training states (:meth:`~spmeta.models.GenericNet.standardise`).
        modulate_operators: auto-decoding on a GENERIC family only: condition the operator networks on the code
            too, not only E and S (see :class:`~spmeta.models.GenericNet`).
        modulate_entropy: auto-decoding on a GENERIC family only: ``False`` shares one unmodulated entropy S
            between all systems (see :class:`~spmeta.models.GenericNet`).
        dtype, device: of training (e.g. ``device="cuda"``).
        eval_dtype, eval_device: of adaptation and evaluation (default float64 on the CPU, so that scores do not
            depend on where training ran; ``eval_device="cuda"`` keeps a GPU run on the GPU).
        seed: fixes the initialisation.
        **config: fields of :class:`~spmeta.meta.AutoDecodeConfig` or :class:`~spmeta.meta.baselines.BaselineConfig`.

    See chapter 07 (book/07_auto_decoding.md).
    """

    def __init__(self, model: str = "hnn", modulation: str | None = None, method: str | None = None,
                 latent_dim: int | None = None, rank: int | None = None, width: int = 100, depth: int = 3,
                 activation=None, construction: str | None = None, modulate_operators: bool = False,
                 modulate_entropy: bool = True,
                 dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu", seed: int = 0, eval_dtype: torch.dtype = torch.float64,
                 eval_device: str | torch.device = "cpu", **config):
        check_choice(model, "model", MODELS)
        if method is None and modulation is None:
            raise ValueError(f"pass modulation= (one of {sorted(MODULATIONS)}) for auto-decoding, or method= "
                             f"(one of {[m for m in METHODS if m != 'autodecode']})")
        method = method or "autodecode"
        check_choice(method, "method", METHODS, " (or pass modulation=)")
        if method == "autodecode":
            check_choice(modulation, "modulation", sorted(MODULATIONS))
        if method != "autodecode" and modulation is not None:
            raise ValueError(f"method {method!r} uses the unmodulated base network: leave modulation=None")
        config_type = AutoDecodeConfig if method == "autodecode" else baselines.BaselineConfig
        fields = {f.name for f in dataclasses.fields(config_type)}
        unknown = set(config) - fields
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)} for {method}; valid ones are {sorted(fields)}")
        if method != "autodecode" and (latent_dim, rank) != (None, None):
            raise ValueError(f"method {method!r} has no latent code: leave latent_dim and rank unset")
        if method == "autodecode":
            latent_dim = check_int(10 if latent_dim is None else latent_dim, "latent_dim")
            rank = check_rank(modulation, rank)
            if rank is not None:
                check_int(rank, "rank")
        if model == "hnn" and construction is not None:
            raise ValueError("construction is a GENERIC network's setting: use it with model='generic'")
        construction = "projection" if model == "generic" and construction is None else construction
        self.model_name, self.modulation, self.method = model, modulation, method
        if model == "generic":
            config = GENERIC_DEFAULTS.get(method, {}) | config
        self.config = config_type(**config)
        if model == "generic":
            check_choice(construction, "construction", CONSTRUCTIONS)
        activation = activation or (DEFAULT_ACTIVATION if model == "hnn" else CONSTRUCTIONS[construction])
        self.net_kwargs = dict(width=width, depth=depth, activation=activation)
        if modulate_operators and (model != "generic" or method != "autodecode"):
            raise ValueError("modulate_operators=True is for auto-decoding a GENERIC family (model='generic' with "
                             "a modulation)")
        if not modulate_entropy and (model != "generic" or method != "autodecode"):
            raise ValueError("modulate_entropy=False is for auto-decoding a GENERIC family (model='generic' with "
                             "a modulation)")
        if model == "generic":
            self.net_kwargs["construction"] = construction
        if modulate_operators:
            self.net_kwargs["modulate_operators"] = True
        if not modulate_entropy:
            self.net_kwargs["modulate_entropy"] = False
        self.latent_dim, self.rank, self.dtype, self.seed = latent_dim, rank, dtype, seed
        self.device, self.eval_device, self.eval_dtype = torch.device(device), torch.device(eval_device), eval_dtype
        # the constructor's arguments, for save() and load()
        self.settings = dict(model=model, modulation=modulation, method=method, latent_dim=latent_dim, rank=rank,
                             width=width, depth=depth, activation=activation, construction=construction,
                             modulate_operators=modulate_operators, modulate_entropy=modulate_entropy,
                             dtype=str(dtype).removeprefix("torch."), seed=seed)
        self.net: nn.Module | None = None
        self.latents: LatentTable | None = None
        self.family = None
        self.history: list[float] = []
        #: the meta-training's cost: ``sample_gradients`` (per-sample gradient evaluations, protocol v2's budget
        #: unit, :mod:`~spmeta.meta.budget`), ``outer_updates``, ``resumed_at_epoch`` (0 unless fit() resumed
        #: from a periodic training state), and with several starts ``starts`` (per start: its seed, its trial's
        #: loss, whether it was chosen; :mod:`~spmeta.meta.starts`); set by fit(). Both counts include the
        #: starts that were not chosen.
        self.budget: dict = {}
        self._train_bounds: Tensor | None = None  # (2, n): the exact training states' box, ε_field_family's extent
        self._standardisation: tuple[Tensor, Tensor] | None = None  # GENERIC inputs: shift, scale (n,) each

    def __repr__(self) -> str:
        what = self.modulation if self.method == "autodecode" else self.method
        return f"MetaLearner(model={self.model_name!r}, {what}, fitted={self.net is not None})"

    # -- model ---------------------------------------------------------------------------------------
    def build_network(self, family, modulated: bool | None = None, seed: int | None = None) -> nn.Module:
        """A freshly initialised network for ``family`` with this learner's settings (seeded by ``seed``, by
        default the learner's; torch's global random state is left as it was): the modulated network, with its hypernetwork, if ``modulated``
        (default: for auto-decoding), else the plain one (what the baselines train)."""
        if modulated is None:
            modulated = self.method == "autodecode"
        mod = dict(modulation=self.modulation, latent_dim=self.latent_dim) if modulated else {}
        if self.model_name == "hnn" and not isinstance(family, HamiltonianFamily):
            raise ValueError(f"model='hnn' needs a HamiltonianFamily; {family.name!r} is a "
                             f"{type(family).__name__}: use model='generic'")
        if self.model_name == "generic" and not isinstance(family, GenericFamily):
            raise ValueError(f"model='generic' needs a GenericFamily; {family.name!r} is a "
                             f"{type(family).__name__}: use model='hnn'")
        with torch.random.fork_rng(devices=[]):  # a local stream: the global generator is restored on exit
            torch.manual_seed(self.seed if seed is None else seed)
            if self.model_name == "hnn":
                net = HNN(family.dof, rank=self.rank, **mod, **self.net_kwargs)
            else:
                net = GenericNet(family.state_dim, rank=self.rank, **mod, **self.net_kwargs)
        if self._standardisation is not None:  # the observed training states' (fit()), also for Scratch
            net.input_shift.copy_(self._standardisation[0])
            net.input_scale.copy_(self._standardisation[1])
        return net.to(self.dtype)

    def _samples(self, data: Trajectories | Samples, dtype: torch.dtype | None = None) -> Samples:
        """Samples in ``dtype`` (default: the training dtype), after checking the state length."""
        samples = data.samples() if isinstance(data, Trajectories) else data
        if self.family is not None and samples.x.shape[-1] != self.family.state_dim:
            raise ValueError(f"data have states of length {samples.x.shape[-1]}; the learner was fitted on "
                             f"{self.family.name!r} with states of length {self.family.state_dim}")
        dtype = dtype or self.dtype
        return Samples(samples.x.to(dtype), samples.xdot.to(dtype), samples.mu, samples.support)

    # -- the three verbs -------------------------------------------------------------------------------
    def fit(self, train: Trajectories, epochs: int | None = None, progress: bool = True,
            checkpoint: str | Path | None = None, checkpoint_every: int = 100,
            callback: Callable[["MetaLearner", int], None] | None = None, callback_every: int = 100) -> list[float]:
        """Meta-train on the training systems (``data.train``); returns the loss history (also ``self.history``).

        ``epochs`` overrides the configuration's. Scratch has nothing to meta-train and returns [].
        ``self.budget`` then holds the cost in per-sample gradient evaluations and outer updates.

        With ``checkpoint`` (a file path), the training state is written there every ``checkpoint_every`` epochs
        (atomically; weights, codes, optimiser and scheduler states, the random generator): a killed run called
        again with the same file resumes where the file left it, and its history continues the first one. The
        file is left in place; delete it once the run is saved (:meth:`save`).

        ``callback(learner, epoch)`` is called every ``callback_every`` epochs (not after the last one), with the
        learner as it stands: it can :meth:`adapt` and :meth:`evaluate` mid-training, for example to follow a
        validation error (``python -m spmeta.bench perf --tta``).
        """
        check_int(checkpoint_every, "checkpoint_every")
        check_int(callback_every, "callback_every")
        samples = self._prepare(train, epochs)
        config = self.config
        resume, save = None, None
        if checkpoint is not None:
            identity = {"settings": self.settings, "config": dataclasses.asdict(config), "family": train.family.name,
                        "data": [samples.n_systems, samples.n_samples, float(samples.x.double().sum())]}
            payload = self._resume_state(checkpoint, identity)
            resume = payload["state"] if payload is not None else None
            self.budget["resumed_at_epoch"] = resume["epoch"] if resume is not None else 0
            if payload is not None and payload.get("starts") is not None:  # the starts' trials, as first run
                self.budget["starts"] = payload["starts"]
            save = lambda state: save_torch({"format": CHECKPOINT_FORMAT, "kind": "training state",  # noqa: E731
                                              "identity": identity, "state": state,
                                              "starts": self.budget.get("starts")}, checkpoint)
        periodic = dict(resume=resume, **self._hook(save, checkpoint_every, callback, callback_every, config.epochs))
        if self.method == "autodecode":
            if resume is None and config.starts > 1:  # a resumed run had chosen its start already
                periodic["resume"], self.budget["starts"] = choose_start(
                    lambda seed: self.build_network(train.family, seed=seed).to(self.device), samples, config,
                    self.seed, progress)
            self.latents, history = meta_train(self.net, samples, config, seed=self.seed, progress=progress,
                                               **periodic)
        elif self.method == "scratch":
            history = []
        else:
            history = baselines.meta_train_baseline(self.method, self.net, samples, config, seed=self.seed,
                                                    progress=progress, **periodic)
        self.history = history
        return history

    def _prepare(self, train: Trajectories, epochs: int | None = None) -> Samples:
        """Everything fit() does before its training loop: a fresh network (standardised for GENERIC models,
        on ``device``), the configuration's ``epochs``, the budget; returns the training samples."""
        if not isinstance(train, Trajectories):
            raise ValueError("fit() takes the training trajectories, e.g. data.train from spmeta.make_dataset")
        self.family = train.family
        self._train_bounds = torch.stack(bounds(train.X.double()))
        self._standardisation = None
        if epochs is not None:
            check_int(epochs, "epochs (fit() with no training to do is a mistake)", 1)
            self.config = dataclasses.replace(self.config, epochs=epochs)
        self.net = self.build_network(train.family)
        if isinstance(self.net, GenericNet):  # standardised by what a model may see (noisy states, if any)
            self.net.standardise(train.X if train.observed is None else train.observed)
            self._standardisation = (self.net.input_shift.clone(), self.net.input_scale.clone())
        self.net = self.net.to(self.device)
        samples = self._samples(train)
        kind = "autodecode" if self.method == "autodecode" else self.method
        epochs = self.config.epochs
        if kind == "autodecode":  # and the trials of the starts not chosen
            epochs += (self.config.starts - 1) * self.config.trial_epochs()
        self.budget = {"sample_gradients": sample_gradients(kind, self.config, samples.n_systems, samples.n_samples),
                       "outer_updates": 0 if kind == "scratch" else epochs * updates_per_epoch(self.config,
                                                                                              samples.n_systems)}
        return samples

    def _hook(self, save, save_every: int, callback, callback_every: int, epochs: int) -> dict:
        """The training loops' ``checkpoint``/``checkpoint_every`` arguments that save the periodic state and
        call ``callback`` each at their own interval."""
        if callback is None:
            return {"checkpoint": save, "checkpoint_every": save_every}

        def hook(state: dict) -> None:
            epoch = state["epoch"]
            if save is not None and checkpoint_due(epoch - 1, save_every, epochs):
                save(state)
            if checkpoint_due(epoch - 1, callback_every, epochs):
                self.history = state["history"]  # the losses so far (fit() sets them all at the end)
                if self.method == "autodecode":  # the codes as they stand
                    self.latents = LatentTable(*state["latents"]["codes"].shape).to(state["latents"]["codes"])
                    self.latents.load_state_dict(state["latents"])
                callback(self, epoch)

        every = math.gcd(save_every, callback_every) if save is not None else callback_every
        return {"checkpoint": hook, "checkpoint_every": every}

    @staticmethod
    def _resume_state(path: str | Path, identity: dict) -> dict | None:
        """The periodic checkpoint ``path`` ({"identity", "state", "starts"}), None if there is none; refuses
        another run's."""
        if not Path(path).exists():
            return None
        payload = read_checkpoint(path, "training state")
        if payload["identity"] != identity:
            raise ValueError(f"{path} holds the training state of another run (other settings, configuration or "
                             "data): delete it, or pass another checkpoint path")
        return payload

    # -- saving and loading ------------------------------------------------------------------------------
    def save(self, path: str | Path, dtype: torch.dtype = torch.float32) -> None:
        """Save what meta-training learned, with what rebuilds the learner, to ``path`` (atomically).

        The file holds the constructor's settings and configuration, the family's name, the network's weights
        (base, hypernetwork, shared bases, or the meta-learned initialisation) and the training codes, in
        ``dtype``, and the training states' box (float64), the cost and the loss history. It loads with
        ``torch.load(path, weights_only=True)``; :meth:`load` rebuilds the learner. Adapted test codes and
        models are not saved: adaptation is cheap and deterministic.
        """
        if self.net is None:
            raise ValueError("call fit() before save()")
        if not isinstance(self.net_kwargs["activation"], str):
            raise ValueError("a learner with a callable activation cannot be saved: pass its name "
                             f"(one of the library's activations) instead")
        cast = lambda t: t.detach().cpu().to(dtype) if t.is_floating_point() else t.detach().cpu()  # noqa: E731
        save_torch({
            "format": CHECKPOINT_FORMAT, "kind": "learner",
            "settings": {**self.settings, "activation": self.net_kwargs["activation"]},
            "config": dataclasses.asdict(self.config),
            "family": {"name": self.family.name, "state_dim": self.family.state_dim},
            "state": {name: cast(t) for name, t in self.net.state_dict().items()},
            "latents": None if self.latents is None else cast(self.latents.codes),
            "standardisation": None if self._standardisation is None else [t.cpu() for t in self._standardisation],
            "train_bounds": self._train_bounds.cpu(), "budget": self.budget, "history": list(self.history),
        }, path)

    @classmethod
    def load(cls, path: str | Path, family=None) -> "MetaLearner":
        """A learner from a file of :meth:`save`, on the CPU, ready to ``adapt`` and ``evaluate``.

        ``family``: the family it was trained on; None looks its name up among the built-in families."""
        payload = read_checkpoint(path, "learner")
        settings = dict(payload["settings"])
        settings["dtype"] = getattr(torch, settings["dtype"])
        # files written before unset settings were stored as None recorded d_z = 10, r = 5 and the projection
        # construction for every learner: keep only what applies
        if settings["method"] != "autodecode":
            settings["latent_dim"] = settings["rank"] = None
        elif settings["modulation"] not in RANKED:
            settings["rank"] = None
        if settings["model"] == "hnn":
            settings["construction"] = None
        learner = cls(**settings, **payload["config"])
        stored = payload["family"]
        if family is None:
            if stored["name"] not in BUILTIN_FAMILIES:
                raise ValueError(f"{path} was trained on the family {stored['name']!r}, which is not built in: pass "
                                 "it, MetaLearner.load(path, family=...)")
            family = get_family(stored["name"])
        if family.state_dim != stored["state_dim"]:
            raise ValueError(f"{path} was trained on {stored['name']!r} with states of length {stored['state_dim']}; "
                             f"{family.name!r} has {family.state_dim}")
        learner.family, learner._train_bounds = family, payload["train_bounds"]
        learner._standardisation = payload["standardisation"] and tuple(payload["standardisation"])
        learner.net = learner.build_network(family)
        learner.net.load_state_dict(payload["state"])
        if payload["latents"] is not None:
            learner.latents = LatentTable(*payload["latents"].shape)
            learner.latents.codes.data = payload["latents"].to(learner.dtype)
        learner.budget, learner.history = dict(payload["budget"]), list(payload["history"])
        return learner

    def adapt(self, support: Samples, steps: int | None = None, init: str | None = None,
              lr: float | None = None, optimiser: str | None = None) -> Adapted:
        """Adapt to new systems from their support samples (``data.test.support(shots)``).

        Auto-decoding fits only the latent codes, from z_avg (``init="mean"``) or zero (``init="zero"``);
        the baselines train their parameters (ANIL: the last layer; Scratch: a fresh network). ``optimiser``
        (``"adam"`` or ``"sgd"``) and ``lr`` override the configuration's test-time choice (auto-decoding:
        ``adapt_optimiser``, ``lr_adapt``; baselines: :meth:`~spmeta.meta.baselines.BaselineConfig.test_time`).
        The result remembers which support it was fitted on (``Adapted.support``).
        """
        if self.net is None:
            raise ValueError("call fit() before adapt()")
        if not isinstance(support, Samples):
            raise ValueError(f"adapt() takes support samples, e.g. data.test.support(shots=1); got a "
                             f"{type(support).__name__} (whole trajectories would adapt on the query itself)")
        support = self._on_eval_device(self._samples(support, self.eval_dtype))
        adapted = self._adapt(support, steps, init, lr, optimiser)
        adapted.support = support.support
        return adapted

    def _on_eval_device(self, samples: Samples) -> Samples:
        move = lambda t: t.to(self.eval_device, self.eval_dtype)  # noqa: E731
        return Samples(move(samples.x), move(samples.xdot), samples.mu, samples.support)

    def _adapt(self, support: Samples, steps: int | None, init: str | None, lr: float | None,
               optimiser: str | None) -> Adapted:
        steps = steps if steps is not None else self.config.adapt_steps
        net64 = copy.deepcopy(self.net).to(self.eval_device, self.eval_dtype)  # float64 unless eval_dtype says
        if self.method == "autodecode":
            changes = {"adapt_steps": steps, "init": init, "lr_adapt": lr, "adapt_optimiser": optimiser}
            config = dataclasses.replace(self.config, **{k: v for k, v in changes.items() if v is not None})
            z0 = self.latents.mean() if config.init == "mean" else torch.zeros(self.latent_dim)
            z0 = z0.to(self.eval_device, self.eval_dtype)
            z, history = adapt(net64, support, z0, config)
            gradients = (lambda x: net64.gradients(x, z)) if isinstance(net64, GenericNet) else None
            return Adapted(field=lambda x: net64(x, z), n_systems=support.n_systems, history=history, latents=z,
                           gradients=gradients, energy=lambda x: _energy(net64)(x, z))
        default_optimiser, default_lr = self.config.test_time(self.method)
        optimiser = default_optimiser if optimiser is None else check_choice(optimiser, "optimiser", sorted(OPTIMISERS))
        lr = default_lr if lr is None else check_positive(lr, "lr")
        if self.method == "scratch":
            fresh = lambda: self.build_network(self.family, modulated=False).to(self.eval_device,  # noqa: E731
                                                                                 self.eval_dtype)
            models = baselines.scratch(fresh, support, steps, lr, optimiser=optimiser)
        else:
            names = baselines.head_names(net64) if self.method == "anil" else None
            models = [baselines.fine_tune(copy.deepcopy(net64), support.x[k], support.xdot[k], steps, lr, optimiser,
                                          names) for k in range(support.n_systems)]
        return _one_model_per_system(models, support.n_systems)

    def evaluate(self, test: Trajectories, adapted: Adapted, shots: int | None = None, unit: str | None = None,
                 substeps: int = 10, per_system: bool = False, trajectories_only: bool = False) -> dict:
        """Score adapted models on the test systems' query trajectories and on the field points.

        The query is what the support ``(shots, unit)`` leaves: by default the support ``adapted`` was fitted on
        (one trajectory if that is not known); a different one raises, since its query would overlap the
        support.

        Returns a dict of protocol v2's metrics, averaged over the test systems: ``eps_traj``, ``eps_field`` (on
        each test system's own box, :func:`~spmeta.metrics.own_box_points`), ``eps_field_family`` (v1's
        ε_field, on one grid spanning all training states: an extrapolation diagnostic, not the headline) and,
        for 2-D states, ``ssim`` (on the own grid); plus structure checks:

        - for HNNs, ``energy_drift``: the largest change of the *true* energy along the rollouts, relative to
          |E(0)|. It is not reported for GENERIC models: their energy can be near 0 (the damped oscillator's
          changes sign over its box), and they are judged by their own laws below instead.
        - for HNNs, ``learned_energy_drift``: the largest change of the learned H̃ along the learned rollout,
          relative to H̃'s range on the system's own field points;
        - for GENERIC models, their own laws along their rollouts: ``max_abs_dE_dt`` = max |∇E·ẋ|,
          ``max_rel_dE_dt`` = max |∇E·ẋ| / (‖∇E‖ ‖ẋ‖) and ``min_dS_dt`` = min ∇S·ẋ.

        With ``per_system=True`` every entry is instead a list with one value per test system
        (:func:`aggregate_scores` reduces them). ``trajectories_only=True`` computes ``eps_traj`` alone (what a
        choice on validation systems needs).
        """
        if self.family is None:
            raise ValueError("call fit() before evaluate()")
        query = self._query(test, adapted, shots, unit)
        move = lambda t: t.to(self.eval_device, self.eval_dtype)  # noqa: E731
        X_true, mu = move(query.X), move(test.mu)
        with torch.no_grad():
            X_pred = integrators.rollout(adapted.field, X_true[:, :, 0], query.t, substeps=substeps)  # (K, B, T, n)
        scores = {"eps_traj": relative_error(X_pred, X_true, dims=(-2, -1)).mean(-1)}  # (K,) each
        if not trajectories_only:
            own = move(torch.stack([own_box_points(X) for X in test.X]))  # (K, 20, 20, 2), or (K, 2000, n)
            scores |= self._field_scores(test.family, mu, adapted, own)
            scores |= self._structure_scores(test.family, mu, adapted, X_pred, own)
        return self._report(scores, per_system)

    @staticmethod
    def _query(test: Trajectories, adapted: Adapted, shots: int | None, unit: str | None) -> Trajectories:
        """The query trajectories that the support ``(shots, unit)`` leaves; by default the support ``adapted``
        was fitted on, and an error for another one."""
        if adapted.n_systems != test.n_systems:
            raise ValueError(f"{adapted.n_systems} adapted systems for {test.n_systems} test systems")
        fitted_on = adapted.support or (1, "trajectories")
        asked = (shots if shots is not None else fitted_on[0], unit or fitted_on[1])
        if adapted.support and asked != adapted.support:
            raise ValueError(f"the models were adapted on a support of {adapted.support[0]} {adapted.support[1]}; "
                             f"evaluating the query of {asked[0]} {asked[1]} would score other trajectories or "
                             "the support itself")
        return test.query(*asked)

    def _field_scores(self, family, mu: Tensor, adapted: Adapted, own: Tensor) -> dict[str, Tensor]:
        """ε_field on each system's own points ``own`` (K, ..., n), ε_field_family on the training states' grid,
        and, for 2-D states, SSIM on the own grid; (K,) each."""
        K = mu.shape[0]
        true_field = lambda x: family.vector_field(x, mu[:, None, :])  # noqa: E731
        own_flat = own.reshape(K, -1, family.state_dim)
        with torch.no_grad():
            scores = {"eps_field": relative_error(adapted.field(own_flat), true_field(own_flat), dims=(-2, -1))}
        grid = field_points(self._train_bounds, n=20).to(own)
        scores["eps_field_family"] = eps_field_per_system(adapted.field, true_field, grid, K)
        if family.state_dim == 2 and ssim_available():
            scores["ssim"] = ssim_field(adapted.field, true_field, own, K)
        elif family.state_dim == 2:
            warnings.warn("scikit-image is not installed: the scores leave out ssim", stacklevel=3)
        return scores

    def _structure_scores(self, family, mu: Tensor, adapted: Adapted, X_pred: Tensor,
                          own: Tensor) -> dict[str, Tensor]:
        """Along the rollouts X_pred (K, B, T, n): an HNN's drift of the true and of its learned energy, or a
        GENERIC model's own rates dE/dt and dS/dt; (K,) each (see :meth:`evaluate`)."""
        K, n = X_pred.shape[0], family.state_dim
        scores = {}
        if self.model_name == "hnn":  # a GENERIC energy can pass through 0: those models are judged by their laws
            energy = family.energy(X_pred, mu[:, None, None, :])
            scores["energy_drift"] = energy_drift(energy).reshape(K, -1).amax(-1)
            if adapted.energy is not None:  # the learned H̃ along the learned rollout
                with torch.no_grad():
                    H = adapted.energy(X_pred.reshape(K, -1, n)).reshape(X_pred.shape[:-1])
                    H_grid = adapted.energy(own.reshape(K, -1, n).to(X_pred.dtype))
                # (K,): H̃'s range on the own points
                spread = (H_grid.amax(-1) - H_grid.amin(-1)).clamp(min=torch.finfo(H_grid.dtype).tiny)
                scores["learned_energy_drift"] = (H - H[..., :1]).abs().reshape(K, -1).amax(-1) / spread
        if adapted.gradients is not None:
            states = X_pred.reshape(K, -1, n)
            with torch.no_grad():
                grad_e, grad_s = adapted.gradients(states)
                f = adapted.field(states)
            dE_dt, relative, dS_dt = generic_rates(grad_e, grad_s, f)
            scores["max_abs_dE_dt"], scores["max_rel_dE_dt"] = dE_dt.amax(-1), relative.amax(-1)
            scores["min_dS_dt"] = dS_dt.amin(-1)
        return scores

    @staticmethod
    def _report(scores: dict[str, Tensor], per_system: bool) -> dict:
        per_system_scores = {name: values.tolist() for name, values in scores.items()}
        return per_system_scores if per_system else aggregate_scores(per_system_scores)
