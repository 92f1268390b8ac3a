"""The NMF factor view of SimilarityOverlay: the tint Chromium draws against ``w.factors``.

Most checks run on ``to_html`` pages (no kernel); one test drives the live widget in
JupyterLab, where the chips talk to Python through the real comm.

Expected pixels (see js/lib/factors.js): in every panel of the factor row, each cell is
``round(base * (1 - a') + colour * a')`` with ``a' = round(s * 0.8 * 255) / 255``, where
``s`` is the strength of the dominant factor (or of the focused one) and ``colour`` its
colour; the similarity overlay is then composited on top with its own opacity. Strengths are
``factor_strengths(w.factors(row, k))`` (each group over its maximum), which ``_factors``
ships as uint8 (within 0.5 / 255); the expected pixels use the shipped numbers, so that a
near tie between two groups cannot flip the dominant colour.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import colormaps, wire
from xai_widgets.widgets.similarity import factor_strengths

from lab import PAINTED, READ_CELLS, live_page

ROW, K, OPACITY = "relu4", 3, 0.5



@pytest.fixture(scope="module")
def widget():
    model = xw.demo.shapes_model()
    images = xw.demo.shapes_images(3, seed=5)
    return xw.SimilarityOverlay(model, images, ["relu3", ROW], size=192, opacity=OPACITY)


def grids_of(w) -> dict:
    return {f"{j}/{n}": list(w.grid(n, name)) for j, name in enumerate(w.rows) for n in range(len(w.images))}


def open_export(chromium, w, path):
    """A page showing ``w.to_html(path)``, painted, with the pointer away from the panels."""
    w.to_html(path)
    context = chromium.new_context(offline=True, viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector(PAINTED, timeout=20_000)
    page.mouse.move(1, 1)
    return context, page, errors


def read(page, grids) -> dict:
    return {key: np.asarray(rgb, dtype=int) for key, rgb in page.evaluate(READ_CELLS, [grids]).items()}


def tinted(base: np.ndarray, strengths: np.ndarray, colors: np.ndarray, focus: int) -> np.ndarray:
    """The factor tint over ``base`` (cells x 3): ``strengths`` is k x cells."""
    s = strengths.astype(np.float64)
    f = s.argmax(axis=0) if focus < 0 else np.full(s.shape[1], focus)  # argmax: ties to the lowest index
    a = np.floor(np.clip(s[f, np.arange(s.shape[1])], 0, 1) * 0.8 * 255 + 0.5)[:, None] / 255
    return np.floor(base * (1 - a) + colors[f] * a + 0.5)


def assert_close(drawn: np.ndarray, expected: np.ndarray, what: str, tol: int = 2) -> None:
    diff = np.abs(drawn - expected).max(axis=1)
    bad = np.flatnonzero(diff > tol)
    assert not len(bad), (f"{what}: {len(bad)} of {len(diff)} cells differ by more than {tol}, first at "
                          f"{bad[0]}: drawn {drawn[bad[0]]}, expected {expected[bad[0]]}")


@pytest.fixture(scope="module")
def factor_pages(chromium, widget, tmp_path_factory):
    """Base pixels (no factors), then ``show_factors`` and a page of the result."""
    w = widget
    tmp = tmp_path_factory.mktemp("factors")
    w.show_factors(None)
    grids = grids_of(w)
    context, page, errors = open_export(chromium, w, tmp / "plain.html")
    base = read(page, grids)
    assert page.locator(".xw-factor-chip").count() == 0 and page.locator(".xw-factors").is_hidden()
    context.close()
    assert not errors, errors

    result = w.show_factors(ROW, k=K)
    context, page, errors = open_export(chromium, w, tmp / "factors.html")
    yield w, result, page, grids, base
    context.close()
    assert not errors, errors


def test_factors_api_matches_the_shipped_maps(factor_pages):
    w, result, _, _, _ = factor_pages
    assert result.maps.shape == (3, K, *w.grid(0, ROW))
    assert torch.equal(w.factors(ROW, K).maps, result.maps)
    maps = factor_strengths(result).cpu().numpy()
    assert maps.min() >= 0 and maps.max() <= 1
    assert np.allclose(maps.max(axis=(0, 2, 3)), 1.0), "each factor is normalised to max 1 over all images"
    shown = np.stack([wire.decode(p) for p in w._factors["maps"]]).transpose(0, 3, 1, 2)
    assert np.abs(shown - maps).max() <= 0.5 / 255 + 1e-6
    assert w._factors["layer"] == ROW and w._factors["k"] == K and len(w._factors["colors"]) == K


def expected_tint(w, base: dict, focus: int) -> dict:
    """Expected pixels of every panel of the factor row, from the maps the page decodes."""
    j = w.rows.index(ROW)
    colors = np.asarray(w._factors["colors"], dtype=np.float64)
    out = {}
    for n, payload in enumerate(w._factors["maps"]):
        strengths = wire.decode(payload).reshape(-1, K).T  # k x cells, cells in row-major order
        out[f"{j}/{n}"] = tinted(base[f"{j}/{n}"], strengths, colors, focus)
    return out


def test_every_panel_of_the_row_is_tinted_by_its_dominant_factor(factor_pages):
    w, _, page, grids, base = factor_pages
    drawn = read(page, grids)
    expected = expected_tint(w, base, -1)
    for key, colours in expected.items():
        assert_close(drawn[key], colours, f"panel {key}, all groups")
    assert max(np.abs(drawn[k] - base[k]).max() for k in expected) > 60, "the tint should be visible"
    other = f"{w.rows.index('relu3')}/0"
    assert np.array_equal(drawn[other], base[other]), "other rows are not tinted"


def test_legend_chips_focus_one_group_and_toggle_back(factor_pages):
    w, _, page, grids, base = factor_pages
    bar = page.locator(".xw-similarity .xw-factors")
    assert bar.is_visible() and f"NMF groups of {ROW}" in bar.inner_text()
    chips = page.locator(".xw-factor-chip")
    assert chips.count() == K
    assert [chips.nth(f).inner_text().strip() for f in range(K)] == w._factors["labels"]
    assert chips.nth(0).evaluate("c => c.tagName") == "BUTTON"
    assert page.locator('.xw-factor-chip[aria-pressed="true"]').count() == 0

    chips.nth(1).click()
    assert page.evaluate("window.xwModel.get('factor_focus')") == 1
    assert chips.nth(1).get_attribute("aria-pressed") == "true"
    assert chips.nth(0).get_attribute("aria-pressed") == "false"
    page.mouse.move(1, 1)
    drawn = read(page, grids)
    for key, colours in expected_tint(w, base, 1).items():
        assert_close(drawn[key], colours, f"panel {key}, group 1 alone")

    chips.nth(1).click()  # the focused chip again: every group
    assert page.evaluate("window.xwModel.get('factor_focus')") == -1
    assert page.locator('.xw-factor-chip[aria-pressed="true"]').count() == 0

    chips.nth(2).focus()  # chips are buttons: the keyboard works
    page.keyboard.press("Enter")
    assert page.evaluate("window.xwModel.get('factor_focus')") == 2
    page.mouse.move(1, 1)
    drawn = read(page, grids)
    for key, colours in expected_tint(w, base, 2).items():
        assert_close(drawn[key], colours, f"panel {key}, group 2 alone")
    page.keyboard.press("Enter")
    assert page.evaluate("window.xwModel.get('factor_focus')") == -1


def test_hover_shades_the_factor_row_on_top_of_the_tint(factor_pages):
    w, _, page, grids, _ = factor_pages
    page.mouse.move(1, 1)
    page.wait_for_timeout(100)
    tint = read(page, grids)
    # hover image 1 of relu3 at cell (10, 20)
    box = page.locator('canvas.xw-panel[data-layer="0"][data-image="1"]').bounding_box()
    h, wd = grids["0/1"]
    page.mouse.move(box["x"] + 20.5 * box["width"] / wd, box["y"] + 10.5 * box["height"] / h)
    page.wait_for_timeout(300)
    drawn = read(page, grids)
    cells = w.query_cells(1, "relu3", 10, 20)
    alpha = np.floor(OPACITY * 255 + 0.5) / 255
    for j, name in enumerate(w.rows):
        sims = w.similarity_map(1, name, *cells[name])
        for n in range(3):
            key = f"{j}/{n}"
            overlay = colormaps.apply(sims[n].numpy().ravel(), "gray", 0.0, 1.0).astype(np.float64)
            assert_close(drawn[key], np.floor(tint[key] * (1 - alpha) + overlay * alpha + 0.5),
                         f"panel {key}, hovered")
    page.mouse.move(1, 1)
    page.wait_for_timeout(200)
    assert all(np.array_equal(v, tint[k]) for k, v in read(page, grids).items()), "leaving restores the tint"


def test_clearing_factors_restores_the_plain_view(factor_pages):
    w, _, page, grids, base = factor_pages
    page.evaluate("window.xwModel.set('_factors', null)")
    assert page.locator(".xw-similarity .xw-factors").is_hidden()
    assert page.locator(".xw-factor-chip").count() == 0
    drawn = read(page, grids)
    assert all(np.array_equal(drawn[k], base[k]) for k in base)


# ------------------------------------------------------------------- live, in JupyterLab
SETUP = f"""
import json
import xai_widgets as xw
w = xw.SimilarityOverlay(xw.demo.shapes_model(), xw.demo.shapes_images(2, seed=5), ["relu3", "{ROW}"], size=160)
w
"""


def test_live_widget_chips_set_factor_focus_in_python(lab, chromium):
    lab.shutdown_kernels()  # lab.run talks to the one running kernel
    with live_page(chromium, lab, viewport=(1400, 1000)) as (page, _):
        lab.open_notebook(page, "factors.ipynb", [SETUP])
        page.wait_for_selector(PAINTED, timeout=30_000)
        lab.run(f"w.show_factors({ROW!r}, k={K})")
        chips = page.locator(".xw-similarity .xw-factor-chip")
        chips.nth(K - 1).wait_for(timeout=10_000)
        assert chips.count() == K
        chips.nth(1).click()
        page.wait_for_function("() => document.querySelector('.xw-factor-chip[data-factor=\"1\"]')"
                               ".getAttribute('aria-pressed') === 'true'")
        page.wait_for_timeout(500)
        assert json.loads(lab.run("print(json.dumps([w.factor_focus, w.message]))")) == [1, ""]
        lab.run("w.factor_focus = -1")
        page.wait_for_function("() => !document.querySelector('.xw-factor-chip[aria-pressed=\"true\"]')")
        # new inputs: the factors are stale and the legend goes
        lab.run("w.images = w.images[:1]")
        page.wait_for_function("() => document.querySelectorAll('.xw-similarity canvas.xw-panel').length === 2")
        assert page.locator(".xw-similarity .xw-factors").is_hidden()
        assert lab.run("print(w._factors)").strip() == "None"
