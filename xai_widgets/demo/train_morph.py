"""Train the path-mask demo models and write the shipped weights and their records.

    python -m xai_widgets.demo.train_morph [digits|letters|all] [--seed 0] [--render-letters]
                                           [--cnn-epochs N] [--vae-epochs N] [--out DIR]

For each set (``demo/glyphs.py``) the path-mask thesis's MNIST CNN and VAE (``xai_widgets.morph.models``)
are trained on the "train" split, every batch freshly distorted (:func:`glyphs.distort`),
with :func:`~xai_widgets.morph.train.train_classifier` (Adam 1e-3, batch 128) and
:func:`~xai_widgets.morph.train.train_vae` (summed squared error + beta KL;
beta and lr chosen by measurement, see ``SETTINGS``). The epochs keep each model within
about five minutes on two CPU cores (measured times are in the .json records). Everything is
deterministic given ``--seed`` on one machine and torch version.

Written to ``--out`` (default ``demo/weights``): ``<set>_cnn.pt`` and ``<set>_vae.pt``, state
dicts stored in float16 (half the size; :func:`xai_widgets.demo.load_half_weights` casts them
back to float32), and ``<set>_cnn.json`` / ``<set>_vae.json``: settings, seeds, time, and the
held-out figures measured on the float16 round trip, i.e. on exactly the shipped models.
The letters set is rendered from the machine's fonts into ``letters_data.npz`` (with
``letters_data.json`` naming the fonts) when it is missing or with ``--render-letters``;
otherwise the shipped file is reused, so retraining needs no font.
"""
from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import torch

from ..morph.models import ConvVAE, SeedCNN
from ..morph.train import train_classifier, train_vae
from . import WEIGHTS, load_half_weights
from .glyphs import digits_data, distort, letters_data, write_letters

SETS = ("digits", "letters")
BATCH_SIZE = 128
# Per set: Adam settings of each model (an epoch is one pass over the training split: 12
# batches for the 1,497 digits, 32 for the 4,000 letters) and the training distortions.
# The VAEs use beta = 0.25 and lr = 3e-3 instead of train_vae's 1 and 1e-3, from a
# measured comparison on the digits (200 epochs; held-out MSE per pixel, KL in nats, share
# of reconstructions keeping the classifier's label):
#   beta 1,    lr 1e-3: MSE 0.023, KL  4.6, label kept 0.82 (the posterior collapses)
#   beta 0.25, lr 1e-3: MSE 0.017, KL 14.6, label kept 0.91
#   beta 0.1,  lr 1e-3: MSE 0.015, KL 24.8, label kept 0.95
#   beta 0.25, lr 3e-3: MSE 0.012, KL 14.1, label kept 0.96
# (these smooth 28 px glyphs cost little squared error, so the full KL weight wins; and the
# listing's BatchNorm2d(1) before the Sigmoid must grow its scale to reach black and white,
# which Adam at 1e-3 does slowly). On the letters (50 epochs, lr 3e-3) beta 0.1 beat 0.25:
# MSE 0.026 against 0.029, label kept 0.73 against 0.69; 120 epochs at beta 0.25 reached
# 0.025 and 0.76, hence 240 epochs at 0.1. The handwritten digits also get a mild elastic
# distortion (Simard et al. 2003); the letters were rendered with one already.
SETTINGS = {
    "digits": dict(
        cnn=dict(epochs=60, lr=1e-3),
        vae=dict(epochs=300, lr=3e-3, beta=0.25),
        augment=dict(rotation=10.0, scale=(0.9, 1.1), shear=0.15, translate=1.5, elastic=0.7, elastic_sigma=4.0),
    ),
    "letters": dict(
        cnn=dict(epochs=40, lr=1e-3),
        vae=dict(epochs=240, lr=3e-3, beta=0.1),
        augment=dict(rotation=8.0, scale=(0.9, 1.1), shear=0.15, translate=1.5, elastic=0.0),
    ),
}


def load(name: str, split: str, out: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels of one split of a demo set.

    Parameters
    ----------
    name : {"digits", "letters"}
        The set.
    split : {"train", "test", "all"}
        The split.
    out : pathlib.Path
        Folder holding ``letters_data.npz`` (letters only).

    Returns
    -------
    tuple of (torch.Tensor, torch.Tensor)
        N x 1 x 28 x 28 float images in [0, 1] and N int64 labels.
    """
    return digits_data(split) if name == "digits" else letters_data(split, out / "letters_data.npz")


@torch.no_grad()
def accuracy(classifier: SeedCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` the classifier labels correctly (no gradients).

    Parameters
    ----------
    classifier : SeedCNN
        The classifier.
    images : torch.Tensor
        N x 1 x 28 x 28 float images.
    labels : torch.Tensor
        N int64 labels.

    Returns
    -------
    float
        Accuracy in [0, 1].
    """
    return (classifier(images).argmax(1) == labels).float().mean().item()


@torch.no_grad()
def reconstruction_figures(vae: ConvVAE, classifier: SeedCNN, images: torch.Tensor, train: torch.Tensor) -> dict:
    """Held-out reconstruction figures of the VAE.

    Held-out reconstruction from z = mu: mean squared error per pixel, the same for the
    mean training image as a baseline, and how often the classifier keeps its label.

    Parameters
    ----------
    vae : ConvVAE
        The VAE.
    classifier : SeedCNN
        The classifier judging the reconstructions.
    images : torch.Tensor
        N x 1 x 28 x 28 held-out images.
    train : torch.Tensor
        Training images, for the mean-image baseline.

    Returns
    -------
    dict
        ``{"heldout_mse", "mean_image_mse", "label_kept"}``, rounded floats.
    """
    recon = vae.decode(vae.encode(images)[0])
    kept = classifier(recon).argmax(1) == classifier(images).argmax(1)
    return {
        "heldout_mse": round((recon - images).square().mean().item(), 6),
        "mean_image_mse": round((train.mean(0) - images).square().mean().item(), 6),
        "label_kept": round(kept.float().mean().item(), 4),
    }


def epoch_printer(label: str, epochs: int):
    """A progress callback printing about ten lines per run.

    Parameters
    ----------
    label : str
        Prefix of each line.
    epochs : int
        Number of epochs of the run.

    Returns
    -------
    callable
        ``progress(done, total)`` over batches, printing at every tenth epoch and the last.
    """
    start = time.time()
    every = max(1, epochs // 10)

    def progress(done: int, total: int) -> None:
        batches = total // epochs
        if done % batches == 0 and ((done // batches) % every == 0 or done == total):
            print(f"  {label}: epoch {done // batches}/{epochs}  {time.time() - start:.0f}s", flush=True)

    return progress


def fit_and_save(model, fit, name: str, kind: str, train, seed: int, out: Path, augment: dict, **fit_args) -> tuple:
    """Train, store the weights in float16 and reload them.

    Train on distorted batches, store float16, reload the stored weights; returns
    (shipped model, record).

    Parameters
    ----------
    model : torch.nn.Module
        The model to train (a fresh SeedCNN or ConvVAE).
    fit : callable
        ``train_classifier`` or ``train_vae``.
    name : str
        The set ("digits" or "letters").
    kind : str
        "cnn" or "vae"; the weights go to ``out / f"{name}_{kind}.pt"``.
    train : tuple of (torch.Tensor, torch.Tensor)
        Training images and labels.
    seed : int
        Seed passed to ``fit``.
    out : pathlib.Path
        Output folder.
    augment : dict
        Keywords of :func:`glyphs.distort` applied to every batch.
    **fit_args
        Passed to ``fit`` (``epochs`` is required).

    Returns
    -------
    tuple of (torch.nn.Module, dict)
        The model reloaded from the float16 file, and its training record.
    """
    start = time.time()
    progress = epoch_printer(f"{name} {kind}", fit_args["epochs"])
    distortion = functools.partial(distort, **augment)
    losses = fit(model, train, batch_size=BATCH_SIZE, seed=seed, progress=progress, augment=distortion, **fit_args)
    seconds = time.time() - start
    path = out / f"{name}_{kind}.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)
    shipped = load_half_weights(type(model)(), path)
    record = {
        "set": name,
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_dtype": "float16",
        "file_bytes": path.stat().st_size,
        **fit_args,
        "batch_size": BATCH_SIZE,
        "optimizer": "Adam",
        "seed": seed,
        "n_train": len(train[0]),
        "augment": augment,
        "first_epoch_loss": round(losses[0], 4),
        "last_epoch_loss": round(losses[-1], 4),
        "train_seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }
    return shipped, record


def train_set(name: str, seed: int, out: Path, cnn: dict, vae: dict, augment: dict) -> None:
    """Train and save the CNN and the VAE of one set, with their records.

    Parameters
    ----------
    name : {"digits", "letters"}
        The set.
    seed : int
        Seed of the CNN (``seed + 1`` for the VAE).
    out : pathlib.Path
        Output folder.
    cnn, vae : dict
        Training keywords of each model (epochs, lr, beta).
    augment : dict
        Keywords of :func:`glyphs.distort`.

    Returns
    -------
    None
    """
    train, (test_images, test_labels) = load(name, "train", out), load(name, "test", out)
    print(f"{name}: {len(train[0])} training and {len(test_images)} held-out images", flush=True)

    torch.manual_seed(seed)  # initial weights
    classifier, cnn_record = fit_and_save(SeedCNN(), train_classifier, name, "cnn", train, seed, out, augment, **cnn)
    held_out = accuracy(classifier, test_images, test_labels)
    cnn_record.update(n_heldout=len(test_images), heldout_accuracy=round(held_out, 4))
    write_record(out / f"{name}_cnn.json", cnn_record)

    torch.manual_seed(seed + 1)
    vae_model, vae_record = fit_and_save(ConvVAE(), train_vae, name, "vae", train, seed + 1, out, augment, **vae)
    vae_record.update(n_heldout=len(test_images), latent_dim=vae_model.latent_dim)
    vae_record.update(reconstruction_figures(vae_model, classifier, test_images, train[0]))
    write_record(out / f"{name}_vae.json", vae_record)


def write_record(path: Path, record: dict) -> None:
    """Write ``record`` as indented JSON to ``path`` and print it.

    Parameters
    ----------
    path : pathlib.Path
        The ``.json`` file.
    record : dict
        JSON-serialisable record.

    Returns
    -------
    None
    """
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path.name}: {record}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: train the path-mask demo models and write weights and records.

    Parameters
    ----------
    argv : list of str or None, default None
        Command-line arguments; None: ``sys.argv[1:]``.

    Returns
    -------
    None
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", choices=SETS + ("all",), default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render-letters", action="store_true", help="render letters_data.npz again from fonts")
    parser.add_argument("--cnn-epochs", type=int, help="override the set's default")
    parser.add_argument("--vae-epochs", type=int, help="override the set's default")
    parser.add_argument("--out", type=Path, default=WEIGHTS.parent, help="folder for weights and records")
    args = parser.parse_args(argv)

    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in SETS if args.which == "all" else (args.which,):
        if name == "letters" and (args.render_letters or not (args.out / "letters_data.npz").exists()):
            write_record(args.out / "letters_data.json", write_letters(args.out / "letters_data.npz"))
        settings = SETTINGS[name]
        cnn = {**settings["cnn"], **({"epochs": args.cnn_epochs} if args.cnn_epochs else {})}
        vae = {**settings["vae"], **({"epochs": args.vae_epochs} if args.vae_epochs else {})}
        train_set(name, args.seed, args.out, cnn, vae, settings["augment"])


if __name__ == "__main__":
    main()
