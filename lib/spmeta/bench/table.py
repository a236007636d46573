"""Turn the grid's result files into tables: mean ± std over seeds, failures shown as failures.

    records = load_results("results")                      # the main grid
    print(markdown_table(summarize(records), "eps_traj"))  # methods × families

No number in the book is typed by hand: the chapters call these functions on the committed ``results/``.

See chapter 13 (book/13_results.md).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from ..metrics import WORST_CASE
from .grid import FAMILIES, FINITE_SCORES, METHODS

__all__ = ["load_results", "summarize", "markdown_table", "format_cell", "METRICS", "WORST"]

#: Metric keys and their column titles.
METRICS = {"eps_traj": "ε_traj", "eps_field": "ε_field", "eps_field_own": "ε_field (own box)", "ssim": "SSIM",
           "energy_drift": "energy drift", "learned_energy_drift": "learned H̃ drift", "max_abs_dE_dt": "max ∣dE/dt∣",
           "max_rel_dE_dt": "max ∣dE/dt∣ (relative)", "min_dS_dt": "min dS/dt"}
#: Structure checks are reported as the worst value over seeds, not as a mean.
WORST = {name: max if worst == "max" else min for name, worst in WORST_CASE.items()}


def load_results(out: str | Path = "results", variant: str = "") -> list[dict]:
    """All records of one variant ('' is the main grid: ``<out>/<family>/<method>/seed<k>.json``).

    A record marked ``ok`` whose ε_traj or ε_field is not finite (files written before the grid checked this)
    is read as a failure, as the grid records such runs now."""
    records = []
    for family_dir in sorted(Path(out).glob("*/")):
        if family_dir.name not in FAMILIES:
            continue
        for method_dir in sorted(family_dir.glob("*/")):
            folder = method_dir / variant if variant else method_dir
            for path in sorted(folder.glob("seed*.json")):
                record = json.loads(path.read_text())
                record["path"] = str(path)
                scores = record.get("metrics", {})
                if record["status"] == "ok" and not all(math.isfinite(scores.get(k, 0.0)) for k in FINITE_SCORES):
                    record.update(status="failed", reason="the adapted models' rollouts or fields are not finite")
                    del record["metrics"]
                records.append(record)
    return records


def summarize(records: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (family, method): ``n``, ``failed`` (count and reasons) and, per metric, mean and std over the
    seeds that finished (sample std; 0 for a single seed); structure checks (:data:`WORST`) as (worst, None).
    ``counts[metric]`` is how many finished seeds recorded the metric (older files may lack newer ones)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in records:
        groups[record["run"]["family"], record["run"]["method"]].append(record)
    summary = {}
    for key, group in groups.items():
        ok = [r for r in group if r["status"] == "ok"]
        entry = {"n": len(group), "seeds": sorted(r["run"]["seed"] for r in ok),
                 "failed": [r["reason"] for r in group if r["status"] != "ok"], "metrics": {}, "counts": {}}
        for metric in METRICS:
            values = [r["metrics"][metric] for r in ok if metric in r["metrics"]]
            entry["counts"][metric] = len(values)
            if values and metric in WORST:
                entry["metrics"][metric] = (WORST[metric](values), None)
            elif values:
                mean = sum(values) / len(values)
                std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
                entry["metrics"][metric] = (mean, std)
        summary[key] = entry
    return summary


def format_cell(entry: dict | None, metric: str) -> str:
    """'1.12e-02 ± 3.0e-03', 'failed (3/3)', or '—' when nothing ran; '(2 of 3 seeds)' follows a value that
    only some of the finished seeds recorded."""
    if entry is None:
        return "—"
    if metric not in entry["metrics"]:
        return f"failed ({len(entry['failed'])}/{entry['n']})" if entry["failed"] else "—"
    mean, std = entry["metrics"][metric]
    finished = len(entry["seeds"])
    recorded = entry.get("counts", {}).get(metric, finished)
    cell = f"{mean:.2e} ± {std:.1e}" if recorded > 1 and std is not None else f"{mean:.2e}"
    if recorded < finished:
        cell += f" ({recorded} of {finished} seeds)"
    if entry["failed"]:
        cell += f" ({len(entry['failed'])}/{entry['n']} failed)"
    return cell


def markdown_table(summary: dict, metric: str, families: tuple[str, ...] | None = None,
                   methods: tuple[str, ...] | None = None, bold_best: bool = True) -> str:
    """A methods × families markdown table of ``metric`` (mean ± std over seeds); the best mean per family
    is bold (lowest, or highest for SSIM; structure checks, :data:`WORST`, have no best)."""
    bold_best = bold_best and metric not in WORST
    families = families or tuple(f for f in FAMILIES if any(k[0] == f for k in summary))
    methods = methods or tuple(m for m in METHODS if any(k[1] == m for k in summary))
    best = {}
    for family in families:
        means = {m: summary[family, m]["metrics"][metric][0] for m in methods
                 if (family, m) in summary and metric in summary[family, m]["metrics"]}
        if means:
            best[family] = (max if metric == "ssim" else min)(means, key=means.get)
    lines = [f"| method | {' | '.join(families)} |", "|---" * (len(families) + 1) + "|"]
    for method in methods:
        cells = []
        for family in families:
            cell = format_cell(summary.get((family, method)), metric)
            cells.append(f"**{cell}**" if bold_best and best.get(family) == method else cell)
        lines.append(f"| {method} | {' | '.join(cells)} |")
    return "\n".join(lines)
