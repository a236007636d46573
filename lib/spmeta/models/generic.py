"""The GENERIC neural network: ẋ = L∇E + M∇S with the structure built in.

Two scalar networks give the energy E(x) and the entropy S(x). The operators are assembled from their
gradients in one of three ways.

``construction="projection"`` (the default; the book's own choice, in the spirit of the neural metriplectic
systems of Gruber et al., 2025), with the orthogonal projector P_v = I − v vᵀ/‖v‖² onto the complement of v:

- L = P_S A P_S with a learnable constant skew matrix A and P_S = P_{∇S}: L is skew and L∇S = 0;
- M = P_E C Cᵀ P_E with C(x) ∈ R^{n×r} from a small network and P_E = P_{∇E}: M is symmetric PSD and
  M∇E = 0. C is softly bounded, ‖C‖_F < s (``friction_bound``).

Two choices make this form train and roll out well (chapter 04):

- A constant A: with a state-dependent A(x) the product A(x)∇E is unchanged when A and E flip sign together
  on a region, and gradient descent gets stuck with seams between such regions where the field collapses.
- A bounded C: the gradients of GELU networks are bounded, so with a constant A and ‖C‖_F < κ the whole field
  is bounded, ‖ẋ‖ ≤ ‖A‖‖∇E‖ + κ²‖∇S‖, and no rollout can blow up in finite time. An unbounded C(x) grows
  linearly away from the data, the friction term M∇S quadratically, and rollouts of briefly trained models
  (Scratch) diverged.

``construction="gfinn"`` (Zhang, Shin and Karniadakis, 2022):

- (B_S)ᵢ = ∇Sᵀ ξᵢ for learnable skew n × n matrices ξᵢ (i = 1..r), so B_S∇S = 0;
  L = B_Sᵀ (A − Aᵀ) B_S with A(x) ∈ R^{r×r} from a small network: L is skew and L∇S = 0.
- (B_E)ᵢ = ∇Eᵀ ζᵢ for learnable skew ζᵢ, so B_E∇E = 0;
  M = B_Eᵀ D Dᵀ B_E with D(x) ∈ R^{r×r} from a small network: M is symmetric PSD and M∇E = 0.

``construction="nms"``, the neural metriplectic systems (NMS) of Gruber, Lee, Lim, Park and Trask, "Efficiently
Parameterized Neural Metriplectic Systems" (ICLR 2025, arXiv 2405.16305), state-dependent operators projected
orthogonally to ∇S and ∇E, in exterior-algebra form (their Lemma 3.2) and metricised (their Theorem 3.4). The
paper's full text was not available to us: the formulas below are that construction as its abstract and public
reviews describe it, with the wedge product a ∧ b = a bᵀ − b aᵀ:

- L = A − (A∇S ∧ ∇S) / ‖∇S‖² = P_S A P_S, with A(x) = A_tri − A_triᵀ for a strictly lower triangular A_tri(x)
  (n(n − 1)/2 outputs of a small network): L is skew and L∇S = 0;
- M = P_E B D Bᵀ P_E = Σₛₜ Dₛₜ (P_E bₛ)(P_E bₜ)ᵀ, with the columns bₛ of B(x) ∈ R^{n×r} and D = K Kᵀ for a lower
  triangular K(x) ∈ R^{r×r} (n r and r(r + 1)/2 outputs of two small networks): M is symmetric PSD and M∇E = 0.
  (P_E b = (b ∧ ê) ê for ê = ∇E/‖∇E‖: the wedge form of the same operator.)

Where the paper leaves the choice open, the library takes: three separate networks x ↦ A_tri, B, K, each
``MLP(n, ·, operator_width, operator_depth)`` of the standardised state, with the book's default activation; no
bound on B or K (the paper has none, so unlike the projection construction the field is not bounded away from
the data: it can grow like ‖B‖²‖K‖² there).

In all three, dE/dt = 0 and dS/dt = ∇Sᵀ M ∇S ≥ 0 for any weights and any state. The field is applied without
forming the n × n operators.

``modulate_operators=True`` (with a modulation) conditions the operators on the code as well: the operator
networks become :class:`~spmeta.nn.modulated.ModulatedMLP` s, and the projection construction's constant A
becomes A + skew(W z) with a linear W initialised at zero. Otherwise only E and S see z, and a system's friction
can differ from another's only through the scale and shape of its S (chapter 11). The structure holds for every z
either way: L and M are assembled after modulation. ``modulate_entropy=False`` leaves S unmodulated, one entropy
shared by all systems: then a system's friction can only live in M, not in the scale of its own S, which removes
the freedom (S, M) → (cS, M/c) per system (chapter 11, "Why some seeds stall").

All sub-networks see standardised states u = (x − m) / s, with m and s set from training states by
:meth:`GenericNet.standardise` (identity until then), so that E(x) = Ẽ(u) and ∇E = ∇ᵤẼ / s: a
reparametrisation, which keeps the structure, and which trains far better where the coordinates are off-centre
(the gas containers' entropies sit near 2).

See chapter 04 (book/04_generic_neural_networks.md).
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice, check_int, check_positive, renamed_keyword
from ..nn.mlp import DEFAULT_ACTIVATION, GENERIC_ACTIVATION, MLP
from ..nn.modulated import ModulatedMLP
from .fields import GRADIENT_MODES, check_state, evaluate_scalar, scalar_gradient, scalar_network

Tensor = torch.Tensor

__all__ = ["GenericNet", "CONSTRUCTIONS"]

#: The three ways of assembling L and M, with the activation of each (chapter 04; NMS: the book's default).
CONSTRUCTIONS = {"projection": DEFAULT_ACTIVATION, "gfinn": GENERIC_ACTIVATION, "nms": DEFAULT_ACTIVATION}


def _skew(raw: Tensor) -> Tensor:
    return raw - raw.mT


def _project(v: Tensor, y: Tensor) -> Tensor:
    """P_v y = y − v (v·y)/‖v‖², for v, y: (..., n). Exact (P_v v = 0) wherever v ≠ 0."""
    norm2 = v.pow(2).sum(-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)
    return y - v * ((v * y).sum(-1, keepdim=True) / norm2)


def _projector(v: Tensor) -> Tensor:
    """P_v as a matrix, (..., n, n): P_v applied to the rows of I (P_v is symmetric)."""
    return _project(v[..., None, :], torch.eye(v.shape[-1], dtype=v.dtype, device=v.device))


def _wedge(a: Tensor, b: Tensor) -> Tensor:
    """a ∧ b = a bᵀ − b aᵀ, (..., n, n), for a, b: (..., n). Exactly skew in floating point."""
    outer = a[..., :, None] * b[..., None, :]
    return outer - outer.mT


def _triangular(entries: Tensor, n: int, offset: int) -> Tensor:
    """The (..., n, n) matrix with ``entries`` (..., k) on and below diagonal ``offset`` (0: lower triangular;
    −1: strictly lower), row by row, and zeros elsewhere. Out of place (a product with rows of the identity),
    so that it composes with ``torch.func.vmap``."""
    rows, cols = torch.tril_indices(n, n, offset, device=entries.device)
    placement = torch.eye(n * n, dtype=entries.dtype, device=entries.device)[rows * n + cols]  # (k, n²)
    return (entries @ placement).unflatten(-1, (n, n))


class GenericNet(nn.Module):
    """ẋ = L(x)∇E(x) + M(x)∇S(x), GENERIC by construction.

    Args:
        dim: n, the length of the state.
        width, depth, activation: of the E and S networks, ``MLP(n, 1, width, depth, activation)``; the
            default activation is the construction's (:data:`CONSTRUCTIONS`).
        modulation, latent_dim, rank: with a modulation name, the E and S networks are
            :class:`~spmeta.nn.modulated.ModulatedMLP` s and every call takes latent codes z: (K, d_z);
            L and M are assembled after modulation, so the structure holds for every z. ``rank`` is the
            modulation's r (``multi_rank`` and ``svd``; default 5), as in :class:`~spmeta.models.HNN`.
        construction: ``"projection"``, ``"gfinn"`` or ``"nms"`` (see the module docstring).
        friction_bound: κ, the bound on ‖C(x)‖_F (projection only): C = C̃ / √(1 + ‖C̃‖²_F / κ²) for the
            network's output C̃.
        operator_rank: the operators' rank: the columns of C (projection); the number of skew factors ξᵢ, ζᵢ
            and the size of A, D (gfinn); the columns of B and the size of K (nms).
        modulation_rank: the former name of ``rank`` (deprecated).
        operator_width, operator_depth: of the operator networks: x ↦ C(x) (projection), x ↦ A(x), D(x)
            ∈ R^{r×r} (gfinn), or x ↦ A_tri(x), B(x), K(x) (nms; three networks).
        gradient: ``"autograd"`` (the reference) or ``"explicit"`` (for the fast path) for ∇E and ∇S; see
            :class:`~spmeta.models.HNN`.
        modulate_operators: with a modulation, modulate the operator networks (and the projection
            construction's A) by z too; see the module docstring.
        modulate_entropy: with a modulation, whether S is modulated (default). ``False`` shares one entropy
            S(x) between all systems, so that the systems differ only through E and (with modulated operators)
            L and M; see the module docstring.

    Buffers ``input_shift`` m and ``input_scale`` s, (n,): the standardisation of the inputs (see
    :meth:`standardise`).

    Shapes: x: (..., n) -> ẋ: (..., n); ``operators(x)`` returns L, M: (..., n, n). With a modulation every
    method takes x: (K, N, n) and z: (K, d_z) (or (1, d_z), shared by the K systems).

    See chapter 04 (book/04_generic_neural_networks.md).
    """

    @renamed_keyword("modulation_rank", "rank")
    def __init__(self, dim: int, width: int = 100, depth: int = 3, activation=None, operator_rank: int = 4,
                 operator_width: int = 30, operator_depth: int = 2, modulation: str | None = None,
                 latent_dim: int = 10, rank: int | None = None, gradient: str = "autograd",
                 construction: str = "projection", friction_bound: float = 3.0, modulate_operators: bool = False,
                 modulate_entropy: bool = True):
        super().__init__()
        if rank is not None and modulation is None:
            raise ValueError(f"rank={rank} is a modulation's r (multi_rank, svd), and this GenericNet has no "
                             "modulation; the operators' rank is operator_rank")
        self.gradient_mode = check_choice(gradient, "gradient mode", GRADIENT_MODES)
        self.construction = check_choice(construction, "construction", CONSTRUCTIONS)
        check_int(dim, "dim (the state length)", 2)
        check_int(operator_rank, "operator_rank (of the operators' factors)")
        check_positive(friction_bound, "friction_bound")
        self.dim, self.operator_rank, self.friction_bound = dim, operator_rank, float(friction_bound)
        activation = activation or CONSTRUCTIONS[construction]
        self.register_buffer("input_shift", torch.zeros(dim))
        self.register_buffer("input_scale", torch.ones(dim))
        if modulate_operators and modulation is None:
            raise ValueError("modulate_operators=True needs a modulation (the operators are conditioned on z)")
        if not modulate_entropy and modulation is None:
            raise ValueError("modulate_entropy=False is for a modulated GenericNet (without a modulation nothing "
                             "is modulated)")
        self.modulate_operators, self.modulate_entropy = bool(modulate_operators), bool(modulate_entropy)
        self.energy_net = scalar_network(dim, width, depth, activation, modulation, latent_dim, rank)
        self.entropy_net = scalar_network(dim, width, depth, activation, modulation if modulate_entropy else None,
                                          latent_dim, rank)

        def operator_net(out_dim: int) -> nn.Module:
            if modulate_operators:
                return ModulatedMLP(dim, out_dim, operator_width, operator_depth, activation, modulation, latent_dim,
                                    rank)
            return MLP(dim, out_dim, operator_width, operator_depth, activation)

        if construction == "projection":
            self.skew_factor = nn.Parameter(torch.randn(dim, dim) / dim**0.5)  # A, skew-symmetrised when used
            if modulate_operators:  # z ↦ W z, the code's change of A (zero at initialisation)
                self.skew_factor_code = nn.Linear(latent_dim, dim * dim, bias=False)
                nn.init.zeros_(self.skew_factor_code.weight)
            self.friction_net = operator_net(dim * operator_rank)  # x ↦ C(x)
            return
        if construction == "nms":  # x ↦ the entries of A_tri (strictly lower), B, and K (lower triangular)
            self.poisson_net = operator_net(dim * (dim - 1) // 2)
            self.basis_net = operator_net(dim * operator_rank)
            self.friction_net = operator_net(operator_rank * (operator_rank + 1) // 2)
            return
        self.poisson_net = operator_net(operator_rank * operator_rank)
        self.friction_net = operator_net(operator_rank * operator_rank)
        self.xi = nn.Parameter(0.1 * torch.randn(operator_rank, dim, dim))    # skew-symmetrised when used
        self.zeta = nn.Parameter(0.1 * torch.randn(operator_rank, dim, dim))
        for factor in (self.xi, self.zeta):  # einsum's backward hands these a transposed gradient layout
            factor.register_hook(torch.Tensor.contiguous)

    def scalar_networks(self) -> dict[str, nn.Module]:
        """The networks of the model's scalars by attribute name: E's and S's (not the operator networks)."""
        return {"energy_net": self.energy_net, "entropy_net": self.entropy_net}

    @property
    def state_dim(self) -> int:
        return self.dim

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before A was named skew_factor (it was "poisson", which means L in a family)
        for old, new in (("poisson", "skew_factor"), ("poisson_code.weight", "skew_factor_code.weight")):
            if prefix + old in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def standardise(self, states: Tensor) -> "GenericNet":
        """Set the input standardisation from training states (..., n): m their mean, s their standard
        deviation per coordinate (1 where a coordinate is constant). Returns the network."""
        check_state(states, self.dim, f"GenericNet(dim={self.dim}).standardise")
        flat = states.reshape(-1, self.dim).to(self.input_shift)
        if not torch.isfinite(flat).all():
            raise ValueError("standardise() needs finite states")
        std = flat.std(0) if len(flat) > 1 else torch.zeros_like(flat[0])
        self.input_shift.copy_(flat.mean(0))
        self.input_scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        return self

    def _standardised(self, x: Tensor) -> Tensor:
        """u = (x − m) / s, (..., n)."""
        check_state(x, self.dim, f"GenericNet(dim={self.dim})")
        return (x - self.input_shift.to(x.dtype)) / self.input_scale.to(x.dtype)

    def energy(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Learned energy E(x; z). x: (..., n) -> (...)."""
        return evaluate_scalar(self.energy_net, self._standardised(x), z)

    def entropy(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Learned entropy S(x; z). x: (..., n) -> (...)."""
        return evaluate_scalar(self.entropy_net, self._standardised(x), self._entropy_code(z))

    def _entropy_code(self, z: Tensor | None) -> Tensor | None:
        """The code S sees: z, or None where S is shared (``modulate_entropy=False``)."""
        return z if self.modulate_entropy else None

    def gradients(self, x: Tensor, z: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(∇E, ∇S), each (..., n)."""
        return self._gradients(self._standardised(x), z)

    def _gradients(self, u: Tensor, z: Tensor | None) -> tuple[Tensor, Tensor]:
        """(∇E, ∇S) at the standardised states u, each (..., n): ∇ₓ = ∇ᵤ / s."""
        scale = self.input_scale.to(u.dtype)
        return (scalar_gradient(self.energy_net, u, z, self.gradient_mode) / scale,
                scalar_gradient(self.entropy_net, u, self._entropy_code(z), self.gradient_mode) / scale)

    def _operator(self, net: nn.Module, u: Tensor, z: Tensor | None) -> Tensor:
        """An operator network's output at the standardised states u, (..., out): conditioned on z where the
        operators are modulated."""
        return net(u, z) if self.modulate_operators else net(u)

    def _skew_part(self, z: Tensor | None, dtype: torch.dtype) -> Tensor:
        """The projection construction's Â = A − Aᵀ: (n, n), or (K, 1, n, n) with modulated operators (A + W z
        per system, broadcasting over the states)."""
        a = _skew(self.skew_factor.to(dtype))
        if not self.modulate_operators:
            return a
        change = self.skew_factor_code(z.to(dtype)).unflatten(-1, (self.dim, self.dim))
        return (a + _skew(change))[:, None]

    def _factors(self, u: Tensor, z: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """At the standardised states u: ∇E, ∇S: (..., n); B_S, B_E: (..., r, n); σ = A − Aᵀ, D: (..., r, r)."""
        grad_e, grad_s = self._gradients(u, z)
        b_s = torch.einsum("...a,kab->...kb", grad_s, _skew(self.xi.to(u.dtype)))
        b_e = torch.einsum("...a,kab->...kb", grad_e, _skew(self.zeta.to(u.dtype)))
        shape = (*u.shape[:-1], self.operator_rank, self.operator_rank)
        sigma = _skew(self._operator(self.poisson_net, u, z).reshape(shape))
        d = self._operator(self.friction_net, u, z).reshape(shape)
        return grad_e, grad_s, b_s, b_e, sigma, d

    def _nms_factors(self, u: Tensor, z: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """At the standardised states u: A = A_tri − A_triᵀ: (..., n, n); B: (..., n, r); K: (..., r, r), lower
        triangular (nms)."""
        a = _skew(_triangular(self._operator(self.poisson_net, u, z), self.dim, -1))
        b = self._operator(self.basis_net, u, z).unflatten(-1, (self.dim, self.operator_rank))
        return a, b, _triangular(self._operator(self.friction_net, u, z), self.operator_rank, 0)

    def _friction_factor(self, u: Tensor, z: Tensor | None = None) -> Tensor:
        """C of the projection construction at the standardised states u, (..., n, r), with ‖C‖_F < s =
        ``friction_bound``."""
        raw = self._operator(self.friction_net, u, z).reshape(*u.shape[:-1], self.dim, self.operator_rank)
        return raw * torch.rsqrt(1 + raw.pow(2).sum((-2, -1), keepdim=True) / self.friction_bound**2)

    def operators(self, x: Tensor, z: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The operators L (skew) and M (symmetric PSD), each (..., n, n): P_S A P_S and P_E C Cᵀ P_E
        (projection), B_Sᵀ σ B_S and B_Eᵀ D Dᵀ B_E (gfinn), or A − (A∇S ∧ ∇S)/‖∇S‖² and P_E B K Kᵀ Bᵀ P_E
        (nms)."""
        u = self._standardised(x)
        if self.construction == "projection":
            grad_e, grad_s = self._gradients(u, z)
            p_s, p_e = _projector(grad_s), _projector(grad_e)
            pc = p_e @ self._friction_factor(u, z)
            return p_s @ self._skew_part(z, x.dtype) @ p_s, pc @ pc.mT
        if self.construction == "nms":
            grad_e, grad_s = self._gradients(u, z)
            a, b, k = self._nms_factors(u, z)
            # the exterior form of L (the paper's Lemma 3.2) is skew exactly; the clamp, as in _project, keeps
            # L = A finite where ∇S = 0 (then A∇S ∧ ∇S = 0 too)
            norm2 = grad_s.pow(2).sum(-1)[..., None, None].clamp_min(torch.finfo(grad_s.dtype).tiny)
            reversible = a - _wedge((a @ grad_s[..., None])[..., 0], grad_s) / norm2
            pbk = _project(grad_e[..., None, :], (b @ k).mT)  # the rows: P_E applied to the columns of B K
            return reversible, pbk.mT @ pbk
        _, _, b_s, b_e, sigma, d = self._factors(u, z)
        b_e_d = b_e.mT @ d
        return b_s.mT @ sigma @ b_s, b_e_d @ b_e_d.mT

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """ẋ = L∇E + M∇S. x: (..., n) -> (..., n). Works under ``torch.no_grad()``."""
        u = self._standardised(x)
        if self.construction == "projection":
            grad_e, grad_s = self._gradients(u, z)
            a = self._skew_part(z, x.dtype)
            reversible = _project(grad_s, (a @ _project(grad_s, grad_e)[..., None])[..., 0])
            c = self._friction_factor(u, z)
            irreversible = _project(grad_e, (c @ (c.mT @ _project(grad_e, grad_s)[..., None]))[..., 0])
            return reversible + irreversible
        if self.construction == "nms":  # P_S A P_S ∇E = L∇E (A is skew) and P_E B K Kᵀ Bᵀ P_E ∇S
            grad_e, grad_s = self._gradients(u, z)
            a, b, k = self._nms_factors(u, z)
            reversible = _project(grad_s, (a @ _project(grad_s, grad_e)[..., None])[..., 0])
            friction = k @ (k.mT @ (b.mT @ _project(grad_e, grad_s)[..., None]))  # (..., r, 1)
            return reversible + _project(grad_e, (b @ friction)[..., 0])
        grad_e, grad_s, b_s, b_e, sigma, d = self._factors(u, z)
        reversible = (b_s.mT @ (sigma @ (b_s @ grad_e[..., None])))[..., 0]
        irreversible = (b_e.mT @ (d @ (d.mT @ (b_e @ grad_s[..., None]))))[..., 0]
        return reversible + irreversible
