"""Several starts (spmeta.meta.starts): the start with the lowest trial loss is chosen and trained on exactly as
a single-start run of its seed; the other starts' trials count in the budget; bad settings are refused."""
import pytest
import torch

import spmeta
from spmeta import MetaLearner
from spmeta.meta import AutoDecodeConfig
from spmeta.meta.budget import sample_gradients
from spmeta.meta.starts import START_SEED_STRIDE, choose_start

SETTINGS = dict(model="generic", modulation="shift", width=8, depth=2, latent_dim=2, simultaneous=True,
                batch_samples=10, epochs=20, compile="off")


@pytest.fixture(scope="module")
def data():
    return spmeta.make_dataset(spmeta.get_family("damped_oscillator"), n_train=3, n_test=1, n_traj=1, seed=0)


def test_the_chosen_start_trains_on_as_its_own_single_start_run(data):
    several = MetaLearner(**SETTINGS, starts=3, seed=4)
    several.fit(data.train, progress=False)
    starts = several.budget["starts"]
    assert [s["seed"] for s in starts] == [4 + START_SEED_STRIDE * i for i in range(3)]
    chosen = [s for s in starts if s["chosen"]]
    assert len(chosen) == 1 and chosen[0]["trial_loss"] == min(s["trial_loss"] for s in starts)
    single = MetaLearner(**SETTINGS, seed=chosen[0]["seed"])
    single.fit(data.train, progress=False)
    assert several.history == single.history
    torch.testing.assert_close(several.latents.codes, single.latents.codes)
    window = max(1, several.config.trial_epochs() // 10)
    trial = several.config.trial_epochs()
    assert chosen[0]["trial_loss"] == pytest.approx(sum(single.history[trial - window:trial]) / window)


def test_the_other_starts_count_in_the_budget(data):
    several = MetaLearner(**SETTINGS, starts=3, start_trial=0.25, seed=0)
    several.fit(data.train, progress=False)
    single = MetaLearner(**SETTINGS, seed=0)
    single.fit(data.train, progress=False)
    assert several.config.trial_epochs() == 5
    assert several.budget["outer_updates"] == single.budget["outer_updates"] * (20 + 2 * 5) // 20
    assert several.budget["sample_gradients"] == single.budget["sample_gradients"] * (20 + 2 * 5) // 20
    assert sample_gradients("autodecode", several.config, 3, 100) == \
        sample_gradients("autodecode", single.config, 3, 100) * 30 // 20


def test_a_resumed_run_keeps_its_start(data, tmp_path):
    class Stop(Exception):
        pass

    def stop(learner, epoch):
        raise Stop

    learner = MetaLearner(**SETTINGS, starts=2, seed=1)
    with pytest.raises(Stop):
        learner.fit(data.train, progress=False, checkpoint=tmp_path / "state.pt", checkpoint_every=10,
                    callback=stop, callback_every=10)
    resumed = MetaLearner(**SETTINGS, starts=2, seed=1)
    resumed.fit(data.train, progress=False, checkpoint=tmp_path / "state.pt")
    whole = MetaLearner(**SETTINGS, starts=2, seed=1)
    whole.fit(data.train, progress=False)
    assert resumed.budget["resumed_at_epoch"] == 10 and resumed.budget["starts"] == whole.budget["starts"]
    assert resumed.history == whole.history


@pytest.mark.parametrize("changes, message", [({"starts": 0}, "starts"), ({"start_trial": 1.0}, "below 1"),
                                              ({"start_trial": 0.0}, "start_trial"),
                                              ({"starts": 2, "epochs": 1}, "epochs >= 2")])
def test_bad_settings_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        AutoDecodeConfig(**changes)


def test_choose_start_needs_several():
    with pytest.raises(ValueError, match="starts >= 2"):
        choose_start(lambda seed: None, None, AutoDecodeConfig())
