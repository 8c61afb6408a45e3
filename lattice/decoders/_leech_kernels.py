"""Numba kernels of the fast maximum-likelihood Leech decoder (see :mod:`.leech` for the math).

Everything is in √8 units, ``y = √8·x``; a Leech vector is ``y = m·1 + 2b + 4z`` with ``m ∈ {0,1}``,
``b`` a Golay codeword, ``Σ zᵢ ≡ m (mod 2)``. For a fixed ``m`` coordinate ``i`` has four *classes*
``k = bᵢ + 2pᵢ ∈ {0,1,2,3}`` (``pᵢ = zᵢ mod 2``): the integers ``≡ m + 2k (mod 8)``. The kernels
below go from the 4 × 24 class costs to the best (class per coordinate) subject to

* the bits ``bᵢ`` form a Golay codeword: a hexacode word ``h``, a parity ``q`` shared by all
  columns and the top row, and per column ``j`` the top bit ``tⱼ`` (which fixes the column
  vector, given ``hⱼ`` and ``q``), with ``Σ tⱼ ≡ q``;
* ``Σ pᵢ ≡ m``: with ``ρⱼ`` the parity of the ``pᵢ`` of column ``j``, ``Σ ρⱼ ≡ m``.

A column's choice is summarised by its *label* ``tⱼ + 2ρⱼ ∈ Z₂²`` (XOR is addition); the
labels must add up to the *target* ``q + 2m``.

Layout: W points (*lanes*) are decoded together; every scratch array is flat, with the lane
as its last, contiguous axis and the layout of the ``N*`` constants below, so that the
branch-free stages (`_class_costs`, `_column_states`, `_word_bounds`) vectorise
across points. Flat arrays of compile-time size, one per type and stage, and indices that LLVM
can prove non-negative (no wraparound selects, so no gathers) are what makes them vectorise:
with many separately allocated arrays LLVM gives up on the runtime alias checks. A column
*state* ``st = 2s + q`` is a column score ``s`` with a parity ``q``. Selection, repair and
rebuilding then run per lane, in scalar code: across lanes they would need gathers (the
states differ per lane), and LLVM does not vectorise those loops ("cannot identify array
bounds": without alias information, which Numba does not give, it cannot check the gathered
addresses against the stores). Candidates are numbered ``c = 128m + 64q + w`` with ``w`` the
row of the hexacode word in :func:`~leechkit.lattice.codes.hexacode.hexacode`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..codes.hexacode import hexacode

_SQRT8 = math.sqrt(8.0)
_BLOCK = 256  # points per scratch allocation inside the parallel loop
W = 64  # lanes: points processed together by the branch-free stages
# Certification: every float64 cost is within E ≤ 384u·max|yᵢ| + 17,664u (u = 2⁻⁵³) of the
# exact one (y rounding 2u|yᵢ| per coordinate, O(ulp(8)) in the residues, 24-term sums of values
# below 400); a decision is certified when the runner-up is more than 2E behind, which
# TOL·(64 + max|yᵢ|) exceeds about tenfold.
TOL = 2.0**-40


def _column_table() -> np.ndarray:
    """``VEC[2s + q, t]``: the 4-bit column (bit r = row r) with score s, parity q, top bit t.

    The 16 columns are in bijection with the 16 triples (s, q, t): the score of rows 1–3 is a
    bijection {0,1}³ → GF(4) ⊕ (parity of rows 1–3), and row 0 adds only to the parity.
    """
    table = np.full((8, 2), -1, dtype=np.int64)
    for v in range(16):
        s = 0
        for r, weight in ((1, 1), (2, 2), (3, 3)):
            if (v >> r) & 1:
                s ^= weight
        q = bin(v).count("1") % 2
        table[2 * s + q, v & 1] = v
    if (table < 0).any():
        raise AssertionError("columns do not match (score, parity, top bit)")
    return table


def _couple_table() -> np.ndarray:
    """``HC[w, k] = 4·h₂ₖ + h₂ₖ₊₁`` for the 64 hexacode words ``h`` (row order of `hexacode`)."""
    h = hexacode().astype(np.int64)
    return np.stack([4 * h[:, 2 * k] + h[:, 2 * k + 1] for k in range(3)], axis=1)


VEC = _column_table()
HC = _couple_table()
HEX = hexacode().astype(np.int64)
# The two nonzero labels other than e, whose sum is e: a two-column parity repair.
OTHER = np.array([[0, 0], [2, 3], [1, 3], [1, 2]], dtype=np.int64)


# Flat scratch layouts (lane last): one base array per type and stage, so that the lane loops
# vectorise without runtime alias checks between many arrays.
NCF = 2 * 24 * 2 * 2 * W  # class costs: [m, i, b, (cost, flip), lane]
NPR = 2 * 24 * 2 * W  # class parities: [m, i, b, lane]
NS = 2 * 6 * 8 * 5 * W  # column states: [m, j, st, (best, pen e=1..3, mpen), lane]
NL = 2 * 6 * 8 * W  # column state labels: [m, j, st, lane]
NCP = 3 * 16 * 2 * W  # couples: [k, u, (sum, least label change), lane]
NCL = 3 * 16 * W  # couple labels (the target folded into k = 0): [k, u, lane]
NB = 256 * W  # candidate bounds [c, lane]
NG = 64 * W  # least bound of the candidates 4G … 4G + 3 [G, lane]


@numba.njit(cache=True)
def _class_costs(y, cf, pr):
    """Per m, coordinate i and Golay bit b (all lanes): best parity p and its costs.

    ``cf[m, i, b, 0]`` is the least squared distance from yᵢ to an integer ≡ m + 2b + 4p (mod 8)
    over p ∈ {0, 1}, ``pr[m, i, b]`` the minimising p (0 on a tie) and ``cf[m, i, b, 1] ≥ 0``
    the extra cost of the other p. With δ the distance from yᵢ to the residue m + 2b on the
    circle Z/8 (δ ∈ [0, 4]), the residue m + 2b + 4 is at distance 4 − δ, so with
    ε = min(δ, 4 − δ): cost = ε², p = [δ > 2], flip = (4 − ε)² − ε² = 16 − 8ε.
    """
    for i in range(24):
        for ln in range(W):
            g = y[i * W + ln] - 8.0 * np.floor(y[i * W + ln] * 0.125)  # yᵢ mod 8, in [0, 8)
            for m in range(2):
                gm = g - m
                gm += 8.0 * (gm < 0.0)
                for b in range(2):
                    k = (m * 24 + i) * 2 + b
                    u = gm - 2 * b
                    u -= 8.0 * (u > 4.0)  # now in (−4, 4]
                    delta = abs(u)
                    eps = min(delta, 4.0 - delta)
                    cf[2 * k * W + ln] = eps * eps
                    cf[(2 * k + 1) * W + ln] = 16.0 - 8.0 * eps
                    pr[k * W + ln] = delta > 2.0


@numba.njit(cache=True)
def _column_states(cf, pr, sv, sl):
    """Column states for both m and all lanes.

    For the 4-bit column v of column j: F = Σ cost, P = ⊕ par, D = min flip over its four
    coordinates, from the row pairs (0, 1) and (2, 3) (kept in registers: tuples indexed by
    the pair's bits). A state st = 2s + q has the two vectors ``VEC[st, t]``; its options are
    label t + 2ρ at cost F (ρ = P) or F + D (ρ = 1 − P), so the best option is the cheaper
    vector vb with its own parity: ``best`` and its label ``sl`` (t = 0 on a tie).
    ``pen[e − 1] ≥ 0`` is the extra cost of the option with label ``label ⊕ e``: with the other
    vector vo and Δ = F(vo) − F(vb), e = 2 (ρ only) costs D(vb); e = 1 (t only) costs Δ, plus
    D(vo) if P(vo) ≠ P(vb); e = 3 costs Δ, plus D(vo) if P(vo) = P(vb). ``mpen`` =
    min(Δ, D(vb)) is the least of the three.
    """
    for m in range(2):
        for j in range(6):
            k = (m * 24 + 4 * j) * 2  # class index of row 0, bit 0: row r, bit b at k + 2r + b
            for ln in range(W):
                c0 = cf[2 * k * W + ln]
                c1 = cf[(2 * k + 2) * W + ln]
                c2 = cf[(2 * k + 4) * W + ln]
                c3 = cf[(2 * k + 6) * W + ln]
                c4 = cf[(2 * k + 8) * W + ln]
                c5 = cf[(2 * k + 10) * W + ln]
                c6 = cf[(2 * k + 12) * W + ln]
                c7 = cf[(2 * k + 14) * W + ln]
                g0 = cf[(2 * k + 1) * W + ln]
                g1 = cf[(2 * k + 3) * W + ln]
                g2 = cf[(2 * k + 5) * W + ln]
                g3 = cf[(2 * k + 7) * W + ln]
                g4 = cf[(2 * k + 9) * W + ln]
                g5 = cf[(2 * k + 11) * W + ln]
                g6 = cf[(2 * k + 13) * W + ln]
                g7 = cf[(2 * k + 15) * W + ln]
                r0 = pr[k * W + ln]
                r1 = pr[(k + 1) * W + ln]
                r2 = pr[(k + 2) * W + ln]
                r3 = pr[(k + 3) * W + ln]
                r4 = pr[(k + 4) * W + ln]
                r5 = pr[(k + 5) * W + ln]
                r6 = pr[(k + 6) * W + ln]
                r7 = pr[(k + 7) * W + ln]
                # row pairs: a = lo + 2·hi for rows (0, 1) and (2, 3)
                fa = (c0 + c2, c1 + c2, c0 + c3, c1 + c3)
                fb = (c4 + c6, c5 + c6, c4 + c7, c5 + c7)
                da = (min(g0, g2), min(g1, g2), min(g0, g3), min(g1, g3))
                db = (min(g4, g6), min(g5, g6), min(g4, g7), min(g5, g7))
                pa = (r0 ^ r2, r1 ^ r2, r0 ^ r3, r1 ^ r3)
                pb = (r4 ^ r6, r5 ^ r6, r4 ^ r7, r5 ^ r7)
                for st in range(8):
                    lo0 = VEC[st, 0] & 3
                    hi0 = (VEC[st, 0] >> 2) & 3
                    lo1 = VEC[st, 1] & 3
                    hi1 = (VEC[st, 1] >> 2) & 3
                    o = (m * 6 + j) * 8 + st
                    f0 = fa[lo0] + fb[hi0]
                    f1 = fa[lo1] + fb[hi1]
                    d0 = min(da[lo0], db[hi0])
                    d1 = min(da[lo1], db[hi1])
                    p0 = pa[lo0] ^ pb[hi0]
                    p1 = pa[lo1] ^ pb[hi1]
                    one = f1 < f0
                    dbest = d1 if one else d0
                    dother = d0 if one else d1
                    delta = abs(f1 - f0)
                    same = p0 == p1
                    sv[5 * o * W + ln] = min(f0, f1)
                    sv[(5 * o + 1) * W + ln] = delta + (0.0 if same else dother)
                    sv[(5 * o + 2) * W + ln] = dbest
                    sv[(5 * o + 3) * W + ln] = delta + (dother if same else 0.0)
                    sv[(5 * o + 4) * W + ln] = min(delta, dbest)
                    sl[o * W + ln] = (1 + 2 * p1) if one else 2 * p0


@numba.njit(cache=True)
def _word_bounds(sv, sl, cp, cl, bnd, gmin, low, low2, arg):
    """Lower bounds for the 256 candidates c = 128m + 64q + w, and their least one per lane.

    For the hexacode word h = ``HEX[w]`` the unrepaired cost is Σⱼ best[m, j, 2hⱼ + q] and the
    label error is (⊕ⱼ labels) ⊕ (q + 2m). A nonzero error needs at least one label change,
    costing at least minⱼ mpen, which is added to the bound. Couple sums, XORs and minima
    (columns 2k, 2k + 1, over the 16 score pairs) are shared by the four words through each
    pair. ``low``/``arg``: the least bound and its first index; ``low2``: the least bound of
    the other candidates; ``gmin[G]``: the least bound of the candidates 4G … 4G + 3.
    """
    for ln in range(W):
        low[ln] = np.inf
        low2[ln] = np.inf
        arg[ln] = 0
    for m in range(2):
        for q in range(2):
            for k in range(3):
                for a in range(4):
                    for c in range(4):
                        u = k * 16 + 4 * a + c
                        o0 = (m * 6 + 2 * k) * 8 + 2 * a + q
                        o1 = (m * 6 + 2 * k + 1) * 8 + 2 * c + q
                        target = (q + 2 * m) if k == 0 else 0
                        s0 = 5 * o0 * W
                        s1 = 5 * o1 * W
                        for ln in range(W):
                            cp[2 * u * W + ln] = sv[s0 + ln] + sv[s1 + ln]
                            cp[(2 * u + 1) * W + ln] = min(sv[s0 + 4 * W + ln], sv[s1 + 4 * W + ln])
                            cl[u * W + ln] = sl[o0 * W + ln] ^ sl[o1 * W + ln] ^ target
            for g in range(16):
                # the words w = 4g + c (c < 4) share their first couple u0 = g (row order of
                # `hexacode`): its values are loaded once, the running minimum kept in registers
                u0 = g * W
                cand0 = 128 * m + 64 * q + 4 * g
                for ln in range(W):
                    # branch-free: no masked loads or stores in the vectorised loop
                    e0 = cl[u0 + ln]
                    s0 = cp[2 * u0 + ln]
                    r0 = cp[2 * u0 + W + ln]
                    lo = low[ln]
                    lo2 = low2[ln]
                    ag = arg[ln]
                    gm = np.inf
                    for c in range(4):
                        # the masks let LLVM prove the flat indices non-negative
                        u1 = (16 + (HC[4 * g + c, 1] & 15)) * W
                        u2 = (32 + (HC[4 * g + c, 2] & 15)) * W
                        e = e0 ^ cl[u1 + ln] ^ cl[u2 + ln]
                        s = s0 + cp[2 * u1 + ln] + cp[2 * u2 + ln]
                        rep = min(r0, min(cp[2 * u1 + W + ln], cp[2 * u2 + W + ln]))
                        s += rep if e != 0 else 0.0
                        bnd[(cand0 + c) * W + ln] = s
                        lower = s < lo
                        lo2 = min(lo2, max(lo, s))
                        ag = cand0 + c if lower else ag
                        lo = min(lo, s)
                        gm = min(gm, s)
                    gmin[(cand0 >> 2) * W + ln] = gm
                    low[ln] = lo
                    low2[ln] = lo2
                    arg[ln] = ag


@numba.njit(cache=True)
def _repair(sv, m, q, w, e, ln, moves):
    """Cheapest change of column labels adding up to ``e ≠ 0``; the changes go to ``moves``.

    Penalties are ≥ 0 and every set of label changes adding up to e contains a subset of at
    most two that does (the change e in one column, or the two other nonzero labels a ⊕ b = e
    in two different columns), so the minimum over these is exact. The best pair in distinct
    columns comes from the best and second-best column for a and for b.
    """
    a = OTHER[e, 0]
    b = OTHER[e, 1]
    one = np.inf
    je = 0
    a1 = np.inf
    a2 = np.inf
    ja1 = 0
    ja2 = 0
    b1 = np.inf
    b2 = np.inf
    jb1 = 0
    jb2 = 0
    for j in range(6):
        o = 5 * ((m * 6 + j) * 8 + 2 * HEX[w, j] + q) * W + ln
        pe = sv[o + e * W]
        pa = sv[o + a * W]
        pb = sv[o + b * W]
        if pe < one:
            one, je = pe, j
        if pa < a1:
            a2, ja2 = a1, ja1
            a1, ja1 = pa, j
        elif pa < a2:
            a2, ja2 = pa, j
        if pb < b1:
            b2, jb2 = b1, jb1
            b1, jb1 = pb, j
        elif pb < b2:
            b2, jb2 = pb, j
    if ja1 != jb1:
        two, ka, kb = a1 + b1, ja1, jb1
    elif a1 + b2 <= a2 + b1:
        two, ka, kb = a1 + b2, ja1, jb2
    else:
        two, ka, kb = a2 + b1, ja2, jb1
    for j in range(6):
        moves[j] = 0
    if one <= two:
        moves[je] = e
        return one
    moves[ka] = a
    moves[kb] = b
    return two


@numba.njit(cache=True)
def _total(sv, sl, c, ln, moves):
    """Exact cost of candidate c in lane ln: unrepaired sum plus the cheapest repair; the
    label error goes to ``moves[6]``."""
    m = c >> 7
    q = (c >> 6) & 1
    w = c & 63
    s = 0.0
    e = q + 2 * m
    for k in range(3):
        # same association as the couple sums of `_word_bounds`
        o0 = (m * 6 + 2 * k) * 8 + 2 * HEX[w, 2 * k] + q
        o1 = (m * 6 + 2 * k + 1) * 8 + 2 * HEX[w, 2 * k + 1] + q
        s += sv[5 * o0 * W + ln] + sv[5 * o1 * W + ln]
        e ^= sl[o0 * W + ln] ^ sl[o1 * W + ln]
    for j in range(6):
        moves[j] = 0
    moves[6] = e
    if e != 0:
        s += _repair(sv, m, q, w, e, ln, moves)
    return s


@numba.njit(cache=True)
def _config_gap(sv, m, q, w, e, ln, moves):
    """Lower bound on how much more any other label change set of candidate (m, q, w) costs.

    ``moves`` is the cheapest change set adding up to the label error e (empty for e = 0), of
    cost R. Every other set adding up to e is a single change e in some column, a pair
    (a, b) with a ⊕ b = e in two distinct columns, or has ≥ 3 changes and then contains a set of
    ≤ 2 changes adding up to e (cost ≥ R) plus ≥ 2 changes in further columns (≥ the two least
    ``mpen``). For e = 0 every nonempty set has ≥ 2 changes in distinct columns.
    """
    mp1 = np.inf
    mp2 = np.inf
    for j in range(6):
        v = sv[(5 * ((m * 6 + j) * 8 + 2 * HEX[w, j] + q) + 4) * W + ln]
        if v < mp1:
            mp1, mp2 = v, mp1
        elif v < mp2:
            mp2 = v
    if e == 0:
        return mp1 + mp2
    a = OTHER[e, 0]
    b = OTHER[e, 1]
    cost = 0.0
    alt = np.inf
    for j in range(6):
        o = 5 * ((m * 6 + j) * 8 + 2 * HEX[w, j] + q) * W + ln
        if moves[j] != 0:
            cost += sv[o + moves[j] * W]
        if moves[j] != e:
            alt = min(alt, sv[o + e * W])
        for k in range(6):
            if k != j and not (moves[j] == a and moves[k] == b):
                ok = 5 * ((m * 6 + k) * 8 + 2 * HEX[w, k] + q) * W + ln
                alt = min(alt, sv[o + a * W] + sv[ok + b * W])
    return min(alt - cost, mp1 + mp2)


@numba.njit(cache=True)
def _select(sv, sl, bnd, gmin, top_c, top, ln, moves, pend, trial):
    """Winning candidate of lane ln: least (total, index), where total ≥ bound.

    ``top_c`` is the candidate of least bound, ``top`` its total; the caller comes here only
    where another bound is ≤ top (a fifth of the points on Gaussian input). Those candidates
    go to ``pend`` and are evaluated in increasing (bound, index) order until the next bound
    cannot beat the best total found so far: about one evaluation. Returns the candidate, its
    total and a lower bound for the totals of all other candidates (their total where
    evaluated, else their bound); ``moves`` holds the winner's label changes and label error
    (``trial``: scratch for the others').
    """
    second = np.inf
    ngrp = 0
    for g in range(64):
        # branch-free: groups of four candidates whose least bound can still win (and the
        # winner's own group) go to pend[256:], the others' least bound to second
        val = gmin[g * W + ln]
        can_win = (val < top) | ((val == top) & (4 * g < top_c)) | (g == top_c >> 2)
        pend[256 + ngrp] = g
        ngrp += np.int64(can_win)
        second = min(second, np.inf if can_win else val)
    npend = 0
    for k in range(ngrp):
        g = pend[256 + k]
        for c in range(4 * g, 4 * g + 4):
            # branch-free: about 9 candidates go to pend, at unpredictable places
            val = bnd[c * W + ln]
            other = c != top_c
            can_win = other & ((val < top) | ((val == top) & (c < top_c)))
            pend[npend] = c
            npend += np.int64(can_win)
            second = min(second, np.inf if can_win or not other else val)
    while npend > 0:
        k = 0
        for i in range(1, npend):
            if bnd[pend[i] * W + ln] < bnd[pend[k] * W + ln]:
                k = i  # pend is in index order: the first least bound has the least index
        c = pend[k]
        val = bnd[c * W + ln]
        if not (val < top or (val == top and c < top_c)):
            break  # neither this nor any later candidate can win
        for i in range(k, npend - 1):
            pend[i] = pend[i + 1]  # keep the index order
        npend -= 1
        val = _total(sv, sl, c, ln, trial)
        if val < top or (val == top and c < top_c):
            top, val = val, top
            top_c = c
            moves[:] = trial
        second = min(second, val)
    for i in range(npend):
        second = min(second, bnd[pend[i] * W + ln])
    return top_c, top, second


@numba.njit(cache=True)
def _rebuild(y, cf, pr, sl, c, moves, ln, out):
    """Lattice point (√8 units) of candidate c with label changes ``moves``, lane ln.

    Returns the least extra cost of another point with the same column vectors and labels:
    per column, flipping two more parities (the two least flips), or, where one parity was
    flipped to reach ρ, flipping another one instead (second least minus least flip) or taking
    the other integer of the flipped class (at distance 4 + ε instead of 4 − ε: 16ε = 32 − 2·flip).
    The unflipped coordinates are within 2 of yᵢ, the next integer of their class ≥ 6: ≥ 32 more.
    """
    m = c >> 7
    q = (c >> 6) & 1
    w = c & 63
    gap = 32.0  # the other integer of an unflipped coordinate's class
    for j in range(6):
        st = 2 * HEX[w, j] + q
        label = sl[((m * 6 + j) * 8 + st) * W + ln] ^ moves[j]
        v = VEC[st, label & 1]
        # ρ ≠ the vector's own parity: flip p where that is cheapest (first such row)
        r_flip = 0
        f1 = np.inf
        f2 = np.inf
        p_free = 0
        for r in range(4):
            k = (m * 24 + 4 * j + r) * 2 + ((v >> r) & 1)
            p_free ^= pr[k * W + ln]
            f = cf[(2 * k + 1) * W + ln]
            # branch-free (selects): the two least flips and the first row of the least
            r_flip = r if f < f1 else r_flip
            f2 = min(f2, max(f1, f))
            f1 = min(f1, f)
        change = (label >> 1) != p_free
        flipped = min(f2 - f1, 32.0 - 2.0 * f1)
        gap = min(gap, flipped if change else f1 + f2)
        for r in range(4):
            i = 4 * j + r
            b = (v >> r) & 1
            p = pr[((m * 24 + i) * 2 + b) * W + ln] ^ np.int64(change and r == r_flip)
            res = m + 2 * b + 4 * p  # the class of yᵢ modulo 8
            out[i] = res + 8 * np.int64(np.floor((y[i * W + ln] - res) * 0.125 + 0.5))
    return gap


@numba.njit(cache=True, parallel=True)
def decode_batch(x, out, unsure):
    """Closest Leech points of the rows of ``x`` (standard scale) into ``out`` (√8 units, int64).

    Lanes of W points go through the branch-free stages together; each lane then selects
    and rebuilds its point on its own. ``unsure[k]`` is set where another lattice point's
    float64 cost is within the rounding tolerance of the winner's (see `TOL`): there the
    float64 decision is not certified and the caller must decide exactly.
    """
    n = x.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(nblocks):
        y = np.empty(24 * W)
        cf = np.empty(NCF)
        pr = np.empty(NPR, dtype=np.int64)
        sv = np.empty(NS)
        sl = np.empty(NL, dtype=np.int64)
        cp = np.empty(NCP)
        cl = np.empty(NCL, dtype=np.int64)
        bnd = np.empty(NB)
        gmin = np.empty(NG)
        low = np.empty(W)
        low2 = np.empty(W)
        arg = np.empty(W, dtype=np.int64)
        tops = np.empty(W)
        mvs = np.zeros(7 * W, dtype=np.int64)  # [lane, j]: label changes and error
        pend = np.empty(256 + 64, dtype=np.int64)
        trial = np.empty(7, dtype=np.int64)
        stop = min(n, (blk + 1) * _BLOCK)
        for row0 in range(blk * _BLOCK, stop, W):
            lanes = min(W, stop - row0)
            for ln in range(W):
                for i in range(24):
                    y[i * W + ln] = x[row0 + ln, i] * _SQRT8 if ln < lanes else 0.0
            _class_costs(y, cf, pr)
            _column_states(cf, pr, sv, sl)
            _word_bounds(sv, sl, cp, cl, bnd, gmin, low, low2, arg)
            # separate passes: the totals of the least bounds, then the rare full selection
            for ln in range(lanes):
                tops[ln] = _total(sv, sl, arg[ln], ln, mvs[7 * ln : 7 * ln + 7])
            for ln in range(lanes):
                moves = mvs[7 * ln : 7 * ln + 7]
                c = arg[ln]
                total = tops[ln]
                second = low2[ln]
                if second <= total:  # another candidate might win
                    c, total, second = _select(sv, sl, bnd, gmin, c, total, ln, moves, pend, trial)
                row = row0 + ln
                # runner-up: in the winner's columns, in another candidate, or in other labels
                gap = _rebuild(y, cf, pr, sl, c, moves, ln, out[row])
                gap = min(gap, second - total)
                gap = min(gap, _config_gap(sv, c >> 7, (c >> 6) & 1, c & 63, moves[6], ln, moves))
                ymax = 0.0
                for i in range(24):
                    ymax = max(ymax, abs(y[i * W + ln]))
                unsure[row] = gap <= TOL * (64.0 + ymax)
