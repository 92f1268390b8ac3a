"""SimilarityOverlay in Jupyter Notebook 7 (the ``notebook`` package): the same widget and the same
pixel checks as in JupyterLab, in Notebook 7's own single-document page."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lab import PAINTED, JupyterLab, live_page
from test_similarity_lab import SETUP, assert_pixels_match, assert_python_query_drawn, expected_colours, hover_cell


@pytest.fixture(scope="module")
def notebook7():
    server = JupyterLab(app="notebook")
    yield server
    server.close()


# Notebook 7's own keyboard-shortcuts plugin reads a settings schema before it is loaded, on any
# notebook, widgets or not (upstream race, jupyter/notebook#7862): not ours to fail on.
SHORTCUTS_RACE = r"reading 'schema'\)[\s\S]*notebook_core\."


@pytest.fixture(scope="module")
def view(notebook7, chromium):
    with live_page(chromium, notebook7, viewport=(1500, 1200), known_errors=(SHORTCUTS_RACE,)) as (page, sent):
        notebook7.open_notebook(page, "similarity.ipynb", [SETUP])
        # Notebook 7's single-document shell, not JupyterLab's
        assert page.locator("#main-panel").count() == 1 and page.locator("#jp-main-dock-panel").count() == 0
        page.wait_for_selector(PAINTED, timeout=30_000)
        grids = json.loads(notebook7.run("print(json.dumps({f'{k}/{n}': w.grid(n, name) "
                                         "for k, name in enumerate(w.layers) for n in range(3)}))"))
        yield page, grids, sent


def test_hover_in_notebook7_shades_as_similarity_map_says_without_the_kernel(view, notebook7):
    page, grids, sent = view
    plain, drawn, hovered = hover_cell(page, grids, sent, 0, 1, 10, 20)
    assert drawn != plain, "hovering changed no pixel"
    assert_pixels_match(drawn, expected_colours(notebook7, 1, "relu3", 10, 20))
    assert hovered == 0, f"hovering sent {hovered} websocket frames to the server"
    assert np.ptp(np.asarray(drawn["0/0"])[:, 0]) > 50, "the overlay is flat"


def test_query_set_from_python_reaches_the_notebook7_view(view, notebook7):
    page, grids, _ = view
    assert_python_query_drawn(page, grids, notebook7, 2, "relu4", 6, 9)
