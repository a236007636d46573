"""The book's figure style and its shared plots: phase portraits, trajectories, energy drift.

matplotlib is imported lazily, so ``import spmeta`` never needs it. Every chapter calls
:func:`use_book_style` once; every method has one fixed colour and line style (:data:`METHOD_STYLES`).

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

__all__ = ["OKABE_ITO", "METHOD_COLORS", "METHOD_STYLES", "use_book_style", "method_style", "phase_portrait",
           "phase_portraits", "plot_trajectories", "plot_energy_error", "plot_tta_curves", "plot_seed_dots"]

#: The Okabe–Ito colour-blind-safe palette (yellow left out: too pale for lines on white).
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}

#: (colour, line style, marker) per method, used in every figure of the book.
METHOD_STYLES: dict[str, tuple[str, str, str]] = {
    "truth": (OKABE_ITO["black"], "-", ""),
    "scratch": ("#4D4D4D", ":", "x"),
    "maml": ("#7F7F7F", "--", "v"),
    "fomaml": ("#7F7F7F", (0, (5, 1)), "1"),
    "anil": ("#999999", "-.", "^"),
    "reptile": ("#B3B3B3", (0, (3, 1, 1, 1, 1, 1)), "<"),
    "mlp": ("#666666", (0, (1, 1)), "+"),
    "shift": (OKABE_ITO["sky_blue"], "-", "o"),
    "film": (OKABE_ITO["green"], "-", "s"),
    "full_weight": (OKABE_ITO["orange"], "-", "D"),
    "rank_one": (OKABE_ITO["blue"], "-", "P"),
    "multi_rank": (OKABE_ITO["vermillion"], "-", "X"),
    "svd": (OKABE_ITO["purple"], "-", "*"),
    # integrators and structure-preserving models of the first chapters
    "rk4": (OKABE_ITO["vermillion"], "-", ""),
    "leapfrog": (OKABE_ITO["blue"], "--", ""),
    "hnn": (OKABE_ITO["blue"], "-", ""),
    "generic": (OKABE_ITO["green"], "-", ""),
    "gfinn": (OKABE_ITO["orange"], "--", ""),
    "nms": (OKABE_ITO["vermillion"], "-.", ""),
}
METHOD_COLORS = {name: style[0] for name, style in METHOD_STYLES.items()}


def use_book_style() -> None:
    """White backgrounds, the Okabe–Ito cycle, 10 pt text, 1.5 pt lines, column-sized PNG figures."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
        "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
        "savefig.transparent": False, "figure.figsize": (6.4, 3.6), "figure.dpi": 100, "savefig.dpi": 120,
        "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "legend.fontsize": 9,
        "lines.linewidth": 1.5, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
        "axes.spines.right": False, "image.cmap": "viridis", "figure.constrained_layout.use": True,
        "axes.prop_cycle": cycler(color=[c for k, c in OKABE_ITO.items() if k != "black"]),
    })
    try:  # inline figures as PNG at a moderate resolution
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # outside IPython
        pass


def method_style(method: str) -> dict:
    """Keyword arguments (color, linestyle, marker, label) for ``ax.plot`` for a named method."""
    if method not in METHOD_STYLES:
        raise ValueError(f"no style for method {method!r}; known methods are {sorted(METHOD_STYLES)}")
    color, linestyle, marker = METHOD_STYLES[method]
    return {"color": color, "linestyle": linestyle, "marker": marker or None, "label": method}


def _grid(xlim: Sequence[float], ylim: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    q, p = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    return q, p, torch.from_numpy(np.stack([q, p], -1))


def phase_portrait(ax, energy: Callable[[torch.Tensor], torch.Tensor], xlim=(-2, 2), ylim=(-2, 2), n: int = 101,
                   levels: int = 12, field: Callable[[torch.Tensor], torch.Tensor] | None = None,
                   field_color: str = "#7F7F7F"):
    """Level sets of a scalar energy on the (q, p) plane, optionally with a streamplot of a vector field.

    Args:
        ax: matplotlib axes.
        energy: x: (..., 2) float64 -> (...), e.g. ``lambda x: family.energy(x, mu)``.
        field: optional x: (..., 2) -> (..., 2), e.g. the true or a learned vector field.

    Returns the contour set (for a colour bar).
    """
    q, p, x = _grid(xlim, ylim, n)
    with torch.no_grad():
        h = energy(x).detach().numpy()
    cs = ax.contour(q, p, h, levels=levels, cmap="viridis", linewidths=1.0)
    if field is not None:
        qs, ps, xs = _grid(xlim, ylim, 25)
        v = field(xs).detach().numpy()
        ax.streamplot(qs, ps, v[..., 0], v[..., 1], color=field_color, density=0.7, linewidth=0.6, arrowsize=0.7)
    ax.set(xlabel="$q$", ylabel="$p$", xlim=xlim, ylim=ylim)
    return cs


def phase_portraits(family, mus: torch.Tensor, trajectories: torch.Tensor | None = None, xlim=None, ylim=None,
                    ncols: int | None = None):
    """Small multiples: one phase portrait (H level sets, field, optional trajectories) per parameter vector.

    family: a family with one degree of freedom; mus: (P, n_mu); trajectories: optional (P, B, T, 2)
    overlays. Without limits, the axes span 1.15 × the largest |q| and |p| of the trajectories (or ±2).
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    if xlim is None or ylim is None:
        extent = 1.15 * torch.as_tensor(trajectories).abs().amax(dim=(0, 1, 2)) if trajectories is not None \
            else torch.tensor([2.0, 2.0])
        xlim = xlim or (-extent[0].item(), extent[0].item())
        ylim = ylim or (-extent[1].item(), extent[1].item())
    n_panels = len(mus)
    ncols = ncols or n_panels
    nrows = -(-n_panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.3 * nrows), squeeze=False, sharex=True, sharey=True)
    for i, (ax, mu) in enumerate(zip(axes.flat, mus)):
        phase_portrait(ax, lambda x: family.energy(x, mu), xlim, ylim, field=lambda x: family.vector_field(x, mu))
        if trajectories is not None:
            plot_trajectories(ax, trajectories[i])
        ax.set_title(", ".join(f"{k} = {v:.2f}" for k, v in zip(family.param_names, mu.tolist())))
        if i % ncols:
            ax.set_ylabel("")
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig


def plot_trajectories(ax, X: torch.Tensor, method: str = "truth", label: str | None = None, **kwargs):
    """Overlay trajectories X: (B, T, 2) (or (T, 2)) on the phase plane, in the method's style."""
    X = torch.as_tensor(X).detach().reshape(-1, *X.shape[-2:]).numpy()
    style = {**method_style(method), "marker": None, **kwargs}
    style["label"] = label if label is not None else style["label"]
    for i, traj in enumerate(X):
        ax.plot(traj[:, 0], traj[:, 1], **{**style, "label": style["label"] if i == 0 else None})
        ax.plot(traj[0, 0], traj[0, 1], "o", color=style["color"], markersize=3)
    return ax


def plot_energy_error(ax, t, error, method: str, label: str | None = None, running_max: bool = True,
                      log_time: bool = False, floor: float = 1e-16, **kwargs):
    """Relative energy error |H(x(t)) − H(x(0))| / |H(x(0))| against time, on a log scale.

    t: (T,); error: (T,) or (B, T) (the maximum over B is drawn). With ``running_max`` the curve is the
    largest error seen up to time t, which shows drift and boundedness without the fast oscillations.
    ``log_time`` also puts t on a log axis, where linear drift has slope 1. The first sample (zero error
    by definition) is left out; later exact zeros are clipped to ``floor`` so that they still show.
    """
    t = torch.as_tensor(t).detach()[1:]
    error = torch.as_tensor(error).detach()
    error = error.reshape(-1, error.shape[-1]).amax(0)
    if running_max:
        error = error.cummax(0).values
    error = error[1:]
    if log_time:
        ax.set_xscale("log")
    style = {**method_style(method), "marker": None, **kwargs}
    if label is not None:
        style["label"] = label
    ax.plot(t.numpy(), np.maximum(error.numpy(), floor), **style)
    ylabel = r"$\max_{s \leq t} |H(x(s)) - H(x(0))| / |H(x(0))|$" if running_max \
        else r"$|H(x(t)) - H(x(0))| / |H(x(0))|$"
    ax.set(yscale="log", xlabel="$t$", ylabel=ylabel)
    return ax


def plot_tta_curves(ax, curves: Sequence[dict], label: Callable[[dict], str] = lambda c: c["recipe"],
                    color: Callable[[dict], str | None] = lambda c: None, x: str = "cpu_s"):
    """Time-to-accuracy curves (chapter 14): validation ε_traj against the CPU seconds of meta-training (or
    ``x="epoch"``), both on log scales, one line per curve dict of :class:`~spmeta.bench.tta.Curve`'s fields;
    the v1 recipe dashed. Non-finite points (a diverged run) are left out."""
    for c in curves:
        points = [(a, e) for a, e in zip(c[x], c["eps_traj"]) if np.isfinite(e) and a > 0]
        if points:
            ax.plot(*zip(*points), "--" if c["recipe"] == "v1" else "-", marker=".", color=color(c), label=label(c))
    ax.set(xscale="log", yscale="log", xlabel="CPU seconds" if x == "cpu_s" else x)
    return ax


def plot_seed_dots(ax, values: dict[str, Sequence[float]], paper: dict[str, Sequence[float]] | None = None,
                   failed: Sequence[str] = ()):
    """One column per method (in ``values``' order): each seed a dot, the mean a bar, the paper's values stars,
    on a log scale. values: method -> its seeds' errors; paper: method -> the reported values (one per version);
    failed: methods whose runs failed, marked "failed" at the top. Every method keeps its book colour."""
    methods = list(values)
    for i, method in enumerate(methods):
        color = METHOD_COLORS.get(method, "0.3")
        seeds = [v for v in values[method] if np.isfinite(v)]
        if seeds:
            offsets = np.linspace(-0.15, 0.15, len(seeds)) if len(seeds) > 1 else [0.0]
            ax.scatter(i + np.asarray(offsets), seeds, s=14, color=color, alpha=0.8, zorder=3)
            ax.plot([i - 0.25, i + 0.25], [np.mean(seeds)] * 2, color=color, lw=2, zorder=3)
        for value in (paper or {}).get(method, ()):
            ax.scatter([i], [value], marker="*", s=90, color="none", edgecolors="black", zorder=4)
        if method in failed:
            ax.annotate("failed", (i, 1), xycoords=("data", "axes fraction"), ha="center", va="top", fontsize=7,
                        rotation=90)
    ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=8)
    ax.set(yscale="log", xlim=(-0.6, len(methods) - 0.4))
    return ax
