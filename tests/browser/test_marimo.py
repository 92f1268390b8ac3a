"""The widgets in marimo: an app (``marimo run``) wraps a SimilarityOverlay and a ChannelGrid in
``mo.ui.anywidget``; Chromium's pixels are checked against the same widgets built in this process
(same demo model and images, so the same numbers), and state goes both ways through marimo's
cells: a marimo slider sets ``w.query`` in Python, a click in the widget reaches ``w.query``.

marimo renders each anywidget into a shadow root, so the shared page helpers (written for
``document``) run through ``InWidget``, which stands the widget's shadow root in for ``document``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import textwrap
import time

import pytest

import xai_widgets as xw

from lab import READ_CELLS, _free_port, live_page, served
from test_channel_grid import assert_tiles_match
from test_similarity_lab import assert_pixels_match, expected_colours, hover_cell, panel_point

IMAGES = "xw.demo.shapes_images(3, seed=5)"
OVERLAY = 'xw.SimilarityOverlay(model, images, ["relu3", "relu4"], size=256, opacity=1.0)'
GRID = 'xw.ChannelGrid(model, images, layer="relu2")'
QUERY = "{'image': 2, 'layer': 'relu4', 'row': row.value, 'col': 9}"

APP = textwrap.dedent(f'''
    import marimo

    app = marimo.App(width="full")


    @app.cell
    def _():
        import json
        import marimo as mo
        import xai_widgets as xw
        model = xw.demo.shapes_model()
        images = {IMAGES}
        return images, json, mo, model, xw


    @app.cell
    def _(images, mo, model, xw):
        w = {OVERLAY}
        view = mo.ui.anywidget(w)
        view
        return view, w


    @app.cell
    def _(mo):
        row = mo.ui.slider(0, 15, value=0, label="query row")
        row
        return (row,)


    @app.cell
    def _(row, w):
        w.query = {QUERY} if row.value else None
        slider_ran = True
        return (slider_ran,)


    @app.cell
    def _(json, mo, slider_ran, view, w):
        view.value, slider_ran  # runs again after the slider's cell and when the browser changes the widget
        mo.plain_text("python sees query = " + json.dumps(w.query, sort_keys=True))
        return


    @app.cell
    def _(images, mo, model, xw):
        grid = mo.ui.anywidget({GRID})
        grid
        return
''')


class InWidget:
    """``evaluate`` as on a page, with ``document`` standing for the shadow root that holds ``marker``."""

    def __init__(self, page, marker: str):
        self.page, self.marker = page, marker

    def evaluate(self, js: str, arg=None):
        return self.page.evaluate(
            "(arg) => { const find = (root) => { for (const e of root.querySelectorAll('*')) {"
            f" const s = e.shadowRoot; if (!s) continue; if (s.querySelector({json.dumps(self.marker)})) return s;"
            " const inner = find(s); if (inner) return inner; } return null; };"
            f" const document = find(window.document); return ({js})(arg); }}", arg)


class Local:
    """Runs the snippets the JupyterLab helpers send to a kernel against this process's twin widget."""

    def __init__(self, w):
        self.ns = {"json": json, "w": w}

    def run(self, code: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, self.ns)
        return out.getvalue()


@pytest.fixture(scope="module")
def twins():
    """The app's widgets, built here from the same model and images."""
    model = xw.demo.shapes_model()  # noqa: F841  (used by the expressions below)
    images = eval(IMAGES)
    return eval(OVERLAY), eval(GRID)


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):
    """The app served by ``marimo run`` and open in one page, with the times of every message the
    page sends (websocket frames and HTTP requests other than GET)."""
    root = tmp_path_factory.mktemp("marimo")
    (root / "app.py").write_text(APP)
    port = _free_port()
    env = dict(os.environ, HOME=str(root), XDG_CONFIG_HOME=str(root / ".config"),
               XDG_CACHE_HOME=str(root / ".cache"), XDG_STATE_HOME=str(root / ".state"))
    args = [sys.executable, "-m", "marimo", "run", "app.py", "--headless", "--host=127.0.0.1", f"--port={port}",
            "--no-token", "--no-sandbox"]
    with served(args, root, env, f"http://127.0.0.1:{port}/") as log, \
            live_page(chromium, None, viewport=(1500, 1400)) as (page, sent):
        page.on("request", lambda r: sent.append(time.time()) if r.method != "GET" else None)
        page.goto(f"http://127.0.0.1:{port}/")
        try:
            page.locator("[data-xw-painted] .xw-similarity").wait_for(timeout=90_000)
            page.locator("[data-xw-painted] .xw-channel-grid").wait_for(timeout=30_000)
        except Exception:
            raise AssertionError(f"the widgets did not paint; page text:\n{page.inner_text('body')[:2000]}\n"
                                 f"marimo log:\n{log.read_text()[-2000:]}")
        yield page, sent


def grids_of(w) -> dict:
    return {f"{k}/{n}": w.grid(n, name) for k, name in enumerate(w.layers) for n in range(3)}


def test_marimo_hover_shades_as_similarity_map_says_without_a_message(app, twins):
    page, sent = app
    w, _ = twins
    grids, cells = grids_of(w), InWidget(page, ".xw-similarity")
    plain, drawn, hovered = hover_cell(page, grids, sent, 0, 1, 10, 20, read=lambda: cells.evaluate(READ_CELLS, [grids]))
    assert drawn != plain, "hovering changed no pixel"
    assert_pixels_match(drawn, expected_colours(Local(w), 1, "relu3", 10, 20))
    assert hovered == 0, f"hovering sent {hovered} messages to the marimo server"
    page.mouse.move(3, 3)


def test_marimo_slider_sets_the_query_in_python_and_the_view_follows(app, twins):
    page, _ = app
    w, _ = twins
    grids, cells = grids_of(w), InWidget(page, ".xw-similarity")
    page.mouse.move(3, 3)
    slider = page.get_by_role("slider", name="query row")
    slider.focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    page.get_by_text('python sees query = {"col": 9, "image": 2, "layer": "relu4", "row": 6}').wait_for(timeout=20_000)
    expected = expected_colours(Local(w), 2, "relu4", 6, 9)
    end = time.time() + 10
    while True:  # the cell ran in Python; the view redraws once the new state arrives
        try:
            assert_pixels_match(cells.evaluate(READ_CELLS, [grids]), expected)
            break
        except AssertionError:
            if time.time() > end:
                raise
            page.wait_for_timeout(200)
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    page.get_by_text("python sees query = null").wait_for(timeout=20_000)


def test_marimo_click_pins_the_query_in_python(app, twins):
    page, _ = app
    w, _ = twins
    x, y = panel_point(page, 1, 0, 3, 5, w.grid(0, "relu4"))
    page.mouse.click(x, y)
    page.get_by_text('python sees query = {"col": 5, "image": 0, "layer": "relu4", "row": 3}').wait_for(timeout=20_000)
    page.keyboard.press("Escape")
    page.get_by_text("python sees query = null").wait_for(timeout=20_000)


def test_marimo_channel_grid_tiles_arrive_as_python_computes_them(app, twins):
    page, _ = app
    _, grid = twins
    assert_tiles_match(InWidget(page, ".xw-channel-grid"), grid, "marimo")
