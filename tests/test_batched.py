"""Batched meta-training (spmeta.meta.batched): S runs as one vmapped model equal S separate runs.

Every comparison is in float64 against ``meta_train(..., compile="off")`` / ``MetaLearner.fit`` (the reference:
autograd input gradients), member by member: final weights, codes and loss histories to 1e-6 relative.
"""
import copy

import pytest
import torch

import spmeta
from spmeta.data import Samples
from spmeta.meta.autodecode import AutoDecodeConfig, meta_train
from spmeta.meta.batched import fit_batched, meta_train_batched
from spmeta.models import HNN, GenericNet
from spmeta.training import TrainingDiverged

RTOL = 1e-6


def assert_relatively_close(actual, expected, what: str) -> None:
    """‖actual − expected‖ ≤ RTOL ‖expected‖ (exact equality where expected is zero)."""
    actual = torch.as_tensor(actual, dtype=torch.float64)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert actual.shape == expected.shape, what
    error, scale = (actual - expected).norm().item(), expected.norm().item()
    assert error <= RTOL * scale, f"{what}: relative error {error / max(scale, 1e-300):.2e}"


def relative_change(after, before) -> float:
    return ((after - before).norm() / before.norm()).item()


@pytest.fixture(scope="module")
def hnn_trains():
    family = spmeta.get_family("mass_spring")
    return [spmeta.make_dataset(family, n_train=5, n_test=1, n_traj=2, seed=s).train.samples() for s in range(3)]


@pytest.fixture(scope="module")
def generic_data():
    family = spmeta.get_family("damped_oscillator")
    return [spmeta.make_dataset(family, n_train=4, n_test=2, n_traj=2, seed=s) for s in range(2)]


def hnn(seed: int, **kwargs) -> HNN:
    torch.manual_seed(seed)
    options = dict(width=16, depth=2, modulation="rank_one", latent_dim=3) | kwargs
    return HNN(1, **options).double()


def generic(seed: int, states: torch.Tensor) -> GenericNet:
    torch.manual_seed(seed)
    net = GenericNet(3, width=16, depth=2, modulation="svd", latent_dim=3, rank=2, operator_width=8)
    return net.double().standardise(states)  # each member its own standardisation (a stacked buffer)


def check_against_separate_runs(models, trains, config, seeds):
    """Train copies of ``models`` separately and batched; compare weights, codes and histories."""
    separate = [copy.deepcopy(m) for m in models]
    batched = [copy.deepcopy(m) for m in models]
    expected = [meta_train(m, train, config, seed=seed, progress=False)
                for m, train, seed in zip(separate, trains, seeds)]
    results = meta_train_batched(batched, trains, config, seeds, progress=False)
    assert len(results) == len(models)
    for s, ((latents, history), (ref_latents, ref_history)) in enumerate(zip(results, expected)):
        assert len(history) == config.epochs and all(isinstance(v, float) for v in history)
        assert_relatively_close(history, ref_history, f"member {s}: loss history")
        assert_relatively_close(latents.codes.detach(), ref_latents.codes.detach(), f"member {s}: codes")
        reference = separate[s].state_dict()
        state = batched[s].state_dict()
        assert state.keys() == reference.keys()
        for name in reference:
            assert_relatively_close(state[name], reference[name], f"member {s}: {name}")
        # the run did something, so that agreement means something
        assert max(relative_change(state[n], models[s].state_dict()[n]) for n in reference
                   if models[s].state_dict()[n].norm() > 0) > 1e-3
    # each member its own run: different seeds and data give different codes and histories
    assert relative_change(results[1][0].codes.detach(), results[0][0].codes.detach()) > 1e-2
    assert results[0][1] != results[1][1]
    for model in batched:  # the members' own gradient modes are left as they were
        assert all(m.gradient_mode == "autograd" for m in model.modules() if hasattr(m, "gradient_mode"))
    return results


HNN_CONFIGS = {
    "alternating-all": dict(batch_systems=None),
    "alternating-minibatches": dict(batch_systems=2, batch_samples=25, inner_steps=2, outer_steps=2),
    "simultaneous-minibatches": dict(simultaneous=True, batch_systems=2, batch_samples=25),
    "simultaneous-minibatches-dense": dict(simultaneous=True, batch_systems=2, batch_samples=25,
                                           latent_updates="dense"),
}


@pytest.mark.parametrize("name", sorted(HNN_CONFIGS))
def test_hnn_batched_equals_separate_runs(hnn_trains, name):
    config = AutoDecodeConfig(epochs=4, lr_base=1e-2, lambda_z=1e-2, lambda_phi=1e-3, compile="off",
                              **HNN_CONFIGS[name])
    check_against_separate_runs([hnn(s) for s in range(3)], hnn_trains, config, seeds=[10, 11, 12])


@pytest.mark.parametrize("simultaneous", [False, True], ids=["alternating", "simultaneous"])
def test_generic_svd_batched_equals_separate_runs(generic_data, simultaneous):
    trains = [d.train.samples() for d in generic_data]
    models = [generic(s, d.train.X) for s, d in enumerate(generic_data)]
    assert not torch.equal(models[0].input_shift, models[1].input_shift)
    config = AutoDecodeConfig(epochs=3, lr_base=1e-2, lambda_orth=1e-2, batch_systems=3, batch_samples=50,
                              simultaneous=simultaneous, compile="off")
    check_against_separate_runs(models, trains, config, seeds=[5, 6])


def test_fit_batched_learners_adapt_and_evaluate_like_separately_fitted_ones(generic_data):
    settings = dict(model="generic", modulation="rank_one", latent_dim=3, width=16, depth=2, dtype=torch.float64,
                    epochs=3, lr_base=1e-2, batch_systems=3, batch_samples=50, adapt_steps=10, compile="off")
    separate = [spmeta.MetaLearner(seed=s, **settings) for s in (1, 2)]
    batched = [spmeta.MetaLearner(seed=s, **settings) for s in (1, 2)]
    for learner, data in zip(separate, generic_data):
        learner.fit(data.train, progress=False)
    assert fit_batched(batched, [d.train for d in generic_data], progress=False) is None
    scores = []
    for s, (mine, theirs, data) in enumerate(zip(batched, separate, generic_data)):
        assert mine.budget == theirs.budget and mine.family is theirs.family
        assert_relatively_close(mine.history, theirs.history, f"learner {s}: history")
        assert_relatively_close(mine.latents.codes.detach(), theirs.latents.codes.detach(), f"learner {s}: codes")
        for name, tensor in theirs.net.state_dict().items():
            assert_relatively_close(mine.net.state_dict()[name], tensor, f"learner {s}: {name}")
        support = data.test.support(shots=1)
        adapted_mine, adapted_theirs = mine.adapt(support), theirs.adapt(support)
        assert_relatively_close(adapted_mine.latents, adapted_theirs.latents, f"learner {s}: adapted codes")
        mine_eps = mine.evaluate(data.test, adapted_mine, substeps=1, trajectories_only=True)["eps_traj"]
        theirs_eps = theirs.evaluate(data.test, adapted_theirs, substeps=1,
                                    trajectories_only=True)["eps_traj"]
        assert_relatively_close(mine_eps, theirs_eps, f"learner {s}: eps_traj")
        scores.append(mine_eps)
    assert scores[0] != scores[1]


def test_mismatched_members_raise_clear_errors(hnn_trains):
    config = AutoDecodeConfig(epochs=1, compile="off")
    two = [hnn(0), hnn(1)]
    with pytest.raises(ValueError, match="one training set and one seed per model"):
        meta_train_batched(two, hnn_trains[:2], config, seeds=[0])
    with pytest.raises(ValueError, match="one training set and one seed per model"):
        meta_train_batched([], [], config, seeds=[])
    shorter = Samples(hnn_trains[1].x[:, :40], hnn_trains[1].xdot[:, :40], hnn_trains[1].mu)
    with pytest.raises(ValueError, match=r"member 1 has x: \(5, 40, 2\)"):
        meta_train_batched(two, [hnn_trains[0], shorter], config, seeds=[0, 1])
    for other, where in ((hnn(1, width=8), r"hamiltonian_net \(sizes\)"),
                         (hnn(1, activation="tanh"), r"hamiltonian_net.base \(activation, derivative\)"),
                         (hnn(1, modulation="multi_rank", rank=1), r"hamiltonian_net \(modulation_name\)"),
                         (hnn(1).float(), "parameter hamiltonian_net.base.weights.0: .*torch.float32")):
        with pytest.raises(ValueError, match=f"one architecture: model 1 differs from model 0 at {where}"):
            meta_train_batched([hnn(0), other], hnn_trains[:2], config, seeds=[0, 1])
    with pytest.raises(ValueError, match="modulated"):
        meta_train_batched([HNN(1, width=8), HNN(1, width=8)], hnn_trains[:2], config, seeds=[0, 1])
    custom = [hnn(s, activation=lambda a: torch.tanh(a) + 0.1 * a) for s in (0, 1)]
    custom[1].hamiltonian_net.base.activation = custom[0].hamiltonian_net.base.activation
    with pytest.raises(ValueError, match="named activations"):
        meta_train_batched(custom, hnn_trains[:2], config, seeds=[0, 1])


def test_fit_batched_refuses_baselines_and_learners_that_differ_beyond_the_seed():
    data = spmeta.make_dataset(spmeta.get_family("mass_spring"), n_train=3, n_test=1, n_traj=2, seed=0)
    small = dict(modulation="rank_one", width=8, depth=2, latent_dim=2, epochs=1)
    with pytest.raises(ValueError, match="learner 1 is 'maml'"):
        fit_batched([spmeta.MetaLearner(**small), spmeta.MetaLearner(method="maml", width=8, depth=2)],
                    [data.train, data.train])
    with pytest.raises(ValueError, match="learner 1 differs from learner 0 in network.width, settings.width"):
        fit_batched([spmeta.MetaLearner(**small), spmeta.MetaLearner(**(small | dict(width=16)))],
                    [data.train, data.train])
    with pytest.raises(ValueError, match="config.lr_base"):
        fit_batched([spmeta.MetaLearner(**small), spmeta.MetaLearner(**small, seed=1, lr_base=0.1)],
                    [data.train, data.train])
    with pytest.raises(ValueError, match="one training set per learner"):
        fit_batched([spmeta.MetaLearner(**small)], [data.train, data.train])
    learners = [spmeta.MetaLearner(**small, seed=s) for s in (0, 1)]
    fit_batched(learners, [data.train, data.train], progress=False)  # the same data, other seeds: fine
    assert learners[0].latents.codes.shape == (3, 2) and len(learners[1].history) == 1


def test_a_diverging_member_is_named(hnn_trains):
    broken = Samples(hnn_trains[1].x, hnn_trains[1].xdot.clone(), hnn_trains[1].mu)
    broken.xdot[2, 5, 0] = float("nan")
    config = AutoDecodeConfig(epochs=3, batch_systems=None, compile="off")
    with pytest.raises(TrainingDiverged, match=r"member 1 \(seed 8\) diverged at epoch 0"):
        meta_train_batched([hnn(0), hnn(1)], [hnn_trains[0], broken], config, seeds=[7, 8], progress=False)
