"""What a tuned decoder keeps and adds: normalised mutual information, the spread of the
reconstructions, and how the decoders of several classifiers transfer between them.

Palacio et al., "What do Deep Networks Like to See?" (CVPR 2018), and Palacio's PhD thesis,
chapter 5: IC-nMI compares an image with its reconstruction (how much of the image the
classifier needs), BC-nMI compares the reconstructions of two different images (high: the
decoder paints the same pattern whatever the input); the cross-model matrix feeds the
reconstructions of decoder A_i, tuned on classifier f_i, to every classifier f_j.

Normalisation used here (Strehl and Ghosh 2002, the arithmetic-mean form)::

    NMI(X, Y) = 2 I(X; Y) / (H(X) + H(Y))

with X and Y the intensities of the two images at the same pixel and channel, each quantised
into ``bins`` equal bins over [0, 1] (default 32), probabilities estimated by the joint
histogram over all pixels and channels. NMI is 1 for identical images (and whenever the bins of
one image map one-to-one onto the bins of the other, e.g. a negative) and near 0 for independent
ones; two constant images (H(X) + H(Y) = 0) count as 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .fit import check_images, predicted_labels, run_batches

__all__ = ["BINS", "nmi", "ic_nmi", "bc_nmi", "std_map", "reconstruct", "CrossAccuracy", "cross_accuracy",
           "DENOMINATORS"]

BINS = 32
DENOMINATORS = ("clean", "own")


def _values(x) -> np.ndarray:
    return np.asarray(x.detach().cpu().double() if isinstance(x, torch.Tensor) else x, dtype=np.float64)


def _quantise(x: np.ndarray, bins: int) -> np.ndarray:
    return np.clip(np.floor(x * bins), 0, bins - 1).astype(np.int64).ravel()


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def nmi(a, b, bins: int = BINS) -> float:
    """Normalised mutual information ``2 I(X;Y) / (H(X) + H(Y))`` of two images' quantised intensities.

    Parameters
    ----------
    a, b : numpy.ndarray or torch.Tensor
        Two images of the same shape (any layout), values in [0, 1] (outside: clipped to the end bins).
    bins : int, default 32
        Equal-width bins over [0, 1].

    Returns
    -------
    float
        In [0, 1]; 1 when both images are constant.

    Raises
    ------
    ValueError
        If the shapes differ or ``bins`` < 2.
    """
    a, b = _values(a), _values(b)
    if a.shape != b.shape:
        raise ValueError(f"the two images must have the same shape, got {a.shape} and {b.shape}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an int >= 2, got {bins!r}")
    joint = np.bincount(_quantise(a, bins) * bins + _quantise(b, bins), minlength=bins * bins)
    joint = joint.reshape(bins, bins) / joint.sum()
    hx, hy, hxy = _entropy(joint.sum(1)), _entropy(joint.sum(0)), _entropy(joint.ravel())
    if hx + hy == 0:
        return 1.0
    return float(np.clip(2 * (hx + hy - hxy) / (hx + hy), 0.0, 1.0))


def ic_nmi(images, reconstructions, bins: int = BINS) -> np.ndarray:
    """Image-to-reconstruction NMI, one per image: ``NMI(x_i, A(x_i))``.

    Parameters
    ----------
    images, reconstructions : numpy.ndarray or torch.Tensor
        N images and their reconstructions, same shapes, values in [0, 1].
    bins : int, default 32
        Bins of :func:`nmi`.

    Returns
    -------
    numpy.ndarray
        N float64 values.

    Raises
    ------
    ValueError
        If the two sets have different shapes.
    """
    images, reconstructions = _values(images), _values(reconstructions)
    if images.shape != reconstructions.shape:
        raise ValueError(f"images and reconstructions differ in shape: {images.shape} and {reconstructions.shape}")
    return np.array([nmi(x, r, bins) for x, r in zip(images, reconstructions)])


def bc_nmi(reconstructions, bins: int = BINS) -> np.ndarray:
    """Between-reconstruction NMI: ``NMI(A(x_i), A(x_j))`` for every pair i < j, in that order.

    High values for different images mean the decoder adds the same pattern whatever its input.

    Parameters
    ----------
    reconstructions : numpy.ndarray or torch.Tensor
        N >= 2 reconstructions of different images, values in [0, 1].
    bins : int, default 32
        Bins of :func:`nmi`.

    Returns
    -------
    numpy.ndarray
        N (N - 1) / 2 float64 values, pairs in ``itertools.combinations`` order.

    Raises
    ------
    ValueError
        If fewer than two reconstructions are given.
    """
    recon = _values(reconstructions)
    if len(recon) < 2:
        raise ValueError(f"BC-nMI needs at least two reconstructions, got {len(recon)}")
    return np.array([nmi(recon[i], recon[j], bins) for i, j in combinations(range(len(recon)), 2)])


def std_map(reconstructions) -> np.ndarray:
    """Per-pixel standard deviation across reconstructions (population, ddof 0), averaged over channels.

    Positions where it is 0 are drawn the same for every input: they carry no information about it.

    Parameters
    ----------
    reconstructions : numpy.ndarray or torch.Tensor
        N x C x H x W reconstructions.

    Returns
    -------
    numpy.ndarray
        H x W float64 map.

    Raises
    ------
    ValueError
        If the input is not N x C x H x W.
    """
    recon = _values(reconstructions)
    if recon.ndim != 4:
        raise ValueError(f"reconstructions must be N x C x H x W, got shape {recon.shape}")
    return recon.std(axis=0).mean(axis=0)


def reconstruct(autoencoder: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """``A(x)`` for a batch, in eval mode; the autoencoder is left as it was.

    Parameters
    ----------
    autoencoder : torch.nn.Module
        Images to images of the same shape.
    images : torch.Tensor
        N x C x H x W images.
    batch_size : int, default 64
        Images per forward pass.

    Returns
    -------
    torch.Tensor
        N x C x H x W reconstructions on the CPU.

    Raises
    ------
    ValueError
        If the output shape differs from the input's.
    """
    images = check_images(images)
    out = run_batches(autoencoder, images, batch_size)
    if out.shape != images.shape:
        raise ValueError(f"the autoencoder must return images of the input's shape, got {tuple(out.shape)} for "
                         f"{tuple(images.shape)}")
    return out


@dataclass(frozen=True)
class CrossAccuracy:
    """Accuracies of every classifier on every decoder's reconstructions.

    Attributes
    ----------
    matrix : numpy.ndarray
        k x k: ``matrix[i, j] = acc(f_j o A_i)``, row: the decoder (tuned on f_i), column: the classifier.
    clean : numpy.ndarray
        k: ``acc(f_j)`` on the images themselves.
    names : tuple of str
        The classifiers' names, in order.
    """

    matrix: np.ndarray
    clean: np.ndarray
    names: tuple[str, ...]

    def ratios(self, denominator: str = "clean") -> np.ndarray:
        """``matrix[i, j] / d_j``: each accuracy relative to classifier j's reference.

        Parameters
        ----------
        denominator : {"clean", "own"}, default "clean"
            ``"clean"``: ``d_j = acc(f_j)`` on the clean images; ``"own"``: ``d_j = acc(f_j o A_j)``,
            classifier j on the reconstructions of its own decoder (the matrix's diagonal).

        Returns
        -------
        numpy.ndarray
            k x k ratios (NaN where ``d_j`` is 0).

        Raises
        ------
        ValueError
            For another ``denominator``.
        """
        if denominator not in DENOMINATORS:
            raise ValueError(f"denominator must be one of {DENOMINATORS}, got {denominator!r}")
        d = self.clean if denominator == "clean" else np.diag(self.matrix)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, self.matrix / np.where(d > 0, d, 1.0), np.nan)

    def min_ratio(self, denominator: str = "clean") -> np.ndarray:
        """The minimum classification ratio of each decoder: ``min_j matrix[i, j] / d_j``.

        How much accuracy decoder A_i keeps for the classifier it suits least.

        Parameters
        ----------
        denominator : {"clean", "own"}, default "clean"
            As in :meth:`ratios`.

        Returns
        -------
        numpy.ndarray
            k values, one per decoder.
        """
        return np.nanmin(self.ratios(denominator), axis=1)


def cross_accuracy(classifiers: Sequence[nn.Module], autoencoders: Sequence[nn.Module], images: torch.Tensor,
                   labels, names: Sequence[str] | None = None, batch_size: int = 64) -> CrossAccuracy:
    """The cross-model matrix ``acc(f_j o A_i)`` of decoders A_i tuned on classifiers f_i.

    Parameters
    ----------
    classifiers : sequence of torch.nn.Module
        f_1..f_k; each left as it was.
    autoencoders : sequence of torch.nn.Module
        A_1..A_k, A_i tuned on f_i (same length as ``classifiers``).
    images : torch.Tensor
        N x C x H x W test images.
    labels : array-like of int
        N true labels.
    names : sequence of str or None, default None
        The classifiers' names (default "f1", "f2", ...).
    batch_size : int, default 64
        Images per forward pass.

    Returns
    -------
    CrossAccuracy
        The matrix, the clean accuracies and the names.

    Raises
    ------
    ValueError
        If the sequences are empty or of different lengths, or the labels do not match the images.
    """
    images = check_images(images)
    labels = torch.as_tensor(labels).long().cpu()
    if len(classifiers) == 0 or len(classifiers) != len(autoencoders):
        raise ValueError(f"give one autoencoder per classifier (and at least one), got {len(classifiers)} "
                         f"classifiers and {len(autoencoders)} autoencoders")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must hold one class per image ({len(images)}), got shape {tuple(labels.shape)}")
    names = tuple(names) if names is not None else tuple(f"f{i + 1}" for i in range(len(classifiers)))
    if len(names) != len(classifiers):
        raise ValueError(f"names must name each classifier ({len(classifiers)}), got {len(names)}")
    acc = lambda f, x: (predicted_labels(f, x, batch_size) == labels).double().mean().item()  # noqa: E731
    recon = [reconstruct(a, images, batch_size) for a in autoencoders]
    matrix = np.array([[acc(f, r) for f in classifiers] for r in recon])
    return CrossAccuracy(matrix, np.array([acc(f, images) for f in classifiers]), names)
