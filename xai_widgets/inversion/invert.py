"""Pre-images: images whose representation at a layer matches a target's.

Mahendran and Vedaldi (CVPR 2015; IJCV 2016) reconstruct what a layer keeps of an image by
gradient descent from noise on E(x) = C * loss + R_alpha + R_TV (:mod:`.objective`). The network
is not invertible, so different starts give different pre-images: together they show what the
layer keeps (what all of them share) and what it throws away (what varies). Norton ("Deep
Introspection", 2017, chapter 4) uses the same machinery to synthesise one feature of an image:
keep the feature's bounding box, put noise everywhere else (:func:`isolate`), and invert the
penultimate layer.

Defaults are the published ones: alpha = 6, beta = 2, V = B / 6.5 (Norton 2018, Fig. 4.6), the
AdaGrad-momentum descent of Mahendran and Vedaldi (2016, section 3.3) with m = 0.9 and
eta0 = (B^2 / alpha) / 100, 400 iterations, a uniform-noise start. That descent is not
scale-free (a step is bounded in absolute units), and the sources ran it on 8-bit images, so it
runs here in units where the target's range spans 255. The sources leave B (the
typical pixel norm) open, asking only that R_alpha be about 1 for natural images; here B is the
alpha-mean of the target's colour norms measured from its mean colour,
(mean_p ||x_p - c||^alpha)^(1/alpha), which makes R_alpha of the target exactly 1. (The plain mean
norm would not: one bright object in a dull image puts R_alpha in the thousands, and the
prior then erases the object.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from ..core.capture import capture_maps, layer_output, model_device, model_dtype, preserved_model
from ..core.images import check_model_input
from ..core.tasks import CancelFlag, Progress, check, report
from .objective import alpha_norm, alpha_norm_grad, representation_loss, total_variation, total_variation_grad

__all__ = ["Inversion", "invert", "isolate", "objective", "region_mask", "snapshot_steps"]


@dataclass
class Inversion:
    """Pre-images of one target at one layer.

    Attributes
    ----------
    images : torch.Tensor
        S x C x H x W pre-images (CPU, float32), one per start.
    loss : torch.Tensor
        S final representation losses ||Phi(x) - Phi0||^2 / ||Phi0||^2.
    history : dict of str to torch.Tensor
        ``"loss"``, ``"alpha"``, ``"tv"`` and ``"objective"``: iterations x S, each term's value
        before each step (the objective includes the weight C).
    snapshots : torch.Tensor
        K x S x C x H x W images at ``snapshot_steps`` (the optimisation, for replay).
    snapshot_steps : list of int
        The iteration after which each snapshot was taken (0: the start).
    layer : str
        The layer inverted.
    settings : dict
        Every setting used, the derived ones (B, V, eta0, the centre) included.
    """

    images: torch.Tensor
    loss: torch.Tensor
    history: dict
    snapshots: torch.Tensor
    snapshot_steps: list
    layer: str
    settings: dict = field(default_factory=dict)


def snapshot_steps(iterations: int, snapshots: int) -> list[int]:
    """The iterations after which :func:`invert` keeps a snapshot: ``snapshots`` evenly spaced
    ones and the start (step 0), rounded to whole steps, without repeats.

    Parameters
    ----------
    iterations : int
        Steps of the descent.
    snapshots : int
        Snapshots asked for (0: only the start).

    Returns
    -------
    list of int
        Increasing steps from 0 to ``iterations`` (just ``[0]`` when ``snapshots`` is 0).
    """
    return sorted({round(i * iterations / snapshots) for i in range(snapshots + 1)}) if snapshots else [0]


def region_mask(box: Sequence[int], image_hw: Sequence[int], grid_hw: Sequence[int]) -> torch.Tensor:
    """The cells of a layer's grid whose centres fall in a box of the input image.

    Parameters
    ----------
    box : sequence of 4 int
        (top, left, bottom, right) in input pixels, bottom and right exclusive.
    image_hw : sequence of 2 int
        The input's height and width.
    grid_hw : sequence of 2 int
        The layer's height and width.

    Returns
    -------
    torch.Tensor
        1 x 1 x h x w float mask (1 inside); at least the cell holding the box's centre.

    Raises
    ------
    ValueError
        If the box is not inside the image or is empty.
    """
    top, left, bottom, right = (int(v) for v in box)
    (H, W), (h, w) = image_hw, grid_hw
    if not (0 <= top < bottom <= H and 0 <= left < right <= W):
        raise ValueError(f"box must be (top, left, bottom, right) with 0 <= top < bottom <= {H} and "
                         f"0 <= left < right <= {W}, got {tuple(box)}")
    ys = (torch.arange(h) + 0.5) * H / h
    xs = (torch.arange(w) + 0.5) * W / w
    inside = ((ys >= top) & (ys < bottom))[:, None] & ((xs >= left) & (xs < right))[None, :]
    if not inside.any():  # a box smaller than one cell: the cell holding its centre
        inside[min(int((top + bottom) / 2 * h / H), h - 1), min(int((left + right) / 2 * w / W), w - 1)] = True
    return inside.float()[None, None]


def isolate(image: torch.Tensor, box: Sequence[int], *, seed: int = 0, low: float | None = None,
            high: float | None = None) -> torch.Tensor:
    """Norton's noise method (Deep Introspection, 2018, section 4.3): the image inside a box, uniform noise outside.

    Parameters
    ----------
    image : torch.Tensor
        C x H x W image.
    box : sequence of 4 int
        (top, left, bottom, right) in pixels, bottom and right exclusive: the feature's bounding box.
    seed : int, default 0
        Seed of the noise.
    low, high : float or None
        Range of the noise (default: the image's minimum and maximum).

    Returns
    -------
    torch.Tensor
        C x H x W image, a new tensor.

    Raises
    ------
    ValueError
        If ``image`` is not C x H x W or the box is not inside it.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(f"image must be a C x H x W tensor, got {getattr(image, 'shape', type(image).__name__)}")
    top, left, bottom, right = (int(v) for v in box)
    region_mask(box, image.shape[1:], image.shape[1:])  # checks the box
    lo = float(image.min()) if low is None else float(low)
    hi = float(image.max()) if high is None else float(high)
    gen = torch.Generator().manual_seed(int(seed))
    out = (torch.rand(image.shape, generator=gen) * (hi - lo) + lo).to(image)
    out[:, top:bottom, left:right] = image[:, top:bottom, left:right]
    return out


def _check(value, name: str, low: float, *, integer: bool = False, above: bool = True):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or (value <= low if above else value < low):
        kind = "an int" if integer else "a finite number"
        raise ValueError(f"{name} must be {kind} {'>' if above else '>='} {low}, got {value!r}")
    return value


def _target(model, image, layer, layouts) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(image, torch.Tensor) and image.dim() == 4 and len(image) == 0:
        raise ValueError("target is empty (no images); give one C x H x W image")
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4) or (image.dim() == 4 and len(image) != 1):
        raise ValueError("target must be one C x H x W image (or a 1 x C x H x W batch), got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    x = image[None] if image.dim() == 3 else image
    check_model_input(x, model, "invert", "target")
    x = x.detach().to(device=model_device(model), dtype=model_dtype(model))
    return x, capture_maps(model, x, [layer], layouts=layouts)[layer].maps.detach()


def objective(model: nn.Module, layer: str, x: torch.Tensor, target: torch.Tensor, *, weight: float, alpha: float,
              beta: float, bound: float, tv_scale: float, center: torch.Tensor, mask: torch.Tensor | None = None,
              layouts: Mapping | None = None) -> tuple[dict, torch.Tensor]:
    """E(x) = C loss + R_alpha + R_TV for each image of a batch, and its gradient.

    The loss's gradient comes from autograd through the network; the priors' from their
    closed forms (:mod:`.objective`). Call inside ``preserved_model``.

    Parameters
    ----------
    model, layer, layouts
        The network and the layer inverted.
    x : torch.Tensor
        S x C x H x W images (on the model's device and dtype).
    target : torch.Tensor
        The target representation Phi0.
    weight, alpha, beta, bound, tv_scale, center, mask
        C, alpha, beta, B, V, the prior's centre colour and the region mask, as :func:`invert`.

    Returns
    -------
    dict of str to torch.Tensor, torch.Tensor
        ``"loss"``, ``"alpha"``, ``"tv"`` and ``"objective"`` (S values each, detached), and
        dE/dx (each image's E depends on that image only).
    """
    with torch.enable_grad():
        xs = x.detach().requires_grad_(True)
        loss = representation_loss(layer_output(model, xs, layer, layouts).maps, target, mask)
        (g,) = torch.autograd.grad(loss.sum() * weight, [xs])
    with torch.no_grad():
        ra, rt = alpha_norm(xs, alpha, bound, center), total_variation(xs, beta, tv_scale)
        values = {"loss": loss.detach(), "alpha": ra, "tv": rt, "objective": weight * loss.detach() + ra + rt}
        return values, g + alpha_norm_grad(xs, alpha, bound, center) + total_variation_grad(xs, beta, tv_scale)


def _descend(x, gradient, steps, eta0, momentum, unit, on_step):
    """AdaGrad with momentum (Mahendran and Vedaldi 2016, section 3.3):
    G <- m G + g^2, eta <- 1 / (1/eta0 + sqrt(G)), mu <- m mu - eta g, x <- x + mu,
    in coordinates z = x * unit (``eta0`` is given in those coordinates). The update is not
    scale-free (a step is at most about 1 / (1 - m) in z units), so the scale matters."""
    g_sq, velocity = torch.zeros_like(x), torch.zeros_like(x)
    for step in range(steps):
        g = gradient(x, step) / unit
        g_sq.mul_(momentum).add_(g * g)
        velocity.mul_(momentum).sub_(g / (1 / eta0 + g_sq.sqrt()))
        x = x + velocity / unit
        on_step(step + 1, x)
    return x


def invert(model: nn.Module, layer: str, target: torch.Tensor, *, n: int = 4, weight: float = 100.0,
           box: Sequence[int] | None = None, alpha: float = 6.0, beta: float = 2.0, bound: float | None = None,
           tv_scale: float | None = None, iterations: int = 400, momentum: float = 0.9, eta0: float | None = None,
           noise: float = 1.0, snapshots: int = 20, seed: int = 0, layouts: Mapping | None = None,
           progress: Progress = None, cancel: CancelFlag = None) -> Inversion:
    """Pre-images of ``target``'s representation at ``layer`` (Mahendran and Vedaldi 2015, 2016).

    Minimises E(x) = C ||Phi(x) - Phi0||^2 / ||Phi0||^2 + R_alpha(x) + R_TV(x) over ``n`` images at
    once (one batch on the model's device), each from its own uniform-noise start. The optimiser
    scales E by H x W, the per-pixel scale under which eta0's derivation holds (one step of
    size (B^2 / alpha) zeroes a pixel of norm B under R_alpha).

    Parameters
    ----------
    model : torch.nn.Module
        The network (left exactly as it was).
    layer : str
        The layer whose representation Phi is inverted (see :func:`xai_widgets.layers`).
    target : torch.Tensor
        The image whose representation Phi0 is matched: C x H x W or 1 x C x H x W, as the model
        takes it.
    n : int, default 4
        Pre-images, each from its own start (seeds ``seed``, ``seed + 1``, ...).
    weight : float, default 100
        C, the weight of the representation loss. The sources tune it per network and layer
        (about 1 for deep layers in Mahendran and Vedaldi; 5-10 on Norton's small network). On
        the batch-normalised demo network, C of 1-10 lets the priors win (the loss stays near
        1 at every layer) and 100 matches every layer; larger values give noisier images.
    box : sequence of 4 int or None, default None
        (top, left, bottom, right) in input pixels: match only the layer's cells whose centres
        fall in the box (a region's representation). None matches the whole representation.
    alpha : float, default 6
        Exponent of the alpha-norm prior.
    beta : float, default 2
        Exponent of the total-variation prior (>= 1).
    bound : float or None, default None
        B, the typical pixel norm: by default the alpha-mean of the target's colour norms from its
        mean colour, so that R_alpha(target) = 1.
    tv_scale : float or None, default None
        V, the typical neighbour difference; default B / 6.5.
    iterations : int, default 400
        Steps of the descent.
    momentum : float, default 0.9
        m, both the momentum and the decay of the squared-gradient sum.
    eta0 : float or None, default None
        The base step; default (B^2 / alpha) / 100.
    noise : float, default 1.0
        Half-width of the uniform start around the target's mean colour, as a fraction of B per
        channel (B / sqrt(C)). Norton (2018) found the start's size made no difference; on the
        demo network a start of 0.1 left the last layer at a flat point (no descent at all).
    snapshots : int, default 20
        Snapshots of the images kept along the descent (plus the start) for replay.
    seed : int, default 0
        Seed of the first start.
    layouts : mapping or None, default None
        ``{layer: layout}`` for a layer whose layout is not detected.
    progress : callable or None, default None
        ``progress(done, total)`` every few iterations.
    cancel : threading.Event, callable or None, default None
        Checked every iteration.

    Returns
    -------
    Inversion
        The pre-images, their losses, the history of every term and snapshots for replay.

    Raises
    ------
    ValueError
        For a target that is not one image, an unknown layer, or invalid settings.
    xai_widgets.core.tasks.Cancelled
        When ``cancel`` is set.
    """
    _check(n, "n", 0, integer=True)
    _check(iterations, "iterations", 0, integer=True)
    _check(snapshots, "snapshots", 0, integer=True, above=False)
    for value, name in ((weight, "weight"), (alpha, "alpha"), (noise, "noise")):
        _check(value, name, 0, above=False)
    _check(beta, "beta", 1, above=False)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    with preserved_model(model, eval_mode=True):
        x0, phi0 = _target(model, target, layer, layouts)
        center = x0.mean((2, 3), keepdim=True)
        norms = (x0 - center).pow(2).sum(1)  # squared colour norms
        B = float(bound) if bound is not None else float(norms.pow(alpha / 2).mean() ** (1 / alpha))
        _check(B, "bound", 0)
        V = float(tv_scale) if tv_scale is not None else B / 6.5
        unit = 255 / max(float(x0.max() - x0.min()), torch.finfo(torch.float32).eps)
        step0 = float(eta0) if eta0 is not None else (unit * B) ** 2 / alpha / 100
        mask = None if box is None else region_mask(box, x0.shape[-2:], phi0.shape[-2:]).to(phi0)
        hw = x0.shape[-2] * x0.shape[-1]  # the optimiser's per-pixel scale (see above)
        starts = [torch.rand(x0.shape[1:], generator=torch.Generator().manual_seed(seed + i)) for i in range(n)]
        x = center + (torch.stack(starts).to(x0) * 2 - 1) * noise * B / math.sqrt(x0.shape[1])
        terms = {k: torch.empty(iterations, n) for k in ("loss", "alpha", "tv", "objective")}
        keep = snapshot_steps(iterations, snapshots)
        frames = [x.detach().float().cpu()] if 0 in keep else []

        def gradient(xs, step):
            check(cancel)
            values, g = objective(model, layer, xs, phi0, weight=weight, alpha=alpha, beta=beta, bound=B,
                                  tv_scale=V, center=center, mask=mask, layouts=layouts)
            for name, v in values.items():
                terms[name][step] = v.float().cpu()
            return g * hw

        def on_step(done, xs):
            if done in keep:
                frames.append(xs.detach().float().cpu())
            if done % 10 == 0 or done == iterations:
                report(progress, done, iterations)

        with torch.no_grad():
            x = _descend(x, gradient, iterations, step0, momentum, unit, on_step)
            final = representation_loss(layer_output(model, x, layer, layouts).maps, phi0, mask)
    settings = {"weight": weight, "alpha": alpha, "beta": beta, "bound": B, "tv_scale": V, "eta0": step0, "unit": unit,
                "momentum": momentum, "iterations": iterations, "noise": noise, "seed": seed, "n": n,
                "box": None if box is None else tuple(int(v) for v in box),
                "center": center.flatten().float().cpu().tolist()}
    return Inversion(x.detach().float().cpu(), final.float().cpu(), terms, torch.stack(frames), keep, layer, settings)
