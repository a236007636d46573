#!/usr/bin/env bash
# Generate notebooks/*.ipynb one way from the MyST chapters in book/ (never the other way round).
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/colab_links.py >/dev/null   # the badges and install cells, from _config.yml and the version
mkdir -p notebooks
for f in book/*.md; do
  grep -q '^jupytext:' "$f" || continue      # plain pages are not notebooks
  jupytext --quiet --to ipynb --update -o "notebooks/$(basename "${f%.md}").ipynb" "$f"
done
