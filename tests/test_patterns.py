"""PatternNet and PatternAttribution (Kindermans et al. 2018): patterns against the paper's linear example
and a numpy recomputation, batch-norm merging, and the named methods."""
import threading

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets.attribution import patterns
from xai_widgets.core import tasks
from toy_models import assert_untouched, snapshot

torch.set_num_threads(1)


def _signal_and_distractor():
    """The paper's two-dimensional example: x = a_s s + a_d d, and a filter w that cancels the
    distractor (w . a_d = 0, w . a_s = 1), so y = w . x = s. s and d take every combination of
    their values: d is uncorrelated with s overall and on the samples with s > 0."""
    a_s, a_d, w = np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([1.0, -1.0])
    s, d = np.meshgrid([-2.0, -1.0, 1.0, 2.0, 3.0], [-1.0, 1.0])
    s, d = s.ravel(), d.ravel()
    x = s[:, None] * a_s + d[:, None] * a_d
    model = nn.Sequential(nn.Conv2d(2, 1, 1, bias=False), nn.Flatten()).double()
    model[0].weight.data = torch.tensor(w).view(1, 2, 1, 1)
    return model, torch.tensor(x).view(-1, 2, 1, 1), a_s, w


@pytest.mark.parametrize("estimator", ["linear", "relu"])
def test_the_pattern_is_the_signal_direction_not_the_filter(estimator):
    model, x, a_s, w = _signal_and_distractor()
    p = patterns.fit(model, x, estimator=estimator)
    np.testing.assert_allclose(p.patterns["0"].flatten().numpy(), a_s, rtol=0, atol=1e-12)
    one = x[7:8]  # s = 3 (y = 3), d = 1
    y = float(model(one).detach())
    grad = xw.attribution.attribute(model, one, "gradient", target=0).info["attr"].flatten().numpy()
    net = xw.attribution.attribute(model, one, "patternnet", target=0).info["attr"].flatten().numpy()
    attr = xw.attribution.attribute(model, one, "patternattribution", target=0).info["attr"].flatten().numpy()
    np.testing.assert_allclose(grad, w, atol=1e-6)  # the gradient shows the filter
    np.testing.assert_allclose(net, a_s * y, atol=1e-6)  # PatternNet the signal a_s y
    np.testing.assert_allclose(attr, w * a_s * y, atol=1e-6)  # PatternAttribution w * a_s * y


def _patches(x, k=3, pad=1):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = [xp[i, :, r:r + k, q:q + k].ravel() for i in range(n) for r in range(h) for q in range(w)]
    return np.array(rows)  # (n h w) x (c k k), channel-major as a conv weight is laid out


@pytest.mark.parametrize("estimator", ["linear", "relu"])
def test_convolution_patterns_equal_a_numpy_recomputation(estimator):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 2)).double()
    x = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    p = patterns.fit(model, x, estimator=estimator, batch_size=4)
    xs = _patches(x.numpy())
    wt = model[0].weight.detach().reshape(4, -1).numpy()
    ys = xs @ wt.T + model[0].bias.detach().numpy()
    for unit in range(4):
        on = ys[:, unit] > 0 if estimator == "relu" else np.ones(len(ys), bool)
        xo, yo = xs[on], ys[on, unit]
        cov = (xo * yo[:, None]).mean(0) - xo.mean(0) * yo.mean()
        expected = cov / (wt[unit] @ cov)
        np.testing.assert_allclose(p.patterns["0"][unit].flatten().numpy(), expected, rtol=1e-9, atol=1e-12)
        assert int(p.counts["0"][unit]) == int(on.sum())


def test_batch_norm_is_merged_into_the_layer_before_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 9, 3),
                          nn.BatchNorm1d(3)).double()
    with torch.no_grad():
        for bn in (model[1], model[5]):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 2)
            bn.bias.uniform_(-1, 1)
    model.train()
    snap = snapshot(model)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    twin = patterns.merged_copy(model, x)
    assert isinstance(twin[1], nn.Identity) and isinstance(twin[5], nn.Identity)
    model.eval()
    torch.testing.assert_close(twin(x), model(x), rtol=1e-12, atol=1e-12)
    model.train()
    assert_untouched(model, snap)


def test_named_methods_need_fitted_patterns_of_the_same_model():
    model, x, _, _ = _signal_and_distractor()
    fresh = nn.Sequential(nn.Conv2d(2, 1, 1, bias=False), nn.Flatten()).double()
    with pytest.raises(ValueError, match=r"patterns\.fit\(model, data\)"):
        xw.attribution.attribute(fresh, x[:1], "patternnet", target=0)
    other = patterns.fit(nn.Sequential(nn.Conv2d(2, 3, 1), nn.Flatten(), nn.Linear(3, 1)).double(), x)
    with pytest.raises(ValueError, match="fitted on another model"):
        xw.attribution.attribute(fresh, x[:1], "patternnet", target=0, patterns=other)
    with pytest.raises(ValueError, match="unknown estimator"):
        patterns.fit(fresh, x, estimator="quadratic")
    with pytest.raises(ValueError, match="no images"):
        patterns.fit(fresh, x[:0])


def test_demo_model_patterns_and_hygiene():
    model = xw.demo.shapes_model().train()
    snap = snapshot(model)
    data = xw.to_batch(xw.demo.shapes_images(8, seed=3), model)
    p = patterns.fit(model, data, batch_size=4)
    assert set(p.patterns) == {"conv1", "conv2", "conv3", "conv4", "fc"} and p.samples == 8
    res = xw.attribution.attribute(model, data[:2], "patternattribution", target=[0, 1])
    assert res.maps.shape == (2, 128, 128) and torch.isfinite(res.maps).all()
    assert_untouched(model, snap)


def test_planted_evidence_is_pointed_at():
    # the class-0 logit reads only a 3 x 3 region of an 8 x 8 image (a full-size convolution
    # whose weights are zero elsewhere); on i.i.d. data the pattern is w / |w|^2 up to sampling
    # noise of order 1 / sqrt(N), so both maps lie inside the region
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 8, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 2:5, 3:6] = torch.rand(3, 3) + 0.5
    model = nn.Sequential(conv, nn.Flatten()).double()
    data = torch.rand(20000, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    patterns.fit(model, data, estimator="linear", batch_size=5000)
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[2:5, 3:6] = True
    for method in ("patternnet", "patternattribution"):
        m = xw.attribution.attribute(model, data[:3], method, target=0).maps
        for one in m:
            assert inside.flatten()[int(one.abs().flatten().argmax())], method
            assert one[~inside].abs().max() < 0.1 * one[inside].abs().max(), method


# ----------------------------------------------------------------------------- the disk cache


def _counted_fit(model, data, **kw):
    """Fit and count the forward calls the model's first layer saw (on the model or its merged copy)."""
    calls = []
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    handle = first.register_forward_hook(lambda *args: calls.append(1))
    try:
        return patterns.fit(model, data, **kw), len(calls)
    finally:
        handle.remove()


def _conv_model_and_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 5 * 5, 2))
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
    x = torch.randn(12, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    return model, x


def test_cache_hit_loads_the_fit_exactly_without_a_forward_pass(tmp_path):
    model, x = _conv_model_and_data()
    first, calls = _counted_fit(model, x, batch_size=5, cache_dir=tmp_path)
    assert calls > 0
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    with np.load(files[0], allow_pickle=False) as f:  # plain arrays, no pickled objects
        assert all(f[name].dtype != object for name in f.files)
    snap = snapshot(model)
    again, calls = _counted_fit(model, x, batch_size=5, cache_dir=tmp_path)
    assert calls == 0
    assert_untouched(model, snap)
    assert again.estimator == first.estimator and again.samples == first.samples == 12
    assert list(again.patterns) == list(first.patterns) and list(again.counts) == list(first.counts)
    for name in first.patterns:
        assert again.patterns[name].dtype == first.patterns[name].dtype == torch.float32
        assert torch.equal(again.patterns[name], first.patterns[name])
        assert torch.equal(again.counts[name], first.counts[name])
    assert patterns.fitted(model) is again  # the named methods use the loaded fit
    one = xw.attribution.attribute(model, x[:2], "patternattribution", target=0).maps
    torch.testing.assert_close(one, xw.attribution.attribute(model, x[:2], "patternattribution", target=0,
                                                             patterns=first).maps, rtol=0, atol=0)


def test_a_weight_estimator_or_dataset_change_misses(tmp_path):
    model, x = _conv_model_and_data()
    reference, _ = _counted_fit(model, x, cache_dir=tmp_path)

    def misses(data=x, **kw) -> bool:
        return _counted_fit(model, data, cache_dir=tmp_path, **kw)[1] > 0

    assert not misses()
    assert misses(estimator="linear") and not misses(estimator="linear")
    assert misses(dataset_key="mine")  # the first use of a key computes
    assert not misses(torch.randn(3, 3, 5, 5), dataset_key="mine")  # the key decides, not the data
    assert misses(dataset_key="theirs")
    changed = x.clone()
    changed[-1, 0, 0, 0] += 1
    assert misses(changed)  # the last image changed
    with torch.no_grad():
        model[1].running_var[0] += 1  # a buffer (merged into the convolution) counts as a weight
    fresh, calls = _counted_fit(model, x, cache_dir=tmp_path)
    assert calls > 0 and not torch.equal(fresh.patterns["0"], reference.patterns["0"])
    assert len(list(tmp_path.glob("patterns-*.npz"))) == 6
    assert misses(cache=False)  # without the cache it always computes
    assert len(list(tmp_path.iterdir())) == 6


def test_an_iterable_without_len_is_cached_only_with_a_key(tmp_path):
    model, x = _conv_model_and_data()
    assert _counted_fit(model, iter([x[:6], x[6:]]), cache_dir=tmp_path)[1] > 0
    assert list(tmp_path.iterdir()) == []
    first, _ = _counted_fit(model, iter([x[:6], x[6:]]), cache_dir=tmp_path, dataset_key="two batches")
    again, calls = _counted_fit(model, iter([]), cache_dir=tmp_path, dataset_key="two batches")
    assert calls == 0 and all(torch.equal(again.patterns[n], first.patterns[n]) for n in first.patterns)


def test_a_cancelled_fit_writes_nothing_and_the_default_folder_is_the_env_var(tmp_path, monkeypatch):
    model, x = _conv_model_and_data()
    stop = threading.Event()

    def progress(done, total):
        if done >= 4:
            stop.set()

    monkeypatch.setenv("XAI_WIDGETS_CACHE", str(tmp_path / "env"))
    with pytest.raises(tasks.Cancelled):
        patterns.fit(model, x, batch_size=4, progress=progress, cancel=stop)
    assert not (tmp_path / "env").exists()
    patterns.fit(model, x, batch_size=4)
    assert len(list((tmp_path / "env").glob("patterns-*.npz"))) == 1
