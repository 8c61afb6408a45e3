"""Error-correcting codes behind the lattices: the hexacode and the extended Golay code."""

from .golay import GolayCode, GolayDecoding, column_score, golay_code
from .hexacode import GF4_MUL, gf4_add, gf4_mul, hexacode

__all__ = [
    "GF4_MUL",
    "GolayCode",
    "GolayDecoding",
    "column_score",
    "gf4_add",
    "gf4_mul",
    "golay_code",
    "hexacode",
]
