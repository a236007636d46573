"""The benchmark grid: resumability, atomic writes, provenance, failures, tables and the CLI smoke run."""
import json

import pytest

from spmeta.bench import grid, recipes, table
from spmeta.bench.__main__ import main
from spmeta.bench.grid import Run, result_path, run_grid
from spmeta.training import TrainingDiverged


def fake_record(run):
    value = 0.1 * (run.seed + 1) + (0.5 if run.method == "maml" else 0.0)
    return {"run": {"family": run.family, "method": run.method, "seed": run.seed}, "status": "ok", "protocol": 2,
            "recipe": grid.RECIPE, "metrics": {"eps_traj": value, "eps_field": 2 * value}}


def test_a_folder_holding_another_recipe_is_refused(tmp_path, monkeypatch):
    run = Run("mass_spring", "rank_one", 0, scale="quick")
    grid.write_json(result_path(tmp_path, run), {**fake_record(run), "recipe": "v1"})
    monkeypatch.setattr(grid, "run_group", lambda group, **_: ((r, fake_record(r)) for r in group))
    with pytest.raises(ValueError, match="recipe 'v1'"):
        run_grid([run], tmp_path, progress=False)
    assert run_grid([run], tmp_path, progress=False, recipe="v1") == []  # its own recipe resumes: nothing to do


def test_a_run_that_trains_as_another_recipes_finished_one_is_not_repeated(tmp_path, monkeypatch):
    same, other = Run("pendulum", "shift", 0), Run("gas_containers", "anil", 0)  # r3 ≡ r2 on pendulum only
    for run in (same, other):
        grid.write_json(result_path(tmp_path / "r2", run), {**fake_record(run), "recipe": "r2",
                                                             "scale": {"name": "paper"}})
    ran = []
    monkeypatch.setattr(grid, "run_group", lambda group, **_: ((ran.append(r) or r, fake_record(r)) for r in group))
    assert grid.same_run_elsewhere(tmp_path / "r3", same, "r3") == result_path(tmp_path / "r2", same)
    assert grid.same_run_elsewhere(tmp_path / "other", same, "r3") is None  # not a recipe's own folder
    run_grid([same, other], tmp_path / "r3", progress=False, recipe="r3")
    assert ran == [other]


def test_a_broken_json_file_is_named(tmp_path):
    from spmeta.bench.tta import load_sweeps

    broken = tmp_path / "sweep.json"
    broken.write_text('{"family": "pendulum", ')
    with pytest.raises(ValueError, match="sweep.json is not a JSON file"):
        load_sweeps([broken])


def test_killed_grid_resumes_without_redoing_or_losing_runs(tmp_path, monkeypatch):
    runs = [Run("mass_spring", m, s, scale="quick") for m in ("rank_one", "maml") for s in (0, 1, 2)]
    calls = []

    def killed_after_three(group, **_):
        for run in group:
            if len(calls) == 3:
                raise KeyboardInterrupt  # the process dies in the middle of the fourth run
            calls.append(run)
            yield run, fake_record(run)

    monkeypatch.setattr(grid, "run_group", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        run_grid(runs, tmp_path, progress=False)
    finished = sorted(tmp_path.rglob("*.json"))
    assert finished == sorted(result_path(tmp_path, r) for r in runs[:3])
    assert not list(tmp_path.rglob("*.tmp"))  # nothing half-written
    before = {p: p.read_text() for p in finished}

    rerun = []
    monkeypatch.setattr(grid, "run_group", lambda group, **_: ((r, rerun.append(r) or fake_record(r)) for r in group))
    written = run_grid(runs, tmp_path, progress=False)
    assert rerun == runs[3:]  # only the missing runs, in order
    assert sorted(written) == sorted(result_path(tmp_path, r) for r in runs[3:])
    assert all(p.read_text() == text for p, text in before.items())  # finished files untouched
    assert run_grid(runs, tmp_path, progress=False) == []  # a third run has nothing to do


def test_kill_during_a_write_keeps_the_finished_files(tmp_path, monkeypatch):
    runs = [Run("mass_spring", "rank_one", s, scale="quick") for s in (0, 1, 2)]
    monkeypatch.setattr(grid, "run_group", lambda group, **_: ((r, fake_record(r)) for r in group))
    dump, writes = json.dump, []

    def dies_on_the_third_write(obj, f, **kwargs):
        writes.append(obj)
        if len(writes) == 3:
            f.write('{"status": "ok", "metr')
            raise KeyboardInterrupt  # killed half-way through writing the third file
        dump(obj, f, **kwargs)

    monkeypatch.setattr(json, "dump", dies_on_the_third_write)
    with pytest.raises(KeyboardInterrupt):
        run_grid(runs, tmp_path, progress=False)
    assert sorted(tmp_path.rglob("*.json")) == sorted(result_path(tmp_path, r) for r in runs[:2])
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.json.*"))
    assert [json.loads(result_path(tmp_path, r).read_text()) for r in runs[:2]] == [fake_record(r) for r in runs[:2]]
    monkeypatch.setattr(json, "dump", dump)
    assert run_grid(runs, tmp_path, progress=False) == [result_path(tmp_path, runs[2])]  # the rerun finishes it


def test_retry_failed_reruns_failures_only(tmp_path, monkeypatch):
    ok, failed = Run("mass_spring", "rank_one", 0, scale="quick"), Run("mass_spring", "rank_one", 1, scale="quick")
    grid.write_json(result_path(tmp_path, ok), fake_record(ok))
    grid.write_json(result_path(tmp_path, failed), {**fake_record(failed), "status": "failed", "reason": "nan"})
    before = result_path(tmp_path, ok).read_text()
    rerun = []
    monkeypatch.setattr(grid, "run_group", lambda group, **_: ((r, rerun.append(r) or fake_record(r)) for r in group))
    assert run_grid([ok, failed], tmp_path, progress=False) == [] and rerun == []  # a failure is a finished run
    assert run_grid([ok, failed], tmp_path, progress=False, retry_failed=True) == [result_path(tmp_path, failed)]
    assert rerun == [failed] and result_path(tmp_path, ok).read_text() == before
    assert json.loads(result_path(tmp_path, failed).read_text())["status"] == "ok"


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "f" / "m" / "seed0.json"

    def dump_then_die(obj, f, **_):
        f.write('{"status": "ok", "metr')
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", dump_then_die)
    with pytest.raises(KeyboardInterrupt):
        grid.write_json(path, {"status": "ok"})
    assert not path.exists() and not list(path.parent.iterdir())


def test_failed_runs_are_recorded_and_shown_as_failures(tmp_path, monkeypatch):
    def diverge(self, *args, **kwargs):
        raise TrainingDiverged("meta-training diverged at epoch 3: loss nan, last finite loss 1.0e+00")

    monkeypatch.setattr(grid.MetaLearner, "fit", diverge)
    run = Run("mass_spring", "rank_one", 0, scale="quick")
    run_grid([run], tmp_path, progress=False)
    record = json.loads(result_path(tmp_path, run).read_text())
    assert record["status"] == "failed" and "epoch 3" in record["reason"] and "metrics" not in record
    assert run_grid([run], tmp_path, progress=False) == []  # a recorded failure is a finished run
    summary = table.summarize(table.load_results(tmp_path))
    assert table.format_cell(summary["mass_spring", "rank_one"], "eps_traj") == "failed (1/1)"


def test_non_finite_scores_are_recorded_as_failures(tmp_path, monkeypatch):
    def evaluate(self, *args, per_system=False, **kwargs):
        return {"eps_traj": [float("nan")], "eps_field": [0.1]} if per_system else {"eps_traj": float("nan")}

    monkeypatch.setattr(grid.MetaLearner, "evaluate", evaluate)
    run = Run("mass_spring", "scratch", 0, scale="quick")
    run_grid([run], tmp_path, progress=False)
    record = json.loads(result_path(tmp_path, run).read_text())
    assert record["status"] == "failed" and "not finite" in record["reason"] and "metrics" not in record
    # an older file that recorded such scores as "ok" is read as a failure too
    grid.write_json(result_path(tmp_path, run), {**fake_record(run), "metrics": {"eps_traj": float("nan")}})
    (loaded,) = table.load_results(tmp_path)
    assert loaded["status"] == "failed" and "not finite" in loaded["reason"]


def test_table_mean_std_over_seeds_and_best_in_bold(tmp_path):
    runs = [Run("pendulum", m, s) for m in ("rank_one", "maml") for s in (0, 1, 2)]
    for run in runs:
        grid.write_json(result_path(tmp_path, run), fake_record(run))
    summary = table.summarize(table.load_results(tmp_path))
    mean, std = summary["pendulum", "rank_one"]["metrics"]["eps_traj"]
    assert mean == pytest.approx(0.2) and std == pytest.approx(0.1)
    text = table.markdown_table(summary, "eps_traj")
    assert "| rank_one | **2.00e-01 ±\u00a01.0e-01** |" in text and "| maml | 7.00e-01 ±\u00a01.0e-01 |" in text


def test_a_broken_result_file_is_named_and_skipped(tmp_path):
    good, broken = Run("pendulum", "maml", 0), Run("pendulum", "maml", 1)
    grid.write_json(result_path(tmp_path, good), fake_record(good))
    result_path(tmp_path, broken).write_text('{"run": {"family": "pendu')  # truncated
    with pytest.warns(UserWarning, match=r"seed1\.json is not a readable result file.*skipped"):
        records = table.load_results(tmp_path)
    assert [r["run"]["seed"] for r in records] == [0]


def test_ood_table_and_latent_figure_read_their_variants(tmp_path):
    from spmeta.bench.ablation import latent_figure, ood_table

    main, ood = ["main", "ood"], ["ood", "shots30", "shots30_ood"]  # trained_for: one training each
    for run, value, trained_for in [
            (Run("pendulum", "svd", 0), 0.1, main), (Run("pendulum", "svd", 0, ood=True), 0.3, main),
            (Run("pendulum", "svd", 0, latent_dim=2), 0.2, ["dz2"]),
            (Run("pendulum", "svd", 1), 0.9, ["main"]),  # a seed the ablation lacks: not in its d_z = 10 point
            # maml: the main cell was trained apart from its OOD runs, so the 30-sample pair is compared
            (Run("pendulum", "maml", 0), 0.5, ["main"]), (Run("pendulum", "maml", 0, ood=True), 0.9, ood),
            (Run("pendulum", "maml", 0, shots=30, unit="samples"), 0.4, ood),
            (Run("pendulum", "maml", 0, shots=30, unit="samples", ood=True), 1.6, ood),
            # rank_one: no in-distribution run of the same training at all
            (Run("pendulum", "rank_one", 0), 0.1, ["main"]), (Run("pendulum", "rank_one", 0, ood=True), 0.2, ["ood"])]:
        record = {**fake_record(run), "trained_for": trained_for}
        record["metrics"] = {"eps_traj": value, "eps_field": value}
        grid.write_json(result_path(tmp_path, run), record)
    text = ood_table(tmp_path, ["pendulum"])
    assert "| pendulum | svd | 1 trajectory | 0 | 1.00e-01 | 3.00e-01 | 3.0× |" in text
    assert "| pendulum | maml | 30 samples | 0 | 4.00e-01 | 1.60e+00 | 4.0× |" in text
    assert "| pendulum | rank_one | no same-training pair | — | — | — | — |" in text
    fig = latent_figure(tmp_path, "pendulum", metrics=("eps_traj",))
    (line,) = fig.axes[0].lines[:1]
    assert list(line.get_xdata()) == [2, 10] and list(line.get_ydata()) == [0.2, 0.1]


def test_infeasible_supports_are_skipped_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(grid, "run_group", lambda group, **_: pytest.fail("nothing should run"))
    run = Run("mass_spring", "rank_one", 0, shots=300, unit="samples")  # 10 trajectories × 30 samples
    assert "no query" in grid.infeasible(run)
    assert grid.infeasible(Run("pendulum", "rank_one", 0, shots=300, unit="samples")) is None  # 45 samples each
    assert run_grid([run], tmp_path, progress=False) == [] and not list(tmp_path.rglob("*.json"))


def test_structure_checks_report_the_worst_seed(tmp_path):
    for seed, (rel, ds) in enumerate([(1e-16, 2e-3), (3e-15, -1e-9)]):
        run = Run("damped_oscillator", "svd", seed)
        grid.write_json(result_path(tmp_path, run), {"run": {"family": run.family, "method": run.method,
                           "seed": seed}, "status": "ok", "metrics": {"max_rel_dE_dt": rel, "min_dS_dt": ds}})
    entry = table.summarize(table.load_results(tmp_path))["damped_oscillator", "svd"]
    assert entry["metrics"]["max_rel_dE_dt"] == (3e-15, None) and entry["metrics"]["min_dS_dt"] == (-1e-9, None)
    assert table.format_cell(entry, "min_dS_dt") == "-1.00e-09"


def test_a_metric_that_only_some_seeds_recorded_says_so(tmp_path):
    """Older result files lack metrics added later: the cell names how many seeds it covers."""
    for seed, metrics in enumerate([{"eps_traj": 0.1, "learned_energy_drift": 1e-3}, {"eps_traj": 0.3},
                                    {"eps_traj": 0.2}]):
        run = Run("pendulum", "svd", seed)
        grid.write_json(result_path(tmp_path, run), {"run": {"family": run.family, "method": run.method,
                           "seed": seed}, "status": "ok", "metrics": metrics})
    entry = table.summarize(table.load_results(tmp_path))["pendulum", "svd"]
    assert entry["counts"] == {**entry["counts"], "eps_traj": 3, "learned_energy_drift": 1}
    assert table.format_cell(entry, "learned_energy_drift") == "1.00e-03 (1 of 3 seeds)"
    assert table.format_cell(entry, "eps_traj") == "2.00e-01 ±\u00a01.0e-01"


def test_variants_have_their_own_files():
    assert result_path("r", Run("duffing", "svd", 2)).as_posix() == "r/duffing/svd/seed2.json"
    shots = Run("duffing", "svd", 2, shots=5, unit="samples", ood=True, latent_dim=2)
    assert result_path("r", shots).as_posix() == "r/duffing/svd/shots5_ood_dz2/seed2.json"


def test_shots_sweep_and_ood_share_one_meta_training(tmp_path, monkeypatch):
    fits = []
    original_fit = grid.MetaLearner.fit
    monkeypatch.setattr(grid.MetaLearner, "fit", lambda self, *a, **k: fits.append(1) or original_fit(self, *a, **k))
    main(["run", "--families", "pendulum", "--methods", "rank_one", "--seeds", "0", "--scale", "quick",
          "--shots", "5", "30", "--box", "id", "ood", "--out", str(tmp_path)])
    assert len(fits) == 1
    records = {v: json.loads((tmp_path / "pendulum" / "rank_one" / v / "seed0.json").read_text())
               for v in ("shots5", "shots30", "shots5_ood", "shots30_ood")}
    assert all(r["status"] == "ok" and len(r["trained_for"]) == 4 for r in records.values())
    assert records["shots5"]["test_mu"] == records["shots30"]["test_mu"] != records["shots5_ood"]["test_mu"]
    assert records["shots5"]["metrics"] != records["shots30"]["metrics"]
    assert len(table.load_results(tmp_path, "shots5_ood")) == 1
    main(["table", "--out", str(tmp_path), "--variant", "shots5", "--plots", str(tmp_path / "plots")])
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["shots_pendulum.png", "shots_pendulum_ood.png"]


@pytest.mark.parametrize("bad, message", [(dict(family="spring"), "valid"), (dict(method="rank1"), "valid"),
                                          (dict(scale="huge"), "valid"), (dict(seed=-1), "seed"),
                                          (dict(latent_dim=0), "latent_dim"), (dict(shots=0), "shots"),
                                          (dict(unit="steps"), "unit"), (dict(noise=float("nan")), "noise")])
def test_bad_runs_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        Run(**{"family": "mass_spring", "method": "rank_one", "seed": 0, **bad})


def test_a_folder_of_another_scale_is_refused_and_repeats_run_once(tmp_path, monkeypatch):
    quick = Run("mass_spring", "rank_one", 0, scale="quick")
    grid.write_json(result_path(tmp_path, quick), {**fake_record(quick), "scale": {"name": "quick"}})
    with pytest.raises(ValueError, match="holds a quick-scale run"):  # before any training
        run_grid([Run("mass_spring", "rank_one", 0)], tmp_path, progress=False)
    groups = []
    monkeypatch.setattr(grid, "run_group", lambda group, **_: groups.append(group) or
                        [(run, fake_record(run)) for run in group])
    run_grid([Run("pendulum", "svd", 0, scale="quick")] * 2, tmp_path, progress=False)
    assert [len(g) for g in groups] == [1]
    # baselines have no latent code: another latent dimension is infeasible, not a retraining
    assert "no latent code" in grid.infeasible(Run("pendulum", "maml", 0, latent_dim=2))
    assert grid.infeasible(Run("pendulum", "svd", 0, latent_dim=2)) is None


def test_cli_rejects_bad_arguments_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for args in (["--seeds", "-1"], ["--threads", "0"], ["--noise", "nan"], ["--shots", "٣"],
                 ["--device", "bogus"], ["--out", str(tmp_path / "file")]):
        with pytest.raises(SystemExit) as exit_:
            main(["run", "--families", "mass_spring", "--methods", "scratch", "--scale", "quick", *args])
        assert exit_.value.code == 2, args


def test_cli_quick_smoke_run_writes_provenance_and_table(tmp_path, capsys):
    """The CI smoke test: one family, two methods, quick scale, through the CLI."""
    args = ["run", "--families", "mass_spring", "--methods", "rank_one", "anil", "--seeds", "0",
            "--scale", "quick", "--out", str(tmp_path)]
    main(args)
    for method in ("rank_one", "anil"):
        record = json.loads((tmp_path / "mass_spring" / method / "seed0.json").read_text())
        assert record["status"] == "ok", record.get("reason")
        assert record["command"][:3] == ["python", "-m", "spmeta.bench"] and record["run"]["seed"] == 0
        for key in ("commit", "versions", "config", "wall_s", "cpu_s", "loss_curve", "per_system", "scale",
                    "protocol", "recipe", "budget", "adaptation", "checkpoint"):
            assert key in record, key
        assert len(record["per_system"]["eps_traj"]) == record["scale"]["n_test"]
        assert 0 < record["cpu_s"] and 0 < record["train_s"] < record["wall_s"]
        assert 0 < record["metrics"]["eps_traj"] < 5 and record["metrics"]["eps_field"] > 0
        assert len(record["loss_curve"]) <= grid.MAX_CURVE_POINTS
        # the recorded config is what ran: its epochs (one loss per epoch; the scale's for the modulation, the
        # equal budget's for the baseline) and the scale's adaptation steps
        assert record["config"]["epochs"] == record["loss_curve"][-1][0] + 1
        assert (record["config"]["epochs"] == record["scale"]["epochs"]) == (method == "rank_one")
        assert record["config"]["adapt_steps"] == record["scale"]["adapt_steps"]
    main(args)
    assert "0 run(s) written" in capsys.readouterr().out
    main(["table", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "| rank_one |" in out and "| anil |" in out


def test_perf_quick_smoke_run(tmp_path, capsys):
    """The CI smoke test of `python -m spmeta.bench perf --quick`."""
    out = tmp_path / "perf.json"
    main(["perf", "--quick", "--out", str(out)])
    record = json.loads(out.read_text())
    assert record["quick"] and record["sgemm_gflops"] > 0 and record["adapt_steps_timed"] == 20
    for m in record["methods"].values():
        assert m["epoch_ms"] > 0 and m["epoch_gflop"] > 0 and m["memory_mb"] > 0 and m["adapt_s"] > 0
        # the derived figures follow from the measured ones (no speed target: that is `bench perf`'s job)
        assert m["gflops"] == pytest.approx(m["epoch_gflop"] / (m["epoch_ms"] / 1e3))
        assert m["peak_ratio"] == pytest.approx(m["gflops"] / record["sgemm_gflops"])
    assert set(record["fast_vs_reference"]) == {"hnn", "generic"}
    assert record["scaling"]["K"] == [10, 20] and record["paper_grid"]["hours"] > 0 and record["protocol"] == 2
    assert "speed-up" in capsys.readouterr().out


def test_epoch_evaluation_counts():
    from spmeta.bench.perf import epoch_evaluations
    from spmeta.meta.autodecode import AutoDecodeConfig
    from spmeta.meta.baselines import BaselineConfig

    assert epoch_evaluations("rank_one", 70, 300, AutoDecodeConfig()) == [(300, 140)]
    assert epoch_evaluations("rank_one", 70, 300, AutoDecodeConfig(simultaneous=True)) == [(300, 70)]
    assert epoch_evaluations("svd", 70, 1000, AutoDecodeConfig(batch_samples=250)) == [(250, 140)]
    config = BaselineConfig()  # 10 tasks, 5 inner steps, 30 support samples
    assert epoch_evaluations("fomaml", 70, 300, config) == [(30, 50), (270, 10)]
    assert epoch_evaluations("maml", 70, 300, config) == [(30, 100), (270, 10)]
    assert epoch_evaluations("reptile", 70, 300, config) == [(300, 50)]


def test_family_table_puts_the_papers_values_beside_ours(tmp_path):
    from spmeta.bench.report import family_table

    runs = [Run("mass_spring", m, s) for m in ("rank_one", "maml") for s in (0, 1)]
    for run in runs:
        grid.write_json(result_path(tmp_path, run), fake_record(run))
    text = family_table(table.summarize(table.load_results(tmp_path)), "mass_spring", metrics=("eps_traj",))
    assert "| rank_one | 1.50e-01 ±\u00a07.1e-02 | ε_traj 0.049 (v1) |" in text
    assert "| maml | 6.50e-01 ±\u00a07.1e-02 | — |" in text


def test_ordering_and_targets_from_the_summary(tmp_path):
    from spmeta.bench.report import ordering, ordering_table, targets_table

    values = {"svd": 0.01, "rank_one": 0.03, "maml": 0.02, "scratch": 0.5}
    for method, value in values.items():
        record = fake_record(Run("pendulum", method, 0))
        record["metrics"] = {"eps_traj": value, "eps_field": 10 * value}
        grid.write_json(result_path(tmp_path, Run("pendulum", method, 0)), record)
    failed = {"run": {"family": "pendulum", "method": "anil", "seed": 0}, "status": "failed", "reason": "nan"}
    grid.write_json(result_path(tmp_path, Run("pendulum", "anil", 0)), failed)
    summary = table.summarize(table.load_results(tmp_path))
    o = ordering(summary, "pendulum")  # rank_one (0.03) loses to maml (0.02); anil's failure counts as beaten
    assert (o["worst_modulation"], o["best_baseline"], o["holds"], o["complete"]) == ("rank_one", "maml", False, False)
    assert o["failed_baselines"] == ["anil"]
    assert "| pendulum | rank_one 0.03 | maml 0.02 (anil failed) | fails | 5 of 10 (incomplete) |" in ordering_table(summary)
    targets = targets_table(summary)  # the paper's best on pendulum: svd, 0.0533 (ε_traj), 0.0462 (ε_field)
    assert "| pendulum | ε_traj | 0.0533 (svd, icml) | 0.01 (svd, 1 seed(s)) | yes |" in targets
    assert "| pendulum | ε_field | 0.0462 (svd, icml) | 0.1 (svd, 1 seed(s)) | no (2.2× the paper's) |" in targets
    from spmeta.bench.report import best_method, claims

    assert best_method(summary, "pendulum", ("svd", "rank_one")) == ("svd", 0.01)
    assert best_method(summary, "duffing", ("svd",)) == (None, None)
    shots = {1: summary, 5: {}}  # the same files stand in for a one-sample sweep
    lines = claims(summary, shots, families=("pendulum",))
    assert lines[0] == ("- **pendulum**: best modulation svd (ε_traj 0.01); best optimisation-based maml (0.02), an "
                        "error reduction of 50%; diverged: anil")
    assert lines[1].startswith("- **pendulum, shots sweep**: SVD-like is the best modulation at 1 of 1 support sizes")


def test_recipe_table_compares_means_and_cpu_and_skips_files_without_the_metric():
    from spmeta.bench.report import recipe_table

    def record(recipe, eps, cpu, field=None):
        metrics = {"eps_traj": eps, **({"eps_field": field} if field is not None else {})}
        return {"run": {"family": "mass_spring", "method": "rank_one"}, "status": "ok", "recipe": recipe,
                "metrics": metrics, "cpu_s": cpu}

    before = [record("v1", 0.02, 800.0), record("v1", 0.04, 1000.0, field=0.1)]
    after = [record("r2", 0.015, 90.0, field=0.05), record("r2", 0.015, 110.0, field=0.05),
             {**record("r2", 9.9, 1.0), "status": "failed"}]
    row = recipe_table(before, after, ["mass_spring"]).splitlines()[2]
    assert row == "| mass_spring | rank_one | 3.00e-02 (2) | 1.50e-02 (2) | 0.50 | 900 (2) | 100 (2) | 0.11 |"
    row = recipe_table(before, after, ["mass_spring"], metric="eps_field").splitlines()[2]
    assert row.startswith("| mass_spring | rank_one | 1.00e-01 (1) | 5.00e-02 (2) | 0.50 | 1000 (1) |"), row


def test_main_grid_takes_each_family_from_the_newest_complete_recipe(tmp_path):
    def write(out, family, recipe, methods=grid.GRID_METHODS, seeds=(0, 1, 2)):
        for method in methods:
            for seed in seeds:
                run = Run(family, method, seed)
                grid.write_json(result_path(out, run), {**fake_record(run), "recipe": recipe})

    for family in ("pendulum", "duffing", "gas_containers"):
        write(tmp_path, family, "v1")
    write(tmp_path / "r2", "pendulum", "r2")
    write(tmp_path / "r2", "duffing", "r2")
    write(tmp_path / "r3", "duffing", "r3")
    write(tmp_path / "r3", "gas_containers", "r3", seeds=(0, 1))  # incomplete: the v1 files stay
    records = table.load_main_grid(tmp_path, recipes=("r3", "r2"))
    recipes = {r["run"]["family"]: {x["recipe"] for x in records if x["run"]["family"] == r["run"]["family"]}
               for r in records}
    assert recipes == {"pendulum": {"r2"}, "duffing": {"r3"}, "gas_containers": {"v1"}}
    assert len(records) == 3 * 3 * len(grid.GRID_METHODS)
    assert {r["recipe"] for r in table.load_main_grid(tmp_path, recipes="r2")} == {"r2", "v1"}


def test_main_grid_borrows_only_cells_that_train_identically(tmp_path):
    """r3 changes only the GENERIC families' modulations, MAML's inner step and the baselines' budget there:
    on the Hamiltonian families every r2 run stands for r3's, on a GENERIC family only Scratch's."""
    def write(family, recipe, methods, seeds=(0, 1, 2)):
        for method in methods:
            for seed in seeds:
                run = Run(family, method, seed)
                grid.write_json(result_path(tmp_path / recipe, run), {**fake_record(run), "recipe": recipe})

    assert recipes.same_training("shift", "duffing", "r3", "r2")
    assert recipes.same_training("scratch", "gas_containers", "r3", "r2")
    assert not recipes.same_training("anil", "gas_containers", "r3", "r2")  # twice the budget under r3
    assert not recipes.same_training("shift", "gas_containers", "r3", "r2")
    others = [m for m in grid.GRID_METHODS if m != "scratch"]
    write("duffing", "r3", others)
    write("duffing", "r2", grid.GRID_METHODS)
    write("gas_containers", "r3", others)
    write("gas_containers", "r2", ["scratch"])
    write("damped_oscillator", "r3", [m for m in others if m != "anil"])
    write("damped_oscillator", "r2", grid.GRID_METHODS)
    records = table.load_main_grid(tmp_path, recipes=("r3", "r2"))
    by_family = {}
    for r in records:
        by_family.setdefault(r["run"]["family"], []).append((r["run"]["method"], r["recipe"]))
    assert sorted(by_family["duffing"]) == sorted([(m, "r3") for m in others for _ in range(3)]
                                                  + [("scratch", "r2")] * 3)
    assert sorted(by_family["gas_containers"]) == sorted([(m, "r3") for m in others for _ in range(3)]
                                                         + [("scratch", "r2")] * 3)
    # ANIL's r2 runs had half r3's budget: r3 is incomplete, and the family is r2's throughout
    assert {recipe for _, recipe in by_family["damped_oscillator"]} == {"r2"}
