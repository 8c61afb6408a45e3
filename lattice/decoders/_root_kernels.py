"""Numba kernels of the exact decoders of Zⁿ, Dₙ and E8 (SPLAG ch. 20 §2–3).

Each kernel reads a C-contiguous (m, n) float32 or float64 array ``x`` and writes the nearest
lattice points into a C-contiguous float64 array ``out`` of the same shape (which may be
``x`` itself), in parallel over rows (``prange``). Zⁿ and Dₙ handle one row per iteration with
no temporaries; E8 works on blocks of :data:`_BLOCK` rows with a few KB of scratch per
thread. So memory use does not grow with the batch. Every kernel returns the number of rows
it refused: rows with a NaN or infinite entry, or with ``Σ|xᵢ| ≥ 2⁵⁰`` (E8: ``‖x‖ ≥ 2⁵⁰``,
cheaper to accumulate and as safe for 8 coordinates), beyond which the rounded coordinates
and their parity are no longer exact in float64. The caller raises on a nonzero count
(:mod:`._batching`).

Exactness
---------
For any float64 ``x``, ``a = |x − rint(x)|`` is exact (Sterbenz's lemma, or ``rint(x) = 0``),
so the Dₙ decoder compares exact rounding errors and is exact. The E8 decoder never forms the
error to the nearest half-integer, which can round when ``|x| < ¼``: that error has size
exactly ``½ − a``, so both cosets are decided from the exact ``aᵢ``. The choice between the two
cosets is a sum of a dozen exact floats, computed in floating point and, when within
``_NEAR_TIE`` of zero (far above its rounding error, below 1e-14 since every term is at most
2 in size), recomputed exactly (Shewchuk's non-overlapping partials, as in ``math.fsum``).
"""

from __future__ import annotations

import numba
import numpy as np

#: Rows with Σ|xᵢ| (E8: ‖x‖) at or above this are refused: parity sums and ±1 moves stay exact.
MAGNITUDE_LIMIT = 2.0**50
# Squared-distance gap under which the E8 coset choice is recomputed exactly.
_NEAR_TIE = 1e-9
# Rows per SIMD block of the E8 kernel: its scratch (2 × 8 KiB + 8 KiB) stays in L1.
_BLOCK = 128


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
        step = 1.0
        for i in range(n):
            xi = np.float64(x[p, i])
            mag += abs(xi)
            f = np.rint(xi)
            parity += f
            err = abs(xi - f)
            if err > worst:
                worst = err
                k = i
                step = 1.0 if xi >= f else -1.0
            out[p, i] = f  # after the last read of x[p, i]: out may be x itself
        if mag < MAGNITUDE_LIMIT:
            if np.int64(parity) & 1:
                out[p, k] += step
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
def _exact_gap_sign(xt: np.ndarray, j: int, odd0: float, odd1: float, worst: float, least: float) -> int:
    """Exact sign of ``odd0·(1 − 2·worst) − 2 + Σ aᵢ − 2·odd1·least`` (see :func:`e8_kernel`)."""
    terms = np.empty(12)
    for i in range(8):
        xi = xt[i * _BLOCK + j]
        terms[i] = abs(xi - np.rint(xi))
    terms[8] = odd0
    terms[9] = -2.0 * odd0 * worst
    terms[10] = -2.0
    terms[11] = -2.0 * odd1 * least
    return _sign_of_sum(terms, 12)


@numba.njit(cache=True)
def _e8_block(x: np.ndarray, out: np.ndarray, start: int, stop: int, xt: np.ndarray, ot: np.ndarray,
              rows: np.ndarray) -> int:
    """Decode rows ``start:stop`` (at most :data:`_BLOCK`) of ``x`` into ``out``.

    The rows are transposed into ``xt`` (coordinate-major) so that the loops over the rows of
    the block vectorize (SIMD across points); ``rows`` holds per-row results.
    """
    n = stop - start
    # Flat views: constant-stride addressing for the transposes.
    flat_x = x[start:stop].reshape(8 * n)
    flat_out = out[start:stop].reshape(8 * n)
    for j in range(n):
        for i in range(8):
            xt[i * _BLOCK + j] = np.float64(flat_x[8 * j + i])
    # Pass 1, SIMD over rows: everything the choice between the cosets needs.
    for j in range(n):
        norm = 0.0
        parity = 0.0
        floors = 0.0
        total = 0.0
        worst = -1.0
        least = 1.0
        k0 = 0.0
        k1 = 0.0
        for i in range(8):
            xi = xt[i * _BLOCK + j]
            norm += xi * xi
            f = np.rint(xi)
            a = abs(xi - f)
            parity += f
            floors += np.floor(xi)
            total += a
            k0 = i if a > worst else k0
            k1 = i if a < least else k1
            worst = max(worst, a)
            least = min(least, a)
        odd0 = parity - 2.0 * np.floor(0.5 * parity)
        odd1 = floors - 2.0 * np.floor(0.5 * floors)
        rows[0, j] = odd0 * (1.0 - 2.0 * worst) - 2.0 + total - 2.0 * odd1 * least
        rows[1, j] = norm
        rows[2, j] = odd0
        rows[3, j] = odd1
        rows[4, j] = worst
        rows[5, j] = least
        rows[6, j] = k0
        rows[7, j] = k1
    # Pass 2, per row: refuse bad rows; decide near ties exactly; rows[0] becomes 0 or 1.
    refused = 0
    for j in range(n):
        if not rows[1, j] < MAGNITUDE_LIMIT * MAGNITUDE_LIMIT:
            refused += 1
            rows[0, j] = 0.0
        elif abs(rows[0, j]) <= _NEAR_TIE:
            sign = _exact_gap_sign(xt, j, rows[2, j], rows[3, j], rows[4, j], rows[5, j])
            rows[0, j] = 1.0 if sign > 0 else 0.0
        else:
            rows[0, j] = 1.0 if rows[0, j] > 0.0 else 0.0
    # Pass 3, SIMD over rows: the chosen coset's rounded point, before its parity move.
    for i in range(8):
        for j in range(n):
            xi = xt[i * _BLOCK + j]
            f = np.rint(xi)
            ot[i * _BLOCK + j] = f + rows[0, j] * (-0.5 if xi < f else 0.5)
    # Pass 4, per row: write back and move one coordinate where the parity is odd.
    for j in range(n):
        for i in range(8):
            flat_out[8 * j + i] = ot[i * _BLOCK + j]
        half = rows[0, j] > 0.0
        k = np.int64(rows[7, j] if half else rows[6, j])
        odd = rows[3, j] if half else rows[2, j]
        flat_out[8 * j + k] += odd * (1.0 if xt[k * _BLOCK + j] >= flat_out[8 * j + k] else -1.0)
    return refused


@numba.njit(cache=True, parallel=True)
def e8_kernel(x: np.ndarray, out: np.ndarray) -> int:
    """Nearest points of E8 = D8 ∪ (D8 + ½) (SPLAG ch. 20 §3, Alg. 3).

    With ``fᵢ = rint(xᵢ)`` and ``aᵢ = |xᵢ − fᵢ|`` (exact), the nearest half-integer
    ``hᵢ = ⌊xᵢ⌋ + ½`` is at distance exactly ``½ − aᵢ``, so before parity moves
    ``‖x − h‖² = ‖x − f‖² + 2 − Σaᵢ``. A parity move costs ``1 − 2·max a`` in D8 (first
    coordinate of largest ``aᵢ``) and ``2·min a`` in D8 + ½ (first coordinate of smallest
    ``aᵢ``), the parities being those of ``Σfᵢ`` and ``Σ⌊xᵢ⌋``. Hence the D8 + ½ candidate is
    nearer iff ``gap = odd0·(1 − 2·max a) − 2 + Σa − 2·odd1·min a > 0``: a sum of exact floats,
    computed in floating point and recomputed exactly (:func:`_sign_of_sum`) when
    ``|gap| ≤ _NEAR_TIE``. Every choice compares exact ``aᵢ``, so ties are exact ties, broken
    by the lowest index, and an exact tie of the cosets keeps D8.

    Rows go in blocks of :data:`_BLOCK` through :func:`_e8_block`, blocks of a chunk in turn
    on one thread (reusing its scratch), chunks in parallel.
    """
    m = x.shape[0]
    per_chunk = _BLOCK * 64
    refused = 0
    for c in numba.prange((m + per_chunk - 1) // per_chunk):
        xt = np.empty(8 * _BLOCK)
        ot = np.empty(8 * _BLOCK)
        rows = np.empty((8, _BLOCK))
        stop = min(m, (c + 1) * per_chunk)
        for s in range(c * per_chunk, stop, _BLOCK):
            refused += _e8_block(x, out, s, min(stop, s + _BLOCK), xt, ot, rows)
    return refused
