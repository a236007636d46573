"""book/*.md is the source of truth; notebooks/*.ipynb must be generated from it, in sync and stripped."""
import ast
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "book").glob("*.md") if "\njupytext:" in "\n" + p.read_text()[:200])
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(notebook):
    return [(c.cell_type, c.source) for c in notebook.cells]


def test_there_are_chapters():
    assert CHAPTERS, "no jupytext chapters found in book/"


def test_every_chapter_has_a_notebook_and_no_notebook_is_orphaned():
    assert {p.stem for p in CHAPTERS} == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_matches_chapter_and_is_stripped(chapter):
    notebook_path = ROOT / "notebooks" / f"{chapter.stem}.ipynb"
    source, notebook = jupytext.read(chapter), nbformat.read(notebook_path, as_version=4)
    assert _cells(source) == _cells(notebook), f"{notebook_path.name} is stale: run scripts/make_notebooks.sh"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{notebook_path.name} has outputs"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_template(chapter):
    """Each chapter has a numbered title (executable pages without a number, such as the reproduction report,
    an unnumbered one), a Colab link to its notebook and a check cell with asserts."""
    text = chapter.read_text()
    number = chapter.stem.split("_")[0]
    if number.isdigit():
        assert f"\n# {int(number)}. " in text, "title must be '# N. Title'"
    else:
        assert "\n# " in text, "a page needs a title"
    assert "colab.research.google.com/github/" in text and f"notebooks/{chapter.stem}.ipynb" in text
    assert "use_book_style()" in text
    cells = jupytext.read(chapter).cells
    heading = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "\n## Checks" in "\n" + c.source]
    assert heading, "a chapter needs a '## Checks' section"
    check = next((c for c in cells[heading[0] + 1:] if c.cell_type == "code"), None)
    assert check is not None and any(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(check.source))), \
        "the code cell after '## Checks' must assert something"
    assert "os.environ" not in text, "chapters read sizes from spmeta.config, never the environment"
