"""Activation maximisation time per channel: a whole layer in batches against one channel at a time.

    .venv/bin/python bench/featurevis.py [--device cpu|cuda] [--steps 32] [--repeats 3] [--threads 1]

Workload: ``relu3`` of the demo model (ShapesNet, 64 channels, 32 x 32 cells at 128 px input),
``xai_widgets.units.featurevis.visualise_channels`` with its default settings (128 px, Fourier
parametrisation with colour decorrelation, jitter / scale / rotation, TV and blur) except for
the number of steps, reduced from 256 to ``--steps`` (the time per step does not depend on
the step count, so times scale linearly to the default).

* batched: all 64 channels with ``batch_size`` 32 and 64;
* one at a time (the baseline): ``batch_size=1`` on the first ``--single`` channels, scaled per
  channel (every channel costs the same: the image size and the layer are fixed).

Times are wall-clock medians of ``--repeats`` runs after one warm-up run, including the probe
forward and the final measurement. On the CPU torch runs with ``--threads`` threads (1 by
default, so that other processes on a shared machine disturb the timings less). "mean
objective" is the mean final channel objective of the channels timed one at a time (the first
``--single``), in each mode, to show that both do the same work.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from timing import timed  # bench/ is on sys.path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from xai_widgets.demo import shapes_model  # noqa: E402
from xai_widgets.units.featurevis import visualise_channels  # noqa: E402

LAYER = "relu3"
CHANNELS = 64


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--single", type=int, default=4, help="channels timed one at a time")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()
    dev = args.device
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else f"CPU, {args.threads} torch threads"
    print(f"device: {dev} ({name}); demo model {LAYER} ({CHANNELS} channels), 128 px, "
          f"{args.steps} steps (default 256); medians of {args.repeats}")

    model = shapes_model(dev)
    runs = [("one at a time (baseline)", 1, list(range(args.single)))]
    runs += [(f"batched, batch_size {b}", b, list(range(CHANNELS))) for b in (32, 64)]
    visualise_channels(model, LAYER, [0], steps=2)  # warm-up (allocator, kernels)

    rows = []
    for label, batch_size, channels in runs:
        def run():
            return visualise_channels(model, LAYER, channels, steps=args.steps, batch_size=batch_size)

        times, result = [], None
        for _ in range(args.repeats):
            t, result = timed(run, dev)
            times.append(t)
        total = statistics.median(times)
        rows.append((label, len(channels), total, total / len(channels), float(result.objective[: args.single].mean())))

    baseline = rows[0][3]
    head = ("mode", "channels timed", "s total", "s per channel", "speed-up per channel",
            f"mean objective, channels 0-{args.single - 1}")
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(" --- " for _ in head) + "|")
    for label, n, total, per, objective in rows:
        print(f"| {label} | {n} | {total:.2f} | {per:.3f} | {baseline / per:.1f}x | {objective:.3f} |")


if __name__ == "__main__":
    main()
