"""Modulations: identity at θ = 0, parameter counts, structure for random latents, gradients."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spmeta.models import HNN, GenericNet
from spmeta.models.generic import CONSTRUCTIONS
from spmeta.nn.modulated import ModulatedMLP
from spmeta.nn.modulation import MODULATIONS, RANKED, Hypernetwork, make_modulation

NAMES = sorted(MODULATIONS)


def _formula(name, widths, rank):
    """Closed-form m = Σ over the hidden layers (w_in, w_out), from the paper digest (§3.3)."""
    layers = list(zip(widths[:-2], widths[1:-1]))
    per_layer = {
        "shift": lambda i, o: o,
        "film": lambda i, o: 2 * o,
        "full_weight": lambda i, o: i * o + o,
        "rank_one": lambda i, o: i + 2 * o,
        "multi_rank": lambda i, o: rank * (i + o) + o,
        "svd": lambda i, o: rank + o,
    }[name]
    return sum(per_layer(i, o) for i, o in layers)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("in_dim, width, depth, rank", [(2, 100, 3, 5), (3, 16, 2, 3), (4, 8, 1, 2)])
def test_parameter_count_matches_formula(name, in_dim, width, depth, rank):
    net = ModulatedMLP(in_dim, 1, width, depth, modulation=name, latent_dim=10,
                       rank=rank if name in RANKED else None)
    assert net.n_modulation_params() == _formula(name, net.base.widths, rank)
    assert net.hypernet.linear.weight.shape == (net.n_modulation_params(), 10)


def test_protocol_counts_from_the_digest():
    counts = {name: ModulatedMLP(2, 1, modulation=name).n_modulation_params() for name in NAMES}
    assert counts == {"shift": 300, "film": 600, "full_weight": 20500, "rank_one": 802, "multi_rank": 2810,
                      "svd": 315}


@pytest.mark.parametrize("name", NAMES)
def test_zero_modulation_is_the_identity(name):
    torch.manual_seed(0)
    net = ModulatedMLP(3, 1, 16, 2, modulation=name, latent_dim=4).double()
    x = torch.randn(5, 7, 3, dtype=torch.float64)
    z = torch.zeros(5, 4, dtype=torch.float64)
    assert torch.equal(net(x, z), net.base(x))  # the hypernet's bias starts at zero
    with torch.no_grad():
        net.hypernet.linear.weight.normal_()
    assert not torch.allclose(net(x, torch.randn(5, 4, dtype=torch.float64)), net.base(x))


@pytest.mark.parametrize("name", NAMES)
def test_modulation_matches_explicit_weights(name):
    """Each broadcast implementation equals the layer computed with explicitly modulated weights."""
    torch.manual_seed(1)
    w_in, w_out, K, r = 4, 6, 3, 2
    mod = make_modulation(name, w_in, w_out, rank=r if name in RANKED else None).double()
    W, b = torch.randn(w_out, w_in, dtype=torch.float64), torch.randn(w_out, dtype=torch.float64)
    h = torch.randn(K, 5, w_in, dtype=torch.float64)
    theta = torch.randn(K, mod.n_params(), dtype=torch.float64)
    out = mod(h, h @ W.T + b, theta)
    for k in range(K):
        t = theta[k]
        if name == "shift":
            expected = h[k] @ W.T + b + t
        elif name == "film":
            expected = (1 + t[:w_out]) * (h[k] @ W.T + b) + t[w_out:]
        elif name == "full_weight":
            dW, db = t[: w_in * w_out].reshape(w_out, w_in), t[w_in * w_out:]
            expected = h[k] @ (W + dW).T + b + db
        elif name in ("rank_one", "multi_rank"):
            rr = 1 if name == "rank_one" else r
            U = t[: w_out * rr].reshape(w_out, rr)
            V = t[w_out * rr: w_out * rr + w_in * rr].reshape(w_in, rr)
            expected = h[k] @ (W + U @ V.T).T + b + t[-w_out:]
        else:  # svd
            d = torch.relu(t[:r])
            expected = h[k] @ (W + mod.U @ torch.diag(d) @ mod.V.T).T + b + t[r:]
        torch.testing.assert_close(out[k], expected)


def test_svd_bases_start_orthonormal_and_are_penalised():
    mod = make_modulation("svd", 100, 100, rank=5)
    assert mod.penalty().item() < 1e-5
    thin = make_modulation("svd", 2, 100, rank=5)  # more basis vectors than input dimensions
    assert thin.penalty().item() < 1e-5
    with torch.no_grad():
        mod.U.mul_(2.0)
    assert mod.penalty().item() > 1.0


latents = st.integers(0, 2**31 - 1)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=8, deadline=None)
@given(seed=latents, scale=st.floats(0.1, 3.0))
def test_modulated_hnn_is_hamiltonian_for_random_latents(name, seed, scale):
    torch.manual_seed(seed)
    model = HNN(1, width=12, depth=2, modulation=name, latent_dim=3,
                rank=2 if name in RANKED else None).double()
    with torch.no_grad():
        model.hamiltonian_net.hypernet.linear.weight.normal_(0, scale)
    x = torch.randn(3, 6, 2, dtype=torch.float64, requires_grad=True)
    z = scale * torch.randn(3, 3, dtype=torch.float64)
    f = model(x, z)
    (grad_h,) = torch.autograd.grad(model.hamiltonian(x, z).sum(), x, create_graph=True)
    assert (grad_h * f).sum(-1).abs().max() <= 1e-10 * (1 + grad_h.pow(2).sum(-1).max())
    diagonal = torch.stack([torch.autograd.grad(f[..., i].sum(), x, retain_graph=True)[0][..., i]
                            for i in range(2)])  # ∂fᵢ/∂xᵢ: the terms cancel, so the error scales with them
    assert diagonal.sum(0).abs().max() <= 1e-12 * (1 + diagonal.abs().max())


@pytest.mark.parametrize("construction", sorted(CONSTRUCTIONS))
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=6, deadline=None)
@given(seed=latents, scale=st.floats(0.1, 3.0))
def test_modulated_generic_net_structure_for_random_latents(name, construction, seed, scale):
    torch.manual_seed(seed)
    model = GenericNet(3, width=12, depth=2, operator_width=8, modulation=name, latent_dim=3,
                       rank=2 if name in RANKED else None, construction=construction).double()
    with torch.no_grad():
        for net in (model.energy_net, model.entropy_net):
            net.hypernet.linear.weight.normal_(0, scale)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    z = scale * torch.randn(2, 3, dtype=torch.float64)
    L, M = model.operators(x, z)
    grad_e, grad_s = model.gradients(x, z)
    f = model(x, z)
    tol = 1e-11 * (1 + L.abs().max() + M.abs().max()).item() ** 2 * (1 + grad_e.abs().max() + grad_s.abs().max()).item()
    assert (L + L.mT).abs().max() <= tol and (M - M.mT).abs().max() <= tol
    assert torch.linalg.eigvalsh(M).min() >= -1e-10 * (1 + M.abs().max())
    assert (L @ grad_s[..., None]).abs().max() <= tol and (M @ grad_e[..., None]).abs().max() <= tol
    # the laws, to rounding relative to the sizes multiplied (random weights at scale 3 give |∇E| ~ 1e6)
    rounding = 1e-12 * (grad_e.norm(dim=-1) + grad_s.norm(dim=-1)) * f.norm(dim=-1)
    assert ((grad_e * f).sum(-1).abs() <= tol + rounding).all() and ((grad_s * f).sum(-1) >= -tol - rounding).all()
    # the field applied without forming L and M is L∇E + M∇S
    torch.testing.assert_close(f, (L @ grad_e[..., None] + M @ grad_s[..., None])[..., 0], rtol=1e-9, atol=tol)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_latents_and_base(name):
    torch.manual_seed(0)
    model = HNN(1, width=8, depth=2, modulation=name, latent_dim=3,
                rank=2 if name in RANKED else None)
    z = (0.1 * torch.randn(4, 3)).requires_grad_(True)
    x = torch.randn(4, 10, 2)
    model(x, z).pow(2).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    base = model.hamiltonian_net.base
    assert base.weights[0].grad.abs().sum() > 0
    assert model.hamiltonian_net.hypernet.linear.weight.grad.abs().sum() > 0


def test_bad_modulation_arguments():
    with pytest.raises(ValueError, match="unknown modulation 'lora'.*full_weight"):
        HNN(1, modulation="lora")
    model = HNN(1, modulation="shift", latent_dim=4)
    with pytest.raises(ValueError, match="modulated"):
        model(torch.zeros(2, 3, 2))
    with pytest.raises(ValueError, match=r"z: \(K, 4\)"):
        model(torch.zeros(2, 3, 2), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="not modulated"):
        HNN(1)(torch.zeros(2, 3, 2), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="rank"):
        make_modulation("multi_rank", 2, 3, rank=0)
    assert Hypernetwork(3, 7)(torch.zeros(2, 3)).abs().max() == 0
