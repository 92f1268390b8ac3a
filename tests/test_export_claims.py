"""A notebook exported with ``jupyter nbconvert --to html`` shows a PNG of each widget.

nbconvert draws a widget output as the live widget (an empty placeholder filled by a widget
manager from a CDN) whenever the notebook holds that widget's state, and nbclient always saves
it; ``xai_widgets.core.export.static_previews`` makes such a notebook export the PNG instead. A
notebook saved without widget state (JupyterLab's default) exports the PNG as it is.

And a ``to_html`` page tells its front end that no kernel will answer.
"""
from __future__ import annotations

import base64
import copy
import io
import json
import re

import anywidget
import nbformat
import pytest
import traitlets
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from nbconvert.nbconvertapp import NbConvertApp
from PIL import Image

from xai_widgets.core.export import standalone_html

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PREVIEWS = "xai_widgets.core.export.static_previews"
OUTPUT = re.compile(r'<div class="jp-OutputArea-child[^"]*">(.*?)</div>\s*</div>', re.S)
IMG = re.compile(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def executed():
    """A small notebook run by nbclient: two xai_widgets views and an ipywidgets slider."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import ipywidgets\nimport xai_widgets as xw\n"
                                  "model = xw.demo.shapes_model()\nimages = xw.demo.shapes_images(2, seed=3)"),
        nbformat.v4.new_code_cell("w = xw.SimilarityOverlay(model, images, 'relu2', size=90)\nw"),
        nbformat.v4.new_code_cell("ipywidgets.IntSlider(value=7)"),
        nbformat.v4.new_code_cell("xw.SimilarityOverlay(model, images[:1], ['relu1', 'relu3'], size=70)"),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert WIDGET_STATE in nb.metadata.get("widgets", {}), "nbclient saves the widget state"
    return nb


def cell_html(html: str) -> list[str]:
    """The HTML of each output, in order."""
    return OUTPUT.findall(html)


def assert_png_of_each_widget(html: str, nb) -> None:
    outs = [o for c in nb.cells for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})]
    ours = [o for o in outs if o["data"]["text/plain"].startswith("SimilarityOverlay")]
    assert len(ours) == 2
    shown = cell_html(html)
    pictures = [IMG.findall(part) for part in shown]
    assert sum(len(p) == 1 for p in pictures) == len(ours), "one PNG per xai_widgets output"
    for found in (p for p in pictures if p):
        png = Image.open(io.BytesIO(base64.b64decode(found[0])))
        assert png.format == "PNG" and png.size[0] >= 150 and png.size[1] >= 60, png.size
        assert len(png.convert("RGB").getcolors(1 << 16) or []) > 20  # a picture, not a blank box


def test_nbconvert_of_an_executed_notebook_shows_each_widgets_png(executed, tmp_path):
    """The documented command line, run in-process on the notebook nbclient wrote."""
    path = tmp_path / "run.ipynb"
    nbformat.write(executed, path)
    app = NbConvertApp()
    app.initialize(["--to", "html", f"--HTMLExporter.preprocessors={PREVIEWS}", str(path)])
    app.start()
    html = (tmp_path / "run.html").read_text(encoding="utf-8")
    assert_png_of_each_widget(html, executed)
    # the ipywidgets slider keeps its state (and so its live view); ours are gone from it
    saved = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">\s*(.*?)\s*</script>', html, re.S)
    assert saved and "IntSliderModel" in saved.group(1) and "SimilarityOverlay" not in saved.group(1)
    assert len(html) < 1_000_000  # the bundle source is no longer embedded once per widget


def test_previews_leave_a_notebook_without_other_widgets_free_of_widget_scripts(executed):
    nb = copy.deepcopy(executed)  # as if the slider had never been shown
    nb.cells = [c for c in nb.cells if "IntSlider" not in c.source]
    states = nb.metadata.widgets[WIDGET_STATE]["state"]
    slider = next(mid for mid, entry in states.items() if entry["model_name"] == "IntSliderModel")
    for mid in [slider] + [v[len("IPY_MODEL_"):] for v in states[slider]["state"].values()
                           if isinstance(v, str) and v.startswith("IPY_MODEL_")]:
        del states[mid]
    html, _ = HTMLExporter(preprocessors=[PREVIEWS]).from_notebook_node(nb)
    assert_png_of_each_widget(html, nb)
    assert "widget-state+json" not in html and "embed-amd" not in html  # nothing to fetch from a CDN


def test_a_notebook_saved_without_widget_state_shows_the_png_as_it_is(executed):
    """JupyterLab's default save: the outputs (widget view + PNG) without the state."""
    nb = copy.deepcopy(executed)
    del nb.metadata["widgets"]
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert_png_of_each_widget(html, nb)


def test_a_page_says_no_kernel_and_shows_no_task_running():
    class Busy(anywidget.AnyWidget):
        _esm = "export default { render() {} }"
        progress = traitlets.Dict({"running": True, "task": "scan", "done": 3, "total": 9}).tag(sync=True)

    page = standalone_html(Busy())
    state = json.loads(re.search(r'<script type="application/json" id="xw-state">(.*?)</script>', page, re.S).group(1))
    assert state["_no_kernel"] is True
    assert state["progress"] == {"running": False, "task": "scan", "done": 3, "total": 9}  # it could never finish
