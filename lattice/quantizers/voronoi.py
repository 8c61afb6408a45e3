"""Voronoi codes: lattice codebooks with an exact integer message of ``k·n`` bits.

A Voronoi code of a lattice Λ ⊂ Rⁿ with ``k`` bits per dimension is the set of points of Λ
in a translated Voronoi region ``a + 2ᵏ·V(Λ)`` of the coarse lattice ``2ᵏΛ``: exactly
``2^{kn}`` points, one from each coset of ``2ᵏΛ`` in Λ. With ``q = 2ᵏ`` and ``B`` the basis,

* **encode** ``x``: the nearest lattice point ``λ = Q_Λ(x) = u B`` and its coordinates
  modulo ``q``: the message is ``u mod q``, ``n`` digits of ``k`` bits;
* **decode** ``u``: the point ``v = u B`` reduced into the region, ``v − q·Q_Λ((v − a)/q)``.

Centring. The points of Λ in a Voronoi region of ``qΛ`` are not centrally symmetric when ``q``
is even (for Z with q = 4 they are −1, 0, 1, 2), which costs a source with a symmetric
density dearly at low rates. With ``centered=True`` (the default) the codebook is the coset
``Λ + t`` with ``t`` half the sum of the LLL-reduced basis vectors: ``2t ∈ Λ`` makes the
coset centrally symmetric (for Zⁿ, ``t = ½·1``: the mid-rise quantizer ±½, ±3/2, …). The
encoder quantizes ``x − t``; everything else is unchanged.

Every message decodes to a point whose coordinates are congruent to it modulo ``q``, so
``encode(decode(m)) = m`` exactly for every message. A point ``x`` inside the scaled region is
reproduced as ``Q_Λ(x)``; one outside it (overload) wraps to another point of its coset.
The small offset ``a`` keeps lattice points off the boundary of the region, so that the
codebook is well defined without relying on tie rules (Conway & Sloane 1983, §III).

All arithmetic on codewords is in integers (units of the lattice scale); only the final
points are scaled to floats.

References
----------
J. H. Conway, N. J. A. Sloane, "A fast encoding method for lattice codes and quantizers",
IEEE Trans. Inform. Theory 29 (1983) 820–824.
G. D. Forney, "Multidimensional constellations — part II: Voronoi constellations", IEEE J.
Sel. Areas Commun. 7 (1989) 941–958.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_points
from ..decoders._coordinates import basis_coordinates
from ..lattices.base import Lattice

__all__ = ["VoronoiCode"]


class VoronoiCode:
    """The Voronoi code of ``lattice`` with ``bits_per_dim`` bits per dimension.

    Parameters
    ----------
    lattice : Lattice
        A full-rank lattice (``rank == dim``), e.g. ``zn(1)``, ``e8()``, ``leech()``.
    bits_per_dim : int
        ``k`` in 1…16: the code has ``2^{k·n}`` codewords and messages of ``k·n`` bits.
    scale : float
        The codebook is ``scale · ((Λ + t) ∩ (a + 2ᵏ V(Λ)))``.
    centered : bool
        Use the centrally symmetric coset ``Λ + t`` (see the module docstring); otherwise
        ``t = 0``.

    Examples
    --------
    >>> from leechkit.lattice import e8
    >>> code = VoronoiCode(e8(), bits_per_dim=2, scale=0.5)
    >>> code.bits, code.size
    (16, 65536)
    """

    def __init__(self, lattice: Lattice, bits_per_dim: int, scale: float = 1.0, centered: bool = True):
        if not isinstance(lattice, Lattice):
            raise TypeError(f"lattice must be a Lattice, got {type(lattice).__name__}")
        if lattice.rank != lattice.dim:
            raise ValueError(
                f"Voronoi codes need a full-rank lattice, got rank {lattice.rank} in dim {lattice.dim}"
            )
        if isinstance(bits_per_dim, bool) or not isinstance(bits_per_dim, (int, np.integer)):
            raise TypeError(f"bits_per_dim must be an integer, got {bits_per_dim!r}")
        if not 1 <= bits_per_dim <= 16:
            raise ValueError(f"bits_per_dim must be in [1, 16], got {bits_per_dim}")
        if not (np.isscalar(scale) and np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        self.lattice = lattice
        self.bits_per_dim = int(bits_per_dim)
        self.scale = float(scale)
        self.q = 1 << self.bits_per_dim
        n = lattice.dim
        # A generic offset, tiny against the lattice's own scale: it moves the region's boundary
        # off every lattice point without changing which interior points belong to it.
        self._offset = 1e-7 * lattice.scale * (np.arange(1, n + 1) / n) * np.sqrt(np.arange(2, n + 2))
        self.centered = bool(centered)
        half_sum = 0.5 * lattice.scale * lattice._reduced.sum(axis=0)
        self.shift = half_sum if self.centered else np.zeros(n)

    @property
    def dim(self) -> int:
        """Dimension ``n``."""
        return self.lattice.dim

    @property
    def bits(self) -> int:
        """Message length ``k·n`` in bits."""
        return self.bits_per_dim * self.dim

    @property
    def size(self) -> int:
        """Number of codewords, ``2^{k·n}``."""
        return 1 << self.bits

    def _integer_points(self, y: np.ndarray) -> np.ndarray:
        """Nearest lattice points of ``y`` (ambient scale) as integer vectors (units of the scale)."""
        return np.rint(self.lattice.decode(y) / self.lattice.scale).astype(np.int64)

    def _inside(self, v: np.ndarray) -> np.ndarray:
        """Whether the lattice points ``v`` (integer units) of the coset lie in the code's region."""
        points = v * self.lattice.scale + self.shift
        return ~self._integer_points((points - self._offset) / self.q).any(axis=1)

    def encode(self, x: object, overload: str = "shrink") -> np.ndarray:
        """Messages of the points ``x`` (shape (..., n)): digits ``u mod 2ᵏ``, shape (..., n), uint16.

        ``u`` are the basis coordinates of the nearest lattice point ``v`` of ``y = x / scale − t``.
        Where ``v`` falls outside the code's region (overload):

        * ``overload="wrap"`` keeps ``u mod 2ᵏ``, which decodes to another point of the coset
          of ``v`` (the textbook Voronoi encoder; large errors);
        * ``overload="shrink"`` (default) bisects (20 steps) for the largest ``α ∈ [0, 1]`` with
          ``Q(α y)`` inside the region and encodes that point: a radial clipping, exact for the
          scalar code (it gives the outermost level), close to but not always the nearest
          codeword in higher dimensions.
        """
        if overload not in ("shrink", "wrap"):
            raise ValueError(f"overload must be 'shrink' or 'wrap', got {overload!r}")
        pts, batch = as_points(x, self.dim)
        y = pts / self.scale - self.shift
        v = self._integer_points(y)
        if overload == "shrink":
            out = np.flatnonzero(~self._inside(v))
            lo = np.zeros(out.size)
            hi = np.ones(out.size)
            for _ in range(20):
                mid = 0.5 * (lo + hi)
                cand = self._integer_points(y[out] * mid[:, None])
                ok = self._inside(cand)
                lo = np.where(ok, mid, lo)
                hi = np.where(ok, hi, mid)
            v[out] = self._integer_points(y[out] * lo[:, None])
        u = basis_coordinates(self.lattice.integer_generator, v)
        return np.mod(u, self.q).astype(np.uint16).reshape((*batch, self.dim))

    def decode(self, messages: object) -> np.ndarray:
        """Codewords (float64, shape (..., n)) of messages given as digits in ``[0, 2ᵏ)``."""
        u = self._check_messages(messages)
        batch = u.shape[:-1]
        u = u.reshape(-1, self.dim)
        v = u @ self.lattice.integer_generator
        points = v * self.lattice.scale + self.shift
        coarse = self._integer_points((points - self._offset) / self.q)
        reduced = points - coarse * (self.q * self.lattice.scale)
        return (reduced * self.scale).reshape((*batch, self.dim))

    def quantize(self, x: object) -> np.ndarray:
        """``decode(encode(x))``: the codeword that represents each point."""
        return self.decode(self.encode(x))

    def _check_messages(self, messages: object) -> np.ndarray:
        m = np.asarray(messages)
        if not np.issubdtype(m.dtype, np.integer):
            raise TypeError(f"messages must be an integer array of digits, got dtype {m.dtype}")
        if m.ndim == 0 or m.shape[-1] != self.dim:
            raise ValueError(f"messages must have last dimension {self.dim}, got shape {m.shape}")
        if m.size and (m.min() < 0 or m.max() >= self.q):
            raise ValueError(f"message digits must lie in [0, {self.q})")
        return m.astype(np.int64)

    def pack(self, messages: object) -> np.ndarray:
        """Pack digit messages (..., n) into bytes (..., ⌈k·n/8⌉), most significant bit first."""
        m = self._check_messages(messages)
        shifts = np.arange(self.bits_per_dim - 1, -1, -1)
        bits = ((m[..., None] >> shifts) & 1).astype(np.uint8).reshape((*m.shape[:-1], self.bits))
        return np.packbits(bits, axis=-1)

    def unpack(self, packed: object) -> np.ndarray:
        """Inverse of :meth:`pack`: bytes (..., ⌈k·n/8⌉) → digits (..., n), uint16."""
        p = np.asarray(packed)
        n_bytes = -(-self.bits // 8)
        if p.dtype != np.uint8 or p.ndim == 0 or p.shape[-1] != n_bytes:
            raise ValueError(
                f"packed messages must be uint8 with last dimension {n_bytes}, got {p.dtype} {p.shape}"
            )
        bits = np.unpackbits(p, axis=-1, count=self.bits).astype(np.int64)
        bits = bits.reshape((*p.shape[:-1], self.dim, self.bits_per_dim))
        weights = 1 << np.arange(self.bits_per_dim - 1, -1, -1)
        return (bits @ weights).astype(np.uint16)
