"""The explanation card (Palacio et al., "XAI Handbook", ICCV Workshops 2021): ``w.card()`` of every
widget follows its state, the synced ``_card`` rows follow ``card()``, and the exports carry it
(the PNG's text block only when asked, the HTML's collapsed block unless told not to)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import traitlets
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from xai_widgets.core.card import SECTIONS, card_rows, card_text, model_summary, models_summary
from xai_widgets.core.render import BACKGROUND
from xai_widgets.widgets.base import XaiWidget

from test_widget_states import WIDGETS

KEYS = ["question", "explanandum", "explainer", "interpretation"]


@pytest.fixture(scope="module")
def built():
    """Every widget once, as the random-state test builds it (built lazily, shared by the tests)."""
    cache = {}

    def get(name):
        if name not in cache:
            widget = WIDGETS[name][0]()[0]
            if hasattr(widget, "wait"):
                widget.wait()
            cache[name] = widget
        return cache[name]

    return get


def leaves(value, path=()):
    """Every (keys, leaf) of a nested card value, found independently of card_rows."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in leaves(v, path + (k,))]
    return [(path, value)]


# ------------------------------------------------------------------ the core helpers
def test_card_rows_of_a_hand_written_card():
    card = {"question": "Why?", "explanandum": {"model": {"class": "Net", "parameters": 12, "trainable": 25557032},
                                                "layers": ["a", "b"]},
            "explainer": {"method": "m", "noise": 0.123456, "on": True, "box": None, "lo": -0.0},
            "interpretation": "red is high"}
    assert card_rows(card) == [
        ["question", "Question", [["", "Why?"]]],
        ["explanandum", "Explanandum: what is explained",
         [["model / class", "Net"], ["model / parameters", "12"], ["model / trainable", "25,557,032"],
         ["layers", "a, b"]]],
        ["explainer", "Explainer: the method and its settings",
         [["method", "m"], ["noise", "0.1235"], ["on", "yes"], ["box", "none"], ["lo", "0"]]],
        ["interpretation", "Interpretation: how to read it", [["", "red is high"]]],
    ]


def test_card_rows_refuses_a_card_without_the_four_parts_and_odd_leaves():
    with pytest.raises(ValueError, match="exactly the keys"):
        card_rows({"question": "q", "explainer": {}})
    with pytest.raises(TypeError, match="a card value must be"):
        card_text(object())


NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
LEAF = st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6), st.booleans(), st.none(),
                 st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(0, 9), max_size=3))
TREE = st.recursive(LEAF, lambda inner: st.dictionaries(NAMES, inner, min_size=1, max_size=3), max_leaves=8)


@given(st.fixed_dictionaries({k: TREE for k in KEYS}))
def test_every_leaf_of_any_card_is_one_row_in_order(card):
    rows = card_rows(card)
    assert [r[0] for r in rows] == KEYS and [r[1] for r in rows] == [h for _, h in SECTIONS]
    for (key, _, section), value in zip(rows, (card[k] for k in KEYS)):
        expected = [[" / ".join(map(str, path)), card_text(leaf)] for path, leaf in leaves(value)]
        assert section == expected, key


def test_model_summary_counts_what_a_hand_count_gives():
    net = nn.Sequential(nn.Linear(3, 2), nn.Conv2d(2, 4, 3)).double()  # 3*2+2 and 2*4*9+4 values
    net[0].weight.requires_grad_(False)
    summary = model_summary(net)
    assert summary == {"class": "Sequential", "parameters": 8 + 76, "trainable": 2 + 76, "device": "cpu",
                       "dtype": "float64"}
    assert model_summary(nn.ReLU())["device"] == "none"
    assert models_summary({"a": net}) == summary
    assert set(models_summary({"a": net, "b": nn.ReLU()})) == {"a", "b"}


# ------------------------------------------------------------------ every widget
@pytest.mark.parametrize("name", list(WIDGETS))
def test_card_has_the_four_parts_and_the_browser_rows_follow_it(built, name):
    w = built(name)
    card = w.card()
    assert list(card) == KEYS
    assert isinstance(card["question"], str) and card["question"].endswith("?")
    assert card["explainer"]["widget"] == name
    assert all(card[k] for k in KEYS[1:]), "an empty section"
    assert w._card == card_rows(card)
    json.dumps(card)  # plain data
    models = w._card_models()
    if models:  # the model summary, recounted here
        one = len(models) == 1
        for key, model in models.items():
            summary = card["explanandum"]["model"] if one else card["explanandum"]["model"][key]
            assert summary["parameters"] == sum(p.numel() for p in model.parameters())
            assert summary["class"] == type(model).__name__


def rows_of(w) -> dict:
    """The synced card as {(section, label): text}: what the browser shows."""
    return {(key, label): text for key, _, rows in w._card for label, text in rows}


def after(w, **traits):
    """Set traits as the browser would (one message each) and wait for a task they start."""
    for key, value in traits.items():
        w.set_state({key: value})
        assert getattr(w, key) == value, (key, w.message)
    if hasattr(w, "wait"):
        w.wait()
    return rows_of(w)


def test_similarity_card_follows_query_colour_scale_and_layers(built):
    w = built("SimilarityOverlay")
    rows = after(w, query={"image": 1, "layer": "conv1", "row": 2, "col": 3}, opacity=0.25, colormap="viridis",
                 auto_range=False, vrange=[-0.5, 0.75])
    assert rows["explanandum", "query"] == "image 1, layer conv1, cell (row 2, col 3)"
    assert rows["interpretation", "opacity"] == "0.25"
    assert rows["interpretation", "colour scale"] == "viridis"
    assert rows["interpretation", "range"] == "-0.5 to 0.75"
    w.layers = ["relu:1"]
    assert rows_of(w)["explanandum", "layers"] == "relu:1"
    assert rows_of(w)["explainer", "similarity"] == w.similarity == "cosine"


def test_sweep_card_names_the_transform_and_its_values(built):
    w = built("TransformSweep")
    rows = after(w, query={"row": 1, "col": 4})
    assert rows["explainer", "transform"] == "rotate" and rows["explainer", "values"] == "0, 90"
    assert rows["explanandum", "query"] == "cell (row 1, col 4)"
    assert rows["explanandum", "layer"] == "conv2"


def test_channel_grid_card_follows_layer_unit_and_normalisation(built):
    w = built("ChannelGrid")
    rows = after(w, layer="conv2", selected=5, normalisation="fixed", vrange=[0.0, 2.0])
    assert rows["explanandum", "layer"] == "conv2"
    assert rows["explanandum", "units"] == str(w.activations().shape[0])
    assert rows["explanandum", "selected unit"] == "5"
    assert rows["explainer", "fixed range"] == "0, 2"
    assert rows["interpretation", "normalisation"] == "the fixed range above"


def test_attribution_card_follows_methods_targets_and_scaling(built):
    w = built("AttributionExplorer")
    card = w.card()
    assert list(card["explainer"]["methods"]) == w.methods
    for key in w.methods:
        assert card["explainer"]["methods"][key]["scale s"].startswith(f"{w.scale(key):.3g}")
    assert card["explainer"]["methods"]["smoothgrad"]["samples"] == 2  # the option given
    w.retarget(1, 3, contrast=0)
    rows = after(w, scaling="row")
    p = float(w.probabilities[1, 3])
    assert rows["explanandum", "classes explained / image 1"] == f"class 3 (p = {p:.3g}) vs class 0: logit A - logit B"
    assert rows["explainer", "scaling"] == "row"
    assert rows["interpretation", "scale"].startswith("each image's own s")


def test_occlusion_card_follows_the_occluded_features(built):
    w = built("OcclusionExplorer")
    assert len(w.features) >= 1
    rows = after(w, occluded=[0])
    assert rows["explanandum", "occluded"] == "1"
    assert rows["explanandum", "features"] == str(len(w.features))
    t = w.target
    assert rows["explanandum", "class followed"] == (f"{w.classes[t]} (p = {float(w.base_probs[t]):.3g} before, "
                                                     f"{float(w.probs[t]):.3g} now)")
    rows = after(w, patch=4)
    assert rows["explainer", "patch (px)"] == "4"


def test_path_morph_card_follows_overlay_and_step(built):
    w = built("PathMorph")
    rows = after(w, overlay="diff", step=2)
    assert rows["interpretation", "overlay"].startswith("diff: ")
    assert rows["interpretation", "step"].startswith("frame 2 of 6")
    assert rows["explanandum", "other"] == w.class_name(int(w.result.o))
    assert set(w.card()["explanandum"]["model"]) == {"classifier", "vae"}


def test_metrics_chart_card_lists_the_methods_and_panels(built):
    w = built("MetricsChart")
    card = w.card()
    assert card["explanandum"]["methods compared"] == list(w.results)
    assert list(card["explainer"]["panels"]) == [p["id"] for p in w.panels] == ["deletion", "insertion"]
    assert "model" not in card["explanandum"]  # a chart of results: no model


def test_concept_card_follows_concept_threshold_and_expression(built):
    w = built("ConceptExplorer")
    rows = after(w, concept=2, threshold=0.3, opacity=0.0)
    assert rows["explanandum", "concept"].startswith(w.embeddings.names[2])
    assert rows["interpretation", "masks"].endswith("exceeds 0.3")
    rows = after(w, opacity=-0.0)  # equal to 0.0: no change is notified, and the card must not need one
    assert rows["interpretation", "opacity"] == "0" and rows == {
        (key, label): text for key, _, section in card_rows(w.card()) for label, text in section}
    assert rows["interpretation", "set IoU"].startswith(f"{float(w.embeddings.iou[2]):.3g} for the combination")


def test_inversion_card_gives_every_setting_of_the_descent(built):
    import inspect

    from xai_widgets.inversion import invert

    w = built("InversionExplorer")
    explainer = w.card()["explainer"]
    taken = [k for k, p in inspect.signature(invert).parameters.items()
             if p.default is not inspect.Parameter.empty and k not in ("progress", "cancel")]
    assert set(taken) <= set(explainer)
    assert (explainer["n"], explainer["iterations"], explainer["snapshots"]) == (2, 4, 2)  # as built
    rows = after(w, spread=True, step=0)
    assert rows["interpretation", "spread"].startswith("on:")
    assert rows["interpretation", "step"] == f"iteration {w.steps[0]} of {w.steps[-1]}"


def test_adversarial_card_follows_the_frame_shown(built):
    w = built("AdversarialExplorer")
    rows = after(w, iteration=0)
    assert rows["explainer", "shown"] == f"eps = {w.epsilons[0]:.4g}, step 1 of 2"
    assert rows["explanandum", "flipped now"] == f"{sum(w.flipped())} of 2"
    assert rows["explainer", "attack"].startswith("BIM")


# ------------------------------------------------------------------ a new widget: one method
class Toy(XaiWidget):
    """A widget with only ``_card_parts``: what a new widget adds to get its card."""

    level = traitlets.Int(1).tag(sync=True)

    def __init__(self, model):
        self.model = model
        super().__init__()

    def _card_parts(self):
        return {"question": "What is the level?", "explanandum": {"level": self.level},
                "explainer": {"method": "<b>x</b>"}, "interpretation": {"level": "higher is more"}}


def test_a_new_widget_gets_its_card_from_one_method_and_keeps_it_in_step():
    w = Toy(nn.Linear(2, 1))
    assert w.card()["explanandum"] == {"model": model_summary(w.model), "level": 1}
    assert w.card()["explainer"] == {"widget": "Toy", "method": "<b>x</b>"}
    w.level = 7
    assert rows_of(w)["explanandum", "level"] == "7"
    w.message = "a notice"  # not state: the card is not remade (and would not change)
    assert rows_of(w)["explanandum", "level"] == "7"


# ------------------------------------------------------------------ exports
def png(w, tmp_path, **kwargs) -> np.ndarray:
    path = w.to_png(tmp_path / f"{type(w).__name__}-{len(list(tmp_path.iterdir()))}.png", **kwargs)
    return np.asarray(Image.open(path).convert("RGB"))


def text_bands(block: np.ndarray) -> int:
    """Runs of pixel rows holding something other than the background: lines of text."""
    inked = (block != np.array(BACKGROUND)).any(axis=2).any(axis=1)
    return int(np.sum(inked[1:] & ~inked[:-1]) + inked[0])


@pytest.mark.parametrize("name", ["AttributionExplorer", "MetricsChart", "InversionExplorer"])
def test_png_with_the_card_is_the_figure_then_a_block_of_text(built, name, tmp_path):
    w = built(name)
    plain, carded = png(w, tmp_path), png(w, tmp_path, card=True)
    figure = np.asarray(w.render_png().convert("RGB"))
    assert np.array_equal(plain, figure)  # card=False: the figure exactly as before
    h, width = plain.shape[:2]
    assert carded.shape[0] > h and carded.shape[1] >= width
    assert np.array_equal(carded[:h, :width], plain)  # the figure's pixels, untouched, on top
    block = carded[h:]
    n_rows = sum(len(rows) + 1 for _, _, rows in w._card)  # a heading per section and its rows
    assert text_bands(block) >= n_rows  # every row drawn (long ones wrap into more lines)
    assert (block < 128).all(axis=2).sum() > 50 * n_rows  # dark text pixels, not a blank strip


def test_png_card_scales_with_the_figure(built, tmp_path):
    w = built("MetricsChart")
    one, two = png(w, tmp_path, card=True), png(w, tmp_path, card=True, scale=2)
    h1, h2 = np.asarray(w.render_png()).shape[0], np.asarray(w.render_png(scale=2)).shape[0]
    assert abs((two.shape[0] - h2) / (one.shape[0] - h1) - 2) < 0.1


def page_state(path) -> dict:
    text = path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="xw-state">(.*?)</script>', text, re.S)
    return json.loads(found.group(1))


def test_html_carries_the_card_unless_told_not_to(built, tmp_path):
    w = built("SimilarityOverlay")
    assert page_state(w.to_html(tmp_path / "a.html"))["_card"] == w._card
    assert page_state(w.to_html(tmp_path / "b.html", card=False))["_card"] == []
    assert w._card == card_rows(w.card())  # the live widget keeps its card


def test_a_card_is_made_on_every_state_change_only(built, monkeypatch):
    w = built("TransformSweep")
    calls = []
    monkeypatch.setattr(type(w), "card", lambda self: calls.append(1) or XaiWidget.card(self))
    w.set_state({"opacity": 0.5})
    assert len(calls) == 1
    w.message = "x"
    w.set_state({"not_a_trait": 1})  # refused: only the message changes
    assert len(calls) == 1
    assert torch.is_tensor(w.similarity_curves())  # the widget still answers


def test_attribution_card_gives_each_images_slider_value(built):
    w = built("AttributionExplorer")
    w.set_state({"positions": {**w.positions, "smoothgrad": [0, 1]}})
    values = w.results["smoothgrad"][0].series.values
    assert w.card()["explainer"]["methods"]["smoothgrad"]["slider per image"] == [
        f"noise = {values[0]:.3g} × range", f"noise = {values[1]:.3g} × range"]


def test_decoder_card_follows_image_and_blend(built):
    w = built("DecoderExplorer")
    rows = after(w, index=1, step=0)
    assert rows["explainer", "image"] == f"2 of {len(w.images)}"
    assert rows["explainer", "blend"] == f"step 0 of {w.steps - 1}: 0.00 of the reconstruction"
    assert rows["explanandum", "prediction shown"].startswith(w.classes[int(w.top[1, 0])] + " (")
    assert rows["interpretation", "IC-nMI"].startswith(f"{w._dec['ic_nmi'][1]:.3f}: ")


def test_to_png_writes_to_a_file_object_and_returns_it(built, tmp_path):
    import io
    w = built("MetricsChart")
    buf = io.BytesIO()
    assert w.to_png(buf, card=True) is buf
    assert w.to_png(tmp_path / "chart.png", card=True) == tmp_path / "chart.png"
    assert buf.getvalue() == (tmp_path / "chart.png").read_bytes()
