"""xai_widgets.attribution.metrics (pointing game, deletion / insertion curves, randomisation check) against
hand-made cases and independent references (numpy, scipy), and the MetricsChart's Python side."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from scipy import ndimage, stats
from torch import nn

import xai_widgets as xw
from xai_widgets import metrics
from xai_widgets.core.tasks import Cancelled

from float_bounds import EPS32, rounded_tol, sum_tol
from toy_models import assert_untouched, snapshot


# ------------------------------------------------------------------------------ pointing game
def square_mask(H=40, W=40, r0=10, r1=20, c0=10, c1=20):
    m = np.zeros((H, W), bool)
    m[r0:r1, c0:c1] = True  # rows 10..19, cols 10..19
    return m


def peak_at(row, col, H=40, W=40):
    m = np.zeros((H, W), np.float32)
    m[row, col] = 1.0
    return m


def test_pointing_game_tolerance_edges():
    mask = square_mask()
    cases = [  # (point, distance to the nearest mask pixel)
        ((15, 15), 0.0),                  # inside
        ((15, 19 + 15), 15.0),            # 15 px right of the edge column 19
        ((15, 19 + 16), 16.0),            # 16 px: outside 15 px
        ((19 + 9, 19 + 12), 15.0),        # diagonal 9-12-15 from the corner (19, 19)
        ((19 + 10, 19 + 12), np.hypot(10, 12)),  # 15.6 px
    ]
    maps = np.stack([peak_at(*p) for p, _ in cases])
    masks = np.stack([mask] * len(cases))
    res = metrics.pointing_game(maps, masks, [0] * len(cases))
    np.testing.assert_array_equal(res.points, [p for p, _ in cases])
    np.testing.assert_allclose(res.distances, [d for _, d in cases])
    assert res.hits.tolist() == [True, True, False, True, False]
    assert res.tolerance == 15
    strict = metrics.pointing_game(torch.from_numpy(maps), torch.from_numpy(masks), torch.zeros(5, dtype=torch.long),
                                   tolerance=0)
    assert strict.hits.tolist() == [True, False, False, False, False]
    assert res.at(0).hits.tolist() == strict.hits.tolist()
    assert res.at(16).hits.tolist() == [True, True, True, True, True]


def test_pointing_game_per_class_mean_by_hand():
    mask = square_mask()
    inside, outside = peak_at(15, 15), peak_at(39, 39)
    maps = np.stack([inside, inside, outside, outside, inside])
    labels = np.array([0, 0, 0, 1, 2])
    res = metrics.pointing_game(maps, np.stack([mask] * 5), labels)
    # class 0: 2 hits of 3; class 1: 0 of 1; class 2: 1 of 1
    assert res.per_class == pytest.approx({0: 2 / 3, 1: 0.0, 2: 1.0})
    assert res.mean_accuracy == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert res.hit_rate == pytest.approx(3 / 5)


def test_pointing_game_uses_the_first_maximum_of_the_signed_map():
    mask = square_mask()
    m = np.zeros((40, 40), np.float32)
    m[0, 5] = m[15, 15] = 2.0          # tie: the first in row-major order (0, 5) counts: a miss
    m[30, 30] = -5.0                   # large but negative: ignored by the signed maximum
    res = metrics.pointing_game(m[None], mask[None], [3], tolerance=0)
    assert res.points.tolist() == [[0, 5]] and not res.hits[0]


def test_centre_baseline_hits_a_centred_object_and_random_map_is_seeded():
    c = metrics.centre_map((3, 41, 64))
    assert c.shape == (3, 41, 64)
    flat = int(c[0].argmax())
    assert divmod(flat, 64) == (20, 32)
    mask = np.zeros((41, 64), bool)
    mask[15:26, 27:38] = True
    res = metrics.pointing_game(c, np.stack([mask] * 3), [0, 1, 2], tolerance=0)
    assert res.hits.all() and res.mean_accuracy == 1.0
    a, b = metrics.random_map((2, 8, 8), seed=3), metrics.random_map((2, 8, 8), seed=3)
    assert torch.equal(a, b) and not torch.equal(a, metrics.random_map((2, 8, 8), seed=4))
    state = torch.random.get_rng_state()
    metrics.random_map((8, 8), seed=1)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is not used


def test_pointing_game_errors():
    mask = square_mask()[None]
    with pytest.raises(ValueError, match="empty"):
        metrics.pointing_game(peak_at(1, 1)[None], np.zeros_like(mask), [0])
    with pytest.raises(ValueError, match="shape"):
        metrics.pointing_game(peak_at(1, 1)[None], mask[:, :20], [0])
    with pytest.raises(ValueError, match="labels"):
        metrics.pointing_game(peak_at(1, 1)[None], mask, [0, 1])
    bad = peak_at(1, 1)[None].copy()
    bad[0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.pointing_game(bad, mask, [0])
    with pytest.raises(ValueError, match="tolerance"):
        metrics.pointing_game(peak_at(1, 1)[None], mask, [0], tolerance=-1)


# ------------------------------------------------------------------------------ deletion game
class LinearScore(nn.Module):
    """logit 0 = sum(w * x) (+ b), logit 1 = 0: each pixel contributes w * x exactly."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = b

    def forward(self, x):
        s = (x * self.w).sum(dim=(1, 2, 3)) + self.b
        return torch.stack([s, torch.zeros_like(s)], dim=1)


@pytest.fixture
def linear_case():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 4, 4, generator=g, dtype=torch.float64).float()
    x = torch.rand(3, 1, 4, 4, generator=g)
    return LinearScore(w), x, (x * w).sum(dim=1)  # the map w ⊙ x (= gradient x input)


def hand_curves(contrib: np.ndarray, order_key: np.ndarray):
    """Zero baseline: deleting the k first pixels leaves total − (sum of their contributions)."""
    order = np.argsort(-order_key, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(contrib[order])])
    return contrib.sum() - cum, cum


def test_deletion_and_insertion_equal_the_hand_computed_cumulative_sums(linear_case):
    model, x, maps = linear_case
    dele = metrics.deletion_curve(model, x, maps, 0, steps=16, baseline="zero", score="logit")
    ins = metrics.deletion_curve(model, x, maps, 0, steps=16, baseline="zero", score="logit", mode="insertion")
    np.testing.assert_allclose(dele.fractions, np.arange(17) / 16)
    for n in range(3):
        c = maps[n].double().numpy().ravel()
        d_ref, i_ref = hand_curves(c, c)
        tol = sum_tol(c.size, np.abs(c).sum())  # the model's float32 sum of 16 terms, some deleted
        np.testing.assert_allclose(dele.scores[n], d_ref, atol=tol, rtol=0)
        np.testing.assert_allclose(ins.scores[n], i_ref, atol=tol, rtol=0)
    np.testing.assert_allclose(dele.area, np.trapezoid(dele.scores, dele.fractions, axis=1))
    np.testing.assert_allclose(ins.area, np.trapezoid(ins.scores, ins.fractions, axis=1))
    assert dele.mode == "deletion" and ins.mode == "insertion" and dele.target.tolist() == [0, 0, 0]
    # softmax over (s, 0) is the logistic function of s
    prob = metrics.deletion_curve(model, x, maps, 0, steps=16, baseline="zero")
    # a float32 softmax of two values <= 1: an exp (within an ulp), a sum and a division
    np.testing.assert_allclose(prob.scores, 1 / (1 + np.exp(-dele.scores)), atol=4 * EPS32, rtol=0)
    assert prob.score == "probability"


def test_a_perfect_map_beats_its_reverse(linear_case):
    model, x, maps = linear_case
    kw = dict(target=0, steps=16, baseline="zero")
    good_d = metrics.deletion_curve(model, x, maps, **kw).area
    bad_d = metrics.deletion_curve(model, x, -maps, **kw).area
    good_i = metrics.deletion_curve(model, x, maps, mode="insertion", **kw).area
    bad_i = metrics.deletion_curve(model, x, -maps, mode="insertion", **kw).area
    assert (good_d < bad_d).all() and (good_i > bad_i).all()


def test_ties_are_broken_by_pixel_index_and_steps_round(linear_case):
    model, x, _ = linear_case
    flat = torch.zeros(3, 4, 4)  # every pixel tied: removed in row-major order
    curve = metrics.deletion_curve(model, x, flat, 0, steps=5, baseline="zero", score="logit")
    ks = np.array([0, 3, 6, 10, 13, 16])  # round(s * 16 / 5)
    np.testing.assert_allclose(curve.fractions, ks / 16)
    for n in range(3):
        c = (x[n] * model.w).sum(0).double().detach().numpy().ravel()
        total = c.sum()
        tol = sum_tol(c.size, np.abs(c).sum()) + EPS32 * np.abs(c).sum()  # model's sum; c's own rounding
        np.testing.assert_allclose(curve.scores[n], [total - c[:k].sum() for k in ks], atol=tol, rtol=0)


def test_batching_does_not_change_the_curve(linear_case):
    model, x, maps = linear_case
    ref = metrics.deletion_curve(model, x, maps, 0, steps=8, baseline="mean", batch_size=1000)
    for b in (1, 5, 7):
        np.testing.assert_allclose(metrics.deletion_curve(model, x, maps, 0, steps=8, baseline="mean",
                                                          batch_size=b).scores, ref.scores, atol=1e-6)


def test_baselines_at_the_curve_ends():
    # float64 model and images: a float32 score sums 360 terms, whose worst-case rounding
    # (sum_tol(360, ~140) ~ 6e-3) would hide a wrong baseline; in float64 the curve's scores
    # are float64 values rounded once to float32, within rounded_tol of their size
    g = torch.Generator().manual_seed(1)
    w = torch.randn(3, 12, 10, generator=g).double()
    x = torch.rand(2, 3, 12, 10, generator=g).double()
    model = LinearScore(w, b=0.3)
    maps = torch.rand(2, 12, 10, generator=g)
    logit = lambda t: float((t * w).sum() + 0.3)  # noqa: E731
    # the blur normalised at the borders: sum_v g(u - v) x(v) / sum_v g(u - v) over the image
    blur = lambda a: ndimage.gaussian_filter(a, sigma=(0, 2, 2), mode="constant", truncate=4.0)  # noqa: E731
    blurred = [blur(x[n].numpy()) / blur(np.ones((3, 12, 10))) for n in range(2)]
    expected_end = {
        "zero": [0.3, 0.3],
        "mean": [logit(x[n].mean(dim=(1, 2), keepdim=True).expand_as(x[n])) for n in range(2)],
        "blur": [logit(torch.from_numpy(b)) for b in blurred],
    }
    for name, ends in expected_end.items():
        d = metrics.deletion_curve(model, x, maps, 0, steps=4, baseline=name, score="logit", blur_sigma=2.0)
        i = metrics.deletion_curve(model, x, maps, 0, steps=4, baseline=name, score="logit", blur_sigma=2.0,
                                   mode="insertion")
        full = [logit(x[n]) for n in range(2)]
        tol = rounded_tol(np.abs([*ends, *full]).max())
        np.testing.assert_allclose(d.scores[:, -1], ends, atol=tol, rtol=0, err_msg=name)  # everything deleted
        np.testing.assert_allclose(i.scores[:, 0], ends, atol=tol, rtol=0, err_msg=name)   # nothing inserted
        np.testing.assert_allclose(d.scores[:, 0], full, atol=tol, rtol=0)
        np.testing.assert_allclose(i.scores[:, -1], full, atol=tol, rtol=0)
    grey = torch.full((3, 1, 1), 0.5, dtype=torch.float64)
    d = metrics.deletion_curve(model, x, maps, 0, steps=4, baseline=grey, score="logit")
    end = logit(torch.full((3, 12, 10), 0.5, dtype=torch.float64))
    np.testing.assert_allclose(d.scores[:, -1], [end] * 2, atol=rounded_tol(abs(end)), rtol=0)


def test_deletion_curve_hygiene_progress_cancel_and_errors(shared_net):
    shared_net.train()  # a training-mode model must come back in training mode
    before = snapshot(shared_net)
    x = torch.rand(2, 3, 16, 16)
    maps = torch.rand(2, 16, 16)
    calls = []
    curve = metrics.deletion_curve(shared_net, x, maps, steps=10, batch_size=4,
                                   progress=lambda done, total: calls.append((done, total)))
    assert curve.scores.shape == (2, 11) and ((curve.scores >= 0) & (curve.scores <= 1)).all()
    assert calls[-1] == (6, 6)  # 22 perturbed images in batches of 4
    assert_untouched(shared_net, before)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        metrics.deletion_curve(shared_net, x, maps, cancel=stop)
    assert_untouched(shared_net, before)
    with pytest.raises(ValueError, match="maps must have shape"):
        metrics.deletion_curve(shared_net, x, maps[:, :8], target=0)
    with pytest.raises(ValueError, match="mode"):
        metrics.deletion_curve(shared_net, x, maps, target=0, mode="both")
    with pytest.raises(ValueError, match="baseline"):
        metrics.deletion_curve(shared_net, x, maps, target=0, baseline="noise")
    with pytest.raises(ValueError, match="broadcast"):
        metrics.deletion_curve(shared_net, x, maps, target=0, baseline=torch.zeros(2, 2))
    assert_untouched(shared_net, before)


# ------------------------------------------------------------------------------ similarity measures
def test_spearman_matches_scipy_with_ties():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (4, 6, 7), generator=g).float()  # many ties
    b = a + torch.randint(0, 3, (4, 6, 7), generator=g).float()
    ours = metrics.spearman(a, b)
    ref = [stats.spearmanr(a[n].ravel(), b[n].ravel()).statistic for n in range(4)]
    np.testing.assert_allclose(ours, ref, atol=1e-10)
    assert np.isnan(metrics.spearman(torch.ones(1, 3, 3), torch.rand(1, 3, 3))[0])  # constant map


def _ssim_reference(a, b, data_range):
    """scikit-image's gaussian SSIM, written with scipy.ndimage: filter, then crop the border."""
    f = lambda t: ndimage.gaussian_filter(t, sigma=1.5, truncate=3.5)  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    va, vb, cov = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return s[5:-5, 5:-5].mean()


def test_ssim_matches_a_scipy_reference():
    g = np.random.default_rng(0)
    a = g.random((3, 24, 30))
    b = a * 0.7 + 0.3 * g.random((3, 24, 30))
    ours = metrics.ssim(torch.from_numpy(a), torch.from_numpy(b), data_range=1.0)
    np.testing.assert_allclose(ours, [_ssim_reference(a[n], b[n], 1.0) for n in range(3)], atol=1e-10)
    np.testing.assert_allclose(metrics.ssim(torch.from_numpy(a), torch.from_numpy(a)), 1.0)


# ------------------------------------------------------------------------------ randomisation
@pytest.fixture(scope="module")
def shapes():
    data = xw.demo.shapes_dataset(4, seed=1000, masks=True)
    return xw.demo.shapes_model(), xw.demo.to_tensor(data.images), data


def plain_gradient(model, inputs, target):
    """An independent gradient: d logit[target] / d input, summed over channels."""
    x = inputs.detach().clone().requires_grad_(True)
    out = model(x).gather(1, target.view(-1, 1)).sum()
    (g,) = torch.autograd.grad(out, x)
    return g.sum(dim=1)


def test_cascading_randomisation_decorrelates_the_gradient(shapes, one_thread):
    model, x, _ = shapes
    before = snapshot(model)
    rng = torch.random.get_rng_state()
    res = metrics.randomisation_check(model, x, plain_gradient)
    assert torch.equal(rng, torch.random.get_rng_state())  # seeded in a forked generator
    assert res.layers == ["fc", "bn4", "conv4", "bn3", "conv3", "bn2", "conv2", "bn1", "conv1"]
    assert res.similarity.shape == (4, 9) and res.maps.shape == (10, 4, 128, 128)
    assert res.mean[-1] < 0.5 and res.mean[-1] < res.mean[0]  # 1.0 before randomising
    np.testing.assert_allclose(metrics.spearman(res.maps[0].abs(), res.maps[0].abs()), 1.0)
    assert_untouched(model, before)
    # the same with the package's own gradient, through attribution.attribute
    named = metrics.randomisation_check(model, x, "gradient", keep_maps=False)
    np.testing.assert_allclose(named.similarity, res.similarity, atol=1e-6)
    assert named.maps is None
    assert_untouched(model, before)


def test_independent_randomisation_and_layer_choice(shapes, one_thread):
    model, x, _ = shapes
    before = snapshot(model)
    cascade = metrics.randomisation_check(model, x, plain_gradient, layers=["fc", "conv4", "conv1"])
    indep = metrics.randomisation_check(model, x, plain_gradient, layers=["fc", "conv4", "conv1"],
                                        order="independent")
    # step 1 randomises the same layer with the same values in both orders
    np.testing.assert_allclose(indep.similarity[:, 0], cascade.similarity[:, 0])
    assert not np.allclose(indep.similarity[:, 2], cascade.similarity[:, 2])
    # independent step 3 = randomising conv1 alone
    alone = metrics.randomisation_check(model, x, plain_gradient, layers=["conv1"], seed=2)
    np.testing.assert_allclose(indep.similarity[:, 2], alone.similarity[:, 0], atol=1e-9)
    ssim = metrics.randomisation_check(model, x, plain_gradient, layers=["fc", "conv1"], similarity="ssim")
    assert ssim.measure == "ssim" and np.all(ssim.similarity <= 1)
    with pytest.raises(ValueError, match="conv1"):
        metrics.randomisation_check(model, x, plain_gradient, layers=["convv1"])
    with pytest.raises(ValueError, match="order"):
        metrics.randomisation_check(model, x, plain_gradient, order="bottom_up")
    assert_untouched(model, before)


def test_randomisation_with_a_captum_object(shapes, one_thread):
    from captum.attr import Saliency

    model, x, _ = shapes
    before = snapshot(model)
    res = metrics.randomisation_check(model, x[:2], Saliency(model), layers=["fc", "conv4"])
    assert res.method == "Saliency" and res.similarity.shape == (2, 2)
    assert_untouched(model, before)


# ------------------------------------------------------------------------------ MetricsChart (Python side)
def fake_curve(mode, scores, score="probability"):
    scores = np.asarray(scores, float)
    f = np.linspace(0, 1, scores.shape[1])
    return metrics.Curve(mode=mode, fractions=f, scores=scores, area=np.trapezoid(scores, f, axis=1),
                         target=np.zeros(len(scores), int), score=score, baseline="zero")


def test_metrics_chart_deletion_traits():
    a = [fake_curve("deletion", [[1, .5, .2, 0], [1, .7, .1, 0]]), fake_curve("insertion", [[0, .6, .9, 1]] * 2)]
    b = [fake_curve("deletion", [[1, .9, .8, .1]] * 2), fake_curve("insertion", [[0, .2, .3, 1]] * 2)]
    c = fake_curve("deletion", [[1, 1, .9, .9]] * 2)
    w = xw.MetricsChart.deletion({"gradient": a, "occlusion": b, "random": c})
    assert [p["id"] for p in w.panels] == ["deletion", "insertion"]
    dele, ins = w.panels
    assert [s["name"] for s in dele["series"]] == ["gradient", "occlusion", "random"]
    assert [s["name"] for s in ins["series"]] == ["gradient", "occlusion"]
    np.testing.assert_allclose(dele["series"][0]["ys"], [1, .6, .15, 0])
    np.testing.assert_allclose(dele["xs"], [0, 1 / 3, 2 / 3, 1])
    assert dele["series"][0]["label"] == f"Gradient · AUC {a[0].mean_area:.3f}"  # the explorer's title
    assert dele["series"][2]["label"].startswith("random (baseline, dashed grey)")
    assert dele["series"][2]["dash"] and not dele["series"][0]["dash"]  # baselines are dashed
    assert dele["series"][0]["color"] != dele["series"][1]["color"]
    assert "lower area is better" in dele["title"] and "higher" in ins["title"]
    assert w._browser_traits == frozenset()
    png = w.render_png()
    assert png.size[0] > 2 * 400
    with pytest.raises(ValueError, match="fractions"):
        xw.MetricsChart.deletion({"a": fake_curve("deletion", [[1, 0]]), "b": fake_curve("deletion", [[1, .5, 0]])})
    with pytest.raises(ValueError, match="same score"):
        xw.MetricsChart.deletion({"a": fake_curve("deletion", [[1, 0]]),
                                  "b": fake_curve("deletion", [[1, 0]], score="logit")})
    with pytest.raises(TypeError, match="Curve"):
        xw.MetricsChart.deletion({"a": [1, 2]})
    with pytest.raises(ValueError, match="kind"):
        xw.MetricsChart("pointing", {"a": c})


def test_metrics_chart_randomisation_traits():
    def fake(sim):
        sim = np.asarray(sim, float)
        return metrics.Randomisation(method="m", order="cascade", measure="spearman", layers=["fc", "conv1"],
                                     similarity=sim, similarity_signed=sim / 2, target=np.zeros(len(sim), int))

    w = xw.MetricsChart.randomisation({"gradient": fake([[.5, .1], [.7, np.nan]]), "grad_cam": fake([[.9, .8]] * 2)})
    (p,) = w.panels
    assert p["xlabels"] == ["original", "fc", "conv1"] and p["xs"] == [0, 1, 2]
    np.testing.assert_allclose(p["series"][0]["ys"], [1, .6, .1])  # NaN-aware mean over images
    signed = xw.MetricsChart.randomisation({"gradient": fake([[.5, .1], [.7, .3]])}, signed=True)
    np.testing.assert_allclose(signed.panels[0]["series"][0]["ys"], [1, .3, .1])
    assert w.render_png(panel=300).size[0] >= 300
    other = metrics.Randomisation(method="m", order="cascade", measure="spearman", layers=["fc"],
                                  similarity=np.ones((1, 1)), similarity_signed=np.ones((1, 1)), target=np.zeros(1))
    with pytest.raises(ValueError, match="share layers"):
        xw.MetricsChart.randomisation({"a": fake([[.5, .1]]), "b": other})


def test_chart_styles_baselines_titles_and_distinct_colours():
    """Baselines dashed grey and said so; methods by their readable titles in distinct colours."""
    from xai_widgets.widgets.metrics_chart import PALETTE, _styles

    names = ["gradient", "grad_cam", "smoothgrad", "occlusion", "integrated_gradients", "grad_x_input", "centre", "Random"]
    styles = _styles(names, ("centre", "random"))
    for name in ("centre", "Random"):
        colour, dash, _, baseline = styles[name]
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert baseline and dash and rgb.max() - rgb.min() <= 8  # grey, dashed
    assert styles["grad_cam"][2] == xw.attribution.METHODS["grad_cam"].title == "Grad-CAM"
    methods = [styles[n][0] for n in names[:6]]
    assert len(set(methods)) == 6 and not any(styles[n][1] for n in names[:6])

    def lab(hex_colour):  # CIE L*a*b* of an sRGB colour (D65)
        c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
        c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
        xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
        f = np.cbrt(xyz / [0.9505, 1.0, 1.089])
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    # every pair of the palette's first six colours at least 20 apart in CIE76
    first = [lab(c) for c in PALETTE[:6]]
    worst = min(np.linalg.norm(a - b) for i, a in enumerate(first) for b in first[i + 1:])
    assert worst >= 20, worst


def test_each_method_keeps_its_colour_in_every_chart():
    """A reader compares charts: a method drawn in one colour in one chart has it in the next,
    whatever other methods share the chart; within a chart the colours differ."""
    from xai_widgets.widgets.metrics_chart import METHOD_ORDER, _styles

    assert sorted(METHOD_ORDER) == sorted(xw.attribution.METHODS)  # every method of ours has its colour

    one = _styles(["gradient", "grad_cam", "lrp", "centre"], ["centre"])
    two = _styles(["lrp", "integrated_gradients", "mine", "grad_cam", "gradient"], [])
    for name in ("gradient", "grad_cam", "lrp"):
        assert one[name][0] == two[name][0]
    colours = [two[n][0] for n in two]
    assert len(set(colours)) == len(colours)  # "mine" takes a colour no method of ours here has
    # every pair of our methods differs in colour or dash in a chart holding all of them
    every = _styles(METHOD_ORDER, [])
    looks = [(colour, tuple(dash)) for colour, dash, _, _ in every.values()]
    assert len(set(looks)) == len(looks)
