"""OcclusionExplorer toggles against one bare forward pass of the model (the goal: "occlusion
toggles answered within one forward pass of the model").

    .venv/bin/python bench/occlusion.py [--device cpu|cuda] [--threads 1] [--repeats 30]

Workloads: the demo shapes CNN on a demo image (128 px; features from its Gradient x Input
map with Norton's flood-fill defaults), and a torchvision ResNet-50 with random weights
(``weights=None``: nothing is downloaded) on a random 224 px image, whose features come from a
synthetic relevance map of 12 Gaussian blobs (a relevance method on random weights would
only time the method). Per workload the widget is built once, then timed, each as the median
of ``--repeats`` rounds after a warm-up, the three timed in turn in every round so that they
share the machine's load:

* forward: one bare forward pass of the model on the 1 x C x H x W input (no grad, eval);
* occlusion: building the occluded image (pixelisation, 8 px patches) for the selection;
* toggle: everything the kernel does when the browser toggles a feature
  (``OcclusionExplorer._update_view``: occlusion, forward, softmax, top-5 and the uint8 image
  for the browser), for one feature occluded and for all of them.

The ratio toggle / forward is the figure that matters: 1.0 would mean a toggle costs
exactly one forward pass.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from timing import timed  # bench/ is on sys.path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import xai_widgets as xw  # noqa: E402
from xai_widgets import feature_occlusion as features  # noqa: E402


def blobs(size: int, n: int, seed: int = 0) -> np.ndarray:
    """A relevance map of n Gaussian blobs (sigma 3-8 px) at random places."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.zeros((size, size))
    for _ in range(n):
        cy, cx = rng.uniform(16, size - 16, 2)
        s = rng.uniform(3, 8)
        r += rng.uniform(0.5, 1.5) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return r


def interleaved(fns, dev: str, repeats: int) -> list[float]:
    """Median time of each function, timed in turn in every round so that all see the same load."""
    for fn in fns:
        fn()  # warm-up
    times = [[timed(fn, dev)[0] for fn in fns] for _ in range(repeats)]
    return [statistics.median(column) for column in zip(*times)]


def workloads(dev: str):
    shapes = xw.demo.shapes_model(device=dev)
    x = xw.demo.to_tensor(xw.demo.shapes_dataset(2, seed=1).images[:1]).to(dev)
    yield "shapes CNN", shapes, x, "grad_x_input"
    from torchvision.models import resnet50

    torch.manual_seed(0)
    net = resnet50(weights=None).to(dev).eval()
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(dev)
    yield "ResNet-50 (random weights)", net, x, torch.from_numpy(blobs(224, 12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    dev = args.device
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else f"CPU, {args.threads} torch threads"
    print(f"device: {dev} ({name}); medians of {args.repeats} runs\n")
    head = f"{'model':<28} {'input':>9} {'features':>8} {'occluded':>8} {'forward ms':>10} {'occlude ms':>10} " \
           f"{'toggle ms':>9} {'toggle/forward':>14}"
    print(head)
    print("-" * len(head))
    for label, model, x, relevance in workloads(dev):
        w = xw.OcclusionExplorer(model, x, attribution=relevance)
        n = len(w.features)
        for chosen in ([0], list(range(n))):
            w.occluded = chosen
            t_forward, t_occlude, t_toggle = interleaved(
                [lambda: features.class_probs(model, x), w.occluded_image, w._update_view], dev, args.repeats)
            size = f"{x.shape[-2]}x{x.shape[-1]}"
            print(f"{label:<28} {size:>9} {n:>8} {len(chosen):>8} {1e3 * t_forward:>10.2f} {1e3 * t_occlude:>10.2f} "
                  f"{1e3 * t_toggle:>9.2f} {t_toggle / t_forward:>14.2f}")


if __name__ == "__main__":
    main()
