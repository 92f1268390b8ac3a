"""Net2Vec's classification probe: does an image contain the concept, from the layer's
spatially averaged activations (Fong and Vedaldi, CVPR 2018, section 3.2)?

One logistic regression per concept on the channel means (standardised on the training split),
with the classes balanced (the paper samples positives and negatives equally; we weight each
class by half over its frequency, which is the same objective in expectation), scored by
balanced accuracy on the held-out split. Retraining on only the F filters of largest |w_k|
shows how many filters a concept needs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["fit_logistic", "balanced_accuracy"]


def fit_logistic(features: torch.Tensor, labels: torch.Tensor, *, optimizer: str, lr: float, epochs: int,
                 batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced logistic regression of every concept at once.

    Parameters
    ----------
    features : torch.Tensor
        N x C standardised channel means (training split).
    labels : torch.Tensor
        Concepts x N bool: whether each image contains each concept.
    optimizer : {"sgd", "adam"}
        SGD with momentum 0.9, or Adam.
    lr : float
        Learning rate.
    epochs : int
        Passes over the images.
    batch_size : int
        Images per step.
    seed : int
        Seed of the batch order.

    Returns
    -------
    weights : torch.Tensor
        Concepts x C.
    bias : torch.Tensor
        Concepts.

    Raises
    ------
    ValueError
        If a concept is present in every training image or in none (nothing to separate).
    """
    y = labels.float()
    freq = y.mean(1, keepdim=True)
    if ((freq == 0) | (freq == 1)).any():
        raise ValueError("for the classification probe every concept must be present in some training images "
                         "and absent from others")
    class_weight = 0.5 * y / freq + 0.5 * (1 - y) / (1 - freq)  # each class counts half: balanced
    w = torch.zeros(len(labels), features.shape[1], requires_grad=True)
    b = torch.zeros(len(labels), requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=lr, momentum=0.9) if optimizer == "sgd" else torch.optim.Adam([w, b], lr=lr)
    g = torch.Generator().manual_seed(int(seed))
    for _ in range(epochs):
        for idx in torch.randperm(len(features), generator=g).split(batch_size):
            logits = features[idx] @ w.T + b  # B x concepts
            loss = F.binary_cross_entropy_with_logits(logits, y[:, idx].T, weight=class_weight[:, idx].T,
                                                      reduction="none").mean(0).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach(), b.detach()


def balanced_accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean of the true-positive and true-negative rates, per concept (rows).

    Parameters
    ----------
    predicted, labels : torch.Tensor
        Concepts x N bool.

    Returns
    -------
    torch.Tensor
        Per concept, in [0, 1]; NaN when the images hold only positives or only negatives.
    """
    pos, neg = labels, ~labels
    tpr = (predicted & pos).sum(1).double() / pos.sum(1)
    tnr = (~predicted & neg).sum(1).double() / neg.sum(1)
    return (tpr + tnr) / 2
