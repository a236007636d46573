"""Protocol v2: checkpoints, rescoring, resuming a killed run, equal budgets, version labels, clean random state."""
import json
import math

import pytest
import torch

import spmeta
from spmeta import learner as learner_module
from spmeta.bench import grid, table
from spmeta.bench import recipes
from spmeta.bench.grid import GRID_METHODS, Run, checkpoint_path, grid_budget, result_path, run_grid
from spmeta.bench.rescore import rescore
from spmeta.config import SCALES
from spmeta.files import CHECKPOINT_FORMAT
from spmeta.meta.autodecode import AutoDecodeConfig
from spmeta.meta.baselines import BaselineConfig
from spmeta.meta.budget import sample_gradients
from spmeta.metrics import field_points, own_box_points

METHODS = ("rank_one", "anil", "scratch")  # a modulation, a meta-learned initialisation, a fresh network


def die_after_second_checkpoint(monkeypatch) -> list[int]:
    """Make the process die (KeyboardInterrupt) right after its second periodic checkpoint is written; returns
    the list of the checkpoints' epochs, filled as they are written. ``monkeypatch.undo()`` restores saving."""
    save, epochs = learner_module.save_torch, []

    def save_then_die(obj, where):
        save(obj, where)
        epochs.append(obj["state"]["epoch"])
        if len(epochs) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(learner_module, "save_torch", save_then_die)
    return epochs


@pytest.fixture(scope="module")
def quick_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    runs = [Run("mass_spring", method, 0, scale="quick") for method in METHODS]
    run_grid(runs, out, progress=False)
    return out, runs


def test_every_run_records_protocol_recipe_budget_checkpoint_and_adaptation(quick_grid):
    out, runs = quick_grid
    for run in runs:
        record = json.loads(result_path(out, run).read_text())
        assert record["status"] == "ok" and record["protocol"] == grid.PROTOCOL and record["recipe"] == grid.RECIPE
        assert {"sample_gradients", "outer_updates", "cpu_s"} <= set(record["budget"])
        assert (record["budget"]["sample_gradients"] > 0) == (run.method != "scratch")
        assert (out / record["checkpoint"]).exists() and not checkpoint_path(out, run, periodic=True).exists()
        adaptation = record["adaptation"]
        assert adaptation["optimiser"] in ("adam", "sgd") and len(adaptation["validation_eps_traj"]) > 1
        assert {"eps_field", "eps_field_family", "ssim"} <= set(record["metrics"])


def test_rescoring_from_the_checkpoint_gives_the_same_numbers(quick_grid):
    out, runs = quick_grid
    before = {}
    for run in runs:
        path = result_path(out, run)
        record = json.loads(path.read_text())
        before[path] = (record.pop("metrics"), record.pop("per_system"))
        path.write_text(json.dumps(record))
    done = rescore(out, command=["test"], progress=False)
    assert sorted(done["rescored"]) == sorted(before)
    for path, (metrics, per_system) in before.items():
        record = json.loads(path.read_text())
        assert record["rescored"]["command"] == ["test"] and record["rescored"]["commit"]
        assert set(record["metrics"]) == set(metrics)
        for name, value in metrics.items():
            assert math.isclose(record["metrics"][name], value, rel_tol=1e-10, abs_tol=1e-12), (path, name)
            assert all(math.isclose(a, b, rel_tol=1e-10, abs_tol=1e-12)
                       for a, b in zip(record["per_system"][name], per_system[name])), (path, name)
    again = rescore(out, progress=False)  # resumable: nothing left to do at this commit
    assert again["rescored"] == [] and sorted(again["skipped"]) == sorted(before)


def test_every_checkpoint_kind_loads_with_weights_only(quick_grid, tmp_path):
    out, runs = quick_grid
    kinds = [out / json.loads(result_path(out, run).read_text())["checkpoint"] for run in runs]
    # a GENERIC learner (input standardisation), and the periodic training states of both training loops
    data = spmeta.make_dataset(spmeta.get_family("damped_oscillator"), n_train=3, n_test=1, n_traj=2, seed=0)
    generic = spmeta.MetaLearner(model="generic", modulation="shift", epochs=2, batch_samples=50)
    generic.fit(data.train, progress=False)
    generic.save(tmp_path / "generic.pt")
    kinds.append(tmp_path / "generic.pt")
    ms = spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=3, n_test=1, n_traj=2, seed=0)
    for name, kwargs in (("ad", {"modulation": "rank_one"}), ("maml", {"method": "maml", "n_support": 10})):
        spmeta.MetaLearner(**kwargs, epochs=3).fit(ms.train, progress=False, checkpoint=tmp_path / f"{name}.resume.pt",
                                                   checkpoint_every=2)
        kinds.append(tmp_path / f"{name}.resume.pt")
    for path in kinds:
        payload = torch.load(path, weights_only=True)
        assert payload["format"] == CHECKPOINT_FORMAT, path
        weights = payload["state"] if payload["kind"] == "learner" else payload["state"]["model"]
        assert all(t.dtype == torch.float32 for t in weights.values() if t.is_floating_point()), path
    loaded = spmeta.MetaLearner.load(tmp_path / "generic.pt")
    x, z = data.test.X[:, 0].float(), generic.latents.codes[:1].detach()  # (1, T, 3), (1, d_z)
    assert torch.equal(loaded.net(x, z), generic.net(x, z))


@pytest.mark.parametrize("kwargs", [{"modulation": "rank_one", "batch_samples": 40},
                                    {"method": "maml", "n_support": 10}, {"method": "reptile"}])
def test_a_killed_fit_resumes_from_its_periodic_checkpoint(tmp_path, monkeypatch, kwargs):
    data = spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=4, n_test=1, n_traj=2, seed=0)
    whole = spmeta.MetaLearner(**kwargs, epochs=12).fit(data.train, progress=False)
    path = tmp_path / "state.pt"
    writes = die_after_second_checkpoint(monkeypatch)  # the process dies at epoch 8, after its checkpoint
    with pytest.raises(KeyboardInterrupt):
        spmeta.MetaLearner(**kwargs, epochs=12).fit(data.train, progress=False, checkpoint=path, checkpoint_every=4)
    assert writes == [4, 8]
    monkeypatch.undo()
    first = torch.load(path, weights_only=True)["state"]["history"]
    resumed = spmeta.MetaLearner(**kwargs, epochs=12)
    history = resumed.fit(data.train, progress=False, checkpoint=path, checkpoint_every=4)
    assert len(history) == 12 and history[:8] == first  # the curve continues the first one ...
    assert history == pytest.approx(whole, rel=1e-5)  # ... as if the run had never been killed
    with pytest.raises(ValueError, match="another run"):  # a state of other settings is refused
        spmeta.MetaLearner(**kwargs, epochs=13).fit(data.train, progress=False, checkpoint=path)


def test_a_killed_grid_run_resumes_and_says_so(tmp_path, monkeypatch):
    run = Run("mass_spring", "rank_one", 0, scale="quick")
    die_after_second_checkpoint(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_grid([run], tmp_path, progress=False)
    assert checkpoint_path(tmp_path, run, periodic=True).exists() and not result_path(tmp_path, run).exists()
    monkeypatch.undo()
    run_grid([run], tmp_path, progress=False)
    record = json.loads(result_path(tmp_path, run).read_text())
    epochs = SCALES["quick"].epochs
    assert record["budget"]["resumed_at_epoch"] == 2 * (epochs // 20) and record["loss_curve"][-1][0] == epochs - 1
    assert not checkpoint_path(tmp_path, run, periodic=True).exists()


@pytest.mark.parametrize("recipe", [name for name, r in recipes.RECIPES.items() if r.baselines == "parity"])
@pytest.mark.parametrize("family", grid.FAMILIES)
def test_the_grid_gives_every_method_the_same_budget(family, recipe):
    scale = SCALES["paper"]
    budget = grid_budget(family, scale, recipe)
    n_samples = scale.n_traj * spmeta.get_family(family).n_steps
    for method in GRID_METHODS:
        if method == "scratch":
            continue
        settings = grid.method_settings(method, family, recipe)
        kind = "autodecode" if method not in grid.BASELINES else method
        config_type = AutoDecodeConfig if kind == "autodecode" else BaselineConfig
        fields = {k: v for k, v in settings.items() if k in config_type.__dataclass_fields__}
        config = config_type(**fields, epochs=recipes.epochs(method, family, scale, recipe))
        used = sample_gradients(kind, config, scale.n_train, n_samples)
        assert abs(used / budget - 1) <= 0.10, (family, method, used, budget)


def test_the_v1_recipe_is_what_the_v1_grid_ran():
    """Selectable by name: the modulations' v1 settings and epochs, and the baselines' 1000 outer updates."""
    scale = SCALES["paper"]
    assert recipes.epochs("maml", "pendulum", scale, "v1") == 1000
    assert recipes.epochs("rank_one", "pendulum", scale, "v1") == scale.epochs
    assert recipes.method_settings("rank_one", "pendulum", "v1") == {"model": "hnn", "modulation": "rank_one",
                                                                     "latent_updates": "dense"}
    assert recipes.method_settings("svd", "pendulum", "v1")["rank"] == 5
    assert recipes.method_settings("svd", "gas_containers", "v1")["batch_samples"] == recipes.GENERIC_BATCH_SAMPLES
    with pytest.raises(ValueError, match="recipe"):
        recipes.method_settings("rank_one", "pendulum", "r0")


@pytest.mark.parametrize("kwargs", [{"modulation": "rank_one"}, {"modulation": "shift", "simultaneous": True,
                                                                  "batch_samples": 7, "batch_systems": 3},
                                    {"method": "maml", "n_support": 10}, {"method": "anil", "n_support": 10}])
def test_the_budget_counts_what_the_network_sees(kwargs):
    data = spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=4, n_test=1, n_traj=2, seed=0)
    learner = spmeta.MetaLearner(**kwargs, epochs=3)
    seen = []
    original = learner.build_network

    def counted(*args, **kw):
        net = original(*args, **kw)
        net.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[:-1].numel()))
        return net

    learner.build_network = counted
    learner.fit(data.train, progress=False)
    assert sum(seen) == learner.budget["sample_gradients"] > 0


def test_fit_and_adapt_leave_the_global_random_state_alone():
    data = spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=3, n_test=1, n_traj=2, seed=0)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    for kwargs in ({"modulation": "rank_one"}, {"method": "scratch"}, {"method": "reptile"}):
        learner = spmeta.MetaLearner(**kwargs, epochs=2, adapt_steps=2)
        learner.fit(data.train, progress=False)
        learner.adapt(data.test.support())
    assert torch.equal(torch.get_rng_state(), state)


def test_tables_label_mixed_protocol_versions_and_refuse_to_average_them(tmp_path):
    def write(method, seed, protocol):
        record = {"run": {"family": "pendulum", "method": method, "seed": seed}, "status": "ok",
                  "metrics": {"eps_traj": 0.1, "eps_field": 0.4, **({"eps_field_own": 0.05} if seed else {})}}
        if protocol == 2:
            record.update(protocol=2, recipe="r1", metrics={"eps_traj": 0.1, "eps_field": 0.05,
                                                           "eps_field_family": 0.4})
        grid.write_json(result_path(tmp_path, Run("pendulum", method, seed)), record)

    for seed in (0, 1):
        write("svd", seed, 1)
        write("maml", seed, 2)
    records = table.load_results(tmp_path)
    v1 = [r for r in records if r["run"]["method"] == "svd"]
    assert all(r["protocol"] == 1 and r["metrics"]["eps_field_family"] == 0.4 for r in v1)  # v1's grid, renamed
    assert [r["metrics"].get("eps_field") for r in v1] == [None, 0.05]  # v1's own-box diagnostic, where recorded
    summary = table.summarize(records)
    text = table.markdown_table(summary, "eps_field")
    assert "[v1]" in text and "[v2]" in text and "two protocol versions" in table.protocol_label(summary)
    assert "[v1]" not in table.markdown_table(table.summarize(table.load_results(tmp_path, protocol=2)), "eps_field")
    write("svd", 2, 2)  # one cell now holds both versions: its mean over seeds is refused
    with pytest.raises(ValueError, match="protocol versions"):
        table.summarize(table.load_results(tmp_path))


def test_own_box_is_the_enlarged_bounding_box_not_a_box_about_zero():
    # a Morse-like orbit that lives in q ∈ [-0.5, 2], p ∈ [-1, 1]: the own box does not reach q = -2.4
    states = torch.tensor([[-0.5, 0.0], [2.0, 0.0], [0.5, 1.0], [0.5, -1.0]], dtype=torch.float64)
    own = own_box_points(states, n=5)
    assert own[..., 0].min() == pytest.approx(-0.75) and own[..., 0].max() == pytest.approx(2.25)
    assert own[..., 1].min() == pytest.approx(-1.2) and own[..., 1].max() == pytest.approx(1.2)
    family = field_points(states, n=5)
    assert family[..., 0].min() == pytest.approx(-2.4)  # v1's family grid, centred on 0
    symmetric = torch.tensor([[-1.0, -2.0], [1.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(own_box_points(symmetric, n=4), field_points(symmetric, n=4))  # the two agree here
    cloud = torch.rand(50, 4, dtype=torch.float64)
    points = own_box_points(cloud, n_random=300)
    assert points.shape == (300, 4) and (points >= cloud.amin(0)).all() and (points <= cloud.amax(0)).all()


@pytest.mark.parametrize("kwargs", [{"modulation": "rank_one"}, {"method": "anil"}])
def test_evaluation_dtype_and_device_are_settings(kwargs):
    """Adaptation and evaluation run in ``eval_dtype`` on ``eval_device`` (float64 on the CPU by default)."""
    data = spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=4, n_test=2, n_traj=3, seed=0)
    scores = {}
    for dtype in (torch.float64, torch.float32):
        learner = spmeta.MetaLearner(**kwargs, epochs=5, adapt_steps=10, eval_dtype=dtype, eval_device="cpu")
        learner.fit(data.train, progress=False)
        adapted = learner.adapt(data.test.support(1))
        assert adapted.field(data.test.X[:, 0, :3].to(dtype)).dtype == dtype
        scores[dtype] = learner.evaluate(data.test, adapted)
    for name in ("eps_traj", "eps_field", "ssim"):
        assert math.isclose(scores[torch.float32][name], scores[torch.float64][name], rel_tol=1e-3), name


def test_a_table_of_two_families_of_one_version_each_labels_the_columns(tmp_path):
    for family, protocol in (("pendulum", 1), ("mass_spring", 2)):
        for method in ("svd", "maml"):
            record = {"run": {"family": family, "method": method, "seed": 0}, "status": "ok",
                      "metrics": {"eps_traj": 0.1 if method == "svd" else 0.3, "eps_field": 0.2}}
            if protocol == 2:
                record.update(protocol=2, recipe="r2")
            grid.write_json(result_path(tmp_path, Run(family, method, 0)), record)
    lines = table.markdown_table(table.summarize(table.load_results(tmp_path)), "eps_traj").splitlines()
    assert lines[0] == "| method | mass_spring [v2] | pendulum [v1] |"
    assert lines[2] == "| svd | **1.00e-01** | **1.00e-01** |"
