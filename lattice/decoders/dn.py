"""Exact nearest points of the checkerboard lattice Dₙ = {x ∈ Zⁿ : Σ xᵢ even}.

Conway–Sloane's rule (SPLAG ch. 20 §2, Alg. 2): round every coordinate, ``fᵢ = rint(xᵢ)``.
If ``Σ fᵢ`` is even, ``f`` is the nearest point. Otherwise one coordinate must move to its
second-nearest integer, which costs ``1 − 2|xₖ − fₖ|`` in squared distance, least where the
rounding error is largest; so move the coordinate of largest ``|xₖ − fₖ|``. All errors
``xᵢ − rint(xᵢ)`` are exact in float64, so the decoder is exact.

Ties
----
* Each coordinate rounds half to even (``numpy.rint``).
* The moved coordinate is the *first* (lowest index) of largest ``|xₖ − fₖ|``; it goes to
  ``fₖ + 1`` if ``xₖ ≥ fₖ`` and to ``fₖ − 1`` otherwise (an integer ``xₖ``, possible only when
  all of ``x`` is integral with odd sum, goes up).

References
----------
J. H. Conway and N. J. A. Sloane, "Fast quantizing and decoding algorithms for lattice
quantizers and codes", IEEE Trans. Inform. Theory 28 (1982) 227–232; SPLAG ch. 20 §2.
"""

from __future__ import annotations

import numpy as np

from ._batching import decode_with
from ._root_kernels import dn_kernel

__all__ = ["decode_dn"]


def decode_dn(x: object, n: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Nearest points of Dₙ, n = ``x.shape[-1]`` ≥ 2.

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
        float64, same shape; integer vectors with even coordinate sum.

    Raises
    ------
    ValueError
        For NaN or infinite entries, rows with ``Σ|xᵢ| ≥ 2⁵⁰``, n < 2, a last dimension
        other than ``n``, or a 0-d input.
    TypeError
        For non-real dtypes.

    Examples
    --------
    >>> decode_dn([[0.6, 0.1, 0.0, 0.0]])  # rint gives (1, 0, 0, 0), odd: move x₀ back
    array([[0., 0., 0., 0.]])
    """
    arr = np.asarray(x)
    if n is None:
        n = arr.shape[-1] if arr.ndim else 0
    if n < 2:
        raise ValueError(f"x must have last dimension n ≥ 2 for Dn, got shape {arr.shape}")
    return decode_with(dn_kernel, arr, n, out=out)
