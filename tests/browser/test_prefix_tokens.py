"""Prefix tokens (a ViT's class token) in a real JupyterLab: the chips under a token row of
SimilarityOverlay against ``token_map`` / ``token_scores``, the token query's round trip, and
ChannelGrid's class token line against ``w.prefix``.

A tiny random-init torchvision ViT (32 x 32 input, 8 x 8 patches: a 4 x 4 grid of 32 channels,
one class token) keeps the kernel quick; one notebook serves the whole module.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from xai_widgets import colormaps

from lab import PAINTED, READ_CELLS, live_page

pytestmark = pytest.mark.browser

LAYER = "encoder.layers.encoder_layer_1"  # tokens: class token, then the 4 x 4 patches
SETUP = f"""
import json, torch
import xai_widgets as xw
from torchvision.models.vision_transformer import VisionTransformer
torch.manual_seed(0)
vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64).eval()
images = torch.rand(3, 3, 32, 32)
L = {LAYER!r}
w = xw.SimilarityOverlay(vit, images, [L, "conv_proj"], size=192, opacity=1.0)
w
"""
GRID_SETUP = """
g = xw.ChannelGrid(vit, images, layer=L)
g.image, g.selected = 1, 5
g
"""
# the computed fill of every chip, "layer/image/token" -> [r, g, b] ([] while unfilled)
READ_CHIPS = """
() => Object.fromEntries([...document.querySelectorAll('.xw-similarity .xw-token')].map((c) => [
  `${c.dataset.layer}/${c.dataset.image}/${c.dataset.token}`,
  c.querySelector('.xw-chip').style.backgroundColor ? getComputedStyle(c.querySelector('.xw-chip')).backgroundColor
    .match(/\\d+/g).map(Number) : [],
]))
"""


@pytest.fixture(scope="module")
def view(lab, chromium):
    """The notebook open in one page; the panels' grids, the colour scale and the plain
    (unshaded) panels, read before any query."""
    with live_page(chromium, lab, viewport=(1500, 1400)) as (page, _):
        lab.open_notebook(page, "prefix_tokens.ipynb", [SETUP, GRID_SETUP])
        page.wait_for_selector(PAINTED, timeout=30_000)
        page.wait_for_selector("[data-xw-painted] .xw-channel-grid", timeout=30_000)
        info = json.loads(lab.run("print(json.dumps({'grids': {f'{k}/{n}': w.grid(n, name) "
                                  "for k, name in enumerate(w.rows) for n in range(3)}, "
                                  "'colormap': w.colormap, 'vrange': w.vrange, 'names': w.prefix_names(L)}))"))
        assert info["names"] == ["class"]
        page.mouse.move(3, 3)
        plain = page.evaluate(READ_CELLS, [info["grids"]])
        yield page, info, plain


def chip(page, image: int, token: int = 0, layer: int = 0):
    return page.locator(f'.xw-similarity .xw-token[data-layer="{layer}"][data-image="{image}"][data-token="{token}"]')


def assert_colours(drawn, values, info, what: str) -> None:
    """Each drawn colour is the colour of its value; a value on a LUT bin edge may take the
    bin on either side (the browser's float64 dot products against Python's float32 ones);
    1 of canvas rounding."""
    lo, hi = info["vrange"]
    x = np.clip((np.asarray(values, float).ravel() - lo) / (hi - lo), 0, 1) * 255 + 0.5
    idx = np.floor(x).astype(int)
    other = np.clip(np.where(x - idx < 0.5, idx - 1, idx + 1), 0, 255)
    table = colormaps.lut(info["colormap"]).astype(int)
    got = np.asarray(drawn, int).reshape(len(idx), 3)
    assert (table[idx] == colormaps.apply(np.asarray(values, float).ravel(), info["colormap"], lo, hi)).all()
    ok = np.abs(got - table[idx]).max(axis=1) <= 1
    on_edge = np.abs(x - np.round(x)) < 1e-3
    ok |= on_edge & (np.abs(got - table[other]).max(axis=1) <= 1)
    bad = np.flatnonzero(~ok)
    assert not len(bad), f"{what}: {len(bad)} of {len(ok)} differ, first at {bad[0]}: drawn {got[bad[0]]}, expected {table[idx[bad[0]]]}"


def assert_token_row(page, lab, info, plain, image: int, token: int, what: str) -> None:
    """The token row is shaded as ``token_map`` says, the other row shows its plain images."""
    drawn = page.evaluate(READ_CELLS, [info["grids"]])
    maps = json.loads(lab.run(f"print(json.dumps(w.token_map({image}, L, {token}).tolist()))"))
    for n in range(3):
        assert_colours(drawn[f"0/{n}"], maps[n], info, f"{what}: token row, image {n}")
        assert drawn[f"1/{n}"] == plain[f"1/{n}"], f"{what}: conv_proj image {n} has an overlay"
    assert drawn["0/0"] != plain["0/0"]


def test_hovering_the_class_token_shades_its_row_as_token_map_says(view, lab):
    page, info, plain = view
    assert page.locator(".xw-similarity .xw-token").count() == 3  # one class token chip per image, none for conv_proj
    assert chip(page, 1).inner_text() == "cls" and "class token" in chip(page, 1).get_attribute("title")
    assert all(v == [] for v in page.evaluate(READ_CHIPS).values()), "chips are filled with no query"
    chip(page, 1).hover()
    page.wait_for_timeout(300)
    assert_token_row(page, lab, info, plain, 1, 0, "hovered class token of image 1")
    assert "xw-query" in chip(page, 1).get_attribute("class")
    assert "class token of image 1 · layer " + LAYER in page.locator(".xw-similarity .xw-readout").inner_text()
    page.mouse.move(3, 3)
    page.wait_for_timeout(300)
    assert page.evaluate(READ_CELLS, [info["grids"]]) == plain, "leaving the chip keeps an overlay"


def test_hovering_a_patch_fills_the_chips_as_token_scores_says(view, lab):
    page, info, _ = view
    box = page.locator('.xw-similarity canvas.xw-panel[data-layer="0"][data-image="2"]').bounding_box()
    h, w = info["grids"]["0/2"]
    patch = (box["x"] + 2.5 * box["width"] / w, box["y"] + 1.5 * box["height"] / h)  # cell (1, 2)
    page.mouse.move(*patch)
    page.wait_for_timeout(300)
    scores = json.loads(lab.run("print(json.dumps(w.token_scores(2, L, 1, 2).tolist()))"))  # N x P
    chips = page.evaluate(READ_CHIPS)
    assert_colours([chips[f"0/{n}/0"] for n in range(3)], [s[0] for s in scores], info, "chips of patch (1, 2)")
    # pinned, the patch keeps the chips' colours; the pointer on a chip reads its value
    page.mouse.click(*patch)
    page.wait_for_timeout(500)
    chip(page, 0).hover()
    page.wait_for_timeout(300)
    assert page.evaluate(READ_CHIPS) == chips
    readout = page.locator(".xw-similarity .xw-readout").inner_text()
    assert f"pointer: class token of image 0 · layer {LAYER} · similarity {scores[0][0]:.3f}" in readout
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    assert lab.run("print(w.query)").strip() == "None"
    page.mouse.move(3, 3)


def test_click_pins_the_token_query_in_python_and_python_pins_it_in_the_view(view, lab):
    page, info, plain = view
    chip(page, 2).click()
    page.wait_for_timeout(500)
    assert json.loads(lab.run("print(json.dumps(w.query))")) == {"image": 2, "layer": LAYER, "token": 0}
    # pinned: the pointer elsewhere leaves the token's overlay and reads the value under it
    box = page.locator('.xw-similarity canvas.xw-panel[data-layer="0"][data-image="0"]').bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + 5)  # cell (0, 0) of image 0
    page.wait_for_timeout(300)
    assert_token_row(page, lab, info, plain, 2, 0, "pinned class token of image 2")
    assert chip(page, 2).get_attribute("aria-pressed") == "true"
    readout = page.locator(".xw-similarity .xw-readout").inner_text()
    value = float(lab.run("print(float(w.token_map(2, L, 0)[0, 0, 0]))"))
    assert f"pinned: class token of image 2 · layer {LAYER}" in readout and f"{value:.3f}" in readout
    chip(page, 2).click()  # click again: unpins
    page.wait_for_timeout(500)
    assert lab.run("print(w.query)").strip() == "None"
    # from Python
    page.mouse.move(3, 3)
    lab.run("w.query = {'image': 0, 'layer': L, 'token': 0}")
    page.wait_for_timeout(600)
    assert_token_row(page, lab, info, plain, 0, 0, "class token of image 0 pinned from Python")
    assert "xw-query" in chip(page, 0).get_attribute("class")
    lab.run("w.query = None")
    page.wait_for_timeout(400)
    assert page.evaluate(READ_CELLS, [info["grids"]]) == plain


def test_keyboard_focus_queries_a_chip_enter_pins_escape_unpins(view, lab):
    page, info, plain = view
    page.mouse.move(3, 3)
    chip(page, 1).focus()
    page.wait_for_timeout(300)
    assert_token_row(page, lab, info, plain, 1, 0, "focused class token of image 1")
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    assert json.loads(lab.run("print(json.dumps(w.query))")) == {"image": 1, "layer": LAYER, "token": 0}
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    assert lab.run("print(w.query)").strip() == "None"
    # arrow keys on the grid start from a cell of the pinned token's panel
    lab.run("w.query = {'image': 2, 'layer': L, 'token': 0}")
    page.wait_for_timeout(400)
    page.locator(".xw-similarity .xw-grid").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(500)
    assert json.loads(lab.run("print(json.dumps(w.query))")) == {"image": 2, "layer": LAYER, "row": 0, "col": 1}
    lab.run("w.query = None")


def shown_class_token(page) -> float:
    text = page.locator(".xw-channel-grid .xw-prefix").inner_text()
    match = re.fullmatch(r"class token: (-?\d+\.\d{3})", text.strip())
    assert match, f"the prefix line reads {text!r}"
    return float(match.group(1))


@pytest.mark.parametrize("image, channel", [(1, 5), (2, 17)])
def test_channel_grid_shows_the_class_token_value_of_the_selected_unit(view, lab, image, channel):
    page, _, _ = view
    lab.run(f"g.image, g.selected = {image}, {channel}")
    page.wait_for_timeout(400)
    value = float(lab.run(f"print(float(g.prefix[L][1][{image}, 0, {channel}]))"))
    assert json.loads(lab.run("print(json.dumps(g.prefix[L][0]))")) == ["class"]
    # the browser shows the shipped float16 value to 3 decimals
    shipped = float(np.float16(value))
    assert shown_class_token(page) == pytest.approx(shipped, abs=5e-4 + 1e-9)
    assert shown_class_token(page) == pytest.approx(value, abs=5e-4 + abs(value) * 2.0 ** -11)
