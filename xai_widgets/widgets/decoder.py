"""``DecoderExplorer``: what the classifier sees, an image against its classifier-tuned reconstruction.

An autoencoder A = D o E whose decoder was tuned so that the classifier f keeps its decisions on
A(x) (:func:`xai_widgets.decoder.fit`; Palacio et al., "What do Deep Networks Like to See?",
CVPR 2018) redraws each image as the classifier needs it. The widget shows x, the blend
(1 - b) x + b A(x) under a slider, A(x), and the per-pixel standard deviation of the
reconstructions across the images; the classifier's top class is precomputed at every blend
step, so the slider runs in the browser. IC-nMI (image against its reconstruction) and BC-nMI
(reconstructions of different images against each other) are given with their definition.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import traitlets
from PIL import Image
from torch import nn

from ..decoder.fit import check_images
from ..core.capture import model_device, preserved_model
from ..core.images import check_model_input
from .base import STATIC, XaiWidget
from .checks import Index, PanelSize, at_least, index_in, print_scale, validates
from .decoder_payload import decoder_payload
from .decoder_picture import decoder_picture

__all__ = ["DecoderExplorer"]


class DecoderExplorer(XaiWidget):
    """Images against their classifier-tuned reconstructions, blended in the browser.

    Parameters
    ----------
    classifier : torch.nn.Module
        f: images N x C x H x W in [0, 1] to logits; left exactly as it was.
    decoder : torch.nn.Module
        The autoencoder A = D o E (images to images of the same shape, e.g.
        ``xw.demo.shapes_decoder("cnn")`` or ``fit(...).autoencoder``); left exactly as it was.
    images : torch.Tensor
        N >= 2 images N x C x H x W (C = 1 or 3) with values in [0, 1]: pixels are shown and
        blended as uint8, and the classifier sees exactly those pixels.
    steps : int, default 11
        Blend steps from the image (b = 0) to its reconstruction (b = 1), at least 2.
    classes : sequence of str or None, default None
        A name per class of the classifier; None: "class 0", "class 1", ...
    size : int, default 160
        Side of each image panel in CSS pixels (smaller when the output is narrower).

    Attributes
    ----------
    index : int
        The image shown (the browser's image slider sets it).
    step : int
        The blend step shown, 0..steps - 1 (the blend slider sets it).
    top, prob : numpy.ndarray
        N x steps: the classifier's top class and its probability at each blend step.

    Raises
    ------
    TypeError
        If a model is not a ``torch.nn.Module`` or ``images`` is not a float tensor.
    ValueError
        If ``images`` is not a batch of at least two model inputs in [0, 1], ``steps`` < 2, or
        ``classes`` does not name every class.
    """

    _esm = STATIC / "decoder.js"
    _css = STATIC / "decoder.css"
    _dec = traitlets.Dict().tag(sync=True)
    index = Index(0).tag(sync=True)
    step = Index(0).tag(sync=True)
    size = PanelSize(160).tag(sync=True)

    _browser_traits = frozenset({"index", "step"})

    def __init__(self, classifier: nn.Module, decoder: nn.Module, images: torch.Tensor, *, steps: int = 11,
                 classes: Sequence[str] | None = None, size: int = 160):
        for name, value in (("classifier", classifier), ("decoder", decoder)):
            if not isinstance(value, nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
        images = check_images(images)
        if len(images) < 2 or images.shape[1] not in (1, 3) or images.min() < 0 or images.max() > 1:
            raise ValueError(f"images must be at least two images N x C x H x W with C = 1 or 3 and values in "
                             f"[0, 1], got shape {tuple(images.shape)} and range [{float(images.min()):.3g}, "
                             f"{float(images.max()):.3g}]")
        check_model_input(images, classifier, "DecoderExplorer", "images")
        self.classifier, self.decoder, self.images = classifier, decoder, images
        self.classes = _class_names(classifier, images, classes)
        super().__init__(size=size)
        self._dec = decoder_payload(classifier, decoder, images, at_least("steps", steps, 2), self.classes)
        self.step = self.steps - 1

    @validates("index")
    def _validate_index(self, proposal):
        return index_in("index", proposal["value"], len(self.images), "an image index")

    @validates("step")
    def _validate_step(self, proposal):
        if not getattr(self, "_dec", None):
            return proposal["value"]
        return index_in("step", proposal["value"], self.steps, "a blend step")

    @property
    def steps(self) -> int:
        """Number of blend steps."""
        return int(self._dec["steps"])

    @property
    def blend(self) -> float:
        """The blend shown, ``step / (steps - 1)``: 0 the image, 1 its reconstruction."""
        return self.step / (self.steps - 1)

    @property
    def top(self) -> np.ndarray:
        """N x steps top classes along the blend (int64)."""
        return np.array(self._dec["top"]).reshape(len(self.images), self.steps)

    @property
    def prob(self) -> np.ndarray:
        """N x steps probabilities of the top classes along the blend (float64)."""
        return np.array(self._dec["prob"]).reshape(len(self.images), self.steps)

    def _card_models(self) -> dict:
        return {"classifier": self.classifier, "autoencoder": self.decoder}

    def _card_parts(self) -> dict:
        """The card: the classifier and its tuned autoencoder, the blend shown, how to read nMI and spread."""
        d = self._dec
        n = self.index
        return {
            "question": "What does the classifier need to see: what survives a decoder tuned to keep its decisions?",
            "explanandum": {"images": f"{len(self.images)} of {' x '.join(map(str, self.images.shape[1:]))}",
                            "prediction shown": f"{self.classes[int(self.top[n, self.step])]} "
                                                f"({self.prob[n, self.step]:.0%})"},
            "explainer": {"method": "classifier-tuned decoder (Palacio et al., CVPR 2018)",
                          "blend": f"step {self.step} of {self.steps - 1}: {self.blend:.2f} of the reconstruction",
                          "image": f"{n + 1} of {len(self.images)}"},
            "interpretation": {
                "IC-nMI": f"{d['ic_nmi'][n]:.3f}: normalised mutual information 2 I(X;Y) / (H(X) + H(Y)) of the "
                          f"image and its reconstruction ({d['bins']} intensity bins); 1 = all kept",
                "BC-nMI": f"{d['bc_nmi']:.3f}: the same between reconstructions of different images, mean of "
                          f"{d['pairs']} pairs; high = patterns the decoder adds whatever the input",
                "std map": "per-pixel standard deviation across the reconstructions: dark pixels never change and "
                           "carry no information about the input"},
        }

    def _preview_panel(self) -> int:
        return min(self.size, 128)

    def render_png(self, panel: int | None = None, scale: float = 1.0) -> Image.Image:
        """The view at the current ``index`` and ``step``: image, blend, reconstruction, std map,
        the prediction along the blend and the nMI caption.

        Parameters
        ----------
        panel : int or None, optional
            Each image panel's side before ``scale`` (default: ``size``, at least 32).
        scale : float, optional
            Multiplies every length, 0.25 to 8 (default 1; 2 or 3 for print).

        Returns
        -------
        PIL.Image.Image
            RGB, on a white background.

        Raises
        ------
        Refused
            For a ``scale`` outside 0.25 to 8 or not a number.
        """
        scale = print_scale(scale)
        side = int(round(max(32, panel or self.size) * scale))
        return decoder_picture(self._dec, self.index, self.step, side, scale)

    def __repr__(self) -> str:
        return f"DecoderExplorer({len(self.images)} images, steps={self.steps}, index={self.index}, step={self.step})"


def _class_names(classifier: nn.Module, images: torch.Tensor, classes) -> list[str]:
    """The class names, checked against the number of logits."""
    with torch.no_grad(), preserved_model(classifier, eval_mode=True):
        n = classifier(images[:1].to(model_device(classifier))).shape[1]
    if classes is None:
        return [f"class {i}" for i in range(n)]
    names = [str(c) for c in classes]
    if len(names) != n:
        raise ValueError(f"classes must name each of the classifier's {n} classes, got {len(names)} names")
    return names
