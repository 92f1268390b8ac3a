"""8-bit codes of similarity vectors in numpy, independent of xai_widgets.similarity.codes: per
vector x a float32 scale s = max|x| / L (L = 255 when no vector has a negative value, else 127),
codes round(x * (1 / s)) in float32, ties to even; and the browser's similarities from them,
((sum of code products) * s_q) * s_v in float64, rounded once to float32."""
from __future__ import annotations

import numpy as np


def codes_of(x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(L, float32 scales, integer codes) of the rows of ``x`` (float16 or float32 values)."""
    levels = 127 if (x < 0).any() else 255
    scales = np.abs(x).max(axis=1).astype(np.float32) / np.float32(levels)
    inv = np.divide(np.float32(1), scales, out=np.zeros_like(scales), where=scales > 0)
    return levels, scales, np.round(x.astype(np.float32) * inv[:, None]).astype(np.int64)


def coded_sims(scales: np.ndarray, codes: np.ndarray, qi: int) -> np.ndarray:
    """float32 similarities of every row to row ``qi``, as the browser computes them."""
    s = scales.astype(np.float64)
    return (((codes @ codes[qi]).astype(np.float64) * s[qi]) * s).astype(np.float32)


def bound(x: np.ndarray, scales: np.ndarray, codes: np.ndarray, qi: int) -> np.ndarray:
    """How far the coded similarities may be from x . x[qi]: with x = s c + e, |e_k| <= s / 2, at
    most (s_q / 2) sum |x_k| + (s_x / 2) sum |s_q c_q,k|, plus the float32 roundings (of the codes'
    products and of the result: a few unit roundoffs of values below 1 + that)."""
    s = scales.astype(np.float64)
    x = x.astype(np.float64)
    q = s[qi] * codes[qi]
    err = s[qi] / 2 * np.abs(x).sum(1) + s / 2 * np.abs(q).sum()
    return err * (1 + 2.0 ** -20) + 2.0 ** -22 * (np.abs(x @ x[qi]) + err)
