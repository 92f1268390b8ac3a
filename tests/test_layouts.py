"""Layouts: channels-first, channels-last and token layers detected, overridden, converted."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer
from torchvision.ops.misc import Permute

import xai_widgets as xw
from xai_widgets.core.capture import capture_maps, layers
from xai_widgets.core.layouts import NCHW, NHWC, Ambiguous, Tokens, Tracker

from toy_models import assert_untouched, snapshot


class ChannelsLastBlock(nn.Module):
    """ConvNeXt-style: conv, to channels-last, norm + linear, back to channels-first."""

    def __init__(self, c: int = 6):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, stride=2, padding=1)
        self.to_last = Permute([0, 2, 3, 1])
        self.norm = nn.LayerNorm(c)
        self.fc = nn.Linear(c, 2 * c)
        self.act = nn.GELU()
        self.to_first = Permute([0, 3, 1, 2])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * c, 4)

    def forward(self, x):
        y = self.to_first(self.act(self.fc(self.norm(self.to_last(self.conv(x))))))
        return self.head(self.pool(y).flatten(1))


class Opaque(nn.Module):
    """A module no rule knows, fed a tensor no module produced: only the shape can tell."""

    def forward(self, x):
        return x


class Cube(nn.Module):
    """Its 'mystery' layer sees an 8 x 8 x 8 tensor from an 8 x 8 image: both readings fit."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.mystery = Opaque()

    def forward(self, x):
        return self.mystery(self.conv(x).permute(0, 2, 3, 1) * 1.0).mean((1, 2))


class PatchTokens(nn.Module):
    """A minimal ViT-like stem on a non-square input: one class token, then the patch grid."""

    num_prefix_tokens = 1

    def __init__(self, dim: int = 5):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, 8, stride=8)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        t = self.proj(x).flatten(2).transpose(1, 2)
        t = self.norm(torch.cat([self.cls_token.expand(len(x), -1, -1), t], dim=1))
        return self.head(t[:, 0])


def tiny_vit() -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32).eval()


def layout_of(model, x, name, **kwargs):
    return {info.name: info.layout for info in layers(model, x, **kwargs)}[name]


def test_channels_last_block_is_read_by_module_types():
    torch.manual_seed(0)
    model = ChannelsLastBlock().eval()
    x = torch.rand(2, 3, 16, 16)
    found = {info.name: info.layout for info in layers(model, x)}
    assert found["conv"] is NCHW and found["to_last"] is NHWC and found["norm"] is NHWC
    assert found["fc"] is NHWC and found["act"] is NHWC and found["to_first"] is NCHW
    assert found["head"].name == "NC"
    maps = capture_maps(model, x, ["fc", "to_first"])
    raw = xw.capture(model, x, ["fc"])["fc"]  # N x h x w x C as the layer gives it
    torch.testing.assert_close(maps["fc"].maps, raw.permute(0, 3, 1, 2), rtol=0, atol=0)
    torch.testing.assert_close(nn.functional.gelu(raw).permute(0, 3, 1, 2), maps["to_first"].maps, rtol=0, atol=0)
    assert maps["fc"].prefix is None


def test_ambiguous_layer_is_refused_with_the_entry_to_write_then_overridden():
    torch.manual_seed(0)
    model = Cube().eval()
    x = torch.rand(1, 3, 8, 8)
    before = snapshot(model)
    assert isinstance(layout_of(model, x, "mystery"), Ambiguous)
    with pytest.raises(ValueError) as err:
        capture_maps(model, x, ["mystery"])
    text = str(err.value)
    assert "'mystery'" in text and "(1, 8, 8, 8)" in text and "layouts={'mystery': 'NCHW'}" in text
    assert_untouched(model, before)
    got = capture_maps(model, x, ["mystery"], layouts={"mystery": "nhwc"})["mystery"]
    conv = xw.capture(model, x, ["conv"])["conv"]
    torch.testing.assert_close(got.maps, conv, rtol=0, atol=0)  # the permute undone
    assert str(layout_of(model, x, "mystery", layouts={"mystery": "NHWC"})) == "NHWC"


def test_bad_layout_entries_say_what_is_accepted():
    model, x = Cube().eval(), torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="use 'NCHW', 'NHWC', 'NC' or"):
        capture_maps(model, x, ["mystery"], layouts={"mystery": "NWHC"})
    with pytest.raises(TypeError, match="layouts must be a dict"):
        capture_maps(model, x, ["mystery"], layouts=["NHWC"])
    with pytest.raises(ValueError, match=r"need an N x 17 x C output, got shape \(1, 8, 8, 8\)"):
        capture_maps(model, x, ["mystery"], layouts={"mystery": Tokens(1, (4, 4))})
    with pytest.raises(ValueError, match="integer >= 0"):
        Tokens(-1)
    with pytest.raises(ValueError, match="positive integers"):
        Tokens(1, (0, 4))


def test_vit_encoder_layers_are_tokens_with_their_class_token():
    model = tiny_vit()
    x = torch.rand(3, 3, 32, 32)
    found = {info.name: info.layout for info in layers(model, x)}
    assert found["conv_proj"] is NCHW
    assert found["encoder.layers.encoder_layer_1"] == Tokens(1, (4, 4))
    assert found["encoder.layers.encoder_layer_0.mlp.0"] == Tokens(1, (4, 4))  # 4 x wider, same tokens
    got = capture_maps(model, x, ["encoder.layers.encoder_layer_1"])["encoder.layers.encoder_layer_1"]
    raw = xw.capture(model, x, ["encoder.layers.encoder_layer_1"])["encoder.layers.encoder_layer_1"]
    # independent reshape: token 1 + 4 r + c is patch (r, c), row-major as conv_proj flattens
    for r in range(4):
        for c in range(4):
            torch.testing.assert_close(got.maps[:, :, r, c], raw[:, 1 + 4 * r + c], rtol=0, atol=0)
    torch.testing.assert_close(got.prefix, raw[:, :1], rtol=0, atol=0)
    assert xw.layouts.prefix_names(model, got.layout) == ["class"]


def test_non_square_tokens_and_a_grid_from_the_aspect():
    torch.manual_seed(0)
    model = PatchTokens().eval()
    x = torch.rand(2, 3, 32, 48)
    assert layout_of(model, x, "norm") == Tokens(1, (4, 6))
    # no feature map before: Tokens(prefix=1) finds the one 4 x 6 grid of the 2:3 input
    t = Tracker(model, x)
    t.record("tokens", nn.Identity(), (), torch.rand(2, 25, 7))
    assert t.layouts["tokens"] == Tokens(1, (4, 6))
    t.record("odd", nn.Identity(), (), torch.rand(2, 23, 7))
    assert isinstance(t.layouts["odd"], Ambiguous)


def test_attention_internals_are_not_per_image():
    t = Tracker(nn.Module(), torch.rand(2, 3, 16, 16))
    t.record("windows", nn.Identity(), (), torch.rand(32, 4, 24))  # 16 windows per image
    assert "not one entry per image" in t.layouts["windows"].reason


def feature_side(n: int, stride: int, rounding: str) -> int:
    return max(1, math.ceil(n / stride) if rounding == "ceil" else n // stride)


@settings(max_examples=300, deadline=None)
@given(H=st.integers(8, 400), W=st.integers(8, 400), stride=st.sampled_from([1, 2, 4, 8, 16, 32]),
       C=st.integers(1, 2048), rounding=st.sampled_from(["ceil", "floor"]))
def test_shape_evidence_is_never_silently_wrong(H, W, stride, C, rounding):
    """A channels-first map of an H x W input, from a module no rule knows, is read as
    channels-first or refused as ambiguous; never as channels-last (and vice versa)."""
    h, w = feature_side(H, stride, rounding), feature_side(W, stride, rounding)
    t = Tracker(nn.Module(), torch.empty(1, 3, H, W))
    t.record("first", Opaque(), (), torch.empty(1, C, h, w))
    t.record("last", Opaque(), (), torch.empty(1, h, w, C))
    assert t.layouts["first"] is NCHW or isinstance(t.layouts["first"], Ambiguous)
    assert t.layouts["last"] is NHWC or isinstance(t.layouts["last"], Ambiguous)


def test_bfloat16_model_gets_bfloat16_inputs_and_float_maps_are_exact():
    torch.manual_seed(0)
    half = ChannelsLastBlock().to(torch.bfloat16).eval()
    x = torch.rand(2, 3, 16, 16)  # float32: cast to the model's dtype on the way in
    got = capture_maps(half, x, ["fc"])["fc"]
    assert got.maps.dtype == torch.bfloat16
    with torch.no_grad():
        manual = half.fc(half.norm(half.conv(x.bfloat16()).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
    torch.testing.assert_close(got.maps, manual, rtol=0, atol=0)


def test_raw_capture_takes_any_layer_even_an_ambiguous_one():
    torch.manual_seed(0)
    model = Cube().eval()
    x = torch.rand(1, 3, 8, 8)
    raw = xw.capture(model, x, ["mystery"])["mystery"]  # as the layer gives it: no layout needed
    torch.testing.assert_close(raw, xw.capture(model, x, ["conv"])["conv"].permute(0, 2, 3, 1), rtol=0, atol=0)
