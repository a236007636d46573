"""The benchmark suite: ``python -m spmeta.bench run`` (the resumable grid) and ``table`` (its tables).

See chapter 13 (book/13_results.md).
"""
from .grid import FAMILIES, METHODS, Run, method_settings, result_path, run_grid, run_one
from .table import load_results, markdown_table, summarize

__all__ = ["FAMILIES", "METHODS", "Run", "method_settings", "result_path", "run_grid", "run_one",
           "load_results", "markdown_table", "summarize"]
