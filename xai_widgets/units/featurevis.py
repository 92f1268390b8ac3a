"""Activation maximisation: the image each channel of a layer "wants to see".

Activation maximisation (Erhan, Bengio, Courville and Vincent 2009; surveyed by Nguyen,
Yosinski and Clune, chapter 4 of "Explainable AI", LNAI 11700, 2019) looks for an input
``x* = argmax_x a(x)`` by gradient ascent from a random start, with image priors that keep
the result away from high-frequency "fooling" patterns. The objective here is the channel
objective of Olah, Mordvintsev and Schubert ("Feature Visualization", Distill 2017): the mean
over space of one channel of a layer's output (a linear layer's unit is a 1 x 1 channel), or,
on request, its max or sum over space.

The image is not optimised pixel by pixel. Following Olah et al. (2017) and Mordvintsev,
Pezzotti, Schubert and Olah ("Differentiable Image Parameterizations", Distill 2018):

* Fourier parametrisation, spectrum scaled by 1/f (:func:`spectrum_scale`): the optimised
  variables are the 2-D real-FFT coefficients of each colour channel, multiplied by a
  1/frequency envelope before the inverse FFT, so that every frequency moves at the rate it
  has in natural images instead of white noise winning;
* colour decorrelation: the three Fourier images are mixed by the square root of the colour
  covariance of natural images (:data:`PHOTO_COLOUR_SQRT`, or one estimated from your data
  with :func:`colour_correlation`), so that the optimiser steps along decorrelated colour axes;
* a sigmoid squashes the result into [0, 1] (:func:`fourier_image`).

Regularisers (Nguyen, Yosinski and Clune 2019, section 4.2; the three families of Olah et al. 2017):

* transformation robustness (Mordvintsev, Olah and Tyka, "Inceptionism", 2015; Olah et al.
  2017): every step each image is seen jittered by up to ``jitter`` pixels, scaled by a
  factor drawn from ``scales`` and rotated by an angle drawn from ``angles`` (degrees), all in
  one batched affine ``grid_sample`` with reflected borders (a zero border would add an edge
  the unit could learn to exploit);
* total variation (Mahendran and Vedaldi, CVPR 2015) with weight ``tv``: the mean absolute
  difference of neighbouring pixels (beta = 1), summed over the two directions, subtracted
  from the objective;
* Gaussian blur of the parameter image (Yosinski, Clune, Nguyen, Fuchs and Lipson, "Understanding
  Neural Networks Through Deep Visualization", 2015) every ``blur_every`` steps with standard
  deviation ``blur_sigma`` pixels. The parametrisation is linear up to the sigmoid, so the
  blur is done on the Fourier coefficients, as a product with the Gaussian's frequency
  response exp(-2 pi^2 sigma^2 f^2) (f in cycles per pixel; the boundary is periodic as the
  Fourier image is). It is the regularisation *operator* of Eq. 4.5 of Nguyen, Yosinski and
  Clune (2019).

Defaults (128 px, chosen by eye and objective on the demo model's ``relu3``; ``bench/featurevis.py``
times them): Adam on the coefficients with lr 0.05 and 256 steps; ``jitter`` 4 px, ``scales``
0.95..1.05, ``angles`` -5..5 degrees; ``tv`` 0.05 and a blur of sigma 0.5 px every 8 steps. Our 28 px starting point was sigma 0.5 every 4 steps;
at 128 px the 1/f envelope already damps high frequencies: no TV and no blur left pixel-level
speckle, while tv 0.3 with sigma 0.75 every 4 steps washed the patterns out and halved the
objective. The start is 1/f noise with real and imaginary parts drawn from N(0, 1) (pixels of
standard deviation about 1.4 before the colour mix and the sigmoid): the near-grey start of
Olah et al. (0.01) leaves sparse post-ReLU channels exactly 0 everywhere, with no gradient to
follow (7 of the first 8 channels of the demo model's ``relu3`` never woke up from it). Each
channel's start comes from its own generator seeded by (``seed``, channel), so it does not
depend on the batch the channel is in.

Model hygiene as in :mod:`xai_widgets.core.capture`: hooks are removed, training flags restored
(the forward runs in eval mode), ``requires_grad`` flags, parameters and buffers untouched, and
no ``.grad`` is created (gradients are taken with ``torch.autograd.grad`` with respect to the
coefficients only); the forward stops after the requested layer. Everything runs on the
model's device. Results depend only on the arguments and ``seed`` (bit for bit on the CPU; on
CUDA ``grid_sample``'s backward adds atomically, so runs agree to float rounding).
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.capture import preserved_model, capture_maps, layer_output, model_device, model_dtype
from .grid import check_objective, unit_value
from ..core.images import check_input_size, input_channels
from ..core.tasks import CancelFlag, Progress, check, report
from ..core.warp import affine_matrix

__all__ = [
    "FeatureVis",
    "visualise_channels",
    "colour_correlation",
    "spectrum_scale",
    "fourier_image",
    "PHOTO_COLOUR_SQRT",
]

# Symmetric square root of the RGB covariance of scikit-learn's two sample photographs
# (china.jpg, flower.jpg: ``colour_correlation`` of ``xai_widgets.demo.photos()``), divided by
# its spectral norm. Its eigenvalues, 1 : 0.32 : 0.08 (a luminance axis, then two colour
# opponent axes), have the shape of the ImageNet estimate Olah et al.'s Lucid library uses
# (singular values 0.46 : 0.13 : 0.06).
PHOTO_COLOUR_SQRT = torch.tensor(
    [[0.584, 0.277, 0.209],
     [0.277, 0.357, 0.306],
     [0.209, 0.306, 0.464]]
)

_SPECTRUM_DECAY = 1.0  # amplitude ~ 1 / f^decay: natural images have a roughly 1/f spectrum
_INIT_STD = 1.0  # std of the starting coefficients (see the module doc)
_MIN_SIDE = 8  # pixels; smaller images leave no room for jitter, scale and rotation
_REPORT_EVERY = 4  # steps between progress reports (and always at the end of each batch)


@dataclass
class FeatureVis:
    """Optimised images for some channels of one layer (see :func:`visualise_channels`).

    ``images``: len(channels) x C_in x H x W, float in [0, 1], on the CPU; ``channels``: the
    channel each image maximises; ``objective``: each image's channel objective (the channel
    reduced over space as ``params["objective"]`` says), measured on the plain image, without transforms;
    ``history``: steps x len(channels), the objective at each step on the transformed image the optimiser saw;
    ``params``: the settings used, JSON-friendly, so a figure can state them.

    Attributes
    ----------
    images : torch.Tensor
        len(channels) x C_in x H x W float32 images in [0, 1], on the CPU.
    channels : list of int
        The channel each image maximises.
    objective : torch.Tensor
        len(channels) float32 objectives reached on the plain images, on the CPU.
    history : torch.Tensor
        steps x len(channels) objectives during the optimisation, on the CPU.
    params : dict
        The settings used, JSON-friendly.
    """

    images: torch.Tensor
    channels: list[int]
    objective: torch.Tensor
    history: torch.Tensor
    params: dict


# ------------------------------------------------------------------ parametrisation


def spectrum_scale(size: tuple[int, int] | int, decay: float = _SPECTRUM_DECAY) -> torch.Tensor:
    """The 1/f envelope of the Fourier parametrisation, H x (W // 2 + 1) float32 (rfft layout).

    With ``fy``, ``fx`` from ``numpy.fft.fftfreq`` (cycles per pixel), the frequency in cycles
    per image is ``f = max(H, W) * sqrt(fy^2 + fx^2)`` and the envelope ``1 / max(f, 1)^decay``
    (the mean, f = 0, weighs as much as the lowest frequency), divided by its root mean square
    over the full H x W spectrum so that, with the orthonormal inverse FFT, white complex
    coefficients with E|c|^2 = 1 give pixels of about unit variance at any size.

    Parameters
    ----------
    size : int or tuple of (int, int)
        (H, W) of the image, or one int for a square; each side at least 8 pixels.
    decay : float, default 1.0
        Exponent of the 1/f^decay amplitude envelope.

    Returns
    -------
    torch.Tensor
        H x (W // 2 + 1) float32 envelope on the CPU.

    Raises
    ------
    TypeError, ValueError
        If ``size`` is not an int or a pair of ints, or a side is under 8 pixels.
    """
    h, w = _size(size)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    envelope = 1.0 / np.maximum(max(h, w) * np.sqrt(fy**2 + fx**2), 1.0) ** decay
    envelope /= np.sqrt(np.mean(envelope**2))
    return torch.from_numpy(envelope[:, : w // 2 + 1]).float()


def fourier_image(
    coeffs: torch.Tensor, size: tuple[int, int] | int, colour: torch.Tensor | None = None
) -> torch.Tensor:
    """Images in [0, 1] from Fourier coefficients: ``sigmoid(colour @ irfft2(coeffs * scale))``.

    ``coeffs``: N x C x H x (W // 2 + 1) x 2 (real and imaginary parts), ``scale``
    :func:`spectrum_scale` of ``size`` (H, W), the inverse FFT orthonormal
    (``norm="ortho"``); ``colour`` (C x C, or None for none) mixes the channels at every
    pixel. Differentiable; N x C x H x W on the coefficients' device.

    Parameters
    ----------
    coeffs : torch.Tensor
        N x C x H x (W // 2 + 1) x 2 float coefficients.
    size : int or tuple of (int, int)
        (H, W) of the images, or one int for a square.
    colour : torch.Tensor or None, default None
        C x C colour mixing matrix; None mixes nothing.

    Returns
    -------
    torch.Tensor
        N x C x H x W images in [0, 1], differentiable, on the coefficients' device.

    Raises
    ------
    TypeError, ValueError
        For an invalid ``size``, or ``coeffs`` or ``colour`` of the wrong shape.
    """
    h, w = _size(size)
    if coeffs.dim() != 5 or coeffs.shape[2:] != (h, w // 2 + 1, 2):
        raise ValueError(
            f"coeffs must be N x C x {h} x {w // 2 + 1} x 2 for size {(h, w)}, got {tuple(coeffs.shape)}"
        )
    if colour is not None and colour.shape != (coeffs.shape[1],) * 2:
        raise ValueError(f"colour must be {coeffs.shape[1]} x {coeffs.shape[1]}, got {tuple(colour.shape)}")
    return _Fourier((h, w), colour, coeffs.device).image(coeffs)


class _Fourier:
    """The parametrisation with its envelope and colour matrix on one device."""

    def __init__(self, size: tuple[int, int], colour: torch.Tensor | None, device: torch.device):
        self.size = size
        self.scale = spectrum_scale(size).to(device)
        self.colour = None if colour is None else colour.to(device=device, dtype=torch.float32)

    def image(self, coeffs: torch.Tensor) -> torch.Tensor:
        spectrum = torch.view_as_complex(coeffs) * self.scale
        x = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        if self.colour is not None:
            x = torch.einsum("ij,njhw->nihw", self.colour, x)
        return torch.sigmoid(x)


def _gaussian_response(size: tuple[int, int], sigma: float, device: torch.device) -> torch.Tensor:
    """exp(-2 pi^2 sigma^2 f^2) on the rfft grid: a Gaussian blur of std ``sigma`` px as a product."""
    h, w = size
    fy = torch.fft.fftfreq(h, device=device)[:, None]
    fx = torch.fft.rfftfreq(w, device=device)[None, :]
    return torch.exp(-2 * math.pi**2 * sigma**2 * (fy**2 + fx**2))


def colour_correlation(images) -> torch.Tensor:
    """The symmetric square root of the RGB covariance of ``images``, 3 x 3 float32 on the CPU.

    ``images``: N x 3 x H x W, a torch tensor or numpy array, float in [0, 1] (uint8 is divided
    by 255). All pixels of all images are pooled; the covariance is taken about their mean
    colour and its square root ``V diag(sqrt(lambda)) V^T`` from its eigen-decomposition. Pass
    the result as ``decorrelate=`` to :func:`visualise_channels` for a model trained on data
    whose colours differ from natural photographs (only its shape matters: it is rescaled there).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        N x 3 x H x W images with at least two pixels in all; float in [0, 1] or uint8.

    Returns
    -------
    torch.Tensor
        3 x 3 symmetric float32 matrix on the CPU.

    Raises
    ------
    TypeError
        If ``images`` is neither a tensor nor an array.
    ValueError
        If ``images`` is not N x 3 x H x W with at least two pixels.
    """
    x = torch.from_numpy(np.array(images)) if isinstance(images, np.ndarray) else images  # a writable copy
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"images must be a torch tensor or numpy array, got {type(images).__name__}")
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[0] * x.shape[2] * x.shape[3] < 2:
        raise ValueError(f"images must be N x 3 x H x W with at least two pixels, got {tuple(x.shape)}")
    x = x.double() / 255 if x.dtype == torch.uint8 else x.double()
    pixels = x.transpose(0, 1).reshape(3, -1)
    pixels = pixels - pixels.mean(1, keepdim=True)
    cov = pixels @ pixels.T / (pixels.shape[1] - 1)
    eigvals, eigvecs = torch.linalg.eigh(cov)
    return ((eigvecs * eigvals.clamp_min(0).sqrt()) @ eigvecs.T).float().cpu()


# ------------------------------------------------------------------ regularisers


class _RandomViews:
    """Jitter, scale and rotate each image of a batch by its own random draw, in one grid_sample."""

    def __init__(self, size, jitter, scales, angles, device):
        self.jitter = jitter
        self.scales = torch.tensor(scales, dtype=torch.float32, device=device)
        # Rotation by -angle undoes rotation by angle (affine_matrix keeps pixels square).
        self.unrotate = torch.stack([affine_matrix("rotate", -a, size) for a in angles]).float().to(device)
        h, w = size
        self.px = torch.tensor([2.0 / w, 2.0 / h], device=device)  # one pixel, normalised

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, dev = images.shape[0], images.device
        s = self.scales[torch.randint(len(self.scales), (n,), generator=gen, device=dev)]
        unrotate = self.unrotate[torch.randint(len(self.unrotate), (n,), generator=gen, device=dev)]
        shift = torch.randint(-self.jitter, self.jitter + 1, (n, 2), generator=gen, device=dev) * self.px
        # Content point p goes to s R p + t; grid_sample wants, per output point q, the
        # input point R^-1 (q - t) / s.
        inverse = unrotate / s[:, None, None]
        theta = torch.cat([inverse, -(inverse @ shift[:, :, None])], dim=2)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _total_variation(images: torch.Tensor) -> torch.Tensor:
    """Per image: mean |vertical difference| + mean |horizontal difference| (beta = 1)."""
    dy = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().mean((1, 2, 3))
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().mean((1, 2, 3))
    return dy + dx


# ------------------------------------------------------------------ the model side


def _channel_objective(acts: torch.Tensor, channels: torch.Tensor, objective: str) -> torch.Tensor:
    """Channel ``channels[i]`` of batch element i reduced over space by ``objective``."""
    return unit_value(acts[torch.arange(len(channels), device=acts.device), channels], objective)


def _initial_coeffs(channels: list[int], shape: tuple[int, ...], seed: int, device) -> torch.Tensor:
    """Random starting coefficients, one generator per (seed, channel): a channel starts from the
    same image whichever batch it is optimised in."""
    starts = []
    for c in channels:
        key = int(np.random.SeedSequence([seed, c]).generate_state(1, np.uint64)[0])
        gen = torch.Generator(device=device).manual_seed(key)
        starts.append(torch.randn(shape, generator=gen, device=device) * _INIT_STD)
    return torch.stack(starts).requires_grad_(True)


# ------------------------------------------------------------------ the optimisation


def visualise_channels(
    model: nn.Module,
    layer: str,
    channels: Sequence[int] | None = None,
    *,
    size: tuple[int, int] | int = 128,
    in_channels: int | None = None,
    steps: int = 256,
    lr: float = 0.05,
    batch_size: int = 32,
    decorrelate: bool | torch.Tensor = True,
    jitter: int = 4,
    scales: Sequence[float] = (1.0, 0.975, 1.025, 0.95, 1.05),
    angles: Sequence[float] = tuple(range(-5, 6)),
    tv: float = 0.05,
    blur_every: int = 8,
    blur_sigma: float = 0.5,
    normalise: Callable[[torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
    objective: str = "mean",
    layouts: dict | None = None,
    progress: Progress = None,
    cancel: CancelFlag = None,
) -> FeatureVis:
    """Synthesise, for each channel, an image maximising its activation (see the module doc).

    ``channels``: channel indices of ``layer`` (None: every channel); batch element i of a
    batch optimises its own channel, ``batch_size`` channels at a time (1 for one at a time).
    ``size``: H x W of the images (an int for square). ``in_channels``: the model's input
    channels, by default those of its first ``Conv2d``. ``decorrelate``: True for
    :data:`PHOTO_COLOUR_SQRT`, False for none, or a 3 x 3 matrix (e.g. from
    :func:`colour_correlation`); ignored for models whose input is not RGB. ``normalise``:
    a differentiable transform applied to the [0, 1] images before the model (e.g. ImageNet
    mean/std), None when the model takes [0, 1] itself. ``tv`` 0 or ``blur_every`` 0 turns a
    regulariser off. ``objective`` is what is maximised: the channel's spatial ``"mean"`` (Olah
    et al. 2017), ``"max"`` or ``"sum"`` (:func:`xai_widgets.units.grid.unit_value`); with Adam,
    mean and sum differ only in the weight ``tv`` has against them. ``progress(done, total)`` is called every few
    steps, with ``total`` = steps x number of batches; ``cancel`` (a ``threading.Event`` or a callable) is checked
    every step and raises :class:`xai_widgets.core.tasks.Cancelled`. ``layouts``: ``{layer: layout}``
    for a layer whose layout is not detected (:mod:`xai_widgets.core.layouts`); the channels of a
    token layer are its embedding dimensions over the patch grid.

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is left exactly as it was.
    layer : str
        Name of the layer whose channels are visualised.
    channels : sequence of int or None, default None
        Channel indices; None: every channel.
    size : int or tuple of (int, int), default 128
        (H, W) of the images, each side at least 8 pixels.
    in_channels : int or None, default None
        The model's input channels; None: those of its first ``Conv2d``.
    steps : int, default 256
        Adam steps per batch.
    lr : float, default 0.05
        Adam learning rate.
    batch_size : int, default 32
        Channels optimised together.
    decorrelate : bool or torch.Tensor, default True
        Colour decorrelation: True, False or a 3 x 3 matrix.
    jitter : int, default 4
        Largest random shift in pixels.
    scales : sequence of float, default (1.0, 0.975, 1.025, 0.95, 1.05)
        Zoom factors drawn from at each step.
    angles : sequence of float, default -5..5
        Rotation angles in degrees drawn from at each step.
    tv : float, default 0.05
        Weight of the total variation penalty; 0 turns it off.
    blur_every : int, default 8
        Steps between blurs; 0 turns blurring off.
    blur_sigma : float, default 0.5
        Standard deviation of the blur in pixels.
    normalise : callable or None, default None
        Differentiable transform of the [0, 1] images before the model.
    seed : int, default 0
        Seed of the starts and the random transforms.
    objective : {"mean", "max", "sum"}, default "mean"
        The spatial reduction maximised.
    layouts : dict or None, default None
        ``{layer: layout}`` for layers whose layout is not detected.
    progress : callable or None, default None
        ``progress(done, total)`` every few steps.
    cancel : threading.Event, callable or None, default None
        Checked every step.

    Returns
    -------
    FeatureVis
        The images (on the CPU), the channels, the objectives reached, the history and the settings.

    Raises
    ------
    TypeError, ValueError
        For invalid settings, channels, colour matrix or layer.
    xai_widgets.core.tasks.Cancelled
        When ``cancel`` is set.
    """
    size = _size(size)
    check_objective(objective)
    _check_settings(steps, lr, batch_size, jitter, scales, angles, tv, blur_every, blur_sigma, normalise, seed)
    in_channels = _in_channels(model, in_channels)
    colour = _colour(decorrelate, in_channels)
    prep = normalise if normalise is not None else (lambda x: x)
    dev, dtype = model_device(model), model_dtype(model)

    # One plain forward names the layer's channel count, and raises capture's errors for an
    # unknown layer or one that does not run.
    grey = torch.full((1, in_channels, *size), 0.5, device=dev)
    n_channels = capture_maps(model, prep(grey).to(dtype), [layer], layouts=layouts)[layer].maps.shape[1]
    channels = _channel_list(channels, n_channels, layer)

    fourier = _Fourier(size, colour, dev)
    views = _RandomViews(size, jitter, scales, angles, dev)
    blur = _gaussian_response(size, blur_sigma, dev)[..., None] if blur_every else None
    gen = torch.Generator(device=dev).manual_seed(seed)  # draws the transforms
    batches = [channels[i:i + batch_size] for i in range(0, len(channels), batch_size)]
    total = steps * len(batches)
    history = torch.empty(steps, len(channels), device=dev)
    images, reached = [], []

    def model_objective(x, idx):
        return _channel_objective(layer_output(model, prep(x).to(dtype), layer, layouts).maps, idx, objective)

    done = 0
    with preserved_model(model, eval_mode=True), torch.enable_grad():
        for b, batch in enumerate(batches):
            idx = torch.tensor(batch, device=dev)
            coeffs = _initial_coeffs(batch, (in_channels, size[0], size[1] // 2 + 1, 2), seed, dev)
            opt = torch.optim.Adam([coeffs], lr=lr)
            cols = slice(b * batch_size, b * batch_size + len(batch))
            for step in range(steps):
                check(cancel)
                x = fourier.image(coeffs)
                obj = model_objective(views(x, gen), idx)
                loss = tv * _total_variation(x).sum() - obj.sum()
                (coeffs.grad,) = torch.autograd.grad(loss, [coeffs])
                opt.step()
                if blur is not None and (step + 1) % blur_every == 0:
                    with torch.no_grad():
                        coeffs.mul_(blur)
                history[step, cols] = obj.detach()
                done += 1
                if done % _REPORT_EVERY == 0 or step == steps - 1:
                    report(progress, done, total)
            with torch.no_grad():
                x = fourier.image(coeffs)
                reached.append(model_objective(x, idx))
                images.append(x)

    params = {
        "layer": layer, "size": list(size), "in_channels": in_channels, "steps": steps, "lr": lr,
        "batch_size": batch_size, "optimiser": "Adam", "init_std": _INIT_STD,
        "spectrum_decay": _SPECTRUM_DECAY,
        "colour": None if colour is None else colour.tolist(),
        "jitter": jitter, "scales": [float(s) for s in scales], "angles": [float(a) for a in angles],
        "padding": "reflection", "tv": tv, "blur_every": blur_every, "blur_sigma": blur_sigma,
        "normalise": None if normalise is None else getattr(normalise, "__name__", repr(normalise)),
        "seed": seed, "objective": objective, "device": str(dev),
    }
    return FeatureVis(
        images=torch.cat(images).float().cpu(),
        channels=channels,
        objective=torch.cat(reached).float().cpu(),
        history=history.cpu(),
        params=params,
    )


# ------------------------------------------------------------------ input checks


def _size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (operator.index(v) for v in size)
    except (TypeError, ValueError):
        raise TypeError(f"size must be an int or (height, width) of ints, got {size!r}") from None
    if min(h, w) < _MIN_SIDE:
        raise ValueError(f"size {(h, w)} is too small: each side must be at least {_MIN_SIDE} pixels")
    check_input_size(torch.empty(0, 0, h, w), "visualise_channels", "size")
    return h, w


def _check_settings(steps, lr, batch_size, jitter, scales, angles, tv, blur_every, blur_sigma, normalise, seed):
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    for name, value in (("jitter", jitter), ("blur_every", blur_every)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0 (0 turns it off), got {value!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    for name, value in (("tv", tv), ("blur_sigma", blur_sigma)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if len(scales) == 0 or not all(math.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"scales must be a non-empty sequence of positive factors, got {scales!r}")
    if len(angles) == 0 or not all(math.isfinite(a) for a in angles):
        raise ValueError(f"angles must be a non-empty sequence of degrees, got {angles!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if normalise is not None and not callable(normalise):
        raise TypeError(f"normalise must be a callable tensor -> tensor or None, got {type(normalise).__name__}")


def _in_channels(model: nn.Module, in_channels: int | None) -> int:
    if in_channels is None:
        in_channels = input_channels(model)
        if in_channels is None:
            raise ValueError("the model has no Conv2d to read its input channels from; pass in_channels=")
    if not isinstance(in_channels, (int, np.integer)) or isinstance(in_channels, bool) or in_channels < 1:
        raise ValueError(f"in_channels must be an integer >= 1, got {in_channels!r}")
    return int(in_channels)


def _colour(decorrelate, in_channels: int) -> torch.Tensor | None:
    """The colour matrix scaled to spectral norm 1 (the strongest colour axis has unit gain), or None."""
    if isinstance(decorrelate, bool):
        if not decorrelate or in_channels != 3:
            return None
        matrix = PHOTO_COLOUR_SQRT
    else:
        try:
            matrix = torch.as_tensor(decorrelate, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"decorrelate must be True, False or a 3 x 3 matrix, got {decorrelate!r}") from None
        if in_channels != 3:
            raise ValueError(f"a colour matrix needs an RGB model; this one takes {in_channels} input channels")
        if matrix.shape != (3, 3) or not torch.isfinite(matrix).all():
            raise ValueError(
                f"decorrelate must be True, False or a finite 3 x 3 matrix, got shape {tuple(matrix.shape)}"
            )
    norm = torch.linalg.matrix_norm(matrix.double(), ord=2)
    if norm == 0:
        raise ValueError("the colour matrix is zero; pass the square root of a colour covariance")
    return (matrix.double() / norm).float()


def _channel_list(channels, n_channels: int, layer: str) -> list[int]:
    if channels is None:
        return list(range(n_channels))
    try:
        out = [operator.index(c) for c in channels]
    except TypeError:
        raise TypeError(f"channels must be a sequence of ints or None, got {channels!r}") from None
    if not out:
        raise ValueError("channels is empty; pass channel indices or None for every channel")
    bad = [c for c in out if not 0 <= c < n_channels]
    if bad:
        raise ValueError(
            f"channel {bad[0]} is out of range: layer {layer!r} has {n_channels} channels (0..{n_channels - 1})"
        )
    return out
