"""Train ShapesNet on the procedural shapes set and write the shipped weights.

    python -m xai_widgets.demo.train [--epochs 20] [--n-train 8000] [--seed 1] [--out PATH]

Takes about six minutes on two CPU cores. Training images use ``--seed``, held-out
images ``--seed + 1``; the demo's default images (seed 0) are in neither.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .model import ShapesNet, to_tensor
from .shapes import ShapesSet, make_shapes

DEFAULT_OUT = Path(__file__).with_name("weights") / "shapes_cnn.pt"
N_HELDOUT = 1000
BATCH_SIZE = 32
MAX_LR = 3e-3
# Train on crops: several times cheaper per image than 128 px on CPU, and a larger
# share of object pixels in the global average. Objects keep their size.
CROP = 80


def random_crops(data: ShapesSet, idx: np.ndarray, rng: np.random.Generator, crop: int = CROP) -> np.ndarray:
    """A random ``crop`` x ``crop`` window of each image that contains its first object.

    Parameters
    ----------
    data : ShapesSet
        The training set.
    idx : numpy.ndarray
        Indices of the images to crop.
    rng : numpy.random.Generator
        Source of the window positions.
    crop : int, default CROP (80)
        Side of the windows in pixels, at least the largest object (56 px at 128 px).

    Returns
    -------
    numpy.ndarray
        len(idx) x crop x crop x 3 uint8 crops.
    """
    size = data.images.shape[1]
    crops = np.empty((len(idx), crop, crop, 3), np.uint8)
    for k, i in enumerate(idx):
        x0, y0, x1, y1 = data.boxes[i][0]
        left = rng.integers(max(x1 - crop, 0), min(x0, size - crop) + 1)
        top = rng.integers(max(y1 - crop, 0), min(y0, size - crop) + 1)
        crops[k] = data.images[i, top : top + crop, left : left + crop]
    return crops


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random flips and quarter turns: every class is symmetric under them.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W batch; one flip and one turn are drawn for the whole batch.

    Returns
    -------
    torch.Tensor
        The flipped and rotated batch (H and W swap on odd quarter turns).
    """
    if torch.rand(()) < 0.5:
        x = x.flip(3)
    return torch.rot90(x, int(torch.randint(4, ())), dims=(2, 3))


@torch.no_grad()
def accuracy(model: torch.nn.Module, data: ShapesSet) -> float:
    """Fraction of full-size images in ``data`` classified correctly.

    Puts ``model`` in eval mode and runs without gradients, 250 images at a time.

    Parameters
    ----------
    model : torch.nn.Module
        The model evaluated (left in eval mode), e.g. a ShapesNet.
    data : ShapesSet
        The labelled images.

    Returns
    -------
    float
        Accuracy in [0, 1].
    """
    model.eval()
    batches = (data.images[i : i + 250] for i in range(0, len(data), 250))
    predicted = torch.cat([model(to_tensor(batch)).argmax(1) for batch in batches])
    return (predicted.numpy() == data.labels).mean().item()


def train(epochs: int, n_train: int, seed: int, model: torch.nn.Module | None = None) -> tuple[torch.nn.Module, float]:
    """Train from scratch; returns the model and its held-out accuracy.

    Parameters
    ----------
    epochs : int
        Training epochs (one-cycle learning-rate schedule over all of them).
    n_train : int
        Training images, generated with ``seed``; 1000 held-out images use ``seed + 1``.
    seed : int
        Seed of torch, the image order and the crops.
    model : torch.nn.Module or None, default None
        The untrained classifier (e.g. a ``StridedShapesNet``); None: a new ``ShapesNet``, made
        after seeding.

    Returns
    -------
    model : torch.nn.Module
        The trained model.
    accuracy : float
        Held-out accuracy at the last evaluation.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    start = time.time()
    train_set, heldout = make_shapes(n_train, seed=seed), make_shapes(N_HELDOUT, seed=seed + 1)
    labels = torch.from_numpy(train_set.labels)
    print(f"generated {n_train} + {N_HELDOUT} images in {time.time() - start:.0f}s", flush=True)

    model = (model or ShapesNet()).to(memory_format=torch.channels_last)  # faster convolutions on CPU
    optimizer = torch.optim.Adam(model.parameters(), lr=MAX_LR)
    batches = -(-n_train // BATCH_SIZE)  # per epoch, rounded up
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, MAX_LR, total_steps=epochs * batches)
    for epoch in range(1, epochs + 1):
        model.train()
        total_loss = correct = 0.0
        for idx in np.array_split(rng.permutation(n_train), batches):
            # NHWC uint8 permuted to NCHW is already channels_last in memory
            logits = model(augment(to_tensor(random_crops(train_set, idx, rng))))
            loss = F.cross_entropy(logits, labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == labels[idx]).sum().item()
        report = f"epoch {epoch}/{epochs}  loss {total_loss / n_train:.3f}  train acc {correct / n_train:.3f}"
        if epoch % 5 == 0 or epoch == epochs:  # full-size evaluation is slow; not every epoch
            acc = accuracy(model, heldout)
            report += f"  held-out acc {acc:.3f}"
        print(f"{report}  {time.time() - start:.0f}s", flush=True)
    return model.to(memory_format=torch.contiguous_format), acc


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: train ShapesNet and write the weights and their ``.json`` record.

    Parameters
    ----------
    argv : list of str or None, default None
        Command-line arguments; None: ``sys.argv[1:]``.

    Returns
    -------
    None
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="weights file (.pt)")
    args = parser.parse_args(argv)

    torch.set_num_threads(2)
    start = time.time()
    model, acc = train(args.epochs, args.n_train, args.seed)
    seconds = time.time() - start

    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    info = {
        "heldout_accuracy": round(acc, 4),
        "n_train": args.n_train,
        "n_heldout": N_HELDOUT,
        "epochs": args.epochs,
        "seed": args.seed,
        "train_seconds": round(seconds, 1),
        "torch_version": torch.__version__,
    }
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {info}")


if __name__ == "__main__":
    main()
