"""The Leech lattice Λ₂₄ built from the Golay code, in the standard scale (SPLAG ch. 4 §11).

Scale and congruences
---------------------
A vector of Λ₂₄ is ``x / √8`` where ``x ∈ Z²⁴`` satisfies, for some ``m ∈ {0, 1}`` and some
Golay codeword ``c`` (MOG coordinates, :mod:`leechkit.lattice.codes.golay`),

    x ≡ m·1 + 2c  (mod 4),     Σ xᵢ ≡ 4m  (mod 8).

So ``integer_generator`` is integral in these "√8 units" and ``scale = 1/√8``. The lattice
is even and unimodular with minimal norm 4 (32 in √8 units) and no roots.

Minimal vectors and their order
-------------------------------
The 196,560 minimal vectors have three shapes; :meth:`LeechLattice.minimal_vectors` lists
them in this fixed order (√8 units):

1. indices ``[0, 1104)``: ``(±4², 0²²)``; the position pairs ``i < j`` in lexicographic
   order, and for each pair the signs ``(+,+), (+,−), (−,+), (−,−)``: index
   ``4·pair + 2·[xᵢ<0] + [xⱼ<0]``.
2. indices ``[1104, 98256)``: ``(±2⁸, 0¹⁶)`` on the 759 octads (in
   :meth:`GolayCode.octads` order) with an even number of minus signs; for octad ``o`` and
   ``k ∈ [0, 128)``, the minus signs sit on the octad's first seven positions (ascending)
   where bit ``6 − p`` of ``k`` is set, the eighth sign completing even parity: index
   ``1104 + 128·o + k``.
3. indices ``[98256, 196560)``: ``(∓3, ±1²³)``: for Golay codeword ``c`` (index ``w`` in
   :meth:`GolayCode.codewords` order) and position ``k``, entries ``(−1)^{c_i}`` except
   ``x_k = −3·(−1)^{c_k}``: index ``98256 + 24·w + k``.

References
----------
J. H. Conway and N. J. A. Sloane, SPLAG, ch. 4 §11 (the Leech lattice) and ch. 11.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np
import sympy

from ..codes.golay import golay_code
from ._reduction import hermite_normal_form
from .base import Lattice

__all__ = ["SHAPE_OFFSETS", "LeechLattice", "leech", "leech_minimal_vectors_integer"]

N_SHAPE_4 = 1104
N_SHAPE_2 = 97152
N_SHAPE_3 = 98304
#: Start index of each shape block in the minimal-vector order: (±4²), (±2⁸), (∓3, ±1²³).
SHAPE_OFFSETS = (0, N_SHAPE_4, N_SHAPE_4 + N_SHAPE_2)


def _shape_4() -> np.ndarray:
    pairs = np.array(list(combinations(range(24), 2)), dtype=np.intp)
    signs = np.array([(1, 1), (1, -1), (-1, 1), (-1, -1)], dtype=np.int8) * 4
    out = np.zeros((pairs.shape[0], 4, 24), dtype=np.int8)
    rows = np.arange(pairs.shape[0])[:, None]
    for s in range(4):
        out[rows[:, 0], s, pairs[:, 0]] = signs[s, 0]
        out[rows[:, 0], s, pairs[:, 1]] = signs[s, 1]
    return out.reshape(-1, 24)


def _shape_2(octads: np.ndarray) -> np.ndarray:
    positions = np.sort(np.nonzero(octads)[1].reshape(-1, 8), axis=1)  # (759, 8)
    k = np.arange(128)
    minus = ((k[:, None] >> np.arange(6, -1, -1)[None, :]) & 1).astype(np.int8)  # (128, 7)
    minus = np.concatenate([minus, (minus.sum(axis=1, keepdims=True) % 2)], axis=1)  # even parity
    signs = (2 - 4 * minus).astype(np.int8)  # +2 or −2
    out = np.zeros((octads.shape[0], 128, 24), dtype=np.int8)
    o = np.arange(octads.shape[0])[:, None, None]
    out[o, k[None, :, None], positions[:, None, :]] = signs[None, :, :]
    return out.reshape(-1, 24)


def _shape_3(codewords: np.ndarray) -> np.ndarray:
    base = (1 - 2 * codewords.astype(np.int8))  # (4096, 24): (−1)^{c_i}
    out = np.repeat(base[:, None, :], 24, axis=1)  # (4096, 24 positions, 24)
    k = np.arange(24)
    out[:, k, k] = -3 * base[:, k]
    return out.reshape(-1, 24)


@lru_cache(maxsize=1)
def leech_minimal_vectors_integer() -> np.ndarray:
    """The 196,560 minimal vectors in √8 units, (196560, 24) int8, read-only (see module doc)."""
    code = golay_code()
    out = np.concatenate([_shape_4(), _shape_2(code.octads()), _shape_3(code.codewords())])
    out.setflags(write=False)
    return out


class LeechLattice(Lattice):
    """The Leech lattice in the standard scale (see :func:`leech` and the module docstring)."""

    def decode(self, x: object, return_coords: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Nearest points by the fast exact Leech decoder (:func:`leechkit.lattice.decoders.decode_leech`).

        Same contract as :meth:`Lattice.decode`; the points are ``decode_leech_integer(x) / √8``
        and the coordinates are solved exactly from those integer vectors.
        """
        # Imported here: the Leech decoder imports this module.
        from ..decoders._coordinates import basis_coordinates
        from ..decoders.leech import decode_leech, decode_leech_integer

        if not return_coords:
            return decode_leech(x)
        ints = decode_leech_integer(x)
        return ints / np.sqrt(8.0), basis_coordinates(self._b, ints)

    def nearest_minimal_vector(
        self, x: object, return_vectors: bool = False, return_cosines: bool = False
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        """Index of the minimal vector of largest inner product with ``x``, by structured search.

        See :func:`leechkit.lattice.quantizers.nearest_minimal_vector` (exact; ties go to the
        smallest index in the order of :meth:`minimal_vectors`).

        Parameters
        ----------
        x : array_like
            Shape (..., 24), finite real values.
        return_vectors : bool
            Also return the minimal vectors (float64, standard scale).
        return_cosines : bool
            Also return the cosines of the angles to ``x``.

        Returns
        -------
        numpy.ndarray or tuple
            int64 indices of shape (...), with the vectors and cosines when asked for.
        """
        # Imported here: the quantizers import this module.
        from ..quantizers.spherical import nearest_minimal_vector

        return nearest_minimal_vector(x, "leech", return_vectors, return_cosines)

    def random_automorphism(self, rng: object = None) -> np.ndarray:
        """A random automorphism of Λ₂₄: a uniform element of the monomial subgroup 2¹²:M₂₄ of Co₀.

        See :func:`leechkit.lattice.lattices.automorphisms.random_leech_automorphism`: a
        Golay-code preserving permutation from M₂₄ followed by the sign change on a Golay
        codeword (SPLAG ch. 10 §3.3).

        Parameters
        ----------
        rng : None, int or numpy.random.Generator
            Source of randomness (an int is a seed).

        Returns
        -------
        numpy.ndarray
            (24, 24) int64 signed permutation matrix ``M`` with ``M Λ₂₄ = Λ₂₄`` (act on rows
            with ``X @ M.T``); it permutes the 196,560 minimal vectors.
        """
        from .automorphisms import random_leech_automorphism

        return random_leech_automorphism(rng)

    def minimal_vectors(self, integer: bool = False) -> np.ndarray:
        """The 196,560 minimal vectors in the fixed order of the module docstring.

        Parameters
        ----------
        integer : bool
            If True, return the √8-scaled int8 vectors (norm 32); otherwise float64 vectors
            of norm 4.
        """
        vecs = leech_minimal_vectors_integer()
        return vecs.copy() if integer else vecs.astype(np.float64) * self.scale


@lru_cache(maxsize=1)
def leech() -> LeechLattice:
    """The Leech lattice Λ₂₄ from the Golay code, standard scale (minimal norm 4).

    ``integer_generator`` is the Hermite normal form of the generating set
    ``{4(eᵢ − eᵢ₊₁)} ∪ {8 e₂₃} ∪ {2c : c a row of the Golay generator} ∪ {(−3, 1²³)}``
    (√8 units), ``scale = 1/√8``.
    """
    eye = np.eye(24, dtype=np.int64)
    gens = [4 * (eye[i] - eye[i + 1]) for i in range(23)] + [8 * eye[23]]
    gens += [2 * row.astype(np.int64) for row in golay_code().generator]
    odd = np.ones(24, dtype=np.int64)
    odd[0] = -3
    gens.append(odd)
    return LeechLattice(hermite_normal_form(np.array(gens)), 1 / sympy.sqrt(8), name="Leech")
