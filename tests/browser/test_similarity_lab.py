"""SimilarityOverlay in a real JupyterLab: the pixels Chromium draws against ``similarity_map``.

One notebook is opened for the whole module (starting JupyterLab and the kernel is the
slow part); each test then drives the same live widget.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from xai_widgets import colormaps

from lab import PAINTED, READ_CELLS, live_page

SETUP = """
import json, torch
import xai_widgets as xw
model = xw.demo.shapes_model()
images = xw.demo.shapes_images(3, seed=5)
w = xw.SimilarityOverlay(model, images, ["relu3", "relu4"], size=256, opacity=1.0,
                         titles=["first", "<b>second</b>", "third"])
w
"""



@pytest.fixture(scope="module")
def view(lab, chromium):
    """The notebook open in one page, with a log of every websocket frame the page sends."""
    with live_page(chromium, lab, viewport=(1500, 1200)) as (page, sent):
        lab.open_notebook(page, "similarity.ipynb", [SETUP])
        page.wait_for_selector(PAINTED, timeout=30_000)
        grids = json.loads(lab.run("print(json.dumps({f'{k}/{n}': w.grid(n, name) "
                                   "for k, name in enumerate(w.layers) for n in range(3)}))"))
        yield page, grids, sent


def panel_point(page, layer: int, image: int, row: int, col: int, grid) -> tuple[float, float]:
    """Page coordinates of the centre of a cell of one panel."""
    box = page.locator(f'.xw-similarity canvas.xw-panel[data-layer="{layer}"][data-image="{image}"]').bounding_box()
    h, w = grid
    return box["x"] + (col + 0.5) * box["width"] / w, box["y"] + (row + 0.5) * box["height"] / h


def expected_colours(lab, image: int, layer: str, row: int, col: int) -> dict:
    """The colours Python says every cell should have, from ``similarity_map``."""
    code = (f"cells = w.query_cells({image}, {layer!r}, {row}, {col})\n"
            "print(json.dumps({name: [m.tolist() for m in w.similarity_map(" + str(image)
            + ", name, *cells[name])] for name in w.layers}))")
    maps = json.loads(lab.run(code))
    return {f"{k}/{n}": colormaps.apply(np.asarray(maps[name][n]).ravel(), "gray", 0.0, 1.0)
            for k, name in enumerate(["relu3", "relu4"]) for n in range(3)}


def assert_pixels_match(drawn: dict, expected: dict) -> None:
    for key, colours in expected.items():
        got = np.asarray(drawn[key])
        diff = np.abs(got.astype(int) - colours.astype(int)).max(axis=1)
        bad = list(np.flatnonzero(diff > 1))
        assert not bad, f"panel {key}: {len(bad)} cells differ, first at index {bad[0]}: drawn {got[bad[0]]}, expected {colours[bad[0]]}"


def hover_cell(page, grids: dict, sent: list, layer: int, image: int, row: int, col: int, read=None):
    """Pointer away, read every cell, hover cell (row, col) of a panel, read again: (cells
    before, cells after, websocket frames sent meanwhile). ``read`` reads the cells (default:
    READ_CELLS in the page)."""
    read = read or (lambda: page.evaluate(READ_CELLS, [grids]))
    page.mouse.move(3, 3)
    page.wait_for_timeout(300)
    plain, before = read(), len(sent)
    x, y = panel_point(page, layer, image, row, col, grids[f"{layer}/{image}"])
    page.mouse.move(x - 2, y)
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    return plain, read(), len(sent) - before


def test_hover_shades_every_cell_as_similarity_map_says_and_sends_nothing(view, lab):
    page, grids, sent = view
    page.mouse.move(5, 5)  # away from the widget
    page.wait_for_timeout(300)
    before = len(sent)
    # hover image 1 at relu3 cell (10, 20): relu4 must follow to the same image location
    x, y = panel_point(page, 0, 1, 10, 20, grids["0/1"])
    for dx in (-3, -1, 0):  # a few moves, the last at the cell centre
        page.mouse.move(x + dx, y)
        page.wait_for_timeout(50)
    page.wait_for_timeout(200)
    drawn = page.evaluate(READ_CELLS, [grids])
    hovered = len(sent) - before
    expected = expected_colours(lab, 1, "relu3", 10, 20)
    # the query cells carry the yellow outline only on their border: centres are shaded as usual
    assert_pixels_match(drawn, expected)
    assert hovered == 0, f"hovering sent {hovered} websocket frames to the server"
    # the overlay is not blank: similarities vary, and the query cell itself is the brightest
    qi = 10 * grids["0/1"][1] + 20
    assert np.asarray(drawn["0/1"])[qi][0] >= 250
    assert np.ptp(np.asarray(drawn["0/0"])[:, 0]) > 50


def test_mouse_leave_clears_the_overlay(view, lab):
    page, grids, _ = view
    x, y = panel_point(page, 1, 0, 3, 3, grids["1/0"])
    page.mouse.move(x, y)
    page.wait_for_timeout(200)
    shaded = page.evaluate(READ_CELLS, [grids])
    page.mouse.move(3, 3)
    page.wait_for_timeout(300)
    plain = page.evaluate(READ_CELLS, [grids])
    assert shaded["1/2"] != plain["1/2"]
    # with the overlay gone the panel shows the image itself: not a grey similarity map
    rgb = np.asarray(plain["1/2"])
    assert (np.ptp(rgb, axis=1) > 10).mean() > 0.2, "the plain image should have colour"


def test_click_pins_the_query_into_python_and_escape_unpins(view, lab):
    page, grids, _ = view
    x, y = panel_point(page, 1, 2, 5, 7, grids["1/2"])
    page.mouse.click(x, y)
    page.wait_for_timeout(500)
    assert json.loads(lab.run("print(json.dumps(w.query))")) == {"image": 2, "layer": "relu4", "row": 5, "col": 7}
    # while pinned, moving elsewhere keeps the pinned overlay and shows the value under the pointer
    x2, y2 = panel_point(page, 0, 0, 1, 1, grids["0/0"])
    page.mouse.move(x2, y2)
    page.wait_for_timeout(300)
    assert_pixels_match(page.evaluate(READ_CELLS, [grids]), expected_colours(lab, 2, "relu4", 5, 7))
    readout = page.locator(".xw-similarity .xw-readout").inner_text()
    # relu3 is shaded against the pinned location mapped to relu3; the pointer is on relu3 image 0 cell (1, 1)
    value = float(lab.run("cell = w.query_cells(2, 'relu4', 5, 7)['relu3']\n"
                          "print(float(w.similarity_map(2, 'relu3', *cell)[0][1, 1]))"))
    assert f"{value:.3f}" in readout
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    assert lab.run("print(w.query)").strip() == "None"


def assert_python_query_drawn(page, grids: dict, server, image: int, layer: str, row: int, col: int) -> None:
    """Set ``w.query`` in the server's kernel; the view draws exactly that query's maps."""
    page.mouse.move(3, 3)
    server.run(f"w.query = {{'image': {image}, 'layer': {layer!r}, 'row': {row}, 'col': {col}}}")
    page.wait_for_timeout(600)
    assert_pixels_match(page.evaluate(READ_CELLS, [grids]), expected_colours(server, image, layer, row, col))
    server.run("w.query = None")


def test_query_set_from_python_pins_the_view(view, lab):
    page, grids, _ = view
    assert_python_query_drawn(page, grids, lab, 0, "relu4", 12, 4)


def test_titles_are_text_not_html_and_bad_browser_input_is_reported(view, lab):
    page, _, _ = view
    root = page.locator(".xw-similarity")
    assert root.locator("b").count() == 0
    assert "<b>second</b>" in root.inner_text()
    # a front-end update the kernel must refuse: shown in the widget, the view survives
    lab.run("w.set_state({'query': {'image': 9, 'layer': 'relu3', 'row': 0, 'col': 0}})")
    page.wait_for_timeout(500)
    assert "out of range" in page.locator(".xw-similarity .xw-message").inner_text()
    lab.run("w.message = ''")


def test_changing_layers_and_images_from_python_redraws(view, lab):
    page, _, _ = view
    lab.run("w.set_inputs(images=images[:2], layers=['relu4'], titles=['a', 'b'])")
    page.wait_for_function("() => document.querySelectorAll('.xw-similarity canvas.xw-panel').length === 2")
    assert page.locator(".xw-similarity canvas.xw-panel[data-layer='0'][data-image='1']").count() == 1
    # and the new view is live: hover shades it as similarity_map says
    grid = json.loads(lab.run("print(json.dumps(w.grid(1, 'relu4')))"))
    x, y = panel_point(page, 0, 1, 2, 9, grid)
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    drawn = page.evaluate(READ_CELLS, [{"0/0": grid, "0/1": grid}])
    maps = json.loads(lab.run("print(json.dumps([m.tolist() for m in w.similarity_map(1, 'relu4', 2, 9)]))"))
    expected = {f"0/{n}": colormaps.apply(np.asarray(maps[n]).ravel(), "gray", 0.0, 1.0) for n in range(2)}
    assert_pixels_match(drawn, expected)


def test_keyboard_moves_pins_and_unpins(view, lab):
    page, _, _ = view
    lab.run("w.query = None")
    page.locator(".xw-similarity .xw-grid").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("]")
    page.wait_for_timeout(500)
    layer = json.loads(lab.run("print(json.dumps(w.layers[0]))"))
    assert json.loads(lab.run("print(json.dumps(w.query))")) == {"image": 1, "layer": layer, "row": 1, "col": 1}
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    assert lab.run("print(w.query)").strip() == "None"
