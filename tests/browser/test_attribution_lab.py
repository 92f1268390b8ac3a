"""AttributionExplorer in Chromium: heatmap pixels against ``w.pixels`` (the Python reference),
slider scrubbing that redraws without the kernel, and a top-5 click that re-targets the image."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch.nn.functional as F

import xai_widgets as xw

from lab import live_page, offline_page

READY = "[data-xw-painted] .xw-attribution"
IG = {"steps": 8, "positions": 4}
SETUP = (
    "import json, torch, torch.nn.functional as F\nimport xai_widgets as xw\n"
    "model = xw.demo.shapes_model()\n"
    "x = F.interpolate(xw.demo.to_tensor(xw.demo.shapes_dataset(12, seed=1).images[[0, 5]]), size=40, mode='area')\n"
    "w = xw.AttributionExplorer(model, x, methods=['gradient', 'integrated_gradients'], classes=xw.demo.CLASSES,\n"
    f"                           options={{'integrated_gradients': {IG!r}}}, size=120)\nw"
)
# The RGBA bytes of one cell's canvas, with the slider position it shows.
READ = """
([image, method]) => {
  const c = document.querySelector(`.xw-attribution canvas.xw-panel[data-image="${image}"][data-method="${method}"]`);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  return {w: c.width, h: c.height, position: c.dataset.position ?? null, px: Array.from(d)};
}
"""


def drawn(page, image: int, method: str) -> tuple[np.ndarray, str | None]:
    r = page.evaluate(READ, [image, method])
    return np.asarray(r["px"], dtype=np.int64).reshape(r["h"], r["w"], 4), r["position"]


def python_pixels(lab, call: str) -> np.ndarray:
    return np.asarray(json.loads(lab.run(f"print(json.dumps({call}.tolist()))")), dtype=np.int64)


def test_pixels_sliders_and_retargeting_in_jupyterlab(lab, chromium):
    with live_page(chromium, lab) as (page, sent):
        lab.open_notebook(page, "attribution_live.ipynb", [SETUP])
        page.wait_for_selector(READY, timeout=60_000)
        # 1. every heatmap cell is byte for byte what Python says the browser draws
        for image in (0, 1):
            for method in ("gradient", "integrated_gradients"):
                px, _ = drawn(page, image, method)
                ref = python_pixels(lab, f"w.pixels({image}, {method!r})")
                assert px.shape == ref.shape == (40, 40, 4)
                assert np.abs(px - ref).max() <= 1, (image, method)
        # 2. scrubbing IG's alpha: each drawn position is Python's map there, and nothing is sent
        refs = [python_pixels(lab, f"w.pixels(0, 'integrated_gradients', {p})") for p in range(IG["positions"])]
        assert not np.array_equal(refs[0], refs[-1])
        slider = page.locator('.xw-attribution input.xw-slider[data-method="integrated_gradients"][data-image="0"]')
        box = slider.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] - 3, y)
        page.mouse.down()
        page.wait_for_timeout(400)
        before = len(sent)
        seen = set()
        for frac in (0.7, 0.45, 0.2, 0.02):
            page.mouse.move(box["x"] + frac * box["width"], y, steps=3)
            page.wait_for_timeout(120)
            px, pos = drawn(page, 0, "integrated_gradients")
            assert np.abs(px - refs[int(pos)]).max() <= 1, f"position {pos}"
            seen.add(int(pos))
        during = len(sent) - before
        image_shown = page.get_attribute('.xw-attribution canvas.xw-image[data-image="0"]', "data-showing")
        page.mouse.up()
        page.wait_for_timeout(800)
        assert during == 0, f"scrubbing sent {during} websocket frames"
        assert len(seen) >= 3 and 0 in seen
        assert image_shown == "integrated_gradients"  # the interpolated image while scrubbing
        assert lab.run("print(w.positions['integrated_gradients'][0])").strip() == "0"  # told on release
        # the keyboard in JupyterLab: from a map down to its slider; arrows scrub it and tell the kernel
        page.focus('.xw-attribution canvas.xw-panel[data-image="0"][data-method="integrated_gradients"]')
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.dataset.method") == "integrated_gradients"
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(600)
        px, pos = drawn(page, 0, "integrated_gradients")
        assert pos == "2" and np.abs(px - refs[2]).max() <= 1
        assert lab.run("print(w.positions['integrated_gradients'][0])").strip() == "2"
        # 3. clicking another class in the top-5 re-targets the image; the maps redraw
        old = json.loads(lab.run("print(json.dumps(w.targets))"))
        other = page.locator('.xw-attribution button.xw-class[data-image="0"]:not(.xw-a)').first
        k = int(other.get_attribute("data-class"))
        before_px, _ = drawn(page, 0, "gradient")
        other.click()
        page.wait_for_function("() => !document.querySelector('.xw-attribution .xw-pending')", timeout=60_000)
        page.wait_for_timeout(300)
        assert json.loads(lab.run("w.wait(60); print(json.dumps(w.targets))")) == [k, old[1]]
        after, _ = drawn(page, 0, "gradient")
        assert not np.array_equal(after, before_px)
        assert np.abs(after - python_pixels(lab, "w.pixels(0, 'gradient')")).max() <= 1
        a_button = page.locator('.xw-attribution button.xw-class.xw-a[data-image="0"]')
        assert a_button.get_attribute("data-class") == str(k)
        # 4. Shift-click asks for A vs B
        b = page.locator('.xw-attribution button.xw-class[data-image="1"]:not(.xw-a)').first
        kb = int(b.get_attribute("data-class"))
        b.click(modifiers=["Shift"])
        page.wait_for_function("() => !document.querySelector('.xw-attribution .xw-pending')", timeout=60_000)
        assert json.loads(lab.run("w.wait(60); print(json.dumps(w.contrasts))")) == [None, kb]
        assert " vs " in page.locator('.xw-attribution .xw-image-cell[data-image="1"] .xw-explains').inner_text()
        assert np.abs(drawn(page, 1, "gradient")[0] - python_pixels(lab, "w.pixels(1, 'gradient')")).max() <= 1


@pytest.fixture(scope="module")
def widget():
    model = xw.demo.shapes_model()
    x = F.interpolate(xw.demo.to_tensor(xw.demo.shapes_dataset(12, seed=1).images[[0, 5]]), size=40, mode="area")
    return xw.AttributionExplorer(model, x, methods=["gradient", "integrated_gradients"], classes=xw.demo.CLASSES,
                                  options={"integrated_gradients": IG}, size=120)


def test_exported_page_draws_views_and_keys_offline(chromium, widget, tmp_path):
    w = widget
    with offline_page(chromium, w.to_html(tmp_path / "attribution.html"), ready=READY) as page:
        for method in ("gradient", "integrated_gradients"):
            assert np.abs(drawn(page, 1, method)[0] - w.pixels(1, method)).max() <= 1
        page.select_option(".xw-attribution select.xw-view", "side")
        assert np.abs(drawn(page, 0, "gradient")[0] - w.pixels(0, "gradient", view="side")).max() <= 1
        page.select_option(".xw-attribution select.xw-view", "overlay")
        # the keyboard: a map cell, down to its slider, left arrows scrub it
        page.focus('.xw-attribution canvas.xw-panel[data-image="0"][data-method="gradient"]')
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.dataset.method") == "integrated_gradients"
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.classList.contains('xw-slider')")
        for _ in range(2):
            page.keyboard.press("ArrowLeft")
        page.wait_for_timeout(200)
        px, pos = drawn(page, 0, "integrated_gradients")
        assert pos == str(IG["positions"] - 3)
        assert np.abs(px - w.pixels(0, "integrated_gradients", int(pos))).max() <= 1
        # the hover readout names the value under the pointer
        box = page.locator('.xw-attribution canvas.xw-panel[data-image="1"][data-method="gradient"]').bounding_box()
        page.mouse.move(box["x"] + box["width"] * (10.5 / 40), box["y"] + box["height"] * (20.5 / 40))
        page.wait_for_timeout(300)
        probe = json.loads(page.get_attribute(".xw-attribution", "data-probe"))
        assert (probe["image"], probe["row"], probe["col"]) == (1, 20, 10)
        expected = float(w.shipped_values(1, "gradient")[20, 10]) * w.scale("gradient")
        assert probe["value"] == pytest.approx(expected, rel=1e-5, abs=1e-9)
        assert "row 20, col 10" in page.locator(".xw-attribution .xw-readout").inner_text()


EP = {"iterations": 4, "areas": (0.1, 0.2, 0.4), "step": 4, "sigma": 4.0, "max_blur": 4.0}


def test_extremal_area_slider_scrubs_every_area_without_a_kernel(chromium, tmp_path):
    model = xw.demo.shapes_model()
    x = F.interpolate(xw.demo.to_tensor(xw.demo.shapes_dataset(12, seed=1).images[[5]]), size=40, mode="area")
    w = xw.AttributionExplorer(model, x, methods=["extremal_perturbation"], classes=xw.demo.CLASSES,
                               options={"extremal_perturbation": EP}, size=120)
    a = w.attribution("extremal_perturbation", 0)
    with offline_page(chromium, w.to_html(tmp_path / "extremal.html"), ready=READY) as page:
        slider = page.locator('.xw-attribution input.xw-slider[data-method="extremal_perturbation"][data-image="0"]')
        slider.focus()
        page.keyboard.press("Home")
        for p, area in enumerate(EP["areas"]):
            if p:
                page.keyboard.press("ArrowRight")
            page.wait_for_function("(p) => document.querySelector('.xw-attribution canvas.xw-panel"
                                   "[data-method=extremal_perturbation]').dataset.position === p", arg=str(p))
            px, _ = drawn(page, 0, "extremal_perturbation")
            assert np.abs(px - w.pixels(0, "extremal_perturbation", p)).max() <= 1, f"area {area}"
            ratio = float(a.series.scores[0, p] / a.info["full_score"][0])
            caption = page.locator(".xw-attribution .xw-slider-caption").inner_text()
            assert f"area a = {area:g}" in caption and f"Φ(m⊗x)/Φ(x) = {ratio:.2f}" in caption
            shows = page.get_attribute('.xw-attribution canvas.xw-image[data-image="0"]', "data-showing")
            assert shows == "extremal_perturbation"  # the perturbed image m ⊗ x while the slider is active
        masks = [w.pixels(0, "extremal_perturbation", p) for p in range(len(EP["areas"]))]
        assert np.abs(masks[0].astype(int) - masks[-1]).max() > 20, "the areas' maps differ, so the check can fail"
