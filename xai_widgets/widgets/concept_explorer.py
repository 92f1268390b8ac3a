"""``ConceptExplorer``: how a layer's filters encode concepts, after Net2Vec.

Fong and Vedaldi, "Net2Vec: Quantifying and Explaining how Concepts are Encoded by Filters in
Deep Neural Networks" (CVPR 2018), and Fong's DPhil thesis (Oxford, 2020), chapter 5. For each
concept of a probe set the widget shows the set IoU of the learned combination of filters
against the best single filter, the combination's weights over the channels (sorted), the
predicted masks of both on held-out examples at each decile of per-image IoU (the thesis's
non-maximal visualisation: how the probe does on typical images, not only its best), the
concept's nearest concepts by cosine of the weight vectors, and vector arithmetic over them.

Everything is shipped once: picking a concept, hovering and clicking bars (a channel's
activations on the examples), the mask threshold and the opacity run in the browser. The
kernel is asked only for the arithmetic box (``expression``), which
:meth:`xai_widgets.concepts.ConceptEmbeddings.arithmetic` answers.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import traitlets
from PIL import Image
from torch import nn

from ..concepts.net2vec import ConceptEmbeddings, net2vec
from ..core import colormaps, wire
from ..core.images import as_image_list, panel_pixels, to_batch
from .base import STATIC, XaiWidget
from .checks import Fraction, Index, PanelSize, Real, at_least, index_in, print_scale, validates
from .concept_explorer_payload import explorer_data, explorer_payload, payload_bytes, weight_order
from .concept_explorer_picture import (COMBINATION, SINGLE, channel_pixels, concept_picture, logit_of,
                                       mask_pixels)

__all__ = ["ConceptExplorer"]

MAX_EXPRESSION = 200  # characters in the arithmetic box


class ConceptExplorer(XaiWidget):
    """Explore the Net2Vec concept embeddings of one layer (Fong and Vedaldi, CVPR 2018).

    The embeddings are computed with :func:`xai_widgets.concepts.net2vec` (segmentation probe)
    unless ``embeddings=`` gives ones computed before on the same images and masks (then no
    probe runs, only a forward pass over the example images).

    Parameters
    ----------
    model : torch.nn.Module
        Any image model; run in eval mode and left exactly as given.
    layer : str
        The layer probed.
    images : ConceptSet, sequence of images or batch
        The probe images; a :class:`xai_widgets.demo.concepts.ConceptSet` gives its ``images``.
    concepts : ConceptSet or mapping of str to numpy.ndarray
        The concept masks, ``{name: N x H x W bool}`` aligned with ``images``; a ConceptSet gives its
        masks and categories.
    embeddings : ConceptEmbeddings, optional
        Precomputed ``net2vec(model, layer, images, concepts)`` (segmentation) to show.
    categories : mapping of str to str, optional
        ``{concept: category}`` grouping the picker (default: a ConceptSet's, else "concept").
    optimizer, epochs, batch_size, holdout, quantile, seed :
        Options of :func:`xai_widgets.concepts.net2vec` (defaults as there, except
        ``optimizer="adam"``, which converges in far fewer steps than the published SGD).
    preprocess : callable, optional
        PIL image -> model input, as elsewhere.
    layouts : mapping, optional
        ``{layer: layout}`` when the layer's layout is not detected.
    size : int, default 80
        Side of each example panel in CSS pixels.
    max_bytes : int, default 32 MiB
        The most the widget may ship to the browser.

    Raises
    ------
    TypeError
        If ``model`` is not a ``torch.nn.Module`` or ``embeddings`` not a ``ConceptEmbeddings``.
    ValueError
        If the masks do not match the images, the embeddings do not match the layer and
        concepts or come from the classification probe, or the payload is over ``max_bytes``
        (and as :func:`xai_widgets.concepts.net2vec`).
    """

    _esm = STATIC / "concept_explorer.js"
    _css = STATIC / "concept_explorer.css"
    _data = traitlets.Dict().tag(sync=True)
    _colormaps = traitlets.Dict().tag(sync=True)
    _arithmetic = traitlets.Dict().tag(sync=True)
    concept = Index(0).tag(sync=True)
    channel = Index(-1).tag(sync=True)
    threshold = Real(0.5, min=0.01, max=0.99).tag(sync=True)
    opacity = Fraction(0.5).tag(sync=True)
    expression = traitlets.Unicode("").tag(sync=True)
    size = PanelSize(80).tag(sync=True)

    _browser_traits = frozenset({"concept", "channel", "threshold", "opacity", "expression"})

    def __init__(self, model: nn.Module, layer: str, images, concepts, *, embeddings: ConceptEmbeddings | None = None,
                 categories: Mapping[str, str] | None = None, optimizer: str = "adam", epochs: int = 30,
                 batch_size: int = 64, holdout: float = 0.25, quantile: float = 0.005, seed: int = 0,
                 preprocess: Callable | None = None, layouts: Mapping | None = None, size: int = 80,
                 max_bytes: int = 32 * wire.MiB):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        masks = getattr(concepts, "masks", concepts)
        if not isinstance(masks, Mapping) or not masks:
            raise ValueError("concepts must be a ConceptSet or a non-empty dict {name: N x H x W bool masks}, "
                             f"got {type(concepts).__name__}")
        categories = dict(categories or getattr(concepts, "categories", None) or {})
        self.model, self.layer = model, layer
        raw = as_image_list(getattr(images, "images", images))
        x = to_batch(raw, model, preprocess)
        self.embeddings = self._embeddings(embeddings, model, layer, x, masks, dict(
            optimizer=optimizer, epochs=epochs, batch_size=batch_size, holdout=holdout, quantile=quantile,
            seed=seed, layouts=layouts))
        names = self.embeddings.names
        self.categories = [str(categories.get(n, "concept")) for n in names]
        hw = tuple(x.shape[-2:])
        self.data = explorer_data(model, x, lambda i, wh: panel_pixels(raw[i], hw, wh, i),
                                  [np.asarray(masks[n]) for n in names], self.embeddings, layouts, batch_size)
        wire.check_budget(payload_bytes(self.data), at_least("max_bytes", max_bytes),
                          f"ConceptExplorer ({len(names)} concepts at {layer!r})",
                          "Probe fewer concepts or a deeper layer, or raise max_bytes.")
        super().__init__(size=size, _colormaps={n: colormaps.LUTS[n].tobytes() for n in ("diverging", "viridis")},
                         _data=explorer_payload(self.embeddings, self.data, self.categories))

    @staticmethod
    def _embeddings(embeddings, model, layer, x, masks, options) -> ConceptEmbeddings:
        if embeddings is None:
            return net2vec(model, layer, x, masks, **options)
        if not isinstance(embeddings, ConceptEmbeddings):
            raise TypeError(f"embeddings must be a ConceptEmbeddings from net2vec, got {type(embeddings).__name__}")
        if embeddings.thresholds is None or embeddings.test is None or embeddings.image_iou is None:
            raise ValueError("embeddings must come from net2vec(task='segmentation') (they carry the filter "
                             "thresholds, the held-out split and the per-image IoU)")
        if embeddings.layer != layer:
            raise ValueError(f"embeddings were learned at layer {embeddings.layer!r}, not {layer!r}")
        missing = [n for n in embeddings.names if n not in masks]
        if missing:
            raise ValueError(f"embeddings name concepts without masks here: {missing}")
        if int(np.max(embeddings.test)) >= len(x):
            raise ValueError(f"embeddings were held out on images beyond the {len(x)} given: pass the same images")
        return embeddings

    # ------------------------------------------------------------------ browser input
    @validates("concept")
    def _validate_concept(self, proposal):
        return index_in("concept", proposal["value"], len(self.embeddings.names), "a concept index")

    @validates("channel")
    def _validate_channel(self, proposal):
        v = proposal["value"]
        return -1 if v == -1 else index_in("channel", v, self.embeddings.weights.shape[1], "-1 (none) or a channel")

    @validates("expression")
    def _validate_expression(self, proposal):
        v = proposal["value"]
        if len(v) > MAX_EXPRESSION:
            raise ValueError(f"an expression has at most {MAX_EXPRESSION} characters, got {len(v)}")
        return v

    @traitlets.observe("expression")
    def _on_expression(self, change):
        text = change["new"].strip()
        if not text:
            self._arithmetic = {}
            return
        try:
            results = self.embeddings.arithmetic(text, min(5, len(self.embeddings.names)))
            self._arithmetic = {"expression": text, "results": [[n, s] for n, s in results], "error": ""}
        except ValueError as exc:
            self._arithmetic = {"expression": text, "results": [], "error": str(exc)}

    def _card_parts(self) -> dict:
        """The card: the layer and concept shown, the probe's settings, how to read masks and bars."""
        emb, q = self.embeddings, self.concept
        best, best_iou = emb.single[q]
        settings = {k: v for k, v in emb.settings.items() if isinstance(v, (str, int, float, bool))}
        return {
            "question": f"How do the filters of {self.layer} encode the concept {self.name!r}: by one filter or a "
                        "combination?",
            "explanandum": {"layer": self.layer, "filters": int(emb.weights.shape[1]),
                            "concept": f"{self.name} ({self.categories[q]})", "concepts probed": len(emb.names),
                            "channel": "none" if self.channel < 0 else self.channel},
            "explainer": {"method": "Net2Vec segmentation probe (Fong and Vedaldi, CVPR 2018; Fong, DPhil thesis, "
                                    "Oxford 2020, ch. 5)", **settings},
            "interpretation": {
                "set IoU": f"{float(emb.iou[q]):.3g} for the combination, {float(best_iou):.3g} for the best "
                           f"single filter ({best}), on held-out images",
                "bars": "the combination's weight per filter, sorted, diverging over +-max |w|: red positive, "
                        "blue negative",
                "examples": "held-out images at each decile of per-image IoU, not only the best",
                "masks": f"predicted where the probe's output exceeds {self.threshold:.3g}", "opacity": self.opacity,
                "expression": self.expression or "none (vector arithmetic over the concepts' weights)",
                "click": "a bar shows that filter's activations on the examples"},
        }

    # ------------------------------------------------------------------ the numbers behind the view
    @property
    def name(self) -> str:
        """The concept shown."""
        return self.embeddings.names[self.concept]

    def examples(self, concept: str | None = None) -> np.ndarray:
        """The probe-set indices of the concept's examples, one per decile of per-image IoU
        (:func:`xai_widgets.concepts.decile_examples` over the held-out images).

        Parameters
        ----------
        concept : str or None, optional
            A concept name. Default None: the one shown.

        Returns
        -------
        numpy.ndarray
            Up to 10 int indices into ``images``, lowest IoU first.

        Raises
        ------
        ValueError
            If ``concept`` is not a concept of the embeddings.
        """
        names = self.embeddings.names
        if concept is not None and concept not in names:
            raise ValueError(f"unknown concept {concept!r}; the concepts are: {', '.join(names)}")
        q = self.concept if concept is None else names.index(concept)
        return self.data.index[q][self.data.index[q] >= 0]

    def order(self) -> np.ndarray:
        """The channels of the shown concept by weight, largest first (the bar chart's order)."""
        return weight_order(self.embeddings.weights)[self.concept]

    def example_pixels(self, row: str) -> list[np.ndarray]:
        """The strip ``row`` ("combination", "single" or "channel") as the browser draws it.

        Parameters
        ----------
        row : str
            Which strip: the combination's masks, the best single filter's, or the selected
            channel's activations.

        Returns
        -------
        list of numpy.ndarray
            One dh x dw x 3 uint8 image per example.

        Raises
        ------
        ValueError
            If ``row`` is not one of the three, or "channel" with no channel selected.
        """
        q, d = self.concept, self.data
        n = int((d.slots[q] >= 0).sum())
        images = [d.images[d.slots[q, s]] for s in range(n)]
        if row == "combination":
            cut = logit_of(self.threshold)
            return [mask_pixels(images[s], d.logits[q, s] > cut, COMBINATION, self.opacity, d.truth[q, s])
                    for s in range(n)]
        if row == "single":
            return [mask_pixels(images[s], d.single[q, s], SINGLE, self.opacity, d.truth[q, s]) for s in range(n)]
        if row == "channel" and self.channel >= 0:
            return [channel_pixels(images[s], d.acts[d.slots[q, s], self.channel], self.opacity) for s in range(n)]
        raise ValueError(f"row must be 'combination', 'single' or 'channel' (with a channel selected), got {row!r}")

    # ------------------------------------------------------------------ static figure
    def render_png(self, panel: int | None = None, scale: float = 1.0) -> Image.Image:
        """The view as a PIL image: the concept's scores, its sorted weights, the decile strips
        (the selected channel's too), its neighbours and the last arithmetic.

        Parameters
        ----------
        panel : int or None, optional
            Side of an example in pixels. Default None: the ``size`` trait.
        scale : float, optional
            Multiplier of every length, in [0.25, 8]. Default 1.0.

        Returns
        -------
        PIL.Image.Image
            The RGB figure.

        Raises
        ------
        Refused
            If ``scale`` is not a number in [0.25, 8].
        """
        scale, e, q = print_scale(scale), self.embeddings, self.concept
        k, single = e.single[q]
        rows = [("combination", self.example_pixels("combination")),
                (f"filter {k}", self.example_pixels("single"))]
        if self.channel >= 0:
            rows.append((f"channel {self.channel}", self.example_pixels("channel")))
        n = len(rows[0][1])
        fmt = lambda v: "-" if not np.isfinite(v) else f"{v:.2f}"  # noqa: E731
        captions = [f"{fmt(self.data.iou[q, s])} / {fmt(self.data.single_iou[q, s])}" for s in range(n)]
        title = (f"{self.name} ({self.categories[q]}) at {e.layer}: set IoU {e.iou[q]:.2f} (combination) "
                 f"vs {single:.2f} (filter {k})")
        lines = ["nearest: " + ", ".join(f"{m} {s:.2f}" for m, s in self._data["nearest"][q])]
        a = self._arithmetic
        if a:
            lines.append(f"{a['expression']} = " + (a["error"] or ", ".join(f"{m} {s:.2f}" for m, s in a["results"])))
        return concept_picture(title, e.weights[q], self.order(), rows, captions, lines, panel or self.size, scale)

    def __repr__(self) -> str:
        return f"ConceptExplorer({len(self.embeddings.names)} concepts at {self.layer!r}, showing {self.name!r})"

