"""Auto-decoding, the baselines and the MetaLearner API, on tiny user-defined families."""
import pytest
import torch

import spmeta
from spmeta.data import Samples
from spmeta.learner import aggregate_scores
from spmeta.meta import AutoDecodeConfig, LatentTable, adapt, meta_train
from spmeta.meta.baselines import _loss, adapt_parameters
from spmeta.models import HNN
from spmeta.nn.modulated import ModulatedMLP
from spmeta.training import TrainingDiverged


def _oscillator_family():
    """A family that is not in the library: H = p²/2 + w² q²/2 + c q⁴/4."""
    def H(x, mu):
        q, p = x[..., 0], x[..., 1]
        return p**2 / 2 + mu[..., 0] ** 2 * q**2 / 2 + mu[..., 1] * q**4 / 4

    return spmeta.HamiltonianFamily("test_oscillator", H, dof=1, param_ranges={"w": (0.8, 1.6), "c": (0.0, 0.5)},
                                    t_span=(0.0, 2.0), n_steps=12, ic_radius=(0.3, 1.0))


@pytest.fixture(scope="module")
def data():
    return spmeta.make_dataset(_oscillator_family(), n_train=6, n_test=3, n_traj=3, seed=0)


def test_dataset_shapes_and_splits(data):
    assert data.train.X.shape == (6, 3, 12, 2) and data.test.X.shape == (3, 3, 12, 2)
    torch.testing.assert_close(data.train.Xdot, data.family.vector_field(data.train.X, data.train.mu[:, None, None]))
    support = data.test.support(shots=1)
    assert support.x.shape == (3, 12, 2)
    assert data.test.query(shots=1).X.shape == (3, 2, 12, 2)
    few = data.test.support(shots=5, unit="samples")
    assert few.x.shape == (3, 5, 2) and torch.equal(few.x, support.x[:, :5])
    assert data.test.query(shots=13, unit="samples").n_traj == 1
    with pytest.raises(ValueError, match="no query"):
        data.test.support(shots=3)
    again = spmeta.make_dataset(_oscillator_family(), n_train=6, n_test=3, n_traj=3, seed=0)
    assert torch.equal(again.test.X, data.test.X)
    ood = spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=2, n_test=2, n_traj=2, seed=0, ood=True)
    assert (ood.test.mu >= 5).all() and (ood.train.mu <= 5).all()


def test_latents_persist_and_adaptation_helps(data):
    torch.manual_seed(0)
    model = HNN(1, width=16, depth=2, modulation="rank_one", latent_dim=3).double()
    config = AutoDecodeConfig(epochs=150, lr_base=3e-3, lr_latent=3e-2, adapt_steps=60, lr_adapt=5e-2)
    latents, history = meta_train(model, data.train.samples(), config, progress=False)
    assert history[-1] < 0.2 * history[0]
    codes = latents.codes.detach().clone()
    latents, more = meta_train(model, data.train.samples(), AutoDecodeConfig(epochs=2), latents=latents,
                               progress=False)
    assert not torch.equal(codes, latents.codes)  # continued from the same codes, never reset
    assert (latents.codes - codes).abs().max() < 0.5
    support = data.test.support(shots=1)
    z, adapt_history = adapt(model, support, latents.mean(), config)
    assert z.shape == (3, 3) and adapt_history[-1] < adapt_history[0]


def test_divergence_names_the_epoch(data):
    model = HNN(1, width=8, depth=1, modulation="shift", latent_dim=2).double()
    with torch.no_grad():
        model.hamiltonian_net.base.weights[0].fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="epoch 0"):
        meta_train(model, data.train.samples(), AutoDecodeConfig(epochs=3), progress=False)


def test_batch_samples_draws_that_many_samples_per_system_and_step(data):
    samples = data.train.samples()  # 6 systems × 36 samples

    def train(**settings):
        torch.manual_seed(0)
        model = HNN(1, width=8, depth=1, modulation="shift", latent_dim=2).double()
        seen = []
        model.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
        config = AutoDecodeConfig(epochs=3, batch_systems=4, compile="off", **settings)
        latents, history = meta_train(model, samples, config, progress=False)
        return latents.codes.detach(), history, seen

    codes, history, seen = train(batch_samples=5)
    assert {shape[1:] for shape in seen} == {(5, 2)} and {shape[0] for shape in seen} == {4, 2}
    assert all(torch.isfinite(torch.tensor(history)))
    # as many samples as there are (or more): every step sees all of them, exactly as batch_samples=None
    everything = [train(batch_samples=size) for size in (None, samples.n_samples, 10**6)]
    for codes_, history_, seen_ in everything:
        assert {shape[1] for shape in seen_} == {samples.n_samples}
        torch.testing.assert_close(codes_, everything[0][0], rtol=0, atol=0)
        assert history_ == everything[0][1]
    assert not torch.equal(codes, everything[0][0])
    with pytest.raises(ValueError, match="batch_samples"):
        train(batch_samples=0)


def test_saved_learner_round_trip(tmp_path, data):
    learner = spmeta.MetaLearner(modulation="svd", latent_dim=2, rank=2, width=8, depth=1, epochs=3, lambda_z=0.5)
    learner.fit(data.train, progress=False)
    learner.save(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="not built in"):
        spmeta.MetaLearner.load(tmp_path / "ckpt.pt")
    loaded = spmeta.MetaLearner.load(tmp_path / "ckpt.pt", family=data.train.family)
    assert loaded.config == learner.config and loaded.budget == learner.budget and loaded.history == learner.history
    torch.testing.assert_close(loaded.latents.codes, learner.latents.codes)
    x, z = torch.randn(6, 4, 2), learner.latents.codes.detach()[:6]
    torch.testing.assert_close(loaded.net(x, z), learner.net(x, z))
    support = data.test.support()
    assert loaded.evaluate(data.test, loaded.adapt(support)) == learner.evaluate(data.test, learner.adapt(support))
    with pytest.raises(ValueError, match="not a learner checkpoint"):
        torch.save({"format": "other"}, tmp_path / "other.pt")
        spmeta.MetaLearner.load(tmp_path / "other.pt")


def test_maml_second_order_gradient_matches_finite_differences():
    torch.manual_seed(0)
    model = HNN(1, width=4, depth=1).double()
    xs, xq = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    ys, yq = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)

    def outer(params):
        fast = adapt_parameters(model, params, xs, ys, steps=2, lr=0.1, create_graph=True)
        return _loss(model, fast, xq, yq)

    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    grads = torch.autograd.grad(outer(params), list(params.values()), allow_unused=True)
    eps = 1e-6
    for (name, p), g in zip(params.items(), grads):
        for index in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            shifted = {n: q.detach().clone() for n, q in params.items()}
            plus = {**shifted, name: shifted[name].clone().index_put_(tuple(torch.tensor([i]) for i in index),
                                                                      torch.tensor(eps, dtype=torch.float64),
                                                                      accumulate=True).requires_grad_(True)}
            minus = {**shifted, name: shifted[name].clone().index_put_(tuple(torch.tensor([i]) for i in index),
                                                                       torch.tensor(-eps, dtype=torch.float64),
                                                                       accumulate=True).requires_grad_(True)}
            plus = {n: q.requires_grad_(True) for n, q in plus.items()}
            minus = {n: q.requires_grad_(True) for n, q in minus.items()}
            numeric = (outer(plus) - outer(minus)).item() / (2 * eps)
            analytic = 0.0 if g is None else g[index].item()
            assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-7), (name, index)


@pytest.mark.parametrize("kwargs", [dict(modulation="rank_one"), dict(method="maml"), dict(method="fomaml"),
                                    dict(method="anil"), dict(method="reptile"), dict(method="scratch")])
def test_metalearner_runs_every_method(data, kwargs):
    learner = spmeta.MetaLearner(model="hnn", width=16, depth=2, dtype=torch.float64,
                                 **({"epochs": 3, "latent_dim": 3} if "modulation" in kwargs else
                                    {"epochs": 2, "tasks_per_step": 2, "inner_steps": 1, "n_support": 12}),
                                 **kwargs)
    learner.fit(data.train, progress=False)
    adapted = learner.adapt(data.test.support(shots=1), steps=3)
    scores = learner.evaluate(data.test, adapted)
    assert {"eps_traj", "eps_field", "eps_field_family", "ssim", "energy_drift", "learned_energy_drift"} <= set(scores)
    truth = spmeta.learner.Adapted(lambda x: data.test.family.vector_field(x, data.test.mu[:, None, :]),
                                   data.test.n_systems)
    exact = learner.evaluate(data.test, truth)  # the true field scores zero on both grids
    assert exact["eps_field"] == exact["eps_field_family"] == 0 and exact["eps_traj"] < 1e-6
    assert 0 <= scores["learned_energy_drift"] < 1e-3  # RK4 with 10 substeps keeps the learned H̃
    assert all(torch.isfinite(torch.tensor(v)) for v in scores.values())
    per_system = learner.evaluate(data.test, adapted, per_system=True)
    assert all(len(v) == data.test.n_systems for v in per_system.values())
    assert sum(per_system["eps_traj"]) / data.test.n_systems == pytest.approx(scores["eps_traj"])
    x = data.test.X[:, 0, :5]  # (K, 5, 2)
    for k in range(data.test.n_systems):  # one system's field alone equals its slice of the batched field
        torch.testing.assert_close(adapted.system_field(k)(x[k]), adapted.field(x)[k])
    with pytest.raises(ValueError, match="out of range"):
        adapted.system_field(data.test.n_systems)


def test_evaluate_scores_the_query_of_the_support_it_was_adapted_on(data):
    learner = spmeta.MetaLearner(model="hnn", modulation="shift", latent_dim=3, width=16, depth=2, epochs=2,
                                 dtype=torch.float64)
    learner.fit(data.train, progress=False)
    adapted = learner.adapt(data.test.support(shots=2), steps=2)
    assert adapted.support == (2, "trajectories")
    default, explicit = learner.evaluate(data.test, adapted), learner.evaluate(data.test, adapted, shots=2)
    assert default == explicit  # the default query is the one this support leaves, not the 1-trajectory one
    with pytest.raises(ValueError, match="adapted on a support of 2 trajectories"):
        learner.evaluate(data.test, adapted, shots=1)
    with pytest.raises(ValueError, match="adapted systems"):
        learner.evaluate(data.test, spmeta.learner.Adapted(adapted.field, data.test.n_systems + 1))


@pytest.mark.parametrize("call, message", [
    (lambda: spmeta.make_dataset("mass_spring"), "needs a Family"),
    (lambda: spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=0), "n_train must be an integer"),
    (lambda: spmeta.make_dataset(spmeta.get_family("mass_spring"), noise=float("nan")), "noise must be finite"),
    (lambda: spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=2, n_test=1, n_traj=2).test.support(
        shots=2), "leave no query"),
    (lambda: spmeta.MetaLearner(model="hnn", modulation="shift").adapt(None), "call fit"),
    (lambda: spmeta.MetaLearner(model="hnn", modulation="shift", init="avg"), "unknown init 'avg'"),
    (lambda: spmeta.MetaLearner(model="hnn", modulation="shift", epochs=2.5), "epochs must be an integer"),
    (lambda: spmeta.MetaLearner(model="hnn", modulation="shift", batch_samples=True), "batch_samples"),
    (lambda: HNN(dof=1, gradient="jvp"), "unknown gradient mode 'jvp'.*'explicit', 'autograd'"),
    (lambda: spmeta.MetaLearner(method="maml", inner_steps=0), "inner_steps must be an integer >= 1"),
    (lambda: spmeta.MetaLearner(), "pass modulation=.*or method="),
    (lambda: ModulatedMLP(2, depth=0), "depth"),  # nothing to modulate: the codes would do nothing
    (lambda: spmeta.MetaLearner(method="scratch", scratch_lr=-1e-3), "scratch_lr must be positive"),
    (lambda: spmeta.MetaLearner(model="hnn", modulation="shift", lambda_z=float("nan")), "lambda_z must be >= 0"),
])
def test_bad_input_fails_early_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_metalearner_adaptation_lowers_the_trajectory_error():
    """Adapting the codes on one support trajectory beats z_avg on a family of very different stiffnesses."""
    def H(x, mu):
        return x[..., 1] ** 2 / 2 + mu[..., 0] * x[..., 0] ** 2 / 2

    family = spmeta.HamiltonianFamily("stiffness", H, dof=1, param_ranges={"k": (0.5, 4.0)}, t_span=(0.0, 3.0),
                                      n_steps=16, ic_radius=(0.5, 1.0))
    data = spmeta.make_dataset(family, n_train=8, n_test=4, n_traj=3, seed=0)
    learner = spmeta.MetaLearner(model="hnn", modulation="rank_one", latent_dim=2, width=16, depth=2,
                                 dtype=torch.float64, lr_base=3e-3, lr_latent=3e-2, lr_adapt=3e-2)
    learner.fit(data.train, epochs=200, progress=False)
    support = data.test.support(shots=1)
    before = learner.evaluate(data.test, learner.adapt(support, steps=0))
    after = learner.evaluate(data.test, learner.adapt(support, steps=50))
    assert after["eps_traj"] < 0.7 * before["eps_traj"], (before, after)


@pytest.mark.parametrize("method", [dict(modulation="svd", rank=2, latent_dim=2), dict(method="maml", epochs=2),
                                    dict(method="scratch")], ids=["svd", "maml", "scratch"])
def test_metalearner_generic_family_structure(method):
    """Every GENERIC learner, modulated or not, keeps dE/dt = 0 and dS/dt ≥ 0 along its rollouts."""
    family = spmeta.get_family("damped_oscillator")
    data = spmeta.make_dataset(family, n_train=3, n_test=2, n_traj=2, seed=0)
    learner = spmeta.MetaLearner(model="generic", width=8, depth=1, dtype=torch.float64, **method)
    learner.fit(data.train, epochs=2, progress=False)
    per_system = learner.evaluate(data.test, learner.adapt(data.test.support(1), steps=2), substeps=1,
                                  per_system=True)
    scores = aggregate_scores(per_system)
    assert len(per_system["max_rel_dE_dt"]) == 2
    assert scores["max_rel_dE_dt"] < 1e-10 and scores["min_dS_dt"] > -1e-10, scores
    assert scores["max_abs_dE_dt"] == max(per_system["max_abs_dE_dt"])
    assert scores["eps_traj"] == pytest.approx(sum(per_system["eps_traj"]) / 2)


def test_metalearner_errors(data):
    with pytest.raises(ValueError, match=r"unknown model 'lnn'.*'hnn', 'generic'"):
        spmeta.MetaLearner(model="lnn", modulation="shift")
    with pytest.raises(ValueError, match="unknown modulation 'lora'.*rank_one"):
        spmeta.MetaLearner(modulation="lora")
    with pytest.raises(ValueError, match="unknown method 'protonet'.*maml"):
        spmeta.MetaLearner(method="protonet")
    with pytest.raises(ValueError, match="leave modulation=None"):
        spmeta.MetaLearner(method="maml", modulation="shift")
    with pytest.raises(ValueError, match="unknown settings"):
        spmeta.MetaLearner(modulation="shift", inner_lr=0.1)
    learner = spmeta.MetaLearner(model="generic", modulation="shift")
    with pytest.raises(ValueError, match="needs a GenericFamily"):
        learner.fit(data.train, epochs=1, progress=False)
    with pytest.raises(ValueError, match="fit"):
        spmeta.MetaLearner(modulation="shift").adapt(data.test.support(1))
    learner = spmeta.MetaLearner(modulation="shift", latent_dim=2, width=8, depth=1)
    learner.fit(data.train, epochs=1, progress=False)
    wrong = Samples(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="states of length 3"):
        learner.adapt(wrong)
    with pytest.raises(ValueError, match="takes support samples.*got a Trajectories"):
        learner.adapt(data.test)


def test_noise_is_on_what_a_model_sees_and_never_on_the_scored_truth():
    family = spmeta.get_family("mass_spring")
    clean = spmeta.make_dataset(family, n_train=3, n_test=2, n_traj=3, seed=1)
    noisy = spmeta.make_dataset(family, n_train=3, n_test=2, n_traj=3, seed=1, noise=0.05)
    assert torch.equal(noisy.train.X, clean.train.X) and torch.equal(noisy.test.X, clean.test.X)
    seen = noisy.train.samples().x - clean.train.samples().x
    spread = clean.train.X.reshape(-1, 2).std(0)
    assert 0.02 < (seen / spread).std() < 0.08  # 5 % of the training spread, per coordinate
    assert not torch.equal(noisy.test.support(1).x, clean.test.support(1).x)
    assert torch.equal(noisy.test.query(1).X, clean.test.query(1).X)  # scored against the exact trajectories
    assert torch.equal(noisy.train.Xdot, clean.train.Xdot)  # derivatives stay exact


def test_generic_inputs_are_standardised_with_the_observed_states():
    """With noise, a GENERIC network's input standardisation comes from the states a model sees, not the
    exact ones (the ε_field grid keeps the exact training states)."""
    family = spmeta.get_family("damped_oscillator")
    noisy = spmeta.make_dataset(family, n_train=3, n_test=1, n_traj=2, seed=0, noise=0.2)
    learner = spmeta.MetaLearner(model="generic", method="scratch", width=8, depth=1, dtype=torch.float64)
    learner.fit(noisy.train, progress=False)
    observed = noisy.train.observed.reshape(-1, 3)
    torch.testing.assert_close(learner.net.input_shift, observed.mean(0))
    assert not torch.allclose(learner.net.input_shift, noisy.train.X.reshape(-1, 3).mean(0))


def test_settings_that_would_do_nothing_are_refused():
    for bad in (dict(latent_dim=-3), dict(rank=0)):
        with pytest.raises(ValueError):
            spmeta.MetaLearner("hnn", modulation="svd", **bad)
    with pytest.raises(ValueError, match="operator_rank"):
        spmeta.models.GenericNet(3, operator_rank=0)
    with pytest.raises(ValueError, match="no modulation; the operators' rank is operator_rank"):
        spmeta.models.GenericNet(3, rank=2)  # the former meaning of rank: an error, never a silent change
    with pytest.warns(DeprecationWarning, match="modulation_rank"):
        assert spmeta.models.GenericNet(3, modulation="svd", modulation_rank=3).energy_net.modulations[0].rank == 3
    # settings that do not apply to what was asked for
    for name in ("shift", "film", "full_weight", "rank_one"):
        with pytest.raises(ValueError, match=f"'{name}' modulation has no rank"):
            spmeta.MetaLearner("hnn", modulation=name, rank=3)
    for bad in (dict(latent_dim=4), dict(rank=2)):
        with pytest.raises(ValueError, match="no latent code"):
            spmeta.MetaLearner("hnn", method="maml", **bad)
    with pytest.raises(ValueError, match="construction is a GENERIC"):
        spmeta.MetaLearner("hnn", modulation="shift", construction="nms")
    with pytest.raises(ValueError, match="RankOne has rank 1"):
        spmeta.nn.modulation.RankOne(3, 4, rank=2)
    assert spmeta.MetaLearner("hnn", modulation="svd").rank == 5 and spmeta.MetaLearner("hnn", modulation="film").rank is None
    # sizes that would do nothing, or something else than asked
    model = spmeta.models.HNN(1, width=8, depth=1)
    for bad in (dict(batch_size=0), dict(steps=0), dict(steps=2.5)):
        with pytest.raises(ValueError, match="batch_size|steps"):
            spmeta.training.fit_vector_field(model, torch.zeros(5, 2), torch.zeros(5, 2), **{"steps": 1} | bad,
                                             progress=False)
    for substeps in (0, 1.5):
        with pytest.raises(ValueError, match="substeps"):
            spmeta.integrators.rollout(model, torch.zeros(1, 2), torch.linspace(0, 1, 3), substeps=substeps)
    # the explicit input gradient never falls back to autograd without a word
    custom = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with pytest.raises(ValueError, match="explicit"):
        spmeta.models.HNN(1, hamiltonian_net=custom, gradient="explicit")
    model = spmeta.models.HNN(1, hamiltonian_net=custom)
    model.gradient_mode = "explicit"
    with pytest.raises(ValueError, match="no explicit input gradient"):
        model(torch.zeros(3, 2))
    data = spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=2, n_test=1, n_traj=2, seed=0)
    learner = spmeta.MetaLearner("hnn", method="scratch", width=8, depth=1)
    with pytest.raises(ValueError, match="epochs"):
        learner.fit(data.train, epochs=0, progress=False)
    learner.fit(data.train, progress=False)
    with pytest.raises(ValueError, match="lr"):
        learner.adapt(data.test.support(1), steps=1, lr=0.0)
    with pytest.raises(ValueError, match="optimiser"):
        learner.adapt(data.test.support(1), steps=1, optimiser="lbfgs")


def test_anil_heads_and_hypernetworks_come_from_the_model_structure_not_from_names():
    from spmeta.meta.autodecode import _hypernet_parameters
    from spmeta.meta.baselines import head_names
    from spmeta.models import HNN, GenericNet

    assert head_names(HNN(1, width=8, depth=2)) == ["hamiltonian_net.weights.2", "hamiltonian_net.biases.2"]
    assert head_names(GenericNet(3, width=8, depth=1)) == ["energy_net.weights.1", "energy_net.biases.1",
                                                           "entropy_net.weights.1", "entropy_net.biases.1"]
    with pytest.raises(ValueError, match="scalar_networks"):
        head_names(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="plain MLP"):
        head_names(HNN(1, width=8, depth=2, modulation="shift", latent_dim=2))

    class Renamed(torch.nn.Module):  # a hypernetwork under another attribute name still counts
        def __init__(self):
            super().__init__()
            self.inner = spmeta.nn.modulated.ModulatedMLP(2, 1, 8, 1, modulation="shift", latent_dim=2)

    model = Renamed()
    assert {id(p) for p in _hypernet_parameters(model)} == {id(p) for p in model.inner.hypernet.parameters()}
    assert _hypernet_parameters(torch.nn.Linear(2, 2)) == []


@pytest.mark.parametrize("updates", ["sparse", "dense"])
def test_a_code_step_moves_only_the_batch_and_sparse_leaves_the_others_moments_alone(updates):
    from spmeta.meta.autodecode import AutoDecodeConfig, latent_lookup, latent_optimiser, latent_step

    config = AutoDecodeConfig(latent_updates=updates)
    codes = torch.nn.Parameter(torch.randn(6, 3, dtype=torch.float64))
    optimiser = latent_optimiser(codes, config)
    moments = []
    for batch in (torch.tensor([0, 1]), torch.tensor([2, 3])):
        before = codes.detach().clone()
        optimiser.zero_grad()
        (latent_lookup(codes, batch, config) - 1).pow(2).sum().backward()
        assert codes.grad.is_sparse == (updates == "sparse")
        latent_step(optimiser, codes, batch, config)
        moved = (codes.detach() != before).any(-1)
        assert moved.tolist() == [i in batch for i in range(6)], moved  # the batch's codes, and only they
        moments.append(optimiser.state[codes]["exp_avg"].clone())
    # codes 0 and 1 sat out the second step: sparse, their first moments are as the first step left them;
    # dense, Adam decayed them by β₁ although their codes were put back
    first, second = moments
    decay = 1.0 if updates == "sparse" else 0.9
    torch.testing.assert_close(second[:2], decay * first[:2])
    assert first[:2].abs().min() > 0 and second[4:].abs().max() == 0
