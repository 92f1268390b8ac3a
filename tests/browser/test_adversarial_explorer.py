"""AdversarialExplorer in Chromium: exported with ``to_html`` and driven offline, the eps slider
draws the x' Python computed for that budget and moves the flip marker; in JupyterLab the
background computation shows its progress, stops on Cancel and starts again on Recompute."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets.widgets.adversarial import AdversarialExplorer

from lab import live_page, offline_page

READY = "[data-xw-painted] .xw-adv"
EPSILONS = [0.5 / 255, 16 / 255]

CANVAS_PIXELS = """([image, cls]) => {
  const c = document.querySelector(`.xw-adv-row[data-image="${image}"] .xw-adv-${cls} canvas`);
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
}"""


@pytest.fixture(scope="module")
def widget():
    torch.set_num_threads(1)
    model = xw.demo.shapes_model()
    data = xw.demo.shapes_dataset(8, seed=3)
    x = xw.demo.model.to_tensor(data.images)[[0, 3]]
    y = torch.as_tensor(data.labels)[[0, 3]]
    w = AdversarialExplorer(model, x, y, epsilons=EPSILONS, classes=xw.demo.shapes.CLASSES)
    w.wait()  # computed in the background
    w.eps_index = 0
    return w


def rgb(page, image, cls="xhat"):
    flat = np.array(page.evaluate(CANVAS_PIXELS, [image, cls]), dtype=np.uint8)
    return flat.reshape(128, 128, 4)[..., :3]


def flips(page):
    return page.evaluate("() => Array.from(document.querySelectorAll('.xw-adv-row'), r => r.dataset.flipped)")


def test_eps_slider_draws_python_xhat_and_moves_the_flip_marker(chromium, widget, tmp_path):
    expected_flips = [widget.flipped(e) for e in range(len(EPSILONS))]
    assert expected_flips[0] != expected_flips[1], "the two budgets must differ in what they flip"
    with offline_page(chromium, widget.to_html(tmp_path / "adv.html"), ready=READY, viewport=(970, 1000)) as page:
        for i in range(2):
            np.testing.assert_array_equal(rgb(page, i), widget.pixels(i, 0))
            np.testing.assert_array_equal(rgb(page, i, "x"), widget.pixels(i, 0, panel="clean"))
            np.testing.assert_array_equal(rgb(page, i, "delta"), widget.pixels(i, 0, panel="perturbation"))
        assert flips(page) == [str(f).lower() for f in expected_flips[0]]
        slider = page.locator(".xw-adv-eps input")
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('.xw-adv').dataset.epsIndex === '1'")
        for i in range(2):
            np.testing.assert_array_equal(rgb(page, i), widget.pixels(i, 1))
            assert not np.array_equal(rgb(page, i), widget.pixels(i, 0))
        assert flips(page) == [str(f).lower() for f in expected_flips[1]]
        assert "16/255" in page.locator(".xw-adv-eps .xw-adv-value").text_content()
        chart = page.evaluate("() => document.querySelector('.xw-chart-canvas').dataset.highlight")
        assert chart == "1"
        width = page.evaluate("() => document.querySelector('.xw-adv').getBoundingClientRect().width")
        assert width <= 970


def test_progress_cancel_and_recompute_in_jupyterlab(lab, chromium):
    setup = ("import torch\nimport xai_widgets as xw\ntorch.set_num_threads(1)\n"
             "model = xw.demo.shapes_model()\ndata = xw.demo.shapes_dataset(8, seed=3)\n"
             "x = xw.demo.model.to_tensor(data.images)[[0, 3]]\ny = torch.as_tensor(data.labels)[[0, 3]]\n"
             "w = xw.AdversarialExplorer(model, x, y, attack='cw', epsilons=[1.0, 2.0], "
             "attack_options={'steps': 10 ** 7})\nw")
    with live_page(chromium, lab, viewport=(970, 1200)) as (page, _):
        lab.open_notebook(page, "adversarial_live.ipynb", [setup])
        page.wait_for_selector(".xw-adv .xw-progress:not([hidden])", timeout=60_000)
        assert page.get_attribute(".xw-adv", "data-ready") == "false"
        assert page.is_hidden(".xw-adv button.xw-adv-recompute")
        page.click(".xw-adv .xw-progress button.xw-cancel")
        page.wait_for_selector(".xw-adv button.xw-adv-recompute:not([hidden])", timeout=30_000)
        assert page.is_hidden(".xw-adv .xw-progress")
        assert "attack cancelled" in page.inner_text(".xw-adv .xw-message")
        assert lab.run("print(w.ready, w.busy)").split() == ["False", "False"]
        lab.run("w._options['steps'] = 5")  # a short optimisation for the recomputation (test only)
        page.click(".xw-adv button.xw-adv-recompute")
        page.wait_for_selector('.xw-adv[data-ready="true"] .xw-adv-row[data-image="1"]', timeout=120_000)
        lab.run("w.wait(60)")
        for i in range(2):
            want = np.asarray(json.loads(lab.run(f"import json\nprint(json.dumps(w.pixels({i}, 1).tolist()))")))
            np.testing.assert_array_equal(rgb(page, i), want.astype(np.uint8))
        assert page.is_hidden(".xw-adv button.xw-adv-recompute")
