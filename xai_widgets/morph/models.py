"""The source thesis's MNIST classifier and variational autoencoder, layer for layer.

Source: the listings "MNIST CNN" and "MNIST VAE" in the appendix of the thesis on path-mask
attribution ("the source thesis", see :mod:`xai_widgets.morph.latent`; its notMNIST models
are the same). The VAE follows Kingma & Welling, "Auto-Encoding Variational Bayes"
(ICLR 2014), as the source thesis describes it.

Both take 1 x 28 x 28 images in [0, 1] (white glyph on black, like MNIST). The layers are
the listings' own, in their order and with their names readable in ``named_modules()``::

    conv1 (16 x 10 x 10), bn1, relu1, conv2 (32 x 8 x 8), bn2, relu2,
    conv3 (64 x 6 x 6), bn3, relu3, flatten (2304), fc1 (128), bn4, relu4, dropout

then ``fc2`` (the logits) in :class:`SeedCNN`, or the ``mu`` and ``logvar`` heads in
:class:`ConvVAE`, whose decoder mirrors the trunk back to 1 x 28 x 28 through a
``BatchNorm2d(1)`` and a ``Sigmoid``.

Gotchas: both models hold BatchNorm and Dropout, the decoder too, and its last
BatchNorm sits right before the Sigmoid: always call ``eval()`` before explaining (the
functions in :mod:`xai_widgets.morph` do it for you and restore the flags). A single image
in training mode makes BatchNorm1d raise.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

__all__ = ["SeedCNN", "ConvVAE", "IMAGE_SIZE"]

IMAGE_SIZE = 28
_FEATURES = 64 * 6 * 6  # conv3's output, flattened
_HIDDEN = 128


def _trunk(in_channels: int, dropout: float) -> "OrderedDict[str, nn.Module]":
    """The convolutional trunk shared by the "MNIST CNN" listing and the encoder of the "MNIST VAE" one."""
    return OrderedDict(
        conv1=nn.Conv2d(in_channels, 16, kernel_size=5, stride=3, padding=2, bias=False),
        bn1=nn.BatchNorm2d(16),
        relu1=nn.ReLU(),
        conv2=nn.Conv2d(16, 32, kernel_size=3, stride=1, bias=False),
        bn2=nn.BatchNorm2d(32),
        relu2=nn.ReLU(),
        conv3=nn.Conv2d(32, 64, kernel_size=3, stride=1, bias=False),
        bn3=nn.BatchNorm2d(64),
        relu3=nn.ReLU(),
        flatten=nn.Flatten(),
        fc1=nn.Linear(_FEATURES, _HIDDEN, bias=False),
        bn4=nn.BatchNorm1d(_HIDDEN),
        relu4=nn.ReLU(),
        dropout=nn.Dropout(dropout),
    )


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_images(x: torch.Tensor, in_channels: int) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1:] != (in_channels, IMAGE_SIZE, IMAGE_SIZE):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"expected a batch of images N x {in_channels} x {IMAGE_SIZE} x {IMAGE_SIZE} "
            f"(these models are fixed at {IMAGE_SIZE} px), got {got}"
        )


class SeedCNN(nn.Sequential):
    """The source thesis's MNIST/notMNIST classifier (its "MNIST CNN" listing): logits N x num_classes.

    About 320k parameters with the defaults (320,122). ``dropout`` is the
    listing's ``nn.Dropout()`` probability, 0.5.

    Parameters
    ----------
    num_classes : int, optional
        Number of output classes (positive). Default 10.
    in_channels : int, optional
        Image channels (positive); images are in_channels x 28 x 28. Default 1.
    dropout : float, optional
        Dropout probability. Default 0.5.

    Attributes
    ----------
    in_channels : int
        Image channels expected by ``forward``.
    num_classes : int
        Number of logits.

    Raises
    ------
    ValueError
        If ``num_classes`` or ``in_channels`` is not positive.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.5):
        _check_positive("num_classes", num_classes)
        _check_positive("in_channels", in_channels)
        layers = _trunk(in_channels, dropout)
        layers["fc2"] = nn.Linear(_HIDDEN, num_classes)
        super().__init__(layers)
        self.in_channels = in_channels
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits for a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            N x in_channels x 28 x 28 images.

        Returns
        -------
        torch.Tensor
            N x num_classes logits.

        Raises
        ------
        ValueError
            If ``x`` is not a tensor N x in_channels x 28 x 28.
        """
        _check_images(x, self.in_channels)
        return super().forward(x)


class ConvVAE(nn.Module):
    """The source thesis's MNIST/notMNIST VAE (its "MNIST VAE" listing), about 605k parameters.

    * ``encode(x) -> (mu, logvar)``, each N x latent_dim. The listing calls the second head
      "encoder std" without saying what it holds; here it is the log
      variance, log sigma^2, so sigma = exp(logvar / 2).
    * ``decode(z) -> images`` N x in_channels x 28 x 28 in [0, 1] (Sigmoid output).
    * ``forward(x) -> (recon, mu, logvar)``: in training mode the decoder sees the
      reparameterised sample z = mu + sigma * eps, eps ~ N(0, I) (Kingma & Welling 2014,
      section 2.4); in eval mode it sees z = mu, "at test time we normally take the mean"
      (the source thesis).

    ``latent_dim`` is the source thesis's 100 by default.

    Parameters
    ----------
    latent_dim : int, optional
        Size d of the latent code (positive). Default 100.
    in_channels : int, optional
        Image channels (positive); images are in_channels x 28 x 28. Default 1.
    dropout : float, optional
        Dropout probability of the encoder and decoder. Default 0.5.

    Attributes
    ----------
    latent_dim : int
        Size of the latent code.
    in_channels : int
        Image channels.
    encoder : torch.nn.Sequential
        The convolutional trunk.
    mu, logvar : torch.nn.Linear
        The two heads: mean and log variance.
    decoder : torch.nn.Sequential
        Codes to images (Sigmoid output).

    Raises
    ------
    ValueError
        If ``latent_dim`` or ``in_channels`` is not positive.
    """

    def __init__(self, latent_dim: int = 100, in_channels: int = 1, dropout: float = 0.5):
        super().__init__()
        _check_positive("latent_dim", latent_dim)
        _check_positive("in_channels", in_channels)
        self.latent_dim = latent_dim
        self.in_channels = in_channels
        self.encoder = nn.Sequential(_trunk(in_channels, dropout))
        self.mu = nn.Linear(_HIDDEN, latent_dim)
        self.logvar = nn.Linear(_HIDDEN, latent_dim)
        self.decoder = nn.Sequential(
            OrderedDict(
                fc=nn.Linear(latent_dim, _FEATURES),
                bn0=nn.BatchNorm1d(_FEATURES),
                relu0=nn.ReLU(),
                dropout=nn.Dropout(dropout),
                unflatten=nn.Unflatten(1, (64, 6, 6)),
                deconv1=nn.ConvTranspose2d(64, 32, kernel_size=3, stride=1, bias=False),
                bn1=nn.BatchNorm2d(32),
                relu1=nn.ReLU(),
                deconv2=nn.ConvTranspose2d(32, 16, kernel_size=3, stride=1, bias=False),
                bn2=nn.BatchNorm2d(16),
                relu2=nn.ReLU(),
                deconv3=nn.ConvTranspose2d(16, in_channels, kernel_size=5, stride=3, padding=2, bias=False),
                bn3=nn.BatchNorm2d(in_channels),
                sigmoid=nn.Sigmoid(),
            )
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log variance of the approximate posterior q(z | x), each N x latent_dim.

        Parameters
        ----------
        x : torch.Tensor
            N x in_channels x 28 x 28 images.

        Returns
        -------
        mu : torch.Tensor
            N x latent_dim means.
        logvar : torch.Tensor
            N x latent_dim log variances.

        Raises
        ------
        ValueError
            If ``x`` is not a tensor N x in_channels x 28 x 28.
        """
        _check_images(x, self.in_channels)
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], N x in_channels x 28 x 28, from codes N x latent_dim.

        Parameters
        ----------
        z : torch.Tensor
            N x latent_dim codes.

        Returns
        -------
        torch.Tensor
            N x in_channels x 28 x 28 images in [0, 1].

        Raises
        ------
        ValueError
            If ``z`` is not N x latent_dim.
        """
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"expected codes N x {self.latent_dim}, got {got}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode and decode ``x``: a sampled code in training mode, the mean in eval mode.

        Parameters
        ----------
        x : torch.Tensor
            N x in_channels x 28 x 28 images.

        Returns
        -------
        recon : torch.Tensor
            N x in_channels x 28 x 28 reconstructions in [0, 1].
        mu : torch.Tensor
            N x latent_dim means.
        logvar : torch.Tensor
            N x latent_dim log variances.

        Raises
        ------
        ValueError
            If ``x`` is not a tensor N x in_channels x 28 x 28.
        """
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z), mu, logvar
