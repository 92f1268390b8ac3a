"""Train the demo's classifier-tuned decoders and its second classifier; write the shipped weights.

    python -m xai_widgets.demo.train_decoder [--seed 3] [--n-train 2000] [--ae-epochs 25]
                                             [--tune-epochs 8] [--strided-epochs 30] [--out DIR]

1. ``StridedShapesNet`` (``demo/model.py``), the second shapes classifier, is trained with
   ShapesNet's recipe (:func:`xai_widgets.demo.train.train`: Adam, one-cycle, 80 px crops).
2. One autoencoder (:mod:`xai_widgets.decoder.models`) is trained on reconstruction
   (:func:`xai_widgets.decoder.fit`, stage 1) on 64 px crops around each image's first object.
3. For each classifier, a copy of it has only its decoder tuned through that frozen classifier
   (stage 2, the classifier's own predictions as targets): Palacio et al., CVPR 2018.

Both stages use SGD with momentum 0.9 (batches of 16), the learning rate divided by 5 on a
plateau, as :func:`~xai_widgets.decoder.fit` does. Stage 1 starts at lr 0.1 rather than the
paper's 0.01: on 400 crops, 6 epochs of stage 1 reached MSE 0.039 per pixel at 0.01 against
0.013 at 0.1, and this miniature gets a few dozen epochs, not the paper's hundreds. Stage 2
runs at the paper's 0.01 and at 0.003 and 0.001, and keeps for each classifier the rate whose
autoencoder the classifier agrees with most on 200 validation images (seed ``--seed + 2``).
The smaller rates are for ShapesNet: its gradient with respect to the image is large (its
logits on clean images reach about 14, and its input normalisation divides by 0.2), so at 0.01
(or more) the first steps of stage 2 push the decoder's Sigmoid into saturation, it paints one
texture on every image and the classifier agrees with it at chance level (13% of the validation
images, against 82% at 0.001; both classifiers keep 0.001).
Deterministic given ``--seed`` on one machine and torch version; about five to seven minutes on
two CPU cores. Training images use ``--seed``, held-out ones ``--seed + 1`` (the demo's default
images, seed 0, are in neither).

Written to ``--out`` (default ``demo/weights``), as float16 state dicts (see
:func:`xai_widgets.demo.load_half_weights`): ``shapes_strided.pt`` (the classifier),
``shapes_ae.pt`` (stage 1 only), ``shapes_ae_cnn.pt`` and ``shapes_ae_strided.pt`` (tuned for
ShapesNet and for StridedShapesNet), and ``shapes_decoders.json``: settings, losses per epoch,
times and held-out figures measured on the float16 round trip (exactly the shipped models).
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..decoder import (Autoencoder, ConvDecoder, ConvEncoder, bc_nmi, cross_accuracy, fit, ic_nmi, predicted_labels,
                       reconstruct)
from . import WEIGHTS, load_half_weights, shapes_model
from .model import StridedShapesNet, to_tensor
from .shapes import make_shapes
from .train import random_crops, train

CLASSIFIERS = ("cnn", "strided")
CROP = 64
BATCH_SIZE = 16
LR = 0.1  # stage 1
TUNE_LRS = (0.001, 0.003, 0.01)  # stage 2: the paper's rate and two smaller, the best on validation images kept
N_VALID = 200
N_HELDOUT = 300


def save_half(model: torch.nn.Module, path: Path) -> int:
    """Store ``model``'s state dict with floating-point tensors in float16.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    path : pathlib.Path
        The ``.pt`` file written.

    Returns
    -------
    int
        The file's size in bytes.
    """
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)
    return path.stat().st_size


def epoch_printer(label: str):
    """A progress callback printing the step count every 500 steps.

    Parameters
    ----------
    label : str
        Prefix of each line.

    Returns
    -------
    callable
        ``progress(done, total)``.
    """
    start = time.time()

    def progress(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            print(f"  {label}: step {done}/{total}  {time.time() - start:.0f}s", flush=True)

    return progress


def heldout_figures(classifiers: dict, autoencoders: dict, seed: int) -> dict:
    """Held-out accuracies, the cross-model matrix and the mean nMIs of the shipped models.

    Parameters
    ----------
    classifiers : dict of str to torch.nn.Module
        ``{"cnn": ShapesNet, "strided": StridedShapesNet}``.
    autoencoders : dict of str to Autoencoder
        ``{"plain": stage 1 only, "cnn": tuned for ShapesNet, "strided": tuned for StridedShapesNet}``.
    seed : int
        Seed of the held-out shapes (128 px, N_HELDOUT images).

    Returns
    -------
    dict
        JSON-able figures.
    """
    data = make_shapes(N_HELDOUT, seed=seed)
    x = to_tensor(data.images)
    names = list(CLASSIFIERS)
    cross = cross_accuracy([classifiers[n] for n in names], [autoencoders[n] for n in names], x, data.labels, names)
    plain = cross_accuracy([classifiers[n] for n in names], [autoencoders["plain"]] * 2, x, data.labels, names)
    nmis = {}
    for name, ae in autoencoders.items():
        recon = reconstruct(ae, x[:32])
        nmis[name] = {"ic_nmi": round(float(ic_nmi(x[:32], recon).mean()), 4),
                      "bc_nmi": round(float(bc_nmi(recon).mean()), 4),
                      "mse": round(float((recon - x[:32]).square().mean()), 6)}
    return {"n_heldout": N_HELDOUT, "heldout_seed": seed, "classifiers": names,
            "clean_accuracy": cross.clean.round(4).tolist(),
            "plain_accuracy": plain.matrix[0].round(4).tolist(),
            "cross_matrix": cross.matrix.round(4).tolist(),
            "min_ratio_clean": cross.min_ratio("clean").round(4).tolist(),
            "min_ratio_own": cross.min_ratio("own").round(4).tolist(),
            "nmi_first_32": nmis}


def tune(classifier, encoder, decoder, crops, valid, epochs: int, settings: dict, name: str) -> tuple:
    """Stage 2 on copies of the encoder and decoder at each rate of TUNE_LRS; the best on ``valid``.

    Parameters
    ----------
    classifier : torch.nn.Module
        The frozen classifier.
    encoder, decoder : torch.nn.Module
        The stage-1 halves (copied, not changed).
    crops : torch.Tensor
        Training crops.
    valid : torch.Tensor
        Validation images (full size): the rate kept is the one whose autoencoder the classifier
        agrees with most, ``argmax f(A(x)) == argmax f(x)``.
    epochs : int
        Epochs of stage 2.
    settings : dict
        ``batch_size`` and ``seed`` of :func:`~xai_widgets.decoder.fit`.
    name : str
        The classifier's name, for the printed progress.

    Returns
    -------
    tuple of (FitRecord, dict)
        The kept run, and its record with every rate's validation agreement.
    """
    targets = predicted_labels(classifier, valid)
    runs = []
    for lr in TUNE_LRS:
        run = fit(classifier, copy.deepcopy(encoder), copy.deepcopy(decoder), crops, pretrain_epochs=0,
                  tune_epochs=epochs, lr=lr, progress=epoch_printer(f"tuning for {name} at lr {lr}"), **settings)
        kept = (predicted_labels(classifier, reconstruct(run.autoencoder, valid)) == targets).double().mean().item()
        print(f"  {name}, lr {lr}: validation agreement {kept:.3f}", flush=True)
        runs.append((kept, run))
    best, run = max(runs, key=lambda pair: pair[0])
    return run, {"cross_entropy": run.classification, "agreement": run.agreement, "lr": run.lrs["classification"],
                 "validation_agreement": {str(lr): round(k, 4) for lr, (k, _) in zip(TUNE_LRS, runs)}}


def train_all(args) -> dict:
    """Train the second classifier, the autoencoder and the two tuned decoders; write them.

    Parameters
    ----------
    args : argparse.Namespace
        The command line (seed, sizes, epochs, out).

    Returns
    -------
    dict
        The record written to ``shapes_decoders.json``.
    """
    start = time.time()
    torch.manual_seed(args.seed)
    strided, strided_acc = train(args.strided_epochs, args.n_strided, args.seed, StridedShapesNet())
    files = {"shapes_strided.pt": save_half(strided, args.out / "shapes_strided.pt")}
    classifiers = {"cnn": shapes_model(),
                   "strided": load_half_weights(StridedShapesNet(), args.out / "shapes_strided.pt")}
    data = make_shapes(args.n_train, seed=args.seed)
    crops = to_tensor(random_crops(data, np.arange(args.n_train), np.random.default_rng(args.seed), CROP))
    torch.manual_seed(args.seed)
    encoder, decoder = ConvEncoder(), ConvDecoder()
    settings = dict(batch_size=BATCH_SIZE, seed=args.seed)
    stage1 = fit(classifiers["cnn"], encoder, decoder, crops, pretrain_epochs=args.ae_epochs, tune_epochs=0,
                 lr=LR, progress=epoch_printer("reconstruction"), **settings)
    files["shapes_ae.pt"] = save_half(stage1.autoencoder, args.out / "shapes_ae.pt")
    record = {"stage1": {"mse": stage1.reconstruction, "lr": stage1.lrs["reconstruction"]}, "stage2": {}}
    valid = to_tensor(make_shapes(N_VALID, seed=args.seed + 2).images)
    for name in CLASSIFIERS:
        tuned, record["stage2"][name] = tune(classifiers[name], encoder, decoder, crops, valid, args.tune_epochs,
                                             settings, name)
        files[f"shapes_ae_{name}.pt"] = save_half(tuned.autoencoder, args.out / f"shapes_ae_{name}.pt")
    shipped = {name: load_half_weights(Autoencoder(ConvEncoder(), ConvDecoder()),
                                       args.out / f"shapes_ae{'' if name == 'plain' else '_' + name}.pt")
               for name in ("plain",) + CLASSIFIERS}
    return {**record, "strided_heldout_accuracy_training": round(strided_acc, 4),
            "heldout": heldout_figures(classifiers, shipped, args.seed + 1),
            "settings": {**settings, "lr": LR, "tune_lrs": TUNE_LRS, "n_valid": N_VALID, "crop": CROP, "n_train": args.n_train, "ae_epochs": args.ae_epochs,
                         "tune_epochs": args.tune_epochs, "strided_epochs": args.strided_epochs,
                         "n_strided": args.n_strided, "momentum": 0.9, "plateau_factor": 0.2,
                         "plateau_patience": 1},
            "weights_dtype": "float16", "file_bytes": files, "train_seconds": round(time.time() - start, 1),
            "torch_version": torch.__version__}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: train and write the decoders, the second classifier and the record.

    Parameters
    ----------
    argv : list of str or None, default None
        Command-line arguments; None: ``sys.argv[1:]``.

    Returns
    -------
    None
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=2000, help="crops for the autoencoder")
    parser.add_argument("--ae-epochs", type=int, default=25)
    parser.add_argument("--tune-epochs", type=int, default=8)
    parser.add_argument("--strided-epochs", type=int, default=30)
    parser.add_argument("--n-strided", type=int, default=4000, help="training images of StridedShapesNet")
    parser.add_argument("--out", type=Path, default=WEIGHTS.parent, help="folder for weights and the record")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    record = train_all(args)
    (args.out / "shapes_decoders.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["heldout"], indent=1))


if __name__ == "__main__":
    main()
