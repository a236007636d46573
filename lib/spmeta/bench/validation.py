"""Choices made on validation systems (protocol v2): each method's test-time optimiser and learning rate.

Every method adapts for the same number of steps on the same support. Which optimiser (SGD or Adam) and which
learning rate it adapts with is chosen per run, after meta-training, on *validation* systems: extra systems of
the training box with their own random streams (``make_dataset(..., n_val=...)``), adapted from the same kind
of support and scored on their query trajectories. The test systems are never looked at for this.

See chapter 05 (book/05_learning_families.md).
"""
from __future__ import annotations

import math

from ..data import Trajectories
from ..learner import MetaLearner
from ..training import TrainingDiverged

__all__ = ["ADAPTATION_CANDIDATES", "choose_adaptation"]

#: The (optimiser, learning rate) pairs tried for every method's test-time adaptation.
ADAPTATION_CANDIDATES = tuple((optimiser, lr) for optimiser in ("adam", "sgd") for lr in (1e-3, 1e-2, 1e-1))


def choose_adaptation(learner: MetaLearner, val: Trajectories, shots: int = 1, unit: str = "trajectories",
                      steps: int | None = None, candidates=ADAPTATION_CANDIDATES) -> dict:
    """The test-time (optimiser, lr) with the lowest mean ε_traj on the validation systems ``val``.

    Each candidate adapts the fitted ``learner`` for ``steps`` steps (default: its configuration's) on the
    validation systems' support of ``shots`` ``unit``, and is scored on their query. A candidate whose adaptation
    or rollout diverges scores inf; ties go to the earlier candidate.

    Returns ``{"optimiser", "lr", "validation_eps_traj": {"adam@0.01": ε, ...}}``.
    """
    if val.n_systems == 0:
        raise ValueError("choose_adaptation needs validation systems: make_dataset(..., n_val=k) with k >= 1")
    support = val.support(shots, unit)
    scores = {}
    for optimiser, lr in candidates:
        try:
            adapted = learner.adapt(support, steps=steps, optimiser=optimiser, lr=lr)
            value = learner.evaluate(val, adapted, trajectories_only=True)["eps_traj"]
        except TrainingDiverged:
            value = math.inf
        scores[optimiser, lr] = value if math.isfinite(value) else math.inf
    optimiser, lr = min(scores, key=scores.get)  # the first of equal scores
    return {"optimiser": optimiser, "lr": lr, "validation_eps_traj": {f"{o}@{r:g}": v for (o, r), v in scores.items()}}
