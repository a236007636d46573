"""Time to accuracy: validation ε_traj against the CPU seconds of meta-training, recipe against recipe.

``python -m spmeta.bench perf --tta`` trains each (family, method) under every recipe asked for (by default the
v1 grid's and the current one, :mod:`~spmeta.bench.recipes`) and records, every ``1/points`` of the training,
the CPU seconds spent so far and the validation systems' mean ε_traj (adapted on one trajectory with the
method's default test-time optimiser, scored on the rest). Evaluation time is not counted.

The recipes of one (family, method) run *interleaved* in one process: each trains in its own thread, and a baton
lets exactly one of them compute at a time, passed on at every evaluation. Machine drift (another process, a
thermal limit) then hits every recipe alike. The CPU clock is the process's, so it counts torch's worker
threads too; only the baton holder computes, so each interval belongs to one recipe.

This is the measure MLPerf's time-to-train uses: what a user pays to reach a given quality, not the time per
epoch.

See chapter 14 (book/14_compute_cost.md).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from ..config import SCALES
from ..files import read_json
from ..learner import MetaLearner
from ..training import TrainingDiverged
from .grid import Run, make_grid_dataset
from .recipes import RECIPE, epochs, method_settings

__all__ = ["TTA_METHODS", "Curve", "validation_error", "time_to_accuracy", "interleaved_curves", "measure_tta",
           "load_sweeps"]

#: What ``perf --tta`` follows on every family: one modulation (``rank_one``: the HNN's on the Hamiltonian
#: families, the GENERIC net's on the others) and MAML.
TTA_METHODS = ("rank_one", "maml")


@dataclass
class Curve:
    """One training's validation error against its CPU seconds (evaluation excluded)."""

    family: str
    method: str
    recipe: str
    seed: int
    scale: str
    epochs: int
    cpu_s: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    eps_traj: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    status: str = "ok"
    extra: list[dict] = field(default_factory=list)  # per evaluation, what ``interleaved_curves(extra=...)`` adds

    def record(self, epoch: int, cpu_s: float, value: float, loss: float = math.nan) -> None:
        """One evaluation: the epoch, the CPU seconds so far, the validation ε_traj and the training loss
        (mean over the epochs since the previous evaluation)."""
        self.epoch.append(epoch)
        self.cpu_s.append(cpu_s)
        self.eps_traj.append(value)
        self.loss.append(loss)


def validation_error(learner: MetaLearner, val, shots: int = 1, unit: str = "trajectories") -> float:
    """Mean ε_traj of the validation systems ``val`` after the learner's default test-time adaptation on
    ``shots`` ``unit`` (inf if it diverges)."""
    try:
        value = learner.evaluate(val, learner.adapt(val.support(shots, unit)), trajectories_only=True)["eps_traj"]
    except TrainingDiverged:
        return math.inf
    return value if math.isfinite(value) else math.inf


def time_to_accuracy(curve: Curve | dict, target: float) -> float:
    """CPU seconds until the curve's validation ε_traj first reaches ``target`` (inf if it never does)."""
    cpu, errors = (curve.cpu_s, curve.eps_traj) if isinstance(curve, Curve) else (curve["cpu_s"], curve["eps_traj"])
    return next((c for c, e in zip(cpu, errors) if e <= target), math.inf)


def load_sweeps(paths) -> dict[tuple[str, str], dict]:
    """The lever sweeps written by ``scripts/tta_levers.py`` (JSON files), merged per (family, method):
    ``{"levers": {name: recipe fields}, "curves": [curve dicts], "seeds": [...]}``, in the order of ``paths``."""
    sweeps: dict[tuple[str, str], dict] = {}
    for path in paths:
        sweep = read_json(path)
        entry = sweeps.setdefault((sweep["family"], sweep["method"]), {"levers": {}, "curves": [], "seeds": []})
        entry["levers"].update(sweep["levers"])
        entry["curves"] += sweep["curves"]
        entry["seeds"] = sorted(set(entry["seeds"]) | {sweep["seed"]})
    return sweeps


class _Baton:
    """Lets one of n threads run at a time, in turn; the clock charges each interval to the holder."""

    def __init__(self, n: int):
        self.turn, self.done, self.cpu = 0, [False] * n, [0.0] * n
        self.condition = threading.Condition()
        self.since = time.process_time()

    def wait(self, i: int) -> None:
        with self.condition:
            self.condition.wait_for(lambda: self.turn == i)
            self.since = time.process_time()

    def pause(self, i: int) -> float:
        """Stop charging ``i``; returns its CPU seconds so far."""
        self.cpu[i] += time.process_time() - self.since
        return self.cpu[i]

    def pass_on(self, i: int, finished: bool = False) -> None:
        with self.condition:
            self.done[i] = finished or self.done[i]
            n = len(self.done)
            self.turn = next(((i + k) % n for k in range(1, n + 1) if not self.done[(i + k) % n]), -1)
            self.condition.notify_all()


def interleaved_curves(family: str, method: str, recipes=("v1", RECIPE), seed: int = 0, scale: str = "paper",
                       points: int = 20, threads: int = 1, extra=None) -> list[Curve]:
    """Train ``method`` on ``family`` under each recipe, interleaved (see the module's docstring); returns one
    :class:`Curve` per recipe, each with ``points`` evaluations (every ``epochs/points`` epochs, and the last).

    ``threads``: torch's intra-op threads (the same for every recipe). ``extra(learner, data)``, if given, is
    called at every evaluation (off the clock) and its dict appended to the curve's ``extra``, for example
    :func:`~spmeta.bench.diagnose.generic_geometry`."""
    import torch

    torch.set_num_threads(threads)
    data = make_grid_dataset(Run(family, method, seed, scale))
    size = SCALES[scale]
    baton = _Baton(len(recipes))
    curves, errors = [], []

    def train(i: int, curve: Curve, learner: MetaLearner) -> None:
        def probe(fitted: MetaLearner, epoch: int) -> None:
            cpu = baton.pause(i)
            since = fitted.history[curve.epoch[-1] if curve.epoch else 0:epoch]  # the losses since the last probe
            loss = sum(since) / len(since) if since else math.nan
            curve.record(epoch, cpu, validation_error(fitted, data.val), loss)
            if extra is not None:
                curve.extra.append(extra(fitted, data))
            baton.pass_on(i)
            baton.wait(i)

        baton.wait(i)
        try:
            learner.fit(data.train, progress=False, callback=probe, callback_every=max(1, curve.epochs // points))
            probe(learner, curve.epochs)
        except TrainingDiverged:
            curve.status = "failed"
        except BaseException as error:  # noqa: BLE001 (re-raised in the main thread)
            errors.append(error)
        finally:
            baton.pause(i)
            baton.pass_on(i, finished=True)

    workers = []
    for i, recipe in enumerate(recipes):
        n_epochs = epochs(method, family, size, recipe)
        curve = Curve(family, method, getattr(recipe, "name", recipe), seed, scale, n_epochs)
        learner = MetaLearner(**method_settings(method, family, recipe), seed=seed, epochs=n_epochs,
                              adapt_steps=size.adapt_steps)
        curves.append(curve)
        workers.append(threading.Thread(target=train, args=(i, curve, learner), daemon=True))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return curves


def measure_tta(families, methods=TTA_METHODS, recipes=("v1", RECIPE), seed: int = 0, scale: str = "paper",
                points: int = 20, progress: bool = True) -> dict:
    """Every (family, method)'s interleaved curves; the ``tta`` section of ``results/perf.json``."""
    from tqdm.auto import tqdm

    work = [(f, m) for f in families for m in methods]
    curves = []
    for family, method in tqdm(work, desc="time to accuracy", disable=not progress):
        curves += [vars(c) for c in interleaved_curves(family, method, recipes, seed, scale, points)]
    return {"recipes": list(recipes), "seed": seed, "scale": scale, "points": points, "curves": curves}
