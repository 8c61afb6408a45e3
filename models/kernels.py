"""Frozen lattice kernels: orthonormal frames of minimal vectors, and the seeds' placeholder.

Lattice frames
--------------
A *frame* of a lattice is a set of ``n`` mutually orthogonal minimal vectors in dimension
``n``; normalized, they are the rows of an orthogonal matrix ``F``. Both lattices have frames:

* Leech (minimal norm 4): the vectors ``(±4, ±4, 0²²)/√8`` of shape (±4², 0²²) on the
  coordinate pairs ``(0, 1), (2, 3), …, (22, 23)``: ``(4, 4)`` and ``(4, −4)`` on each pair are
  orthogonal, and vectors on disjoint pairs are orthogonal (SPLAG ch. 4 §11);
* E8 (minimal norm 2): the roots ``(±1, ±1, 0⁶)`` on the pairs ``(0, 1), …, (6, 7)``.

:func:`lattice_frame` finds a frame exactly: a greedy pass over the minimal vectors in their
documented order, in integer units, keeping each vector whose integer inner products with all
kept ones are 0; the result is checked to be a full frame (``V Vᵀ = norm · I`` in integers).
The greedy pass returns exactly the pair frames above.

The kernel used as ``x ↦ x @ kernel`` on 24-D (8-D) blocks is ``Fᵀ``: block coordinates
become the inner products ``⟨x, f_j⟩`` with the normalized frame vectors.

The seeds' placeholder
----------------------
The LILA transformers (LeechTransformer and its descendants) use a "Leech kernel" that is
not derived from the Leech lattice: the Q factor of the QR decomposition, computed by
``torch.linalg.qr`` in float32, of the 24 × 24 matrix with 2 on the diagonal and the
superdiagonal and −2 in the bottom-left corner (an upper bidiagonal matrix closed into a
cycle). :func:`lila_placeholder_kernel` reproduces that matrix for comparisons only. Its rows
are not lattice vectors: its entries are irrational multiples that no minimal vector has.

Why any orthogonal kernel is invisible to dot-product attention
---------------------------------------------------------------
For an orthogonal ``K``, ``(qK)(kK)ᵀ = q K Kᵀ kᵀ = q kᵀ``. So rotating both queries and keys
by the same kernel (the seeds' "geometric attention") computes exactly standard attention,
and replacing the query and key projections by ``x ↦ xK`` gives the scores ``⟨xᵢ, xⱼ⟩`` of
the identity projection, whatever the kernel. See :mod:`leechkit.models.attention`.

References
----------
J. H. Conway and N. J. A. Sloane, SPLAG, 3rd ed., ch. 4 §§8, 11.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from leechkit.lattice import e8, leech

__all__ = ["LATTICE_DIMS", "e8_head_directions", "lattice_frame", "lila_placeholder_kernel"]

#: Dimension of each supported lattice.
LATTICE_DIMS = {"leech": 24, "e8": 8}


def check_lattice(lattice: object) -> str:
    """The lattice name, validated (``"leech"`` or ``"e8"``)."""
    if lattice not in LATTICE_DIMS:
        raise ValueError(f"lattice must be one of {tuple(LATTICE_DIMS)}, got {lattice!r}")
    return str(lattice)


def _integer_vectors(lattice: str) -> np.ndarray:
    lat = leech() if lattice == "leech" else e8()
    return lat.minimal_vectors(integer=True).astype(np.int64)


@lru_cache(maxsize=2)
def _frame_integer(lattice: str) -> np.ndarray:
    """Rows: a frame of mutually orthogonal minimal vectors, integer units (greedy, exact)."""
    vecs = _integer_vectors(lattice)
    n = vecs.shape[1]
    alive = np.ones(vecs.shape[0], dtype=bool)
    kept = []
    while len(kept) < n and alive.any():
        v = vecs[int(np.flatnonzero(alive)[0])]
        kept.append(v)
        alive &= vecs @ v == 0
    frame = np.array(kept)
    norm = int(frame[0] @ frame[0])
    if frame.shape != (n, n) or not np.array_equal(frame @ frame.T, norm * np.eye(n, dtype=np.int64)):
        raise RuntimeError(
            f"greedy search found {len(kept)} orthogonal minimal vectors of {lattice}, not {n}"
        )
    frame.setflags(write=False)
    return frame


def lattice_frame(
    lattice: str = "leech", dtype: torch.dtype | None = None, integer: bool = False
) -> torch.Tensor:
    """Orthonormal ``n × n`` matrix whose rows are mutually orthogonal normalized minimal vectors.

    Parameters
    ----------
    lattice : {"leech", "e8"}
        Leech (n = 24) or E8 (n = 8).
    dtype : torch.dtype, optional
        Floating dtype of the result (default ``torch.get_default_dtype()``; ignored when
        ``integer``).
    integer : bool
        If True return the frame vectors themselves in integer units (int64; √8 units for
        Leech, doubled coordinates for E8), rows of norm 32 (Leech) or 8 (E8).

    Returns
    -------
    torch.Tensor
        ``(n, n)``: row ``j`` is ``v_j / ‖v_j‖`` for the frame vectors ``v_j`` (module
        docstring), so ``F Fᵀ = I``.
    """
    frame = _frame_integer(check_lattice(lattice))
    if integer:
        return torch.from_numpy(frame.copy())
    unit = frame / np.sqrt(float(frame[0] @ frame[0]))
    return torch.from_numpy(unit).to(dtype or torch.get_default_dtype())


def lila_placeholder_kernel(dim: int = 24) -> torch.Tensor:
    """The seeds' "Leech kernel" (a placeholder, not a lattice object), for comparisons only.

    Reproduces the LILA transformers' construction: ``B`` is ``dim × dim`` with ``B[i, i] = 2``,
    ``B[i, i+1] = 2`` (``i < dim − 1``) and ``B[dim−1, 0] = −2``; the kernel is the Q factor of
    ``torch.linalg.qr(B)`` computed in float32, used as ``x ↦ x @ Q``. It is orthogonal and has
    nothing to do with the Leech lattice (module docstring).

    Parameters
    ----------
    dim : int
        Matrix size; the seeds use 24.

    Returns
    -------
    torch.Tensor
        float32 ``(dim, dim)`` orthogonal matrix.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an integer ≥ 2, got {dim!r}")
    base = torch.zeros(dim, dim, dtype=torch.float32)
    idx = torch.arange(dim - 1)
    base[idx, idx] = 2.0
    base[idx, idx + 1] = 2.0
    base[dim - 1, dim - 1] = 2.0
    base[dim - 1, 0] = -2.0
    q, _ = torch.linalg.qr(base)
    return q


def e8_head_directions(n_heads: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Unit E8 root directions, one per attention head (for the ``"e8_bias"`` mode).

    The 8 rows of the E8 frame come first (mutually orthogonal directions for the first 8
    heads), then the other roots in the order of ``e8().minimal_vectors()``, each normalized
    to length 1. (E8-LILA takes the first ``n_heads`` roots of its own list, whose first four
    all lie in the plane of the first two coordinates.)

    Parameters
    ----------
    n_heads : int
        Number of heads, 1 to 240.
    dtype : torch.dtype, optional
        Floating dtype of the result (default ``torch.get_default_dtype()``).

    Returns
    -------
    torch.Tensor
        ``(n_heads, 8)`` unit vectors.
    """
    if isinstance(n_heads, bool) or not isinstance(n_heads, int) or not 1 <= n_heads <= 240:
        raise ValueError(f"n_heads must be an integer in [1, 240], got {n_heads!r}")
    frame = _frame_integer("e8")
    roots = _integer_vectors("e8")
    in_frame = (roots[:, None, :] == frame[None, :, :]).all(axis=2).any(axis=1)
    ordered = np.concatenate([frame, roots[~in_frame]])[:n_heads]
    return torch.from_numpy(ordered / np.sqrt(8.0)).to(dtype or torch.get_default_dtype())
