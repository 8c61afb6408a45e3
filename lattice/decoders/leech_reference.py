"""Brute-force closest point of the Leech lattice: the reference for the fast decoder.

In √8 units a Leech vector is ``y = m·1 + 2c + 4z`` with ``m ∈ {0, 1}``, ``c`` a Golay codeword
and ``z ∈ Z²⁴`` with ``Σ zᵢ ≡ m (mod 2)`` (:mod:`leechkit.lattice.lattices.leech`; the sum
condition is ``Σ yᵢ ≡ 4m (mod 8)`` because ``2·wt(c) ≡ 0 (mod 8)``). So Λ₂₄ is the union of the
8,192 sets ``m·1 + 2c + 4{z : Σ zᵢ ≡ m (mod 2)}`` — cosets of 4D₂₄ — and the closest point is
the best of the 8,192 closest points of these cosets.

For one coset, the closest point of the class ``rᵢ = m + 2cᵢ (mod 4)`` to ``yᵢ`` is found per
coordinate by rounding ``(yᵢ − rᵢ)/4``; if the parity ``Σ zᵢ ≡ m`` fails, exactly one
coordinate moves to its second-nearest point of the class (``±4`` towards ``yᵢ``), the one
whose extra cost ``16 − 8|yᵢ − nᵢ|`` is smallest (Conway & Sloane's decoder for Dₙ, SPLAG
ch. 20 §2). That is about 8,192 × 24 × 10 ≈ 2·10⁶ operations per point: slow, but each step
is evidently right.

Ties: the first minimum in the order (m, codeword index of ``golay_code().codewords()``),
with ties inside a coset broken by the first coordinate of minimal extra cost. The costs are
float64 sums, so where two lattice points are equally near within about 10⁻¹² (squared
distance, near the origin) the choice between them is the rounding's; the fast decoder
(:mod:`.leech`) decides those cases exactly.

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups* (SPLAG), 3rd ed.,
Springer 1999, ch. 4 §11 (Λ₂₄ from the Golay code) and ch. 20 §2 (decoding Dₙ and cosets).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

from .._validation import as_points
from ..codes.golay import golay_code

__all__ = ["decode_leech_bruteforce"]

_SQRT8 = math.sqrt(8.0)


@numba.njit(cache=True, parallel=True)
def _bruteforce_kernel(x, codewords, out):
    """Closest Leech point (√8 units, int64) of each row of ``x`` over all 8,192 cosets."""
    n = x.shape[0]
    for row in numba.prange(n):
        y = x[row] * _SQRT8
        best = np.inf
        best_point = np.zeros(24, dtype=np.int64)
        point = np.zeros(24, dtype=np.int64)
        for m in range(2):
            for w in range(codewords.shape[0]):
                cost = 0.0
                zsum = 0
                fix_i = -1
                fix_cost = np.inf
                for i in range(24):
                    r = m + 2 * codewords[w, i]  # the class of yᵢ modulo 4
                    z = math.floor((y[i] - r) / 4.0 + 0.5)  # nearest r + 4z
                    point[i] = r + 4 * z
                    d = y[i] - point[i]
                    cost += d * d
                    zsum += z
                    extra = 16.0 - 8.0 * abs(d)  # moving 4 further, to the other side of yᵢ
                    if extra < fix_cost:
                        fix_cost = extra
                        fix_i = i
                if (zsum - m) % 2 != 0:
                    cost += fix_cost
                    d = y[fix_i] - point[fix_i]
                    point[fix_i] += 4 if d >= 0 else -4
                if cost < best:
                    best = cost
                    best_point[:] = point
        out[row] = best_point


@lru_cache(maxsize=1)
def _codewords() -> np.ndarray:
    return golay_code().codewords().astype(np.int64)


def decode_leech_bruteforce(x: object, integer: bool = False) -> np.ndarray:
    """Closest Leech lattice point by exhaustive search over the 8,192 cosets of 4D₂₄.

    Parameters
    ----------
    x : array_like
        Real array of shape (..., 24), standard scale (minimal norm 4).
    integer : bool
        If True return the int64 point in √8 units; otherwise float64 in the standard scale.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``. About a thousand points per second per core: for tests.

    Raises
    ------
    ValueError, TypeError
        As :func:`leechkit.lattice._validation.as_points`.
    """
    pts, batch = as_points(x, 24)
    out = np.zeros(pts.shape, dtype=np.int64)
    if pts.shape[0]:
        _bruteforce_kernel(pts, _codewords(), out)
    out = out.reshape(*batch, 24)
    return out if integer else out / _SQRT8
