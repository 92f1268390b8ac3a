"""ClassBias: the shipped numbers against numpy and the bias functions, the figure's bar heights
against the counts, the group trait's checks, from_model and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import bias, wire
from xai_widgets.widgets.checks import Refused
from xai_widgets.widgets.class_bias_payload import NO_PARTITION, PARTITION_COLOURS
from float_bounds import rounded_tol
from toy_models import assert_untouched, shapes_batch, snapshot

NAMES = ["cat", "dog", "fox", "owl", "eel", "bee", "ant", "yak"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = rng.choice(8, size=400, p=[0.4] + [0.6 / 7] * 7)
    p = np.where(rng.random(400) < 0.7, y, rng.integers(0, 8, 400))
    return y, p


def test_payload_numbers_against_numpy_and_the_bias_functions(data):
    y, p = data
    parts = {"pets": [0, 1], "wild": [2, 3, 4]}
    w = xw.ClassBias(y, p, classes=NAMES, partitions=parts)
    d = w._bias
    np.testing.assert_array_equal(wire.decode(d["counts"]), np.bincount(y, minlength=8))
    assert d["names"] == NAMES and d["partition"] == [0, 0, 1, 1, 1, -1, -1, -1]
    for part, members in zip(d["partitions"], parts.values()):
        inside = np.isin(y, members)
        assert part["share"] == pytest.approx(inside.mean())
        assert part["accuracy"] == pytest.approx((p[inside] == y[inside]).mean())
    assert d["over"] == [0] and d["total"]["accuracy"] == pytest.approx((p == y).mean())
    c = np.zeros((8, 8))
    np.add.at(c, (y, p), 1)
    np.testing.assert_array_equal(wire.decode(d["confusion"]).reshape(8, 8), c)
    np.testing.assert_allclose(wire.decode(d["classAccuracy"]), np.diag(c) / c.sum(1), rtol=0, atol=rounded_tol(1))
    dist = bias.class_distance(c)
    np.testing.assert_allclose(wire.decode(d["distance"]).reshape(8, 8), dist, rtol=0, atol=rounded_tol(1))
    assert d["groupCounts"] == [2, 3, 4]
    rows = wire.decode(d["groupings"]).reshape(3, 8)
    for row, g in zip(rows, d["groupCounts"]):
        np.testing.assert_array_equal(row, bias.balanced_groups(dist, g))
        assert w.groupings[g] == bias.balanced_groups(dist, g).tolist()


def test_the_figure_draws_each_bar_as_tall_as_its_count(data):
    y, p = data
    w = xw.ClassBias(y, p, classes=NAMES, partitions={"pets": [0, 1]}, size=480)
    image = np.asarray(w.render_png(), dtype=int)
    hist = image[:, :480]
    counts = np.bincount(y, minlength=8)
    x0, x1 = 36, 480 - 8  # the plot's edges in class_bias_picture
    heights = []
    for c in range(8):
        colour = PARTITION_COLOURS[0] if c < 2 else NO_PARTITION
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        column = np.abs(hist[:, int(x0 + (c + 0.5) * (x1 - x0) / 8)] - rgb).sum(-1) <= 3
        heights.append(column.sum())  # the bar's pixels down its centre
    heights = np.asarray(heights, float)
    # a bar is count / top x the plot's height (0.45 of the panel), top the largest count (over
    # 2 x the mean here); the rasteriser rounds both ends (1 px) and the dashed line at 2 x the
    # mean may cross a bar (1 px more)
    assert counts.max() > 2 * counts.mean()
    expected = counts / counts.max() * round(480 * 0.45)
    np.testing.assert_allclose(heights, expected, atol=2)


def test_groups_trait_is_checked_and_the_browser_cannot_break_it(data):
    y, p = data
    w = xw.ClassBias(y, p, classes=NAMES, groups=3)
    assert w.groups == 3 and w.group_of == w.groupings[3]
    with pytest.raises(Refused, match="2..4"):
        w.groups = 5
    w.set_state({"groups": 1})
    assert w.groups == 3 and "groups" in w.message
    w.set_state({"groups": 4})
    assert w.groups == 4


def test_from_model_predicts_with_the_model_and_leaves_it_as_it_was():
    model = xw.demo.shapes_model().train()
    before = snapshot(model)
    x = shapes_batch(12, seed=4)
    labels = torch.arange(12) % 6
    w = xw.ClassBias.from_model(model, x, labels, classes=xw.demo.shapes_dataset(1).classes, batch_size=5)
    assert_untouched(model, before)
    with torch.no_grad():
        expected = model.eval()(x).argmax(1).numpy()
    model.train()
    np.testing.assert_array_equal(w.confusion.sum(0), np.bincount(expected, minlength=6))


def test_without_predictions_or_confusions(data):
    y, _ = data
    w = xw.ClassBias(y)
    assert w.distance is None and w._bias["confusion"] is None and w.names[0] == "class 0"
    assert w.render_png().size[0] == 440
    perfect = xw.ClassBias(y, y, classes=8)
    assert perfect.distance is None and "confuses no classes" in perfect.message
    assert perfect._bias["partitions"] == [] and perfect._bias["total"]["accuracy"] == 1.0


@pytest.mark.parametrize("args, kwargs, error, match", [
    (([0.5, 1.0],), {}, TypeError, "integer class indices"),
    (([0, 1], [0]), {}, ValueError, "predictions has 1 entries"),
    (([0, 1, 2],), {"partitions": {"a": [0, 1], "b": [1]}}, ValueError, "overlaps"),
    (([0, 1, 2],), {"classes": 2}, ValueError, "there are 2 classes"),
    (([0, 1],), {"threshold": True}, ValueError, "positive number"),
    (([0, 1],), {"threshold": -1.0}, ValueError, "positive number"),
])
def test_bad_input_is_refused_clearly(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        xw.ClassBias(*args, **kwargs)
