"""The ablations of the grid, read from ``results/``: error against shots, out-of-distribution against
in-distribution test systems, and the latent dimension.

    python -m spmeta.bench run --families pendulum --methods svd --seeds 0 --shots 1traj 1 5 10 30 100 300 --box id ood
    fig = shots_figure("results", "pendulum")
    Markdown(ood_table("results", ["pendulum", "mass_spring"]))

See chapter 13 (book/13_results.md).
"""
from __future__ import annotations

from pathlib import Path

from .. import plotting
from .grid import METHODS
from .table import METRICS, format_cell, load_results, summarize

__all__ = ["SHOTS", "LATENT_DIMS", "variant_summary", "has_results", "shots_variants", "shots_figure", "ood_table",
           "latent_figure"]

#: The protocol's shots sweep, in (x, ẋ) samples, and the latent-dimension ablation (10 is the main grid).
SHOTS = (1, 5, 10, 30, 100, 300)
LATENT_DIMS = (2, 5, 10, 20)


def variant_summary(out: str | Path, variant: str) -> dict:
    """:func:`~spmeta.bench.table.summarize` of one variant ('' is the main grid)."""
    return summarize(load_results(out, variant))


def has_results(out: str | Path, family: str, variants: list[str]) -> bool:
    """Whether any of the variants has a result file for the family."""
    return any(r["run"]["family"] == family for v in variants for r in load_results(out, v))


def shots_variants(box: str = "id") -> list[str]:
    """The shots sweep's variant names, in-distribution (``id``) or out of distribution (``ood``)."""
    return [f"shots{n}" + ("_ood" if box == "ood" else "") for n in SHOTS]


def _curve(summaries: list[dict], family: str, method: str, metric: str):
    """(positions, means, stds) of ``metric`` over the variants' summaries that have finished results."""
    xs, means, stds = [], [], []
    for i, summary in enumerate(summaries):
        entry = summary.get((family, method))
        if entry and metric in entry["metrics"]:
            mean, std = entry["metrics"][metric]
            xs.append(i), means.append(mean), stds.append(std or 0.0)
    return xs, means, stds


def _methods_with(summaries: list[dict], family: str) -> list[str]:
    return [m for m in METHODS if any((family, m) in summary for summary in summaries)]


def _sweep_figure(summaries: list[dict], family: str, metrics, positions, xlabel: str, title: str,
                  methods: list[str]):
    """Error against a swept setting, one line per method (mean ± std over seeds), one panel per metric.
    ``summaries[i]`` holds the results at ``positions[i]``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method in methods:
            xs, means, stds = _curve(summaries, family, method, metric)
            ax.errorbar([positions[i] for i in xs], means, yerr=stds, capsize=2, **plotting.method_style(method))
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=METRICS[metric], title=title)
    axes[0, -1].legend(fontsize=8)
    return fig


def shots_figure(out: str | Path, family: str, metrics=("eps_traj", "eps_field"), box: str = "id"):
    """Error against the support size in (x, ẋ) samples, one line per method (mean ± std over seeds), one panel
    per metric. ``box="ood"`` draws the out-of-distribution test systems."""
    summaries = [variant_summary(out, v) for v in shots_variants(box)]
    return _sweep_figure(summaries, family, metrics, SHOTS, "support size (x, ẋ samples)",
                         family + (" (OOD)" if box == "ood" else ""), _methods_with(summaries, family))


def ood_table(out: str | Path, families: list[str], metric: str = "eps_traj") -> str:
    """Markdown: per family and method, ``metric`` on in-distribution test systems (the main grid, one support
    trajectory) beside the out-of-distribution box (variant ``ood``), with their ratio."""
    main, ood = variant_summary(out, ""), variant_summary(out, "ood")
    lines = [f"| family | method | {METRICS[metric]} in distribution | out of distribution | ratio |",
             "|---|---|---|---|---|"]
    for family in families:
        for method in METHODS:
            if (family, method) not in ood:
                continue
            a, b = main.get((family, method)), ood[family, method]
            ratio = "—"
            if a and metric in a["metrics"] and metric in b["metrics"]:
                ratio = f"{b['metrics'][metric][0] / a['metrics'][metric][0]:.1f}×"
            lines.append(f"| {family} | {method} | {format_cell(a, metric)} | {format_cell(b, metric)} | {ratio} |")
    return "\n".join(lines)


def latent_figure(out: str | Path, family: str = "pendulum", metrics=("eps_traj", "eps_field")):
    """Error against the latent dimension d_z (mean ± std over seeds), one line per method with ablation runs."""
    summaries = [variant_summary(out, f"dz{d}" if d != 10 else "") for d in LATENT_DIMS]
    ablated = [summary for d, summary in zip(LATENT_DIMS, summaries) if d != 10]
    fig = _sweep_figure(summaries, family, metrics, LATENT_DIMS, "latent dimension $d_z$", family,
                        _methods_with(ablated, family))
    for ax in fig.axes:
        ax.set_xticks(LATENT_DIMS, [str(d) for d in LATENT_DIMS])
    return fig
