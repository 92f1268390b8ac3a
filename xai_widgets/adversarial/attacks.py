"""White-box adversarial attacks: FGSM, BIM / PGD and Carlini-Wagner L2, and how to read their results.

* FGSM (Goodfellow, Shlens and Szegedy, ICLR 2015, Eq. 3): one step of size eps along the sign
  of the loss's input gradient, x' = clip(x + eps sign(grad_x L(f(x), y))).
* BIM (Kurakin, Goodfellow and Bengio, ICLR workshop 2017, section 2.2): n such steps, each of
  size eps, clipped to the valid range after each; with ``project=True`` each step is also
  projected back into the eps-ball around x, which is PGD's update (Madry et al., ICLR 2018,
  Eq. 2, here without the random start).
* Carlini-Wagner L2 (Carlini and Wagner, IEEE S&P 2017, section 5.2): minimise
  ||delta||^2 + c phi(x + delta) with phi = max(Z_y - max_{i != y} Z_i, -kappa) (the untargeted
  margin on the logits Z), the box constraint removed by x + delta = (tanh(w) + 1) / 2 scaled
  to the bounds, Adam on w.

The attacks are untargeted: one succeeds on an image when the prediction leaves the true class.
Our own code: attack libraries were compared, and torchattacks pins requests to 2.25 (which
conflicts with JupyterLab's), foolbox brings GitPython and eagerpy for three short algorithms
and its C&W always runs a binary search over c, and the Adversarial Robustness Toolbox is large
and numpy-first.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..core.capture import preserved_model
from ..core.targets import prepare_inputs
from ..core.tasks import CancelFlag, check

__all__ = ["fgsm", "bim", "carlini_wagner", "success", "imperceptibility", "obfuscation_checklist",
           "FGSM_EPSILONS", "BIM_EPSILONS", "CW_SCALES"]

#: Palacio's presets (in 0-255 pixel units; divide by 255 for [0, 1] images).
FGSM_EPSILONS = (0.5, 1, 2, 4, 8, 16)
BIM_EPSILONS = (0.5, 1, 2, 4, 8)
CW_SCALES = (0.5, 1, 2, 4)


def _labels(model: nn.Module, x: torch.Tensor, labels) -> torch.Tensor:
    if labels is None:
        with preserved_model(model, eval_mode=True), torch.no_grad():
            return model(x).argmax(1)
    y = torch.as_tensor(labels, device=x.device).long().flatten()
    if len(y) != len(x):
        raise ValueError(f"labels must give one class per image ({len(x)}), got {len(y)}")
    return y


def _check_bounds(bounds) -> tuple[float, float]:
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")
    return lo, hi


def _check_eps(eps, name: str = "eps") -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (in the input's units), got {eps!r}")
    return float(eps)


def _loss_sign(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sign(d CE(f(x), y) / dx), per image (the sum of the images' losses has each one's gradient)."""
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(leaf), y, reduction="sum"), [leaf])
    return g.sign()


def fgsm(model: nn.Module, inputs: torch.Tensor, labels=None, eps: float = 8 / 255, *,
         bounds: Sequence[float] = (0.0, 1.0)) -> torch.Tensor:
    """The fast gradient sign method (Goodfellow et al. 2015, Eq. 3).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (N x K logits), left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W images.
    labels : None, sequence of int or tensor, optional
        The true classes (None: the model's predictions).
    eps : float, default 8 / 255
        The step, in the input's units.
    bounds : (float, float), default (0, 1)
        The valid input range the result is clipped to.

    Returns
    -------
    torch.Tensor
        The adversarial images, ||x' - x||_inf <= eps, inside ``bounds``.

    Raises
    ------
    ValueError
        For a negative eps, bad bounds or labels.
    """
    eps, (lo, hi) = _check_eps(eps), _check_bounds(bounds)
    x = prepare_inputs(model, inputs)
    y = _labels(model, x, labels)
    with preserved_model(model, eval_mode=True):
        return (x + eps * _loss_sign(model, x, y)).clamp(lo, hi).detach()


def bim(model: nn.Module, inputs: torch.Tensor, labels=None, eps: float = 1 / 255, steps: int = 10, *,
        step: float | None = None, project: bool = False, bounds: Sequence[float] = (0.0, 1.0),
        keep_steps: bool = False, cancel: CancelFlag = None):
    """The basic iterative method (Kurakin et al. 2017), or PGD with ``project=True`` (Madry et al. 2018).

    x_0 = x, x_i = clip(x_{i-1} + a sign(grad L(f(x_{i-1}), y))) with step a (default eps, as in
    Palacio's presets: the change is then at most steps x eps); with ``project`` each x_i is also
    clipped to [x - eps, x + eps], so eps bounds the whole change.

    Parameters
    ----------
    model, inputs, labels, bounds
        As :func:`fgsm`.
    eps : float, default 1 / 255
        The step size when ``step`` is None, and the ball's radius with ``project``.
    steps : int, default 10
        Iterations n.
    step : float or None, default None
        The step size a (None: eps).
    project : bool, default False
        Project onto the eps-ball after each step (PGD).
    keep_steps : bool, default False
        Also return every iterate.
    cancel : threading.Event, callable or None, default None
        Checked before every step (:func:`xai_widgets.core.tasks.check`).

    Returns
    -------
    torch.Tensor, or (torch.Tensor, torch.Tensor)
        The adversarial images; with ``keep_steps``, also the (steps + 1) x N x C x H x W iterates
        (x_0 = x first).

    Raises
    ------
    ValueError
        For bad settings.
    xai_widgets.core.tasks.Cancelled
        When ``cancel`` is set.
    """
    eps, (lo, hi) = _check_eps(eps), _check_bounds(bounds)
    size = eps if step is None else _check_eps(step, "step")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    x = prepare_inputs(model, inputs)
    y = _labels(model, x, labels)
    current, kept = x.detach(), [x.detach()]
    with preserved_model(model, eval_mode=True):
        for _ in range(steps):
            check(cancel)
            current = (current + size * _loss_sign(model, current, y)).clamp(lo, hi)
            if project:
                current = torch.max(torch.min(current, x + eps), x - eps)
            if keep_steps:
                kept.append(current.detach())
    return (current, torch.stack(kept)) if keep_steps else current


def carlini_wagner(model: nn.Module, inputs: torch.Tensor, labels=None, *, c: float = 10.0, kappa: float = 0.0,
                   steps: int = 100, lr: float = 1e-3, bounds: Sequence[float] = (0.0, 1.0),
                   cancel: CancelFlag = None) -> torch.Tensor:
    """Carlini-Wagner L2, untargeted, with a fixed c (Carlini and Wagner 2017, section 5.2; Palacio's presets).

    Parameters
    ----------
    model, inputs, labels, bounds
        As :func:`fgsm`.
    c : float, default 10
        The weight of the margin term.
    kappa : float, default 0
        The confidence: the margin is floored at -kappa.
    steps : int, default 100
        Adam iterations.
    lr : float, default 1e-3
        Adam's learning rate (on the tanh-space variable).
    cancel : threading.Event, callable or None, default None
        Checked before every iteration (:func:`xai_widgets.core.tasks.check`).

    Returns
    -------
    torch.Tensor
        The perturbations delta = x' - x (x + delta inside ``bounds``); the iterate with the
        smallest ||delta|| that succeeds is kept per image, the last one where none does.

    Raises
    ------
    ValueError
        For bad settings.
    xai_widgets.core.tasks.Cancelled
        When ``cancel`` is set.
    """
    lo, hi = _check_bounds(bounds)
    for value, name in ((c, "c"), (kappa, "kappa"), (lr, "lr")):
        _check_eps(value, name)
    x = prepare_inputs(model, inputs)
    y = _labels(model, x, labels)
    half, mid = (hi - lo) / 2, (hi + lo) / 2
    # start at x itself in tanh space (slightly inside the box so atanh stays finite)
    w = torch.atanh(((x - mid) / half).clamp(-1 + 1e-6, 1 - 1e-6)).detach().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    best = torch.zeros_like(x)
    best_norm = torch.full((len(x),), float("inf"), device=x.device)
    rows = torch.arange(len(x), device=x.device)
    with preserved_model(model, eval_mode=True), torch.enable_grad():
        for _ in range(steps):
            check(cancel)
            adv = torch.tanh(w) * half + mid
            z = model(adv)
            other = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf")).amax(1)
            margin = z[rows, y] - other
            dist = (adv - x).flatten(1).pow(2).sum(1)
            loss = (dist + c * margin.clamp_min(-kappa)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                better = (margin < 0) & (dist < best_norm)
                best_norm = torch.where(better, dist, best_norm)
                best[better] = (adv - x)[better].detach()
        with torch.no_grad():
            last = torch.tanh(w) * half + mid - x
    never = torch.isinf(best_norm)
    best[never] = last[never]
    return best.detach()


def success(model: nn.Module, adversarial: torch.Tensor, labels) -> torch.Tensor:
    """Per image, whether the prediction left the true class.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier.
    adversarial : torch.Tensor
        N x C x H x W images.
    labels : sequence of int or tensor
        The true classes.

    Returns
    -------
    torch.Tensor
        N booleans.
    """
    x = prepare_inputs(model, adversarial)
    with preserved_model(model, eval_mode=True), torch.no_grad():
        return model(x).argmax(1) != _labels(model, x, labels)


def imperceptibility(inputs: torch.Tensor, adversarial: torch.Tensor, correct: torch.Tensor) -> float:
    """Palacio's mean relative L2 change over the initially correct images: (1/N) sum ||x - x'||_2 / ||x||_2.

    Parameters
    ----------
    inputs, adversarial : torch.Tensor
        N x ... clean and attacked images.
    correct : torch.Tensor
        N booleans: the images the model classified correctly before the attack (the others are
        adversarial already, with delta = 0, and are left out).

    Returns
    -------
    float
        The mean; NaN when no image was correct.
    """
    keep = correct.bool().to(inputs.device)
    if not keep.any():
        return float("nan")
    a, b = inputs[keep].flatten(1).double(), adversarial[keep].flatten(1).double()
    return float(((a - b).norm(dim=1) / a.norm(dim=1).clamp_min(1e-300)).mean())


def obfuscation_checklist(model: nn.Module, inputs: torch.Tensor, labels=None, *,
                          epsilons: Sequence[float] = tuple(e / 255 for e in FGSM_EPSILONS), steps: int = 10,
                          bounds: Sequence[float] = (0.0, 1.0), seed: int = 0) -> dict:
    """The signs that a model's robustness comes from masked gradients, not robustness (Athalye,
    Carlini and Wagner, ICML 2018, section 3.1), as Palacio checks them.

    Counted over the initially correct images: (1) the iterative attack (PGD: ``steps`` steps of
    2.5 eps / ``steps``, projected onto the eps-ball, Madry et al.'s step) succeeds at least as
    often as FGSM at every eps; (2) the iterative attack's success never falls as eps grows
    (FGSM's single step can overshoot, so it is not held to this); (3) an unbounded attack (BIM
    with steps of half the range) succeeds on every image; (4) a random perturbation of the same
    size (eps times random signs: the same L-inf and L2 norms as FGSM's) flips fewer images than FGSM.

    Parameters
    ----------
    model, inputs, labels, bounds
        As :func:`fgsm`.
    epsilons : sequence of float
        The budgets, in the input's units (default Palacio's FGSM presets / 255).
    steps : int, default 10
        BIM's iterations.
    seed : int, default 0
        Seed of the random perturbations.

    Returns
    -------
    dict
        ``"epsilons"``, the success rates ``"fgsm"``, ``"bim"``, ``"random"`` (one per eps) and
        ``"unbounded"``, and the four verdicts ``"iterative_stronger"``, ``"monotone"``,
        ``"unbounded_succeeds"``, ``"random_weaker"`` (True: no sign of masked gradients), with
        ``"passed"`` when all four hold.
    """
    lo, hi = _check_bounds(bounds)
    x = prepare_inputs(model, inputs)
    y = _labels(model, x, labels)
    correct = ~success(model, x, y)
    if not correct.any():
        raise ValueError("the model misclassifies every image; the checklist counts initially correct images")
    xc, yc = x[correct], y[correct]

    def rate(adv):
        return float(success(model, adv, yc).float().mean())

    gen = torch.Generator().manual_seed(int(seed))
    signs = (torch.randint(0, 2, xc.shape, generator=gen) * 2 - 1).to(xc)
    eps = [float(e) for e in epsilons]
    out = {"epsilons": eps,
           "fgsm": [rate(fgsm(model, xc, yc, e, bounds=bounds)) for e in eps],
           "bim": [rate(bim(model, xc, yc, e, steps, step=2.5 * e / steps, project=True, bounds=bounds)) for e in eps],
           "random": [rate((xc + e * signs).clamp(lo, hi)) for e in eps],
           "unbounded": rate(bim(model, xc, yc, (hi - lo) / 2, steps, bounds=bounds))}
    out["iterative_stronger"] = all(b >= f for b, f in zip(out["bim"], out["fgsm"]))
    out["monotone"] = all(b >= a for a, b in zip(out["bim"], out["bim"][1:]))
    out["unbounded_succeeds"] = out["unbounded"] == 1.0
    out["random_weaker"] = all(r <= f for r, f in zip(out["random"], out["fgsm"])) and out["random"] != out["fgsm"]
    out["passed"] = all(out[k] for k in ("iterative_stronger", "monotone", "unbounded_succeeds", "random_weaker"))
    return out
