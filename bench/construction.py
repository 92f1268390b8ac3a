"""SimilarityOverlay construction against the bare forward pass, and its peak memory, in one run.

    .venv/bin/python bench/construction.py

Rows: 8 images x 28x28x512, 16 x 56x56x256 and 32 x 28x28x512 through a 1x1-convolution
stand-in (the forward is nearly free, so everything else shows), and a torchvision ResNet-18
(random weights) at layer3 on 16 images of 224 x 224. Each row runs in a fresh process:
the forward of the batch (median of 3), then the widget's construction (median of 3; it
runs the same forward itself, so the ratio build / forward includes it), then the peak
resident memory the construction added above the process's peak after the forward, against
the float32 activations' size.
"""
from __future__ import annotations

import json
import subprocess
import sys

CASE = r"""
import json, resource, statistics, sys, time
import torch
from torch import nn
import xai_widgets as xw
n, hw, ch, kind = json.loads(sys.argv[1])
torch.manual_seed(0)
if kind == "resnet18":
    import torchvision
    model, layer = torchvision.models.resnet18(weights=None).eval(), "layer3"
    xs = [torch.rand(3, hw, hw) for _ in range(n)]
else:
    model, layer = nn.Sequential(nn.Conv2d(3, ch, 1), nn.ReLU()), "1"
    xs = [torch.rand(3, hw, hw) for _ in range(n)]
with torch.no_grad():
    fwd, out = [], None
    for _ in range(3):
        t = time.perf_counter(); out = model(torch.stack(xs)); fwd.append(time.perf_counter() - t)
peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
build = []
for _ in range(3):
    t = time.perf_counter(); w = xw.SimilarityOverlay(model, xs, layer, size=160, max_bytes=1 << 31)
    build.append(time.perf_counter() - t)
    acts = sum(a["shape"][0] * a["shape"][1] * a["shape"][2] for a in w._data["layers"][0]["acts"]) * 4
    del w
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak0
print(json.dumps({"forward": statistics.median(fwd), "build": statistics.median(build), "peak": peak, "acts": acts}))
"""

ROWS = [(8, 28, 512, "1x1 conv"), (16, 56, 256, "1x1 conv"), (32, 28, 512, "1x1 conv"), (16, 224, 0, "resnet18")]


def main() -> None:
    print("| model | images x layer | forward (s) | construction (s) | ratio | peak memory added | "
          "x float32 activations |")
    print("|" + " --- |" * 7)
    for n, hw, ch, kind in ROWS:
        done = subprocess.run([sys.executable, "-c", CASE, json.dumps([n, hw, ch, kind])], capture_output=True,
                              text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        shape = "layer3 (14x14x256)" if kind == "resnet18" else f"{hw}x{hw}x{ch}"
        print(f"| {kind} | {n} x {shape} | {r['forward']:.3f} | {r['build']:.3f} | {r['build'] / r['forward']:.2f} | "
              f"{r['peak'] / 2**20:.0f} MiB | {r['peak'] / r['acts']:.2f} |")


if __name__ == "__main__":
    main()
