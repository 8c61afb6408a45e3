"""leechkit.lattice: the Golay code, E8 and the Leech lattice as exact, fast working objects.

NumPy, SymPy and Numba only; this package never imports torch.
"""

from .codes import GolayCode, GolayDecoding, golay_code, hexacode
from .lattices import (
    CheckerboardLattice,
    E8Lattice,
    IntegerLattice,
    Lattice,
    LeechLattice,
    dn,
    e8,
    leech,
    zn,
)

__all__ = [
    "CheckerboardLattice",
    "E8Lattice",
    "GolayCode",
    "GolayDecoding",
    "IntegerLattice",
    "Lattice",
    "LeechLattice",
    "dn",
    "e8",
    "golay_code",
    "hexacode",
    "leech",
    "zn",
]
