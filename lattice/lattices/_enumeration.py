"""Numba kernels for lattice-point enumeration in an ellipsoid (Fincke–Pohst).

Notation. ``B`` is an integer basis (rows), ``G = B Bᵀ = Rᵀ R`` its Gram matrix with ``R``
upper triangular, ``q_i = R_ii²`` and ``μ_ij = R_ij / R_ii`` (j > i). For coefficient vectors
``u`` and a centre ``t`` (both in basis coordinates),

    ‖(u − t) B‖² = Σ_i q_i (u_i − c_i)²,   c_i = t_i − Σ_{j>i} μ_ij (u_j − t_j),

so the points inside the ellipsoid of radius² ``bound`` are found level by level, from
``i = n−1`` down to ``0``, each ``u_i`` ranging over the integers of the interval
``c_i ± sqrt((bound − ℓ_{i+1}) / q_i)`` where ``ℓ_{i+1}`` is the partial norm of the levels
above. Norms here are in the *integer* units of ``B``; callers rescale.

The three modes share one traversal:

* ``_MODE_COUNT``: histogram of ``round(norm)`` (exact for integral Gram matrices, whose norms
  are integers; the float error is many orders below 1/2 for the sizes used here), visiting
  one vector of each pair ±v (centre 0 only);
* ``_MODE_COLLECT``: store the coefficient vectors;
* ``_MODE_SHRINK``: closest-vector search; every leaf found lowers the bound to its norm, so
  the final bound is the minimum of the quadratic form over the lattice (Schnorr–Euchner
  pruning, visited in Fincke–Pohst order).

References
----------
U. Fincke, M. Pohst, "Improved methods for calculating vectors of short length in a lattice",
Math. Comp. 44 (1985) 463–471.
C. P. Schnorr, M. Euchner, "Lattice basis reduction: improved practical algorithms and
solving subset sum problems", Math. Programming 66 (1994) 181–199.
E. Agrell, T. Eriksson, A. Vardy, K. Zeger, "Closest point search in lattices", IEEE Trans.
Inform. Theory 48 (2002) 2201–2214.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_MODE_COUNT = 0
_MODE_COLLECT = 1
_MODE_SHRINK = 2


@numba.njit(cache=True)
def _enumerate(q, mu, t, bound, tol, mode, hist, out):
    """Traverse all ``u`` with ``‖(u − t)B‖² ≤ bound + tol``.

    Returns ``(count, bound)``: the number of leaves reached and the (possibly shrunk) bound.
    In collect mode, leaves beyond ``out.shape[0]`` are counted but not stored.
    """
    n = q.shape[0]
    u = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    c = np.zeros(n)
    partial = np.zeros(n + 1)
    # Counting around the origin uses the symmetry u ↔ −u: only vectors whose last nonzero
    # coefficient is positive are visited, and each stands for itself and its negative.
    halve = mode == _MODE_COUNT
    nonzero_above = np.zeros(n, dtype=np.bool_)
    count = 0
    i = n - 1
    c[i] = t[i]
    r = math.sqrt(max(bound + tol, 0.0) / q[i])
    u[i] = max(math.ceil(c[i] - r), 0) if halve else math.ceil(c[i] - r)
    hi[i] = math.floor(c[i] + r)
    while True:
        if u[i] > hi[i]:
            i += 1
            if i == n:
                break
            u[i] += 1
            continue
        d = u[i] - c[i]
        norm = partial[i + 1] + q[i] * d * d
        if norm > bound + tol:
            u[i] += 1
            continue
        if i > 0:
            partial[i] = norm
            nonzero_above[i - 1] = nonzero_above[i] or u[i] != 0
            i -= 1
            s = t[i]
            for j in range(i + 1, n):
                s -= mu[i, j] * (u[j] - t[j])
            c[i] = s
            r = math.sqrt(max(bound + tol - norm, 0.0) / q[i])
            u[i] = math.ceil(c[i] - r)
            if halve and not nonzero_above[i]:
                u[i] = max(u[i], 0)
            hi[i] = math.floor(c[i] + r)
            continue
        if mode == _MODE_COUNT:
            k = round(norm)
            if k < hist.shape[0]:
                hist[k] += 1 if (u[0] == 0 and not nonzero_above[0]) else 2
        elif mode == _MODE_COLLECT:
            if count < out.shape[0]:
                out[count, :] = u
        else:
            if norm < bound:
                bound = norm
        count += 1
        u[0] += 1
    return count, bound


@numba.njit(cache=True)
def count_norms(q, mu, bound, n_bins):
    """Histogram (length ``n_bins``) of the integer norms of lattice vectors with norm ≤ bound."""
    hist = np.zeros(n_bins, dtype=np.int64)
    t = np.zeros(q.shape[0])
    out = np.zeros((0, q.shape[0]), dtype=np.int64)
    _enumerate(q, mu, t, bound, 1e-6 * (1.0 + bound), _MODE_COUNT, hist, out)
    return hist


@numba.njit(cache=True)
def collect(q, mu, t, bound, tol):
    """All coefficient vectors ``u`` with ``‖(u − t)B‖² ≤ bound + tol``, shape (m, n) int64."""
    hist = np.zeros(0, dtype=np.int64)
    cap = 64
    while True:
        out = np.empty((cap, q.shape[0]), dtype=np.int64)
        count, _ = _enumerate(q, mu, t, bound, tol, _MODE_COLLECT, hist, out)
        if count <= cap:
            return out[:count]
        cap = count


@numba.njit(cache=True, parallel=True)
def closest_batch(q, mu, basis, scale, targets, points, babai_bounds, out, ambiguous):
    """Closest lattice vector for each row of ``points`` (float64, shape (m, dim)).

    ``targets`` are the points in basis coordinates (least squares); ``babai_bounds`` the
    quadratic-form distance of a known lattice point (an initial radius). ``out`` receives the
    integer vectors ``u B`` of the float64-nearest points. Where two or more candidates lie
    within the float64 error bound of the minimum, ``ambiguous`` is set and the caller
    decides among them exactly (:func:`collect` returns them again).
    """
    m = points.shape[0]
    n = q.shape[0]
    dim = basis.shape[1]
    hist = np.zeros(0, dtype=np.int64)
    empty = np.zeros((0, n), dtype=np.int64)
    for p in numba.prange(m):
        t = targets[p]
        start = babai_bounds[p]
        tol = search_tolerance(start, t)
        _, best = _enumerate(q, mu, t, start, tol, _MODE_SHRINK, hist, empty)
        cands = collect(q, mu, t, best, search_tolerance(best, t))
        xmax = 0.0
        for col in range(dim):
            xmax = max(xmax, abs(points[p, col]))
        dists = np.empty(cands.shape[0])
        vecs = np.zeros((cands.shape[0], dim), dtype=np.int64)
        for k in range(cands.shape[0]):
            for row in range(n):
                for col in range(dim):
                    vecs[k, col] += cands[k, row] * basis[row, col]
        k_best = 0
        for k in range(cands.shape[0]):
            d = 0.0
            for col in range(dim):
                e = points[p, col] - scale * vecs[k, col]
                d += e * e
            dists[k] = d
            if d < dists[k_best]:
                k_best = k
        # Rounding in x − s·v is at most ~ulp(max|x|) per coordinate; allow for it.
        slack = 1e-13 * (1.0 + dists[k_best]) + 1e-14 * dim * (1.0 + xmax) * (1.0 + math.sqrt(dists[k_best]))
        close = 0
        for k in range(cands.shape[0]):
            if dists[k] <= dists[k_best] + slack:
                close += 1
        ambiguous[p] = close > 1
        out[p, :] = vecs[k_best]


@numba.njit(cache=True)
def search_tolerance(bound, t):
    """Slack added to an enumeration bound so float error in the centres never loses a point."""
    tmax = 0.0
    for v in t:
        tmax = max(tmax, abs(v))
    return 1e-9 * (1.0 + bound) + 1e-12 * (1.0 + tmax) * (1.0 + math.sqrt(bound))
