"""OcclusionExplorer in Chromium: hovering a feature tints its pixels red with no kernel,
toggling features in JupyterLab updates the top-5 and the occluded image without re-running
cells, and in a to_html page toggles show the views precomputed at export."""
from __future__ import annotations

import json

import numpy as np
import pytest

from xai_widgets import wire
from xai_widgets.demo import CLASSES
from xai_widgets.attribution import feature_occlusion as features

from lab import READ_GRID, live_page, offline_page

READY = "[data-xw-painted] .xw-occlusion"
HOVERED = "(k) => document.querySelector('canvas.xw-panel[data-role=features]').dataset.hover === k"
MAKE = ("import xai_widgets as xw\n"
        "w = xw.OcclusionExplorer(xw.demo.shapes_model(), xw.demo.shapes_dataset(2, seed=1).images[0],\n"
        "                         attribution='grad_x_input', classes=xw.demo.CLASSES)\n")


@pytest.fixture(scope="module")
def widget():
    exec(MAKE, namespace := {})
    return namespace["w"]


def panel(page, role: str, h: int = 128, w: int = 128) -> np.ndarray:
    """The colour at the centre of every image pixel of a panel."""
    selector = f'.xw-occlusion canvas.xw-panel[data-role="{role}"]'
    return np.asarray(page.evaluate(READ_GRID, [selector, h, w]), dtype=float).reshape(h, w, 3)


def expected_features(w, hover: int) -> np.ndarray:
    """The features panel as the widget defines it: feature colours at `opacity`, the hovered one red at 0.8."""
    base = wire.decode(w._data["image"]).astype(float)
    labels = features.label_map(w.features, base.shape[:2])
    out = base.copy()
    for k, info in enumerate(w._data["features"]):
        colour, a = (np.array([255, 0, 0]), 0.8) if k == hover else (np.array(info["color"]), w.opacity)
        on = labels == k + 1
        out[on] = base[on] * (1 - a) + colour * a
    return out


def move_to_pixel(page, role: str, row: int, col: int) -> None:
    box = page.locator(f'.xw-occlusion canvas.xw-panel[data-role="{role}"]').bounding_box()
    page.mouse.move(box["x"] + (col + 0.5) * box["width"] / 128, box["y"] + (row + 0.5) * box["height"] / 128)


def test_hovering_a_feature_tints_its_pixels_red_without_a_kernel(chromium, widget, tmp_path):
    w = widget
    path = w.to_html(tmp_path / "occlusion.html")
    with offline_page(chromium, path, ready=READY, viewport=(1400, 1100)) as page:
        assert np.abs(panel(page, "features") - expected_features(w, -1)).max() <= 1, "features at rest"
        k = 1
        row, col = w.features[k][len(w.features[k]) // 2]
        move_to_pixel(page, "features", row, col)
        page.wait_for_function(HOVERED, arg=str(k))
        drawn = panel(page, "features")
        assert np.abs(drawn - expected_features(w, k)).max() <= 1, "hovered feature"
        labels = features.label_map(w.features, (128, 128))
        red = drawn[labels == k + 1]
        assert (red[:, 0] > red[:, 1] + 60).all() and (red[:, 0] > red[:, 2] + 60).all()
        assert page.get_attribute(f'.xw-feature[data-index="{k}"]', "class").endswith("xw-hover")
        page.hover('.xw-feature[data-index="0"]')  # the list highlights too
        page.wait_for_function(HOVERED, arg="0")
        assert np.abs(panel(page, "features") - expected_features(w, 0)).max() <= 1, "hovered from the list"
        page.mouse.move(5, 5)
        page.wait_for_function(HOVERED, arg="-1")


TOP_NAMES = '.xw-top-occlusion [data-column="class"]'


def test_toggling_in_an_exported_page_shows_each_sets_view(chromium, widget, tmp_path):
    w = widget
    assert 2 <= len(w.features) <= 6, "the export ships every set only up to 6 features"
    path = w.to_html(tmp_path / "occlusion.html")
    with offline_page(chromium, path, ready=READY, viewport=(1400, 1100)) as page:
        page.focus(".xw-occlusion")
        for key, occluded in (("2", [1]), ("1", [0, 1]), ("2", [0])):  # number keys toggle
            page.keyboard.press(key)
            page.wait_for_function("(s) => document.querySelector('canvas.xw-panel[data-role=occluded]')"
                                   ".dataset.occluded === s", arg=json.dumps(occluded, separators=(",", ":")))
            img = w.occluded_image(occluded)
            assert np.abs(panel(page, "occluded") - w._pixels(img).astype(float)).max() <= 1
            probs = features.class_probs(w.model, img[None])[0]
            want = [w.classes[int(k)] for k in probs.topk(5).indices]
            assert page.locator(TOP_NAMES).all_inner_texts() == want
            assert "needs the live kernel" not in page.inner_text(".xw-occlusion")


def test_toggling_in_jupyterlab_updates_top5_and_occluded_image(lab, chromium):
    with live_page(chromium, lab, viewport=(1400, 1100)) as (page, sent):
        lab.open_notebook(page, "occlusion_live.ipynb", [MAKE + "w"])
        page.wait_for_selector(READY, timeout=60_000)
        before = len(sent)
        for k in range(3):  # hovering stays in the browser
            move_to_pixel(page, "features", 40 + 10 * k, 40 + 10 * k)
            page.wait_for_timeout(50)
        page.mouse.move(5, 5)
        page.wait_for_timeout(300)
        assert len(sent) == before, "hovering sent messages to the kernel"

        def check(occluded: list[int]) -> None:
            shown = json.dumps(occluded, separators=(",", ":"))  # as JSON.stringify writes it
            page.wait_for_selector(f"canvas.xw-panel[data-role=occluded][data-occluded='{shown}']", timeout=30_000)
            want = json.loads(lab.run("import json\nprint(json.dumps({'pixels': w._pixels(w.occluded_image()).tolist(),"
                                      " 'top5': [xw.demo.CLASSES[k] for k, _ in w._view['top5']],"
                                      " 'occluded': w.occluded}))"))
            assert want["occluded"] == occluded
            assert np.abs(panel(page, "occluded") - np.asarray(want["pixels"], dtype=float)).max() <= 1
            names = page.locator(TOP_NAMES).all_inner_texts()
            assert names == want["top5"]

        page.click('.xw-feature[data-index="0"]')  # a toggle in the list
        check([0])
        page.focus(".xw-occlusion")
        page.keyboard.press("3")  # a number key
        check([0, 2])
        page.keyboard.press("Escape")
        check([])


SYNTH = '.xw-occlusion canvas.xw-panel[data-role="synth-{role}"]{extra}'


def test_synthesise_button_runs_in_the_kernel_and_the_gallery_draws_its_pixels(lab, chromium):
    setup = MAKE + "w.synthesis_options = {'n': 2, 'iterations': 12, 'seed': 0, 'layer': None}\nw"
    with live_page(chromium, lab, viewport=(1000, 1400)) as (page, _):
        lab.open_notebook(page, "occlusion_synth.ipynb", [setup])
        page.wait_for_selector(READY, timeout=60_000)
        assert page.locator(".xw-synth-gallery canvas").count() == 0
        page.select_option(".xw-occlusion select.xw-synth-feature", index=1)  # feature 2 (value "1")
        page.click(".xw-occlusion button.xw-synthesise")
        page.wait_for_selector(SYNTH.format(role="preimage", extra='[data-index="1"]'), timeout=60_000)
        got = json.loads(lab.run("w.wait(60)\nimport json\nprint(json.dumps({'feature': w.synthesis.feature, "
                                 "'images': xw.wire.decode(w._synthesis['images']).tolist(), "
                                 "'isolated': xw.wire.decode(w._synthesis['isolated']).tolist(), "
                                 "'loss': w._synthesis['loss'], 'top5': w._synthesis['top5']}))"))
        assert got["feature"] == 1
        for s in range(2):
            drawn = np.asarray(page.evaluate(READ_GRID, [SYNTH.format(role="preimage", extra=f'[data-index="{s}"]'),
                                                         128, 128]), dtype=float)
            assert np.abs(drawn - np.asarray(got["images"][s], dtype=float).reshape(-1, 3)).max() <= 1, s
            caption = page.inner_text(f'.xw-synth-card[data-index="{s}"]')
            shown = float(f"{got['loss'][s]:.4g}")  # as fmtNumber writes it
            assert f"loss {shown}" in caption
            lines = page.locator(f'.xw-synth-card[data-index="{s}"] .xw-synth-top li').all_inner_texts()
            assert lines == [f"{CLASSES[c]} {100 * p:.1f}%" for c, p in got["top5"][s]]
        isolated = np.asarray(page.evaluate(READ_GRID, [SYNTH.format(role="isolated", extra=""), 128, 128]),
                              dtype=float)
        assert np.abs(isolated - np.asarray(got["isolated"], dtype=float).reshape(-1, 3)).max() <= 1
        # the pre-images differ: the comparison above could fail
        assert np.abs(np.asarray(got["images"][0], float) - np.asarray(got["images"][1], float)).max() > 20

        # a long one shows its progress and stops on Cancel, keeping the gallery
        lab.run("w.synthesis_options = {'n': 2, 'iterations': 100000, 'seed': 0, 'layer': None}")
        page.select_option(".xw-occlusion select.xw-synth-feature", index=0)
        page.click(".xw-occlusion button.xw-synthesise")
        page.wait_for_selector(".xw-occlusion .xw-progress:not([hidden])", timeout=30_000)
        assert page.is_disabled(".xw-occlusion button.xw-synthesise")
        page.click(".xw-occlusion .xw-progress button.xw-cancel")
        page.wait_for_selector(".xw-occlusion .xw-progress", state="hidden", timeout=30_000)
        page.wait_for_function("() => document.querySelector('.xw-occlusion .xw-message').textContent"
                               ".includes('synthesise cancelled')", timeout=30_000)
        assert lab.run("print(w.synthesis.feature, w.busy)").split() == ["1", "False"]
        assert page.locator(".xw-synth-card canvas").count() == 3  # the isolated image and the two pre-images
