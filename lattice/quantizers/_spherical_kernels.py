"""Numba kernels of the structured nearest-direction search (see :mod:`.spherical`).

Every kernel maximises the inner product ``⟨y, v⟩`` over the minimal vectors ``v`` in integer
units (√8 units for Leech, doubled coordinates for E8) without forming the list of vectors:

* Leech (±4², 0²²): the two largest ``|yᵢ|`` with matching signs;
* Leech (±2⁸, 0¹⁶): per octad, ``2 Σ|yᵢ|``, less ``4 min |yᵢ|`` when the number of negative
  entries is odd (the sign-parity rule);
* Leech (∓3, ±1²³): for a codeword ``c`` with signs ``s = (−1)^c`` the best position gives
  ``Σ sᵢyᵢ + 4 maxₖ(−sₖyₖ)``. The 4096 codewords are split into 128 groups by their hexacode
  word and their parity; inside a group a codeword is a choice of complementing or not each
  of the six canonical MOG columns, with a fixed parity of complemented columns, so the best
  ``Σ sᵢyᵢ`` of a group follows from the sign-parity rule on six column sums. Groups and
  codewords whose bound ``Σ sᵢyᵢ + 4 max|y|`` cannot reach the best value found so far are
  skipped;
* E8 (±2², 0⁶) and (±1⁸): the two largest ``|yᵢ|``, and the sign-parity rule on all eight.

Exactness. Each row is first scaled by a power of two (exact) so that ``max |yᵢ| ∈ [1, 2)``.
When all entries are integer multiples of ``2^e`` with ``max |xᵢ| < 2^(e + 47)`` (integers,
float32 data, short dyadic fractions, ...) every sum the kernels form is an integer multiple
of ``2^e`` below ``2^(e + 53)``, so float64 arithmetic is exact and the exact tie rule
(smallest index among equal maxima) is applied by comparing values and indices. Otherwise
the float64 values are off by at most ``2⁻⁴⁴ Σ|yᵢ|``; the kernel keeps the best value and
the largest value of any *other* candidate it did not rule out, and flags the row when that
runner-up is within ``tol = 2⁻⁴⁰ Σ|yᵢ|`` of the best. Flagged rows are resolved exactly by
the caller; unflagged rows are exact because every other candidate is below the winner by
more than the rounding error.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["e8_search", "leech_search"]

_TWO53 = 9007199254740992.0
_EXACT_SPAN = 47  # max |x| < 2^(e + 47) keeps every kernel sum (≤ 28 max|x|) below 2^(e + 53)
_TOL = 2.0**-40
_BLOCK = 32  # rows per parallel work item

_OFF_OCTADS = 1104
_OFF_ODD = 98256


@numba.njit(cache=True)
def _low_exponent(v):
    """Exponent of the lowest set bit of a nonzero finite float64."""
    m, e = math.frexp(v)
    mant = np.int64(abs(m) * _TWO53)
    low = mant & -mant
    _, le = math.frexp(float(low))
    return e - 53 + le - 1


@numba.njit(cache=True)
def _prepare(x, y):
    """Scale row ``x`` into ``y`` (max |y| in [1, 2)); return the tie tolerance (0: exact)."""
    n = x.shape[0]
    amax = 0.0
    for i in range(n):
        amax = max(amax, abs(x[i]))
    if amax == 0.0:
        for i in range(n):
            y[i] = 0.0
        return 0.0
    _, emax = math.frexp(amax)
    elow = emax
    for i in range(n):
        if x[i] != 0.0:
            elow = min(elow, _low_exponent(x[i]))
    total = 0.0
    for i in range(n):
        y[i] = math.ldexp(x[i], 1 - emax)
        total += abs(y[i])
    if emax - elow <= _EXACT_SPAN:
        return 0.0
    return total * _TOL


@numba.njit(cache=True)
def _offer(val, idx, best, bidx, second):
    """Offer candidate ``(val, idx)``: larger value wins, then smaller index; track runner-up."""
    if val > best or (val == best and idx < bidx):
        return val, idx, max(second, best)
    return best, bidx, max(second, val)


@numba.njit(cache=True)
def _top_three(a):
    """First argmax ``i1``, first argmax ``i2`` of the others, and the third largest value."""
    n = a.shape[0]
    i1 = 0
    for i in range(1, n):
        if a[i] > a[i1]:
            i1 = i
    i2 = 1 if i1 == 0 else 0
    for i in range(n):
        if i != i1 and a[i] > a[i2]:
            i2 = i
    a3 = -np.inf
    for i in range(n):
        if i != i1 and i != i2 and a[i] > a3:
            a3 = a[i]
    return i1, i2, a3


# --- Leech ----------------------------------------------------------------------------------
@numba.njit(cache=True)
def _column_tables(y, a, T, A):
    """``T[j, m] = Σ_r (−1)^{m_r} y_{4j+r}`` and ``A[j, m] = Σ_{r ∈ m} |y_{4j+r}|`` (m: 4 bits)."""
    for j in range(6):
        b = 4 * j
        for m in range(16):
            lo = (-y[b] if m & 1 else y[b]) + (-y[b + 1] if m & 2 else y[b + 1])
            hi = (-y[b + 2] if m & 4 else y[b + 2]) + (-y[b + 3] if m & 8 else y[b + 3])
            T[j, m] = lo + hi
            slo = (a[b] if m & 1 else 0.0) + (a[b + 1] if m & 2 else 0.0)
            shi = (a[b + 2] if m & 4 else 0.0) + (a[b + 3] if m & 8 else 0.0)
            A[j, m] = slo + shi


@numba.njit(cache=True)
def _group_bound(g, T, canon, gpar):
    """Largest ``Σ sᵢyᵢ`` over the 32 codewords of group ``g`` (sign-parity rule on columns)."""
    total = 0.0
    nneg = 0
    smallest = np.inf
    for j in range(6):
        t = T[j, canon[g, j]]
        at = abs(t)
        total += at
        if t < 0:
            nneg += 1
        smallest = min(smallest, at)
    if (nneg & 1) != gpar[g]:
        return total - 2.0 * smallest
    return total


@numba.njit(cache=True)
def _eval_group(g, y, T, a1, tol, canon, gpar, gw, colw, eps, stats, t, best, bidx, second):
    """Offer every codeword of group ``g`` whose bound can reach ``best − tol``."""
    for j in range(6):
        c = canon[g, j]
        t[j] = T[j, c]
        # e_r = −s_r y_r for the canonical column (s_r = (−1)^{bit r}); the complemented
        # column has −e_r. stats[j]: (max, first argmax, second max) for e, then for −e.
        m1p = -np.inf
        r1p = 0
        m2p = -np.inf
        m1m = -np.inf
        r1m = 0
        m2m = -np.inf
        for r in range(4):
            e = y[4 * j + r] if (c >> r) & 1 else -y[4 * j + r]
            if e > m1p:
                m2p = m1p
                m1p = e
                r1p = r
            elif e > m2p:
                m2p = e
            if -e > m1m:
                m2m = m1m
                m1m = -e
                r1m = r
            elif -e > m2m:
                m2m = -e
        stats[j, 0] = m1p
        stats[j, 1] = r1p
        stats[j, 2] = m2p
        stats[j, 3] = m1m
        stats[j, 4] = r1m
        stats[j, 5] = m2m
    p = gpar[g]
    for q in range(32):
        pat = eps[p, q]
        base = 0.0
        for j in range(6):
            base += -t[j] if (pat >> j) & 1 else t[j]
        if base + 4.0 * a1 < best - tol:
            continue
        big = -np.inf
        runner = -np.inf
        k = 0
        w = gw[g]
        for j in range(6):
            o = 3 if (pat >> j) & 1 else 0
            if o:
                w ^= colw[j]
            mj = stats[j, o]
            if mj > big:
                runner = max(big, stats[j, o + 2])
                big = mj
                k = 4 * j + int(stats[j, o + 1])
            else:
                runner = max(runner, mj)
        best, bidx, second = _offer(base + 4.0 * big, _OFF_ODD + 24 * w + k, best, bidx, second)
        second = max(second, base + 4.0 * runner)
    return best, bidx, second


@numba.njit(cache=True)
def _octad(o, y, opos):
    """Best value, smallest ``k`` and runner-up value of the 128 sign patterns on octad ``o``."""
    total = 0.0
    nneg = 0
    nzero = 0
    zero7 = False
    lastzero = -1
    m1 = np.inf
    m2 = np.inf
    m1nz = np.inf
    k = 0
    for p in range(8):
        v = y[opos[o, p]]
        av = abs(v)
        total += av
        if v < 0:
            nneg += 1
            if p < 7:
                k |= 1 << (6 - p)
        if v == 0:
            nzero += 1
            if p == 7:
                zero7 = True
            else:
                lastzero = p
        else:
            m1nz = min(m1nz, av)
        if av < m1:
            m2 = m1
            m1 = av
        elif av < m2:
            m2 = av
    if nzero > 0:
        # Zero entries take any sign for free: "+" where it keeps k small, and the minus that
        # parity may need on position 7 (not part of k) or else on the last zero position.
        val = 2.0 * total
        if (nneg & 1) and not zero7:
            k |= 1 << (6 - lastzero)
        sec = 2.0 * total - 4.0 * m1nz if nzero < 8 else -np.inf
        return val, k, sec
    if (nneg & 1) == 0:
        return 2.0 * total, k, 2.0 * total - 4.0 * (m1 + m2)
    # Odd: flip one entry of least |y|; prefer turning a minus into a plus (first such
    # position), then position 7, then turning the last possible plus into a minus.
    flip = -1
    for p in range(7):
        v = y[opos[o, p]]
        if v < 0 and -v == m1:
            flip = p
            break
    if flip >= 0:
        k &= ~(1 << (6 - flip))
    elif abs(y[opos[o, 7]]) != m1:
        for p in range(6, -1, -1):
            if abs(y[opos[o, p]]) == m1:
                k |= 1 << (6 - p)
                break
    return 2.0 * total - 4.0 * m1, k, 2.0 * total - 4.0 * m2


@numba.njit(cache=True)
def _leech_row(y, tol, canon, gpar, gw, colw, eps, ocols, opos, a, T, A, gmax, stats, t):
    for i in range(24):
        a[i] = abs(y[i])
    best = -np.inf
    bidx = -1
    second = -np.inf

    # (±4², 0²²): positions i1, i2 of the two largest |y|; zero entries take "+".
    i1, i2, a3 = _top_three(a)
    p = min(i1, i2)
    q = max(i1, i2)
    pair = 23 * p - (p * (p - 1)) // 2 + q - p - 1
    idx = 4 * pair + 2 * (1 if y[p] < 0 else 0) + (1 if y[q] < 0 else 0)
    a1 = a[i1]
    best, bidx, second = _offer(4.0 * (a1 + a[i2]), idx, best, bidx, second)
    second = max(second, 4.0 * (a1 + a3))
    if a[i2] > 0:
        second = max(second, 4.0 * (a1 - a[i2]))

    _column_tables(y, a, T, A)

    # (∓3, ±1²³): the group with the largest bound first, then every group that can compete.
    gbest = 0
    for g in range(128):
        gmax[g] = _group_bound(g, T, canon, gpar)
        if gmax[g] > gmax[gbest]:
            gbest = g
    best, bidx, second = _eval_group(
        gbest, y, T, a1, tol, canon, gpar, gw, colw, eps, stats, t, best, bidx, second
    )
    for g in range(128):
        if g != gbest and gmax[g] + 4.0 * a1 >= best - tol:
            best, bidx, second = _eval_group(
                g, y, T, a1, tol, canon, gpar, gw, colw, eps, stats, t, best, bidx, second
            )

    # (±2⁸, 0¹⁶): octads whose bound 2 Σ|y| can compete.
    for o in range(ocols.shape[0]):
        s = (
            A[0, ocols[o, 0]]
            + A[1, ocols[o, 1]]
            + A[2, ocols[o, 2]]
            + A[3, ocols[o, 3]]
            + A[4, ocols[o, 4]]
            + A[5, ocols[o, 5]]
        )
        if 2.0 * s < best - tol:
            continue
        val, k, sec = _octad(o, y, opos)
        best, bidx, second = _offer(val, _OFF_OCTADS + 128 * o + k, best, bidx, second)
        second = max(second, sec)
    return bidx, tol > 0.0 and second >= best - tol


@numba.njit(cache=True, parallel=True)
def leech_search(x, canon, gpar, gw, colw, eps, ocols, opos, out_idx, out_near):
    """Nearest Leech minimal vector of every row of ``x`` (m, 24) float64, by index.

    Writes ``out_idx[i]`` (index in the order of ``leech().minimal_vectors()``) and
    ``out_near[i]`` (True where float64 could not separate the winner from a runner-up and the
    caller must decide exactly). The tables come from :func:`.spherical._leech_tables`.
    """
    n = x.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for b in numba.prange(nblocks):
        y = np.empty(24)
        a = np.empty(24)
        T = np.empty((6, 16))
        A = np.empty((6, 16))
        gmax = np.empty(128)
        stats = np.empty((6, 6))
        t = np.empty(6)
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            tol = _prepare(x[i], y)
            idx, near = _leech_row(y, tol, canon, gpar, gw, colw, eps, ocols, opos, a, T, A, gmax, stats, t)
            out_idx[i] = idx
            out_near[i] = near


# --- E8 -------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _e8_key(v):
    key = 0
    for i in range(8):
        key = 5 * key + v[i] + 2
    return key


@numba.njit(cache=True)
def _e8_row(y, tol, lut, a, v):
    for i in range(8):
        a[i] = abs(y[i])
    best = -np.inf
    bidx = -1
    second = -np.inf

    # (±2², 0⁶) doubled. Lexicographically smallest optimal vector: a zero entry takes −2.
    i1, i2, a3 = _top_three(a)
    a1 = a[i1]
    a2 = a[i2]
    for i in range(8):
        v[i] = 0
    if a1 > a2:
        # i1 is fixed; the partner has |y| = a2: the first one that can be −2, else the last.
        first_neg = -1
        last = -1
        for i in range(8):
            if i != i1 and a[i] == a2:
                last = i
                if y[i] <= 0 and first_neg < 0:
                    first_neg = i
        partner = first_neg if first_neg >= 0 else last
        v[i1] = 2 if y[i1] > 0 else -2
        v[partner] = 2 if y[partner] > 0 else -2
    else:
        # Any two positions of largest |y|: take a −2 as early as possible, a +2 as late as
        # the number of remaining positions allows.
        left = 0
        for i in range(8):
            if a[i] == a1:
                left += 1
        need = 2
        for i in range(8):
            if need == 0:
                break
            if a[i] != a1:
                continue
            if y[i] <= 0 or left <= need:
                v[i] = 2 if y[i] > 0 else -2
                need -= 1
            left -= 1
    best, bidx, second = _offer(2.0 * (a1 + a2), lut[_e8_key(v)], best, bidx, second)
    second = max(second, 2.0 * (a1 + a3))
    if a2 > 0:
        second = max(second, 2.0 * (a1 - a2))

    # (±1⁸) doubled, even number of minus signs (sign-parity rule).
    total = 0.0
    nneg = 0
    nzero = 0
    lastzero = -1
    m1 = np.inf
    m2 = np.inf
    m1nz = np.inf
    for i in range(8):
        total += a[i]
        if y[i] < 0:
            nneg += 1
        if y[i] == 0:
            nzero += 1
            lastzero = i
        else:
            m1nz = min(m1nz, a[i])
        if a[i] < m1:
            m2 = m1
            m1 = a[i]
        elif a[i] < m2:
            m2 = a[i]
        v[i] = 1 if y[i] > 0 else -1
    if nzero > 0:
        # Zero entries are −1 (lexicographically smaller); parity is repaired at the last one.
        val = total
        sec = total - 2.0 * m1nz if nzero < 8 else -np.inf
        if (nneg + nzero) & 1:
            v[lastzero] = 1
    elif (nneg & 1) == 0:
        val = total
        sec = total - 2.0 * (m1 + m2)
    else:
        val = total - 2.0 * m1
        sec = total - 2.0 * m2
        flip = -1
        for i in range(8):
            if a[i] == m1:
                if y[i] > 0:
                    flip = i
                    break
                flip = i  # the last negative one, unless a positive one comes
        v[flip] = -v[flip]
    best, bidx, second = _offer(val, lut[_e8_key(v)], best, bidx, second)
    second = max(second, sec)
    return bidx, tol > 0.0 and second >= best - tol


@numba.njit(cache=True, parallel=True)
def e8_search(x, lut, out_idx, out_near):
    """Nearest E8 root of every row of ``x`` (m, 8) float64, by index (see :func:`leech_search`).

    ``lut`` maps the base-5 key of a doubled root (entries + 2, first entry most significant)
    to its index in the lexicographic order of ``e8().minimal_vectors()``.
    """
    n = x.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for b in numba.prange(nblocks):
        y = np.empty(8)
        a = np.empty(8)
        v = np.empty(8, dtype=np.int64)
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            tol = _prepare(x[i], y)
            idx, near = _e8_row(y, tol, lut, a, v)
            out_idx[i] = idx
            out_near[i] = near
