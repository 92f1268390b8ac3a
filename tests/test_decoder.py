"""Classifier-tuned decoders: fit's two stages (only the decoder tuned, the classifier untouched,
its decisions kept better), NMI against hand-derived cases and identities, the std map against
numpy, the cross-model matrix against direct counting, and the shipped demo models."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import xai_widgets as xw
from xai_widgets.decoder import (Autoencoder, ConvDecoder, ConvEncoder, bc_nmi, cross_accuracy, fit, ic_nmi, nmi,
                                 predicted_labels, reconstruct, std_map)

torch.set_num_threads(1)


def state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def crops():
    """48 demo images cut to 64 px around their centre, the decoders' training size."""
    return xw.demo.to_tensor(xw.demo.shapes_dataset(48, seed=11).images[:, 32:96, 32:96])


# ------------------------------------------------------------------ NMI
def test_nmi_of_a_hand_computed_pair():
    # bins=2: X = 0,0,1,1 and Y = 0,0,0,1; p(0,0)=1/2, p(1,0)=p(1,1)=1/4
    x, y = np.array([0.1, 0.1, 0.9, 0.9]), np.array([0.1, 0.1, 0.1, 0.9])
    hx = math.log(2)
    hy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    hxy = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    expected = 2 * (hx + hy - hxy) / (hx + hy)  # 0.3437...
    assert nmi(x, y, bins=2) == pytest.approx(expected, abs=1e-12)
    assert nmi(x, np.array([0.1, 0.9, 0.1, 0.9]), bins=2) == pytest.approx(0.0, abs=1e-12)  # independent


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([2, 8, 32, 64]))
def test_nmi_identities(seed, bins):
    rng = np.random.default_rng(seed)
    x = rng.random((3, 12, 12))
    y = rng.random((3, 12, 12))
    assert nmi(x, x, bins) == pytest.approx(1.0, abs=1e-12)
    centres = (np.floor(x * bins) + 0.5) / bins  # bin centres: 1 - x falls in the mirrored bin exactly
    assert nmi(centres, 1 - centres, bins) == pytest.approx(1.0, abs=1e-12)  # a relabelling keeps all
    assert nmi(x, y, bins) == pytest.approx(nmi(y, x, bins), abs=1e-12)
    assert 0.0 <= nmi(x, y, bins) <= 1.0


def test_nmi_of_independent_images_is_near_zero():
    rng = np.random.default_rng(0)
    n, bins = 200_000, 8
    x, y = rng.random(n), rng.random(n)
    # the plug-in estimate of I is biased upward by about (bins - 1)^2 / (2 n) nats (Miller 1955)
    bias = (bins - 1) ** 2 / (2 * n)
    assert nmi(x, y, bins) < 10 * 2 * bias / (2 * math.log(bins))


def test_constant_images_count_as_one_and_bad_input_is_refused():
    assert nmi(np.zeros((4, 4)), np.ones((4, 4))) == 1.0
    with pytest.raises(ValueError, match="same shape"):
        nmi(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="bins"):
        nmi(np.zeros(3), np.zeros(3), bins=1)
    with pytest.raises(ValueError, match="at least two"):
        bc_nmi(np.zeros((1, 3, 4, 4)))


def test_ic_and_bc_nmi_are_the_pairwise_nmis():
    rng = np.random.default_rng(1)
    x, r = rng.random((4, 3, 8, 8)), rng.random((4, 3, 8, 8))
    assert np.allclose(ic_nmi(x, r), [nmi(x[i], r[i]) for i in range(4)], atol=0)
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert np.allclose(bc_nmi(r), [nmi(r[i], r[j]) for i, j in pairs], atol=0)
    assert np.allclose(bc_nmi(np.repeat(r[:1], 3, 0)), 1.0)  # a decoder painting one image whatever its input


# ------------------------------------------------------------------ the std map
def test_std_map_against_a_direct_computation():
    rng = np.random.default_rng(2)
    r = rng.random((5, 3, 6, 7))
    expected = np.zeros((6, 7))
    for c in range(3):
        mean = sum(r[i, c] for i in range(5)) / 5
        expected += np.sqrt(sum((r[i, c] - mean) ** 2 for i in range(5)) / 5) / 3
    assert np.allclose(std_map(r), expected, atol=1e-12)
    toy = np.stack([np.zeros((1, 2, 2)), np.ones((1, 2, 2))])
    toy[:, :, 0, 0] = 0.5  # never changes: no information there
    assert np.array_equal(std_map(toy), [[0.0, 0.5], [0.5, 0.5]])
    assert np.array_equal(std_map(torch.tensor(toy)), std_map(toy))


# ------------------------------------------------------------------ the cross-model matrix
class Channel(nn.Module):
    """Toy classifier: class 1 when channel ``c``'s mean exceeds 0.5, else class 0."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        m = x[:, self.c].mean((1, 2)) * self.w
        return torch.stack([0.5 - m, m - 0.5], 1)


class Swap(nn.Module):
    """Toy autoencoder: swaps channels 0 and 1."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x[:, [1, 0, 2]] * self.w


def test_cross_accuracy_against_direct_counting():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.random((40, 3, 4, 4)), dtype=torch.float32)
    labels = (x[:, 0].mean((1, 2)) > 0.5).long()  # what Channel(0) predicts on clean images
    classifiers, autoencoders = [Channel(0), Channel(1)], [nn.Identity(), Swap()]
    before = [state(m) for m in classifiers + autoencoders]
    result = cross_accuracy(classifiers, autoencoders, x, labels, names=["zero", "one"])
    m0, m1 = (x[:, 0].mean((1, 2)) > 0.5).long(), (x[:, 1].mean((1, 2)) > 0.5).long()
    acc = lambda p: (p == labels).double().mean().item()  # noqa: E731
    # f_j o A_i: Identity leaves the channels, Swap gives f_0 channel 1 and f_1 channel 0
    assert np.allclose(result.matrix, [[acc(m0), acc(m1)], [acc(m1), acc(m0)]], atol=0)
    assert np.allclose(result.clean, [1.0, acc(m1)], atol=0)
    assert np.allclose(result.ratios("clean"), result.matrix / result.clean[None], atol=1e-15)
    assert np.allclose(result.ratios("own"), result.matrix / np.diag(result.matrix)[None], atol=1e-15)
    assert np.allclose(result.min_ratio("clean"), (result.matrix / result.clean[None]).min(1), atol=1e-15)
    assert result.names == ("zero", "one")
    assert all(same(b, state(m)) for b, m in zip(before, classifiers + autoencoders))
    with pytest.raises(ValueError, match="denominator"):
        result.ratios("mean")
    with pytest.raises(ValueError, match="one autoencoder per classifier"):
        cross_accuracy(classifiers, autoencoders[:1], x, labels)
    with pytest.raises(ValueError, match="one class per image"):
        cross_accuracy(classifiers, autoencoders, x, labels[:3])


# ------------------------------------------------------------------ fit
def test_stage_two_tunes_only_the_decoder_and_keeps_the_classifiers_decisions(crops):
    f = xw.demo.shapes_model()
    f.train()  # the user's flags must come back
    plain = xw.demo.shapes_decoder(None)
    encoder, decoder = plain.encoder, plain.decoder
    f_before, e_before, d_before = state(f), state(encoder), state(decoder)
    y = predicted_labels(f, crops)
    kept_before = (predicted_labels(f, reconstruct(plain, crops)) == y).double().mean().item()
    record = fit(f, encoder, decoder, crops, pretrain_epochs=0, tune_epochs=3, batch_size=16, seed=0)
    kept_after = (predicted_labels(f, reconstruct(record.autoencoder, crops)) == y).double().mean().item()
    assert same(f_before, state(f)) and all(m.training for m in f.modules())
    assert all(p.grad is None for p in f.parameters())
    assert same(e_before, state(encoder))  # the encoder is frozen in stage 2
    assert not same(d_before, state(decoder))
    assert torch.equal(record.labels, y)
    assert record.reconstruction == [] and len(record.classification) == len(record.agreement) == 3
    assert kept_after > kept_before
    assert record.classification[-1] < record.classification[0]


def test_stage_one_trains_both_halves_on_reconstruction(crops):
    f = xw.demo.strided_model()
    torch.manual_seed(0)
    encoder, decoder = ConvEncoder(), ConvDecoder()
    e_before, f_before = state(encoder), state(f)
    ticks = []
    record = fit(f, encoder, decoder, crops[:32], pretrain_epochs=3, tune_epochs=0, batch_size=8, lr=0.1,
                 progress=lambda done, total: ticks.append((done, total)))
    assert ticks == [(k, 12) for k in range(1, 13)]
    assert len(record.reconstruction) == 3 and record.classification == []
    assert record.reconstruction[-1] < record.reconstruction[0]
    assert not same(e_before, state(encoder)) and same(f_before, state(f))
    assert record.lrs["reconstruction"][0] == 0.1
    assert not encoder.training and not decoder.training


def test_given_labels_are_the_targets_and_a_run_is_repeatable(crops):
    f = xw.demo.shapes_model()
    labels = torch.arange(16) % 6
    runs = []
    for _ in range(2):
        ae = xw.demo.shapes_decoder(None)
        runs.append(fit(f, ae.encoder, ae.decoder, crops[:16], labels, pretrain_epochs=1, tune_epochs=1,
                        batch_size=8, seed=5))
    assert torch.equal(runs[0].labels, labels) and runs[0].settings["labels"] == "given"
    assert runs[0].reconstruction == runs[1].reconstruction and runs[0].classification == runs[1].classification


def test_fit_refuses_bad_input_and_leaves_the_classifier(crops):
    f = xw.demo.shapes_model()
    before = state(f)
    e, d = ConvEncoder(), ConvDecoder()
    with pytest.raises(TypeError, match="classifier must be a torch.nn.Module"):
        fit("net", e, d, crops)
    with pytest.raises(TypeError, match="float tensor"):
        fit(f, e, d, (crops * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="N x C x H x W"):
        fit(f, e, d, crops[0])
    with pytest.raises(ValueError, match="shape of x"):
        fit(f, e, d, crops[:, :, :60, :60])
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.5"):
        fit(f, e, d, crops[:4], torch.tensor([0, 1, 2, 9]))
    with pytest.raises(ValueError, match="tune_epochs"):
        fit(f, e, d, crops, tune_epochs=-1)
    with pytest.raises(ValueError, match="momentum"):
        fit(f, e, d, crops, momentum=1.5)
    assert same(before, state(f))


# ------------------------------------------------------------------ the shipped demo models
@pytest.mark.parametrize("classifier, name", [("strided_model", "strided"), ("shapes_model", "cnn")])
def test_each_shipped_tuned_decoder_keeps_its_classifiers_decisions_better_than_the_plain_one(classifier, name):
    # on the demo's default images (seed 0: in neither the training nor the validation images)
    x = xw.demo.to_tensor(xw.demo.shapes_dataset(64, seed=0).images)
    f = getattr(xw.demo, classifier)()
    y = predicted_labels(f, x)
    kept = {n: (predicted_labels(f, reconstruct(xw.demo.shapes_decoder(n), x)) == y).double().mean().item()
            for n in (None, name)}
    assert kept[name] > kept[None], kept
    assert isinstance(xw.demo.shapes_decoder(), Autoencoder)
    with pytest.raises(ValueError, match="tuned_for"):
        xw.demo.shapes_decoder("vgg")


def test_shipped_weights_are_small():
    from xai_widgets.demo import WEIGHTS
    for name in ("shapes_ae.pt", "shapes_ae_cnn.pt", "shapes_ae_strided.pt", "shapes_strided.pt"):
        assert WEIGHTS.with_name(name).stat().st_size < 500_000
