"""Models in half precision, batch tensors as images, and models whose output is not a tensor."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

import xai_widgets as xw
from xai_widgets import attribution as A

from toy_models import assert_untouched, snapshot


def tiny_vit() -> VisionTransformer:
    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=5)
    nn.init.normal_(model.heads.head.weight, std=0.5)  # torchvision initialises the head to zero
    return model.eval()


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, 5)).eval()


MODELS = {"cnn": (tiny_cnn, "4"), "vit": (tiny_vit, "encoder.layers.encoder_layer_1")}


def hooked_cosines(model, images, layer, to_maps, image, row, col) -> np.ndarray:
    """Cosine maps from the model's own output at ``layer`` (in its dtype), in float64."""
    grabbed = []
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: grabbed.append(o.detach()))
    dtype = next(model.parameters()).dtype
    try:
        with torch.no_grad():
            model(images.to(dtype))
    finally:
        handle.remove()
    v = to_maps(grabbed[0]).double().permute(0, 2, 3, 1).numpy()
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-300)
    return v @ v[image, row, col]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_half_precision_models_work_in_every_widget(kind, dtype):
    make, layer = MODELS[kind]
    model = make().to(dtype)
    images = torch.rand(3, 3, 32, 32)
    before = snapshot(model)
    w = xw.SimilarityOverlay(model, images, [layer])
    to_maps = (lambda t: t) if kind == "cnn" else (lambda t: t[:, 1:].transpose(1, 2).reshape(len(t), -1, 4, 4))
    # the maths after the model is float32 on the model's own values: only float16 shipping rounds
    np.testing.assert_allclose(w.similarity_map(2, layer, 1, 3).numpy(),
                               hooked_cosines(model, images, layer, to_maps, 2, 1, 3), atol=2 * 2**-11 + 1e-6)
    g = xw.ChannelGrid(model, images, layer=layer)
    assert g.activations(0).dtype == torch.float32 and torch.isfinite(g.tile_values()).all()
    xw.TransformSweep(model, images[0], layer, values=[0, 90])
    e = xw.AttributionExplorer(model, images[:2], methods=["gradient", "integrated_gradients", "grad_cam"],
                               options={"integrated_gradients": {"steps": 4}})
    assert all(torch.isfinite(e.maps(m)).all() for m in e.methods)
    o = xw.OcclusionExplorer(model, images[0], attribution="gradient")
    assert np.isfinite(o.relevance).all()
    assert all(info.layout is not None for info in xw.layers(model, images[:1]))
    assert_untouched(model, before)
    assert next(model.parameters()).dtype == dtype


def test_batch_tensor_equals_a_list_of_images():
    model = tiny_cnn()
    batch = torch.rand(3, 3, 32, 32)
    from_batch = xw.SimilarityOverlay(model, batch, ["4"])
    from_list = xw.SimilarityOverlay(model, list(batch), ["4"])
    torch.testing.assert_close(from_batch.similarity_map(1, "4", 2, 2), from_list.similarity_map(1, "4", 2, 2))
    grid = xw.ChannelGrid(model, batch, layer="4")
    torch.testing.assert_close(grid.activations(2), xw.capture(model, batch, ["4"])["4"][2].float())
    assert len(xw.AttributionExplorer(model, batch, methods=["gradient"]).maps("gradient")) == 3
    with pytest.raises(TypeError, match="N x C x H x W batch"):
        xw.SimilarityOverlay(model, 5, ["4"])


class TupleOut(nn.Module):
    """Returns (features, logits), as detection or multi-head models do."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return x.mean(), self.net(x)


class DictOut(nn.Module):
    """Returns a dict with a 'logits' entry, as Hugging Face models do."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return {"logits": self.net(x), "hidden": x}


def test_output_picks_the_logits_and_the_error_says_how():
    net = tiny_cnn()
    x = torch.rand(2, 3, 32, 32)
    plain = A.attribute(net, x, "gradient", target=1).maps
    wrapped = TupleOut(net)
    before = snapshot(wrapped)
    with pytest.raises(ValueError, match=r"a tuple of 2 items.*output=: an index \(output=0\)"):
        xw.AttributionExplorer(wrapped, x, methods=["gradient"])
    assert_untouched(wrapped, before)
    for spec in (1, -1, lambda out: out[1]):
        torch.testing.assert_close(A.attribute(wrapped, x, "gradient", target=1, output=spec).maps, plain)
    explorer = xw.AttributionExplorer(wrapped, x, methods=["gradient", "grad_cam"], output=1, target=1)
    torch.testing.assert_close(explorer.maps("gradient"), plain.cpu())
    assert explorer.attribution("grad_cam", 0).info["layer"] == "net.4"  # the user's model's names, no wrapper prefix
    # a dict with "logits" (the Hugging Face convention) needs no output=
    torch.testing.assert_close(A.attribute(DictOut(net), x, "gradient", target=1).maps, plain)
    grid = xw.ChannelGrid(wrapped, x, layer="net.4", output=1)
    torch.testing.assert_close(grid.probabilities, net(x).softmax(1).detach())
    occ = xw.OcclusionExplorer(wrapped, x[0], attribution="gradient", output=1)
    torch.testing.assert_close(occ.base_probs, net(x[:1])[0].softmax(0).detach())
    with pytest.raises(ValueError, match="output='scores'"):
        A.attribute(DictOut(net), x, "gradient", output="scores")
    assert_untouched(wrapped, before)


def test_receptive_field_of_a_fixed_size_vit_is_the_whole_image():
    """Attention mixes every patch, so every token sees the whole image; the ViT refuses the
    larger inputs the measurement tries when a box touches the border (it asserts its size)."""
    model = tiny_vit()
    before = snapshot(model)
    rf = xw.scan.receptive_field(model, "encoder.layers.encoder_layer_1", (3, 32, 32))
    assert rf.size == (32, 32) and rf.grid == (4, 4)
    assert_untouched(model, before)


def test_grad_cam_at_a_token_layer_is_the_hand_formula_on_the_patch_grid():
    """Selvaraju et al.'s weights and sum on the patch tokens reshaped to their grid (the
    class token left out), as pytorch-grad-cam's reshape_transform does for a ViT."""
    model = tiny_vit()
    x = torch.rand(2, 3, 32, 32)
    layer = "encoder.layers.encoder_layer_1.ln_1"
    store = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    try:
        out = model(x)
        (g,) = torch.autograd.grad(out[:, 3].sum(), store["a"])
    finally:
        handle.remove()
    grid = lambda t: t[:, 1:].transpose(1, 2).reshape(2, 16, 4, 4)  # noqa: E731
    cam = (grid(g).mean((2, 3), keepdim=True) * grid(store["a"].detach())).sum(1, keepdim=True)
    ref = nn.functional.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)
    got = A.grad_cam(model, x, target=3, layer=layer, relu=False)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-6)
    sweep = xw.TransformSweep(model, x[0], "encoder.layers.encoder_layer_1", values=[0, 90])
    assert "1 prefix token(s)" in sweep.message
