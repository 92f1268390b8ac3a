"""Every public entry point refuses each kind of bad input with a message naming the argument
and what is accepted, before any heavy work: empty input, NaN / infinity, the wrong channel
count, the wrong dtype, a class out of range, an unknown layer or method (with the close
match), an oversize input (before any forward pass). The model is left as given."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import (attribution, backview, factorize, featurevis, metrics, morph, perturbation, scan,
                         transforms)
from xai_widgets.attribution import feature_occlusion as features
from xai_widgets.morph import ConvVAE, SeedCNN

from toy_models import assert_untouched, snapshot

MODEL = xw.demo.shapes_model().eval()  # 3 x 64 x 64 in, conv1 ... conv2 ..., 4 classes
X = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
IMG = np.zeros((64, 64, 3), np.uint8)
K = len(xw.demo.CLASSES)


def bad_tensor(kind: str) -> torch.Tensor:
    x = X.clone()
    return {"empty": x[:0], "nan": x.index_fill(0, torch.tensor([0]), float("nan")), "inf": x * float("inf"),
            "channels": torch.rand(2, 5, 64, 64), "dtype": (x * 255).to(torch.uint8),
            "oversize": torch.zeros(1, 3, 1100, 1100)}[kind]


def bad_image(kind: str):
    f = np.full((64, 64, 3), 0.5, np.float32)
    return {"nan": np.where(np.eye(64, dtype=bool)[..., None], np.nan, f), "inf": f * np.inf,
            "channels": np.zeros((64, 64, 2), np.uint8), "dtype": np.zeros((64, 64, 3), np.int32),
            "oversize": np.zeros((1100, 1100, 3), np.uint8)}[kind]


# functions taking a model-input batch: name -> call(x)
FUNCTIONS = {
    "capture": lambda x: xw.capture(MODEL, x, ["conv2"]),
    "capture_maps": lambda x: xw.capture_maps(MODEL, x, ["conv2"]),
    "layers": lambda x: xw.layers(MODEL, x),
    "attribute": lambda x: attribution.attribute(MODEL, x, "gradient"),
    "grad_cam": lambda x: attribution.grad_cam(MODEL, x),
    "integrated_gradients": lambda x: attribution.integrated_gradients(MODEL, x, steps=4),
    "extremal_perturbation": lambda x: perturbation.extremal_perturbation(MODEL, x, areas=[0.1], iterations=2),
    "meaningful_perturbation": lambda x: perturbation.meaningful_perturbation(MODEL, x, iterations=2),
    "deletion_curve": lambda x: metrics.deletion_curve(MODEL, x, torch.rand(len(x), 64, 64), steps=4),
    "randomisation_check": lambda x: metrics.randomisation_check(MODEL, x, "gradient"),
    "relevance_map": lambda x: features.relevance_map(MODEL, x, "gradient"),
    "unit_backprop": lambda x: backview.unit_backprop(MODEL, x[:1], "conv2", 0),
    "rise": lambda x: attribution.rise.rise(MODEL, x, masks=4),
    "lime": lambda x: attribution.lime.lime(MODEL, x, samples=4),
    "input_shift_invariance": lambda x: attribution.invariance.input_shift_invariance(MODEL, x),
    "fgsm": lambda x: xw.adversarial.fgsm(MODEL, x),
    "bim": lambda x: xw.adversarial.bim(MODEL, x, steps=2),
    "invert": lambda x: xw.inversion.invert(MODEL, "conv2", x[:1] if len(x) else x, iterations=2),
}
ARG = {"layers": "example_input", "unit_backprop": "x", "invert": "target"}

# widgets taking images: name -> call(images)
WIDGETS = {
    "SimilarityOverlay": lambda imgs: xw.SimilarityOverlay(MODEL, imgs, ["conv2"]),
    "ChannelGrid": lambda imgs: xw.ChannelGrid(MODEL, imgs),
    "TransformSweep": lambda imgs: xw.TransformSweep(MODEL, imgs[0], "conv2"),
    "AttributionExplorer": lambda imgs: xw.AttributionExplorer(MODEL, imgs),
    "OcclusionExplorer": lambda imgs: xw.OcclusionExplorer(MODEL, imgs[0]),
}
MESSAGES = {  # what the message must say, per kind (the argument is named separately)
    "empty": r"empty|no images",
    "nan": r"NaN or infinity",
    "inf": r"NaN or infinity",
    "channels": r"channels|shape \(64, 64, 2\)",
    "dtype": r"float|dtype int32",
    "oversize": r"1100 x 1100 = 1.2 M pixels per image, over the 1,048,576",
}


def refuses(call, arg_pattern, kind_pattern):
    """The call raises ValueError or TypeError naming the argument and the problem, runs the
    model not once when the problem is visible from the input alone, and leaves it untouched."""
    before = snapshot(MODEL)
    calls = []
    handle = MODEL.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        with pytest.raises((ValueError, TypeError)) as info:
            call()
    finally:
        handle.remove()
    message = str(info.value)
    assert re.search(arg_pattern, message), f"argument not named: {message}"
    assert re.search(kind_pattern, message), f"problem not said: {message}"
    assert_untouched(MODEL, before)
    return calls


@pytest.mark.parametrize("kind", ["empty", "nan", "inf", "channels", "dtype", "oversize"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_functions_refuse_bad_inputs_before_running_the_model(name, kind):
    expected = r"one image" if (name, kind) == ("unit_backprop", "empty") else MESSAGES[kind]  # takes one image
    calls = refuses(lambda: FUNCTIONS[name](bad_tensor(kind)), rf"\b{ARG.get(name, 'inputs')}\b", expected)
    assert not calls, f"{name} ran the model before refusing {kind} input"


@pytest.mark.parametrize("kind", ["empty", "nan", "inf", "channels", "dtype", "oversize"])
@pytest.mark.parametrize("name", list(WIDGETS))
def test_widgets_refuse_bad_images_before_running_the_model(name, kind):
    images = [] if kind == "empty" else [bad_image(kind)]
    if kind == "empty" and name in ("TransformSweep", "OcclusionExplorer"):  # they take one image
        images = [np.zeros((0, 64, 3), np.uint8)]
    calls = refuses(lambda: WIDGETS[name](images), r"image|images", MESSAGES[kind])
    assert not calls, f"{name} ran the model before refusing {kind} images"


@pytest.mark.parametrize("call", [
    lambda: attribution.attribute(MODEL, X, "gradient", target=K),
    lambda: attribution.grad_cam(MODEL, X, target=-1),
    lambda: metrics.deletion_curve(MODEL, X, torch.rand(2, 64, 64), target=K, steps=4),
    lambda: features.relevance_map(MODEL, X[:1], "gradient", target=K),
    lambda: perturbation.extremal_perturbation(MODEL, X[:1], target=K, areas=[0.1], iterations=2),
    lambda: xw.AttributionExplorer(MODEL, [IMG], target=K),
    lambda: xw.OcclusionExplorer(MODEL, IMG, target=K),
], ids=["attribute", "grad_cam", "deletion_curve", "relevance_map", "extremal_perturbation", "AttributionExplorer",
        "OcclusionExplorer"])
def test_out_of_range_classes_are_refused_with_the_range(call):
    refuses(call, r"target", rf"0\.\.{K - 1}|{K} classes|out of range")


def test_path_morph_refuses_an_out_of_range_target():
    torch.manual_seed(0)
    clf, vae = SeedCNN().eval(), ConvVAE(latent_dim=16).eval()
    with pytest.raises(ValueError, match=r"target.*0\.\.9"):
        xw.PathMorph(clf, vae, torch.rand(1, 1, 28, 28), target=10, steps=4)


@pytest.mark.parametrize("call, arg", [
    (lambda: xw.capture(MODEL, X, ["conv"]), "layer"),
    (lambda: xw.capture_maps(MODEL, X, ["conv"]), "layer"),
    (lambda: attribution.grad_cam(MODEL, X, layer="conv"), "layer"),
    (lambda: backview.unit_backprop(MODEL, X[:1], "conv", 0), "layer"),
    (lambda: xw.SimilarityOverlay(MODEL, [IMG], ["conv"]), "layer"),
    (lambda: xw.ChannelGrid(MODEL, [IMG], layer="conv"), "layer"),
    (lambda: xw.TransformSweep(MODEL, IMG, "conv"), "layer"),
], ids=["capture", "capture_maps", "grad_cam", "unit_backprop", "SimilarityOverlay", "ChannelGrid", "TransformSweep"])
def test_unknown_layers_are_refused_with_the_close_matches(call, arg):
    refuses(call, arg, r"'conv1'|'conv2'")


@pytest.mark.parametrize("call", [
    lambda: attribution.attribute(MODEL, X, "gradiant"),
    lambda: metrics.randomisation_check(MODEL, X, "gradiant"),
    lambda: features.relevance_map(MODEL, X[:1], "gradiant"),
    lambda: xw.AttributionExplorer(MODEL, [IMG], methods=["gradiant"]),
    lambda: xw.OcclusionExplorer(MODEL, IMG, attribution="gradiant"),
], ids=["attribute", "randomisation_check", "relevance_map", "AttributionExplorer", "OcclusionExplorer"])
def test_unknown_methods_are_refused_with_the_close_match(call):
    refuses(call, r"method|attribution", r"'gradient'")


DATA = xw.demo.shapes_dataset(4, seed=1).images


@pytest.mark.parametrize("call, arg, problem", [
    (lambda: scan.scan(MODEL, "conv2", [], cache=False), "dataset", "empty"),
    (lambda: scan.scan(MODEL, "conv2", [bad_image("nan")] * 2, cache=False), "image 0", MESSAGES["nan"]),
    (lambda: scan.scan(MODEL, "conv2", [bad_image("channels")] * 2, cache=False), "image 0", MESSAGES["channels"]),
    (lambda: scan.scan(MODEL, "conv2", [bad_image("dtype")] * 2, cache=False), "image 0", MESSAGES["dtype"]),
    (lambda: scan.scan(MODEL, "conv", DATA, cache=False), "layer", "'conv2'"),
    (lambda: scan.scan(MODEL, "conv2", [bad_image("oversize")], cache=False), "dataset image", MESSAGES["oversize"]),
    (lambda: scan.dissect(MODEL, "conv2", [], {}), "images", "no images"),
    (lambda: scan.dissect(MODEL, "conv", DATA, {"a": np.zeros((4, 128, 128), bool)}), "layer", "'conv2'"),
    (lambda: scan.receptive_field(MODEL, "conv", (3, 64, 64)), "layer", "'conv2'"),
    (lambda: scan.receptive_field(MODEL, "conv2", (3, 1100, 1100)), "input_shape", MESSAGES["oversize"]),
    (lambda: featurevis.visualise_channels(MODEL, "conv", [0], steps=2, size=32), "layer", "'conv2'"),
    # the channel count is the layer's output shape: one forward pass of the requested size
    (lambda: featurevis.visualise_channels(MODEL, "conv2", [999], steps=2, size=32), "channel", "out of range"),
    (lambda: featurevis.visualise_channels(MODEL, "conv2", [0], steps=2, size=1100), "size", MESSAGES["oversize"]),
    (lambda: transforms.sweep(torch.full((1, 3, 32, 32), float("nan")), "rotate", [0, 90]), "images", "NaN"),
    (lambda: transforms.sweep(torch.rand(1, 3, 32, 32), "rotate", []), "values", "no transform values"),
    (lambda: factorize.nmf(torch.full((10, 4), float("nan")), 2), "X", "NaN"),
    (lambda: factorize.nmf(torch.zeros(0, 4), 2), "X", "empty"),
    (lambda: features.find_features(np.full((8, 8), np.nan)), "relevance", "NaN"),
    (lambda: features.find_features(np.zeros((0, 8))), "relevance", r"shape \(0, 8\)"),
], ids=["scan-empty", "scan-nan", "scan-channels", "scan-dtype", "scan-layer", "scan-oversize", "dissect-empty",
        "dissect-layer", "receptive_field-layer", "receptive_field-oversize", "visualise-layer", "visualise-channel",
        "visualise-oversize", "sweep-nan", "sweep-empty", "nmf-nan", "nmf-empty", "find_features-nan",
        "find_features-empty"])
def test_dataset_and_map_functions_refuse_bad_input_before_running_the_model(call, arg, problem, request):
    calls = refuses(call, arg, problem)
    assert len(calls) <= (1 if request.node.callspec.id == "visualise-channel" else 0)


def _nan(*shape):
    return torch.full(shape, float("nan"))


CLF, VAE = SeedCNN().eval(), ConvVAE(latent_dim=16).eval()


@pytest.mark.parametrize("call, arg", [
    (lambda: morph.pipeline.explain(CLF, VAE, _nan(1, 1, 28, 28), steps=4), "image"),
    (lambda: morph.reconstruct(CLF, VAE, _nan(1, 1, 28, 28), candidates=2), "x"),
    (lambda: morph.class_norms(VAE, _nan(1, 1, 28, 28), [0]), "images"),
    (lambda: morph.path_mask(CLF, _nan(3, 1, 28, 28), 0, iterations=2), "frames"),
    (lambda: morph.latent_path(_nan(16), torch.zeros(16), 4), "z0"),
    (lambda: morph.semantic_morph(CLF, VAE, _nan(1, 16), 0, 1, max_iter=2), "self_codes"),
    (lambda: perturbation.perturb(_nan(1, 3, 8, 8), torch.ones(1, 1, 8, 8)), "inputs"),
    (lambda: xw.cosine_map(_nan(1, 4, 2, 2), torch.ones(4)), "acts"),
    (lambda: metrics.pointing_game(_nan(1, 8, 8), np.ones((1, 8, 8), bool), [0]), "maps"),
    (lambda: xw.PathMorph(CLF, VAE, np.full((28, 28), np.nan, np.float32), steps=4), "image 0"),
], ids=["explain", "reconstruct", "class_norms", "path_mask", "latent_path", "semantic_morph", "perturb",
        "cosine_map", "pointing_game", "PathMorph"])
def test_path_morph_and_map_functions_refuse_nan(call, arg):
    with pytest.raises(ValueError, match=rf"{arg}.*(NaN|finite)"):
        call()


def test_a_widget_whose_front_end_is_not_built_imports_and_refuses_with_the_build_command(tmp_path):
    """The package imports before the npm build; making such a widget says what to run."""
    from xai_widgets.widgets.base import XaiWidget

    class Unbuilt(XaiWidget):
        _esm = tmp_path / "unbuilt.js"
        _css = tmp_path / "unbuilt.css"

    with pytest.raises(RuntimeError, match=r"unbuilt\.(js|css) is not built.*npm --prefix js"):
        Unbuilt()
    built = tmp_path / "built.js"
    built.write_text("export default { render() {} }")

    class Built(XaiWidget):
        _esm = built

    assert Built()._esm == built.read_text()
