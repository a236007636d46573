"""spmeta.book: the chapters' helpers."""
import matplotlib

matplotlib.use("Agg")
import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from spmeta.book import figure_explorer, results_dir  # noqa: E402

PNG = b"\x89PNG"


def _draw(calls):
    def draw(a=1.0, b="x"):
        calls.append((a, b))
        fig, ax = plt.subplots()
        ax.plot([0, a], [0, 1])
        return fig
    return draw


def test_figure_explorer_draws_at_start_and_on_every_change():
    calls, open_before = [], set(plt.get_fignums())
    a, b = widgets.FloatSlider(value=0.5, min=0, max=1), widgets.Dropdown(options=["x", "y"], value="x")
    box = figure_explorer(_draw(calls), a=a, b=b)
    image = box.children[-1]
    assert list(box.children[:-1]) == [a, b] and isinstance(image, widgets.Image)
    assert calls == [(0.5, "x")] and bytes(image.value).startswith(PNG)
    first = bytes(image.value)
    a.value = 0.9
    b.value = "y"
    assert calls == [(0.5, "x"), (0.9, "x"), (0.9, "y")]
    assert bytes(image.value).startswith(PNG) and bytes(image.value) != first
    assert set(plt.get_fignums()) == open_before, "the explorer must close the figures it renders"


def test_figure_explorer_refuses_bad_input():
    with pytest.raises(ValueError, match="at least one control"):
        figure_explorer(_draw([]))
    with pytest.raises(TypeError, match="control 'a' must be an ipywidgets value widget"):
        figure_explorer(_draw([]), a=0.5)
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        figure_explorer(lambda a: None, a=widgets.FloatSlider())


def test_results_dir_finds_the_repository_results(tmp_path):
    assert (results_dir() / "README.md").is_file()
    with pytest.raises(FileNotFoundError, match="no results/ folder"):
        results_dir(tmp_path)
