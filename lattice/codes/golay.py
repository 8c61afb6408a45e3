"""The extended binary Golay code 𝒞₂₄, a [24, 12, 8] self-dual code, in MOG coordinates.

Coordinates
-----------
The 24 coordinates are the cells of the 4 × 6 array of Curtis' Miracle Octad Generator
(MOG). Coordinate ``i`` is the cell in row ``i % 4`` and column ``i // 4``: the array is read
column by column, so coordinates ``4j .. 4j+3`` form column ``j`` (a *tetrad*), and columns
``2k, 2k+1`` form the ``k``-th *couple*.

Construction (SPLAG ch. 11 §2, Theorem 1)
-----------------------------------------
Give the rows of the array the GF(4) weights 0, 1, ω, ω̄. The *score* of a column
``(v₀, v₁, v₂, v₃)`` is ``v₁·1 + v₂·ω + v₃·ω̄ ∈ GF(4)``. A binary 4 × 6 array is a Golay
codeword if and only if

1. the parity of every column equals the parity of the top row, and
2. the six column scores form a word of the hexacode (see :mod:`.hexacode`).

The generator matrix is the reduced row-echelon form of the code, so the message bits of
a codeword sit at the pivot coordinates :attr:`GolayCode.information_set`.

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups* (SPLAG),
3rd ed., Springer 1999, ch. 3 §2.8 and ch. 11 §§2–3.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np

from .hexacode import hexacode

__all__ = ["GolayCode", "GolayDecoding", "column_score", "golay_code"]

_N = 24
_K = 12
# Row weights 0, 1, ω, ω̄ of the MOG, in the GF(4) integer encoding of `hexacode`.
_ROW_WEIGHTS = np.array([0, 1, 2, 3], dtype=np.uint8)


def column_score(columns: np.ndarray) -> np.ndarray:
    """GF(4) score of binary MOG columns.

    Parameters
    ----------
    columns : numpy.ndarray
        Binary array of shape (..., 4): the bits of a column from the top row down.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape (...), entries in {0, 1, 2, 3}: ``Σ_r v_r · w_r`` with row weights
        ``w = (0, 1, ω, ω̄)``; GF(4) addition is XOR.
    """
    cols = np.asarray(columns, dtype=np.uint8)
    out = np.zeros(cols.shape[:-1], dtype=np.uint8)
    for r in range(4):
        out ^= cols[..., r] * _ROW_WEIGHTS[r]
    return out


def _all_codewords_from_mog() -> np.ndarray:
    """Enumerate the 4096 codewords from the MOG/hexacode description (SPLAG 11 §2)."""
    cols = np.array([[(v >> r) & 1 for r in range(4)] for v in range(16)], dtype=np.uint8)
    scores = column_score(cols)
    parities = cols.sum(axis=1) % 2
    words = []
    for h in hexacode():
        for parity in (0, 1):
            choices = [np.flatnonzero((scores == h[j]) & (parities == parity)) for j in range(6)]
            for pick in np.array(np.meshgrid(*choices, indexing="ij")).reshape(6, -1).T:
                arr = cols[pick]  # (6 columns, 4 rows)
                if arr[:, 0].sum() % 2 == parity:
                    words.append(arr.reshape(-1))
    out = np.array(words, dtype=np.uint8)
    return out[np.lexsort(out.T[::-1])]


def _rref_gf2(rows: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Reduced row-echelon form over GF(2), dropping zero rows; returns (matrix, pivots)."""
    m = rows.copy() % 2
    pivots: list[int] = []
    r = 0
    for col in range(m.shape[1]):
        nz = np.flatnonzero(m[r:, col]) + r
        if nz.size == 0:
            continue
        m[[r, nz[0]]] = m[[nz[0], r]]
        others = np.flatnonzero(m[:, col])
        others = others[others != r]
        m[others] ^= m[r]
        pivots.append(col)
        r += 1
        if r == m.shape[0]:
            break
    return m[:r], pivots


@dataclass(frozen=True)
class GolayDecoding:
    """Result of hard-decision Golay decoding.

    Attributes
    ----------
    codewords : numpy.ndarray
        (..., 24) uint8. The corrected codeword where ``ok``; the received word unchanged
        where not ``ok``.
    messages : numpy.ndarray
        (..., 12) uint8, the message bits of ``codewords`` (meaningful where ``ok``).
    n_errors : numpy.ndarray
        (...) int8: number of bits corrected (0–3), or −1 where an error pattern of
        weight 4 was detected and not corrected.
    ok : numpy.ndarray
        (...) bool: True where decoding succeeded.
    """

    codewords: np.ndarray
    messages: np.ndarray
    n_errors: np.ndarray
    ok: np.ndarray


def _as_bits(words: np.ndarray | list, length: int, what: str) -> np.ndarray:
    arr = np.asarray(words)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{what} must be an integer or boolean array of bits, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] != length:
        raise ValueError(f"{what} must have last dimension {length}, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{what} must contain only 0 and 1")
    return arr.astype(np.uint8)


class GolayCode:
    """The extended binary Golay code [24, 12, 8] in MOG coordinates.

    Use :func:`golay_code` to get the (cached) instance. See the module docstring for the
    coordinate system and the construction.
    """

    n = _N
    k = _K
    d = 8

    def __init__(self) -> None:
        words = _all_codewords_from_mog()
        gen, pivots = _rref_gf2(words)
        if gen.shape != (_K, _N):
            raise AssertionError("the MOG construction did not give a 12-dimensional code")
        gen.setflags(write=False)
        self._generator = gen
        self._pivots = np.array(pivots, dtype=np.intp)
        self._weights = 1 << np.arange(_N - 1, -1, -1, dtype=np.int64)
        self._syndrome_weights = 1 << np.arange(_K - 1, -1, -1, dtype=np.int64)
        self._leaders = self._coset_leader_table()

    @property
    def generator(self) -> np.ndarray:
        """(12, 24) uint8 generator matrix in reduced row-echelon form (read-only)."""
        return self._generator

    @property
    def parity_check(self) -> np.ndarray:
        """(12, 24) uint8 parity-check matrix; the code is self-dual, so it is the generator."""
        return self._generator

    @property
    def information_set(self) -> np.ndarray:
        """The 12 pivot coordinates of :attr:`generator`: a codeword's message bits."""
        return self._pivots

    def encode(self, messages: np.ndarray) -> np.ndarray:
        """Encode message bits: (..., 12) → (..., 24), ``c = m G (mod 2)``."""
        m = _as_bits(messages, _K, "messages")
        return ((m.astype(np.int64) @ self._generator.astype(np.int64)) % 2).astype(np.uint8)

    def codewords(self) -> np.ndarray:
        """All 4096 codewords, (4096, 24) uint8.

        Row ``i`` encodes the message whose bits are the binary digits of ``i``, most
        significant first: message bit ``j`` is ``(i >> (11 - j)) & 1``.
        """
        i = np.arange(1 << _K)
        msgs = (i[:, None] >> np.arange(_K - 1, -1, -1)[None, :]) & 1
        return self.encode(msgs)

    def octads(self) -> np.ndarray:
        """The 759 weight-8 codewords (octads), (759, 24) uint8, in :meth:`codewords` order."""
        words = self.codewords()
        return words[words.sum(axis=1) == 8]

    def weight_enumerator(self) -> dict[int, int]:
        """Number of codewords of each weight: ``{0: 1, 8: 759, 12: 2576, 16: 759, 24: 1}``."""
        weights, counts = np.unique(self.codewords().sum(axis=1), return_counts=True)
        return {int(w): int(c) for w, c in zip(weights, counts)}

    def syndrome(self, words: np.ndarray) -> np.ndarray:
        """Syndromes ``H wᵀ (mod 2)``: (..., 24) → (..., 12) uint8."""
        w = _as_bits(words, _N, "words")
        return ((w.astype(np.int64) @ self._generator.T.astype(np.int64)) % 2).astype(np.uint8)

    def contains(self, words: np.ndarray) -> np.ndarray:
        """Boolean array (...): whether each (..., 24) word is a codeword."""
        return ~self.syndrome(words).any(axis=-1)

    def _coset_leader_table(self) -> np.ndarray:
        """Syndrome (as a 12-bit integer) → error pattern of weight ≤ 3 (24-bit integer) or −1.

        The 1 + 24 + 276 + 2024 = 2325 patterns of weight ≤ 3 have distinct syndromes because
        d = 8; the remaining 1771 syndromes belong to cosets whose leaders have weight 4
        (each such coset holds six of them, a sextet), which are detected, not corrected.
        """
        table = np.full(1 << _K, -1, dtype=np.int64)
        gen_cols = self._generator.T.astype(np.int64) @ self._syndrome_weights  # syndrome of e_i
        for weight in range(4):
            for support in combinations(range(_N), weight):
                s = 0
                pattern = 0
                for i in support:
                    s ^= int(gen_cols[i])
                    pattern |= 1 << (_N - 1 - i)
                if table[s] != -1:
                    raise AssertionError("two error patterns of weight ≤ 3 share a syndrome")
                table[s] = pattern
        return table

    def decode(self, words: np.ndarray) -> GolayDecoding:
        """Hard-decision decoding by syndrome table.

        Corrects every error pattern of weight ≤ 3. A received word at distance 4 from the
        code (its coset leader has weight 4) is *detected*: ``ok`` is False, ``n_errors`` is −1
        and the word is returned unchanged. Since the covering radius of the code is 4, no
        word is silently mis-corrected beyond what the minimum distance forces: every word
        is either within distance 3 of a unique codeword or at distance exactly 4 from six.

        Parameters
        ----------
        words : numpy.ndarray
            (..., 24) array of bits.

        Returns
        -------
        GolayDecoding
        """
        w = _as_bits(words, _N, "words")
        synd = self.syndrome(w).astype(np.int64) @ self._syndrome_weights
        patterns = self._leaders[synd]
        ok = patterns >= 0
        bit_shifts = np.arange(_N - 1, -1, -1, dtype=np.int64)
        errors = ((np.where(ok, patterns, 0)[..., None] >> bit_shifts) & 1).astype(np.uint8)
        codewords = w ^ errors
        n_errors = np.where(ok, errors.sum(axis=-1), -1).astype(np.int8)
        messages = codewords[..., self._pivots]
        return GolayDecoding(codewords=codewords, messages=messages, n_errors=n_errors, ok=ok)


@lru_cache(maxsize=1)
def golay_code() -> GolayCode:
    """The extended binary Golay code in MOG coordinates (cached singleton)."""
    return GolayCode()
