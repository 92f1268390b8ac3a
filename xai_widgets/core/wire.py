"""Tensors on the wire: ``{shape, dtype, scale, offset, data}`` dicts held in widget traits.

``data`` is little-endian, C-contiguous bytes; ipywidgets sends it as a binary buffer
(no JSON, no base64) and the browser receives a ``DataView`` (decoded once by
``js/lib/tensor.js``). Values are ``raw`` for float32/float16 and ``raw * scale + offset``
for uint8 (affine quantisation over ``[lo, hi]``).

Conversion and quantisation run on the tensor's own device; there is exactly one copy
to the host, of the already packed bytes.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

__all__ = ["encode", "decode", "payload_bytes", "subnormal_halves", "flush_subnormals_", "fmt_bytes", "check_budget", "MiB", "DTYPES"]

MiB = 1 << 20  # the unit of the widgets' payload budgets (max_bytes)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "uint8": torch.uint8, "int8": torch.int8}
_NUMPY = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2"), "uint8": np.dtype("u1"), "int8": np.dtype("i1")}


def encode(
    t: torch.Tensor | np.ndarray,
    dtype: str = "float16",
    *,
    lo: float | None = None,
    hi: float | None = None,
) -> dict:
    """Pack a tensor for the browser.

    ``dtype`` is ``"float32"``, ``"float16"``, ``"uint8"`` or ``"int8"``. For ``"uint8"`` the
    values are quantised affinely over ``[lo, hi]`` (default: the tensor's min and max); an input
    that is already ``uint8`` is sent as is (scale 1, offset 0). ``"int8"`` takes an ``int8``
    tensor (codes made by the caller) and sends it as is.

    Parameters
    ----------
    t : torch.Tensor or numpy.ndarray
        Values of any shape, on any device (converted and quantised there; the packed bytes are
        copied to the host once). A read-only numpy array is copied first.
    dtype : str, default "float16"
        The wire dtype: ``"float32"``, ``"float16"``, ``"uint8"`` or ``"int8"``.
    lo, hi : float, optional
        For ``"uint8"``, the values sent as 0 and 255 (values outside are clamped); ``None`` takes
        the tensor's min or max. When ``hi <= lo`` the scale is 1. Ignored for the float dtypes and
        for a ``uint8`` input.

    Returns
    -------
    dict
        ``{"shape": list of int, "dtype": str, "scale": float, "offset": float, "data": bytes}``;
        ``data`` is little-endian, C-contiguous, and a value stands for ``raw * scale + offset``.

    Raises
    ------
    ValueError
        If ``dtype`` is not a key of :data:`DTYPES`, or is ``"int8"`` for a tensor that is not.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if isinstance(t, np.ndarray):
        t = np.require(t, requirements="W")  # torch refuses read-only arrays (e.g. from PIL)
    t = torch.as_tensor(t)
    if dtype == "int8" and t.dtype != torch.int8:
        raise ValueError(f"int8 payloads take int8 tensors (codes), got {t.dtype}")
    scale, offset = 1.0, 0.0
    if dtype == "uint8" and t.dtype != torch.uint8:
        t = t.float()
        lo = float(t.min()) if lo is None else float(lo)
        hi = float(t.max()) if hi is None else float(hi)
        scale = (hi - lo) / 255.0 if hi > lo else 1.0
        offset = lo
        t = ((t - lo) / scale).round().clamp_(0, 255)
    packed = t.to(DTYPES[dtype]).contiguous()
    host = packed.cpu().numpy()  # the one device -> host copy
    if sys.byteorder != "little":
        host = host.astype(_NUMPY[dtype])
    return {
        "shape": list(packed.shape),
        "dtype": dtype,
        "scale": scale,
        "offset": offset,
        "data": host.tobytes(),
    }


def subnormal_halves(halves: torch.Tensor) -> torch.Tensor:
    """Mask of the subnormal entries of a float16 tensor.

    Where a float16 tensor holds a nonzero value under the smallest normal half (its exponent
    bits are all zero and its mantissa is not).

    Parameters
    ----------
    halves : torch.Tensor
        float16 tensor of any shape, on any device (its bits are read through an int16 view).

    Returns
    -------
    torch.Tensor
        bool tensor of the same shape and device, True at the subnormal entries.
    """
    bits = halves.view(torch.int16)
    return ((bits & 0x7C00) == 0) & ((bits & 0x03FF) != 0)


def flush_subnormals_(halves: torch.Tensor) -> torch.Tensor:
    """Set the subnormal entries of a float16 tensor to 0, in place; returns it.

    Every entry under 2^-14 in magnitude becomes +0 (so -0 does too); normals, infinities and
    NaNs are left as they are. Two passes over the int16 view of the bits (one compare, one
    fill), a third of what masking with :func:`subnormal_halves` costs.

    Parameters
    ----------
    halves : torch.Tensor
        float16 tensor of any shape, on any device.

    Returns
    -------
    torch.Tensor
        ``halves``, changed in place.
    """
    return halves.masked_fill_((halves.view(torch.int16) & 0x7FFF) < 0x0400, 0)


def decode(payload: dict) -> np.ndarray:
    """The float32 array a payload stands for (the same numbers the browser decodes).

    Parameters
    ----------
    payload : dict
        A payload as made by :func:`encode` (``shape``, ``dtype``, ``scale``, ``offset``, ``data``).

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``payload["shape"]``; for ``"uint8"``, ``raw * scale + offset``.

    Raises
    ------
    ValueError
        If the payload's dtype is not ``"float32"``, ``"float16"``, ``"uint8"`` or ``"int8"``.
    """
    dtype = payload["dtype"]
    if dtype not in _NUMPY:
        raise ValueError(f"unknown wire dtype {dtype!r}; expected one of {sorted(_NUMPY)}")
    raw = np.frombuffer(bytes(payload["data"]), dtype=_NUMPY[dtype]).reshape(payload["shape"])
    values = raw.astype(np.float32)
    if dtype == "uint8" and (payload["scale"] != 1.0 or payload["offset"] != 0.0):
        values = values * np.float32(payload["scale"]) + np.float32(payload["offset"])
    return values


def payload_bytes(payload: dict) -> int:
    """Bytes of binary data in a payload.

    Parameters
    ----------
    payload : dict
        A payload as made by :func:`encode`.

    Returns
    -------
    int
        ``len(payload["data"])``.
    """
    return len(payload["data"])


def fmt_bytes(n: int) -> str:
    """A byte count for messages: bytes below one KiB, KiB below one MiB, else MiB, one decimal.

    Parameters
    ----------
    n : int
        Number of bytes.

    Returns
    -------
    str
        For example ``"512 B"``, ``"12.0 KiB"`` or ``"3.5 MiB"``.
    """
    if n < 1024:
        return f"{n} B"
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.1f} KiB"


def check_budget(nbytes: int, max_bytes: int, what: str, remedy: str, error: type[Exception] = ValueError) -> None:
    """Refuse a payload over the widget's budget, saying what it holds and how to shrink it.

    Parameters
    ----------
    nbytes : int
        The payload's size in bytes.
    max_bytes : int
        The budget (a widget's ``max_bytes``).
    what : str
        Who ships what, e.g. ``"AttributionExplorer (the maps of 4 images of 64 x 64)"``.
    remedy : str
        The ways to fit, e.g. ``"Pass fewer images, or raise max_bytes."``.
    error : type of Exception, default ValueError
        The exception to raise (a trait validator raises ``traitlets.TraitError``).

    Raises
    ------
    Exception
        ``error``, when ``nbytes > max_bytes``.
    """
    if nbytes > max_bytes:
        raise error(f"{what} would ship {fmt_bytes(nbytes)} to the browser, over "
                    f"max_bytes={fmt_bytes(max_bytes)}. {remedy}")
