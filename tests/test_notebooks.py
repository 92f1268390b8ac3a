"""Every notebook in notebooks/ runs offline from top to bottom, and ``jupyter nbconvert --to html``
shows a picture of each widget (nbconvert has no kernel, so it must show the PNG fallback)."""
from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
OURS = ("SimilarityOverlay", "TransformSweep", "ChannelGrid", "PathMorph", "AttributionExplorer", "OcclusionExplorer",
        "MetricsChart", "ConceptExplorer", "InversionExplorer",
        "AdversarialExplorer", "ClassBias", "DecoderExplorer")  # not e.g. tqdm's progress bars


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_exports_with_static_widget_images(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    widget_outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                      if WIDGET_MIME in o.get("data", {}) and o["data"].get("text/plain", "").startswith(OURS)]
    assert widget_outputs, "the notebook shows no widget"
    for out in widget_outputs:
        png = Image.open(io.BytesIO(base64.b64decode(out["data"]["image/png"])))
        assert png.size[0] > 200 and len(png.getcolors(1 << 20) or []) > 50  # a real picture, not blank
    # nbclient saved the widget state, as JupyterLab does with "save widget state": the state
    # would make nbconvert pick the live view (empty offline) unless the installed config's
    # preprocessor drops our models from the exported copy.
    assert nb.metadata["widgets"]
    saved = tmp_path / path.name
    nbformat.write(nb, saved)
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(saved)], check=True, capture_output=True)
    html = saved.with_suffix(".html").read_text()
    pictures = len(re.findall(r'<img [^>]*src="data:image/png;base64,', html))
    assert pictures >= len(widget_outputs)
    for out in widget_outputs:  # none of ours left as an empty live-widget placeholder
        assert out["data"][WIDGET_MIME]["model_id"] not in html
