"""Path-mask attribution for one demo digit, stage by stage, and the path mask batched over
path steps against one step at a time.

    .venv/bin/python bench/path_morph.py [--device cpu|cuda] [--index 0] [--threads 1] [--ref-iters 20]

Workload: ``xai_widgets.demo.digits()`` (the path-mask thesis's MNIST CNN and VAE, d = 100, trained on
our bundled digits) and held-out image ``--index``; the class-norm table from the training
split. The stages are those of ``xai_widgets.morph.explain`` with its defaults, run one by
one so each is timed: best-of-K reconstruction (K = ``candidates`` = 256), Semantic Morphing
(Adam 1e-3, ``likelihood_weight`` (alpha_lk) 0.1, until H < 0.01 bit and q_o > 0.5, at most
5,000 iterations), the 100-step radial path decoded in one batch, per-frame probabilities and
gradients (one batch), and the path mask (3,000 Adam iterations, all 99 steps in one batch per
iteration). Each stage is timed once (wall clock) after a short warm-up; the class-norm table
is not counted (it is computed once per data set).

Batched versus one step at a time: ``path_mask(..., batch_steps=False)`` runs the same
algorithm with one classifier forward/backward per step (99 per iteration). It is run for
only ``--ref-iters`` iterations and its time per iteration scaled to 3,000 (every iteration
costs the same: the frames and the mask size are fixed); the batched mode is timed the same
way on the same iterations, and both objective histories are compared.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from timing import timed  # bench/ is on sys.path when a script runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from xai_widgets.demo import digits  # noqa: E402
from xai_widgets.morph import (class_norms, decode_path, entropy_window, latent_path, path_mask,  # noqa: E402
                               reconstruct, semantic_morph, two_class_entropy)
from xai_widgets.morph.pipeline import _frame_analysis  # noqa: E402  (explain's stage 5)

ITERATIONS = 3000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--index", type=int, default=0, help="held-out digit to explain")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--ref-iters", type=int, default=20, help="mask iterations timed in each mode for the ratio")
    args = ap.parse_args()
    dev = args.device
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else f"CPU, {args.threads} torch threads"
    clf, vae, images, labels = digits(device=dev)
    _, _, train_x, train_y = digits(split="train", device=dev)
    norms = class_norms(vae, train_x, train_y, 10)
    x = images[args.index:args.index + 1].to(dev)
    print(f"device: {dev} ({name}); demo digit {args.index} (label {int(labels[args.index])})")

    reconstruct(clf, vae, x, candidates=8)  # warm-up (allocator, kernels)
    path_mask(clf, decode_path(vae, torch.randn(4, vae.latent_dim)), 0, iterations=2)

    rows = []
    t, rec = timed(lambda: reconstruct(clf, vae, x), dev)
    s, o = (int(c) for c in rec.original_top2[0])
    rows.append(("best-of-K reconstruction (K = 256)", t, f"candidates kept {int(rec.matching[0])}/257"))
    t, morph = timed(lambda: semantic_morph(clf, vae, rec.code, s, o, norms=norms), dev)
    rows.append((f"Semantic Morphing {s} -> {o}", t,
                 f"{int(morph.iterations[0])} iterations, success {bool(morph.success[0])}"))
    t, frames = timed(lambda: decode_path(vae, latent_path(morph.code[0], rec.code[0], 100)).to(dev), dev)
    rows.append(("radial path, 100 frames decoded", t, ""))
    t, (logits, _) = timed(lambda: _frame_analysis(clf, frames, s, True, None), dev)
    window = entropy_window(two_class_entropy(logits, s, o))
    rows.append(("per-frame probabilities, entropy, gradients", t, f"window {window.low:.1f}..{window.high:.1f}"))
    t, mask = timed(lambda: path_mask(clf, frames, s, iterations=ITERATIONS), dev)
    rows.append((f"path mask, {ITERATIONS} iterations (batched)", t, f"fraction explained {mask.fraction:.3f}"))
    total = sum(r[1] for r in rows)

    print(f"\n{'stage':<46} {'time s':>8}  note")
    for label, t, note in rows:
        print(f"{label:<46} {t:8.2f}  {note}")
    print(f"{'total':<46} {total:8.2f}")

    n = args.ref_iters
    t_batch, batched = timed(lambda: path_mask(clf, frames, s, iterations=n), dev)
    t_single, single = timed(lambda: path_mask(clf, frames, s, iterations=n, batch_steps=False), dev)
    gap = float((batched.objective - single.objective).abs().max())
    print(f"\npath mask, {n} iterations in each mode, scaled to {ITERATIONS}:")
    for label, t in (("batched (99 steps per forward)", t_batch), ("one step at a time (99 forwards)", t_single)):
        print(f"{label:<46} {t / n * 1e3:8.2f} ms/iter  {t / n * ITERATIONS:8.1f} s")
    print(f"ratio one-at-a-time / batched: {t_single / t_batch:.1f}x; max |J difference| over the iterations {gap:.2e}")


if __name__ == "__main__":
    main()
