"""Our torch NMF (xai_widgets.similarity.factorize.nmf) against scikit-learn's NMF on the same matrices.

    .venv/bin/python bench/nmf.py [--device cpu|cuda] [--repeats 3] [--busy-core]

Matrices: one layer of 16 images at 28x28x512 and at 56x56x256, i.e. (16*28*28) x 512 and
(16*56*56) x 256, the post-ReLU output of a random two-layer conv net (3x3 convs, 3 -> 64 ->
C channels) on random images, so about half the entries are 0 as in a real ReLU layer.
k = 4, NNDSVD initialisation for both.

Stopping, two ways:

* defaults: each with its own default stopping rule. scikit-learn: solver "cd" (its
  coordinate descent, i.e. HALS in Cython), tol=1e-4, max_iter=200; ours: tol=1e-4 (best
  error improved by < 0.01 % over 10 iterations), iters=200.
* same error: the fewest iterations m for which ours (iters=m, tol=0) reaches an error
  <= scikit-learn's default result, timed. scikit-learn's default run stops at max_iter with
  its error still decreasing, so its own time to that error is its default time.

``--busy-core`` keeps one core busy with a spinning process while both run, as a notebook's
browser or another kernel does (our NMF runs on one thread on the CPU for that case).

Times are medians of ``--repeats`` runs (wall clock, including initialisation, each side's input
conversion and its final error). Errors are ||X - WH||_F / ||X||_F in float64 from the float32
factors, the same function for both. Runs of the two libraries are interleaved so that load
from other processes hits both alike.
"""
from __future__ import annotations

import argparse
import subprocess
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from timing import timed  # bench/ is on sys.path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from xai_widgets.similarity.factorize import nmf  # noqa: E402

SIZES = {"28x28x512": (28, 512), "56x56x256": (56, 256)}
IMAGES = 16
K = 4


def layer_matrix(hw: int, channels: int, device: str) -> torch.Tensor:
    """(IMAGES*hw*hw) x channels post-ReLU activations of a random conv net."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, channels, 3, padding=1), nn.ReLU()
    )
    x = torch.rand(IMAGES, 3, hw, hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        acts = net(x)
    return acts.permute(0, 2, 3, 1).reshape(-1, channels).contiguous().to(device)


def rel_error(X: torch.Tensor, W: torch.Tensor, H: torch.Tensor) -> float:
    X = X.double().cpu()
    return float((X - W.double().cpu() @ H.double().cpu()).norm() / X.norm())


def run_sklearn(Xn: np.ndarray):
    from sklearn.decomposition import NMF

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached
        model = NMF(n_components=K, init="nndsvd", solver="cd", tol=1e-4, max_iter=200)
        W = model.fit_transform(Xn)
    return torch.from_numpy(W), torch.from_numpy(model.components_), model.n_iter_


def iters_to_reach(X: torch.Tensor, target: float, cap: int = 200) -> int | None:
    """Fewest m with error(nmf(X, iters=m, tol=0)) <= target (the error is deterministic in m
    and, as the best iterate is returned, non-increasing: bisection)."""
    def ok(m: int) -> bool:
        return nmf(X, K, iters=m, tol=0.0).error <= target

    lo, hi = 0, 4  # invariant: not ok(lo) (m = 0 means no iteration), ok(hi)
    while not ok(hi):
        if hi >= cap:
            return None
        lo, hi = hi, min(cap, hi * 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--busy-core", action="store_true", help="keep one core busy (a spinning process) meanwhile")
    args = ap.parse_args()
    if args.busy_core:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            run(args)
        finally:
            spinner.kill()
    else:
        run(args)


def run(args) -> None:
    dev = args.device
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(dev)
    else:
        name = f"CPU, {torch.get_num_threads()} torch threads"
    print(f"device: {dev} ({name}); scikit-learn on CPU (float32 input); k={K}; medians of {args.repeats}"
          + ("; one core kept busy" if args.busy_core else ""))

    rows = []
    for label, (hw, c) in SIZES.items():
        X = layer_matrix(hw, c, dev)
        Xn = X.cpu().numpy()
        nmf(X, K, iters=2)  # warm-up (allocator, kernels)
        ours_t, sk_t = [], []
        for _ in range(args.repeats):
            t, ours = timed(lambda: nmf(X, K), dev)
            ours_t.append(t)
            t, sk = timed(lambda: run_sklearn(Xn), "cpu")
            sk_t.append(t)
        e_ours = rel_error(X, ours.W, ours.H)
        e_sk = rel_error(X, sk[0], sk[1])
        m = iters_to_reach(X, e_sk)
        same_t = float("nan")
        if m:
            runs = [timed(lambda: nmf(X, K, iters=m, tol=0.0), dev)[0] for _ in range(args.repeats)]
            same_t = statistics.median(runs)
        rows.append((label, f"{X.shape[0]}x{X.shape[1]}", statistics.median(ours_t), ours.iters,
                     statistics.median(sk_t), sk[2], e_ours, e_sk, same_t, m))

    head = ("layer", "matrix", "ours s (it)", "sklearn s (it)", "speed-up", "err ours",
            "err sklearn", "ours to sklearn err s (it)", "speed-up")
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(" --- " for _ in head) + "|")
    for label, shape, t_o, it_o, t_s, it_s, e_o, e_s, t_same, m in rows:
        print(f"| {label} | {shape} | {t_o:.3f} ({it_o}) | {t_s:.3f} ({it_s}) | {t_s / t_o:.1f}x | {e_o:.6f} | "
              f"{e_s:.6f} | {t_same:.3f} ({m}) | {t_s / t_same:.1f}x |")


if __name__ == "__main__":
    main()
