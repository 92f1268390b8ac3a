"""Payload reduction by projection (xai_widgets.similarity.projection) on the bundled demo model.

    .venv/bin/python bench/projection.py [--images 16] [--seed 5] [--queries 256]

For layers relu3 and relu4 of ``xw.demo.shapes_model()`` on ``shapes_images`` at the native
128 px and upsampled to 224 px (larger maps), prints one row per d: reduction factor C/d;
the per-query Pearson correlation of full-precision cosine maps with the maps of the float16
payload, over every query cell (each map spanning all cells of all images), as its 5th
percentile (the enforced fidelity: at least 95% of query cells reach it), mean and minimum;
the mean absolute error of the similarity values (over ``--queries`` sampled maps); the
payload; and the time to fit the basis and project (what the widget would add before
shipping). The row marked ``*`` is the d that ``reduce_to_budget(min_fidelity=0.99)``
chooses (the time of its whole search, correlations of every cell at every d included, in
the last column). Target: >= 8x at fidelity >= 0.99.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import xai_widgets as xw
from xai_widgets.similarity.projection import map_agreement, pca_basis, prepare_vectors, project, reduce_to_budget

LAYERS = ("relu3", "relu4")
SIZES = (128, 224)
TARGET_FACTOR, TARGET_FIDELITY = 8, 0.99


def images_tensor(n: int, seed: int, size: int) -> torch.Tensor:
    x = torch.stack([torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255 for im in xw.demo.shapes_images(n, seed=seed)])
    if size != x.shape[-1]:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    return x


def timed(fn, repeats=3):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--queries", type=int, default=256, help="sampled maps for the value errors")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = xw.demo.shapes_model()
    print(f"{args.images} shapes images (seed {args.seed}), correlations over every query cell, value errors "
          f"over {args.queries} sampled maps, float16 payload, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    print("| input | layer | grid | d | C/d | fidelity (5th pct) | mean | worst query | mean abs err | payload "
          "| fit + project (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    summary = []
    for size in SIZES:
        acts = xw.capture(model, images_tensor(args.images, args.seed, size), list(LAYERS))
        chosen, search_s = timed(lambda: reduce_to_budget(acts, 1 << 40), repeats=1)
        for name in LAYERS:
            a = acts[name]
            n, c, h, w = a.shape
            ds = sorted({c, c // 2, c // 4, c // 8, c // 16, c // 32, chosen[name].d} - {0}, reverse=True)
            for d in ds:
                def reduce(d=d):
                    v = prepare_vectors(a)
                    _, basis = pca_basis(v, d)
                    return project(v, basis).half()

                payload, seconds = timed(reduce)
                ag = map_agreement(a, payload, n_queries=args.queries)
                star = "*" if d == chosen[name].d else ""
                extra = f" (search {search_s:.2f})" if star else ""
                print(f"| {size} px | {name} | {h}x{w}x{c} | {d}{star} | {c / d:.1f}x | {ag.fidelity:.4f} | "
                      f"{ag.pearson:.4f} | "
                      f"{ag.worst_pearson:.3f} | {ag.mean_abs_error:.4f} | {payload.numel() * 2 / 2**10:.0f} KiB | "
                      f"{seconds:.3f}{extra} |")
            summary.append((size, name, c, chosen[name]))
    print()
    full = sum(r.channels for *_, r in summary)
    for size, name, c, r in summary:
        ok = r.factor >= TARGET_FACTOR and r.fidelity >= TARGET_FIDELITY
        k = r.correlations
        print(f"{size} px {name}: smallest d at fidelity (5th percentile) >= {TARGET_FIDELITY} is {r.d} of {c} "
              f"({r.factor:.1f}x, fidelity {k.fidelity:.4f}, mean {k.mean:.4f}, worst {k.min:.3f} of "
              f"{k.n_queries} query cells): target {TARGET_FACTOR}x {'MET' if ok else 'NOT met'}")
    for size in SIZES:
        rows = [r for s, _, _, r in summary if s == size]
        total = sum(r.nbytes for r in rows)
        full = sum(r.nbytes * r.channels // r.d for r in rows)
        print(f"{size} px both layers: {full / 2**20:.2f} MiB -> {total / 2**20:.2f} MiB ({full / total:.1f}x)")


if __name__ == "__main__":
    main()
