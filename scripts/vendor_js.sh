#!/usr/bin/env bash
# Fetch the browser assets the offline book needs from the npm registry into _vendor/.
# MathJax typesets the equations; require.js and the widget embed bundle draw ipywidgets.
# The embed bundle loads its icon fonts relative to each page, from book/@jupyter-widgets/html-manager/dist/ or
# from book/@jupyter-widgets/ depending on which of its modules loads first, so those fonts go to both places in
# _vendor/pages/ (the second as links to the first), which Sphinx copies into the HTML root (html_extra_path).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mathjax@3.2.2 requirejs@2.3.8 @jupyter-widgets/html-manager@1.0.15 >/dev/null)
for t in "$tmp"/*.tgz; do mkdir -p "${t%.tgz}" && tar -xzf "$t" -C "${t%.tgz}"; done
rm -rf _vendor/mathjax _vendor/widgets _vendor/pages
fonts=_vendor/pages/book/@jupyter-widgets/html-manager/dist
mkdir -p _vendor/mathjax/output/chtml/fonts _vendor/widgets "$fonts"
cp "$tmp"/mathjax-3.2.2/package/es5/tex-mml-chtml.js _vendor/mathjax/
cp -r "$tmp"/mathjax-3.2.2/package/es5/output/chtml/fonts/woff-v2 _vendor/mathjax/output/chtml/fonts/
cp "$tmp"/requirejs-2.3.8/package/require.js _vendor/widgets/
cp "$tmp"/jupyter-widgets-html-manager-1.0.15/package/dist/embed-amd.js _vendor/widgets/
cp "$tmp"/jupyter-widgets-html-manager-1.0.15/package/dist/*.{woff2,woff,ttf} "$fonts"/
for f in "$fonts"/*; do ln -s "html-manager/dist/${f##*/}" "_vendor/pages/book/@jupyter-widgets/${f##*/}"; done
echo "vendored: $(du -sh _vendor | cut -f1) in _vendor/"
