"""DecoderExplorer: what it ships against direct runs of the autoencoder and the classifier,
the blend against a float recomputation, refusals, the models left as they were, and exports."""
import numpy as np
import pytest
import torch
from PIL import Image

import xai_widgets as xw
from xai_widgets.decoder import bc_nmi, ic_nmi, std_map
from xai_widgets.widgets.checks import Refused
from xai_widgets.widgets.decoder_payload import blend_pixels
from xai_widgets.widgets.inversion_payload import decoded_pixels

torch.set_num_threads(1)
STEPS = 5


def state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def models():
    return xw.demo.shapes_model(), xw.demo.shapes_decoder("cnn")


@pytest.fixture(scope="module")
def images():
    return xw.demo.to_tensor(xw.demo.shapes_dataset(4, seed=6).images)


@pytest.fixture(scope="module")
def widget(models, images):
    return xw.DecoderExplorer(*models, images, steps=STEPS, classes=xw.demo.CLASSES)


def test_ships_the_images_and_the_autoencoders_reconstructions(widget, models, images):
    with torch.no_grad():
        recon = models[1](images)
    shipped = decoded_pixels(widget._dec["recons"]).astype(float) / 255
    assert np.abs(shipped - recon.permute(0, 2, 3, 1).numpy()).max() <= 0.5 / 255 + 1e-6  # uint8 rounding
    assert np.array_equal(decoded_pixels(widget._dec["images"]), xw.demo.shapes_dataset(4, seed=6).images)


def test_blend_is_the_rounded_float_blend():
    rng = np.random.default_rng(0)
    x, a = rng.integers(0, 256, (2, 50, 3), dtype=np.uint8)
    for steps in (2, 5, 11):
        for k in range(steps):
            b = k / (steps - 1)
            expected = np.floor((1 - b) * x.astype(float) + b * a.astype(float) + 0.5)
            # half-up rounding of exact rationals: floats may land a hair off a .5 tie
            assert np.abs(blend_pixels(x, a, k, steps).astype(float) - expected).max() <= 1
            assert np.array_equal(blend_pixels(x, a, k, steps), ((steps - 1 - k) * x.astype(int) + k * a.astype(int)
                                                                 + (steps - 1) // 2) // (steps - 1))
    assert np.array_equal(blend_pixels(x, a, 0, 5), x) and np.array_equal(blend_pixels(x, a, 4, 5), a)


def test_predictions_along_the_blend_are_the_classifiers_on_the_pixels_drawn(widget, models):
    f = models[0]
    x8, a8 = decoded_pixels(widget._dec["images"]), decoded_pixels(widget._dec["recons"])
    for k in range(STEPS):
        shown = torch.from_numpy(blend_pixels(x8, a8, k, STEPS)).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            p = f(shown).softmax(1)
        assert np.array_equal(widget.top[:, k], p.argmax(1).numpy())
        assert np.allclose(widget.prob[:, k], p.max(1).values.numpy(), atol=1e-5)


def test_the_measures_shipped_are_the_systems_on_the_pixels(widget):
    x = decoded_pixels(widget._dec["images"]).astype(float) / 255
    r = decoded_pixels(widget._dec["recons"]).astype(float) / 255
    assert np.allclose(widget._dec["ic_nmi"], ic_nmi(x, r), atol=1e-12)
    assert widget._dec["bc_nmi"] == pytest.approx(bc_nmi(r).mean(), abs=1e-12) and widget._dec["pairs"] == 6
    spread = std_map(np.moveaxis(r, -1, 1))
    hi = widget._dec["std_hi"]
    assert hi == pytest.approx(spread.max())
    assert np.abs(decoded_pixels(widget._dec["std"]) - spread / hi * 255).max() <= 0.5 + 1e-9


def test_traits_are_validated(widget):
    with pytest.raises(Refused):
        widget.step = STEPS
    with pytest.raises(Refused):
        widget.index = 4
    widget.step, widget.index = 1, 2
    assert widget.blend == 0.25
    widget.step, widget.index = STEPS - 1, 0


def test_refusals_and_the_models_left_as_they_were(models, images):
    f, a = models
    f.train()
    before = [state(f), state(a)]
    with pytest.raises(TypeError, match="classifier must be a torch.nn.Module"):
        xw.DecoderExplorer(None, a, images)
    with pytest.raises(ValueError, match="at least two images"):
        xw.DecoderExplorer(f, a, images[:1])
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        xw.DecoderExplorer(f, a, images * 2)
    with pytest.raises(ValueError, match="name each of the classifier's 6 classes"):
        xw.DecoderExplorer(f, a, images, classes=["a", "b"])
    with pytest.raises(Refused, match="steps"):
        xw.DecoderExplorer(f, a, images, steps=1)
    xw.DecoderExplorer(f, a, images[:2], steps=2)
    assert all(m.training for m in f.modules()) and not a.training
    assert all(p.grad is None for p in list(f.parameters()) + list(a.parameters()))
    assert all(torch.equal(before[0][k], v) for k, v in state(f).items())
    assert all(torch.equal(before[1][k], v) for k, v in state(a).items())
    f.eval()


def test_png_shows_the_blend_drawn_and_the_prediction(widget, tmp_path):
    widget.index, widget.step = 1, 2
    png = widget.render_png()
    assert isinstance(png, Image.Image) and 500 <= png.size[0] <= 970
    path = widget.to_png(tmp_path / "decoder.png")
    assert Image.open(path).size == png.size
    html = widget.to_html(tmp_path / "decoder.html").read_text()
    assert "DecoderExplorer" in html or "decoder" in html
    widget.index, widget.step = 0, STEPS - 1
