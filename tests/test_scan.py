"""Dataset scan (top-k patches, unit statistics), receptive fields and Network Dissection,
each against an independent reference: numpy brute force on captured activations, hand-derived
receptive fields and hand-computed scores."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from xai_widgets import demo
from xai_widgets.core import tasks
from xai_widgets.core.capture import capture
from xai_widgets.core.images import to_batch
from xai_widgets.units.scan import CONSTANT_EPS, dissect, receptive_field, scan

from float_bounds import EPS32, sum_tol
from toy_models import Raises, SharedReLUNet, assert_untouched, snapshot

N, SIZE = 23, 16  # 23 images: no batch size used below divides it


def conv_net() -> nn.Sequential:
    """Two padded 3x3 convs: a 5 x 5 receptive field reaching 2 px outside the image."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, padding=1), nn.ReLU()
    ).eval()


def random_images(n=N, size=SIZE, seed=0, high=256) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return list(rng.integers(0, high, (n, size, size, 3), dtype=np.uint8))


def brute_topk(acts: np.ndarray, k: int):
    """Reference top-k: score = spatial max; descending score, ties by lower image index;
    location = first max in row-major order."""
    n, c, h, w = acts.shape
    flat = acts.reshape(n, c, h * w)
    scores, where = flat.max(2), flat.argmax(2)
    values, indices, locations = [], [], []
    for ch in range(c):
        order = np.lexsort((np.arange(n), -scores[:, ch]))[:k]
        values.append(scores[order, ch])
        indices.append(order)
        locations.append(np.stack([where[order, ch] // w, where[order, ch] % w], 1))
    return np.array(values), np.array(indices), np.array(locations)


def hand_crop(image: np.ndarray, box, fill=128) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` with ``fill`` where the box leaves the image."""
    y0, x0, y1, x1 = box
    out = np.full((y1 - y0, x1 - x0, image.shape[2]), fill, np.uint8)
    h, w = image.shape[:2]
    ys, xs = slice(max(y0, 0), min(y1, h)), slice(max(x0, 0), min(x1, w))
    out[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = image[ys, xs]
    return out


def acts_of(model, images, layer, preprocess=None) -> np.ndarray:
    return capture(model, to_batch(images, model, preprocess), [layer])[layer].numpy()


# ----------------------------------------------------------------------------- top-k


@pytest.mark.parametrize("batch_size", [5, 64])
def test_topk_and_patches_match_brute_force(batch_size, tmp_path):
    model, images = conv_net(), random_images(high=200)  # not full range: shown as is, not stretched
    result = scan(model, "3", images, k=4, batch_size=batch_size, cache=False)
    values, indices, locations = brute_topk(acts_of(model, images, "3"), 4)
    np.testing.assert_allclose(result.values, values, rtol=1e-5, atol=1e-6)
    assert np.array_equal(result.indices, indices)
    assert np.array_equal(result.locations, locations)
    assert result.k == 4 and result.n_images == N and result.layer == "3"
    assert result.patches.shape == (5, 4, 5, 5, 3) and result.patches.dtype == np.uint8
    outside = 0
    for c in range(5):
        for j in range(4):
            box = result.rf.box(*locations[c, j])
            outside += min(box) < 0 or max(box[2:]) > SIZE
            assert np.array_equal(result.patches[c, j], hand_crop(images[indices[c, j]], box))
    assert outside  # the gray padding was exercised


def test_ties_keep_the_earlier_image_and_the_first_cell():
    """A max-pool of the raw pixels: many images reach 255 in every channel, often at several
    cells, so the order is decided by the documented tie rules alone."""
    model = nn.Sequential(nn.MaxPool2d(2)).eval()
    images = random_images(seed=1)
    images[7] = images[3].copy()  # an exact duplicate
    result = scan(model, "0", images, k=6, batch_size=4, cache=False)
    acts = acts_of(model, images, "0")
    values, indices, locations = brute_topk(acts, 6)
    assert (values == 1.0).all()  # all ties
    assert np.array_equal(result.values, values)
    assert np.array_equal(result.indices, indices)
    assert np.array_equal(result.locations, locations)


def test_preprocessed_dataloader_patches_are_min_max_mapped():
    model = conv_net()
    torch.manual_seed(3)
    x = torch.randn(N, 3, SIZE, SIZE)  # already "normalised": negative values, no [0, 1] range
    labels = torch.arange(N) % 3
    loader = DataLoader(TensorDataset(x, labels), batch_size=7)
    seen = []
    result = scan(model, "3", loader, k=3, cache=False, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(7, N), (14, N), (21, N), (N, N)]
    acts = capture(model, x, ["3"])["3"].numpy()
    values, indices, locations = brute_topk(acts, 3)
    np.testing.assert_allclose(result.values, values, rtol=1e-5, atol=1e-6)
    assert np.array_equal(result.indices, indices) and np.array_equal(result.locations, locations)
    xn = x.numpy()
    lo, hi = xn.min((1, 2, 3)), xn.max((1, 2, 3))
    shown = np.round((xn - lo[:, None, None, None]) / (hi - lo)[:, None, None, None] * 255)
    shown = shown.clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    for c in range(5):
        for j in range(3):
            expected = hand_crop(shown[indices[c, j]], result.rf.box(*locations[c, j]))
            assert np.abs(result.patches[c, j].astype(int) - expected).max() <= 1
    assert result.stats.selectivity is not None and result.stats.selectivity.shape == (5,)


def test_uint8_dataloader_and_pairs_and_generator_agree_with_a_list():
    model, images = conv_net(), random_images()
    labels = [i % 2 for i in range(N)]
    reference = scan(model, "3", images, k=3, batch_size=8, cache=False)
    chw = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()  # uint8 N x 3 x H x W
    for dataset in (
        DataLoader(TensorDataset(chw, torch.tensor(labels)), batch_size=6),
        TensorDataset(chw),  # map-style, items are 1-tuples
        list(zip(images, labels)),
        (image for image in images),  # no len: progress total is None
    ):
        result = scan(model, "3", dataset, k=3, batch_size=8, cache=False)
        np.testing.assert_allclose(result.values, reference.values, rtol=1e-5)
        assert np.array_equal(result.indices, reference.indices)
        assert np.array_equal(result.patches, reference.patches)


# ----------------------------------------------------------------------------- receptive fields


def test_receptive_field_of_toy_stacks_matches_hand_derivation():
    torch.manual_seed(0)
    two_convs = receptive_field(conv_net(), "3", (3, 20, 20))
    assert two_convs.size == (5, 5) and two_convs.stride == (1, 1) and two_convs.grid == (20, 20)
    assert two_convs.box(0, 0) == (-2, -2, 3, 3) and two_convs.box(19, 4) == (17, 2, 22, 7)

    # conv 3x3 -> pool 2 -> conv 3x3, no padding: 2 * 3 + 2 = 8 px, stride 2.
    pooled = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3))
    rf = receptive_field(pooled, "3", (3, 21, 21))
    assert rf.size == (8, 8) and rf.stride == (2, 2) and rf.grid == (7, 7)
    assert rf.box(0, 0) == (0, 0, 8, 8) and rf.box(2, 5) == (4, 10, 12, 18)

    # stride-2 then dilated conv, on a non-square input: rows and columns independent
    odd = nn.Sequential(nn.Conv2d(3, 4, (3, 1), stride=2, padding=(1, 0)), nn.Conv2d(4, 4, 3, dilation=2))
    rf = receptive_field(odd, "1", (3, 24, 30))
    # rows: 3 + 2 * 2 * (3 - 1) = 11, stride 2, origin -1; columns: 1 + 2 * 2 * 2 = 9, origin 0
    assert rf.size == (11, 9) and rf.stride == (2, 2) and rf.box(0, 0) == (-1, 0, 10, 9)
    with pytest.raises(ValueError, match="outside the"):
        rf.box(rf.grid[0], 0)


def test_receptive_field_larger_than_the_image_is_measured_on_a_larger_input():
    torch.manual_seed(0)
    deep = nn.Sequential(*[nn.Conv2d(3, 3, 3, padding=1) for _ in range(5)])  # 11 x 11 field
    rf = receptive_field(deep, "4", (3, 8, 8))
    assert rf.size == (11, 11) and rf.stride == (1, 1) and rf.grid == (8, 8)
    assert rf.box(0, 0) == (-5, -5, 6, 6)
    images = random_images(5, 8)
    scanned = scan(deep, "4", images, k=2, cache=False)
    assert scanned.patches.shape[2:4] == (8, 8)  # clipped to the input size: the centred window
    for c, j in np.ndindex(3, 2):
        y0, x0, _, _ = scanned.rf.box(*scanned.locations[c, j])
        window = (y0 + 1, x0 + 1, y0 + 9, x0 + 9)  # (11 - 8) // 2 = 1 px in
        assert np.array_equal(scanned.patches[c, j], hand_crop(images[scanned.indices[c, j]], window))


def test_receptive_field_of_demo_model():
    # Stage s has two 3x3 convs' worth of growth per pooling level: sizes 3, 8, 18, 38 px
    # (conv1 3; pool 4; conv2 8; pool 10; conv3 18; pool 22; conv4 38), strides 1, 2, 4, 8,
    # and padding 1 at every conv puts cell (0, 0)'s box at -(size - stride) / 2.
    model = demo.shapes_model()
    before = snapshot(model)
    for layer, size, stride in [("relu1", 3, 1), ("relu2", 8, 2), ("relu3", 18, 4), ("relu4", 38, 8)]:
        rf = receptive_field(model, layer, (3, 128, 128))
        assert rf.size == (size, size) and rf.stride == (stride, stride), layer
        assert rf.grid == (128 // stride,) * 2
        offset = -(size - stride) // 2
        assert rf.box(0, 0) == (offset, offset, offset + size, offset + size), layer
    assert_untouched(model, before)


# ----------------------------------------------------------------------------- statistics


def planted_net() -> nn.Sequential:
    """conv + ReLU whose channel 0 is dead (zero weights, negative bias), channel 1 constant
    and the others alive (positive weights on non-negative inputs)."""
    net = conv_net()
    conv = net[2]
    with torch.no_grad():
        conv.weight[2:] = conv.weight[2:].abs()
        conv.weight[0:2] = 0
        conv.bias[0], conv.bias[1] = -1.0, 2.0
    return net


def test_unit_stats_match_numpy_and_flag_dead_and_constant_units():
    model, images = planted_net(), random_images()
    labels = [i % 3 for i in range(N)]
    stats = scan(model, "3", list(zip(images, labels)), k=3, batch_size=6, cache=False).stats
    acts = acts_of(model, images, "3").astype(np.float64)
    scores = acts.max((2, 3))
    # The scan runs batches of 6, the reference one of 23: other float32 kernels. Two
    # evaluations of the two convolutions (28 and 55 terms) differ by at most sum_tol over the
    # absolute terms, which the convolutions of |x| by |W| bound; the statistics then add a
    # float32 sum over the N images (N eps of the largest score, both sides).
    with torch.no_grad():
        c1, c2 = model[0], model[2]
        a1 = nn.functional.conv2d(to_batch(images, model).abs(), c1.weight.abs(), c1.bias.abs(), padding=1)
        a2 = nn.functional.conv2d(a1, c2.weight.abs(), c2.bias.abs(), padding=1)
    act_tol = sum_tol(28 + 55, a2.max())
    stat_tol = act_tol + N * EPS32 * scores.max()
    np.testing.assert_allclose(stats.max, scores.max(0), atol=act_tol, rtol=0)
    np.testing.assert_allclose(stats.mean, scores.mean(0), atol=stat_tol, rtol=0)
    np.testing.assert_allclose(stats.std, scores.std(0), atol=stat_tol + N * EPS32 * scores.std(0).max(), rtol=0)
    np.testing.assert_allclose(stats.frac_active, (scores > 0).mean(0))
    cell_std = acts.std(0).reshape(acts.shape[1], -1).max(1)
    rms = np.sqrt((acts ** 2).mean())
    assert np.array_equal(stats.dead, scores.max(0) <= 0)
    assert np.array_equal(stats.constant, cell_std <= CONSTANT_EPS * rms)
    assert stats.dead.tolist() == [True, False, False, False, False]
    assert stats.constant.tolist() == [True, True, False, False, False]
    means = np.stack([scores[np.array(labels) == y].mean(0) for y in range(3)])  # class x C
    assert np.array_equal(stats.selective_class, means.argmax(0))


def test_selectivity_on_a_hand_made_case():
    """Identity layer on flat images: each image's channel score is its channel's value."""
    model = nn.Sequential(nn.Identity())
    rows = [  # (class, channel values): channel 0 prefers class 0, 1 is indifferent, 2 only class 2
        (0, (0.8, 0.5, 0.0)), (0, (0.8, 0.5, 0.0)),
        (1, (0.1, 0.5, 0.0)), (1, (0.3, 0.5, 0.0)), (1, (0.2, 0.5, 0.0)),
        (2, (0.2, 0.5, 0.6)),
        (5, (0.2, 0.5, 0.0)),  # classes 3 and 4 have no images: left out
    ]
    data = [(np.full((4, 4, 3), v, np.float32), y) for y, v in rows]
    stats = scan(model, "0", data, k=2, batch_size=3, cache=False).stats
    # channel 0: class means 0.8, 0.2, 0.2, 0.2 -> (0.8 - 0.2) / (0.8 + 0.2) = 0.6
    # channel 1: all 0.5 -> 0; channel 2: 0.6 vs 0 -> 1
    # class means of <= 3 values, a difference, a sum and a quotient: < 8 roundings of values <= 1
    np.testing.assert_allclose(stats.selectivity, [0.6, 0.0, 1.0], atol=8 * EPS32 / 2)
    assert stats.selective_class.tolist()[0::2] == [0, 2]


# ----------------------------------------------------------------------------- dissection


def numpy_bilinear(maps: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling with pixel-centre alignment (sample at (y + 0.5) / s - 0.5, clamped)."""
    h = maps.shape[-1]
    src = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, None)
    i0 = np.floor(src).astype(int)
    i1, wgt = np.minimum(i0 + 1, h - 1), src - i0
    rows = maps[..., i0, :] * (1 - wgt)[:, None] + maps[..., i1, :] * wgt[:, None]
    return rows[..., i0] * (1 - wgt) + rows[..., i1] * wgt


def test_dissect_planted_unit_and_numpy_reference():
    rng = np.random.default_rng(0)
    n, size = 6, 16
    concept_a = np.zeros((n, size, size), bool)
    for i in range(n):
        y, x = rng.integers(0, size - 5, 2)
        concept_a[i, y:y + 5, x:x + 5] = True
    concept_b = np.roll(concept_a, 6, axis=2) | np.roll(concept_a, 6, axis=1)  # larger than a
    ramp = np.linspace(1, 2, concept_b.size).reshape(concept_b.shape)  # distinct values
    images = np.zeros((n, size, size, 3), np.float32)
    images[..., 0] = concept_a  # unit 0 fires exactly on concept a
    images[..., 1] = concept_b * ramp / 2  # unit 1: graded inside concept b
    masks = {"a": concept_a, "b": concept_b}
    q = concept_a.sum() / concept_a.size  # the top-q values of unit 0 are exactly concept a
    model = nn.Sequential(nn.Identity()).eval()
    before = snapshot(model)
    result = dissect(model, "0", list(images), masks, quantile=q, batch_size=4)
    assert_untouched(model, before)
    m = concept_a.sum()
    # unit 0: IoU 1 with a. unit 1: its top m values lie inside b: IoU m / |b| (as |b| > m).
    # unit 2 (all zero): empty mask, IoU 0, no label.
    assert concept_b.sum() > m
    np.testing.assert_allclose(result.iou[:, 0][[0, 2]], [1.0, 0.0])
    np.testing.assert_allclose(result.iou[1, 1], m / concept_b.sum())
    assert result.concepts == ["a", "b"] and result.label(0) == "a" and result.label(2) is None
    assert result.best.tolist() == [0, 1 if m / concept_b.sum() > 0.04 else -1, -1]

    # a low-resolution layer (average pooling) against numpy: upsample, threshold, IoU
    pool = nn.Sequential(nn.AvgPool2d(4)).eval()
    result = dissect(pool, "0", list(images), masks, quantile=0.05, threshold=0.1, batch_size=5)
    up = numpy_bilinear(images.transpose(0, 3, 1, 2).reshape(n, 3, 4, 4, 4, 4).mean((3, 5)), size)
    for unit in range(3):
        values = up[:, unit].ravel()
        t = np.sort(values)[values.size - round(0.05 * values.size) - 1]
        np.testing.assert_allclose(result.thresholds[unit], t, rtol=1e-5)
        fired = up[:, unit] > t
        for j, mask in enumerate(masks.values()):
            iou = (fired & mask).sum() / max((fired | mask).sum(), 1)
            np.testing.assert_allclose(result.iou[unit, j], iou, rtol=1e-5)
    expected_best = np.where(result.iou.max(1) > 0.1, result.iou.argmax(1), -1)
    assert np.array_equal(result.best, expected_best)
    assert result.unique_detectors == len(set(expected_best[expected_best >= 0].tolist()))


def test_demo_masks_and_concepts():
    plain, masked = demo.shapes_dataset(12, seed=3), demo.shapes_dataset(12, seed=3, masks=True)
    assert plain.masks is None
    assert np.array_equal(plain.images, masked.images) and plain.boxes == masked.boxes
    assert masked.masks.shape == (12, 128, 128) and masked.masks.dtype == bool
    for mask, boxes in zip(masked.masks, masked.boxes):
        inside = np.zeros_like(mask)
        for x0, y0, x1, y1 in boxes:
            inside[y0:y1, x0:x1] = True
        assert mask.any() and not (mask & ~inside).any()  # object pixels lie in the boxes
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min()) == tuple(np.min([b[:2] for b in boxes], 0))
    concepts = demo.class_concepts(masked)
    assert list(concepts) == list(demo.CLASSES)
    for label, name in enumerate(demo.CLASSES):
        of_class = masked.labels == label
        assert np.array_equal(concepts[name][of_class], masked.masks[of_class])
        assert not concepts[name][~of_class].any()
    with pytest.raises(ValueError, match="masks=True"):
        demo.class_concepts(plain)


# ----------------------------------------------------------------------------- cache, cancel, hygiene


class Counting(nn.Module):
    """Wraps a net and counts forward calls."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


def test_cache_loads_without_forward_and_misses_on_any_key_change(tmp_path):
    model, images = Counting(conv_net()), random_images()
    first = scan(model, "net.3", images, k=3, batch_size=8, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    calls = model.calls
    again = scan(model, "net.3", images, k=3, batch_size=8, cache_dir=tmp_path)
    assert model.calls == calls  # loaded: no forward pass at all
    for name in ("values", "indices", "locations", "patches"):
        assert np.array_equal(getattr(again, name), getattr(first, name))
    assert again.rf == first.rf and again.k == 3 and again.n_images == N
    assert np.array_equal(again.stats.constant, first.stats.constant) and again.stats.selectivity is None

    def misses(**change) -> bool:
        before = model.calls
        args = {"layer": "net.3", "dataset": images, "k": 3} | change
        scan(model, args.pop("layer"), args.pop("dataset"), batch_size=8, cache_dir=tmp_path, **args)
        return model.calls > before

    assert misses(layer="net.1") and misses(k=2)
    assert misses(dataset=images[:-1] + [images[0]])  # the last item changed
    assert misses(dataset_key="mine")  # first use of a key computes
    assert not misses(dataset=random_images(seed=5), dataset_key="mine")  # the key decides
    with torch.no_grad():
        model.net[0].bias[0] += 1
    assert misses()


def test_cancel_raises_leaves_model_and_cache_untouched(tmp_path):
    model = SharedReLUNet().train()
    before = snapshot(model)
    stop = threading.Event()

    def progress(done, total):
        if done >= 10:
            stop.set()

    with pytest.raises(tasks.Cancelled):
        scan(model, "relu:1", random_images(), batch_size=5, progress=progress, cancel=stop, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert_untouched(model, before)


def test_hygiene_with_shared_inplace_relu_and_raising_forward(shared_net):
    shared_net.double().train()  # float64: the scan's batches of 4 and the reference's 9 take other kernels
    for p in shared_net.conv2.parameters():
        p.requires_grad_(False)
    before = snapshot(shared_net)
    images = random_images(9)
    for layer in ("relu", "relu:1"):
        result = scan(shared_net, layer, images, k=2, batch_size=4, cache=False)
        acts = capture(shared_net, to_batch(images, shared_net), [layer])[layer].numpy()
        # the in-place ReLU that follows "relu" must not alter what was scanned
        np.testing.assert_allclose(result.values, brute_topk(acts, 2)[0], rtol=1e-12)  # float64: ~73 eps64 * sum|terms| ~ 1e-13
    receptive_field(shared_net, "relu:1", (3, 12, 12))
    dissect(shared_net, "relu", images, {"x": np.ones((9, SIZE, SIZE), bool)})
    assert_untouched(shared_net, before)
    raising = Raises()
    before = snapshot(raising)
    with pytest.raises(RuntimeError):
        scan(raising, "bad", random_images(3), cache=False)
    assert_untouched(raising, before)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_give_clear_errors():
    model, images = conv_net(), random_images(6)
    with pytest.raises(ValueError, match="share one size"):
        scan(model, "3", images + random_images(1, size=12), batch_size=4, cache=False)
    with pytest.raises(ValueError, match="share one size"):
        scan(model, "3", images[:4] + random_images(1, size=12), batch_size=4, cache=False)
    with pytest.raises(ValueError, match="empty"):
        scan(model, "3", [], cache=False)
    with pytest.raises(ValueError, match="unknown layer 'conv'"):
        scan(model, "conv", images, cache=False)
    with pytest.raises(ValueError, match="k must be a positive int"):
        scan(model, "3", images, k=0, cache=False)
    with pytest.raises(TypeError, match="class indices"):
        scan(model, "3", [(img, "cat") for img in images], cache=False)
    with pytest.raises(TypeError, match="iterable of images"):
        scan(model, "3", 42, cache=False)
    with pytest.raises(ValueError, match="expected an image or"):
        scan(model, "3", [(img, 0, 1) for img in images], cache=False)
    with pytest.raises(ValueError, match="expected .N, H, W."):
        dissect(model, "3", images, {"a": np.zeros((6, 8, 8), bool)})
    with pytest.raises(ValueError, match="quantile"):
        dissect(model, "3", images, {"a": np.zeros((6, SIZE, SIZE), bool)}, quantile=0)
    with pytest.raises(ValueError, match=r"input_shape"):
        receptive_field(model, "3", (16, 16))
    # k larger than the dataset is clamped, as documented
    small = scan(model, "3", images, k=50, cache=False)
    assert small.k == 6 and small.values.shape == (5, 6) and small.patches.shape[1] == 6
    assert (np.sort(small.indices, 1) == np.arange(6)).all()


@pytest.mark.parametrize("score, order, values", [
    ("max", [0, 1, 2], [1.0, 0.5, 0.3]),
    ("mean", [1, 2, 0], [0.5, (63 * 0.1 + 0.3) / 64, 1 / 64]),
    ("sum", [1, 2, 0], [32.0, 63 * 0.1 + 0.3, 1.0]),
])
def test_score_ranks_images_by_the_maps_max_mean_or_sum(score, order, values, tmp_path):
    """A 1 x 1 convolution that averages the colour channels: the map is the image itself."""
    net = nn.Sequential(nn.Conv2d(3, 1, 1, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(1 / 3)
    spike = torch.zeros(3, 8, 8)
    spike[:, 2, 5] = 1.0  # max 1, mean 1/64
    flat = torch.full((3, 8, 8), 0.5)  # max and mean 0.5
    dim = torch.full((3, 8, 8), 0.1)
    dim[:, 7, 0] = 0.3  # max 0.3, mean just over 0.1
    top = scan(net, "0", [spike, flat, dim], k=3, cache_dir=tmp_path)
    again = scan(net, "0", [spike, flat, dim], k=3, cache_dir=tmp_path, score=score)  # not the cached "max"
    assert again.score == score
    assert again.indices[0].tolist() == order
    np.testing.assert_allclose(again.values[0], values, rtol=1e-5)
    np.testing.assert_array_equal(again.stats.max, top.stats.max)  # the statistics keep the spatial max
    np.testing.assert_array_equal(again.stats.max, [1.0])
    assert scan(net, "0", [spike, flat, dim], k=3, cache_dir=tmp_path, score=score).score == score  # from the cache
    with pytest.raises(ValueError, match="unknown unit objective"):
        scan(net, "0", [spike], score="median", cache=False)
