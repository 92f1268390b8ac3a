"""Net2Vec's dataset pass (thresholds, binary maps, single-filter counts) against numpy, and on
Ray against one process.

Without Ray: the thresholds are numpy's m-th largest activation of each filter (m = ceil(q N h
w)), the binary maps compare with them, and the best single filter's counts are numpy's
intersections and unions of the upsampled maps with the masks. On Ray (the session's
``local_ray`` fixture, two workers): ``net2vec(engine="ray")`` on the shipped concept set
equals the single process exactly, weights included (the shards are cut at multiples of the
batch size, so every image goes through the same forward batch, and the merges are exact).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import xai_widgets as xw
from xai_widgets.concepts.net2vec import net2vec
from xai_widgets.concepts.probe_features import best_single, layer_acts, probe_features

N, SIZE, BATCH = 20, 64, 4  # two shards of 12 and 8 images
CONCEPTS = ("circle", "triangle", "red", "dots", "edge")


@pytest.fixture(scope="module")
def probe():
    model = xw.demo.shapes_model()
    data = xw.demo.shapes_concepts(N, seed=3, size=SIZE)
    return model, data, {name: data.masks[name] for name in CONCEPTS}


def test_thresholds_binary_maps_and_single_filter_counts_against_numpy(probe):
    model, data, concepts = probe
    x = xw.to_batch(data.images, model)
    masks = torch.stack([torch.from_numpy(m) for m in concepts.values()])
    test = torch.tensor([1, 4, 7, 8, 15, 19])
    f = probe_features(model, "relu2", x, N, masks, test, task="segmentation", quantile=0.01, preprocess=None,
                       batch_size=BATCH, layouts=None, engine="local", workers=None)
    acts = layer_acts(model, "relu2", x, N, None).numpy()  # one forward of all: the same values
    per_filter = acts.transpose(1, 0, 2, 3).reshape(acts.shape[1], -1)
    m = math.ceil(0.01 * per_filter.shape[1])
    assert np.array_equal(f.thresholds.numpy(), -np.sort(-per_filter, 1)[:, m - 1])
    assert np.array_equal(f.binary.numpy(), acts > f.thresholds.numpy()[None, :, None, None])
    up = F.interpolate(f.binary[test].float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False).numpy() > 0.5
    held = masks[:, test].numpy()
    inter = np.einsum("nkhw,qnhw->kq", up.astype(np.int64), held.astype(np.int64))
    fired, area = up.sum((0, 2, 3)), held.sum((1, 2, 3))
    assert np.array_equal(f.single.inter.numpy(), inter)
    assert np.array_equal(f.single.fired.numpy(), fired) and np.array_equal(f.single.area.numpy(), area)
    iou = inter / np.maximum(fired[:, None] + area[None] - inter, 1)
    assert best_single(f.single) == [(int(iou[:, q].argmax()), float(iou[:, q].max())) for q in range(len(CONCEPTS))]


def test_engine_options_are_checked(probe):
    model, data, concepts = probe
    with pytest.raises(ValueError, match="engine must be 'local', 'ray' or None"):
        net2vec(model, "relu2", data, concepts, engine="spark")
    with pytest.raises(ValueError, match="workers is an option of engine='ray'"):
        net2vec(model, "relu2", data, concepts, workers=2)


def assert_same_embeddings(got, want):
    assert got.names == want.names and got.settings == want.settings and got.single == want.single
    for name in ("weights", "iou", "thresholds", "test", "accuracy"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None) and (a is None or np.array_equal(a, b, equal_nan=True)), name
    assert (got.image_iou is None) == (want.image_iou is None)
    for a, b in zip(got.image_iou or [], want.image_iou or []):
        assert np.array_equal(a, b, equal_nan=True)
    assert (got.top_f is None) == (want.top_f is None)
    for f in want.top_f or {}:
        assert np.array_equal(got.top_f[f], want.top_f[f], equal_nan=True)


@pytest.mark.parametrize("task", ["segmentation", "classification"])
def test_net2vec_on_ray_equals_the_single_process(local_ray, probe, task):
    model, data, concepts = probe
    options = dict(task=task, optimizer="adam", epochs=3, batch_size=BATCH, holdout=0.3, seed=1, quantile=0.01)
    if task == "classification":  # image-level presence: a concept in every image cannot be probed
        concepts = {name: m for name, m in concepts.items() if not m.reshape(N, -1).any(1).all()}
    want = net2vec(model, "relu2", data, concepts, **options)
    if task == "segmentation":
        assert any(iou > 0 for _, iou in want.single) and (want.iou > 0).any()  # something to compare
    assert_same_embeddings(net2vec(model, "relu2", data, concepts, engine="ray", workers=2, **options), want)
