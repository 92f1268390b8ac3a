"""SimilarityOverlay fitted to the width of its output, in exported pages opened in Chromium
at a notebook's default output width (850 px) and a wide one (1400 px): nothing sticks out,
the legend's labels sit on their values, eight images wrap into groups that keep every layer
row with its images, no title is cut, the query mark shows on 1-2 px cells, and the diverging
map draws its neutral colour where the similarity is 0."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets import colormaps

from fit_checks import assert_legends_aligned, legends, overflow
from lab import READ_CELLS, offline_page

VIEW_H = 900
TITLES = ["cross", "star, whose title takes two lines", "triangle", "cross",
          "ring " + "with far too many words for two lines under a panel " * 3, "ring", "ring", "star"]

GEOMETRY = """() => {
  const root = document.querySelector('.xw-similarity');
  const all = (sel) => [...root.querySelectorAll(sel)];
  const box = (e) => { const b = e.getBoundingClientRect(); return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; };
  return {
    layout: JSON.parse(root.dataset.layout),
    details: root.querySelector('.xw-details').textContent,
    header: root.querySelector('.xw-header').textContent,
    titles: all('.xw-title').map((e) => ({image: +e.dataset.image, group: +e.dataset.group, text: e.textContent,
      full: e.title, scrollW: e.scrollWidth, clientW: e.clientWidth, lineH: parseFloat(getComputedStyle(e).lineHeight),
      ...box(e)})),
    panels: all('canvas.xw-panel').map((e) => ({layer: +e.dataset.layer, image: +e.dataset.image, group: +e.dataset.group,
      ...box(e)})),
    labels: all('.xw-rowlabel:not(.xw-tokencaption)').map((e) => ({layer: +e.dataset.layer, group: +e.dataset.group,
      ...box(e)})),
  };
}"""

# Outline-yellow backing pixels of one panel within `radius` px of a cell's centre, and the centre's colour.
MARK = """([layer, image, row, col, h, w, radius]) => {
  const c = document.querySelector(`.xw-similarity canvas.xw-panel[data-layer="${layer}"][data-image="${image}"]`);
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const cx = (col + 0.5) * c.width / w, cy = (row + 0.5) * c.height / h;
  let yellow = 0, outside = 0;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const i = 4 * (y * c.width + x);
    if (!(px[i] > 200 && px[i + 1] > 200 && px[i + 2] < 80)) continue;
    if (Math.abs(x + 0.5 - cx) <= radius && Math.abs(y + 0.5 - cy) <= radius) yellow++; else outside++;
  }
  const i = 4 * (Math.floor(cy) * c.width + Math.floor(cx));
  return {yellow, outside, centre: [px[i], px[i + 1], px[i + 2]], cell: c.width / w};
}"""


@pytest.fixture(scope="module")
def overlay_html(tmp_path_factory):
    model = xw.demo.shapes_model()
    w = xw.SimilarityOverlay(model, xw.demo.shapes_images(8, seed=11), ["relu1", "relu3", "relu4"], titles=TITLES)
    return w, w.to_html(tmp_path_factory.mktemp("layout") / "overlay.html")


@pytest.fixture(params=[850, 1400], ids=["850px", "1400px"])
def overlay_page(request, chromium, overlay_html):
    w, path = overlay_html
    with offline_page(chromium, path, viewport=(1200, VIEW_H), output_width=request.param) as page:
        page.wait_for_selector(".xw-similarity[data-layout]")
        page.mouse.move(1, 1)
        yield request.param, page, w


def test_nothing_overflows_and_the_legend_labels_sit_on_their_values(overlay_page):
    _, page, _ = overlay_page
    assert overflow(page) == []
    assert_legends_aligned(page)
    # the panels use the width: the grid spans at least half of it, and at most all of it
    geo = page.evaluate(GEOMETRY)
    root = page.locator("#xw-root").bounding_box()
    right = max(p["right"] for p in geo["panels"])
    assert root["x"] + root["width"] / 2 < right <= root["x"] + root["width"]


def test_images_wrap_into_groups_that_keep_every_layer_row_with_its_images(overlay_page):
    width, page, w = overlay_page
    geo = page.evaluate(GEOMETRY)
    layout, N, L = geo["layout"], len(TITLES), len(w.rows)
    groups = layout["groups"]
    if width == 850:
        assert groups >= 2 and layout["perRow"] < N, layout
    else:
        assert groups == 1 and layout["perRow"] == N, layout
    assert 96 <= layout["size"] <= w.size
    assert f"{groups} groups" in geo["details"] if groups > 1 else "one row" in geo["details"]
    assert f"panels {layout['size']} px" in geo["details"]

    panels = {(p["layer"], p["image"]): p for p in geo["panels"]}
    assert len(panels) == len(geo["panels"]) == N * L, "one panel per layer and image"
    titles = {t["image"]: t for t in geo["titles"]}
    assert sorted(titles) == list(range(N))
    members = [sorted(n for n, t in titles.items() if t["group"] == g) for g in range(groups)]
    assert sorted(sum(members, [])) == list(range(N)) and all(members)
    previous_bottom = -np.inf
    for g, images in enumerate(members):
        top = min(titles[n]["top"] for n in images)
        assert top >= previous_bottom, f"group {g} starts above the end of group {g - 1}"
        for n in images:
            column = [titles[n]] + [panels[(j, n)] for j in range(L)]
            for above, below in zip(column, column[1:]):  # title, then layer 0, 1, ... of the same image
                assert above["bottom"] <= below["top"] + 0.5 and abs(above["left"] - below["left"]) <= 1, (g, n)
        for j in range(L):
            row = [panels[(j, n)] for n in images]
            assert {p["group"] for p in row} == {g}
            assert max(p["top"] for p in row) - min(p["top"] for p in row) <= 0.5, f"layer {j} of group {g} is not one row"
            label = [lab for lab in geo["labels"] if lab["layer"] == j and lab["group"] == g]
            assert len(label) == 1, f"group {g} needs its own label of layer {j}"
            centre = (label[0]["top"] + label[0]["bottom"]) / 2
            assert row[0]["top"] <= centre <= row[0]["bottom"] and label[0]["right"] <= row[0]["left"]
        previous_bottom = max(panels[(L - 1, n)]["bottom"] for n in images)


def test_no_title_is_cut(overlay_page):
    _, page, _ = overlay_page
    for t in page.evaluate(GEOMETRY)["titles"]:
        full = TITLES[t["image"]]
        assert t["full"] == full
        assert t["scrollW"] <= t["clientW"] + 1, t
        assert t["bottom"] - t["top"] <= 2 * t["lineH"] + 1, f"more than two lines: {t}"
        assert t["text"] == full or (t["text"].endswith("…") and full.startswith(t["text"][:-1].rstrip())), t
    shortened = [t for t in page.evaluate(GEOMETRY)["titles"] if t["text"] != t["full"]]
    assert [t["image"] for t in shortened] == [4], "only the title too long for two lines is shortened"


def test_the_query_mark_shows_on_cells_of_one_or_two_pixels(overlay_page):
    width, page, w = overlay_page
    assert w.grid(1, "relu1") == (128, 128)
    before = page.evaluate(MARK, [0, 1, 64, 40, 128, 128, 14])
    assert 1 <= before["cell"] <= 2, f"relu1 cells are {before['cell']:.2f} px at {width} px"
    page.evaluate("window.xwModel.set('query', {image: 1, layer: 'relu1', row: 64, col: 40})")
    page.wait_for_timeout(200)
    after = page.evaluate(MARK, [0, 1, 64, 40, 128, 128, 14])
    assert after["yellow"] - before["yellow"] >= 24, (before, after)  # a ring, not a dot
    assert after["outside"] <= before["outside"], "the mark stays near its cell"
    assert not (after["centre"][0] > 200 and after["centre"][1] > 200 and after["centre"][2] < 80), \
        "the mark covers the cell it marks"
    page.evaluate("window.xwModel.set('query', null)")


# ------------------------------------------------------------------ diverging map
def zero_model() -> nn.Module:
    """A 1x1 convolution with positive weights and a ReLU: black pixels give zero vectors
    (similarity 0 to everything), coloured ones positive vectors (cosines in (0, 1])."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.rand(4, 3, 1, 1) + 0.1)
    return nn.Sequential(conv, nn.ReLU()).eval()


def zero_images():
    rng = np.random.default_rng(2)
    images = [rng.integers(30, 256, (16, 16, 3), dtype=np.uint8) for _ in range(2)]
    for im in images:
        im[:, :7] = 0  # black: zero activation vectors
    return images


@pytest.fixture(scope="module")
def diverging(tmp_path_factory):
    w = xw.SimilarityOverlay(zero_model(), zero_images(), "1", colormap="diverging", opacity=1.0, size=160)
    assert w.vrange == [0.0, 1.0], "post-ReLU: the range asked for is [0, 1]"
    w.query = {"image": 0, "layer": "1", "row": 5, "col": 12}
    return w, w.to_html(tmp_path_factory.mktemp("diverging") / "diverging.html")


@pytest.mark.parametrize("vrange, shown", [(None, 1.0), ([0, 0.5], 0.5)])
def test_the_diverging_map_is_neutral_where_the_similarity_is_zero(chromium, diverging, vrange, shown):
    w, path = diverging
    sims = w.similarity_map(0, "1", 5, 12).numpy()
    zero = sims == 0
    assert zero[:, :, :7].all() and (sims[:, :, 7:] > 0).all()
    neutral = colormaps.lut("diverging")[128]
    with offline_page(chromium, path, viewport=(1200, VIEW_H), output_width=850) as page:
        if vrange is not None:
            page.evaluate(f"window.xwModel.set('vrange', {json.dumps(vrange)})")
        page.mouse.move(1, 1)
        page.wait_for_timeout(100)
        drawn = page.evaluate(READ_CELLS, [{"0/0": [16, 16], "0/1": [16, 16]}])
        for n in range(2):
            got = np.asarray(drawn[f"0/{n}"], dtype=int).reshape(16, 16, 3)
            want = colormaps.apply(sims[n], "diverging", -shown, shown).astype(int)
            near_query = np.zeros((16, 16), bool)
            if n == 0:
                near_query[5, 12] = True  # its outline runs along the cell border, not its centre
            assert np.abs(got - want)[~near_query].max() <= 1, f"image {n}"
            assert (np.abs(got[zero[n]] - neutral).max(axis=-1) <= 1).all(), "zero is not the neutral colour"
            warm = got[~zero[n]]
            assert (warm[:, 0] > warm[:, 2]).all() and (warm[:, 2] < neutral[2]).all(), \
                "positive similarities take the red half"
        [lg] = legends(page)
        assert (lg["lo"], lg["hi"]) == (-shown, shown)
        assert [t["value"] for t in lg["ticks"]] == [-shown, 0, shown]
        assert_legends_aligned(page)
        caption = page.inner_text(".xw-similarity .xw-legend-caption")
        assert "grey centre = 0" in caption and "orthogonal" in caption
        # auto range: symmetric about 0 too
        page.evaluate("window.xwModel.set('auto_range', true)")
        page.wait_for_timeout(100)
        [lg] = legends(page)
        assert lg["lo"] == -lg["hi"] and lg["hi"] == pytest.approx(float(sims.max()), abs=1e-3)
