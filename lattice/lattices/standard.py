"""The classical root lattices Zⁿ, Dₙ and E8 in their standard coordinates (SPLAG ch. 4).

* ``zn(n)``: the integer lattice Zⁿ, minimal norm 1.
* ``dn(n)``: the checkerboard lattice Dₙ = {x ∈ Zⁿ : Σ xᵢ even}, minimal norm 2 (n ≥ 2).
* ``e8()``: E8 = D8 ∪ (D8 + ½·1), minimal norm 2, the 240 roots (±1², 0⁶) and (±½⁸) with an
  even number of minus signs. Stored with ``integer_generator`` in doubled coordinates and
  ``scale = 1/2``.

Each basis is the Hermite normal form of an obvious generating set, so the stored matrix is
canonical and easy to check by hand.

References
----------
J. H. Conway and N. J. A. Sloane, SPLAG, ch. 4 §§6–8 (Zⁿ, Dₙ, E8).
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
import sympy

from ._reduction import hermite_normal_form
from .base import Lattice

__all__ = ["CheckerboardLattice", "E8Lattice", "IntegerLattice", "dn", "e8", "zn"]


def _check_dimension(n: object, smallest: int, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name}: the dimension must be an integer, got {n!r}")
    if n < smallest:
        raise ValueError(f"{name}: the dimension must be at least {smallest}, got {n}")
    return int(n)


class IntegerLattice(Lattice):
    """Zⁿ (see :func:`zn`)."""

    def decode(self, x: object, return_coords: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Nearest points by rounding every coordinate (:func:`leechkit.lattice.decoders.decode_zn`).

        Same contract as :meth:`Lattice.decode`; the tie rule is documented in
        :mod:`leechkit.lattice.decoders.zn`.
        """
        # Imported here: the decoders package may import lattice modules (Leech) itself.
        from ..decoders._coordinates import with_coordinates
        from ..decoders.zn import decode_zn

        return with_coordinates(decode_zn(x, self.dim), self._b, self.scale, return_coords)


class CheckerboardLattice(Lattice):
    """Dₙ (see :func:`dn`)."""

    def decode(self, x: object, return_coords: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Nearest points by Conway–Sloane's Dₙ rule (:func:`leechkit.lattice.decoders.decode_dn`).

        Same contract as :meth:`Lattice.decode`; the tie rule is documented in
        :mod:`leechkit.lattice.decoders.dn`.
        """
        # Imported here: the decoders package may import lattice modules (Leech) itself.
        from ..decoders._coordinates import with_coordinates
        from ..decoders.dn import decode_dn

        return with_coordinates(decode_dn(x, self.dim), self._b, self.scale, return_coords)


class E8Lattice(Lattice):
    """E8 in the coordinates D8 ∪ (D8 + ½) (see :func:`e8`)."""

    def decode(self, x: object, return_coords: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Nearest points by Conway–Sloane's E8 decoder (:func:`leechkit.lattice.decoders.decode_e8`).

        Same contract as :meth:`Lattice.decode`; the tie rule is documented in
        :mod:`leechkit.lattice.decoders.e8`.
        """
        # Imported here: the decoders package may import lattice modules (Leech) itself.
        from ..decoders._coordinates import with_coordinates
        from ..decoders.e8 import decode_e8

        return with_coordinates(decode_e8(x), self._b, self.scale, return_coords)

    def nearest_minimal_vector(
        self, x: object, return_vectors: bool = False, return_cosines: bool = False
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        """Index of the minimal vector of largest inner product with ``x``, by structured search.

        See :func:`leechkit.lattice.quantizers.nearest_minimal_vector` (exact; ties go to the
        smallest index in the order of :meth:`minimal_vectors`).

        Parameters
        ----------
        x : array_like
            Shape (..., 8), finite real values.
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

        return nearest_minimal_vector(x, "e8", return_vectors, return_cosines)

    def random_automorphism(self, rng: object = None) -> np.ndarray:
        """A random automorphism of E8: a uniform element of W(D₈) = 2⁷:S₈ ⊂ W(E8).

        See :func:`leechkit.lattice.lattices.automorphisms.random_e8_automorphism`: a
        coordinate permutation with an even number of sign changes.

        Parameters
        ----------
        rng : None, int or numpy.random.Generator
            Source of randomness (an int is a seed).

        Returns
        -------
        numpy.ndarray
            (8, 8) int64 signed permutation matrix ``M`` with ``M E8 = E8`` (act on rows with
            ``X @ M.T``); it permutes the 240 roots.
        """
        from .automorphisms import random_e8_automorphism

        return random_e8_automorphism(rng)


@cache
def zn(n: int) -> IntegerLattice:
    """The integer lattice Zⁿ, generator the identity matrix."""
    n = _check_dimension(n, 1, "zn")
    return IntegerLattice(np.eye(n, dtype=np.int64), name=f"Z{n}")


@cache
def dn(n: int) -> CheckerboardLattice:
    """The checkerboard lattice Dₙ = {x ∈ Zⁿ : Σ xᵢ ≡ 0 (mod 2)}, n ≥ 2.

    The basis is the Hermite normal form of ``{eᵢ − eᵢ₊₁} ∪ {2 e_{n−1}}``.
    """
    n = _check_dimension(n, 2, "dn")
    gens = [np.eye(n, dtype=np.int64)[i] - np.eye(n, dtype=np.int64)[i + 1] for i in range(n - 1)]
    gens.append(2 * np.eye(n, dtype=np.int64)[n - 1])
    return CheckerboardLattice(hermite_normal_form(np.array(gens)), name=f"D{n}")


@lru_cache(maxsize=1)
def e8() -> E8Lattice:
    """E8 = D8 ∪ (D8 + ½·1) in the standard coordinates (SPLAG ch. 4 §8.1).

    ``integer_generator`` holds doubled coordinates (the Hermite normal form of
    ``{2(eᵢ − eᵢ₊₁)} ∪ {4 e₇} ∪ {1⁸}``) and ``scale = 1/2``. Even, unimodular, minimal
    norm 2; its 240 minimal vectors are the roots.
    """
    eye = np.eye(8, dtype=np.int64)
    gens = [2 * (eye[i] - eye[i + 1]) for i in range(7)] + [4 * eye[7], np.ones(8, dtype=np.int64)]
    return E8Lattice(hermite_normal_form(np.array(gens)), sympy.Rational(1, 2), name="E8")
