"""The browser's 8-bit code hover (js/lib/codes.js) in numpy: per vector x a scale
s = max|x| / L (L = 255 when no vector of the layer has a negative value, else 127), codes
round(x * (1 / s)) with ties up, and similarities ((sum of code products) * s_q) * s_v in
float64, rounded once to float32."""
from __future__ import annotations

import numpy as np


def round_half_up(y: np.ndarray) -> np.ndarray:
    """The nearest integer, ties towards +infinity (JavaScript's Math.round)."""
    r = np.floor(y)
    return r + (y - r >= 0.5)


def codes_of(x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(L, scales, integer codes) of the rows of ``x`` (float16 values as float64)."""
    levels = 127 if (x < 0).any() else 255
    scales = np.abs(x).max(axis=1) / levels
    inv = np.divide(1.0, scales, out=np.zeros_like(scales), where=scales > 0)
    return levels, scales, round_half_up(x * inv[:, None]).astype(np.int64)


def coded_sims(scales: np.ndarray, codes: np.ndarray, qi: int) -> np.ndarray:
    """float32 similarities of every row to row ``qi``, as the browser computes them."""
    return (((codes @ codes[qi]).astype(np.float64) * scales[qi]) * scales).astype(np.float32)


def bound(x: np.ndarray, scales: np.ndarray, codes: np.ndarray, qi: int) -> np.ndarray:
    """How far the coded similarities may be from x . x[qi]: with x = s c + e, |e_k| <= s / 2, at
    most (s_q / 2) sum |x_k| + (s_x / 2) sum |s_q c_q,k|, plus the float32 rounding (one unit
    roundoff of a value below 1 + that)."""
    q = scales[qi] * codes[qi]
    err = scales[qi] / 2 * np.abs(x).sum(1) + scales / 2 * np.abs(q).sum()
    return err + 2.0 ** -24 * (np.abs(x @ x[qi]) + err)
