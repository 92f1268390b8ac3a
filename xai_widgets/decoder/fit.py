"""Training a classifier-tuned autoencoder: what the classifier needs to see of an image.

Palacio, Folz, Hees, Raue, Borth and Dengel, "What do Deep Networks Like to See?" (CVPR 2018),
and Palacio's PhD thesis, chapter 5: an autoencoder A = D o E is first trained to reconstruct
images (mean squared error); then the classifier f and the encoder E are frozen and only the
decoder D is tuned so that f(A(x)) keeps f's decision, by the classifier's cross-entropy on its
own predicted labels (the thesis's Eq. 5.3). What the tuned decoder keeps, drops or adds shows
what f uses of the input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..core.capture import model_device, preserved_model
from ..core.rng import seeded
from ..core.tasks import CancelFlag, Progress, check, report
from .models import Autoencoder

__all__ = ["FitRecord", "fit", "predicted_labels", "run_batches", "check_images"]


@dataclass
class FitRecord:
    """What :func:`fit` did, epoch by epoch.

    Attributes
    ----------
    autoencoder : Autoencoder
        ``A = decoder o encoder``, wrapping the caller's (trained) encoder and decoder.
    reconstruction : list of float
        Stage 1: the mean squared error per pixel of each epoch (mean over its batches).
    classification : list of float
        Stage 2: the classifier's mean cross-entropy on the reconstructions of each epoch.
    agreement : list of float
        Stage 2: per epoch, the share of reconstructions, measured as the epoch's batches went
        by, that the classifier gave the target label.
    lrs : dict of str to list of float
        The learning rate of each epoch, ``"reconstruction"`` and ``"classification"``.
    labels : torch.Tensor
        The targets of stage 2 (N int64): the classifier's predictions on the clean images, or
        the labels given.
    settings : dict
        Every argument of the run that is not a model or data.
    """

    autoencoder: Autoencoder
    reconstruction: list[float] = field(default_factory=list)
    classification: list[float] = field(default_factory=list)
    agreement: list[float] = field(default_factory=list)
    lrs: dict = field(default_factory=lambda: {"reconstruction": [], "classification": []})
    labels: torch.Tensor | None = None
    settings: dict = field(default_factory=dict)


def check_images(images, name: str = "images") -> torch.Tensor:
    """A float batch N x C x H x W, finite, or a clear refusal.

    Parameters
    ----------
    images : torch.Tensor
        The images.
    name : str, default "images"
        How the error messages call them.

    Returns
    -------
    torch.Tensor
        ``images``, detached.

    Raises
    ------
    TypeError
        If ``images`` is not a floating-point tensor.
    ValueError
        If it is not N x C x H x W with N >= 1, or holds NaN or infinite values.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        got = f"a {images.dtype} tensor" if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(f"{name} must be a float tensor N x C x H x W in [0, 1] (e.g. xw.demo.to_tensor(uint8 "
                        f"images)), got {got}")
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"{name} must be a batch N x C x H x W with N >= 1, got shape {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} hold NaN or infinite values")
    return images.detach()


def _check_module(name: str, value) -> None:
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")


def _count(name: str, value, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    return value


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


@torch.no_grad()
def run_batches(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """``model(images)`` in eval mode, ``batch_size`` images at a time; the model is left as it was.

    Parameters
    ----------
    model : torch.nn.Module
        Any model taking N x C x H x W batches.
    images : torch.Tensor
        N x C x H x W images.
    batch_size : int, default 64
        Images per forward pass.

    Returns
    -------
    torch.Tensor
        The outputs, concatenated along the batch, on the CPU.
    """
    device = model_device(model)
    with preserved_model(model, eval_mode=True):
        return torch.cat([model(images[i:i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


def predicted_labels(classifier: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The classifier's top class of each image, in eval mode; the classifier is left as it was.

    Parameters
    ----------
    classifier : torch.nn.Module
        Images to logits.
    images : torch.Tensor
        N x C x H x W images.
    batch_size : int, default 64
        Images per forward pass.

    Returns
    -------
    torch.Tensor
        N int64 labels, on the CPU.
    """
    return run_batches(classifier, images, batch_size).argmax(1)


def _check_labels(labels, n: int, classes: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.dtype in (torch.bool,) or labels.is_floating_point() or labels.shape != (n,):
        raise ValueError(f"labels must be {n} integer class indices (one per image), got {labels.dtype} "
                         f"of shape {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in 0..{classes - 1} (the classifier's {classes} outputs)")
    return labels.long().cpu()


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return iter(order.split(batch_size))


def fit(classifier: nn.Module, encoder: nn.Module, decoder: nn.Module, data: torch.Tensor, labels=None, *,
        pretrain_epochs: int = 10, tune_epochs: int = 5, batch_size: int = 32, lr: float = 0.01,
        momentum: float = 0.9, plateau_factor: float = 0.2, plateau_patience: int = 1, seed: int = 0,
        progress: Progress = None, cancel: CancelFlag = None) -> FitRecord:
    """Train ``encoder`` and ``decoder`` (in place) into a classifier-tuned autoencoder.

    Stage 1 (``pretrain_epochs``): encoder and decoder learn to reconstruct ``data``, mean
    squared error. Stage 2 (``tune_epochs``): the classifier and the encoder are frozen, and
    only the decoder is tuned to minimise the classifier's cross-entropy
    ``CE(f(D(E(x))), y)`` with ``y`` the classifier's own prediction ``argmax f(x)`` (or the given
    ``labels``): Palacio et al., CVPR 2018; Palacio's thesis, chapter 5, Eq. 5.3. Both stages use
    SGD with momentum 0.9 and learning rate 0.01, divided by 5 when an epoch's mean loss stops
    falling (``ReduceLROnPlateau``, factor 0.2, patience 1 epoch); each stage starts its own
    optimiser at ``lr``. Mini-batches are drawn in a seeded random order, whole images (no
    augmentation: pass crops as ``data`` for that).

    The classifier is used in eval mode inside :func:`~xai_widgets.core.capture.preserved_model`
    and gets no gradient: it is left exactly as it was. The encoder is not changed by stage 2.
    Encoder and decoder are in train mode while they learn and are put in eval mode at the end.

    Parameters
    ----------
    classifier : torch.nn.Module
        f: images to logits (N x K).
    encoder : torch.nn.Module
        E: images to codes; trained in stage 1 only.
    decoder : torch.nn.Module
        D: codes to images of the input's shape; trained in both stages.
    data : torch.Tensor
        N x C x H x W float training images, the classifier's input (e.g. in [0, 1]).
    labels : array-like of int or None, default None
        Stage 2's targets, one class per image; None: the classifier's predictions on ``data``.
    pretrain_epochs : int, default 10
        Epochs of stage 1 (0 skips it: the encoder and decoder come pre-trained).
    tune_epochs : int, default 5
        Epochs of stage 2 (0 skips it).
    batch_size : int, default 32
        Images per step.
    lr : float, default 0.01
        Starting learning rate of each stage. A classifier whose gradient with respect to the
        image is large (confident logits, a small input std) may need less in stage 2: at too
        large a rate the first steps saturate the decoder's output and it paints one texture on
        every image (the demo's ShapesNet is tuned at 0.001).
    momentum : float, default 0.9
        SGD momentum.
    plateau_factor : float, default 0.2
        Learning rate multiplier on a plateau (0.2: divided by 5).
    plateau_patience : int, default 1
        Epochs without improvement before the rate is cut.
    seed : int, default 0
        Seed of the batch order and of any randomness inside the models (dropout).
    progress : callable or None, default None
        ``progress(done, total)`` after every step of both stages.
    cancel : threading.Event, callable or None, default None
        Checked before every step; raises :class:`~xai_widgets.core.tasks.Cancelled` (the
        encoder and decoder keep the steps already taken; the classifier is untouched).

    Returns
    -------
    FitRecord
        The autoencoder and the per-epoch losses, agreement and learning rates of both stages.

    Raises
    ------
    TypeError
        If a model is not a ``torch.nn.Module`` or ``data`` is not a float tensor.
    ValueError
        If ``data`` is not N x C x H x W, the autoencoder's output shape differs from its input's,
        ``labels`` do not match the data or the classifier's classes, or a setting is out of range.
    """
    for name, value in (("classifier", classifier), ("encoder", encoder), ("decoder", decoder)):
        _check_module(name, value)
    data = check_images(data, "data")
    settings = dict(pretrain_epochs=_count("pretrain_epochs", pretrain_epochs, 0),
                    tune_epochs=_count("tune_epochs", tune_epochs, 0), batch_size=_count("batch_size", batch_size, 1),
                    lr=_positive("lr", lr), momentum=float(momentum), plateau_factor=_positive("plateau_factor",
                                                                                               plateau_factor),
                    plateau_patience=_count("plateau_patience", plateau_patience, 0), seed=int(seed))
    if not 0 <= momentum < 1 or not plateau_factor < 1:
        raise ValueError(f"momentum must lie in [0, 1) and plateau_factor in (0, 1), got {momentum}, {plateau_factor}")
    device = model_device(classifier)
    autoencoder = Autoencoder(encoder, decoder).to(device)
    _check_shapes(autoencoder, data[:1].to(device))
    if labels is None:
        targets = predicted_labels(classifier, data)
    else:
        targets = _check_labels(labels, len(data), run_batches(classifier, data[:1]).shape[1])
    record = FitRecord(autoencoder, labels=targets, settings={**settings, "labels": "predicted" if labels is None
                                                                else "given"})
    steps = -(-len(data) // batch_size)
    ticker = _Ticker(progress, cancel, steps * (pretrain_epochs + tune_epochs))
    with seeded(seed, device):
        generator = torch.Generator().manual_seed(int(seed))
        _reconstruct_stage(autoencoder, data, record, ticker, generator, device)
        with preserved_model(classifier, eval_mode=True):
            _tune_stage(classifier, autoencoder, data, record, ticker, generator, device)
    autoencoder.eval()
    return record


class _Ticker:
    """Checks cancel before, reports progress after, every step of both stages."""

    def __init__(self, progress: Progress, cancel: CancelFlag, total: int):
        self.progress, self.cancel, self.total, self.done = progress, cancel, total, 0

    def before(self) -> None:
        check(self.cancel)

    def after(self) -> None:
        self.done += 1
        report(self.progress, self.done, self.total)


def _check_shapes(autoencoder: Autoencoder, x: torch.Tensor) -> None:
    with torch.no_grad():
        was = autoencoder.training
        autoencoder.eval()
        out = autoencoder(x)
        autoencoder.train(was)
    if out.shape != x.shape:
        raise ValueError(f"decoder(encoder(x)) must have the shape of x, got {tuple(out.shape)} for "
                         f"{tuple(x.shape)} (the demo autoencoder needs sides divisible by 8)")


def _optimiser(params, settings: dict):
    opt = torch.optim.SGD(params, lr=settings["lr"], momentum=settings["momentum"])
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=settings["plateau_factor"],
                                                         patience=settings["plateau_patience"])
    return opt, plateau


def _reconstruct_stage(autoencoder, data, record: FitRecord, ticker: _Ticker, generator, device) -> None:
    """Stage 1: encoder and decoder on the mean squared error."""
    settings = record.settings
    opt, plateau = _optimiser(autoencoder.parameters(), settings)
    autoencoder.train()
    for _ in range(settings["pretrain_epochs"]):
        total = 0.0
        for idx in _batches(len(data), settings["batch_size"], generator):
            ticker.before()
            x = data[idx].to(device)
            loss = F.mse_loss(autoencoder(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            ticker.after()
        record.lrs["reconstruction"].append(opt.param_groups[0]["lr"])
        record.reconstruction.append(total / len(data))
        plateau.step(record.reconstruction[-1])


def _tune_stage(classifier, autoencoder, data, record: FitRecord, ticker: _Ticker, generator, device) -> None:
    """Stage 2: only the decoder, on the frozen classifier's cross-entropy (Palacio's Eq. 5.3)."""
    settings = record.settings
    params = list(autoencoder.decoder.parameters())
    opt, plateau = _optimiser(params, settings)
    autoencoder.encoder.eval()
    autoencoder.decoder.train()
    for _ in range(settings["tune_epochs"]):
        total = kept = 0.0
        for idx in _batches(len(data), settings["batch_size"], generator):
            ticker.before()
            with torch.no_grad():
                codes = autoencoder.encoder(data[idx].to(device))
            logits = classifier(autoencoder.decoder(codes))
            y = record.labels[idx].to(device)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward(inputs=params)  # no gradient reaches the classifier's parameters
            opt.step()
            total += loss.item() * len(idx)
            kept += (logits.argmax(1) == y).sum().item()
            ticker.after()
        record.lrs["classification"].append(opt.param_groups[0]["lr"])
        record.classification.append(total / len(data))
        record.agreement.append(kept / len(data))
        plateau.step(record.classification[-1])
