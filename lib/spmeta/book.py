"""Small helpers for the chapters: show library source, announce the scale, find the committed results.

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

from .config import get_scale

__all__ = ["show_source", "scale_banner", "results_dir", "load_result"]


def show_source(obj) -> "object":
    """Display the source of a library object as highlighted code (in Jupyter), or return it as text."""
    source = inspect.getsource(obj)
    try:
        from IPython.display import Code

        return Code(source, language="python")
    except ImportError:
        return source


def scale_banner() -> str:
    """One line naming the current scale; in quick mode it warns that the numbers are not the paper's."""
    scale = get_scale()
    if scale.name == "quick":
        return "QUICK MODE: reduced sizes; numbers are not the paper's."
    return f"Scale: {scale.name}."


def results_dir(start: str | Path = ".") -> Path:
    """The repository's committed ``results/`` folder, searched upwards from ``start`` (book/ or notebooks/)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / "results").is_dir() and (folder / "lib" / "spmeta").is_dir():
            return folder / "results"
    raise FileNotFoundError(f"no results/ folder of the spmeta repository above {here}")


def load_result(relative: str) -> dict:
    """A committed result file, e.g. ``load_result("mass_spring/rank_one/seed0.json")``."""
    return json.loads((results_dir() / relative).read_text())
