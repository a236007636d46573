"""Several starts: train a few initialisations briefly, and go on with the one whose loss is lowest.

On the GENERIC families, whether auto-decoding converges is settled early: in the r3 grid files of the damped
oscillator, the runs that stalled had a loss of 4e-3 to 2e-2 after the first 5 % of their epochs, the
converging ones mostly below 1e-3 (chapter 11, "Why some seeds stall"). With ``AutoDecodeConfig(starts=k)``,
meta-training first trains k initialisations for ``trial_epochs()`` epochs each (start i seeded by
``seed + START_SEED_STRIDE · i``, so that start 0 is the single-start run), keeps the one with the lowest mean
loss over the last tenth of its trial, and continues it, schedule and all, to ``epochs``. The other starts'
trials count in the budget (:func:`~spmeta.meta.budget.sample_gradients`).
"""
from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from .._progress import tqdm
from ..data import Samples
from ..training import TrainingDiverged
from .autodecode import AutoDecodeConfig, meta_train

__all__ = ["START_SEED_STRIDE", "choose_start"]

#: Start i of a run seeded s is seeded s + START_SEED_STRIDE · i.
START_SEED_STRIDE = 1000


class _TrialOver(Exception):
    """Raised from the training loop's periodic hook at the end of a start's trial."""


def choose_start(build: Callable[[int], nn.Module], train: Samples, config: AutoDecodeConfig,
                 seed: int = 0, progress: bool = False) -> tuple[dict, list[dict]]:
    """Train ``config.starts`` initialisations for ``config.trial_epochs()`` epochs each; return the chosen
    one's training state (what :func:`~spmeta.meta.autodecode.meta_train` takes as ``resume`` to train it on)
    and, per start, ``{"seed", "trial_loss", "chosen"}``.

    ``build(seed)``: a freshly initialised modulated network; ``train``: x, xdot: (K, N, n). A start whose trial
    diverges scores inf; if every one does, the error is raised."""
    if config.starts < 2:
        raise ValueError(f"choose_start needs config.starts >= 2; got {config.starts}")
    trial = config.trial_epochs()
    window = max(1, trial // 10)
    states, starts, error = [], [], None
    for i in tqdm(range(config.starts), desc="starts", disable=not progress):
        start_seed = seed + START_SEED_STRIDE * i
        captured: dict = {}

        def capture(state: dict) -> None:
            captured.update(state)
            raise _TrialOver

        try:
            meta_train(build(start_seed), train, config, seed=start_seed, progress=False, checkpoint=capture,
                       checkpoint_every=trial)
        except _TrialOver:
            pass
        except TrainingDiverged as diverged:
            error = diverged
        losses = captured.get("history", [])[-window:]
        starts.append({"seed": start_seed, "trial_loss": sum(losses) / len(losses) if losses else math.inf})
        states.append(captured)
    best = min(range(len(starts)), key=lambda i: starts[i]["trial_loss"])
    if not math.isfinite(starts[best]["trial_loss"]):
        raise error
    for i, start in enumerate(starts):
        start["chosen"] = i == best
    return states[best], starts
