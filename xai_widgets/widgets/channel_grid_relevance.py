"""ChannelGrid's relevance mode: what each unit contributed to one decision (a mixin).

Concept Relevance Propagation (Achtibat et al., Nature Machine Intelligence 2023,
:mod:`xai_widgets.attribution.crp`): for the shown image and a class, every tile shows its unit's
conditional relevance heatmap R(x | class, unit) in the diverging map, the tiles are sorted by
the unit's relevance R_c, and a dataset scan ranks reference images by relevance instead of
activation (the paper's relevance-based reference sample selection).
"""
from __future__ import annotations

import numpy as np
import torch
import traitlets

from ..attribution import crp
from ..core import diverging, tasks
from ..core.targets import class_label
from ..units import scan
from .channel_grid_payload import relevance_payload, relevance_patches_payload
from .channel_grid_picture import relevance_values
from .checks import Choice, Index, Refused, validates

__all__ = ["RelevanceMode", "MODES"]

MODES = ("activation", "relevance")


class RelevanceMode(traitlets.HasTraits):
    """The relevance mode of :class:`~xai_widgets.widgets.channel_grid.ChannelGrid`.

    It reads the grid's model, inputs, ``layer``, ``image``, ``probabilities``, ``classes``,
    ``dataset`` and ``preprocess``.

    A change made from Python (``mode``, ``relevance_class``, ``image``, ``layer``,
    ``relevance_options``) computes the relevance in the calling cell with a progress bar; the
    same change from the browser computes it in a background thread, with the widget's progress
    bar and Cancel button, and the tiles follow when it is done.

    Attributes
    ----------
    mode : {"activation", "relevance"}
        What the tiles show: the units' activations, or their conditional relevance heatmaps
        for ``relevance_class``, sorted by relevance.
    relevance_class : int or None
        The class explained; None (default) the model's prediction for the shown image.
    relevance_options : dict
        LRP settings of :func:`xai_widgets.attribution.crp.channel_relevance` (default: the
        "book" composite); assigning a new dict recomputes and redraws the tiles.
    relevance_tops : dict
        ``{(layer, class or None): References}``, the relevance-based reference samples found.
    """

    mode = Choice(MODES, default_value="activation").tag(sync=True)
    relevance_class = Index(None, allow_none=True, min=0).tag(sync=True)
    _relevance = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    relevance_options = traitlets.Dict()
    _class_names = traitlets.List().tag(sync=True)
    _RELEVANCE_TASK = "relevance of the layer's units"

    def _relevance_setup(self) -> None:
        self.relevance_tops: dict = {}
        self._conditionals: dict = {}

    def class_name(self, k: int) -> str:
        """Class ``k``'s name as the widget shows it (:func:`xai_widgets.core.targets.class_label`)."""
        return class_label(self.classes, k)

    def explained_class(self, image: int | None = None) -> int:
        """The class relevance mode explains for ``image``: ``relevance_class``, or the prediction.

        Parameters
        ----------
        image : int or None, optional
            The image's index in the strip. Default None: the ``image`` trait.

        Returns
        -------
        int
            The class index.
        """
        if self.relevance_class is not None:
            return int(self.relevance_class)
        n = self.image if image is None else image
        return int(self.probabilities[n].argmax())

    @validates("relevance_class")
    def _validate_relevance_class(self, proposal):
        k = proposal["value"]
        if k is not None and k >= len(self._class_names):
            raise Refused(f"relevance_class must be None (the prediction) or a class index in "
                          f"[0, {len(self._class_names) - 1}], got {k}")
        return k

    @validates("relevance_options")
    def _validate_relevance_options(self, proposal):
        unknown = sorted(set(proposal["value"]) - set(crp.LRP_OPTIONS))
        if unknown:
            raise ValueError(f"unknown LRP option(s) {', '.join(map(repr, unknown))}; "
                             f"relevance mode takes {', '.join(crp.LRP_OPTIONS)}")
        return dict(proposal["value"])

    @validates("mode")
    def _validate_mode(self, proposal):
        if proposal["value"] == "relevance":
            if self.from_browser:
                self._relevance_layout()  # the model's refusals come from the background task
            else:
                self.relevance()  # refuses here (layer, model, missing zennit) rather than later
        return proposal["value"]

    def _relevance_layout(self) -> None:
        layout = next(L["layout"] for L in self._layer_infos if L["name"] == self.layer)
        if layout not in ("NCHW", "NC"):
            raise ValueError(f"relevance mode needs a channels-first layer (N x C x H x W or N x C); "
                             f"{self.layer!r} is {layout}")

    def _relevance_key(self, image: int | None = None, cls: int | None = None) -> tuple:
        n = self.image if image is None else image
        k = self.explained_class(n) if cls is None else cls
        return self.layer, n, k, repr(sorted(self.relevance_options.items()))

    def _conditional(self, key: tuple, progress, cancel) -> crp.Conditional:
        """Compute and cache the conditional relevance of ``key`` (layer, image, class, options)."""
        layer, n, k, _ = key
        self._conditionals[key] = crp.conditional_relevance(self.model, self._inputs[n:n + 1], k, layer,
                                                            progress=progress, cancel=cancel,
                                                            **self.relevance_options)
        return self._conditionals[key]

    # ------------------------------------------------------------------ the maths
    def relevance(self, image: int | None = None, cls: int | None = None) -> crp.Conditional:
        """The current layer's channel relevances and conditional heatmaps for one image and class.

        Parameters
        ----------
        image : int or None, optional
            The image's index in the strip. Default None: the ``image`` trait.
        cls : int or None, optional
            The class. Default None: :meth:`explained_class`.

        Returns
        -------
        xai_widgets.attribution.crp.Conditional
            R_c of every channel, every channel's heatmap (K x H x W at the input's size) and the
            plain LRP heatmap (cached per layer, image, class and ``relevance_options``).

        Raises
        ------
        ValueError, ImportError
            If the layer is not N x C x H x W or N x C, LRP refuses the model, zennit is not
            installed, or the computation was cancelled.
        RuntimeError
            If another task (a scan) is still running.
        """
        key = self._relevance_key(image, cls)
        if key not in self._conditionals and self.busy and self.progress.get("task") == self._RELEVANCE_TASK:
            self.wait()  # the background computation started from the browser: its result is cached
        if key not in self._conditionals:
            self._relevance_layout()
            cond = self._run_task(self._RELEVANCE_TASK,
                                  lambda progress, cancel: self._conditional(key, progress, cancel))
            if cond is None:
                raise ValueError("the relevance computation was cancelled")
        return self._conditionals[key]

    def relevance_scale(self) -> tuple[float, str]:
        """The symmetric colour scale of the relevance tiles (one for the grid) and its rule.

        Returns
        -------
        tuple of (float, str)
            :func:`xai_widgets.core.diverging.scale_of` of every conditional heatmap shown.
        """
        return diverging.scale_of([self.relevance().heatmaps.numpy()])

    def relevance_figure(self) -> tuple:
        """What :meth:`ChannelGrid.render_png` draws in relevance mode.

        Returns
        -------
        tuple
            ``(values, slot of the selected unit, colour map, legend, titles)`` for
            :func:`~xai_widgets.widgets.channel_grid_picture.grid_picture`: the heatmaps sorted by
            relevance mapped to [0, 1] over the shared scale, in the diverging map.
        """
        cond, (s, rule) = self.relevance(), self.relevance_scale()
        what = f"relevance for {self.class_name(cond.target)}"
        legend = (-s, s, f"{self.layer}: {what}, tiles sorted by R_c (most relevant first), scale {rule}")
        titles = (f"{self.layer}: {what}, image {self.image}",
                  f"unit {self.selected}: R_c = {float(cond.relevance[self.selected]):.3g}")
        return relevance_values(cond.heatmaps, cond.order, s), cond.order.index(self.selected), "diverging", legend, titles

    @traitlets.observe("mode", "relevance_class", "image", "layer", "relevance_options")
    def _on_relevance(self, change):
        if self.mode != "relevance" or not self._payload:
            self._relevance = None
            if change["name"] == "mode":
                self._send_unit_data()  # the activation scan's patches again
            return
        if self.from_browser:
            self._relevance_in_background()  # the kernel stays free to hear Cancel
            return
        try:
            self._show_relevance(self.relevance())
        except (ValueError, ImportError, RuntimeError) as exc:
            self.message = f"relevance mode: {exc}"
            self.mode = "activation"

    def _show_relevance(self, cond: crp.Conditional) -> None:
        self._relevance = relevance_payload(cond, self.image, self.class_name(cond.target), *self.relevance_scale())
        self._send_unit_data()

    def _relevance_in_background(self) -> None:
        """Compute the relevance asked for in a background thread, then show it. A request made
        while it runs is taken up when the running one is done; the tiles show the last one."""
        key = self._relevance_key()
        if key in self._conditionals:
            self._show_relevance(self._conditionals[key])
            return
        if self.busy:
            if self.progress.get("task") != self._RELEVANCE_TASK:
                self.message = f"relevance mode waits: {self.progress['task']} is still running"
                self.mode = "activation"
            return

        def work(progress, cancel):
            try:
                while self.mode == "relevance" and self._payload:
                    key = self._relevance_key()
                    cond = self._conditionals[key] if key in self._conditionals else self._conditional(
                        key, progress, cancel)
                    if key == self._relevance_key():
                        self._show_relevance(cond)
                        return cond
            except tasks.Cancelled:
                self.mode = "activation"  # no heatmaps for what is shown: back to the activations
                raise
            return None

        def refused(_exc):
            self.mode = "activation"

        self._run_task(self._RELEVANCE_TASK, work, background=True, on_error=refused)

    # ------------------------------------------------------------------ reference samples
    def relevance_scan(self, dataset=None, *, k: int = 9, batch_size: int = 32, background: bool = False):
        """Each unit's top-``k`` dataset patches by its relevance for ``relevance_class``.

        The paper's relevance-based reference sample selection
        (:func:`xai_widgets.attribution.crp.reference_samples`): ranked by R_c for the class (each
        image's prediction when ``relevance_class`` is None); the patch is the receptive field of
        the unit's most relevant position. Kept in ``w.relevance_tops`` and shown in the unit pane
        in relevance mode.

        Parameters
        ----------
        dataset : iterable or None, optional
            Images or (image, label) pairs, a torch Dataset or DataLoader. Default None: the
            constructor's ``dataset``.
        k : int, optional
            Patches kept per unit. Default 9.
        batch_size : int, optional
            Images per LRP pass. Default 32.
        background : bool, optional
            Run in a background thread (errors are reported in ``message``). Default False.

        Returns
        -------
        References or None
            The reference samples; None when run in the background or cancelled.

        Raises
        ------
        ValueError
            If there is no dataset, or the scan refuses its arguments.
        RuntimeError
            If a task is still running.
        """
        data = self.scan_data(dataset)
        layer, target = self.layer, self.relevance_class
        shape = tuple(self._inputs.shape[1:])
        rf = scan.receptive_field(self.model, layer, shape, inputs=self._inputs[:1], layouts=self.layouts)
        crop = patch_cropper(rf, raw=self.preprocess is None)

        def work(progress, cancel):
            refs = crp.reference_samples(self.model, layer, data, target=target, k=k, preprocess=self.preprocess,
                                         batch_size=batch_size, crop=crop, progress=progress, cancel=cancel,
                                         **self.relevance_options)
            self.relevance_tops[(layer, target)] = refs
            if layer == self.layer:
                self._send_unit_data()
            return refs

        return self._run_task(f"relevance scan of {layer}", work, background=background)

    def relevance_patches(self) -> dict | None:
        """The patches payload of the relevance scan of the shown layer and class, or None."""
        refs = self.relevance_tops.get((self.layer, self.relevance_class))
        if self.mode != "relevance" or refs is None:
            return None
        which = "each image's predicted class" if refs.target is None else self.class_name(refs.target)
        return relevance_patches_payload(self.layer, refs, which)


def patch_cropper(rf, raw: bool):
    """``crop(x, rows, cols)`` for :func:`~xai_widgets.attribution.crp.reference_samples`: each
    unit's receptive-field box (clipped to the input, centred on the box) around its cell, as uint8
    RGB, grey (128) outside the image; raw inputs as they are, others min-max scaled per image.

    Parameters
    ----------
    rf : xai_widgets.units.scan.ReceptiveField
        The layer's receptive field.
    raw : bool
        Whether inputs are pixels in [0, 1].

    Returns
    -------
    callable
        ``crop(x, rows, cols) -> B x C x ph x pw x 3`` uint8 tensor.
    """
    ph, pw = (min(s, n) for s, n in zip(rf.size, rf.input_hw))

    def crop(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if not raw:
            lo = x.amin((1, 2, 3), keepdim=True)
            x = (x - lo) / (x.amax((1, 2, 3), keepdim=True) - lo).clamp_min(1e-12)
        x = x.mean(1, keepdim=True).expand(-1, 3, -1, -1) if x.shape[1] != 3 else x
        pixels = (x.clamp(0, 1) * 255 + 0.5).floor().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        h, w = rf.input_hw
        out = np.full((*rows.shape, ph, pw, 3), 128, np.uint8)
        for b, c in np.ndindex(*rows.shape):
            y0, x0, y1, x1 = rf.box(int(rows[b, c]), int(cols[b, c]))
            y0, x0 = y0 + (y1 - y0 - ph) // 2, x0 + (x1 - x0 - pw) // 2
            ys, xs = slice(max(y0, 0), min(y0 + ph, h)), slice(max(x0, 0), min(x0 + pw, w))
            out[b, c, ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = pixels[b, ys, xs]
        return torch.from_numpy(out)

    return crop
