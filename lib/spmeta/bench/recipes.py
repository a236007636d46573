"""Training recipes: what each method of the grid trains with, and for how long.

A recipe fixes, for every family and method, the learner's settings (:func:`method_settings`), the
modulations' epochs, and how many outer updates the baselines get. Every result file records its recipe's name,
and a recipe never changes once results carry its name: a new one gets a new name.

- ``v1``: what the protocol-v1 grid ran. Auto-decoding with the configs' defaults (alternating code and weight
  steps on all of a system's samples) for the scale's epochs; the baselines 1000 outer updates
  (:class:`~spmeta.meta.baselines.BaselineConfig`'s default), about a seventh of the modulations' budget.
- ``r1``: v1's auto-decoding, and the baselines given the same budget (protocol v2, "Fair budgets").
- ``r2``: the time-to-accuracy recipe (chapter 14), on every family: one backward pass for the codes and the
  weights (``simultaneous=True``), 50 samples of each system drawn afresh for each step (``batch_samples``), and
  Θ's learning rate 2e-3 (cosine schedule, the scale's epochs). It reached the v1 recipe's validation error in
  about a tenth of its CPU seconds on mass-spring and Duffing (``results/tuning/tta_levers_*.json``, validation
  systems only); its budget is about a twelfth of v1's, and the baselines get as many outer updates as it buys.
- ``r3``: ``r2`` on the Hamiltonian families (the same settings, so their r2 rows stand for it). On the GENERIC
  families the operator networks are modulated by the code too (``modulate_operators=True``) and the modulations
  train twice the scale's epochs: with only E and S modulated, meta-training plateaued on some seeds, and the
  converging runs were still improving at the end of their budget (chapter 11, validation systems only). MAML
  and first-order MAML take inner steps of 3e-4 there (3e-3 in r2; ``results/tuning/*_maml*.json``).
- ``r4``: ``r3`` with several starts for the GENERIC modulations (:mod:`~spmeta.meta.starts`): three
  initialisations train for 5 % of the epochs each, and the one with the lowest loss trains on. Whether a GENERIC
  run stalls is settled that early (chapter 11); the epochs are cut so that the budget is r3's, and so every
  baseline's run, and every run on the Hamiltonian families, is r3's (:func:`same_training`).

The budget of a family at a scale is what the recipe's modulations use (:func:`grid_budget`), in per-sample
gradient evaluations (:mod:`spmeta.meta.budget`); from ``r1`` on, the baselines get as many outer updates
as it buys them (:func:`epochs`).

See chapter 14 (book/14_compute_cost.md) and book/protocol.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .._checks import check_choice, check_positive
from ..config import SCALES, Scale
from ..learner import GENERIC_DEFAULTS
from ..meta.autodecode import AutoDecodeConfig
from ..meta.baselines import BaselineConfig
from ..meta.budget import epochs_for_budget, sample_gradients
from ..nn.modulation import MODULATIONS
from ..systems import HamiltonianFamily, get_family

__all__ = ["Recipe", "RECIPES", "NETWORK_SETTINGS",
           "RECIPE", "MAIN_GRID_RECIPES", "GENERIC_INNER_LR", "GENERIC_BATCH_SAMPLES", "method_settings",
           "grid_budget", "epochs", "check_recipe", "samples_per_system", "same_training",
           "epochs_trained"]

#: Inner-loop step of the gradient-based baselines on GENERIC families under recipes v1, r1 and r2, and of ANIL
#: and Reptile under r3 (written into the recipes, so that they do not move with the library's defaults,
#: :data:`~spmeta.learner.GENERIC_DEFAULTS`; a recipe's ``generic_inner_lr`` overrides it per method).
GENERIC_INNER_LR = 3e-3

#: Samples per system in each auto-decoding step on the GENERIC families under ``v1`` and ``r1`` (the library's
#: default, :data:`~spmeta.learner.GENERIC_DEFAULTS`; the Hamiltonian families use all of theirs, 300 to 450).
GENERIC_BATCH_SAMPLES = GENERIC_DEFAULTS["autodecode"]["batch_samples"]


#: The network settings a recipe may fix (:class:`~spmeta.learner.MetaLearner`'s arguments).
NETWORK_SETTINGS = ("construction", "activation", "width", "depth", "modulate_operators", "modulate_entropy")
#: The network settings that only a modulation has (a baseline has no code).
_CODE_SETTINGS = ("modulate_operators", "modulate_entropy")


@dataclass(frozen=True)
class Recipe:
    """One training recipe.

    Attributes:
        name: recorded in every result file.
        autodecode: :class:`~spmeta.meta.autodecode.AutoDecodeConfig` fields of every modulation, every family.
        generic_autodecode: fields added on the GENERIC families.
        generic_network: the GENERIC network's settings on the GENERIC families, for every method
            (:data:`NETWORK_SETTINGS`, e.g. ``{"construction": "nms"}``; ``modulate_operators`` and
            ``modulate_entropy`` apply to the modulations only).
        epochs_factor: the modulations train ``epochs_factor × scale.epochs`` epochs.
        generic_epochs_factor: a further factor on the GENERIC families.
        generic_inner_lr: the inner step of a gradient-based baseline on the GENERIC families, by method (the
            others: :data:`GENERIC_INNER_LR`).
        baselines: ``"parity"`` (the modulations' budget, :func:`grid_budget`) or ``"v1"`` (the config's
            default outer updates).
    """

    name: str
    autodecode: dict = field(default_factory=dict)
    generic_autodecode: dict = field(default_factory=dict)
    generic_network: dict = field(default_factory=dict)
    epochs_factor: float = 1.0
    generic_epochs_factor: float = 1.0
    generic_inner_lr: dict = field(default_factory=dict)
    baselines: str = "parity"

    def __post_init__(self):
        check_choice(self.baselines, "baselines", ("parity", "v1"))
        check_positive(self.epochs_factor, "epochs_factor")
        check_positive(self.generic_epochs_factor, "generic_epochs_factor")
        fields = {f.name for f in dataclasses.fields(AutoDecodeConfig)} - {"epochs"}
        unknown = (set(self.autodecode) | set(self.generic_autodecode)) - fields
        if unknown:
            raise ValueError(f"unknown auto-decoding settings {sorted(unknown)}; valid ones are {sorted(fields)}")
        unknown = set(self.generic_network) - set(NETWORK_SETTINGS)
        if unknown:
            raise ValueError(f"unknown network settings {sorted(unknown)}; valid ones are {list(NETWORK_SETTINGS)}")


_V1_GENERIC = {"batch_samples": GENERIC_BATCH_SAMPLES}
#: Every recipe so far stepped the codes with Adam on the whole table (AutoDecodeConfig's former default; it is
#: now "sparse"): pinned, so that each recipe still runs what its files record.
_DENSE = {"latent_updates": "dense"}

#: The recipes by name.
RECIPES: dict[str, Recipe] = {
    "v1": Recipe("v1", _DENSE, generic_autodecode=_V1_GENERIC, baselines="v1"),
    "r1": Recipe("r1", _DENSE, generic_autodecode=_V1_GENERIC),
    # chosen on validation systems by time to accuracy (scripts/tta_levers.py, results/tuning/tta_levers_*.json,
    # chapter 14): one backward for codes and weights, 50 fresh samples per system and step, a 2× larger step
    "r2": Recipe("r2", {"simultaneous": True, "batch_samples": 50, "lr_base": 2e-3, **_DENSE}),
    # r2 on the Hamiltonian families; on the GENERIC ones the operators modulated too, twice the epochs, and
    # MAML's inner step chosen on the training and validation systems of both GENERIC families
    # (chapter 11, "Why some seeds stall": results/tuning/generic_*.json, validation systems only)
    "r3": Recipe("r3", {"simultaneous": True, "batch_samples": 50, "lr_base": 2e-3, **_DENSE},
                 generic_network={"modulate_operators": True}, generic_epochs_factor=2.0,
                 generic_inner_lr={"maml": 3e-4, "fomaml": 3e-4}),
}
# r3 with three starts for the GENERIC modulations, in r3's budget: at the paper scale 3636 epochs and the two
# other starts' trials of 182 epochs make r3's 4000, so every other run is r3's (same_training). Chosen on the
# validation systems of r3's stalled seeds (chapter 11, results/tuning/starts_*.json)
RECIPES["r4"] = dataclasses.replace(RECIPES["r3"], name="r4", generic_autodecode={"starts": 3, "start_trial": 0.05},
                                    generic_epochs_factor=2.0 / 1.1)
#: The grid's default recipe.
RECIPE = "r4"
#: The recipes the book's main grid reads, newest first: per family, the first whose rows are complete
#: (:func:`~spmeta.bench.table.load_main_grid`).
MAIN_GRID_RECIPES = ("r4", "r3", "r2")


def check_recipe(recipe: str | Recipe) -> Recipe:
    """The recipe called ``recipe`` (a :class:`Recipe` passes through, to try one before naming it); a clear
    error for an unknown name."""
    if isinstance(recipe, Recipe):
        return recipe
    check_choice(recipe, "recipe", sorted(RECIPES))
    return RECIPES[recipe]


def _is_generic(family: str) -> bool:
    return not isinstance(get_family(family), HamiltonianFamily)


def method_settings(method: str, family: str, recipe: str | Recipe = RECIPE) -> dict:
    """The learner's arguments for ``method`` on ``family`` under ``recipe`` (not its epochs: :func:`epochs`).

    The protocol fixes the architecture: ``svd`` uses r = 3 on the damped oscillator, r = 5 elsewhere;
    ``multi_rank`` r = 5. The baselines use the configs' defaults (chosen on training systems,
    ``scripts/tune_baselines.py``), with :data:`GENERIC_INNER_LR` on the GENERIC families."""
    from ..bench.grid import METHODS

    check_choice(method, "method", METHODS)
    what = check_recipe(recipe)
    model = "generic" if _is_generic(family) else "hnn"
    network = what.generic_network if model == "generic" else {}
    if method in MODULATIONS:
        rank = {"svd": 3 if family == "damped_oscillator" else 5, "multi_rank": 5}.get(method)
        extra = what.generic_autodecode if model == "generic" else {}
        ranked = {} if rank is None else {"rank": rank}
        return {"model": model, "modulation": method, **ranked, **network, **what.autodecode, **extra}
    network = {k: v for k, v in network.items() if k not in _CODE_SETTINGS}  # the baselines have no codes
    if model == "generic" and method in ("maml", "fomaml", "anil", "reptile"):
        return {"model": model, "method": method, **network,
                "inner_lr": what.generic_inner_lr.get(method, GENERIC_INNER_LR)}
    return {"model": model, "method": method, **network}


def _config(method: str, settings: dict, **changes):
    config_type = AutoDecodeConfig if method in MODULATIONS else BaselineConfig
    names = {f.name for f in dataclasses.fields(config_type)}
    return config_type(**{k: v for k, v in settings.items() if k in names}, **changes)


def samples_per_system(family: str, scale: Scale) -> int:
    """The (x, ẋ) samples of one training system at ``scale``."""
    return scale.n_traj * get_family(family).n_steps


def _modulation_epochs(scale: Scale, recipe: Recipe, family: str) -> int:
    factor = recipe.epochs_factor * (recipe.generic_epochs_factor if _is_generic(family) else 1.0)
    return max(1, round(factor * scale.epochs))


def grid_budget(family: str, scale: Scale, recipe: str | Recipe = RECIPE) -> int:
    """The meta-training budget of every method on ``family`` at ``scale`` under ``recipe``, in per-sample
    gradient evaluations: what its modulations use (``rank_one``'s settings; every modulation costs the same in
    this unit)."""
    config = _config("rank_one", method_settings("rank_one", family, recipe),
                     epochs=_modulation_epochs(scale, check_recipe(recipe), family))
    return sample_gradients("autodecode", config, scale.n_train, samples_per_system(family, scale))


def epochs(method: str, family: str, scale: Scale, recipe: str | Recipe = RECIPE) -> int:
    """The epochs (outer updates, for the baselines) of ``method`` on ``family`` at ``scale`` under ``recipe``."""
    what = check_recipe(recipe)
    if method in MODULATIONS:
        return _modulation_epochs(scale, what, family)
    if method == "scratch" or what.baselines == "v1":
        return BaselineConfig().epochs
    config = _config(method, method_settings(method, family, recipe))
    return epochs_for_budget(method, config, scale.n_train, samples_per_system(family, scale),
                             grid_budget(family, scale, recipe))


def epochs_trained(method: str, family: str, scale: Scale, recipe: str | Recipe = RECIPE) -> int:
    """The epochs ``method`` trains in all on ``family`` at ``scale``: :func:`epochs`, and with several starts
    the trials of the starts not chosen (what its cost scales with)."""
    n = epochs(method, family, scale, recipe)
    if method not in MODULATIONS:
        return n
    config = _config(method, method_settings(method, family, recipe), epochs=n)
    return n + (config.starts - 1) * config.trial_epochs()


def same_training(method: str, family: str, recipe: str | Recipe, other: str | Recipe,
                  scale: Scale = SCALES["paper"]) -> bool:
    """Whether ``method`` on ``family`` at ``scale`` trains identically under two recipes: the same learner
    settings and the same epochs, so that a run of one stands for the other's (for example the baselines of a
    recipe that changes only the modulations, or every method of ``r3`` on the Hamiltonian families, which are
    ``r2``'s)."""
    return (method_settings(method, family, recipe) == method_settings(method, family, other)
            and epochs(method, family, scale, recipe) == epochs(method, family, scale, other))
