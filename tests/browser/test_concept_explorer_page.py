"""ConceptExplorer in Chromium: the strips draw the pixels Python computes, picking a concept,
a neighbour or a bar changes the view with no kernel (an exported page), and in JupyterLab the
arithmetic box shows what ``ConceptEmbeddings.arithmetic`` answers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lab import READ_GRID, live_page, offline_page

READY = "[data-xw-painted] .xw-concept-explorer"
MAKE = ("import xai_widgets as xw\n"
        "data = xw.demo.shapes_concepts(40, seed=0)\n"
        "w = xw.ConceptExplorer(xw.demo.shapes_model(), 'relu4', data, data, epochs=3)\n")
ROOT_IS = "([k, v]) => document.querySelector('.xw-concept-explorer').dataset[k] === v"


@pytest.fixture(scope="module")
def widget():
    exec(MAKE, namespace := {})
    return namespace["w"]


def strip(page, w, row: str, slot: int) -> np.ndarray:
    h, wd = w.data.images.shape[1:3]
    selector = f'.xw-concept-explorer canvas.xw-panel[data-row="{row}"][data-slot="{slot}"]'
    return np.asarray(page.evaluate(READ_GRID, [selector, h, wd]), dtype=float).reshape(h, wd, 3)


def assert_strips(page, w, rows=("combination", "single")) -> None:
    for row in rows:
        for s, want in enumerate(w.example_pixels(row)):
            assert np.abs(strip(page, w, row, s) - want).max() == 0, f"{row} example {s}"


def test_the_strips_draw_what_python_computes_and_clicks_change_the_view(chromium, widget, tmp_path):
    w = widget
    w.concept, w.channel = 0, -1
    path = w.to_html(tmp_path / "concepts.html")
    with offline_page(chromium, path, ready=READY, output_width=850) as page:
        assert page.evaluate("document.querySelector('.xw-concept-explorer').scrollWidth") <= 850
        assert_strips(page, w)
        q = w.embeddings.names.index("dots")  # the picker
        page.click(f'.xw-picker button[data-concept="{q}"]')
        page.wait_for_function(ROOT_IS, arg=["concept", str(q)])
        w.concept = q
        assert_strips(page, w)
        # hovering a bar names its channel and weight, clicking it shows the channel's activations
        order = w.order()
        box = page.locator(".xw-concept-explorer canvas.xw-bars").bounding_box()
        j = 2
        page.mouse.move(box["x"] + (j + 0.5) * box["width"] / len(order), box["y"] + box["height"] / 2)
        page.wait_for_function("(c) => document.querySelector('.xw-concept-explorer .xw-readout').textContent"
                               ".startsWith(`channel ${c}:`)", arg=int(order[j]))
        page.mouse.down()
        page.mouse.up()
        page.wait_for_function(ROOT_IS, arg=["channel", str(order[j])])
        w.channel = int(order[j])
        assert_strips(page, w, ("channel",))
        # the opacity slider redraws in the browser
        page.locator(".xw-concept-explorer .xw-header input[type=range]").nth(1).fill("1")
        w.opacity = 1.0
        assert_strips(page, w, ("combination", "channel"))
        # a neighbour switches the concept
        first = page.locator(".xw-nearest button[data-concept]").first
        name = first.inner_text().split()[0]
        assert name == w.embeddings.nearest("dots", 1)[0][0]
        first.click()
        page.wait_for_function(ROOT_IS, arg=["concept", str(w.embeddings.names.index(name))])
        # the arithmetic box needs the kernel: said in the message line, not silently ignored
        page.fill(".xw-expression", "dots + red")
        page.press(".xw-expression", "Enter")
        page.wait_for_selector(".xw-concept-explorer .xw-message:not([hidden])")
        assert "needs the live notebook kernel" in page.inner_text(".xw-concept-explorer .xw-message")
    w.opacity, w.channel, w.concept = 0.5, -1, 0


def test_the_arithmetic_box_in_jupyterlab_answers_with_embeddings_arithmetic(lab, chromium):
    with live_page(chromium, lab, viewport=(1300, 1100)) as (page, sent):
        lab.open_notebook(page, "concepts_live.ipynb", [MAKE + "w"])
        page.wait_for_selector(READY, timeout=60_000)
        before = len(sent)
        box = page.locator(".xw-concept-explorer canvas.xw-bars").bounding_box()
        for f in (0.1, 0.4, 0.7):  # hovering the bars stays in the browser
            page.mouse.move(box["x"] + f * box["width"], box["y"] + box["height"] / 2)
            page.wait_for_timeout(50)
        page.mouse.move(5, 5)
        page.wait_for_timeout(300)
        assert len(sent) == before, "hovering the bars sent messages to the kernel"
        for expression in ("dots + red - blue", "dots + nope"):
            page.fill(".xw-expression", expression)
            page.press(".xw-expression", "Enter")
            page.wait_for_function("(e) => document.querySelector('.xw-arith-results').dataset.expression === e",
                                   arg=expression, timeout=30_000)
            want = json.loads(lab.run("import json\ntry:\n"
                                      f"    r = w.embeddings.arithmetic({expression!r}, 5); e = ''\n"
                                      "except ValueError as x:\n    r, e = [], str(x)\n"
                                      "print(json.dumps({'r': r, 'e': e}))"))
            shown = page.locator(".xw-arith-results button").all_inner_texts()
            assert [t.split()[0] for t in shown] == [n for n, _ in want["r"]]
            assert [float(t.split()[1]) for t in shown] == pytest.approx([s for _, s in want["r"]], abs=0.005)
            error = page.inner_text(".xw-arith-error") if want["e"] else ""
            assert error == want["e"]
        assert "unknown concept 'nope'" in page.inner_text(".xw-arith-error")
