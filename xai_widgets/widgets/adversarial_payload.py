"""What an :class:`~xai_widgets.widgets.adversarial.AdversarialExplorer` ships to the browser.

:func:`attack_frames` runs the attack once per budget (and keeps every BIM iterate), and
:func:`adversarial_state` adds, per frame, the predictions, the norms of the perturbation, the
attribution of the attacked images and the accuracy-vs-L2 curve, and wire-encodes it all once:
the perturbations delta = x' - x and the maps as float16, the clean images as uint8 levels of
``bounds`` when they are 8-bit images (:func:`images_payload`), else float32. The browser
draws x' = x + delta from exactly these numbers; :func:`frame_pixels` and
:func:`amplified_pixels` give the bytes it draws.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..adversarial import bim, carlini_wagner, fgsm, imperceptibility
from ..attribution.methods import attribute
from ..core import wire
from ..core.diverging import scale_of
from ..core.targets import class_label
from ..core.tasks import check, report
from ..units.predictions import class_probabilities, top_classes

__all__ = ["attack_frames", "adversarial_state", "payload_size", "check_payload", "images_payload",
           "frame_pixels", "amplified_pixels", "ATTACKS"]

ATTACKS = ("fgsm", "bim", "cw")


def attack_frames(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: str, epsilons: Sequence[float],
                  steps: int, bounds: tuple[float, float], options: dict, progress=None, cancel=None) -> torch.Tensor:
    """The attacked images of every frame: E x T x N x C x H x W (T = ``steps`` for BIM, else 1).

    FGSM runs once per eps; BIM once per eps with every iterate kept (iterations 1..steps); C&W
    once, its perturbation delta then scaled by each value of ``epsilons`` and clipped to the
    bounds, x' = clip(x + s delta).

    Parameters
    ----------
    model : nn.Module
        The classifier.
    x : torch.Tensor
        N x C x H x W clean images (model device and dtype).
    y : torch.Tensor
        N true classes.
    attack : {"fgsm", "bim", "cw"}
        The attack (:mod:`xai_widgets.adversarial.attacks`).
    epsilons : sequence of float
        The budgets in the input's units (FGSM, BIM), or the multiples of delta (C&W).
    steps : int
        BIM's iterations.
    bounds : (float, float)
        The valid input range.
    options : dict
        Extra keywords of the attack function (e.g. ``c``, ``kappa``, ``steps``, ``lr`` for
        C&W; ``step``, ``project`` for BIM).
    progress, cancel
        The task's progress callback and cancel flag (:mod:`xai_widgets.core.tasks`).

    Returns
    -------
    torch.Tensor
        The attacked images, detached, on the model's device.
    """
    total = 1 if attack == "cw" else len(epsilons)
    frames = []
    if attack == "cw":
        delta = carlini_wagner(model, x, y, bounds=bounds, cancel=cancel, **options)
        frames = [(x + s * delta).clamp(*bounds)[None] for s in epsilons]
        report(progress, 1, total)
    for k, eps in enumerate(epsilons if attack != "cw" else ()):
        check(cancel)
        if attack == "fgsm":
            frames.append(fgsm(model, x, y, eps, bounds=bounds, **options)[None])
        else:
            frames.append(bim(model, x, y, eps, steps, bounds=bounds, keep_steps=True, cancel=cancel, **options)[1][1:])
        report(progress, k + 1, total)
    return torch.stack(frames).detach()


def frame_pixels(x: np.ndarray, delta: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """The bytes the browser draws for x + delta: ``floor(clip((v - lo) / (hi - lo), 0, 1) * 255 + 0.5)``.

    Parameters
    ----------
    x, delta : numpy.ndarray
        ... x C x H x W, float32 (as shipped); the sum is taken in float64, as in JavaScript.
    bounds : (float, float)
        The valid range, mapped to 0..255.

    Returns
    -------
    numpy.ndarray
        ... x H x W x C uint8.
    """
    lo, hi = bounds
    v = x.astype(np.float64) + delta.astype(np.float64)
    t = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    return np.moveaxis(np.floor(t * 255 + 0.5).astype(np.uint8), -3, -1)


def amplified_pixels(delta: np.ndarray) -> np.ndarray:
    """The perturbation scaled to the full colour range, symmetric about mid grey:
    ``floor(127.5 + 127.5 delta / max|delta| + 0.5)`` per image (128 where delta is 0 everywhere).

    Parameters
    ----------
    delta : numpy.ndarray
        C x H x W float32, one image's perturbation (as shipped).

    Returns
    -------
    numpy.ndarray
        H x W x C uint8.
    """
    d = delta.astype(np.float64)
    m = float(np.abs(d).max()) if d.size else 0.0
    if m == 0:
        return np.full(d.shape[1:] + d.shape[:1], 128, np.uint8)
    return np.moveaxis(np.clip(np.floor(127.5 + 127.5 * d / m + 0.5), 0, 255).astype(np.uint8), 0, -1)


def payload_size(shape: Sequence[int], budgets: int, iterations: int, x_bytes: int = 4) -> int:
    """Bytes the explorer ships for N images of C x H x W: x, every frame's delta (float16,
    C x H x W) and attribution map (float16, H x W), and the clean maps (float16).

    Parameters
    ----------
    shape : sequence of 4 int
        N, C, H, W of the images.
    budgets, iterations : int
        E (the budgets) and T (BIM's iterations kept, else 1).
    x_bytes : int, default 4
        Bytes per value of x: 4 (float32, the most) or 1 (8-bit images, :func:`images_payload`).

    Returns
    -------
    int
        The bytes of the tensors in ``_data``.
    """
    N, C, H, W = shape
    return N * C * H * W * x_bytes + budgets * iterations * N * (C + 1) * H * W * 2 + N * H * W * 2


def images_payload(x: torch.Tensor, bounds: tuple[float, float]) -> dict:
    """The clean images for the wire: uint8 levels of ``bounds`` when that loses nothing but
    rounding (8-bit images, x = lo + k (hi - lo) / 255), else float32.

    Parameters
    ----------
    x : torch.Tensor
        N x C x H x W float32 images (CPU).
    bounds : (float, float)
        The valid range (lo, hi).

    Returns
    -------
    dict
        A :func:`xai_widgets.core.wire.encode` payload; its decoded values are within
        (hi - lo) 2^-20 of ``x``.
    """
    lo, hi = bounds
    levels = wire.encode(x, "uint8", lo=lo, hi=hi)
    exact = np.abs(wire.decode(levels).astype(np.float64) - x.double().numpy()).max() <= (hi - lo) * 2.0 ** -20
    return levels if exact else wire.encode(x, "float32")


def check_payload(shape: Sequence[int], budgets: int, iterations: int, max_bytes: int) -> None:
    """Refuse, before any attack runs, a view whose payload (:func:`payload_size`) is over ``max_bytes``.

    Parameters
    ----------
    shape, budgets, iterations
        As :func:`payload_size`.
    max_bytes : int
        The budget.

    Raises
    ------
    ValueError
        Saying the size and which options lower it.
    """
    N, C, H, W = shape
    wire.check_budget(payload_size(shape, budgets, iterations), max_bytes,
                      f"AdversarialExplorer ({N} images of {C}x{H}x{W}, {budgets} budgets x {iterations} iterations)",
                      "Pass fewer images, fewer epsilons or (BIM) fewer steps, or raise max_bytes.")


def adversarial_state(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attack: str, epsilons: list[float],
                      steps: int, bounds: tuple[float, float], method: str, classes, options: dict,
                      max_bytes: int, progress=None, cancel=None) -> dict:
    """Everything the widget holds for its inputs, its browser payload included.

    Parameters
    ----------
    model, x, y, attack, epsilons, steps, bounds, options, progress, cancel
        As :func:`attack_frames`.
    method : str
        The attribution method (:func:`xai_widgets.attribution.attribute`); each image is
        explained for the class the model predicts for it.
    classes : sequence of str or None
        Class names.
    max_bytes : int
        Payload budget.

    Returns
    -------
    dict
        ``data`` (the ``_data`` trait); ``adversarial`` (E x T x N x C x H x W, the attack's
        output), ``delta`` (the shipped float16 perturbations, decoded), ``x`` (the shipped images, decoded),
        ``maps`` (N x H x W clean and E x T x N x H x W attacked, shipped), ``scales`` (per
        image), ``pred`` (clean) and ``pred_adv`` (E x T x N), ``correct``, ``accuracy`` and
        ``mean_l2`` (T x E), ``bytes``.

    Raises
    ------
    ValueError
        When the payload does not fit ``max_bytes`` or no image is classified correctly.
    """
    N, C, H, W = x.shape
    E, T = len(epsilons), steps if attack == "bim" else 1
    check_payload(tuple(x.shape), E, T, max_bytes)
    probs = class_probabilities(model, x)
    pred = probs.argmax(1).to(y.device)
    correct = pred == y
    if not bool(correct.any()):
        raise ValueError("the model misclassifies every image; the accuracy curve counts initially correct images "
                         "(check the labels, or pass labels=None to attack the model's own predictions)")
    adv = attack_frames(model, x, y, attack, epsilons, steps, bounds, options, progress, cancel)
    flat = adv.reshape(E * T * N, C, H, W)
    probs_adv = class_probabilities(model, flat)
    pred_adv = probs_adv.argmax(1).to(y.device)
    check(cancel)
    clean_map = attribute(model, x, method, target=pred.tolist(), cancel=cancel).maps.float().cpu()
    adv_maps = attribute(model, flat, method, target=pred_adv.tolist(), cancel=cancel).maps.float().cpu()
    x32 = x.detach().float().cpu()
    x_payload = images_payload(x32, bounds)
    delta_payload = wire.encode((flat.float().cpu() - x32.repeat(E * T, 1, 1, 1)).reshape(E, T, N, C, H, W),
                                "float16")
    clean_payload, adv_payload = wire.encode(clean_map, "float16"), wire.encode(adv_maps.reshape(E, T, N, H, W),
                                                                                "float16")
    delta = wire.decode(delta_payload)
    maps_clean, maps_adv = wire.decode(clean_payload), wire.decode(adv_payload)
    scales = [scale_of([maps_clean[i], maps_adv[:, :, i]])[0] for i in range(N)]
    d64 = delta.astype(np.float64).reshape(E, T, N, -1)
    linf, l2 = np.abs(d64).max(-1), np.sqrt((d64 ** 2).sum(-1))
    pred_adv = pred_adv.reshape(E, T, N).cpu()
    yc, keep = y.cpu(), correct.cpu()
    accuracy = np.array([[float((pred_adv[e, t][keep] == yc[keep]).float().mean()) for e in range(E)]
                         for t in range(T)])
    mean_l2 = np.array([[imperceptibility(x, adv[e, t], correct) for e in range(E)] for t in range(T)])
    top_adv = top_classes(probs_adv, classes)
    data = {
        "attack": attack, "epsilons": list(epsilons), "steps": T, "bounds": list(bounds),
        "classes": [class_label(classes, int(k)) for k in range(probs.shape[1])],
        "labels": yc.tolist(), "pred": pred.cpu().tolist(),
        "pred_adv": pred_adv.tolist(),
        "top_clean": top_classes(probs, classes),
        "top_adv": [[top_adv[(e * T + t) * N:(e * T + t + 1) * N] for t in range(T)] for e in range(E)],
        "linf": linf.tolist(), "l2": l2.tolist(),
        "accuracy": accuracy.tolist(), "mean_l2": mean_l2.tolist(),
        "scales": scales, "method": method,
        "x": x_payload, "delta": delta_payload,
        "map_clean": clean_payload, "map_adv": adv_payload,
    }
    shipped = sum(wire.payload_bytes(data[k]) for k in ("x", "delta", "map_clean", "map_adv"))
    return {"data": data, "adversarial": adv.cpu(), "delta": delta, "x": wire.decode(x_payload),
            "maps_clean": maps_clean,
            "maps_adv": maps_adv, "scales": scales, "pred": pred.cpu(), "pred_adv": pred_adv, "correct": keep,
            "accuracy": accuracy, "mean_l2": mean_l2, "linf": linf, "l2": l2, "bytes": shipped}
