"""Diagnostics of a GENERIC model in training: how its learned gradients sit against the true ones.

The projection and NMS constructions divide by ‖∇S‖² and ‖∇E‖² (the projectors P_S and P_E), and L∇S = 0
forces the reversible part to vanish along ∇S: a learned ∇S that points along the mechanical coordinates, not
along the entropy, leaves L unable to carry the motion there. :func:`generic_geometry` measures both at the
training states, with each training system's own code and parameters.

See chapter 11 (book/11_damped_oscillator.md).
"""
from __future__ import annotations

import torch

from ..models.fields import input_gradient

__all__ = ["generic_geometry"]


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1).abs() / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(torch.finfo(a.dtype).tiny)


def generic_geometry(learner, data, samples: int = 200) -> dict:
    """Where a modulated GENERIC learner's ∇E and ∇S stand, over ``samples`` training states of each training
    system (the first ones; ``data.train``: the systems it meta-trains on), in float64:

    - ``cos_s``, ``cos_e``: the median over states of |cos| between the learned and the true ∇S (∇E);
    - ``grad_s_small``, ``grad_e_small``: the 1st percentile of ‖∇S‖ (‖∇E‖) over the median: how close the
      projectors come to dividing by zero (small values: ill-conditioned);
    - ``entropy_scale_spread``: the ratio of the largest to the smallest per-system median ‖∇S‖: how much the
      systems' friction is carried by the scale of their entropies.
    """
    import copy

    net = copy.deepcopy(learner.net).double()
    train = data.train
    x = train.samples().x[:, :samples].double()  # (K, N, n)
    mu = train.mu.double()[:, None, :].expand(-1, x.shape[1], -1)
    z = learner.latents.codes.detach().double()
    grad_e, grad_s = net.gradients(x, z)
    with torch.no_grad():  # the true ∇E and ∇S of each system, without a graph
        true_e = input_gradient(lambda states: train.family.energy(states, mu), x)
        true_s = input_gradient(lambda states: train.family.entropy(states, mu), x)
    norm_s, norm_e = grad_s.norm(dim=-1), grad_e.norm(dim=-1)
    per_system = norm_s.median(dim=-1).values
    return {"cos_s": _cosine(grad_s, true_s).median().item(), "cos_e": _cosine(grad_e, true_e).median().item(),
            "grad_s_small": (norm_s.flatten().quantile(0.01) / norm_s.median()).item(),
            "grad_e_small": (norm_e.flatten().quantile(0.01) / norm_e.median()).item(),
            "entropy_scale_spread": (per_system.max() / per_system.min().clamp_min(torch.finfo(x.dtype).tiny)).item()}
