"""Offline demo assets: our procedural shapes data set, a small CNN trained on it,
and a few natural photos. Nothing here downloads anything.

    model = shapes_model()
    data = shapes_dataset(16)
    logits = model(to_tensor(data.images))

For the path-mask method (``xai_widgets.morph``): ``digits()`` and ``letters()`` give the
path-mask thesis's MNIST classifier and VAE trained on handwritten digits and on font-rendered letters
A-J (``demo/glyphs.py``, trained by ``python -m xai_widgets.demo.train_morph``).

    classifier, vae, images, labels = digits()

For the classifier-tuned decoders (``xai_widgets.decoder``): ``strided_model()``, a second
shapes classifier of another architecture, and ``shapes_decoder(tuned_for)``, autoencoders
tuned for either classifier (trained by ``python -m xai_widgets.demo.train_decoder``).

    autoencoder = shapes_decoder("strided")  # A = D o E tuned so strided_model() keeps its decisions
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..decoder.models import Autoencoder, ConvDecoder, ConvEncoder
from ..morph.models import ConvVAE, SeedCNN
from .glyphs import digits_data, letters_data
from .model import ShapesNet, StridedShapesNet, to_tensor
from .concepts import ConceptSet, make_concepts
from .shapes import CLASSES, ShapesSet, make_shapes

__all__ = [
    "CLASSES",
    "ConceptSet",
    "DIGIT_CLASSES",
    "LETTER_CLASSES",
    "ShapesNet",
    "ShapesSet",
    "StridedShapesNet",
    "DECODER_CHOICES",
    "digits",
    "letters",
    "make_shapes",
    "class_concepts",
    "photos",
    "shapes_concepts",
    "shapes_dataset",
    "shapes_images",
    "shapes_decoder",
    "shapes_model",
    "strided_model",
    "to_tensor",
]

WEIGHTS = Path(__file__).with_name("weights") / "shapes_cnn.pt"


def shapes_model(device: str | torch.device = "cpu") -> ShapesNet:
    """The shapes CNN with its shipped weights, in eval mode; feed it RGB in [0, 1].

    Parameters
    ----------
    device : str or torch.device, default "cpu"
        Where the model is loaded.

    Returns
    -------
    ShapesNet
        The trained model on ``device``, in eval mode.
    """
    model = ShapesNet()
    model.load_state_dict(torch.load(WEIGHTS, map_location=device, weights_only=True))
    return model.to(device).eval()


def strided_model(device: str | torch.device = "cpu") -> StridedShapesNet:
    """The demo's second shapes classifier, all-convolutional, with its shipped weights, in eval mode.

    Trained by ``python -m xai_widgets.demo.train_decoder`` with ShapesNet's recipe; its record
    (held-out accuracy included) is ``demo/weights/shapes_decoders.json``. Feed it RGB in [0, 1].

    Parameters
    ----------
    device : str or torch.device, default "cpu"
        Where the model is loaded.

    Returns
    -------
    StridedShapesNet
        The trained model on ``device``, in eval mode.
    """
    return load_half_weights(StridedShapesNet(), WEIGHTS.with_name("shapes_strided.pt"), device)


DECODER_CHOICES = ("strided", "cnn", None)


def shapes_decoder(tuned_for: str | None = "strided", device: str | torch.device = "cpu") -> Autoencoder:
    """A shipped autoencoder ``A = D o E`` of the shapes images, in eval mode.

    All three share one encoder, trained with its decoder on reconstruction (stage 1 of
    :func:`xai_widgets.decoder.fit`); ``"cnn"`` and ``"strided"`` then had their decoder tuned so
    that :func:`shapes_model` or :func:`strided_model` keeps its decisions on the reconstructions
    (stage 2; Palacio et al., CVPR 2018). Record: ``demo/weights/shapes_decoders.json``. On 300
    held-out images ShapesNet keeps 83% accuracy on its decoder's reconstructions (34% on the
    untuned ones, 99% on the images), the strided net 74% (62% untuned, 91% on the images).

    Parameters
    ----------
    tuned_for : {"strided", "cnn", None}, default "strided"
        The classifier the decoder was tuned for; None: the reconstruction-only autoencoder.
    device : str or torch.device, default "cpu"
        Where the model is loaded.

    Returns
    -------
    Autoencoder
        RGB images in [0, 1] (sides divisible by 8) to their reconstructions.

    Raises
    ------
    ValueError
        If ``tuned_for`` is not one of ``DECODER_CHOICES``.
    """
    if tuned_for not in DECODER_CHOICES:
        raise ValueError(f"tuned_for must be one of {DECODER_CHOICES}, got {tuned_for!r}")
    name = "shapes_ae.pt" if tuned_for is None else f"shapes_ae_{tuned_for}.pt"
    return load_half_weights(Autoencoder(ConvEncoder(), ConvDecoder()), WEIGHTS.with_name(name), device)


def shapes_dataset(n: int, seed: int = 0, masks: bool = False) -> ShapesSet:
    """``n`` procedural shapes images (128 px) with labels and boxes.

    ``n`` procedural shapes images (128 px) with labels, per-object boxes and, with
    ``masks=True``, object masks (the images are the same either way).

    Parameters
    ----------
    n : int
        Number of images.
    seed : int, default 0
        Seed of the generator (see :func:`make_shapes`).
    masks : bool, default False
        Also keep the object masks.

    Returns
    -------
    ShapesSet
        The images, labels, boxes and (with ``masks=True``) masks.
    """
    return make_shapes(n, seed=seed, masks=masks)


def class_concepts(data: ShapesSet) -> dict[str, np.ndarray]:
    """One concept per shape class for Network Dissection (``xai_widgets.units.scan.dissect``).

    ``{class name: N x H x W bool}``, the object pixels of the images of that class
    (all False in the other images). ``data`` must come from ``shapes_dataset(..., masks=True)``.

    Parameters
    ----------
    data : ShapesSet
        A shapes set made with masks.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{class name: N x H x W bool mask}`` for every class.

    Raises
    ------
    ValueError
        If ``data`` has no masks.
    """
    if data.masks is None:
        raise ValueError("this shapes set has no masks; make it with shapes_dataset(n, seed, masks=True)")
    return {
        name: data.masks & (data.labels == label)[:, None, None]
        for label, name in enumerate(data.classes)
    }


def shapes_concepts(n: int, seed: int = 0, size: int = 128) -> ConceptSet:
    """``n`` images of the concept probe set: shapes with pixel masks of objects, colours,
    background textures and parts (edges, centres, corners), deterministic from ``seed``.

    See :mod:`xai_widgets.demo.concepts`. The set is also a dataset of the shapes classes
    (``data[i]`` is ``(image, shape label)``), so it can be scanned like :func:`shapes_dataset`.

    Parameters
    ----------
    n : int
        Number of images.
    seed : int, default 0
        Seed of the generator.
    size : int, default 128
        Side of the images in pixels (at least 32).

    Returns
    -------
    ConceptSet
        ``.images``, ``.labels``, ``.masks`` ``{concept: N x H x W bool}``, ``.categories``
        ``{concept: category}`` and ``.present`` (image-level labels).

    Raises
    ------
    ValueError
        If ``n`` < 1 or ``size`` < 32.
    """
    return make_concepts(n, seed=seed, size=size)


def shapes_images(n: int = 8, seed: int = 0) -> list[Image.Image]:
    """``n`` procedural shapes images as RGB PIL images; the same as ``shapes_dataset(n, seed)``.

    Parameters
    ----------
    n : int, default 8
        Number of images.
    seed : int, default 0
        Seed of the generator.

    Returns
    -------
    list of PIL.Image.Image
        ``n`` RGB images of 128 x 128 pixels.
    """
    return [Image.fromarray(image) for image in make_shapes(n, seed=seed).images]


def photos() -> dict[str, Image.Image]:
    """Natural photos that scikit-learn ships inside its package: "china" and "flower".

    Returns
    -------
    dict of str to PIL.Image.Image
        ``{"china": image, "flower": image}``, RGB.
    """
    # Imported here: scikit-learn is slow to import and only this function needs it.
    from sklearn.datasets import load_sample_image

    names = ("china", "flower")
    return {name: Image.fromarray(load_sample_image(f"{name}.jpg")).convert("RGB") for name in names}


DIGIT_CLASSES = tuple("0123456789")
LETTER_CLASSES = tuple("ABCDEFGHIJ")


MorphDemo = tuple[SeedCNN, ConvVAE, torch.Tensor, torch.Tensor]


def digits(split: str = "test", device: str | torch.device = "cpu") -> MorphDemo:
    """The digits demo of the path-mask method: ``(classifier, vae, images, labels)``.

    The path-mask thesis's MNIST CNN and VAE (``xai_widgets.morph.models``) trained on scikit-learn's
    handwritten digits made MNIST-like (``demo/glyphs.py``), in eval mode on ``device``; the
    images of ``split`` ("test": the 300 held out from training, "train" or "all") as an
    N x 1 x 28 x 28 float tensor in [0, 1] on ``device``, and their int64 labels (0-9, see
    ``DIGIT_CLASSES``). Training record: ``demo/weights/digits_cnn.json``, ``digits_vae.json``.

    Parameters
    ----------
    split : {"test", "train", "all"}, default "test"
        Which images to return.
    device : str or torch.device, default "cpu"
        Where the models and tensors go.

    Returns
    -------
    tuple of (SeedCNN, ConvVAE, torch.Tensor, torch.Tensor)
        The classifier, the VAE, N x 1 x 28 x 28 float images in [0, 1] and N int64 labels.

    Raises
    ------
    ValueError
        If ``split`` is unknown.
    """
    return _morph_demo("digits", digits_data(split), device)


def letters(split: str = "test", device: str | torch.device = "cpu") -> MorphDemo:
    """The letters demo: ``(classifier, vae, images, labels)`` as in :func:`digits`.

    The letters demo (notMNIST-like A-J rendered from fonts, shipped as
    ``demo/weights/letters_data.npz``): ``(classifier, vae, images, labels)`` as in
    :func:`digits`; "test" holds 500 images, labels 0-9 stand for ``LETTER_CLASSES``.

    Parameters
    ----------
    split : {"test", "train", "all"}, default "test"
        Which images to return.
    device : str or torch.device, default "cpu"
        Where the models and tensors go.

    Returns
    -------
    tuple of (SeedCNN, ConvVAE, torch.Tensor, torch.Tensor)
        The classifier, the VAE, N x 1 x 28 x 28 float images in [0, 1] and N int64 labels.

    Raises
    ------
    ValueError
        If ``split`` is unknown.
    """
    return _morph_demo("letters", letters_data(split), device)


def _morph_demo(name: str, data: tuple[torch.Tensor, torch.Tensor], device) -> MorphDemo:
    images, labels = data
    classifier = load_half_weights(SeedCNN(), WEIGHTS.with_name(f"{name}_cnn.pt"), device)
    vae = load_half_weights(ConvVAE(), WEIGHTS.with_name(f"{name}_vae.pt"), device)
    return classifier, vae, images.to(device), labels.to(device)


def load_half_weights(model: torch.nn.Module, path: Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load a float16 state dict into ``model`` and put it on ``device`` in eval mode.

    Load a state dict stored in float16 (to halve the files) into ``model``, cast to its
    own dtype; returns the model on ``device`` in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        The model to load into (modified in place).
    path : pathlib.Path
        The ``.pt`` file of the state dict.
    device : str or torch.device, default "cpu"
        Where the model goes.

    Returns
    -------
    torch.nn.Module
        ``model`` on ``device``, in eval mode.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)  # copy_ casts float16 to the parameters' dtype
    return model.to(device).eval()
