"""Dataset metrics (pointing game, deletion and insertion over a dataset) against the metrics
called directly, their partial rows merged in dataset order, and on Ray against one process.

In one batch, ``evaluate`` must give what ``attribute``, ``deletion_curve`` and ``pointing_game``
give on the whole batch, and its dataset numbers are numpy's means of the rows. Rows of random
shard splits merge into the rows of one pass (hypothesis). On Ray (the session's ``local_ray``
fixture, two workers, shards cut at multiples of the batch size so every image sees the same
batch), every row and so every number is the single process's, bit for bit.
"""
from __future__ import annotations

from functools import reduce

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import xai_widgets as xw
from xai_widgets.attribution.dataset_metrics import evaluate
from xai_widgets.attribution.methods import attribute
from xai_widgets.attribution.metrics import deletion_curve, pointing_game
from xai_widgets.core.partials import Rows

N, STEPS, BATCH = 10, 8, 4  # two shards of 8 and 2 images on Ray


@pytest.fixture(scope="module")
def shapes():
    return xw.demo.shapes_model(), xw.demo.shapes_dataset(N, seed=1000, masks=True)


def test_one_batch_equals_the_metrics_called_directly(shapes):
    model, data = shapes
    got = evaluate(model, data, "grad_cam", masks=data.masks, steps=STEPS, batch_size=N, tolerance=0)
    x = xw.to_batch(data.images, model)
    labels = torch.as_tensor(data.labels)
    maps = attribute(model, x, "grad_cam", target=labels).maps.float()
    for mode in ("deletion", "insertion"):
        want = deletion_curve(model, x, maps, labels, mode=mode, steps=STEPS, batch_size=64)
        curve = getattr(got, mode)
        assert np.array_equal(curve.scores, want.scores) and np.array_equal(curve.area, want.area)
        assert np.array_equal(curve.fractions, want.fractions) and curve.baseline == want.baseline
        assert got.summary()[f"{mode}_area"] == float(np.mean(want.area))
    game = pointing_game(maps, data.masks, data.labels, tolerance=0)
    assert np.array_equal(got.pointing.points, game.points) and np.array_equal(got.pointing.hits, game.hits)
    per_class = {int(k): float(game.hits[data.labels == k].mean()) for k in np.unique(data.labels)}
    assert got.pointing.per_class == per_class
    assert got.summary()["pointing"] == float(np.mean(list(per_class.values())))
    assert got.n_images == N and np.array_equal(got.deletion.target, data.labels)


@settings(max_examples=40)
@given(cuts=st.lists(st.integers(0, 12), max_size=4).map(lambda c: [0, *sorted(c), 12]), key=st.integers(0, 2**16))
def test_rows_of_random_shards_merge_into_one_pass(cuts, key):
    values = np.random.default_rng(key).normal(size=(12, 3))
    parts = [Rows(a, {"v": values[a:b], "i": np.arange(a, b)}) for a, b in zip(cuts, cuts[1:])]
    merged = reduce(Rows.merge, parts)
    assert (merged.first, merged.stop) == (0, 12)
    assert np.array_equal(merged.columns["v"], values) and np.array_equal(merged.columns["i"], np.arange(12))


def test_rows_out_of_order_and_bad_input_are_refused(shapes):
    with pytest.raises(ValueError, match="cannot be followed by"):
        Rows(0, {"v": np.zeros(2)}).merge(Rows(3, {"v": np.zeros(1)}))
    model, data = shapes
    with pytest.raises(ValueError, match="target='label' needs"):
        evaluate(model, list(data.images), "gradient", steps=2)
    with pytest.raises(ValueError, match="one mask per image"):
        evaluate(model, data, "gradient", masks=data.masks[:3], steps=2)
    with pytest.raises(TypeError, match="for a DataLoader, pass its dataset"):
        evaluate(model, torch.utils.data.DataLoader(data), "gradient")
    with pytest.raises(ValueError, match="workers is an option of engine='ray'"):
        evaluate(model, data, "gradient", workers=2)


def test_metrics_on_ray_equal_the_single_process(local_ray, shapes):
    model, data = shapes
    options = dict(masks=data.masks, steps=STEPS, batch_size=BATCH)
    want = evaluate(model, data, "grad_cam", **options)
    seen = []
    got = evaluate(model, data, "grad_cam", engine="ray", workers=2, progress=lambda d, t: seen.append((d, t)),
                   **options)
    for mode in ("deletion", "insertion"):
        a, b = getattr(got, mode), getattr(want, mode)
        for name in ("scores", "area", "fractions", "target"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), (mode, name)
    for name in ("points", "distances", "labels", "hits"):
        assert np.array_equal(getattr(got.pointing, name), getattr(want.pointing, name)), name
    assert got.summary() == want.summary() and got.pointing.per_class == want.pointing.per_class
    assert sorted(seen)[-1] == (N, N)
