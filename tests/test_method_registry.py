"""Adding an attribution method is one record and one function: a method registered in
``xw.attribution.METHODS`` runs through ``attribute()`` (options checked, targets resolved,
its map series when asked) and appears in AttributionExplorer with its title and its series'
symbol and unit, with nothing else written for it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import attribution, wire
from xai_widgets.attribution import Attribution, MapSeries, Method, SeriesAxis

from toy_models import SharedReLUNet

GAINS = (0.5, 1.0, 2.0)


def brightness(model, x, t, c, logits, options, series, progress, cancel):
    """A toy method with a known answer: each pixel's summed channels times ``gain``."""
    gain = float(options.get("gain", 1.0))
    maps = x.sum(1) * gain
    ms = MapSeries("gain", list(GAINS), torch.stack([x.sum(1) * g for g in GAINS], 1), GAINS.index(gain)) if series else None
    return Attribution("brightness", maps, t, c, ms, {"logits": logits})


@pytest.fixture()
def registered(monkeypatch):
    monkeypatch.setitem(attribution.METHODS, "brightness",
                        Method("brightness", "Brightness", "a test", brightness, ("gain",), SeriesAxis("gain", "g", "×")))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return SharedReLUNet().eval()


def test_every_built_in_method_is_a_complete_record():
    assert tuple(attribution.METHODS) == attribution.METHOD_NAMES
    for name, m in attribution.METHODS.items():
        assert m.name == name and m.title and m.citation and callable(m.compute)
        assert isinstance(m.options, tuple) or callable(m.options)
    axes = {name: m.series.parameter for name, m in attribution.METHODS.items() if m.series}
    assert axes == {"smoothgrad": "noise", "integrated_gradients": "alpha", "extremal_perturbation": "area",
                    "rise": "masks"}


def test_a_registered_method_runs_through_attribute(registered, net):
    x = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    res = xw.attribution.attribute(net, x, "brightness", target=[1, 2], gain=2.0)
    torch.testing.assert_close(res.maps, x.sum(1) * 2.0)
    assert res.target.tolist() == [1, 2] and res.series is None
    torch.testing.assert_close(res.info["logits"], net(x))  # attribute() handed over the logits
    res = xw.attribution.attribute(net, x, "brightness", series=True)
    assert res.series.values == list(GAINS) and res.series.index == 1
    assert res.target.tolist() == net(x).argmax(1).tolist()
    with pytest.raises(TypeError, match="brightness got unknown option.*'width'.*it accepts: gain"):
        xw.attribution.attribute(net, x, "brightness", width=3)


def test_a_registered_method_shows_in_the_explorer_with_its_title_and_series_words(registered, net):
    images = [torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    w = xw.AttributionExplorer(net, images, methods=["gradient", "brightness"])
    e = next(m for m in w._maps["methods"] if m["key"] == "brightness")
    assert e["title"] == "Brightness"
    assert (e["slider"]["name"], e["slider"]["word"], e["slider"]["unit"]) == ("gain", "g", "×")
    shipped = wire.decode(e["maps"]) * w.scale("brightness")
    np.testing.assert_allclose(shipped, w.inputs.sum(1).numpy(), rtol=2e-3, atol=2e-3 * w.scale("brightness"))
    assert next(m for m in w._maps["methods"] if m["key"] == "gradient")["title"] == "Gradient"
