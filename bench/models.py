"""Every widget on real architectures: build times and payloads, then two models at full scale.

    .venv/bin/python bench/models.py [--matrix-only | --scale-only]

1. The architecture matrix of the tests (torchvision and timm, random weights, 64 x 64,
   2 images): seconds to build each widget on the layer the tests use, the bytes
   SimilarityOverlay and ChannelGrid ship, the layer's layout, and whether LRP supports
   the model. Printed as the README's "Supported models" table.
2. Real scale on this machine: ResNet-50 and ViT-B/16 at 224 x 224, 16 images.
   SimilarityOverlay on ResNet-50 ``layer3`` (14 x 14 x 1024) and on ViT block 8
   (14 x 14 x 768, plus the class token): construction against a bare forward of the
   same batch (medians of 3), bytes per shipped activation, and hover latency (pointer
   event to painted canvas, p95 of 150 moves) in headless Chromium on the exported page;
   ChannelGrid on ResNet-50 ``layer4`` (2,048 channels of 7 x 7): redraw time of every
   tile on keys that need no kernel; AttributionExplorer (gradient) over 1,000 classes:
   construction against one forward + backward of the batch, and a re-target (a click on
   one of an image's top-5) against one image's forward + backward.
Targets: construction <= 1.5 x forward, <= 2 B per activation, hover p95 <= 8 ms, redraw
<= 16 ms (one frame at 60 fps).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.models as tvm
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "tests" / "browser")]
from channel_grid import redraw_times  # noqa: E402
from hover import hover_latencies, percentile  # noqa: E402
from lab import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from test_architectures import ARCHS  # noqa: E402

import xai_widgets as xw  # noqa: E402
from xai_widgets import lrp, wire  # noqa: E402

REPEATS = 3


def seconds(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def shipped_bytes(data) -> int:
    """Bytes of every binary payload in a widget's synced dicts and lists."""
    if isinstance(data, dict):
        if "data" in data and "shape" in data:
            return wire.payload_bytes(data)
        return sum(shipped_bytes(v) for v in data.values())
    if isinstance(data, list):
        return sum(shipped_bytes(v) for v in data)
    return 0


def matrix() -> None:
    print("| model | layer (layout) | SimilarityOverlay | ChannelGrid | TransformSweep | AttributionExplorer | "
          "OcclusionExplorer | LRP |")
    print("|---|---|---|---|---|---|---|---|")
    for name in sorted(ARCHS):
        make, layer, _ = ARCHS[name]
        torch.manual_seed(0)
        model = make().eval()
        side = 56 if name == "timm_vit_registers" else 64
        images = torch.rand(2, 3, side, side)
        layout = next(i.layout for i in xw.layers(model, images[:1]) if i.name == layer)
        t_sim, sim = seconds(lambda: xw.SimilarityOverlay(model, images, [layer]))
        t_grid, grid = seconds(lambda: xw.ChannelGrid(model, images, layer=layer))
        t_sweep, _ = seconds(lambda: xw.TransformSweep(model, images[0], layer, values=[0, 90]))
        t_attr, _ = seconds(lambda: xw.AttributionExplorer(model, images, methods=["gradient", "grad_cam"]))
        t_occ, _ = seconds(lambda: xw.OcclusionExplorer(model, images[0], attribution="gradient"))
        try:
            lrp.check_supported(model, images[:1])
            lrp_note = "yes"
        except ValueError as err:
            lrp_note = "no: " + str(err).split(":")[0].removeprefix("LRP does not support ")
        print(f"| {name} | `{layer}` ({layout}) | {t_sim:.2f} s, {shipped_bytes(sim._data) / 1024:.0f} KiB | "
              f"{t_grid:.2f} s, {shipped_bytes(grid._acts) / 1024:.0f} KiB | {t_sweep:.2f} s | {t_attr:.2f} s | "
              f"{t_occ:.2f} s | {lrp_note} |")


def vit_b_16() -> nn.Module:
    model = tvm.vit_b_16(weights=None)
    nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision's zero head gives zero gradients
    return model.eval()


def median_of(fn) -> float:
    return statistics.median(seconds(fn)[0] for _ in range(REPEATS))


def scale(chromium) -> None:
    torch.manual_seed(0)
    images = torch.rand(16, 3, 224, 224)
    rows = []
    for label, model, layer in [("ResNet-50 layer3", tvm.resnet50(weights=None).eval(), "layer3"),
                                ("ViT-B/16 block 8", vit_b_16(), "encoder.layers.encoder_layer_8")]:
        with torch.no_grad():
            forward = median_of(lambda: model(images))
        build = median_of(lambda: xw.SimilarityOverlay(model, images, [layer], size=96))
        w = xw.SimilarityOverlay(model, images, [layer], size=96)
        acts = sum(np.prod(a["shape"]) for lay in w._data["layers"] for a in lay["acts"] + lay.get("prefix", []))
        act_bytes = sum(wire.payload_bytes(a) for lay in w._data["layers"] for a in lay["acts"] + lay.get("prefix", []))
        with tempfile.TemporaryDirectory() as tmp:
            page = chromium.new_page(viewport={"width": 1900, "height": 1200})
            lat = hover_latencies(page, w.to_html(Path(tmp) / "w.html"), 150)
            page.close()
        rows.append(f"| SimilarityOverlay, {label}, 16 images | build {build:.2f} s vs forward {forward:.2f} s: "
                    f"**{build / forward:.2f}x** (target 1.5) | {act_bytes / acts:.2f} B/activation (target 2) | "
                    f"hover p95 **{percentile(lat, 95):.1f} ms** (median {statistics.median(lat):.1f}; target 8) |")
    resnet = tvm.resnet50(weights=None).eval()
    grid = xw.ChannelGrid(resnet, images, layer="layer4")
    works = redraw_times(chromium, grid)
    rows.append(f"| ChannelGrid, ResNet-50 layer4 (2,048 x 7 x 7), 16 images | redraw p95 **{percentile(works, 95):.1f} ms**"
                f" (median {statistics.median(works):.1f}; target 16) | {shipped_bytes(grid._acts) / 2**20:.1f} MiB | |")

    def forward_backward(x):
        model_x = x.clone().requires_grad_()
        resnet(model_x).max(1).values.sum().backward()
        resnet.zero_grad(set_to_none=True)

    base = median_of(lambda: forward_backward(images))
    build, explorer = seconds(lambda: xw.AttributionExplorer(resnet, images, methods=["gradient"]))
    one = median_of(lambda: forward_backward(images[:1]))
    second = int(explorer.probabilities[0].topk(2).indices[1])
    retarget, _ = seconds(lambda: explorer.retarget(0, second))
    rows.append(f"| AttributionExplorer (gradient), ResNet-50, 1,000 classes, 16 images | build {build:.2f} s vs "
                f"forward + backward {base:.2f} s: **{build / base:.2f}x** | re-target one image (top-5 click) "
                f"{retarget:.2f} s vs {one:.2f} s: **{retarget / one:.2f}x** | |")
    print("| at scale (224 x 224, this CPU) | time | size | browser |")
    print("|---|---|---|---|")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix-only", action="store_true")
    parser.add_argument("--scale-only", action="store_true")
    args = parser.parse_args()
    if not args.scale_only:
        matrix()
        print()
    if not args.matrix_only:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            scale(chromium)
            chromium.close()


if __name__ == "__main__":
    main()
