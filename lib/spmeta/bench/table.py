"""Turn the grid's result files into tables: mean ± std over seeds, failures shown as failures.

    records = load_results("results")                      # the main grid
    print(markdown_table(summarize(records), "eps_traj"))  # methods × families

No number in the book is typed by hand: the chapters call these functions on the committed ``results/``.

Protocol versions are never mixed silently. Files without a ``protocol`` field are version 1, and their metrics
are read under version 2's names: v1's ε_field (one grid per family) becomes ``eps_field_family``, and v1's
own-box diagnostic ``eps_field_own`` (a grid of ±1.2 × the system's largest |coordinate|, centred on 0, for 2-D
states; the same points as v2 otherwise) stands in for the headline ``eps_field``, so that a v1 row shows it
labelled as v1. One (family, method) cell never averages files of two versions (:func:`summarize` refuses), and
a table whose rows come from two versions labels each (:func:`markdown_table`).

See chapter 13 (book/13_results.md).
"""
from __future__ import annotations

import json
import math
import warnings
from collections import defaultdict
from pathlib import Path

from ..metrics import WORST_CASE
from .grid import FAMILIES, FINITE_SCORES, GRID_METHODS, METHODS
from .recipes import MAIN_GRID_RECIPES, same_training

__all__ = ["load_results", "load_main_grid",
           "summarize", "markdown_table", "markdown_rows", "format_cell", "protocols", "protocol_label", "METRICS",
           "WORST"]

#: Metric keys and their column titles.
METRICS = {"eps_traj": "ε_traj", "eps_field": "ε_field", "eps_field_family": "ε_field_family (extrapolation)",
           "ssim": "SSIM",
           "energy_drift": "energy drift", "learned_energy_drift": "learned H̃ drift", "max_abs_dE_dt": "max ∣dE/dt∣",
           "max_rel_dE_dt": "max ∣dE/dt∣ (relative)", "min_dS_dt": "min dS/dt"}
#: Structure checks are reported as the worst value over seeds, not as a mean.
WORST = {name: max if worst == "max" else min for name, worst in WORST_CASE.items()}


def load_results(out: str | Path = "results", variant: str = "", protocol: int | None = None) -> list[dict]:
    """All records of one variant ('' is the main grid: ``<out>/<family>/<method>/seed<k>.json``), each with
    its ``protocol`` version (1 where the file has none) and its metrics under version 2's names (see the module
    docstring); ``protocol`` keeps only the files of that version.

    A record marked ``ok`` whose ε_traj or ε_field is not finite (files written before the grid checked this)
    is read as a failure, as the grid records such runs now. A file that is not a result record (truncated or
    hand-edited) is skipped with a warning that names it."""
    records = []
    for family_dir in sorted(Path(out).glob("*/")):
        if family_dir.name not in FAMILIES:
            continue
        for method_dir in sorted(family_dir.glob("*/")):
            folder = method_dir / variant if variant else method_dir
            for path in sorted(folder.glob("seed*.json")):
                record = _read_record(path)
                if record is None:
                    continue
                if protocol is not None and record["protocol"] != protocol:
                    continue
                record["path"] = str(path)
                scores = record.get("metrics", {})
                if record["status"] == "ok" and not all(math.isfinite(scores.get(k, 0.0)) for k in FINITE_SCORES):
                    record.update(status="failed", reason="the adapted models' rollouts or fields are not finite")
                    del record["metrics"]
                records.append(record)
    return records


def _read_record(path: Path) -> dict | None:
    """The record in ``path``, or None with a warning naming the file if it is not one."""
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not {"run", "status"} <= set(record):
            raise ValueError("no 'run' and 'status' entries")
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        warnings.warn(f"{path} is not a readable result file ({error}); skipped")
        return None
    return _as_v2(record)


def load_main_grid(results: str | Path = "results", recipes: tuple[str, ...] = MAIN_GRID_RECIPES,
                   seeds=(0, 1, 2)) -> list[dict]:
    """The book's main grid: per family, the runs of the first recipe in ``recipes`` (newest first; each under
    ``<results>/<recipe>/``) whose rows are complete for that family (every grid method at every seed, finished
    or failed), else the v1 files in ``results``. A cell a recipe has not run is taken from an older recipe in
    ``recipes`` where the method trains identically under both (:func:`~spmeta.bench.recipes.same_training`).

    A family's rows are never a mix of trainings; each record keeps its ``recipe`` and ``protocol``, so tables
    label where their rows come from."""
    if isinstance(recipes, str):
        recipes = (recipes,)
    names = [recipe for recipe in recipes if recipe != "v1"]
    runs = {recipe: load_results(Path(results) / recipe) for recipe in names}
    old = load_results(results)
    records = []
    for family in FAMILIES:
        chosen = [r for r in old if r["run"]["family"] == family]
        for i, recipe in enumerate(names):
            cells = {(r["run"]["method"], r["run"]["seed"]): r for r in runs[recipe] if r["run"]["family"] == family}
            for older in names[i + 1:]:
                for r in runs[older]:
                    cell = (r["run"]["method"], r["run"]["seed"])
                    if (r["run"]["family"] == family and cell not in cells
                            and same_training(cell[0], family, recipe, older)):
                        cells[cell] = r
            if all((m, s) in cells for m in GRID_METHODS for s in seeds):
                chosen = list(cells.values())
                break
        records += chosen
    return records


def _as_v2(record: dict) -> dict:
    """A record with its ``protocol`` and ``recipe``, and a v1 record's metrics under version 2's names."""
    record.setdefault("protocol", 1)
    record.setdefault("recipe", "v1")
    if record["protocol"] == 1:
        for scores in (record.get("metrics"), record.get("per_system")):
            if scores is not None:
                family = scores.pop("eps_field", None)
                own = scores.pop("eps_field_own", None)
                scores.update({k: v for k, v in (("eps_field_family", family), ("eps_field", own)) if v is not None})
    return record


def protocols(summary: dict) -> list[int]:
    """The protocol versions of a :func:`summarize` result, sorted."""
    return sorted({entry["protocol"] for entry in summary.values()})


def protocol_label(summary: dict) -> str:
    """One sentence that says which protocol the summary's rows follow, for a table's caption."""
    versions = protocols(summary)
    v1 = ("protocol v1 files: ε_field is v1's own-box diagnostic (±1.2 × the test system's largest |coordinate|, "
          "recorded by the later v1 files only), ε_field_family v1's family grid")
    if versions == [1]:
        return f"All rows: {v1}."
    if versions == [2]:
        return "All rows: protocol v2 (ε_field on each test system's own box)."
    return f"Rows of two protocol versions, each labelled [v1] or [v2]; {v1}." if versions else ""


def summarize(records: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (family, method): ``n``, ``failed`` (count and reasons) and, per metric, mean and std over the
    seeds that finished (sample std; 0 for a single seed); structure checks (:data:`WORST`) as (worst, None).
    ``counts[metric]`` is how many finished seeds recorded the metric (older files may lack newer ones)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in records:
        groups[record["run"]["family"], record["run"]["method"]].append(record)
    summary = {}
    for key, group in groups.items():
        versions = sorted({r.get("protocol", 1) for r in group})
        if len(versions) > 1:
            raise ValueError(f"{key[0]}/{key[1]} has result files of protocol versions {versions}: a mean over "
                             "seeds must not mix them; load one version (load_results(..., protocol=2))")
        ok = [r for r in group if r["status"] == "ok"]
        entry = {"n": len(group), "protocol": versions[0], "recipes": sorted({r.get("recipe", "v1") for r in group}),
                 "seeds": sorted(r["run"]["seed"] for r in ok),
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


def markdown_rows(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table: ``header`` (column titles) over ``rows`` (one list of cell strings each)."""
    line = lambda cells: "| " + " | ".join(map(str, cells)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


def format_cell(entry: dict | None, metric: str) -> str:
    """'1.12e-02 ± 3.0e-03' (a no-break space after ±, so that a narrow column wraps before it), 'failed (3/3)',
    or '—' when nothing ran; '(2 of 3 seeds)' follows a value that only some of the finished seeds recorded."""
    if entry is None:
        return "—"
    if metric not in entry["metrics"]:
        return f"failed ({len(entry['failed'])}/{entry['n']})" if entry["failed"] else "—"
    mean, std = entry["metrics"][metric]
    finished = len(entry["seeds"])
    recorded = entry.get("counts", {}).get(metric, finished)
    cell = f"{mean:.2e} ±\u00a0{std:.1e}" if recorded > 1 and std is not None else f"{mean:.2e}"
    if recorded < finished:
        cell += f" ({recorded} of {finished} seeds)"
    if entry["failed"]:
        cell += f" ({len(entry['failed'])}/{entry['n']} failed)"
    return cell


def markdown_table(summary: dict, metric: str, families: tuple[str, ...] | None = None,
                   methods: tuple[str, ...] | None = None, bold_best: bool = True) -> str:
    """A methods × families markdown table of ``metric`` (mean ± std over seeds); the best mean per family
    is bold (lowest, or highest for SSIM; structure checks, :data:`WORST`, have no best). When the cells come
    from two protocol versions, each family's column is labelled [v1] or [v2] (each cell, where one family
    mixes them), and the best is marked within each version."""
    bold_best = bold_best and metric not in WORST
    mixed = len(protocols(summary)) > 1
    families = families or tuple(f for f in FAMILIES if any(k[0] == f for k in summary))
    methods = methods or tuple(m for m in METHODS if any(k[1] == m for k in summary))
    best = {}
    for family in families:
        for version in protocols(summary):
            means = {m: summary[family, m]["metrics"][metric][0] for m in methods
                     if (family, m) in summary and metric in summary[family, m]["metrics"]
                     and summary[family, m]["protocol"] == version}
            if means:
                best[family, version] = (max if metric == "ssim" else min)(means, key=means.get)
    versions = {f: sorted({e["protocol"] for (g, _), e in summary.items() if g == f}) for f in families}
    header = [f"{f} [v{versions[f][0]}]" if mixed and len(versions[f]) == 1 else f for f in families]
    rows = []
    for method in methods:
        cells = []
        for family in families:
            entry = summary.get((family, method))
            cell = format_cell(entry, metric)
            if entry is not None and bold_best and best.get((family, entry["protocol"])) == method:
                cell = f"**{cell}**"
            label = mixed and entry is not None and len(versions[family]) > 1
            cells.append(f"{cell} [v{entry['protocol']}]" if label else cell)
        rows.append([method, *cells])
    return markdown_rows(["method", *header], rows)
