"""The path-mask thesis's CNN and VAE, their training, the digits/letters demo sets and shipped weights."""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from float_bounds import sum_tol
from toy_models import assert_untouched, snapshot
from xai_widgets import demo
from xai_widgets.core.capture import capture
from xai_widgets.demo import glyphs
from xai_widgets.morph.models import ConvVAE, SeedCNN
from xai_widgets.morph.train import kl_divergence, train_classifier, train_vae, vae_loss
from xai_widgets.core.tasks import Cancelled

WEIGHTS = demo.WEIGHTS.parent


pytestmark = pytest.mark.usefixtures("one_thread")


def record(name: str) -> dict:
    return json.loads((WEIGHTS / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def digits():
    return demo.digits()


@pytest.fixture(scope="module")
def letters():
    return demo.letters()


# ----------------------------------------------------------------------------- models


def test_parameter_counts_match_the_listings():
    # counted from the thesis's "MNIST CNN" and "MNIST VAE" listings (trainable, BN running stats excluded)
    assert sum(p.numel() for p in SeedCNN().parameters()) == 320_122
    vae = ConvVAE()
    assert sum(p.numel() for p in vae.parameters()) == 605_482
    decoder = sum(p.numel() for p in vae.decoder.parameters())
    assert decoder == 260_850 and 605_482 - decoder == 344_632


def test_feature_sizes_and_output_shapes():
    x = torch.rand(3, 1, 28, 28)
    cnn, vae = SeedCNN(), ConvVAE(latent_dim=7)
    maps = capture(cnn, x, ["conv1", "conv2", "conv3", "fc1", "fc2"])
    assert {k: tuple(v.shape[1:]) for k, v in maps.items()} == {
        "conv1": (16, 10, 10), "conv2": (32, 8, 8), "conv3": (64, 6, 6), "fc1": (128,), "fc2": (10,)}
    names = ["encoder.conv1", "encoder.conv2", "encoder.conv3", "decoder.deconv1", "decoder.deconv2", "decoder.deconv3"]
    maps = capture(vae, x, names)
    assert [tuple(maps[n].shape[1:]) for n in names] == [
        (16, 10, 10), (32, 8, 8), (64, 6, 6), (32, 8, 8), (16, 10, 10), (1, 28, 28)]
    vae.eval()
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (3, 7) and vae.latent_dim == 7
    images = vae.decode(torch.randn(5, 7) * 10)
    assert images.shape == (5, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    recon, mu2, logvar2 = vae(x)
    assert recon.shape == x.shape and torch.equal(mu2, mu) and torch.equal(logvar2, logvar)
    assert SeedCNN(num_classes=4, in_channels=3)(torch.rand(2, 3, 28, 28)).shape == (2, 4)


def test_reparameterisation_only_in_training_mode():
    torch.manual_seed(0)
    vae = ConvVAE(latent_dim=5, dropout=0.0)  # no dropout: the only randomness is the sample
    x = torch.rand(6, 1, 28, 28)
    vae.eval()
    with torch.no_grad():
        recon_a, mu, logvar = vae(x)
        recon_b, _, _ = vae(x)
        assert torch.equal(recon_a, recon_b) and torch.equal(recon_a, vae.decode(mu))
        vae.train()  # batch norm now uses batch statistics, deterministically
        torch.manual_seed(1)
        recon, mu, logvar = vae(x)
        torch.manual_seed(1)
        mu_again, logvar_again = vae.encode(x)
        eps = torch.randn(6, 5)
        expected = vae.decode(mu_again + eps * torch.exp(0.5 * logvar_again))
        assert torch.allclose(recon, expected, atol=1e-6)
        assert not torch.allclose(recon, vae.decode(mu), atol=1e-3)


def test_bad_model_arguments_and_inputs():
    with pytest.raises(ValueError, match="latent_dim"):
        ConvVAE(latent_dim=0)
    with pytest.raises(ValueError, match="num_classes"):
        SeedCNN(num_classes=2.5)
    with pytest.raises(ValueError, match=r"N x 1 x 28 x 28"):
        SeedCNN()(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"codes N x 100"):
        ConvVAE().decode(torch.rand(2, 10))


# ----------------------------------------------------------------------------- losses


def test_kl_divergence_closed_form():
    # hand case: 1/2 (mu^2 + s^2 - 1 - log s^2) per dimension
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    expected_first = 0.5 * 1.0 + 0.5 * (4.0 - 1.0 - math.log(4.0))
    assert torch.allclose(kl_divergence(mu, logvar), torch.tensor([expected_first, 0.0]))
    # against torch.distributions for random values
    mu, logvar = torch.randn(4, 9), torch.randn(4, 9)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    reference = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    # two float32 formulas: each dimension's terms (mu^2, sigma^2, 1, log sigma^2) take a few
    # roundings each (exp, square, log, sums: 6 at most), then a 9-term sum
    S = (mu.square() + logvar.exp() + 1 + logvar.abs()).sum(1).max()
    torch.testing.assert_close(kl_divergence(mu, logvar), reference, atol=sum_tol(6 + 9, S), rtol=0)


def test_vae_loss_is_summed_squared_error_plus_beta_kl():
    x = torch.zeros(2, 1, 2, 2)
    recon = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[0.5, 0.5], [0.5, 0.5]]]])
    mu, logvar = torch.tensor([[2.0], [0.0]]), torch.zeros(2, 1)
    # image sums 1 and 1, KL 2 and 0: mean of (1 + 0.5 * 2, 1 + 0)
    assert torch.isclose(vae_loss(recon, x, mu, logvar, beta=0.5), torch.tensor(1.5))


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def small_digits():
    images, labels = glyphs.digits_data("train")
    return images[:48], labels[:48]


def test_train_vae_lowers_the_loss_deterministically_and_cleanly(small_digits):
    torch.manual_seed(0)
    vae = ConvVAE(latent_dim=8)
    start = {k: v.clone() for k, v in vae.state_dict().items()}
    requires = {n: p.requires_grad for n, p in vae.named_parameters()}
    rng_state = torch.get_rng_state()
    calls = []
    losses = train_vae(vae, small_digits, epochs=4, batch_size=16, lr=3e-3, progress=lambda d, t: calls.append((d, t)))
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
    assert calls == [(d, 12) for d in range(1, 13)]
    assert not any(m.training for m in vae.modules())
    assert all(p.grad is None for p in vae.parameters())
    assert {n: p.requires_grad for n, p in vae.named_parameters()} == requires
    assert torch.equal(torch.get_rng_state(), rng_state)  # the caller's random state is kept
    # the same seed from the same start gives the same run; a bare tensor and a Dataset too
    again = ConvVAE(latent_dim=8)
    again.load_state_dict(start)
    dataset = TensorDataset(*small_digits)
    assert train_vae(again, dataset, epochs=4, batch_size=16, lr=3e-3) == losses
    for k, v in vae.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k
    other = ConvVAE(latent_dim=8)
    other.load_state_dict(start)
    assert train_vae(other, small_digits[0], epochs=1, batch_size=16, lr=3e-3, seed=5)[0] != losses[0]


def test_batchnorm_recalibrated_to_eval_conditions(small_digits):
    # after training, every running mean is the mean over the undistorted training images
    # of that layer's input in eval mode (no dropout, z = mu): checked for the first layer
    # In float64: the recalibration sums batch by batch, the reference all at once. A mean of
    # M values rounds below M eps64 * max|value| (and the convolutions far below): ~1e-13.
    torch.manual_seed(0)
    vae = ConvVAE(latent_dim=8).double()
    images, labels = small_digits
    train_vae(vae, (images.double(), labels), epochs=1, batch_size=16, augment=glyphs.distort)
    with torch.no_grad():
        conv = vae.encoder.conv1(images.double())
    M = conv.numel() // conv.shape[1]
    atol = 2 * M * torch.finfo(torch.float64).eps * float(conv.abs().max())
    torch.testing.assert_close(vae.encoder.bn1.running_mean, conv.mean(dim=(0, 2, 3)), atol=atol, rtol=0)


def test_train_classifier_fits_a_small_set(small_digits):
    torch.manual_seed(0)
    model = SeedCNN()
    losses = train_classifier(model, small_digits, epochs=10, batch_size=16, lr=3e-3)
    assert losses[-1] < 0.25 * losses[0]
    with torch.no_grad():
        accuracy = (model(small_digits[0]).argmax(1) == small_digits[1]).float().mean()
    assert accuracy >= 0.95 and not model.training


def test_cancel_puts_the_model_back(small_digits):
    torch.manual_seed(0)
    model = SeedCNN()
    model.fc2.train(False)  # a mixed training state must come back as it was
    before = snapshot(model)
    done = []
    with pytest.raises(Cancelled):
        train_classifier(model, small_digits, epochs=3, batch_size=16, progress=lambda d, t: done.append(d),
                         cancel=lambda: len(done) >= 2)
    assert done == [1, 2]
    assert_untouched(model, before)


def test_bad_training_input(small_digits):
    images, labels = small_digits
    vae = ConvVAE()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_vae(vae, (images * 2, labels))
    with pytest.raises(ValueError, match="48 integers"):
        train_classifier(SeedCNN(), (images, labels[:5]))
    with pytest.raises(TypeError, match="Dataset"):
        train_classifier(SeedCNN(), [images])
    with pytest.raises(ValueError, match="epochs"):
        train_vae(vae, small_digits, epochs=0)
    with pytest.raises(ValueError, match="beta"):
        train_vae(vae, small_digits, beta=-1)


# ----------------------------------------------------------------------------- data


def test_distort_identity_and_zoom_on_a_ramp():
    # float64, so only grid rounding is left: sampling positions off by ~3 eps * 28 pixels on a
    # ramp rising < 1 per pixel, and a few roundings of the values: 1e-12 is far above that
    u = (2 * torch.arange(28, dtype=torch.float64) + 1) / 28 - 1  # pixel centres in grid_sample's units
    ramp = (0.5 + 0.4 * u).expand(2, 1, 28, 28).contiguous()
    still = dict(rotation=0.0, shear=0.0, translate=0.0)
    torch.testing.assert_close(glyphs.distort(ramp, scale=(1, 1), **still), ramp, atol=1e-12, rtol=0)
    # zooming by 2 about the centre halves the slope; bilinear sampling is exact on a ramp
    zoomed = glyphs.distort(ramp, scale=(2, 2), **still)
    torch.testing.assert_close(zoomed, (0.5 + 0.2 * u).expand(2, 1, 28, 28), atol=1e-12, rtol=0)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x = glyphs.digits_data("test")[0][:4]
    a, b = glyphs.distort(x, g1, elastic=0.7), glyphs.distort(x, g2, elastic=0.7)
    assert torch.equal(a, b) and not torch.equal(a, x) and a.min() >= 0 and a.max() <= 1


def test_digits_reader_matches_scikit_learn():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    raw, labels = glyphs._digits_8x8()
    assert np.array_equal(raw, bunch.images) and np.array_equal(labels, bunch.target)


def test_digits_sets_are_deterministic_disjoint_and_mnist_like():
    train, test, everything = (glyphs.digits_data(s) for s in ("train", "test", "all"))
    assert train[0].shape == (1497, 1, 28, 28) and test[0].shape == (300, 1, 28, 28)
    assert everything[0].dtype == torch.float32 and everything[1].dtype == torch.int64
    assert everything[0].min() >= 0 and everything[0].max() <= 1 and everything[0].amax((1, 2, 3)).min() > 0.9
    assert torch.equal(glyphs.digits_data("test")[0], test[0])
    # the split is a partition of scikit-learn's 1,797 images, in order of the seeded permutation
    order = np.random.default_rng(glyphs.DIGITS_SPLIT_SEED).permutation(1797)
    assert torch.equal(test[0], everything[0][order[:300]]) and torch.equal(train[1], everything[1][order[300:]])
    assert sorted(order[:300].tolist() + order[300:].tolist()) == list(range(1797))
    # MNIST-like: ink in the central 20 x 20 box region, centre of mass near the centre
    images = everything[0][:, 0].double()
    mass = images.sum((1, 2))
    centre_y = (images.sum(2) * torch.arange(28)).sum(1) / mass
    centre_x = (images.sum(1) * torch.arange(28)).sum(1) / mass
    assert (centre_y - 13.5).abs().max() <= 0.5 + 1e-9 and (centre_x - 13.5).abs().max() <= 0.5 + 1e-9
    assert set(everything[1].tolist()) == set(range(10))


def _digests(images: torch.Tensor) -> set[str]:
    return {hashlib.sha1(image.numpy().tobytes()).hexdigest() for image in images}


def test_shipped_letters_set():
    info = record("letters_data")
    train, test, both = (glyphs.letters_data(s) for s in ("train", "test", "all"))
    assert train[0].shape == (info["n_train"], 1, 28, 28) and test[0].shape == (info["n_test"], 1, 28, 28)
    assert torch.equal(both[0], torch.cat([train[0], test[0]]))
    assert train[1].bincount().tolist() == [info["n_train"] // 10] * 10
    assert test[1].bincount().tolist() == [info["n_test"] // 10] * 10
    levels = torch.unique(both[0] * 255).round()
    assert len(levels) <= info["grey_levels"] and both[0].min() == 0 and both[0].max() == 1
    assert not _digests(train[0]) & _digests(test[0])  # no held-out image is also a training image
    assert (WEIGHTS / "letters_data.npz").stat().st_size < 1_000_000
    assert len(info["fonts"]) >= 10


def test_render_letters_is_deterministic():
    fonts = glyphs.find_fonts()
    a, labels, names = glyphs.render_letters(20, seed=4, fonts=fonts)
    b, labels_b, _ = glyphs.render_letters(20, seed=4, fonts=fonts)
    assert np.array_equal(a, b) and np.array_equal(labels, labels_b)
    assert a.shape == (20, 28, 28) and a.dtype == np.uint8 and np.bincount(labels).tolist() == [2] * 10
    assert len(names) == len(fonts) + 1 and "Pillow default" in names[-1]
    assert not np.array_equal(glyphs.render_letters(20, seed=5, fonts=fonts)[0], a)
    with pytest.raises(ValueError, match="split"):
        glyphs.letters_data("held-out")


# ----------------------------------------------------------------------------- shipped models


def _accuracy(classifier, images, labels) -> float:
    with torch.no_grad():
        return (classifier(images).argmax(1) == labels).double().mean().item()


@pytest.mark.parametrize("name", ["digits", "letters"])
def test_shipped_weights_are_float16_and_small(name):
    for kind in ("cnn", "vae"):
        state = torch.load(WEIGHTS / f"{name}_{kind}.pt", weights_only=True)
        assert {v.dtype for v in state.values()} == {torch.float16, torch.int64}
        assert (WEIGHTS / f"{name}_{kind}.pt").stat().st_size < 1_400_000


def test_demo_loaders(digits, letters):
    for classifier, vae, images, labels in (digits, letters):
        assert isinstance(classifier, SeedCNN) and isinstance(vae, ConvVAE)
        assert not classifier.training and not vae.training
        assert next(vae.parameters()).dtype == torch.float32
        assert images.shape[1:] == (1, 28, 28) and labels.dtype == torch.int64 and len(images) == len(labels)
    assert len(digits[2]) == 300 and len(letters[2]) == record("letters_data")["n_test"]
    assert demo.DIGIT_CLASSES == tuple("0123456789") and demo.LETTER_CLASSES == tuple("ABCDEFGHIJ")


@pytest.mark.parametrize("name", ["digits", "letters"])
def test_recorded_heldout_accuracy(name, digits, letters):
    classifier, _, images, labels = digits if name == "digits" else letters
    recorded = record(f"{name}_cnn")["heldout_accuracy"]
    # one image of slack: summation order may differ across machines
    assert abs(_accuracy(classifier, images, labels) - recorded) <= 1 / len(labels) + 1e-4
    assert recorded >= (0.95 if name == "digits" else 0.9)


@pytest.mark.parametrize("name", ["digits", "letters"])
def test_recorded_reconstruction_quality(name, digits, letters):
    classifier, vae, images, _ = digits if name == "digits" else letters
    info = record(f"{name}_vae")
    train = glyphs.digits_data("train")[0] if name == "digits" else glyphs.letters_data("train")[0]
    with torch.no_grad():
        recon = vae.decode(vae.encode(images)[0])
        kept = (classifier(recon).argmax(1) == classifier(images).argmax(1)).double().mean().item()
    mse = (recon - images).square().mean().item()
    baseline = (train.mean(0) - images).square().mean().item()  # predicting the mean image
    assert mse == pytest.approx(info["heldout_mse"], rel=1e-3)
    assert baseline == pytest.approx(info["mean_image_mse"], rel=1e-3)
    assert mse < MSE_BOUND[name] and mse < 0.6 * baseline
    assert abs(kept - info["label_kept"]) <= 1 / len(images) + 1e-4
    assert kept >= LABEL_KEPT_BOUND[name]


MSE_BOUND = {"digits": 0.02, "letters": 0.03}
LABEL_KEPT_BOUND = {"digits": 0.9, "letters": 0.85}
