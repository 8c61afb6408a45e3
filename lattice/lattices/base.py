"""The general :class:`Lattice`: an exact integer basis times a scale.

A lattice of rank ``r`` in ``R^dim`` is stored as an integer matrix ``B`` (r × dim, rows are
basis vectors) and a positive scale ``s`` whose square is rational, so that the lattice is
``{s · u B : u ∈ Zʳ}``. Everything arithmetic (Gram matrix, determinant, norms, evenness) is
then exact: the Gram matrix is ``s² B Bᵀ`` with rational entries, kept as a SymPy matrix.

Enumeration (theta series, minimal vectors, closest points) runs on an LLL-reduced copy of
``B`` through the Numba kernels of :mod:`._enumeration`; floats there only steer the search,
and every reported norm is recomputed or rounded to the exact integer it must be.

Conventions: the *norm* of a vector is its squared Euclidean length, and ``det`` is the
determinant of the Gram matrix (the squared covolume), as in SPLAG ch. 1 §1.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cached_property
from math import gcd

import numpy as np
import sympy

from .._validation import as_points
from . import _enumeration as _enum
from ._exact import nearest_exact
from ._reduction import hermite_normal_form, lll_reduce

__all__ = ["Lattice"]


def _exact_scale(scale: object) -> sympy.Expr:
    if isinstance(scale, (float, np.floating)):
        value = sympy.nsimplify(float(scale), rational=True)
    elif isinstance(scale, Fraction):
        value = sympy.Rational(scale.numerator, scale.denominator)
    else:
        value = sympy.sympify(scale)
    square = sympy.nsimplify(value**2)
    if not (square.is_rational and square > 0 and value.is_positive):
        raise ValueError(f"scale must be a positive number whose square is rational, got {scale!r}")
    return value


class Lattice:
    """A lattice ``{scale · u B : u ∈ Zʳ}`` with ``B`` an integer matrix of full row rank.

    Parameters
    ----------
    integer_generator : array_like of int
        Shape (rank, dim), rows are basis vectors; rank ≤ dim.
    scale : number or SymPy expression, default 1
        Positive, with a rational square (``sympy.sqrt(2) / 4`` is fine; a float is converted
        to the rational it represents exactly).
    name : str
        Used in ``repr`` and tables.

    Examples
    --------
    >>> a2 = Lattice([[1, -1, 0], [0, 1, -1]], name="A2")  # A₂ inside the plane Σx = 0
    >>> a2.rank, a2.dim, a2.det, a2.minimal_norm
    (2, 3, 3, 2)
    """

    def __init__(self, integer_generator: object, scale: object = 1, *, name: str = "lattice"):
        b = np.asarray(integer_generator)
        if b.dtype == object or not np.issubdtype(b.dtype, np.integer):
            if np.issubdtype(b.dtype, np.floating) and np.all(np.isfinite(b)) and np.all(b == np.round(b)):
                b = b.astype(np.int64)
            else:
                raise TypeError(f"integer_generator must be an integer matrix, got dtype {b.dtype}")
        if b.ndim != 2 or b.shape[0] == 0:
            raise ValueError(f"integer_generator must be a non-empty 2-D matrix, got shape {b.shape}")
        if b.shape[0] > b.shape[1]:
            raise ValueError(
                f"a basis of {b.shape[0]} vectors cannot be independent in dimension {b.shape[1]}"
            )
        b = b.astype(np.int64)
        if hermite_normal_form(b).shape[0] != b.shape[0]:
            raise ValueError("the rows of integer_generator are linearly dependent")
        b.setflags(write=False)
        self._b = b
        self._scale = _exact_scale(scale)
        self._scale_sq = sympy.nsimplify(self._scale**2)
        self.name = name

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind}(name={self.name!r}, rank={self.rank}, dim={self.dim}, scale={self._scale})"

    # --- basic data -------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Ambient dimension: the size of the last axis of points."""
        return int(self._b.shape[1])

    @property
    def rank(self) -> int:
        """Number of basis vectors."""
        return int(self._b.shape[0])

    @property
    def integer_generator(self) -> np.ndarray:
        """The integer basis ``B`` (rank × dim, int64, read-only)."""
        return self._b

    @property
    def exact_scale(self) -> sympy.Expr:
        """The scale as an exact SymPy number."""
        return self._scale

    @property
    def scale_squared(self) -> sympy.Rational:
        """``scale²``, an exact rational."""
        return self._scale_sq

    @property
    def scale(self) -> float:
        """The scale as a float."""
        return float(self._scale)

    @cached_property
    def generator(self) -> np.ndarray:
        """Generator matrix ``scale · B`` as float64 (rank × dim, read-only)."""
        g = self._b.astype(np.float64) * self.scale
        g.setflags(write=False)
        return g

    def gram(self) -> sympy.Matrix:
        """Exact Gram matrix ``scale² B Bᵀ`` (SymPy, rational entries)."""
        return self._scale_sq * sympy.Matrix(self._integer_gram.tolist())

    @cached_property
    def _integer_gram(self) -> np.ndarray:
        return self._b @ self._b.T

    @cached_property
    def det(self) -> sympy.Rational:
        """Determinant of the Gram matrix (squared covolume), exact."""
        return sympy.Rational(self.gram().det())

    @cached_property
    def is_integral(self) -> bool:
        """Whether all inner products of lattice vectors are integers."""
        return all(v.is_integer for v in self.gram())

    @cached_property
    def is_even(self) -> bool:
        """Whether the lattice is integral and every norm is even."""
        g = self.gram()
        return self.is_integral and all((g[i, i] % 2) == 0 for i in range(self.rank))

    @cached_property
    def is_unimodular(self) -> bool:
        """Whether the lattice is integral with determinant 1 (self-dual)."""
        return self.is_integral and self.det == 1

    @cached_property
    def _norm_step_int(self) -> int:
        """gcd of ``G_ii`` and ``2 G_ij`` (integer units): every norm is a multiple of it."""
        g = self._integer_gram
        step = 0
        for i in range(self.rank):
            step = gcd(step, int(g[i, i]))
            for j in range(i + 1, self.rank):
                step = gcd(step, 2 * int(g[i, j]))
        return step

    @property
    def norm_step(self) -> sympy.Rational:
        """The exact step of the norm grid: every norm is an integer multiple of it."""
        return self._scale_sq * self._norm_step_int

    # --- reduced basis used by the searches ----------------------------------------------
    @cached_property
    def _reduced(self) -> np.ndarray:
        return lll_reduce(self._b)

    @cached_property
    def _cholesky(self) -> tuple[np.ndarray, np.ndarray]:
        g = (self._reduced @ self._reduced.T).astype(np.float64)
        r = np.linalg.cholesky(g).T
        diag = np.diag(r).copy()
        mu = r / diag[:, None]
        return np.ascontiguousarray(diag**2), np.ascontiguousarray(mu)

    @cached_property
    def _reduced_pinv(self) -> np.ndarray:
        return np.linalg.pinv(self._reduced.astype(np.float64))

    def _collect_integer(self, bound_int: int) -> np.ndarray:
        """All integer vectors ``u B`` (exact, int64) with integer-unit norm ≤ ``bound_int``."""
        q, mu = self._cholesky
        coeffs = _enum.collect(q, mu, np.zeros(self.rank), float(bound_int), 1e-6 * (1 + bound_int))
        vecs = coeffs @ self._reduced
        norms = np.einsum("ij,ij->i", vecs, vecs)
        return vecs[norms <= bound_int]

    # --- invariants ---------------------------------------------------------------------
    @cached_property
    def _minimal_norm_int(self) -> int:
        bound = int(np.diag(self._reduced @ self._reduced.T).min())
        vecs = self._collect_integer(bound)
        norms = np.einsum("ij,ij->i", vecs, vecs)
        return int(norms[norms > 0].min())

    @property
    def minimal_norm(self) -> sympy.Rational:
        """Smallest norm of a nonzero vector, exact (by enumeration)."""
        return self._scale_sq * self._minimal_norm_int

    @property
    def kissing_number(self) -> int:
        """Number of minimal vectors."""
        return int(self.minimal_vectors(integer=True).shape[0])

    def minimal_vectors(self, integer: bool = False) -> np.ndarray:
        """All vectors of minimal norm, sorted lexicographically (ascending).

        Parameters
        ----------
        integer : bool
            If True, return the integer vectors ``u B`` (int64), i.e. in units of the scale.

        Returns
        -------
        numpy.ndarray
            Shape (kissing number, dim).
        """
        vecs = self._collect_integer(self._minimal_norm_int)
        norms = np.einsum("ij,ij->i", vecs, vecs)
        vecs = vecs[norms == self._minimal_norm_int]
        vecs = vecs[np.lexsort(vecs.T[::-1])]
        return vecs if integer else vecs * self.scale

    def theta_series(self, max_norm: object) -> dict[sympy.Rational, int]:
        """Number of lattice vectors of each norm up to ``max_norm``, by exact enumeration.

        Returns
        -------
        dict
            ``{norm: count}`` for every multiple of :attr:`norm_step` in ``[0, max_norm]``
            (zero counts included), norms as exact SymPy rationals. For E8,
            ``theta_series(8)`` is ``{0: 1, 2: 240, 4: 2160, 6: 6720, 8: 17520}``.
        """
        limit = sympy.nsimplify(max_norm)
        if not (limit.is_real and limit >= 0):
            raise ValueError(f"max_norm must be a non-negative real number, got {max_norm!r}")
        bound_int = int(sympy.floor(limit / self._scale_sq))
        q, mu = self._cholesky
        hist = _enum.count_norms(q, mu, float(bound_int), bound_int + 1)
        step = self._norm_step_int
        return {self._scale_sq * k: int(hist[k]) for k in range(0, bound_int + 1, step)}

    # --- points -------------------------------------------------------------------------
    def contains(self, x: object, atol: float = 1e-9) -> np.ndarray:
        """Whether each point of ``x`` (shape (..., dim)) lies in the lattice.

        Integer input is taken in units of the scale (``x = u B``) and tested exactly.
        Floating input is tested in the ambient scale: the point is in the lattice when its
        distance to ``scale · round(coordinates) B`` is at most ``atol · (1 + ‖x‖)``.
        """
        arr = np.asarray(x)
        pts, batch = as_points(arr, self.dim)
        if np.issubdtype(arr.dtype, np.integer):
            ints = arr.reshape(-1, self.dim).astype(np.int64)
            coeffs = np.rint(pts @ self._reduced_pinv).astype(np.int64)
            ok = np.all(coeffs @ self._reduced == ints, axis=1)
        else:
            coeffs = np.rint((pts / self.scale) @ self._reduced_pinv)
            recon = (coeffs @ self._reduced.astype(np.float64)) * self.scale
            err = np.linalg.norm(pts - recon, axis=1)
            ok = err <= atol * (1.0 + np.linalg.norm(pts, axis=1))
        return ok.reshape(batch)

    def closest_point(self, x: object, integer: bool = False) -> np.ndarray:
        """Exact closest lattice point of each point of ``x`` by sphere decoding.

        A general (slow) reference: Fincke–Pohst enumeration on the LLL-reduced basis,
        shrinking the radius at every point found, then a second pass collecting all points
        at the minimal distance. Where several candidates are equally near within float64
        error, the choice is made in exact rational arithmetic (:mod:`._exact`): the exactly
        nearest wins, and among exactly equidistant points the one whose integer vector
        ``u B`` is lexicographically smallest.
        Points outside the span of a lattice of rank < dim are projected onto it first.

        Parameters
        ----------
        x : array_like
            Shape (..., dim), finite real values.
        integer : bool
            Return integer vectors ``u B`` (int64, units of the scale) instead of float64.
        """
        pts, batch = as_points(x, self.dim)
        out = np.zeros((pts.shape[0], self.dim), dtype=np.int64)
        if pts.shape[0]:
            q, mu = self._cholesky
            red = self._reduced.astype(np.float64)
            targets = np.ascontiguousarray((pts / self.scale) @ self._reduced_pinv)
            babai = np.rint(targets)
            diff = (babai - targets) @ red
            bounds = np.einsum("ij,ij->i", diff, diff)
            ambiguous = np.zeros(pts.shape[0], dtype=np.bool_)
            _enum.closest_batch(q, mu, self._reduced, self.scale, targets, pts, bounds, out, ambiguous)
            s2 = Fraction(int(self._scale_sq.p), int(self._scale_sq.q))
            for p in np.flatnonzero(ambiguous):
                # Near-ties within float64 error: decide in exact rational arithmetic.
                u = np.rint(out[p] @ self._reduced_pinv)
                resid = (u - targets[p]) @ red
                bound = float(resid @ resid)
                tol = 1e3 * _enum.search_tolerance(bound, targets[p])
                cands = _enum.collect(q, mu, targets[p], bound, tol) @ self._reduced
                out[p] = cands[nearest_exact(pts[p], cands, s2)]
        out = out.reshape(batch + (self.dim,))
        return out if integer else out * self.scale

    def decode(self, x: object, return_coords: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Nearest lattice points of ``x`` (shape (..., dim)), float64 of the same shape.

        The general lattice uses the exact sphere decoder :meth:`closest_point` (ties: the
        lexicographically smallest integer vector); Zⁿ, Dₙ, E8 and Leech override this with
        their fast structured decoders (:mod:`leechkit.lattice.decoders`).

        Parameters
        ----------
        x : array_like
            Shape (..., dim): float32, float64 or integer; any leading batch shape.
        return_coords : bool
            Also return the integer coordinates ``u`` (int64, shape (..., rank)) of each
            point in the basis, ``point = u · generator``, computed exactly from the integer
            vector ``u · integer_generator``.

        Returns
        -------
        numpy.ndarray or (numpy.ndarray, numpy.ndarray)
            The points, and with ``return_coords`` also ``u``.
        """
        # Imported here: the decoders package may import lattice modules (Leech) itself.
        from ..decoders._coordinates import basis_coordinates

        ints = self.closest_point(x, integer=True)
        points = ints * self.scale
        return (points, basis_coordinates(self._b, ints)) if return_coords else points

    def quantize(self, x: object, step: float) -> np.ndarray:
        """Nearest points of the scaled lattice ``step · Λ``: ``step · decode(x / step)``.

        ``x / step`` is formed in float64, in blocks of bounded size, so any batch size
        needs only a few MB beyond the input and the float64 output.
        """
        from ..decoders._batching import map_blocks

        if not (np.isscalar(step) and np.isfinite(step) and step > 0):
            raise ValueError(f"step must be a positive finite number, got {step!r}")
        return map_blocks(lambda block: self.decode(block / step) * step, x, self.dim)
