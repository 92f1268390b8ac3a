"""LIME for images (Ribeiro et al. 2016): its sample weights by hand, a linear model it must recover,
planted evidence, and hygiene."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets.attribution import lime
from toy_models import assert_untouched, snapshot

torch.set_num_threads(1)


def test_kernel_weight_by_hand():
    kept = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]])
    d = 1 - 2 / (math.sqrt(2) * 2)  # cosine distance of (1, 1, 0, 0) to (1, 1, 1, 1)
    expected = [1.0, math.sqrt(math.exp(-d ** 2 / 0.25 ** 2)), 0.0]
    np.testing.assert_allclose(lime.kernel_weight(kept, 0.25).numpy(), expected, rtol=1e-6)


def _quadrants():
    """A 3 x 16 x 16 image of four flat colours, one per quadrant."""
    x = torch.zeros(3, 16, 16)
    colours = [(0.9, 0.1, 0.1), (0.1, 0.9, 0.1), (0.1, 0.1, 0.9), (0.9, 0.9, 0.1)]
    for (r, c), colour in zip([(0, 0), (0, 8), (8, 0), (8, 8)], colours):
        x[:, r:r + 8, c:c + 8] = torch.tensor(colour)[:, None, None]
    return x


def test_superpixels_follow_colour_edges():
    x = _quadrants()
    labels = lime.superpixels(x, segments=4, compactness=10)
    assert sorted(labels.unique().tolist()) == list(range(int(labels.max()) + 1))
    for r, c in [(0, 0), (0, 8), (8, 0), (8, 8)]:  # no superpixel straddles two quadrants
        inside = labels[r:r + 8, c:c + 8].unique()
        outside = torch.cat([labels[:r, :].flatten(), labels[r + 8:, :].flatten(),
                             labels[r:r + 8, :c].flatten(), labels[r:r + 8, c + 8:].flatten()]).unique()
        assert not set(inside.tolist()) & set(outside.tolist())


class Weighted(nn.Module):
    """Logit 0 = the sum of the first channel weighted per quadrant (1, 2, -1, 4); logit 1 = 0."""

    def __init__(self):
        super().__init__()
        w = torch.zeros(16, 16)
        for (r, c), v in zip([(0, 0), (0, 8), (8, 0), (8, 8)], [1.0, 2.0, -1.0, 4.0]):
            w[r:r + 8, c:c + 8] = v / 64
        self.register_buffer("w", w)

    def forward(self, x):
        s = (x[:, 0] * self.w).sum((1, 2))
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_a_linear_score_is_recovered_per_superpixel():
    # With hidden superpixels set to 0 the score is exactly linear in the kept vector: quadrant q
    # contributes v_q * (its first-channel value). The ridge fit (alpha 1 over a few hundred
    # weighted samples) recovers it up to a shrinkage of about a tenth.
    x = _quadrants()[None]
    attr = lime.lime(Weighted(), x, target=0, samples=400, segments=4, fill=0.0)[0, 0]
    got, expected = [], []
    for (r, c), v, red in zip([(0, 0), (0, 8), (8, 0), (8, 8)], [1, 2, -1, 4], [0.9, 0.1, 0.1, 0.9]):
        block = attr[r:r + 8, c:c + 8]
        assert torch.all(block == block[0, 0])  # one coefficient per superpixel
        got.append(float(block[0, 0]))
        expected.append(v * red)
    assert np.argsort(got).tolist() == np.argsort(expected).tolist()
    np.testing.assert_allclose(got, expected, rtol=0.15, atol=0.02)


def test_planted_evidence_is_found():
    # sixteen 4 x 4 blocks of one red and different greens and blues, with a little noise: the
    # most relevant superpixel lies in the quadrant weighted 4 x
    gen = torch.Generator().manual_seed(0)
    x = torch.full((1, 3, 16, 16), 0.8)
    x[0, 1:] = torch.rand(2, 4, 4, generator=gen).repeat_interleave(4, 1).repeat_interleave(4, 2)
    x += 0.02 * torch.rand(1, 3, 16, 16, generator=gen)
    attr = lime.lime(Weighted(), x, target=0, samples=300, segments=16, fill=0.0)[0, 0]
    top = int(attr.flatten().argmax())
    assert top // 16 >= 8 and top % 16 >= 8


def test_registry_hygiene_seed_and_global_generator():
    model = xw.demo.shapes_model().train()
    snap = snapshot(model)
    x = xw.to_batch(xw.demo.shapes_images(1, seed=2), model)
    state = torch.random.get_rng_state()
    a = xw.attribution.attribute(model, x, "lime", samples=60, segments=20)
    assert torch.equal(torch.random.get_rng_state(), state)  # the user's generator is untouched
    b = xw.attribution.attribute(model, x, "lime", samples=60, segments=20)
    torch.testing.assert_close(a.maps, b.maps)
    assert a.maps.shape == (1, 128, 128) and a.maps.abs().max() > 0
    assert_untouched(model, snap)


@pytest.mark.parametrize("kw, words", [(dict(samples=1), "samples must be an int >= 2"),
                                       (dict(segments=2.5), "segments must be an int >= 2"),
                                       (dict(kernel_width=0), "kernel_width must be a positive number"),
                                       (dict(fill="black"), "fill must be 'mean' or a number")])
def test_bad_settings_are_refused(kw, words):
    with pytest.raises(ValueError) as info:
        lime.lime(Weighted(), _quadrants()[None], **kw)
    assert words in str(info.value)
