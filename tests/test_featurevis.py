"""Activation maximisation (xai_widgets.units.featurevis): it works, it is what it says, and it is clean."""
import copy
import threading

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from float_bounds import EPS32
from toy_models import Raises, assert_untouched, snapshot
from xai_widgets.core.capture import capture
from xai_widgets.demo import photos, shapes_dataset, shapes_model, to_tensor
from xai_widgets.units.featurevis import (
    PHOTO_COLOUR_SQRT,
    colour_correlation,
    fourier_image,
    spectrum_scale,
    visualise_channels,
)
from xai_widgets.core.tasks import Cancelled

FAST = dict(steps=6, size=32)  # for tests about plumbing rather than results
IDENTITY_VIEWS = dict(jitter=0, scales=(1.0,), angles=(0,))


@pytest.fixture(scope="module")
def demo():
    return shapes_model()


@pytest.fixture(scope="module")
def dataset_acts(demo):
    """Per-image channel means of relu2 and relu3 over 64 shapes images."""
    data = to_tensor(shapes_dataset(64).images)
    return {k: v.mean((2, 3)) for k, v in capture(demo, data, ["relu2", "relu3"]).items()}


@pytest.fixture(scope="module")
def optimised(demo):
    """24 steps (about a tenth of the default) for 6 channels of relu2 and of relu3, at 128 px."""
    return {
        "relu2": visualise_channels(demo, "relu2", list(range(0, 32, 6)), steps=24),
        "relu3": visualise_channels(demo, "relu3", list(range(0, 64, 11)), steps=24),
    }


def channel_means(model, images, layer):
    """N x C channel means of ``layer`` for ``images``, measured independently with capture."""
    out = capture(model, images, [layer])[layer]
    return out.mean((2, 3)) if out.dim() == 4 else out


class GreyNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(1, 6, 5, padding=2)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x))


class RaisesOnCall(nn.Module):
    """Raises from its ``n``-th forward on (the first calls work)."""

    def __init__(self, n):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.n, self.calls = n, 0

    def forward(self, x):
        self.calls += 1
        if self.calls >= self.n:
            raise RuntimeError("boom")
        return self.conv(x)


# ------------------------------------------------------------------ it works


@pytest.mark.parametrize("layer", ["relu2", "relu3"])
def test_raises_channel_far_above_dataset(optimised, dataset_acts, layer):
    r = optimised[layer]
    acts = dataset_acts[layer][:, r.channels]
    mean, std, best = acts.mean(0), acts.std(0), acts.max(0).values
    # Measured at 24 steps: 7 to 71 std above the dataset mean, 2.0 to 16 times the dataset max.
    assert (r.objective > mean + 5 * std).all(), (r.objective, mean, std)
    assert (r.objective > best).all(), (r.objective, best)
    assert r.images.shape == (6, 3, 128, 128) and r.images.device.type == "cpu"
    assert 0 <= r.images.min() and r.images.max() <= 1
    assert r.history.shape == (24, 6)
    assert (r.history[-1] > r.history[0]).all()


@pytest.mark.parametrize("layer", ["relu2", "relu3"])
def test_objective_is_the_plain_images_channel_mean(demo, optimised, layer):
    r = optimised[layer]
    means = channel_means(demo, r.images, layer)
    torch.testing.assert_close(r.objective, means[torch.arange(6), r.channels], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", ["relu2", "relu3"])
def test_each_batch_element_optimises_its_own_channel(demo, optimised, layer):
    r = optimised[layer]
    means = channel_means(demo, r.images, layer)[:, r.channels]  # image i, channel j
    # The image made for channel j activates channel j more than any other channel's image does.
    assert torch.equal(means.argmax(0), torch.arange(6)), means


def test_batched_equals_one_at_a_time(demo):
    # Without random transforms nothing couples a batch: each channel's start, Adam state,
    # regularisers and objective are its own, so batching must not change any result.
    # The model runs in float64: its convolutions over a batch of 4 and of 1 take other
    # kernels, whose float32 rounding would differ from one CPU kernel set to another; the
    # image parametrisation (float32 FFT, colour, sigmoid) works image by image. What is
    # left is a float64 gradient landing on the other side of a float32 rounding boundary,
    # a relative eps in one Adam step: 1e-4 (~840 eps) on images in [0, 1] bounds 8 such
    # steps with room, while a mixed-up channel or shared Adam state moves images by > 1e-2.
    demo = copy.deepcopy(demo).double()
    kw = dict(steps=8, size=64, **IDENTITY_VIEWS)
    batched = visualise_channels(demo, "relu2", [0, 3, 5, 9], batch_size=4, **kw)
    single = visualise_channels(demo, "relu2", [0, 3, 5, 9], batch_size=1, **kw)
    torch.testing.assert_close(batched.images, single.images, rtol=0, atol=1e-4)
    torch.testing.assert_close(batched.history, single.history, rtol=1e-4, atol=1e-5)
    # a channel starts from the same image whatever else is in its batch
    alone = visualise_channels(demo, "relu2", [5], **kw)
    torch.testing.assert_close(alone.images[0], batched.images[2], rtol=0, atol=1e-4)


def test_whole_layer_by_default_in_batches(shared_net):
    calls = []
    r = visualise_channels(shared_net, "conv2", batch_size=3, progress=lambda d, t: calls.append((d, t)), **FAST)
    assert r.channels == list(range(8)) and r.images.shape == (8, 3, 32, 32)
    totals = {t for _, t in calls}
    assert totals == {6 * 3}  # ceil(8 / 3) = 3 batches of 6 steps
    done = [d for d, _ in calls]
    assert done == sorted(set(done)) and done[-1] == 18
    assert {6, 12} <= set(done)  # every batch end is reported


def test_linear_layer_unit(shared_net):
    r = visualise_channels(shared_net, "fc", [1, 2], steps=20, size=32)
    unit = channel_means(shared_net, r.images, "fc")  # N x 4 logits
    torch.testing.assert_close(r.objective, unit[[0, 1], [1, 2]], rtol=1e-4, atol=1e-5)
    assert (r.history[-1] > r.history[0]).all()


# ------------------------------------------------------------------ the parametrisation


def numpy_scale(h, w):
    """The documented envelope: 1 / max(f, 1), f in cycles per image, unit RMS over the spectrum."""
    f = max(h, w) * np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    env = 1 / np.maximum(f, 1)
    return (env / np.sqrt((env**2).mean()))[:, : w // 2 + 1]


@pytest.mark.parametrize("size", [(16, 16), (12, 20), (9, 15)])
def test_fourier_image_is_sigmoid_of_numpy_irfft2(size):
    h, w = size
    rng = np.random.default_rng(0)
    coeffs = rng.normal(size=(2, 3, h, w // 2 + 1, 2))
    spectrum = (coeffs[..., 0] + 1j * coeffs[..., 1]) * numpy_scale(h, w)
    pre = np.fft.irfft2(spectrum, s=size, norm="ortho")
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    # float32 FFT against numpy's float64: an FFT of N points is within 3 log2(N) eps of the
    # exact one in L2 norm (Higham, Accuracy and Stability, thm 24.2, with accurate twiddles),
    # so each pixel is within that times the image's L2 norm; mixing colours multiplies it by
    # the mix's largest absolute row sum and adds a 3-term sum; the sigmoid divides it by 4
    # (slope <= 1/4) and rounds (a few eps).
    l2 = np.sqrt((pre**2).sum(axis=(-2, -1))).max()
    fft_err = 3 * np.log2(h * w) * EPS32 * l2
    got = fourier_image(torch.tensor(coeffs, dtype=torch.float32), size)
    np.testing.assert_allclose(got.numpy(), sigmoid(pre), atol=fft_err / 4 + 4 * EPS32, rtol=0)
    mix = rng.normal(size=(3, 3))
    mix_err = fft_err * np.abs(mix).sum(1).max() + 3 * EPS32 * np.einsum("ij,njhw->nihw", np.abs(mix), np.abs(pre)).max()
    got = fourier_image(torch.tensor(coeffs, dtype=torch.float32), size, torch.tensor(mix))
    np.testing.assert_allclose(got.numpy(), sigmoid(np.einsum("ij,njhw->nihw", mix, pre)), atol=mix_err / 4 + 4 * EPS32,
                               rtol=0)


def test_spectrum_scale_is_one_over_frequency():
    s = spectrum_scale(64)
    np.testing.assert_allclose(s.numpy(), numpy_scale(64, 64), rtol=EPS32)  # float64 maths rounded once
    # 2 cycles per image weighs twice 4 cycles, along either axis or the diagonal; f <= 1 all alike
    assert s[0, 2] / s[0, 4] == pytest.approx(2) and s[2, 0] / s[4, 0] == pytest.approx(2)
    assert s[3, 4] / s[0, 10] == pytest.approx(2)  # |(3, 4)| = 5
    assert s[0, 0] == s[0, 1] == s[1, 0]
    # white complex coefficients with E|c|^2 = 1 give pixels of about unit variance
    coeffs = torch.randn(4, 3, 64, 33, 2, generator=torch.Generator().manual_seed(0)) / 2**0.5
    pre = torch.logit(fourier_image(coeffs.double(), 64))
    assert 0.9 < pre.std() < 1.1


def test_colour_correlation_recovers_the_square_root_of_a_known_covariance():
    mix = np.array([[0.10, 0.02, 0.00], [0.03, 0.06, 0.01], [0.00, 0.02, 0.08]])
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 4 * 32 * 32))
    z -= z.mean(1, keepdims=True)
    z = np.linalg.solve(np.linalg.cholesky(np.cov(z)), z)  # sample covariance exactly I
    pixels = 0.5 + mix @ z
    assert 0 <= pixels.min() and pixels.max() <= 1
    images = torch.tensor(pixels.reshape(3, 4, 32, 32).transpose(1, 0, 2, 3))
    expected = scipy.linalg.sqrtm(mix @ mix.T).real
    # colour_correlation works in float64 and rounds its result once to float32
    np.testing.assert_allclose(colour_correlation(images).numpy(), expected, atol=EPS32 * np.abs(expected).max(), rtol=0)
    # uint8 is read as [0, 255]; a grey ramp has covariance var * ones, whose root is std / sqrt(3) * ones
    ramp = np.arange(256, dtype=np.uint8)
    grey_ramp = np.broadcast_to(ramp[None, None, None, :], (1, 3, 1, 256))
    expected = np.full((3, 3), np.std(ramp / 255, ddof=1) / np.sqrt(3))
    np.testing.assert_allclose(colour_correlation(grey_ramp).numpy(), expected, atol=EPS32 * np.abs(expected).max(), rtol=0)


def test_default_colour_matrix_is_reproducible_from_the_photos():
    images = torch.stack([torch.tensor(np.asarray(p)).permute(2, 0, 1) for p in photos().values()])
    sqrt = colour_correlation(images)
    # the constant is printed to 3 decimals (rounding <= 5e-4); float32 rounding is far below
    np.testing.assert_allclose(sqrt / torch.linalg.matrix_norm(sqrt, ord=2), PHOTO_COLOUR_SQRT, atol=6e-4)


def test_regularisers_smooth_the_image(shared_net):
    def roughness(r):
        x = r.images
        return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., 1:] - x[..., :-1]).abs().mean())

    kw = dict(steps=30, size=32, channels=[0, 1])
    plain = roughness(visualise_channels(shared_net, "conv2", tv=0, blur_every=0, **kw))
    assert roughness(visualise_channels(shared_net, "conv2", tv=1.0, blur_every=0, **kw)) < 0.7 * plain
    assert roughness(visualise_channels(shared_net, "conv2", tv=0, blur_every=1, blur_sigma=1.5, **kw)) < 0.7 * plain


def test_normalise_is_applied_before_the_model(shared_net):
    invert = lambda x: 1 - x  # noqa: E731
    r = visualise_channels(shared_net, "conv2", [0, 4], normalise=invert, **FAST)
    means = channel_means(shared_net, invert(r.images), "conv2")
    torch.testing.assert_close(r.objective, means[[0, 1], [0, 4]], rtol=1e-4, atol=1e-5)
    assert r.params["normalise"] == "<lambda>"


def test_greyscale_model():
    r = visualise_channels(GreyNet(), "relu", [0, 1, 2], steps=20, size=24)
    assert r.images.shape == (3, 1, 24, 24) and r.params["colour"] is None
    assert (r.history[-1] > r.history[0]).all()
    with pytest.raises(ValueError, match="RGB"):
        visualise_channels(GreyNet(), "relu", [0], decorrelate=torch.eye(3), **FAST)


def test_deterministic_given_seed(shared_net):
    a = visualise_channels(shared_net, "relu", [0, 2], **FAST)
    b = visualise_channels(shared_net, "relu", [0, 2], **FAST)
    c = visualise_channels(shared_net, "relu", [0, 2], seed=1, **FAST)
    assert torch.equal(a.images, b.images) and torch.equal(a.history, b.history)
    assert not torch.equal(a.images, c.images)


def test_params_state_the_settings(shared_net):
    r = visualise_channels(shared_net, "relu", [0], decorrelate=False, tv=0.5, **FAST)
    p = r.params
    stated = (p["layer"], p["size"], p["steps"], p["tv"], p["colour"], p["in_channels"])
    assert stated == ("relu", [32, 32], 6, 0.5, None, 3)
    assert p["angles"] == [float(a) for a in range(-5, 6)]
    default = visualise_channels(shared_net, "relu", [0], **FAST).params["colour"]
    unit_gain = PHOTO_COLOUR_SQRT / torch.linalg.matrix_norm(PHOTO_COLOUR_SQRT, ord=2)
    np.testing.assert_allclose(default, unit_gain, atol=1e-6)


# ------------------------------------------------------------------ hygiene


@pytest.mark.parametrize("layer", ["relu", "relu:1", "bn1", "fc"])
def test_model_untouched_shared_inplace_relu(shared_net, layer):
    shared_net.train()  # batch-norm statistics would move if the forward ran in training mode
    shared_net.conv1.weight.requires_grad_(False)
    before = snapshot(shared_net)
    r = visualise_channels(shared_net, layer, [0, 1], **FAST)
    assert_untouched(shared_net, before)
    assert torch.isfinite(r.images).all()


def test_demo_model_untouched(demo):
    before = snapshot(demo)
    visualise_channels(demo, "relu3", [0], steps=2, size=32)
    assert_untouched(demo, before)


def test_untouched_when_the_forward_raises_mid_optimisation():
    model = RaisesOnCall(n=4)  # the probe and two steps work, the third step raises
    model.train()
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        visualise_channels(model, "conv", [0], **FAST)
    assert_untouched(model, before)
    raises = Raises().train()
    before = snapshot(raises)
    with pytest.raises(RuntimeError):
        visualise_channels(raises, "bad", [0], **FAST)
    assert_untouched(raises, before)


@pytest.mark.parametrize("kind", ["event", "callable"])
def test_cancel_raises_and_leaves_the_model_untouched(shared_net, kind):
    before = snapshot(shared_net)
    done = []
    if kind == "event":
        cancel = threading.Event()
        progress = lambda d, t: (done.append(d), d >= 4 and cancel.set())  # noqa: E731
    else:
        progress = lambda d, t: done.append(d)  # noqa: E731
        cancel = lambda: len(done) >= 1  # noqa: E731
    with pytest.raises(Cancelled):
        visualise_channels(shared_net, "conv2", [0, 1], progress=progress, cancel=cancel, **FAST)
    assert max(done) < 6  # stopped within the first batch
    assert_untouched(shared_net, before)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(layer="relu2x"), ValueError, "did you mean 'relu2'"),
        (dict(channels=[3, 32]), ValueError, "channel 32 is out of range: layer 'relu2' has 32 channels"),
        (dict(channels=[-1]), ValueError, "has 32 channels"),
        (dict(channels=[]), ValueError, "empty"),
        (dict(channels=["a"]), TypeError, "sequence of ints"),
        (dict(size=4), ValueError, "at least 8 pixels"),
        (dict(size=(32,)), TypeError, r"\(height, width\)"),
        (dict(steps=0), ValueError, "steps must be an integer >= 1"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(lr=-1.0), ValueError, "lr"),
        (dict(scales=()), ValueError, "scales"),
        (dict(decorrelate=torch.eye(2)), ValueError, "3 x 3"),
        (dict(decorrelate="yes"), TypeError, "3 x 3"),
        (dict(normalise="imagenet"), TypeError, "normalise"),
        (dict(seed=-1), ValueError, "seed"),
    ],
)
def test_bad_input(demo, kwargs, error, match):
    args = dict(layer="relu2", channels=[0], steps=2, size=32) | kwargs
    before = snapshot(demo)
    with pytest.raises(error, match=match):
        visualise_channels(demo, **args)
    assert_untouched(demo, before)


def test_model_without_conv_needs_in_channels():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 5))
    with pytest.raises(ValueError, match="in_channels"):
        visualise_channels(mlp, "1", [0], steps=2, size=16)
    r = visualise_channels(mlp, "1", [0, 4], steps=2, size=16, in_channels=3)
    assert r.images.shape == (2, 3, 16, 16)


def test_helpers_bad_input():
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        colour_correlation(torch.rand(2, 1, 8, 8))
    with pytest.raises(TypeError, match="tensor or numpy"):
        colour_correlation([[0.5]])
    with pytest.raises(ValueError, match=r"N x C x 16 x 9 x 2 for size \(16, 16\)"):
        fourier_image(torch.zeros(1, 3, 16, 16, 2), 16)
    with pytest.raises(ValueError, match="colour must be 3 x 3"):
        fourier_image(torch.zeros(1, 3, 16, 9, 2), 16, torch.eye(2))


@pytest.mark.parametrize("objective, reduce", [("max", np.max), ("sum", np.sum)])
def test_the_objective_option_is_what_is_maximised_and_reported(demo, objective, reduce):
    r = visualise_channels(demo, "relu2", [0, 3], steps=3, size=32, objective=objective)
    maps = capture(demo, r.images, ["relu2"])["relu2"].numpy()
    want = reduce(maps[[0, 1], [0, 3]], axis=(1, 2))
    np.testing.assert_allclose(r.objective.numpy(), want, rtol=1e-4, atol=1e-5)
    assert r.params["objective"] == objective
