"""Property-testing helpers for code that works with lattices (requires ``hypothesis``).

Strategies
----------
* :func:`lattice_points` — points of a lattice (integer combinations of the basis);
* :func:`points_near` — lattice points plus a bounded perturbation, or anywhere in a box;
* :func:`golay_words` — Golay codewords with up to a given number of flipped bits.

Exact comparison
----------------
:func:`compare_squared_distances` decides, exactly, which of two lattice points is nearer to
a float point, even when the scale is irrational (Leech: 1/√8). It works in rational
arithmetic throughout (see :mod:`leechkit.lattice.lattices._exact`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .codes.golay import golay_code
from .lattices._exact import distance_difference_sign
from .lattices.base import Lattice

__all__ = ["compare_squared_distances", "golay_words", "lattice_points", "points_near"]


def lattice_points(
    lattice: Lattice, max_coefficient: int = 8, integer: bool = False
) -> st.SearchStrategy[np.ndarray]:
    """Strategy for lattice points ``u · generator`` with ``|uᵢ| ≤ max_coefficient``.

    With ``integer=True`` the points are the integer vectors ``u · integer_generator``.
    """
    coeffs = hnp.arrays(
        np.int64, lattice.rank, elements=st.integers(-max_coefficient, max_coefficient)
    )
    if integer:
        return coeffs.map(lambda u: u @ lattice.integer_generator)
    return coeffs.map(lambda u: (u @ lattice.integer_generator) * lattice.scale)


def points_near(
    lattice: Lattice, radius: float = 1.0, max_coefficient: int = 8
) -> st.SearchStrategy[np.ndarray]:
    """Strategy for float64 points within ``radius`` (per coordinate) of a lattice point."""
    offsets = hnp.arrays(
        np.float64,
        lattice.dim,
        elements=st.floats(-radius, radius, allow_nan=False, allow_infinity=False),
    )
    return st.tuples(lattice_points(lattice, max_coefficient), offsets).map(lambda t: t[0] + t[1])


def golay_words(max_errors: int = 0) -> st.SearchStrategy[np.ndarray]:
    """Strategy for (24,) uint8 words: a random codeword with up to ``max_errors`` bits flipped."""
    if not 0 <= max_errors <= 24:
        raise ValueError(f"max_errors must be in [0, 24], got {max_errors}")
    words = golay_code().codewords()

    def build(args: tuple[int, list[int]]) -> np.ndarray:
        index, flips = args
        w = words[index].copy()
        w[flips] ^= 1
        return w

    flips = st.lists(st.integers(0, 23), max_size=max_errors, unique=True)
    return st.tuples(st.integers(0, 4095), flips).map(build)


def compare_squared_distances(lattice: Lattice, x: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Exact sign of ``‖x − s·p‖² − ‖x − s·q‖²`` for each row.

    Parameters
    ----------
    lattice : Lattice
        Supplies the exact scale ``s``.
    x : numpy.ndarray
        Float points, shape (..., dim).
    p, q : numpy.ndarray
        Integer vectors (units of the scale), same shape as ``x``.

    Returns
    -------
    numpy.ndarray
        int8 array of shape (...): −1 where ``p`` is strictly nearer, 0 on an exact tie, +1
        where ``q`` is strictly nearer.
    """
    s2 = Fraction(int(lattice.scale_squared.p), int(lattice.scale_squared.q))
    xs = np.asarray(x, dtype=np.float64).reshape(-1, lattice.dim)
    ps = np.asarray(p).reshape(-1, lattice.dim)
    qs = np.asarray(q).reshape(-1, lattice.dim)
    out = np.array(
        [distance_difference_sign(xs[k], ps[k], qs[k], s2) for k in range(xs.shape[0])], dtype=np.int8
    )
    return out.reshape(np.asarray(x).shape[:-1])
