"""ChannelGrid's layout and unit pane in the exported page, at a laptop's notebook output width
(850 px) and a wide one (1400 px): nothing sticks out, the grid and the unit pane fit on one
screen side by side, the legend's labels sit on their values, the tile badges are exactly the
scanned units that pass the detector rule, in their concept's colour, and each pane states the unit objective it used."""
from __future__ import annotations

import numpy as np
import pytest

import xai_widgets as xw
from xai_widgets.widgets.channel_grid_payload import CONCEPT_COLOURS, OTHER_CONCEPTS, concept_colours

from fit_checks import assert_legends_aligned, one_screen, overflow
from lab import offline_page
from test_channel_grid import READY, read_canvas

GRID, PANE = ".xw-channel-grid .xw-gridwrap", ".xw-channel-grid .xw-side"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """relu4 (128 units) of the demo model scanned over 40 images with concept masks."""
    data = xw.demo.shapes_dataset(40, seed=7, masks=True)
    w = xw.ChannelGrid(xw.demo.shapes_model(), xw.demo.shapes_images(3, seed=4), layer="relu4",
                       dataset=data, concepts=xw.demo.class_concepts(data))
    w.scan(k=4, cache=False)
    w.back_mode = "grad"
    path = tmp_path_factory.mktemp("fit") / "grid.html"
    w.to_html(path)
    return w, path


@pytest.mark.parametrize("width", [850, 1400])
def test_grid_and_unit_pane_side_by_side_on_one_screen(chromium, scanned, width):
    _, path = scanned
    with offline_page(chromium, path, ready=READY, viewport=(width, 900), output_width=width) as page:
        assert overflow(page) == []
        assert one_screen(page, GRID, PANE)
        grid, pane = (page.locator(s).bounding_box() for s in (GRID, PANE))
        assert pane["x"] >= grid["x"] + grid["width"], "the unit pane is not beside the grid"
        layout = page.get_attribute(".xw-channel-grid", "data-layout")
        assert layout == ("select-grid-pane" if width == 850 else "list-grid-pane")
        assert page.locator(".xw-channel-grid .xw-layers").is_visible() == (width == 1400)
        assert page.locator(".xw-channel-grid .xw-layer-select").is_visible() == (width == 850)
        assert "side by side" in page.locator(".xw-channel-grid .xw-detail-layout").text_content()
        assert_legends_aligned(page)
        # what only a developer needs (the payload) is in the closed details element, not the header
        assert "float16" not in page.locator(".xw-channel-grid .xw-header").first.inner_text()
        assert "float16" in page.locator(".xw-channel-grid .xw-detail-payload").text_content()


def _corner_pixels(page, n):
    """The colour just inside each tile's top-right corner (where its badge goes), and whether
    the tile's centre is dimmed, read from the marks canvas the browser drew."""
    marks = read_canvas(page, ".xw-channel-grid canvas.xw-marks")
    box = page.locator(".xw-channel-grid canvas.xw-marks").bounding_box()
    dpr = marks.shape[1] / box["width"]
    tiles = page.locator(".xw-channel-grid canvas.xw-tiles")
    cols, th = int(tiles.get_attribute("data-cols")), int(tiles.get_attribute("data-tile-h"))
    scale = box["width"] / page.evaluate("document.querySelector('.xw-channel-grid canvas.xw-tiles').width")
    corners, dimmed = [], []
    for c in range(n):
        r, q = divmod(c, cols)
        x = (1 + (q + 1) * (th + 1) - 1) * scale - 2
        y = (1 + r * (th + 1)) * scale + 1
        corners.append("#%02x%02x%02x" % tuple(marks[int(y * dpr), int(x * dpr), :3]))
        cx, cy = (1 + q * (th + 1) + th / 2) * scale, (1 + r * (th + 1) + th / 2) * scale
        dimmed.append(marks[int(cy * dpr), int(cx * dpr), 3] > 0)
    return corners, np.array(dimmed)


def test_badges_mark_exactly_the_units_that_pass_the_detector_rule_in_their_concepts_colour(chromium, scanned):
    w, path = scanned
    dis, stats = w.dissections["relu4"], w.tops["relu4"].stats
    detectors = (dis.iou.max(axis=1) > 0.04) & ~stats.dead & ~stats.constant  # Bau et al.'s rule, here
    best = [dis.concepts[j] for j in dis.iou.argmax(axis=1)]
    colours = concept_colours([b if d else "" for b, d in zip(best, detectors)])
    assert len(set(colours.values())) == len(colours) == len({b for b, d in zip(best, detectors) if d})
    with offline_page(chromium, path, ready=READY, viewport=(850, 900), output_width=850) as page:
        corners, dimmed = _corner_pixels(page, len(detectors))
        for c in range(len(detectors)):
            if detectors[c]:
                assert corners[c] == colours[best[c]], f"unit {c}: {corners[c]}, not {best[c]}'s colour"
            else:
                assert corners[c] not in colours.values(), f"unit {c} is not a detector but wears a concept's colour"
        assert not dimmed.any()
        key = page.locator(".xw-channel-grid .xw-badge-key")
        text = key.inner_text()
        assert "IoU > 0.04" in text and f"{int(detectors.sum())} of 128 units" in text and "Bau et al. 2017" in text
        name = max(colours, key=lambda n: sum(b == n and d for b, d in zip(best, detectors)))
        count = sum(b == name and d for b, d in zip(best, detectors))
        assert f"{name} {count}" in text
        key.locator(".xw-badge", has_text=f"{name} {count}").hover()  # the tiles it names stay, the rest dim
        page.wait_for_timeout(100)
        _, dimmed = _corner_pixels(page, len(detectors))
        np.testing.assert_array_equal(~dimmed, np.array([b == name and d for b, d in zip(best, detectors)]))


def test_concept_colours_rank_concepts_by_detectors_and_pool_the_rest_in_grey():
    labels = ["a"] * 3 + ["b"] * 5 + [""] * 4 + ["c"]
    assert list(concept_colours(labels)) == ["b", "a", "c"]  # most detectors first
    assert list(concept_colours(labels).values()) == CONCEPT_COLOURS[:3]
    many = [f"k{i}" for i in range(len(CONCEPT_COLOURS) + 2) for _ in range(20 - i)]
    colours = concept_colours(many)
    assert [colours[f"k{i}"] for i in range(len(CONCEPT_COLOURS) - 1)] == CONCEPT_COLOURS[:-1]
    assert {colours[f"k{i}"] for i in range(len(CONCEPT_COLOURS) - 1, len(CONCEPT_COLOURS) + 2)} == {OTHER_CONCEPTS}


@pytest.mark.parametrize("objective, back, scan, vis", [
    ("default", "sum over space", "spatial max", "spatial mean"),
    ("max", "spatial max", "spatial max", "spatial max"),
])
def test_each_pane_states_the_unit_objective(chromium, scanned, tmp_path, objective, back, scan, vis):
    w, _ = scanned
    w.unit_objective = objective  # recomputes the back view; the scan above ranked by the max
    try:
        w.to_html(tmp_path / "objective.html")
    finally:
        w.unit_objective = "default"
    with offline_page(chromium, tmp_path / "objective.html", ready=READY, viewport=(850, 900), output_width=850) as page:
        text = lambda sel: page.locator(f".xw-channel-grid {sel}").inner_text()  # noqa: E731
        assert f"unit 0's {back}" in text(".xw-side > .xw-sub >> nth=1")
        assert page.locator(".xw-channel-grid canvas.xw-back").count() == 1  # shipped, not "computing"
        assert f"by its {scan}" in text(".xw-patchcaption")
        assert f"maximising its {vis}" in text(".xw-viscaption") and "needs the live notebook kernel" in text(".xw-viscaption")
        # choosing another objective offline: the back view of it needs the kernel, and says so
        page.select_option(".xw-channel-grid .xw-objective", "mean")
        assert "needs the live notebook kernel" in text(".xw-side > .xw-sub >> nth=1")
        assert "scan again to rank by its spatial mean" in text(".xw-patchcaption")
