"""The levers of GENERIC meta-training (chapter 11): GenericNet(modulate_operators=True) conditions the operators
on the latent code too, the structure still holds for every code, the code reaches the operators, and the learner
and the recipes pass the option on; modulate_entropy=False shares one S; the GENERIC defaults; gradient clipping;
how a training ended."""
import dataclasses

import pytest
import torch
from hypothesis import given, settings
from torch.optim.optimizer import register_optimizer_step_pre_hook
from hypothesis import strategies as st

from spmeta import MetaLearner
from spmeta.bench.recipes import RECIPES, method_settings
from spmeta.models import GenericNet
from spmeta.models.generic import CONSTRUCTIONS
from spmeta.nn.modulation import MODULATIONS, RANKED
from test_models import _randomise


def _model(construction, modulation, dim=3, seed=0, scale=1.0, modulate_entropy=True):
    net = GenericNet(dim, width=12, depth=2, operator_rank=2, operator_width=8, modulation=modulation, latent_dim=3,
                     rank=2 if modulation in RANKED else None, construction=construction,
                     modulate_operators=True, modulate_entropy=modulate_entropy)
    return _randomise(net, seed, scale)


@settings(max_examples=30, deadline=None)
@given(construction=st.sampled_from(sorted(CONSTRUCTIONS)), modulation=st.sampled_from(sorted(MODULATIONS)),
       dim=st.integers(2, 4), seed=st.integers(0, 2**31 - 1), scale=st.floats(0.3, 3.0), shared=st.booleans(),
       modulate_entropy=st.booleans())
def test_modulated_operators_keep_the_structure_for_every_code(construction, modulation, dim, seed, scale, shared,
                                                               modulate_entropy):
    net = _model(construction, modulation, dim, seed, scale, modulate_entropy)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, dim, dtype=torch.float64, generator=generator)
    z = 2 * torch.randn(1 if shared else 3, 3, dtype=torch.float64, generator=generator)
    L, M = net.operators(x, z)
    grad_e, grad_s = net.gradients(x, z)
    f = net(x, z)
    size = 1 + L.abs().amax() + M.abs().amax()
    scale_f = size * (1 + grad_e.norm(dim=-1).amax() + grad_s.norm(dim=-1).amax())
    tol = 1e-9
    assert L.shape == M.shape == (3, 5, dim, dim)
    assert (L + L.mT).abs().max() <= tol * size, "L must be skew"
    assert (M - M.mT).abs().max() <= tol * size, "M must be symmetric"
    assert torch.linalg.eigvalsh(M).min() >= -tol * size, "M must be positive semi-definite"
    assert (L @ grad_s[..., None]).abs().max() <= tol * scale_f, "L∇S = 0"
    assert (M @ grad_e[..., None]).abs().max() <= tol * scale_f, "M∇E = 0"
    applied = (L @ grad_e[..., None] + M @ grad_s[..., None])[..., 0]
    assert (f - applied).abs().max() <= tol * scale_f, "forward = L∇E + M∇S"


@pytest.mark.parametrize("construction", sorted(CONSTRUCTIONS))
def test_the_code_reaches_the_operators(construction):
    """With E and S held fixed (their hypernetworks zeroed), a change of code still changes the field and M."""
    net = _model(construction, "shift")
    with torch.no_grad():
        for scalar in (net.energy_net, net.entropy_net):
            for p in scalar.hypernet.parameters():
                p.zero_()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    z1, z2 = torch.zeros(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    assert torch.equal(net.gradients(x, z1)[0], net.gradients(x, z2)[0])
    assert not torch.allclose(net(x, z1), net(x, z2))
    assert not torch.allclose(net.operators(x, z1)[1], net.operators(x, z2)[1])


@pytest.mark.parametrize("construction", sorted(CONSTRUCTIONS))
def test_a_shared_entropy_ignores_the_code(construction):
    """modulate_entropy=False: S and ∇S are the same for every code, E and the field are not."""
    net = _model(construction, "film", modulate_entropy=False)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    z1, z2 = torch.zeros(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    assert torch.equal(net.entropy(x, z1), net.entropy(x, z2))
    assert torch.equal(net.gradients(x, z1)[1], net.gradients(x, z2)[1])
    assert not torch.allclose(net.energy(x, z1), net.energy(x, z2))
    assert not torch.allclose(net(x, z1), net(x, z2))


def test_projection_code_change_of_a_starts_at_zero():
    net = GenericNet(3, modulation="rank_one", latent_dim=4, modulate_operators=True)
    assert torch.count_nonzero(net.skew_factor_code.weight) == 0


@pytest.mark.parametrize("setting", [{"modulate_operators": True}, {"modulate_entropy": False}], ids=str)
def test_bad_uses_of_the_code_settings_are_refused(setting):
    with pytest.raises(ValueError, match="needs a modulation|modulated GenericNet"):
        GenericNet(3, **setting)
    with pytest.raises(ValueError, match="GENERIC family"):
        MetaLearner("hnn", modulation="shift", **setting)
    with pytest.raises(ValueError, match="GENERIC family"):
        MetaLearner("generic", method="maml", **setting)


def test_recipes_pass_it_to_the_modulations_only():
    recipe = dataclasses.replace(RECIPES["r2"], name="ops", generic_network={"modulate_operators": True,
                                                                              "modulate_entropy": False})
    for setting, value in (("modulate_operators", True), ("modulate_entropy", False)):
        assert method_settings("rank_one", "damped_oscillator", recipe)[setting] is value
        assert setting not in method_settings("maml", "damped_oscillator", recipe)
        assert setting not in method_settings("rank_one", "pendulum", recipe)


def test_a_saved_learner_keeps_its_operator_modulation(tmp_path):
    import spmeta

    data = spmeta.make_dataset(spmeta.get_family("damped_oscillator"), n_train=3, n_test=1, n_traj=1, seed=0)
    learner = MetaLearner("generic", modulation="shift", modulate_operators=True, modulate_entropy=False, epochs=2,
                          width=8, depth=2, latent_dim=2)
    learner.fit(data.train, progress=False)
    learner.save(tmp_path / "m.pt")
    loaded = MetaLearner.load(tmp_path / "m.pt")
    assert loaded.net.modulate_operators and loaded.settings["modulate_operators"]
    assert not loaded.net.modulate_entropy and not loaded.settings["modulate_entropy"]
    x, z = data.train.samples().x[:, :5].float(), learner.latents.codes.detach()
    torch.testing.assert_close(loaded.net(x, z), learner.net(x, z))


def test_recipes_keep_the_inner_steps_their_files_ran():
    for recipe, maml in (("v1", 3e-3), ("r2", 3e-3), ("r3", 3e-4)):
        assert method_settings("maml", "gas_containers", recipe)["inner_lr"] == maml, recipe
        assert method_settings("anil", "damped_oscillator", recipe)["inner_lr"] == 3e-3, recipe
        assert "inner_lr" not in method_settings("maml", "pendulum", recipe)  # the config's default, 1e-2


def test_r4_is_r3_with_three_starts_in_r3s_budget():
    from spmeta.bench.recipes import epochs, epochs_trained, grid_budget, same_training
    from spmeta.bench.grid import GRID_METHODS
    from spmeta.config import SCALES

    paper = SCALES["paper"]
    for family in ("damped_oscillator", "gas_containers"):
        assert method_settings("svd", family, "r4")["starts"] == 3
        assert grid_budget(family, paper, "r4") == grid_budget(family, paper, "r3")
        assert epochs("shift", family, paper, "r4") == 3636 and epochs_trained("shift", family, paper, "r4") == 4000
        assert {m for m in GRID_METHODS if not same_training(m, family, "r4", "r3")} == set(MODULATIONS)
    assert all(same_training(m, "duffing", "r4", "r3") for m in GRID_METHODS)
    assert "starts" not in method_settings("svd", "duffing", "r4")


def test_generic_learners_get_the_generic_defaults_unless_told_otherwise():
    from spmeta.learner import GENERIC_DEFAULTS

    assert MetaLearner("generic", method="maml").config.inner_lr == GENERIC_DEFAULTS["maml"]["inner_lr"] == 3e-4
    assert MetaLearner("generic", method="anil").config.inner_lr == 3e-3
    assert MetaLearner("generic", method="reptile", inner_lr=0.05).config.inner_lr == 0.05
    assert MetaLearner("hnn", method="maml").config.inner_lr == 1e-2
    assert MetaLearner("generic", modulation="svd").config.batch_samples == 250
    assert MetaLearner("hnn", modulation="svd").config.batch_samples is None
    assert MetaLearner("generic", method="scratch").config.inner_lr == 1e-2  # Scratch has no inner loop


def test_training_outcome_tells_converged_lost_and_plateaued_runs_apart():
    from spmeta.bench.report import training_outcome

    assert training_outcome([1.0, 1e-3, 5e-5])["outcome"] == "converged"
    lost = training_outcome([(0, 1.0), (10, 5e-5), (20, 2e-3), (30, 3e-4)])
    assert lost["outcome"] == "lost" and lost["spikes"] == 1 and lost["lowest"] == 5e-5 and lost["final"] == 3e-4
    assert training_outcome([1.0, 1e-2, 2e-3])["outcome"] == "plateau"
    with pytest.raises(ValueError):
        training_outcome([])


def test_early_loss_averages_the_last_tenth_of_the_trial():
    from spmeta.bench.report import early_loss

    record = {"config": {"epochs": 4000}, "loss_curve": [[e, float(e)] for e in range(0, 4001, 20)]}
    assert early_loss(record) == (180 + 200) / 2  # 5 % of 4000 is 200; its last tenth from epoch 180
    assert early_loss(record, 0.1) == sum(range(360, 401, 20)) / 3
    with pytest.raises(ValueError, match="logs no loss"):
        early_loss({"config": {"epochs": 100}, "loss_curve": [[0, 1.0], [20, 0.5]]})


def test_gradient_clipping_bounds_each_step_of_the_weights():
    import spmeta
    from spmeta.meta.autodecode import AutoDecodeConfig

    with pytest.raises(ValueError, match="grad_clip"):
        AutoDecodeConfig(grad_clip=0.0)
    data = spmeta.make_dataset(spmeta.get_family("damped_oscillator"), n_train=3, n_test=1, n_traj=1, seed=0)
    norms = {}

    def record(optimiser, args, kwargs):  # the norm of the weights' gradient at every step of their optimiser
        params = [p for group in optimiser.param_groups for p in group["params"] if p.grad is not None]
        if len(params) > 1:  # the codes' optimiser holds one tensor
            norms[clip].append(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])).item())

    handle = register_optimizer_step_pre_hook(record)
    try:
        for clip in (None, 1e-3):
            norms[clip] = []
            MetaLearner("generic", modulation="shift", epochs=3, width=8, depth=2, latent_dim=2, grad_clip=clip,
                        compile="off").fit(data.train, progress=False)
    finally:
        handle.remove()
    assert norms[None] and max(norms[None]) > 1e-3, norms
    assert norms[1e-3] and max(norms[1e-3]) <= 1e-3 * (1 + 1e-5), norms


def test_generic_geometry_is_one_for_the_true_gradients_and_sees_a_rotated_entropy():
    from types import SimpleNamespace

    import spmeta
    from spmeta.bench.diagnose import generic_geometry

    data = SimpleNamespace(train=spmeta.make_dataset(spmeta.get_family("damped_oscillator"), n_train=3, n_test=1,
                                                     n_traj=1, seed=0).train)
    family, mu = data.train.family, data.train.mu.double()

    class Truth(torch.nn.Module):  # ∇E and ∇S of each training system, optionally with ∇S turned into (q, p)
        def __init__(self, rotate):
            super().__init__()
            self.rotate = rotate

        def gradients(self, x, z):
            m = mu[:, None, :].expand(-1, x.shape[1], -1)
            x = x.detach().requires_grad_(True)
            (grad_e,) = torch.autograd.grad(family.energy(x, m).sum(), x)
            grad_s = torch.tensor([1.0, 0.0, 0.0], dtype=x.dtype).expand_as(x) if self.rotate else \
                torch.autograd.grad(family.entropy(x, m).sum(), x)[0]
            return grad_e, grad_s

    codes = SimpleNamespace(codes=torch.zeros(3, 2))
    exact = generic_geometry(SimpleNamespace(net=Truth(False), latents=codes), data)
    assert exact["cos_s"] == pytest.approx(1) and exact["cos_e"] == pytest.approx(1)
    assert exact["entropy_scale_spread"] == pytest.approx(1)
    assert generic_geometry(SimpleNamespace(net=Truth(True), latents=codes), data)["cos_s"] == pytest.approx(0)


def test_checkpoints_from_before_the_rename_of_a_load():
    net = GenericNet(3, modulation="shift", latent_dim=2, modulate_operators=True)
    old = {k.replace("skew_factor", "poisson"): v for k, v in net.state_dict().items()}  # A was "poisson"
    assert "poisson" in old and "poisson_code.weight" in old
    fresh = GenericNet(3, modulation="shift", latent_dim=2, modulate_operators=True)
    fresh.load_state_dict(old)
    assert torch.equal(fresh.skew_factor, net.skew_factor)

