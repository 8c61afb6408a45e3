"""Spherical codes from minimal vectors: exact nearest-direction search and index bijection.

The 196,560 minimal vectors of the Leech lattice (and the 240 roots of E8) form an
exceptional spherical code: the kissing configuration of Λ₂₄ (SPLAG ch. 1 §2, ch. 4 §11).
Used as a codebook for directions (Zhao et al., "Spherical Leech Quantization",
arXiv:2512.14697), a vector ``x`` is coded by the index of the minimal vector ``v`` with the
largest inner product ``⟨x, v⟩`` — all minimal vectors have the same norm, so that is also the
one of smallest angle to ``x`` and the nearest one to ``x`` on the sphere. A Leech index needs
log₂ 196560 ≈ 17.58 bits for 24 dimensions.

Functions
---------
* :func:`nearest_minimal_vector` — the exact structured search (Numba, parallel over the
  batch), never the 196,560 × 24 product;
* :func:`nearest_minimal_vector_bruteforce` — the reference: that product, in chunks;
* :func:`index_to_vector`, :func:`vector_to_index` — the bijection between indices and
  vectors in the order of ``minimal_vectors()`` (Leech: the documented order of
  :mod:`leechkit.lattice.lattices.leech`; E8: lexicographic order of the doubled vectors).

Structured search (Leech, √8 units)
-----------------------------------
For the three shapes of minimal vectors the largest inner product has a closed form:

1. (±4², 0²²): ``4(|x_i| + |x_j|)`` for the two largest ``|x_i|``, signs of ``x``;
2. (±2⁸, 0¹⁶) on an octad ``O`` with an even number of minus signs: ``2 Σ_O |x_i|`` if ``x``
   has an even number of negative entries on ``O``, else ``2 Σ_O |x_i| − 4 min_O |x_i|``
   (flip the cheapest sign);
3. (∓3, ±1²³) for a codeword ``c`` with signs ``s = (−1)^c``: ``Σ sᵢxᵢ + 4 maxₖ(−sₖxₖ)``
   (the −3 goes where it gains most). The codewords are grouped by hexacode word and
   parity (SPLAG ch. 11 §2): a group is the 32 ways of complementing an even or odd number
   of six canonical MOG columns, so the best ``Σ sᵢxᵢ`` in a group is again a sign-parity
   rule, on the six column sums. With the bound ``Σ sᵢxᵢ + 4 max|x|`` nearly all groups,
   codewords and octads are discarded before the ``max`` term is computed.

E8 (doubled coordinates): the roots (±2², 0⁶) give ``2(|x_i| + |x_j|)`` for the two largest
entries, the roots (±1⁸) with an even number of minus signs the sign-parity rule
``Σ|xᵢ|`` or ``Σ|xᵢ| − 2 min|xᵢ|``.

Ties and exactness
------------------
The result is the **smallest index** among the minimal vectors whose inner product with
``x`` is exactly maximal, with ``x`` taken as the exact rational number each float64 entry
is. Within each shape the kernels choose the smallest index among equal values by rule (a
zero entry takes the sign that makes the index smallest, a repeated ``|xᵢ|`` the position
that does). When all entries of a row are integer multiples of a common ``2^e`` spanning at
most 47 bits (integer-valued data, float32 data of moderate range, short dyadic fractions),
the float64 arithmetic of the kernels is exact and so is every comparison. Other rows are
compared in float64 with a rigorous margin; a row whose runner-up comes within that margin
of the winner is recomputed exactly (candidates within a wide float band of the maximum,
then their inner products in Python integers). Such rows — exact or near ties in data with
53-bit mantissas — are rare and about a millisecond each.

``x = 0``: every inner product is 0, so the tie rule returns index 0; its cosine is
reported as 0.

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups* (SPLAG), 3rd ed.,
Springer 1999, ch. 4 §§8, 11 (E8, the Leech lattice) and ch. 11 (the Golay code, MOG and
hexacode).
H. Zhao et al., "Spherical Leech Quantization for Visual Tokenization and Generation",
arXiv:2512.14697.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import sqrt

import numpy as np

from .._validation import as_points
from ..codes.golay import column_score, golay_code
from ..codes.hexacode import hexacode
from ..lattices.leech import SHAPE_OFFSETS, leech_minimal_vectors_integer
from . import _spherical_kernels as _k

__all__ = [
    "index_to_vector",
    "nearest_minimal_vector",
    "nearest_minimal_vector_bruteforce",
    "vector_to_index",
]

_LATTICES = ("leech", "e8")
_DIM = {"leech": 24, "e8": 8}
_COUNT = {"leech": 196560, "e8": 240}
#: Scale from integer units to the standard scale: 1/√8 (Leech), 1/2 (E8).
_SCALE = {"leech": 1.0 / sqrt(8.0), "e8": 0.5}
#: Norm of the minimal vectors in integer units: 32 (Leech, √8 units), 8 (E8, doubled).
_INT_NORM = {"leech": 32, "e8": 8}
_FLOAT_ATOL = 1e-6  # max distance (integer units) of a float vector to its rounded integer vector


def _check_lattice(lattice: str) -> str:
    if lattice not in _LATTICES:
        raise ValueError(f"lattice must be one of {_LATTICES}, got {lattice!r}")
    return lattice


# --- tables ---------------------------------------------------------------------------------
def _column_masks(words: np.ndarray) -> np.ndarray:
    """(n, 24) bits → (n, 6) column masks, bit r of column j = coordinate 4j + r."""
    return (words.reshape(-1, 6, 4).astype(np.int64) << np.arange(4)).sum(axis=2)


def _message_index(words: np.ndarray) -> np.ndarray:
    """Index in ``codewords()`` order: the bits at the information set, most significant first."""
    info = golay_code().information_set
    return (words[..., info].astype(np.int64) << np.arange(11, -1, -1)).sum(axis=-1)


@lru_cache(maxsize=1)
def _leech_tables() -> dict[str, np.ndarray]:
    """Tables for the Leech kernel (see :func:`._spherical_kernels.leech_search`).

    * ``canon`` (128, 6): for group ``g = 2h + p`` (hexacode word ``h``, parity ``p``) the MOG
      column of score ``h_j``, parity ``p`` and top bit 0; its complement is the only other
      column with that score and parity. The group's codewords complement a set of columns of
      size ≡ p (mod 2) (the top row then has parity p).
    * ``gw`` (128,): codeword index of the canonical word; ``colw`` (6,): the index bits
      flipped by complementing column j (the index is XOR-linear in the 24 bits).
    * ``eps`` (2, 32): the 6-bit complement patterns of each parity.
    * ``ocols`` (759, 6), ``opos`` (759, 8): octads as column masks and sorted positions.
    """
    cols = np.array([[(m >> r) & 1 for r in range(4)] for m in range(16)], dtype=np.uint8)
    scores = column_score(cols)
    parity = cols.sum(axis=1) % 2
    canon_col = np.zeros((4, 2), dtype=np.int64)
    for s in range(4):
        for p in range(2):
            canon_col[s, p] = np.flatnonzero((scores == s) & (parity == p) & (cols[:, 0] == 0))[0]
    hexa = hexacode().astype(np.int64)
    canon = np.array([canon_col[hexa[h], p] for h in range(64) for p in range(2)], dtype=np.int64)
    gpar = np.array([p for _ in range(64) for p in range(2)], dtype=np.int64)
    canon_bits = ((canon[:, :, None] >> np.arange(4)) & 1).reshape(128, 24)
    gw = _message_index(canon_bits)
    colw = np.array([_message_index(np.repeat(np.arange(6) == j, 4)) for j in range(6)], dtype=np.int64)
    pats = np.arange(64)
    pop = np.array([bin(int(v)).count("1") % 2 for v in pats])
    eps = np.stack([pats[pop == 0], pats[pop == 1]]).astype(np.int64)
    octads = golay_code().octads()
    opos = np.sort(np.nonzero(octads)[1].reshape(-1, 8), axis=1).astype(np.int64)
    ocols = _column_masks(octads)
    omask = (octads.astype(np.int64) << np.arange(24)).sum(axis=1)
    order = np.argsort(omask)
    return {
        "canon": canon,
        "gpar": gpar,
        "gw": gw,
        "colw": colw,
        "eps": eps,
        "ocols": ocols,
        "opos": opos,
        "pairs": np.array(list(combinations(range(24), 2)), dtype=np.int64),
        "codewords": golay_code().codewords(),
        "omask_sorted": omask[order],
        "omask_octad": order.astype(np.int64),
    }


@lru_cache(maxsize=1)
def _e8_tables() -> dict[str, np.ndarray]:
    """The 240 doubled roots in lexicographic order, and the base-5 key → index table."""
    roots = []
    for i, j in combinations(range(8), 2):
        for si in (-2, 2):
            for sj in (-2, 2):
                v = np.zeros(8, dtype=np.int64)
                v[i], v[j] = si, sj
                roots.append(v)
    for m in range(256):
        signs = np.array([(m >> (7 - i)) & 1 for i in range(8)])
        if signs.sum() % 2 == 0:
            roots.append(1 - 2 * signs)
    roots = np.array(roots, dtype=np.int64)
    roots = roots[np.lexsort(roots.T[::-1])]
    keys = _e8_keys(roots)
    lut = np.full(5**8, -1, dtype=np.int64)
    lut[keys] = np.arange(240)
    return {"roots": roots, "keys": keys, "lut": lut}


def _e8_keys(v: np.ndarray) -> np.ndarray:
    """Base-5 key of doubled vectors with entries in [−2, 2]: increasing in lexicographic order."""
    return ((v.astype(np.int64) + 2) * 5 ** np.arange(7, -1, -1)).sum(axis=-1)


@lru_cache(maxsize=2)
def _float_vectors(lattice: str) -> np.ndarray:
    """All minimal vectors in integer units as float64 (for the exact fallback)."""
    ints = leech_minimal_vectors_integer() if lattice == "leech" else _e8_tables()["roots"]
    out = ints.astype(np.float64)
    out.setflags(write=False)
    return out


# --- exact resolution -----------------------------------------------------------------------
def _exact_integers(row: np.ndarray) -> list[int]:
    """The float64 row times a common power of two, as exact Python integers."""
    ratios = [float(v).as_integer_ratio() for v in row]
    den = max(d for _, d in ratios)
    return [n * (den // d) for n, d in ratios]


def _resolve_exactly(rows: np.ndarray, lattice: str) -> np.ndarray:
    """Exact smallest-index argmax of ``⟨x, v⟩`` for each row (float band, then integers)."""
    vecs = _float_vectors(lattice)
    ints = leech_minimal_vectors_integer() if lattice == "leech" else _e8_tables()["roots"]
    out = np.empty(rows.shape[0], dtype=np.int64)
    for r, row in enumerate(rows):
        _, e = np.frexp(np.max(np.abs(row)))
        y = np.ldexp(row, -int(e))  # max |y| in [1/2, 1); underflow only moves values by 2⁻¹⁰⁷⁴
        vals = vecs @ y
        # Float error of each value ≤ 24 · 2⁻⁵³ · 4 Σ|y|; the band is far wider.
        band = 2.0**-30 * (np.abs(y).sum() + 1.0)
        cand = np.flatnonzero(vals >= vals.max() - band)
        exact = ints[cand].astype(object) @ np.array(_exact_integers(row), dtype=object)
        top = max(exact)
        out[r] = cand[next(i for i, v in enumerate(exact) if v == top)]
    return out


# --- public API -----------------------------------------------------------------------------
def nearest_minimal_vector(
    x: object,
    lattice: str = "leech",
    return_vectors: bool = False,
    return_cosines: bool = False,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Index of the minimal vector with the largest inner product with each ``x`` (exact).

    Parameters
    ----------
    x : array_like
        Shape (..., 24) for Leech or (..., 8) for E8; float16/32/64 or integer, finite,
        in the standard scale (the direction is all that matters). ``x = 0`` gives index 0.
    lattice : {"leech", "e8"}
        Search the 196,560 Leech minimal vectors or the 240 E8 roots.
    return_vectors : bool
        Also return the minimal vectors themselves: float64 (..., dim), standard scale
        (norm 4 for Leech, 2 for E8).
    return_cosines : bool
        Also return the cosine of the angle between ``x`` and its minimal vector, float64
        (...); 0 where ``x = 0``.

    Returns
    -------
    numpy.ndarray or tuple
        int64 indices of shape (...) into ``minimal_vectors()`` order; the smallest index
        among exactly equal maximal inner products (module docstring). With ``return_vectors``
        or ``return_cosines``, the tuple ``(indices, vectors, cosines)`` restricted to what was
        asked for, in that order.

    Raises
    ------
    ValueError
        Wrong last dimension, NaN or infinite entries, unknown lattice.
    TypeError
        Non-real input.
    """
    lattice = _check_lattice(lattice)
    pts, batch = as_points(x, _DIM[lattice])
    idx = np.empty(pts.shape[0], dtype=np.int64)
    near = np.zeros(pts.shape[0], dtype=np.bool_)
    if pts.shape[0]:
        if lattice == "leech":
            t = _leech_tables()
            _k.leech_search(
                pts, t["canon"], t["gpar"], t["gw"], t["colw"], t["eps"], t["ocols"], t["opos"], idx, near
            )
        else:
            _k.e8_search(pts, _e8_tables()["lut"], idx, near)
        if near.any():
            idx[near] = _resolve_exactly(pts[near], lattice)
    return _results(pts, batch, idx, lattice, return_vectors, return_cosines)


def _results(
    pts: np.ndarray,
    batch: tuple[int, ...],
    idx: np.ndarray,
    lattice: str,
    return_vectors: bool,
    return_cosines: bool,
) -> np.ndarray | tuple[np.ndarray, ...]:
    indices = idx.reshape(batch)
    if not (return_vectors or return_cosines):
        return indices
    ints = _index_to_integer(idx, lattice)
    out: list[np.ndarray] = [indices]
    if return_vectors:
        out.append((ints * _SCALE[lattice]).reshape(batch + (_DIM[lattice],)))
    if return_cosines:
        amax = np.max(np.abs(pts), axis=1, keepdims=True) if pts.size else np.ones((0, 1))
        xs = pts / np.where(amax > 0, amax, 1.0)  # avoids overflow for huge entries
        norms = np.linalg.norm(xs, axis=1)
        dots = np.einsum("ij,ij->i", xs, ints.astype(np.float64))
        cos = np.where(norms > 0, dots / (np.where(norms > 0, norms, 1.0) * sqrt(_INT_NORM[lattice])), 0.0)
        out.append(np.clip(cos, -1.0, 1.0).reshape(batch))
    return tuple(out)


def nearest_minimal_vector_bruteforce(
    x: object,
    lattice: str = "leech",
    return_vectors: bool = False,
    return_cosines: bool = False,
    chunk_size: int = 256,
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Reference search: all inner products with the minimal vectors, in float64.

    Same interface as :func:`nearest_minimal_vector`; the product of ``chunk_size`` query rows
    with the (count × dim) matrix of minimal vectors (integer units) at a time, then
    ``argmax`` (the first index among float64-equal maxima). Not exact where float64 rounding
    separates or merges near-equal inner products.

    Parameters
    ----------
    x : array_like
        Shape (..., 24) or (..., 8).
    lattice : {"leech", "e8"}
        Which spherical code.
    return_vectors : bool
        Also return the vectors (standard scale).
    return_cosines : bool
        Also return the cosines.
    chunk_size : int
        Query rows per matrix product (memory: ``chunk_size × 196560`` float64 for Leech).
    """
    lattice = _check_lattice(lattice)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    pts, batch = as_points(x, _DIM[lattice])
    vecs = _float_vectors(lattice)
    idx = np.empty(pts.shape[0], dtype=np.int64)
    for start in range(0, pts.shape[0], chunk_size):
        idx[start : start + chunk_size] = np.argmax(pts[start : start + chunk_size] @ vecs.T, axis=1)
    return _results(pts, batch, idx, lattice, return_vectors, return_cosines)


def _as_indices(i: object, lattice: str) -> tuple[np.ndarray, tuple[int, ...]]:
    arr = np.asarray(i)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"indices must be integers, got dtype {arr.dtype}")
    flat = arr.reshape(-1).astype(np.int64)
    bad = (flat < 0) | (flat >= _COUNT[lattice])
    if bad.any():
        raise ValueError(f"index {flat[bad][0]} is out of range [0, {_COUNT[lattice]}) for {lattice}")
    return flat, arr.shape


def _index_to_integer(idx: np.ndarray, lattice: str) -> np.ndarray:
    """(n,) valid indices → (n, dim) int64 vectors in integer units (closed form for Leech)."""
    if lattice == "e8":
        return _e8_tables()["roots"][idx]
    t = _leech_tables()
    out = np.zeros((idx.shape[0], 24), dtype=np.int64)
    # (±4², 0²²): index 4·pair + 2·[xᵢ<0] + [xⱼ<0]
    r = np.flatnonzero(idx < SHAPE_OFFSETS[1])
    pair = t["pairs"][idx[r] // 4]
    out[r, pair[:, 0]] = 4 - 8 * ((idx[r] >> 1) & 1)
    out[r, pair[:, 1]] = 4 - 8 * (idx[r] & 1)
    # (±2⁸, 0¹⁶): index 1104 + 128·octad + k, minus signs from the bits of k, even parity
    r = np.flatnonzero((idx >= SHAPE_OFFSETS[1]) & (idx < SHAPE_OFFSETS[2]))
    o, k = np.divmod(idx[r] - SHAPE_OFFSETS[1], 128)
    minus = (k[:, None] >> np.arange(6, -1, -1)) & 1
    minus = np.concatenate([minus, minus.sum(axis=1, keepdims=True) % 2], axis=1)
    out[r[:, None], t["opos"][o]] = 2 - 4 * minus
    # (∓3, ±1²³): index 98256 + 24·w + k, signs (−1)^c, entry k is −3·(−1)^{c_k}
    r = np.flatnonzero(idx >= SHAPE_OFFSETS[2])
    w, k = np.divmod(idx[r] - SHAPE_OFFSETS[2], 24)
    signs = 1 - 2 * t["codewords"][w].astype(np.int64)
    signs[np.arange(r.size), k] *= -3
    out[r] = signs
    return out


def index_to_vector(i: object, lattice: str = "leech", integer: bool = False) -> np.ndarray:
    """The minimal vector with index ``i`` in the order of ``minimal_vectors()``.

    Leech: computed from the index formulas of :mod:`leechkit.lattice.lattices.leech` (a pair
    table, the octad positions and the Golay codeword of the index), not by listing the
    vectors; E8: row ``i`` of the 240 roots in lexicographic order of doubled coordinates.

    Parameters
    ----------
    i : array_like of int
        Indices of any shape, in [0, 196560) (Leech) or [0, 240) (E8).
    lattice : {"leech", "e8"}
        Which spherical code.
    integer : bool
        If True return int64 vectors in integer units (√8 units for Leech, doubled
        coordinates for E8); otherwise float64 vectors in the standard scale.

    Returns
    -------
    numpy.ndarray
        Shape ``i.shape + (dim,)``.

    Raises
    ------
    TypeError
        Non-integer indices.
    ValueError
        An index out of range.
    """
    lattice = _check_lattice(lattice)
    flat, shape = _as_indices(i, lattice)
    ints = _index_to_integer(flat, lattice).reshape(shape + (_DIM[lattice],))
    return ints if integer else ints * _SCALE[lattice]


def _leech_vector_to_index(v: np.ndarray) -> np.ndarray:
    t = _leech_tables()
    n = v.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    absv = np.abs(v)
    nonzero = (v != 0).sum(axis=1)
    norm_ok = (v * v).sum(axis=1) == 32
    neg = v < 0
    # (±4², 0²²)
    r = np.flatnonzero(norm_ok & (nonzero == 2) & (absv.max(axis=1) == 4))
    if r.size:
        pos = np.sort(np.nonzero(v[r])[1].reshape(-1, 2), axis=1)
        i, j = pos[:, 0], pos[:, 1]
        pair = 23 * i - i * (i - 1) // 2 + j - i - 1
        out[r] = 4 * pair + 2 * neg[r, i] + neg[r, j]
    # (±2⁸, 0¹⁶) on an octad, even number of minus signs
    r = np.flatnonzero(norm_ok & (nonzero == 8) & (absv.max(axis=1) == 2) & (neg.sum(axis=1) % 2 == 0))
    if r.size:
        mask = ((v[r] != 0).astype(np.int64) << np.arange(24)).sum(axis=1)
        at = np.minimum(np.searchsorted(t["omask_sorted"], mask), 758)
        is_octad = t["omask_sorted"][at] == mask
        r, at = r[is_octad], at[is_octad]
        o = t["omask_octad"][at]
        minus = neg[r[:, None], t["opos"][o][:, :7]].astype(np.int64)
        out[r] = SHAPE_OFFSETS[1] + 128 * o + (minus << np.arange(6, -1, -1)).sum(axis=1)
    # (∓3, ±1²³): c_i = [v_i < 0] off the 3, c_k = [v_k > 0] at it; c must be a codeword
    odd = norm_ok & (nonzero == 24) & (absv.max(axis=1) == 3) & ((absv == 3).sum(axis=1) == 1)
    r = np.flatnonzero(odd)
    if r.size:
        k = np.argmax(absv[r], axis=1)
        c = neg[r].astype(np.uint8)
        c[np.arange(r.size), k] ^= 1
        w = _message_index(c)
        ok = (t["codewords"][w] == c).all(axis=1)
        out[r[ok]] = SHAPE_OFFSETS[2] + 24 * w[ok] + k[ok]
    return out


def _leech_problem(v: np.ndarray) -> str:
    """Why the √8-unit vector ``v`` is not a Leech minimal vector (for the error message)."""
    norm = int((v * v).sum())
    if norm != 32:
        return f"its norm is {norm / 8:g}, not 4"
    nonzero = int((v != 0).sum())
    values = sorted({int(a) for a in np.abs(v[v != 0])})
    if nonzero == 8 and values == [2]:
        if int((v < 0).sum()) % 2:
            return "it has shape (±2⁸, 0¹⁶) but an odd number of minus signs"
        return "it has shape (±2⁸, 0¹⁶) but its support is not an octad"
    if nonzero == 24 and values == [1, 3] and int((np.abs(v) == 3).sum()) == 1:
        return "it has shape (∓3, ±1²³) but its signs do not follow a Golay codeword"
    return "it is not of shape (±4², 0²²), (±2⁸, 0¹⁶) or (∓3, ±1²³)"


def _e8_problem(v: np.ndarray) -> str:
    """Why the doubled vector ``v`` is not an E8 root (for the error message)."""
    norm = int((v * v).sum())
    if norm != 8:
        return f"its norm is {norm / 4:g}, not 2"
    return "it is not of shape (±1², 0⁶) or (±½⁸) with an even number of minus signs"


def vector_to_index(v: object, lattice: str = "leech", integer: bool = False) -> np.ndarray:
    """Index of each minimal vector in the order of ``minimal_vectors()`` (inverse of
    :func:`index_to_vector`).

    Leech: the shape is read off the entries; a (±4², 0²²) vector gives its pair index, a
    (±2⁸, 0¹⁶) vector its octad (binary search over the 759 octad masks) and sign bits, a
    (∓3, ±1²³) vector its Golay codeword, whose index is the codeword's bits at the
    information set. E8: binary search over the 240 roots' base-5 keys.

    Parameters
    ----------
    v : array_like
        Shape (..., 24) or (..., 8). With ``integer=False`` float vectors in the standard scale
        (norm 4 / 2), accepted when within 10⁻⁶ (in integer units) of a minimal vector; with
        ``integer=True`` integer-valued vectors in integer units (√8 units for Leech, doubled
        coordinates for E8).
    lattice : {"leech", "e8"}
        Which spherical code.
    integer : bool
        How to read ``v`` (see above).

    Returns
    -------
    numpy.ndarray
        int64 indices of shape (...).

    Raises
    ------
    ValueError
        A vector that is not a minimal vector (the message names the first one and why), a
        wrong last dimension or non-finite entries.
    TypeError
        Non-real input.
    """
    lattice = _check_lattice(lattice)
    pts, batch = as_points(v, _DIM[lattice], "v")
    scaled = pts if integer else pts / _SCALE[lattice]
    ints = np.round(scaled)
    off = np.abs(scaled - ints) > (0.0 if integer else _FLOAT_ATOL)
    if off.any():
        row = int(np.flatnonzero(off.any(axis=1))[0])
        what = "an integer vector" if integer else f"within {_FLOAT_ATOL:g} of a vector of the lattice"
        raise ValueError(f"v[{row}] is not {what} (integer units: {scaled[row].tolist()})")
    ints = ints.astype(np.int64)
    if lattice == "leech":
        out = _leech_vector_to_index(ints)
    else:
        t = _e8_tables()
        inside = (np.abs(ints) <= 2).all(axis=1)
        keys = np.where(inside, _e8_keys(np.clip(ints, -2, 2)), -1)
        at = np.minimum(np.searchsorted(t["keys"], keys), 239)
        out = np.where(inside & (t["keys"][at] == keys), at, -1)
    bad = np.flatnonzero(out < 0)
    if bad.size:
        row = int(bad[0])
        why = _leech_problem(ints[row]) if lattice == "leech" else _e8_problem(ints[row])
        raise ValueError(
            f"v[{row}] = {ints[row].tolist()} (integer units) is not a minimal vector of {lattice}: {why}"
        )
    return out.reshape(batch)
