"""Every widget and attribution method on the architectures people explain today.

torchvision and timm models with random weights (``weights=None``; nothing is downloaded)
at 64 x 64. For one layer per architecture the similarity maps and channel tiles are
compared with an independent computation from our own forward hook, permuted by hand as
the architecture is known to lay the layer out; after every call, also calls that raise,
the model must be exactly as it was.
"""
from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torchvision.models as tvm
from torch import nn

import xai_widgets as xw
from xai_widgets import attribution as A

from toy_models import assert_untouched, snapshot

SIZE = 64


def _vit_b_16():
    model = tvm.vit_b_16(weights=None, image_size=SIZE)
    nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision initialises the head to zero
    return model


def _googlenet():
    model = tvm.googlenet(weights=None, aux_logits=False, init_weights=True)
    for module in model.modules():  # its truncated-normal init (std 0.01) lets no signal through 22 layers
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight)
    return model


# name -> (constructor, a layer, how that layer holds its values: to N x C x h x w, prefix count)
NCHW = (lambda t: t, 0)
NHWC = (lambda t: t.permute(0, 3, 1, 2), 0)


def tokens(prefix: int, h: int, w: int):
    return (lambda t: t[:, prefix:].transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w), prefix)


ARCHS = {
    "resnet18": (lambda: tvm.resnet18(weights=None), "layer3", NCHW),
    "vgg11_bn": (lambda: tvm.vgg11_bn(weights=None), "features.14", NCHW),
    "mobilenet_v3_small": (lambda: tvm.mobilenet_v3_small(weights=None), "features.6", NCHW),
    "efficientnet_b0": (lambda: tvm.efficientnet_b0(weights=None), "features.5", NCHW),
    "densenet121": (lambda: tvm.densenet121(weights=None), "features.denseblock3", NCHW),
    "googlenet": (_googlenet, "inception4c", NCHW),
    "convnext_tiny": (lambda: tvm.convnext_tiny(weights=None), "features.1.0.block.3", NHWC),
    "swin_t": (lambda: tvm.swin_t(weights=None), "features.3", NHWC),
    "vit_b_16": (_vit_b_16, "encoder.layers.encoder_layer_5", tokens(1, 4, 4)),
    "timm_resnet18": (lambda: timm.create_model("resnet18"), "layer3", NCHW),
    "timm_convnext_atto": (lambda: timm.create_model("convnext_atto"), "stages.1.blocks.0.mlp.fc1", NCHW),
    "timm_vit_registers": (lambda: timm.create_model("vit_small_patch14_reg4_dinov2", img_size=56, num_classes=10),
                           "blocks.5", tokens(5, 4, 4)),
    "timm_deit_distilled": (lambda: timm.create_model("deit_tiny_distilled_patch16_224", img_size=SIZE),
                            "blocks.5", tokens(2, 4, 4)),
}


@pytest.fixture(scope="module", params=sorted(ARCHS))
def arch(request):
    make, layer, (to_maps, prefix) = ARCHS[request.param]
    torch.manual_seed(0)
    model = make().eval()
    side = 56 if request.param == "timm_vit_registers" else SIZE  # patch 14
    images = torch.rand(2, 3, side, side)
    return request.param, model, images, layer, to_maps, prefix


def reference_maps(model, images, layer, to_maps) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's raw output from our own hook, and its maps permuted by hand."""
    grabbed = []
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: grabbed.append(o.detach()))
    try:
        with torch.no_grad():
            model(images)
    finally:
        handle.remove()
    return grabbed[0], to_maps(grabbed[0]).float()


def cosine_reference(maps: torch.Tensor, image: int, row: int, col: int) -> np.ndarray:
    v = maps.double().permute(0, 2, 3, 1).numpy()  # N x h x w x C
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-300)
    return v @ v[image, row, col]


def test_similarity_and_channel_tiles_match_an_independent_hook(arch):
    name, model, images, layer, to_maps, prefix = arch
    before = snapshot(model)
    raw, maps = reference_maps(model, images, layer, to_maps)
    w = xw.SimilarityOverlay(model, images, [layer])
    assert_untouched(model, before)
    h, wd = maps.shape[-2:]
    assert w.grid(0, layer) == (h, wd)
    # Shipped unit vectors are float16: each component off by <= 2^-11 relative, so a
    # cosine of two unit vectors is off by <= 2 * 2^-11 + 2^-22.
    for row, col in [(0, 0), (h // 2, wd // 2), (h - 1, wd - 1)]:
        got = w.similarity_map(1, layer, row, col).numpy()
        np.testing.assert_allclose(got, cosine_reference(maps, 1, row, col), atol=2 * 2**-11 + 2**-22 + 1e-6)
    assert len(w.prefix_names(layer)) == prefix
    if prefix:
        cls = raw[0, 0].double()
        patches = maps[1].double().flatten(1)  # C x hw
        expected = (patches.T @ cls) / (patches.norm(dim=0).clamp_min(1e-300) * cls.norm())
        np.testing.assert_allclose(w.token_map(0, layer, 0)[1].flatten().numpy(), expected.numpy(), atol=2e-3)
    g = xw.ChannelGrid(model, images, layer=layer)
    assert_untouched(model, before)
    assert g.channels == maps.shape[1]
    torch.testing.assert_close(g.activations(1), maps[1], rtol=0, atol=0)
    if prefix:
        torch.testing.assert_close(g.prefix[layer][1], raw[:, :prefix].float(), rtol=0, atol=0)
    png = w.render_png(panel=64)
    assert png.size[0] > 0


def test_every_widget_builds_and_leaves_the_model_as_it_was(arch):
    name, model, images, layer, _, _ = arch
    before = snapshot(model)
    xw.TransformSweep(model, images[0], layer, values=[0, 90])
    assert_untouched(model, before)
    explorer = xw.AttributionExplorer(model, images[:1], methods=["gradient", "grad_cam"])
    assert explorer.maps("grad_cam").shape == (1, *images.shape[-2:])
    assert_untouched(model, before)
    occ = xw.OcclusionExplorer(model, images[0], attribution="gradient")
    assert occ.relevance.shape == tuple(images.shape[-2:])
    assert_untouched(model, before)
    layer_list = xw.layers(model, images[:1])
    assert str([i for i in layer_list if i.name == layer][0].layout) != "?"


# Grad-CAM signed: after the ReLU, a random net's map may be all 0 (every weighted sum negative).
METHODS = [("gradient", {}), ("grad_x_input", {}), ("smoothgrad", {"samples": 2}),
           ("integrated_gradients", {"steps": 4}), ("occlusion", {"window": 32, "stride": 32}),
           ("grad_cam", {"relu": False})]


def test_attribution_methods_work_or_refuse_clearly(arch):
    name, model, images, _, _, _ = arch
    x = images[:1]
    before = snapshot(model)
    for method, options in METHODS:
        result = A.attribute(model, x, method, **options)
        assert result.maps.shape == (1, *x.shape[-2:]) and torch.isfinite(result.maps).all(), method
        assert result.maps.abs().sum() > 0, f"{method} gives an all-zero map on {name}"
        assert_untouched(model, before)
    try:
        result = A.attribute(model, x, "lrp")
        assert torch.isfinite(result.maps).all()
    except ValueError as err:
        assert "LRP" in str(err), err
    assert_untouched(model, before)
