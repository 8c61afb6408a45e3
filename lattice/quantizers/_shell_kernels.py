"""Numba kernels of the Leech shell code (see :mod:`.shells` for the math, the index order and
the search algorithm).

Conventions shared by every kernel
----------------------------------
Vectors are int64 in √8 units. The tables travel in tuples built by
:meth:`.shells.LeechShellCode._build_tables`:

* ``ct = (cls, cls_off, blk_val, blk_cnt, blk_end, blk_len)``, the classes. Class ``k`` is
  row ``k`` of the integer table ``cls`` (columns ``C_*``), starts at index ``cls_off[k]``,
  and has four *parts* of distinct values in decreasing order with their multiplicities
  (``blk_val[k, part, :blk_len[k, part]]``, ``blk_cnt``; ``blk_end`` is the running end of
  each block in the sorted list):

  - ``P_MAG0``: the magnitudes on the first position set — all 24 positions for an odd class
    (m = 1), the support of the Golay codeword (entries ≡ 2 mod 4) for an even one;
  - ``P_MAG1``: even classes only, the magnitudes (≡ 0 mod 4, zeros included) off the support;
  - ``P_SIGNED``: odd classes only, the signed values ``bᵢ ≡ 1 (mod 4)``, ``vᵢ = (−1)^{cᵢ} bᵢ``;
  - ``P_ALL``: all 24 magnitudes.

* ``kt = (key_hi, key_lo, key_cls)``: the shapes packed 5 bits per magnitude, sorted, and
  their classes (shape → class by binary search).
* ``gt = (cwmask, cwrank, info, bw_start, bw_list)``: codewords as 24-bit masks (bit ``i`` =
  coordinate ``i``) in ``GolayCode.codewords()`` order, each one's rank among the codewords
  of its weight, the information set, and the codewords listed by weight.
* ``ht = (canon, gpar, gw, colw, eps)``: the 128 groups (hexacode word, parity) of 32
  codewords from :func:`.spherical._leech_tables`.
* ``st = (shell_norm, shell_rho, sel_ptr, sel_list, shell_first)``: per shell its norm, radius
  ``√(8n)``, its classes (``shell_first``) and its classes per (m, weight) slot (CSR lists).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "collect_candidates",
    "index_to_vector_batch",
    "nearest_batch",
    "pair_index",
    "pair_index_batch",
    "vector_to_index_batch",
]

# Columns of the class table.
C_NORM, C_M, C_W, C_NCW, C_ARR0, C_ARR1, C_NSIGN, C_PAR, C_SHELL, C_NSB = range(10)
N_COLS = 10
P_MAG0, P_MAG1, P_SIGNED, P_ALL = range(4)
#: Slot of a (m, weight) pair in the per-shell class lists: even weights 0, 8, 12, 16, 24, then odd.
N_SLOTS = 6
SLOT_ODD = 5
#: Error codes of :func:`_vector_to_index` (negative results).
E_NORM, E_PARITY, E_SHAPE, E_CODEWORD, E_SUM = -1, -2, -3, -4, -5

_ROWS = 256  # rows per parallel work item of the bijection
_BLOCK = 8  # rows per parallel work item of the search
_LIMB = 26
_LIMB_MASK = (1 << _LIMB) - 1
_TWO53 = 9007199254740992.0
_CMP_REL = 2.0**-45  # float cosines further apart than this (relative) are ordered by float64


# --- small integer helpers ----------------------------------------------------------------------
@numba.njit(cache=True)
def _popcount(v):
    n = 0
    while v:
        v &= v - 1
        n += 1
    return n


@numba.njit(cache=True)
def _slot(m, weight):
    if m == 1:
        return SLOT_ODD
    if weight == 0:
        return 0
    if weight == 8:
        return 1
    if weight == 12:
        return 2
    if weight == 16:
        return 3
    return 4


@numba.njit(cache=True)
def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


@numba.njit(cache=True)
def _mul_div(M, c, L):
    """``M·c / L`` for an exact quotient, without int64 overflow when the quotient fits."""
    if M < (1 << 57):
        return (M * c) // L
    g = _gcd(c, L)
    return (M // (L // g)) * (c // g)


# --- multiset arrangements ----------------------------------------------------------------------
@numba.njit(cache=True)
def _arr_rank(seq, L, vals, cnts, nd, total, cnt):
    """Rank of the arrangement ``seq[:L]`` of a multiset among all its arrangements.

    Order: lexicographic with larger values first (the decreasing arrangement has rank 0).
    ``vals`` (decreasing), ``cnts`` (``nd`` of them) describe the multiset, ``total`` is its
    number of arrangements; ``cnt`` is scratch. ``seq`` must be an arrangement of it.

    With ``M`` the arrangements of what is left (``rem`` entries), the arrangements starting
    with a larger value than ``seq[p]`` number ``M·(count of larger values)/rem``.
    """
    for d in range(nd):
        cnt[d] = cnts[d]
    M = total
    rem = L
    r = 0
    left = nd  # distinct values still present
    for p in range(L):
        if left == 1:
            break
        val = seq[p]
        larger = 0
        d = 0
        while vals[d] != val:
            larger += cnt[d]
            d += 1
        if larger:
            r += _mul_div(M, larger, rem)
        M = _mul_div(M, cnt[d], rem)
        cnt[d] -= 1
        if cnt[d] == 0:
            left -= 1
        rem -= 1
    return r


@numba.njit(cache=True)
def _arr_unrank(r, L, vals, cnts, nd, total, cnt, out):
    """Inverse of :func:`_arr_rank`: write the arrangement of rank ``r`` into ``out[:L]``."""
    for d in range(nd):
        cnt[d] = cnts[d]
    M = total
    rem = L
    for p in range(L):
        d = 0
        while True:
            if cnt[d] > 0:
                block = _mul_div(M, cnt[d], rem)
                if r < block:
                    M = block
                    break
                r -= block
            d += 1
        out[p] = vals[d]
        cnt[d] -= 1
        rem -= 1
        if cnt[d] == rem:
            # Only this value is left.
            for t in range(p + 1, L):
                out[t] = vals[d]
            return


# --- index → vector -----------------------------------------------------------------------------
@numba.njit(cache=True)
def _find_class(idx, cls_off):
    """The class whose index range holds ``idx`` (``cls_off`` is increasing, ends at the size)."""
    lo = 0
    hi = cls_off.shape[0] - 2
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cls_off[mid] <= idx:
            lo = mid
        else:
            hi = mid - 1
    return lo


@numba.njit(cache=True)
def _index_to_vector(idx, ct, gt, out, cnt, mag):
    cls, cls_off, blk_val, blk_cnt, _, blk_len = ct
    cwmask, _, _, bw_start, bw_list = gt
    k = _find_class(idx, cls_off)
    r = idx - cls_off[k]
    if cls[k, C_M] == 1:
        a0 = cls[k, C_ARR0]
        cw = r // a0
        mask = cwmask[cw]
        _arr_unrank(r - cw * a0, 24, blk_val[k, P_MAG0], blk_cnt[k, P_MAG0], blk_len[k, P_MAG0], a0, cnt, mag)
        for i in range(24):
            b = mag[i] if (mag[i] & 3) == 1 else -mag[i]
            out[i] = -b if (mask >> i) & 1 else b
        return
    ns = cls[k, C_NSIGN]
    s = r % ns
    r //= ns
    a1 = cls[k, C_ARR1]
    r1 = r % a1
    r //= a1
    a0 = cls[k, C_ARR0]
    r0 = r % a0
    w = cls[k, C_W]
    mask = cwmask[bw_list[bw_start[w] + r // a0]]
    # Odd magnitudes on the support (increasing positions), even ones off it.
    _arr_unrank(r0, w, blk_val[k, P_MAG0], blk_cnt[k, P_MAG0], blk_len[k, P_MAG0], a0, cnt, mag)
    j = 0
    for i in range(24):
        if (mask >> i) & 1:
            out[i] = mag[j]
            j += 1
    _arr_unrank(r1, 24 - w, blk_val[k, P_MAG1], blk_cnt[k, P_MAG1], blk_len[k, P_MAG1], a1, cnt, mag)
    j = 0
    for i in range(24):
        if not (mask >> i) & 1:
            out[i] = mag[j]
            j += 1
    last = -1
    if w > 0:
        for i in range(24):
            if (mask >> i) & 1:
                last = i
    bit = cls[k, C_NSB] - 1
    neg = 0
    for i in range(24):
        if out[i] != 0 and i != last:
            if (s >> bit) & 1:
                out[i] = -out[i]
                if (mask >> i) & 1:
                    neg += 1
            bit -= 1
    if last >= 0 and (neg & 1) != cls[k, C_PAR]:
        out[last] = -out[last]


@numba.njit(cache=True, parallel=True)
def index_to_vector_batch(idx, ct, gt, out):
    """Vectors (n, 24) of the valid indices ``idx`` (n,) (see :mod:`.shells` for the order)."""
    n = idx.shape[0]
    for b in numba.prange((n + _ROWS - 1) // _ROWS):
        cnt = np.empty(32, dtype=np.int64)
        mag = np.empty(24, dtype=np.int64)
        for t in range(b * _ROWS, min(n, (b + 1) * _ROWS)):
            _index_to_vector(idx[t], ct, gt, out[t], cnt, mag)


# --- vector → index -----------------------------------------------------------------------------
@numba.njit(cache=True)
def _class_key(v, hist):
    """Magnitudes of ``v`` sorted decreasingly, packed 5 bits each: (first 12, last 12)."""
    for a in range(32):
        hist[a] = 0
    for i in range(24):
        hist[abs(v[i])] += 1
    hi = 0
    lo = 0
    t = 0
    for a in range(31, -1, -1):
        for _ in range(hist[a]):
            if t < 12:
                hi = (hi << 5) | a
            else:
                lo = (lo << 5) | a
            t += 1
    return hi, lo


@numba.njit(cache=True)
def _vector_to_index(v, nmin, nmax, ct, kt, gt, cnt, seq, hist):
    """Index of the √8-unit vector ``v``, or a negative error code ``E_*``."""
    cls, cls_off, blk_val, blk_cnt, _, blk_len = ct
    key_hi, key_lo, key_cls = kt
    cwmask, cwrank, info, _, _ = gt
    norm = 0
    total = 0
    for i in range(24):
        if abs(v[i]) > 31:
            return E_NORM
        norm += v[i] * v[i]
        total += v[i]
    if norm % 16 != 0 or norm // 8 < nmin or norm // 8 > nmax:
        return E_NORM
    m = v[0] & 1
    for i in range(24):
        if (v[i] & 1) != m:
            return E_PARITY
    hi, lo = _class_key(v, hist)
    a = 0
    b = key_hi.shape[0] - 1
    while a < b:
        mid = (a + b) // 2
        if key_hi[mid] < hi or (key_hi[mid] == hi and key_lo[mid] < lo):
            a = mid + 1
        else:
            b = mid
    if key_hi[a] != hi or key_lo[a] != lo:
        return E_SHAPE
    k = key_cls[a]
    # v ≡ m·1 + 2c (mod 4): the codeword bit is bit 1 of vᵢ − m (two's complement).
    mask = 0
    for i in range(24):
        mask |= (((v[i] - m) >> 1) & 1) << i
    word = 0
    for j in range(12):
        word = (word << 1) | ((mask >> info[j]) & 1)
    if cwmask[word] != mask:
        return E_CODEWORD
    if ((total - 4 * m) & 7) != 0:
        return E_SUM
    if m == 1:
        for i in range(24):
            seq[i] = abs(v[i])
        a0 = cls[k, C_ARR0]
        r = _arr_rank(seq, 24, blk_val[k, P_MAG0], blk_cnt[k, P_MAG0], blk_len[k, P_MAG0], a0, cnt)
        return cls_off[k] + word * a0 + r
    w = cls[k, C_W]
    j = 0
    for i in range(24):
        if (mask >> i) & 1:
            seq[j] = abs(v[i])
            j += 1
    a0 = cls[k, C_ARR0]
    r0 = _arr_rank(seq, w, blk_val[k, P_MAG0], blk_cnt[k, P_MAG0], blk_len[k, P_MAG0], a0, cnt)
    j = 0
    for i in range(24):
        if not (mask >> i) & 1:
            seq[j] = abs(v[i])
            j += 1
    a1 = cls[k, C_ARR1]
    r1 = _arr_rank(seq, 24 - w, blk_val[k, P_MAG1], blk_cnt[k, P_MAG1], blk_len[k, P_MAG1], a1, cnt)
    last = -1
    if w > 0:
        for i in range(24):
            if (mask >> i) & 1:
                last = i
    s = 0
    for i in range(24):
        if v[i] != 0 and i != last:
            s = (s << 1) | (1 if v[i] < 0 else 0)
    return cls_off[k] + ((cwrank[word] * a0 + r0) * a1 + r1) * cls[k, C_NSIGN] + s


@numba.njit(cache=True, parallel=True)
def vector_to_index_batch(v, nmin, nmax, ct, kt, gt, out):
    """Indices (n,) of the vectors ``v`` (n, 24); a negative ``E_*`` code where a row is no point."""
    n = v.shape[0]
    for b in numba.prange((n + _ROWS - 1) // _ROWS):
        cnt = np.empty(32, dtype=np.int64)
        seq = np.empty(24, dtype=np.int64)
        hist = np.empty(32, dtype=np.int64)
        for t in range(b * _ROWS, min(n, (b + 1) * _ROWS)):
            out[t] = _vector_to_index(v[t], nmin, nmax, ct, kt, gt, cnt, seq, hist)


# --- the optimal vector of one (class, codeword) pair --------------------------------------------
@numba.njit(cache=True)
def _stable_order(keyv, idx, n):
    """Sort ``idx[:n]`` by ``keyv[idx]`` decreasing, ties by position increasing (insertion sort)."""
    for t in range(1, n):
        cur = idx[t]
        s = t - 1
        while s >= 0 and keyv[idx[s]] < keyv[cur]:
            idx[s + 1] = idx[s]
            s -= 1
        idx[s + 1] = cur


@numba.njit(cache=True)
def _pair_vector(x, k, mask, ct, out, keyv, order, vals):
    """The smallest-index vector of class ``k`` and codeword ``mask`` maximising ``⟨x, v⟩``.

    Only comparisons of entries of ``x`` (and their negations and absolute values) are used,
    so the choice is exact for any finite ``x``. Rules (proofs in :mod:`.shells`):

    * the values are *similarly ordered* with the key (``(−1)^c x`` for odd classes, ``|x|``
      for even ones), and within a run of equal keys the larger magnitudes take the earlier
      positions (smallest arrangement rank);
    * even classes: signs follow ``x``; zero entries take +, except that the parity of the
      minus signs on the support is repaired on the last zero of the support (its sign is
      not an index bit when it is the support's last position), or — without zeros there —
      by flipping one entry of least ``|x|`` holding the least odd magnitude: the first such
      minus, else the support's last position, else the last such plus.
    """
    cls, _, blk_val, blk_cnt, _, blk_len = ct
    if cls[k, C_M] == 1:
        for i in range(24):
            keyv[i] = -x[i] if (mask >> i) & 1 else x[i]
            order[i] = i
        _stable_order(keyv, order, 24)
        t = 0
        for d in range(blk_len[k, P_SIGNED]):
            for _ in range(blk_cnt[k, P_SIGNED, d]):
                vals[t] = blk_val[k, P_SIGNED, d]
                t += 1
        s = 0
        while s < 24:
            e = s + 1
            while e < 24 and keyv[order[e]] == keyv[order[s]]:
                e += 1
            # Larger magnitudes first inside the run (insertion sort by |b|, decreasing).
            for a in range(s + 1, e):
                cur = vals[a]
                b = a - 1
                while b >= s and abs(vals[b]) < abs(cur):
                    vals[b + 1] = vals[b]
                    b -= 1
                vals[b + 1] = cur
            for a in range(s, e):
                i = order[a]
                out[i] = -vals[a] if (mask >> i) & 1 else vals[a]
            s = e
        return
    for i in range(24):
        keyv[i] = abs(x[i])
    for part in range(2):
        n = 0
        for i in range(24):
            if ((mask >> i) & 1) == (1 - part):
                order[n] = i
                n += 1
        _stable_order(keyv, order, n)
        t = 0
        for d in range(blk_len[k, part]):
            for _ in range(blk_cnt[k, part, d]):
                vals[t] = blk_val[k, part, d]
                t += 1
        # vals is decreasing, so each run of equal keys already gets its magnitudes in
        # decreasing order along increasing positions.
        for a in range(n):
            i = order[a]
            out[i] = -vals[a] if x[i] < 0 else vals[a]
    if cls[k, C_W] == 0:
        return
    last = -1
    neg = 0
    lastzero = -1
    amin = np.inf
    for i in range(24):
        if (mask >> i) & 1:
            last = i
            if x[i] < 0:
                neg += 1
            if x[i] == 0:
                lastzero = i
            amin = min(amin, abs(x[i]))
    if (neg & 1) == cls[k, C_PAR]:
        return
    if lastzero >= 0:
        out[lastzero] = -out[lastzero]  # lastzero == last when the last support entry is zero
        return
    omin = blk_val[k, P_MAG0, blk_len[k, P_MAG0] - 1]
    flip = -1
    for i in range(24):
        if (mask >> i) & 1 and abs(x[i]) == amin and abs(out[i]) == omin and x[i] < 0 and i != last:
            flip = i
            break
    if flip < 0:
        if abs(x[last]) == amin and abs(out[last]) == omin:
            flip = last
        else:
            for i in range(23, -1, -1):
                if (mask >> i) & 1 and abs(x[i]) == amin and abs(out[i]) == omin:
                    flip = i
                    break
    out[flip] = -out[flip]


@numba.njit(cache=True)
def pair_index(x, k, cw, nmin, nmax, ct, kt, gt, out):
    """Index (and vector in ``out``) of the smallest-index optimal vector of pair (``k``, ``cw``)."""
    keyv = np.empty(24)
    order = np.empty(24, dtype=np.int64)
    vals = np.empty(24, dtype=np.int64)
    cnt = np.empty(32, dtype=np.int64)
    hist = np.empty(32, dtype=np.int64)
    _pair_vector(x, k, gt[0][cw], ct, out, keyv, order, vals)
    return _vector_to_index(out, nmin, nmax, ct, kt, gt, cnt, vals, hist)


@numba.njit(cache=True, parallel=True)
def pair_index_batch(x, k, cw, nmin, nmax, ct, kt, gt, out_idx, out_vec):
    """:func:`pair_index` for every row: rows ``x`` (n, 24), classes ``k`` and codeword
    indices ``cw`` (n,); indices into ``out_idx`` (n,), vectors into ``out_vec`` (n, 24)."""
    n = x.shape[0]
    for b in numba.prange((n + _ROWS - 1) // _ROWS):
        keyv = np.empty(24)
        order = np.empty(24, dtype=np.int64)
        vals = np.empty(24, dtype=np.int64)
        cnt = np.empty(32, dtype=np.int64)
        hist = np.empty(32, dtype=np.int64)
        for r in range(b * _ROWS, min(n, (b + 1) * _ROWS)):
            _pair_vector(x[r], k[r], gt[0][cw[r]], ct, out_vec[r], keyv, order, vals)
            out_idx[r] = _vector_to_index(out_vec[r], nmin, nmax, ct, kt, gt, cnt, vals, hist)


# --- exact comparison of cosines ----------------------------------------------------------------
@numba.njit(cache=True)
def _square_times(a, n):
    """Limbs (base 2^26, most significant first) of ``a²·n`` for 0 ≤ a < 2^78, 0 < n < 2^7."""
    a0 = a & _LIMB_MASK
    a1 = (a >> _LIMB) & _LIMB_MASK
    a2 = a >> (2 * _LIMB)
    c0 = a0 * a0 * n
    c1 = 2 * a0 * a1 * n
    c2 = (a1 * a1 + 2 * a0 * a2) * n
    c3 = 2 * a1 * a2 * n
    c4 = a2 * a2 * n
    c1 += c0 >> _LIMB
    c0 &= _LIMB_MASK
    c2 += c1 >> _LIMB
    c1 &= _LIMB_MASK
    c3 += c2 >> _LIMB
    c2 &= _LIMB_MASK
    c4 += c3 >> _LIMB
    c3 &= _LIMB_MASK
    return c4, c3, c2, c1, c0


@numba.njit(cache=True)
def _cmp_exact(v1, n1, v2, n2):
    """Sign of ``v1/√n1 − v2/√n2`` for integers ``|vᵢ| < 2^53`` and norms ``nᵢ < 128``."""
    s1 = 1 if v1 > 0 else (-1 if v1 < 0 else 0)
    s2 = 1 if v2 > 0 else (-1 if v2 < 0 else 0)
    if s1 != s2:
        return 1 if s1 > s2 else -1
    if s1 == 0:
        return 0
    p = _square_times(abs(v1), n2)
    q = _square_times(abs(v2), n1)
    c = 0
    for t in range(5):
        if p[t] != q[t]:
            c = 1 if p[t] > q[t] else -1
            break
    return c * s1


@numba.njit(cache=True)
def _cmp(q1, v1, n1, q2, v2, n2, grid):
    """Exact order of two cosines ``q = V/√(8n)`` whose ``V`` are exact multiples of ``grid``."""
    d = q1 - q2
    thr = _CMP_REL * (abs(q1) + abs(q2))
    if d > thr:
        return 1
    if d < -thr:
        return -1
    return _cmp_exact(np.int64(v1 / grid), n1, np.int64(v2 / grid), n2)


# --- nearest: preparation -----------------------------------------------------------------------
@numba.njit(cache=True)
def _low_exponent(v):
    """Exponent of the lowest set bit of a nonzero finite float64."""
    m, e = math.frexp(v)
    mant = np.int64(abs(m) * _TWO53)
    low = mant & -mant
    _, le = math.frexp(float(low))
    return e - 53 + le - 1


@numba.njit(cache=True)
def _prepare(x, y, span_max):
    """Scale ``x`` by a power of two into ``y`` (max |y| in [1, 2)).

    Returns ``(grid, exact)``: every ``yᵢ`` is a multiple of ``grid``; ``exact`` when the
    entries span at most ``span_max`` bits, so that every sum the search forms is an exact
    multiple of ``grid`` below 2^53 (see :mod:`.shells`). ``grid = 0`` for ``x = 0``.
    """
    amax = 0.0
    for i in range(24):
        amax = max(amax, abs(x[i]))
    if amax == 0.0:
        for i in range(24):
            y[i] = 0.0
        return 0.0, True
    _, emax = math.frexp(amax)
    elow = emax
    for i in range(24):
        if x[i] != 0.0:
            elow = min(elow, _low_exponent(x[i]))
    for i in range(24):
        y[i] = math.ldexp(x[i], 1 - emax)
    exact = emax - elow <= span_max
    return (math.ldexp(1.0, elow + 1 - emax) if exact else 0.0), exact


# --- nearest: evaluation of one (shell, coset) ---------------------------------------------------
@numba.njit(cache=True)
def _offer(q, V, n, key, k, cw, exact, grid, band, sf, si, cand):
    """Offer the best vector of one (class, codeword) pair; keep the best and the runner-up.

    ``sf = [best q, best V, runner-up q]``, ``si = [best norm, best key, best class, best
    codeword, candidates recorded]``; the key ``class·4096 + codeword rank`` orders pairs like
    their index ranges. With ``band > 0`` the pairs within ``band`` of the best so far are
    recorded in ``cand`` (class, codeword, q) for the exact resolution.
    """
    if si[1] < 0:
        better = True
    elif exact:
        c = _cmp(q, V, n, sf[0], sf[1], si[0], grid)
        better = c > 0 or (c == 0 and key < si[1])
    else:
        better = q > sf[0] or (q == sf[0] and key < si[1])
    if better:
        if si[1] >= 0:
            sf[2] = max(sf[2], sf[0])
        sf[0] = q
        sf[1] = V
        si[0] = n
        si[1] = key
        si[2] = k
        si[3] = cw
    else:
        sf[2] = max(sf[2], q)
    if band > 0.0 and q >= sf[0] - band:
        t = si[4]
        if t < cand.shape[0]:
            cand[t, 0] = k
            cand[t, 1] = cw
            cand[t, 2] = q
        si[4] = t + 1


@numba.njit(cache=True)
def _pair_sum(k, part, T, blk_val, blk_end, blk_len):
    """``Σ_blocks value·(T[end] − T[start])``: the sorted pairing of a class part with a prefix sum."""
    v = 0.0
    start = 0
    for d in range(blk_len[k, part]):
        end = blk_end[k, part, d]
        val = blk_val[k, part, d]
        if val != 0:
            v += val * (T[end] - T[start])
        start = end
    return v


@numba.njit(cache=True)
def _eval_coset(s, m, cw, mask, row, tabs, state):
    """Offer the best vector of every class of shell ``s`` in the coset (m, codeword ``cw``)."""
    y, _, negmask, exact, grid, band, _ = row
    ct, st, _, cwrank = tabs
    ws, sf, si, cand = state
    cls, _, blk_val, _, blk_end, blk_len = ct
    shell_norm, shell_rho, sel_ptr, sel_list, _ = st
    order, us, T1, T2 = ws[0], ws[2], ws[3], ws[4]
    slot = _slot(m, _popcount(mask))
    p0 = sel_ptr[s * N_SLOTS + slot]
    p1 = sel_ptr[s * N_SLOTS + slot + 1]
    if p0 == p1:
        return
    n = shell_norm[s]
    rho = shell_rho[s]
    if m == 1:
        # u = (−1)^c y in decreasing order, from the order of |y|: the entries u ≥ 0 in that
        # order, then the negative ones in reverse.
        front = 0
        back = 23
        for t in range(24):
            i = order[t]
            u = -y[i] if (mask >> i) & 1 else y[i]
            if u >= 0:
                us[front] = u
                front += 1
            else:
                us[back] = u
                back -= 1
        T1[0] = 0.0
        for t in range(24):
            T1[t + 1] = T1[t] + us[t]
        for p in range(p0, p1):
            k = sel_list[p]
            V = _pair_sum(k, P_SIGNED, T1, blk_val, blk_end, blk_len)
            _offer(V / rho, V, n, k * 4096 + cw, k, cw, exact, grid, band, sf, si, cand)
        return
    # Even coset: |y| on the support and off it, each decreasing.
    na = 0
    ne = 0
    T1[0] = 0.0
    T2[0] = 0.0
    amin = 0.0
    for t in range(24):
        i = order[t]
        a = abs(y[i])
        if (mask >> i) & 1:
            T1[na + 1] = T1[na] + a
            na += 1
            amin = a
        else:
            T2[ne + 1] = T2[ne] + a
            ne += 1
    negpar = _popcount(mask & negmask) & 1
    rank = cwrank[cw]
    for p in range(p0, p1):
        k = sel_list[p]
        V = _pair_sum(k, P_MAG0, T1, blk_val, blk_end, blk_len) + _pair_sum(
            k, P_MAG1, T2, blk_val, blk_end, blk_len
        )
        if na > 0 and negpar != cls[k, C_PAR]:
            # Wrong parity of minus signs on the support: flip the least |y| with the least odd magnitude.
            V -= 2.0 * amin * blk_val[k, P_MAG0, blk_len[k, P_MAG0] - 1]
        _offer(V / rho, V, n, k * 4096 + rank, k, cw, exact, grid, band, sf, si, cand)


# --- nearest: bounds ----------------------------------------------------------------------------
@numba.njit(cache=True)
def _coset_tables(y, ny, tau, ws):
    """Costs of the cosets for ``z = τ·y/|y|``.

    Per coordinate and residue r (mod 4): the squared distance ``E2`` to the nearest point of
    r + 4Z, the parity ``Kb`` of the multiple of 4 used, and the extra cost ``Fb`` of the other
    parity (the next point of r + 4Z, 4 further). Per (m, column, 4-bit codeword column): the
    column's ``D``, ``Kc`` and cheapest repair ``Fc``; ``Mm`` the smaller ``D`` of a column and
    its complement (indexed by the column with top bit 0, halved).
    """
    E2, Kb, Fb, D, Kc, Fc, Mm = ws[5], ws[6], ws[7], ws[8], ws[9], ws[10], ws[11]
    for i in range(24):
        z = tau * y[i] / ny
        for r in range(4):
            kf = math.floor((z - r) / 4.0 + 0.5)
            e = z - (r + 4.0 * kf)
            E2[i, r] = e * e
            Kb[i, r] = np.int64(kf) & 1
            Fb[i, r] = 16.0 - 8.0 * abs(e)
    for m in range(2):
        for j in range(6):
            i = 4 * j
            # Rows 0–1 and rows 2–3 of the column, each with its 4 bit patterns, then the 16 sums.
            for lo in range(4):
                r0 = m + 2 * (lo & 1)
                r1 = m + (lo & 2)
                hd = E2[i, r0] + E2[i + 1, r1]
                hk = Kb[i, r0] ^ Kb[i + 1, r1]
                hf = min(Fb[i, r0], Fb[i + 1, r1])
                for hi in range(4):
                    r2 = m + 2 * (hi & 1)
                    r3 = m + (hi & 2)
                    c = lo | (hi << 2)
                    D[m, j, c] = hd + (E2[i + 2, r2] + E2[i + 3, r3])
                    Kc[m, j, c] = hk ^ Kb[i + 2, r2] ^ Kb[i + 3, r3]
                    Fc[m, j, c] = min(hf, min(Fb[i + 2, r2], Fb[i + 3, r3]))
            for h in range(8):
                Mm[m, j, h] = min(D[m, j, 2 * h], D[m, j, 2 * h ^ 15])


@numba.njit(cache=True)
def _sort_desc(vals, ids, n):
    """Insertion sort of ``vals[:n]`` (decreasing), carrying ``ids`` along."""
    for t in range(1, n):
        cv = vals[t]
        ci = ids[t]
        s = t - 1
        while s >= 0 and vals[s] < cv:
            vals[s + 1] = vals[s]
            ids[s + 1] = ids[s]
            s -= 1
        vals[s + 1] = cv
        ids[s + 1] = ci


@numba.njit(cache=True)
def _group(s, m, g, rho, tau, row, tabs, state):
    """Bound the 32 cosets of group ``g`` (hexacode word, parity) exactly, then evaluate those
    that can still reach the best cosine, largest bound first."""
    _, ny, _, _, _, _, margin = row
    ws, sf, si, _ = state
    canon, gpar, gw, colw, eps = tabs[2]
    D, Kc, Fc = ws[8], ws[9], ws[10]
    cb, cid, cw32, mk32 = ws[14], ws[15], ws[16], ws[17]
    p = gpar[g]
    nc = 0
    for q in range(32):
        pat = eps[p, q]
        d2 = 0.0
        kk = 0
        f = np.inf
        w = gw[g]
        mask = 0
        for j in range(6):
            c = canon[g, j]
            if (pat >> j) & 1:
                c ^= 15
                w ^= colw[j]
            d2 += D[m, j, c]
            kk ^= Kc[m, j, c]
            f = min(f, Fc[m, j, c])
            mask |= c << (4 * j)
        if kk != m:
            d2 += f
        bound = ny * (rho * rho + tau * tau - d2) / (2.0 * tau * rho)
        if si[1] < 0 or bound >= sf[0] - margin:
            cb[nc] = bound
            cid[nc] = q
            cw32[q] = w
            mk32[q] = mask
            nc += 1
    _sort_desc(cb, cid, nc)
    for t in range(nc):
        if si[1] >= 0 and cb[t] < sf[0] - margin:
            break
        q = cid[t]
        _eval_coset(s, m, cw32[q], mk32[q], row, tabs, state)


# --- nearest: one row ---------------------------------------------------------------------------
@numba.njit(cache=True)
def _scratch(nsh):
    return (
        np.empty(24, dtype=np.int64),  # 0 order of |y|
        np.empty(24),  # 1 |y|
        np.empty(24),  # 2 u sorted
        np.empty(25),  # 3 prefix sums
        np.empty(25),  # 4 prefix sums
        np.empty((24, 4)),  # 5 E2
        np.empty((24, 4), dtype=np.int64),  # 6 Kb
        np.empty((24, 4)),  # 7 Fb
        np.empty((2, 6, 16)),  # 8 D
        np.empty((2, 6, 16), dtype=np.int64),  # 9 Kc
        np.empty((2, 6, 16)),  # 10 Fc
        np.empty((2, 6, 8)),  # 11 Mm
        np.empty(256),  # 12 group bounds
        np.empty(256, dtype=np.int64),  # 13 group ids
        np.empty(32),  # 14 coset bounds
        np.empty(32, dtype=np.int64),  # 15 coset ids
        np.empty(32, dtype=np.int64),  # 16 coset codewords
        np.empty(32, dtype=np.int64),  # 17 coset masks
        np.empty(nsh),  # 18 shell bounds
    )


@numba.njit(cache=True)
def _search_row(y, exact, grid, tol, band, f0, ct, st, ht, cwrank, ws, sf, si, cand):
    """Exact search of one nonzero row ``y`` (see :mod:`.shells`, "Nearest point").

    Branch and bound over shells, groups of 32 cosets and cosets with bounds from the
    distance of ``τ·y/|y|`` to the coset; leaves are exact per-(class, coset) maxima. The
    winner is left in ``si[2]`` (class) and ``si[3]`` (codeword index). Returns True when the
    row must be resolved exactly: float mode and a runner-up within ``tol`` of the winner.
    """
    _, _, blk_val, _, blk_end, blk_len = ct
    _, shell_rho, _, _, shell_first = st
    canon = ht[0]
    order, a, T1 = ws[0], ws[1], ws[3]
    Mm, gb, gid, sb = ws[11], ws[12], ws[13], ws[18]
    ny2 = 0.0
    s1 = 0.0
    negmask = 0
    for i in range(24):
        ny2 += y[i] * y[i]
        a[i] = abs(y[i])
        s1 += a[i]
        order[i] = i
        if y[i] < 0:
            negmask |= 1 << i
    ny = math.sqrt(ny2)
    _stable_order(a, order, 24)
    margin = 2.0**-26 * s1 + band
    row = (y, ny, negmask, exact, grid, band, margin)
    tabs = (ct, st, ht, cwrank)
    state = (ws, sf, si, cand)
    # Shell bounds without any congruence: |y| decreasing against each class's magnitudes.
    T1[0] = 0.0
    for t in range(24):
        T1[t + 1] = T1[t] + a[order[t]]
    nsh = shell_rho.shape[0]
    for s in range(nsh):
        best = -np.inf
        for k in range(shell_first[s], shell_first[s + 1]):
            best = max(best, _pair_sum(k, P_ALL, T1, blk_val, blk_end, blk_len))
        sb[s] = best / shell_rho[s]
    si[1] = -1
    si[4] = 0
    sf[2] = -np.inf
    for s in range(nsh - 1, -1, -1):
        if si[1] >= 0 and sb[s] < sf[0] - margin:
            continue
        rho = shell_rho[s]
        f = sf[0] / ny if si[1] >= 0 else f0
        tau = min(max(f, 0.25), 1.0) * rho
        _coset_tables(y, ny, tau, ws)
        top = 0
        dmin = np.inf
        for mg in range(256):
            m = mg >> 7
            g = mg & 127
            amin = 0.0
            for j in range(6):
                amin += Mm[m, j, canon[g, j] >> 1]
            dmin = min(dmin, amin)
            gb[mg] = ny * (rho * rho + tau * tau - amin) / (2.0 * tau * rho)
            if gb[mg] > gb[top]:
                top = mg
        # No lattice point is nearer to z than √dmin, whatever its norm: a bound for the
        # shells still to come (law of cosines at their radius), often enough to skip them.
        for t in range(s):
            r = shell_rho[t]
            sb[t] = min(sb[t], ny * (r * r + tau * tau - dmin) / (2.0 * tau * r))
        if si[1] < 0:
            # No cosine yet: the most promising group first, for a bound to prune with.
            m, g = top >> 7, top & 127
            _group(s, m, g, rho, tau, row, tabs, state)
            gb[top] = -np.inf
        ng = 0
        for mg in range(256):
            if gb[mg] >= sf[0] - margin or si[1] < 0:
                gb[ng] = gb[mg]
                gid[ng] = mg
                ng += 1
        _sort_desc(gb, gid, ng)
        for t in range(ng):
            if si[1] >= 0 and gb[t] < sf[0] - margin:
                break
            m, g = gid[t] >> 7, gid[t] & 127
            _group(s, m, g, rho, tau, row, tabs, state)
    return tol > 0.0 and sf[2] >= sf[0] - tol


@numba.njit(cache=True, parallel=True)
def nearest_batch(x, span_max, f0, tol_factor, nmin, nmax, ct, kt, gt, ht, st, out_idx, out_vec, out_flag):
    """Exact nearest direction of every row of ``x`` (m, 24) float64 (see :mod:`.shells`).

    Writes the index, the vector and a flag: True where float64 could not separate the winner
    from a runner-up (rows with entries spanning more than ``span_max`` bits only); the caller
    resolves those exactly.
    """
    n = x.shape[0]
    nsh = st[0].shape[0]
    cwrank = gt[1]
    for b in numba.prange((n + _BLOCK - 1) // _BLOCK):
        ws = _scratch(nsh)
        y = np.empty(24)
        sf = np.empty(3)
        si = np.empty(5, dtype=np.int64)
        cand = np.empty((0, 3))
        keyv = np.empty(24)
        order = np.empty(24, dtype=np.int64)
        vals = np.empty(24, dtype=np.int64)
        cnt = np.empty(32, dtype=np.int64)
        hist = np.empty(32, dtype=np.int64)
        for r in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            grid, exact = _prepare(x[r], y, span_max)
            if exact and grid == 0.0:
                _index_to_vector(0, ct, gt, out_vec[r], cnt, vals)
                out_idx[r] = 0
                out_flag[r] = False
                continue
            s1 = 0.0
            for i in range(24):
                s1 += abs(y[i])
            tol = 0.0 if exact else tol_factor * s1
            out_flag[r] = _search_row(y, exact, grid, tol, 0.0, f0, ct, st, ht, cwrank, ws, sf, si, cand)
            # The winning pair's smallest-index optimal vector, from the original row (only
            # comparisons, so no underflow of the scaled copy can matter).
            _pair_vector(x[r], si[2], gt[0][si[3]], ct, out_vec[r], keyv, order, vals)
            out_idx[r] = _vector_to_index(out_vec[r], nmin, nmax, ct, kt, gt, cnt, vals, hist)


@numba.njit(cache=True)
def collect_candidates(x, band_factor, f0, ct, st, ht, cwrank, cand):
    """(class, codeword, float cosine) of every pair within a wide band of the best, for one row.

    Used for the exact resolution of flagged rows: with ``band = band_factor·Σ|y|`` far above
    the float64 error, the exact winner is among the recorded pairs. Returns how many pairs
    there were (more than ``len(cand)`` means the buffer was too small) and the final
    threshold (best − band) below which recorded pairs can be ignored.
    """
    ws = _scratch(st[0].shape[0])
    y = np.empty(24)
    sf = np.empty(3)
    si = np.empty(5, dtype=np.int64)
    _prepare(x, y, 0)
    s1 = 0.0
    for i in range(24):
        s1 += abs(y[i])
    _search_row(y, False, 0.0, 0.0, band_factor * s1, f0, ct, st, ht, cwrank, ws, sf, si, cand)
    return si[4], sf[0] - band_factor * s1
