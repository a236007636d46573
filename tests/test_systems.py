import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import spmeta
from spmeta.systems import BUILTIN_FAMILIES, symplectic_matrix

G = 3.0
# Closed-form Hamiltonian vector fields, written independently of the library's autograd.
CLOSED_FORMS = {
    "mass_spring": lambda q, p, a, b: (p / a, -b * q),                                  # (m, k)
    "pendulum": lambda q, p, a, b: (p / (a * b**2), -a * G * b * torch.sin(q)),         # (m, l)
    "duffing": lambda q, p, a, b: (p, -a * q - b * q**3),                               # (α, β)
}
finite = st.floats(-3, 3, allow_nan=False)
unit = st.floats(0, 1)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@settings(max_examples=30, deadline=None)
@given(q=finite, p=finite, u=unit, v=unit)
def test_autograd_field_equals_closed_form(name, q, p, u, v):
    family = spmeta.get_family(name)
    (lo1, hi1), (lo2, hi2) = family.param_ranges.values()
    mu = torch.tensor([lo1 + u * (hi1 - lo1), lo2 + v * (hi2 - lo2)], dtype=torch.float64)
    x = torch.tensor([q, p], dtype=torch.float64)
    dq, dp = CLOSED_FORMS[name](x[0], x[1], mu[0], mu[1])
    torch.testing.assert_close(family.vector_field(x, mu), torch.stack([dq, dp]), rtol=1e-12, atol=1e-12)


def test_protocol_boxes_and_grids():
    expected = {"mass_spring": ({"m": (1, 5), "k": (1, 5)}, {"m": (5, 7), "k": (5, 7)}, 30),
                "pendulum": ({"m": (0.5, 1.5), "l": (0.5, 1.5)}, {"m": (1.5, 2), "l": (1.5, 2)}, 45),
                "duffing": ({"alpha": (0.5, 2), "beta": (0.5, 2)}, {"alpha": (2, 3), "beta": (2, 3)}, 30)}
    for name, (box, ood, n_steps) in expected.items():
        family = spmeta.get_family(name)
        assert family.param_ranges == box and family.ood_ranges == ood
        assert family.t_span == (0.0, 3.0) and family.n_steps == n_steps
        assert family.separable and family.state_dim == 2


def test_hamiltonian_structure_batched():
    family = spmeta.get_family("duffing")
    x = torch.randn(4, 7, 2, dtype=torch.float64, requires_grad=True)
    mu = family.sample_params(4, seed=3)[:, None, :]  # (4, 1, 2) broadcasts over the 7 states
    f = family.vector_field(x, mu)
    assert f.shape == (4, 7, 2)
    (grad,) = torch.autograd.grad(family.energy(x, mu).sum(), x)
    torch.testing.assert_close(f, grad @ symplectic_matrix(1).T)
    assert (grad * f).sum(-1).abs().max() < 1e-13


def test_vector_field_under_no_grad():
    family = spmeta.get_family("pendulum")
    mu = torch.tensor([1.0, 1.0], dtype=torch.float64)
    x = torch.randn(5, 2, dtype=torch.float64)
    with torch.no_grad():
        f = family.vector_field(x, mu)
    torch.testing.assert_close(f, family.vector_field(x, mu))


@pytest.mark.parametrize("name", sorted(BUILTIN_FAMILIES))
def test_sampling_is_seeded_and_inside_the_boxes(name):
    family = spmeta.get_family(name)
    a, b = family.sample_params(50, seed=7), family.sample_params(50, seed=7)
    assert torch.equal(a, b) and not torch.equal(a, family.sample_params(50, seed=8))
    for ood, box in ((False, family.param_ranges), (True, family.ood_ranges)):
        mu = family.sample_params(200, seed=1, ood=ood)
        lo, hi = (torch.tensor(v, dtype=torch.float64) for v in zip(*box.values()))
        assert ((mu >= lo) & (mu <= hi)).all()
    x0 = family.sample_initial_conditions(100, a[0], seed=2)
    assert x0.shape == (100, family.state_dim)
    assert torch.equal(x0, family.sample_initial_conditions(100, a[0], seed=2))


def test_initial_condition_radii():
    spring, duffing, pendulum = (spmeta.get_family(n) for n in ("mass_spring", "duffing", "pendulum"))
    r = spring.sample_initial_conditions(500, torch.tensor([2.0, 2.0]), seed=0).norm(dim=-1)
    assert r.min() >= 0.1 and r.max() <= 1.0
    r = duffing.sample_initial_conditions(500, torch.tensor([1.0, 1.0]), seed=0).norm(dim=-1)
    assert r.min() >= 0.5 and r.max() <= 1.5
    for mu in pendulum.sample_params(20, seed=4):
        x0 = pendulum.sample_initial_conditions(100, mu, seed=1)
        m, l = mu
        scaled = torch.stack([x0[:, 0], x0[:, 1] / torch.sqrt(m**2 * G * l**3)], -1).norm(dim=-1)
        assert scaled.min() >= 0.3 - 1e-12 and scaled.max() <= 1.8 + 1e-12
        assert (pendulum.energy(x0, mu) < 2 * m * G * l).all()  # libration: below the separatrix


def test_default_sampler_in_higher_dimension():
    def H(x, mu):
        return (x**2).sum(-1) * mu[..., 0] / 2

    family = spmeta.HamiltonianFamily("iso", H, dof=2, param_ranges={"w": (1, 2)}, t_span=(0, 1), n_steps=5,
                                      ic_radius=(0.5, 0.7))
    x0 = family.sample_initial_conditions(200, torch.tensor([1.5]), seed=0)
    assert x0.shape == (200, 4) and x0.norm(dim=-1).min() >= 0.5 and x0.norm(dim=-1).max() <= 0.7
    assert family.trajectories(torch.tensor([1.5]), x0[:3]).shape == (3, 5, 4)


def test_ground_truth_matches_exact_solution():
    spring = spmeta.get_family("mass_spring")
    m, k = 2.0, 3.0
    w = math.sqrt(k / m)
    x0 = torch.tensor([[1.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    X = spring.trajectories(torch.tensor([m, k]), x0)
    t = spring.time_grid()
    q = x0[:, :1] * torch.cos(w * t) + x0[:, 1:] / (m * w) * torch.sin(w * t)
    p = -x0[:, :1] * m * w * torch.sin(w * t) + x0[:, 1:] * torch.cos(w * t)
    torch.testing.assert_close(X, torch.stack([q, p], -1), rtol=0, atol=1e-9)


def test_user_sampler_with_parameters():
    def sampler(n, generator, mu):
        return mu[0] * torch.ones(n, 2, dtype=torch.float64)

    def H(x, mu):
        return x[..., 1] ** 2 / 2 + mu[..., 0] * x[..., 0] ** 2 / 2

    family = spmeta.HamiltonianFamily("custom", H, dof=1, param_ranges={"k": (1, 2)}, t_span=(0, 1), n_steps=3,
                                      ic_sampler=sampler)
    assert torch.equal(family.sample_initial_conditions(2, torch.tensor([1.5])), torch.full((2, 2), 1.5,
                                                                                              dtype=torch.float64))

    def scaled(n, gen, scale=0.5):  # a defaulted third parameter is the sampler's own, not μ
        return scale * torch.ones(n, 2, dtype=torch.float64)

    family = spmeta.HamiltonianFamily("custom", H, dof=1, param_ranges={"k": (1, 2)}, t_span=(0, 1), n_steps=3,
                                      ic_sampler=scaled)
    assert torch.equal(family.sample_initial_conditions(2, torch.tensor([1.5])), torch.full((2, 2), 0.5,
                                                                                              dtype=torch.float64))


# --- bad input -------------------------------------------------------------------------------------------
def _spring(**changes):
    kwargs = dict(name="s", hamiltonian=lambda x, mu: x[..., 1] ** 2 / (2 * mu[..., 0]) + mu[..., 1] * x[..., 0] ** 2,
                  dof=1, param_ranges={"m": (1.0, 5.0), "k": (1.0, 5.0)}, t_span=(0.0, 3.0), n_steps=30)
    return spmeta.HamiltonianFamily(**{**kwargs, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"param_ranges": {"m": (5.0, 1.0), "k": (1.0, 5.0)}}, "lower bound"),
    ({"param_ranges": {"m": (2.0, 2.0), "k": (1.0, 5.0)}}, "lower bound"),
    ({"param_ranges": {"m": (-1.0, 5.0), "k": (1.0, 5.0)}}, "must be positive"),
    ({"param_ranges": {"m": (1.0, float("nan")), "k": (1.0, 5.0)}}, "finite"),
    ({"param_ranges": {}}, "non-empty"),
    ({"hamiltonian": lambda x, mu: x.sum(-1, keepdim=True)}, "must return shape"),
    ({"hamiltonian": lambda x, mu: x}, "must return shape"),
    ({"hamiltonian": lambda x, mu: 1.0}, "must return shape"),
    ({"hamiltonian": lambda x, mu: x[..., 1] ** 2 / (2 * mu[0]) + x[..., 0] ** 2}, r"mu\[\.\.\., j\]"),
    ({"hamiltonian": lambda x, mu: x[..., 1] ** 2 / (2 * mu[:1, 0]) + x[..., 0] ** 2}, "other values for a batch"),
    ({"dof": 0}, "dof"),
    ({"t_span": (3.0, 0.0)}, "t0 < t1"),
    ({"n_steps": 1}, "n_steps"),
    ({"ood_ranges": {"a": (1, 2), "b": (1, 2)}}, "names"),
])
def test_bad_family_definitions(changes, message):
    with pytest.raises(ValueError, match=message):
        _spring(**changes)


def test_bad_mu_and_states():
    family = spmeta.get_family("mass_spring")
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="mu must have last dimension 2"):
        family.vector_field(x, torch.ones(3))
    with pytest.raises(ValueError, match="last dimension 2"):
        family.vector_field(torch.zeros(3, 3), torch.ones(2))
    with pytest.raises(ValueError, match="do not broadcast"):
        family.energy(torch.zeros(3, 2), torch.ones(4, 2))
    with pytest.raises(ValueError, match="'m' must be positive"):
        family.trajectories(torch.tensor([-1.0, 1.0]), x)
    with pytest.raises(ValueError, match="one system"):
        family.trajectories(torch.ones(2, 2), x)
    with pytest.raises(ValueError, match="NaN or inf"):
        family.trajectories(torch.tensor([1.0, 1.0]), torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        family.sample_initial_conditions(2, torch.tensor([float("inf"), 1.0]))


def test_unknown_family_lists_valid_names():
    with pytest.raises(ValueError, match=r"duffing.*mass_spring.*pendulum"):
        spmeta.get_family("spring")


def test_bad_ic_sampler_shape_fails_at_construction():
    with pytest.raises(ValueError, match="ic_sampler must return shape"):
        _spring(ic_sampler=lambda n, g: torch.zeros(n, 3))
    with pytest.raises(ValueError, match="torch.Generator"):  # a numpy-style sampler
        _spring(ic_sampler=lambda n, rng: rng.uniform(-1, 1, size=(n, 2)))


def test_the_former_dim_keyword_still_builds_a_hamiltonian_family_and_model():
    """The public contract's HamiltonianFamily(..., dim=1) and HNN(dim=1) keep working, with a warning."""
    H = lambda x, mu: x.pow(2).sum(-1)  # noqa: E731
    with pytest.warns(DeprecationWarning, match="dim= is now dof="):
        family = spmeta.HamiltonianFamily("old", H, dim=2, param_ranges={"w": (1, 2)}, t_span=(0, 1), n_steps=3)
    assert family.dof == 2 and family.state_dim == 4
    with pytest.warns(DeprecationWarning, match="now .dof"):
        assert family.dim == 2
    with pytest.warns(DeprecationWarning, match="dim= is now dof="):
        assert spmeta.models.HNN(dim=2, width=8).dof == 2
    with pytest.raises(TypeError, match="dof= only"):
        spmeta.models.HNN(dim=2, dof=2)

