"""Feature occlusion (Norton, "Deep Introspection", Imperial College London, 2018, ch. 3).

Relevant pixels of an attribution map are grouped into numbered *features* by a modified
flood fill; features are occluded (pixelisation by default) and the image is fed back to the
model; an automatic analysis finds the feature sets that matter most. Everything here is plain
torch / numpy: :class:`xai_widgets.OcclusionExplorer` only shows these numbers.

* :func:`find_features` - the flood fill of Norton 2018, §3.3.2.
* :class:`Occluder`, :func:`occlude` - the occluders of Norton 2018, §3.4: random pixels,
  bounding rectangles, pixelisation.
* :func:`analyse` - the four metrics of Norton 2018, §3.5.
* :func:`relevance_map` - the relevance the features come from (any attribution map or method).
* :func:`perturb_region` - the paint-to-perturb sandbox (Fong's DPhil thesis, Oxford 2020, §7.3).

Features are the pixels the *network* found relevant, not human parts: Norton's user study
(§6.2.3) found users surprised by that, so the widget says it.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from . import methods as attribution, lrp, perturbation
from ..core.capture import preserved_model, model_device, model_dtype
from ..core.outputs import pick
from ..core.tasks import check, report

__all__ = ["MODES", "SANDBOX_KINDS", "Analysis", "Finding", "Occluder", "analyse", "class_probs", "cutoff",
           "default_method", "find_features", "label_map", "occlude", "perturb_region", "relevance_map",
           "resolve_target", "value_bounds"]

MODES = ("pixelate", "noise", "box")
SANDBOX_KINDS = ("blur", "constant", "noise")


# ---------------------------------------------------------------------------------------- flood fill
def _as_map(relevance, name: str = "relevance") -> np.ndarray:
    """An H x W float64 map from a tensor or array (leading axes of size 1 are dropped)."""
    if isinstance(relevance, torch.Tensor):
        relevance = relevance.detach().float().cpu().numpy()
    if not isinstance(relevance, np.ndarray):
        raise TypeError(f"{name} must be an H x W torch tensor or numpy array, got {type(relevance).__name__}")
    r = relevance
    while r.ndim > 2 and r.shape[0] == 1:
        r = r[0]
    if r.ndim != 2 or 0 in r.shape:
        raise ValueError(f"{name} must be one H x W map (1 x H x W and 1 x 1 x H x W work too), "
                         f"got shape {relevance.shape}")
    r = r.astype(np.float64)
    if not np.isfinite(r).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return r


def _offsets(distance: float) -> np.ndarray:
    """Half of the (dy, dx) offsets with 0 < |(dy, dx)| <= distance (the other half are mirrors)."""
    k = int(np.floor(distance))
    out = [(dy, dx) for dy in range(0, k + 1) for dx in range(-k, k + 1)
           if (dy > 0 or dx > 0) and dy * dy + dx * dx <= distance * distance + 1e-9]
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def cutoff(relevance, threshold: float = 5.0) -> float:
    """The flood fill's candidate cut: ``threshold * S / (H * W)``.

    ``S`` is the sum of the map's positive values and ``H * W`` all its pixels (Norton 2018, §3.3.2,
    normalised by ``S``).

    Parameters
    ----------
    relevance : torch.Tensor or numpy.ndarray
        One H x W relevance map (1 x H x W and 1 x 1 x H x W work too), finite.
    threshold : float, optional
        The multiplier of the mean positive relevance per pixel (Norton's 5). Default 5.0.

    Returns
    -------
    float
        The cut: pixels with relevance above it are candidates.

    Raises
    ------
    TypeError
        If ``relevance`` is not a tensor or array.
    ValueError
        If ``relevance`` is not one finite H x W map.
    """
    r = _as_map(relevance)
    return float(threshold) * float(r[r > 0].sum()) / r.size


def find_features(relevance, *, threshold: float = 5.0, distance: float = 1.5,
                  min_size: int = 20) -> list[np.ndarray]:
    """Group relevant pixels into features with Norton's modified flood fill (Norton 2018, §3.3.2).

    1. Candidates: pixels with ``r > threshold * S / (H * W)``, where ``S`` is the sum of the
       map's *positive* relevance. Norton's threshold is ``5 / (H W)`` for LRP relevance that
       sums to 1; normalising by ``S`` makes the rule the same for any attribution map
       and any scale: ``threshold`` times the positive relevance summed over the whole map and
       divided by all ``H * W`` pixels (the mean of ``max(r, 0)`` over every pixel, not over the
       positive pixels only). Only positive relevance (evidence *for* the class) can be a feature.
    2. Two candidates are neighbours when their Euclidean distance is at most ``distance``
       pixels (1.5, Norton's default, is 8-connectivity; 2 or 3 bridge small gaps).
    3. Each connected island is a feature; islands with fewer than ``min_size`` pixels are
       dropped (Norton: 20).

    Returns the features as a list of K x 2 int64 arrays of (row, col), pixels in row-major
    order, features sorted by their total relevance, largest first (ties: the feature whose
    first pixel comes first). An empty list when no pixel passes the threshold.

    Parameters
    ----------
    relevance : torch.Tensor or numpy.ndarray
        One H x W relevance map (1 x H x W and 1 x 1 x H x W work too), finite.
    threshold : float, optional
        Candidate threshold, in units of the mean positive relevance per pixel (finite, >= 0). Default 5.0.
    distance : float, optional
        Neighbour distance in pixels (finite, > 0). Default 1.5.
    min_size : int, optional
        Smallest feature kept, in pixels (>= 0). Default 20.

    Returns
    -------
    list of numpy.ndarray
        K x 2 int64 (row, col) arrays, one per feature, largest total relevance first.

    Raises
    ------
    TypeError
        If ``relevance`` is not a tensor or array.
    ValueError
        If the map or a setting is invalid.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    r = _as_map(relevance)
    threshold, distance = float(threshold), float(distance)
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0 (Norton 2018 uses 5), got {threshold}")
    if not np.isfinite(distance) or distance <= 0:
        raise ValueError(f"distance must be a finite number of pixels > 0 (Norton 2018 uses 1.5), got {distance}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 0:
        raise ValueError(f"min_size must be an int >= 0 (Norton 2018 uses 20), got {min_size!r}")
    H, W = r.shape
    candidate = r > cutoff(r, threshold)
    index = np.full((H, W), -1, dtype=np.int64)
    flat = np.flatnonzero(candidate)
    if flat.size == 0:
        return []
    index.flat[flat] = np.arange(flat.size)
    edges_a, edges_b = [], []
    for dy, dx in _offsets(distance):
        # pixel (y, x) and (y + dy, x + dx), both inside the image
        y0, y1 = 0, H - dy
        x0, x1 = max(0, -dx), min(W, W - dx)
        if y1 <= y0 or x1 <= x0:
            continue
        a = index[y0:y1, x0:x1]
        b = index[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
        both = (a >= 0) & (b >= 0)
        edges_a.append(a[both])
        edges_b.append(b[both])
    m = flat.size
    a = np.concatenate(edges_a) if edges_a else np.zeros(0, np.int64)
    b = np.concatenate(edges_b) if edges_b else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(m, m))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    totals = np.bincount(component, weights=r.flat[flat])
    first = np.full(sizes.size, m, dtype=np.int64)
    np.minimum.at(first, component, np.arange(m))
    kept = [c for c in range(sizes.size) if sizes[c] >= min_size]
    kept.sort(key=lambda c: (-totals[c], first[c]))
    by_component = np.argsort(component, kind="stable")  # row-major within each component
    starts = np.concatenate([[0], np.cumsum(sizes)])
    out = []
    for c in kept:
        pixels = flat[by_component[starts[c]:starts[c + 1]]]
        out.append(np.stack([pixels // W, pixels % W], axis=1))
    return out


def label_map(features: Sequence[np.ndarray], shape: Sequence[int]) -> np.ndarray:
    """H x W int32 map: 0 where no feature, ``k + 1`` on the pixels of ``features[k]``.

    Parameters
    ----------
    features : list of numpy.ndarray or numpy.ndarray
        K x 2 (row, col) int arrays from :func:`find_features`, or an H x W int label map.
    shape : sequence of int
        The image size (H, W).

    Returns
    -------
    numpy.ndarray
        H x W int32 label map.

    Raises
    ------
    TypeError, ValueError
        If the features are malformed or lie outside the image.
    """
    H, W = (int(s) for s in shape)
    out = np.zeros((H, W), dtype=np.int32)
    for k, f in enumerate(_check_features(features, (H, W))):
        out[f[:, 0], f[:, 1]] = k + 1
    return out


def _check_features(features, shape) -> list[np.ndarray]:
    """Features as a list of K x 2 int64 arrays inside ``shape``; a label map is accepted too."""
    H, W = shape
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    if isinstance(features, np.ndarray) and features.ndim == 2 and features.shape == (H, W) \
            and np.issubdtype(features.dtype, np.integer):
        n = int(features.max(initial=0))
        return [np.argwhere(features == k + 1).astype(np.int64) for k in range(n)]
    if not isinstance(features, (list, tuple)):
        raise TypeError("features must be a list of K x 2 (row, col) arrays (from find_features) or an "
                        f"H x W int label map (0 = none, k = feature k), got {type(features).__name__}")
    out = []
    for k, f in enumerate(features):
        f = np.asarray(f)
        if f.ndim != 2 or f.shape[1] != 2 or not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"feature {k} must be a K x 2 int array of (row, col), got {f.dtype} {f.shape}")
        if f.size and (f.min() < 0 or f[:, 0].max() >= H or f[:, 1].max() >= W):
            raise ValueError(f"feature {k} has pixels outside the {H} x {W} image")
        out.append(f.astype(np.int64))
    return out


# ---------------------------------------------------------------------------------------- occlusion
def _as_image(image) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a C x H x W (or 1 x C x H x W) float tensor, got {type(image).__name__}")
    x = image.detach()
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 3 or not x.is_floating_point():
        raise ValueError(f"image must be a C x H x W (or 1 x C x H x W) float tensor, got {x.dtype} "
                         f"{tuple(image.shape)}")
    return x.float()


class Occluder:
    """Occlusion of any subsets of features of one image, in batches (Norton 2018, §3.4).

    Modes (``mode``):

    * ``"pixelate"`` (Norton's choice, §3.4.3): the feature pixels are replaced
      by uniform noise (no colour bias), then every square patch of a fixed grid (side
      ``patch``, aligned with the image's top-left corner) containing a feature pixel is
      replaced by its per-channel mean, which breaks up the feature's outline (shape bias).
      Norton's optimisation visits only patches inside each feature's bounding box; we go one
      step further and precompute, per feature, the patches it touches and its contribution to
      their sums (features are disjoint, so the contributions of a subset add up), so a batch
      of B subsets costs two small matrix products.
    * ``"noise"`` (§3.4.1): the feature pixels get uniform random colours.
    * ``"box"`` (§3.4.2, a heading only in Norton 2018; Fig 3.14): each selected feature's bounding
      rectangle is filled with one colour, its per-channel mean after the feature's pixels are
      noised (the pixelisation rule with the rectangle as the patch). Overlapping rectangles:
      the feature with the higher index is drawn last.

    Noise is uniform over ``value_range``: a (low, high) pair of floats or per-channel
    sequences, or None for each channel's own [min, max] in this image (which suits images
    normalised by a preprocess). The noise image is drawn once from ``seed``, so a pixel gets
    the same noise whichever features are occluded with it: results are deterministic.

    Parameters
    ----------
    image : torch.Tensor
        C x H x W (or 1 x C x H x W) float image in model-input space.
    features : list of numpy.ndarray or numpy.ndarray
        Disjoint K x 2 (row, col) int arrays from :func:`find_features`, or an H x W int label map.
    mode : str, optional
        One of :data:`MODES`: "pixelate" (default), "noise" or "box".
    patch : int, optional
        Side in pixels of the pixelisation grid's patches (>= 1). Default 8.
    seed : int, optional
        Seed of the noise image. Default 0.
    value_range : tuple, optional
        Range of the uniform noise: (low, high) floats or per-channel sequences; None (default) is each
        channel's own [min, max] in this image.

    Attributes
    ----------
    image : torch.Tensor
        The C x H x W float32 image.
    mode : str
        The occlusion mode.
    patch : int
        The patch side in pixels.
    seed : int
        The noise seed.
    features : list of numpy.ndarray
        The features, K x 2 int64 each.
    n : int
        Number of features.
    noise : torch.Tensor
        C x H x W noise image.

    Raises
    ------
    ValueError
        If ``mode``, ``patch`` or ``value_range`` is invalid, or features overlap.
    TypeError
        If ``image`` is not a tensor or ``features`` are malformed.
    """

    def __init__(self, image, features, *, mode: str = "pixelate", patch: int = 8, seed: int = 0,
                 value_range=None):
        x = _as_image(image)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or patch < 1:
            raise ValueError(f"patch must be an int >= 1 (pixels per side), got {patch!r}")
        C, H, W = x.shape
        self.image, self.mode, self.patch, self.seed = x, mode, int(patch), int(seed)
        self.features = _check_features(features, (H, W))
        self.n = len(self.features)
        dev = x.device
        low, high = value_bounds(x, value_range)
        g = torch.Generator().manual_seed(self.seed)
        self.noise = (low + (high - low) * torch.rand(C, H, W, generator=g).to(dev)).float()
        pix = [torch.as_tensor(f[:, 0] * W + f[:, 1], device=dev) for f in self.features]
        owner = torch.full((H * W,), -1, dtype=torch.long, device=dev)
        for k, p in enumerate(pix):
            if bool((owner[p] >= 0).any()) or int(torch.unique(p).numel()) != int(p.numel()):
                raise ValueError(f"feature {k} overlaps another feature or repeats a pixel; features must be "
                                 "disjoint pixel sets (as find_features returns them)")
            owner[p] = k
        self._owner = owner + 1  # the feature each pixel belongs to, plus one (0: none)
        if mode == "pixelate":
            self._prepare_patches(pix)
        elif mode == "box":
            self._prepare_boxes(pix)

    def _prepare_patches(self, pix) -> None:
        x, P = self.image, self.patch
        C, H, W = x.shape
        Hp, Wp = -(-H // P), -(-W // P)
        rows = torch.arange(H, device=x.device) // P
        cols = torch.arange(W, device=x.device) // P
        self._pid = (rows[:, None] * Wp + cols[None, :]).reshape(-1)  # patch of each pixel
        npatch = Hp * Wp
        flat = x.reshape(C, -1)
        self._base_sum = torch.zeros(C, npatch, device=x.device).index_add_(1, self._pid, flat)
        self._count = torch.zeros(npatch, device=x.device).index_add_(0, self._pid, torch.ones(H * W, device=x.device))
        delta = (self.noise - x).reshape(C, -1)
        self._delta = torch.zeros(self.n, C, npatch, device=x.device)
        self._touch = torch.zeros(self.n, npatch, device=x.device)
        for k, p in enumerate(pix):
            self._delta[k].index_add_(1, self._pid[p], delta[:, p])
            self._touch[k, self._pid[p]] = 1.0

    def _prepare_boxes(self, pix) -> None:
        x = self.image
        C, H, W = x.shape
        self._boxes = []
        for f, p in zip(self.features, pix):
            if f.shape[0] == 0:
                self._boxes.append(None)
                continue
            r0, c0 = (int(v) for v in f.min(0))
            r1, c1 = (int(v) + 1 for v in f.max(0))
            noised = x.reshape(C, -1).clone()
            noised[:, p] = self.noise.reshape(C, -1)[:, p]
            self._boxes.append(((r0, r1, c0, c1), noised.view(C, H, W)[:, r0:r1, c0:c1].mean(dim=(1, 2))))

    def selection(self, subsets) -> torch.Tensor:
        """B x n float 0/1 matrix from a list of index collections (or a B x n bool array).

        Parameters
        ----------
        subsets : list of collections of int, or array-like
            B collections of feature indices, or a B x n 0/1 (bool) matrix.

        Returns
        -------
        torch.Tensor
            B x n float32 0/1 matrix on the image's device.

        Raises
        ------
        ValueError, TypeError
            If an index is out of range, or a matrix has not n columns.
        """
        if isinstance(subsets, (torch.Tensor, np.ndarray)) and np.ndim(subsets) == 2:
            A = torch.as_tensor(np.asarray(subsets) if isinstance(subsets, np.ndarray) else subsets)
            if A.shape[1] != self.n:
                raise ValueError(f"a selection matrix needs {self.n} columns (one per feature), got {tuple(A.shape)}")
            return A.to(self.image.device, torch.float32)
        A = torch.zeros(len(subsets), self.n, device=self.image.device)
        for b, subset in enumerate(subsets):
            idx = _check_selected(subset, self.n)
            if idx:
                A[b, idx] = 1.0
        return A

    def __call__(self, subsets) -> torch.Tensor:
        """B x C x H x W images, row b with the features in ``subsets[b]`` occluded.

        Parameters
        ----------
        subsets : list of collections of int, or array-like
            B collections of feature indices, or a B x n 0/1 matrix (see :meth:`selection`).

        Returns
        -------
        torch.Tensor
            B x C x H x W occluded images on the image's device.
        """
        A = self.selection(subsets)
        x = self.image
        C, H, W = x.shape
        B = A.shape[0]
        flat = x.reshape(1, C, -1).expand(B, C, H * W)
        if self.mode == "box":
            out = flat.clone()
            for k, box in enumerate(self._boxes):
                rows = A[:, k] > 0
                if box is not None and bool(rows.any()):
                    (r0, r1, c0, c1), colour = box
                    view = out.view(B, C, H, W)
                    view[rows, :, r0:r1, c0:c1] = colour.view(1, C, 1, 1)
            return out.view(B, C, H, W)
        noised = torch.cat([torch.zeros(B, 1, device=x.device), A], dim=1)[:, self._owner] > 0  # B x HW
        out = torch.where(noised[:, None, :], self.noise.reshape(1, C, -1), flat)
        if self.mode == "pixelate":
            touched = ((A @ self._touch) > 0)[:, self._pid]  # B x HW
            sums = self._base_sum[None] + torch.einsum("bn,ncp->bcp", A, self._delta)
            means = (sums / self._count)[:, :, self._pid]  # B x C x HW
            out = torch.where(touched[:, None, :], means, out)
        return out.reshape(B, C, H, W)


def value_bounds(image: torch.Tensor, value_range=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (low, high), each C x 1 x 1 on the image's device.

    ``value_range`` (see :class:`Occluder`) or, for None, each channel's own [min, max] in the
    C x H x W ``image``.

    Parameters
    ----------
    image : torch.Tensor
        C x H x W image.
    value_range : tuple, optional
        (low, high) floats or per-channel sequences of length C; None (default) for the image's own range.

    Returns
    -------
    low, high : torch.Tensor
        C x 1 x 1 bounds each.

    Raises
    ------
    ValueError
        If ``value_range`` is malformed or has low > high.
    """
    C = image.shape[0]
    if value_range is None:
        flat = image.reshape(C, -1)
        return flat.min(1).values.view(C, 1, 1), flat.max(1).values.view(C, 1, 1)
    try:
        lo, hi = value_range
        lo = torch.as_tensor(lo, dtype=torch.float32, device=image.device).reshape(-1, 1, 1).expand(C, 1, 1)
        hi = torch.as_tensor(hi, dtype=torch.float32, device=image.device).reshape(-1, 1, 1).expand(C, 1, 1)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError("value_range must be None, (low, high) floats or (low, high) per-channel sequences "
                         f"of length {C}, got {value_range!r}") from exc
    if not bool((hi >= lo).all()):
        raise ValueError(f"value_range needs low <= high, got {value_range!r}")
    return lo, hi


def _check_selected(selected, n: int) -> list[int]:
    if isinstance(selected, (int, np.integer)) and not isinstance(selected, bool):
        selected = [selected]
    try:
        selected = list(selected)
        idx = sorted({int(i) for i in selected})
    except (TypeError, ValueError) as exc:
        raise TypeError(f"selected must be a collection of feature indices, got {selected!r}") from exc
    if any(isinstance(i, (bool, float)) for i in selected) or (idx and (idx[0] < 0 or idx[-1] >= n)):
        raise ValueError(f"feature indices must be in 0..{n - 1}, got {list(selected)!r}")
    return idx


def occlude(image, features, selected: Iterable[int], *, mode: str = "pixelate", patch: int = 8,
            seed: int = 0, value_range=None) -> torch.Tensor:
    """``image`` with the features ``selected`` (indices into ``features``) occluded.

    ``image`` is C x H x W (or 1 x C x H x W, returned in the same shape) in model-input space;
    ``features`` a list from :func:`find_features` or an int label map. See :class:`Occluder`
    for the modes (Norton 2018, §3.4); deterministic for a given ``seed``.

    Parameters
    ----------
    image : torch.Tensor
        C x H x W (or 1 x C x H x W) float image.
    features : list of numpy.ndarray or numpy.ndarray
        Features from :func:`find_features`, or an int label map.
    selected : iterable of int
        Indices into ``features`` of the features to occlude.
    mode : str, optional
        One of :data:`MODES`: "pixelate" (default), "noise" or "box".
    patch : int, optional
        Side in pixels of the pixelisation grid's patches (>= 1). Default 8.
    seed : int, optional
        Seed of the noise image. Default 0.
    value_range : tuple, optional
        Range of the uniform noise: (low, high) floats or per-channel sequences; None (default) is each
        channel's own [min, max] in this image.

    Returns
    -------
    torch.Tensor
        The occluded image, in ``image``'s shape, on its device.
    """
    out = Occluder(image, features, mode=mode, patch=patch, seed=seed, value_range=value_range)([selected])
    return out if image.dim() == 4 else out[0]


# ---------------------------------------------------------------------------------------- prediction
def class_probs(model: nn.Module, images: torch.Tensor, *, batch_size: int = 64) -> torch.Tensor:
    """N x K softmax probabilities of ``model`` for N x C x H x W ``images`` (model's device, no grad).

    The model runs in eval mode and is left exactly as given.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (N x K logits).
    images : torch.Tensor
        N x C x H x W images.
    batch_size : int, optional
        Images per forward pass. Default 64.

    Returns
    -------
    torch.Tensor
        N x K float32 probabilities on the model's device.

    Raises
    ------
    TypeError
        If ``model`` is not a module.
    ValueError
        If the model does not return N x K logits.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    dev = model_device(model)
    out = []
    with preserved_model(model, eval_mode=True), torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            logits = pick(model(images[i:i + batch_size].to(dev, model_dtype(model))))
            if logits.dim() != 2:
                raise ValueError("the model must return N x K logits, got "
                                 f"{getattr(logits, 'shape', type(logits).__name__)}")
            out.append(logits.float().softmax(dim=1))
    return torch.cat(out)


def resolve_target(probs: torch.Tensor, target: int | None = None) -> int:
    """The class followed: ``target`` checked against the K ``probs``, or their top-1 for None.

    Parameters
    ----------
    probs : torch.Tensor
        K class probabilities.
    target : int, optional
        A class index in 0..K-1; None (default) for the top-1.

    Returns
    -------
    int
        The class followed.

    Raises
    ------
    ValueError
        If ``target`` is not a class index.
    """
    K = probs.shape[0]
    if target is None:
        return int(probs.argmax())
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < K:
        raise ValueError(f"target must be a class index in 0..{K - 1} or None, got {target!r}")
    return int(target)


# ---------------------------------------------------------------------------------------- analysis
@dataclass
class Finding:
    """One metric's answer: the occluded set, the image and what the model then predicts.

    Attributes
    ----------
    kind : str
        "most_important", "smallest_keep", "smallest_flip" or "largest_change".
    occluded : tuple of int
        Feature indices occluded.
    kept : tuple of int
        The other features (the kept set for "smallest_keep").
    image : torch.Tensor
        C x H x W occluded image.
    probs : torch.Tensor
        K softmax probabilities of the occluded image.
    target_prob : float
        p(target) of the occluded image.
    change : float
        p(target) of the image - p(target) occluded: > 0 is a drop.
    top1 : int
        The occluded image's top-1 class.
    exhaustive : bool
        Every candidate of its size was evaluated (else: best of those evaluated).
    """

    kind: str                  # "most_important" | "smallest_keep" | "smallest_flip" | "largest_change"
    occluded: tuple[int, ...]  # feature indices occluded
    kept: tuple[int, ...]      # the other features (the kept set for "smallest_keep")
    image: torch.Tensor        # C x H x W occluded image
    probs: torch.Tensor        # K softmax probabilities of the occluded image
    target_prob: float         # p(target) of the occluded image
    change: float              # p(target) of the image - p(target) occluded: > 0 is a drop
    top1: int                  # the occluded image's top-1 class
    exhaustive: bool           # every candidate of its size was evaluated (else: best of those evaluated)


@dataclass
class Analysis:
    """The four "Analyse" metrics of Norton 2018, §3.5, for one image and feature list.

    Attributes
    ----------
    target : int
        The class followed.
    base_probs : torch.Tensor
        K probabilities of the unoccluded image.
    drops : torch.Tensor
        n p(target) drops when feature k alone is occluded.
    order : list of int
        Features by drop, largest first.
    most_important : Finding
        Metric 1.
    smallest_keep : Finding or None
        Metric 2 (None: not found within max_sets).
    smallest_flip : Finding or None
        Metric 3 (None: no evaluated set changes the top-1).
    largest_change : Finding
        Metric 4.
    evaluated : int
        Subsets evaluated (forward passes).
    exhaustive : bool
        All 2^n - 1 non-empty subsets were evaluated.
    notes : list of str
        Human-readable notes.
    """

    target: int
    base_probs: torch.Tensor   # K, of the unoccluded image
    drops: torch.Tensor        # n, p(target) drop when feature k alone is occluded (the UI's sort key)
    order: list[int]           # features by drop, largest first
    most_important: Finding
    smallest_keep: Finding | None  # None: not found within max_sets
    smallest_flip: Finding | None  # None: no evaluated set changes the top-1
    largest_change: Finding
    evaluated: int             # subsets evaluated (forward passes)
    exhaustive: bool           # all 2^n - 1 non-empty subsets were evaluated
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding | None]:
        """The four metrics in order: most_important, smallest_keep, smallest_flip, largest_change."""
        return [self.most_important, self.smallest_keep, self.smallest_flip, self.largest_change]


def _bits(subset: Iterable[int]) -> int:
    return sum(1 << int(i) for i in subset)


def _members(mask: int, n: int) -> tuple[int, ...]:
    return tuple(i for i in range(n) if mask >> i & 1)


def analyse(model: nn.Module, image, features, *, target: int | None = None, max_sets: int = 1024,
            batch_size: int = 32, mode: str = "pixelate", patch: int = 8, seed: int = 0, value_range=None,
            progress=None, cancel=None) -> Analysis:
    """The automatic analysis of Norton's occlusion tool (Norton 2018, §3.5).

    With ``c`` the target class (default: the image's top-1) and ``O(S)`` the image with the
    features in ``S`` occluded (see :class:`Occluder` for ``mode``, ``patch``, ``seed``,
    ``value_range``):

    1. most important feature: ``argmax_f p_c(x) - p_c(O({f}))``, the largest drop (§3.5.2;
       also the sort order of the feature list);
    2. smallest set to keep the prediction: the smallest ``K`` such that occluding every other
       feature leaves ``c`` the top-1 (§3.5.3, the analogue of Dabkowski & Gal's 2017 smallest
       sufficient region); among sets of that size, the one with the highest ``p_c``;
    3. smallest set whose occlusion changes the top-1 (§3.5.4, their smallest destroying
       region); among sets of that size, the one with the largest drop;
    4. largest change of confidence: the evaluated set with the largest drop ``p_c(x) -
       p_c(O(S))`` (§3.5.1). Norton writes ``|.|``; its question, "what do I need to occlude to
       break the classification", is about a drop, so a rise does not count.

    Search: when the ``2^n - 1`` non-empty subsets fit in ``max_sets`` forward passes, all are
    evaluated and every answer is exact. Otherwise the single features and the full set come
    first, then subsets by increasing size for metric 3 and by increasing kept size for metric 2
    (alternating; candidates in order of single-feature drop, the most promising first) until
    both are found or the budget is spent; any budget left goes to random subsets (seeded) for
    metric 4, as Norton sampled "a constant number" of combinations. The sizes found are
    minimal whenever the smaller sizes were evaluated in full (``Finding.exhaustive`` says
    whether the answer's own size was). Occlusion and forward passes run in batches of
    ``batch_size`` on the model's device (``Finding.image`` is there too); ``cancel`` is checked
    between batches. The model is left as given.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (N x K logits); it is left as given.
    image : torch.Tensor
        C x H x W (or 1 x C x H x W) float image.
    features : list of numpy.ndarray or numpy.ndarray
        Features from :func:`find_features`, or an int label map (at least one).
    target : int, optional
        The class c followed; None (default) for the image's top-1.
    max_sets : int, optional
        Budget of subsets evaluated (forward passes), >= n + 1. Default 1024.
    batch_size : int, optional
        Occluded images per batch. Default 32.
    mode : str, optional
        One of :data:`MODES`: "pixelate" (default), "noise" or "box".
    patch : int, optional
        Side in pixels of the pixelisation grid's patches (>= 1). Default 8.
    seed : int, optional
        Seed of the noise image. Default 0.
    value_range : tuple, optional
        Range of the uniform noise: (low, high) floats or per-channel sequences; None (default) is each
        channel's own [min, max] in this image.
    progress : callable, optional
        ``progress(done, total)`` after every batch; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        Checked between batches; when set, raises ``Cancelled``.

    Returns
    -------
    Analysis
        The four metrics' findings and the search's statistics.

    Raises
    ------
    TypeError
        If ``model`` is not a module.
    ValueError
        If there are no features, ``max_sets`` is too small, or ``target`` is invalid.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x = _as_image(image).to(model_device(model))  # occlude where the model runs
    occluder = Occluder(x, features, mode=mode, patch=patch, seed=seed, value_range=value_range)
    n = occluder.n
    if n == 0:
        raise ValueError("there are no features to analyse: lower the threshold or min_size of find_features")
    if isinstance(max_sets, bool) or not isinstance(max_sets, (int, np.integer)) or max_sets < n + 1:
        raise ValueError(f"max_sets must be an int >= n + 1 = {n + 1} (the single features and the full set), "
                         f"got {max_sets!r}")
    base = class_probs(model, x[None])[0].cpu()
    target = resolve_target(base, target)
    p0 = float(base[target])
    full = (1 << n) - 1
    total = min(full, int(max_sets))
    seen: dict[int, torch.Tensor] = {0: base}  # occluded set (bit k = feature k) -> probabilities

    def evaluate(masks: list[int]) -> None:
        masks = [m for m in dict.fromkeys(masks) if m not in seen]
        for i in range(0, len(masks), batch_size):
            check(cancel)
            chunk = masks[i:i + batch_size]
            A = torch.tensor([[m >> k & 1 for k in range(n)] for m in chunk], dtype=torch.float32)
            probs = class_probs(model, occluder(A), batch_size=batch_size).cpu()
            for m, p in zip(chunk, probs):
                seen[m] = p
            report(progress, len(seen) - 1, total)

    singles = [1 << k for k in range(n)]
    notes: list[str] = []
    if full <= max_sets:
        evaluate(singles + [full] + [m for m in range(1, full + 1)])
    else:
        evaluate(singles + [full])
    drops = torch.tensor([p0 - float(seen[1 << k][target]) for k in range(n)])
    order = sorted(range(n), key=lambda k: (-float(drops[k]), k))
    flips = lambda m: int(seen[m].argmax()) != target  # noqa: E731
    budget = lambda: int(max_sets) - (len(seen) - 1)  # noqa: E731

    def level(candidates, accept, score):
        """One size of the search, as far as the budget goes: (best accepted mask or None, complete)."""
        members, fresh, complete = [], [], True
        for m in candidates:
            if m not in seen:
                if len(fresh) >= budget():
                    complete = False
                    break
                fresh.append(m)
            members.append(m)
        evaluate(fresh)
        hits = [m for m in members if accept(m)]
        return (max(hits, key=score) if hits else None), complete

    def combos(k):  # subsets of size k, the features with the largest single drops first
        return (_bits(c) for c in itertools.combinations(order, k))

    drop = lambda m: p0 - float(seen[m][target])  # noqa: E731
    searches = {  # metric -> (sizes left, candidates of a size, accept, score); interleaved for a fair budget
        "flip": (iter(range(1, n + 1)), combos, flips, drop),
        "keep": (iter(range(0, n + 1)), lambda k: (full ^ m for m in combos(k)), lambda m: not flips(m),
                 lambda m: float(seen[m][target])),
    }
    found: dict[str, tuple[int, bool] | None] = {}
    while len(found) < len(searches):
        for name, (sizes, candidates, accept, score) in searches.items():
            if name in found:
                continue
            k = next(sizes, None)
            best, complete = (None, False) if k is None else level(candidates(k), accept, score)
            if best is not None:
                found[name] = (best, complete)
            elif not complete:
                found[name] = None
    flip, keep = found["flip"], found["keep"]
    if budget() > 0:  # the rest of the budget: random subsets for the largest change
        rng = np.random.default_rng(seed)
        extra: dict[int, None] = {}
        for _ in range(20 * int(max_sets)):
            if len(extra) >= budget():
                break
            m = _bits(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
            if m not in seen:
                extra[m] = None
        evaluate(list(extra))
    every = len(seen) - 1 == full
    if flip is None:
        notes.append("no set of features changes the top-1 class" if every
                     else f"no set changing the top-1 was found within max_sets = {max_sets} forward passes")
    if keep is None:
        notes.append(f"no kept set was found within max_sets = {max_sets} forward passes")
    largest = max((m for m in seen if m), key=lambda m: (drop(m), -bin(m).count("1")))

    def finding(kind, mask, exhaustive):
        occluded = _members(mask, n)
        probs = seen[mask]
        return Finding(kind, occluded, tuple(k for k in range(n) if k not in occluded), occluder([occluded])[0],
                       probs, float(probs[target]), p0 - float(probs[target]), int(probs.argmax()), exhaustive)

    return Analysis(
        target=target, base_probs=base, drops=drops, order=order,
        most_important=finding("most_important", 1 << order[0], True),
        smallest_keep=None if keep is None else finding("smallest_keep", keep[0], keep[1] or every),
        smallest_flip=None if flip is None else finding("smallest_flip", flip[0], flip[1] or every),
        largest_change=finding("largest_change", largest, every),
        evaluated=len(seen) - 1, exhaustive=every, notes=notes,
    )


# ---------------------------------------------------------------------------------------- relevance
def default_method(model: nn.Module | None = None, inputs: torch.Tensor | None = None) -> str:
    """``"lrp"`` when zennit is installed and LRP supports ``model``, else ``"integrated_gradients"``.

    Norton 2018 used LRP (§3.2); the fallback covers transformers, gated or layer-normalised CNNs.

    Parameters
    ----------
    model : torch.nn.Module, optional
        The model to check; None (default) checks only that zennit is installed.
    inputs : torch.Tensor, optional
        An example N x C x H x W batch for the check.

    Returns
    -------
    str
        "lrp" or "integrated_gradients".
    """
    return "lrp" if lrp.available(model, inputs) else "integrated_gradients"


def relevance_map(model: nn.Module, inputs: torch.Tensor, source=None, *, target: int | None = None,
                  **options) -> tuple[np.ndarray, str]:
    """(H x W float32 relevance of ``inputs`` (1 x C x H x W), the method's name).

    ``source`` is None (:func:`default_method`), a method name or Captum attribution object for
    :func:`xai_widgets.attribution.attribute` (``options`` are its keyword options), an
    ``Attribution`` result, or a ready map: H x W, 1 x H x W or 1 x C x H x W (channels summed),
    torch or numpy, at the input's resolution.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier.
    inputs : torch.Tensor
        1 x C x H x W input.
    source : None, str, captum.attr.Attribution, Attribution, torch.Tensor or numpy.ndarray, optional
        Where the relevance comes from (see above); None (default) uses :func:`default_method`.
    target : int, optional
        The class explained; None (default) for the top-1.
    **options
        Keyword options of the attribution method.

    Returns
    -------
    relevance : numpy.ndarray
        H x W float32 relevance.
    name : str
        The method's name ("given map" for a ready map).

    Raises
    ------
    ValueError
        If the map does not match the input's H x W.
    """
    H, W = inputs.shape[-2:]
    if isinstance(source, (torch.Tensor, np.ndarray)):
        r = source.detach().float().cpu().numpy() if isinstance(source, torch.Tensor) else source
        if r.ndim == 4 and r.shape[0] == 1:
            r = r[0].sum(axis=0)
        name = "given map"
    elif hasattr(source, "maps"):
        r, name = source.maps[0], getattr(source, "method", "given attribution")
    else:

        result = attribution.attribute(model, inputs, default_method(model, inputs) if source is None else source,
                                       target=target, **options)
        r, name = result.maps[0], result.method
    r = _as_map(r, "the relevance map")
    if r.shape != (H, W):
        raise ValueError(f"the relevance map is {r.shape[0]} x {r.shape[1]}; it must match the model input, {H} x {W}")
    return r.astype(np.float32), name


# ---------------------------------------------------------------------------------------- sandbox
def perturb_region(image, painted, *, kind: str = "blur", **options) -> torch.Tensor:
    """``image`` (C x H x W or 1 x C x H x W) perturbed where ``painted`` (H x W, nonzero = painted).

    The paint-to-perturb sandbox Fong's DPhil thesis suggests (Oxford 2020, §7.3): the painted
    region is blurred, set to a constant or noised with the operators of Fong & Vedaldi (2017)
    in :func:`xai_widgets.attribution.perturbation.perturb` (``options`` are its keyword options), the rest
    is kept. Returned in the shape given.

    Parameters
    ----------
    image : torch.Tensor
        C x H x W or 1 x C x H x W float image.
    painted : torch.Tensor or array-like
        H x W mask, nonzero = painted.
    kind : str, optional
        One of :data:`SANDBOX_KINDS`: "blur" (default), "constant" or "noise".
    **options
        Keyword options of :func:`~xai_widgets.attribution.perturbation.perturb` (e.g. ``max_blur``).

    Returns
    -------
    torch.Tensor
        The perturbed image, in the shape given.

    Raises
    ------
    ValueError
        If ``kind`` is unknown or the mask is not H x W.
    """

    x = _as_image(image)
    if kind not in SANDBOX_KINDS:
        raise ValueError(f"kind must be one of {SANDBOX_KINDS}, got {kind!r}")
    m = torch.as_tensor(painted)
    while m.dim() > 2 and m.shape[0] == 1:
        m = m[0]
    if tuple(m.shape) != tuple(x.shape[-2:]):
        raise ValueError(f"the painted mask must be H x W = {tuple(x.shape[-2:])}, got {tuple(m.shape)}")
    out = perturbation.perturb(x[None], m == 0, kind=kind, **options)
    return out if isinstance(image, torch.Tensor) and image.dim() == 4 else out[0]
