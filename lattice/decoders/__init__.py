"""Fast exact decoders: the nearest lattice points of whole batches.

* :func:`decode_zn`, :func:`decode_dn`, :func:`decode_e8` — Conway–Sloane's decoders for Zⁿ,
  Dₙ and E8 (SPLAG ch. 20), Numba kernels run in parallel over the batch;
* :func:`decode_leech`, :func:`decode_leech_integer` — the fast exact Leech decoder (standard
  scale, or integer vectors in √8 units);
* :func:`decode_leech_bruteforce` — the Leech lattice by exhaustive search over its 8,192
  cosets of 4D₂₄ (a slow reference for tests).

Every decoder takes an array of shape (..., n), float32, float64 or integer, and returns
float64 points of the same shape; each module documents its deterministic tie rule.
"""

from .dn import decode_dn
from .e8 import decode_e8
from .leech import decode_leech, decode_leech_integer
from .leech_reference import decode_leech_bruteforce
from .zn import decode_zn

__all__ = [
    "decode_dn",
    "decode_e8",
    "decode_leech",
    "decode_leech_bruteforce",
    "decode_leech_integer",
    "decode_zn",
]
