import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import spmeta
from spmeta.systems import GenericFamily

GENERIC = ("damped_oscillator", "gas_containers")
unit = st.floats(0, 1)


def _random_state(name, u):
    """A state inside the family's domain from uniforms u: (n,) in [0, 1]."""
    if name == "gas_containers":  # 0 < q < 2 keeps both volumes positive
        return torch.stack([0.1 + 1.8 * u[0], 4 * u[1] - 2, 4 * u[2] - 1, 4 * u[3] - 1])
    return torch.stack([6 * u[0] - 3, 4 * u[1] - 2, 4 * u[2] - 2])


@pytest.mark.parametrize("name", GENERIC)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_closed_form_equals_generic_form_and_degeneracy_holds(name, data):
    family = spmeta.get_family(name)
    u = torch.tensor(data.draw(st.lists(unit, min_size=family.state_dim + 2, max_size=family.state_dim + 2)),
                     dtype=torch.float64)
    x = _random_state(name, u)
    (lo1, hi1), (lo2, hi2) = family.param_ranges.values()
    mu = torch.stack([lo1 + u[-2] * (hi1 - lo1), lo2 + u[-1] * (hi2 - lo2)])
    torch.testing.assert_close(family.rhs(x, mu), family.generic_field(x, mu), rtol=1e-12, atol=1e-12)
    l_grad_s, m_grad_e = family.degeneracy(x, mu)
    assert l_grad_s.abs().max() < 1e-12 and m_grad_e.abs().max() < 1e-10
    L, M = family.poisson(x, mu), family.friction(x, mu)
    assert torch.equal(L, -L.mT) and torch.allclose(M, M.mT)
    assert torch.linalg.eigvalsh(M).min() >= -1e-10 * (1 + M.abs().max())


@pytest.mark.parametrize("name", GENERIC)
def test_ground_truth_first_and_second_law(name):
    family = spmeta.get_family(name)
    for mu in family.sample_params(2, seed=1):
        X = family.trajectories(mu, family.sample_initial_conditions(5, mu, seed=2))
        assert X.shape == (5, family.n_steps, family.state_dim)
        E, S = family.energy(X, mu), family.entropy(X, mu)
        assert ((E - E[:, :1]).abs() / E[:, :1].abs()).max() <= 1e-8
        assert S.diff(dim=-1).min() >= -1e-9
        assert S[:, -1].sub(S[:, 0]).min() > 0  # dissipation is visible within the window


def test_protocol_settings():
    dno, tgc = (spmeta.get_family(n) for n in GENERIC)
    assert dno.param_ranges == {"k": (0.5, 2.0), "gamma": (0.1, 0.5)}
    assert dno.ood_ranges == {"k": (2.0, 3.0), "gamma": (0.5, 0.7)}
    assert (dno.t_span, dno.n_steps, dno.state_dim) == ((0.0, 10.0), 100, 3)
    assert tgc.param_ranges == {"m": (0.5, 2.0), "alpha": (1.0, 10.0)}
    assert tgc.ood_ranges == {"m": (2.0, 3.0), "alpha": (10.0, 15.0)}
    assert (tgc.t_span, tgc.n_steps, tgc.state_dim) == ((0.0, 8.0), 81, 4)
    x0 = dno.sample_initial_conditions(500, dno.box_centre(), seed=0)
    assert x0[:, 0].abs().max() <= 2 and x0[:, 1].abs().max() <= 1 and (x0[:, 2] == 0).all()
    x0 = tgc.sample_initial_conditions(500, tgc.box_centre(), seed=0)
    offset = (x0 - torch.tensor([1.0, 0.0, 2.0, 2.0], dtype=torch.float64)).abs().amax(0)
    assert (offset <= torch.tensor([0.8, 1.0, 1.0, 1.0], dtype=torch.float64)).all()


# --- bad input -------------------------------------------------------------------------------------------
def _family(**changes):
    def energy(x, mu):
        return x[..., 1] ** 2 / 2 - mu[..., 0] * torch.cos(x[..., 0]) + x[..., 2]

    def friction(x, mu):
        v = torch.stack([torch.zeros_like(x[..., 1]), torch.ones_like(x[..., 1]), -x[..., 1]], -1)
        return v[..., :, None] * v[..., None, :]

    def poisson(x, mu):
        J = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=x.dtype)
        return J.expand(*x.shape[:-1], 3, 3)

    kwargs = dict(name="g", energy=energy, entropy=lambda x, mu: x[..., 2], poisson=poisson, friction=friction,
                  dim=3, param_ranges={"k": (0.5, 2.0)}, t_span=(0.0, 1.0), n_steps=5)
    return GenericFamily(**{**kwargs, **changes})


def _constant(x, rows):
    """A constant matrix at every state of x: (..., 3) -> (..., 3, 3)."""
    return torch.tensor(rows, dtype=x.dtype).expand(*x.shape[:-1], 3, 3)


def test_user_generic_family_works():
    family = _family()
    mu = torch.tensor([1.0])
    x = family.sample_initial_conditions(4, mu)
    assert family.vector_field(x, mu).shape == (4, 3)
    assert family.trajectories(mu, x).shape == (4, 5, 3)


@pytest.mark.parametrize("changes, message", [
    ({"poisson": lambda x, mu: torch.zeros(*x.shape[:-1], 2, 2)}, r"poisson\(x, mu\) must return shape"),
    ({"friction": lambda x, mu: torch.zeros(*x.shape[:-1], 3)}, r"friction\(x, mu\) must return shape"),
    ({"energy": lambda x, mu: x}, r"energy\(x, mu\) must return shape"),
    ({"entropy": lambda x, mu: x[..., :2]}, r"entropy\(x, mu\) must return shape"),
    ({"friction": "M"}, "friction must be a callable"),
    ({"dim": 4}, "n = 4"),
    ({"rhs": lambda x, mu: x[..., :2]}, r"rhs\(x, mu\) must return the shape of x"),
    ({"rhs": lambda x, mu: torch.zeros_like(x)}, "rhs differs from L∇E"),
    ({"poisson": lambda x, mu: torch.eye(3, dtype=x.dtype).expand(*x.shape[:-1], 3, 3)}, "not skew-symmetric"),
    ({"poisson": lambda x, mu: _constant(x, [[0, 0, 1], [0, 0, 0], [-1, 0, 0]])}, "L∇S ≠ 0"),
    ({"friction": lambda x, mu: _constant(x, [[0, 0, 0], [0, 1, 0], [0, 0, 0]])}, "M∇E ≠ 0"),
    ({"friction": lambda x, mu: _constant(x, [[0, 0, 0], [0, 0, 1], [0, 0, 0]])}, "M is not symmetric"),
    ({"friction": lambda x, mu: -_constant(x, [[0, 0, 0], [0, 1, 1], [0, 1, 1]])}, "not positive semi-definite"),
    ({"energy": lambda x, mu: x[..., 1] ** 2 / 2 - mu[0] * torch.cos(x[..., 0]) + x[..., 2]},
     "other values for a batch"),
])
def test_inconsistent_generic_definitions(changes, message):
    with pytest.raises(ValueError, match=message):
        _family(**changes)


def test_generic_state_dimension_error():
    family = spmeta.get_family("gas_containers")
    with pytest.raises(ValueError, match="last dimension 4"):
        family.vector_field(torch.ones(2, 3), family.box_centre())
