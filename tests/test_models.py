"""Structure by construction: the identities hold for random weights, random states and random batch shapes."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spmeta.models import HNN, GenericNet, VectorFieldMLP
from spmeta.models.generic import CONSTRUCTIONS
from spmeta.nn import MLP
from spmeta.training import TrainingDiverged, fit_vector_field

batch_shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2**31 - 1)
scales = st.floats(0.3, 3.0)


def _randomise(model: torch.nn.Module, seed: int, scale: float) -> torch.nn.Module:
    """Float64 copy with random weights beyond the initialisation regime."""
    torch.manual_seed(seed)
    model = model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, scale / max(1, p.shape[-1]) ** 0.5)
    return model


def _states(shape, n, seed):
    return torch.randn(*shape, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(1, 3), shape=batch_shapes, seed=seeds, scale=scales)
def test_hnn_conserves_its_energy_and_volume(dim, shape, seed, scale):
    model = _randomise(HNN(dim, width=16, depth=2), seed, scale)
    x = _states(shape, 2 * dim, seed).requires_grad_(True)
    f = model(x)
    assert f.shape == x.shape
    (grad_h,) = torch.autograd.grad(model.hamiltonian(x).sum(), x, create_graph=True)
    dh_dt = (grad_h * f).sum(-1)  # ∇H̃ · J∇H̃
    assert dh_dt.abs().max() <= 1e-12 * (1 + grad_h.pow(2).sum(-1).max())
    diagonal = torch.stack([torch.autograd.grad(f[..., i].sum(), x, retain_graph=True)[0][..., i]
                            for i in range(2 * dim)])  # ∂fᵢ/∂xᵢ: the terms cancel, so the error scales with them
    assert diagonal.sum(0).abs().max() <= 1e-12 * (1 + diagonal.abs().max())


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(2, 5), rank=st.integers(1, 4), shape=batch_shapes, seed=seeds, scale=scales,
       construction=st.sampled_from(sorted(CONSTRUCTIONS)))
def test_generic_net_structure(dim, rank, shape, seed, scale, construction):
    model = _randomise(GenericNet(dim, width=16, depth=2, operator_rank=rank, operator_width=8, construction=construction),
                       seed, scale)
    x = _states(shape, dim, seed)
    L, M = model.operators(x)
    grad_e, grad_s = model.gradients(x)
    f = model(x)
    size = 1 + L.abs().amax() + M.abs().amax() * (1 + grad_s.abs().amax()) + grad_e.abs().amax()
    tol = 1e-12 * size.item() ** 2
    assert L.shape == M.shape == (*shape, dim, dim)
    assert (L + L.mT).abs().max() <= tol, "L must be skew"
    assert (M - M.mT).abs().max() <= tol, "M must be symmetric"
    assert torch.linalg.eigvalsh(M).min() >= -1e-10 * (1 + M.abs().amax())
    assert (L @ grad_s[..., None]).abs().max() <= tol, "L∇S = 0"
    assert (M @ grad_e[..., None]).abs().max() <= tol, "M∇E = 0"
    torch.testing.assert_close(f, (L @ grad_e[..., None] + M @ grad_s[..., None])[..., 0], rtol=1e-9, atol=tol)
    assert (grad_e * f).sum(-1).abs().max() <= tol, "dE/dt = 0"
    assert (grad_s * f).sum(-1).min() >= -tol, "dS/dt >= 0"


def test_models_work_under_no_grad_and_keep_graph_when_training():
    torch.manual_seed(0)
    for model, n in ((HNN(1, width=8, depth=1), 2), (GenericNet(3, width=8, depth=1), 3),
                     (GenericNet(3, width=8, depth=1, construction="gfinn"), 3)):
        x = torch.randn(4, n)
        with torch.no_grad():
            f = model(x)
        assert not f.requires_grad
        g = model(x)
        assert g.requires_grad
        torch.testing.assert_close(f, g.detach())
        g.pow(2).sum().backward()
        # every parameter gets a gradient, except the output biases of the scalar networks, which ∇ removes
        missing = {name for name, p in model.named_parameters() if p.grad is None}
        assert missing <= {f"{net}.biases.1" for net in ("hamiltonian_net", "energy_net", "entropy_net")}, missing


def test_ensemble_mlp_members_are_independent():
    torch.manual_seed(0)
    ensemble = MLP(2, 1, width=8, depth=2, n_models=3)
    x = torch.randn(3, 5, 2)
    out = ensemble(x)
    for k in range(3):
        single = MLP(2, 1, width=8, depth=2)
        with torch.no_grad():
            for ps, pe in zip(single.parameters(), ensemble.parameters()):
                ps.copy_(pe[k].reshape(ps.shape))
        torch.testing.assert_close(out[k], single(x[k]))


def test_fit_lowers_the_loss_and_reports_divergence():
    torch.manual_seed(0)
    x = torch.randn(64, 2)
    xdot = torch.stack([x[:, 1], -x[:, 0]], -1)
    model = HNN(1, width=16, depth=2)
    history = fit_vector_field(model, x, xdot, steps=200, lr=3e-3, progress=False)
    assert len(history) == 200 and history[-1] < 0.1 * history[0]
    with pytest.raises(TrainingDiverged, match="step 0"):
        fit_vector_field(_Exploding(), x, xdot, steps=3, progress=False)


class _Exploding(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x * self.w * float("nan")


@pytest.mark.parametrize("model, good, bad, expected", [
    (HNN(1), 2, 3, r"HNN\(dof=1\) expects states with last dimension 2"),
    (HNN(2), 4, 2, "last dimension 4"), (GenericNet(3), 3, 4, "last dimension 3"),
    (VectorFieldMLP(4), 4, 3, "last dimension 4"),
])
def test_wrong_state_dimension_names_the_expected_one(model, good, bad, expected):
    assert model(torch.zeros(2, good)).shape == (2, good)
    with pytest.raises(ValueError, match=expected):
        model(torch.zeros(2, bad))


def test_bad_data_and_arguments():
    with pytest.raises(ValueError, match="same shape"):
        fit_vector_field(HNN(1), torch.zeros(5, 2), torch.zeros(4, 2), steps=1, progress=False)
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_vector_field(HNN(1), torch.full((5, 2), float("nan")), torch.zeros(5, 2), steps=1, progress=False)
    with pytest.raises(ValueError, match="unknown activation.*tanh"):
        MLP(2, 1, activation="relu6")
    with pytest.raises(ValueError, match="width"):
        MLP(2, 1, width=0)


def test_projection_construction_is_finite_and_degenerate_where_a_gradient_vanishes():
    model = GenericNet(3, width=8, depth=1).double()
    with torch.no_grad():
        for p in model.entropy_net.parameters():
            p.zero_()  # S ≡ 0, so ∇S = 0 and P_S is undefined: the field must stay finite and GENERIC
    x = torch.randn(5, 3, dtype=torch.float64)
    L, M = model.operators(x)
    grad_e, grad_s = model.gradients(x)
    f = model(x)
    assert torch.isfinite(f).all() and torch.isfinite(L).all() and torch.isfinite(M).all()
    assert (grad_e * f).sum(-1).abs().max() <= 1e-12 * (1 + grad_e.norm(dim=-1).max() * f.norm(dim=-1).max())
    assert (M @ grad_e[..., None]).abs().max() <= 1e-12 * (1 + M.abs().max() * grad_e.abs().max())


def test_generic_net_rejects_an_unknown_construction():
    with pytest.raises(ValueError, match="construction"):
        GenericNet(3, construction="spnn")
    with pytest.raises(ValueError, match="friction_bound"):
        GenericNet(3, friction_bound=0.0)


@settings(max_examples=25, deadline=None)
@given(dim=st.integers(2, 5), rank=st.integers(1, 4), seed=seeds, scale=scales, bound=st.floats(0.1, 10.0),
       radius=st.floats(1.0, 1e6))
def test_projection_field_is_bounded_however_far_from_the_data(dim, rank, seed, scale, bound, radius):
    model = _randomise(GenericNet(dim, width=16, depth=2, operator_rank=rank, operator_width=8, friction_bound=bound),
                       seed, 3 * scale)
    x = radius * _states((50,), dim, seed)
    c = model._friction_factor(x)  # u = x: the standardisation is the identity until standardise()
    assert c.pow(2).sum((-2, -1)).sqrt().max() <= bound * (1 + 1e-12), "‖C‖_F < s (to rounding)"
    grad_e, grad_s = model.gradients(x)
    sigma = model.skew_factor - model.skew_factor.mT
    ceiling = torch.linalg.matrix_norm(sigma, ord=2) * grad_e.norm(dim=-1) + bound**2 * grad_s.norm(dim=-1)
    assert (model(x).norm(dim=-1) <= ceiling * (1 + 1e-9) + 1e-12).all(), "‖f‖ ≤ ‖σ‖‖∇E‖ + s²‖∇S‖"


@pytest.mark.parametrize("construction", sorted(CONSTRUCTIONS))
def test_standardised_generic_net_is_the_same_function_of_shifted_inputs(construction):
    torch.manual_seed(0)
    model = GenericNet(3, width=16, depth=2, construction=construction).double()
    x = torch.randn(20, 3, dtype=torch.float64)
    before = model.energy(x)
    states = torch.tensor([0.5, 2.0, 0.1], dtype=torch.float64) * torch.randn(200, 3, dtype=torch.float64) + 2
    states[:, 2] = 7.0  # a constant coordinate keeps the scale 1
    model.standardise(states)
    torch.testing.assert_close(model.input_shift, states.mean(0))
    assert model.input_scale[2] == 1 and torch.allclose(model.input_scale[:2], states[:, :2].std(0))
    u = (x - model.input_shift) / model.input_scale
    torch.testing.assert_close(model.energy(x), model.energy_net(u)[..., 0])
    assert not torch.allclose(model.energy(x), before)
    xg = x.clone().requires_grad_(True)
    grads = [torch.autograd.grad(fn(xg).sum(), xg)[0] for fn in (model.energy, model.entropy)]
    for mode in ("autograd", "explicit"):  # ∇ₓ through the standardisation, in both gradient modes
        model.gradient_mode = mode
        for got, expected in zip(model.gradients(x), grads):
            torch.testing.assert_close(got, expected)
    grad_e, grad_s = model.gradients(x)
    f = model(x)
    assert (grad_e * f).sum(-1).abs().max() <= 1e-10 * (1 + grad_e.norm(dim=-1).max() * f.norm(dim=-1).max())
    assert (grad_s * f).sum(-1).min() >= -1e-10 * (1 + grad_s.norm(dim=-1).max() * f.norm(dim=-1).max())
    with pytest.raises(ValueError, match="finite"):
        model.standardise(torch.full((4, 3), float("nan")))
    with pytest.raises(ValueError, match="last dimension 3"):
        model.standardise(torch.zeros(4, 2))
