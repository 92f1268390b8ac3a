"""Regenerate the README's pictures from the notebooks: docs/images/<Widget>.png.

Runs every notebook in notebooks/ (offline, on the bundled demo models), exports the first
widget of each kind it displays with ``to_html``, and photographs that page in headless
Chromium at a laptop notebook's output width, in the light theme. Run it after changing a
widget's look, and commit the pictures:

    .venv/bin/python scripts/readme_pictures.py            # about 10 minutes on 2 cores
    .venv/bin/python scripts/readme_pictures.py --only 03   # notebooks whose name contains 03
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from lab import CHROMIUM, CHROMIUM_ARGS, offline_page  # noqa: E402

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
KINDS = ("SimilarityOverlay", "TransformSweep", "ChannelGrid", "PathMorph", "AttributionExplorer",
         "OcclusionExplorer", "MetricsChart", "InversionExplorer")
OUTPUT_WIDTH = 900  # a notebook output on a 1280 px laptop screen with the file browser open


def export_widgets(path: Path, workdir: Path, wanted: set[str]) -> dict[str, Path]:
    """Run the notebook; write the first displayed widget of each wanted kind to HTML."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    pages: dict[str, Path] = {}
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        for out in (o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])):
            data = out.get("data", {})
            kind = data.get("text/plain", "").split("(")[0]
            if WIDGET_MIME in data and kind in wanted and kind not in pages:
                pages[kind] = workdir / f"{kind}.html"
                export = nbformat.v4.new_code_cell(
                    "from ipywidgets.widgets.widget import _instances\n"
                    f"_instances[{data[WIDGET_MIME]['model_id']!r}].to_html(r'{pages[kind]}')")
                nb.cells.append(export)
                client.execute_cell(export, len(nb.cells) - 1)
    return pages


def photograph(pages: dict[str, Path], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for kind, page_path in pages.items():
            with offline_page(browser, page_path, ready="[data-xw-painted]", output_width=OUTPUT_WIDTH,
                              viewport=(OUTPUT_WIDTH + 40, 900)) as page:
                page.wait_for_timeout(500)  # fonts and the ResizeObserver's relayout
                page.locator("#xw-root").screenshot(path=str(out / f"{kind}.png"))
                print(f"{kind}: {out / f'{kind}.png'}")
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="run only notebooks whose file name contains this")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = set(KINDS)
    with tempfile.TemporaryDirectory() as tmp:
        pages: dict[str, Path] = {}
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            if args.only in path.name and wanted - set(pages):
                pages.update(export_widgets(path, Path(tmp), wanted - set(pages)))
        photograph(pages, args.out)


if __name__ == "__main__":
    main()
