"""Pointing game and deletion / insertion areas of every attribution method on the demo shapes set.

    .venv/bin/python bench/attribution_metrics.py [--images 24] [--steps 20] [--full] [--device cpu|cuda]

Data: ``--images`` held-out shapes images (``shapes_dataset(n, seed=1000, masks=True)``; the
demo model was trained on seed 1 and validated on seed 2) through the demo ShapesNet. Every
method explains the **true class** of each image (the object in the mask), as in TorchRay's
pointing-game benchmark; the deletion curves follow the same class.

Rows: every method of ``attribution.METHOD_NAMES`` through ``attribution.attribute`` (PatternNet's
patterns fitted first on 256 training images), one extra
row for extremal perturbation scored TorchRay's way (the masks of all areas summed and
Gaussian-smoothed, sigma = 9% of the shorter side), and the two baselines: ``centre`` (the
image centre, falling off with distance) and ``random`` (uniform noise, seed 0).

Columns:

* pointing game, TorchRay protocol: a hit when the map's first maximum is within 15 px of the
  object; mean of per-class accuracies. 15 px is lenient on 128 px images with objects 18-56
  px wide (the centre baseline scores well), so the same points are also scored at **0 px**
  (the maximum must lie on the object).
* deletion / insertion area: RISE's games (``metrics.deletion_curve``) with the blur baseline
  (Gaussian, sigma 10 px), softmax probability of the true class, ``--steps`` steps; mean over
  images of the trapezoid area. Lower is better for deletion, higher for insertion.
* seconds to compute the maps (wall clock, this machine, whatever else runs on it).

Method options are cut so that the whole script runs in under 10 minutes on a 2-core CPU; the
header prints them. ``--full`` uses the methods' own defaults (paper settings: meaningful
perturbation 300 iterations, extremal perturbation 800 iterations at six areas), which takes
far longer on a CPU.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from xai_widgets import attribution, demo, metrics  # noqa: E402
from xai_widgets.core.blur import gaussian_blur  # noqa: E402

# Cut-down options that fit the 10-minute budget on 2 CPU cores (None = the method's defaults).
FAST = {
    "smoothgrad": {"samples": 10},
    "integrated_gradients": {"steps": 16},
    "occlusion": {"window": 16, "stride": 16},
    "meaningful_perturbation": {"iterations": 20},
    "extremal_perturbation": {"iterations": 20, "areas": (0.05, 0.1, 0.2)},
    "rise": {"masks": 1000},
    "lime": {"samples": 300},
}


def smoothed_sum(masks: torch.Tensor) -> torch.Tensor:
    """TorchRay's pointing map for extremal perturbation: N x A x H x W masks summed over the areas,
    then blurred with sigma = 9% of the shorter side."""
    s = masks.float().sum(dim=1, keepdim=True)
    return gaussian_blur(s, 0.09 * min(s.shape[-2:]))[:, 0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--steps", type=int, default=20, help="deletion / insertion steps")
    parser.add_argument("--seed", type=int, default=1000, help="shapes_dataset seed (held out)")
    parser.add_argument("--full", action="store_true", help="the methods' default (paper) settings")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="+", metavar="METHOD", help="these methods only (and the baselines)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = demo.shapes_model(args.device)
    data = demo.shapes_dataset(args.images, seed=args.seed, masks=True)
    x = demo.to_tensor(data.images).to(args.device)
    labels = torch.as_tensor(data.labels)
    with torch.no_grad():
        accuracy = float((model(x).argmax(1).cpu() == labels).float().mean())
    options = {} if args.full else FAST
    shape = (len(labels),) + tuple(x.shape[-2:])

    # PatternNet's patterns: fitted once on 256 images the model was trained on (seed 1)
    t = time.perf_counter()
    attribution.patterns.fit(model, demo.to_tensor(demo.shapes_dataset(256, seed=1).images).to(args.device),
                             cache=False)  # timed: never a cache hit
    fit_seconds = time.perf_counter() - t
    maps, seconds = {}, {}
    for name in args.only or attribution.METHOD_NAMES:
        t = time.perf_counter()
        series = name == "extremal_perturbation"
        a = attribution.attribute(model, x, name, target=labels, series=series, **options.get(name, {}))
        seconds[name] = time.perf_counter() - t
        maps[name] = a.maps.detach().float().cpu()
        if series:
            maps["extremal_perturbation (sum of areas, smoothed)"] = smoothed_sum(a.series.maps.cpu())
            seconds["extremal_perturbation (sum of areas, smoothed)"] = seconds[name]
        print(f"  {name}: {seconds[name]:.1f} s", file=sys.stderr, flush=True)
    maps["centre"] = metrics.centre_map(shape)
    maps["random"] = metrics.random_map(shape, seed=0)

    rows = []
    for name, m in maps.items():
        pg = metrics.pointing_game(m, data.masks, data.labels, tolerance=15)
        strict = pg.at(0)
        dele = metrics.deletion_curve(model, x, m, labels, steps=args.steps, baseline="blur", batch_size=128)
        ins = metrics.deletion_curve(model, x, m, labels, steps=args.steps, baseline="blur", batch_size=128,
                                     mode="insertion")
        rows.append((name, pg.mean_accuracy, strict.mean_accuracy, dele.mean_area, ins.mean_area, seconds.get(name)))
        print(f"  scored {name}", file=sys.stderr, flush=True)

    opts = "default (paper) settings" if args.full else "; ".join(
        f"{k} {', '.join(f'{o}={v}' for o, v in d.items())}" for k, d in FAST.items())
    print(f"Demo shapes, {args.images} held-out images (seed {args.seed}), ShapesNet top-1 accuracy on them "
          f"{accuracy:.0%}; target = the true class.")
    print(f"Pointing game: mean of per-class accuracies (TorchRay), 15 px and 0 px tolerance. Deletion / insertion: "
          f"blur baseline (sigma 10 px), softmax probability, {args.steps} steps, mean area.")
    print(f"Method options: {opts}; other options the methods' defaults. PatternNet / PatternAttribution: "
          f"patterns fitted on 256 training images (seed 1) in {fit_seconds:.1f} s, not in their map time.\n")
    print("| method | pointing 15 px | pointing 0 px | deletion area (lower better) | insertion area (higher better) "
          "| map time (s) |")
    print("|---|---|---|---|---|---|")
    for name, p15, p0, d, i, s in rows:
        print(f"| {name} | {p15:.2f} | {p0:.2f} | {d:.3f} | {i:.3f} | {'-' if s is None else f'{s:.1f}'} |")
    print(f"\ntotal {time.perf_counter() - start:.0f} s on {args.device}, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
