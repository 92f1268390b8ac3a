"""Dataset scan throughput (xai_widgets.units.scan.scan) against a bare forward pass over the same data.

    .venv/bin/python bench/scan.py [--images 512] [--device cpu|cuda] [--repeats 3] [--threads 1]
    .venv/bin/python bench/scan.py --ray [--workers 2] [--images 512] [--repeats 3] [--net2vec]

Data: the first ``--images`` demo shapes images (128 px, seed 0) through the demo ShapesNet,
batch size 64, k = 9, no cache. Layers relu3 (64 x 32 x 32) and relu4 (128 x 16 x 16).

Two ways to feed the images, the same for the scan and its baselines:

* ``images``: the ShapesSet itself (uint8 H x W x 3 items). Input conversion IS included in
  both: the scan converts each image with ``images.model_input`` and the baseline does exactly
  the same (model_input per image, torch.cat per batch) before its forward.
* ``loader``: a DataLoader over the already converted float tensors (N x 3 x 128 x 128),
  batch size 64. Conversion is EXCLUDED from both; the loader's collation is in both.

Baselines: ``forward`` is the bare ``model(x)`` over the whole network (the target: scan at
most 1.3x this); ``to layer`` is ``capture(model, x, [layer])``, which stops the forward at the
layer as the scan does, so scan / to-layer is the cost of the scan's own bookkeeping (running
top-k, patches, statistics) and its one-off receptive-field measurement. The scan's time
includes everything it does: receptive field, forward, statistics, patches, results to numpy.

Times are wall-clock medians of ``--repeats`` runs, the three runs interleaved so that load
from other processes hits them alike; one warm-up of each first. ``--threads`` sets
torch.set_num_threads (default 1: on a small shared machine it makes the timings far less
noisy; the ratios are what matter).

``--ray``: the scan of relu3 over the ShapesSet on Ray (``engine="ray"``) against the single
process, in images/s: the single process with one and with ``--workers`` torch threads, and
Ray with 1 to ``--workers`` workers on a local Ray started with ``--workers`` CPUs (each Ray
task runs one torch thread). Ray's start is not timed; each Ray scan includes sending the
model and the dataset to the object store, the receptive field measured here, the tasks and
the merge.

``--ray --net2vec``: the same comparison for Net2Vec's probe at relu3
(``xw.concepts.net2vec``, ``engine="ray"``) on ``--images`` images of the concept probe set
(``shapes_concepts``, 128 px) and five of its concepts, one Adam epoch, so that the pass over
the probe images (forward, thresholds, binary maps, single-filter counts) dominates; training
runs in this process either way.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from xai_widgets import demo  # noqa: E402
from xai_widgets.core.capture import capture  # noqa: E402
from xai_widgets.core.images import model_input  # noqa: E402
from xai_widgets.concepts import net2vec  # noqa: E402
from xai_widgets.units.scan import scan  # noqa: E402

LAYERS = ("relu3", "relu4")
CONCEPTS = ("circle", "square", "red", "dots", "edge")
BATCH = 64
K = 9


def converted_batches(data, model):
    """What the scan does to the ShapesSet: model_input per image, one cat per batch."""
    for start in range(0, len(data), BATCH):
        stop = min(start + BATCH, len(data))
        yield torch.cat([model_input(data[i][0], model, None, i) for i in range(start, stop)])


def loader_batches(loader):
    for (x,) in loader:
        yield x


def timed(fn, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t


def dataset_pass(args, model, data):
    """``run(**engine options)``: the scan of relu3, or (``--net2vec``) Net2Vec's probe at relu3, and its name."""
    layer = LAYERS[0]
    if args.net2vec:
        concepts = {name: data.masks[name] for name in CONCEPTS}
        return f"net2vec at {layer}", lambda **kw: net2vec(model, layer, data, concepts, optimizer="adam", epochs=1,
                                                            batch_size=BATCH, **kw)
    return f"scan of {layer}", lambda **kw: scan(model, layer, data, k=K, batch_size=BATCH, cache=False, **kw)


def on_ray(args, model, data) -> None:
    """Throughput of the single-process pass and of Ray passes with 1 to ``args.workers`` workers."""
    import ray

    root = str(Path(__file__).resolve().parent.parent)  # the workers import this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=args.workers, include_dashboard=False, configure_logging=False, log_to_driver=False)
    what, work = dataset_pass(args, model, data)

    def local(threads):
        def run():
            torch.set_num_threads(threads)
            try:
                work()
            finally:
                torch.set_num_threads(args.threads)
        return run

    def remote(workers):
        return lambda: work(engine="ray", workers=workers)

    runs = {"single process, 1 torch thread": local(1)}
    if args.workers > 1:
        runs[f"single process, {args.workers} torch threads"] = local(args.workers)
    runs.update({f"Ray, {w} worker{'s' if w > 1 else ''}": remote(w) for w in range(1, args.workers + 1)})
    times = {name: [] for name in runs}
    for fn in runs.values():  # warm-up: also starts the Ray workers
        fn()
    for _ in range(args.repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn, "cpu"))
    ray.shutdown()
    base = statistics.median(times["single process, 1 torch thread"])
    print()
    print(f"| {what} | median s | images/s | vs single process, 1 thread |")
    print("| --- | --- | --- | --- |")
    for name, values in times.items():
        t = statistics.median(values)
        print(f"| {name} | {t:.2f} | {args.images / t:.0f} | {base / t:.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ray", action="store_true", help="single process against Ray workers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--net2vec", action="store_true", help="with --ray: Net2Vec's probe instead of the scan")
    args = ap.parse_args()
    dev = args.device
    torch.set_num_threads(args.threads)
    cpu = f"CPU, {torch.get_num_threads()} torch threads"
    name = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else cpu
    print(f"device: {dev} ({name}); {args.images} shapes images at 128 px, batch {BATCH}, k={K}; "
          f"medians of {args.repeats}")

    model = demo.shapes_model(dev)
    data = demo.shapes_concepts(args.images) if args.net2vec else demo.shapes_dataset(args.images)
    if args.ray:
        on_ray(args, model, data)
        return
    loader = DataLoader(TensorDataset(demo.to_tensor(data.images)), batch_size=BATCH)
    feeds = {
        "images": (data, lambda: converted_batches(data, model)),
        "loader": (loader, lambda: loader_batches(loader)),
    }

    rows = []
    for layer in LAYERS:
        for feed, (dataset, batches) in feeds.items():
            def bare():
                with torch.no_grad():
                    for x in batches():
                        model(x.to(dev))

            def to_layer():
                for x in batches():
                    capture(model, x.to(dev), [layer])

            def scanned():
                scan(model, layer, dataset, k=K, batch_size=BATCH, cache=False)

            runs = {"forward": [], "to layer": [], "scan": []}
            for fn in (bare, to_layer, scanned):  # warm-up
                fn()
            for _ in range(args.repeats):
                for key, fn in zip(runs, (bare, to_layer, scanned)):
                    runs[key].append(timed(fn, dev))
            t = {key: statistics.median(v) for key, v in runs.items()}
            rows.append((layer, feed, t["forward"], t["to layer"], t["scan"]))

    head = ("layer", "input", "forward s", "to layer s", "scan s", "scan / forward", "scan / to layer", "scan img/s")
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(" --- " for _ in head) + "|")
    for layer, feed, fwd, upto, sc in rows:
        print(f"| {layer} | {feed} | {fwd:.3f} | {upto:.3f} | {sc:.3f} | {sc / fwd:.2f}x | {sc / upto:.2f}x | "
              f"{args.images / sc:.0f} |")


if __name__ == "__main__":
    main()
