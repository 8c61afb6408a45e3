"""Lattices: the general exact :class:`Lattice` and the standard Zⁿ, Dₙ, E8 and Leech."""

from .base import Lattice
from .leech import LeechLattice, leech
from .standard import CheckerboardLattice, E8Lattice, IntegerLattice, dn, e8, zn

__all__ = [
    "CheckerboardLattice",
    "E8Lattice",
    "IntegerLattice",
    "Lattice",
    "LeechLattice",
    "dn",
    "e8",
    "leech",
    "zn",
]
