"""DeepVis's panes for ChannelGrid's selected unit: the back view (what drives it in the image),
its top-activating dataset patches with unit statistics, and activation maximisation (what it
"wants to see"), each a command that calls a units module and ships its result.

Yosinski, Clune, Nguyen, Fuchs and Lipson, "Understanding Neural Networks Through Deep
Visualization", ICML Deep Learning Workshop 2015; activation maximisation after Olah,
Mordvintsev and Schubert, "Feature Visualization", Distill 2017.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import traitlets

from ..core import wire
from ..core.images import to_uint8
from ..units import backview, featurevis, scan
from .channel_grid_payload import patches_payload, unit_summary, visuals_payload

__all__ = ["UnitPanes", "DEFAULT_OBJECTIVES", "BACK_MODES"]

BACK_MODES = ("off",) + backview.MODES
# What each pane reduces a unit's map to with unit_objective="default": DeepVis backpropagates
# the whole map (its sum) and ranks dataset images by the map's max (Yosinski et al. 2015);
# activation maximisation maximises its mean (Olah et al. 2017).
DEFAULT_OBJECTIVES = {"back": "sum", "scan": "max", "visualise": "mean"}


class UnitPanes(traitlets.HasTraits):
    """The unit panes of :class:`~xai_widgets.widgets.channel_grid.ChannelGrid` (a mixin).

    It reads the grid's model, inputs (``_inputs``), ``layer``, ``image``, ``selected``,
    ``channels``, ``classes``, ``dataset``, ``concepts``, ``normalise``, ``preprocess`` and
    ``layouts``, and keeps its results in ``tops``, ``dissections``, ``visuals`` and
    ``back_gradient``; it sets the ``_back``, ``_patches``, ``_units`` and ``_visuals`` traits.
    In relevance mode (``mode``) the patches are those of ``relevance_patches()`` once scanned,
    and the Scan button runs ``relevance_scan``.

    Attributes
    ----------
    tops : dict of str to TopK
        ``{layer: xai_widgets.units.scan.TopK}``, the dataset scans run so far.
    dissections : dict of str to Dissection
        ``{layer: xai_widgets.units.scan.Dissection}``, when ``concepts`` were given.
    visuals : dict of str to dict of int to torch.Tensor
        ``{layer: {channel: C x H x W image in [0, 1]}}``, the activation-maximisation images.
    back_gradient : torch.Tensor or None
        The raw C x H x W input gradient behind the latest back view, on the CPU.
    """

    # ------------------------------------------------------------------ back view
    @traitlets.observe("image", "selected", "back_mode", "back_filter", "unit_objective")
    def _on_unit(self, change):
        self._update_back()

    def objective(self, pane: str) -> str:
        """What ``pane`` ("back", "scan" or "visualise") reduces a unit's map to: ``unit_objective``,
        or the pane's own default (:data:`DEFAULT_OBJECTIVES`) when that is "default".

        Parameters
        ----------
        pane : {"back", "scan", "visualise"}
            The pane.

        Returns
        -------
        str
            ``"mean"``, ``"max"`` or ``"sum"``.

        Raises
        ------
        KeyError
            If ``unit_objective`` is "default" and ``pane`` is not one of the three.
        """
        return DEFAULT_OBJECTIVES[pane] if self.unit_objective == "default" else self.unit_objective

    def back_view(self, channel: int | None = None, mode: str | None = None, image: int | None = None,
                  filter: str | None = None) -> np.ndarray:
        """H x W x 3 image in [0, 1] of what drives ``channel`` (see :mod:`xai_widgets.units.backview`).

        Defaults are the widget's: the selected channel, ``back_mode`` (``"grad"`` when
        off), the shown image and ``back_filter``; the unit is its map reduced by
        ``objective("back")``. Also sets ``w.back_gradient``.

        Parameters
        ----------
        channel : int or None, optional
            The channel of the current layer. Default None: the ``selected`` trait.
        mode : {"grad", "deconv", "guided"} or None, optional
            The backward rule at ``nn.ReLU`` modules. Default None: ``back_mode``, or
            ``"grad"`` when that is ``"off"``.
        image : int or None, optional
            The image's index in the strip. Default None: the ``image`` trait.
        filter : {"raw", "norm"} or None, optional
            How the gradient is displayed (:func:`xai_widgets.units.backview.back_display`).
            Default None: the ``back_filter`` trait.

        Returns
        -------
        numpy.ndarray
            H x W x 3 float64 image in [0, 1].

        Raises
        ------
        TypeError, ValueError
            For an unknown mode or filter, an invalid image or channel, or mode
            ``"deconv"``/``"guided"`` when no ``nn.ReLU`` module runs before the layer.
        """
        mode = mode or (self.back_mode if self.back_mode != "off" else "grad")
        n = self.image if image is None else image
        c = self.selected if channel is None else channel
        g = backview.unit_backprop(self.model, self._inputs[n:n + 1], self.layer, c, mode=mode,
                                   objective=self.objective("back"), layouts=self.layouts)
        self.back_gradient = g.detach().cpu()
        return backview.back_display(self.back_gradient, filter or self.back_filter)

    def _update_back(self) -> None:
        if self.back_mode == "off" or not self._payload:
            self._back = None
            return
        try:
            shown = self.back_view()
        except ValueError as exc:  # e.g. deconv on a model without nn.ReLU modules
            self.message = f"back view: {exc}"
            self._back = None
            return
        self._back = {"image": self.image, "layer": self.layer, "channel": self.selected,
                      "mode": self.back_mode, "filter": self.back_filter, "objective": self.objective("back"),
                      "pixels": wire.encode(to_uint8(shown), "uint8")}

    # ------------------------------------------------------------------ dataset scan
    def scan(self, dataset=None, *, k: int = 9, cache: bool = True, background: bool = False, **kwargs):
        """Top-``k`` activating patches and unit statistics of the current layer over a dataset.

        One streaming pass (see :func:`xai_widgets.units.scan.scan`); cached on disk, so a second
        call with the same model, layer and data is instant. With ``concepts`` given at
        construction, also Network Dissection (:func:`xai_widgets.units.scan.dissect`). Returns
        the :class:`~xai_widgets.units.scan.TopK` (None when cancelled), also kept in ``w.tops``.
        Images are ranked by ``objective("scan")`` unless ``score=`` is given.

        Parameters
        ----------
        dataset : iterable or None, optional
            Images or (image, label) pairs, a torch Dataset or DataLoader. Default None: the
            constructor's ``dataset``.
        k : int, optional
            Patches kept per unit. Default 9 (DeepVis's).
        cache : bool, optional
            Read and write the on-disk cache. Default True.
        background : bool, optional
            Run in a background thread (errors are reported in ``message``). Default False:
            in the calling cell with a progress bar.
        **kwargs
            More keywords of :func:`xai_widgets.units.scan.scan` (``batch_size``,
            ``cache_dir``, ``dataset_key``, ``score``).

        Returns
        -------
        TopK or None
            The scan of the current layer; None when run in the background or cancelled.

        Raises
        ------
        ValueError
            If there is no dataset, or the scan refuses its arguments.
        RuntimeError
            If a task is still running.
        """
        data = self.scan_data(dataset)
        layer = self.layer
        kwargs.setdefault("score", self.objective("scan"))

        def work(progress, cancel):
            top = scan.scan(self.model, layer, data, k=k, preprocess=self.preprocess, progress=progress,
                            cancel=cancel, cache=cache, layouts=self.layouts, **kwargs)
            if self.concepts is not None:
                self.dissections[layer] = scan.dissect(self.model, layer, data, self.concepts,
                                                       preprocess=self.preprocess, layouts=self.layouts)
            self.tops[layer] = top
            if layer == self.layer:
                self._send_unit_data()
            return top

        return self._run_task(f"scan of {layer}", work, background=background)

    def scan_data(self, dataset=None):
        """The dataset a scan reads: ``dataset``, else the constructor's.

        Parameters
        ----------
        dataset : iterable or None, optional
            The dataset given to the scan; None for the constructor's.

        Returns
        -------
        iterable
            The dataset.

        Raises
        ------
        ValueError
            If neither is given.
        """
        data = self.dataset if dataset is None else dataset
        if data is None:
            raise ValueError("no dataset: pass one here or as ChannelGrid(..., dataset=...)")
        return data

    def _send_unit_data(self) -> None:
        """Patches and statistics of the current layer, when it has been scanned."""
        top = self.tops.get(self.layer)
        if top is None:
            self._patches = self._units = None
        else:
            self._patches = patches_payload(self.layer, top)
            self._units = unit_summary(self.layer, top, self.dissections.get(self.layer), self.classes)
        relevant = self.relevance_patches()  # relevance mode: the patches ranked by relevance, once scanned
        if relevant is not None:
            self._patches = relevant
        shown = self.visuals.get(self.layer, {})
        self._visuals = None if not shown else self._visuals_payload(shown)

    # ------------------------------------------------------------------ activation maximisation
    def visualise(self, channels: int | Sequence[int] | str | None = None, *, background: bool = False,
                  **params):
        """What units "want to see": activation maximisation (:func:`xai_widgets.units.featurevis.visualise_channels`).

        ``channels``: None for the selected unit, an index or list, or ``"all"`` for the
        whole layer in batches. ``params`` go to ``visualise_channels`` (steps, lr, jitter,
        ...); the image size defaults to the model input's, the objective to
        ``objective("visualise")``. Results are kept in
        ``w.visuals[layer]`` and shown in the unit pane. Returns the
        :class:`~xai_widgets.units.featurevis.FeatureVis` (None when cancelled).

        Parameters
        ----------
        channels : int, sequence of int, "all" or None, optional
            The channels of the current layer. Default None: the selected unit.
        background : bool, optional
            Run in a background thread (errors are reported in ``message``). Default False:
            in the calling cell with a progress bar.
        **params
            Keywords of :func:`xai_widgets.units.featurevis.visualise_channels` (``steps``,
            ``lr``, ``jitter``, ...). ``size`` defaults to the model input's, ``objective``
            to ``objective("visualise")`` and ``normalise`` to the constructor's.

        Returns
        -------
        FeatureVis or None
            The images made; None when run in the background or cancelled.

        Raises
        ------
        ValueError
            If ``channels`` is a string other than ``"all"``, or ``visualise_channels``
            refuses its arguments.
        RuntimeError
            If a task is still running.
        """
        layer = self.layer
        chosen = _channel_list(channels, self.selected, self.channels)
        params.setdefault("size", tuple(self._inputs.shape[-2:]))
        params.setdefault("objective", self.objective("visualise"))
        if self.normalise is not None:
            params.setdefault("normalise", self.normalise)

        def work(progress, cancel):
            fv = featurevis.visualise_channels(self.model, layer, chosen, progress=progress, cancel=cancel,
                                               layouts=self.layouts, **params)
            store = self.visuals.setdefault(layer, {})
            maximised = self._visual_objectives.setdefault(layer, {})
            for c, img in zip(fv.channels, fv.images):
                store[int(c)] = img
                maximised[int(c)] = params["objective"]
            if layer == self.layer:
                self._visuals = self._visuals_payload(store)
            return fv

        return self._run_task(f"activation maximisation ({layer})", work, background=background)

    def _visuals_payload(self, store: dict) -> dict:
        return visuals_payload(self.layer, store, self._visual_objectives.get(self.layer, {}),
                               DEFAULT_OBJECTIVES["visualise"])

    # ------------------------------------------------------------------ messages from the buttons
    def _on_custom_msg(self, widget, content, buffers):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "cancel":
            self.cancel()
        elif kind == "scan":
            self._start(lambda: (self.relevance_scan if self.mode == "relevance" else self.scan)(background=True))
        elif kind == "visualise":
            which = content.get("channels")
            self._start(lambda: self.visualise("all" if which == "all" else None, background=True))
        else:
            super()._on_custom_msg(widget, content, buffers)

    def _start(self, launch) -> None:
        try:
            launch()
        except (RuntimeError, ValueError) as exc:  # busy, or no dataset: say so in the widget
            self.message = str(exc)


def _channel_list(channels, selected: int, count: int) -> list[int]:
    """``visualise``'s ``channels``: None (the selected one), an index, a list, or "all" of ``count``."""
    if channels is None:
        return [selected]
    if isinstance(channels, str):
        if channels != "all":
            raise ValueError(f"channels must be None, an index, a list of indices or 'all', got {channels!r}")
        return list(range(count))
    return [int(channels)] if isinstance(channels, (int, np.integer)) else [int(c) for c in channels]
