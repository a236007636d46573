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
            assert f'repo = "{url}"' in text and f"--branch {ref} {{repo}} spmeta" in text, path


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


def test_the_install_cell_works_as_on_colab(tmp_path):
    """The first chapter's install cell, run as Colab would (a fake google.colab module, in IPython), from a fresh
    folder and a fresh virtual environment whose preinstalled packages (torch among them) are this one's: it
    clones the release tag of a file:// repository, installs the package without replacing torch, and the
    chapter's first code cell then runs from notebooks/."""
    import os
    import subprocess
    import sys
    import sysconfig

    import jupytext

    url, ref = colab_links.source()
    origin = tmp_path / "origin"  # the repository as published: this commit, tagged
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(origin)], check=True)
    subprocess.run(["git", "-C", str(origin), "tag", "-f", ref], check=True)  # -f: after a release too
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # pip is preinstalled
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # what Colab has: this environment's packages (torch, numpy, matplotlib, IPython), without spmeta
    preinstalled = tmp_path / "preinstalled"
    preinstalled.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "spmeta" not in entry.name.lower():
            (preinstalled / entry.name).symlink_to(entry)
    Path(purelib, "preinstalled.pth").write_text(f"{preinstalled}\n")

    cells = [c.source for c in jupytext.read(ROOT / "book" / "01_hamiltonian_systems.md").cells
             if c.cell_type == "code"]
    install, first = cells[0], cells[1]
    assert f'repo = "{url}"' in install
    script = "\n".join([
        "import sys, types",
        "sys.modules['google.colab'] = types.ModuleType('google.colab')",
        install.replace(f'repo = "{url}"', f'repo = "file://{origin}"'),
        first,
        "import spmeta, torch",
        "print('SPMETA', spmeta.__file__)",
        "print('TORCH', torch.__file__)",
        "print('CWD', os.getcwd())",
        "import importlib.metadata, json",
        "print('INSTALLED', json.loads(importlib.metadata.distribution('spmeta').read_text('direct_url.json'))['url'])",
    ])
    (tmp_path / "colab.ipy").write_text(script)
    home = tmp_path / "colab"
    home.mkdir()
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "MPLBACKEND": "Agg", "SPMETA_QUICK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([python, "-m", "IPython", "--quick", "--no-banner", str(tmp_path / "colab.ipy")],
                          cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "Traceback" not in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.split(" ")[0] in
                 ("SPMETA", "TORCH", "CWD", "INSTALLED"))
    assert Path(lines["SPMETA"]).is_relative_to(home / "spmeta" / "lib"), lines
    assert Path(lines["TORCH"]).is_relative_to(preinstalled), lines  # Colab's torch, not a new one
    assert Path(lines["CWD"]) == home / "spmeta" / "notebooks", lines
    assert lines["INSTALLED"] == (home / "spmeta").as_uri(), lines  # pip installed the clone, editable
    assert "QUICK MODE" in done.stdout  # the first cell ran, and printed its scale banner
    clone = subprocess.run(["git", "-C", str(home / "spmeta"), "describe", "--tags"], capture_output=True,
                           text=True, check=True).stdout.strip()
    assert clone == ref
