"""Exact nearest points of the integer lattice Zⁿ.

The nearest point of Zⁿ is found coordinate by coordinate: ``fᵢ = rint(xᵢ)`` (SPLAG ch. 20
§2, Alg. 1).

Ties
----
A coordinate exactly halfway between two integers goes to the even one (``numpy.rint``,
IEEE round-half-to-even), so the result is deterministic and ``decode(−x) = −decode(x)``
holds even at ties.

References
----------
J. H. Conway and N. J. A. Sloane, "Fast quantizing and decoding algorithms for lattice
quantizers and codes", IEEE Trans. Inform. Theory 28 (1982) 227–232; SPLAG ch. 20 §2.
"""

from __future__ import annotations

import numpy as np

from ._batching import decode_with
from ._root_kernels import zn_kernel

__all__ = ["decode_zn"]


def decode_zn(x: object, n: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Nearest points of Zⁿ, n = ``x.shape[-1]``.

    Parameters
    ----------
    x : array_like
        Shape (..., n), float32, float64 or integer; any leading batch shape.
    n : int, optional
        Required last dimension; by default whatever ``x`` has.
    out : numpy.ndarray, optional
        Writeable C-contiguous float64 array of the shape of ``x`` to decode into (reusing
        one saves the page faults of a fresh result).

    Returns
    -------
    numpy.ndarray
        float64, same shape: ``rint(x)`` (halves to even).

    Raises
    ------
    ValueError
        For NaN or infinite entries, rows with ``Σ|xᵢ| ≥ 2⁵⁰``, a last dimension other than
        ``n``, or a 0-d input.
    TypeError
        For non-real dtypes.

    Examples
    --------
    >>> decode_zn([[0.5, 1.5, -2.7]])
    array([[ 0.,  2., -3.]])
    """
    arr = np.asarray(x)
    if n is None:
        n = arr.shape[-1] if arr.ndim else 1
    return decode_with(zn_kernel, arr, n, out=out)
