"""The benchmark grid: families × methods × seeds, one resumable JSON file per run.

A run is identified by its family, method, seed and an optional *variant* (a shots-sweep point, the OOD box,
another latent dimension). It writes ``<out>/<family>/<method>/seed<k>.json`` (variants:
``<out>/<family>/<method>/<variant>/seed<k>.json``) atomically: a temporary file, then a rename, so a run killed
half-way leaves nothing behind and a finished file is never half-written. A rerun skips finished files.

Every file records its protocol version (:data:`PROTOCOL`) and training recipe (:data:`RECIPE`), the
configuration, the meta-training budget (per-sample gradient evaluations, outer updates, CPU seconds), the
test-time adaptation chosen on validation systems, the command, the git commit, the seed, the wall and CPU
times, the library versions, the metrics (averaged and per test system) and a downsampled loss curve. A
diverged run is recorded as ``"status": "failed"`` with its reason, never as a number.

Beside the JSON, ``seed<k>.pt`` holds what meta-training learned (:meth:`~spmeta.MetaLearner.save`), so that
``python -m spmeta.bench rescore`` can recompute every metric without training; while a run trains,
``seed<k>.resume.pt`` holds its periodic training state, and a killed run resumes from it.

See chapter 13 (book/13_results.md).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .._checks import check_choice, check_int
from ..config import SCALES, Scale
from ..data import make_dataset, support_trajectories
from ..files import read_json, write_json
from ..learner import MetaLearner, aggregate_scores
from ..meta.baselines import BASELINES
from ..nn.modulation import MODULATIONS
from ..systems import BUILTIN_FAMILIES, get_family
from ..training import TrainingDiverged
from .recipes import RECIPE, RECIPES, check_recipe, epochs, grid_budget, method_settings, same_training

__all__ = ["Run", "METHODS", "GRID_METHODS", "FAMILIES", "PROTOCOL", "RECIPE", "method_settings", "grid_network",
           "grid_budget", "infeasible", "training_key", "run_group", "run_one", "run_grid", "result_path",
           "checkpoint_path", "make_grid_dataset", "same_run_elsewhere"]

#: The benchmark protocol the grid follows (``../shared/design/protocol.md``, ``book/protocol.md``): 2 scores
#: ε_field on each test system's own box, gives every method the same budget and chooses test-time adaptation
#: on validation systems. Result files without a ``protocol`` field are version 1.
PROTOCOL = 2
#: Method names of the grid: the modulations (auto-decoding) and the optimisation-based baselines.
METHODS = ("shift", "film", "full_weight", "rank_one", "multi_rank", "svd") + BASELINES
#: The main grid's ten methods: all but ``fomaml``, which is an option.
GRID_METHODS = tuple(m for m in METHODS if m != "fomaml")
FAMILIES = tuple(BUILTIN_FAMILIES)
MAX_CURVE_POINTS = 200
#: Scores a finished run must have finite; a run without them is recorded as a failure.
FINITE_SCORES = ("eps_traj", "eps_field")


@dataclass(frozen=True)
class Run:
    """One cell of the grid.

    Attributes:
        family, method, seed: what runs.
        scale: ``quick``, ``book`` or ``paper`` (sizes and epochs, :mod:`spmeta.config`).
        shots, unit: the test support: ``shots`` trajectories (default 1) or ``shots`` (x, ẋ) samples.
        ood: test systems from the family's out-of-distribution box.
        latent_dim: d_z of the modulation methods.
        noise: relative observation noise on the states.
    """

    family: str
    method: str
    seed: int
    scale: str = "paper"
    shots: int = 1
    unit: str = "trajectories"
    ood: bool = False
    latent_dim: int = 10
    noise: float = 0.0

    def __post_init__(self):
        check_choice(self.family, "family", FAMILIES)
        check_choice(self.method, "method", METHODS)
        check_choice(self.scale, "scale", sorted(SCALES))
        check_int(self.seed, "seed", 0)
        check_int(self.shots, "shots")
        check_choice(self.unit, "unit", ("trajectories", "samples"))
        check_int(self.latent_dim, "latent_dim")
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"noise must be finite and >= 0; got {self.noise}")

    @property
    def variant(self) -> str:
        """'' for the main grid, else e.g. ``shots5``, ``ood``, ``dz2``, ``noise0.05`` joined by '_'."""
        parts = []
        if (self.shots, self.unit) != (1, "trajectories"):
            parts.append(f"shots{self.shots}" + ("traj" if self.unit == "trajectories" else ""))
        if self.ood:
            parts.append("ood")
        if self.latent_dim != 10:
            parts.append(f"dz{self.latent_dim}")
        if self.noise:
            parts.append(f"noise{self.noise:g}")
        return "_".join(parts)


def result_path(out: str | Path, run: Run) -> Path:
    """Where ``run`` writes its JSON."""
    folder = Path(out) / run.family / run.method
    return (folder / run.variant if run.variant else folder) / f"seed{run.seed}.json"


def checkpoint_path(out: str | Path, run: Run, periodic: bool = False) -> Path:
    """Where the meta-training of ``run`` is saved (``seed<k>.pt`` beside the JSON of the first run of its
    group), or, with ``periodic``, its periodic training state (``seed<k>.resume.pt``, local only)."""
    return result_path(out, run).with_suffix(".resume.pt" if periodic else ".pt")


def same_run_elsewhere(out: str | Path, run: Run, recipe: str) -> Path | None:
    """A finished result file of ``run`` under another recipe, in the folder beside ``out``
    (``results/<other>/`` for ``out = results/<recipe>/``), whose training is the same as under ``recipe``
    (:func:`~spmeta.bench.recipes.same_training`): running it again would repeat it. None if there is none, or
    if ``out`` is not named after ``recipe``."""
    out = Path(out)
    if out.name != recipe:
        return None
    for other in RECIPES:
        path = result_path(out.parent / other, run)
        if other in (recipe, "v1") or not path.exists():
            continue
        record = read_json(path)
        if (record.get("status") == "ok" and record.get("scale", {}).get("name") == run.scale
                and same_training(run.method, run.family, recipe, other, SCALES[run.scale])):
            return path
    return None


def make_grid_dataset(run: "Run", ood: bool | None = None):
    """The data of ``run`` (its scale's sizes, seed, noise; validation systems included); ``ood`` overrides
    the run's test box."""
    scale = SCALES[run.scale]
    return make_dataset(get_family(run.family), n_train=scale.n_train, n_test=scale.n_test, n_val=scale.n_val,
                        n_traj=scale.n_traj, seed=run.seed, ood=run.ood if ood is None else ood, noise=run.noise)


def grid_network(method: str, family: str, recipe: str = RECIPE) -> torch.nn.Module:
    """The network the grid trains for ``method`` on ``family`` (:func:`method_settings`), freshly initialised:
    for a modulation, the modulated network with its hypernetwork and shared bases."""
    settings = method_settings(method, family, recipe)
    return MetaLearner(**settings).build_network(get_family(family))


@functools.cache
def git_commit() -> str:
    """The commit of the git checkout holding this library (``-dirty`` with uncommitted changes; ``"unknown"``
    outside one), read once per process: a long run records the code it imported, even if the checkout moves on
    while it runs."""
    try:
        root = Path(__file__).resolve().parent  # git finds the checkout from any folder inside it
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _versions() -> dict[str, str]:
    import numpy
    import scipy

    from .. import __version__
    return {"spmeta": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "scipy": scipy.__version__, "python": platform.python_version()}


def _downsample(history: list[float], n: int = MAX_CURVE_POINTS) -> list[list[float]]:
    """[[step, loss], ...] with at most n points, always keeping the last."""
    if not history:
        return []
    stride = max(1, -(-len(history) // n))
    steps = list(range(0, len(history), stride))
    if steps[-1] != len(history) - 1:
        steps.append(len(history) - 1)
    return [[s, history[s]] for s in steps]


def infeasible(run: Run) -> str | None:
    """Why ``run`` cannot be scored, or None: a support that uses every trajectory leaves no query (e.g. 300
    samples of mass-spring, whose 10 trajectories have 30 samples each); a baseline has no latent code whose
    dimension could change."""
    family, scale = get_family(run.family), SCALES[run.scale]
    if run.latent_dim != 10 and run.method not in MODULATIONS:
        return f"{run.method} has no latent code (the latent dimension is a modulation setting)"
    if support_trajectories(run.shots, run.unit, family.n_steps) >= scale.n_traj:
        return (f"{run.shots} {run.unit} of support leave no query trajectory ({scale.n_traj} trajectories of "
                f"{family.n_steps} samples per system)")
    return None


def training_key(run: Run) -> tuple:
    """Runs with the same key share one meta-training: they differ only in their test support or test box."""
    return run.family, run.method, run.seed, run.scale, run.latent_dim, run.noise


def _clock() -> np.ndarray:
    """(wall, CPU) seconds now. CPU time (this process, all threads) leaves out waits for a busy machine's cores
    and pauses, which the wall time of a background run includes."""
    return np.array([time.perf_counter(), time.process_time()])


def _times(spent: np.ndarray) -> dict:
    return {"wall_s": float(spent[0]), "cpu_s": float(spent[1])}


def run_group(runs: list[Run], progress: bool = False, command: list[str] | None = None,
              device: str = "cpu", out: str | Path | None = None, recipe: str = RECIPE
              ) -> Iterator[tuple[Run, dict]]:
    """Meta-train once for runs that share a :func:`training_key`, then adapt and evaluate each; yields
    ``(run, record)`` as each finishes (``status`` ``"ok"`` or ``"failed"``).

    The training data never depend on the test box (``make_dataset`` draws them apart), so a shots sweep and the
    OOD evaluation reuse the main cell's meta-training. ``device`` is where meta-training runs (adaptation and
    evaluation run in float64 on the CPU). With ``out``, the meta-training is saved to
    :func:`checkpoint_path` of the first run, and periodic training states let a killed group resume.
    After meta-training, each run's test-time optimiser and learning rate are chosen on the validation systems
    (:func:`~spmeta.bench.validation.choose_adaptation`). ``recipe``: the training recipe
    (:mod:`~spmeta.bench.recipes`)."""
    from .validation import choose_adaptation

    if len({training_key(r) for r in runs}) != 1:
        raise ValueError("run_group needs runs that share one training key (family, method, seed, scale, "
                         "latent_dim, noise)")
    first = runs[0]
    scale: Scale = SCALES[first.scale]
    check_recipe(recipe)
    settings = method_settings(first.method, first.family, recipe)
    n_epochs = epochs(first.method, first.family, scale, recipe)
    # the epochs and adaptation steps go into the config, so that the file records what ran
    code = {"latent_dim": first.latent_dim} if first.method in MODULATIONS else {}  # the baselines have none
    learner = MetaLearner(**settings, **code, seed=first.seed, device=device, epochs=n_epochs,
                          adapt_steps=scale.adapt_steps)
    common = {"protocol": PROTOCOL, "recipe": recipe, "settings": settings, "scale": dataclasses.asdict(scale),
              "config": dataclasses.asdict(learner.config), "network": learner.net_kwargs,
              "command": command if command is not None else sys.argv, "commit": git_commit(),
              "versions": _versions(), "threads": torch.get_num_threads(), "device": _device_name(device),
              "trained_for": [r.variant or "main" for r in runs]}
    datasets = {ood: make_grid_dataset(first, ood) for ood in sorted({False} | {r.ood for r in runs})}
    periodic = checkpoint_path(out, first, periodic=True) if out is not None else None
    start = _clock()
    try:
        learner.fit(datasets[False].train, progress=progress, checkpoint=periodic,
                    checkpoint_every=max(1, n_epochs // 20))
    except TrainingDiverged as error:
        for run in runs:
            yield run, {"run": dataclasses.asdict(run), **common, "status": "failed", "reason": str(error),
                        **_times(_clock() - start), "loss_curve": _downsample(learner.history)}
        return
    train = _clock() - start
    common["budget"] = {"resumed_at_epoch": 0, **learner.budget, "cpu_s": float(train[1])}
    if out is not None:
        saved = checkpoint_path(out, first)
        learner.save(saved)
        common["checkpoint"] = saved.relative_to(out).as_posix()
        periodic.unlink(missing_ok=True)
    choices: dict[tuple[int, str], dict] = {}  # one per support size: the OOD box reuses the main cell's
    for run in runs:
        adapt_start = _clock()
        if (run.shots, run.unit) not in choices:
            choices[run.shots, run.unit] = choose_adaptation(learner, datasets[False].val, run.shots, run.unit)
        adaptation = choices[run.shots, run.unit]
        try:
            record = {"run": dataclasses.asdict(run), **common, **score_run(learner, run, datasets[run.ood],
                                                                          adaptation)}
        except TrainingDiverged as error:
            yield run, {"run": dataclasses.asdict(run), **common, "adaptation": adaptation, "status": "failed",
                        "reason": str(error), **_times(train + _clock() - adapt_start),
                        "loss_curve": _downsample(learner.history)}
            continue
        yield run, {**record, **_times(train + _clock() - adapt_start), "train_s": float(train[0]),
                    "loss_curve": _downsample(learner.history)}


def score_run(learner: MetaLearner, run: Run, data, adaptation: dict) -> dict:
    """Adapt a fitted learner to ``run``'s test support with the chosen ``adaptation`` (``optimiser``, ``lr``)
    and score it: the record's ``status``, ``adaptation``, ``metrics``, ``per_system``, ``test_mu`` and
    ``adapt_s``. Raises :class:`TrainingDiverged` if the scores are not finite."""
    test = data.test
    start = time.perf_counter()
    adapted = learner.adapt(test.support(run.shots, run.unit), optimiser=adaptation["optimiser"],
                            lr=adaptation["lr"])
    adapt_s = time.perf_counter() - start
    per_system = learner.evaluate(test, adapted, run.shots, run.unit, per_system=True)
    scores = aggregate_scores(per_system)
    if not all(math.isfinite(scores[k]) for k in FINITE_SCORES):
        raise TrainingDiverged(f"the adapted models' rollouts or fields are not finite (ε_traj = "
                               f"{scores['eps_traj']}, ε_field = {scores['eps_field']})")
    return {"status": "ok", "adaptation": adaptation, "metrics": scores, "per_system": per_system,
            "test_mu": test.mu.tolist(), "adapt_s": adapt_s}


def run_one(run: Run, progress: bool = False, command: list[str] | None = None, device: str = "cpu",
            recipe: str = RECIPE) -> dict:
    """Train, adapt and evaluate one grid cell; returns its record (:func:`run_group` of one run)."""
    ((_, record),) = run_group([run], progress=progress, command=command, device=device, recipe=recipe)
    return record


def run_grid(runs: list[Run], out: str | Path = "results", progress: bool = True, retry_failed: bool = False,
             command: list[str] | None = None, device: str = "cpu", recipe: str = RECIPE) -> list[Path]:
    """Run every cell of ``runs`` whose result file does not exist yet, under ``recipe``; returns the files
    written.

    Resumable: finished cells (and recorded failures, unless ``retry_failed``) are skipped, and so are cells that
    train as a finished run of another recipe in the folder beside ``out`` (:func:`same_run_elsewhere`). A
    finished file of another recipe in ``out`` is an error: write each recipe's runs to their own folder.
    """
    check_recipe(recipe)
    from tqdm.auto import tqdm

    git_commit()  # read now, before any training: the commit of the code this process imported
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"out must be a folder; {str(out)!r} is a file")
    todo = []
    for run in dict.fromkeys(runs):  # each run once, in order
        reason = infeasible(run)
        if reason:
            print(f"skipped {run.family}/{run.method}/{run.variant}: {reason}", file=sys.stderr)
            continue
        path = result_path(out, run)
        elsewhere = None if path.exists() else same_run_elsewhere(out, run, recipe)
        if elsewhere is not None:
            print(f"skipped {run.family}/{run.method}/seed{run.seed}: it trains as in {elsewhere}, which the book "
                  "reads for this recipe too", file=sys.stderr)
            continue
        if path.exists():
            record = read_json(path)
            if record.get("scale", {}).get("name", run.scale) != run.scale:
                raise ValueError(f"{path} holds a {record['scale']['name']}-scale run, not a {run.scale}-scale "
                                 f"one: write {run.scale}-scale runs to another folder (--out)")
            if record.get("recipe", "v1") != recipe:
                raise ValueError(f"{path} holds a run of recipe {record.get('recipe', 'v1')!r}, not {recipe!r}: "
                                 "write each recipe's runs to their own folder (--out)")
            if not retry_failed or record.get("status") == "ok":
                continue
        todo.append(run)
    groups: dict[tuple, list[Run]] = {}
    for run in todo:
        groups.setdefault(training_key(run), []).append(run)
    written = []
    bar = tqdm(total=len(todo), desc="grid", disable=not progress, unit="run")
    for group in groups.values():
        first = group[0]
        bar.set_postfix_str(f"{first.family}/{first.method}/seed{first.seed}"
                            + (f" ({len(group)} variants)" if len(group) > 1 else f" {first.variant}").rstrip())
        for run, record in run_group(group, command=command, device=device, progress=progress, out=out,
                                     recipe=recipe):
            path = result_path(out, run)
            write_json(path, record)
            written.append(path)
            bar.update()
            if record["status"] == "ok":
                bar.write(f"{path}: eps_traj {record['metrics']['eps_traj']:.4f}, "
                          f"eps_field {record['metrics']['eps_field']:.4f} ({record.get('wall_s', 0):.0f} s)")
            else:
                bar.write(f"{path}: FAILED: {record['reason']}")
    bar.close()
    return written
