"""Net2Vec on a model whose answers are planted: a concept copied into one filter must be found
in that filter (single-filter IoU 1), and a concept split over two filters must be segmented by
their combination far better than by either alone (the thesis's central finding)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw

N, S = 240, 32


def planted_data(seed: int = 0):
    """Images whose channel 0 is concept "a" (one 2 x 2 square in most images: about 0.3% of the
    pixels, under the 0.5% threshold quantile, so the threshold is 0 and the binary map is the
    mask itself) and whose channels 1 and 2 hold the left and right columns of concept "b"."""
    g = np.random.default_rng(seed)
    x = np.zeros((N, 3, S, S), np.float32)
    a = np.zeros((N, S, S), bool)
    b = np.zeros((N, S, S), bool)
    for i in range(N):
        if g.random() < 0.8:
            r, c = g.integers(0, S - 2, 2)
            a[i, r:r + 2, c:c + 2] = True
        if g.random() < 0.8:
            r, c = g.integers(0, S - 2, 2)
            b[i, r:r + 2, c:c + 2] = True
    x[:, 0] = a
    left, right = b.copy(), b.copy()
    left[:, :, 1:] &= ~b[:, :, :-1]  # the left column of each square: no square pixel to its left
    right &= ~left
    x[:, 1], x[:, 2] = left, right
    concepts = {"a": a, "a_copy": a.copy(), "b": b, "left": left, "right": right}
    return torch.from_numpy(x), concepts


def planted_model() -> nn.Module:
    """A 1 x 1 convolution: filters 0-2 copy the input channels, 3-5 mix them (distractors)."""
    conv = nn.Conv2d(3, 6, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0], [0.3, 0, 0.3], [0, 0, -1.0]])
                          .view(6, 3, 1, 1))
    return nn.Sequential(conv)


@pytest.fixture(scope="module")
def probed():
    x, concepts = planted_data()
    return x, concepts, xw.concepts.net2vec(planted_model(), "0", x, concepts, optimizer="adam", epochs=40)


def test_a_concept_copied_into_one_filter_is_that_filter(probed):
    _, _, emb = probed
    a = emb.names.index("a")
    assert emb.single[a] == (0, 1.0)  # the planted filter, exactly
    assert emb.iou[a] > 0.95
    assert emb.weights[a][0] > 0  # weight on the planted filter (the distractor mixes share it)


def test_a_concept_spread_over_two_filters_needs_both(probed):
    _, _, emb = probed
    b = emb.names.index("b")
    k, single = emb.single[b]
    assert k in (1, 2) and 0.35 < single < 0.65  # either column alone: half of each square
    assert emb.iou[b] > 0.95 and emb.iou[b] > single + 0.3  # the combination segments all of it
    assert (emb.weights[b][[1, 2]] > 0).all()  # weight on both planted filters


def test_iou_and_thresholds_match_a_numpy_recomputation(probed):
    x, concepts, emb = probed
    acts = planted_model()(x).detach().numpy()  # N x C x h x w
    flat = np.sort(acts.transpose(1, 0, 2, 3).reshape(6, -1), axis=1)
    k = int(np.ceil(0.005 * flat.shape[1]))
    np.testing.assert_array_equal(emb.thresholds, flat[:, -k])
    binary = acts > emb.thresholds[None, :, None, None]
    test = np.asarray(torch.randperm(N, generator=torch.Generator().manual_seed(0))[:emb.settings["test"]])
    for name in ("a", "b"):
        w = emb.weights[emb.names.index(name)]
        pred = np.einsum("c,nchw->nhw", w, binary[test].astype(np.float32)) > 0
        m = concepts[name][test]
        assert emb.iou[emb.names.index(name)] == pytest.approx((pred & m).sum() / (pred | m).sum())


def test_embeddings_have_neighbours_and_arithmetic(probed):
    _, _, emb = probed
    assert emb.nearest("a", 1)[0][0] == "a_copy" and emb.nearest("a", 1)[0][1] > 0.99
    assert emb.arithmetic("left + right", 1)[0][0] == "b"
    with pytest.raises(ValueError, match="unknown concept 'c'"):
        emb.nearest("c")
    with pytest.raises(ValueError, match="joined by \\+ and -"):
        emb.arithmetic("")


def test_the_published_optimiser_runs_and_is_recorded():
    x, concepts = planted_data(1)
    emb = xw.concepts.net2vec(planted_model(), "0", x[:80], {"a": concepts["a"][:80]}, epochs=2)
    assert emb.settings["optimizer"] == "sgd" and emb.settings["lr"] == 1e-4 and np.isfinite(emb.weights).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(quantile=0), "quantile must be in"), (dict(optimizer="lbfgs"), "optimizer must be one of"),
    (dict(epochs=0), "epochs must be an int"), (dict(holdout=1.0), "holdout must be in"),
])
def test_bad_settings_are_refused(kwargs, match):
    x, concepts = planted_data()
    with pytest.raises(ValueError, match=match):
        xw.concepts.net2vec(planted_model(), "0", x[:8], {"a": concepts["a"][:8]}, **kwargs)


def test_masks_must_match_the_images():
    x, concepts = planted_data()
    with pytest.raises(ValueError, match="expected 8 x H x W"):
        xw.concepts.net2vec(planted_model(), "0", x[:8], {"a": concepts["a"][:7]})


def test_the_classification_probe_finds_the_planted_filters_from_channel_means():
    """Image-level presence: the planted filter's mean is non-zero exactly when the concept is
    in the image, so retrained on that one filter the probe is right on every held-out image."""
    x, concepts = planted_data()
    emb = xw.concepts.net2vec(planted_model(), "0", x, {"a": concepts["a"], "b": concepts["b"]},
                              task="classification", optimizer="adam", epochs=60)
    assert emb.settings["task"] == "classification" and emb.iou is None
    a, b = emb.names.index("a"), emb.names.index("b")
    # filters 0 and 3 (in0 - in1, positive exactly when "a" is there) are perfect alone
    assert emb.single[a][0] in (0, 3) and emb.single[a][1] == 1.0
    assert emb.accuracy[a] == 1.0 and emb.accuracy[b] > 0.95
    assert sorted(emb.top_f) == [1, 2, 4, 6]
    np.testing.assert_allclose(emb.top_f[6], emb.accuracy, atol=0.05)  # all six filters: the same fit again
    # independent check of the balanced accuracy: the top-1 score recomputed by hand
    from xai_widgets.concepts.classification import balanced_accuracy
    pred, lab = torch.tensor([[1, 1, 0, 0, 0]], dtype=torch.bool), torch.tensor([[1, 0, 0, 0, 1]], dtype=torch.bool)
    assert float(balanced_accuracy(pred, lab)[0]) == pytest.approx((1 / 2 + 2 / 3) / 2)
