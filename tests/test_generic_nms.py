"""The NMS construction of GenericNet (Gruber et al., 2025): GENERIC by construction for random weights, random
states and random latent codes, at every modulation; the same field in both gradient modes; it trains."""
import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import spmeta
from spmeta.models import GenericNet
from spmeta.nn.mlp import MLP
from spmeta.nn.modulation import MODULATIONS, RANKED
from spmeta.training import fit_vector_field
from test_models import _randomise  # float64 copy with random weights (hypernetworks included)

seeds = st.integers(0, 2**31 - 1)
scales = st.floats(0.3, 3.0)
modulations = st.sampled_from([None, *sorted(MODULATIONS)])


def _model(dim, rank, modulation, latent_dim=3, **kwargs):
    options = dict(width=16, depth=2, operator_rank=rank, operator_width=8, construction="nms")
    if modulation is not None:
        options |= dict(modulation=modulation, latent_dim=latent_dim,
                        rank=2 if modulation in RANKED else None)
    return GenericNet(dim, **options | kwargs)


def _inputs(dim, modulation, seed, shared_code, dtype=torch.float64):
    """States (and codes): x: (4, 3, n) unmodulated; x: (K=3, N=5, n) and z: (3, d_z) or (1, d_z) modulated."""
    generator = torch.Generator().manual_seed(seed)
    if modulation is None:
        return torch.randn(4, 3, dim, dtype=dtype, generator=generator), None
    x = torch.randn(3, 5, dim, dtype=dtype, generator=generator)
    z = 2 * torch.randn(1 if shared_code else 3, 3, dtype=dtype, generator=generator)
    return x, z


def _check_structure(model, x, z, rtol):
    L, M = model.operators(x, z)
    grad_e, grad_s = model.gradients(x, z)
    f = model(x, z)
    assert L.shape == M.shape == (*x.shape, x.shape[-1])
    # rounding scales with the factors, not with L and M themselves (for n = 2, L = 0 up to rounding in A)
    a, b, k = model._nms_factors(model._standardised(x))
    size_l = torch.maximum(L.abs().amax(), a.abs().amax())
    size_m = torch.maximum(M.abs().amax(), (b @ k).pow(2).sum(-1).amax())
    norm_e, norm_s = grad_e.norm(dim=-1).amax(), grad_s.norm(dim=-1).amax()
    assert (L + L.mT).abs().max() <= rtol * size_l, "L must be skew"
    assert (M - M.mT).abs().max() <= rtol * size_m, "M must be symmetric"
    assert torch.linalg.eigvalsh(M).min() >= -rtol * size_m, "M must be positive semi-definite"
    assert (L @ grad_s[..., None]).norm(dim=-2).max() <= rtol * (1 + size_l * norm_s), "L∇S = 0"
    assert (M @ grad_e[..., None]).norm(dim=-2).max() <= rtol * (1 + size_m * norm_e), "M∇E = 0"
    applied = (L @ grad_e[..., None] + M @ grad_s[..., None])[..., 0]
    assert (f - applied).abs().max() <= rtol * (1 + size_l * norm_e + size_m * norm_s), "forward = L∇E + M∇S"
    field = f.norm(dim=-1).amax()
    assert (grad_e * f).sum(-1).abs().max() <= rtol * (1 + norm_e * field), "dE/dt = 0"
    assert (grad_s * f).sum(-1).min() >= -rtol * (1 + norm_s * field), "dS/dt ≥ 0"


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(2, 5), rank=st.integers(1, 4), modulation=modulations, seed=seeds, scale=scales,
       shared_code=st.booleans(), gradient=st.sampled_from(["autograd", "explicit"]))
def test_nms_is_generic_for_any_weights_states_and_codes(dim, rank, modulation, seed, scale, shared_code,
                                                          gradient):
    model = _randomise(_model(dim, rank, modulation, gradient=gradient), seed, scale)
    x, z = _inputs(dim, modulation, seed, shared_code)
    _check_structure(model, x, z, rtol=1e-10)
    with torch.no_grad():
        _check_structure(model, x, z, rtol=1e-10)


@pytest.mark.parametrize("modulation", [None, *sorted(MODULATIONS)])
def test_nms_in_float32_and_under_no_grad(modulation):
    model = _randomise(_model(4, 3, modulation), seed=1, scale=1.0).float()
    x, z = _inputs(4, modulation, seed=2, shared_code=False, dtype=torch.float32)
    _check_structure(model, x, z, rtol=1e-5)
    with torch.no_grad():
        f = model(x, z)
    assert f.dtype == torch.float32 and not f.requires_grad
    torch.testing.assert_close(f, model(x, z).detach())


@pytest.mark.parametrize("modulation", [None, *sorted(MODULATIONS)])
def test_nms_explicit_gradients_give_the_reference_field_and_training_signal(modulation):
    states = 3 * torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) + torch.tensor([0.0, 1.0, 2.0])
    reference = _randomise(_model(3, 2, modulation).standardise(states), seed=3, scale=1.0)
    fast = copy.deepcopy(reference)
    reference.gradient_mode, fast.gradient_mode = "autograd", "explicit"
    x, z = _inputs(3, modulation, seed=4, shared_code=False)
    xdot = torch.randn_like(x)
    results = []
    for model in (fast, reference):
        codes = None if z is None else z.clone().requires_grad_(True)
        f = model(x, codes)
        loss = (f - xdot).pow(2).sum(-1).mean()
        params = [p for p in model.parameters()]
        grads = torch.autograd.grad(loss, params + ([] if codes is None else [codes]), allow_unused=True)
        results.append((f.detach(), grads))
    (f_fast, g_fast), (f_ref, g_ref) = results
    torch.testing.assert_close(f_fast, f_ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(g_fast, g_ref):
        if b is None:
            assert a is None or not a.any()
        else:
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10 * (1 + b.abs().max().item()))


def test_nms_every_operator_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = _model(4, 3, None)
    model(torch.randn(6, 4)).pow(2).sum().backward()
    missing = {name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()}
    output_biases = {f"{net}.biases.{len(getattr(model, net).biases) - 1}"
                     for net in ("energy_net", "entropy_net")}
    assert missing <= output_biases, missing  # ∇E and ∇S do not depend on the output biases


def test_nms_stays_finite_and_generic_where_a_gradient_vanishes():
    model = _randomise(_model(3, 2, None, depth=1), seed=5, scale=1.0)
    x = torch.randn(5, 3, dtype=torch.float64)
    for net in ("entropy_net", "energy_net"):  # first S ≡ 0 (∇S = 0), then E ≡ 0 as well
        with torch.no_grad():
            for p in getattr(model, net).parameters():
                p.zero_()
        L, M = model.operators(x)
        f = model(x)
        assert torch.isfinite(L).all() and torch.isfinite(M).all() and torch.isfinite(f).all()
        _check_structure(model, x, None, rtol=1e-10)


@pytest.mark.parametrize("dim, rank", [(3, 4), (4, 4), (4, 2)])
def test_nms_parameter_count(dim, rank):
    """The operator networks have n(n−1)/2, n r and r(r+1)/2 outputs (the paper's A_tri, B, K)."""
    width, depth = 30, 2
    model = GenericNet(dim, construction="nms", operator_rank=rank, operator_width=width, operator_depth=depth,
                       modulation="rank_one")

    def size(net):
        return sum(p.numel() for p in net.parameters())

    for name, outputs in (("poisson_net", dim * (dim - 1) // 2), ("basis_net", dim * rank),
                          ("friction_net", rank * (rank + 1) // 2)):
        assert size(getattr(model, name)) == size(MLP(dim, outputs, width, depth))
    total = size(model)
    assert 0 < total < float("inf")
    assert total == size(model.energy_net) + size(model.entropy_net) + sum(
        size(getattr(model, name)) for name in ("poisson_net", "basis_net", "friction_net"))


def test_nms_training_lowers_the_loss_on_the_damped_oscillator():
    family = spmeta.get_family("damped_oscillator")
    mu = family.sample_params(1, seed=0)[0]
    x0 = family.sample_initial_conditions(8, mu, seed=0)
    x = family.trajectories(mu, x0)[:, ::5].reshape(-1, family.dim).double()  # 8 × 20 states of one system
    xdot = family.vector_field(x, mu.to(x))
    torch.manual_seed(0)
    model = _model(family.dim, 2, None, width=32, operator_width=16).double().standardise(x)
    history = fit_vector_field(model, x, xdot, steps=50, lr=3e-3, progress=False)
    assert all(torch.isfinite(torch.tensor(history)))
    assert history[-1] < 0.5 * history[0], history[::10]
