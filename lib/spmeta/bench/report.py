"""Tables for the benchmark chapters: one family's methods with the paper's values beside ours.

    Markdown(family_table(summarize(load_results("results")), "pendulum"))

See chapters 08–13.
"""
from __future__ import annotations

from .grid import METHODS
from .paper import reported
from .table import METRICS, format_cell

__all__ = ["family_table", "HAMILTONIAN_METRICS", "GENERIC_METRICS"]

HAMILTONIAN_METRICS = ("eps_traj", "eps_field", "ssim")
#: GENERIC families have no 2-D field image (no SSIM); their tables show the learned models' laws instead.
GENERIC_METRICS = ("eps_traj", "eps_field", "max_rel_dE_dt", "min_dS_dt")


def family_table(summary: dict, family: str, metrics: tuple[str, ...] = HAMILTONIAN_METRICS,
                 with_paper: bool = True) -> str:
    """A markdown table, methods × metrics, for one family: ours as mean ± std over seeds (failures shown as
    failures); with ``with_paper``, a column of the paper's reported values, labelled by version."""
    methods = [m for m in METHODS if (family, m) in summary]
    header = ["method"] + [METRICS[m] for m in metrics] + (["paper (version)"] if with_paper else [])
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for method in methods:
        cells = [method] + [format_cell(summary[family, method], m) for m in metrics]
        if with_paper:
            known = [f"{METRICS[m]} {value:.3g} ({version})" for m in metrics for version, value in
                     reported(family, method, m)]
            cells.append("; ".join(known) or "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
