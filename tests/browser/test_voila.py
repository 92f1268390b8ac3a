"""The SimilarityOverlay in a Voila dashboard: the notebook served by ``voila`` (its code hidden,
the kernel on the server), hover pixels checked against the same widget built in this process."""
from __future__ import annotations

import os
import sys

import nbformat

from lab import _free_port, live_page, served
from test_marimo import IMAGES, OVERLAY, Local, grids_of, twins  # noqa: F401  (twins: a fixture)
from test_similarity_lab import assert_pixels_match, expected_colours, hover_cell

# Voila's own page template asks a CDN for Font Awesome (ipywidgets' icons); with no network that
# request fails (a console message, not a page error). Our widgets load nothing from outside.
DASHBOARD = f"import xai_widgets as xw\nmodel = xw.demo.shapes_model()\nimages = {IMAGES}\nw = {OVERLAY}\nw"


def test_voila_dashboard_renders_and_hover_shades_without_the_kernel(chromium, tmp_path, twins):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(DASHBOARD)]
    nbformat.write(nb, tmp_path / "dashboard.ipynb")
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / ".cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / ".runtime"))
    args = [sys.executable, "-m", "voila", "dashboard.ipynb", "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1", "--show_tracebacks=True"]
    w, _ = twins
    grids = grids_of(w)
    # wait on a static path: every request for "/" runs the notebook in a new kernel
    with served(args, tmp_path, env, f"http://127.0.0.1:{port}/static/") as log, \
            live_page(chromium, None, viewport=(1500, 1200)) as (page, sent):
        page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
        try:
            page.wait_for_selector("[data-xw-painted] .xw-similarity", timeout=90_000)
        except Exception:
            raise AssertionError(f"the widget did not paint; page text:\n{page.inner_text('body')[:2000]}\n"
                                 f"voila log:\n{log.read_text()[-2000:]}")
        assert "xw.SimilarityOverlay" not in page.inner_text("body"), "the dashboard shows the code"
        plain, drawn, hovered = hover_cell(page, grids, sent, 1, 2, 4, 11)
        assert drawn != plain, "hovering changed no pixel"
        assert_pixels_match(drawn, expected_colours(Local(w), 2, "relu4", 4, 11))
        assert hovered == 0, f"hovering sent {hovered} websocket frames to the server"
