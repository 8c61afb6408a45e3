"""The hexacode: the [6, 3, 4] code over GF(4) behind the MOG.

GF(4) = {0, 1, ω, ω̄} is encoded as the integers 0, 1, 2, 3 (ω = 2, ω̄ = 3), so that
addition is bitwise XOR (1 + ω = ω̄ is ``1 ^ 2 == 3``). Multiplication is given by
:data:`GF4_MUL`.

The hexacode is the set of words ``(a, b, c, φ(1), φ(ω), φ(ω̄))`` with
``φ(x) = a x² + b x + c`` and ``a, b, c ∈ GF(4)`` (Conway & Sloane, SPLAG, ch. 11 §2):
64 words, minimum Hamming distance 4.

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups* (SPLAG),
3rd ed., Springer 1999, chapter 11, §2 ("The hexacode").
"""

from __future__ import annotations

import numpy as np

__all__ = ["GF4_MUL", "gf4_add", "gf4_mul", "hexacode"]

# Multiplication in GF(4) with ω² = ω̄ = ω + 1.
GF4_MUL = np.array(
    [
        [0, 0, 0, 0],
        [0, 1, 2, 3],
        [0, 2, 3, 1],
        [0, 3, 1, 2],
    ],
    dtype=np.uint8,
)
GF4_MUL.setflags(write=False)


def gf4_add(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Add elements of GF(4) in the 0, 1, 2=ω, 3=ω̄ encoding (bitwise XOR)."""
    return np.bitwise_xor(np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8))


def gf4_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Multiply elements of GF(4) in the 0, 1, 2=ω, 3=ω̄ encoding."""
    return GF4_MUL[np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8)]


def hexacode() -> np.ndarray:
    """All 64 hexacode words as a (64, 6) uint8 array.

    Row ``16 a + 4 b + c`` is ``(a, b, c, φ(1), φ(ω), φ(ω̄))`` with ``φ(x) = a x² + b x + c``.

    Returns
    -------
    numpy.ndarray
        Shape (64, 6), dtype uint8, entries in {0, 1, 2, 3} (0, 1, ω, ω̄).
    """
    abc = np.array([(a, b, c) for a in range(4) for b in range(4) for c in range(4)], dtype=np.uint8)
    a, b, c = abc[:, 0], abc[:, 1], abc[:, 2]
    points = np.array([1, 2, 3], dtype=np.uint8)
    x = points[None, :]
    x2 = gf4_mul(x, x)
    phi = gf4_add(gf4_add(gf4_mul(a[:, None], x2), gf4_mul(b[:, None], x)), c[:, None])
    return np.concatenate([abc, phi], axis=1)
