"""The reduced benchmark each family chapter runs live: a modulated model against Scratch, same support, same
budget, at the current scale (:mod:`spmeta.config`).

    run = live_run("pendulum")                 # meta-train, adapt from one trajectory, score
    fig = plot_adapted_portraits(run, k=0)     # truth and adapted fields, with query rollouts
    t, X = long_rollouts(run, factor=10)       # rollouts ten times the data horizon, per method

See chapters 08–12.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .. import integrators, plotting
from ..config import get_scale
from ..data import Dataset, make_dataset
from ..learner import Adapted, MetaLearner
from ..systems import HamiltonianFamily, get_family
from .grid import method_settings

__all__ = ["LiveRun", "live_run", "plot_adapted_portraits", "long_rollouts"]


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


def live_run(family: str, modulation: str = "svd", seed: int = 0, progress: bool = True) -> LiveRun:
    """Meta-train ``modulation`` on the family's training systems at the current scale, adapt it and Scratch
    to the test systems from one support trajectory, and score both (``MetaLearner.evaluate``)."""
    scale = get_scale()
    data = make_dataset(get_family(family), n_train=scale.n_train, n_test=scale.n_test, n_traj=scale.n_traj,
                        seed=seed)
    support = data.test.support(shots=1)
    learners = {modulation: MetaLearner(**method_settings(modulation, family), seed=seed),
                "scratch": MetaLearner(**method_settings("scratch", family), seed=seed)}
    history = learners[modulation].fit(data.train, epochs=scale.epochs, progress=progress)
    learners["scratch"].fit(data.train)
    adapted = {name: learner.adapt(support, steps=scale.adapt_steps) for name, learner in learners.items()}
    scores = {name: learners[name].evaluate(data.test, a) for name, a in adapted.items()}
    return LiveRun(data, learners, adapted, scores, history)


def plot_adapted_portraits(run: LiveRun, k: int = 0, n_traj: int = 3):
    """One panel per field, truth first, for test system k of a 2-D Hamiltonian family: the true level sets,
    the field as streamlines, and ``n_traj`` query trajectories (truth black, rollouts coloured)."""
    import matplotlib.pyplot as plt

    family, data = run.family, run.data
    if not isinstance(family, HamiltonianFamily) or family.state_dim != 2:
        raise ValueError("adapted portraits are drawn for 2-D Hamiltonian families")
    query, mu = data.test.query(shots=1), data.test.mu[k]
    lim = 1.2 * data.train.X.abs().amax(dim=(0, 1, 2))
    xlim, ylim = (-lim[0].item(), lim[0].item()), (-lim[1].item(), lim[1].item())
    panels = [("truth", lambda x: family.vector_field(x, mu))]
    panels += [(name, a.system_field(k)) for name, a in run.adapted.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3), sharex=True, sharey=True)
    for ax, (name, vector_field) in zip(axes, panels):
        plotting.phase_portrait(ax, lambda x: family.energy(x, mu), xlim, ylim, field=vector_field)
        if name != "truth":
            with torch.no_grad():
                X_hat = integrators.rollout(run.adapted[name].field, query.X[:, :n_traj, 0], query.t, substeps=10)
            plotting.plot_trajectories(ax, X_hat[k], name)
        plotting.plot_trajectories(ax, query.X[k, :n_traj], "truth", linewidth=0.8)
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
