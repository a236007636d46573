"""The ablations of the grid, read from ``results/``: error against shots, out-of-distribution against
in-distribution test systems, and the latent dimension.

    python -m spmeta.bench run --families pendulum --methods svd --seeds 0 --shots 1traj 1 5 10 30 100 300 --box id ood
    fig = shots_figure("results", "pendulum")
    Markdown(ood_table("results", ["pendulum", "mass_spring"]))

A shots sweep and the OOD evaluation of one (family, method, seed) share one meta-training, and so does the main
cell when it runs in the same command (a result file's ``trained_for`` lists the variants of its training).
Out-of-distribution errors are compared with in-distribution ones from the same training only.

See chapter 13 (book/13_results.md).
"""
from __future__ import annotations

from pathlib import Path

from .. import plotting
from ..config import PROTOCOL_SHOTS
from ..systems import get_family
from .grid import METHODS
from .table import METRICS, load_results, markdown_rows, summarize

__all__ = ["SHOTS", "LATENT_DIMS", "variant_summary", "has_results", "shots_variants", "shots_figure",
           "ood_comparison", "ood_table", "latent_figure"]

#: The protocol's shots sweep, in (x, ẋ) samples, and the latent-dimension ablation (10 is the main grid).
SHOTS = PROTOCOL_SHOTS
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


def _ood_partners(family: str) -> list[tuple[str, str, str]]:
    """(in-distribution variant, OOD variant, support) pairs that can share a meta-training, most direct first:
    one trajectory (the main cell, or a shots point of one trajectory's length), then 30 samples."""
    per_traj = get_family(family).n_steps
    return [("", "ood", "1 trajectory"), (f"shots{per_traj}", "ood", "1 trajectory"),
            ("shots30", "shots30_ood", "30 samples")]


def ood_comparison(out: str | Path, families: list[str], metric: str = "eps_traj") -> list[dict]:
    """Per family and method with out-of-distribution results: ``metric`` inside and outside the box, paired seed
    by seed within one meta-training (see the module docstring), for the first pair of
    :func:`_ood_partners` that has such seeds.

    Returns dicts with ``family``, ``method``, ``support``, ``seeds`` and ``inside``, ``outside`` (means over
    those seeds) and ``ratio`` (outside / inside); with no paired seed, ``support`` is None and the three
    numbers are None."""
    cache: dict[str, dict] = {}

    def records(variant: str) -> dict:
        if variant not in cache:
            cache[variant] = {(r["run"]["family"], r["run"]["method"], r["run"]["seed"]): r
                              for r in load_results(out, variant) if r["status"] == "ok"}
        return cache[variant]

    rows = []
    for family in families:
        for method in METHODS:
            if not any(f == family and m == method for f, m, _ in records("ood")):
                continue
            row = {"family": family, "method": method, "support": None, "seeds": [], "inside": None,
                   "outside": None, "ratio": None}
            for inside_variant, outside_variant, support in _ood_partners(family):
                pairs = []
                for (f, m, seed), outside in sorted(records(outside_variant).items()):
                    inside = records(inside_variant).get((f, m, seed))
                    if (f, m) == (family, method) and inside and metric in inside["metrics"] \
                            and metric in outside["metrics"] \
                            and (inside_variant or "main") in (outside.get("trained_for") or []):
                        pairs.append((seed, inside["metrics"][metric], outside["metrics"][metric]))
                if pairs:
                    inside_mean = sum(p[1] for p in pairs) / len(pairs)
                    outside_mean = sum(p[2] for p in pairs) / len(pairs)
                    row.update(support=support, seeds=[p[0] for p in pairs], inside=inside_mean,
                               outside=outside_mean, ratio=outside_mean / inside_mean)
                    break
            rows.append(row)
    return rows


def ood_table(out: str | Path, families: list[str], metric: str = "eps_traj") -> str:
    """Markdown of :func:`ood_comparison`: per family and method, ``metric`` on in-distribution and
    out-of-distribution test systems adapted from the same support after the same meta-training, and their
    ratio (means over the paired seeds)."""
    rows = []
    for row in ood_comparison(out, families, metric):
        if row["support"] is None:
            rows.append([row["family"], row["method"], "no same-training pair", "—", "—", "—", "—"])
            continue
        rows.append([row["family"], row["method"], row["support"], ", ".join(map(str, row["seeds"])),
                     f"{row['inside']:.2e}", f"{row['outside']:.2e}", f"{row['ratio']:.1f}×"])
    header = ["family", "method", "support", "seeds", f"{METRICS[metric]} in distribution", "out of distribution",
              "ratio"]
    return markdown_rows(header, rows)


def latent_figure(out: str | Path, family: str = "pendulum", metrics=("eps_traj", "eps_field")):
    """Error against the latent dimension d_z (mean ± std over seeds), one line per method with ablation runs.
    The main grid's d_z = 10 points use only the seeds that the ablation runs have, so that every point of a
    line averages the same seeds."""
    from matplotlib.ticker import NullFormatter

    runs = {d: load_results(out, f"dz{d}") for d in LATENT_DIMS if d != 10}
    seeds = {r["run"]["seed"] for records in runs.values() for r in records}
    runs[10] = [r for r in load_results(out) if r["run"]["seed"] in seeds]
    summaries = [summarize(runs[d]) for d in LATENT_DIMS]
    ablated = [summary for d, summary in zip(LATENT_DIMS, summaries) if d != 10]
    fig = _sweep_figure(summaries, family, metrics, LATENT_DIMS, "latent dimension $d_z$", family,
                        _methods_with(ablated, family))
    for ax in fig.axes:
        ax.set_xticks(LATENT_DIMS, [str(d) for d in LATENT_DIMS])
        ax.xaxis.set_minor_formatter(NullFormatter())  # the log axis spans one decade: no minor labels
    return fig
