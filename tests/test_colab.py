"""The Colab links come from one place (scripts/colab_links.py): every chapter has one badge and one install
cell, and each opens or clones the release tag of the repository that _config.yml names."""
import importlib.util
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("colab_links", ROOT / "scripts" / "colab_links.py")
colab_links = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_links)


def test_every_link_and_install_cell_agrees_with_the_config_and_the_version():
    url, ref = colab_links.source()
    assert colab_links.out_of_date() == []
    for path in colab_links.files():
        text = path.read_text()
        badges = re.findall(r"https://colab\.research\.google\.com/github/\S+?\.ipynb", text)
        assert badges and all(f"/blob/{ref}/notebooks/" in b and url.split("github.com/")[1] in b for b in badges)
        if path.name != "README.md":
            assert len(badges) == 1 and text.count("# Colab only:") == 1, path
            assert f'repo = "{url}"' in text and f"--branch {ref} " in text, path


def test_another_owner_is_a_one_line_change(tmp_path, monkeypatch):
    for name in ("_config.yml", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "book", tmp_path / "book")
    monkeypatch.setattr(colab_links, "ROOT", tmp_path)
    config = tmp_path / "_config.yml"
    config.write_text(config.read_text().replace("url: https://github.com/spmeta-book/spmeta",
                                                 "url: https://github.com/someone/fork"))
    stale = colab_links.out_of_date(tmp_path)
    assert len(stale) == len(colab_links.files(tmp_path)) > 10  # every file notices
    url, ref = colab_links.source()
    for path in stale:
        path.write_text(colab_links.generated(path.read_text(), url, ref))
    assert colab_links.out_of_date(tmp_path) == []
    chapter = (tmp_path / "book" / "11_damped_oscillator.md").read_text()
    assert "colab.research.google.com/github/someone/fork/blob/" in chapter
    assert 'repo = "https://github.com/someone/fork"' in chapter and "spmeta-book" not in chapter
