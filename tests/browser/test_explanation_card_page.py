"""The explanation card in Chromium: every widget's "About this view" block, collapsed until
clicked, shows exactly the rows of ``w.card()``; class names written as HTML stay text; the block
follows its trait, fits a 900 px output and takes JupyterLab's theme variables."""
from __future__ import annotations

import pytest
import torch

import xai_widgets as xw
from xai_widgets.core.card import card_rows

from lab import offline_page
from test_widget_states import WIDGETS, _images, _shared_net

CARD = ".xw-widget > details.xw-card"
READ_CARD = """() => [...document.querySelectorAll('.xw-widget > details.xw-card section.xw-card-section')].map(s => [
  s.dataset.key, s.querySelector('.xw-card-heading').textContent,
  [...s.querySelectorAll('.xw-card-row')].map(r => [r.querySelector('dt') ? r.querySelector('dt').textContent : '',
                                                    r.querySelector('dd').textContent])])"""
HTML_NAMES = ["<b>x</b>", "<img src=x onerror=alert(1)>", "c & d", "<i>y</i>"]


def open_card(page) -> None:
    assert page.is_visible(f"{CARD} > summary")
    assert page.evaluate(f"() => document.querySelector('{CARD}').open") is False  # collapsed at first
    page.click(f"{CARD} > summary")
    assert page.evaluate(f"() => document.querySelector('{CARD}').open") is True


@pytest.mark.parametrize("name", list(WIDGETS))
def test_every_widget_shows_its_card_as_card_gives_it(chromium, name, tmp_path):
    torch.set_num_threads(1)
    w = WIDGETS[name][0]()[0]
    if hasattr(w, "wait"):
        w.wait()
    path = w.to_html(tmp_path / f"{name}.html")
    with offline_page(chromium, path, ready="[data-xw-painted] .xw-widget", output_width=900) as page:
        open_card(page)
        assert page.evaluate(READ_CARD) == card_rows(w.card())
        width = page.evaluate("() => document.querySelector('.xw-widget').scrollWidth")
        assert width <= 900, f"{name} is {width} px wide in a 900 px output with its card open"


@pytest.fixture(scope="module")
def explorer():
    torch.manual_seed(0)
    return xw.AttributionExplorer(_shared_net(), _images(2), methods=["gradient"], size=64, classes=HTML_NAMES,
                                  target=[0, 1], contrast=[None, 2])


def test_user_strings_stay_text_and_the_card_follows_its_trait(chromium, explorer, tmp_path):
    rows = card_rows(explorer.card())
    texts = {text for _, _, section in rows for _, text in section}
    assert any("<b>x</b>" in t for t in texts) and any("<img src=x" in t for t in texts)
    path = explorer.to_html(tmp_path / "names.html")
    with offline_page(chromium, path, ready="[data-xw-painted] .xw-attribution", output_width=900) as page:
        page.on("dialog", lambda d: pytest.fail(f"user text ran as HTML: {d.message}"))
        open_card(page)
        assert page.evaluate(READ_CARD) == rows
        assert page.evaluate(f"() => document.querySelectorAll('{CARD} b, {CARD} i, {CARD} img').length") == 0
        dd = page.evaluate(f"() => [...document.querySelectorAll('{CARD} dd')].map(d => d.textContent)")
        assert any("<b>x</b> (p = " in t for t in dd) and any("vs c & d" in t for t in dd)
        # the block follows its trait (the kernel sends new rows on every state change), staying open
        page.evaluate("() => window.xwModel.set('_card', [['question', 'Q', [['', '<b>new</b>']]]])")
        assert page.evaluate(READ_CARD) == [["question", "Q", [["", "<b>new</b>"]]]]
        assert page.evaluate(f"() => document.querySelector('{CARD}').open") is True
        # dark theme: the card's colours come from JupyterLab's variables
        page.add_style_tag(content=":root { --jp-ui-font-color1: rgb(230, 231, 232); "
                                   "--jp-layout-color2: rgb(33, 34, 35); }")
        style = page.evaluate(f"() => {{ const s = getComputedStyle(document.querySelector('{CARD}'));"
                              " return [s.color, s.backgroundColor]; }")
        assert style == ["rgb(230, 231, 232)", "rgb(33, 34, 35)"]
        page.evaluate("() => window.xwModel.set('_card', [])")
        assert page.is_hidden(CARD)


def test_an_export_without_the_card_hides_the_block(chromium, explorer, tmp_path):
    path = explorer.to_html(tmp_path / "bare.html", card=False)
    with offline_page(chromium, path, ready="[data-xw-painted] .xw-attribution", output_width=900) as page:
        assert page.query_selector(CARD) is not None and page.is_hidden(CARD)
