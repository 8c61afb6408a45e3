"""Exact nearest points of E8 = D8 ∪ (D8 + ½·1), standard coordinates (SPLAG ch. 4 §8.1).

Conway–Sloane's decoder (SPLAG ch. 20 §3, Alg. 3): decode ``x`` in D8 and in the coset
D8 + ½ (the Dₙ rule on the nearest half-integers) and keep the nearer of the two. The kernel
(:func:`._root_kernels.e8_kernel`) does both in a single pass over each row, using that the
error to the nearest half-integer has size exactly ``½ − |xᵢ − rint(xᵢ)|``: the two squared
distances then differ by a short sum of exact floats, which is evaluated exactly whenever it
is within 1e-9 of zero. The decoder is therefore exact for every finite input with
``‖x‖ < 2⁵⁰`` (checked against exact rational arithmetic in the tests).

Ties
----
* D8 candidate: coordinates round half to even; if the sum is odd the first coordinate of
  largest ``|xᵢ − rint(xᵢ)|`` moves one step away (up if ``xᵢ ≥ rint(xᵢ)``, else down).
* D8 + ½ candidate: coordinates go to ``⌊xᵢ⌋ + ½`` (an integer coordinate goes up); if
  ``Σ⌊xᵢ⌋`` is odd the first coordinate of largest ``|xᵢ − ⌊xᵢ⌋ − ½|`` (equivalently of
  smallest ``|xᵢ − rint(xᵢ)|``) moves one step away (up if ``xᵢ ≥ ⌊xᵢ⌋ + ½``, else down).
* Between the two candidates, an exact tie goes to the D8 candidate.

References
----------
J. H. Conway and N. J. A. Sloane, "Fast quantizing and decoding algorithms for lattice
quantizers and codes", IEEE Trans. Inform. Theory 28 (1982) 227–232; SPLAG ch. 20 §3.
"""

from __future__ import annotations

import numpy as np

from ._batching import decode_with
from ._root_kernels import e8_kernel

__all__ = ["decode_e8"]


def decode_e8(x: object, out: np.ndarray | None = None) -> np.ndarray:
    """Nearest points of E8 (minimal norm 2, covering radius 1).

    Parameters
    ----------
    x : array_like
        Shape (..., 8), float32, float64 or integer; any leading batch shape. float32 is
        read as is (no float64 copy of the input is made).
    out : numpy.ndarray, optional
        Writeable C-contiguous float64 array of the shape of ``x`` to decode into (reusing
        one saves the page faults of a fresh result).

    Returns
    -------
    numpy.ndarray
        float64, same shape; every row is in D8 or in D8 + ½.

    Raises
    ------
    ValueError
        For NaN or infinite entries, rows with ``‖x‖ ≥ 2⁵⁰``, or a last dimension ≠ 8.
    TypeError
        For non-real dtypes.

    Examples
    --------
    >>> decode_e8([[0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]])
    array([[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    """
    return decode_with(e8_kernel, x, 8, out=out)
