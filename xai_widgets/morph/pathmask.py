"""Path-Mask attribution: one blurred pixel mask that explains a transformation path.

Source: the thesis on path-mask attribution ("the source thesis", see
:mod:`xai_widgets.morph.latent`), after the
"meaningful perturbation" masks of Fong and Vedaldi ("Interpretable Explanations of Black
Boxes by Meaningful Perturbation", ICCV 2017), with the path's own on-manifold step changes
in place of their blur/noise perturbation.

Notation: s below is the self class, the ``self_class`` argument of :func:`path_mask` and
:func:`step_gains`.

Given frames x_1 (the morphed "other" image) ... x_n (self) and the self class s, the mask
transformation of step i applies the step's change only where the mask is on,
m(x_i, x_{i+1}) = (1 - m) * x_i + m * x_{i+1}, and the mask maximises the summed gain in
the softmax probability of s (the source thesis writes f_o, but means the self label)

    J(m) = sum_{i<n} f_s(m(x_i, x_{i+1})) - f_s(x_i)

minus an L1 penalty with weight ``l1`` (1 in the source thesis) rescaled by the running loss
scale of :class:`~xai_widgets.morph.semantic.LossScale`. A mask of ones gives
J = f_s(x_n) - f_s(x_1) (the sum telescopes), a mask of zeros J = 0, so
J / (f_s(x_n) - f_s(x_1)) is the fraction of the path's gain the mask explains. The mask is
m = sigmoid(G * theta) with G a Gaussian blur (the source thesis's smoothing "between the
image variable and the optimisation"; sigma 1 px, 5 x 5 by default, our choice) and
theta = 0 at the start (m = 0.5); ``init="clamp"`` gives Fong's m = clamp(G * theta, 0, 1)
from theta = 0.5. Adam, lr 1e-3, 3,000 iterations (as in the source thesis). One H x W mask
is shared by all channels (our choice for colour images).

All n - 1 steps go through the classifier as one batch per iteration; ``batch_steps=False``
(or an int) runs the same algorithm one step (or that many) at a time, accumulating dJ/dm.
Model hygiene as in :mod:`xai_widgets.morph.latent` (gradients via ``torch.autograd.grad``
with respect to the mask only).
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..core.capture import preserved_model, model_device
from ..core.tasks import check, report
from .latent import Preprocess, class_vector, image_batch, classifier_logits
from .semantic import LossScale

__all__ = ["PathMaskResult", "path_mask", "step_gains", "blur_mask"]

_INITS = ("sigmoid", "clamp")
_REPORT_EVERY = 10


@dataclass
class PathMaskResult:
    """The learned mask and what it explains, CPU tensors.

    ``mask`` (H x W, in [0, 1]); ``gains`` (n - 1): g_i = f_s(m(x_i, x_{i+1})) - f_s(x_i) with
    the final mask; ``cumulative`` (n - 1): running sum of the gains; ``base`` (n): f_s(x_i)
    of the frames; ``J``: sum of the gains; ``total_gain``: f_s(x_n) - f_s(x_1); ``fraction``:
    J / total_gain (NaN when the path gains nothing); ``signed`` (C x H x W): m * (x_n - x_1)
    = sum_i m * (x_{i+1} - x_i), positive where intensity must rise from other to self (the
    source thesis's red), negative where it must fall (blue); per iteration,
    before its Adam step: ``loss`` (-J + l1 * factor * ||m||_1), ``objective`` (J),
    ``l1_norm`` (||m||_1) and ``scale`` (the normalisation factor).

    Attributes
    ----------
    mask : torch.Tensor
        H x W mask in [0, 1].
    gains : torch.Tensor
        n - 1 per-step gains g_i.
    cumulative : torch.Tensor
        n - 1 running sums of the gains.
    base : torch.Tensor
        n values f_s(x_i).
    J : float
        Sum of the gains.
    total_gain : float
        f_s(x_n) - f_s(x_1).
    fraction : float
        J / total_gain (NaN when the path gains nothing).
    signed : torch.Tensor
        C x H x W signed mask m * (x_n - x_1).
    loss, objective, l1_norm, scale : torch.Tensor
        Per-iteration loss, J, ||m||_1 and normalisation factor.
    settings : dict
        The settings used.
    """

    mask: torch.Tensor
    gains: torch.Tensor
    cumulative: torch.Tensor
    base: torch.Tensor
    J: float
    total_gain: float
    fraction: float
    signed: torch.Tensor
    loss: torch.Tensor
    objective: torch.Tensor
    l1_norm: torch.Tensor
    scale: torch.Tensor
    settings: dict = field(default_factory=dict)


def blur_mask(x: torch.Tensor, sigma: float, size: int) -> torch.Tensor:
    """The path mask's smoothing: a separable size x size Gaussian kernel over N x 1 x H x W maps.

    Reflected borders (identity for sigma 0). Unlike :func:`xai_widgets.core.blur.gaussian_blur`
    (images, kernel to 4 sigma, normalised at the borders) the kernel size is one of the
    path mask's settings.

    Parameters
    ----------
    x : torch.Tensor
        N x 1 x H x W maps.
    sigma : float
        Gaussian sigma in pixels (0: no blur).
    size : int
        Kernel size in pixels (odd; 1: no blur).

    Returns
    -------
    torch.Tensor
        N x 1 x H x W blurred maps (``x`` itself for sigma 0 or size 1).
    """
    if sigma == 0 or size == 1:
        return x
    r = torch.arange(size, dtype=x.dtype, device=x.device) - (size - 1) / 2
    k = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    p = size // 2
    x = F.pad(x, (p, p, p, p), mode="reflect")
    return F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))


def _mask(theta: torch.Tensor, init: str, sigma: float, size: int) -> torch.Tensor:
    g = blur_mask(theta, sigma, size)
    return torch.sigmoid(g) if init == "sigmoid" else g.clamp(0, 1)


def _f_s(classifier: nn.Module, x: torch.Tensor, s: int, preprocess: Preprocess) -> torch.Tensor:
    """The softmax probability of the self class (full softmax over all classes, our choice)."""
    return classifier_logits(classifier, x, preprocess).softmax(1)[:, s]


def _base(classifier: nn.Module, x: torch.Tensor, s: int, preprocess: Preprocess) -> torch.Tensor:
    """f_s of every frame, checking that ``s`` (the self class) is one of the classifier's classes."""
    probs = classifier_logits(classifier, x, preprocess).softmax(1)
    class_vector(s, 1, probs.shape[1], "self_class")
    return probs[:, s]


def _mixed(frames: torch.Tensor, m: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """The mask transformations m(x_i, x_{i+1}) of steps a..b-1."""
    return (1 - m) * frames[a:b] + m * frames[a + 1:b + 1]


def _mask_tensor(mask, frames: torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(mask, dtype=frames.dtype, device=frames.device)
    try:
        torch.broadcast_shapes(m.shape, frames.shape[1:])
    except RuntimeError:
        raise ValueError(f"mask of shape {tuple(m.shape)} does not broadcast to the frames' "
                         f"C x H x W {tuple(frames.shape[1:])}; pass H x W, C x H x W or a number") from None
    return m


def _frames_and_class(classifier, frames, self_class) -> tuple[torch.Tensor, int]:
    if not isinstance(classifier, nn.Module):
        raise TypeError(f"classifier must be a torch.nn.Module, got {type(classifier).__name__}")
    x = image_batch(frames, "frames")
    if len(x) < 2:
        raise ValueError(f"a path needs at least 2 frames, got {len(x)}")
    if isinstance(self_class, bool) or not hasattr(self_class, "__index__"):
        raise TypeError(f"self_class must be the self class as an int, got {type(self_class).__name__}")
    return x.to(model_device(classifier)), operator.index(self_class)


def step_gains(classifier: nn.Module, frames: torch.Tensor, self_class: int, mask, *,
               preprocess: Preprocess = None) -> torch.Tensor:
    """Per-step gains g_i = f_s(m(x_i, x_{i+1})) - f_s(x_i) of any mask (n - 1 values, CPU).

    ``frames``: n x C x H x W, x_1 = other ... x_n = self; ``mask``: H x W, C x H x W or a
    number. A mask of ones sums to f_s(x_n) - f_s(x_1) (telescoping), zeros to 0.

    Parameters
    ----------
    classifier : torch.nn.Module
        The classifier (logits); it is left as it was.
    frames : torch.Tensor
        The decoded path, n x C x H x W (n >= 2), x_1 = other ... x_n = self.
    self_class : int
        The self class (s in the thesis), whose softmax probability f_s is followed.
    mask : float or torch.Tensor
        H x W, C x H x W or a number.
    preprocess : callable, optional
        Applied to images before the classifier; None (default) for none.

    Returns
    -------
    torch.Tensor
        n - 1 gains on the CPU.

    Raises
    ------
    TypeError
        If ``classifier`` is not a module or ``self_class`` not an int.
    ValueError
        If there are fewer than 2 frames, the mask does not broadcast, or ``self_class`` is out of range.
    """
    x, s = _frames_and_class(classifier, frames, self_class)  # s: the self class as an int
    m = _mask_tensor(mask, x)
    with preserved_model(classifier, eval_mode=True), torch.no_grad():
        base = _base(classifier, x, s, preprocess)
        gains = _f_s(classifier, _mixed(x, m, 0, len(x) - 1), s, preprocess) - base[:-1]
    return gains.cpu()


def path_mask(classifier: nn.Module, frames: torch.Tensor, self_class: int, *, iterations: int = 3000, lr: float = 1e-3,
              l1: float = 1.0, blur_sigma: float = 1.0, blur_size: int = 5, init: str = "sigmoid",
              batch_steps: bool | int = True, scale_decay: float | None = None, preprocess: Preprocess = None,
              progress=None, cancel=None) -> PathMaskResult:
    """Learn the path mask (see the module doc).

    ``frames``: the decoded path, n x C x H x W, x_1 = other ... x_n = self (held fixed);
    ``self_class``: the self class s. ``batch_steps``: True puts all n - 1 steps in one batch,
    False one step at a time, an int that many per batch (same algorithm; gradients accumulate).
    ``progress(done, iterations)`` every few iterations; ``cancel`` checked every iteration.

    Parameters
    ----------
    classifier : torch.nn.Module
        The classifier (logits); it is left as it was.
    frames : torch.Tensor
        The decoded path, n x C x H x W (n >= 2), x_1 = other ... x_n = self.
    self_class : int
        The self class (s in the thesis), whose softmax probability f_s is followed.
    iterations : int, optional
        Adam iterations (>= 0). Default 3000.
    lr : float, optional
        Adam learning rate (> 0). Default 1e-3.
    l1 : float, optional
        Weight of the L1 term (>= 0). Default 1.0.
    blur_sigma : float, optional
        Sigma of the mask's smoothing, :func:`blur_mask` (>= 0; 0: no blur). Default 1.0.
    blur_size : int, optional
        Kernel size of the smoothing (odd, >= 1). Default 5.
    init : str, optional
        "sigmoid" (default: mask = sigmoid(blur(theta)) from theta = 0) or "clamp"
        (clamp(blur(theta), 0, 1) from theta = 0.5).
    batch_steps : bool or int, optional
        True (default), False or a positive int of steps per batch.
    scale_decay : float, optional
        The :class:`~xai_widgets.morph.semantic.LossScale` decay; None (default) for the cumulative mean.
    preprocess : callable, optional
        Applied to images before the classifier; None (default) for none.
    progress : callable, optional
        ``progress(done, iterations)``; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        Checked every iteration; when set, raises ``Cancelled``.

    Returns
    -------
    PathMaskResult
        The mask, gains and per-iteration history (CPU tensors).

    Raises
    ------
    ValueError
        If a setting is out of range or the frames are invalid.
    TypeError
        If ``classifier`` is not a module or ``self_class`` not an int.
    """
    x, s = _frames_and_class(classifier, frames, self_class)  # s: the self class as an int
    _check_mask_settings(iterations, lr, l1, blur_sigma, blur_size, init, x.shape[-2:])
    steps = len(x) - 1
    chunk = steps if batch_steps is True else 1 if batch_steps is False else batch_steps
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"batch_steps must be True, False or a positive int, got {batch_steps!r}")
    theta = torch.full((1, 1, *x.shape[-2:]), 0.0 if init == "sigmoid" else 0.5, device=x.device,
                       dtype=x.dtype, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    scale = LossScale(1, decay=scale_decay)  # on the CPU: J and ||m||_1 are read back each iteration anyway
    history = torch.zeros(4, iterations, dtype=torch.float64)  # loss, J, ||m||_1, scale

    with preserved_model(classifier, eval_mode=True):
        with torch.no_grad():
            base = _base(classifier, x, s, preprocess)
        with torch.enable_grad():
            for it in range(iterations):
                check(cancel)
                m = _mask(theta, init, blur_sigma, blur_size)
                leaf = m.detach().requires_grad_(True)
                dJ, J = torch.zeros_like(leaf), 0.0
                for a in range(0, steps, chunk):
                    b = min(a + chunk, steps)
                    gain = (_f_s(classifier, _mixed(x, leaf, a, b), s, preprocess) - base[a:b]).sum()
                    dJ += torch.autograd.grad(gain, [leaf])[0]
                    J += float(gain.detach())
                norm = float(leaf.detach().abs().sum())
                w = float(scale.update(torch.tensor([-J]), torch.tensor([norm]))[0])
                # chain rule through the blur: dL/dtheta = (dm/dtheta)^T (-dJ/dm + l1 * w * sign(m))
                (theta.grad,) = torch.autograd.grad(m, [theta], -dJ + l1 * w * leaf.detach().sign())
                opt.step()
                history[:, it] = torch.tensor([-J + l1 * w * norm, J, norm, w], dtype=torch.float64)
                if (it + 1) % _REPORT_EVERY == 0 or it + 1 == iterations:
                    report(progress, it + 1, iterations)
        with torch.no_grad():
            m = _mask(theta, init, blur_sigma, blur_size)[0]
            gains = _f_s(classifier, _mixed(x, m, 0, steps), s, preprocess) - base[:-1]

    total = float(base[-1] - base[0])
    J = float(gains.sum())
    return PathMaskResult(
        mask=m[0].detach().cpu(), gains=gains.cpu(), cumulative=gains.cumsum(0).cpu(), base=base.cpu(), J=J,
        total_gain=total, fraction=J / total if total != 0 else math.nan,
        signed=(m * (x[-1] - x[0])).detach().cpu(),
        loss=history[0].float(), objective=history[1].float(), l1_norm=history[2].float(), scale=history[3].float(),
        settings={"iterations": iterations, "lr": lr, "l1": l1, "blur_sigma": blur_sigma, "blur_size": blur_size,
                  "init": init, "batch_steps": chunk, "scale_decay": scale_decay, "optimiser": "Adam",
                  "f_s": "full softmax"},
    )


def _check_mask_settings(iterations, lr, l1, blur_sigma, blur_size, init, hw) -> None:
    if not (isinstance(iterations, int) and iterations >= 0):
        raise ValueError(f"iterations must be an int >= 0, got {iterations!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (isinstance(l1, (int, float)) and l1 >= 0):
        raise ValueError(f"l1 must be a number >= 0, got {l1!r}")
    if not (isinstance(blur_sigma, (int, float)) and blur_sigma >= 0):
        raise ValueError(f"blur_sigma must be a number >= 0 (0: no blur), got {blur_sigma!r}")
    if not (isinstance(blur_size, int) and blur_size >= 1 and blur_size % 2 == 1 and blur_size // 2 < min(hw)):
        raise ValueError(f"blur_size must be an odd int >= 1 smaller than twice the image side, got {blur_size!r}")
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS} (mask = sigmoid(blur(theta)) from theta = 0, or "
                         f"clamp(blur(theta), 0, 1) from theta = 0.5), got {init!r}")
