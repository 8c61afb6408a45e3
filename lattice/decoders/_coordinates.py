"""Exact integer coordinates of lattice points in a lattice basis.

Given integer vectors ``v`` (units of the scale) of a lattice with integer basis ``B``, the
coordinates are the unique ``u ∈ Zʳ`` with ``u B = v``. When ``B`` is in row echelon form (the
Hermite normal forms of :mod:`leechkit.lattice.lattices.standard` and ``leech`` are), ``u`` is
found by forward substitution on the pivot columns in int64, each division checked to be exact;
otherwise by rounding a float solve. Either way ``u B = v`` is then verified exactly.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["basis_coordinates", "with_coordinates"]


def _pivots(basis: np.ndarray) -> np.ndarray | None:
    """Pivot columns of a row echelon basis (first nonzero of each row, increasing), else None."""
    pivots = []
    for row in basis:
        nonzero = np.flatnonzero(row)
        if nonzero.size == 0 or (pivots and nonzero[0] <= pivots[-1]):
            return None
        pivots.append(int(nonzero[0]))
    return np.array(pivots, dtype=np.int64)


@numba.njit(cache=True, parallel=True)
def _forward_substitute(v: np.ndarray, basis: np.ndarray, pivots: np.ndarray, u: np.ndarray) -> int:
    """Fill ``u`` solving ``v = u B`` on the pivot columns; count rows where ``u B ≠ v``."""
    rank, dim = basis.shape
    wrong = 0
    for p in numba.prange(v.shape[0]):
        for i in range(rank):
            c = pivots[i]
            acc = v[p, c]
            for j in range(i):
                acc -= u[p, j] * basis[j, c]
            u[p, i] = acc // basis[i, c]
        # A remainder above, or a mismatch off the pivots, means v is not in the lattice.
        mismatch = False
        for c in range(dim):
            acc = v[p, c]
            for j in range(rank):
                acc -= u[p, j] * basis[j, c]
            mismatch |= acc != 0
        wrong += 1 if mismatch else 0
    return wrong


def basis_coordinates(basis: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Integer coordinates ``u`` (int64, shape (..., rank)) with ``u · basis = v`` exactly.

    Parameters
    ----------
    basis : numpy.ndarray
        Integer basis ``B`` (rank × dim).
    v : numpy.ndarray
        Integer vectors of the lattice, shape (..., dim).

    Raises
    ------
    ValueError
        If some ``v`` is not an integer combination of the rows of ``B``.
    """
    b = np.ascontiguousarray(basis, dtype=np.int64)
    vecs = np.ascontiguousarray(np.asarray(v).reshape(-1, b.shape[1]), dtype=np.int64)
    pivots = _pivots(b)
    if pivots is not None:
        u = np.empty((vecs.shape[0], b.shape[0]), dtype=np.int64)
        wrong = _forward_substitute(vecs, b, pivots, u)
    else:
        u = np.rint(vecs @ np.linalg.pinv(b.astype(np.float64))).astype(np.int64)
        wrong = int(np.count_nonzero(np.any(u @ b != vecs, axis=1)))
    if wrong:
        raise ValueError("some vectors are not in the lattice spanned by the basis")
    return u.reshape(np.shape(v)[:-1] + (b.shape[0],))


def with_coordinates(
    points: np.ndarray, basis: np.ndarray, scale: float, return_coords: bool
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``points``, or ``(points, u)`` with ``u`` the exact coordinates of ``points`` in ``basis``.

    ``points`` are float64 lattice points in the scale ``scale``; their integer vectors
    ``rint(points / scale)`` are exact whenever the scaled coordinates stay below 2⁵⁰.
    """
    if not return_coords:
        return points
    ints = np.rint(points / scale).astype(np.int64)
    return points, basis_coordinates(basis, ints)
