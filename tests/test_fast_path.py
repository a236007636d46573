"""The fast path (explicit input gradients) against the reference (autograd double backward).

For every modulation, both models and every named activation: the same field, and the same loss and
parameter gradients, to 1e-5 relative in float64 (in practice to rounding).
"""
import copy
import warnings

import pytest
import torch

from spmeta.meta.autodecode import system_losses
from spmeta.models import HNN, GenericNet
from spmeta.models.fields import explicit_gradient_supported
from spmeta.nn.mlp import ACTIVATIONS, MLP
from spmeta.nn.modulation import MODULATIONS, RANKED

RTOL = 1e-5


def pair(make):
    """The same model twice: explicit (fast) and autograd (reference), float64."""
    torch.manual_seed(0)
    fast = make().double()
    fast.gradient_mode = "explicit"
    reference = copy.deepcopy(fast)
    reference.gradient_mode = "autograd"
    with torch.no_grad():  # random, non-zero hypernetworks, so that every modulation is active
        for model in (fast,):
            for name, p in model.named_parameters():
                if "hypernet" in name:
                    p.normal_(0.0, 0.3)
        reference.load_state_dict(fast.state_dict())
    return fast, reference


def assert_same_training_signal(fast, reference, x, xdot, z):
    losses = []
    for model in (fast, reference):
        model.zero_grad(set_to_none=True)
        codes = None if z is None else z.clone().requires_grad_(True)
        loss = (model(x, codes) - xdot).pow(2).sum(-1).mean()
        loss.backward()
        grads = {n: p.grad for n, p in model.named_parameters()}
        losses.append((loss.detach(), grads, None if codes is None else codes.grad))
    (loss_f, grads_f, z_f), (loss_r, grads_r, z_r) = losses
    torch.testing.assert_close(loss_f, loss_r, rtol=RTOL, atol=0)
    assert grads_f.keys() == grads_r.keys()
    for name in grads_f:
        if grads_r[name] is None:
            assert grads_f[name] is None or not grads_f[name].any(), name
            continue
        scale = grads_r[name].abs().max().clamp(min=1e-12)
        assert ((grads_f[name] - grads_r[name]).abs().max() / scale) < RTOL, name
    if z_r is not None:
        torch.testing.assert_close(z_f, z_r, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("modulation", sorted(MODULATIONS))
def test_modulated_hnn_fast_path_matches_reference(modulation):
    fast, reference = pair(lambda: HNN(1, width=16, modulation=modulation, latent_dim=3,
                                       rank=2 if modulation in RANKED else None))
    x, xdot, z = torch.randn(4, 25, 2).double(), torch.randn(4, 25, 2).double(), torch.randn(4, 3).double()
    torch.testing.assert_close(fast(x, z), reference(x, z), rtol=1e-10, atol=1e-12)
    assert_same_training_signal(fast, reference, x, xdot, z)


@pytest.mark.parametrize("modulation", sorted(MODULATIONS))
def test_modulated_generic_fast_path_matches_reference(modulation):
    states = 3 * torch.randn(50, 3) + torch.tensor([0.0, 1.0, 2.0])  # a non-trivial standardisation
    fast, reference = pair(lambda: GenericNet(3, width=16, modulation=modulation, latent_dim=3,
                                              rank=2 if modulation in RANKED else None
                                              ).standardise(states))
    x, xdot, z = torch.randn(3, 20, 3).double(), torch.randn(3, 20, 3).double(), torch.randn(3, 3).double()
    torch.testing.assert_close(fast(x, z), reference(x, z), rtol=1e-10, atol=1e-12)
    assert_same_training_signal(fast, reference, x, xdot, z)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_unmodulated_models_every_activation(activation):
    for make, n in ((lambda: HNN(2, width=12, activation=activation), 4),
                    (lambda: GenericNet(4, width=12, activation=activation), 4)):
        fast, reference = pair(make)
        x, xdot = torch.randn(30, n).double(), torch.randn(30, n).double()
        torch.testing.assert_close(fast(x), reference(x), rtol=1e-10, atol=1e-12)
        assert_same_training_signal(fast, reference, x, xdot, None)


def test_auto_decoding_loss_gradients_agree_through_the_library_loss():
    fast, reference = pair(lambda: HNN(1, width=16, modulation="rank_one", latent_dim=4))
    from spmeta.data import Samples
    samples = Samples(torch.randn(5, 30, 2).double(), torch.randn(5, 30, 2).double(), torch.zeros(5, 2))
    z = torch.randn(5, 4).double()
    results = []
    for model in (fast, reference):
        codes = z.clone().requires_grad_(True)
        loss = system_losses(model, samples, codes).mean()
        results.append(torch.autograd.grad(loss, [codes, *model.parameters()], allow_unused=True))
    for a, b in zip(*results):
        if b is None:  # the output bias: ∇ₓH̃ does not depend on it
            assert a is None
        else:
            torch.testing.assert_close(a, b, rtol=RTOL, atol=1e-12)


def test_fast_path_works_without_gradients_and_refuses_callables():
    fast, reference = pair(lambda: HNN(1, width=8, modulation="film", latent_dim=2))
    x, z = torch.randn(2, 5, 2).double(), torch.randn(2, 2).double()
    with torch.no_grad():
        torch.testing.assert_close(fast(x, z), reference(x, z))
    custom = HNN(1, width=8, activation=lambda a: torch.tanh(a) + 0.1 * a).double()  # no known σ'
    assert custom.hamiltonian_net.derivative is None and not explicit_gradient_supported(custom)
    custom.gradient_mode = "explicit"  # an error, never a silent fall-back to autograd
    with pytest.raises(ValueError, match="no explicit input gradient"):
        custom(torch.randn(7, 2).double())
    with pytest.raises(ValueError, match="named activation"):
        HNN(1, width=8, activation=lambda a: torch.tanh(a), gradient="explicit")
    from spmeta.meta.autodecode import _Loss
    callable_net = HNN(1, width=8, activation=lambda a: torch.tanh(a))
    _Loss(callable_net, fast=True)  # the fast path switches only the networks that have the explicit form
    assert callable_net.gradient_mode == "autograd"


def test_bad_gradient_mode_and_missing_codes_raise():
    with pytest.raises(ValueError, match="unknown gradient mode"):
        HNN(1, gradient="symbolic")
    model = HNN(1, width=8, modulation="shift", latent_dim=2)
    with pytest.raises(ValueError, match="latent codes"):
        model(torch.randn(2, 3, 2))
    with pytest.raises(ValueError, match="not modulated"):
        HNN(1, width=8)(torch.randn(3, 2), torch.randn(1, 2))
    with pytest.raises(ValueError, match="scalar output"):
        MLP(2, 2).input_gradient(torch.randn(3, 2))


def test_compiled_meta_training_follows_the_reference():
    """The fast path of meta-training (explicit gradients under torch.compile) takes the same steps."""
    from spmeta.data import Samples
    from spmeta.meta.autodecode import AutoDecodeConfig, LatentTable, meta_train

    torch.manual_seed(0)
    model = HNN(1, width=16, modulation="rank_one", latent_dim=3).double()
    samples = Samples(torch.randn(4, 20, 2).double(), torch.randn(4, 20, 2).double(), torch.zeros(4, 2))
    histories = {}
    for mode in ("off", "on"):
        net = copy.deepcopy(model)
        table = LatentTable(4, 3).double()
        config = AutoDecodeConfig(epochs=3, batch_systems=2, compile=mode)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="torch.compile failed")  # no silent fallback
            _, histories[mode] = meta_train(net, samples, config, latents=table, progress=False)
        assert net.gradient_mode == "autograd"  # restored after training
    torch.testing.assert_close(torch.tensor(histories["on"]), torch.tensor(histories["off"]), rtol=1e-9, atol=0)
    with pytest.raises(ValueError, match="compile"):
        meta_train(copy.deepcopy(model), samples, AutoDecodeConfig(epochs=1, compile="yes"), progress=False)


def _tiny_training():
    from spmeta.data import Samples

    torch.manual_seed(0)
    model = HNN(1, width=16, modulation="rank_one", latent_dim=3).double()
    samples = Samples(torch.randn(4, 20, 2).double(), torch.randn(4, 20, 2).double(), torch.zeros(4, 2))
    return model, samples


def test_compiling_leaves_the_users_compiled_code_alone():
    """The fast path touches no process-wide compile state: a function the user compiled stays compiled."""
    from spmeta.meta.autodecode import AutoDecodeConfig, meta_train

    compiled = []

    def counting_backend(graph, example_inputs):
        compiled.append(graph)
        return graph.forward

    user_function = torch.compile(lambda x: torch.sin(x) * 2, backend=counting_backend)
    user_function(torch.randn(3))
    model, samples = _tiny_training()
    for _ in range(2):  # two fresh networks
        meta_train(copy.deepcopy(model), samples, AutoDecodeConfig(epochs=1, compile="on"), progress=False)
    user_function(torch.randn(3))
    assert len(compiled) == 1  # still cached: nothing reset dynamo


def test_a_compile_failure_falls_back_at_the_start_and_is_raised_later(monkeypatch):
    """Compiling fails at the first call: warn and use the reference. Failing later in the run: raise, never
    switch paths silently."""
    from spmeta.meta import autodecode
    from spmeta.meta.autodecode import AutoDecodeConfig, meta_train

    model, samples = _tiny_training()
    reference = meta_train(copy.deepcopy(model), samples, AutoDecodeConfig(epochs=2, compile="off"),
                           progress=False)[1]

    def failing_compile(function, **kwargs):
        def compiled(*args):
            raise torch._dynamo.exc.TorchDynamoException("no C++ compiler")
        return compiled

    monkeypatch.setattr(autodecode.torch, "compile", failing_compile)
    with pytest.warns(UserWarning, match="torch.compile failed"):
        history = meta_train(copy.deepcopy(model), samples, AutoDecodeConfig(epochs=2, compile="on"),
                             progress=False)[1]
    assert history == reference

    def late_failing_compile(function, **kwargs):
        calls = []

        def compiled(*args):
            calls.append(1)
            if len(calls) > 3:
                raise RuntimeError("a failure in the middle of the run")
            return function(*args)
        return compiled

    monkeypatch.setattr(autodecode.torch, "compile", late_failing_compile)
    with pytest.raises(RuntimeError, match="middle of the run"):
        meta_train(copy.deepcopy(model), samples, AutoDecodeConfig(epochs=2, compile="on"), progress=False)


def test_a_process_that_trains_many_architectures_keeps_compiling(monkeypatch):
    """Past torch's recompile limit dynamo silently runs the explicit form eagerly (slower than the reference):
    the fast path lifts the limit while its own calls run, and puts it back."""
    from torch._dynamo.utils import counters

    from spmeta.meta.autodecode import AutoDecodeConfig, meta_train

    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)  # as if the process had used it up
    _, samples = _tiny_training()
    for width in (8, 12):  # two architectures: two variants of the compiled loss
        graphs = counters["stats"]["unique_graphs"]
        model = HNN(1, width=width, modulation="rank_one", latent_dim=3).double()
        meta_train(model, samples, AutoDecodeConfig(epochs=1, compile="on"), progress=False)
        assert counters["stats"]["unique_graphs"] > graphs, width  # compiled, not run eagerly
    assert torch._dynamo.config.recompile_limit == 1
