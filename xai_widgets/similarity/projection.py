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
  (relu4, d = 8: mean map correlation 0.96 against 0.99).
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
  represents worst. On the demo model it lowered the mean map correlation at every d, and
  the 5th percentile at every d where that is above 0.8 (only at d too small to use, 5th
  percentile 0.5 or less, did it raise it). Ship the projected coordinates as they are and
  take plain dot products.
* **The criterion is a percentile, not a mean** (:class:`QueryCorrelations`): d is the
  smallest with at least 95% of query cells keeping map correlation >= ``min_fidelity``. A
  mean hides the few cells whose vectors lie in the dropped directions (demo model, relu4 at
  128 px, d = 8: mean 0.988, 5th percentile 0.945, worst query 0.58).
  Every cell with a defined map is a query, so there is no sampling error: the correlations
  of all cells at all d cost a few cells x C x C products (see :func:`query_correlations`),
  about as much as fitting the basis.

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

from ..core.wire import fmt_bytes
from .maps import unit_vectors

__all__ = [
    "SIMILARITIES",
    "MapAgreement",
    "QueryCorrelations",
    "Reduction",
    "map_agreement",
    "map_fidelity",
    "pca_basis",
    "prepare_vectors",
    "project",
    "query_correlations",
    "reduce_to_budget",
]

SIMILARITIES = ("cosine", "dot", "centred")
_DTYPES = {2: torch.float16, 4: torch.float32}


def prepare_vectors(acts: torch.Tensor, similarity: str = "cosine") -> torch.Tensor:
    """Per-cell vectors (N x C x H x W) whose plain dot products are the chosen similarity.

    ``"cosine"``: unit vectors (zero vectors stay zero); ``"dot"``: the activations as they
    are; ``"centred"``: unit vectors after subtracting the mean vector over all cells of all
    images. See the module docstring for when each helps.

    Parameters
    ----------
    acts : torch.Tensor
        N x C x H x W float activations (N x C vectors are taken as 1 x 1 maps); finite, not empty.
    similarity : {"cosine", "dot", "centred"}, default "cosine"
        Which similarity the dot products give (:data:`SIMILARITIES`).

    Returns
    -------
    torch.Tensor
        N x C x H x W vectors in the dtype of ``acts``, on its device.

    Raises
    ------
    TypeError
        If ``acts`` is not a tensor.
    ValueError
        If ``acts`` has the wrong shape, is not floating point, is empty or not finite, or
        ``similarity`` is unknown.
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

    Parameters
    ----------
    acts : torch.Tensor
        N x C x H x W float activations (N x C vectors are taken as 1 x 1 maps); finite, not empty.
    d : int or None, default None
        Number of directions, 1 to C; None keeps all C.
    centre : bool, default False
        Subtract the mean vector before fitting (ordinary PCA).

    Returns
    -------
    mean : torch.Tensor
        The C-vector subtracted (zeros unless ``centre=True``), in the dtype of ``acts``.
    basis : torch.Tensor
        C x d orthonormal columns, strongest first, in the dtype of ``acts`` on its device.

    Raises
    ------
    TypeError, ValueError
        For invalid ``acts`` (see :func:`prepare_vectors`) or ``d`` not an integer in 1..C.
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

    Parameters
    ----------
    acts : torch.Tensor
        N x C x H x W float activations (N x C vectors are taken as 1 x 1 maps); finite, not empty.
    basis : torch.Tensor
        C x D matrix with orthonormal columns (from :func:`pca_basis`).
    d : int or None, default None
        Number of leading columns of ``basis`` to use (1 to D); None uses all.
    mean : torch.Tensor or None, default None
        C-vector subtracted from every cell first; None subtracts nothing.

    Returns
    -------
    torch.Tensor
        N x d x H x W coordinates in the dtype of ``acts``, on its device.

    Raises
    ------
    TypeError, ValueError
        For invalid ``acts``, a ``basis`` that is not C x D, or ``d`` out of range.
    """
    x = _check_acts(acts)
    if basis.dim() != 2 or basis.shape[0] != x.shape[1]:
        raise ValueError(f"basis must be C x d with C = {x.shape[1]}, got {tuple(basis.shape)}")
    b = basis[:, : _check_d(d, basis.shape[1])] if d is not None else basis
    if mean is not None:
        x = x - mean.to(x).view(1, -1, 1, 1)
    return torch.einsum("nchw,cd->ndhw", x, b.to(x))


@dataclass(frozen=True)
class QueryCorrelations:
    """How well a reduced payload keeps the similarity maps, query cell by query cell.

    Every cell of every image is a query whose map is defined: all cells but those whose
    full-precision map is constant (zero vectors, e.g. dead cells after a ReLU; no
    correlation is defined). For each, the Pearson correlation between its full map and its
    reduced map, each spanning every cell of every image, is computed exactly (no sampling,
    see :func:`query_correlations`).

    ``fidelity``: the figure :func:`reduce_to_budget` enforces, the 5th percentile: the
    largest value that at least 95% of the ``n_queries`` query cells reach (the
    ``K // 20``-th lowest of the K correlations, counting from 0), so ``fidelity >= t`` means
    at least 95% of query cells have map correlation >= t. ``mean`` and ``min`` over all
    query cells; ``worst``: the 10 lowest as ``(image, row, col, correlation)``, lowest first.

    Attributes
    ----------
    fidelity : float
        5th percentile of the per-query map correlations.
    mean : float
        Mean correlation over all query cells.
    min : float
        Lowest correlation.
    worst : tuple of (int, int, int, float)
        Up to 10 lowest as ``(image, row, col, correlation)``, lowest first.
    n_queries : int
        Number of query cells K (cells with a defined map).
    CRITERION : str
        Class constant naming the criterion in words.
    """

    fidelity: float
    mean: float
    min: float
    worst: tuple[tuple[int, int, int, float], ...]
    n_queries: int

    CRITERION = "5th percentile of per-query map correlation"


@dataclass(frozen=True)
class MapAgreement:
    """How well reduced maps match full-precision maps.

    ``correlations``: per-query map correlations over every query cell (see
    :class:`QueryCorrelations`); ``pearson``, ``worst_pearson`` and ``fidelity`` are its mean,
    minimum and 5th percentile. ``mean_abs_error`` and ``max_abs_error``: of the similarity
    values themselves (what a fixed colour range shows), over ``n_queries`` sampled query maps.

    Attributes
    ----------
    correlations : QueryCorrelations
        Per-query map correlations over every query cell.
    mean_abs_error : float
        Mean |full - reduced| similarity over the sampled query maps.
    max_abs_error : float
        Largest |full - reduced| similarity over the sampled query maps.
    n_queries : int
        Number of query maps sampled for the value errors.
    pearson : float
        Property: ``correlations.mean``.
    worst_pearson : float
        Property: ``correlations.min``.
    fidelity : float
        Property: ``correlations.fidelity``.
    """

    correlations: QueryCorrelations
    mean_abs_error: float
    max_abs_error: float
    n_queries: int

    @property
    def pearson(self) -> float:
        """Mean per-query map correlation (``correlations.mean``)."""
        return self.correlations.mean

    @property
    def worst_pearson(self) -> float:
        """Lowest per-query map correlation (``correlations.min``)."""
        return self.correlations.min

    @property
    def fidelity(self) -> float:
        """5th percentile of per-query map correlation (``correlations.fidelity``)."""
        return self.correlations.fidelity


def query_correlations(acts: torch.Tensor, reduced: torch.Tensor, similarity: str = "cosine") -> QueryCorrelations:
    """Per-query correlations between the full-precision maps of ``acts`` and the maps of ``reduced``.

    ``reduced`` (N x d x H x W, any float dtype) is what would be shipped: its maps are plain
    dot products, as the browser computes them; the reference maps are dot products of
    ``prepare_vectors(acts, similarity)``. Every cell with a defined map is a query (see
    :class:`QueryCorrelations`). The cost is that of a few N H W x C x C matrix products in
    float64, not of the (N H W)^2 maps: each map's sums and sums of squares are quadratic
    forms in the C x C Gram matrices.

    Parameters
    ----------
    acts : torch.Tensor
        N x C x H x W float activations (N x C vectors are taken as 1 x 1 maps); finite, not empty.
    reduced : torch.Tensor
        N x d x H x W payload (or N x d vectors) with the images and grid of ``acts``; moved
        to the device of ``acts``.
    similarity : {"cosine", "dot", "centred"}, default "cosine"
        The similarity of the reference maps (see :func:`prepare_vectors`).

    Returns
    -------
    QueryCorrelations
        The correlations of every query cell, summarised.

    Raises
    ------
    ValueError
        For invalid inputs, mismatched images or grids, or when every full-precision map is
        constant (e.g. all vectors are zero).
    """
    ref = _flat(prepare_vectors(acts, similarity))
    red = _flat(_check_reduced(acts, reduced))
    queries, r = _prefix_correlations(ref, red)
    return _summarise(queries, r[:, -1], _maps(acts, "activations").shape[2:])


def map_agreement(
    acts: torch.Tensor,
    reduced: torch.Tensor,
    n_queries: int = 64,
    seed: int = 0,
    similarity: str = "cosine",
) -> MapAgreement:
    """Compare full-precision similarity maps of ``acts`` with the maps a ``reduced`` payload gives.

    Correlations: every query cell, exactly (:func:`query_correlations`). Value errors: the
    maps of ``n_queries`` distinct cells drawn uniformly (generator seeded with ``seed``) among
    the cells whose reference vector is not zero, each map spanning every cell of every image.

    Parameters
    ----------
    acts : torch.Tensor
        N x C x H x W float activations (N x C vectors are taken as 1 x 1 maps); finite, not empty.
    reduced : torch.Tensor
        N x d x H x W payload with the images and grid of ``acts``.
    n_queries : int, default 64
        Number of query maps sampled for the value errors (fewer if fewer cells are nonzero).
    seed : int, default 0
        Seed of the CPU generator drawing the sampled queries.
    similarity : {"cosine", "dot", "centred"}, default "cosine"
        The similarity of the reference maps (see :func:`prepare_vectors`).

    Returns
    -------
    MapAgreement
        Correlations of every query cell and the value errors of the sampled maps.

    Raises
    ------
    ValueError
        For invalid inputs, ``n_queries`` not a positive integer, or when every activation
        vector is zero.
    """
    errors = _value_errors(_flat(prepare_vectors(acts, similarity)).float(),
                           _flat(_check_reduced(acts, reduced)).float(), n_queries, seed)
    return MapAgreement(query_correlations(acts, reduced, similarity), *errors)


def map_fidelity(acts: torch.Tensor, reduced: torch.Tensor, similarity: str = "cosine") -> float:
    """The 5th percentile of per-query map correlation.

    The largest value that at least 95% of query cells reach (see :class:`QueryCorrelations`).

    Parameters
    ----------
    acts : torch.Tensor
        N x C x H x W float activations (N x C vectors are taken as 1 x 1 maps); finite, not empty.
    reduced : torch.Tensor
        N x d x H x W payload with the images and grid of ``acts``.
    similarity : {"cosine", "dot", "centred"}, default "cosine"
        The similarity of the reference maps (see :func:`prepare_vectors`).

    Returns
    -------
    float
        ``query_correlations(acts, reduced, similarity).fidelity``.
    """
    return query_correlations(acts, reduced, similarity).fidelity


@dataclass(frozen=True)
class Reduction:
    """One layer's reduced payload: ``payload`` (N x d x H x W, in the shipped dtype) is what to send.

    ``correlations`` describes how well its maps keep the full ones (:class:`QueryCorrelations`);
    ``fidelity`` is their 5th percentile, the figure ``min_fidelity`` was enforced on.

    Attributes
    ----------
    d : int
        Number of coordinates kept per cell.
    channels : int
        The layer's channel count C.
    payload : torch.Tensor
        N x d x H x W coordinates in the shipped dtype (float16 or float32).
    basis : torch.Tensor
        C x d orthonormal basis the coordinates refer to.
    correlations : QueryCorrelations
        How well the payload's maps keep the full ones.
    fidelity : float
        Property: ``correlations.fidelity``.
    nbytes : int
        Property: size of ``payload`` in bytes.
    factor : float
        Property: payload reduction C / d.
    """

    d: int
    channels: int
    payload: torch.Tensor
    basis: torch.Tensor
    correlations: QueryCorrelations

    @property
    def fidelity(self) -> float:
        """5th percentile of per-query map correlation (``correlations.fidelity``)."""
        return self.correlations.fidelity

    @property
    def nbytes(self) -> int:
        """Size of ``payload`` in bytes."""
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
) -> dict[str, Reduction]:
    """For each layer the smallest d whose maps keep ``min_fidelity``; raise if they do not fit.

    Per layer: fit :func:`pca_basis` (Pearson 1901, Hotelling 1933; uncentred, see the module
    docstring) to ``prepare_vectors(acts, similarity)``, and take the smallest d whose payload,
    rounded to the shipped dtype (float16 for 2 bytes per value, float32 for 4), has at least
    95% of query cells with map correlation >= ``min_fidelity`` (the 5th percentile of
    :class:`QueryCorrelations`). Queries are every cell with a defined map, not a sample, so
    the figure has no sampling error. The correlations of all cells at every d come from one
    pass (cumulative sums over the basis directions), so d is the smallest that passes, found
    without assuming that the percentile grows with d (it need not, query by query). d = C, a
    mere rotation, is accepted if nothing smaller passes. Then the total payload must fit in
    ``max_bytes``, else ``ValueError`` says what each layer needs. Returns ``{layer: Reduction}``.

    Parameters
    ----------
    acts_by_layer : Mapping[str, torch.Tensor]
        ``{layer name: N x C x H x W activations}`` (or N x C vectors); at least one layer.
    max_bytes : int
        Budget for the total payload of all layers, in bytes.
    bytes_per_value : {2, 4}, default 2
        Shipped dtype: 2 for float16, 4 for float32.
    min_fidelity : float, default 0.99
        Required 5th percentile of per-query map correlation, in (0, 1].
    similarity : {"cosine", "dot", "centred"}, default "cosine"
        The similarity the payload's dot products stand for (see :func:`prepare_vectors`).

    Returns
    -------
    dict of str to Reduction
        ``{layer: Reduction}`` in the order of ``acts_by_layer``.

    Raises
    ------
    ValueError
        For invalid arguments or activations (the message names the layer), values that
        overflow the shipped dtype, or a total payload over ``max_bytes``.
    """
    if bytes_per_value not in _DTYPES:
        raise ValueError(f"bytes_per_value must be 2 (float16) or 4 (float32), got {bytes_per_value!r}")
    if isinstance(min_fidelity, bool) or not isinstance(min_fidelity, (int, float)) or not 0 < min_fidelity <= 1:
        raise ValueError(f"min_fidelity must be a number in (0, 1], got {min_fidelity!r}")
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
        try:
            queries, r = _prefix_correlations(_flat(vectors), _flat(coords))
        except ValueError as e:
            raise ValueError(f"layer {name!r}: {e}") from None
        passing = (_fifth_percentile(r) >= min_fidelity).nonzero()
        d = int(passing[0]) + 1 if len(passing) else basis.shape[0]
        out[name] = Reduction(d, basis.shape[0], coords[:, :d].contiguous(), basis[:, :d],
                              _summarise(queries, r[:, d - 1], vectors.shape[2:]))
    total = sum(r.nbytes for r in out.values())
    if total > max_bytes:
        per_layer = "; ".join(
            f"{name}: d={r.d} of {r.channels} -> {fmt_bytes(r.nbytes)} (fidelity {r.fidelity:.4f})" for name, r in out.items()
        )
        raise ValueError(
            f"the payload needs {fmt_bytes(total)} for at least 95% of query cells at map correlation >= {min_fidelity} "
            f"({per_layer}), over the budget of {fmt_bytes(max_bytes)}; use fewer images or layers, a smaller input, "
            "a lower min_fidelity, or a larger budget"
        )
    return out


# ------------------------------------------------------------------ helpers


_WORST = 10  # worst query cells reported
_CHUNK = 4096  # cells per block in the float64 passes: bounded memory for any layer size


def _gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a^T b (cells x p, cells x q) accumulated in float64, block by block."""
    out = torch.zeros(a.shape[1], b.shape[1], dtype=torch.float64, device=a.device)
    for i in range(0, len(a), _CHUNK):
        out += a[i:i + _CHUNK].double().T @ b[i:i + _CHUNK].double()
    return out


def _prefix_correlations(ref: torch.Tensor, red: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(queries, r)``: the cells whose reference map is defined, and r (K x D, float32) with
    r[k, d - 1] the Pearson correlation between query k's full map (dot products of ``ref``,
    M x C) and its map from the first d columns of ``red`` (M x D), each over all M cells.

    No map is formed. For query x with reduced y, the map sums are quadratic forms:
    sum_j x.x_j = x.s, sum_j (x.x_j)^2 = x^T G x, sum_j (x.x_j)(y.y_j) = x^T H y with
    s, G = X^T X, H = X^T Y; the reduced ones restricted to the first d columns are cumulative
    sums over the columns (y^T G_Y y via its diagonal and strictly upper triangle), so one pass
    gives every d. float64 throughout: the variances are differences of nearly equal sums.
    """
    m = len(ref)
    s_x, s_y = ref.double().sum(0), red.double().sum(0)
    g_x, g_y, h = _gram(ref, ref), _gram(red, red), _gram(ref, red)
    upper, diag = torch.triu(g_y, diagonal=1), g_y.diagonal()
    queries, blocks = [], []
    for i in range(0, m, _CHUNK):
        x, y = ref[i:i + _CHUNK].double(), red[i:i + _CHUNK].double()
        sa, saa = x @ s_x, ((x @ g_x) * x).sum(1)
        var_a = saa - sa * sa / m
        keep = var_a > 1e-10 * saa  # zero vectors and constant maps: no correlation is defined
        x, y, sa, var_a = x[keep], y[keep], sa[keep], var_a[keep]
        sb = torch.cumsum(y * s_y, 1)
        sbb = torch.cumsum(y * (2 * (y @ upper) + diag * y), 1)
        sab = torch.cumsum((x @ h) * y, 1)
        var_b = sbb - sb * sb / m
        r = (sab - sa[:, None] * sb / m) / (var_a[:, None] * var_b.clamp_min(0)).sqrt().clamp_min(1e-300)
        r = torch.where(var_b > 1e-10 * sbb, r, torch.zeros_like(r))  # a constant reduced map scores 0
        queries.append(keep.nonzero().squeeze(1) + i)
        blocks.append(r.clamp(-1, 1).float())
    queries, r = torch.cat(queries), torch.cat(blocks)
    if len(queries) == 0:
        raise ValueError("every cell's full-precision similarity map is constant (e.g. all activation vectors "
                         "are zero): map correlation is undefined")
    return queries, r


def _fifth_percentile(r: torch.Tensor) -> torch.Tensor:
    """Per column of r (K x D): the largest value that at least 95% of the K entries reach,
    the (K // 20)-th lowest counting from 0 (at most K // 20 <= 5% of entries lie below it)."""
    return torch.kthvalue(r, len(r) // 20 + 1, dim=0).values


def _summarise(queries: torch.Tensor, r: torch.Tensor, grid: tuple[int, int]) -> QueryCorrelations:
    """One d's correlations (r, K) of the query cells (flat indices into the N x H x W cells)."""
    h, w = grid
    low = torch.topk(r, min(_WORST, len(r)), largest=False)  # sorted, lowest first
    worst = tuple((int(c) // (h * w), int(c) % (h * w) // w, int(c) % w, float(v))
                  for c, v in zip(queries[low.indices].tolist(), low.values.tolist()))
    return QueryCorrelations(fidelity=float(_fifth_percentile(r[:, None])[0]), mean=float(r.double().mean()),
                             min=float(r.min()), worst=worst, n_queries=len(r))


def _value_errors(ref: torch.Tensor, red: torch.Tensor, n_queries: int, seed: int) -> tuple[float, float, int]:
    """Mean and max |full - reduced| similarity over the maps of ``n_queries`` cells drawn
    uniformly (seeded) among those whose reference vector is not zero; and how many."""
    if isinstance(n_queries, bool) or not isinstance(n_queries, int) or n_queries < 1:
        raise ValueError(f"n_queries must be a positive integer, got {n_queries!r}")
    alive = (ref.norm(dim=1) > 0).nonzero().squeeze(1).cpu()
    if len(alive) == 0:
        raise ValueError("every activation vector is zero: there are no similarity maps to compare")
    g = torch.Generator().manual_seed(seed)
    queries = alive[torch.randperm(len(alive), generator=g)[:n_queries]].to(ref.device)
    err = (red[queries] @ red.T - ref[queries] @ ref.T).abs()
    return float(err.mean()), float(err.max()), len(queries)


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
