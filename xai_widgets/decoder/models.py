"""A small convolutional autoencoder A = D o E for RGB images in [0, 1].

The classifier-tuned decoders of Palacio et al., "What do Deep Networks Like to See?"
(CVPR 2018) put an autoencoder in front of a frozen classifier; the paper's is SegNet-sized,
ours is a three-stage miniature of the same shape: strided convolutions down to an 8x smaller
code, transposed convolutions back up, a Sigmoid so reconstructions stay images in [0, 1].
Images need sides divisible by 8 (e.g. 128 px shapes, 80 px training crops).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

__all__ = ["ConvEncoder", "ConvDecoder", "Autoencoder"]

WIDTHS = (16, 32, 32)


class ConvEncoder(nn.Sequential):
    """Three stride-2 3x3 convolutions with ReLU: N x C x H x W -> N x widths[-1] x H/8 x W/8.

    Parameters
    ----------
    in_channels : int, default 3
        Image channels.
    widths : tuple of int, default (16, 32, 32)
        Output channels of the three stages.
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = WIDTHS):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, width in enumerate(widths, start=1):
            layers[f"conv{i}"] = nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False)
            layers[f"bn{i}"] = nn.BatchNorm2d(width)
            layers[f"relu{i}"] = nn.ReLU()
            in_channels = width
        super().__init__(layers)


class ConvDecoder(nn.Sequential):
    """The encoder mirrored: three stride-2 transposed convolutions, ReLU between, Sigmoid at the end.

    Parameters
    ----------
    out_channels : int, default 3
        Image channels.
    widths : tuple of int, default (16, 32, 32)
        The encoder's stage widths (the decoder runs them backwards).
    """

    def __init__(self, out_channels: int = 3, widths: tuple[int, ...] = WIDTHS):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        outs = list(reversed(widths[:-1])) + [out_channels]
        in_channels = widths[-1]
        for i, width in enumerate(outs, start=1):
            last = i == len(outs)
            layers[f"deconv{i}"] = nn.ConvTranspose2d(in_channels, width, 4, stride=2, padding=1, bias=last)
            if not last:
                layers[f"bn{i}"] = nn.BatchNorm2d(width)
            layers["sigmoid" if last else f"relu{i}"] = nn.Sigmoid() if last else nn.ReLU()
            in_channels = width
        super().__init__(layers)


class Autoencoder(nn.Module):
    """``A(x) = decoder(encoder(x))``, an image-to-image model.

    Parameters
    ----------
    encoder : torch.nn.Module
        Images to codes.
    decoder : torch.nn.Module
        Codes to images of the input's shape.

    Attributes
    ----------
    encoder, decoder : torch.nn.Module
        The two halves (shared with the caller, not copied).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of a batch.

        Parameters
        ----------
        x : torch.Tensor
            N x C x H x W images.

        Returns
        -------
        torch.Tensor
            ``decoder(encoder(x))``.
        """
        return self.decoder(self.encoder(x))
