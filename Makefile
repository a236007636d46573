# The two commands of the README: `make book` and `make test`. Each does all set-up, idempotently.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
VENDORED := _vendor/mathjax/tex-mml-chtml.js _vendor/mathjax/output/chtml/fonts/woff-v2 _vendor/widgets/require.js \
            _vendor/widgets/embed-amd.js _vendor/pages/book/@jupyter-widgets/html-manager/dist _vendor/css/spmeta.css

.PHONY: book test setup notebooks vendor chromium unit nbval build-quick pages clean help
.DEFAULT_GOAL := help

help:
	@echo "make book   set up .venv and build the executed book in _build/html (book scale)"
	@echo "make test   set up .venv and run every test: unit, notebook sync, nbval, -W build, page checks"

# --- set-up -------------------------------------------------------------------------------------------
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch FIRST and ALONE: a looser requirement resolved on its own pulls a multi-GB CUDA build.
$(VENV)/.torch: | $(BIN)/python
	$(PIP) install torch==2.13.0
	touch $@

$(VENV)/.deps: pyproject.toml requirements-ci.txt $(VENV)/.torch
	$(PIP) install -c requirements-ci.txt -e ".[book,test]"
	touch $@

setup: $(VENV)/.deps vendor

# _vendor/ is committed, so that no build needs npm or the network: a missing file is an error, not a download.
vendor:
	@for f in $(VENDORED); do test -e "$$f" || { echo "$$f is missing: restore _vendor/ from git, or run scripts/vendor_js.sh (needs npm)"; exit 1; }; done

notebooks: $(VENV)/.deps
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/make_notebooks.sh

# Debian's Chromium for the page checks; skipped with a message where it cannot be installed (no root).
chromium:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	else echo "chromium is missing and cannot be installed here (no root): the page check will be skipped"; fi

# --- the book -----------------------------------------------------------------------------------------
book: setup notebooks
	SPMETA_QUICK=0 $(BIN)/jupyter-book build --all -W -n --keep-going .
	@echo "Open _build/html/index.html"

# --- the tests ----------------------------------------------------------------------------------------
unit: setup
	$(BIN)/python -m pytest -q -m "not pages" tests

nbval: setup notebooks
	git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "make test needs a git checkout (it checks that notebooks/ match book/)"; exit 1; }
	git diff --exit-code -- notebooks/ || { echo "notebooks/ differ from book/: run 'make notebooks' and commit"; exit 1; }
	if [ -n "$$(git ls-files --others --exclude-standard notebooks/)" ]; then echo "untracked notebooks: commit them"; exit 1; fi
	SPMETA_QUICK=1 $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env notebooks/

build-quick: setup notebooks
	SPMETA_QUICK=1 $(BIN)/jupyter-book build --all -W -n --keep-going .
	# pages must load no asset from a CDN (the theme's unused thebe URL constant is not a load)
	if grep -rlE '(src|href)="https?://(cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|unpkg\.com)' _build/html --include='*.html'; then \
	  echo "a built page loads a CDN asset"; exit 1; fi

pages: chromium
	$(BIN)/python -m pytest -q -m pages tests

# nbval and the -W build each execute every notebook in quick mode: they run side by side, one torch thread each
# (two 2-thread torch processes on 2 cores slow each other down many times over), each one's output held until
# it ends.
test: unit
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 --output-sync=target nbval build-quick
	$(MAKE) --no-print-directory pages

clean:
	rm -rf _build
