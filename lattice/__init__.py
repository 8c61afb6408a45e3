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
from .quantizers import (
    LeechShellCode,
    QuantizedTensor,
    VoronoiCode,
    index_to_vector,
    nearest_minimal_vector,
    quantize_tensor,
    vector_to_index,
)

__all__ = [
    "CheckerboardLattice",
    "E8Lattice",
    "GolayCode",
    "GolayDecoding",
    "IntegerLattice",
    "Lattice",
    "LeechLattice",
    "LeechShellCode",
    "QuantizedTensor",
    "VoronoiCode",
    "dn",
    "e8",
    "golay_code",
    "hexacode",
    "index_to_vector",
    "leech",
    "nearest_minimal_vector",
    "quantize_tensor",
    "vector_to_index",
    "zn",
]
