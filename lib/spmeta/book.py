"""Small helpers for the chapters: show library source, announce the scale, find the committed results, and
redraw a figure from sliders.

See chapter 01 (book/01_hamiltonian_systems.md).
"""
from __future__ import annotations

import inspect
import io
from pathlib import Path
from typing import Callable

from .config import get_scale
from .files import read_json

__all__ = ["show_source", "scale_banner", "results_dir", "load_result", "figure_explorer"]


def show_source(obj) -> "object":
    """Display the source of a library object as highlighted code (in Jupyter), or return it as text."""
    source = inspect.getsource(obj)
    try:
        from IPython.display import Code

        return Code(source, language="python")
    except ImportError:
        return source


def scale_banner() -> str:
    """One line naming the current scale and how to switch; in quick mode it warns that the numbers are not the
    paper's."""
    scale = get_scale()
    if scale.name == "quick":
        return ("QUICK MODE: reduced sizes; numbers are not the paper's. For the book scale, restart without "
                "SPMETA_QUICK (or call spmeta.config.set_scale('book')).")
    return (f"Scale: {scale.name}. For a quick run (minutes), call spmeta.config.set_scale('quick') before this "
            "cell or set SPMETA_QUICK=1 (on Colab: uncomment the last line of the first cell).")


def results_dir(start: str | Path = ".") -> Path:
    """The repository's committed ``results/`` folder, searched upwards from ``start`` (book/ or notebooks/)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / "results").is_dir() and (folder / "lib" / "spmeta").is_dir():
            return folder / "results"
    raise FileNotFoundError(f"no results/ folder of the spmeta repository above {here}")


def load_result(relative: str) -> dict:
    """A committed result file, e.g. ``load_result("mass_spring/rank_one/seed0.json")``."""
    return read_json(results_dir() / relative)


def figure_explorer(draw: Callable[..., "object"], **controls) -> "object":
    """Widgets above a picture of ``draw(**values)``, redrawn whenever one of them changes.

    ``draw`` takes the controls' values as keyword arguments and returns a matplotlib Figure (the explorer
    closes it). The picture is an ``ipywidgets.Image``, not ``interact``'s Output widget: executing an Output
    widget under nbclient, as the book build does, can stall the cell until the execution timeout
    (jupyter/nbclient#312), while an image travels in the saved widget state, so the built page shows the
    starting figure. Returns an ``ipywidgets.VBox``; display it as a cell's last value.

    Example: ``figure_explorer(lambda m: plot_for(m), m=widgets.FloatSlider(value=1.0, min=0.5, max=1.5))``.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not controls:
        raise ValueError("figure_explorer needs at least one control, e.g. m=ipywidgets.FloatSlider()")
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(f"control {name!r} must be an ipywidgets value widget (a slider, dropdown, ...), "
                            f"not {type(control).__name__}")

    def render() -> bytes:
        figure = draw(**{name: control.value for name, control in controls.items()})
        if not isinstance(figure, plt.Figure):
            raise TypeError(f"draw must return a matplotlib Figure, not {type(figure).__name__}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(figure)
        return buffer.getvalue()

    image = widgets.Image(value=render(), format="png", layout=widgets.Layout(max_width="100%"))

    def redraw(_change) -> None:
        image.value = render()

    for control in controls.values():
        control.observe(redraw, names="value")
    return widgets.VBox([*controls.values(), image])
