"""Geometric transformation sweeps: rotate or zoom an image and follow each patch to its new place.

The rotation and scale charts of the similarity-overlay work (Fong, Mordvintsev, Vedaldi
and Olah, VISxAI 2021; chapter 6 of R. Fong's DPhil thesis) plot, against the transform
value, the similarity of a patch's activation vector to the activation vector of the SAME
image content in a transformed copy. That needs two things computed from one map:

* the transformed images (:func:`rotate`, :func:`scale`, :func:`sweep`), and
* for every cell of a layer's activation grid of the original image, the cell of the
  transformed image's grid showing the same content (:func:`cell_correspondence`).

Coordinates. Everything is one linear map ``M`` (2 x 2, about the image centre) in the
normalised coordinates of ``torch.nn.functional.affine_grid`` with ``align_corners=False``:
x runs from -1 (left edge of the first column) to +1 (right edge of the last column), y
from -1 (top edge) to +1 (bottom edge), y pointing DOWN as on screen. ``M`` sends a point of
the original to where that content appears in the transformed image
(:func:`affine_matrix`); the images are resampled with ``M``'s inverse (``grid_sample``
asks, for each output pixel, where to read the input) and the correspondence maps cell
centres with ``M`` itself, so the two agree exactly.

* ``"rotate"``, value in degrees: positive turns the content COUNTER-CLOCKWISE as displayed
  (the convention of ``PIL.Image.rotate`` and torchvision's ``rotate``): at +90 the content
  on the right edge moves to the top edge, and cell (i, j) of an n x n grid goes to
  (n - 1 - j, i). The rotation is a true rotation in pixel space, also for non-square images.
* ``"scale"``, value a zoom factor > 0 about the centre, keeping the H x W size: 2 shows the
  central half (the outer cells of the original fall outside and are invalid), 0.5 shows
  the whole image at half size inside a zero border.

Sampling is bilinear with zero fill: corners uncovered by a rotation and the border of a
zoom-out are black, and stay black. These border artefacts are part of what the charts show
(a network sees a black wedge as content), so nothing here masks or crops them; ``valid``
below only says whether a cell's content is still inside the transformed image.

Cells. A layer's h x w grid is taken to tile the image uniformly (cell (i, j) is centred on
((j + 0.5) W / w, (i + 0.5) H / h) in pixels), the same assumption as
:func:`xai_widgets.similarity.synced_cell`.

Your own transform. Pass a callable ``transform(images, value) -> images`` (N x C x H x W
in, the same shape out) as ``kind`` together with
``correspondence(x, y, value) -> (x2, y2)``: ``x``, ``y`` are float64 tensors of normalised
coordinates (as above) of points of the original image, and ``x2``, ``y2`` (same shape)
where that content lands in the transformed image. Normalised x spans W pixels and y spans
H, so a map that depends on the aspect ratio (a rotation of a non-square image) must use the
image size itself. Example, a horizontal flip::

    flip = lambda images, value: images.flip(-1)
    mirror = lambda x, y, value: (-x, y)
    s = sweep(image, flip, [0], correspondence=mirror)

Everything runs on the device of the images (CPU or CUDA) with no other change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np
import torch

from ..core.warp import KINDS, affine_matrix, as_image_batch, check_hw, rotate, scale, warp
from .maps import unit_vectors

__all__ = ["affine_matrix", "rotate", "scale", "cell_correspondence", "sweep", "Sweep", "KINDS",
           "corresponding_similarity"]

Kind = Union[str, Callable[[torch.Tensor, float], torch.Tensor]]
Correspondence = Callable[[torch.Tensor, torch.Tensor, float], "tuple[torch.Tensor, torch.Tensor]"]


def cell_correspondence(
    kind: Kind,
    value: float,
    grid_hw: Sequence[int],
    image_hw: Sequence[int] | None = None,
    *,
    correspondence: Correspondence | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each cell of an h x w grid of the original lands in the transformed image's grid.

    Returns ``rows``, ``cols`` (int64) and ``valid`` (bool), each h x w: the content of cell
    (i, j) of the original is in cell (rows[i, j], cols[i, j]) of the transformed image,
    found by mapping the centre of cell (i, j) through the transform. Where the centre falls
    outside the transformed image, ``valid`` is False and rows and cols are -1 (mask them
    before indexing: -1 is a valid Python index). A centre landing exactly on a cell edge
    goes to the cell below / to the right.

    ``image_hw`` (pixels) is needed for rotations of images whose aspect ratio differs from
    the grid's; by default the image has the grid's aspect ratio. ``kind`` may be a callable
    transform, in which case ``correspondence`` (see the module docstring) is required.

    Parameters
    ----------
    kind : str or callable
        ``"rotate"`` (degrees), ``"scale"`` (zoom factor) or a callable transform
        ``transform(images, value) -> images``.
    value : float
        The transform value.
    grid_hw : sequence of two ints
        (h, w) of the activation grid.
    image_hw : sequence of two ints or None, default None
        (H, W) of the image in pixels; None: the grid's own (h, w).
    correspondence : callable or None, default None
        ``correspondence(x, y, value) -> (x2, y2)`` in normalised coordinates; required for a
        callable ``kind`` and refused for the built-in kinds.
    device : torch.device, str or None, default None
        Device of the results (None: the default device).

    Returns
    -------
    rows, cols : torch.Tensor
        h x w int64 cell indices in the transformed grid, -1 where not valid.
    valid : torch.Tensor
        h x w bool, False where the cell's centre left the image.

    Raises
    ------
    ValueError
        For an invalid grid or image size, or a missing, superfluous or ill-shaped
        ``correspondence``.
    """
    h, w = check_hw(grid_hw, "grid_hw")
    image_hw = (h, w) if image_hw is None else check_hw(image_hw, "image_hw")
    y = (torch.arange(h, dtype=torch.float64, device=device) * 2 + 1) / h - 1
    x = (torch.arange(w, dtype=torch.float64, device=device) * 2 + 1) / w - 1
    y, x = torch.meshgrid(y, x, indexing="ij")
    x2, y2 = _map_points(kind, value, x, y, image_hw, correspondence)
    # Snap to a 1e-9 cell lattice first so that centres mapped exactly onto a cell edge
    # (a zoom by 2, say) do not flip cells on rounding noise.
    u = torch.floor(torch.round((x2 + 1) / 2 * w * 1e9) / 1e9)
    v = torch.floor(torch.round((y2 + 1) / 2 * h * 1e9) / 1e9)
    valid = (u >= 0) & (u < w) & (v >= 0) & (v < h)  # also False for NaN
    minus = torch.full_like(u, -1)
    rows = torch.where(valid, v, minus).long()
    cols = torch.where(valid, u, minus).long()
    return rows, cols, valid


@dataclass
class Sweep:
    """Transformed copies of one image and the cell correspondence for any layer grid.

    ``images`` is V x C x H x W, one copy per entry of ``values`` (include the identity,
    0 degrees or factor 1, if you want it in the chart).

    Attributes
    ----------
    kind : str or callable
        ``"rotate"``, ``"scale"`` or the callable transform used.
    values : list
        The V transform values.
    images : torch.Tensor
        V x C x H x W transformed copies, on the device of the original image.
    correspondence_fn : callable or None, default None
        The point correspondence of a callable ``kind`` (see the module docstring).
    """

    kind: Kind
    values: list
    images: torch.Tensor
    correspondence_fn: Correspondence | None = None

    def correspondence(self, grid_hw: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``rows, cols, valid``, each V x h x w, for an h x w activation grid (see :func:`cell_correspondence`).

        Parameters
        ----------
        grid_hw : sequence of two ints
            (h, w) of the layer's activation grid.

        Returns
        -------
        tuple of three torch.Tensor
            ``rows`` and ``cols`` (V x h x w int64, -1 where not valid) and ``valid`` (V x h x w
            bool), on the device of ``images``.
        """
        per_value = [
            cell_correspondence(
                self.kind, v, grid_hw, self.images.shape[-2:],
                correspondence=self.correspondence_fn, device=self.images.device,
            )
            for v in self.values
        ]
        return tuple(torch.stack(parts) for parts in zip(*per_value))  # type: ignore[return-value]

    def similarity(self, original_acts: torch.Tensor, swept_acts: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of every cell of the original to its corresponding cell in each copy.

        ``original_acts``: the layer's activations of the original image (1 x C x h x w or
        C x h x w); ``swept_acts``: those of ``self.images`` (V x C x h x w). Returns
        V x h x w, NaN where the cell's content left the image. ``result[:, i, j]`` against
        ``values`` is the chart for patch (i, j); ``result.nanmean((1, 2))`` the average.

        Parameters
        ----------
        original_acts : torch.Tensor
            1 x C x h x w or C x h x w activations of the original image.
        swept_acts : torch.Tensor
            V x C x h x w activations of ``self.images``, same layer.

        Returns
        -------
        torch.Tensor
            V x h x w cosine similarities, NaN where the content left the image.

        Raises
        ------
        ValueError
            If the shapes do not match as described.
        """
        orig = original_acts[None] if original_acts.dim() == 3 else original_acts
        if orig.dim() != 4 or orig.shape[0] != 1:
            raise ValueError(f"original_acts must be 1 x C x h x w, got {tuple(original_acts.shape)}")
        n_values = len(self.values)
        if swept_acts.dim() != 4 or swept_acts.shape[0] != n_values or swept_acts.shape[1:] != orig.shape[1:]:
            raise ValueError(
                f"swept_acts must be {n_values} x {orig.shape[1]} x {orig.shape[2]} x {orig.shape[3]} "
                f"(one per value, same layer), got {tuple(swept_acts.shape)}"
            )
        rows, cols, valid = self.correspondence(orig.shape[-2:])
        a = unit_vectors(orig)[0]  # C x h x w
        b = unit_vectors(swept_acts)  # V x C x h x w
        idx = torch.arange(n_values, device=b.device)[:, None, None]
        matched = b.permute(0, 2, 3, 1)[idx, rows.clamp_min(0), cols.clamp_min(0)]  # V x h x w x C
        sims = (matched * a.permute(1, 2, 0)[None]).sum(-1)
        return sims.masked_fill(~valid.to(sims.device), float("nan"))


def sweep(
    image: torch.Tensor,
    kind: Kind,
    values: Sequence[float],
    *,
    correspondence: Correspondence | None = None,
) -> Sweep:
    """Copies of one image (1 x C x H x W or C x H x W) transformed by each of ``values``.

    ``kind`` is ``"rotate"`` (degrees), ``"scale"`` (zoom factors) or a callable
    ``transform(images, value)`` together with ``correspondence``. The copies are computed
    in one batched ``grid_sample`` for the built-in kinds.

    Parameters
    ----------
    image : torch.Tensor
        One image, 1 x C x H x W or C x H x W.
    kind : str or callable
        ``"rotate"``, ``"scale"`` or a callable transform returning a tensor of the input's shape.
    values : sequence of float
        The transform values, at least one.
    correspondence : callable or None, default None
        ``correspondence(x, y, value) -> (x2, y2)``; required with a callable ``kind``.

    Returns
    -------
    Sweep
        The V = len(values) copies (V x C x H x W, on the image's device) with ``kind``,
        ``values`` and ``correspondence``.

    Raises
    ------
    ValueError
        For a batch of more than one image, no values, a callable ``kind`` without
        ``correspondence``, or a transform returning the wrong shape.
    """
    x = as_image_batch(image)
    if x.shape[0] != 1:
        raise ValueError(f"sweep takes one image, got a batch of {x.shape[0]}; sweep each image separately")
    values = list(values)
    if not values:
        raise ValueError("no transform values given")
    if callable(kind):
        if correspondence is None:
            raise ValueError("a callable transform needs a correspondence callable too (see the module docstring)")
        copies = [kind(x, v) for v in values]
        bad = [tuple(c.shape) for c in copies if not isinstance(c, torch.Tensor) or c.shape != x.shape]
        if bad:
            raise ValueError(f"the transform must return a tensor of the input's shape {tuple(x.shape)}, got {bad[0]}")
        out = torch.cat(copies)
    else:
        out = warp(x, [affine_matrix(kind, v, x.shape[-2:]) for v in values])
    return Sweep(kind, values, out, correspondence)


def corresponding_similarity(vectors: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                             valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dot product of every cell of the original with its corresponding cell in each copy.

    The numbers of the rotation and scale charts (Fong et al. 2021): with unit vectors, the
    cosine similarity of a patch to the same content in each transformed copy. Products are
    summed in float64, so for float32 inputs decoded from float16 (as a browser has them) the
    result is within the browser's float32 rounding bound of its own sums.

    Parameters
    ----------
    vectors : numpy.ndarray
        (V + 1) x h x w x C cell vectors: the original's, then those of the V copies.
    rows, cols : numpy.ndarray
        V x h x w int cell indices of the corresponding cells in each copy
        (:meth:`Sweep.correspondence`); any value where not ``valid``.
    valid : numpy.ndarray
        V x h x w bool, False where the cell's content left the copy.

    Returns
    -------
    curves : numpy.ndarray
        V x h x w float64, NaN where not valid; ``curves[:, i, j]`` against the values is the
        chart of cell (i, j).
    mean : numpy.ndarray
        V float64: the mean of ``curves`` over the valid cells of each copy, NaN where none is.
    """
    orig = vectors[0].astype(np.float64)
    curves = np.stack([
        (vectors[k + 1][rows[k].clip(0), cols[k].clip(0)].astype(np.float64) * orig).sum(-1)
        for k in range(len(rows))
    ])
    curves[~valid] = np.nan
    counts = valid.sum(axis=(1, 2))
    mean = np.where(counts > 0, np.nansum(curves, axis=(1, 2)) / np.maximum(counts, 1), np.nan)
    return curves, mean


# ------------------------------------------------------------------ helpers


def _map_points(kind, value, x, y, image_hw, correspondence):
    if callable(kind):
        if correspondence is None:
            raise ValueError("a callable transform needs a correspondence callable too (see the module docstring)")
        x2, y2 = correspondence(x, y, value)
        x2, y2 = torch.as_tensor(x2, dtype=torch.float64), torch.as_tensor(y2, dtype=torch.float64)
        if x2.shape != x.shape or y2.shape != y.shape:
            raise ValueError(f"correspondence must return two tensors of shape {tuple(x.shape)}")
        return x2.to(x.device), y2.to(x.device)
    if correspondence is not None:
        raise ValueError(f"correspondence is for callable transforms; {kind!r} has its own")
    m = affine_matrix(kind, value, image_hw).to(x.device)
    return m[0, 0] * x + m[0, 1] * y, m[1, 0] * x + m[1, 1] * y
