"""Tolerances for float32 results that reach the same value along different kernel paths.

Batched and one-at-a-time evaluation, another reduction order, a convolution against a hand
formula, torch against numpy: in float32 these agree only up to rounding, and *how* they round
depends on the CPU kernel set (default, AVX2 and AVX-512 vectorise and block their sums
differently), so a tolerance read off one machine can fail on another. The tests derive theirs
from the computation instead, or compare in float64:

* ``sum_tol(n, s)``: two evaluations of a sum (or dot product) of ``n`` terms whose absolute
  values add up to ``s`` differ by at most 2 gamma_n s, in any order of summation, with
  gamma_n = n u / (1 - n u) and u = eps / 2 the unit roundoff (Higham, *Accuracy and Stability
  of Numerical Algorithms*, 2nd ed., section 3.1).
* ``rounded_tol(scale)``: a library result computed in float64 (the test passes a float64
  model) and returned as float32 is rounded once; two float64 evaluations agree to ~1e-13
  relative, so after rounding they differ by at most one float32 step (eps * |value|) plus
  that, < 2 eps * scale for values up to ``scale``.
"""
from __future__ import annotations

import torch

EPS32 = torch.finfo(torch.float32).eps  # 2^-23 = 1.19e-7: float32 spacing in [1, 2)


def sum_tol(n_terms: int, abs_sum: float, eps: float = EPS32) -> float:
    """Largest difference between two float32 evaluations of one n-term sum with sum|terms| = abs_sum."""
    nu = n_terms * eps / 2
    if nu >= 1:
        raise ValueError(f"{n_terms} terms: the rounding bound is meaningless at eps = {eps}")
    return 2 * nu / (1 - nu) * _number(abs_sum)


def rounded_tol(scale: float, eps: float = EPS32) -> float:
    """Largest difference between two float64 results up to ``scale`` rounded once to float32."""
    return 2 * eps * _number(scale)


def _number(x) -> float:
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)
