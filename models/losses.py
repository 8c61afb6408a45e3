"""The resonance loss: how close 24-D (8-D) blocks of hidden states point to lattice directions.

Definition
----------
Split the last dimension of the hidden states ``h`` into blocks ``h_b`` of the lattice
dimension ``n``. For a finite set ``V`` of directions (all minimal vectors of the lattice, or
the rows of a frame or of the seeds' placeholder kernel)

    ρ(h_b) = max_{v ∈ V} ⟨h_b, v⟩ / (‖h_b‖ ‖v‖),      loss = 1 − mean_b ρ(h_b).

``ρ = 0`` for a zero block. Against the 196,560 Leech minimal vectors (240 E8 roots), which
contain ``−v`` with every ``v``, ``ρ ≥ 0``; the seeds compare only to the 24 rows of their
placeholder matrix (``target="frame"`` here) and then ``ρ`` can be negative.

Exact maximum, gradients
------------------------
The maximizing vector ``v*`` is found by the exact structured search
:func:`leechkit.models.lattice_ops.nearest_minimal_vector` on the detached values (Numba on
CPU tensors, the fused Triton search on CUDA, batched torch operations on other devices;
never the 196,560 × 24 product). The alternative ``method="matmul"`` is a chunked product of
the blocks (scaled by their largest entries) with one vector
of each ± pair (``max ⟨h, v⟩ = max |⟨h, v⟩|`` over the pairs) in the hidden states' dtype,
with bounded memory. Then ``ρ`` is recomputed with ``v*`` as a constant (in torch, or on
CUDA by two fused kernels that gather ``v*`` themselves, one for the value and one for the
gradient), so gradients flow to the hidden states: the maximum of finitely many smooth
functions is differentiable wherever the maximizer is unique (almost everywhere), with the
gradient of the active cosine. The matrix-product path breaks exact or near ties (within the
rounding of its dtype) by a different rule than the exact search, which changes ``ρ`` by at
most that rounding.

Both paths recompute ``ρ`` from each block divided by its largest absolute entry (which leaves
``ρ`` unchanged and cancels exactly for a power-of-two scale), so blocks of any magnitude in
their dtype, subnormal or near its largest values, get their cosines; plain norms would
under- or overflow there.

References
----------
J. H. Conway and N. J. A. Sloane, SPLAG, ch. 4 §11 (the 196,560 minimal vectors).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from leechkit.lattice.quantizers import index_to_vector, vector_to_index

from .kernels import LATTICE_DIMS, check_lattice, lattice_frame
from .lattice_ops import _peak_scaled, _triton_kernels, _triton_ready, nearest_minimal_vector

__all__ = ["ResonanceLoss", "max_cosine"]

_METHODS = ("auto", "structured", "matmul")


@lru_cache(maxsize=2)
def _half_table(lattice: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vector of each ± pair (first nonzero entry positive, unit length), and the indices
    of ``+v`` and ``−v`` in ``minimal_vectors()`` order."""
    count = 196560 if lattice == "leech" else 240
    vecs = index_to_vector(np.arange(count), lattice, integer=True)
    first = vecs[np.arange(count), np.argmax(vecs != 0, axis=1)]
    half = vecs[first > 0]
    pos = vector_to_index(half, lattice, integer=True)
    neg = vector_to_index(-half, lattice, integer=True)
    unit = half / np.linalg.norm(half[0])
    return unit, pos, neg


_DEVICE_TABLES: dict[tuple[str, str, torch.dtype], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _device_table(lattice: str, device: torch.device, dtype: torch.dtype):
    key = (lattice, str(device), dtype)
    if key not in _DEVICE_TABLES:
        unit, pos, neg = _half_table(lattice)
        _DEVICE_TABLES[key] = (
            torch.from_numpy(unit).to(device=device, dtype=dtype),
            torch.from_numpy(pos).to(device),
            torch.from_numpy(neg).to(device),
        )
    return _DEVICE_TABLES[key]


_UNIT_TABLES: dict[tuple[str, str, torch.dtype], torch.Tensor] = {}


def _unit_table(lattice: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """All minimal vectors divided by their length, in ``minimal_vectors()`` order, each entry
    rounded once from float64 (one gather per loss call instead of a gather, a norm and a
    division)."""
    key = (lattice, str(device), dtype)
    if key not in _UNIT_TABLES:
        ints = index_to_vector(np.arange(196560 if lattice == "leech" else 240), lattice, integer=True)
        unit = ints / np.sqrt(32.0 if lattice == "leech" else 8.0)
        _UNIT_TABLES[key] = torch.from_numpy(unit).to(device=device, dtype=dtype)
    return _UNIT_TABLES[key]


_INTEGER_TABLES: dict[tuple[str, str], torch.Tensor] = {}


def _integer_table(lattice: str, device: torch.device) -> torch.Tensor:
    """All minimal vectors in integer coordinates (√8 units for Leech, doubled for E8), int8,
    in ``minimal_vectors()`` order: the table the fused cosine kernels gather from."""
    key = (lattice, str(device))
    if key not in _INTEGER_TABLES:
        ints = index_to_vector(np.arange(196560 if lattice == "leech" else 240), lattice, integer=True)
        _INTEGER_TABLES[key] = torch.from_numpy(ints.astype(np.int8)).to(device)
    return _INTEGER_TABLES[key]


def _indices_matmul(flat: torch.Tensor, lattice: str, chunk_elements: int) -> torch.Tensor:
    unit, pos, neg = _device_table(lattice, flat.device, flat.dtype)
    rows = max(1, chunk_elements // unit.shape[0])
    out = torch.empty(flat.shape[0], dtype=torch.int64, device=flat.device)
    for start in range(0, flat.shape[0], rows):
        dots = flat[start : start + rows] @ unit.T
        best = dots.abs().argmax(dim=1)
        sign = dots.gather(1, best[:, None])[:, 0] >= 0
        out[start : start + rows] = torch.where(sign, pos[best], neg[best])
    return out


def _check_blocks(hidden: object, n: int) -> torch.Tensor:
    if not isinstance(hidden, torch.Tensor):
        raise TypeError(f"hidden states must be a torch.Tensor, got {type(hidden).__name__}")
    if not hidden.is_floating_point():
        raise TypeError(f"hidden states must be floating point, got {hidden.dtype}")
    if hidden.ndim == 0 or hidden.shape[-1] % n:
        raise ValueError(
            f"the last dimension of the hidden states ({tuple(hidden.shape)}) must be a multiple of {n}"
        )
    return hidden.reshape(*hidden.shape[:-1], -1, n)


def max_cosine(
    hidden: torch.Tensor,
    lattice: str = "leech",
    vectors: torch.Tensor | None = None,
    method: str = "auto",
    chunk_elements: int = 1 << 26,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest cosine of each ``n``-D block of ``hidden`` with a set of lattice directions.

    Parameters
    ----------
    hidden : torch.Tensor
        (..., k·n) floating tensor; the last dimension is split into ``k`` blocks of ``n``
        (24 Leech, 8 E8).
    lattice : {"leech", "e8"}
        Lattice of the blocks.
    vectors : torch.Tensor, optional
        (m, n) explicit directions (e.g. a frame's rows); by default all minimal vectors.
    method : {"auto", "structured", "matmul"}
        Search for the minimal vectors: the exact structured search of
        :func:`leechkit.models.lattice_ops.nearest_minimal_vector` (Numba on CPU tensors, torch
        on other devices; also ``"auto"``), or the chunked matrix product. Ignored with
        ``vectors``.
    chunk_elements : int
        Matrix-product entries per chunk (memory bound of the ``"matmul"`` path).

    Returns
    -------
    tuple of torch.Tensor
        ``(cosines, indices)`` of shape (..., k): the maximal cosine (differentiable with
        respect to ``hidden``) and the index of the maximizing vector (in
        ``minimal_vectors()`` order, or a row of ``vectors``).

    Raises
    ------
    TypeError
        ``hidden`` is not a floating tensor.
    ValueError
        The last dimension is not a multiple of ``n``; an unknown lattice or method;
        ``vectors`` of the wrong width.
    """
    lattice = check_lattice(lattice)
    n = LATTICE_DIMS[lattice]
    blocks = _check_blocks(hidden, n)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if vectors is not None:
        if vectors.ndim != 2 or vectors.shape[1] != n:
            raise ValueError(f"vectors must have shape (m, {n}), got {tuple(vectors.shape)}")
        unit = vectors.to(blocks) / vectors.to(blocks).norm(dim=-1, keepdim=True)
        scaled = blocks / _peak_scaled(blocks.detach())[1]  # a constant scale per block
        norms = scaled.norm(dim=-1)
        cos = (scaled @ unit.T) / torch.where(norms > 0, norms, 1).unsqueeze(-1)
        best, idx = cos.max(dim=-1)
        return torch.where(norms > 0, best, torch.zeros_like(best)), idx
    flat = blocks.detach().reshape(-1, n)
    if method == "matmul":
        # Any positive scale of a row leaves its best direction unchanged; the peak scale keeps
        # the products of tiny or huge rows in range.
        idx = _indices_matmul(_peak_scaled(flat)[0], lattice, chunk_elements)
    else:
        idx = nearest_minimal_vector(flat, lattice)
    if _triton_ready(blocks):
        cos = _FusedCosine.apply(blocks, idx, _integer_table(lattice, blocks.device))
    else:
        unit = _unit_table(lattice, blocks.device, blocks.dtype)[idx]
        cos = _CosineToFixed.apply(blocks, unit.reshape(blocks.shape))
    return cos, idx.reshape(blocks.shape[:-1])


class _CosineToFixed(torch.autograd.Function):
    """``ρ = ⟨h, u⟩ / ‖h‖`` per block for fixed unit directions ``u`` (0 where ``h = 0``), with
    the gradient ``∂ρ/∂h = (u − ρ h/‖h‖) / ‖h‖`` written out: a handful of tensor operations
    instead of the autograd graph of the division, norms and mask, whose kernel launches
    dominated the loss on the GPU.

    Both are computed from the block scaled by its largest absolute entry ``p``
    (:func:`leechkit.models.lattice_ops._peak_scaled`): with ``x = h/p``, ``ρ = ⟨x, u⟩/‖x‖``
    and ``∂ρ/∂h = (u − ρ x/‖x‖) / (p ‖x‖)``, where ``‖x‖ ∈ [1, √n]``, so a block of any
    magnitude in its dtype gets its cosine (the gradient overflows only where its true
    value is beyond the dtype's range).
    """

    @staticmethod
    def forward(ctx, blocks: torch.Tensor, unit: torch.Tensor) -> torch.Tensor:
        scaled, peak = _peak_scaled(blocks)
        norms = torch.linalg.vector_norm(scaled, dim=-1)
        # Zero blocks (norm 0; every other block has norm ≥ 1) get ρ = 0 and no gradient.
        inv = torch.where(norms > 0, norms.reciprocal(), 0)
        cos = torch.linalg.vecdot(scaled, unit) * inv
        ctx.save_for_backward(scaled, peak, unit, inv, cos)
        return cos

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        scaled, peak, unit, inv, cos = ctx.saved_tensors
        g = (grad * inv).unsqueeze(-1)
        # The division by the peak comes last: the product before it is at most 2|g|.
        return g * (unit - (cos * inv).unsqueeze(-1) * scaled) / peak, None


class _FusedCosine(torch.autograd.Function):
    """:class:`_CosineToFixed` by the fused kernels on CUDA
    (:func:`leechkit.models._triton_kernels.block_cosines` and
    :func:`~leechkit.models._triton_kernels.block_cosine_grads`): one launch each way, the
    minimal vectors gathered inside from the int8 table by their indices, float64 arithmetic,
    results in the blocks' dtype."""

    @staticmethod
    def forward(ctx, blocks: torch.Tensor, idx: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        flat, idx = blocks.reshape(-1, blocks.shape[-1]), idx.reshape(-1)
        ctx.save_for_backward(blocks, idx, vectors)
        return _triton_kernels().block_cosines(flat, idx, vectors).reshape(blocks.shape[:-1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        blocks, idx, vectors = ctx.saved_tensors
        flat = blocks.reshape(-1, blocks.shape[-1])
        out = _triton_kernels().block_cosine_grads(flat, idx, vectors, grad.reshape(-1))
        return out.reshape(blocks.shape), None, None


class ResonanceLoss(nn.Module):
    """``1 − mean max cosine`` of hidden-state blocks to lattice directions (module docstring).

    Parameters
    ----------
    lattice : {"leech", "e8"}
        Block size 24 or 8 and the lattice's minimal vectors.
    target : {"minimal", "frame"}
        All minimal vectors (196,560 / 240), or only the rows of ``vectors`` (the seeds'
        behaviour with their 24 placeholder rows).
    vectors : torch.Tensor, optional
        (m, n) rows for ``target="frame"``; default the lattice frame
        (:func:`leechkit.models.kernels.lattice_frame`).
    method : {"auto", "structured", "matmul"}
        Search method for ``target="minimal"`` (see :func:`max_cosine`).
    chunk_elements : int
        Memory bound of the matrix-product search.
    """

    def __init__(
        self,
        lattice: str = "leech",
        target: str = "minimal",
        vectors: torch.Tensor | None = None,
        method: str = "auto",
        chunk_elements: int = 1 << 26,
    ):
        super().__init__()
        self.lattice = check_lattice(lattice)
        if target not in ("minimal", "frame"):
            raise ValueError(f"target must be 'minimal' or 'frame', got {target!r}")
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        self.target = target
        self.method = method
        self.chunk_elements = int(chunk_elements)
        if target == "frame":
            rows = (
                lattice_frame(lattice) if vectors is None else vectors.detach().to(torch.get_default_dtype())
            )
            self.register_buffer("vectors", rows.clone())
        else:
            self.vectors = None

    def match(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Maximal cosines and maximizing indices of every block (see :func:`max_cosine`).

        Parameters
        ----------
        hidden : torch.Tensor
            (..., k·n) hidden states.
        """
        return max_cosine(hidden, self.lattice, self.vectors, self.method, self.chunk_elements)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """The scalar loss ``1 − mean ρ`` over all blocks of all positions.

        Parameters
        ----------
        hidden : torch.Tensor
            (..., k·n) hidden states.
        """
        cos, _ = self.match(hidden)
        return 1.0 - cos.mean()
