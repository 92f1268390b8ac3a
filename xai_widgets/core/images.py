"""User images in (PIL, numpy or torch; any size, RGB or greyscale) -> model input + display pixels.

Accepted forms of one image:

* ``PIL.Image.Image`` of any mode (converted to RGB, or L for greyscale);
* ``numpy.ndarray`` H x W, H x W x 1, H x W x 3 or H x W x 4 (alpha is dropped), either
  ``uint8`` in [0, 255] or floating point in [0, 1];
* ``torch.Tensor`` C x H x W (C = 1 or 3), H x W, or 1 x C x H x W, float in [0, 1] or uint8.

Wherever several images are taken, a batch tensor N x C x H x W (or an N x H x W x C
array) counts as N images, and so does a list of any of the forms above.

Without ``preprocess`` the model gets a float tensor in [0, 1] whose channel count is
matched to the model's first convolution (grey is repeated to RGB, RGB is averaged to
grey). With ``preprocess`` (for example a torchvision transform) the image is handed over
as an RGB ``PIL.Image`` and the result must be a C x H x W (or 1 x C x H x W) tensor.

Display pixels are the original image resized to the model input's aspect ratio, so that
activation cells line up with what the user sees.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

__all__ = ["as_image_list", "to_uint8", "hwc_pixels", "to_rgb_array", "model_input", "display_pixels", "input_channels", "to_batch",
           "check_input_size", "check_model_input", "check_finite", "MAX_PIXELS"]

# Model-input pixels per image accepted, read at each call (like PIL's MAX_IMAGE_PIXELS):
# set ``xai_widgets.core.images.MAX_PIXELS`` to take larger inputs. A 4000 x 4000 photo is 16 M
# pixels: one float32 copy is 192 MB, and Integrated Gradients or an occlusion batch runs
# dozens of copies through the model at once (tens of GB), while the widgets show images at
# a few hundred CSS pixels anyway. 1024 x 1024 keeps every method within a few GB.
MAX_PIXELS = 1024 * 1024

ACCEPTED = (
    "a PIL image, a numpy array (H x W, H x W x 1/3/4; uint8 or float in [0, 1]) or "
    "a torch tensor (C x H x W with C = 1 or 3, H x W, or 1 x C x H x W)"
)


def _numpy_hwc(img, index: int) -> np.ndarray:
    """Any accepted image as an H x W x C numpy array (C = 1 or 3), uint8 or float."""
    where = f"image {index}"
    if isinstance(img, Image.Image):
        if img.mode not in ("L", "RGB"):
            img = img.convert("RGB")
        arr = np.asarray(img)
    elif isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()  # numpy has no bfloat16
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() == 2:
            t = t[None]
        if t.dim() != 3 or t.shape[0] not in (1, 3):
            raise ValueError(f"{where}: tensor of shape {tuple(img.shape)}; expected {ACCEPTED}")
        arr = t.permute(1, 2, 0).numpy()
    elif isinstance(img, np.ndarray):
        arr = img
    else:
        raise TypeError(f"{where}: got {type(img).__name__}; expected {ACCEPTED}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"{where}: array of shape {arr.shape}; expected {ACCEPTED}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{where}: empty image of shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.floating) and arr.dtype != np.bool_:
        raise ValueError(f"{where}: dtype {arr.dtype}; expected uint8 or float in [0, 1]")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: contains NaN or infinity")
    if arr.min() < -1e-3 or arr.max() > 1 + 1e-3:
        raise ValueError(
            f"{where}: float values span [{arr.min():.3g}, {arr.max():.3g}]; float images must "
            "be in [0, 1] (divide uint8 data by 255, or pass it as uint8)"
        )
    return arr.clip(0, 1)


def as_image_list(images) -> list:
    """Images as a list: one image, a sequence of images, or a batch split into its images.

    Images as a list: one image, a sequence of images, or a batch (N x C x H x W tensor,
    N x H x W x C array) split into its N images.

    Parameters
    ----------
    images : image, sequence of images, torch.Tensor or numpy.ndarray
        One image in an accepted form, an iterable of them, or a 4-d batch.

    Returns
    -------
    list
        The images (a batch's entries are views, not copies).

    Raises
    ------
    TypeError
        If ``images`` is neither an image nor iterable.
    """
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return list(images)
    if isinstance(images, (Image.Image, np.ndarray, torch.Tensor)):
        return [images]
    try:
        return list(images)
    except TypeError:
        raise TypeError(f"images: got {type(images).__name__}; expected one image, a list of images or an "
                        f"N x C x H x W batch, each {ACCEPTED}") from None


def to_uint8(values):
    """Values in [0, 1] as 8-bit pixels, ``round(clip(v, 0, 1) * 255)`` (halves to even): the one
    conversion every view and picture uses, so the browser and the PNG show the same pixels.

    Parameters
    ----------
    values : torch.Tensor or numpy.ndarray
        Any shape; values outside [0, 1] are clipped.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        The same type and shape, dtype uint8 (a tensor stays on its device).
    """
    if isinstance(values, torch.Tensor):
        v = values.detach()
        return ((v if v.is_floating_point() else v.float()).clamp(0, 1) * 255).round().to(torch.uint8)
    return (np.clip(values, 0, 1) * 255).round().astype(np.uint8)


def hwc_pixels(x: torch.Tensor) -> np.ndarray:
    """C x H x W (or N x C x H x W) values in [0, 1] as H x W x 3 (N x H x W x 3) uint8 on the CPU.

    Parameters
    ----------
    x : torch.Tensor
        One image or a batch, 1 or 3 channels (grey is repeated to RGB), values in [0, 1].

    Returns
    -------
    numpy.ndarray
        C-contiguous uint8 pixels, channels last.
    """
    t = to_uint8(x).cpu()
    if t.shape[-3] == 1:
        t = t.repeat_interleave(3, dim=-3)
    return np.ascontiguousarray(t.movedim(-3, -1).numpy())


def to_rgb_array(img, index: int = 0) -> np.ndarray:
    """An accepted image as H x W x 3 uint8 RGB (grey repeated).

    Parameters
    ----------
    img : PIL.Image.Image, numpy.ndarray or torch.Tensor
        One image in an accepted form (see the module doc); floats must be in [0, 1].
    index : int, default 0
        The image's position, named in error messages.

    Returns
    -------
    numpy.ndarray
        H x W x 3 uint8, C-contiguous (floats are scaled by 255 and rounded; alpha is dropped).

    Raises
    ------
    TypeError, ValueError
        If the image is of an unsupported type, shape or dtype, empty, not finite, or its float values
        are outside [0, 1].
    """
    arr = _numpy_hwc(img, index)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def input_channels(model: nn.Module) -> int | None:
    """in_channels of the first Conv2d the model contains, if any.

    Parameters
    ----------
    model : torch.nn.Module
        Any model.

    Returns
    -------
    int or None
        ``in_channels`` of the first ``nn.Conv2d`` in ``model.modules()``, or None.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return None


def model_input(
    img, model: nn.Module, preprocess: Callable | None = None, index: int = 0
) -> torch.Tensor:
    """One image as a 1 x C x H x W float tensor for ``model`` (on the CPU; capture moves it).

    Parameters
    ----------
    img : PIL.Image.Image, numpy.ndarray or torch.Tensor
        One image in an accepted form (see the module doc).
    model : torch.nn.Module
        Without ``preprocess``, the channel count is matched to its first convolution.
    preprocess : callable or None, default None
        Takes the image as an RGB ``PIL.Image`` and returns a C x H x W (or 1 x C x H x W) tensor.
        None gives values in [0, 1] at the image's own size.
    index : int, default 0
        The image's position, named in error messages.

    Returns
    -------
    torch.Tensor
        1 x C x H x W float32 tensor.

    Raises
    ------
    TypeError, ValueError
        If the image is not acceptable, ``preprocess`` raises, or it does not return a 3-d or 4-d tensor.
    """
    if preprocess is not None:
        pil = Image.fromarray(to_rgb_array(img, index))
        try:
            t = preprocess(pil)
        except Exception as exc:  # the user's transform: say which image broke it
            raise ValueError(f"image {index}: preprocess raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(t, torch.Tensor) or t.dim() not in (3, 4):
            raise ValueError(
                f"image {index}: preprocess must return a C x H x W tensor, got "
                f"{type(t).__name__}{tuple(t.shape) if isinstance(t, torch.Tensor) else ''}"
            )
        return (t if t.dim() == 4 else t[None]).float()
    arr = _numpy_hwc(img, index)
    t = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).float()  # PIL arrays are read-only
    if arr.dtype == np.uint8:
        t = t / 255.0
    want = input_channels(model)
    if want == 3 and t.shape[0] == 1:
        t = t.repeat(3, 1, 1)
    elif want == 1 and t.shape[0] == 3:
        t = t.mean(0, keepdim=True)
    return t[None]


def display_pixels(img, input_hw: Sequence[int], long_side: int, index: int = 0) -> np.ndarray:
    """RGB uint8 pixels of ``img`` resized to the aspect of the model input, long side ``long_side``.

    Parameters
    ----------
    img : PIL.Image.Image, numpy.ndarray or torch.Tensor
        One image in an accepted form (see the module doc).
    input_hw : sequence of int
        (H, W) of the model input, whose aspect ratio is used.
    long_side : int
        Pixels along the longer side of the result.
    index : int, default 0
        The image's position, named in error messages.

    Returns
    -------
    numpy.ndarray
        h x w x 3 uint8 (Lanczos resampling when the size changes).
    """
    h, w = input_hw
    if h >= w:
        size = (max(1, round(long_side * w / h)), long_side)
    else:
        size = (long_side, max(1, round(long_side * h / w)))
    pil = Image.fromarray(to_rgb_array(img, index))
    if pil.size != size:
        pil = pil.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(pil)


def panel_pixels(img, input_hw: Sequence[int], size: tuple[int, int], index: int = 0) -> np.ndarray:
    """:func:`display_pixels` of exactly ``size`` (W, H), for a figure's panel.

    Parameters
    ----------
    img : PIL.Image.Image, numpy.ndarray or torch.Tensor
        One image in an accepted form (see the module doc).
    input_hw : sequence of int
        (H, W) of the model input, whose aspect ratio is used before the final resize.
    size : tuple of int
        (W, H) of the result in pixels.
    index : int, default 0
        The image's position, named in error messages.

    Returns
    -------
    numpy.ndarray
        H x W x 3 uint8 (Lanczos resampling when the size changes).

    Raises
    ------
    TypeError, ValueError
        If the image is not accepted (as :func:`to_rgb_array`).
    """
    base = display_pixels(img, input_hw, max(size), index)
    if (base.shape[1], base.shape[0]) != size:
        base = np.asarray(Image.fromarray(base).resize(size, Image.Resampling.LANCZOS))
    return base


def to_batch(images: Sequence, model: nn.Module, preprocess: Callable | None = None) -> torch.Tensor:
    """Same-size images as one N x C x H x W batch for ``model`` (e.g. for ``xw.layers``).

    Parameters
    ----------
    images : image, sequence of images or batch
        Anything :func:`as_image_list` accepts.
    model : torch.nn.Module
        The model the batch is for (see :func:`model_input`).
    preprocess : callable or None, default None
        Applied to each image as in :func:`model_input`.

    Returns
    -------
    torch.Tensor
        N x C x H x W float32 batch.

    Raises
    ------
    ValueError
        If there are no images, or the images differ in size after ``preprocess``.
    """
    inputs = [model_input(img, model, preprocess, i) for i, img in enumerate(as_image_list(images))]
    if not inputs:
        raise ValueError("no images: pass at least one image")
    shapes = {tuple(x.shape) for x in inputs}
    if len(shapes) != 1:
        raise ValueError(f"images differ in size ({sorted(shapes)}); resize them or pass a preprocess")
    return torch.cat(inputs)


def check_input_size(x: torch.Tensor, who: str, name: str = "the model input") -> None:
    """Refuse model inputs over :data:`MAX_PIXELS` per image, before any forward pass.

    Parameters
    ----------
    x : torch.Tensor
        The input; its last two axes are H x W.
    who : str
        What refuses it, named in the message.
    name : str, default "the model input"
        The input's name in the message.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If H x W is over :data:`MAX_PIXELS` (read at each call).
    """
    h, w = x.shape[-2:]
    if h * w > MAX_PIXELS:
        raise ValueError(
            f"{name} is {h} x {w} = {h * w / 1e6:.1f} M pixels per image, over the {MAX_PIXELS:,} "
            f"(about {round(MAX_PIXELS ** 0.5)} x {round(MAX_PIXELS ** 0.5)}) that {who} accepts to bound the "
            "memory its methods need. Resize the images (for example with a preprocess that starts with "
            "torchvision.transforms.Resize(224)), or raise xai_widgets.core.images.MAX_PIXELS if the machine "
            "has the memory."
        )


def check_finite(x: torch.Tensor, name: str) -> None:
    """Refuse an empty tensor or one holding NaN or infinity, naming it.

    Parameters
    ----------
    x : torch.Tensor
        The tensor to check.
    name : str
        Its name in the message.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        If ``x`` is empty or not finite.
    """
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity")


def check_model_input(x, model: nn.Module, who: str, name: str = "inputs", *, image: bool = True) -> None:
    """Refuse, before any work, a model input that cannot be right, saying what is accepted.

    ``image``: an N x C x H x W batch is required. Whenever the model starts with a
    convolution and ``x`` is 4-D, ``x`` must be floating point, have the convolution's channel
    count and at most :data:`MAX_PIXELS` pixels per image. Floating inputs must be finite.

    Parameters
    ----------
    x : torch.Tensor
        The model input.
    model : torch.nn.Module
        The model (its first convolution is read).
    who : str
        What uses the input, named in messages.
    name : str, default "inputs"
        The input's name in messages.
    image : bool, default True
        Require a 4-d image batch. Even when False, a 3-d input is refused for a model with a
        convolution.

    Returns
    -------
    None

    Raises
    ------
    TypeError
        If ``x`` is not a tensor, or a 4-d input to a convolutional model is not floating point.
    ValueError
        If the shape, channel count or size is wrong, the batch is empty, or it holds NaN or infinity.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (N x C x H x W), got {type(x).__name__}; "
                        "xw.to_batch(images, model) converts PIL images and arrays")
    if image and x.dim() != 4:
        raise ValueError(f"{name} must be a batch of images N x C x H x W, got shape {tuple(x.shape)}"
                         + ("; add the batch dimension with x[None]" if x.dim() == 3 else ""))
    if x.dim() == 0 or x.numel() == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}): pass at least one image")
    channels = input_channels(model)
    if x.dim() == 3 and channels is not None:  # a convolution would take it as one unbatched image
        raise ValueError(f"{name} must be a batch N x C x H x W, got shape {tuple(x.shape)}; add the batch "
                         "dimension with x[None]")
    if x.dim() == 4 and channels is not None:
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a float tensor, got dtype {x.dtype}; convert uint8 images with "
                            "xw.to_batch(images, model), or x.float() / 255")
        if x.shape[1] != channels:
            raise ValueError(f"{name} has {x.shape[1]} channels (shape {tuple(x.shape)}); the model's first "
                             f"convolution takes {channels}")
        check_input_size(x, who, name)
    if x.is_floating_point():
        finite = torch.isfinite(x.detach()).flatten(1) if x.dim() > 1 else torch.isfinite(x.detach())[:, None]
        bad = (~finite.all(1)).nonzero().flatten().tolist()
        if bad:
            raise ValueError(f"{name} contains NaN or infinity (in batch entries {bad[:8]})")
