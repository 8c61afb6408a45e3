"""Random Hadamard rotations stored as a seed (incoherence processing of weight matrices).

The rotation of ``R^n`` (``n`` a multiple of the block size ``b``, a power of two) is

    T(x) = BH_b(π(x ⊙ σ)),

with ``σ ∈ {±1}^n`` random signs, ``π`` a random permutation of the coordinates
(``π(y)_i = y_{perm[i]}``) and ``BH_b`` the normalized Walsh–Hadamard transform
``H_b/√b`` applied to each of the ``n/b`` contiguous blocks. Every factor is orthogonal, so
``T⁻¹(y) = π⁻¹(BH_b(y)) ⊙ σ`` (``H_b`` is symmetric and ``H_b² = b·I``).

Signs and permutation are a pure function of the integer seed through SplitMix64 (Steele,
Lea and Flood 2014), written out here, so that a stored seed regenerates the same rotation
on any machine and with any NumPy or PyTorch version: nothing but the seed is stored.

The transform runs on torch tensors of any device in the tensor's dtype, with a fixed order
of additions (the butterflies of the fast Walsh–Hadamard transform), so the same input gives
the same bits on every call.

References
----------
A. Tseng, J. Chee, Q. Sun, V. Kuleshov, C. De Sa, "QuIP#: Even better LLM quantization with
Hadamard incoherence and lattice codebooks", ICML 2024 (random Hadamard transform).
G. L. Steele, D. Lea, C. H. Flood, "Fast splittable pseudorandom number generators",
OOPSLA 2014 (SplitMix64).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["RandomHadamard", "hadamard_block", "splitmix64"]

_MASK = (1 << 64) - 1
#: Largest Walsh–Hadamard block used (bigger blocks mix more but cost log₂ b butterflies).
MAX_BLOCK = 4096


def splitmix64(seed: int, count: int) -> np.ndarray:
    """``count`` outputs of SplitMix64 started at ``seed`` (uint64), version-independent.

    Parameters
    ----------
    seed : int
        Any integer; taken modulo 2⁶⁴.
    count : int
        Number of outputs.
    """
    with np.errstate(over="ignore"):
        gamma = np.uint64(0x9E3779B97F4A7C15)
        z = np.uint64(seed & _MASK) + gamma * np.arange(1, count + 1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hadamard_block(n: int) -> int:
    """The Walsh–Hadamard block size for dimension ``n``: its largest power-of-two divisor, ≤ 4096."""
    if n <= 0:
        raise ValueError(f"dimension must be positive, got {n}")
    return min(n & -n, MAX_BLOCK)


class RandomHadamard:
    """The rotation ``T`` of the module docstring for dimension ``n`` and a seed.

    Parameters
    ----------
    n : int
        Dimension; must be a multiple of ``block``.
    seed : int
        Seed of the signs and the permutation.
    block : int, optional
        Walsh–Hadamard block size, a power of two dividing ``n`` (default
        :func:`hadamard_block`).
    """

    def __init__(self, n: int, seed: int, block: int | None = None):
        block = hadamard_block(n) if block is None else int(block)
        if block <= 0 or block & (block - 1) or n % block:
            raise ValueError(f"block must be a power of two dividing n={n}, got {block}")
        self.n = int(n)
        self.seed = int(seed)
        self.block = block
        draws = splitmix64(seed, 2 * n)
        self.signs = np.where(draws[:n] >> np.uint64(63), -1.0, 1.0)
        # A random permutation: the order of n independent 64-bit draws (stable for the
        # astronomically rare equal draws).
        self.perm = np.argsort(draws[n:], kind="stable").astype(np.int64)
        self.inv_perm = np.argsort(self.perm, kind="stable").astype(np.int64)
        self._torch: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}

    def _tables(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        key = (like.device, like.dtype)
        if key not in self._torch:
            self._torch[key] = (
                torch.as_tensor(self.signs, dtype=like.dtype, device=like.device),
                torch.as_tensor(self.perm, device=like.device),
                torch.as_tensor(self.inv_perm, device=like.device),
            )
        return self._torch[key]

    def _wht(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized Walsh–Hadamard transform of each block of the last dimension."""
        shape = x.shape
        b = self.block
        y = x.reshape(-1, self.n // b, b)
        h = 1
        while h < b:
            y = y.reshape(y.shape[0], y.shape[1], b // (2 * h), 2, h)
            a, c = y[:, :, :, 0, :], y[:, :, :, 1, :]
            y = torch.stack((a + c, a - c), dim=3)
            h *= 2
        return (y.reshape(shape) * (1.0 / float(np.sqrt(b)))).reshape(shape)

    def _check(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.n:
            raise ValueError(f"last dimension must be {self.n}, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``T(x)`` applied to the last dimension of ``x``."""
        self._check(x)
        signs, perm, _ = self._tables(x)
        return self._wht((x * signs)[..., perm])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``T⁻¹(y)`` applied to the last dimension of ``y``."""
        self._check(y)
        signs, _, inv_perm = self._tables(y)
        return self._wht(y)[..., inv_perm] * signs

    def conjugate(self, h: torch.Tensor) -> torch.Tensor:
        """``T H Tᵀ`` of a symmetric (n, n) matrix (the Hessian of the rotated inputs)."""
        return self.forward(self.forward(h).transpose(0, 1).contiguous())
