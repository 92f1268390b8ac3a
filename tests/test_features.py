"""Feature occlusion (Norton 2018, ch. 3): flood fill, occluders and the four analysis metrics, against
hand-drawn maps, a naive BFS, a numpy pixelisation and a toy model with hand-derived answers."""
from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets import perturbation
from xai_widgets.attribution import feature_occlusion as features
from xai_widgets.core.tasks import Cancelled

from float_bounds import EPS32, sum_tol
from toy_models import assert_untouched, snapshot


def pixels(feature) -> set:
    return {tuple(p) for p in feature.tolist()}


# ------------------------------------------------------------------------------------ flood fill
def test_two_islands_two_pixels_apart_merge_only_when_the_distance_bridges_the_gap():
    r = np.zeros((8, 12))
    r[2:5, 2:5] = 1.0  # cols 2..4
    r[2:5, 6:9] = 2.0  # cols 6..8: two pixels from the first island (col 4 -> col 6)
    apart = features.find_features(r, threshold=1.0, distance=1.5, min_size=1)
    assert len(apart) == 2
    assert pixels(apart[0]) == {(y, x) for y in range(2, 5) for x in range(6, 9)}  # more relevance first
    assert pixels(apart[1]) == {(y, x) for y in range(2, 5) for x in range(2, 5)}
    merged = features.find_features(r, threshold=1.0, distance=3.0, min_size=1)
    assert len(merged) == 1 and len(merged[0]) == 18
    assert len(features.find_features(r, threshold=1.0, distance=2.0, min_size=1)) == 1  # distance 2 reaches


def test_diagonal_neighbours_join_at_one_and_a_half_but_not_at_one():
    r = np.zeros((6, 6))
    for i in range(4):
        r[1 + i, 1 + i] = 1.0
    assert len(features.find_features(r, threshold=1.0, distance=1.5, min_size=1)) == 1
    assert len(features.find_features(r, threshold=1.0, distance=1.0, min_size=1)) == 4


def test_min_size_drops_small_islands():
    r = np.zeros((10, 10))
    r[0:5, 0:5] = 1.0  # 25 px
    r[8, 8:10] = 1.0  # 2 px
    assert [len(f) for f in features.find_features(r, threshold=1.0, min_size=0)] == [25, 2]
    assert [len(f) for f in features.find_features(r, threshold=1.0, min_size=20)] == [25]
    assert features.find_features(r, threshold=1.0, min_size=26) == []


def test_threshold_is_a_multiple_of_the_positive_sum_over_all_pixels():
    # 4 x 5 map: positive sum 2 + 4 + 6 + 8 = 20, H W = 20, so tau = threshold * 1.0
    r = np.full((4, 5), -3.0)  # negative relevance never counts (and does not lower the sum)
    r[0, 0], r[0, 4], r[3, 0], r[3, 4] = 2.0, 4.0, 6.0, 8.0
    # divided by all 20 pixels, not by the 4 positive ones (that mean would be 5)
    assert features.cutoff(r, 1.0) == 1.0 and features.cutoff(r, 5.0) == 5.0
    found = lambda t: sorted(pixels(f).pop() for f in features.find_features(r, threshold=t, min_size=1))  # noqa: E731
    assert found(5.0) == [(3, 0), (3, 4)]  # 6 and 8 > 5
    assert found(6.0) == [(3, 4)]  # strictly above: 6 is not > 6
    assert found(1.0) == [(0, 0), (0, 4), (3, 0), (3, 4)]
    assert found(8.0) == []
    # the rule is scale-free: the same features for 1000 x the map
    assert [pixels(f) for f in features.find_features(1000 * r, threshold=5.0, min_size=1)] == \
        [pixels(f) for f in features.find_features(r, threshold=5.0, min_size=1)]
    assert features.find_features(-np.ones((3, 3))) == []


def naive_flood_fill(r, threshold, distance, min_size):
    """A plain BFS from each unvisited candidate (Norton's algorithm as written)."""
    H, W = r.shape
    tau = threshold * r[r > 0].sum() / (H * W)
    cand = r > tau
    seen = np.zeros_like(cand)
    reach = int(distance)
    out = []
    for y0, x0 in zip(*np.nonzero(cand)):
        if seen[y0, x0]:
            continue
        island, queue = [], deque([(y0, x0)])
        seen[y0, x0] = True
        while queue:
            y, x = queue.popleft()
            island.append((y, x))
            for dy in range(-reach, reach + 1):
                for dx in range(-reach, reach + 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < H and 0 <= xx < W and cand[yy, xx] and not seen[yy, xx] \
                            and dy * dy + dx * dx <= distance * distance:
                        seen[yy, xx] = True
                        queue.append((yy, xx))
        if len(island) >= min_size:
            out.append(set(island))
    return out


@pytest.mark.parametrize("distance", [1.0, 1.5, 2.0, 3.0])
def test_flood_fill_equals_a_naive_bfs_on_random_maps(distance):
    rng = np.random.default_rng(int(distance * 10))
    r = rng.standard_normal((40, 50)) ** 3
    got = features.find_features(torch.from_numpy(r), threshold=2.0, distance=distance, min_size=3)
    want = naive_flood_fill(r, 2.0, distance, 3)
    assert sorted(map(sorted, map(pixels, got))) == sorted(map(sorted, want))
    totals = [r[f[:, 0], f[:, 1]].sum() for f in got]
    assert totals == sorted(totals, reverse=True)
    for f in got:  # row-major pixels, int (row, col)
        assert f.dtype == np.int64 and f.shape[1] == 2
        assert (np.diff(f[:, 0] * 50 + f[:, 1]) > 0).all()


def test_label_map_round_trip_and_bad_inputs():
    r = np.zeros((6, 7))
    r[1:3, 1:3] = 2.0
    r[4, 2:6] = 1.0
    feats = features.find_features(r[None], threshold=1.0, min_size=1)  # 1 x H x W is accepted
    labels = features.label_map(feats, (6, 7))
    assert labels.dtype == np.int32 and set(np.unique(labels)) == {0, 1, 2}
    assert pixels(feats[0]) == {tuple(p) for p in np.argwhere(labels == 1).tolist()}
    with pytest.raises(ValueError, match="NaN"):
        features.find_features(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="one H x W map"):
        features.find_features(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="distance"):
        features.find_features(r, distance=0)
    with pytest.raises(ValueError, match="min_size"):
        features.find_features(r, min_size=-1)
    with pytest.raises(TypeError, match="H x W torch tensor or numpy array"):
        features.find_features([[1.0]])


# ------------------------------------------------------------------------------------ occlusion
@pytest.fixture(scope="module")
def scene():
    """A 3 x 21 x 30 image (sides not multiples of the patch) and three features."""
    x = torch.rand(3, 21, 30, generator=torch.Generator().manual_seed(5))
    r = np.zeros((21, 30))
    r[2:6, 3:9] = 3.0
    r[10:12, 20:29] = 2.0
    r[17:21, 0:3] = 1.0  # touches the bottom edge, where patches are partial
    return x, features.find_features(r, threshold=1.0, min_size=1)


def reference_noise(x, seed, lo=0.0, hi=1.0):
    """The documented noise: uniform over [lo, hi] drawn once from torch.Generator(seed)."""
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)).numpy()
    return lo + (hi - lo) * u


def numpy_pixelate(x, feats, selected, patch, noise):
    """Norton 2018, §3.4.3 as written: noise the feature pixels, then average every patch holding one."""
    img = x.numpy().copy()
    C, H, W = img.shape
    on = np.zeros((H, W), bool)
    for k in selected:
        on[feats[k][:, 0], feats[k][:, 1]] = True
    img[:, on] = noise[:, on]
    out = img.copy()
    for y in range(0, H, patch):
        for x0 in range(0, W, patch):
            if on[y:y + patch, x0:x0 + patch].any():
                out[:, y:y + patch, x0:x0 + patch] = img[:, y:y + patch, x0:x0 + patch].mean(axis=(1, 2), keepdims=True)
    return out, on


@pytest.mark.parametrize("patch", [4, 8])
def test_pixelate_changes_only_patches_touching_features_each_to_its_noised_mean(scene, patch):
    x, feats = scene
    noise = reference_noise(x, seed=3)
    for selected in ([0], [1, 2], [0, 1, 2]):
        got = features.occlude(x, feats, selected, mode="pixelate", patch=patch, seed=3, value_range=(0.0, 1.0))
        want, on = numpy_pixelate(x, feats, selected, patch, noise)
        # patch means of patch^2 values in [0, 1], summed in different orders here and there
        tol = sum_tol(patch**2, patch**2) / patch**2 + EPS32
        np.testing.assert_allclose(got.numpy(), want, atol=tol, rtol=0)
        touched = np.zeros(on.shape, bool)
        for y, c in zip(*np.nonzero(on)):
            touched[y // patch * patch:(y // patch + 1) * patch, c // patch * patch:(c // patch + 1) * patch] = True
        assert torch.equal(got[:, ~torch.from_numpy(touched)], x[:, ~torch.from_numpy(touched)])  # bit-exact elsewhere


def test_noise_and_box_modes_against_numpy(scene):
    x, feats = scene
    noise = reference_noise(x, seed=0, lo=-1.0, hi=2.0)
    got = features.occlude(x, feats, [0, 2], mode="noise", value_range=(-1.0, 2.0))
    want = x.numpy().copy()
    for k in (0, 2):
        want[:, feats[k][:, 0], feats[k][:, 1]] = noise[:, feats[k][:, 0], feats[k][:, 1]]
    np.testing.assert_array_equal(got.numpy(), want.astype(np.float32))

    got = features.occlude(x, feats, [1], mode="box", value_range=(-1.0, 2.0))
    f = feats[1]
    noised = x.numpy().copy()
    noised[:, f[:, 0], f[:, 1]] = noise[:, f[:, 0], f[:, 1]]
    (r0, c0), (r1, c1) = f.min(0), f.max(0) + 1
    want = x.numpy().copy()
    want[:, r0:r1, c0:c1] = noised[:, r0:r1, c0:c1].mean(axis=(1, 2), keepdims=True)
    # the box mean of n values in [-1, 2], summed in different orders here and there
    n = int((r1 - r0) * (c1 - c0))
    np.testing.assert_allclose(got.numpy(), want, atol=sum_tol(n, 2 * n) / n + 2 * EPS32, rtol=0)


def test_default_noise_range_is_each_channels_own_range(scene):
    x, feats = scene
    y = 10 * x - 3  # a "normalised" image
    got = features.occlude(y, feats, [0], mode="noise")
    lo, hi = y.amin(dim=(1, 2)).numpy()[:, None], y.amax(dim=(1, 2)).numpy()[:, None]
    f = feats[0]
    want = lo + (hi - lo) * reference_noise(x, 0)[:, f[:, 0], f[:, 1]]
    np.testing.assert_allclose(got[:, f[:, 0], f[:, 1]].numpy(), want, rtol=1e-5, atol=1e-5)


def test_occlusion_is_deterministic_batched_and_takes_label_maps(scene):
    x, feats = scene
    a = features.occlude(x, feats, [0, 1], seed=7)
    assert torch.equal(a, features.occlude(x, feats, [1, 0], seed=7))
    assert not torch.equal(a, features.occlude(x, feats, [0, 1], seed=8))
    labels = features.label_map(feats, (21, 30))
    assert torch.equal(a, features.occlude(x[None], labels, [0, 1], seed=7)[0])
    occluder = features.Occluder(x, feats, seed=7)
    batch = occluder([[], [0, 1], [2]])
    assert torch.equal(batch[0], x) and torch.equal(batch[1], a)
    assert torch.equal(batch[2], features.occlude(x, feats, [2], seed=7))
    assert torch.equal(occluder(torch.tensor([[True, True, False]]))[0], a)  # a selection matrix


def test_occlusion_refuses_bad_input(scene):
    x, feats = scene
    with pytest.raises(ValueError, match="0..2"):
        features.occlude(x, feats, [3])
    with pytest.raises(ValueError, match="mode must be one of"):
        features.occlude(x, feats, [0], mode="blur")
    with pytest.raises(ValueError, match="patch"):
        features.occlude(x, feats, [0], patch=0)
    with pytest.raises(ValueError, match="disjoint"):
        features.occlude(x, [feats[0], feats[0]], [0])
    with pytest.raises(ValueError, match="outside"):
        features.occlude(x, [np.array([[21, 0]])], [0])
    with pytest.raises(TypeError, match="C x H x W"):
        features.occlude(x.numpy(), feats, [0])
    with pytest.raises(ValueError, match="low <= high"):
        features.occlude(x, feats, [0], value_range=(1.0, 0.0))


# ------------------------------------------------------------------------------------ analysis
class RegionModel(nn.Module):
    """Logits that are known functions of regions: z_0 = sum_k w_k * mean(x over region k), z_1 = c1, z_2 = -10.

    With images that are 1 on the regions and 0-valued occlusion noise, occluding feature k
    sets its mean to 0: z_0 drops by w_k exactly."""

    def __init__(self, regions: list[np.ndarray], weights, c1: float, shape):
        super().__init__()
        H, W = shape
        R = torch.zeros(len(regions), H * W)
        for k, f in enumerate(regions):
            R[k, torch.as_tensor(f[:, 0] * W + f[:, 1])] = 1.0 / len(f)
        self.register_buffer("R", R)
        self.fc = nn.Linear(len(regions), 3)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.weight[0] = torch.as_tensor(weights, dtype=torch.float32)
            self.fc.bias.copy_(torch.tensor([0.0, c1, -10.0]))

    def forward(self, x):
        return self.fc(x[:, 0].flatten(1) @ self.R.T)


def blocks(n: int, side: int = 3, cols: int = 4):
    """n disjoint side x side squares on a grid, and the 1 x H x W image that is 1 on them."""
    H, W = (side + 1) * ((n + cols - 1) // cols), (side + 1) * cols
    feats = []
    for k in range(n):
        r0, c0 = (k // cols) * (side + 1), (k % cols) * (side + 1)
        feats.append(np.array([(r, c) for r in range(r0, r0 + side) for c in range(c0, c0 + side)]))
    x = torch.zeros(1, H, W)
    for f in feats:
        x[0, f[:, 0], f[:, 1]] = 1.0
    return x, feats


ZERO = {"mode": "noise", "value_range": (0.0, 0.0)}  # occluded pixels become 0


def test_analyse_finds_the_hand_derived_answers_of_all_four_metrics():
    # weights 1, 3, 0.5, 2 (feature 1 matters most); z_0 = 6.5 with all kept, z_1 = 3.2:
    #  most important: {1} (z_0 3.5).  smallest flip: size 2, {1, 3} has z_0 1.5, the largest drop
    #  ({1, 0}: 2.5 and {1, 2}: 3.0 flip too).  smallest keep: {1} alone is 3 < 3.2, so size 2:
    #  {1, 3} (z_0 5) beats {1, 0} (4) and {1, 2} (3.5): occlude {0, 2}.  largest change: all four.
    x, feats = blocks(4)
    model = RegionModel(feats, [1.0, 3.0, 0.5, 2.0], 3.2, x.shape[-2:])
    before = snapshot(model)
    calls = []
    a = features.analyse(model, x, feats, progress=lambda d, t: calls.append((d, t)), **ZERO)
    assert a.target == 0 and a.exhaustive and a.evaluated == 15
    assert a.order == [1, 3, 0, 2]
    z = lambda kept: sum(w for k, w in enumerate([1.0, 3.0, 0.5, 2.0]) if k in kept)  # noqa: E731
    p = lambda kept: float(torch.tensor([z(kept), 3.2, -10.0]).softmax(0)[0])  # noqa: E731
    p0 = p({0, 1, 2, 3})
    np.testing.assert_allclose(a.drops.numpy(), [p0 - p({1, 2, 3}), p0 - p({0, 2, 3}), p0 - p({0, 1, 3}),
                                                 p0 - p({0, 1, 2})], atol=1e-6)
    assert a.most_important.occluded == (1,)
    assert a.smallest_flip.occluded == (1, 3) and a.smallest_flip.top1 == 1
    assert a.smallest_keep.kept == (1, 3) and a.smallest_keep.occluded == (0, 2) and a.smallest_keep.top1 == 0
    assert a.largest_change.occluded == (0, 1, 2, 3)
    assert a.largest_change.change == pytest.approx(p0 - p(set()), abs=1e-6)
    flip = a.smallest_flip
    assert flip.target_prob == pytest.approx(p({0, 2}), abs=1e-6)
    assert torch.equal(flip.image, features.occlude(x, feats, [1, 3], **ZERO))
    assert calls[-1] == (15, 15) and all(t == 15 for _, t in calls)
    assert_untouched(model, before)


def test_analyse_under_a_budget_still_finds_minimal_sets_and_samples_the_rest():
    # 12 features (4095 subsets), budget 300: weights 3, 2 and ten of 0.1; z_0 = 6, z_1 = 3.2.
    # flip: occluding {0} leaves z_0 = 3 < 3.2, so a single feature flips it.
    x, feats = blocks(12)
    weights = [3.0, 2.0] + [0.1] * 10
    model = RegionModel(feats, weights, 3.2, x.shape[-2:])
    a = features.analyse(model, x, feats, max_sets=300, batch_size=64, **ZERO)
    assert not a.exhaustive and a.evaluated == 300
    assert a.order[:2] == [0, 1]
    assert a.smallest_flip.occluded == (0,) and a.smallest_flip.exhaustive
    # keep: {0} = 3, {0, 1} = 5 > 3.2: the size-2 kept set with the highest p_0
    assert a.smallest_keep.kept == (0, 1) and a.smallest_keep.exhaustive
    assert a.largest_change.occluded == tuple(range(12))  # the full set is always evaluated


def test_analyse_reports_sets_it_cannot_find():
    x, feats = blocks(3)
    model = RegionModel(feats, [1.0, 1.0, 1.0], -5.0, x.shape[-2:])  # nothing can flip class 0
    a = features.analyse(model, x, feats, **ZERO)
    assert a.smallest_flip is None and a.exhaustive and "changes the top-1" in a.notes[0]
    assert a.smallest_keep.kept == ()  # occluding everything keeps it: the empty kept set
    b = features.analyse(model, x, feats, target=1, **ZERO)  # a target that is not the top-1
    assert b.target == 1 and b.smallest_keep is None


def test_analyse_cancels_and_leaves_the_model_untouched(shared_net):
    shared_net.train()
    before = snapshot(shared_net)
    x = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(0))
    feats = [np.array([(r, c) for r in range(i, i + 2) for c in range(2, 6)]) for i in (0, 4, 8)]
    a = features.analyse(shared_net, x, feats, batch_size=2)
    assert a.evaluated == 7 and len(a.base_probs) == 4
    assert_untouched(shared_net, before)
    with pytest.raises(Cancelled):
        features.analyse(shared_net, x, feats, cancel=lambda: True)
    assert_untouched(shared_net, before)


def test_analyse_refuses_bad_input():
    x, feats = blocks(3)
    model = RegionModel(feats, [1.0, 1.0, 1.0], 0.0, x.shape[-2:])
    with pytest.raises(ValueError, match="no features"):
        features.analyse(model, x, [])
    with pytest.raises(ValueError, match="target"):
        features.analyse(model, x, feats, target=3)
    with pytest.raises(ValueError, match="max_sets"):
        features.analyse(model, x, feats, max_sets=3)
    with pytest.raises(TypeError, match="nn.Module"):
        features.class_probs(lambda t: t, x[None])


# ------------------------------------------------------------------------------------ relevance, sandbox
def test_relevance_map_takes_maps_and_methods(shared_net):
    x = torch.rand(1, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    r = torch.randn(10, 10)
    got, name = features.relevance_map(shared_net, x, r)
    assert name == "given map" and np.array_equal(got, r.numpy())
    attr = torch.randn(1, 3, 10, 10)
    np.testing.assert_allclose(features.relevance_map(shared_net, x, attr)[0], attr[0].sum(0).numpy(), rtol=1e-6)
    from xai_widgets import attribution

    want = attribution.attribute(shared_net, x, "grad_x_input", target=2)
    got, name = features.relevance_map(shared_net, x, "grad_x_input", target=2)
    assert name == "grad_x_input"
    np.testing.assert_allclose(got, want.maps[0].numpy(), rtol=1e-6)
    assert features.relevance_map(shared_net, x, want)[1] == "grad_x_input"
    with pytest.raises(ValueError, match="must match the model input, 10 x 10"):
        features.relevance_map(shared_net, x, torch.zeros(8, 10))
    assert features.default_method() == "lrp"  # zennit is installed in the test environment


def test_perturb_region_is_perturbation_perturb_on_the_unpainted_mask():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    painted = np.zeros((16, 16), bool)
    painted[4:10, 3:12] = True
    keep = torch.from_numpy(~painted).float()
    for kind in features.SANDBOX_KINDS:
        got = features.perturb_region(x, painted, kind=kind)
        torch.testing.assert_close(got, perturbation.perturb(x, keep[None], kind=kind))
        assert torch.equal(got[..., ~torch.from_numpy(painted)], x[..., ~torch.from_numpy(painted)])
    assert features.perturb_region(x[0], painted).shape == (3, 16, 16)
    with pytest.raises(ValueError, match="H x W"):
        features.perturb_region(x, painted[:8])
    with pytest.raises(ValueError, match="kind"):
        features.perturb_region(x, painted, kind="fade")


def test_every_subset_of_the_toy_matches_its_closed_form():
    """The batched occluder and the probabilities behind analyse, subset by subset."""
    x, feats = blocks(4)
    weights = [1.0, 3.0, 0.5, 2.0]
    model = RegionModel(feats, weights, 3.2, x.shape[-2:])
    subsets = [s for k in range(5) for s in itertools.combinations(range(4), k)]
    probs = features.class_probs(model, features.Occluder(x, feats, **ZERO)(subsets), batch_size=5)
    for s, p in zip(subsets, probs):
        z0 = sum(w for k, w in enumerate(weights) if k not in s)
        torch.testing.assert_close(p, torch.tensor([z0, 3.2, -10.0]).softmax(0))
