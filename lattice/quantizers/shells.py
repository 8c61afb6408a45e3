"""Unions of Leech lattice shells as codebooks: exact counting, indexing and angular search.

The codebook of LLVQ (van der Ouderaa et al. 2026) codes the *shape* of a 24-weight block as
the point of a union of Leech shells with the smallest angle to the block. This module gives
that union an exact bijection with ``[0, size)`` and an exact nearest-direction search,
without ever listing the points (norm 24 alone has 7·10¹³ of them).

Units and congruences
---------------------
As in :mod:`leechkit.lattice.lattices.leech`, a Leech vector is ``v/√8`` with ``v ∈ Z²⁴``,
``v ≡ m·1 + 2c (mod 4)`` for a Golay codeword ``c`` and ``m ∈ {0, 1}``, and
``Σ vᵢ ≡ 4m (mod 8)``; its norm is ``n = |v|²/8`` (always even). Everything below is in
these √8 units.

Classes of a shell
------------------
A *class* of the shell of norm ``n`` is the set of its vectors with a given multiset of
magnitudes ``|vᵢ|`` (the *shape*); the shape fixes ``m`` (odd or even entries). Counting a
class from the Golay code:

* **m = 1** (all entries odd). Write ``vᵢ = (−1)^{cᵢ} bᵢ`` with ``bᵢ ≡ 1 (mod 4)`` (so
  ``bᵢ = |vᵢ|`` if ``|vᵢ| ≡ 1``, else ``−|vᵢ|``): for every arrangement of the magnitudes,
  each of the 4096 codewords gives exactly one vector with the right residues. With
  ``bᵢ = 1 + 4kᵢ``, ``Σ vᵢ ≡ 4 Σ kᵢ (mod 8)`` for every codeword (all weights are ≡ 0
  mod 4), so the sum condition, ``Σ kᵢ`` odd, is a property of the shape alone: a valid
  shape has ``4096 · 24!/∏ μ!`` vectors (``μ`` the multiplicities), an invalid one none.
  Example: (∓3, ±1²³), ``24 · 4096 = 98,304`` vectors.
* **m = 0** (all entries even). The entries ``≡ 2 (mod 4)`` sit exactly on the support of
  ``c``, of weight ``w ∈ {0, 8, 12, 16, 24}`` (1, 759, 2576, 759, 1 codewords). Changing the
  sign of an entry ``≡ 2`` moves ``Σ vᵢ`` by 4 (mod 8), of an entry ``≡ 0`` by 0 (mod 8),
  so for ``w > 0`` exactly half of the ``2^{nz}`` sign patterns of the nonzero entries are
  allowed: the number of minus signs on the support must be ``≡ Σ|vᵢ|/4 (mod 2)``. For
  ``w = 0`` all signs are allowed if ``Σ|vᵢ| ≡ 0 (mod 8)`` and none otherwise. A class has
  ``N_w · (w!/∏μ!) · ((24−w)!/∏μ'!) · 2^{nz − [w>0]}`` vectors.

The shell sizes follow (norm 4: 196,560; 6: 16,773,120; 8: 398,034,000; …, SPLAG ch. 4
§11); the tests check them against ``theta_series`` and against
``Θ_Λ = E₁₂ − (65520/691)Δ``.

Index order
-----------
Shells by increasing norm; inside a shell the even classes (m = 0), then the odd ones, each
in *decreasing* lexicographic order of the shape (magnitudes sorted decreasingly); inside a
class (``A`` = arrangements, ``S`` = sign patterns)::

    m = 1:  index = offset + word · A + arrangement
    m = 0:  index = offset + ((rank · A₀ + arrangement₀) · A₁ + arrangement₁) · S + signs

* ``word``: the codeword's row in ``GolayCode.codewords()``; ``rank``: its row among the
  codewords of its weight in that order (weight 8: ``octads()`` order).
* ``arrangement``: the rank of the sequence of magnitudes (positions increasing) among all
  arrangements of the shape, in lexicographic order with *larger magnitudes first* (the
  decreasing arrangement has rank 0). m = 0: ``arrangement₀`` over the support of ``c``,
  ``arrangement₁`` over its complement.
* ``signs`` (m = 0): the signs of the nonzero entries by increasing position, 1 for minus,
  first position most significant, leaving out the last position of the support (``w > 0``),
  whose sign the sum condition fixes. Odd vectors have no free signs (``c`` fixes them).

For the norm-4 shell this is exactly the order of ``leech().minimal_vectors()``.

Nearest point (smallest angle)
------------------------------
``nearest(x)`` maximises ``cos = ⟨x, v⟩ / (|x|·|v|)`` over the union. Everything rests on
one exact evaluation and one bound.

*Exact value of a (class, coset) pair.* The vectors of a class in the coset ``(m, c)`` are
the arrangements of its shape with signs tied to ``c``. For m = 1,
``⟨x, v⟩ = Σ uᵢ bᵢ`` with ``u = (−1)^c ⊙ x``, maximal (rearrangement inequality) when the
``b`` are *similarly ordered* with ``u``: the sorted pairing. For m = 0 the sorted pairing of
``|x|`` with the magnitudes on the support and off it, signs following ``x``; when the
number of minus signs on the support has the wrong parity, the cheapest repair (exchange
argument) flips the entry of least ``|xᵢ|`` on the support while it holds the least odd
magnitude, costing ``2·min|xᵢ|·min mag``; a zero ``xᵢ`` on the support repairs for free. With
the order of ``|x|`` computed once per query, a pair costs O(24 + blocks of its shape).

*Bound.* For ``z = τ·x/|x|`` and a coset ``C``, the law of cosines gives for every ``v ∈ C``
of norm ``ρ²``: ``cos(x, v) ≤ (ρ² + τ² − d(z, C)²) / (2τρ)``. The distance ``d(z, C)`` is
separable up to one parity: per coordinate the nearest point of ``r + 4Z`` (``r = m + 2cᵢ``),
and, when ``Σ kᵢ`` (the multiples of 4 used) has the wrong parity, the cheapest move of one
coordinate by ±4 (SPLAG ch. 4 §11; the Leech decoders use the same costs). ``τ = f·ρ`` with
``f`` the best cosine found so far (tangent point of the winner's cone).

*Search.* Per query: sort ``|x|``; per shell a first bound from ``|x|`` against every shape
(no congruences). Shells are visited from the largest norm down; a shell that can still win
gets the per-coordinate costs at its own ``τ``, the 6 × 16 column tables per ``m``, and a bound
for each of the 256 groups (``m``, hexacode word, parity — the 32 codewords that complement an
even or odd set of six canonical MOG columns, SPLAG ch. 11 §2) by letting each column take its
cheaper complement. The smallest of those group distances is a distance to the whole lattice,
so it also bounds every shell not yet visited (often skipping them). Groups are refined in
decreasing order of bound to their 32 exact coset distances, and the cosets that can still
beat the best cosine are evaluated exactly. A bound must be below the best cosine minus a
margin (2⁻²⁶ Σ|xᵢ|) to prune, so every pair that could tie is evaluated.

*Cost.* About 2,000 operations for the tables and 1,500 for the group bounds of each visited
shell, ~800 per refined group and a few hundred per evaluated coset. For Gaussian data at
``max_norm = 24`` a query visits about 3 shells, 12 groups and 9 cosets (tens of µs; figures
in ``docs/performance.md``); bf16- or fp8-rounded, int4 or partly zero data cost about the
same. Inputs whose optimum is tied *exactly* across many cosets — unit vectors, points of the
lattice, ±1 vectors — cannot prune the tied cosets and cost 0.1–10 ms per row.

Ties and exactness
------------------
The result is the **smallest index** among the points whose cosine is exactly maximal, with
``x`` the exact rational numbers of its float64 entries. Pairs (class, codeword) are ordered
like their index ranges, so ties between pairs go to the first pair; inside the winning
pair the smallest-index optimal vector follows from rules that compare entries of ``x``
only (:func:`._shell_kernels._pair_vector`: similarly ordered values, larger magnitudes
first inside runs of equal keys, sign and parity choices), exact for every input. Values of
pairs: when the entries of a row are integer multiples of a common ``2^e`` spanning at most
``span`` bits (``span = 52 − ⌈log₂(24·max magnitude)⌉``, 43 for ``max_norm = 24``: integer
data, float32 data of moderate range, short dyadic fractions), every sum is exact in
float64 and cosines ``V/√(8n)`` are compared exactly (``V₁²n₂`` against ``V₂²n₁`` in
multi-limb integers when the float64 ratio is within 2⁻⁴⁵). Other rows are compared in
float64; a row whose runner-up pair comes within a rigorous bound of the float64 error of
the winner is recomputed exactly (pairs within a wide band, then their values in Python
integers). Such rows — exact or near ties in 53-bit data — are rare.

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups* (SPLAG), 3rd ed.,
Springer 1999, ch. 4 §11 (the Leech lattice, its theta series) and ch. 11 (Golay code, MOG,
hexacode).
M. van der Ouderaa et al., "Leech Lattice Vector Quantization for Efficient LLM
Compression", arXiv:2603.11021, 2026.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from math import factorial

import numpy as np

from .._validation import as_points
from ..codes.golay import golay_code
from . import _shell_kernels as _k
from .spherical import _exact_integers, _leech_tables

__all__ = ["LeechShellCode", "ShellClass"]

_WEIGHT_COUNT = {0: 1, 8: 759, 12: 2576, 16: 759, 24: 1}
_SIZE_LIMIT = 2**62  # indices (and every intermediate of the ranking) stay inside int64
_BAND = 2.0**-22  # exact resolution: pairs within this (× Σ|x|) of the float64 best
# First guess of the winning cosine (for the first τ, before any cosine is known): for
# Gaussian data the mean winner is 1 − 0.6·size^(−2/23) at every max_norm (the covering
# scaling of a code of that size on S²³); a little below it makes the first bound safe.
_F0_SLOPE = 0.8


@dataclass(frozen=True)
class ShellClass:
    """One class of a Leech shell: the vectors with a given multiset of magnitudes.

    Attributes
    ----------
    norm : int
        The shell (norm ``|v|²/8``).
    m : int
        Congruence type: 1 if all entries are odd, 0 if all are even (√8 units).
    shape : tuple of int
        The 24 magnitudes ``|vᵢ|`` (√8 units), decreasing.
    weight : int or None
        m = 0: the weight of the Golay codeword carried by the entries ≡ 2 (mod 4); None for
        m = 1 (every codeword occurs).
    codewords : int
        Number of Golay codewords the class uses (4096, or the number of that weight).
    arrangements : int
        Arrangements of the magnitudes per codeword (m = 0: on the support times off it).
    signs : int
        Free sign patterns per arrangement (1 for m = 1).
    count : int
        ``codewords · arrangements · signs``.
    offset : int
        Index of the class's first vector in the code that listed it.
    """

    norm: int
    m: int
    shape: tuple[int, ...]
    weight: int | None
    codewords: int
    arrangements: int
    signs: int
    count: int
    offset: int


def _multinomial(counts: list[int]) -> int:
    out = factorial(sum(counts))
    for c in counts:
        out //= factorial(c)
    return out


def _multisets(values: list[int], size: int, budget: int) -> list[list[int]]:
    """Multisets of ``size`` entries from ``values`` (decreasing) with squares summing to ``budget``."""
    out: list[list[int]] = []

    def rec(i: int, left: int, rem: int, acc: list[int]) -> None:
        if left == 0:
            if rem == 0:
                out.append(acc.copy())
            return
        if i == len(values):
            return
        v = values[i]
        sq = v * v
        if i == len(values) - 1:
            if left * sq == rem:
                out.append(acc + [v] * left)
            return
        for c in range(min(left, rem // sq if sq else left), -1, -1):
            acc.extend([v] * c)
            rec(i + 1, left - c, rem - c * sq, acc)
            del acc[len(acc) - c :]

    rec(0, size, budget, [])
    return out


@cache
def _shell_shapes(norm: int) -> tuple[tuple[int, tuple[int, ...], int | None], ...]:
    """Every valid (m, shape, weight) of the shell of norm ``norm``, in index order."""
    total = 8 * norm
    shapes: list[tuple[int, tuple[int, ...], int | None]] = []
    # m = 0: v = 2y; odd |y| on the support of a codeword of weight w, even |y| off it.
    ymax = math.isqrt(2 * norm)
    odd = [a for a in range(ymax, 0, -1) if a % 2]
    even = [a for a in range(ymax, -1, -1) if a % 2 == 0]
    for w in _WEIGHT_COUNT:
        # Odd squares are ≡ 1 (mod 8): the odd part uses w + 8j of the budget 2n.
        odd_parts = [o for b in range(w, 2 * norm + 1, 8) for o in _multisets(odd, w, b)] if w else [[]]
        for o in odd_parts:
            rest = 2 * norm - sum(a * a for a in o)
            for e in _multisets(even, 24 - w, rest):
                mags = sorted((2 * a for a in o + e), reverse=True)
                if w == 0 and sum(mags) % 8:
                    continue
                shapes.append((0, tuple(mags), w))
    # m = 1: magnitudes of b ≡ 1 (mod 4); valid when Σ (bᵢ − 1)/4 is odd.
    bmax = math.isqrt(total - 23)
    for mags in _multisets(list(range(bmax - (1 - bmax % 2), 0, -2)), 24, total):
        bs = [a if a % 4 == 1 else -a for a in mags]
        if sum((b - 1) // 4 for b in bs) % 2 == 1:
            shapes.append((1, tuple(mags), None))
    shapes.sort(key=lambda s: (s[0], tuple(-a for a in s[1])))
    return tuple(shapes)


def _distinct(values: list[int]) -> list[tuple[int, int]]:
    """(value, multiplicity) in decreasing order of value."""
    out: list[tuple[int, int]] = []
    for v in sorted(values, reverse=True):
        if out and out[-1][0] == v:
            out[-1] = (v, out[-1][1] + 1)
        else:
            out.append((v, 1))
    return out


def _class_parts(m: int, shape: tuple[int, ...]) -> list[list[tuple[int, int]]]:
    """The four block lists of a class (see :mod:`._shell_kernels`)."""
    if m == 1:
        signed = [a if a % 4 == 1 else -a for a in shape]
        return [_distinct(list(shape)), [], _distinct(signed), _distinct(list(shape))]
    return [
        _distinct([a for a in shape if a % 4 == 2]),
        _distinct([a for a in shape if a % 4 == 0]),
        [],
        _distinct(list(shape)),
    ]


@lru_cache(maxsize=1)
def _golay_tables() -> dict[str, np.ndarray]:
    """Codeword masks, rank of each codeword among those of its weight, codewords by weight."""
    words = golay_code().codewords()
    masks = (words.astype(np.int64) << np.arange(24)).sum(axis=1)
    weights = words.sum(axis=1).astype(np.int64)
    order = np.lexsort((np.arange(4096), weights))  # by weight, then by codeword index
    rank = np.empty(4096, dtype=np.int64)
    bw_start = np.zeros(25, dtype=np.int64)
    for w in range(25):
        bw_start[w] = np.searchsorted(weights[order], w)
    rank[order] = np.arange(4096) - bw_start[weights[order]]
    return {
        "cwmask": masks,
        "cwrank": rank,
        "bw_start": bw_start,
        "bw_list": order.astype(np.int64),
        "info": golay_code().information_set.astype(np.int64),
        "words": words,
    }


def _exact_value(cls: ShellClass, word: np.ndarray, xs: list[int]) -> int:
    """Exact ``max ⟨x, v⟩`` over the vectors of ``cls`` with codeword ``word`` (x as integers)."""
    if cls.m == 1:
        u = sorted((-v if c else v for v, c in zip(xs, word)), reverse=True)
        b = sorted((a if a % 4 == 1 else -a for a in cls.shape), reverse=True)
        return sum(p * q for p, q in zip(u, b))
    on = sorted((abs(v) for v, c in zip(xs, word) if c), reverse=True)
    off = sorted((abs(v) for v, c in zip(xs, word) if not c), reverse=True)
    odd = [a for a in cls.shape if a % 4 == 2]
    even = [a for a in cls.shape if a % 4 == 0]
    value = sum(p * q for p, q in zip(on, odd)) + sum(p * q for p, q in zip(off, even))
    neg = sum(1 for v, c in zip(xs, word) if c and v < 0)
    if on and neg % 2 != (sum(cls.shape) // 4) % 2:
        value -= 2 * on[-1] * odd[-1]
    return value


def _cos_greater(v1: int, n1: int, v2: int, n2: int) -> int:
    """Sign of ``v1/√n1 − v2/√n2`` for Python integers."""
    if (v1 > 0) != (v2 > 0) or v1 == 0 or v2 == 0:
        return (v1 > v2) - (v1 < v2)
    a, b = v1 * v1 * n2, v2 * v2 * n1
    c = (a > b) - (a < b)
    return c if v1 > 0 else -c


def _check_norm(value: object, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    return int(value)


class LeechShellCode:
    """The union of the Leech shells of norms ``min_norm, min_norm + 2, …, max_norm``.

    An exact bijection between ``[0, size)`` and the points (√8 units, see the module
    docstring for the order), computed by ranking (class, Golay codeword, arrangement,
    signs), and an exact smallest-angle search.

    Parameters
    ----------
    max_norm : int
        Largest norm (even, ≥ ``min_norm``). Up to 24 the code has about 2^46.7 points.
    min_norm : int
        Smallest norm (even, ≥ 4).

    Attributes
    ----------
    min_norm, max_norm : int
        The arguments.
    norms : tuple of int
        The shell norms included, increasing.
    shell_sizes : dict
        ``{norm: number of points}`` (Python ints), summed from the class decomposition.
    size : int
        Total number of points.
    bits : int
        ``⌈log₂ size⌉``, the bits of an index.

    Raises
    ------
    ValueError
        Odd norms, ``min_norm < 4``, ``max_norm < min_norm``, or a code too large for int64
        indices (more than 2^62 points).
    TypeError
        Non-integer norms.

    Examples
    --------
    >>> code = LeechShellCode(max_norm=6)
    >>> code.size, code.bits
    (16969680, 25)
    >>> int(code.vector_to_index(code.index_to_vector(12345)))
    12345
    """

    def __init__(self, max_norm: int, min_norm: int = 4) -> None:
        max_norm = _check_norm(max_norm, "max_norm")
        min_norm = _check_norm(min_norm, "min_norm")
        if min_norm < 4 or min_norm % 2 or max_norm % 2 or max_norm < min_norm:
            raise ValueError(
                "norms must be even with 4 ≤ min_norm ≤ max_norm, "
                f"got min_norm={min_norm}, max_norm={max_norm}"
            )
        self.min_norm = min_norm
        self.max_norm = max_norm
        self.norms: tuple[int, ...] = tuple(range(min_norm, max_norm + 1, 2))
        classes: list[ShellClass] = []
        offset = 0
        for n in self.norms:
            for m, shape, w in _shell_shapes(n):
                parts = _class_parts(m, shape)
                arr0 = _multinomial([c for _, c in parts[0]])
                arr1 = _multinomial([c for _, c in parts[1]]) if m == 0 else 1
                ncw = 4096 if m == 1 else _WEIGHT_COUNT[w]
                nz = sum(1 for a in shape if a)
                signs = 1 if m == 1 else 2 ** (nz - (1 if w else 0))
                count = ncw * arr0 * arr1 * signs
                classes.append(ShellClass(n, m, shape, w, ncw, arr0 * arr1, signs, count, offset))
                offset += count
                if offset >= _SIZE_LIMIT:
                    raise ValueError(f"the shells up to norm {max_norm} have more than 2^62 points")
        self._classes = classes
        self.size: int = offset
        self.bits: int = (self.size - 1).bit_length()
        self.shell_sizes: dict[int, int] = {n: 0 for n in self.norms}
        for c in classes:
            self.shell_sizes[c.norm] += c.count
        self._tables = self._build_tables()
        self._f0 = 1.0 - _F0_SLOPE * math.exp(-2.0 / 23.0 * math.log(self.size))

    def __repr__(self) -> str:
        return f"LeechShellCode(max_norm={self.max_norm}, min_norm={self.min_norm})"

    def classes(self, norm: int) -> list[ShellClass]:
        """The class decomposition of the shell of norm ``norm``, in index order.

        Raises
        ------
        ValueError
            If ``norm`` is not one of :attr:`norms`.
        """
        if norm not in self.norms:
            raise ValueError(f"norm {norm} is not a shell of this code; its norms are {self.norms}")
        return [c for c in self._classes if c.norm == norm]

    # --- tables -------------------------------------------------------------------------------
    def _build_tables(self) -> dict[str, object]:
        classes = self._classes
        nk = len(classes)
        parts = [_class_parts(c.m, c.shape) for c in classes]
        dm = max(len(p) for ps in parts for p in ps)
        cls = np.zeros((nk, _k.N_COLS), dtype=np.int64)
        blk_val = np.zeros((nk, 4, dm), dtype=np.int64)
        blk_cnt = np.zeros((nk, 4, dm), dtype=np.int64)
        blk_end = np.zeros((nk, 4, dm), dtype=np.int64)
        blk_len = np.zeros((nk, 4), dtype=np.int64)
        keys = []
        shell_index = {n: s for s, n in enumerate(self.norms)}
        for k, (c, ps) in enumerate(zip(classes, parts)):
            arr0 = _multinomial([n for _, n in ps[0]])
            nz = sum(1 for a in c.shape if a)
            cls[k] = (
                c.norm,
                c.m,
                -1 if c.weight is None else c.weight,
                c.codewords,
                arr0,
                c.arrangements // arr0,
                c.signs,
                (sum(c.shape) // 4) % 2 if c.m == 0 else 0,
                shell_index[c.norm],
                nz - (1 if c.weight else 0) if c.m == 0 else 0,
            )
            for p, blocks in enumerate(ps):
                blk_len[k, p] = len(blocks)
                end = 0
                for d, (v, n) in enumerate(blocks):
                    end += n
                    blk_val[k, p, d], blk_cnt[k, p, d], blk_end[k, p, d] = v, n, end
            hi = lo = 0
            for t, a in enumerate(c.shape):
                if t < 12:
                    hi = (hi << 5) | a
                else:
                    lo = (lo << 5) | a
            keys.append((hi, lo, k))
        keys.sort()
        cls_off = np.array([c.offset for c in classes] + [self.size], dtype=np.int64)
        nsh = len(self.norms)
        shell_first = np.zeros(nsh + 1, dtype=np.int64)
        sel: list[list[int]] = [[] for _ in range(nsh * _k.N_SLOTS)]
        for k, c in enumerate(classes):
            s = shell_index[c.norm]
            shell_first[s + 1] = k + 1
            slot = _k.SLOT_ODD if c.m == 1 else (0, 8, 12, 16, 24).index(c.weight)
            sel[s * _k.N_SLOTS + slot].append(k)
        sel_ptr = np.zeros(nsh * _k.N_SLOTS + 1, dtype=np.int64)
        sel_ptr[1:] = np.cumsum([len(v) for v in sel])
        vmax = max(c.shape[0] for c in classes)
        g = _golay_tables()
        t = _leech_tables()
        sel_list = np.array([k for v in sel for k in v], dtype=np.int64)
        shell_norm = np.array(self.norms, dtype=np.int64)
        return {
            # The groups the kernels take (see the docstring of ._shell_kernels).
            "ct": (cls, cls_off, blk_val, blk_cnt, blk_end, blk_len),
            "kt": tuple(np.array([key[i] for key in keys], dtype=np.int64) for i in range(3)),
            "gt": tuple(g[k] for k in ("cwmask", "cwrank", "info", "bw_start", "bw_list")),
            "ht": tuple(t[k] for k in ("canon", "gpar", "gw", "colw", "eps")),
            "st": (shell_norm, np.sqrt(8.0 * shell_norm), sel_ptr, sel_list, shell_first),
            # Sums of a row on a common 2^e grid are exact below 2^53 grid units; they are at
            # most 24·vmax·max|y| with max|y| < 2^(span+1) grid units.
            "span_max": 52 - math.ceil(math.log2(24 * vmax)),
            # Float64 error of a pair's V/√(8n) ≤ 24·vmax·64·2⁻⁵³·Σ|y| / √(8·min_norm); the flag
            # threshold 2⁻³⁴·vmax·Σ|y|/√(8·min_norm) is far above it and far below the pruning
            # margin 2⁻²⁶·Σ|y|.
            "tol_factor": 2.0**-34 * vmax / math.sqrt(8.0 * self.min_norm),
        }

    # --- bijection ----------------------------------------------------------------------------
    def _as_indices(self, i: object) -> tuple[np.ndarray, tuple[int, ...]]:
        arr = np.asarray(i)
        if arr.dtype == object:
            raise ValueError(f"index {i!r} is out of range [0, {self.size})")
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"indices must be integers, got dtype {arr.dtype}")
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"index {int(arr.max())} is out of range [0, {self.size})")
        flat = np.ascontiguousarray(arr.reshape(-1), dtype=np.int64)
        bad = (flat < 0) | (flat >= self.size)
        if bad.any():
            raise ValueError(f"index {int(flat[bad][0])} is out of range [0, {self.size})")
        return flat, arr.shape

    def index_to_vector(self, i: object) -> np.ndarray:
        """The points with indices ``i``, in √8 units.

        Parameters
        ----------
        i : int or array_like of int
            Indices of any shape, in ``[0, size)``.

        Returns
        -------
        numpy.ndarray
            int64, shape ``i.shape + (24,)``, with ``|v|² = 8·norm``.

        Raises
        ------
        TypeError
            Non-integer indices.
        ValueError
            An index out of range.
        """
        flat, shape = self._as_indices(i)
        t = self._tables
        out = np.empty((flat.shape[0], 24), dtype=np.int64)
        if flat.size:
            _k.index_to_vector_batch(flat, t["ct"], t["gt"], out)
        return out.reshape(shape + (24,))

    def _indices_of(self, ints: np.ndarray) -> np.ndarray:
        t = self._tables
        out = np.empty(ints.shape[0], dtype=np.int64)
        if ints.shape[0]:
            _k.vector_to_index_batch(ints, self.min_norm, self.max_norm, t["ct"], t["kt"], t["gt"], out)
        return out

    def vector_to_index(self, v: object) -> np.ndarray:
        """Indices of points given in √8 units (inverse of :meth:`index_to_vector`).

        Parameters
        ----------
        v : array_like
            Shape (..., 24), integer-valued (integer dtype, or floats holding integers).

        Returns
        -------
        numpy.ndarray
            int64 indices of shape (...).

        Raises
        ------
        ValueError
            A row that is not a point of the code (the message names the first one and why),
            non-integer values, a wrong last dimension.
        TypeError
            Non-real input.
        """
        arr = np.asarray(v)
        if np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
            if arr.ndim == 0 or arr.shape[-1] != 24:
                raise ValueError(f"v must have last dimension 24, got shape {arr.shape}")
            batch = arr.shape[:-1]
            # Entries this large are no point of any shell; clipping keeps the kernel's squares in range.
            if np.issubdtype(arr.dtype, np.unsignedinteger):
                arr = np.minimum(arr, 1 << 30)
            ints = np.ascontiguousarray(np.clip(arr, -(1 << 30), 1 << 30).reshape(-1, 24), dtype=np.int64)
        else:
            pts, batch = as_points(arr, 24, "v")
            if (pts != np.round(pts)).any():
                row = int(np.flatnonzero((pts != np.round(pts)).any(axis=1))[0])
                raise ValueError(f"v[{row}] is not an integer vector (√8 units): {pts[row].tolist()}")
            ints = np.clip(pts, -(2.0**30), 2.0**30).astype(np.int64)
        out = self._indices_of(ints)
        bad = np.flatnonzero(out < 0)
        if bad.size:
            row = int(bad[0])
            raise ValueError(
                f"v[{row}] = {ints[row].tolist()} is not a point of {self!r}: {self._problem(ints[row])}"
            )
        return out.reshape(batch)

    def _problem(self, v: np.ndarray) -> str:
        norm = int((v.astype(object) ** 2).sum())
        if norm % 8 or (norm // 8) not in self.norms:
            return f"|v|²/8 = {norm / 8:g} is not one of the norms {self.norms}"
        if len({int(a) % 2 for a in v}) > 1:
            return "it mixes odd and even entries"
        code = int(self._indices_of(v[None].astype(np.int64))[0])
        if code == _k.E_SHAPE:
            return "no Leech vector has these magnitudes"
        if code == _k.E_CODEWORD:
            return "its residues mod 4 do not follow a Golay codeword"
        return "its entries do not sum to 4m (mod 8)"

    # --- nearest ------------------------------------------------------------------------------
    def nearest(self, x: object) -> tuple[np.ndarray, np.ndarray]:
        """The points with the smallest angle to each ``x`` (exact; see the module docstring).

        Parameters
        ----------
        x : array_like
            Shape (..., 24), float16/32/64 or integer, finite. Only the direction matters.

        Returns
        -------
        (indices, vectors)
            int64 indices of shape (...) and the int64 points (..., 24) in √8 units. Among the
            points whose cosine with ``x`` is exactly maximal, the smallest index; ``x = 0``
            gives index 0.

        Raises
        ------
        ValueError
            Wrong last dimension, NaN or infinite entries.
        TypeError
            Non-real input.

        Notes
        -----
        Branch and bound over shells, the 256 (m, hexacode word, parity) groups of 32 cosets
        and the 8,192 cosets, pruned by the law-of-cosines bound from the distance of
        ``τ·x/|x|`` to each coset; leaves are exact sorted pairings (module docstring). Rows
        run in parallel (Numba). At ``max_norm = 24`` a Gaussian row takes a few tens of µs
        on one core; rows whose optimum is tied exactly across many cosets (unit vectors,
        lattice points, ±1 vectors) up to a few ms, since no tied coset can be pruned.
        """
        pts, batch = as_points(x, 24)
        t = self._tables
        n = pts.shape[0]
        idx = np.empty(n, dtype=np.int64)
        vec = np.empty((n, 24), dtype=np.int64)
        flag = np.zeros(n, dtype=np.bool_)
        if n:
            args = (t["span_max"], self._f0, t["tol_factor"], self.min_norm, self.max_norm)
            _k.nearest_batch(pts, *args, t["ct"], t["kt"], t["gt"], t["ht"], t["st"], idx, vec, flag)
            for r in np.flatnonzero(flag):
                idx[r], vec[r] = self._resolve_exactly(pts[r])
        return idx.reshape(batch), vec.reshape(batch + (24,))

    def pair_points(self, x: object, classes: object, codewords: object) -> tuple[np.ndarray, np.ndarray]:
        """The smallest-index point maximising ``⟨x, v⟩`` inside given (class, codeword) pairs.

        The last step of :meth:`nearest` on its own, for searches that find the winning pair
        elsewhere (the GPU search of :func:`leechkit.models.shell_nearest`): once the pair is
        known, its smallest-index optimal vector follows from comparisons of entries of
        ``x`` (module docstring, "Ties and exactness").

        Parameters
        ----------
        x : array_like
            Rows (n, 24), finite.
        classes : array_like of int
            (n,) class numbers: positions in the list of all classes of the code (shells in
            increasing norm, each in the order of :meth:`classes`).
        codewords : array_like of int
            (n,) Golay codewords as rows of ``GolayCode.codewords()``; for an even class the
            codeword must have the class's weight.

        Returns
        -------
        (indices, vectors)
            int64 (n,) and (n, 24), as :meth:`nearest` returns them.

        Raises
        ------
        ValueError
            Shapes that do not match, a class or codeword out of range, or a codeword of the
            wrong weight for its class.
        """
        pts, _ = as_points(x, 24)
        k = np.ascontiguousarray(np.asarray(classes, dtype=np.int64).reshape(-1))
        cw = np.ascontiguousarray(np.asarray(codewords, dtype=np.int64).reshape(-1))
        n = pts.shape[0]
        if k.shape[0] != n or cw.shape[0] != n:
            raise ValueError(f"{n} rows but {k.shape[0]} classes and {cw.shape[0]} codewords")
        if n and (k.min() < 0 or k.max() >= len(self._classes) or cw.min() < 0 or cw.max() >= 4096):
            raise ValueError("a class or codeword is out of range")
        t = self._tables
        cls = t["ct"][0]
        weight = _golay_tables()["words"].sum(axis=1)[cw]
        even = cls[k, _k.C_M] == 0
        if (even & (weight != cls[k, _k.C_W])).any():
            raise ValueError("an even class paired with a codeword of another weight")
        idx = np.empty(n, dtype=np.int64)
        vec = np.empty((n, 24), dtype=np.int64)
        if n:
            _k.pair_index_batch(pts, k, cw, self.min_norm, self.max_norm, t["ct"], t["kt"], t["gt"], idx, vec)
        return idx, vec

    def _resolve_exactly(self, row: np.ndarray) -> tuple[int, np.ndarray]:
        """Exact winner of a row float64 could not decide: candidate pairs, then Python integers."""
        t = self._tables
        cand = np.empty((4096, 3))
        while True:
            count, threshold = _k.collect_candidates(
                row, _BAND, self._f0, t["ct"], t["st"], t["ht"], t["gt"][1], cand
            )
            if count <= cand.shape[0]:
                break
            cand = np.empty((2 * count, 3))
        xs = _exact_integers(row)
        words = _golay_tables()["words"]
        cwrank = t["gt"][1]
        best: tuple[int, int, int, int] | None = None  # (value, norm, key, codeword)
        for k, cw, q in cand[:count]:
            if q < threshold:
                continue
            k, cw = int(k), int(cw)
            c = self._classes[k]
            value = _exact_value(c, words[cw], xs)
            key = k * 4096 + (cw if c.m == 1 else int(cwrank[cw]))
            if best is None:
                best = (value, c.norm, key, cw)
                continue
            order = _cos_greater(value, c.norm, best[0], best[1])
            if order > 0 or (order == 0 and key < best[2]):
                best = (value, c.norm, key, cw)
        assert best is not None
        out = np.empty(24, dtype=np.int64)
        idx = _k.pair_index(
            row, best[2] // 4096, best[3], self.min_norm, self.max_norm, t["ct"], t["kt"], t["gt"], out
        )
        return int(idx), out
