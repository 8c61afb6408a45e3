"""Lattice operations on torch tensors: the exact nearest minimal vector on any device.

:func:`nearest_minimal_vector` finds, for each 24-D (8-D) block of a tensor, the Leech minimal
vector (E8 root) with the largest inner product, exactly, with the index order and tie rule
of :func:`leechkit.lattice.quantizers.nearest_minimal_vector`. CPU tensors go to that Numba
search; tensors on other devices are searched in torch on their device by the structured
algorithm below (batched tensor operations, about 40,000 float64 operations per 24-D point
instead of the 196,560 × 24 product), and only rows whose answer is not certified are copied
to the CPU and decided there exactly.

Structured search (Leech, √8 units)
-----------------------------------
The minimal vectors have three shapes (SPLAG ch. 4 §11); for each the best inner product
with ``x`` has a closed form, and so has the best *other* vector of the same family, which
certifies the winner:

1. (±4², 0²²): ``4(a₁ + a₂)`` with ``a₁ ≥ a₂ ≥ a₃`` the largest ``|xᵢ|``; runner-up
   ``4(a₁ + a₃)``.
2. (±2⁸, 0¹⁶) on octad ``O`` (even number of minus signs): with ``T = 2 Σ_O |xᵢ|`` and
   ``m₁ ≤ m₂`` the two smallest ``|xᵢ|`` on ``O``, the best is ``T`` when ``x`` has an even
   number of negative entries on ``O``, else ``T − 4m₁`` (flip the cheapest sign); the
   runner-up on ``O`` is ``T − 4(m₁ + m₂)``, resp. ``T − 4m₂``.
3. (∓3, ±1²³) for codeword ``c`` and position ``k``: ``Σ sᵢxᵢ − 4 s_k x_k`` with
   ``s = (−1)^c``. Complementing two whole MOG columns maps the Golay code to itself (two
   columns form an octad of the sextet of columns), so the code is 128 cosets of the
   32 even column complements. In coset ``g`` with representative signs ``sᵍ`` and column
   sums ``σⱼ = Σ_{i ∈ col j} sᵍᵢ xᵢ``, complementing the columns where ``εⱼ = −1`` gives
   ``Σⱼ εⱼ aⱼ`` with ``aⱼ = σⱼ`` except ``a_{col k} = σ_{col k} − 4 sᵍ_k x_k``, maximised over
   sign vectors ``ε`` with an even number of −1: the sign-parity rule again, on six numbers.

Every candidate family (the shape-1 pair, 759 octads, 128 × 24 coset–position pairs) yields
its best value and its runner-up; the winner is certified when the best exceeds every other
value by more than ``2⁻⁴⁰ · 4 Σ|xᵢ|``, far above float64 rounding (below ``2⁻⁴⁶ · 4 Σ|xᵢ|``
for these sums of at most 30 terms, after an exact power-of-two normalisation). Exact ties
and near ties (zeros, repeated magnitudes, inputs equal to sums of minimal vectors) are sent
to the exact CPU search, so the result is the same as on the CPU, rule included. float32 and
bfloat16 inputs are widened to float64 exactly. On CUDA with Triton the fused kernel of
:mod:`._triton_kernels` computes the same values, in float32 for float32 and narrower inputs
(which float32 holds exactly after the scaling) with the margin ``2⁻¹⁵ · 4 Σ|xᵢ|`` that covers
its rounding (:data:`_SEARCH_MARGINS`), in float64 for float64 inputs.

E8 (doubled coordinates): roots (±2², 0⁶) give ``2(a₁ + a₂)``, roots (±1⁸) with an even
number of minus signs the sign-parity rule ``Σ|xᵢ|`` or ``Σ|xᵢ| − 2m₁``. On CUDA with Triton
the fused kernel computes the same values and certificate in float64 in one pass over the rows
(:func:`._triton_kernels.e8_search`).

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups* (SPLAG), 3rd ed.,
ch. 4 §11 (the Leech lattice and its minimal vectors), ch. 11 (MOG, sextets, hexacode).
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from itertools import combinations
from types import ModuleType

import numpy as np
import torch

from leechkit.lattice import golay_code
from leechkit.lattice.codes.hexacode import hexacode
from leechkit.lattice.decoders import decode_e8 as _decode_e8_numba
from leechkit.lattice.decoders import decode_leech as _decode_leech_numba
from leechkit.lattice.decoders import decode_leech_integer as _decode_leech_integer_numba
from leechkit.lattice.decoders._leech_kernels import VEC as _LEECH_VEC
from leechkit.lattice.lattices.leech import SHAPE_OFFSETS
from leechkit.lattice.quantizers import index_to_vector
from leechkit.lattice.quantizers import nearest_minimal_vector as _numba_search

__all__ = ["decode", "nearest_minimal_vector"]

_DIMS = {"leech": 24, "e8": 8}
_COUNTS = {"leech": 196560, "e8": 240}
_SCALES = {"leech": 8.0**-0.5, "e8": 0.5}
_MARGIN = 2.0**-40
#: Relative certification margins of the fused search by arithmetic (kernel test:
#: ``best − runner-up > margin · 4Σ|xᵢ|``). A candidate's value ``Σ cᵢxᵢ`` (|cᵢ| ≤ 4) is formed
#: from rows scaled to max |xᵢ| ∈ [½, 1) by at most 64 roundings of quantities below 8Σ|xᵢ|,
#: so its error is below 64 · 2⁻²⁴ · 8Σ|xᵢ| = 2⁻¹⁵Σ|xᵢ| in float32: two values are ordered
#: correctly when they differ by more than 2⁻¹⁴Σ|xᵢ| < 2⁻¹⁵ · 4Σ|xᵢ|. float64: the same
#: count gives 2⁻⁴⁴Σ|xᵢ|, far inside 2⁻⁴⁰.
_SEARCH_MARGINS = {torch.float32: 2.0**-15, torch.float64: _MARGIN}
#: Rows per launch of the fused search: enough programs to fill every SM (a launch of a few
#: thousand rows leaves most of an H100 idle); its memory is a few hundred bytes per row.
#: Independent of ``chunk_size``, which sizes the batched torch search.
_FUSED_ROWS = 1 << 20
#: Rows per launch of the hexacode kernel in :func:`decode`: the redo of one piece's open rows
#: (host work, about 1.5 ms + 0.1 ms per 10⁶ rows of the piece on an H200) overlaps the
#: decoding of the next pieces (0.8 ms per 10⁶ rows), so a piece must be large enough for its
#: kernel to outlast the redo of the one before; the last piece's redo is never hidden.
#: ``python benchmarks/bench_gpu.py --decode-stages`` times the choices.
_PIECE_ROWS = 1 << 23
#: The stream of that redo, per CUDA device: of high priority, as the GPU's block scheduler
#: would otherwise start the redo's small kernels only once every queued block of the
#: pieces' kernel launches had started, which leaves nothing to overlap.
_SIDE_STREAMS: dict[torch.device, torch.cuda.Stream] = {}
#: |d(D8) − d(D8 + ½)| at or below which an E8 row is decided on the CPU (as the CPU kernel does).
_E8_NEAR_TIE = 1e-9
_SQRT8 = math.sqrt(8.0)


@lru_cache(maxsize=1)
def _leech_tables() -> dict[str, np.ndarray]:
    """Cosets of the even column complements, their words' indices, octads and pair indices."""
    words = golay_code().codewords().astype(np.int64)  # (4096, 24), row w = codeword w
    weights = np.int64(1) << np.arange(24, dtype=np.int64)
    index_of = {int(k): w for w, k in enumerate(words @ weights)}
    col_bits = np.zeros((64, 24), dtype=np.int64)  # col_bits[mask]: ones on the columns of mask
    for mask in range(64):
        for j in range(6):
            if mask >> j & 1:
                col_bits[mask, 4 * j : 4 * j + 4] = 1
    # Canonical representative: complement the columns 0..4 whose top cell is 1, and column 5
    # as well when that makes an odd number of complements.
    flips = words[:, 0:20:4]
    masks = (flips << np.arange(5)).sum(axis=1) | ((flips.sum(axis=1) % 2) << 5)
    canon = words ^ col_bits[masks]
    reps, group = np.unique(canon @ weights, return_inverse=True)
    if len(reps) != 128 or np.bincount(group).min() != 32:
        raise RuntimeError("the Golay code is not a union of 128 cosets of the column complements")
    rep_words = np.array([(int(k) >> np.arange(24)) & 1 for k in reps], dtype=np.int64)
    even = np.array([bin(m).count("1") % 2 == 0 for m in range(64)])
    even_list = np.flatnonzero(even)
    word_index = np.full((128, 64), -1, dtype=np.int64)  # word_index[g, mask] for even masks
    for g in range(128):
        for mask in np.flatnonzero(even):
            word_index[g, mask] = index_of[int((rep_words[g] ^ col_bits[mask]) @ weights)]
    octads = golay_code().octads()
    positions = np.sort(np.nonzero(octads)[1].reshape(-1, 8), axis=1)
    pair_index = np.zeros((24, 24), dtype=np.int64)
    for p, (i, j) in enumerate(combinations(range(24), 2)):
        pair_index[i, j] = p
    # The hexacode decoder's tables: the hexacode, the column of score s, parity q and top bit 0
    # at 2s + q, and the id 32g + k (coset group, even column mask) of the codeword with parity
    # q, hexacode word w and top bits t (bit j: column j; t of the wrong parity is never read).
    id_of = {int((rep_words[g] ^ col_bits[mask]) @ weights): 32 * g + k
             for g in range(128) for k, mask in enumerate(even_list)}  # fmt: skip
    hex_words = hexacode().astype(np.int64)
    hexacode_ids = np.zeros((2, 64, 64), dtype=np.int32)
    for q in range(2):
        for w in range(64):
            for tmask in range(64):
                if bin(tmask).count("1") % 2 != q:
                    continue
                cols = [_LEECH_VEC[2 * hex_words[w, j] + q, (tmask >> j) & 1] for j in range(6)]
                bits = np.array([(c >> r) & 1 for c in cols for r in range(4)], dtype=np.int64)
                hexacode_ids[q, w, tmask] = id_of[int(bits @ weights)]
    return {
        "hexacode_words": hex_words.astype(np.int32),
        "column_vec0": np.ascontiguousarray(_LEECH_VEC[:, 0].astype(np.int32)),
        "hexacode_ids": hexacode_ids,
        "root8": np.array([_SQRT8]),
        "signs": 1 - 2 * rep_words,  # (128, 24): (−1)^{c_g}
        "word_index": word_index,
        "positions": positions,  # (759, 8), ascending
        "pair_index": pair_index,
        "others": np.array([[k for k in range(6) if k != j] for j in range(6)], dtype=np.int64),
        # The fused kernels' forms of these tables, and for decoding the representatives'
        # bits and the 32 even subsets of the six columns (zero-padded to 32 lanes).
        "coset_bits": np.pad(rep_words.astype(np.int32), ((0, 0), (0, 8))),
        "column_patterns": np.ascontiguousarray(
            (rep_words.reshape(128, 6, 4) << np.arange(4)).sum(axis=2).T.astype(np.int32)
        ),
        "even_masks": np.pad(((even_list[None, :] >> np.arange(6)[:, None]) & 1).astype(np.int32),
                             ((0, 2), (0, 0))),
        "even_colbits": col_bits[even_list],
        "even_colbits32": np.pad(col_bits[even_list].astype(np.int32), ((0, 0), (0, 8))),
        "octad_positions": positions.astype(np.int32),
        "word_index32": word_index.astype(np.int32),
        "float_signs": (1 - 2 * rep_words).astype(np.float64),
        "float_signs32": (1 - 2 * rep_words).astype(np.float32),
    }


@lru_cache(maxsize=1)
def _e8_index_table() -> np.ndarray:
    """Root index by the base-5 key ``Σ (vᵢ + 2)·5ⁱ`` of the doubled root ``v``."""
    roots = index_to_vector(np.arange(240), "e8", integer=True).astype(np.int64)
    table = np.full(5**8, -1, dtype=np.int64)
    table[(roots + 2) @ (5 ** np.arange(8))] = np.arange(240)
    return table


_DEVICE_TABLES: dict[tuple[str, str], dict[str, torch.Tensor]] = {}


def _tables(lattice: str, device: torch.device) -> dict[str, torch.Tensor]:
    key = (lattice, str(device))
    if key not in _DEVICE_TABLES:
        if lattice == "leech":
            host = _leech_tables()
        else:
            host = {"index": _e8_index_table(), "powers": 5 ** np.arange(8)}
        _DEVICE_TABLES[key] = {k: torch.as_tensor(v, device=device) for k, v in host.items()}
    return _DEVICE_TABLES[key]


def _two_smallest(mag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest and second smallest entry along the last axis (min/argmin, no sort)."""
    m1, i1 = mag.min(dim=-1, keepdim=True)
    m2 = mag.scatter(-1, i1, torch.inf).amin(dim=-1)
    return m1[..., 0], m2


def _sign_parity(a: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best and runner-up of ``scale · Σ εⱼ aⱼ`` over signs with an even number of −1 (last axis),
    and whether the best flips the smallest ``|aⱼ|`` (odd number of negative ``aⱼ``)."""
    mag = a.abs()
    odd = (a < 0).sum(-1) % 2 == 1
    m1, m2 = _two_smallest(mag)
    best, runner = _parity_values(mag.sum(-1), m1, m2, odd)
    return scale * best, scale * runner, odd


def _parity_values(
    total: torch.Tensor, m1: torch.Tensor, m2: torch.Tensor, odd: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best and runner-up of the sign-parity rule from ``Σ|aⱼ|``, the two smallest ``|aⱼ|`` and
    the parity: an odd number of negative ``aⱼ`` costs ``2m₁`` (flip the cheapest), and the
    next best flips ``m₂`` instead (odd) or the two cheapest (even)."""
    best = total - 2 * m1 * odd
    runner = torch.where(odd, total - 2 * m2, total - 2 * (m1 + m2))
    return best, runner


def _leech_scores(x: torch.Tensor, t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Winning candidate family of each normalised float64 row (B, 24) and its certificate.

    Families in the order of the kernel: 0 the shape (±4²), ``1 + o`` octad ``o``,
    ``760 + 24g + k`` coset ``g`` with the −3 at position ``k``. This is the readable torch
    reference of :func:`._triton_kernels.leech_search_scores`.
    """
    b = x.shape[0]
    mag = x.abs()
    top = mag.topk(3, dim=1).values
    best1, run1 = 4 * (top[:, 0] + top[:, 1]), 4 * (top[:, 0] + top[:, 2])
    best2, run2, _ = _sign_parity(x[:, t["positions"]], 2.0)  # (B, 759)
    # Shape 3. Per coset g the column sums σ; for position k only column c = col(k) changes,
    # to a_c = σ_c − 4 sᵍ_k x_k, so the sign-parity rule needs, per column c, the two smallest
    # |σⱼ| over the other five columns (from the three smallest of all six).
    xs = x[:, None, :] * t["signs"][None]  # (B, 128, 24)
    sigma = xs.view(b, 128, 6, 4).sum(-1)  # (B, 128, 6)
    smag = sigma.abs()
    low, low_at = smag.sort(dim=-1)  # (B, 128, 6)
    cols = torch.arange(6, device=x.device)
    first = cols == low_at[..., :1]
    second = cols == low_at[..., 1:2]
    other1 = torch.where(first, low[..., 1:2], low[..., :1])  # (B, 128, 6): per column c
    other2 = torch.where(first | second, low[..., 2:3], low[..., 1:2])
    col = torch.arange(24, device=x.device) // 4
    ak = sigma[..., col] - 4 * xs  # (B, 128, 24)
    amag = ak.abs()
    total = smag.sum(-1, keepdim=True) - smag[..., col] + amag
    negatives = (sigma < 0).sum(-1, keepdim=True) - (sigma < 0)[..., col].long() + (ak < 0).long()
    o1, o2 = other1[..., col], other2[..., col]
    m1 = torch.minimum(amag, o1)
    m2 = torch.maximum(o1, torch.minimum(amag, o2))
    best3, run3 = _parity_values(total, m1, m2, negatives % 2 == 1)  # (B, 128, 24)
    cand = torch.cat([best1[:, None], best2, best3.reshape(b, -1)], dim=1)
    top_value, win = cand.max(dim=1)
    second_value = cand.scatter(1, win[:, None], -torch.inf).amax(dim=1)
    runner = torch.stack(
        [second_value, run1, run2.amax(dim=1), run3.reshape(b, -1).amax(dim=1)], dim=1
    ).amax(dim=1)
    return win, top_value - runner > _MARGIN * 4 * mag.sum(dim=1)


def _leech_index(x: torch.Tensor, win: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """Index of the best minimal vector of the winning family ``win`` of each row (B, 24)."""
    b = x.shape[0]
    rows = torch.arange(b, device=x.device)
    mag = x.abs()
    pos = mag.topk(2, dim=1).indices
    neg = (x < 0).long()
    lo = torch.minimum(pos[:, 0], pos[:, 1])
    hi = torch.maximum(pos[:, 0], pos[:, 1])
    idx1 = 4 * t["pair_index"][lo, hi] + 2 * neg[rows, lo] + neg[rows, hi]
    is2 = (win >= 1) & (win < 760)
    o = (win - 1).clamp(0, 758)
    opos = t["positions"][o]  # (B, 8)
    on = neg.gather(1, opos)
    flip = on.sum(1) % 2 == 1
    on[rows, mag.gather(1, opos).argmin(dim=1)] ^= flip.long()
    bits = torch.tensor([64, 32, 16, 8, 4, 2, 1, 0], device=x.device)
    idx2 = SHAPE_OFFSETS[1] + 128 * o + (on * bits).sum(1)
    q = (win - 760).clamp(min=0)
    g, k = q // 24, q % 24
    xs = x * t["signs"][g]  # (B, 24): the winning coset's representative signs
    aw = xs.view(b, 6, 4).sum(-1)  # (B, 6): its column sums, then the −3 at position k
    aw[rows, k // 4] -= 4 * xs[rows, k]
    eps_neg = (aw < 0).long()
    eps_neg[rows, aw.abs().argmin(dim=1)] ^= eps_neg.sum(1) % 2
    mask = (eps_neg << torch.arange(6, device=x.device)).sum(1)
    idx3 = SHAPE_OFFSETS[2] + 24 * t["word_index"][g, mask] + k
    return torch.where(win == 0, idx1, torch.where(is2, idx2, idx3))


def _e8_block(x: torch.Tensor, t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and certification flags of one block of normalised float64 rows (B, 8)."""
    b = x.shape[0]
    rows = torch.arange(b, device=x.device)
    mag = x.abs()
    top, pos = mag.topk(3, dim=1)
    best1, run1 = 2 * (top[:, 0] + top[:, 1]), 2 * (top[:, 0] + top[:, 2])
    best2, run2, odd = _sign_parity(x, 1.0)
    win1 = best1 >= best2
    runner = torch.maximum(torch.minimum(best1, best2), torch.maximum(run1, run2))
    certified = torch.maximum(best1, best2) - runner > _MARGIN * 4 * mag.sum(dim=1)
    sign = torch.where(x < 0, -1, 1)
    v1 = torch.zeros(b, 8, dtype=torch.int64, device=x.device)
    v1[rows, pos[:, 0]] = 2 * sign[rows, pos[:, 0]]
    v1[rows, pos[:, 1]] = 2 * sign[rows, pos[:, 1]]
    v2 = sign.clone()
    v2[rows, mag.argmin(dim=1)] *= torch.where(odd, -1, 1)
    v = torch.where(win1[:, None], v1, v2)
    return t["index"][((v + 2) * t["powers"]).sum(dim=1)], certified


def _rows(x: torch.Tensor, lattice: str) -> torch.Tensor:
    """``x`` as detached rows (N, n) of its lattice's dimension, after checking the arguments."""
    if lattice not in _DIMS:
        raise ValueError(f"lattice must be 'leech' or 'e8', got {lattice!r}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    n = _DIMS[lattice]
    if x.ndim == 0 or x.shape[-1] != n:
        raise ValueError(f"x must have last dimension {n} for {lattice}, got shape {tuple(x.shape)}")
    return x.detach().reshape(-1, n)


def _peak_scaled(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``x`` divided by their largest absolute entry, for cosines at any magnitude.

    A cosine does not change when its vector is scaled, while the norm and the dot products
    of a row far from unit size under- or overflow in its dtype (a float32 row of size 10⁻³⁰
    has squares below float32's range; one of 10²⁰ has squares above it). Divided by its peak
    ``p = max |xᵢ|`` the row has one entry ±1 and the others in [−1, 1], so its norm lies in
    [1, √n] and nothing leaves the range. Zero rows stay zero (``p`` is then the dtype's
    least positive value).

    Parameters
    ----------
    x : torch.Tensor
        (..., n) floating tensor with finite entries.

    Returns
    -------
    tuple of torch.Tensor
        ``(x / p, p)`` with ``p`` of shape (..., 1), positive.
    """
    info = torch.finfo(x.dtype)
    peak = torch.linalg.vector_norm(x, ord=math.inf, dim=-1, keepdim=True).clamp_min(info.tiny * info.eps)
    return x / peak, peak


def nearest_minimal_vector(
    x: torch.Tensor,
    lattice: str = "leech",
    return_vectors: bool = False,
    return_cosines: bool = False,
    chunk_size: int = 8192,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Index of the minimal vector with the largest inner product with each row of ``x`` (exact).

    Same results, index order and tie rule (smallest index among exactly equal maxima) as
    :func:`leechkit.lattice.quantizers.nearest_minimal_vector`, for torch tensors on any
    device; see the module docstring for the algorithm off the CPU.

    Parameters
    ----------
    x : torch.Tensor
        Shape (..., 24) for Leech or (..., 8) for E8, a floating dtype, finite values.
    lattice : {"leech", "e8"}
        Search the 196,560 Leech minimal vectors or the 240 E8 roots.
    return_vectors : bool
        Also return the minimal vectors (``x``'s dtype and device; norm 4 for Leech, 2 for E8).
    return_cosines : bool
        Also return the cosines between ``x`` and its vectors (0 where ``x = 0``).
    chunk_size : int
        Rows searched at once by the batched torch search off the CPU (about 0.5 MB of device
        memory per row); the fused Triton search takes 2²⁰ rows per launch instead.

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        int64 indices of shape (...) on ``x``'s device; with ``return_vectors`` or
        ``return_cosines`` the tuple ``(indices, vectors, cosines)`` restricted to what was
        asked for.

    Raises
    ------
    TypeError
        ``x`` is not a floating-point tensor.
    ValueError
        Unknown lattice, wrong last dimension, NaN or infinite entries, ``chunk_size < 1``.
    """
    rows = _rows(x, lattice)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if lattice == "leech" and _triton_ready(rows):
        idx = _fused_search(rows, _tables(lattice, rows.device))  # the kernel checks finiteness
    else:
        if not bool(torch.isfinite(rows).all()):
            raise ValueError("x contains NaN or infinite entries")
        idx = _search_rows(rows, lattice, chunk_size)
    idx = idx.reshape(x.shape[:-1])
    out = [idx]
    if return_vectors or return_cosines:
        vecs = _vectors(lattice, x.device, x.dtype)[idx]
        if return_vectors:
            out.append(vecs)
        if return_cosines:
            xd, _ = _peak_scaled(x.detach())
            norm = xd.norm(dim=-1) * (2.0 if lattice == "leech" else 2.0**0.5)
            dots = (xd * vecs).sum(-1)
            out.append(torch.where(norm > 0, dots / torch.where(norm > 0, norm, 1), 0))
    return out[0] if len(out) == 1 else tuple(out)


def _search_rows(rows: torch.Tensor, lattice: str, chunk_size: int = 8192) -> torch.Tensor:
    """:func:`nearest_minimal_vector`'s int64 indices of rows (N, n) that the caller has
    already checked (shape, finite entries), without checking them again."""
    if rows.device.type == "cpu":
        return torch.from_numpy(_numba_search(rows.double().numpy(), lattice))
    return _device_search(rows, lattice, chunk_size)


def _triton_ready(x: torch.Tensor) -> bool:
    """Whether the fused Triton kernels can run on ``x`` (a CUDA tensor, Triton installed)."""
    if x.device.type != "cuda" or os.environ.get("LEECHKIT_NO_TRITON"):
        return False
    return _triton_kernels() is not None


@lru_cache(maxsize=1)
def _triton_kernels() -> ModuleType | None:
    try:
        from . import _triton_kernels as kernels
    except ImportError:
        return None
    return kernels


def _device_search(rows: torch.Tensor, lattice: str, chunk_size: int) -> torch.Tensor:
    t = _tables(lattice, rows.device)
    if _triton_ready(rows):
        return _fused_search(rows, t) if lattice == "leech" else _fused_e8_search(rows, t)
    idx = torch.empty(rows.shape[0], dtype=torch.int64, device=rows.device)
    for start in range(0, rows.shape[0], chunk_size):
        x = rows[start : start + chunk_size].double()
        # An exact power-of-two normalisation keeps every sum far from overflow.
        _, exponent = torch.frexp(x.abs().amax(dim=1, keepdim=True))
        x = torch.ldexp(x, -exponent)
        if lattice == "leech":
            win, certified = _leech_scores(x, t)
            got = _leech_index(x, win, t)
        else:
            got, certified = _e8_block(x, t)
        unsure = torch.nonzero(~certified).flatten()
        if unsure.numel():
            exact = _numba_search(rows[start + unsure].double().cpu().numpy(), lattice)
            got[unsure] = torch.as_tensor(exact, device=rows.device)
        idx[start : start + chunk_size] = got
    return idx


def _fused_search(rows: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """Leech indices of the rows (N, 24) by the fused kernels, which also scale the rows, flag
    non-finite ones and find the index. Rows of float32 or narrower data (widened to float32
    exactly) are searched in float32 first; the few that its wider margin leaves open (about
    0.3 % of Gaussian rows) are searched again in float64 by a second, lane-parallel launch
    queued right behind it, and the host synchronises once per launch chunk: to send the rows
    still open (exact ties) to the CPU, or to report non-finite input.

    Raises
    ------
    ValueError
        A row has a NaN or an infinite entry.
    """
    kernels = _triton_kernels()
    idx = torch.empty(rows.shape[0], dtype=torch.int64, device=rows.device)
    for start in range(0, rows.shape[0], _FUSED_ROWS):
        part = rows[start : start + _FUSED_ROWS]
        if part.dtype == torch.float64:
            args = (t["float_signs"], _MARGIN, None)
        else:
            part = part.float()
            args = (t["float_signs32"], _SEARCH_MARGINS[torch.float32], (t["float_signs"], _MARGIN))
        signs, margin, redo = args
        got = kernels.leech_search(part, t["octad_positions"], signs, t["word_index32"], margin, redo=redo)[0]
        if bool((got < 0).any()):
            if bool((got == -2).any()):
                raise ValueError("x contains NaN or infinite entries")
            unsure = torch.nonzero(got < 0).flatten()
            exact = _numba_search(part[unsure].double().cpu().numpy(), "leech")
            got[unsure] = _to_device(exact, got)
        idx[start : start + _FUSED_ROWS] = got
    return idx


def _fused_e8_search(rows: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """E8 root indices of the rows (N, 8) by the fused kernel (float64 arithmetic on float32 or
    float64 rows; narrower rows are widened to float32 exactly). One host synchronisation:
    the rows it leaves open (near and exact ties, entries of 2¹⁰⁰⁰ or more) are decided by the
    CPU search.

    Raises
    ------
    ValueError
        A row has a NaN or an infinite entry.
    """
    part = rows if rows.dtype in (torch.float32, torch.float64) else rows.float()
    got = _triton_kernels().e8_search(part, t["index"], t["powers"], _MARGIN)
    if bool((got < 0).any()):
        if bool((got == -2).any()):
            raise ValueError("x contains NaN or infinite entries")
        unsure = torch.nonzero(got < 0).flatten()
        got[unsure] = _to_device(_numba_search(part[unsure].double().cpu().numpy(), "e8"), got)
    return got


_MAX_ABS = 2.0**50


def decode(x: torch.Tensor, lattice: str = "leech") -> torch.Tensor:
    """Closest lattice points (exact) of the rows of a tensor on any device.

    The same points, bit for bit, as :func:`leechkit.lattice.decoders.decode_leech` and
    :func:`~leechkit.lattice.decoders.decode_e8` (tie rules included), in ``x``'s dtype and
    on its device. CPU tensors are decoded by those Numba kernels; CUDA tensors by the fused
    Triton kernels of :mod:`._triton_kernels` (E8: Conway–Sloane's two-coset rounding,
    memory-bound; Leech: by default the hexacode decoder, one thread per row, each of the
    256 (m, q, hexacode word) candidates exact by min-plus convolutions over the column labels,
    in packed 16-bit fixed point, and the groups kernel in float64 for the rows its margin
    leaves open; or, with
    :data:`LEECH_DECODE_KERNEL` = "groups", the 8,192 (m, codeword) cosets as 256 groups of
    the even column complements), with rows whose decision is not certified by a margin
    decided exactly on the CPU. Without Triton a CUDA
    tensor is decoded on the CPU.

    Parameters
    ----------
    x : torch.Tensor
        Shape (..., 24) for Leech or (..., 8) for E8, a floating dtype, finite entries of
        magnitude below 2⁵⁰ (standard scale: Leech minimal norm 4, E8 minimal norm 2).
    lattice : {"leech", "e8"}

    Returns
    -------
    torch.Tensor
        The closest points, same shape, dtype and device as ``x``. float32 (or narrower)
        results are the float64 points rounded once to that dtype: exact while the points'
        coordinates are representable (E8: half-integers below 2²³; Leech: ``q/√8`` is never
        exact in binary, so the float32 result is the correctly rounded float64 one).

    Raises
    ------
    TypeError
        ``x`` is not a floating-point tensor.
    ValueError
        Unknown lattice, wrong last dimension, NaN/inf entries or magnitudes ≥ 2⁵⁰.
    """
    rows = _rows(x, lattice)
    if rows.shape[0] == 0:
        return x.detach().clone()
    if lattice == "e8" and _triton_ready(rows):
        # Memory-bound: the kernel flags bad rows itself instead of a validation pass.
        return _e8_decode_device(rows).to(x.dtype).reshape(x.shape)
    if _triton_ready(rows):
        out = _leech_decode_device(rows)  # validates the rows as it decodes them
    else:
        _check_magnitudes(rows)
        cpu = _decode_leech_numba if lattice == "leech" else _decode_e8_numba
        out = torch.from_numpy(cpu(rows.double().cpu().numpy())).to(rows.device)
    return out.to(x.dtype).reshape(x.shape)


def _to_device(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """``a`` on ``like``'s device in ``like``'s dtype, converted there. torch converts the dtype
    of a host-to-device copy on the host, where a few thousand rows are enough for its
    OpenMP pool, and that pool then waits for the cores that Numba's threads, just done with
    the exact decode, are still spinning on: milliseconds for microseconds of work."""
    return torch.from_numpy(a).to(like.device).to(like.dtype)


def _check_magnitudes(rows: torch.Tensor) -> None:
    """ValueError for rows the exact decoders do not take: NaN/inf entries, magnitudes ≥ 2⁵⁰."""
    peak = rows.abs().amax()
    if not bool(torch.isfinite(peak)):
        raise ValueError("x contains NaN or infinite entries")
    if float(peak) >= _MAX_ABS:
        raise ValueError("x has coordinates of magnitude ≥ 2**50, beyond float64 decoding")


def _e8_decode_device(rows: torch.Tensor) -> torch.Tensor:
    wide = rows if rows.dtype in (torch.float32, torch.float64) else rows.float()
    out, tie = _triton_kernels().e8_decode(wide, _E8_NEAR_TIE)
    unsure = torch.nonzero(tie).flatten()
    if unsure.numel():
        exact = _decode_e8_numba(rows[unsure].double().cpu().numpy())
        out[unsure] = torch.as_tensor(exact, device=rows.device).to(out.dtype)
    return out


#: The fused Leech decoder CUDA tensors use: "hexacode" (:func:`._triton_kernels.leech_decode_points`,
#: one thread per row) or "groups" (:func:`._triton_kernels.leech_decode`, the 256 groups of the
#: even column complements as tile lanes). Both give the same points; the switch lets one GPU
#: run time both.
LEECH_DECODE_KERNEL = "hexacode"


def _leech_decode_device(
    rows: torch.Tensor, chunk_size: int = 1 << 20, kernel: str | None = None
) -> torch.Tensor:
    """Closest Leech points of CUDA rows (N, 24) by a fused kernel (``kernel``, default
    :data:`LEECH_DECODE_KERNEL`), the uncertified rows decided exactly on the CPU. "hexacode"
    returns float32 for float32 rows and float64 otherwise, "groups" float64. Rows with NaN,
    infinite entries or magnitudes ≥ 2⁵⁰ raise ValueError: "hexacode" finds them among the rows
    it leaves open (it certifies none of them), "groups" by a pass over the input first."""
    kernel = LEECH_DECODE_KERNEL if kernel is None else kernel
    if kernel == "hexacode":
        return _leech_decode_hexacode(rows, chunk_size)
    if kernel != "groups":
        raise ValueError(f"kernel must be 'hexacode' or 'groups', got {kernel!r}")
    _check_magnitudes(rows)
    return _leech_decode_groups(rows, chunk_size)


def _leech_decode_groups(rows: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """The groups kernel in float64 (float64 points), the uncertified rows on the CPU."""
    t = _tables("leech", rows.device)
    kernels = _triton_kernels()
    tables = (t["column_patterns"], t["coset_bits"], t["even_masks"], t["even_colbits32"])
    # A tensor divisor: torch turns division by a Python scalar into a multiplication by its
    # reciprocal, which can differ in the last bit from the CPU path's q / √8.
    root8 = torch.tensor(_SQRT8, dtype=torch.float64, device=rows.device)
    out = torch.empty(rows.shape, dtype=torch.float64, device=rows.device)
    for start in range(0, rows.shape[0], chunk_size):
        x = rows[start : start + chunk_size]
        q, certified = kernels.leech_decode(x.double() * _SQRT8, *tables)[:2]  # y = fl(√8·x)
        unsure = torch.nonzero(~certified).flatten()
        if unsure.numel():
            exact = _decode_leech_integer_numba(x[unsure].double().cpu().numpy())
            q[unsure] = _to_device(exact, q)
        out[start : start + chunk_size] = q / root8
    return out


def _leech_decode_hexacode(rows: torch.Tensor, chunk_size: int = 1 << 20) -> torch.Tensor:
    """The hexacode kernel (one pass: scaling, decoding and the division by √8 are fused),
    then the groups kernel in float64 for the rows its margin leaves open (a few 10⁻³ of
    Gaussian rows; the groups kernel compiles in seconds, where a float64 variant of the
    hexacode kernel would take minutes on a first call), and the exact CPU decoder for the
    rows still open (near ties, deep holes). The open rows are also where a NaN, an infinite
    entry or a magnitude ≥ 2⁵⁰ would be (ValueError): the kernel certifies none of them, so
    the input needs no validation pass of its own.

    The redo of the open rows is host work (synchronisations, the CPU decoder), so it
    overlaps the kernel: the rows are decoded in pieces of :data:`_PIECE_ROWS` rows, every
    launch is queued at once, and the redo of a piece runs on a second stream as soon as its
    launch is done, while the GPU decodes the next pieces."""
    t = _tables("leech", rows.device)
    kernels = _triton_kernels()
    tables = (t["hexacode_words"], t["column_vec0"], t["hexacode_ids"], t["root8"])
    dtype = rows.dtype if rows.dtype in (torch.float32, torch.float64) else torch.float64
    out = torch.empty(rows.shape, dtype=dtype, device=rows.device)
    # No streams where the Triton interpreter runs the kernels on CPU tensors.
    on_gpu = rows.device.type == "cuda"
    main = torch.cuda.current_stream(rows.device) if on_gpu else None
    step = min(_PIECE_ROWS, kernels.MAX_LAUNCH_ROWS)
    pieces = []
    for start in range(0, rows.shape[0], step):
        part = slice(start, start + step)
        certified = kernels.leech_decode_points(rows[part], *tables, out=out[part])[1]
        launched = torch.cuda.Event() if on_gpu else None
        if launched is not None:
            launched.record(main)
        pieces.append((part, certified, launched))
    side = _side_stream(rows.device) if on_gpu else None
    try:
        with torch.cuda.stream(side):
            for part, certified, launched in pieces:
                if side is not None:
                    side.wait_event(launched)
                unsure = torch.nonzero(~certified).flatten()
                if unsure.numel():
                    left = rows[part][unsure]
                    _check_magnitudes(left)
                    # q / √8 correctly rounded in float64, then rounded once to out's dtype:
                    # as the hexacode kernel writes its points.
                    out[part][unsure] = _leech_decode_groups(left, chunk_size).to(dtype)
    finally:
        # The pieces' certificates and the output were made on the main stream and used on
        # the side one: the main stream waits for that work before any of it is freed or read.
        if side is not None:
            main.wait_stream(side)
    return out


def _side_stream(device: torch.device) -> torch.cuda.Stream:
    if device not in _SIDE_STREAMS:
        _SIDE_STREAMS[device] = torch.cuda.Stream(device, priority=-1)
    return _SIDE_STREAMS[device]


def _leech_decode_scores_reference(
    y: torch.Tensor, t: dict[str, torch.Tensor], chunk_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Readable reference of :func:`._triton_kernels.leech_decode`: all 8,192 pairs
    ``(m, codeword)`` as batched tensor operations on (B, 4096, 24) blocks (the brute-force
    formulation the GPU benchmark compares the kernel with)."""
    words = (t["coset_bits"][:, None, :24].long() ^ t["even_colbits"][None]).reshape(4096, 24)
    win = torch.empty(y.shape[0], dtype=torch.int64, device=y.device)
    best = torch.empty(y.shape[0], dtype=torch.float64, device=y.device)
    second = torch.empty_like(best)
    for start in range(0, y.shape[0], chunk_size):
        part = y[start : start + chunk_size, None, :]
        values = []
        for m in (0, 1):
            r = (m + 2 * words).double()
            u = (part - r) * 0.25
            fl = torch.floor(u)
            z = torch.where(u - fl > 0.5, fl + 1, fl)
            e = part - (r + 4 * z)
            wrong = (z.long().remainder(2).sum(-1) % 2) != m
            flip = (16 - 8 * e.abs()).amin(-1)
            values.append((e * e).sum(-1) + torch.where(wrong, flip, 0.0))
        low, at = torch.cat(values, dim=1).topk(2, dim=1, largest=False)
        win[start : start + chunk_size] = at[:, 0]
        best[start : start + chunk_size] = low[:, 0]
        second[start : start + chunk_size] = low[:, 1]
    return win, best, second


def _leech_point(
    y: torch.Tensor,
    win: torch.Tensor,
    second: torch.Tensor,
    t: dict[str, torch.Tensor],
    second_error: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The closest point (√8 units, int64) in the winning (m, codeword) coset, and whether it
    is certified: every other lattice point is more than the float64 margin farther.
    ``second_error`` bounds the error of ``second`` (the best distance of the other pairs)."""
    m = win // 4096
    g = (win % 4096) // 32
    bits = t["coset_bits"][g, :24].long() ^ t["even_colbits"][win % 32]
    r = (m[:, None] + 2 * bits).double()
    u = (y - r) * 0.25
    fl = torch.floor(u)
    z = torch.where(u - fl > 0.5, fl + 1, fl)
    e = y - (r + 4 * z)
    delta = 16 - 8 * e.abs()
    wrong = (z.long().remainder(2).sum(1) % 2) != m
    d2, k2 = delta.topk(2, dim=1, largest=False)
    rows = torch.arange(y.shape[0], device=y.device)
    k = k2[:, 0]
    z[rows, k] += torch.where(wrong, torch.where(e[rows, k] > 0, 1.0, -1.0), 0.0)
    q = (r + 4 * z).long()
    best = ((y - q) ** 2).sum(1)
    # Other points of the same coset: two more second-nearest choices (parity kept), or
    # another single one instead of k, or any farther choice (at least 16 − δ more).
    inside = torch.where(
        wrong,
        torch.minimum(d2[:, 1] - d2[:, 0], 8 * e[rows, k].abs()),
        torch.clamp(d2[:, 0] + d2[:, 1], max=16.0),
    )
    runner = torch.minimum(second, best + inside)
    margin = 2.0**-40 * (64 + y.abs().amax(dim=1)) + second_error
    return q, runner - best > margin


_VECTOR_CACHE: dict[tuple[str, str, torch.dtype], torch.Tensor] = {}


def _vectors(lattice: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (lattice, str(device), dtype)
    if key not in _VECTOR_CACHE:
        ints = index_to_vector(np.arange(_COUNTS[lattice]), lattice, integer=True)
        _VECTOR_CACHE[key] = torch.as_tensor(ints * _SCALES[lattice], dtype=dtype, device=device)
    return _VECTOR_CACHE[key]
