"""Quantizers: lattice codebooks for vectors, directions and whole tensors.

* :mod:`.spherical` — the spherical codes of the 196,560 Leech minimal vectors and the 240
  E8 roots: exact structured nearest-direction search (:func:`nearest_minimal_vector`), its
  brute-force reference, and the bijection between indices and vectors.
* :mod:`.shells` — unions of Leech shells (norms 4 … max_norm) as codebooks: class
  decomposition and counts, an exact index bijection by ranking, and the exact
  smallest-angle search (:class:`LeechShellCode`), the shape codebook of LLVQ.
* :mod:`.voronoi` — Voronoi codes (Conway & Sloane 1983): a lattice point modulo 2ᵏΛ as an
  integer message of exactly ``k·n`` bits, with an exact round trip.
* :mod:`.tensor` — quantization of whole arrays (e.g. weight matrices) in blocks of the
  lattice dimension, with packed codes and float16 scales.
"""

from .shells import LeechShellCode, ShellClass
from .spherical import (
    index_to_vector,
    nearest_minimal_vector,
    nearest_minimal_vector_bruteforce,
    vector_to_index,
)
from .tensor import QuantizedTensor, quantize_tensor
from .voronoi import VoronoiCode

__all__ = [
    "LeechShellCode",
    "QuantizedTensor",
    "ShellClass",
    "VoronoiCode",
    "index_to_vector",
    "nearest_minimal_vector",
    "nearest_minimal_vector_bruteforce",
    "quantize_tensor",
    "vector_to_index",
]
