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


class CheckerboardLattice(Lattice):
    """Dₙ (see :func:`dn`)."""


class E8Lattice(Lattice):
    """E8 in the coordinates D8 ∪ (D8 + ½) (see :func:`e8`)."""


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
