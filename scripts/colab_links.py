"""The Colab links and install cells, generated from one place: ``_config.yml``'s ``repository.url`` and the
package version in ``pyproject.toml`` (the release tag is ``v<version>``).

Every chapter's badge opens its notebook at the release tag, and its install cell clones that same tag, so the
notebook and the library a Colab user runs are one version. Publishing under another owner is a one-line change
of ``repository.url``; then

    python scripts/colab_links.py            # rewrite the README's and the chapters' links and install cells
    python scripts/colab_links.py --check    # exit 1, naming the files, if any disagrees (tests/test_colab.py)

``scripts/make_notebooks.sh`` runs the first before it generates the notebooks.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: The install cell of every chapter (its first code cell); {repo} and {ref} are filled in.
INSTALL_CELL = '''```{{code-cell}} ipython3
:tags: [remove-cell]

# Colab only: fetch the book at its release tag, install it, work in notebooks/.
import os
import sys

if "google.colab" in sys.modules and not os.path.isdir("spmeta"):
    repo = "{repo}"
    !git clone --quiet --depth 1 --branch {ref} {{repo}} spmeta
    %pip install -q -e spmeta  # keeps Colab's own torch, numpy and matplotlib (lower bounds only)
    sys.path.insert(0, os.path.abspath("spmeta/lib"))
    os.chdir("spmeta/notebooks")
# import spmeta; spmeta.config.set_scale("quick")  # uncomment for the quick scale: minutes, not the book's numbers
```'''

_CELL = re.compile(r"```\{code-cell\} ipython3\n:tags: \[remove-cell\]\n\n# Colab only:.*?\n```", re.S)
_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/notebooks/")


def source() -> tuple[str, str]:
    """(the repository's URL, the release tag) from ``_config.yml`` and ``pyproject.toml``."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    if not re.fullmatch(r"https://github\.com/[^/\s]+/[^/\s]+", url):
        raise ValueError(f"_config.yml's repository.url must be https://github.com/OWNER/NAME; got {url!r}")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return url, f"v{version}"


def files(root: Path = ROOT) -> list[Path]:
    """The README and the chapters (the MyST pages that are notebooks)."""
    chapters = [p for p in sorted((root / "book").glob("*.md")) if p.read_text().startswith("---\njupytext:")]
    return [root / "README.md", *chapters]


def generated(text: str, url: str, ref: str) -> str:
    """``text`` with its badges opening the notebooks at ``ref`` of ``url`` and its install cell cloning it."""
    badge = url.replace("https://github.com/", "https://colab.research.google.com/github/") + f"/blob/{ref}/notebooks/"
    text = _BADGE.sub(badge, text)
    return _CELL.sub(lambda _: INSTALL_CELL.format(repo=url, ref=ref), text)


def out_of_date(root: Path = ROOT) -> list[Path]:
    """The files whose links or install cell differ from what :func:`source` makes."""
    url, ref = source()
    return [p for p in files(root) if generated(p.read_text(), url, ref) != p.read_text()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report the files that disagree")
    args = parser.parse_args()
    stale = out_of_date()
    if args.check:
        if stale:
            sys.exit("out of date (run python scripts/colab_links.py): " + ", ".join(str(p.relative_to(ROOT))
                                                                                     for p in stale))
        return
    url, ref = source()
    for path in stale:
        path.write_text(generated(path.read_text(), url, ref))
        print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
