"""The meta-training budget in one unit for every method: per-sample gradient evaluations.

One *per-sample gradient evaluation* is a forward and backward pass through the network for one (x, ẋ)
sample, whatever parameters the backward pass is for, inner-loop steps included (protocol v2, "Fair
budgets"). Counting in this unit, rather than in "epochs", makes methods with different loops comparable:

- auto-decoding, per batch of B systems with S samples each: ``inner_steps`` code updates and ``outer_steps``
  updates of Θ, each on B·S samples (one backward for both with ``simultaneous=True``); with several starts
  (:mod:`~spmeta.meta.starts`), the trial epochs of the starts not chosen too;
- MAML, FOMAML, ANIL, per outer update of T tasks: ``inner_steps`` steps on the task's ``n_support`` samples,
  then one on its N − n_support query samples;
- Reptile, per outer update of T tasks: ``inner_steps`` steps on all N samples of the task;
- Scratch has no meta-training: 0.

The counts follow the training loops of :mod:`~spmeta.meta.autodecode` and :mod:`~spmeta.meta.baselines`
exactly (``tests/test_meta.py`` counts the samples the network sees and compares).

See chapter 05 (book/05_learning_families.md).
"""
from __future__ import annotations

import dataclasses

from .._checks import check_int
from .autodecode import AutoDecodeConfig
from .baselines import BASELINES, BaselineConfig

__all__ = ["updates_per_epoch", "sample_gradients", "epochs_for_budget"]


def updates_per_epoch(config: AutoDecodeConfig | BaselineConfig, n_systems: int) -> int:
    """Outer updates (of Θ, or of the meta-initialisation) in one epoch of ``config``'s loop.

    Auto-decoding: a pass over the systems in batches, ``outer_steps`` updates per batch (1 with
    ``simultaneous``). Baselines: an epoch is one outer update."""
    if isinstance(config, BaselineConfig):
        return 1
    batches = -(-n_systems // min(config.batch_systems or n_systems, n_systems))
    return batches * (1 if config.simultaneous else config.outer_steps)


def sample_gradients(method: str, config: AutoDecodeConfig | BaselineConfig, n_systems: int,
                     n_samples: int) -> int:
    """Per-sample gradient evaluations of a whole meta-training of ``method`` with ``config`` (its
    ``epochs``) on ``n_systems`` systems of ``n_samples`` samples each."""
    check_int(n_systems, "n_systems")
    check_int(n_samples, "n_samples")
    if method == "scratch":
        return 0
    if method == "autodecode":
        if not isinstance(config, AutoDecodeConfig):
            raise ValueError("auto-decoding needs an AutoDecodeConfig")
        steps = 1 if config.simultaneous else config.inner_steps + config.outer_steps
        epochs = config.epochs + (config.starts - 1) * config.trial_epochs()  # the chosen start's, and the others'
        return epochs * n_systems * config.samples_per_step(n_samples) * steps  # every system, each epoch
    if method not in BASELINES or not isinstance(config, BaselineConfig):
        raise ValueError(f"unknown method {method!r} (or config type {type(config).__name__}); valid methods are "
                         f"{['autodecode', *BASELINES]}")
    tasks = min(config.tasks_per_step, n_systems)
    if method == "reptile":
        per_task = config.inner_steps * n_samples
    else:
        per_task = config.inner_steps * config.n_support + (n_samples - config.n_support)
    return config.epochs * tasks * per_task


def epochs_for_budget(method: str, config: BaselineConfig, n_systems: int, n_samples: int, budget: int) -> int:
    """The number of epochs (outer updates) of baseline ``method`` whose :func:`sample_gradients` is closest to
    ``budget`` (at least 1)."""
    one = sample_gradients(method, dataclasses.replace(config, epochs=1), n_systems, n_samples)
    return max(1, round(budget / one))
