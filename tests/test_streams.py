"""The random streams of make_dataset (protocol v2): what each split's draws may and may not depend on, the
validation systems, and streams="v1", which reproduces the old single-generator draws."""
import dataclasses

import pytest
import torch

import spmeta
from spmeta.data import _stream

FAMILY = spmeta.get_family("mass_spring")


def data(**kwargs):
    return spmeta.make_dataset(FAMILY, **{"n_train": 3, "n_test": 2, "n_traj": 2, "seed": 4, **kwargs})


def same_systems(a, b):
    return torch.equal(a.mu, b.mu) and torch.equal(a.X, b.X) and torch.equal(a.Xdot, b.Xdot)


def in_box(mu, box):
    lo, hi = (torch.tensor(b, dtype=torch.float64) for b in zip(*box.values()))
    return bool(((mu >= lo) & (mu <= hi)).all())


def test_streams_are_reproducible_and_distinct():
    draw = lambda *key: torch.rand(4, generator=_stream(*key))  # noqa: E731
    assert torch.equal(draw(0, "mu", "test"), draw(0, "mu", "test"))
    others = [draw(0, "mu", "train"), draw(1, "mu", "test"), draw(0, "ic", "test", 0), draw(0, "ic", "test", 1)]
    assert all(not torch.equal(draw(0, "mu", "test"), other) for other in others)


def test_test_systems_never_depend_on_the_other_splits():
    base = data(n_val=1)
    assert same_systems(data(n_train=5, n_val=1).test, base.test)
    assert same_systems(data(n_val=0).test, base.test) and same_systems(data(n_val=3).test, base.test)
    assert same_systems(data(n_val=1).train, base.train)  # the validation count leaves training alone too
    more = data(n_test=3, n_val=1)  # test system k stays system k when there are more of them
    assert all(torch.equal(getattr(more.test, f)[:2], getattr(base.test, f)) for f in ("mu", "X", "Xdot"))
    assert torch.equal(data(n_traj=3, n_val=1).test.mu, base.test.mu)  # the initial states change with n_traj


def test_training_data_never_depend_on_the_test_box():
    inside, outside = data(n_val=2, noise=0.1), data(n_val=2, noise=0.1, ood=True)
    for split in ("train", "val"):
        a, b = getattr(inside, split), getattr(outside, split)
        assert same_systems(a, b) and torch.equal(a.observed, b.observed)
    assert in_box(outside.test.mu, FAMILY.ood_ranges) and not in_box(outside.test.mu, FAMILY.param_ranges)
    assert in_box(inside.test.mu, FAMILY.param_ranges)


def test_validation_systems():
    d = data(n_val=3, noise=0.1)
    T, n = FAMILY.n_steps, FAMILY.state_dim
    assert d.val.X.shape == d.val.Xdot.shape == d.val.observed.shape == (3, 2, T, n) and d.val.mu.shape == (3, 2)
    assert in_box(d.val.mu, FAMILY.param_ranges)
    for other in (d.train.mu, d.test.mu):
        assert not (d.val.mu[:, None, :] == other[None, :, :]).all(-1).any()
    assert not torch.equal(d.val.observed, d.val.X)  # noisy like the training data
    for other in (d.train.X, d.test.X):  # no validation trajectory is a training or test trajectory
        assert not (d.val.X[:, :, None, None] == other[None, None]).all(-1).all(-1).any()
    again, other_seed = data(n_val=3, noise=0.1), data(n_val=3, noise=0.1, seed=1)
    assert torch.equal(again.val.observed, d.val.observed) and torch.equal(again.val.mu, d.val.mu)
    assert not torch.equal(other_seed.val.mu, d.val.mu)  # reproducible from the seed, and only from it
    empty = data().val  # n_val = 0: empty, like n_test = 0
    assert empty.X.shape == (0, 2, T, n) and empty.mu.shape == (0, 2) and empty.n_systems == 0
    assert [f.name for f in dataclasses.fields(spmeta.data.Dataset)] == ["family", "train", "test", "val", "seed"]


@pytest.mark.parametrize("ood", [False, True])
def test_v1_reproduces_the_single_generator(ood):
    n_train, n_test, n_traj, seed, noise = 3, 2, 2, 7, 0.1
    d = spmeta.make_dataset(FAMILY, n_train, n_test, n_traj, seed, ood=ood, noise=noise, streams="v1")
    gen = torch.Generator().manual_seed(seed)  # the old algorithm
    mu_train, mu_test = FAMILY.sample_params(n_train, gen), FAMILY.sample_params(n_test, gen, ood=ood)
    x0 = [torch.stack([FAMILY.sample_initial_conditions(n_traj, mu, gen) for mu in mus])
          for mus in (mu_train, mu_test)]
    assert torch.equal(d.train.mu, mu_train) and torch.equal(d.test.mu, mu_test)
    assert torch.equal(d.train.X[:, :, 0], x0[0]) and torch.equal(d.test.X[:, :, 0], x0[1])
    spread = d.train.X.reshape(-1, 2).std(0)
    for split in (d.train, d.test):  # then the noise, train then test
        assert torch.equal(split.observed, split.X + noise * spread * torch.randn(split.X.shape, generator=gen,
                                                                                  dtype=torch.float64))
    assert d.val.n_systems == 0


def test_bad_streams():
    with pytest.raises(ValueError, match="n_val"):
        data(n_val=1, streams="v1")
    with pytest.raises(ValueError, match="unknown streams 'v3'"):
        data(streams="v3")
    with pytest.raises(ValueError, match="n_val must be an integer"):
        data(n_val=-1)


def test_global_random_state_is_untouched():
    before = torch.get_rng_state()
    data(n_val=1, noise=0.1)
    data(streams="v1", noise=0.1)
    assert torch.equal(torch.get_rng_state(), before)
