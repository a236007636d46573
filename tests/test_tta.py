"""Time to accuracy (spmeta.bench.tta) and the recipes (spmeta.bench.recipes)."""
import dataclasses
import json
import math

import pytest

from spmeta.bench import grid, recipes
from spmeta.bench.tta import Curve, interleaved_curves, time_to_accuracy


def test_interleaving_does_not_change_what_each_recipe_learns():
    """Two copies of one recipe, interleaved by the baton, follow exactly the same validation curve; the CPU
    clocks grow, and every curve has its points."""
    twin = dataclasses.replace(recipes.RECIPES["v1"], name="twin")
    curves = interleaved_curves("mass_spring", "rank_one", ("v1", twin), scale="quick", points=3)
    assert [c.recipe for c in curves] == ["v1", "twin"]
    assert curves[0].eps_traj == curves[1].eps_traj and len(curves[0].eps_traj) == 3
    for c in curves:
        assert c.epoch == [20, 40, 60] and all(b > a for a, b in zip(c.cpu_s, c.cpu_s[1:])) and c.cpu_s[0] > 0
        assert all(math.isfinite(e) and e > 0 for e in c.eps_traj)
    assert curves[0].eps_traj[-1] < curves[0].eps_traj[0]  # it learns
    assert curves[0].loss == curves[1].loss and len(curves[0].loss) == 3 and curves[0].loss[-1] < curves[0].loss[0]


def test_time_to_accuracy():
    curve = Curve("mass_spring", "rank_one", "v1", 0, "quick", 3, cpu_s=[1.0, 2.0, 3.0], epoch=[1, 2, 3],
                  eps_traj=[0.5, 0.2, 0.1])
    assert time_to_accuracy(curve, 0.2) == 2.0 and time_to_accuracy(curve, 0.05) == math.inf
    assert time_to_accuracy(json.loads(json.dumps(vars(curve))), 0.5) == 1.0


def test_recipes_refuse_unknown_settings():
    with pytest.raises(ValueError, match="unknown auto-decoding settings"):
        recipes.Recipe("bad", {"learning_rate": 1.0})
    with pytest.raises(ValueError, match="baselines"):
        recipes.Recipe("bad", baselines="half")
    with pytest.raises(ValueError, match="unknown network settings"):
        recipes.Recipe("bad", generic_network={"friction": 3.0})


def test_every_recipe_keeps_the_dense_code_updates_its_files_ran():
    from spmeta.meta.autodecode import AutoDecodeConfig

    assert AutoDecodeConfig().latent_updates == "sparse"  # the library's default changed after them
    for name in recipes.RECIPES:
        for family in ("mass_spring", "gas_containers"):
            assert recipes.method_settings("rank_one", family, name)["latent_updates"] == "dense", (name, family)


def test_a_recipe_can_fix_the_generic_network_of_every_method():
    nms = recipes.Recipe("nms", generic_network={"construction": "nms"})
    for method in ("rank_one", "maml", "scratch"):
        assert recipes.method_settings(method, "gas_containers", nms)["construction"] == "nms"
        assert "construction" not in recipes.method_settings(method, "pendulum", nms)
    assert grid.grid_network("rank_one", "damped_oscillator", nms).construction == "nms"
