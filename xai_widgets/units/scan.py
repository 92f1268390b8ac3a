"""Dataset scans of one layer: top-k activating patches, unit statistics, Network Dissection.

* :func:`scan` streams a dataset through the model once and keeps, per channel, the k images
  that activate it most with the patch of the image under the unit's receptive field, as the
  Deep Visualization Toolbox's top-9 images (Yosinski, Clune, Nguyen, Fuchs and Lipson,
  "Understanding Neural Networks Through Deep Visualization", ICML DL workshop 2015) and
  "feature visualisation by dataset examples" (Olah, Mordvintsev and Schubert, "Feature
  Visualization", Distill 2017). It also gathers unit statistics: dead and constant units
  (Palacio et al., "What do Deep Networks Like to See?", CVPR 2018, flag units whose output
  carries no information) and the class selectivity index of Morcos, Barrett, Rabinowitz and
  Botvinick, "On the importance of single directions for generalization", ICLR 2018.
* :func:`receptive_field` measures where in the input one activation cell looks.
* :func:`dissect` scores units against concept masks as Network Dissection (Bau, Zhou, Khosla,
  Oliva and Torralba, "Network Dissection: Quantifying Interpretability of Deep Visual
  Representations", CVPR 2017).

Everything runs in eval mode under ``torch.no_grad`` on the model's device and leaves the
model as it was (see :mod:`xai_widgets.core.capture`), also when the forward raises or the scan is
cancelled. Maths only: no widget code here. The streaming accumulators, and how their partial
results merge, are in :mod:`xai_widgets.units.partials`; ``engine="ray"`` scans shards of the
dataset on Ray workers (:mod:`xai_widgets.core.distributed`) and merges them into the
single pass's result.
"""
from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import tasks
from ..core.cache import cache_path, dataset_part, load_npz, model_hash, save_npz
from ..core.capture import preserved_model, unknown_layer_error, layer_output, model_device
from .grid import check_objective, unit_value
from ..core.images import check_input_size, model_input, to_uint8
from ..core import distributed
from ..core.partials import IoUCounts, TopValues, numpy_of
from .partials import CONSTANT_EPS, GRAY, RunningTopK, StatsAccumulator

__all__ = [
    "ReceptiveField",
    "UnitStats",
    "TopK",
    "Dissection",
    "receptive_field",
    "scan",
    "dissect",
    "CONSTANT_EPS",
    "DETECTOR_IOU",
]

DETECTOR_IOU = 0.04  # a unit detects its best concept above this IoU (Bau et al. 2017, section 3.1)
_RF_SAMPLES = 4  # random inputs per measured cell (their gradient supports are united)
_RF_EXAMPLES = 2  # example inputs (e.g. dataset images) used on top of the random ones
_RF_GROWTH = (2, 4)  # larger inputs tried when the receptive field touches the image border
_CACHE_VERSION = 1
_DISSECT_CHUNK = 1 << 24  # upsampled values per chunk of units in dissect (64 MiB float32)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ReceptiveField:
    """Where activation cell (row, col) of a layer looks in the input, in input pixels.

    ``size`` (h, w) of the box; ``stride`` (sy, sx), input pixels per activation cell;
    ``origin`` (y0, x0), the top-left corner of cell (0, 0)'s box (negative with padding);
    ``grid`` (H_act, W_act), the layer's spatial size; ``input_hw`` (H, W) of the input.
    Along an axis with a single cell the stride is the input size; it is 0 when every cell
    sees the whole image (non-local layers, see :func:`receptive_field`).

    Attributes
    ----------
    size : tuple of (int, int)
        (h, w) of the box in input pixels.
    stride : tuple of (int, int)
        (sy, sx), input pixels per activation cell.
    origin : tuple of (int, int)
        (y0, x0), top-left corner of cell (0, 0)'s box.
    grid : tuple of (int, int)
        (H_act, W_act), the layer's spatial size.
    input_hw : tuple of (int, int)
        (H, W) of the input.
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    origin: tuple[int, int]
    grid: tuple[int, int]
    input_hw: tuple[int, int]

    def box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(y0, x0, y1, x1)`` of cell (row, col), exclusive ends; may extend outside the image.

        Parameters
        ----------
        row, col : int
            The activation cell, inside ``grid``.

        Returns
        -------
        tuple of four ints
            ``(y0, x0, y1, x1)`` in input pixels.

        Raises
        ------
        ValueError
            If the cell is outside the grid.
        """
        if not (0 <= row < self.grid[0] and 0 <= col < self.grid[1]):
            raise ValueError(f"cell ({row}, {col}) is outside the {self.grid[0]} x {self.grid[1]} grid")
        y0 = self.origin[0] + row * self.stride[0]
        x0 = self.origin[1] + col * self.stride[1]
        return y0, x0, y0 + self.size[0], x0 + self.size[1]


@dataclass
class UnitStats:
    """Per-channel statistics of a scan (numpy arrays of length C).

    ``max``, ``mean``, ``std`` (population, ddof 0): of the per-image channel score (the
    spatial max of the channel map) over the dataset. ``frac_active``: fraction of images
    whose score is > 0. ``dead``: the score is never > 0 (for a ReLU layer: the unit never
    fires). ``constant``: the channel map is the same for every image, i.e. the largest,
    over the cells, of the std across images is <= ``CONSTANT_EPS`` x the RMS of the whole
    layer's activations (a dead ReLU unit is constant too). ``selectivity``: class
    selectivity index (Morcos et al. 2018) (mu_max - mu_rest) / (mu_max + mu_rest) of the
    per-class mean scores, mu_max the largest and mu_rest the mean of the other classes'
    (classes without images are left out); in [0, 1] for non-negative scores, NaN where the
    denominator is <= 0 or fewer than two classes occur. ``selective_class``: the class with
    the largest mean score. Both are None when the dataset has no labels.

    Attributes
    ----------
    max, mean, std : numpy.ndarray
        C values: statistics of the per-image channel score.
    frac_active : numpy.ndarray
        C values: fraction of images with score > 0.
    dead : numpy.ndarray
        C bools: the score is never > 0.
    constant : numpy.ndarray
        C bools: the channel map is the same for every image.
    selectivity : numpy.ndarray or None, default None
        C class selectivity indices, or None without labels.
    selective_class : numpy.ndarray or None, default None
        C class indices with the largest mean score, or None without labels.
    """

    max: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    frac_active: np.ndarray
    dead: np.ndarray
    constant: np.ndarray
    selectivity: np.ndarray | None = None
    selective_class: np.ndarray | None = None


@dataclass
class TopK:
    """The k images that activate each channel most (see :func:`scan`).

    ``values`` C x k, descending: the image's channel score, the channel map reduced over
    space by ``score`` (:func:`xai_widgets.units.grid.unit_value`; ``"max"`` by default, as
    DeepVis ranks); ties keep the earlier image first.
    ``indices`` C x k: position of the image in the dataset's iteration order.
    ``locations`` C x k x 2: (row, col) of that max in the activation grid (the first in
    row-major order when it is reached at several cells). ``patches`` C x k x ph x pw x 3
    uint8: the receptive field box around the max, cropped from the image as the model
    saw it, gray (128) outside the image; ph x pw is ``rf.size``, clipped to the input
    size (a window centred on the box) when the receptive field is larger than the image.
    ``k`` is the number kept: the k asked for, or the number of images when fewer.

    Attributes
    ----------
    layer : str
        The layer scanned.
    k : int
        Number of images kept per channel.
    n_images : int
        Number of images scanned.
    values : numpy.ndarray
        C x k channel scores, descending.
    indices : numpy.ndarray
        C x k image positions in iteration order.
    locations : numpy.ndarray
        C x k x 2 (row, col) of each image's max.
    patches : numpy.ndarray
        C x k x ph x pw x 3 uint8 receptive-field patches.
    stats : UnitStats
        Per-channel statistics over the dataset.
    rf : ReceptiveField
        The layer's receptive field.
    score : str, default "max"
        The ranking objective ("max", "mean" or "sum").
    """

    layer: str
    k: int
    n_images: int
    values: np.ndarray
    indices: np.ndarray
    locations: np.ndarray
    patches: np.ndarray
    stats: UnitStats
    rf: ReceptiveField
    score: str = "max"


@dataclass
class Dissection:
    """Network Dissection of one layer (see :func:`dissect`).

    ``iou`` C x n_concepts: dataset-wide IoU of each unit's thresholded map with each
    concept; ``concepts``: their names; ``thresholds`` (C): each unit's activation
    threshold T_k; ``best`` (C): the index of the unit's highest-IoU concept, -1 when that
    IoU is not above ``threshold``.

    Attributes
    ----------
    layer : str
        The layer dissected.
    concepts : list of str
        Concept names, in the order of the columns of ``iou``.
    iou : numpy.ndarray
        C x n_concepts IoU values.
    thresholds : numpy.ndarray
        C activation thresholds T_k.
    best : numpy.ndarray
        C concept indices, -1 where no IoU is above ``threshold``.
    threshold : float
        The IoU above which a unit detects a concept.
    """

    layer: str
    concepts: list[str]
    iou: np.ndarray
    thresholds: np.ndarray
    best: np.ndarray
    threshold: float

    def label(self, c: int) -> str | None:
        """The concept unit ``c`` detects, or None.

        Parameters
        ----------
        c : int
            Unit (channel) index.

        Returns
        -------
        str or None
            The name of the unit's best concept, or None when it detects none.
        """
        j = int(self.best[c])
        return self.concepts[j] if j >= 0 else None

    @property
    def unique_detectors(self) -> int:
        """How many distinct concepts have a detector in this layer (Bau et al.'s measure).

        Returns
        -------
        int
            Number of distinct concepts among the units' ``best``.
        """
        return len({int(j) for j in self.best if j >= 0})


# ----------------------------------------------------------------------------- forward


def _check_layer(model: nn.Module, layer: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (str), got {type(layer).__name__}")
    names = sorted(name for name, _ in model.named_modules() if name)
    if layer.split(":")[0] not in names:
        raise unknown_layer_error([layer], names)


def _forward_to(model: nn.Module, x: torch.Tensor, layer: str, layouts) -> torch.Tensor:
    """``layer``'s output for ``x`` as N x C x H x W (whatever its layout); the rest of the forward is skipped."""
    return layer_output(model, x, layer, layouts).maps


def _random_inputs(shape, generator) -> torch.Tensor:
    """``_RF_SAMPLES`` inputs in [0, 1]: white noise and smooth noise (coarse noise upsampled
    by 4 and 16), because a trained network can be silent on white noise alone (the demo
    model's relu3 is)."""
    c, h, w = shape
    out = []
    for i in range(_RF_SAMPLES):
        factor = 4 ** (i % 3)
        coarse = torch.rand((1, c, max(1, h // factor), max(1, w // factor)), generator=generator)
        out.append(F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False))
    return torch.cat(out)


def _support_boxes(model, layer, samples, cells, generator, layouts) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (y0, x0, y1, x1) of the input-gradient support of each cell.

    Every cell gets all ``samples``; the gradient of a random positive mix of its channels
    is taken w.r.t. all of them in one backward pass (eval mode keeps the samples
    independent), and the supports are united.
    """
    m, hw = len(samples), samples.shape[2:]
    x = samples.repeat(len(cells), 1, 1, 1).to(model_device(model)).requires_grad_(True)
    with torch.enable_grad():
        out = _forward_to(model, x, layer, layouts)
        mix = torch.rand(out.shape[1], generator=generator).to(out) + 0.5  # no exact cancellation
        picked = torch.stack([out[i * m:(i + 1) * m, :, r, c] for i, (r, c) in enumerate(cells)])
        (grad,) = torch.autograd.grad((picked * mix).sum(), x)
    support = grad.detach().abs().sum(1).reshape(len(cells), m, *hw).sum(1) > 0
    boxes = []
    for cell, mask in zip(cells, support):
        ys, xs = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
        if ys.numel() == 0:
            raise ValueError(
                f"layer {layer!r}: activation cell {cell} does not depend on the input for the "
                "random inputs tried (the layer is silent on them); pass example inputs "
                "(receptive_field(..., inputs=batch)) to measure its receptive field"
            )
        boxes.append((int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1))
    return boxes


def _touches_border(box, hw) -> bool:
    y0, x0, y1, x1 = box
    return y0 <= 0 or x0 <= 0 or y1 >= hw[0] or x1 >= hw[1]


def _measure(model, layer, shape, examples, generator, layouts):
    """The grid and the boxes of two diagonal neighbours near the centre at input ``shape``
    (random inputs plus ``examples`` resized to ``shape``)."""
    samples = _random_inputs(shape, generator)
    if examples is not None:
        resized = F.interpolate(examples, size=shape[1:], mode="bilinear", align_corners=False)
        samples = torch.cat([samples, resized.to(samples)])
    with torch.no_grad():
        grid = tuple(_forward_to(model, samples[:1].to(model_device(model)), layer, layouts).shape[2:])
    a = ((grid[0] - 1) // 2, (grid[1] - 1) // 2)
    b = (min(a[0] + 1, grid[0] - 1), min(a[1] + 1, grid[1] - 1))
    return grid, (a, b), _support_boxes(model, layer, samples, [a, b], generator, layouts)


def _field_from(boxes, cells, grid, input_hw) -> ReceptiveField:
    """Size, stride and origin from the boxes of two cells (the larger box is the reference:
    a random input can only hide part of the support, never add to it)."""
    (ba, bb), (ca, cb) = boxes, cells
    stride = []
    for axis in (0, 1):
        if ca[axis] == cb[axis]:
            stride.append(input_hw[axis])
        else:
            centre_shift = (bb[axis] + bb[axis + 2] - ba[axis] - ba[axis + 2]) / 2
            stride.append(round(centre_shift / (cb[axis] - ca[axis])))
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    ref, cell = (ba, ca) if area[0] >= area[1] else (bb, cb)
    size = (ref[2] - ref[0], ref[3] - ref[1])
    origin = (ref[0] - cell[0] * stride[0], ref[1] - cell[1] * stride[1])
    return ReceptiveField(size, tuple(stride), origin, tuple(grid), tuple(input_hw))


def receptive_field(
    model: nn.Module, layer: str, input_shape: tuple[int, int, int], *, inputs: torch.Tensor | None = None,
    layouts: dict | None = None,
) -> ReceptiveField:
    """The receptive field of ``layer``'s cells for inputs of ``input_shape`` (C, H, W), measured.

    Empirical rather than derived from module arithmetic, so it works for any model
    (residual branches, dilations, custom modules): the box is the bounding box of the
    union of the nonzero input-gradient support of one activation cell over a few random
    inputs. Several inputs are needed because ReLUs and max-pools route gradient through
    only part of the region a cell depends on, and a different part for each input; the
    union recovers the whole region. The random inputs mix white and smooth noise, and
    ``inputs`` (optional model inputs, N x C x H x W, e.g. dataset images; the first few are
    used) join them for layers that random inputs leave silent. Two diagonal neighbours
    near the centre give the box size and the stride.

    When the box touches the image border the field may be larger than the image shows,
    so it is measured again at 2x and 4x the input size (for fully convolutional layers the
    field does not depend on the input size); if that does not fit either, or the model
    cannot take larger inputs, the box measured at ``input_shape`` (clipped to the image) is
    returned. Layers with non-local operations (attention, squeeze-and-excitation) depend on
    every pixel: their box is the whole image. Runs on the model's device, in eval mode,
    leaving the model untouched; seeded, so the result is reproducible.

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is left exactly as it was.
    layer : str
        Name of the layer whose cells are measured.
    input_shape : tuple of (int, int, int)
        (C, H, W) of the model input, positive sizes.
    inputs : torch.Tensor or None, default None
        Optional N x C x H x W example inputs; the first two are used.
    layouts : dict or None, default None
        ``{layer: layout}`` for layers whose layout is not detected.

    Returns
    -------
    ReceptiveField
        Size, stride and origin of the boxes, with the layer's grid and ``input_shape``'s (H, W).

    Raises
    ------
    TypeError, ValueError
        For a model that is not a module, an unknown layer, an invalid ``input_shape`` or
        ``inputs``.
    """
    _check_layer(model, layer)
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) of positive sizes, got {input_shape!r}")
    check_input_size(torch.empty(0, *shape), "receptive_field", "input_shape")
    examples = None
    if inputs is not None:
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or tuple(inputs.shape[1:2]) != shape[:1]:
            got = getattr(inputs, "shape", inputs)
            raise ValueError(f"inputs must be an N x {shape[0]} x H x W tensor, got {got!r}")
        examples = inputs[:_RF_EXAMPLES].detach().float().cpu()
    generator = torch.Generator().manual_seed(0)
    with preserved_model(model, eval_mode=True):
        grid, cells, boxes = _measure(model, layer, shape, examples, generator, layouts)
        field = _field_from(boxes, cells, grid, shape[1:])
        if grid == (1, 1) or not any(_touches_border(b, shape[1:]) for b in boxes):
            return field
        for factor in _RF_GROWTH:
            big = (shape[0], shape[1] * factor, shape[2] * factor)
            try:
                big_grid, big_cells, big_boxes = _measure(model, layer, big, examples, generator, layouts)
            except (RuntimeError, ValueError, AssertionError):  # torchvision's ViT asserts its image size
                break  # the model takes only its own input size (or the layer is degenerate there)
            if big_grid[0] <= grid[0] or big_grid[1] <= grid[1]:
                break  # the grid does not grow with the input: not fully convolutional
            if not any(_touches_border(b, big[1:]) for b in big_boxes):
                found = _field_from(big_boxes, big_cells, big_grid, big[1:])
                return ReceptiveField(found.size, found.stride, found.origin, grid, tuple(shape[1:]))
    return field


# ----------------------------------------------------------------------------- datasets


@dataclass
class _Batch:
    x: torch.Tensor  # N x C x H x W float, CPU
    labels: torch.Tensor | None  # N int64
    raw: bool  # x holds pixels in [0, 1] (shown as is) rather than preprocessed values


def _is_dataloader(dataset) -> bool:
    return isinstance(dataset, torch.utils.data.DataLoader)


def _items(dataset) -> Iterator:
    """Iterate a dataset: by index when it is map-style (len and getitem, no iter)."""
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__") and not hasattr(dataset, "__iter__"):
        return (dataset[i] for i in range(len(dataset)))
    try:
        return iter(dataset)
    except TypeError:
        raise TypeError(
            f"dataset must be an iterable of images or (image, label) pairs, or a DataLoader; "
            f"got {type(dataset).__name__}"
        ) from None


def _label(value, index: int) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise TypeError(f"item {index}: labels must be class indices (non-negative ints), got {value!r}")


def _split(item, index: int, what: str = "item"):
    """An item (or a DataLoader batch) as (image, label or None); a 1-tuple, as a
    ``TensorDataset`` of images yields, holds only the image."""
    if not isinstance(item, (tuple, list)):
        return item, None
    if len(item) == 1:
        return item[0], None
    if len(item) == 2:
        return item[0], item[1]
    raise ValueError(f"{what} {index}: a tuple of {len(item)} values; expected an image or (image, label)")


def _pack(inputs: list, labels: list, raw: bool, start: int) -> _Batch:
    shapes = {tuple(x.shape[1:]) for x in inputs}
    if len(shapes) != 1:
        raise ValueError(
            f"images {start}-{start + len(inputs) - 1} differ in size ({sorted(shapes)}); all images "
            "must share one size: resize them or pass a preprocess that does"
        )
    if len({lab is None for lab in labels}) != 1:
        raise ValueError(f"images {start}-{start + len(inputs) - 1}: some items have labels and some do not")
    y = None if labels[0] is None else torch.tensor(labels, dtype=torch.int64)
    return _Batch(torch.cat(inputs), y, raw)


def _image_batches(items: Iterable, model, preprocess, batch_size: int, start: int = 0) -> Iterator[_Batch]:
    """Images or (image, label) pairs converted by ``images.model_input``, ``batch_size`` at a time."""
    inputs, labels = [], []
    for i, item in enumerate(items, start):
        image, label = _split(item, i)
        inputs.append(model_input(image, model, preprocess, i))
        labels.append(None if label is None else _label(label, i))
        if len(inputs) == batch_size:
            yield _pack(inputs, labels, preprocess is None, i + 1 - batch_size)
            inputs, labels = [], []
    if inputs:
        yield _pack(inputs, labels, preprocess is None, i + 1 - len(inputs))


def _loader_batches(loader, model, preprocess) -> Iterator[_Batch]:
    """A DataLoader's batches: float N x C x H x W tensors are model inputs as they are
    (already preprocessed); other batches are split into images for ``model_input``."""
    start = 0
    for i, batch in enumerate(loader):
        batch, labels = _split(batch, i, "batch")
        if not isinstance(batch, torch.Tensor):
            raise TypeError(f"batch {i}: expected a tensor of images, got {type(batch).__name__}")
        if batch.is_floating_point() and batch.dim() == 4:
            y = None
            if labels is not None:
                y = torch.tensor([_label(v, start + j) for j, v in enumerate(labels)], dtype=torch.int64)
            yield _Batch(batch.float(), y, False)
        else:
            pairs = batch if labels is None else zip(batch, labels)
            yield from _image_batches(pairs, model, preprocess, len(batch), start)
        start += len(batch)


def _batches(dataset, model, preprocess, batch_size: int) -> Iterator[_Batch]:
    if _is_dataloader(dataset):
        return _loader_batches(dataset, model, preprocess)
    return _image_batches(_items(dataset), model, preprocess, batch_size)


def _length(dataset) -> int | None:
    """Number of images when known without iterating."""
    if _is_dataloader(dataset):
        if dataset.batch_size is None:
            return None
        try:
            n = len(dataset.sampler)
        except TypeError:
            return None
        return n - n % dataset.batch_size if dataset.drop_last else n
    try:
        return len(dataset)
    except TypeError:
        return None


# ----------------------------------------------------------------------------- top-k


def _patch_window(rf: ReceptiveField) -> tuple[tuple[int, int], tuple[int, int]]:
    """Patch size (the box clipped to the input size) and its offset inside the box."""
    size = tuple(min(s, n) for s, n in zip(rf.size, rf.input_hw))
    return size, tuple((s - p) // 2 for s, p in zip(rf.size, size))


def _cropper(x: torch.Tensor, raw: bool, rf: ReceptiveField) -> Callable:
    """``crop(images, cells)``: uint8 patches (E x ph x pw x 3) of batch ``x`` around flat cells.

    Raw inputs (pixels in [0, 1]) are shown as they are; preprocessed inputs are min-max
    mapped to [0, 255] per image. Inputs with other than 1 or 3 channels show their mean.
    """
    (ph, pw), (dy, dx) = _patch_window(rf)
    h, w = x.shape[2:]

    def crop(images: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        if raw:
            lo, span = x.new_zeros(len(x)), x.new_ones(len(x))
        else:
            lo, hi = x.amin((1, 2, 3)), x.amax((1, 2, 3))
            span = (hi - lo).where(hi > lo, 1)
        row, col = cells // rf.grid[1], cells % rf.grid[1]
        ys = (rf.origin[0] + row * rf.stride[0] + dy)[:, None] + torch.arange(ph, device=x.device)
        xs = (rf.origin[1] + col * rf.stride[1] + dx)[:, None] + torch.arange(pw, device=x.device)
        inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
        pixels = x[images[:, None, None], :, ys.clamp(0, h - 1)[:, :, None], xs.clamp(0, w - 1)[:, None, :]]
        scaled = (pixels - lo[images].view(-1, 1, 1, 1)) / span[images].view(-1, 1, 1, 1)  # E ph pw C
        if scaled.shape[-1] != 3:
            scaled = scaled.mean(-1, keepdim=True).expand(*scaled.shape[:-1], 3)
        out = to_uint8(scaled)
        return out.where(inside[..., None], torch.tensor(GRAY, dtype=torch.uint8, device=x.device))

    return crop


# ----------------------------------------------------------------------------- scan


def _check_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def scan(
    model: nn.Module,
    layer: str,
    dataset,
    *,
    k: int = 9,
    preprocess=None,
    batch_size: int = 64,
    progress=None,
    cancel=None,
    cache_dir: str | Path | None = None,
    cache: bool = True,
    dataset_key: str | None = None,
    layouts: dict | None = None,
    score: str = "max",
    engine: str | None = None,
    workers: int | None = None,
) -> TopK:
    """Top-k images per channel of a layer, with receptive-field patches and unit statistics.

    One streaming pass of ``dataset`` through ``model``: the top-``k`` images per channel of
    ``layer`` with their receptive-field patches, and unit statistics (see :class:`TopK`,
    :class:`UnitStats`). DeepVis top-9 images (Yosinski et al. 2015); statistics after
    Palacio et al. 2018 and Morcos et al. 2018 (see the module docstring).

    ``dataset``: an iterable of images in any form :mod:`xai_widgets.core.images` accepts, or of
    (image, label) pairs (a torch map-style Dataset such as the demo ShapesSet is read by
    index); images go through ``images.model_input`` with ``preprocess``, ``batch_size`` at a
    time, and must all have one size. Or a torch DataLoader yielding float N x C x H x W
    batches, alone or with labels: these are model inputs as they are (already
    preprocessed; ``preprocess`` is not applied) and keep the loader's batching; non-float
    batches are split into images.
    ``indices`` count images in iteration order (use an unshuffled loader).

    ``score`` ranks the images: the channel map's spatial ``"max"`` (DeepVis), ``"mean"`` or
    ``"sum"`` (:func:`xai_widgets.units.grid.unit_value`). The patch is the receptive field around
    the map's max whatever the score; the statistics (:class:`UnitStats`) always use the max.

    Patches show the image as the model saw it: without ``preprocess`` the input pixels
    (colour or grey, whichever the model takes); with ``preprocess`` or preprocessed batches
    the model input min-max mapped to [0, 255] per image (exact geometry, colours up to
    the normalisation). ``k`` larger than the dataset is clamped (``TopK.k``).

    Runs on the model's device; the running top-k, the patches and the statistics stay on
    the device. ``progress(done, total)`` is called after each batch (images done; total
    from ``len`` when known, else None); ``cancel`` (see :mod:`xai_widgets.core.tasks`) is checked
    before each batch and raises ``tasks.Cancelled``, leaving model and cache as they were.

    Cache: with ``cache=True`` the result is stored as an ``.npz`` (no pickles) in
    ``cache_dir`` (default: ``$XAI_WIDGETS_CACHE`` or ``~/.cache/xai_widgets``), keyed by a
    hash of the model's class and state_dict bytes, ``layer``, ``k``, ``repr(preprocess)``
    and the dataset: ``dataset_key`` when given, else a hash of ``len(dataset)`` and its
    first and last few items. That fingerprint does not notice a dataset changed only in
    the middle (pass ``dataset_key``), and datasets without ``len`` and indexing (generators,
    iterable datasets) are not cached without a ``dataset_key``; a preprocess whose repr
    changes between sessions (a lambda) always misses. A cached result loads with no
    forward pass.

    ``engine="ray"`` (or a ``ray.data.Dataset`` as ``dataset``) scans on Ray: see
    :mod:`xai_widgets.core.distributed` for the shards, the workers and their devices. The
    partial top-k, statistics and patches are merged into the single pass's result: equal
    top-k indices, scores, locations, patches and counts (ties ordered by image index as
    here); mean and std within one float32 step (their float64 moments merge in another
    order). ``progress`` is then called as shards finish.

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is left exactly as it was.
    layer : str
        Name of the layer scanned.
    dataset : iterable or torch.utils.data.DataLoader
        Images, (image, label) pairs, or a DataLoader of model-input batches.
    k : int, default 9
        Images kept per channel, positive.
    preprocess : callable or None, default None
        Passed to ``images.model_input`` for each image (not applied to DataLoader batches).
    batch_size : int, default 64
        Images per forward pass, positive (DataLoaders keep their own batching).
    progress : callable or None, default None
        ``progress(done, total)`` after each batch.
    cancel : threading.Event, callable or None, default None
        Checked before each batch.
    cache_dir : str, pathlib.Path or None, default None
        Cache folder; None: ``$XAI_WIDGETS_CACHE`` or ``~/.cache/xai_widgets``.
    cache : bool, default True
        Read and write the cache.
    dataset_key : str or None, default None
        Names the dataset in the cache key instead of its fingerprint.
    layouts : dict or None, default None
        ``{layer: layout}`` for layers whose layout is not detected.
    score : {"max", "mean", "sum"}, default "max"
        How each image's channel map is ranked.
    engine : {"local", "ray"} or None, default None
        Where the scan runs: in this process, or on Ray (``pip install "xai_widgets[ray]"``).
        None: "ray" for a ``ray.data.Dataset``, else "local".
    workers : int or None, default None
        Ray only: the number of shards scanned in parallel; None: one per CPU of the cluster
        (per GPU when the model is on a GPU).

    Returns
    -------
    TopK
        The top-k images, patches and unit statistics of every channel.

    Raises
    ------
    TypeError, ValueError
        For a model that is not a module, an unknown layer, a non-positive ``k`` or
        ``batch_size``, an unknown ``score`` or ``engine``, unusable dataset items, or a
        dataset that cannot be cut into shards for Ray.
    ImportError
        For ``engine="ray"`` without Ray installed.
    xai_widgets.core.tasks.Cancelled
        When ``cancel`` is set.
    """
    _check_layer(model, layer)
    k = _check_int(k, "k")
    batch_size = _check_int(batch_size, "batch_size")
    check_objective(score)
    engine = distributed.engine_for(engine, dataset, workers)
    path = _cache_path(model, layer, k, preprocess, dataset, cache_dir, dataset_key, layouts, score) if cache else None
    loaded = load_npz(path, _from_arrays, "scan")
    if loaded is not None:
        return loaded
    result = _scan(model, layer, dataset, k, preprocess, batch_size, progress, cancel, layouts, score, engine, workers)
    if path is not None:
        save_npz(path, _arrays(result), "scan")
    return result


def _scan(model, layer, dataset, k, preprocess, batch_size, progress, cancel, layouts, score, engine, workers) -> TopK:
    if engine == "ray":
        part = _scan_on_ray(model, layer, dataset, k, preprocess, batch_size, progress, cancel, layouts, score, workers)
    else:
        total = _length(dataset)
        tasks.check(cancel)
        batches = _batches(dataset, model, preprocess, batch_size)
        part = _scan_part(model, layer, batches, k, layouts, score, _ScanPart(0), cancel,
                          lambda done: tasks.report(progress, done, total))
    return part.result(layer, score)


@dataclass
class _ScanPart:
    """The scan of consecutive images from ``first`` on: what merges into a :class:`TopK`."""

    first: int
    rf: ReceptiveField | None = None
    input_shape: tuple | None = None
    running: RunningTopK | None = None
    stats: StatsAccumulator = field(default_factory=StatsAccumulator)
    n: int = 0

    def merge(self, other: "_ScanPart") -> "_ScanPart":
        if other.running is None:
            return self
        if self.running is None:
            return other
        self.running, self.stats = self.running.merge(other.running), self.stats.merge(other.stats)
        self.n += other.n
        return self

    def to(self, device) -> "_ScanPart":
        self.stats = self.stats.to(device)
        self.running = None if self.running is None else self.running.to(device)
        return self

    def result(self, layer: str, score: str) -> TopK:
        if self.running is None:
            raise ValueError("the dataset is empty: it yielded no images")
        values, indices, locations, patches = self.running.result(self.n, self.rf.grid[1])
        unit_stats = UnitStats(**self.stats.result())
        if not np.isfinite(unit_stats.mean).all():
            raise ValueError(f"layer {layer!r} produced NaN or infinite activations on this dataset")
        return TopK(layer, values.shape[1], self.n, values, indices, locations, patches, unit_stats, self.rf, score)


def _scan_part(model, layer, batches, k, layouts, score, part, cancel=None, on_batch=None) -> _ScanPart:
    """Stream ``batches`` (images ``part.first`` on) into ``part``; the receptive field is
    measured on the first batch unless ``part`` has one."""
    device = model_device(model)
    done = part.first
    with preserved_model(model, eval_mode=True):
        for batch in batches:
            tasks.check(cancel)
            if part.input_shape is None:
                check_input_size(batch.x, "scan", "each dataset image")
                part.input_shape = tuple(batch.x.shape[1:])
                part.rf = receptive_field(model, layer, part.input_shape, inputs=batch.x, layouts=layouts)
            elif tuple(batch.x.shape[1:]) != part.input_shape:
                raise ValueError(
                    f"images {done}-{done + len(batch.x) - 1} have model input shape "
                    f"{tuple(batch.x.shape[1:])} but the first had {part.input_shape}; all images must "
                    "share one size: resize them or pass a preprocess that does"
                )
            x = batch.x.to(device)
            with torch.no_grad():
                acts = _forward_to(model, x, layer, layouts)
                peak, where = acts.flatten(2).max(2)
                scores = peak if score == "max" else unit_value(acts, score)
                if part.running is None:
                    part.running = RunningTopK(acts.shape[1], k, _patch_window(part.rf)[0], device)
                if (part.stats.class_sums is None) != (batch.labels is None) and done > part.first:
                    raise ValueError(f"images from {done} on: some items have labels and some do not")
                part.stats.update(acts, peak, batch.labels)
                part.running.update(scores, where, done, _cropper(x, batch.raw, part.rf))
            done += len(x)
            part.n += len(x)
            if on_batch is not None:
                on_batch(part.n)
    return part


def _first_batch(dataset, shards, model, preprocess) -> _Batch | None:
    """The dataset's first images, read here (None when there are none)."""
    data = dataset
    if distributed.is_ray_dataset(dataset):
        data = shards[0].data() if shards else ()
    head = data if _is_dataloader(data) else itertools.islice(_items(data), _RF_EXAMPLES)
    return next(_batches(head, model, preprocess, _RF_EXAMPLES), None)


def _scan_on_ray(model, layer, dataset, k, preprocess, batch_size, progress, cancel, layouts, score, workers):
    """Shards scanned by Ray workers and merged in dataset order; the receptive field is measured
    here, from the first images, as the single pass measures it."""
    shards = distributed.shards(dataset, workers, batch_size, model_device(model))
    first = _first_batch(dataset, shards, model, preprocess)
    if first is None:
        raise ValueError("the dataset is empty: it yielded no images")
    check_input_size(first.x, "scan", "each dataset image")
    shape = tuple(first.x.shape[1:])
    rf = receptive_field(model, layer, shape, inputs=first.x, layouts=layouts)
    parts = distributed.run(_scan_shard, shards, (layer, k, preprocess, batch_size, layouts, score, rf, shape),
                            model=model, progress=progress, cancel=cancel)
    return functools.reduce(_ScanPart.merge, parts)


def _scan_shard(model, shard, layer, k, preprocess, batch_size, layouts, score, rf, shape) -> _ScanPart:
    """A Ray worker's scan of one shard."""
    batches = _batches(shard.data(), model, preprocess, batch_size)
    return _scan_part(model, layer, batches, k, layouts, score, _ScanPart(shard.first, rf, shape))


# ----------------------------------------------------------------------------- cache


def _cache_path(model, layer, k, preprocess, dataset, cache_dir, dataset_key, layouts, score) -> Path | None:
    data = dataset_part(dataset, dataset_key)
    if data is None:
        return None
    parts = [_CACHE_VERSION, model_hash(model), layer, k, None if preprocess is None else repr(preprocess), data,
             None if not layouts else repr(sorted((str(n), repr(v)) for n, v in layouts.items())), score]
    return cache_path("scan", parts, cache_dir)


def _arrays(result: TopK) -> dict:
    """The result as plain arrays for the cache."""
    rf = result.rf
    arrays = {
        "meta": np.array(json.dumps({"layer": result.layer, "k": result.k, "n_images": result.n_images,
                                     "score": result.score})),
        "rf": np.array([*rf.size, *rf.stride, *rf.origin, *rf.grid, *rf.input_hw], np.int64),
        "values": result.values,
        "indices": result.indices,
        "locations": result.locations,
        "patches": result.patches,
    }
    for name, value in vars(result.stats).items():
        if value is not None:
            arrays[f"stats_{name}"] = value
    return arrays


def _from_arrays(f) -> TopK:
    """The result back from the cache's arrays."""
    meta = json.loads(str(f["meta"]))
    v = [int(a) for a in f["rf"]]
    rf = ReceptiveField(tuple(v[0:2]), tuple(v[2:4]), tuple(v[4:6]), tuple(v[6:8]), tuple(v[8:10]))
    stats = UnitStats(**{
        name: f[f"stats_{name}"] if f"stats_{name}" in f.files else None
        for name in UnitStats.__dataclass_fields__
    })
    return TopK(meta["layer"], meta["k"], meta["n_images"], f["values"], f["indices"],
                f["locations"], f["patches"], stats, rf, meta.get("score", "max"))


# ----------------------------------------------------------------------------- dissection


def _concept_masks(masks, n_images: int, hw: tuple[int, int]) -> tuple[list[str], torch.Tensor]:
    if not isinstance(masks, dict) or not masks:
        raise TypeError("masks must be a non-empty dict {concept name: N x H x W bool array}")
    names, stack = [], []
    for name, mask in masks.items():
        m = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask)
        if m.dtype != bool:
            if not np.isin(m, (0, 1)).all():
                raise ValueError(f"concept {name!r}: masks must be bool (or 0/1), got values other than 0 and 1")
            m = m.astype(bool)
        if m.shape != (n_images, *hw):
            raise ValueError(
                f"concept {name!r}: mask of shape {m.shape}; expected (N, H, W) = {(n_images, *hw)}, "
                "one mask per image at the model input size"
            )
        names.append(str(name))
        stack.append(torch.from_numpy(m))
    return names, torch.stack(stack)


def dissect(
    model: nn.Module,
    layer: str,
    images,
    masks: dict[str, np.ndarray],
    *,
    quantile: float = 0.005,
    threshold: float = DETECTOR_IOU,
    preprocess=None,
    batch_size: int = 64,
    layouts: dict | None = None,
    engine: str | None = None,
    workers: int | None = None,
) -> Dissection:
    """Network Dissection (Bau et al. 2017) of ``layer`` against concept masks.

    Each unit's map is upsampled bilinearly (``align_corners=False``: cell centres at their
    stride-scaled positions) to the input size; the unit's threshold T_k is exceeded by the
    top ``quantile`` of all its upsampled values over the dataset (T_k is the (m + 1)-th
    largest of the n values, m = max(1, round(quantile n)); the mask is A > T_k, so a unit
    that is zero everywhere has an empty mask). IoU_{k,c} = sum_x |M_k(x) & L_c(x)| /
    sum_x |M_k(x) | L_c(x)| over all images (every image counts for every concept; the
    paper's per-category image filter does not apply to plain masks). A unit detects its
    best concept when that IoU is above ``threshold`` (:data:`DETECTOR_IOU`, the paper's 0.04).

    ``images``: as ``scan``'s dataset (labels are ignored); ``masks``: ``{name: N x H x W
    bool}`` with H x W the model input size. The layer's maps are kept on the CPU (N x C x
    h x w float32) between the forward pass and the scoring.

    ``engine="ray"`` (or a ``ray.data.Dataset`` as ``images``) runs it on Ray in two rounds
    (see :mod:`xai_widgets.core.distributed`): each worker computes its shard's maps (kept in
    Ray's object store) and each unit's m + 1 largest upsampled values, which merge into the
    exact T_k; then each worker counts |M_k & L_c| and |M_k| on its shard, and the int64
    counts add up. Thresholds, counts and IoUs equal the single process's.

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is left exactly as it was.
    layer : str
        Name of the layer dissected.
    images : iterable or torch.utils.data.DataLoader
        The N images, as :func:`scan`'s ``dataset``.
    masks : dict of str to numpy.ndarray
        ``{concept name: N x H x W bool (or 0/1) mask}``, one per image at the model input size;
        torch tensors are accepted too.
    quantile : float, default 0.005
        Share of each unit's upsampled values above its threshold, in (0, 1).
    threshold : float, default DETECTOR_IOU
        IoU above which a unit detects its best concept.
    preprocess : callable or None, default None
        As in :func:`scan`.
    batch_size : int, default 64
        Images per forward pass, positive.
    layouts : dict or None, default None
        ``{layer: layout}`` for layers whose layout is not detected.
    engine : {"local", "ray"} or None, default None
        As in :func:`scan`.
    workers : int or None, default None
        As in :func:`scan`.

    Returns
    -------
    Dissection
        IoU of every unit with every concept, the thresholds and each unit's best concept.

    Raises
    ------
    TypeError, ValueError
        For a model that is not a module, an unknown layer, invalid ``quantile``,
        ``batch_size`` or masks, images of different sizes, or no images.
    """
    _check_layer(model, layer)
    batch_size = _check_int(batch_size, "batch_size")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    if distributed.engine_for(engine, images, workers) == "ray":
        names, counts, t = _dissect_on_ray(model, layer, images, masks, quantile, preprocess, batch_size, layouts,
                                           workers)
    else:
        maps, input_hw = _layer_maps(model, layer, images, preprocess, batch_size, layouts)
        names, concepts = _concept_masks(masks, len(maps), input_hw)
        counts, t = _iou_counts(maps, concepts, model_device(model), _above(quantile, len(maps), input_hw))
    iou = counts.iou()
    best = np.where(iou.max(1) > threshold, iou.argmax(1), -1)
    return Dissection(layer, names, iou, numpy_of(t), best, float(threshold))


def _above(quantile: float, n_images: int, input_hw: tuple[int, int]) -> int:
    """m: how many of a unit's upsampled values lie above its threshold."""
    return max(1, round(quantile * n_images * input_hw[0] * input_hw[1]))


def _upsampled(maps: torch.Tensor, input_hw, device) -> Iterator[torch.Tensor]:
    """Groups of whole units, each unit's maps upsampled to the input size: units x (N H W), image-major."""
    step = max(1, _DISSECT_CHUNK // (len(maps) * input_hw[0] * input_hw[1]))
    for first in range(0, maps.shape[1], step):
        chunk = maps[:, first:first + step].transpose(0, 1).to(device)  # units as the batch axis
        up = F.interpolate(chunk, size=input_hw, mode="bilinear", align_corners=False)
        yield up.reshape(len(up), -1)


def _iou_counts(maps, concepts, device, above, thresholds=None) -> tuple[IoUCounts, torch.Tensor]:
    """IoU counts of the units of ``maps`` (N x C x h x w) with ``concepts`` (Q x N x H x W
    bool) and the thresholds used: ``thresholds`` (C), or each unit's (above + 1)-th largest
    upsampled value over these maps."""
    pixels = concepts.to(device).flatten(1).T.float()  # (N H W) x concepts
    parts, used, first = [], [], 0
    for values in _upsampled(maps, tuple(concepts.shape[2:]), device):
        if thresholds is None:
            t = TopValues.of(values, above + 1).threshold(above)
        else:
            t = thresholds[first:first + len(values)].to(device)
        parts.append(IoUCounts.of((values > t[:, None]).float(), pixels))
        used.append(t)
        first += len(values)
    return IoUCounts.stack(parts), torch.cat(used)


def _dissect_on_ray(model, layer, images, masks, quantile, preprocess, batch_size, layouts, workers):
    """Network Dissection's two rounds on Ray: merged top values give T_k, then counts add up."""
    device = model_device(model)
    shards = distributed.shards(images, workers, batch_size, device)
    first = _first_batch(images, shards, model, preprocess)
    if first is None:
        raise ValueError("no images: dissect needs at least one image")
    input_hw = tuple(first.x.shape[2:])
    names, concepts = _concept_masks(masks, shards[-1].stop, input_hw)
    above = _above(quantile, shards[-1].stop, input_hw)
    maps, tops = distributed.run(_dissect_maps, shards, (layer, preprocess, batch_size, layouts, input_hw, above + 1),
                                 model=model, returns=2)
    t = functools.reduce(TopValues.merge, tops).threshold(above)
    per_shard = [(m, concepts[:, s.first:s.stop].clone()) for m, s in zip(maps, shards)]  # own storage: sent alone
    counts = distributed.run(_dissect_counts, shards, (above, t, distributed.worker_device(device)),
                             per_shard=per_shard, device=device)
    return names, functools.reduce(IoUCounts.merge, counts), t


def _dissect_maps(model, shard, layer, preprocess, batch_size, layouts, input_hw, keep):
    """Round one on a worker: its shard's maps (left in Ray's object store) and top values."""
    maps, hw = _layer_maps(model, layer, shard.data(), preprocess, batch_size, layouts)
    if hw != input_hw:
        raise ValueError(f"images differ in model input shape ({input_hw} and {hw})")
    return maps, TopValues.stack([TopValues.of(v, keep) for v in _upsampled(maps, input_hw, model_device(model))])


def _dissect_counts(_model, _shard, maps, concepts, above, thresholds, device) -> IoUCounts:
    """Round two on a worker: its shard's IoU counts at the merged thresholds."""
    return _iou_counts(maps, concepts, torch.device(device), above, thresholds)[0]


def _layer_maps(model, layer, images, preprocess, batch_size, layouts) -> tuple[torch.Tensor, tuple[int, int]]:
    """The layer's maps for every image (CPU, N x C x h x w) and the model input size."""
    maps, shape = [], None
    with preserved_model(model, eval_mode=True), torch.no_grad():
        for batch in _batches(images, model, preprocess, batch_size):
            if shape is None:
                shape = tuple(batch.x.shape[1:])
            elif tuple(batch.x.shape[1:]) != shape:
                raise ValueError(f"images differ in model input shape ({shape} and {tuple(batch.x.shape[1:])})")
            maps.append(_forward_to(model, batch.x.to(model_device(model)), layer, layouts).float().cpu())
    if not maps:
        raise ValueError("no images: dissect needs at least one image")
    return torch.cat(maps), shape[1:]
