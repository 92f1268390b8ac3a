"""Metrics that tell a good attribution map from a bad one.

Three families, each a plain function on tensors (no widget imports); the chart view
:class:`xai_widgets.MetricsChart` draws their results.

* **Localisation**: :func:`pointing_game` (Zhang et al. 2016, "Top-down neural attention by
  excitation backprop", with TorchRay's protocol: a hit when the map's maximum lies within
  15 px of the object, accuracy = the mean of per-class accuracies), against the baselines
  :func:`centre_map` and :func:`random_map`.
* **Faithfulness**: :func:`deletion_curve` (Petsiuk et al. 2018, RISE's deletion and
  insertion games; Samek et al. 2017, pixel flipping / region perturbation): remove (or
  reveal) pixels from the most relevant down and follow the class score.
* **Sanity**: :func:`randomisation_check` (Adebayo et al. 2018, "Sanity checks for saliency
  maps", model-parameter randomisation): a map that survives randomising the weights does
  not explain the model.

Results are small summaries, so they are numpy arrays (float64) on the CPU; the model runs
where it is. Every model use follows the package's hygiene rules: eval mode inside, training
flags, ``requires_grad`` flags, parameters and buffers exactly as given afterwards, no hooks
left, no ``.grad`` left; :func:`randomisation_check` randomises a deep copy only.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from . import methods as attribution
from ..core.blur import gaussian_blur
from ..core.capture import preserved_model, model_device
from ..core.images import check_model_input
from ..core.outputs import pick
from ..core.rng import seeded
from ..core.targets import resolve_targets
from ..core.tasks import check, report

__all__ = ["PointingGame", "PointingResult", "Curve", "Randomisation", "pointing_game", "centre_map",
           "random_map", "deletion_curve", "randomisation_check", "spearman", "ssim", "trapezoid",
           "parameter_layers", "BASELINES", "SCORES"]

BASELINES = ("blur", "zero", "mean")
SCORES = ("probability", "logit")


# ---------------------------------------------------------------------------------------- helpers
def _maps3(maps, name: str = "maps") -> torch.Tensor:
    """N x H x W (or N x 1 x H x W) tensor/array -> float64 CPU tensor N x H x W."""
    if isinstance(maps, np.ndarray):
        maps = torch.from_numpy(maps)
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array of shape N x H x W, got {type(maps).__name__}")
    if maps.dim() == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.dim() != 3:
        raise ValueError(f"{name} must have shape N x H x W (one map per image; sum input channels first, e.g. "
                         f"attribution.pixel_map), got shape {tuple(maps.shape)}")
    return maps.detach()


def _finite(t: torch.Tensor, name: str) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values; every map value must be finite")


def trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Area under ``y`` (... x S) over ``x`` (S) by the trapezoid rule, along the last axis.

    Parameters
    ----------
    y : numpy.ndarray
        ... x S values (array-like, converted to float64).
    x : numpy.ndarray
        S abscissae (array-like, converted to float64).

    Returns
    -------
    numpy.ndarray
        ... float64 areas (a scalar array for 1-D ``y``).
    """
    y = np.asarray(y, np.float64)
    x = np.asarray(x, np.float64)
    return ((y[..., 1:] + y[..., :-1]) / 2 * np.diff(x)).sum(axis=-1)


# ---------------------------------------------------------------------------------------- pointing game
@dataclass
class PointingGame:
    """Result of :func:`pointing_game`.

    ``points`` are the (row, col) of each map's first maximum; ``distances`` the Euclidean
    distance in pixels from that point to the nearest object pixel (0 inside the object), so
    the same result can be re-scored at another tolerance with :meth:`at`.

    Attributes
    ----------
    hits : numpy.ndarray
        N bool, whether each image's point is a hit.
    points : numpy.ndarray
        N x 2 int (row, col) of each map's first maximum.
    distances : numpy.ndarray
        N float, pixels to the nearest mask pixel.
    labels : numpy.ndarray
        N int class of each image.
    tolerance : float
        The tolerance in pixels the hits were scored with.
    per_class : dict
        ``{label: accuracy}`` for the labels present.
    mean_accuracy : float
        Mean of per-class accuracies (TorchRay).
    hit_rate : float
        hits / N (per image).
    """

    hits: np.ndarray              # N bool
    points: np.ndarray            # N x 2 int (row, col)
    distances: np.ndarray         # N float, px to the nearest mask pixel
    labels: np.ndarray            # N int
    tolerance: float
    per_class: dict = field(default_factory=dict)   # {label: accuracy} for the labels present
    mean_accuracy: float = float("nan")             # mean of per-class accuracies (TorchRay)
    hit_rate: float = float("nan")                  # hits / N (per image)

    def at(self, tolerance: float) -> "PointingGame":
        """The same points scored with another tolerance (in pixels).

        Parameters
        ----------
        tolerance : float
            The new tolerance in pixels (finite, >= 0).

        Returns
        -------
        PointingGame
            A new result with the same points and distances.
        """
        return _score_points(self.points, self.distances, self.labels, tolerance)

    def __repr__(self) -> str:
        return (f"PointingGame(tolerance={self.tolerance:g} px, mean per-class accuracy={self.mean_accuracy:.3f}, "
                f"hit rate={self.hit_rate:.3f}, N={len(self.hits)})")


PointingResult = PointingGame  # the name in the shared contract


def _score_points(points, distances, labels, tolerance) -> PointingGame:
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a finite number of pixels >= 0, got {tolerance!r}")
    hits = distances <= tolerance + 1e-9
    per_class = {int(k): float(hits[labels == k].mean()) for k in np.unique(labels)}
    return PointingGame(hits=hits, points=points, distances=distances, labels=labels, tolerance=float(tolerance),
                        per_class=per_class, mean_accuracy=float(np.mean(list(per_class.values()))),
                        hit_rate=float(hits.mean()))


def pointing_game(maps, masks, labels, *, tolerance: float = 15) -> PointingGame:
    """The pointing game (Zhang et al. 2016, "Top-down neural attention by excitation backprop",
    ECCV; protocol of TorchRay's benchmark, Fong et al. 2019).

    For each image the point is the **first** maximum (row-major) of the *signed* map; it is a
    hit when some object pixel lies within ``tolerance`` pixels of it (Euclidean distance
    between pixel centres, ``<=``; TorchRay uses 15 px; 0 means the point must be on the
    object). Accuracy is reported both as TorchRay does, the mean over classes of each class's
    hit rate (``mean_accuracy``), and per image (``hit_rate``).

    Parameters
    ----------
    maps : N x H x W tensor or array (N x 1 x H x W accepted)
        Signed attribution maps at the masks' resolution.
    masks : N x H x W bool
        Object pixels of the class being explained (e.g. ``shapes_dataset(..., masks=True).masks``).
    labels : N ints
        Class of each image, used to group the per-class accuracies.
    tolerance : float, optional
        Hit distance in pixels (finite, >= 0). Default 15 (TorchRay's).

    Returns
    -------
    PointingGame
        Hits, points, distances, per-class and mean accuracies.

    Raises
    ------
    ValueError
        If the shapes do not match, a mask is empty, the labels are not N integers, a map value is not
        finite or ``tolerance`` is invalid.
    """
    m = _maps3(maps)
    _finite(m, "maps")
    k = torch.as_tensor(np.asarray(masks)) if not isinstance(masks, torch.Tensor) else masks.detach().cpu()
    if k.dim() == 4 and k.shape[1] == 1:
        k = k[:, 0]
    if tuple(k.shape) != tuple(m.shape):
        raise ValueError(f"masks must have the maps' shape {tuple(m.shape)} (N x H x W bool), got {tuple(k.shape)}")
    k = k.bool().numpy()
    lab = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if lab.shape != (m.shape[0],) or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be {m.shape[0]} integers (one class per image), got {lab.dtype} {lab.shape}")
    empty = np.flatnonzero(~k.reshape(len(k), -1).any(axis=1))
    if empty.size:
        raise ValueError(f"the masks of images {empty.tolist()} are empty: the pointing game needs the object's pixels")
    N, H, W = m.shape
    flat = m.reshape(N, -1).cpu().double()
    idx = flat.argmax(dim=1).numpy()  # torch returns the first maximal index
    points = np.stack([idx // W, idx % W], axis=1).astype(np.int64)
    distances = np.empty(N, np.float64)
    for n in range(N):
        rows, cols = np.nonzero(k[n])
        distances[n] = math.sqrt(float(((rows - points[n, 0]) ** 2 + (cols - points[n, 1]) ** 2).min()))
    return _score_points(points, distances, lab.astype(np.int64), tolerance)


def _map_shape(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"shape must be (H, W) or (N, H, W) with positive sizes, got {shape}")
    return shape


def centre_map(shape: Sequence[int]) -> torch.Tensor:
    """The centre baseline of the pointing game: a map whose single maximum is the image centre.

    The centre is (row H // 2, column W // 2), and the map falls off with the distance from it.

    ``shape`` is (H, W) or (N, H, W); the result has that shape (float32).

    Parameters
    ----------
    shape : sequence of int
        (H, W) or (N, H, W), positive sizes.

    Returns
    -------
    torch.Tensor
        Float32 map(s) of that shape on the CPU: minus the distance to the centre.

    Raises
    ------
    ValueError
        If ``shape`` has not 2 or 3 positive sizes.
    """
    shape = _map_shape(shape)
    H, W = shape[-2:]
    rows = torch.arange(H, dtype=torch.float32)[:, None] - H // 2
    cols = torch.arange(W, dtype=torch.float32)[None, :] - W // 2
    m = -(rows ** 2 + cols ** 2).sqrt()
    return m.expand(shape).clone()


def random_map(shape: Sequence[int], seed: int = 0) -> torch.Tensor:
    """A random baseline map: i.i.d. uniform [0, 1) values from a seeded generator (float32).

    Its maximum is a uniformly random pixel (pointing game) and its order a random pixel order
    (deletion game). The global random state is not used.

    Parameters
    ----------
    shape : sequence of int
        (H, W) or (N, H, W), positive sizes.
    seed : int, optional
        Seed of the private generator. Default 0.

    Returns
    -------
    torch.Tensor
        Float32 map(s) of that shape on the CPU.

    Raises
    ------
    ValueError
        If ``shape`` has not 2 or 3 positive sizes.
    """
    return torch.rand(_map_shape(shape), generator=torch.Generator().manual_seed(int(seed)))


# ---------------------------------------------------------------------------------------- deletion game
@dataclass
class Curve:
    """Result of :func:`deletion_curve`: a model score per image and fraction of pixels changed.

    ``scores[n, s]`` is the model score of image ``n`` with ``fractions[s]`` of its pixels
    removed (deletion) or revealed (insertion).

    ``area`` is the area under each image's curve by the trapezoid rule over ``fractions``
    (lower is better for deletion, higher for insertion).

    Attributes
    ----------
    mode : str
        "deletion" or "insertion".
    fractions : numpy.ndarray
        S fractions of pixels, from 0 to 1.
    scores : numpy.ndarray
        N x S model scores.
    area : numpy.ndarray
        N areas under the curves.
    target : numpy.ndarray
        N classes whose score is followed.
    score : str
        "probability" (softmax, default) or "logit".
    baseline : str
        Description of the baseline used (default "blur").
    """

    mode: str                  # "deletion" | "insertion"
    fractions: np.ndarray      # S, from 0 to 1
    scores: np.ndarray         # N x S
    area: np.ndarray           # N
    target: np.ndarray         # N, the class whose score is followed
    score: str = "probability"  # "probability" (softmax) | "logit"
    baseline: str = "blur"

    @property
    def mean_scores(self) -> np.ndarray:
        """The curve averaged over images (S)."""
        return self.scores.mean(axis=0)

    @property
    def mean_area(self) -> float:
        """The area under the curve averaged over images."""
        return float(self.area.mean())

    def __repr__(self) -> str:
        return (f"Curve({self.mode}, {self.scores.shape[0]} images x {len(self.fractions)} steps, "
                f"score={self.score}, baseline={self.baseline}, mean area={self.mean_area:.4f})")


def _gaussian_kernel(sigma: float, radius: int, device, dtype) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _baseline(x: torch.Tensor, baseline, blur_sigma: float) -> tuple[torch.Tensor, str]:
    if isinstance(baseline, str):
        if baseline == "blur":
            return gaussian_blur(x, blur_sigma), f"blur (sigma {blur_sigma:g} px)"
        if baseline == "zero":
            return torch.zeros_like(x), "zero"
        if baseline == "mean":
            return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone(), "mean (per image and channel)"
        raise ValueError(f"baseline must be one of {BASELINES} or a tensor broadcastable to the inputs, "
                         f"got {baseline!r}")
    if isinstance(baseline, (int, float)):
        return torch.full_like(x, float(baseline)), f"constant {baseline:g}"
    if isinstance(baseline, (torch.Tensor, np.ndarray)):
        b = torch.as_tensor(baseline).to(device=x.device, dtype=x.dtype)
        try:
            return torch.broadcast_to(b, x.shape).clone(), "tensor"
        except RuntimeError:
            raise ValueError(f"a baseline tensor must broadcast to the inputs' shape {tuple(x.shape)} "
                             f"(e.g. C x H x W or N x C x H x W), got {tuple(b.shape)}") from None
    raise TypeError(f"baseline must be one of {BASELINES}, a number or a tensor, got {type(baseline).__name__}")


def _pixel_ranks(maps: torch.Tensor) -> torch.Tensor:
    """N x P: the position of each pixel in the order most relevant first, ties by index."""
    flat = maps.reshape(maps.shape[0], -1)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return ranks


def deletion_curve(model: nn.Module, inputs: torch.Tensor, maps, target=None, *, mode: str = "deletion",
                   steps: int = 50, baseline="blur", score: str = "probability", blur_sigma: float = 10.0,
                   batch_size: int = 32, progress=None, cancel=None) -> Curve:
    """Deletion and insertion games (Petsiuk et al. 2018, "RISE: randomized input sampling for
    explanation of black-box models", BMVC; the pixel-flipping / region-perturbation curves of
    Samek et al. 2017, "Evaluating the visualization of what a deep neural network has learned",
    IEEE TNNLS 28(11)).

    Pixels are ordered by the signed map, most relevant first (ties: lower row-major index
    first). For ``s = 0..steps`` the first ``k_s = round(s * H * W / steps)`` pixels are
    replaced by the baseline (``mode="deletion"``: the image loses its most relevant pixels
    first) or are the only pixels taken from the image, the rest being the baseline
    (``mode="insertion"``: the image appears most relevant first). All channels of a pixel go
    together. The curve is the model's **softmax probability** of the target class
    (``score="probability"``, as in RISE) or its pre-softmax logit (``score="logit"``), against
    the fraction ``k_s / (H W)`` in [0, 1]; ``area`` is its trapezoid-rule area. A faithful map
    gives a low deletion area and a high insertion area.

    Parameters
    ----------
    model : nn.Module returning logits N x K (left exactly as given).
    inputs : N x C x H x W float tensor (moved to the model's device).
    maps : N x H x W signed maps (tensor or array) at the inputs' resolution.
    target : None (each image's top-1 class), an int, or N ints (see
        ``targets.resolve_targets``).
    baseline : "blur" (Gaussian blur, ``blur_sigma`` px: the default, so deletion does not
        create the sharp out-of-distribution edges a black fill does), "zero", "mean"
        (each image's channel means), a number, or a tensor broadcastable to the inputs.
    batch_size : perturbed images per forward pass (images and steps are batched together).
    mode : str, optional
        "deletion" (default) or "insertion".
    steps : int, optional
        Number of steps (>= 1); the curve has ``steps + 1`` points. Default 50.
    score : str, optional
        One of :data:`SCORES`: "probability" (default) or "logit".
    blur_sigma : float, optional
        Sigma in pixels of the "blur" baseline. Default 10.0.
    progress : callable, optional
        ``progress(done, total)`` as the work advances; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        When set, the computation stops with ``Cancelled``; None (default) never cancels.

    Returns
    -------
    Curve
        Scores per image and fraction, their areas and the targets.

    Raises
    ------
    ValueError
        If ``mode``, ``score``, ``steps``, ``batch_size``, ``baseline`` or the maps' shape is invalid,
        or a map value is not finite.
    TypeError
        If ``model`` is not a ``torch.nn.Module`` or ``inputs`` is not a float tensor.
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_model_input(inputs, model, "deletion_curve")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must be a float tensor, got dtype {inputs.dtype}")
    device = model_device(model)
    x = inputs.detach().to(device)
    N, C, H, W = x.shape
    m = _maps3(maps)
    if tuple(m.shape) != (N, H, W):
        raise ValueError(f"maps must have shape {(N, H, W)} (one map per image at the inputs' resolution; "
                         f"upsample coarser maps first), got {tuple(m.shape)}")
    _finite(m, "maps")
    targets, _ = resolve_targets(model, x, target)
    targets = targets.to(device)
    base, base_name = _baseline(x, baseline, blur_sigma)
    P = H * W
    ks = torch.tensor([int(math.floor(s * P / steps + 0.5)) for s in range(steps + 1)], device=device)
    ranks = _pixel_ranks(m.to(device)).view(N, 1, H, W)
    S = steps + 1
    out = torch.empty(N * S, dtype=torch.float64)
    pairs = torch.arange(N * S, device=device)
    total = math.ceil(N * S / batch_size)
    with preserved_model(model, eval_mode=True), torch.no_grad():
        for b, start in enumerate(range(0, N * S, batch_size)):
            check(cancel)
            idx = pairs[start:start + batch_size]
            n, s = idx // S, idx % S
            chosen = ranks[n] < ks[s].view(-1, 1, 1, 1)  # B x 1 x H x W: the pixels removed / revealed
            if mode == "deletion":
                batch = torch.where(chosen, base[n], x[n])
            else:
                batch = torch.where(chosen, x[n], base[n])
            logits = pick(model(batch))
            if logits.dim() != 2:
                raise ValueError(f"the model must return logits N x K, got shape {tuple(logits.shape)}")
            values = logits.float().softmax(dim=1) if score == "probability" else logits.float()
            out[start:start + len(idx)] = values.gather(1, targets[n].view(-1, 1))[:, 0].double().cpu()
            report(progress, b + 1, total)
    fractions = ks.double().cpu().numpy() / P
    scores = out.view(N, S).numpy()
    return Curve(mode=mode, fractions=fractions, scores=scores, area=trapezoid(scores, fractions),
                 target=targets.cpu().numpy(), score=score, baseline=base_name)


# ---------------------------------------------------------------------------------------- similarity
def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Row-wise ranks (1-based, float64) with ties given their average rank (as scipy.stats.rankdata)."""
    x = x.double()
    vals, order = torch.sort(x, dim=1, stable=True)
    ranks = torch.empty_like(x)
    for n in range(x.shape[0]):
        _, inverse, counts = torch.unique_consecutive(vals[n], return_inverse=True, return_counts=True)
        ends = counts.cumsum(0).double()
        ranks[n, order[n]] = (ends - (counts.double() - 1) / 2)[inverse]
    return ranks


def spearman(a, b) -> np.ndarray:
    """Spearman rank correlation of each pair of rows (maps flattened): N x ... -> N.

    Pearson correlation of tie-averaged ranks; NaN where a map is constant (undefined).

    Parameters
    ----------
    a, b : torch.Tensor or numpy.ndarray
        Two N x ... batches of maps of the same shape.

    Returns
    -------
    numpy.ndarray
        N correlations in [-1, 1] (NaN where undefined).

    Raises
    ------
    ValueError
        If the shapes differ or have fewer than 2 dimensions.
    """
    a, b = _flat_pair(a, b)
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    den = (ra.square().sum(1) * rb.square().sum(1)).sqrt()
    r = (ra * rb).sum(1) / den
    r[den == 0] = float("nan")
    return r.clamp(-1, 1).cpu().numpy()


def _flat_pair(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.as_tensor(a).detach()
    b = torch.as_tensor(b).detach().to(a.device)
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(f"expected two batches of maps of the same shape N x ..., got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    return a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)


def ssim(a, b, *, data_range: float = 1.0, sigma: float = 1.5) -> np.ndarray:
    """Mean structural similarity of each pair of maps N x H x W -> N.

    Wang et al. 2004, "Image quality assessment: from error visibility to structural
    similarity", IEEE TIP.

    Gaussian window (``sigma`` px, truncated at 3.5 sigma: 11 taps for 1.5), population
    statistics, K1 = 0.01, K2 = 0.03, averaged over the window positions that fit inside the
    map (as scikit-image's ``structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False)``).

    Parameters
    ----------
    a, b : torch.Tensor or numpy.ndarray
        Two N x H x W batches of maps of the same shape.
    data_range : float, optional
        The value range L of the maps (the constants are (K1 L)^2 and (K2 L)^2). Default 1.0.
    sigma : float, optional
        Gaussian window sigma in pixels. Default 1.5.

    Returns
    -------
    numpy.ndarray
        N float64 mean SSIM values.

    Raises
    ------
    ValueError
        If the shapes differ, are not N x H x W, or the maps are smaller than the window.
    """
    a = torch.as_tensor(a).detach().double()
    b = torch.as_tensor(b).detach().double().to(a.device)
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"ssim expects two N x H x W batches of the same shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    radius = int(3.5 * sigma + 0.5)
    if min(a.shape[1:]) < 2 * radius + 1:
        raise ValueError(f"maps of {tuple(a.shape[1:])} px are smaller than the {2 * radius + 1} px SSIM window")
    k = _gaussian_kernel(sigma, radius, a.device, a.dtype)
    w = (k[:, None] * k[None, :])[None, None]
    f = lambda t: torch.nn.functional.conv2d(t[:, None], w)[:, 0]  # noqa: E731  ('valid' positions)
    mu_a, mu_b = f(a), f(b)
    va = f(a * a) - mu_a ** 2
    vb = f(b * b) - mu_b ** 2
    cov = f(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return s.mean(dim=(1, 2)).cpu().numpy()


def _normalised(m: torch.Tensor) -> torch.Tensor:
    """Each map divided by its largest |value| (so |map| is in [0, 1] and the signed map in [-1, 1])."""
    scale = m.abs().reshape(m.shape[0], -1).amax(dim=1).clamp_min(1e-30)
    return m / scale.view(-1, 1, 1)


# ---------------------------------------------------------------------------------------- randomisation
@dataclass
class Randomisation:
    """Result of :func:`randomisation_check`.

    ``similarity[n, l]`` compares image ``n``'s map from the model with ``layers[: l + 1]``
    randomised (``order="cascade"``) or with only ``layers[l]`` randomised
    (``"independent"``) to its map from the trained model: of |map| in ``similarity``, of the
    signed map in ``similarity_signed``. High similarity after randomisation is the failure
    Adebayo et al. warn about.

    Attributes
    ----------
    method : str
        Name of the method explained.
    order : str
        "cascade" or "independent".
    measure : str
        "spearman" or "ssim".
    layers : list of str
        L module names, in randomisation order (top first).
    similarity : numpy.ndarray
        N x L similarity of |map|.
    similarity_signed : numpy.ndarray
        N x L similarity of the signed map.
    target : numpy.ndarray
        N classes explained (fixed from the trained model).
    maps : torch.Tensor or None
        (L + 1) x N x H x W maps on the CPU, the trained model's first; None when not kept.
    """

    method: str
    order: str
    measure: str                  # "spearman" | "ssim"
    layers: list                  # L module names, in randomisation order (top first)
    similarity: np.ndarray        # N x L, of |map|
    similarity_signed: np.ndarray  # N x L, of the signed map
    target: np.ndarray            # N, the class explained (fixed from the trained model)
    maps: torch.Tensor | None = None  # (L + 1) x N x H x W on the CPU: the trained model's maps first

    @property
    def mean(self) -> np.ndarray:
        """Mean over images of the |map| similarity, per layer (NaN-aware) (L)."""
        return _nanmean(self.similarity)

    @property
    def mean_signed(self) -> np.ndarray:
        """Mean over images of the signed-map similarity, per layer (NaN-aware) (L)."""
        return _nanmean(self.similarity_signed)

    def __repr__(self) -> str:
        return (f"Randomisation({self.method}, {self.order}, {self.measure}, {len(self.layers)} layers, "
                f"{self.similarity.shape[0]} images, last mean={self.mean[-1]:.3f})")


def _nanmean(a: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0).sum(axis=0) / ok.sum(axis=0)


def parameter_layers(model: nn.Module, example_input: torch.Tensor | None = None) -> list[str]:
    """Names of the modules that own parameters, from the output (logits) down to the input.

    With ``example_input`` the order is the reverse of the order in which the modules run in a
    forward pass (modules that do not run are left out); without it, the reverse of
    registration order. The model is left as given.

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is left as given.
    example_input : torch.Tensor, optional
        N x C x H x W batch; its first image is run to find the execution order. None (default) uses
        registration order.

    Returns
    -------
    list of str
        Names of the modules with parameters of their own, output first.
    """
    owners = [name for name, mod in model.named_modules()
              if any(True for _ in mod.parameters(recurse=False))]
    if example_input is None:
        return owners[::-1]
    order: list[str] = []
    wanted = set(owners)
    handles = []
    with preserved_model(model, eval_mode=True), torch.no_grad():
        try:
            for name, mod in model.named_modules():
                if name in wanted:
                    handles.append(mod.register_forward_hook(
                        lambda _m, _i, _o, name=name: order.append(name) if name not in order else None))
            model(example_input.to(model_device(model))[:1])
        finally:
            for h in handles:
                h.remove()
    return order[::-1]


def _randomise(module: nn.Module, seed: int) -> None:
    """Re-initialise a module's own parameters with its default initialisation (``reset_parameters``,
    which for batch norm also resets the running statistics), seeded; without one, each own
    parameter gets Gaussian values with the trained parameter's standard deviation."""
    device = next(module.parameters(recurse=False)).device
    with seeded(seed, device), torch.no_grad():
        if callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
        else:
            for p in module.parameters(recurse=False):
                std = float(p.std()) if p.numel() > 1 else 1.0
                p.normal_(0.0, std if std > 0 else 1.0)


def _resolve_module(model: nn.Module, name: str, known: list[str]) -> nn.Module:
    import difflib

    mods = dict(model.named_modules())
    if name not in mods or not any(True for _ in mods[name].parameters(recurse=False)):
        close = difflib.get_close_matches(str(name), known, n=5)
        raise ValueError(f"layer {name!r} is not a module with parameters of this model"
                         + (f"; did you mean {close}?" if close else f"; modules with parameters: {known}"))
    return mods[name]


def randomisation_check(model: nn.Module, inputs: torch.Tensor, method, *, target=None, order: str = "cascade",
                        layers: Sequence[str] | None = None, similarity: str = "spearman", seed: int = 0,
                        keep_maps: bool = True, progress=None, cancel=None, **method_options) -> Randomisation:
    """Model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency
    maps", NeurIPS; cascading and independent randomisation, section 3.1).

    A deep copy of ``model`` is made (the user's model is never touched). Its layers with
    parameters are re-initialised from the top (logits) down: cumulatively for
    ``order="cascade"`` (after step l, layers[0..l] are random), one at a time for
    ``"independent"`` (after step l, only layers[l] is random). Each layer gets the same random
    values in both orders (seed ``seed + its index``). After each step the maps are recomputed
    with ``attribution.attribute(copy, inputs, method, target=...)`` for the **same target
    classes** (resolved once on the trained model) and compared with the trained model's maps,
    per image, by Spearman rank correlation (``similarity="spearman"``) or SSIM of the maps
    normalised by their largest |value| (``"ssim"``), both of |map| and of the signed map.

    Parameters
    ----------
    method : a name of ``attribution.METHOD_NAMES``, a Captum attribution object built on
        ``model`` (it is deep-copied together with the model, so its layer arguments follow
        the copy), or a callable ``method(model, inputs, target) -> N x H x W`` (or N x C x H x W,
        summed over channels) for anything else.
    layers : module names to randomise, in the order given (first = first randomised); default
        every module with parameters from the logits down (:func:`parameter_layers`).
    method_options : passed to ``attribution.attribute`` (e.g. ``samples=10`` for SmoothGrad).
    model : torch.nn.Module
        The trained model (never modified; a deep copy is randomised).
    inputs : torch.Tensor
        N x C x H x W batch.
    target : None, int or N ints, optional
        The classes explained (None, the default, is each image's top-1 class on the trained model).
    order : str, optional
        "cascade" (default) or "independent".
    similarity : str, optional
        "spearman" (default) or "ssim".
    seed : int, optional
        Base seed; layer i is randomised with ``seed + i``. Default 0.
    keep_maps : bool, optional
        Keep every step's maps in the result (default True).
    progress : callable, optional
        ``progress(done, total)`` as the work advances; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        When set, the computation stops with ``Cancelled``; None (default) never cancels.

    Returns
    -------
    Randomisation
        Similarities per image and layer, and the maps when kept.

    Raises
    ------
    ValueError
        If ``order``, ``similarity``, ``inputs``, ``layers`` or the method's maps are invalid.
    TypeError
        If ``model`` or ``method`` is of the wrong type.
    """
    if order not in ("cascade", "independent"):
        raise ValueError(f"order must be 'cascade' or 'independent', got {order!r}")
    if similarity not in ("spearman", "ssim"):
        raise ValueError(f"similarity must be 'spearman' or 'ssim', got {similarity!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4:
        raise ValueError(f"inputs must be a tensor N x C x H x W, got {tuple(getattr(inputs, 'shape', ()))}")
    x = inputs.detach().to(model_device(model))
    targets, _ = resolve_targets(model, x, target)

    # the copy: for a Captum object, copy the object and the model it holds in one go
    if isinstance(method, str) or (callable(method) and not hasattr(method, "attribute")):
        net = copy.deepcopy(model)
        explainer = method
        name = method if isinstance(method, str) else getattr(method, "__name__", type(method).__name__)
    elif hasattr(method, "attribute"):
        explainer = copy.deepcopy(method)
        net = getattr(explainer, "forward_func", None)
        if not isinstance(net, nn.Module):
            raise TypeError("a Captum attribution object must be built on the model itself (e.g. Saliency(model)) so "
                            "that its copy can be randomised; wrap anything else in a callable "
                            "method(model, inputs, target) -> maps")
        name = type(method).__name__
    else:
        raise TypeError(f"method must be a name in attribution.METHOD_NAMES, a Captum attribution object or a "
                        f"callable (model, inputs, target) -> maps, got {type(method).__name__}")

    known = parameter_layers(net, x)
    names = known if layers is None else [str(n) for n in layers]
    if layers is not None and not names:
        raise ValueError("layers is empty: name at least one module with parameters")
    if not names:
        raise ValueError("the model has no modules with parameters to randomise")
    modules = [_resolve_module(net, n, known) for n in names]

    def maps_of(m: nn.Module, expl) -> torch.Tensor:
        if isinstance(expl, str) or hasattr(expl, "attribute"):
            out = attribution.attribute(m, x, expl, target=targets, **method_options).maps
        else:
            with preserved_model(m, eval_mode=True):
                out = expl(m, x, targets)
            out = torch.as_tensor(out)
            if out.dim() == 4:
                out = out.sum(dim=1)
        out = out.detach().double().cpu()
        if out.shape != (x.shape[0],) + tuple(x.shape[2:]):
            raise ValueError(f"the method returned maps of shape {tuple(out.shape)}, expected N x H x W = "
                             f"{(x.shape[0],) + tuple(x.shape[2:])}")
        return out

    total = len(names) + 1
    original = maps_of(net, explainer)
    report(progress, 1, total)
    pristine = {k: v.detach().clone() for k, v in net.state_dict().items()} if order == "independent" else None
    maps = [original]
    sim_abs, sim_signed = [], []
    for i, module in enumerate(modules):
        check(cancel)
        if order == "independent" and i > 0:
            net.load_state_dict(pristine)
        _randomise(module, seed + i)
        current = maps_of(net, explainer)
        if similarity == "spearman":
            sim_abs.append(spearman(original.abs(), current.abs()))
            sim_signed.append(spearman(original, current))
        else:
            sim_abs.append(ssim(_normalised(original).abs(), _normalised(current).abs(), data_range=1.0))
            sim_signed.append(ssim(_normalised(original), _normalised(current), data_range=2.0))
        if keep_maps:
            maps.append(current)
        report(progress, i + 2, total)
    return Randomisation(method=name, order=order, measure=similarity, layers=names,
                         similarity=np.stack(sim_abs, axis=1), similarity_signed=np.stack(sim_signed, axis=1),
                         target=targets.cpu().numpy(),
                         maps=torch.stack(maps).float() if keep_maps else None)
