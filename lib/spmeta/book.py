"""Small helpers for the chapters: show library source, announce the scale.

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

import inspect

from .config import get_scale

__all__ = ["show_source", "scale_banner"]


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
