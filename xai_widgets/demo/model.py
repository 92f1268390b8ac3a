"""ShapesNet: a small CNN for the shapes demo, laid out for teaching.

``model.named_modules()`` reads from edges to shapes: four conv stages
(``conv1, bn1, relu1, pool1, ..., conv4, bn4, relu4``) then ``gap`` and ``fc``.
At 128 px input the stage outputs are 128, 64, 32 and 16 px wide.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .shapes import CLASSES

WIDTHS = (16, 32, 64, 128)
# Per-channel statistics of the shapes images, so users can feed plain [0, 1] RGB.
MEAN = (0.50, 0.50, 0.50)
STD = (0.20, 0.20, 0.20)


class ShapesNet(nn.Module):
    """CNN classifying float RGB images in [0, 1], shape (N, 3, H, W), H and W >= 32.

    Parameters
    ----------
    num_classes : int, default len(CLASSES)
        Number of output logits (6 shape classes).
    """

    def __init__(self, num_classes: int = len(CLASSES)):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        in_channels = 3
        for i, width in enumerate(WIDTHS, start=1):
            # bias is redundant before batch norm
            setattr(self, f"conv{i}", nn.Conv2d(in_channels, width, 3, padding=1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(width))
            setattr(self, f"relu{i}", nn.ReLU(inplace=False))  # one per stage so hooks see each
            if i < len(WIDTHS):
                setattr(self, f"pool{i}", nn.MaxPool2d(2))
            in_channels = width
        self.gap = nn.AdaptiveAvgPool2d(1)  # global pooling: any input size works
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of a batch.

        Parameters
        ----------
        x : torch.Tensor
            N x 3 x H x W float RGB images in [0, 1], H and W >= 32.

        Returns
        -------
        torch.Tensor
            N x num_classes logits.
        """
        x = (x - self.mean) / self.std
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.pool3(self.relu3(self.bn3(self.conv3(x))))
        x = self.relu4(self.bn4(self.conv4(x)))
        return self.fc(self.gap(x).flatten(1))


def to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (N, H, W, 3) to the float (N, 3, H, W) tensor in [0, 1] the model expects.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        N x H x W x 3 uint8 images.

    Returns
    -------
    torch.Tensor
        N x 3 x H x W float32 tensor in [0, 1].
    """
    return torch.as_tensor(images).permute(0, 3, 1, 2).float().div(255)


class StridedShapesNet(nn.Module):
    """A second, different classifier of the shapes: all-convolutional, no pooling, no dense layer.

    The "all convolutional net" of Springenberg, Dosovitskiy, Brox and Riedmiller, "Striving for
    Simplicity" (ICLR 2015 workshop), in miniature: three stride-2 3x3 convolutions (16, 32, 64
    channels) and one stride-1 (64), each with batch norm and ReLU, then a 1x1 convolution to the
    class scores and a global average (without batch norm it stayed at chance in training). It is
    the demo's second model, so the tuned decoders of :mod:`xai_widgets.decoder` have two
    classifiers to cross. Same input as :class:`ShapesNet`.

    Parameters
    ----------
    num_classes : int, default len(CLASSES)
        Number of output logits (6 shape classes).
    """

    def __init__(self, num_classes: int = len(CLASSES)):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        in_channels = 3
        for i, (width, stride) in enumerate(((16, 2), (32, 2), (64, 2), (64, 1)), start=1):
            setattr(self, f"conv{i}", nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(width))
            setattr(self, f"relu{i}", nn.ReLU())
            in_channels = width
        self.score = nn.Conv2d(64, num_classes, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of a batch.

        Parameters
        ----------
        x : torch.Tensor
            N x 3 x H x W float RGB images in [0, 1], H and W >= 16.

        Returns
        -------
        torch.Tensor
            N x num_classes logits.
        """
        x = (x - self.mean) / self.std
        for i in range(1, 5):
            x = getattr(self, f"relu{i}")(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return self.gap(self.score(x)).flatten(1)
