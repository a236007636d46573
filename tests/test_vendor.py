"""The vendored browser assets are complete, so that the offline book loads nothing it does not hold."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = (ROOT / "_vendor" / "widgets" / "embed-amd.js").read_text(encoding="utf-8")
BESIDE_CHAPTERS = ROOT / "_vendor" / "pages" / "book"   # copied to the HTML root, so that it sits beside every chapter


def test_widget_fonts_are_served_wherever_a_widget_module_asks_for_them():
    # Each AMD module of the embed bundle resolves its icon fonts against its own module id, relative to the
    # page: "@jupyter-widgets/base" asks in @jupyter-widgets/, ".../html-manager/dist/libembed-amd" in
    # @jupyter-widgets/html-manager/dist/. Which one a page uses depends on module load order, so both must hold them.
    folders = {name.rpartition("/")[0] for name in re.findall(r'define\("(@jupyter-widgets/[^"]+)"', BUNDLE)}
    fonts = set(re.findall(r'\.p\+"([0-9a-f]+\.(?:woff2|woff|ttf))"', BUNDLE))
    assert folders >= {"@jupyter-widgets", "@jupyter-widgets/html-manager/dist"} and len(fonts) >= 6
    missing = [f"{d}/{f}" for d in sorted(folders) for f in sorted(fonts) if not (BESIDE_CHAPTERS / d / f).is_file()]
    assert not missing, f"widget fonts not vendored (run scripts/vendor_js.sh): {missing}"
