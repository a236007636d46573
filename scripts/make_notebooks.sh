#!/usr/bin/env bash
# Generate notebooks/*.ipynb one way from the MyST chapters in book/ (never the other way round).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p notebooks
for f in book/*.md; do
  grep -q '^jupytext:' "$f" || continue      # plain pages are not notebooks
  jupytext --quiet --to ipynb --update -o "notebooks/$(basename "${f%.md}").ipynb" "$f"
done
