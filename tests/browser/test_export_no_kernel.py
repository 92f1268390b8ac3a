"""``to_html`` pages have no kernel: what would wait for one says that it needs the live
notebook kernel, instead of "computing…" or "waiting for the kernel" forever."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

import xai_widgets as xw
from xai_widgets.morph import ConvVAE, SeedCNN

from lab import offline_page

NEEDS = "needs the live notebook kernel"
PENDING = re.compile(r"computing|waiting for the kernel", re.I)


def settle(page, root: str) -> str:
    """The widget's text after a pause long enough for any kernel answer to have arrived."""
    page.wait_for_timeout(700)
    return page.inner_text(root)


def message(page, root: str) -> str:
    return page.inner_text(f"{root} .xw-message")


def test_channel_grid_unit_pane_says_the_back_view_needs_the_kernel(chromium, tmp_path):
    model, images = xw.demo.shapes_model(), xw.demo.shapes_images(2, seed=4)
    w = xw.ChannelGrid(model, images, layer="relu2")  # 32 channels: 6 tiles wide
    w.back_mode = "guided"  # unit 0's guided view is computed now and shipped with the page
    w.to_html(tmp_path / "grid.html")
    root = ".xw-channel-grid"
    ready = f"[data-xw-painted] {root}"
    with offline_page(chromium, tmp_path / "grid.html", ready=ready, viewport=(1400, 1000)) as page:
        text = settle(page, root)
        assert "input · back view: guided (raw) of unit 0's sum over space" in text and not PENDING.search(text)
        # click unit 8 (tile row 1, column 2): its back view was never computed
        box = page.locator(f"{root} canvas.xw-tiles").bounding_box()
        scale = box["width"] / page.evaluate(f"document.querySelector('{root} canvas.xw-tiles').width")
        page.mouse.click(box["x"] + (1 + 2 * 65 + 10) * scale, box["y"] + (1 + 65 + 10) * scale)
        assert "unit 8 " in page.inner_text(f"{root} .xw-readout")
        text = settle(page, root)
        assert f"the guided back view of unit 8's sum over space {NEEDS}" in text
        assert not PENDING.search(text), text
        # the shipped view shows again for unit 0, and only for the mode it was computed in
        page.keyboard.press("ArrowLeft")  # focus is on the grid after the click: unit 7
        page.evaluate("xwModel.set('selected', 0)")
        assert "input · back view: guided (raw) of unit 0's sum over space" in settle(page, root)
        page.select_option(f"{root} select.xw-backmode", "grad/raw")
        assert f"the grad back view of unit 0's sum over space {NEEDS}" in settle(page, root)
        page.select_option(f"{root} select.xw-zoom", "back")
        assert f"unit 0 (its back view {NEEDS})" in page.inner_text(f"{root} .xw-zoomcaption")
        # other kernel work says so too, in the message line; the layer shown does not change
        assert f"activation maximisation {NEEDS}" in text
        page.click(f"{root} button.xw-vis-unit")
        assert f"Activation maximisation {NEEDS}" in message(page, root)
        page.click(f'{root} .xw-layer[data-layer="relu3"]')
        assert f"Showing layer relu3 {NEEDS}" in message(page, root)
        assert page.get_attribute(f'{root} .xw-layer[data-layer="relu2"]', "aria-current") == "true"
        assert not PENDING.search(settle(page, root))
        # any other request to the kernel from a front end: the page itself answers
        page.evaluate("xwModel.send({type: 'scan'})")
        assert f"\u201cscan\u201d {NEEDS}" in message(page, root)


def test_attribution_retargeting_says_it_needs_the_kernel(chromium, tmp_path):
    model = xw.demo.shapes_model()
    x = F.interpolate(xw.demo.to_tensor(xw.demo.shapes_dataset(12, seed=1).images[[0, 5]]), size=32, mode="area")
    w = xw.AttributionExplorer(model, x, methods=["gradient"], classes=xw.demo.CLASSES, size=96)
    root = ".xw-attribution"
    with offline_page(chromium, w.to_html(tmp_path / "attribution.html"), ready=f"[data-xw-painted] {root}") as page:
        row = f'{root} .xw-image-cell[data-image="0"]'
        other = page.locator(f"{row} .xw-class:not(.xw-a)").first
        name = other.locator(".xw-name").inner_text()
        other.click()
        text = settle(page, root)
        assert f"explaining {name} {NEEDS}" in page.inner_text(f"{row} .xw-explains")
        assert not PENDING.search(text), text


def test_path_morph_retargeting_says_it_needs_the_kernel(chromium, tmp_path):
    torch.manual_seed(0)
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    w = xw.PathMorph(SeedCNN().eval(), ConvVAE(latent_dim=16).eval(), x, steps=6,
                     options={"morph": {"max_iter": 10}, "mask": {"iterations": 5}, "candidates": 4})
    root = ".xw-path-morph"
    with offline_page(chromium, w.to_html(tmp_path / "morph.html"), ready=f"[data-xw-painted] {root}",
                      viewport=(1400, 1200)) as page:
        other = page.locator(f"{root} .xw-bars button:not(.xw-self):not(.xw-other)").first
        name = other.inner_text()
        other.click()
        assert f"Morphing toward {name} {NEEDS}" in message(page, root)
        assert not PENDING.search(settle(page, root))


def test_occlusion_requests_say_they_need_the_kernel(chromium, tmp_path):
    w = xw.OcclusionExplorer(xw.demo.shapes_model(), xw.demo.shapes_dataset(2, seed=1).images[0],
                             attribution="grad_x_input", classes=xw.demo.CLASSES)
    root = ".xw-occlusion"
    with offline_page(chromium, w.to_html(tmp_path / "occlusion.html"), ready=f"[data-xw-painted] {root}",
                      viewport=(1400, 1100)) as page:
        page.click(f"{root} button.xw-analyse")
        assert f"Analysing the features {NEEDS}" in message(page, root)
        page.focus(f"{root} input.xw-threshold")
        page.keyboard.press("ArrowRight")
        page.locator(f"{root} input.xw-threshold").dispatch_event("change")
        assert f"Finding features with new settings {NEEDS}" in message(page, root)
        assert float(page.input_value(f"{root} input.xw-threshold")) == pytest.approx(w.threshold)
        page.click(f'{root} button.xw-tab[data-tab="sandbox"]')
        box = page.locator(f'{root} canvas.xw-panel[data-role="paint"]').bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 20, box["y"] + box["height"] / 2 + 10)
        page.mouse.up()
        text = settle(page, root)
        assert f"the prediction for this painting {NEEDS}" in text
        assert not PENDING.search(text), text
