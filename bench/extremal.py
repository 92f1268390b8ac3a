"""Extremal perturbation on a ResNet-50 at 224 x 224: all areas in one batch versus one area at a time.

    .venv/bin/python bench/extremal.py [--iterations 20 | --full] [--rounds 2] [--device cpu|cuda] [--threads N]
                                       [--keep-denormals] [--exact]

Workload: ``xai_widgets.attribution.perturbation.extremal_perturbation`` with
TorchRay's settings (areas 0.05, 0.1, 0.2, 0.4, 0.6, 0.8; SGD lr 0.01, momentum 0.9,
dampening 0.9; lambda 300 x 1.0035 per iteration; step 7, sigma 21, 8 blur levels up to
sigma 20; flip jitter; preservation, the top-1 class's logit) on a torchvision ResNet-50
(``weights=None``: seeded random weights, nothing downloaded; eval mode) and one photo
(``xai_widgets.demo.photos()["china"]`` resized to 224 x 224, ImageNet-normalised).

Two designs of the same algorithm: ``batch_areas=True`` (ours: the 6 areas are one model
batch of 6 per iteration) and ``batch_areas=False`` (the reference design: one area per run,
6 runs with a batch of 1). Both run ``--iterations`` iterations (TorchRay's 800 with
``--full``), alternately for ``--rounds`` rounds (so that load from other processes on a
shared machine hits both); the time of every iteration is recorded through the progress
callback (CUDA synchronised), and the table gives the median per iteration of all 6 areas
(for the one-at-a-time design: 6 x the median single-area iteration), the mean wall time of
a run, the median's extrapolation to 800 iterations, the ratio, and the largest difference
between the two designs' objectives (per iteration and final), masks and scores, next to the
noise floor: the same differences between two batched runs whose inputs differ by 1e-6
(relative), far below an 8-bit image's step, since long runs amplify float rounding.

Speed-ups shared by both designs (so they do not flatter the ratio): gradients are taken
with ``torch.autograd.grad`` with respect to the mask parameters only (the convolutions'
weight gradients are never computed); the blur pyramid is made once per image; the
smooth-max masks use a hand-written backward and kernel tiles cached on the device; the
objective history stays on the device (no host synchronisation per iteration). On the CPU
the bench also flushes denormal floats to zero (``torch.set_flush_denormal(True)``, for this
process only; ``--keep-denormals`` to measure without): the random-weight ResNet-50's
backward pass produces denormals that made an iteration up to 6x slower, unevenly between
the designs. On CUDA, PyTorch's defaults run the convolutions in TF32 (10-bit mantissa); its
rounding differs between a batch of 6 and a batch of 1, and 800 iterations of SGD amplify
that, so ``--exact`` turns TF32 off to compare the designs' objectives in full float32.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from timing import timed  # bench/ is on sys.path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from xai_widgets import demo  # noqa: E402
from xai_widgets.attribution.perturbation import extremal_perturbation  # noqa: E402

AREAS = (0.05, 0.1, 0.2, 0.4, 0.6, 0.8)
FULL = 800
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def photo(device: str) -> torch.Tensor:
    img = demo.photos()["china"].resize((224, 224))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)
    return ((x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None])[None].to(device)


def run(model, x, target, iterations, batch_areas, dev):
    """(wall seconds, per-iteration seconds, result) of one extremal run."""
    stamps = []

    def progress(done, total):
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    start = [0.0]

    def call():
        start[0] = time.perf_counter()
        return extremal_perturbation(model, x, target, areas=AREAS, iterations=iterations, batch_areas=batch_areas,
                                     progress=progress)

    wall, result = timed(call, dev)
    steps = [b - a for a, b in zip([start[0], *stamps[:-1]], stamps)]
    return wall, steps, result


def differences(a, b) -> str:
    """Largest differences between two runs' objectives and masks, as one line."""
    d_obj = float((a.objective - b.objective).abs().max())
    d_hist = float((a.history - b.history).abs().max())
    d_mask = float((a.masks - b.masks).abs().max())
    d_score = float(((a.scores - b.scores).abs() / a.scores.abs()).max())
    return (f"max |objective difference| final {d_obj:.2e} (largest |objective| {float(a.objective.abs().max()):.3g}), "
            f"over all iterations {d_hist:.2e}; max |mask difference| {d_mask:.2e}; "
            f"max relative score difference {d_score:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--iterations", type=int, default=20, help="iterations timed in each design")
    ap.add_argument("--full", action="store_true", help=f"TorchRay's {FULL} iterations")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs of each design")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    ap.add_argument("--keep-denormals", action="store_true", help="do not flush denormal floats to zero (CPU)")
    ap.add_argument("--exact", action="store_true", help="CUDA: full float32 convolutions and matmuls (TF32 off)")
    args = ap.parse_args()
    dev = args.device
    its = FULL if args.full else args.iterations
    torch.set_num_threads(args.threads)
    flushed = not args.keep_denormals and torch.set_flush_denormal(True)  # False where the CPU cannot
    if args.exact:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    import torchvision  # imported here: only this bench needs it

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).to(dev).eval()
    x = photo(dev)
    with torch.no_grad():
        target = int(model(x).argmax(1))
    name = (f"{torch.cuda.get_device_name(dev)}, TF32 convolutions {'on' if torch.backends.cudnn.allow_tf32 else 'off'}"
            if dev.startswith("cuda")
            else f"CPU, {args.threads} torch threads, denormals {'flushed' if flushed else 'kept'}")
    print(f"device: {dev} ({name}); torchvision ResNet-50 (seeded random weights, eval), 1 x 3 x 224 x 224 photo, "
          f"target class {target} (top-1)")
    print(f"areas {AREAS}, {its} iterations per design (TorchRay's schedule, preservation, blur)")

    extremal_perturbation(model, x, target, areas=AREAS, iterations=2)  # warm-up (allocator, kernels)
    extremal_perturbation(model, x, target, areas=AREAS[:1], iterations=2, batch_areas=False)

    walls_b, walls_s, steps_b, steps_s = [], [], [], []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for _ in range(args.rounds):
        t, steps, batched = run(model, x, target, its, True, dev)
        walls_b.append(t)
        steps_b += steps
        t, steps, single = run(model, x, target, its, False, dev)
        walls_s.append(t)
        steps_s += steps
    _, _, nudged = run(model, x * (1 + 1e-6), target, its, True, dev)
    t_b, t_s = statistics.mean(walls_b), statistics.mean(walls_s)
    med_b = statistics.median(steps_b)
    med_s = statistics.median(steps_s) * len(AREAS)  # one iteration of all areas, one area at a time
    if not dev.startswith("cuda"):
        print(f"1-minute load average before / after: {load:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    print(f"\n{'design':<44} {'median ms/iter':>15} {'run s':>9} {'s per ' + str(FULL) + ' it':>13}")
    rows = (("batched (6 areas in one batch of 6)", med_b, t_b), ("one area at a time (6 runs, batch 1)", med_s, t_s))
    for label, med, wall in rows:
        print(f"{label:<44} {med * 1e3:15.1f} {wall:9.1f} {med * FULL:13.0f}")
    print(f"ratio one-at-a-time / batched: {med_s / med_b:.2f}x (median per iteration), {t_s / t_b:.2f}x (wall)")
    print(f"one-at-a-time vs batched: {differences(batched, single)}")
    print(f"noise floor, batched vs batched on the input nudged by 1e-6 relative: {differences(batched, nudged)}")
    print("scores (logit of the target) per area, batched:   "
          + " ".join(f"{v:8.3f}" for v in batched.scores[0].tolist()))
    print("scores (logit of the target) per area, one-at-a-time: "
          + " ".join(f"{v:8.3f}" for v in single.scores[0].tolist()))
    print(f"full-image score {float(batched.full_score[0]):.3f}; best area {AREAS[int(batched.best[0])]} (batched), "
          f"{AREAS[int(single.best[0])]} (one at a time)")


if __name__ == "__main__":
    main()
