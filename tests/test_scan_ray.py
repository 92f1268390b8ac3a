"""Scans on Ray equal the single-process scan, and the partial results they are built from
merge exactly.

The merge tests need no Ray: partial results of random shard splits (hypothesis) merged
against one pass over the whole, and against numpy. The Ray tests start a local Ray with two
worker CPUs once for the session (the ``local_ray`` fixture of conftest.py) and compare
``scan``/``dissect`` with ``engine="ray"`` (and a ``ray.data.Dataset``) to the single process
on a model whose activations are exact integers in float32 (integer inputs and weights, values far below 2^24): any order of summation gives
the same bits, so top-k indices, scores, patches and counts must be identical; mean and std
(float64 moments merged in another grouping, rounded to float32) agree within one float32
step of their scale.
"""
from __future__ import annotations

import subprocess
import sys
import threading
from functools import reduce
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from xai_widgets.core import tasks
from xai_widgets.core.partials import IoUCounts, TopValues
from xai_widgets.units.partials import Moments, RunningTopK, StatsAccumulator
from xai_widgets.units.scan import dissect, scan

from float_bounds import rounded_tol

ROOT = Path(__file__).resolve().parent.parent
N, SIZE, BATCH = 26, 12, 4  # 26 images: two shards of 4 batches (16 + 10 images), the last batch short


# ----------------------------------------------------------------------------- merges without Ray


def splits(n: int):
    """Random contiguous shards of range(n): sorted cut points."""
    return st.lists(st.integers(0, n), max_size=4).map(lambda cuts: [0, *sorted(cuts), n])


def batches_of(lo: int, hi: int, size: int = 3):
    return [(a, min(hi, a + size)) for a in range(lo, hi, size)]


def fake_crop(first: int):
    """Patches that spell out (global image, cell): a merge that mixes up entries shows."""
    def crop(images, cells):
        out = torch.zeros(len(images), 1, 2, 3, dtype=torch.uint8)
        out[:, 0, 0, 0], out[:, 0, 1, 0] = (images + first).to(torch.uint8), cells.to(torch.uint8)
        return out
    return crop


def running_over(scores, where, lo, hi, k):
    top = RunningTopK(scores.shape[1], k, (1, 2), "cpu")
    for a, b in batches_of(lo, hi):
        top.update(scores[a:b], where[a:b], a, fake_crop(a))
    return top


@settings(max_examples=60)
@given(cuts=splits(20), k=st.integers(1, 7), key=st.integers(0, 2**16))
def test_topk_merge_of_random_shards_equals_one_pass_ties_included(cuts, k, key):
    g = torch.Generator().manual_seed(key)
    scores = torch.randint(0, 4, (20, 5), generator=g).float()  # four values: ties everywhere
    where = torch.randint(0, 9, (20, 5), generator=g)
    whole = running_over(scores, where, 0, 20, k)
    merged = reduce(RunningTopK.merge, [running_over(scores, where, a, b, k) for a, b in zip(cuts, cuts[1:])])
    got, want = merged.result(20, 3), whole.result(20, 3)
    for a, b in zip(got, want):
        assert np.array_equal(a, b)
    # independent reference: score descending, then image index ascending
    order = np.lexsort((np.tile(np.arange(20)[:, None], 5), -scores.numpy()), axis=0)[:k].T
    assert np.array_equal(got[1], order)
    assert np.array_equal(got[3][..., 0, 0, 0], order)  # each patch came with its image
    assert np.array_equal(got[3][..., 0, 1, 0], np.take_along_axis(where.numpy().T, order, 1))


@settings(max_examples=60)
@given(cuts=splits(17), key=st.integers(0, 2**16))
def test_statistics_merge_of_random_shards(cuts, key):
    g = torch.Generator().manual_seed(key)
    acts = torch.randn(17, 3, 2, 2, generator=g) * 5
    scores = acts.flatten(2).amax(2)
    labels = torch.randint(0, 3, (17,), generator=g)

    def over(lo, hi):
        acc = StatsAccumulator()
        for a, b in batches_of(lo, hi):
            acc.update(acts[a:b], scores[a:b], labels[a:b])
        return acc

    merged = reduce(StatsAccumulator.merge, [over(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]).result()
    whole = over(0, 17).result()
    for name in ("max", "frac_active", "dead", "constant", "selective_class"):
        assert np.array_equal(merged[name], whole[name]), name
    s = scores.double().numpy()
    for name, ref in (("mean", s.mean(0)), ("std", s.std(0))):
        tol = rounded_tol(np.abs(s).max())
        assert np.abs(merged[name] - ref).max() <= tol and np.abs(merged[name] - whole[name]).max() <= tol
    tol = rounded_tol(1.0)
    both = np.isfinite(whole["selectivity"])
    assert np.array_equal(both, np.isfinite(merged["selectivity"]))
    assert np.abs(merged["selectivity"][both] - whole["selectivity"][both]).max(initial=0) <= tol


def test_moments_merge_with_an_empty_part_and_in_float64():
    x = torch.tensor([[1e6 + 1.0], [1e6 + 3.0]])  # large offset, small spread: exact in float64
    a, b = Moments(), Moments()
    a.update(x[:1])
    b.update(x[1:])
    merged = Moments().merge(a).merge(Moments()).merge(b)
    assert merged.n == 2 and float(merged.std) == 1.0 and float(merged.mean) == 1e6 + 2


def test_labels_in_one_shard_only_is_refused():
    acts = torch.ones(2, 1, 1, 1)
    with_labels, without = StatsAccumulator(), StatsAccumulator()
    with_labels.update(acts[:1], acts[:1, :, 0, 0], torch.tensor([0]))
    without.update(acts[1:], acts[1:, :, 0, 0], None)
    with pytest.raises(ValueError, match="some items have labels and some do not"):
        with_labels.merge(without)


@settings(max_examples=60)
@given(cuts=splits(30), above=st.integers(1, 35), key=st.integers(0, 2**16))
def test_dissection_threshold_and_counts_merge_exactly(cuts, above, key):
    """T_k from merged top values is numpy's (above + 1)-th largest; int64 counts add up."""
    g = torch.Generator().manual_seed(key)
    values = torch.randint(0, 6, (3, 30), generator=g).float()  # 3 units x 30 pixels, many ties
    concepts = (torch.rand(30, 2, generator=g) > 0.5).float()
    parts = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    t = reduce(TopValues.merge, [TopValues.of(values[:, a:b], above + 1) for a, b in parts]).threshold(above)
    ranked = -np.sort(-values.numpy(), 1)
    expected = ranked[:, above] if above < 30 else values.numpy().min(1) - 1
    assert np.array_equal(t.numpy(), expected)
    fired = (values > t[:, None]).float()
    counts = reduce(IoUCounts.merge, [IoUCounts.of(fired[:, a:b], concepts[a:b]) for a, b in parts])
    f, c = fired.numpy().astype(bool), concepts.numpy().astype(bool)
    inter = (f[:, :, None] & c[None]).sum(1)
    union = (f[:, :, None] | c[None]).sum(1)
    assert np.array_equal(counts.inter.numpy(), inter)
    assert np.array_equal(counts.iou(), np.where(union > 0, inter / np.maximum(union, 1), 0).astype(np.float32))


# ----------------------------------------------------------------------------- errors without Ray


def test_import_does_not_import_ray():
    code = "import sys, xai_widgets, xai_widgets.units.scan, xai_widgets.core.distributed; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_ray_and_bad_engine_options_are_explained(monkeypatch):
    model, images = IntegerNet(), planted_images()
    with pytest.raises(ValueError, match="engine must be 'local', 'ray' or None"):
        scan(model, "relu2", images, engine="dask", cache=False)
    with pytest.raises(ValueError, match="workers is an option of engine='ray'"):
        scan(model, "relu2", images, workers=2, cache=False)
    with pytest.raises(ValueError, match="workers must be a positive int"):
        dissect(model, "relu2", images, {"a": np.zeros((N, SIZE, SIZE), bool)}, engine="ray", workers=0)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r'pip install "xai_widgets\[ray\]"'):
        scan(model, "relu2", images, engine="ray", cache=False)


# ----------------------------------------------------------------------------- on Ray


class IntegerNet(nn.Module):
    """Two 3x3 convs with integer weights on integer pixels (0..255): every activation is an
    integer below 2^21, exact in float32 in any summation order. The rounding passes the
    gradient through, so the receptive field is measured as for any model."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv1, self.relu1 = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(4, 5, 3, padding=1), nn.ReLU()
        for conv in (self.conv1, self.conv2):
            conv.weight.data = torch.randint(-2, 3, conv.weight.shape, generator=g).float()
            conv.bias.data = torch.randint(-50, 50, conv.bias.shape, generator=g).float()
        self.eval()

    def forward(self, x):
        x = x * 255
        x = x + (x.round() - x).detach()
        return self.relu2(self.conv2(self.relu1(self.conv1(x))))


def planted_images() -> list[np.ndarray]:
    """Random images with planted ties: exact copies across the shard boundary (image 16 is the
    second shard's first) and within a shard, and two black images."""
    images = list(np.random.default_rng(0).integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8))
    for copy, original in ((16, 3), (21, 3), (9, 1), (25, 1), (12, 18)):
        images[copy] = images[original].copy()
    images[5] = images[22] = np.zeros_like(images[0])
    return images


LABELS = [i % 3 for i in range(N)]


def assert_same_scan(got, want):
    for name in ("values", "indices", "locations", "patches"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert (got.k, got.n_images, got.rf, got.layer) == (want.k, want.n_images, want.rf, want.layer)
    for name in ("max", "frac_active", "dead", "constant", "selective_class"):
        assert np.array_equal(getattr(got.stats, name), getattr(want.stats, name)), name
    scale = float(np.abs(want.stats.max).max())
    for name, s in (("mean", scale), ("std", scale), ("selectivity", 1.0)):
        a, b = getattr(got.stats, name), getattr(want.stats, name)
        assert (a is None) == (b is None) and (a is None or np.abs(a - b).max() <= rounded_tol(s)), name


def test_ray_scan_equals_the_single_process_ties_included(local_ray):
    model, images = IntegerNet(), planted_images()
    pairs = list(zip(images, LABELS))
    want = scan(model, "relu2", pairs, k=6, batch_size=BATCH, cache=False)
    assert (want.values[:, 1:] == want.values[:, :-1]).any()  # the planted ties are in the top k
    assert {16, 21, 25} & set(want.indices.ravel().tolist())  # and copies from the second shard
    seen = []
    got = scan(model, "relu2", pairs, k=6, batch_size=BATCH, cache=False, engine="ray", workers=2,
               progress=lambda done, total: seen.append((done, total)))
    assert_same_scan(got, want)
    assert sorted(seen) == [(10, N), (N, N)] or sorted(seen) == [(16, N), (N, N)]
    rows = local_ray.data.from_items([{"image": im, "label": y} for im, y in pairs])
    assert_same_scan(scan(model, "relu2", rows, k=6, batch_size=BATCH, cache=False), want)


def test_ray_scan_of_an_unshuffled_dataloader_and_mean_scores(local_ray):
    model = IntegerNet()
    x = torch.from_numpy(np.stack(planted_images())).permute(0, 3, 1, 2).float() / 255
    loader = DataLoader(TensorDataset(x), batch_size=5)
    want = scan(model, "relu2", loader, k=4, cache=False, score="mean")
    assert_same_scan(scan(model, "relu2", loader, k=4, cache=False, score="mean", engine="ray"), want)
    with pytest.raises(ValueError, match="unshuffled loader"):
        scan(model, "relu2", DataLoader(TensorDataset(x), batch_size=5, shuffle=True), engine="ray", cache=False)
    with pytest.raises(TypeError, match="cuts the dataset into shards by position"):
        scan(model, "relu2", (im for im in planted_images()), engine="ray", cache=False)
    done = threading.Event()
    done.set()
    with pytest.raises(tasks.Cancelled):
        scan(model, "relu2", loader, engine="ray", cache=False, cancel=done)


def test_ray_dissection_equals_the_single_process(local_ray):
    model, images = IntegerNet(), planted_images()
    rng = np.random.default_rng(1)
    masks = {"left": np.zeros((N, SIZE, SIZE), bool), "blobs": rng.random((N, SIZE, SIZE)) > 0.7}
    masks["left"][:, :, :5] = True
    want = dissect(model, "relu2", images, masks, quantile=0.02, batch_size=BATCH)
    got = dissect(model, "relu2", images, masks, quantile=0.02, batch_size=BATCH, engine="ray", workers=2)
    assert np.array_equal(got.thresholds, want.thresholds)
    assert np.array_equal(got.iou, want.iou) and np.array_equal(got.best, want.best)
    assert got.concepts == want.concepts and (want.iou > 0).any()
