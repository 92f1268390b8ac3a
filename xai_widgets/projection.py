"""Smaller similarity payloads: ship d < C numbers per cell and keep the similarity maps.

The similarity overlay ships, for every cell of every image, a vector whose plain dot
products with the other cells' vectors are the similarities the browser shades (by default
the unit-normalised activation vector, so the dot products are cosines). A layer of
N x C x H x W costs N * H * W * C values. This module replaces the C channels by d
coordinates in an orthonormal basis of the subspace the vectors (nearly) lie in.

Why the maps survive. Let P be the orthogonal projection onto a d-dimensional subspace
spanned by the orthonormal columns of B (C x d), and write u = Pu + r_u. For two cells,

    u . v = (Pu) . (Pv) + r_u . r_v = (B^T u) . (B^T v) + r_u . r_v,    |r_u . r_v| <= |r_u| |r_v|.

So the d numbers B^T u per cell give back every dot product up to the product of the two
residuals: exactly, if the vectors lie in the subspace, and nearly, if they lie near it.
The browser needs no basis and no change: the query cell's reduced vector is dotted with
the other cells' reduced vectors as before, just with d instead of C terms.

Choices made here, and why (numbers from ``bench/projection.py``):

* **The basis is fitted to the vectors that are shipped** (:func:`prepare_vectors`: unit
  vectors for cosine), every cell of every image one row. Fitting it to the raw activations
  instead lets the few strongest cells choose the subspace; on the demo model it was worse
  at the d that reach 0.99 fidelity (relu4, d = 8: 0.96 against 0.99).
* **No centring** (``pca_basis(..., centre=False)``, the default). What must be preserved is
  the Gram matrix G = X X^T of the rows themselves, not their covariance: cosine similarity is
  not translation invariant. Among all projections onto d dimensions, the top-d right
  singular vectors of the UNcentred X minimise ||X X^T - X P X^T|| (Eckart-Young with
  Cauchy interlacing), so they keep the shaded numbers best. Post-ReLU vectors share a large
  mean direction, and an uncentred basis spends its first direction on it; a centred
  (PCA) basis drops it, which shifts every map by a roughly constant amount. That shift is
  invisible to a correlation (on the demo model a centred basis has a slightly HIGHER
  Pearson fidelity at d <= 4) but visible in the widget's fixed [0, 1] colour range, and
  it lowers the query's self-similarity; ``tests/test_projection.py`` checks both effects.
* **No re-normalisation** of the reduced vectors: (B^T u) has norm |Pu| <= 1, and dividing
  by it would make self-similarity exactly 1 but amplifies the cells the subspace
  represents worst; it lowered fidelity at every d on the demo model. Ship the
  projected coordinates as they are and take plain dot products.

Similarity choices (:func:`prepare_vectors`), all ending in plain dot products:

* ``"cosine"`` (the default, as in Fong et al. 2021): unit vectors; direction only, so a weakly and a
  strongly activated patch of the same kind look alike.
* ``"dot"``: the raw vectors; magnitude counts too, so strongly activated cells dominate
  every map (useful to see where a layer responds at all, not what it responds to).
* ``"centred"``: unit vectors after subtracting the mean activation vector over all cells
  of all images. Post-ReLU activations are all non-negative, so every cosine is positive
  and most cells share an "everything is a bit active" component that makes maps look
  uniformly bright; centring removes it and the maps show what is specific to a cell
  (values in [-1, 1]: use a diverging colormap). Dead cells are no longer zero: they become
  "below average everywhere".

Everything runs on the device of the activations (CPU or CUDA) with no other change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from .similarity import unit_vectors

__all__ = [
    "SIMILARITIES",
    "MapAgreement",
    "Reduction",
    "map_agreement",
    "map_fidelity",
    "pca_basis",
    "prepare_vectors",
    "project",
    "reduce_to_budget",
]

SIMILARITIES = ("cosine", "dot", "centred")
_DTYPES = {2: torch.float16, 4: torch.float32}


def prepare_vectors(acts: torch.Tensor, similarity: str = "cosine") -> torch.Tensor:
    """Per-cell vectors (N x C x H x W) whose plain dot products are the chosen similarity.

    ``"cosine"``: unit vectors (zero vectors stay zero); ``"dot"``: the activations as they
    are; ``"centred"``: unit vectors after subtracting the mean vector over all cells of all
    images. See the module docstring for when each helps.
    """
    x = _check_acts(acts)
    if similarity == "cosine":
        return unit_vectors(x)
    if similarity == "dot":
        return x
    if similarity == "centred":
        return unit_vectors(x - x.mean(dim=(0, 2, 3), keepdim=True))
    raise ValueError(f"unknown similarity {similarity!r}; expected one of {SIMILARITIES}")


def pca_basis(acts: torch.Tensor, d: int | None = None, *, centre: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, basis)``: the top-``d`` directions of the vectors of every cell of every image.

    ``acts``: N x C x H x W (pass the output of :func:`prepare_vectors`). ``basis`` is C x d
    with orthonormal columns, strongest direction first (``d=None``: all C). ``mean`` is the
    C-vector subtracted before fitting: zeros unless ``centre=True``. Keep the default, which
    keeps dot products best (see the module docstring); ``centre=True`` gives ordinary PCA.

    Computed as the SVD of the C x C Gram matrix, accumulated in float64, on the device of
    ``acts`` (its singular vectors are the right singular vectors of the cells x C matrix).
    """
    x = _check_acts(acts)
    c = x.shape[1]
    d = c if d is None else _check_d(d, c)
    per_image = x.reshape(x.shape[0], c, -1).double()  # N x C x HW: no transposed copy
    gram = torch.bmm(per_image, per_image.transpose(1, 2)).sum(0)
    cells = per_image.shape[0] * per_image.shape[2]
    mean = per_image.sum(dim=(0, 2)) / cells if centre else torch.zeros(c, dtype=torch.float64, device=x.device)
    gram = gram - cells * torch.outer(mean, mean)  # Gram matrix of the rows minus the mean
    _, _, vh = torch.linalg.svd(gram)
    basis = vh[:d].T.contiguous()
    return mean.to(x.dtype), basis.to(x.dtype)


def project(acts: torch.Tensor, basis: torch.Tensor, d: int | None = None, *, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Coordinates of every cell's vector in the first ``d`` columns of ``basis``: N x d x H x W.

    ``mean`` (from ``pca_basis(..., centre=True)``) is subtracted first; plain dot products
    of the result then approximate the dot products of ``acts - mean``, not of ``acts``.
    """
    x = _check_acts(acts)
    if basis.dim() != 2 or basis.shape[0] != x.shape[1]:
        raise ValueError(f"basis must be C x d with C = {x.shape[1]}, got {tuple(basis.shape)}")
    b = basis[:, : _check_d(d, basis.shape[1])] if d is not None else basis
    if mean is not None:
        x = x - mean.to(x).view(1, -1, 1, 1)
    return torch.einsum("nchw,cd->ndhw", x, b.to(x))


@dataclass(frozen=True)
class MapAgreement:
    """How well reduced maps match full-precision maps over random query cells.

    ``pearson``: mean Pearson correlation of the maps (over all cells of all images);
    ``worst_pearson``: the lowest among the queries; ``mean_abs_error`` and
    ``max_abs_error``: of the similarity values themselves (what a fixed colour range shows).
    """

    pearson: float
    worst_pearson: float
    mean_abs_error: float
    max_abs_error: float
    n_queries: int


def map_agreement(
    acts: torch.Tensor,
    reduced: torch.Tensor,
    n_queries: int = 64,
    seed: int = 0,
    similarity: str = "cosine",
) -> MapAgreement:
    """Compare full-precision similarity maps of ``acts`` with the maps a ``reduced`` payload gives.

    ``reduced`` (N x d x H x W, any float dtype) is what would be shipped: its maps are plain
    dot products, as the browser computes them. The reference maps are dot products of
    ``prepare_vectors(acts, similarity)`` in float32. Queries are ``n_queries`` distinct cells
    drawn uniformly (generator seeded with ``seed``) among the cells of all images whose
    reference vector is not zero, less any whose reference map is constant (no correlation
    is defined); each map spans every cell of every image.
    """
    return _Probe(prepare_vectors(acts, similarity), n_queries, seed).agreement(_flat(_check_reduced(acts, reduced)))


def map_fidelity(
    acts: torch.Tensor,
    reduced: torch.Tensor,
    n_queries: int = 64,
    seed: int = 0,
    similarity: str = "cosine",
) -> float:
    """Mean Pearson correlation between full-precision and reduced maps (see :func:`map_agreement`)."""
    return map_agreement(acts, reduced, n_queries, seed, similarity).pearson


@dataclass(frozen=True)
class Reduction:
    """One layer's reduced payload: ``payload`` (N x d x H x W, in the shipped dtype) is what to send."""

    d: int
    channels: int
    fidelity: float
    payload: torch.Tensor
    basis: torch.Tensor

    @property
    def nbytes(self) -> int:
        return self.payload.numel() * self.payload.element_size()

    @property
    def factor(self) -> float:
        """Payload reduction, C / d."""
        return self.channels / self.d


def reduce_to_budget(
    acts_by_layer: Mapping[str, torch.Tensor],
    max_bytes: int,
    *,
    bytes_per_value: int = 2,
    min_fidelity: float = 0.99,
    similarity: str = "cosine",
    n_queries: int = 64,
    seed: int = 0,
) -> dict[str, Reduction]:
    """For each layer the smallest d whose maps keep ``min_fidelity``; raise if they do not fit.

    Per layer: fit :func:`pca_basis` to ``prepare_vectors(acts, similarity)``, and find by
    bisection the smallest d whose payload, rounded to the shipped dtype (float16 for 2 bytes
    per value, float32 for 4), has :func:`map_fidelity` >= ``min_fidelity`` (fidelity grows
    with d; d = C, a mere rotation, is always accepted). Then the total payload must fit in
    ``max_bytes``, else ``ValueError`` says what each layer needs. Returns ``{layer: Reduction}``.
    """
    if bytes_per_value not in _DTYPES:
        raise ValueError(f"bytes_per_value must be 2 (float16) or 4 (float32), got {bytes_per_value!r}")
    if not 0 < min_fidelity <= 1:
        raise ValueError(f"min_fidelity must be in (0, 1], got {min_fidelity!r}")
    if not acts_by_layer:
        raise ValueError("no layers given")
    dtype = _DTYPES[bytes_per_value]
    out: dict[str, Reduction] = {}
    for name, acts in acts_by_layer.items():
        try:
            vectors = prepare_vectors(acts, similarity)
        except ValueError as e:
            raise ValueError(f"layer {name!r}: {e}") from None
        _, basis = pca_basis(vectors)
        coords = project(vectors, basis).to(dtype)
        if not torch.isfinite(coords).all():
            raise ValueError(f"layer {name!r}: values overflow {dtype} (use bytes_per_value=4 or similarity='cosine')")
        probe = _Probe(vectors, n_queries, seed)
        flat = _flat(coords)
        c = basis.shape[0]
        scores: dict[int, float] = {}

        def fidelity(d: int) -> float:
            if d not in scores:
                scores[d] = probe.agreement(flat[:, :d], errors=False).pearson
            return scores[d]

        lo, hi = 1, c  # invariant: d = hi is acceptable
        while lo < hi:
            mid = (lo + hi) // 2
            if fidelity(mid) >= min_fidelity:
                hi = mid
            else:
                lo = mid + 1
        out[name] = Reduction(hi, c, fidelity(hi), coords[:, :hi].contiguous(), basis[:, :hi])
    total = sum(r.nbytes for r in out.values())
    if total > max_bytes:
        per_layer = "; ".join(
            f"{name}: d={r.d} of {r.channels} -> {_mib(r.nbytes)} (fidelity {r.fidelity:.4f})" for name, r in out.items()
        )
        raise ValueError(
            f"the payload needs {_mib(total)} at map fidelity >= {min_fidelity} ({per_layer}), "
            f"over the budget of {_mib(max_bytes)}; use fewer images or layers, a smaller input, "
            "a lower min_fidelity, or a larger budget"
        )
    return out


# ------------------------------------------------------------------ helpers


class _Probe:
    """Reference maps of a few query cells, computed once, to score any number of payloads."""

    def __init__(self, vectors: torch.Tensor, n_queries: int, seed: int):
        if not isinstance(n_queries, int) or n_queries < 1:
            raise ValueError(f"n_queries must be a positive integer, got {n_queries!r}")
        ref = _flat(vectors).float()
        alive = (ref.norm(dim=1) > 0).nonzero().squeeze(1).cpu()
        if len(alive) == 0:
            raise ValueError("every activation vector is zero: there are no similarity maps to compare")
        g = torch.Generator().manual_seed(seed)
        self.queries = alive[torch.randperm(len(alive), generator=g)[:n_queries]].to(ref.device)
        maps = ref[self.queries] @ ref.T  # K x cells
        centred = maps - maps.mean(1, keepdim=True)
        norms = centred.norm(dim=1)
        keep = norms > 1e-6 * maps.abs().amax(1).clamp_min(1e-30)  # constant maps have no correlation
        if not keep.any():
            raise ValueError("every query's reference map is constant: map correlation is undefined")
        self.queries, self.maps, self.centred, self.norms = self.queries[keep], maps[keep], centred[keep], norms[keep]

    def agreement(self, reduced_flat: torch.Tensor, errors: bool = True) -> MapAgreement:
        red = reduced_flat.float()
        got = red[self.queries] @ red.T
        centred = got - got.mean(1, keepdim=True)
        r = (self.centred * centred).sum(1) / (self.norms * centred.norm(dim=1)).clamp_min(1e-30)  # 0 if constant
        nan = float("nan")
        err = (got - self.maps).abs() if errors else None
        return MapAgreement(
            pearson=float(r.mean()), worst_pearson=float(r.min()),
            mean_abs_error=float(err.mean()) if errors else nan,
            max_abs_error=float(err.max()) if errors else nan, n_queries=len(self.queries),
        )


def _maps(t: torch.Tensor, name: str) -> torch.Tensor:
    """N x C x H x W maps as given; N x C vectors as 1 x 1 maps."""
    if t.dim() == 2:
        return t[:, :, None, None]
    if t.dim() != 4:
        raise ValueError(f"{name} must be N x C x H x W maps or N x C vectors (xw.capture_maps gives maps "
                         f"for any layout), got shape {tuple(t.shape)}")
    return t


def _check_acts(acts: torch.Tensor) -> torch.Tensor:
    if not isinstance(acts, torch.Tensor):
        raise TypeError(f"activations must be a torch.Tensor, got {type(acts).__name__}")
    x = _maps(acts, "activations")
    if not x.is_floating_point():
        raise ValueError(f"activations must be floating point, got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"activations are empty: shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("activations contain NaN or infinity")
    return x


def _check_d(d, c: int) -> int:
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= c:
        raise ValueError(f"d must be an integer from 1 to the channel count {c}, got {d!r}")
    return d


def _check_reduced(acts: torch.Tensor, reduced: torch.Tensor) -> torch.Tensor:
    x, r = _maps(acts, "activations"), _maps(reduced, "reduced")
    if r.shape[0] != x.shape[0] or r.shape[2:] != x.shape[2:]:
        raise ValueError(
            f"reduced must have the same images and grid as acts: {tuple(x.shape)} vs {tuple(r.shape)} (N x d x H x W)"
        )
    return r.to(x.device)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """N x C x H x W -> (N H W) x C, rows in image, row, column order."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
