"""Numba kernels of the exact decoders of Zⁿ, Dₙ and E8 (SPLAG ch. 20 §2–3).

Each kernel reads a C-contiguous (m, n) float32 or float64 array ``x`` and writes the nearest
lattice points into a float64 array ``out`` of the same shape, one point per ``prange``
iteration and no temporaries, so memory use does not grow with the batch. Every kernel returns
the number of rows it refused: rows with a NaN or infinite entry, or with ``Σ|xᵢ| ≥ 2⁵⁰``,
beyond which the rounded coordinates and their parity are no longer exact in float64. The
caller raises on a nonzero count (:mod:`._batching`).

Exactness
---------
For any float64 ``x``, ``x − rint(x)`` is exact (Sterbenz's lemma, or ``rint(x) = 0``), so the
Dₙ decoder compares exact rounding errors and is exact. In the coset D8 + ½ the error
``x − (⌊x⌋ + ½)`` can round when ``|x| < ¼``; rounding is monotone, so only *equal* computed
errors can hide an order, and those ties are re-decided with error-free sums (TwoSum).
Likewise the two coset candidates of E8 are compared in floating point and, when their squared
distances differ by less than ``_NEAR_TIE`` (far above the rounding error, which is below
1e-14 because every error term is at most 1 in size), the sign of the difference is
recomputed exactly as a sum of floats (Shewchuk's non-overlapping partials, as in
``math.fsum``). The slow paths run only on such near ties.
"""

from __future__ import annotations

import numba
import numpy as np

#: Rows with Σ|xᵢ| at or above this are refused: the parity sums and ±1 moves stay exact below.
MAGNITUDE_LIMIT = 2.0**50
# Squared-distance gap under which the E8 coset choice is recomputed exactly.
_NEAR_TIE = 1e-9


@numba.njit(cache=True, parallel=True)
def zn_kernel(x: np.ndarray, out: np.ndarray) -> int:
    """Nearest points of Zⁿ: per-coordinate rounding, ties to even (``np.rint``)."""
    n = x.shape[1]
    bad = 0
    for p in numba.prange(x.shape[0]):
        mag = 0.0
        for i in range(n):
            xi = np.float64(x[p, i])
            mag += abs(xi)
            out[p, i] = np.rint(xi)
        if not mag < MAGNITUDE_LIMIT:
            bad += 1
    return bad


@numba.njit(cache=True, parallel=True)
def dn_kernel(x: np.ndarray, out: np.ndarray) -> int:
    """Nearest points of Dₙ by Conway–Sloane's rule.

    Round every coordinate (ties to even); if the coordinate sum is odd, move the first
    coordinate of largest rounding error ``|xₖ − fₖ|`` one step the other way: ``fₖ + 1`` when
    ``xₖ ≥ fₖ``, else ``fₖ − 1``. The moved point is nearest because it costs the least extra
    squared distance, ``1 − 2|xₖ − fₖ|``, among all parity fixes (SPLAG ch. 20 §2, Alg. 2).
    """
    n = x.shape[1]
    bad = 0
    for p in numba.prange(x.shape[0]):
        mag = 0.0
        parity = 0.0
        worst = -1.0
        k = 0
        for i in range(n):
            xi = np.float64(x[p, i])
            mag += abs(xi)
            f = np.rint(xi)
            out[p, i] = f
            parity += f
            err = abs(xi - f)
            if err > worst:
                worst = err
                k = i
        if mag < MAGNITUDE_LIMIT:
            if np.int64(parity) & 1:
                out[p, k] += 1.0 if np.float64(x[p, k]) >= out[p, k] else -1.0
        else:
            bad += 1
    return bad


@numba.njit(cache=True)
def _sign_of_sum(terms: np.ndarray, count: int) -> int:
    """Exact sign of ``Σ terms[:count]`` (floats, no overflow).

    Shewchuk's algorithm keeps the running sum as non-overlapping partials of increasing
    magnitude (``math.fsum`` does the same), so the top nonzero partial carries the sign.
    """
    partials = np.empty(count + 1)
    m = 0
    for t in range(count):
        v = terms[t]
        i = 0
        for j in range(m):
            w = partials[j]
            if abs(v) < abs(w):
                v, w = w, v
            hi = v + w
            lo = w - (hi - v)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            v = hi
        partials[i] = v
        m = i + 1
    for j in range(m - 1, -1, -1):
        if partials[j] != 0.0:
            return 1 if partials[j] > 0.0 else -1
    return 0


@numba.njit(cache=True)
def _exact_gap_sign(x: np.ndarray, p: int, odd0: float, odd1: float, worst: float, least: float) -> int:
    """Exact sign of ``odd0·(1 − 2·worst) − 2 + Σ aᵢ − 2·odd1·least`` (see :func:`e8_kernel`)."""
    terms = np.empty(12)
    for i in range(8):
        xi = np.float64(x[p, i])
        terms[i] = abs(xi - np.rint(xi))
    terms[8] = odd0
    terms[9] = -2.0 * odd0 * worst
    terms[10] = -2.0
    terms[11] = -2.0 * odd1 * least
    return _sign_of_sum(terms, 12)


@numba.njit(cache=True, parallel=True)
def e8_kernel(x: np.ndarray, out: np.ndarray) -> int:
    """Nearest points of E8 = D8 ∪ (D8 + ½) (SPLAG ch. 20 §3, Alg. 3), one pass per row.

    With ``fᵢ = rint(xᵢ)``, ``eᵢ = xᵢ − fᵢ`` and ``aᵢ = |eᵢ|`` (all exact), the nearest
    half-integer is ``hᵢ = ⌊xᵢ⌋ + ½ = fᵢ + ½·sign`` (``−½`` when ``eᵢ < 0``), with error of
    size exactly ``½ − aᵢ``. Hence, before parity moves, ``‖x − h‖² = ‖x − f‖² + 2 − Σaᵢ``;
    a move costs ``1 − 2·max aᵢ`` in D8 and ``2·min aᵢ`` in D8 + ½ (whose parity is that of
    ``Σ⌊xᵢ⌋ = Σfᵢ − #{eᵢ < 0}``). So the D8 + ½ candidate is nearer iff
    ``gap = odd0·(1 − 2·max a) − 2 + Σa − 2·odd1·min a > 0``, a sum of exact floats: computed
    directly, and exactly (:func:`_sign_of_sum`) when ``|gap| ≤ _NEAR_TIE``. Every choice is
    a comparison of exact ``aᵢ``, so ties are exact ties, resolved by the first index.
    """
    bad = 0
    for p in numba.prange(x.shape[0]):
        mag = 0.0
        parity = 0.0
        negatives = 0.0
        total = 0.0
        worst = -1.0
        least = 1.0
        k0 = 0
        k1 = 0
        for i in range(8):
            xi = np.float64(x[p, i])
            mag += abs(xi)
            f = np.rint(xi)
            e = xi - f
            a = abs(e)
            parity += f
            negatives += 1.0 if e < 0.0 else 0.0
            total += a
            k0 = i if a > worst else k0
            worst = a if a > worst else worst
            k1 = i if a < least else k1
            least = a if a < least else least
        if not mag < MAGNITUDE_LIMIT:
            bad += 1
            continue
        odd0 = np.float64(np.int64(parity) & 1)
        odd1 = np.float64(np.int64(parity - negatives) & 1)
        gap = odd0 * (1.0 - 2.0 * worst) - 2.0 + total - 2.0 * odd1 * least
        if abs(gap) > _NEAR_TIE:
            half = 1.0 if gap > 0.0 else 0.0
        else:
            half = 1.0 if _exact_gap_sign(x, p, odd0, odd1, worst, least) > 0 else 0.0
        for i in range(8):
            xi = np.float64(x[p, i])
            f = np.rint(xi)
            out[p, i] = f + half * (-0.5 if xi < f else 0.5)
        k = k1 if half else k0
        odd = odd1 if half else odd0
        out[p, k] += odd * (1.0 if np.float64(x[p, k]) >= out[p, k] else -1.0)
    return bad
