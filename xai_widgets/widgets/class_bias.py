"""``ClassBias``: how a dataset's labels are spread, and which classes a model confuses.

Palacio ("Towards explainable and interpretable deep neural networks", PhD thesis, TU
Kaiserslautern, 2023): chapter 4 shows that a few over-represented answers let a VQA model score
well without looking (the label histogram per partition, with each partition's share and the
model's accuracy on it); chapter 7 turns the confusion matrix into a class distance (Eq. 7.1-7.3)
and groups the classes into G balanced groups (section 7.2.1). The widget ships the grouping at
every G from 2 to K / 2 at once, so the group slider runs in the browser without the kernel.
"""
from __future__ import annotations

import math
import numbers
from typing import Mapping, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image
from torch import nn

from ..bias import class_distance, confusion_matrix, label_histogram
from ..core.targets import class_label, model_logits, prepare_inputs
from .base import STATIC, XaiWidget
from .checks import Index, at_least, print_scale, validates
from .class_bias_payload import class_bias_payload, groupings
from .class_bias_picture import class_bias_picture

__all__ = ["ClassBias"]


def _indices(values, name: str) -> np.ndarray | None:
    """Class indices from a list, array or tensor (None stays None)."""
    if values is None:
        return None
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be a 1-D sequence of integer class indices, got "
                        f"{arr.dtype} of shape {arr.shape}")
    return arr.astype(np.int64)


class ClassBias(XaiWidget):
    """The label histogram by partition and, with predictions, the class distance and its grouping.

    Parameters
    ----------
    labels : sequence of int, numpy.ndarray or torch.Tensor
        N true classes.
    predictions : sequence of int, numpy.ndarray or torch.Tensor, optional
        N predicted classes (:meth:`from_model` computes them): the accuracy per partition, the
        confusion matrix, the class distance and the grouping.
    classes : int or sequence of str, optional
        K, or the K class names (default: K = the largest class seen + 1, named "class k").
    partitions : mapping of str to sequence of int, optional
        ``{name: classes}``, non-overlapping; each colours its classes' bars.
    threshold : float, default 2
        A class holding more than ``threshold`` x the mean count is marked over-represented.
    similar : bool, default True
        Group the classes the model confuses (Palacio's Eq. 7.2); False groups those it does not.
    groups : int or None, default None
        The group count shown first (default 2); the slider offers 2 .. K // 2.
    seed : int, default 0
        Seed of the grouping's tie-breaking.
    size : int, default 440
        Preferred width of each of the two panels in CSS pixels.

    Attributes
    ----------
    histogram : xai_widgets.bias.LabelHistogram
        Counts, shares, accuracies, over-represented classes.
    confusion : numpy.ndarray or None
        K x K counts (None without predictions).
    distance : numpy.ndarray or None
        K x K class distances (None without predictions, or when the model confuses nothing).
    groupings : dict of int to list of int
        ``{G: group of each class}`` for every G offered.
    groups : int
        The group count shown; the browser's slider sets it.

    Raises
    ------
    TypeError
        If labels or predictions are not 1-D integer class indices.
    ValueError
        If they differ in length, a class is out of range, partitions overlap or a count is
        outside what is accepted.
    """

    _esm = STATIC / "class_bias.js"
    _css = STATIC / "class_bias.css"
    _bias = traitlets.Dict().tag(sync=True)
    groups = Index(2).tag(sync=True)
    size = Index(440, min=240, max=2048).tag(sync=True)

    _browser_traits = frozenset({"groups"})

    def __init__(self, labels, predictions=None, *, classes: int | Sequence[str] | None = None,
                 partitions: Mapping[str, Sequence[int]] | None = None, threshold: float = 2.0,
                 similar: bool = True, groups: int | None = None, seed: int = 0, size: int = 440):
        y, p = _indices(labels, "labels"), _indices(predictions, "predictions")
        names = None if classes is None or isinstance(classes, (int, np.integer)) else [str(c) for c in classes]
        k = len(names) if names is not None else at_least("classes", classes) if classes is not None else \
            int(max(y.max(initial=-1), -1 if p is None else p.max(initial=-1))) + 1
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not threshold > 0 \
                or not math.isfinite(threshold):
            raise ValueError(f"threshold must be a positive number (times the mean count), got {threshold!r:.40}")
        parts = {str(n): [int(c) for c in m] for n, m in (partitions or {}).items()}
        self.histogram = label_histogram(y, classes=k, partitions=parts, predictions=p, threshold=threshold)
        self.confusion = None if p is None else confusion_matrix(y, p, k)
        self.distance = None
        message = ""
        if self.confusion is not None:
            try:
                self.distance = class_distance(self.confusion, similar=bool(similar))
            except ValueError as err:  # a model that confuses nothing: no distance to group by
                message = f"No grouping: {err}"
        self.groupings = {} if self.distance is None else groupings(self.distance, seed=seed)
        self.names = [class_label(names, i) for i in range(k)]
        self._settings = {"threshold": float(threshold), "similar": bool(similar), "seed": int(seed)}
        payload = class_bias_payload(self.names, self.histogram, parts, threshold, self.confusion, self.distance,
                                     self.groupings)
        super().__init__(_bias=payload, size=size, groups=2 if groups is None else groups, message=message)

    @classmethod
    def from_model(cls, model: nn.Module, images: torch.Tensor, labels, *, batch_size: int = 64,
                   **kwargs) -> "ClassBias":
        """The widget for a model's top-1 predictions on ``images``.

        Parameters
        ----------
        model : torch.nn.Module
            The classifier (N x K logits); left exactly as it was.
        images : torch.Tensor
            N x C x H x W model inputs.
        labels : sequence of int, numpy.ndarray or torch.Tensor
            Their N true classes.
        batch_size : int, default 64
            Images per forward pass.
        **kwargs
            The other arguments of :class:`ClassBias` (``classes``, ``partitions``, ...).

        Returns
        -------
        ClassBias
            With ``predictions`` the argmax of the model's logits.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        x = prepare_inputs(model, images)
        step = at_least("batch_size", batch_size)
        preds = torch.cat([model_logits(model, x[i:i + step]).argmax(1).cpu() for i in range(0, len(x), step)])
        return cls(labels, preds, **kwargs)

    @validates("groups")
    def _validate_groups(self, proposal):
        value = proposal["value"]
        offered = sorted(getattr(self, "groupings", None) or {})
        if offered and value not in offered:
            raise ValueError(f"must be a group count in {offered[0]}..{offered[-1]} (half the classes), got {value}")
        return value

    def _card_parts(self) -> dict:
        """The card: the classes and partitions, the threshold and grouping, how to read bars and cells."""
        parts = self._bias["partitions"]
        return {
            "question": "Is the dataset's label distribution skewed, and which classes does the model confuse?",
            "explanandum": {"classes": self.names, "samples": int(self.histogram.counts.sum()),
                            "partitions": [p["name"] for p in parts] or "none",
                            "predictions": "given" if self.confusion is not None else "none"},
            "explainer": {"method": "label histogram per partition and class distance with balanced grouping "
                                    "(Palacio 2023, chapters 4 and 7, Eq. 7.1-7.3)",
                          **self._settings, "groups": self.groups if self.groupings else "none"},
            "interpretation": {
                "bars": "each class's count in its partition's colour; dashed: threshold x the mean count; "
                        "a triangle marks an over-represented class",
                "heat map": "class distance, dark: classes the model confuses; rows and columns ordered by group",
                "hover": "a bar: its count, share and the accuracy on it; a cell: the distance and both confusions"},
        }

    @property
    def group_of(self) -> list[int] | None:
        """The group of each class at the current ``groups`` (None when there is no grouping)."""
        return self.groupings.get(self.groups)

    def _preview_panel(self) -> int:
        return min(self.size, 360)

    def render_png(self, panel: int | None = None, scale: float = 1.0) -> Image.Image:
        """The histogram and, with predictions, the class distance ordered by the current grouping.

        Parameters
        ----------
        panel : int or None, optional
            The width of the histogram and of the heat map, before ``scale``; None takes ``size``.
            Under 240 counts as 240.
        scale : float, optional
            A factor on every length and font, 0.25 to 8 (default 1; 2 or 3 for print); other
            values raise ``Refused``.

        Returns
        -------
        PIL.Image.Image
            The panels side by side, RGB on white.
        """
        scale = print_scale(scale)
        return class_bias_picture(self._bias, self.group_of, max(240, int(panel or self.size)), scale)

    def __repr__(self) -> str:
        parts = ", ".join(p["name"] for p in self._bias["partitions"]) or "none"
        return (f"ClassBias({len(self.names)} classes, {int(self.histogram.counts.sum())} samples, "
                f"partitions: {parts}, over-represented: {[self.names[c] for c in self.histogram.over_represented]})")
