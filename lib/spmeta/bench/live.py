"""The reduced benchmark each family chapter runs live: a modulated model against Scratch, same support, same
budget, at the current scale (:mod:`spmeta.config`).

    fig = plot_family_data(get_family("pendulum"))  # the box corners: portraits (and entropy, GENERIC)
    run = live_run("pendulum")                 # meta-train, adapt from one trajectory, score
    fig = plot_adapted_portraits(run, k=0)     # truth and adapted fields, with query rollouts
    fig, drift = plot_energy_drift(run)        # Hamiltonian families: the true energy on long rollouts
    fig = plot_generic_laws(run)               # GENERIC families: energy and entropy along the rollouts

See chapters 08–12.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .. import integrators, plotting
from ..config import get_scale
from ..data import Dataset, make_dataset
from ..learner import Adapted, MetaLearner
from ..metrics import energy_drift, generic_rates
from ..systems import get_family
from .grid import method_settings

__all__ = ["LiveRun", "live_run", "box_corners", "plot_family_data", "plot_adapted_portraits", "long_rollouts",
           "plot_energy_drift", "plot_generic_laws"]


@dataclass
class LiveRun:
    """What :func:`live_run` produced: the data, the learners, their adapted models, scores and the
    modulated model's meta-training loss history."""

    data: Dataset
    learners: dict[str, MetaLearner]
    adapted: dict[str, Adapted]
    scores: dict[str, dict]
    history: list[float] = field(default_factory=list)

    @property
    def family(self):
        return self.data.family


def live_run(family: str, modulation: str = "svd", seed: int = 0, epochs: int | None = None,
             progress: bool = True) -> LiveRun:
    """Meta-train ``modulation`` on the family's training systems at the current scale (for ``epochs``, default
    the scale's), adapt it and Scratch to the test systems from one support trajectory, and score both
    (``MetaLearner.evaluate``)."""
    scale = get_scale()
    data = make_dataset(get_family(family), n_train=scale.n_train, n_test=scale.n_test, n_traj=scale.n_traj,
                        seed=seed)
    support = data.test.support(shots=1)
    learners = {modulation: MetaLearner(**method_settings(modulation, family), seed=seed),
                "scratch": MetaLearner(**method_settings("scratch", family), seed=seed)}
    history = learners[modulation].fit(data.train, epochs=epochs or scale.epochs, progress=progress)
    learners["scratch"].fit(data.train)
    adapted = {name: learner.adapt(support, steps=scale.adapt_steps) for name, learner in learners.items()}
    scores = {name: learners[name].evaluate(data.test, a) for name, a in adapted.items()}
    return LiveRun(data, learners, adapted, scores, history)


def box_corners(family) -> torch.Tensor:
    """The 2^n_μ corners of the family's parameter box, (2^n_μ, n_μ) float64."""
    ranges = torch.tensor([family.param_ranges[name] for name in family.param_names], dtype=torch.float64)
    return torch.cartesian_prod(*ranges).reshape(-1, family.n_params)


def _limits(X: torch.Tensor, margin: float = 0.15) -> tuple[tuple[float, float], tuple[float, float]]:
    """(q, p) limits around states X: (..., n): symmetric about 0 for Hamiltonian data, else the data's range
    widened by ``margin`` (the gas containers' q must stay inside (0, 2))."""
    q, p = X[..., 0], X[..., 1]
    if X.shape[-1] == 2:
        lim = (1 + margin) * X.abs().reshape(-1, 2).amax(0)
        return (-lim[0].item(), lim[0].item()), (-lim[1].item(), lim[1].item())
    pad_q, pad_p = margin * (q.max() - q.min()) / 2, margin * (p.max() - p.min()) / 2
    return ((q.min() - pad_q).item(), (q.max() + pad_q).item()), ((p.min() - pad_p).item(), (p.max() + pad_p).item())


def _on_slice(fn, rest: torch.Tensor, vector: bool = False):
    """fn of full states (..., n), seen on the (q, p) plane with the other coordinates fixed at ``rest``."""
    def sliced(x2: torch.Tensor) -> torch.Tensor:
        out = fn(torch.cat([x2, rest.to(x2.dtype).expand(*x2.shape[:-1], -1)], -1))
        return out[..., :2] if vector else out
    return sliced


def plot_family_data(family, n_traj: int = 3, seed: int = 0):
    """The family at the corners of its parameter box, ``n_traj`` trajectories each.

    2-D Hamiltonian families: level sets of H, the field and the trajectories (one panel per corner).
    GENERIC families: the (q, p) projection of the trajectories over the level sets of E and the (q̇, ṗ) field
    on the slice through the mean initial state (top), and the entropy S(t) along the trajectories (bottom).
    """
    import matplotlib.pyplot as plt

    corners = box_corners(family)
    X = torch.stack([family.trajectories(mu, family.sample_initial_conditions(
        n_traj, mu, torch.Generator().manual_seed(seed))) for mu in corners])  # (P, B, T, n)
    if family.state_dim == 2:
        return plotting.phase_portraits(family, corners, X)
    xlim, ylim = _limits(X)
    rest = X[:, :, 0, 2:].reshape(-1, family.state_dim - 2).mean(0)
    fig, axes = plt.subplots(2, len(corners), figsize=(2.3 * len(corners), 4.4), squeeze=False)
    t = family.time_grid()
    for (top, bottom), mu, X_mu in zip(axes.T, corners, X):
        plotting.phase_portrait(top, _on_slice(lambda x: family.energy(x, mu), rest), xlim, ylim,
                                field=_on_slice(lambda x: family.vector_field(x, mu), rest, vector=True))
        plotting.plot_trajectories(top, X_mu[..., :2])
        top.set_title(", ".join(f"{k} = {v:.2f}" for k, v in zip(family.param_names, mu.tolist())))
        bottom.plot(t, family.entropy(X_mu, mu).T, color=plotting.METHOD_COLORS["truth"])
        bottom.set(xlabel="$t$", ylabel="$S$" if bottom is axes[1, 0] else "")
    return fig


def plot_adapted_portraits(run: LiveRun, k: int = 0, n_traj: int = 3):
    """One panel per field, truth first, for test system k: the true level sets, the field as streamlines, and
    ``n_traj`` query trajectories (truth black, rollouts coloured).

    States longer than 2 (GENERIC families) are drawn on the (q, p) plane: energy and the (q̇, ṗ) field on
    the slice through the mean initial state of system k's queries, trajectories projected.
    """
    import matplotlib.pyplot as plt

    family, data = run.family, run.data
    query, mu = data.test.query(shots=1), data.test.mu[k]
    xlim, ylim = _limits(data.train.X)
    rest = query.X[k, :, 0, 2:].mean(0)
    panels = [("truth", lambda x: family.vector_field(x, mu))]
    panels += [(name, a.system_field(k)) for name, a in run.adapted.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3), sharex=True, sharey=True)
    for ax, (name, vector_field) in zip(axes, panels):
        plotting.phase_portrait(ax, _on_slice(lambda x: family.energy(x, mu), rest), xlim, ylim,
                                field=_on_slice(vector_field, rest, vector=True))
        if name != "truth":
            with torch.no_grad():
                X_hat = integrators.rollout(run.adapted[name].field, query.X[:, :n_traj, 0], query.t, substeps=10)
            plotting.plot_trajectories(ax, X_hat[k, ..., :2], name)
        plotting.plot_trajectories(ax, query.X[k, :n_traj, :, :2], "truth", linewidth=0.8)
        ax.set_title(name)
    return fig


def long_rollouts(run: LiveRun, factor: int = 10) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Roll every adapted model out from the query initial states for ``factor`` × the data horizon (RK4,
    10 substeps). Returns the times (T,) and, per method, states (K, B, T, n)."""
    family, query = run.family, run.data.test.query(shots=1)
    t = torch.linspace(0, factor * family.t_span[1], factor * (family.n_steps - 1) + 1, dtype=torch.float64)
    rollouts = {}
    for name, adapted in run.adapted.items():
        with torch.no_grad():
            rollouts[name] = integrators.rollout(adapted.field, query.X[:, :, 0], t, substeps=10)
    return t, rollouts


def plot_energy_drift(run: LiveRun, factor: int = 10):
    """Hamiltonian families: the largest relative change of the *true* energy up to time t along every adapted
    model's rollouts (:func:`long_rollouts`). Returns the figure and, per method, the mean final drift."""
    import matplotlib.pyplot as plt

    t, rollouts = long_rollouts(run, factor)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    drift = {}
    for name, X in rollouts.items():
        error = energy_drift(run.family.energy(X, run.data.test.mu[:, None, None, :])).reshape(-1, len(t))
        drift[name] = error[:, -1].mean().item()
        plotting.plot_energy_error(ax, t, error, name)
    ax.legend()
    return fig, drift


def plot_generic_laws(run: LiveRun):
    """GENERIC families, along every adapted model's rollouts from the query initial states over the data
    horizon, all test systems: the true energy's change and the true entropy's growth against the truth's
    (top), and the learned model's own laws, |dE/dt| / (‖∇E‖ ‖ẋ‖) and dS/dt (bottom)."""
    import matplotlib.pyplot as plt

    family, mu = run.family, run.data.test.mu[:, None, None, :]
    t, rollouts = long_rollouts(run, factor=1)
    truth = run.data.test.query(shots=1).X
    fig, axes = plt.subplots(2, 2, figsize=(8, 5.6), sharex=True)
    for name, X in [("truth", truth), *rollouts.items()]:
        style = {**plotting.method_style(name), "marker": None}
        E, S = family.energy(X, mu), family.entropy(X, mu)
        dE = (E - E[..., :1]).abs().reshape(-1, len(t)).amax(0)
        axes[0, 0].plot(t[1:], dE[1:].clamp(min=1e-16), **style)
        dS = (S - S[..., :1]).reshape(-1, len(t)).mean(0)
        axes[0, 1].plot(t, dS, **style)
        adapted = run.adapted.get(name)
        if adapted is None or adapted.gradients is None:
            continue
        states = X.reshape(X.shape[0], -1, family.state_dim)
        with torch.no_grad():
            grad_e, grad_s = adapted.gradients(states)
            f = adapted.field(states)
        _, relative, dS_dt = generic_rates(grad_e, grad_s, f)
        axes[1, 0].plot(t, relative.reshape(-1, len(t)).amax(0).clamp(min=1e-18), **style)
        axes[1, 1].plot(t, dS_dt.reshape(-1, len(t)).amin(0), **style)
    axes[0, 0].set(yscale="log", title="true energy: max $|E(t) - E(0)|$")
    axes[0, 1].set(title="true entropy: mean $S(t) - S(0)$")
    axes[1, 0].set(yscale="log", xlabel="$t$", title="learned: max $|dE/dt|$ / ($\\|\\nabla E\\|\\,\\|\\dot x\\|$)")
    axes[1, 1].set(xlabel="$t$", title="learned: min $dS/dt$")
    axes[1, 1].axhline(0, color="black", linewidth=0.6)
    axes[0, 1].legend(fontsize=8)
    return fig
