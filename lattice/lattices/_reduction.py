"""Exact integer basis manipulation: Hermite normal form and LLL reduction.

Both work on integer matrices whose rows span a lattice; every transformation applied is
unimodular and carried out in exact integer arithmetic (Python ints for the HNF, int64 for
LLL, whose floating-point Gram–Schmidt data only *decide* which integer operation to do, so
the result always spans exactly the same lattice).

References
----------
H. Cohen, *A Course in Computational Algebraic Number Theory*, Springer 1993, §2.4.2
(Hermite normal form) and §2.6.1 (LLL, Algorithm 2.6.3).
A. K. Lenstra, H. W. Lenstra, L. Lovász, "Factoring polynomials with rational
coefficients", Math. Ann. 261 (1982) 515–534.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hermite_normal_form", "lll_reduce"]


def hermite_normal_form(generators: np.ndarray) -> np.ndarray:
    """Row-style Hermite normal form of the lattice spanned by integer ``generators``.

    Returns the nonzero rows ``H`` (rank × n, int64): upper echelon, positive pivots, entries
    above each pivot reduced into ``[0, pivot)``. ``H`` spans the same lattice as the
    generators and is unique for that lattice.
    """
    rows = [[int(v) for v in r] for r in np.asarray(generators)]
    n_cols = len(rows[0]) if rows else 0
    out: list[list[int]] = []
    for col in range(n_cols):
        active = [r for r in rows if r[col] != 0]
        rows = [r for r in rows if r[col] == 0]
        # Euclid on the column: keep reducing by the row with the smallest |entry|.
        while len(active) > 1:
            active.sort(key=lambda r: abs(r[col]))
            pivot = active[0]
            rest = []
            for r in active[1:]:
                q = r[col] // pivot[col]
                r = [a - q * b for a, b in zip(r, pivot)]
                if r[col] != 0:
                    rest.append(r)
                elif any(r):
                    rows.append(r)
            active = [pivot] + rest
        if active:
            pivot = active[0]
            if pivot[col] < 0:
                pivot = [-a for a in pivot]
            out.append(pivot)
    for i, row in enumerate(out):
        col = next(c for c, v in enumerate(row) if v != 0)
        for k in range(i):
            q = out[k][col] // row[col]
            if q:
                out[k] = [a - q * b for a, b in zip(out[k], row)]
    return np.array(out, dtype=np.int64).reshape(len(out), n_cols)


def lll_reduce(basis: np.ndarray, delta: float = 0.99) -> np.ndarray:
    """LLL-reduce the rows of an integer basis (full row rank), returning a new int64 basis.

    The Lovász condition uses ``delta``; size reduction keeps ``|μᵢⱼ| ≤ 1/2`` up to rounding.
    """
    b = np.array(basis, dtype=np.int64)
    n = b.shape[0]
    k = 1
    while k < n:
        bf = b.astype(np.float64)
        r = np.linalg.qr(bf[: k + 1].T, mode="r")
        diag = np.diag(r)
        mu_row = r[:, k] / diag
        for j in range(k - 1, -1, -1):
            m = int(np.rint(mu_row[j]))
            if m:
                b[k] -= m * b[j]
                mu_row[: j + 1] -= m * r[: j + 1, j] / diag[: j + 1]
        bk_star_sq = diag[k] ** 2
        prev_sq = diag[k - 1] ** 2
        if bk_star_sq >= (delta - mu_row[k - 1] ** 2) * prev_sq:
            k += 1
        else:
            b[[k - 1, k]] = b[[k, k - 1]]
            k = max(k - 1, 1)
    return b
