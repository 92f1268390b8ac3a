"""Random sequences of browser messages and Python assignments, on every widget.

Whatever arrives (a valid value, a value out of range, the wrong type, NaN, a bool where an
index belongs, an unknown key, a custom message of an unknown type), afterwards:

* nothing was raised by a browser message (a comm handler must never raise);
* a refused Python assignment raised and left the old value in place;
* every trait the browser can set holds a value its own validation accepts;
* the widget still renders its PNG;
* its explanation card, as the browser has it, is the card of its current state;
* the model is exactly as it was given.

The number of examples comes from the hypothesis profile: ``default`` (a few hundred
actions per widget, run by the suite) or ``long`` (``pytest --hypothesis-profile=long``).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import traitlets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xai_widgets as xw
from xai_widgets.core.card import card_rows
from xai_widgets.morph import ConvVAE, SeedCNN

from test_metrics import fake_curve
from toy_models import SharedReLUNet, assert_untouched, snapshot

SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, -1e9, 1e9, 0.0, 1.0, 0.5, -0.0]
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.sampled_from(SPECIAL_FLOATS),
    st.floats(), st.text(max_size=6), st.lists(st.integers(-2, 12), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(-1, 5), max_size=3),
)


def _images(n, h=20, w=24):
    return [torch.rand(3, h, w, generator=torch.Generator().manual_seed(i)) for i in range(n)]


def _shared_net():
    torch.manual_seed(0)
    return SharedReLUNet().eval()


def build_similarity():
    net = _shared_net()
    w = xw.SimilarityOverlay(net, _images(2), ["conv1", "relu:1"], size=48)
    return w, [net], {"query": {"image": 0, "layer": "conv1", "row": 0, "col": 0}}


def build_sweep():
    net = _shared_net()
    w = xw.TransformSweep(net, _images(1)[0], "conv2", "rotate", [0, 90], size=48)
    return w, [net], {"query": {"row": 0, "col": 0}}


def build_channel_grid():
    net = _shared_net()
    return xw.ChannelGrid(net, _images(2), size=200), [net], {}


def build_attribution():
    net = _shared_net()
    w = xw.AttributionExplorer(net, _images(2), methods=["gradient", "smoothgrad"], size=48,
                               options={"smoothgrad": {"samples": 2, "noise_levels": (0.0, 0.2)}})
    return w, [net], {}


def build_occlusion():
    model = xw.demo.shapes_model()
    image = xw.demo.shapes_dataset(1, seed=1).images[0]
    return xw.OcclusionExplorer(model, image, attribution="gradient", size=64), [model], {}


def build_path_morph():
    torch.manual_seed(0)
    clf, vae = SeedCNN().eval(), ConvVAE(latent_dim=16).eval()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    w = xw.PathMorph(clf, vae, x, steps=6, size=64,
                     options={"morph": {"max_iter": 10}, "mask": {"iterations": 5}, "candidates": 2})
    return w, [clf, vae], {"pixel": {"row": 0, "col": 0}}


def build_metrics_chart():
    curves = {"a": [fake_curve("deletion", [[1, .5, 0]]), fake_curve("insertion", [[0, .5, 1]])]}
    return xw.MetricsChart.deletion(curves, size=300), [], {}


def build_concept_explorer():
    from test_net2vec import planted_data, planted_model

    x, concepts = planted_data()
    x, concepts = x[:60], {k: v[:60] for k, v in concepts.items()}
    model = planted_model()
    return xw.ConceptExplorer(model, "0", x, concepts, epochs=10), [model], {}


def build_inversion():
    net = _shared_net()
    w = xw.InversionExplorer(net, _images(1)[0], ["conv1", "conv2"], n=2, iterations=4, snapshots=2,
                             background=False)
    return w, [net], {}


def build_adversarial():
    model = xw.demo.shapes_model()
    data = xw.demo.shapes_dataset(2, seed=3)
    x = xw.demo.model.to_tensor(data.images)
    w = xw.AdversarialExplorer(model, x, torch.as_tensor(data.labels), attack="bim", epsilons=[2 / 255], steps=2,
                               background=False)
    return w, [model], {}


def build_class_bias():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 8, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 8, 200))
    return xw.ClassBias(y, p, partitions={"a": [0, 1]}), [], {}


def build_decoder():
    model = xw.demo.shapes_model()
    x = xw.demo.model.to_tensor(xw.demo.shapes_dataset(2, seed=3).images)
    return xw.DecoderExplorer(model, xw.demo.shapes_decoder("cnn"), x, steps=3), [model], {}


# widget -> (builder, share of the profile's examples: the slower widgets run fewer)
WIDGETS = {
    "SimilarityOverlay": (build_similarity, 1.0),
    "TransformSweep": (build_sweep, 1.0),
    "ChannelGrid": (build_channel_grid, 1.0),
    "AttributionExplorer": (build_attribution, 0.5),
    "OcclusionExplorer": (build_occlusion, 0.5),
    "PathMorph": (build_path_morph, 0.25),
    "MetricsChart": (build_metrics_chart, 0.25),
    "ConceptExplorer": (build_concept_explorer, 0.5),
    "InversionExplorer": (build_inversion, 0.5),
    "AdversarialExplorer": (build_adversarial, 0.25),
    "ClassBias": (build_class_bias, 0.5),
    "DecoderExplorer": (build_decoder, 0.25),
}


def near(value, trait, widget):
    """Values close to ``value``'s shape: in range, just out of range, and of the wrong kind."""
    if isinstance(trait, traitlets.Enum):
        return st.sampled_from([*trait.values, "nope", ""])
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-2, max(2 * abs(value), 12))
    if isinstance(value, float):
        return st.floats(-0.5, 3.0) | st.sampled_from(SPECIAL_FLOATS)
    if isinstance(value, str):
        return st.sampled_from([value, *getattr(widget, "layer_names", []), "nope"])
    if isinstance(value, list):
        elem = near(value[0], None, widget) if value else st.integers(-1, 12)
        return st.lists(elem | st.none(), min_size=max(0, len(value) - 1), max_size=len(value) + 1)
    if isinstance(value, dict):
        return st.fixed_dictionaries({k: near(v, None, widget) for k, v in value.items()}) | st.dictionaries(
            st.sampled_from([*value, "extra"]), st.integers(-1, 12), max_size=len(value) + 1)
    return JUNK


def values_for(widget, key, templates):
    trait = widget.traits().get(key)
    current = getattr(widget, key, None)
    shaped = near(templates[key] if current is None and key in templates else current, trait, widget)
    return st.one_of(shaped, shaped, JUNK)  # mostly plausible values, some junk


INDICES = ("image", "index", "selected", "step", "sm_step", "target", "factor_focus", "patch", "brush", "min_size", "size")


def check_ranges(widget):
    """What the traits must hold, stated here independently of the widgets' own validation."""
    for key in ("opacity", "boost"):
        if key in widget.traits():
            v = getattr(widget, key)
            assert isinstance(v, float) and 0.0 <= v <= 1.0, (key, v)
    for key in ("gamma", "threshold", "distance"):
        if key in widget.traits():
            v = getattr(widget, key)
            assert isinstance(v, float) and math.isfinite(v) and v >= 0, (key, v)
    if "vrange" in widget.traits():
        lo, hi = widget.vrange
        assert math.isfinite(lo) and math.isfinite(hi) and lo < hi, widget.vrange
    for key in INDICES:
        if key in widget.traits():
            v = getattr(widget, key)
            assert type(v) is int, (key, v)
    for key in ("targets", "contrasts", "occluded"):
        if key in widget.traits():
            assert all(type(v) is int or (v is None and key == "contrasts") for v in getattr(widget, key)), key


def check_valid(widget, models, before):
    check_ranges(widget)
    for key in sorted(widget._browser_traits | {"size"}):
        trait = widget.traits()[key]
        trait._validate(widget, getattr(widget, key))  # raises if the state is invalid
    assert isinstance(widget.message, str)
    png = widget.render_png()
    assert png.size[0] > 0 and png.size[1] > 0
    assert widget._card == card_rows(widget.card())
    for model, snap in zip(models, before):
        assert_untouched(model, snap)


@pytest.mark.parametrize("name", list(WIDGETS))
def test_random_browser_messages_and_assignments_leave_a_valid_widget(name):
    build, share = WIDGETS[name]
    widget, models, templates = build()
    before = [snapshot(m) for m in models]
    keys = sorted(widget._browser_traits | {"size", "message", "_data", "not_a_trait"})
    # drawn from the first state, so that hypothesis can replay a sequence of draws
    values = {key: values_for(widget, key, templates) for key in keys}

    @settings(max_examples=max(10, round(settings().max_examples * share)), deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(st.data())
    def run(data):
        for _ in range(data.draw(st.integers(1, 4), label="actions")):
            kind = data.draw(st.sampled_from(["browser", "browser", "python", "message"]), label="kind")
            if kind == "message":
                kinds = ["cancel", "nope", None, 3, "recompute", "synthesise"]  # the last two: some widgets' buttons
                content = data.draw(st.fixed_dictionaries({"type": st.sampled_from(kinds)})
                                    | JUNK, label="message")
                widget._on_custom_msg(widget, content, [])
                continue
            key = data.draw(st.sampled_from(keys), label="key")
            value = data.draw(values[key], label="value")
            if kind == "browser":
                widget.set_state({key: value})  # never raises
            elif key in widget.traits() and not key.startswith("_"):
                old = copy.deepcopy(getattr(widget, key))
                try:
                    setattr(widget, key, value)
                except (traitlets.TraitError, ValueError, TypeError):
                    assert getattr(widget, key) == old or (
                        isinstance(old, float) and np.isnan(old) and np.isnan(getattr(widget, key)))
            if hasattr(widget, "wait"):
                widget.wait()  # a background task started by a valid value (re-targeting)
        check_valid(widget, models, before)

    run()
