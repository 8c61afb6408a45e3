"""Exact comparison of squared distances from a float point to scaled integer vectors.

Every float64 is a dyadic rational, so for a lattice point ``s·v`` (``v`` integer, ``s²``
rational) ``‖x − s v‖² = X − 2 s A + s² V`` with ``X = ‖x‖²`` and ``A = x·v`` rational and
``V = ‖v‖²`` an integer. The difference of two such squared distances is
``s (s ΔV − 2 ΔA)``, whose sign is decided by comparing ``s ΔV`` with ``2 ΔA``: when both
have the same sign, by comparing their squares, which are rational. No rounding anywhere.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["distance_difference_sign", "nearest_exact"]


def _sign(v: Fraction | int) -> int:
    return (v > 0) - (v < 0)


def distance_difference_sign(x: np.ndarray, p: np.ndarray, q: np.ndarray, s2: Fraction) -> int:
    """Exact sign of ``‖x − s·p‖² − ‖x − s·q‖²`` for one point (``s = √s2 > 0``)."""
    delta = [int(a) - int(b) for a, b in zip(p, q)]
    two_a = 2 * sum((Fraction(float(xi)) * d for xi, d in zip(x, delta) if d), Fraction(0))
    dv = sum(int(t) * int(t) for t in p) - sum(int(t) * int(t) for t in q)
    if dv == 0:
        return -_sign(two_a)
    if two_a == 0 or (dv > 0) != (two_a > 0):
        return 1 if dv > 0 else -1
    diff = s2 * dv * dv - two_a * two_a  # (s ΔV)² − (2 ΔA)², both sides of one sign
    return _sign(diff) if dv > 0 else -_sign(diff)


def nearest_exact(x: np.ndarray, candidates: np.ndarray, s2: Fraction) -> int:
    """Index of the exactly nearest candidate; exact ties go to the lexicographically smallest."""
    best = 0
    for k in range(1, candidates.shape[0]):
        sign = distance_difference_sign(x, candidates[k], candidates[best], s2)
        if sign < 0 or (sign == 0 and tuple(candidates[k]) < tuple(candidates[best])):
            best = k
    return best
