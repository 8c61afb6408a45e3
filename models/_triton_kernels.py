"""Fused Triton kernels for the lattice operations on CUDA tensors.

Imported by :mod:`leechkit.models.lattice_ops` only when Triton is installed; every kernel
has a plain-torch reference there that computes the same quantities, and the tests compare
the two (on the GPU, and on the CPU through ``TRITON_INTERPRET=1``).

Leech spherical search (:func:`leech_search`)
---------------------------------------------
One thread takes one row, its 24 coordinates in registers (the input is transposed first so
that every coordinate load is coalesced), and walks the candidate families of the structured
search of :mod:`.lattice_ops` without materialising them: the shape (±4², 0²²), the 759
octads (±2⁸ with an even number of minus signs, best value ``2T − 4m₁`` for an odd number of
negative entries, the octad's eight coordinates reloaded from the cache), and the 128 cosets
of the even MOG column complements, where the best (∓3, ±1²³) vector with the −3 in a given
column follows from the column's sum σ and the least and largest ``uₖ = sᵍₖ xₖ`` of its four
positions: with the other five columns fixed, the sign-parity rule makes the value a maximum
of two linear functions of ``a = σ − 4uₖ`` (see :func:`_odd_column`), so one evaluation
covers the column's four positions. The loops keep each row's best value, its family and the
best value of every *other* family; after them the runner-up inside the winning family (the
octad's second cheapest sign repair, or the four positions of the winning column each with
its own runner-up) completes the certificate, exactly the margin test of the torch
reference. About 7 × 10⁴ operations per row (the per-position walk took 1.5 × 10⁵). The
kernel then turns the winner into its index (the two largest coordinates' pair rank and
signs; the octad's sign bits; the coset's codeword from the winning column signs), so only
the index, the family and the gap leave it. Each row is scaled by an exact power of two as
it is loaded (its largest coordinate in [½, 1)), so no sum can overflow; a coordinate that
underflows moves every candidate's value by less than 26 · 2⁻¹⁴⁹, far inside the margin.
The scale comes from the exponent field of the row's largest |xᵢ| (NaN-propagating maximum),
computed in the kernel, which also flags a row with a NaN or an infinite entry (−2), so no
validation or scaling pass over the input precedes the launch.

The float32 pass leaves about 0.3 % of Gaussian rows open (their best and second-best values
closer than its margin). They are searched again in float64 by
:func:`_leech_search_redo_kernel`, launched right behind it over all rows: a program whose
rows are all decided returns at once, and an open row is spread over 128 lanes (a coset and
six octads per lane, then a reduction across lanes), so the second pass costs a few hundred
operations of latency instead of a whole row's walk in one thread — which, for a few
hundred scattered rows, is what the earlier float64 relaunch cost (as long as the float32
pass itself). Only then does the host look at the result, once.

Leech decoding by groups of the column complements (:func:`leech_decode`)
--------------------------------------------------------------------------
The first fused decoder (kept for comparison: ``lattice_ops.LEECH_DECODE_KERNEL = "groups"``).
In √8 units a Leech vector is ``y = m·1 + 2b + 4z`` with ``b`` a Golay codeword and
``Σ zᵢ ≡ m (mod 2)``. For a fixed ``(m, b)`` the closest such vector is exact and cheap: each
coordinate goes to the nearest integer ``≡ m + 2bᵢ (mod 4)``, and if the parities ``zᵢ mod 2``
add up wrongly the coordinate whose second-nearest choice costs least, ``δᵢ = 16 − 8|eᵢ|``
more, takes it. The 8,192 pairs ``(m, b)`` are 2 × 128 groups of 32: a coset
representative and its complements of an even set of MOG columns. Since a column's cost
depends only on its 4-bit pattern, the kernel tabulates per ``m`` and column the least cost
``A(c, q)`` of each of the 16 patterns ``c`` with the parity ``q`` of its multiples of 4 (the
nearest integers, or the cheapest second-nearest one for the other parity), gathers for all
128 groups at once (lanes of a ``(BLOCK, 128)`` tile) the entries of the representative's
pattern and of its complement, and runs a four-state parity DP over the six columns
(complemented columns even, ``Σ zᵢ ≡ m``): the least distance of every group in about 200
operations instead of the ≈ 1,000 of enumerating its 32 codewords (≈ 6 × 10⁴ per point in
all, against 2.6 × 10⁵). Only the winning group's 32
codewords are then enumerated (a ``(BLOCK, 8, 32)`` tile), for the winning codeword and the
best distance of the others; with the best of the other groups this is the best distance of
every other pair. The kernel then builds the winning pair's point in float64 (nearest
integers in the coset, the cheapest parity repair) and its certificate: the point's distance
against the other pairs' best and the other points of its own coset. The
per-coordinate costs are computed in float64 (exact errors ``eᵢ`` for inputs far beyond 10⁴)
and the sums in float32, whose error (:data:`DECODE_SCORE_ERROR`) widens the certification
margin.

Leech decoding through the hexacode (:func:`leech_decode_points`, :func:`leech_decode_hexacode`)
-------------------------------------------------------------------------------------------------
The default decoder of CUDA tensors; the structure of the CPU decoder (:mod:`leechkit.lattice.
decoders.leech`), but exact per candidate instead of bounded. One thread decodes one row, every
quantity in registers (Triton tuples, unrolled at compile time); no gathers, no shuffles.

1. ``y = fl(√8·x)`` in float64 as the row is loaded, ``g = y mod 8`` (exact) rounded once to
   float32. Per (m, coordinate, b): class cost ε², flip 16 − 8ε and parity (as the CPU decoder).
2. For each m (a runtime loop: one copy of its body) and column, the 32 options
   ``C_q[s][ℓ]``: per parity q, hexacode score s and label ℓ = t + 2ρ the cost of the column
   vector with top bit t and parity ρ of its multiples of 4 (the vector's own parity, or one
   flip more), in float32. The columns of q = 1 are those of q = 0 with rows 1–3 complemented,
   so both parities come from the same class terms (a fixed permutation of the row-pair
   tables); the target label sum q + 2m is folded into column 0's labels.
3. The search runs in packed fixed point: each option is rounded to the nearest multiple of
   2⁻¹⁰ (one FFMA: in ``1024·C + 1.5·2²³`` the integer is the float's low bits), the two
   parities share a register (q = 0 in the low, q = 1 in the high 16 bits), and per column and
   half the least option is subtracted and the rest clamped at ⌊65535/6⌋ = 10,922, so that no
   sum of six options wraps. From there every step is Hopper's packed integer arithmetic on
   both halves at once: ``add.u16x2`` and ``min.u16x2``, which ptxas fuses into
   ``VIADDMNMX.U16x2`` (two additions and two minima in one instruction), and
   ``VIMNMX3.U16x2``. Couples (columns 2k, 2k + 1): per score pair a min-plus XOR convolution
   over Z₂² gives the best pair of options for each label sum (4 × 4 fused instructions); per
   hexacode word ``min_L P₀[u₀][L] + (P₁[u₁] ⊛ P₂[u₂])[L]`` is its least cost over all 4⁶ label
   choices adding up to the target (no bound, no repair, no selection pass). Per half the words
   keep the least value, its word and the least value of the others; after each m these are
   unpacked, the columns' offsets added back, and merged over the 256 candidates.
4. The winner's six column states, the cheapest label repair and the lattice point are rebuilt
   in float32 / float64 as in the CPU decoder (``_repair``, ``_rebuild``), and its
   certificate: every other point is in another candidate (≥ the lower bound of the second
   value below) or in the winner's, behind by at least the winner's label change gap
   (``_config_gap``) or the rebuild gap. The point leaves as ``fl(q/√8)`` (``div.rn.f64``,
   then one rounding to the output dtype, as the CPU path).

Instruction count per row (SASS for sm_90a, Triton 3.9, ``python benchmarks/kernel_resources.py
--sass``): 4,277 per m (1,633 of them ``VIADDMNMX.U16x2``, 562 integer additions issued as
``IMAD``, about 1,100 float32 instructions for the class terms and options), 3,522 outside the
loop (loading, the winner's states, repair, gaps and the rebuilt point): 12,076 in all, 7,743
of them on the integer/logic pipe, 70 spill loads and stores. The float32 search it replaces
(one pass per (m, q): 27,757 instructions, 4,289 of them spill loads and stores) was bound by
the instruction issue at about 1.2·10⁹ rows/s on an H100/H200; this one is bound by the
integer pipe (16 lanes per scheduler) at about 2.2·10⁹ and ran at 1.23·10⁹ on an H200.

Error bound. ``g`` is within 2⁻²² of the exact ``y mod 8`` after its rounding, ``g − k`` and
the wrap by 8 add ≤ 2⁻²³ and 2⁻²² more, so ε is within 2⁻²⁰: a cost ε² ≤ 4 within
4·2⁻²⁰ + 2⁻²³ < 2⁻¹⁷·⁹, a flip within 2⁻¹⁷ + 2⁻²¹. A column option is a sum of 4 costs and
≤ 1 flip (≤ 32) in three or four float32 additions: within 4·2⁻¹⁷·⁹ + 2⁻¹⁶·⁹ + 4·2⁻¹⁹ <
3.2·10⁻⁵, so a candidate's float32 value (six options) is within 1.9·10⁻⁴ < 2⁻¹² of the exact
one. The fixed-point search is exact integer arithmetic on the rounded options, each within
½ unit (2⁻¹¹) of its float32 value, except that clamping only lowers values: every
candidate's computed value V is at most 1024·(its float32 value) + 3, so ``(V − 3)/1024``
bounds the float32 value of every candidate but the winner from below, and the certificate
compares the winner's exact float64 distance with that bound. A candidate that is not
clamped has its computed value exact up to the rounding; the winner of a Gaussian row lies at
most about 10 units above its columns' least options (σ = 1.5: 99.9 % below 8.1, the largest of
20,000 rows 10.0) and no option of it is clamped at 10.67. The gaps of step 4 combine at most
eight float32 column options and are within 2.7 · 10⁻⁴. So every comparison the certificate
makes is right when its sides differ by more than :data:`DECODE_HEXACODE_ERROR` = 2⁻¹¹ (the
error of ``y`` itself and of the float64 distance of the point are in the float64 term
``2⁻⁴⁰·(64 + max|yᵢ|)`` of the CPU decoder). The rounding to 2⁻¹⁰ leaves rows whose two best
candidates are within about 0.006 open: 0.2–0.5 % of Gaussian rows (σ = 1.5).
:func:`leechkit.models.lattice_ops.decode` decodes them again with the groups kernel in
float64, and only the rows still open (exact and near ties, deep holes) on the CPU. No row
with an entry of magnitude ≥ 2⁵⁰ is certified (``max|yᵢ| < fl(√8)·2⁵⁰``), nor one with a NaN
or an infinite entry (its distance is NaN), so the caller validates only the open rows.

E8 spherical search (:func:`e8_search`)
---------------------------------------
The structured E8 search of :mod:`.lattice_ops` in one pass over the rows, one row per tile
row of a (BLOCK, 8) tile, in float64. In doubled coordinates the roots (±2², 0⁶) have the best
inner product ``2(a₁ + a₂)`` (``a₁ ≥ a₂ ≥ a₃`` the largest ``|xᵢ|``, runner-up ``2(a₁ + a₃)``)
and the roots (±1⁸) with an even number of minus signs follow the sign-parity rule:
``Σ|xᵢ|``, or ``Σ|xᵢ| − 2m₁`` when ``x`` has an odd number of negative entries (``m₁ ≤ m₂``
the smallest ``|xᵢ|``; runner-up ``Σ|xᵢ| − 2(m₁ + m₂)``, resp. ``Σ|xᵢ| − 2m₂``). The winner is
certified when the best value exceeds every other by more than ``margin · 4Σ|xᵢ|`` (the
reference's test), and its index is read from the base-5 key of the doubled root. The values
are sums of at most nine magnitudes, so float64 orders them correctly far inside the margin
2⁻⁴⁰ without a scaling pass: float32 rows cannot overflow, sums of subnormals are exact, and
a float64 row with an entry of 2¹⁰⁰⁰ or more is left open (the CPU search scales it). 32
bytes in and 8 out per float32 row: the kernel runs at the memory bandwidth.

E8 decoding (:func:`e8_decode`)
-------------------------------
Conway and Sloane's algorithm (SPLAG ch. 20 §2): E8 = D8 ∪ (D8 + ½). For each coset round
every coordinate, and if the coordinate sum has the wrong parity re-round the coordinate with
the largest rounding error the other way; keep the nearer of the two candidates, the D8
candidate on equal distances. One thread decodes one 8-D point, reading and writing it once,
so the kernel runs at the memory bandwidth.

Cosines with gathered minimal vectors (:func:`block_cosines`, :func:`block_cosine_grads`)
----------------------------------------------------------------------------------------
The resonance loss's cosine ``ρ = ⟨h, v⟩ / (‖h‖ ‖v‖)`` of each block ``h`` with the minimal
vector ``v`` its search chose, and its gradient ``(v/‖v‖ − ρ h/‖h‖) / ‖h‖``, each in one pass
over the blocks: the vector is gathered from the int8 table of all minimal vectors in
integer coordinates (4.7 MB for Leech), and the block, read in its own dtype, is divided by
its largest absolute entry ``p`` in float64, so that ``‖x‖ ∈ [1, √n]`` for ``x = h/p`` and no
sum leaves the range at any magnitude (the torch reference
``leechkit.models.losses._CosineToFixed`` does the same in the blocks' dtype). These replace
about a dozen small tensor operations each way, whose launches, not their arithmetic, set the
loss's cost on the GPU.

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups*, 3rd ed., ch. 4 §11
and ch. 11 (Leech lattice, MOG), ch. 20 §2 (decoding Dn and E8).
"""

from __future__ import annotations

import inspect
import math
import os

import torch
import triton
import triton.language as tl

from leechkit.lattice.decoders._leech_kernels import HC as _LEECH_HC
from leechkit.lattice.decoders._leech_kernels import VEC as _LEECH_VEC
from leechkit.lattice.lattices.leech import SHAPE_OFFSETS

__all__ = [
    "DECODE_HEXACODE_ERROR",
    "DECODE_SCORE_ERROR",
    "MAX_LAUNCH_ROWS",
    "block_cosine_grads",
    "block_cosines",
    "e8_decode",
    "e8_search",
    "launch_signatures",
    "leech_decode",
    "leech_decode_hexacode",
    "leech_decode_points",
    "leech_search",
]

#: Rows per kernel launch at most, so that 32-bit element offsets (row · 24) cannot overflow.
MAX_LAUNCH_ROWS = 1 << 26
#: |y| = |√8·x| from which the hexacode decoder certifies no row: fl(√8)·2⁵⁰, the image of the
#: callers' limit |x| < 2⁵⁰ (y = fl(fl(√8)·x) is monotone in |x|, so no row below that limit is
#: refused a certificate by this test unless its |y| rounds up to the bound itself).
_Y_LIMIT = math.sqrt(8.0) * 2.0**50
#: Launch of the (memory-bound) E8 decoder and search: points per program and warps.
_E8_BLOCK = 128
_E8_WARPS = 4


@triton.jit
def _update_best(top, second, win, best, family):
    # The main loops keep only the best value of each family; the runner-up inside the
    # winning family is added once, after the loops.
    second = tl.maximum(second, tl.minimum(top, best))
    win = tl.where(best > top, family, win)
    top = tl.maximum(top, best)
    return top, second, win


@triton.jit
def _update(top, second, win, best, runner, family):
    # ``second`` is the best value of every candidate except the current winner; a family's
    # own runner-up is one of those candidates whether or not the family wins.
    return _update_best(top, tl.maximum(second, runner), win, best, family)


@triton.jit
def _minus_three(sig, other1, other2, xk, sk, total_all, neg_all, top, second, win, family):
    # The (∓3, ±1²³) vector of this coset with the −3 at position k: its column sum becomes
    # σ − 4 sᵍ_k x_k, then the sign-parity rule on the six column sums.
    a = sig - 4.0 * sk * xk
    am = tl.abs(a)
    total = total_all - tl.abs(sig) + am
    negs = neg_all - (sig < 0).to(tl.int32) + (a < 0).to(tl.int32)
    m1 = tl.minimum(am, other1)
    m2 = tl.maximum(other1, tl.minimum(am, other2))
    odd = (negs % 2) == 1
    best = tl.where(odd, total - 2.0 * m1, total)
    runner = tl.where(odd, total - 2.0 * m2, total - 2.0 * (m1 + m2))
    return _update(top, second, win, best, runner, family)


@triton.jit
def _odd_column(gc, bc, u0, u1, u2, u3, tsum, nneg, m1, m2, top, second, win, family):
    # Best (∓3, ±1²³) vector of coset g with the −3 in this column, over its four positions
    # at once. With the other five column sums fixed (their Σ|σ|, the parity of their signs
    # and their least |σ|, p), the −3 at k turns this column's sum into a = σ − 4uₖ
    # (uₖ = sᵍₖ xₖ) and the sign-parity rule gives Σ_others + f(a) with
    # f(a) = max(a, −a − 2p) when the other signs have even parity and max(−a, a − 2p) when
    # odd. f is a maximum of two linear functions of a, so over the four positions only
    # min uₖ and max uₖ matter: max(σ − 4 min u, −σ + 4 max u − 2p) (even) and the mirror.
    p = tl.where(bc == m1, m2, m1)
    lo = tl.minimum(tl.minimum(u0, u1), tl.minimum(u2, u3))
    hi = tl.maximum(tl.maximum(u0, u1), tl.maximum(u2, u3))
    up = gc - 4.0 * lo
    down = 4.0 * hi - gc
    even = ((nneg - (gc < 0).to(tl.int32)) % 2) == 0
    f = tl.where(even, tl.maximum(up, down - 2.0 * p), tl.maximum(down, up - 2.0 * p))
    return _update_best(top, second, win, tsum - bc + f, family)


@triton.jit
def _running_top3(v, k, a1, a2, a3, p1, p2, abs_sum):
    # The three largest |xᵢ| and the positions of the first two (for the shape's index).
    av = tl.abs(v)
    p2 = tl.where(av > a1, p1, tl.where(av > a2, k, p2))
    p1 = tl.where(av > a1, k, p1)
    a3 = tl.maximum(a3, tl.minimum(a2, av))
    a2 = tl.maximum(a2, tl.minimum(a1, av))
    a1 = tl.maximum(a1, av)
    return a1, a2, a3, p1, p2, abs_sum + av


@triton.jit
def _push_two_smallest(m1, m2, v):
    m2 = tl.minimum(m2, tl.maximum(m1, v))
    m1 = tl.minimum(m1, v)
    return m1, m2


@triton.jit
def _coordinate(xt_ptr, n_rows, rows, live, k, sc):
    # Coordinate k of every row (k a scalar or per row), times the row's power-of-two scale.
    return tl.load(xt_ptr + k * n_rows + rows, mask=live, other=0.0) * sc


@triton.jit
def _column_sum(sp, xt_ptr, n_rows, rows, live, c, sc, BLOCK: tl.constexpr):
    # Σ sᵍₖ xₖ over column c of the per-row coset sp (gathered signs and coordinates).
    total = tl.zeros((BLOCK,), dtype=sc.dtype)
    for j in tl.static_range(4):
        k = 4 * c + j
        xk = _coordinate(xt_ptr, n_rows, rows, live, k, sc)
        total += tl.load(sp + k, mask=live, other=0.0) * xk
    return total


@triton.jit
def _pair_index(xt_ptr, n_rows, rows, live, p1, p2, sc):
    # Index of the shape (±4², 0²²) vector on the two largest |xᵢ| with their signs: four
    # times the rank of the pair lo < hi in lexicographic order, plus the sign bits of lo, hi.
    lo = tl.minimum(p1, p2)
    hi = tl.maximum(p1, p2)
    rank = lo * 23 - (lo * (lo - 1)) // 2 + hi - lo - 1
    neg_lo = (_coordinate(xt_ptr, n_rows, rows, live, lo, sc) < 0).to(tl.int32)
    neg_hi = (_coordinate(xt_ptr, n_rows, rows, live, hi, sc) < 0).to(tl.int32)
    return 4 * rank + 2 * neg_lo + neg_hi


@triton.jit
def _even_sign_mask(e0, e1, e2, e3, e4, e5):
    # The best signs of the sign-parity rule on six numbers as a bit mask (bit j: εⱼ = −1):
    # the signs of the eⱼ, the least |eⱼ| flipped when an odd number of them are negative.
    mask = (e0 < 0).to(tl.int32) | ((e1 < 0).to(tl.int32) << 1) | ((e2 < 0).to(tl.int32) << 2)
    mask |= ((e3 < 0).to(tl.int32) << 3) | ((e4 < 0).to(tl.int32) << 4) | ((e5 < 0).to(tl.int32) << 5)
    least = tl.abs(e0)
    at = tl.zeros(e0.shape, dtype=tl.int32)
    at = tl.where(tl.abs(e1) < least, 1, at)
    least = tl.minimum(least, tl.abs(e1))
    at = tl.where(tl.abs(e2) < least, 2, at)
    least = tl.minimum(least, tl.abs(e2))
    at = tl.where(tl.abs(e3) < least, 3, at)
    least = tl.minimum(least, tl.abs(e3))
    at = tl.where(tl.abs(e4) < least, 4, at)
    least = tl.minimum(least, tl.abs(e4))
    at = tl.where(tl.abs(e5) < least, 5, at)
    parity = (mask ^ (mask >> 1) ^ (mask >> 2) ^ (mask >> 3) ^ (mask >> 4) ^ (mask >> 5)) & 1
    return mask ^ (parity << at)


@triton.jit
def _power_of_two_scale(peak):
    # 2^−e for peak = f·2^e, f ∈ [½, 1), built from the exponent field (no power function), the
    # exponent clamped to the normal range (zero and subnormal peaks get the largest scale,
    # which cannot overflow them); and whether peak is finite (exponent field not all ones).
    if peak.dtype == tl.float64:
        field = (peak.to(tl.int64, bitcast=True) >> 52) & 0x7FF
        scale = (tl.minimum(tl.maximum(2045 - field, 1), 2046) << 52).to(tl.float64, bitcast=True)
        return scale, field != 0x7FF
    else:
        field = (peak.to(tl.int32, bitcast=True) >> 23) & 0xFF
        scale = (tl.minimum(tl.maximum(253 - field, 1), 254) << 23).to(tl.float32, bitcast=True)
        return scale, field != 0xFF


@triton.jit
def _load_scaled_row(xt_ptr, n_rows, rows, mask, WIDE: tl.constexpr):
    # The 24 coordinates of every row from the transposed input (24, n_rows), so that every
    # load is coalesced; float64 when WIDE.
    x0 = tl.load(xt_ptr + 0 * n_rows + rows, mask=mask, other=0.0)
    x1 = tl.load(xt_ptr + 1 * n_rows + rows, mask=mask, other=0.0)
    x2 = tl.load(xt_ptr + 2 * n_rows + rows, mask=mask, other=0.0)
    x3 = tl.load(xt_ptr + 3 * n_rows + rows, mask=mask, other=0.0)
    x4 = tl.load(xt_ptr + 4 * n_rows + rows, mask=mask, other=0.0)
    x5 = tl.load(xt_ptr + 5 * n_rows + rows, mask=mask, other=0.0)
    x6 = tl.load(xt_ptr + 6 * n_rows + rows, mask=mask, other=0.0)
    x7 = tl.load(xt_ptr + 7 * n_rows + rows, mask=mask, other=0.0)
    x8 = tl.load(xt_ptr + 8 * n_rows + rows, mask=mask, other=0.0)
    x9 = tl.load(xt_ptr + 9 * n_rows + rows, mask=mask, other=0.0)
    x10 = tl.load(xt_ptr + 10 * n_rows + rows, mask=mask, other=0.0)
    x11 = tl.load(xt_ptr + 11 * n_rows + rows, mask=mask, other=0.0)
    x12 = tl.load(xt_ptr + 12 * n_rows + rows, mask=mask, other=0.0)
    x13 = tl.load(xt_ptr + 13 * n_rows + rows, mask=mask, other=0.0)
    x14 = tl.load(xt_ptr + 14 * n_rows + rows, mask=mask, other=0.0)
    x15 = tl.load(xt_ptr + 15 * n_rows + rows, mask=mask, other=0.0)
    x16 = tl.load(xt_ptr + 16 * n_rows + rows, mask=mask, other=0.0)
    x17 = tl.load(xt_ptr + 17 * n_rows + rows, mask=mask, other=0.0)
    x18 = tl.load(xt_ptr + 18 * n_rows + rows, mask=mask, other=0.0)
    x19 = tl.load(xt_ptr + 19 * n_rows + rows, mask=mask, other=0.0)
    x20 = tl.load(xt_ptr + 20 * n_rows + rows, mask=mask, other=0.0)
    x21 = tl.load(xt_ptr + 21 * n_rows + rows, mask=mask, other=0.0)
    x22 = tl.load(xt_ptr + 22 * n_rows + rows, mask=mask, other=0.0)
    x23 = tl.load(xt_ptr + 23 * n_rows + rows, mask=mask, other=0.0)
    if WIDE:
        x0 = x0.to(tl.float64)
        x1 = x1.to(tl.float64)
        x2 = x2.to(tl.float64)
        x3 = x3.to(tl.float64)
        x4 = x4.to(tl.float64)
        x5 = x5.to(tl.float64)
        x6 = x6.to(tl.float64)
        x7 = x7.to(tl.float64)
        x8 = x8.to(tl.float64)
        x9 = x9.to(tl.float64)
        x10 = x10.to(tl.float64)
        x11 = x11.to(tl.float64)
        x12 = x12.to(tl.float64)
        x13 = x13.to(tl.float64)
        x14 = x14.to(tl.float64)
        x15 = x15.to(tl.float64)
        x16 = x16.to(tl.float64)
        x17 = x17.to(tl.float64)
        x18 = x18.to(tl.float64)
        x19 = x19.to(tl.float64)
        x20 = x20.to(tl.float64)
        x21 = x21.to(tl.float64)
        x22 = x22.to(tl.float64)
        x23 = x23.to(tl.float64)
    # The row times the power-of-two scale that brings its largest |xᵢ| into [½, 1) (exact but
    # for underflow, which the margin covers), so the sums stay far from overflow whatever the
    # input's magnitude; and whether the row is finite (the peak propagates a NaN).
    peak = tl.abs(x0)
    peak = tl.maximum(peak, tl.abs(x1), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x2), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x3), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x4), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x5), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x6), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x7), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x8), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x9), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x10), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x11), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x12), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x13), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x14), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x15), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x16), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x17), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x18), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x19), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x20), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x21), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x22), propagate_nan=tl.PropagateNan.ALL)
    peak = tl.maximum(peak, tl.abs(x23), propagate_nan=tl.PropagateNan.ALL)
    sc, finite = _power_of_two_scale(peak)
    return (
        x0 * sc, x1 * sc, x2 * sc, x3 * sc, x4 * sc, x5 * sc,
        x6 * sc, x7 * sc, x8 * sc, x9 * sc, x10 * sc, x11 * sc,
        x12 * sc, x13 * sc, x14 * sc, x15 * sc, x16 * sc, x17 * sc,
        x18 * sc, x19 * sc, x20 * sc, x21 * sc, x22 * sc, x23 * sc,
        sc,
        finite,
    )


@triton.jit
def _shape_candidates(
    x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11,
    x12, x13, x14, x15, x16, x17, x18, x19, x20, x21, x22, x23,
):
    # Shape (±4², 0²²): the three largest |xᵢ| (a sorting network on running maxima), the
    # positions of the first two, and Σ|xᵢ|.
    a1 = tl.zeros(x0.shape, dtype=x0.dtype)
    a2 = tl.zeros(x0.shape, dtype=x0.dtype)
    a3 = tl.zeros(x0.shape, dtype=x0.dtype)
    abs_sum = tl.zeros(x0.shape, dtype=x0.dtype)
    p1 = tl.zeros(x0.shape, dtype=tl.int32)
    p2 = tl.zeros(x0.shape, dtype=tl.int32)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x0, 0, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x1, 1, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x2, 2, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x3, 3, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x4, 4, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x5, 5, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x6, 6, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x7, 7, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x8, 8, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x9, 9, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x10, 10, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x11, 11, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x12, 12, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x13, 13, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x14, 14, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x15, 15, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x16, 16, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x17, 17, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x18, 18, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x19, 19, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x20, 20, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x21, 21, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x22, 22, a1, a2, a3, p1, p2, abs_sum)
    a1, a2, a3, p1, p2, abs_sum = _running_top3(x23, 23, a1, a2, a3, p1, p2, abs_sum)
    return a1, a2, a3, p1, p2, abs_sum


@triton.jit
def _coset_candidates(
    sp,
    x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11,
    x12, x13, x14, x15, x16, x17, x18, x19, x20, x21, x22, x23,
    top, second, win, fam,
):
    # The (∓3, ±1²³) vectors of the coset of the even column complements with signs at sp:
    # uₖ = sᵍₖ xₖ, the six column sums, their Σ|σ|, sign parity and two least |σ|, then one
    # candidate per column (families fam … fam + 23).
    u0 = tl.load(sp + 0) * x0
    u1 = tl.load(sp + 1) * x1
    u2 = tl.load(sp + 2) * x2
    u3 = tl.load(sp + 3) * x3
    u4 = tl.load(sp + 4) * x4
    u5 = tl.load(sp + 5) * x5
    u6 = tl.load(sp + 6) * x6
    u7 = tl.load(sp + 7) * x7
    u8 = tl.load(sp + 8) * x8
    u9 = tl.load(sp + 9) * x9
    u10 = tl.load(sp + 10) * x10
    u11 = tl.load(sp + 11) * x11
    u12 = tl.load(sp + 12) * x12
    u13 = tl.load(sp + 13) * x13
    u14 = tl.load(sp + 14) * x14
    u15 = tl.load(sp + 15) * x15
    u16 = tl.load(sp + 16) * x16
    u17 = tl.load(sp + 17) * x17
    u18 = tl.load(sp + 18) * x18
    u19 = tl.load(sp + 19) * x19
    u20 = tl.load(sp + 20) * x20
    u21 = tl.load(sp + 21) * x21
    u22 = tl.load(sp + 22) * x22
    u23 = tl.load(sp + 23) * x23
    g0 = u0 + u1 + u2 + u3
    g1 = u4 + u5 + u6 + u7
    g2 = u8 + u9 + u10 + u11
    g3 = u12 + u13 + u14 + u15
    g4 = u16 + u17 + u18 + u19
    g5 = u20 + u21 + u22 + u23
    b0 = tl.abs(g0)
    b1 = tl.abs(g1)
    b2 = tl.abs(g2)
    b3 = tl.abs(g3)
    b4 = tl.abs(g4)
    b5 = tl.abs(g5)
    tsum = b0 + b1 + b2 + b3 + b4 + b5
    nneg = (g0 < 0).to(tl.int32) + (g1 < 0).to(tl.int32) + (g2 < 0).to(tl.int32)
    nneg += (g3 < 0).to(tl.int32) + (g4 < 0).to(tl.int32) + (g5 < 0).to(tl.int32)
    m1 = tl.minimum(b0, b1)
    m2 = tl.maximum(b0, b1)
    m1, m2 = _push_two_smallest(m1, m2, b2)
    m1, m2 = _push_two_smallest(m1, m2, b3)
    m1, m2 = _push_two_smallest(m1, m2, b4)
    m1, m2 = _push_two_smallest(m1, m2, b5)
    top, second, win = _odd_column(g0, b0, u0, u1, u2, u3, tsum, nneg, m1, m2, top, second, win, fam)
    top, second, win = _odd_column(g1, b1, u4, u5, u6, u7, tsum, nneg, m1, m2, top, second, win, fam + 4)
    top, second, win = _odd_column(g2, b2, u8, u9, u10, u11, tsum, nneg, m1, m2, top, second, win, fam + 8)
    top, second, win = _odd_column(g3, b3, u12, u13, u14, u15, tsum, nneg, m1, m2, top, second, win, fam + 12)
    top, second, win = _odd_column(g4, b4, u16, u17, u18, u19, tsum, nneg, m1, m2, top, second, win, fam + 16)
    top, second, win = _odd_column(g5, b5, u20, u21, u22, u23, tsum, nneg, m1, m2, top, second, win, fam + 20)
    return top, second, win


@triton.jit
def _finish_search(
    xt_ptr, n_rows, rows, live, store, finite, sc, top, second, win, p1, p2, abs_sum, octad_ptr,
    sign_ptr, word_ptr, idx_ptr, win_ptr, gap_ptr, margin, OCTAD_OFFSET: tl.constexpr,
    ODD_OFFSET: tl.constexpr, BLOCK: tl.constexpr,
):
    # After the walk over all families (best value ``top`` of family ``win``, ``second`` the
    # best of every other family): the winning family's own runner-up completes the
    # certificate, the winner becomes its index, and the rows in ``store`` are written (index
    # and family, −1 where not certified, −2 where the row is not finite; the gap).
    inf = float("inf")
    # The winning family's runner-up. Octad: the second cheapest sign repair; the same walk
    # gives the index bits of its best vector (the signs of x, the cheapest one flipped when
    # an odd number are negative; the eighth sign follows from the parity).
    is_octad = (win >= 1) & (win < 760)
    o = tl.minimum(tl.maximum(win - 1, 0), 758)
    total = tl.zeros((BLOCK,), dtype=sc.dtype)
    negs = tl.zeros((BLOCK,), dtype=tl.int32)
    code = tl.zeros((BLOCK,), dtype=tl.int32)
    least_at = tl.zeros((BLOCK,), dtype=tl.int32)
    m1 = tl.full((BLOCK,), inf, sc.dtype)
    m2 = tl.full((BLOCK,), inf, sc.dtype)
    for t in tl.static_range(8):
        pos = tl.load(octad_ptr + o * 8 + t, mask=live, other=0)
        v = _coordinate(xt_ptr, n_rows, rows, live, pos, sc)
        av = tl.abs(v)
        total += av
        neg = (v < 0).to(tl.int32)
        negs += neg
        code += neg * (64 >> t)
        least_at = tl.where(av < m1, t, least_at)
        m1, m2 = _push_two_smallest(m1, m2, av)
    odd = (negs % 2) == 1
    octad_runner = 2.0 * total - tl.where(odd, 4.0 * m2, 4.0 * (m1 + m2))
    octad_index = OCTAD_OFFSET + 128 * o + (code ^ (odd.to(tl.int32) * (64 >> least_at)))
    # (∓3, ±1²³): the four positions of the winning column one by one, each with its own
    # runner-up (another sign pattern of the coset), as in the per-position evaluation.
    is_odd = win >= 760
    q = tl.maximum(win - 760, 0)
    g = q // 24
    sp = sign_ptr + g * 24
    col = (q % 24) // 4
    h0 = _column_sum(sp, xt_ptr, n_rows, rows, live, 0, sc, BLOCK)
    h1 = _column_sum(sp, xt_ptr, n_rows, rows, live, 1, sc, BLOCK)
    h2 = _column_sum(sp, xt_ptr, n_rows, rows, live, 2, sc, BLOCK)
    h3 = _column_sum(sp, xt_ptr, n_rows, rows, live, 3, sc, BLOCK)
    h4 = _column_sum(sp, xt_ptr, n_rows, rows, live, 4, sc, BLOCK)
    h5 = _column_sum(sp, xt_ptr, n_rows, rows, live, 5, sc, BLOCK)
    tsum = tl.abs(h0) + tl.abs(h1) + tl.abs(h2) + tl.abs(h3) + tl.abs(h4) + tl.abs(h5)
    nneg = (h0 < 0).to(tl.int32) + (h1 < 0).to(tl.int32) + (h2 < 0).to(tl.int32)
    nneg += (h3 < 0).to(tl.int32) + (h4 < 0).to(tl.int32) + (h5 < 0).to(tl.int32)
    sig = tl.where(col == 0, h0, tl.where(col == 1, h1, tl.where(col == 2, h2, h3)))
    sig = tl.where(col == 4, h4, tl.where(col == 5, h5, sig))
    # The two least |σ| of the other five columns.
    r1 = tl.full((BLOCK,), inf, sc.dtype)
    r2 = tl.full((BLOCK,), inf, sc.dtype)
    r1, r2 = _push_two_smallest(r1, r2, tl.where(col == 0, inf, tl.abs(h0)))
    r1, r2 = _push_two_smallest(r1, r2, tl.where(col == 1, inf, tl.abs(h1)))
    r1, r2 = _push_two_smallest(r1, r2, tl.where(col == 2, inf, tl.abs(h2)))
    r1, r2 = _push_two_smallest(r1, r2, tl.where(col == 3, inf, tl.abs(h3)))
    r1, r2 = _push_two_smallest(r1, r2, tl.where(col == 4, inf, tl.abs(h4)))
    r1, r2 = _push_two_smallest(r1, r2, tl.where(col == 5, inf, tl.abs(h5)))
    odd_top = tl.full((BLOCK,), -inf, sc.dtype)
    odd_second = tl.full((BLOCK,), -inf, sc.dtype)
    odd_k = tl.zeros((BLOCK,), dtype=tl.int32)
    for j in tl.static_range(4):
        k = 4 * col + j
        xk = _coordinate(xt_ptr, n_rows, rows, live, k, sc)
        sk = tl.load(sp + k, mask=live, other=0.0)
        odd_top, odd_second, odd_k = _minus_three(
            sig, r1, r2, xk, sk, tsum, nneg, odd_top, odd_second, odd_k, k
        )
    top = tl.where(is_odd, odd_top, top)
    runner = tl.where(is_octad, octad_runner, tl.where(is_odd, odd_second, -inf))
    second = tl.maximum(second, runner)
    win = tl.where(is_odd, 760 + g * 24 + odd_k, win)
    # Its index: the codeword is the coset's representative with the columns of ε = −1
    # complemented, ε the sign-parity rule's best signs on the column sums with the −3 at k.
    a = sig - 4.0 * tl.load(sp + odd_k, mask=live, other=0.0) * _coordinate(
        xt_ptr, n_rows, rows, live, odd_k, sc
    )
    mask = _even_sign_mask(
        tl.where(col == 0, a, h0),
        tl.where(col == 1, a, h1),
        tl.where(col == 2, a, h2),
        tl.where(col == 3, a, h3),
        tl.where(col == 4, a, h4),
        tl.where(col == 5, a, h5),
    )
    word = tl.load(word_ptr + g * 64 + mask, mask=live, other=0)
    odd_index = ODD_OFFSET + 24 * word + odd_k

    index = tl.where(
        win == 0,
        _pair_index(xt_ptr, n_rows, rows, live, p1, p2, sc),
        tl.where(is_octad, octad_index, odd_index),
    )
    certified = top - second > margin * 4.0 * abs_sum
    flag = tl.where(finite, -1, -2)
    tl.store(idx_ptr + rows, tl.where(certified & finite, index, flag), mask=store)
    tl.store(win_ptr + rows, tl.where(certified & finite, win, flag), mask=store)
    tl.store(gap_ptr + rows, top - second, mask=store)


@triton.jit
def _leech_search_kernel(
    xt_ptr,
    n_rows,
    octad_ptr,
    sign_ptr,
    word_ptr,
    idx_ptr,
    win_ptr,
    gap_ptr,
    margin,
    OCTAD_OFFSET: tl.constexpr,
    ODD_OFFSET: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # xt is the transposed input (24, n_rows): every coordinate load is coalesced. Each row is
    # multiplied by a power-of-two scale that brings its largest |xᵢ| into [½, 1) (exact but
    # for underflow, which the margin covers), so the sums stay far from overflow whatever the
    # input's magnitude; rows with a NaN or an infinite entry are flagged instead.
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = rows < n_rows
    inf = float("inf")
    (
        x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11,
        x12, x13, x14, x15, x16, x17, x18, x19, x20, x21, x22, x23,
        sc,
        finite,
    ) = _load_scaled_row(xt_ptr, n_rows, rows, live, False)

    a1, a2, a3, p1, p2, abs_sum = _shape_candidates(
        x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11,
        x12, x13, x14, x15, x16, x17, x18, x19, x20, x21, x22, x23,
    )
    top = 4.0 * (a1 + a2)
    second = 4.0 * (a1 + a3)  # the shape's own runner-up
    win = tl.zeros((BLOCK,), dtype=tl.int32)

    # Octads: ±2 on the eight positions with an even number of minus signs, best value
    # 2Σ|xᵢ| − 4·min|xᵢ| when an odd number of the xᵢ are negative.
    for o in range(759):
        total = tl.zeros((BLOCK,), dtype=xt_ptr.dtype.element_ty)
        negs = tl.zeros((BLOCK,), dtype=tl.int32)
        least = tl.full((BLOCK,), inf, xt_ptr.dtype.element_ty)
        for t in tl.static_range(8):
            v = _coordinate(xt_ptr, n_rows, rows, live, tl.load(octad_ptr + o * 8 + t), sc)
            av = tl.abs(v)
            total += av
            negs += (v < 0).to(tl.int32)
            least = tl.minimum(least, av)
        best = 2.0 * total - tl.where((negs % 2) == 1, 4.0 * least, 0.0)
        top, second, win = _update_best(top, second, win, best, o + 1)

    # (∓3, ±1²³): 128 cosets of the even column complements, one candidate per column.
    for g in range(128):
        top, second, win = _coset_candidates(
            sign_ptr + g * 24,
            x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11,
            x12, x13, x14, x15, x16, x17, x18, x19, x20, x21, x22, x23,
            top, second, win, 760 + g * 24,
        )

    _finish_search(
        xt_ptr, n_rows, rows, live, live, finite, sc, top, second, win, p1, p2, abs_sum, octad_ptr,
        sign_ptr, word_ptr, idx_ptr, win_ptr, gap_ptr, margin, OCTAD_OFFSET, ODD_OFFSET, BLOCK,
    )


@triton.jit
def _leech_search_redo_kernel(
    xt_ptr,
    n_rows,
    octad_ptr,
    sign_ptr,
    word_ptr,
    idx_ptr,
    win_ptr,
    gap_ptr,
    margin,
    OCTAD_OFFSET: tl.constexpr,
    ODD_OFFSET: tl.constexpr,
    ROWS: tl.constexpr,
    LANES: tl.constexpr,
):
    # The same search in float64 for the rows a first pass left open (index −1), in place; a
    # program whose rows are all decided does nothing. The open rows are few (near ties of the
    # float32 pass) and scattered, so one row is spread over LANES = 128 lanes instead of one
    # thread: lane l takes coset l and the octads l, l + 128, …, and the lanes' best values are
    # reduced at the end. The latency of a program is then a few hundred operations rather
    # than a whole row's walk, which is what a launch over a handful of rows costs.
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    live = rows < n_rows
    todo = live & (tl.load(idx_ptr + rows, mask=live, other=0) == -1)
    if tl.max(todo.to(tl.int32), axis=0) > 0:
        inf = float("inf")
        (
            x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11,
            x12, x13, x14, x15, x16, x17, x18, x19, x20, x21, x22, x23,
            sc,
            finite,
        ) = _load_scaled_row(xt_ptr, n_rows, rows, todo, True)
        a1, a2, a3, p1, p2, abs_sum = _shape_candidates(
            x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11,
            x12, x13, x14, x15, x16, x17, x18, x19, x20, x21, x22, x23,
        )
        lane = tl.arange(0, LANES)
        lane_top = tl.full((ROWS, LANES), -inf, tl.float64)
        lane_second = tl.full((ROWS, LANES), -inf, tl.float64)
        lane_win = tl.zeros((ROWS, LANES), dtype=tl.int32)
        # Octads l + 128i (759 of them): as in the row-per-thread kernel.
        for i in tl.static_range(6):
            o = lane + LANES * i
            valid = o < 759
            total = tl.zeros((ROWS, LANES), dtype=tl.float64)
            negs = tl.zeros((ROWS, LANES), dtype=tl.int32)
            least = tl.full((ROWS, LANES), inf, tl.float64)
            for t in tl.static_range(8):
                pos = tl.load(octad_ptr + o * 8 + t, mask=valid, other=0)
                v = tl.load(xt_ptr + pos[None, :] * n_rows + rows[:, None],
                            mask=todo[:, None] & valid[None, :], other=0.0).to(tl.float64) * sc[:, None]
                av = tl.abs(v)
                total += av
                negs += (v < 0).to(tl.int32)
                least = tl.minimum(least, av)
            best = 2.0 * total - tl.where((negs % 2) == 1, 4.0 * least, 0.0)
            best = tl.where(valid[None, :], best, -inf)
            lane_top, lane_second, lane_win = _update_best(
                lane_top, lane_second, lane_win, best, (o + 1)[None, :] + tl.zeros((ROWS, LANES), tl.int32)
            )
        # Coset l of the even column complements.
        fam = (760 + lane * 24)[None, :] + tl.zeros((ROWS, LANES), tl.int32)
        lane_top, lane_second, lane_win = _coset_candidates(
            (sign_ptr + lane * 24)[None, :],
            x0[:, None], x1[:, None], x2[:, None], x3[:, None], x4[:, None], x5[:, None],
            x6[:, None], x7[:, None], x8[:, None], x9[:, None], x10[:, None], x11[:, None],
            x12[:, None], x13[:, None], x14[:, None], x15[:, None], x16[:, None], x17[:, None],
            x18[:, None], x19[:, None], x20[:, None], x21[:, None], x22[:, None], x23[:, None],
            lane_top, lane_second, lane_win, fam,
        )
        # Across lanes: the best value, its family (the least one on exact ties, which are
        # not certified anyway), and the best value of every other family.
        best_lane = tl.max(lane_top, axis=1)
        is_best = lane_top == best_lane[:, None]
        win_lane = tl.min(tl.where(is_best, lane_win, 1 << 30), axis=1)
        ties = tl.sum(is_best.to(tl.int32), axis=1) > 1
        others = tl.max(tl.where(is_best, -inf, lane_top), axis=1)
        second_lane = tl.maximum(tl.max(lane_second, axis=1), others)
        second_lane = tl.where(ties, best_lane, second_lane)
        # With the shape (±4², 0²²) (family 0, which wins exact ties as in the other kernel).
        take = best_lane > 4.0 * (a1 + a2)
        top = tl.maximum(4.0 * (a1 + a2), best_lane)
        second = tl.maximum(tl.maximum(4.0 * (a1 + a3), second_lane), tl.minimum(4.0 * (a1 + a2), best_lane))
        win = tl.where(take, win_lane, 0)
        _finish_search(
            xt_ptr, n_rows, rows, todo, todo, finite, sc, top, second, win, p1, p2, abs_sum, octad_ptr,
            sign_ptr, word_ptr, idx_ptr, win_ptr, gap_ptr, margin, OCTAD_OFFSET, ODD_OFFSET, ROWS,
        )


_SEARCH_DTYPES = (torch.float32, torch.float64)
#: Launch of the float64 second pass: rows per program and warps (a row spans 128 lanes).
_REDO_ROWS = 2
_REDO_WARPS = 4


def leech_search(
    x: torch.Tensor,
    octad_positions: torch.Tensor,
    coset_signs: torch.Tensor,
    word_index: torch.Tensor,
    margin: float,
    block: int = 128,
    num_warps: int = 2,
    redo: tuple[torch.Tensor, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index of the nearest Leech minimal vector of each row of ``x`` (N, 24), −1 where the
    winner is not certified, −2 where the row has a NaN or an infinite entry.

    The arithmetic is in ``x``'s dtype (float32 or float64) on the rows scaled by exact powers
    of two; ``margin`` is the relative certification margin that covers its rounding
    (:data:`.lattice_ops._SEARCH_MARGINS`). ``octad_positions`` (759, 8) int32 are the
    octads' coordinates, ``coset_signs`` (128, 24) the coset representatives' signs,
    ``word_index`` (128, 64) int32 the codeword index of each coset and even column mask.
    With ``redo = (float64 coset signs, float64 margin)`` the rows left open are searched again
    in float64 by a second launch (lane-parallel, on the same transposed copy; no host
    synchronisation between the two). Returns the int32 indices (the order of
    :func:`leechkit.lattice.quantizers.index_to_vector`), the int32 winning families (0:
    shape (±4²), ``1 + o``: octad ``o``, ``760 + 24g + k``: coset ``g``, position ``k``; −1
    where uncertified, −2 where not finite) and the gaps between the best value and the
    runner-up (float64, of the scaled rows). ``block`` rows per program (a power of two) and
    ``num_warps`` set the launch (``benchmarks/bench_gpu.py --sweep`` times the choices).
    """
    if x.dtype not in _SEARCH_DTYPES:
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
    if x.ndim != 2 or x.shape[1] != 24:
        raise ValueError(f"x must have shape (N, 24), got {tuple(x.shape)}")
    if x.shape[0] > MAX_LAUNCH_ROWS:
        raise ValueError(f"at most {MAX_LAUNCH_ROWS} rows per call (32-bit offsets), got {x.shape[0]}")
    n = x.shape[0]
    xt = x.t().contiguous()
    idx = torch.empty(n, dtype=torch.int32, device=x.device)
    win = torch.empty(n, dtype=torch.int32, device=x.device)
    gap = torch.empty(n, dtype=torch.float64, device=x.device)
    offsets = {"OCTAD_OFFSET": SHAPE_OFFSETS[1], "ODD_OFFSET": SHAPE_OFFSETS[2]}
    signs = coset_signs if coset_signs.dtype == x.dtype else coset_signs.to(x.dtype)
    _leech_search_kernel[(triton.cdiv(n, block),)](
        xt, n, octad_positions, signs, word_index, idx, win, gap, margin,
        BLOCK=block, num_warps=num_warps, **offsets,
    )  # fmt: skip
    if redo is not None:
        signs64, margin64 = redo
        if signs64.dtype != torch.float64:
            raise TypeError(f"the second pass needs float64 coset signs, got {signs64.dtype}")
        _leech_search_redo_kernel[(triton.cdiv(n, _REDO_ROWS),)](
            xt, n, octad_positions, signs64, word_index, idx, win, gap, margin64,
            ROWS=_REDO_ROWS, LANES=128, num_warps=_REDO_WARPS, **offsets,
        )  # fmt: skip
    return idx, win, gap


@triton.jit
def _class_costs(y, r):
    # Nearest integer ≡ r (mod 4) to y: its squared distance, its z-parity and the extra cost
    # δ = 16 − 8|e| of the second nearest one (the other parity).
    t = (y - r) * 0.25
    fl = tl.floor(t)
    z = tl.where(t - fl > 0.5, fl + 1.0, fl)
    e = y - (r + 4.0 * z)
    zpar = (z - 2.0 * tl.floor(0.5 * z)) != 0
    return e * e, zpar.to(tl.int32), 16.0 - 8.0 * tl.abs(e)


@triton.jit
def _coordinate_terms(y, mf, bit):
    # The class costs of one coordinate (BLOCK,) for both bits, arranged over the 16 column
    # patterns by ``bit`` (16,): float32 cost and flip, int32 parity, each (BLOCK, 16).
    k0, p0, d0 = _class_costs(y, mf)
    k1, p1, d1 = _class_costs(y, mf + 2.0)
    cost = tl.where(bit, k1.to(tl.float32)[:, None], k0.to(tl.float32)[:, None])
    par = tl.where(bit, p1[:, None], p0[:, None])
    pen = tl.where(bit, d1.to(tl.float32)[:, None], d0.to(tl.float32)[:, None])
    return cost, par, pen


@triton.jit
def _column_table(y_ptr, rows, live, i, mf, c16):
    # A(c, q) of column i for its 16 bit patterns c (bit j = row j): the least squared distance
    # of the column's four coordinates to integers ≡ m + 2cⱼ (mod 4) whose multiples of 4 have
    # total parity q. The nearest integers give the sum and its parity; the other parity costs
    # the column's cheapest second-nearest choice (one coordinate: every δ ≥ 0).
    y0 = tl.load(y_ptr + rows * 24 + 4 * i, mask=live, other=0.0).to(tl.float64)
    base, par, pen = _coordinate_terms(y0, mf, ((c16 & 1) != 0)[None, :])
    for j in tl.static_range(1, 4):
        yj = tl.load(y_ptr + rows * 24 + 4 * i + j, mask=live, other=0.0).to(tl.float64)
        cost, pj, dj = _coordinate_terms(yj, mf, (((c16 >> j) & 1) != 0)[None, :])
        base += cost
        par = par ^ pj
        pen = tl.minimum(pen, dj)
    return base + tl.where(par != 0, pen, 0.0), base + tl.where(par == 0, pen, 0.0)


@triton.jit
def _leech_decode_kernel(
    y_ptr,
    n_rows,
    pat_ptr,
    rep_ptr,
    bits_ptr,
    colbits_ptr,
    q_ptr,
    ok_ptr,
    win_ptr,
    best_ptr,
    second_ptr,
    ERROR: tl.constexpr,
    BLOCK: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = rows < n_rows
    c16 = tl.arange(0, 16)
    g128 = tl.arange(0, 128)
    inf = float("inf")

    # Every (m, group) at once: the 128 groups are the lanes of (BLOCK, 128) tiles, and a
    # parity DP over the six columns (state 2·vpar + qpar: parity of the complemented columns,
    # which must end even, and of the multiples of 4, which must end ≡ m) gives each group's
    # least distance over its 32 codewords.
    top = tl.full((BLOCK,), inf, tl.float32)
    second = tl.full((BLOCK,), inf, tl.float32)
    win = tl.zeros((BLOCK,), dtype=tl.int32)
    for m in range(2):
        mf = m * 1.0
        a0, a1 = _column_table(y_ptr, rows, live, 0, mf, c16)
        idx = tl.broadcast_to(tl.load(pat_ptr + g128)[None, :], (BLOCK, 128))
        s0 = tl.gather(a0, idx, 1)  # version 0 (the representative's bits), q = 0
        s1 = tl.gather(a1, idx, 1)
        s2 = tl.gather(a0, 15 - idx, 1)  # version 1 (complemented)
        s3 = tl.gather(a1, 15 - idx, 1)
        for i in tl.static_range(1, 6):
            a0, a1 = _column_table(y_ptr, rows, live, i, mf, c16)
            idx = tl.broadcast_to(tl.load(pat_ptr + i * 128 + g128)[None, :], (BLOCK, 128))
            v00 = tl.gather(a0, idx, 1)
            v01 = tl.gather(a1, idx, 1)
            v10 = tl.gather(a0, 15 - idx, 1)
            v11 = tl.gather(a1, 15 - idx, 1)
            n0 = tl.minimum(tl.minimum(s0 + v00, s1 + v01), tl.minimum(s2 + v10, s3 + v11))
            n1 = tl.minimum(tl.minimum(s1 + v00, s0 + v01), tl.minimum(s3 + v10, s2 + v11))
            n2 = tl.minimum(tl.minimum(s2 + v00, s3 + v01), tl.minimum(s0 + v10, s1 + v11))
            n3 = tl.minimum(tl.minimum(s3 + v00, s2 + v01), tl.minimum(s1 + v10, s0 + v11))
            s0, s1, s2, s3 = n0, n1, n2, n3
        value = tl.where(m == 0, s0, s1)  # complements even, Σ z ≡ m
        best = tl.min(value, axis=1)
        g = tl.argmin(value, axis=1)
        runner = tl.min(tl.where(g128[None, :] == g[:, None], inf, value), axis=1)
        second = tl.minimum(tl.minimum(second, runner), tl.maximum(top, best))
        win = tl.where(best < top, m * 128 + g, win)
        top = tl.minimum(top, best)

    # The winning group's 32 codewords one by one: which one wins, and the best of the others.
    mw = win // 128
    gw = win % 128
    cols = tl.arange(0, 32)
    c8 = tl.arange(0, 8)
    lane = cols[None, :] < 24
    y = tl.load(y_ptr + rows[:, None] * 24 + cols[None, :], mask=live[:, None] & lane, other=0.0)
    y = y.to(tl.float64)
    mwf = mw.to(tl.float64)[:, None]
    cost0, par0, pen0 = _class_costs(y, mwf)  # b = 0
    cost1, par1, pen1 = _class_costs(y, mwf + 2.0)  # b = 1
    pen0 = tl.where(lane, pen0, inf).to(tl.float32)
    pen1 = tl.where(lane, pen1, inf).to(tl.float32)
    cost0 = tl.where(lane, cost0, 0.0).to(tl.float32)
    cost1 = tl.where(lane, cost1, 0.0).to(tl.float32)
    par0 = tl.where(lane, par0, 0)
    par1 = tl.where(lane, par1, 0)
    # Bit j of the k-th even subset of the six columns (rows 6, 7 are zero).
    sel = tl.load(bits_ptr + c8[:, None] * 32 + cols[None, :])[None, :, :] != 0
    rep = tl.load(rep_ptr + gw[:, None] * 32 + cols[None, :], mask=live[:, None], other=0) != 0
    # Version 0 of a column keeps the representative's bits, version 1 complements them.
    cc0 = tl.sum(tl.reshape(tl.where(rep, cost1, cost0), (BLOCK, 8, 4)), axis=2)
    cc1 = tl.sum(tl.reshape(tl.where(rep, cost0, cost1), (BLOCK, 8, 4)), axis=2)
    cp0 = tl.sum(tl.reshape(tl.where(rep, par1, par0), (BLOCK, 8, 4)), axis=2)
    cp1 = tl.sum(tl.reshape(tl.where(rep, par0, par1), (BLOCK, 8, 4)), axis=2)
    cf0 = tl.min(tl.reshape(tl.where(rep, pen1, pen0), (BLOCK, 8, 4)), axis=2)
    cf1 = tl.min(tl.reshape(tl.where(rep, pen0, pen1), (BLOCK, 8, 4)), axis=2)
    total = tl.sum(tl.where(sel, cc1[:, :, None], cc0[:, :, None]), axis=1)  # (BLOCK, 32)
    parity = tl.sum(tl.where(sel, cp1[:, :, None], cp0[:, :, None]), axis=1) % 2
    flip = tl.min(tl.where(sel, cf1[:, :, None], cf0[:, :, None]), axis=1)
    value = total + tl.where(parity != mw[:, None], flip, 0.0)
    best = tl.min(value, axis=1)
    k = tl.argmin(value, axis=1)
    runner = tl.min(tl.where(cols[None, :] == k[:, None], inf, value), axis=1)
    second = tl.minimum(second, runner)
    tl.store(win_ptr + rows, mw * 4096 + gw * 32 + k, mask=live)
    tl.store(best_ptr + rows, best.to(tl.float64), mask=live)
    tl.store(second_ptr + rows, second.to(tl.float64), mask=live)

    # The point of the winning pair in float64: each coordinate to the nearest integer
    # ≡ m + 2bᵢ (mod 4), and when the multiples of 4 have the wrong parity the cheapest
    # second-nearest choice (least δ = 16 − 8|e|) instead.
    colbit = tl.load(colbits_ptr + k[:, None] * 32 + cols[None, :], mask=live[:, None], other=0) != 0
    r = mwf + 2.0 * (rep != colbit).to(tl.float64)
    u = (y - r) * 0.25
    fl = tl.floor(u)
    z = tl.where(u - fl > 0.5, fl + 1.0, fl)
    e = tl.where(lane, y - (r + 4.0 * z), 0.0)
    zpar = ((z - 2.0 * tl.floor(0.5 * z)) != 0).to(tl.int32)
    wrong = (tl.sum(tl.where(lane, zpar, 0), axis=1) % 2) != mw
    delta = tl.where(lane, 16.0 - 8.0 * tl.abs(e), inf)
    d1 = tl.min(delta, axis=1)
    k1 = tl.argmin(delta, axis=1)
    at_k1 = cols[None, :] == k1[:, None]
    d2 = tl.min(tl.where(at_k1, inf, delta), axis=1)
    e1 = tl.sum(tl.where(at_k1, e, 0.0), axis=1)
    step = tl.where(wrong, tl.where(e1 > 0, 1.0, -1.0), 0.0)
    q = r + 4.0 * (z + tl.where(at_k1, step[:, None], 0.0))
    diff = tl.where(lane, y - q, 0.0)
    dist = tl.sum(diff * diff, axis=1)
    # Certificate: every other lattice point is more than the margin farther. Other points of
    # this coset need two more second-nearest choices (parity kept), or another single one
    # instead of k1, or a farther choice (at least 16 − δ more); other pairs cost ``second``.
    inside = tl.where(wrong, tl.minimum(d2 - d1, 8.0 * tl.abs(e1)), tl.minimum(d1 + d2, 16.0))
    runner = tl.minimum(second.to(tl.float64), dist + inside)
    margin = 2.0**-40 * (64.0 + tl.max(tl.abs(y), axis=1)) + ERROR
    tl.store(q_ptr + rows[:, None] * 24 + cols[None, :], q, mask=live[:, None] & lane)
    tl.store(ok_ptr + rows, (runner - dist > margin).to(tl.int8), mask=live)


#: Bound on the error of :func:`leech_decode`'s distances. A distance is at most
#: 24 · 4 + 16 = 112 (squared errors ≤ 4, one flip ≤ 16); its terms are rounded once to float32
#: (≤ 2⁻²⁴ · 112 together), each column sums 4 terms and a flip (4 roundings of partial sums
#: ≤ 32, six columns) and the columns are added by 5 roundings of partial sums ≤ 112, so the
#: error is below (112 + 24 · 32 + 5 · 112) · 2⁻²⁴ < 2⁻¹³; four times that is kept.
DECODE_SCORE_ERROR = 2.0**-11


def leech_decode(
    y: torch.Tensor,
    column_patterns: torch.Tensor,
    coset_bits: torch.Tensor,
    even_masks: torch.Tensor,
    even_colbits: torch.Tensor,
    block: int = 8,
    num_warps: int = 4,
) -> tuple[torch.Tensor, ...]:
    """Closest Leech point of each row of ``y`` (N, 24, √8 units, float64) and its certificate.

    ``column_patterns`` (6, 128) int32: the 4-bit pattern (bit j = row j) of each column of
    each coset representative; ``coset_bits`` (128, 32): the representatives' bits;
    ``even_masks`` (8, 32): bit j of the k-th even subset of the six MOG columns;
    ``even_colbits`` (32, 32): the coordinates (24 lanes, zero-padded) of those subsets.
    Returns the point ``q`` (float64 integers, √8 units), whether it is certified (every other
    lattice point farther by more than the float64 margin plus :data:`DECODE_SCORE_ERROR`),
    the int32 ids ``4096m + 32g + k`` of the winning pairs, the best squared distance and the
    best squared distance of every other pair (float64 tensors of float32 sums: within
    :data:`DECODE_SCORE_ERROR` of the exact values). ``block`` rows per program (a power of
    two) and ``num_warps`` set the launch, with ``block ≥ 2·num_warps`` (fewer rows per warp
    do not compile: the ``tl.gather`` of the DP must stay within a warp).
    """
    if y.dtype != torch.float64 or y.ndim != 2 or y.shape[1] != 24:
        raise ValueError(f"y must be float64 of shape (N, 24), got {y.dtype} {tuple(y.shape)}")
    if block < 2 * num_warps:
        # Fewer than 8 of the (block, 128) DP lanes per thread: Triton cannot keep the
        # tl.gather within a warp and fails to compile.
        raise ValueError(f"block must be at least 2 * num_warps, got block {block}, num_warps {num_warps}")
    y = y.contiguous()
    n = y.shape[0]
    if n > MAX_LAUNCH_ROWS:
        raise ValueError(f"at most {MAX_LAUNCH_ROWS} rows per call (32-bit offsets), got {n}")
    q = torch.empty_like(y)
    ok = torch.empty(n, dtype=torch.int8, device=y.device)
    win = torch.empty(n, dtype=torch.int32, device=y.device)
    best = torch.empty(n, dtype=torch.float64, device=y.device)
    second = torch.empty(n, dtype=torch.float64, device=y.device)
    _leech_decode_kernel[(triton.cdiv(n, block),)](
        y,
        n,
        column_patterns,
        coset_bits,
        even_masks,
        even_colbits,
        q,
        ok,
        win,
        best,
        second,
        ERROR=DECODE_SCORE_ERROR,
        BLOCK=block,
        num_warps=num_warps,
    )
    return q, ok.bool(), win, best, second


# --- Leech decoding through the hexacode (:func:`leech_decode_hexacode`) ---------------------

#: ``VEC[2s + q, 0]`` of the CPU decoder: the 4-bit column (bit r = row r) of hexacode score s,
#: parity q and top bit 0; the column with top bit 1 is its complement (``^ 15``).
_COLUMN0 = tl.constexpr(tuple(int(_LEECH_VEC[st, 0]) for st in range(8)))
#: ``HC[w, k] = 4·h₂ₖ + h₂ₖ₊₁`` of the hexacode word in row w of :func:`hexacode`.
_COUPLES = tl.constexpr(tuple(tuple(int(v) for v in row) for row in _LEECH_HC))
#: Clamp of the packed column options (units of 2⁻¹⁰): six add up to at most 65,532 < 2¹⁶.
_CAP = tl.constexpr(65535 // 6)
if any(int(_LEECH_VEC[st, 1]) != int(_LEECH_VEC[st, 0]) ^ 15 for st in range(8)) or any(
    int(_LEECH_HC[4 * g + c, 0]) != g for g in range(16) for c in range(4)
):
    raise AssertionError("the column and couple tables do not have the layout the kernel assumes")


@triton.jit
def _load_y(x_ptr, rows, live, i, root8, FUSED: tl.constexpr):
    # Coordinate i of the rows in √8 units, float64: y = fl(√8·x) when FUSED, else the input.
    yi = tl.load(x_ptr + rows * 24 + i, mask=live, other=0.0).to(tl.float64)
    if FUSED:
        yi = yi * root8
    return yi


@triton.jit
def _class_terms(g, k):
    # Class (m, b) of one coordinate, k = m + 2b (integers ≡ k mod 4), from g = y mod 8 ∈ [0, 8]:
    # u ∈ (−4, 4] is y − k on the circle Z/8, δ = |u| the distance to the residue k mod 8 and
    # 4 − δ to k + 4, so with ε = min(δ, 4 − δ): cost ε², parity p = [δ > 2] of the nearer
    # integer's multiple of 4 and flip = (4 − ε)² − ε² = 16 − 8ε ≥ 0 for the other parity.
    u = g - k
    u = tl.where(u > 4.0, u - 8.0, u)
    d = tl.abs(u)
    eps = tl.minimum(d, 4.0 - d)
    return eps * eps, 16.0 - 8.0 * eps, d > 2.0


@triton.jit
def _swap(flip, x0, x1):
    return tl.where(flip, x1, x0), tl.where(flip, x0, x1)


@triton.jit
def _score_options(fa, fb, da, db, pa, pb, V0: tl.constexpr):
    # C[ℓ] for ℓ = t + 2ρ of the score whose column with top bit 0 is V0 (top bit 1: V0 ^ 15):
    # vector v_t has cost F (its classes' costs) with its own parity P, and F + D (D its least
    # flip: every flip is ≥ 0, so one flip is the cheapest parity change) with 1 − P. F, D, P
    # come from the row pairs (0, 1) and (2, 3), indexed by the pair's bits lo + 2·hi.
    f0 = fa[V0 & 3] + fb[V0 >> 2]
    f1 = fa[(V0 ^ 15) & 3] + fb[(V0 ^ 15) >> 2]
    e0 = f0 + tl.minimum(da[V0 & 3], db[V0 >> 2])
    e1 = f1 + tl.minimum(da[(V0 ^ 15) & 3], db[(V0 ^ 15) >> 2])
    r0 = pa[V0 & 3] ^ pb[V0 >> 2]
    r1 = pa[(V0 ^ 15) & 3] ^ pb[(V0 ^ 15) >> 2]
    return tl.where(r0, e0, f0), tl.where(r1, e1, f1), tl.where(r0, f0, e0), tl.where(r1, f1, e1)


# Packed arithmetic of the search: two unsigned 16-bit halves per 32-bit register, the low half
# for the parity q = 0, the high half for q = 1. On the GPU (PTX) these are Hopper's packed
# instructions: ptxas fuses add.u16x2 + min.u16x2 into VIADDMNMX.U16x2 (one instruction for two
# additions and two minima) and two min.u16x2 into VIMNMX3.U16x2. The other branch is the same
# arithmetic on whole registers, for Triton's interpreter (which runs no PTX).


@triton.jit
def _vmin(a, b, PTX: tl.constexpr):
    if PTX:
        return tl.inline_asm_elementwise("min.u16x2 $0, $1, $2;", "=r,r,r", [a, b], tl.uint32, True, 1)
    else:
        return tl.minimum(a & 0xFFFF, b & 0xFFFF) | (tl.minimum(a >> 16, b >> 16) << 16)


@triton.jit
def _vmax(a, b, PTX: tl.constexpr):
    if PTX:
        return tl.inline_asm_elementwise("max.u16x2 $0, $1, $2;", "=r,r,r", [a, b], tl.uint32, True, 1)
    else:
        return tl.maximum(a & 0xFFFF, b & 0xFFFF) | (tl.maximum(a >> 16, b >> 16) << 16)


@triton.jit
def _vadd(a, b, PTX: tl.constexpr):
    # Halves add modulo 2¹⁶ (the search's sums never wrap; the column offsets' negation does).
    if PTX:
        return tl.inline_asm_elementwise("add.u16x2 $0, $1, $2;", "=r,r,r", [a, b], tl.uint32, True, 1)
    else:
        return ((a + b) & 0xFFFF) | (((a >> 16) + (b >> 16)) << 16)


@triton.jit
def _vaddmin(a, b, c, PTX: tl.constexpr):
    # min(a + b, c) per half.
    return _vmin(_vadd(a, b, PTX), c, PTX)


@triton.jit
def _fix(x):
    # round(1024·x) for 0 ≤ x ≤ 32, exactly rounded to nearest: in x·1024 + 1.5·2²³ (one fused
    # rounding, ulp 1) the integer sits in the low 22 bits of the float's bit pattern.
    return tl.fma(x, 1024.0, 12582912.0).to(tl.uint32, bitcast=True)


@triton.jit
def _pack(lo, hi, PTX: tl.constexpr):
    # The low 16 bits of lo and of hi in one register (hi in the high half).
    if PTX:
        return tl.inline_asm_elementwise(
            "prmt.b32 $0, $1, $2, 0x5410;", "=r,r,r", [lo, hi], tl.uint32, True, 1
        )
    else:
        return (lo & 0xFFFF) | (hi << 16)


@triton.jit
def _packed_column(g0, g1, g2, g3, m, RELABEL: tl.constexpr, PTX: tl.constexpr):
    # The 16 options of one column for both parities q at once, packed: per hexacode score s the
    # costs C[s][ℓ] of the labels ℓ = t + 2ρ (t the top bit, ρ the parity of the column's
    # multiples of 4) in units of 2⁻¹⁰, q = 0 in the low half, q = 1 in the high half, minus the
    # column's least option (per half, returned beside them) and clamped at _CAP. The columns of
    # parity 1 are those of parity 0 with rows 1–3 complemented (VEC[2s + 1, t] = VEC[2s, t] ^
    # 14), so q = 1 takes the other class of rows 1–3: a fixed permutation of the pair tables.
    # RELABEL (column 0): the labels shifted by the target q + 2m, C'[ℓ] = C[ℓ ⊕ (q + 2m)], so
    # that a candidate's labels must add up to 0; q is fixed per half, m swaps at run time.
    c00, f00, p00 = _class_terms(g0, m)
    c01, f01, p01 = _class_terms(g0, m + 2)
    c10, f10, p10 = _class_terms(g1, m)
    c11, f11, p11 = _class_terms(g1, m + 2)
    c20, f20, p20 = _class_terms(g2, m)
    c21, f21, p21 = _class_terms(g2, m + 2)
    c30, f30, p30 = _class_terms(g3, m)
    c31, f31, p31 = _class_terms(g3, m + 2)
    fa = (c00 + c10, c01 + c10, c00 + c11, c01 + c11)
    fb = (c20 + c30, c21 + c30, c20 + c31, c21 + c31)
    da = (tl.minimum(f00, f10), tl.minimum(f01, f10), tl.minimum(f00, f11), tl.minimum(f01, f11))
    db = (tl.minimum(f20, f30), tl.minimum(f21, f30), tl.minimum(f20, f31), tl.minimum(f21, f31))
    pa = (p00 ^ p10, p01 ^ p10, p00 ^ p11, p01 ^ p11)
    pb = (p20 ^ p30, p21 ^ p30, p20 ^ p31, p21 ^ p31)
    # q = 1: pair index lo + 2·hi with row 1's bit flipped (pair (0, 1)), both bits (pair (2, 3))
    fa1 = (fa[2], fa[3], fa[0], fa[1])
    da1 = (da[2], da[3], da[0], da[1])
    pa1 = (pa[2], pa[3], pa[0], pa[1])
    fb1 = (fb[3], fb[2], fb[1], fb[0])
    db1 = (db[3], db[2], db[1], db[0])
    pb1 = (pb[3], pb[2], pb[1], pb[0])
    opts = ()
    low = tl.full(g0.shape, 0xFFFFFFFF, tl.uint32)
    for s in tl.static_range(4):
        ev = _score_options(fa, fb, da, db, pa, pb, _COLUMN0[2 * s])
        od = _score_options(fa1, fb1, da1, db1, pa1, pb1, _COLUMN0[2 * s])
        if RELABEL:
            od = (od[1], od[0], od[3], od[2])  # q = 1: ℓ ⊕ 1
        x = ()
        for label in tl.static_range(4):
            x = x + (_pack(_fix(ev[label]), _fix(od[label]), PTX),)
        if RELABEL:
            flip = m != 0  # ℓ ⊕ 2 in both halves
            x0, x2 = _swap(flip, x[0], x[2])
            x1, x3 = _swap(flip, x[1], x[3])
            x = (x0, x1, x2, x3)
        low = _vmin(_vmin(low, x[0], PTX), _vmin(x[1], _vmin(x[2], x[3], PTX), PTX), PTX)
        opts = opts + (x,)
    # Options relative to the least (≥ 0; one offset per column and half, the same for every
    # candidate of the half), clamped so that six of them add up without wrapping. A clamped
    # value is below the true one, so every candidate value stays a lower bound, and one below
    # _CAP is exact.
    neg = _vadd(~low, tl.full(low.shape, 0x00010001, tl.uint32), PTX)
    cap = tl.full(low.shape, _CAP * 0x00010001, tl.uint32)
    out = ()
    for s in tl.static_range(4):
        y = ()
        for label in tl.static_range(4):
            y = y + (_vaddmin(opts[s][label], neg, cap, PTX),)
        out = out + (y,)
    return out, low


@triton.jit
def _vxor_min(a, b, PTX: tl.constexpr):
    # Min-plus convolution over the labels Z₂² (XOR), per half: out[L] = min over ℓ of
    # a[ℓ] + b[ℓ ⊕ L], the best pair of options of two column groups whose labels add up to L
    # (four fused add-minimum instructions per label for both halves).
    out = ()
    for L in tl.static_range(4):
        t = a[0] + b[L]  # a whole-register addition: no half wraps, and ptxas may issue it as IMAD
        t = _vaddmin(a[1], b[1 ^ L], t, PTX)
        t = _vaddmin(a[2], b[2 ^ L], t, PTX)
        t = _vaddmin(a[3], b[3 ^ L], t, PTX)
        out = out + (t,)
    return out


@triton.jit
def _vtarget(p0, r, PTX: tl.constexpr):
    # min over L of p0[L] + r[L]: the candidate's best labels adding up to 0.
    t = p0[0] + r[0]
    t = _vaddmin(p0[1], r[1], t, PTX)
    t = _vaddmin(p0[2], r[2], t, PTX)
    return _vaddmin(p0[3], r[3], t, PTX)


@triton.jit
def _vcouple_table(ca, cb, PTX: tl.constexpr):
    # P[4a + c][L]: the best options of the couple's two columns with scores (a, c), labels ⊕ = L.
    out = ()
    for a in tl.static_range(4):
        for c in tl.static_range(4):
            out = out + (_vxor_min(ca[a], cb[c], PTX),)
    return out


@triton.jit
def _pick(p1, p2, p3, e):
    # The penalty of label change e ∈ {1, 2, 3} (per row).
    return tl.where(e == 1, p1, tl.where(e == 2, p2, p3))


@triton.jit
def _two_least(v1, v2, j1, j2, v, j):
    # Running least and second least value with the (first) column of each.
    lt1 = v < v1
    lt2 = v < v2
    j2 = tl.where(lt1, j1, tl.where(lt2, j, j2))
    v2 = tl.where(lt1, v1, tl.where(lt2, v, v2))
    j1 = tl.where(lt1, j, j1)
    v1 = tl.where(lt1, v, v1)
    return v1, v2, j1, j2


# n_rows only masks the last program's rows: specialising on it (Triton keys a compile on an
# int's divisibility by 16) would compile this minutes-long kernel once more for a call whose
# last piece has an odd row count.
@triton.jit(do_not_specialize=["n_rows"])
def _leech_hexacode_kernel(
    x_ptr,
    n_rows,
    root8_ptr,
    hex_ptr,
    vec_ptr,
    id_ptr,
    out_ptr,
    ok_ptr,
    win_ptr,
    best_ptr,
    second_ptr,
    ERROR: tl.constexpr,
    FUSED: tl.constexpr,
    PTX: tl.constexpr,
    Y_LIMIT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # One thread decodes one row, every quantity in registers (tuples unrolled at compile time).
    # FUSED: x is the input at standard scale (any float dtype), y = fl(√8·x) is formed here and
    # the point leaves as fl(q / √8) in out's dtype; else x is y (float64, √8 units) and q, the
    # winner's id and the distances leave as float64 / int32 (the contract of leech_decode).
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = rows < n_rows
    root8 = tl.load(root8_ptr)
    gs = ()
    ymax = tl.zeros((BLOCK,), dtype=tl.float64)
    for i in tl.static_range(24):
        yi = _load_y(x_ptr, rows, live, i, root8, FUSED)
        ymax = tl.maximum(ymax, tl.abs(yi))
        # y mod 8 ∈ [0, 8]: exact (Sterbenz) but where y + 8 rounds for tiny negative y (≤ 2⁻⁵⁰)
        gi = yi - 8.0 * tl.floor(yi * 0.125)
        gs = gs + (gi.to(tl.float32),)  # the search's arithmetic (DECODE_HEXACODE_ERROR)

    inf = float("inf")
    # The 256 candidates c = 128m + 64q + w (w the row of the hexacode word), each with its least
    # cost over the 4⁶ label choices whose sum is the target q + 2m (Σt ≡ q, Σρ ≡ m): couples
    # (columns 2k, 2k + 1) by one convolution per score pair, then per word
    # min over L of P₀[u₀][L] + (P₁[u₁] ⊛ P₂[u₂])[L], for both q at once in the two halves
    # (fixed point, units of 2⁻¹⁰, relative to the columns' least options). A runtime loop over
    # m: one copy of its body keeps the compile time in minutes.
    best = tl.full((BLOCK,), 1 << 30, tl.int32)
    second = tl.full((BLOCK,), 1 << 30, tl.int32)
    arg = tl.zeros((BLOCK,), dtype=tl.int32)
    for m in range(2):
        c2, o2 = _packed_column(gs[8], gs[9], gs[10], gs[11], m, False, PTX)
        c3, o3 = _packed_column(gs[12], gs[13], gs[14], gs[15], m, False, PTX)
        p1 = _vcouple_table(c2, c3, PTX)
        c4, o4 = _packed_column(gs[16], gs[17], gs[18], gs[19], m, False, PTX)
        c5, o5 = _packed_column(gs[20], gs[21], gs[22], gs[23], m, False, PTX)
        p2 = _vcouple_table(c4, c5, PTX)
        c0, o0 = _packed_column(gs[0], gs[1], gs[2], gs[3], m, True, PTX)
        c1, o1 = _packed_column(gs[4], gs[5], gs[6], gs[7], m, False, PTX)
        # per half: the least value, its word, and the least value of the other words
        top = tl.full((BLOCK,), 0xFFFFFFFF, tl.uint32)
        runner = tl.full((BLOCK,), 0xFFFFFFFF, tl.uint32)
        w_lo = tl.zeros((BLOCK,), dtype=tl.int32)
        w_hi = tl.zeros((BLOCK,), dtype=tl.int32)
        for g in tl.static_range(16):
            p0 = _vxor_min(c0[g >> 2], c1[g & 3], PTX)
            for cc in tl.static_range(4):
                # word w = 4g + cc (kept inline: locals assigned in a static loop become tensors)
                r = _vxor_min(p1[_COUPLES[4 * g + cc][1]], p2[_COUPLES[4 * g + cc][2]], PTX)
                v = _vtarget(p0, r, PTX)
                low = _vmin(top, v, PTX)
                moved = top ^ low  # the halves where v is strictly below the least so far
                w_lo = tl.where((moved & 0xFFFF) != 0, 4 * g + cc, w_lo)
                w_hi = tl.where((moved >> 16) != 0, 4 * g + cc, w_hi)
                runner = _vmin(runner, _vmax(top, v, PTX), PTX)
                top = low
        # Back to whole values: each half's least and runner-up plus its columns' offsets,
        # merged into the best and second best of all candidates so far (q = 0 before q = 1).
        for h in tl.static_range(2):
            offset = (
                ((o0 >> (16 * h)) & 0xFFFF) + ((o1 >> (16 * h)) & 0xFFFF) + ((o2 >> (16 * h)) & 0xFFFF)
                + ((o3 >> (16 * h)) & 0xFFFF) + ((o4 >> (16 * h)) & 0xFFFF) + ((o5 >> (16 * h)) & 0xFFFF)
            ).to(tl.int32)  # fmt: skip
            t_h = ((top >> (16 * h)) & 0xFFFF).to(tl.int32) + offset
            r_h = ((runner >> (16 * h)) & 0xFFFF).to(tl.int32) + offset
            if h == 1:
                word = w_hi
            else:
                word = w_lo
            second = tl.minimum(tl.minimum(second, r_h), tl.maximum(best, t_h))
            arg = tl.where(t_h < best, 128 * m + 64 * h + word, arg)
            best = tl.minimum(best, t_h)
    # A lower bound of every other candidate's float32 value: each of its six column options
    # was rounded to the nearest unit (≤ ½ off) or clamped lower.
    second = (second - 3).to(tl.float32) * (1.0 / 1024.0)
    zero = tl.zeros_like(gs[0])

    # The winner's six column states (the CPU decoder's, with runtime m, q, w): best option,
    # its label and the extra cost pen_e ≥ 0 of the label change e (1: t, 2: ρ, 3: both).
    mw = arg >> 7
    qw = (arg >> 6) & 1
    ww = arg & 63
    target = qw + 2 * mw
    states = ()
    err = target
    for j in tl.static_range(6):
        s = tl.load(hex_ptr + ww * 6 + j, mask=live, other=0)
        v0 = tl.load(vec_ptr + 2 * s + qw, mask=live, other=0)
        f0 = zero
        f1 = zero
        d0 = zero + inf
        d1 = zero + inf
        r0 = tl.zeros((BLOCK,), dtype=tl.int1)
        r1 = tl.zeros((BLOCK,), dtype=tl.int1)
        for r in tl.static_range(4):
            one = ((v0 >> r) & 1) != 0  # v₁ = v₀ ^ 15 takes the other bit
            ca, fa, pa = _class_terms(gs[4 * j + r], mw)
            cb, fb, pb = _class_terms(gs[4 * j + r], mw + 2)
            f0 += tl.where(one, cb, ca)
            f1 += tl.where(one, ca, cb)
            d0 = tl.minimum(d0, tl.where(one, fb, fa))
            d1 = tl.minimum(d1, tl.where(one, fa, fb))
            r0 = r0 ^ tl.where(one, pb, pa)
            r1 = r1 ^ tl.where(one, pa, pb)
        first = f1 < f0
        delta = tl.abs(f1 - f0)
        dbest = tl.where(first, d1, d0)
        dother = tl.where(first, d0, d1)
        same = r0 == r1
        label = tl.where(first, 1 + 2 * r1.to(tl.int32), 2 * r0.to(tl.int32))
        pen1 = delta + tl.where(same, 0.0, dother)
        pen3 = delta + tl.where(same, dother, 0.0)
        states = states + ((tl.minimum(f0, f1), label, pen1, dbest, pen3, tl.minimum(delta, dbest), v0),)
        err = err ^ label

    # Cheapest label changes adding up to the label error e ≠ 0 (exact: any change set adding up
    # to e contains one of at most two changes that does, and penalties are ≥ 0): the change e
    # in one column, or the two other nonzero labels a ⊕ b = e in two different columns (from the
    # best and second-best column of each).
    la = tl.where(err == 1, 2, 1)
    lb = tl.where(err == 3, 2, 3)
    one = zero + inf
    jone = tl.zeros((BLOCK,), dtype=tl.int32)
    a1 = zero + inf
    a2 = zero + inf
    b1 = zero + inf
    b2 = zero + inf
    ja1 = jone
    ja2 = jone
    jb1 = jone
    jb2 = jone
    mp1 = zero + inf
    mp2 = zero + inf
    for j in tl.static_range(6):
        st = states[j]
        pe = _pick(st[2], st[3], st[4], err)
        jone = tl.where(pe < one, j, jone)
        one = tl.minimum(one, pe)
        a1, a2, ja1, ja2 = _two_least(a1, a2, ja1, ja2, _pick(st[2], st[3], st[4], la), j)
        b1, b2, jb1, jb2 = _two_least(b1, b2, jb1, jb2, _pick(st[2], st[3], st[4], lb), j)
        mp2 = tl.minimum(mp2, tl.maximum(mp1, st[5]))
        mp1 = tl.minimum(mp1, st[5])
    split = ja1 != jb1
    alt_a = a1 + b2 <= a2 + b1
    two = tl.where(split, a1 + b1, tl.where(alt_a, a1 + b2, a2 + b1))
    ka = tl.where(split | alt_a, ja1, ja2)
    kb = tl.where(split | ~alt_a, jb1, jb2)
    single = one <= two
    moves = ()
    for j in tl.static_range(6):
        mv = tl.where(single, tl.where(jone == j, err, 0), tl.where(ka == j, la, tl.where(kb == j, lb, 0)))
        moves = moves + (tl.where(err == 0, 0, mv),)

    # Other label change sets of the winner (the CPU decoder's _config_gap): a single change e
    # elsewhere, another pair (a, b) in two columns, or ≥ 3 changes, which cost at least the
    # cheapest set plus two more changes in further columns (≥ the two least mpen); for e = 0 every
    # nonempty set has ≥ 2 changes in distinct columns.
    cost = zero
    alt = zero + inf
    for j in tl.static_range(6):
        st = states[j]
        cost += tl.where(moves[j] == 0, 0.0, _pick(st[2], st[3], st[4], moves[j]))
        alt = tl.minimum(alt, tl.where(moves[j] != err, _pick(st[2], st[3], st[4], err), inf))
        for k in tl.static_range(6):
            if k != j:
                pair = _pick(st[2], st[3], st[4], la) + _pick(states[k][2], states[k][3], states[k][4], lb)
                chosen = (moves[j] == la) & (moves[k] == lb)
                alt = tl.minimum(alt, tl.where(chosen, inf, pair))
    gap = tl.where(err == 0, mp1 + mp2, tl.minimum(alt - cost, mp1 + mp2))

    # The lattice point (the CPU decoder's _rebuild): per coordinate the nearest integer of its
    # class with the chosen parity, where a column's parity ρ differs from its vector's own parity
    # the cheapest flip (first least row). Other points with the same vectors and labels cost at
    # least two more flips, or another flip instead of this one (second least minus least flip),
    # or the other integer of the flipped class (16ε = 32 − 2·flip more), or the next integer of
    # an unflipped class (≥ 32 more).
    gap = tl.minimum(gap, 32.0)
    dist = tl.zeros((BLOCK,), dtype=tl.float64)
    tmask = tl.zeros((BLOCK,), dtype=tl.int32)
    for j in tl.static_range(6):
        st = states[j]
        label = st[1] ^ moves[j]
        tmask = tmask | ((label & 1) << j)
        v = tl.where((label & 1) != 0, st[6] ^ 15, st[6])
        r_flip = tl.zeros((BLOCK,), dtype=tl.int32)
        fl1 = zero + inf
        fl2 = zero + inf
        free = tl.zeros((BLOCK,), dtype=tl.int1)
        bits = ()
        pars = ()
        for r in tl.static_range(4):
            b = (v >> r) & 1
            _, f, p = _class_terms(gs[4 * j + r], mw + 2 * b)
            r_flip = tl.where(f < fl1, r, r_flip)
            fl2 = tl.minimum(fl2, tl.maximum(fl1, f))
            fl1 = tl.minimum(fl1, f)
            free = free ^ p
            bits = bits + (b,)
            pars = pars + (p,)
        change = (label >> 1) != free.to(tl.int32)
        gap = tl.minimum(gap, tl.where(change, tl.minimum(fl2 - fl1, 32.0 - 2.0 * fl1), fl1 + fl2))
        for r in tl.static_range(4):
            p = pars[r] ^ (change & (r_flip == r))
            res = (mw + 2 * bits[r] + 4 * p.to(tl.int32)).to(tl.float64)
            # y again from memory (cached): 24 float64 registers fewer through the search
            yi = _load_y(x_ptr, rows, live, 4 * j + r, root8, FUSED)
            qi = res + 8.0 * tl.floor((yi - res) * 0.125 + 0.5)
            diff = yi - qi
            dist += diff * diff
            if FUSED:
                qo = qi / root8  # div.rn.f64: correctly rounded, as the CPU path
                tl.store(out_ptr + rows * 24 + 4 * j + r, qo.to(out_ptr.dtype.element_ty), mask=live)
            else:
                tl.store(out_ptr + rows * 24 + 4 * j + r, qi, mask=live)

    # Certificate: every other lattice point is in another candidate (≥ second) or in the
    # winner's (≥ dist + gap); the margin covers the rounding (DECODE_HEXACODE_ERROR).
    runner = tl.minimum(second.to(tl.float64), dist + gap.to(tl.float64))
    margin = 2.0**-40 * (64.0 + ymax) + ERROR
    # No row with |x| ≥ 2⁵⁰ (|y| ≥ 2⁵⁰·√8) is certified, nor one with a NaN or an infinite entry
    # (its distance is NaN): the caller finds them among the open rows, with no validation pass.
    sure = (runner - dist > margin) & (ymax < Y_LIMIT)
    tl.store(ok_ptr + rows, sure.to(tl.int8), mask=live)
    if not FUSED:
        word = tl.load(id_ptr + (qw * 64 + ww) * 64 + tmask, mask=live, other=0)
        tl.store(win_ptr + rows, mw * 4096 + word, mask=live)
        tl.store(best_ptr + rows, dist, mask=live)
        tl.store(second_ptr + rows, runner, mask=live)


#: Bound on the float32 rounding error of :func:`leech_decode_hexacode` (squared √8 units),
#: added to the float64 margin ``2⁻⁴⁰·(64 + max|yᵢ|)``; the fixed-point search's rounding is
#: taken off its runner-up bound instead. See the module docstring for the derivation.
DECODE_HEXACODE_ERROR = 2.0**-11


def _ptx() -> bool:
    """Whether the kernels run as PTX (on a GPU), not in Triton's interpreter, which runs the
    packed arithmetic's plain-Triton branch instead of inline PTX."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() not in ("1", "true", "on", "yes")


def _hexacode_launch(x, tables, out, ok, win, best, second, fused, block, num_warps, max_registers=None):
    hex_words, column0, word_ids, root8 = tables
    if max_registers is not None and not 16 <= max_registers <= 255:
        raise ValueError(f"max_registers must be in [16, 255], got {max_registers}")
    if block < 32 * num_warps or block & (block - 1):
        # One row per thread (the kernel keeps ~200 values per row in registers): a smaller
        # program leaves threads idle, a larger one doubles every thread's registers.
        raise ValueError(f"block must be a power of two ≥ 32 * num_warps, got {block}, num_warps {num_warps}")
    n = x.shape[0]
    if n > MAX_LAUNCH_ROWS:
        raise ValueError(f"at most {MAX_LAUNCH_ROWS} rows per call (32-bit offsets), got {n}")
    if n == 0:
        return
    # A register cap trades spills for occupancy (two programs per SM at 255 registers).
    cap = {} if max_registers is None else {"maxnreg": max_registers}
    _leech_hexacode_kernel[(triton.cdiv(n, block),)](
        x, n, root8, hex_words, column0, word_ids, out, ok, win, best, second,
        ERROR=DECODE_HEXACODE_ERROR, FUSED=fused, PTX=_ptx(), Y_LIMIT=_Y_LIMIT, BLOCK=block,
        num_warps=num_warps, **cap,
    )  # fmt: skip


def leech_decode_hexacode(
    y: torch.Tensor,
    hexacode_words: torch.Tensor,
    column0: torch.Tensor,
    word_ids: torch.Tensor,
    root8: torch.Tensor,
    block: int = 128,
    num_warps: int = 4,
) -> tuple[torch.Tensor, ...]:
    """:func:`leech_decode`'s contract by the hexacode decoder (one thread per row).

    ``y`` (N, 24) float64 in √8 units. ``hexacode_words`` (64, 6) int32: the hexacode;
    ``column0`` (8,) int32: the column of score s, parity q and top bit 0 at ``2s + q``;
    ``word_ids`` (2, 64, 64) int32: ``32g + k`` of the codeword with parity q, hexacode word w
    and top bits t (bit j: column j); ``root8`` (1,) float64: √8 (the tables of
    :func:`leechkit.models.lattice_ops._leech_tables`). Returns the point ``q`` (float64 integers,
    √8 units), whether it is certified (every other lattice point farther by more than the
    float64 margin plus :data:`DECODE_HEXACODE_ERROR`), the int32 ids ``4096m + 32g + k`` of
    the winning pairs, the point's squared distance (float64) and a lower bound, within the
    same error, of every other lattice point's squared distance (float64). ``block`` rows per
    program (a power of two, at least ``32 * num_warps``) and ``num_warps`` set the launch.
    """
    if y.dtype != torch.float64 or y.ndim != 2 or y.shape[1] != 24:
        raise ValueError(f"y must be float64 of shape (N, 24), got {y.dtype} {tuple(y.shape)}")
    y = y.contiguous()
    n = y.shape[0]
    q = torch.empty_like(y)
    ok = torch.empty(n, dtype=torch.int8, device=y.device)
    win = torch.empty(n, dtype=torch.int32, device=y.device)
    best = torch.empty(n, dtype=torch.float64, device=y.device)
    second = torch.empty(n, dtype=torch.float64, device=y.device)
    tables = (hexacode_words, column0, word_ids, root8)
    _hexacode_launch(y, tables, q, ok, win, best, second, False, block, num_warps)
    return q, ok.bool(), win, best, second


def leech_decode_points(
    x: torch.Tensor,
    hexacode_words: torch.Tensor,
    column0: torch.Tensor,
    word_ids: torch.Tensor,
    root8: torch.Tensor,
    block: int = 128,
    num_warps: int = 4,
    max_registers: int | None = None,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closest Leech points of the rows of ``x`` (N, 24, standard scale) in one pass.

    The fused form of :func:`leech_decode_hexacode`: the kernel forms ``y = fl(√8·x)`` in
    float64 as it loads a row and writes ``fl(q/√8)`` (correctly rounded float64 division,
    then rounded once to the output dtype), so no other pass over the data is needed. float32
    and float64 rows give a result of their dtype, other float dtypes are widened to float32
    (exactly) and give float64 (the caller rounds once to their dtype). Returns the points and
    the bool certificates; uncertified rows hold some lattice point, which the caller replaces.
    ``max_registers`` caps the registers per thread (Triton's ``maxnreg``; None: the
    compiler's choice, 255), for the launch-shape sweep of ``benchmarks/bench_gpu.py``.
    ``out``, if given, receives the points: a contiguous tensor of the result's shape, dtype
    and device (a row range of a larger result, so that pieces need no concatenation).
    """
    if x.ndim != 2 or x.shape[1] != 24 or not x.is_floating_point():
        raise ValueError(f"x must be floating-point of shape (N, 24), got {x.dtype} {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        x, out_dtype = x.float(), torch.float64
    else:
        out_dtype = x.dtype
    x = x.contiguous()
    n = x.shape[0]
    if out is None:
        out = torch.empty(x.shape, dtype=out_dtype, device=x.device)
    elif out.shape != x.shape or out.dtype != out_dtype or out.device != x.device or not out.is_contiguous():
        raise ValueError(
            f"out must be a contiguous {out_dtype} tensor of shape {tuple(x.shape)} on {x.device}, "
            f"got {out.dtype} {tuple(out.shape)} on {out.device}"
        )
    ok = torch.empty(n, dtype=torch.int8, device=x.device)
    tables = (hexacode_words, column0, word_ids, root8)
    _hexacode_launch(x, tables, out, ok, ok, ok, ok, True, block, num_warps, max_registers)
    return out, ok.bool()


@triton.jit
def _e8_decode_kernel(x_ptr, out_ptr, tie_ptr, n_rows, near_tie, BLOCK: tl.constexpr):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, 8)
    live = rows < n_rows
    x = tl.load(x_ptr + rows[:, None] * 8 + cols[None, :], mask=live[:, None], other=0.0)
    x = x.to(tl.float64)
    fl = tl.floor(x)
    d = x - fl  # exact
    # Round half to even, as numpy's rint on the CPU path.
    fl_odd = (fl - 2.0 * tl.floor(0.5 * fl)) != 0
    f = tl.where((d > 0.5) | ((d == 0.5) & fl_odd), fl + 1.0, fl)
    a = tl.abs(x - f)  # exact rounding error; ½ − a is the error to the nearest half-integer
    s0 = tl.sum(f, axis=1)
    odd0 = s0 - 2.0 * tl.floor(0.5 * s0)
    s1 = tl.sum(fl, axis=1)
    odd1 = s1 - 2.0 * tl.floor(0.5 * s1)
    worst = tl.max(a, axis=1)
    least = tl.min(a, axis=1)
    k0 = tl.argmax(a, axis=1)
    k1 = tl.argmin(a, axis=1)
    # d(D8) − d(D8 + ½) from the rounding errors alone (SPLAG ch. 20 §3): the half coset wins
    # iff it is positive; an exact tie goes to D8.
    gap = odd0 * (1.0 - 2.0 * worst) - 2.0 + tl.sum(a, axis=1) - 2.0 * odd1 * least
    p0 = f + tl.where((cols[None, :] == k0[:, None]) & (odd0[:, None] != 0),
                      tl.where(x >= f, 1.0, -1.0), 0.0)
    h = fl + 0.5
    p1 = h + tl.where((cols[None, :] == k1[:, None]) & (odd1[:, None] != 0),
                      tl.where(x >= h, 1.0, -1.0), 0.0)
    point = tl.where((gap > 0.0)[:, None], p1, p0)
    tl.store(out_ptr + rows[:, None] * 8 + cols[None, :], point.to(out_ptr.dtype.element_ty),
             mask=live[:, None])
    # Rows the caller must decide: near ties, and non-finite or huge rows (the CPU decoder
    # then raises the error that names them).
    sane = tl.max(tl.abs(x), axis=1) < 1125899906842624.0  # 2**50; False for NaN
    tl.store(tie_ptr + rows, (tl.abs(gap) <= near_tie) | (sane == 0), mask=live)


def e8_decode(x: torch.Tensor, near_tie: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest E8 points of the rows of a float32/float64 CUDA tensor (N, 8), in its dtype.

    Also returns a bool (N,) flag for rows whose two coset candidates are within ``near_tie``
    in squared distance (the float64 sums do not decide those, the caller does exactly) and
    for rows with NaN, infinite or ≥ 2⁵⁰ entries.
    """
    x = x.contiguous()
    out = torch.empty_like(x)
    tie = torch.empty(x.shape[0], dtype=torch.bool, device=x.device)
    # The kernel's element offsets are 32-bit: launches of at most 2²⁶ rows (2²⁹ elements).
    for start in range(0, x.shape[0], MAX_LAUNCH_ROWS):
        part = slice(start, start + MAX_LAUNCH_ROWS)
        n = x[part].shape[0]
        _e8_decode_kernel[(triton.cdiv(n, _E8_BLOCK),)](
            x[part], out[part], tie[part], n, near_tie, BLOCK=_E8_BLOCK, num_warps=_E8_WARPS
        )
    return out, tie


@triton.jit
def _e8_search_kernel(x_ptr, idx_ptr, index_ptr, power_ptr, n_rows, margin, BLOCK: tl.constexpr):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, 8)
    live = rows < n_rows
    x = tl.load(x_ptr + rows[:, None] * 8 + cols[None, :], mask=live[:, None], other=0.0)
    x = x.to(tl.float64)
    mag = tl.abs(x)
    total = tl.sum(mag, axis=1)
    # Roots (±2², 0⁶): the two largest magnitudes, and the third for the runner-up.
    a1 = tl.max(mag, axis=1)
    p1 = tl.argmax(mag, axis=1)
    rest = tl.where(cols[None, :] == p1[:, None], -1.0, mag)
    a2 = tl.max(rest, axis=1)
    p2 = tl.argmax(rest, axis=1)
    a3 = tl.max(tl.where(cols[None, :] == p2[:, None], -1.0, rest), axis=1)
    best1 = 2.0 * (a1 + a2)
    run1 = 2.0 * (a1 + a3)
    # Roots (±1⁸), even number of minus signs: an odd number of negative entries costs the
    # smallest magnitude twice (its sign flipped); the next best flips the second smallest
    # instead, or (even) the two smallest together.
    odd = (tl.sum((x < 0).to(tl.int32), axis=1) % 2) == 1
    m1 = tl.min(mag, axis=1)
    q1 = tl.argmin(mag, axis=1)
    m2 = tl.min(tl.where(cols[None, :] == q1[:, None], float("inf"), mag), axis=1)
    best2 = tl.where(odd, total - 2.0 * m1, total)
    run2 = tl.where(odd, total - 2.0 * m2, total - 2.0 * (m1 + m2))
    win1 = best1 >= best2
    runner = tl.maximum(tl.minimum(best1, best2), tl.maximum(run1, run2))
    certified = (tl.maximum(best1, best2) - runner > margin * 4.0 * total) & (a1 < 2.0**1000)
    sign = tl.where(x < 0, -1, 1)
    v1 = tl.where((cols[None, :] == p1[:, None]) | (cols[None, :] == p2[:, None]), 2 * sign, 0)
    v2 = tl.where(odd[:, None] & (cols[None, :] == q1[:, None]), -sign, sign)
    v = tl.where(win1[:, None], v1, v2)
    key = tl.sum((v + 2).to(tl.int64) * tl.load(power_ptr + cols)[None, :], axis=1)
    idx = tl.load(index_ptr + key, mask=live & certified, other=-1)
    bad = tl.sum(((x != x) | (mag == float("inf"))).to(tl.int32), axis=1) > 0
    tl.store(idx_ptr + rows, tl.where(bad, -2, tl.where(certified, idx, -1)), mask=live)


def e8_search(x: torch.Tensor, index: torch.Tensor, powers: torch.Tensor, margin: float) -> torch.Tensor:
    """Index of the E8 root with the largest inner product with each row of ``x`` (N, 8), −1
    where the winner is not certified, −2 where the row has a NaN or an infinite entry.

    ``x`` is float32 or float64 (computed in float64); ``index`` is the int64 root index by
    the base-5 key ``Σ (vᵢ + 2)·5ⁱ`` of the doubled root ``v`` (−1 for other keys) and
    ``powers`` the int64 ``5ⁱ``; ``margin`` the relative certification margin. Returns int64
    indices in the order of :func:`leechkit.lattice.quantizers.index_to_vector`.
    """
    if x.dtype not in _SEARCH_DTYPES:
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
    if x.ndim != 2 or x.shape[1] != 8:
        raise ValueError(f"x must have shape (N, 8), got {tuple(x.shape)}")
    if index.dtype != torch.int64 or powers.dtype != torch.int64 or powers.shape != (8,):
        raise TypeError(f"index and powers must be int64 and powers of shape (8,), got {index.dtype}, "
                        f"{powers.dtype} {tuple(powers.shape)}")  # fmt: skip
    x = x.contiguous()
    idx = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[0], MAX_LAUNCH_ROWS):
        part = slice(start, start + MAX_LAUNCH_ROWS)
        n = x[part].shape[0]
        _e8_search_kernel[(triton.cdiv(n, _E8_BLOCK),)](
            x[part], idx[part], index, powers, n, margin, BLOCK=_E8_BLOCK, num_warps=_E8_WARPS
        )
    return idx


#: Launch of the (memory-bound) cosine kernels: blocks per program and warps.
_COSINE_BLOCK = 64
_COSINE_WARPS = 4
_COSINE_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@triton.jit
def _cosine_terms(h_ptr, idx_ptr, vec_ptr, rows, live, N: tl.constexpr, WIDTH: tl.constexpr):
    """The blocks (BLOCK, WIDTH) scaled by their peaks, the peaks, their gathered vectors, ρ
    and ``1/‖x‖`` (0 for a zero block), all in float64; columns ``≥ N`` are zero."""
    cols = tl.arange(0, WIDTH)
    mask = live[:, None] & (cols[None, :] < N)
    h = tl.load(h_ptr + rows[:, None] * N + cols[None, :], mask=mask, other=0.0).to(tl.float64)
    idx = tl.load(idx_ptr + rows, mask=live, other=0)
    v = tl.load(vec_ptr + idx[:, None] * N + cols[None, :], mask=mask, other=0).to(tl.float64)
    peak = tl.max(tl.abs(h), axis=1)
    # Zero blocks keep x = 0 (divided by 1); the others have one entry ±1 and ‖x‖ ≥ 1.
    peak = tl.where(peak > 0, peak, 1.0)
    x = h / peak[:, None]
    xx = tl.sum(x * x, axis=1)
    inv = tl.where(xx > 0, 1.0 / tl.sqrt(xx), 0.0)
    v_len = tl.sqrt(tl.sum(v * v, axis=1))  # float64: sqrt.rn, correctly rounded
    cos = tl.sum(x * v, axis=1) * inv / v_len
    return x, peak, v / v_len[:, None], cos, inv


@triton.jit
def _block_cosine_kernel(h_ptr, idx_ptr, vec_ptr, cos_ptr, n_rows, N: tl.constexpr, WIDTH: tl.constexpr,
                         BLOCK: tl.constexpr):  # fmt: skip
    rows = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
    live = rows < n_rows
    _, _, _, cos, _ = _cosine_terms(h_ptr, idx_ptr, vec_ptr, rows, live, N, WIDTH)
    tl.store(cos_ptr + rows, cos.to(cos_ptr.dtype.element_ty), mask=live)


@triton.jit
def _block_cosine_grad_kernel(h_ptr, idx_ptr, vec_ptr, grad_ptr, out_ptr, n_rows, N: tl.constexpr,
                              WIDTH: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    rows = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)).to(tl.int64)
    live = rows < n_rows
    x, peak, u, cos, inv = _cosine_terms(h_ptr, idx_ptr, vec_ptr, rows, live, N, WIDTH)
    g = tl.load(grad_ptr + rows, mask=live, other=0.0).to(tl.float64)
    # ∂ρ/∂h = (u − ρ x/‖x‖) / (p ‖x‖), the division by the peak last (the rest is ≤ 2|g|).
    out = (g * inv)[:, None] * (u - (cos * inv)[:, None] * x) / peak[:, None]
    cols = tl.arange(0, WIDTH)
    mask = live[:, None] & (cols[None, :] < N)
    tl.store(out_ptr + rows[:, None] * N + cols[None, :], out.to(out_ptr.dtype.element_ty), mask=mask)


def _check_cosine_args(x: torch.Tensor, idx: torch.Tensor, vectors: torch.Tensor) -> None:
    if x.dtype not in _COSINE_DTYPES:
        raise TypeError(f"x must be a float16, bfloat16, float32 or float64 tensor, got {x.dtype}")
    if vectors.dtype != torch.int8 or vectors.ndim != 2 or vectors.shape[1] not in (8, 24):
        raise TypeError(f"vectors must be int8 of shape (M, 8) or (M, 24), got {vectors.dtype} "
                        f"{tuple(vectors.shape)}")  # fmt: skip
    if x.ndim != 2 or x.shape[1] != vectors.shape[1]:
        raise ValueError(f"x must have shape (N, {vectors.shape[1]}), got {tuple(x.shape)}")
    if idx.dtype != torch.int64 or idx.shape != x.shape[:1]:
        raise TypeError(f"idx must be int64 of shape ({x.shape[0]},), got {idx.dtype} {tuple(idx.shape)}")


def block_cosines(x: torch.Tensor, idx: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Cosine of each row of ``x`` (N, n) with the row ``idx`` of ``vectors`` (0 for a zero row).

    ``x`` is float16, bfloat16, float32 or float64 with finite entries (computed in float64 at
    any magnitude, returned in ``x``'s dtype); ``idx`` the int64 indices (N,) into
    ``vectors``, the int8 minimal vectors (M, n) in integer coordinates, n = 24 or 8.
    """
    _check_cosine_args(x, idx, vectors)
    x, n = x.contiguous(), x.shape[1]
    cos = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for start in range(0, x.shape[0], MAX_LAUNCH_ROWS):
        part = slice(start, start + MAX_LAUNCH_ROWS)
        rows = x[part].shape[0]
        _block_cosine_kernel[(triton.cdiv(rows, _COSINE_BLOCK),)](
            x[part], idx[part], vectors, cos[part], rows, N=n, WIDTH=triton.next_power_of_2(n),
            BLOCK=_COSINE_BLOCK, num_warps=_COSINE_WARPS,
        )  # fmt: skip
    return cos


def block_cosine_grads(
    x: torch.Tensor, idx: torch.Tensor, vectors: torch.Tensor, grad: torch.Tensor
) -> torch.Tensor:
    """``grad`` (N,) times the gradient of :func:`block_cosines` with respect to each row of
    ``x``: ``(u − ρ x/‖x‖) / ‖x‖`` with ``u`` the unit vector of the row's minimal vector, 0 for
    a zero row; same arguments, returned in ``x``'s dtype (±inf where the true value is beyond
    its range, as for rows of subnormal size)."""
    _check_cosine_args(x, idx, vectors)
    if grad.shape != x.shape[:1] or not grad.is_floating_point():
        raise ValueError(
            f"grad must be floating of shape ({x.shape[0]},), got {grad.dtype} {tuple(grad.shape)}"
        )
    x, grad, n = x.contiguous(), grad.contiguous(), x.shape[1]
    out = torch.empty_like(x)
    for start in range(0, x.shape[0], MAX_LAUNCH_ROWS):
        part = slice(start, start + MAX_LAUNCH_ROWS)
        rows = x[part].shape[0]
        _block_cosine_grad_kernel[(triton.cdiv(rows, _COSINE_BLOCK),)](
            x[part], idx[part], vectors, grad[part], out[part], rows, N=n, WIDTH=triton.next_power_of_2(n),
            BLOCK=_COSINE_BLOCK, num_warps=_COSINE_WARPS,
        )  # fmt: skip
    return out


def launch_signatures() -> list[tuple[triton.runtime.JITFunction, dict[str, str], dict[str, object], int]]:
    """Each kernel with the argument types, constants and warps its wrapper launches it with.

    For compiling ahead of time without a GPU (``triton.compile`` on an ``ASTSource`` with a
    ``GPUTarget``): the tests compile every kernel for sm_90 this way, and
    ``benchmarks/kernel_resources.py`` reports registers and spills per launch shape.
    """
    search_block = inspect.signature(leech_search).parameters["block"].default
    search_warps = inspect.signature(leech_search).parameters["num_warps"].default
    decode_block = inspect.signature(leech_decode).parameters["block"].default
    decode_warps = inspect.signature(leech_decode).parameters["num_warps"].default
    out: list[tuple[triton.runtime.JITFunction, dict[str, str], dict[str, object], int]] = []
    for dt in ("fp32", "fp64"):
        search = {
            "xt_ptr": f"*{dt}", "n_rows": "i32", "octad_ptr": "*i32", "sign_ptr": f"*{dt}",
            "word_ptr": "*i32", "idx_ptr": "*i32", "win_ptr": "*i32", "gap_ptr": "*fp64",
            "margin": "fp32", "OCTAD_OFFSET": "constexpr", "ODD_OFFSET": "constexpr",
            "BLOCK": "constexpr",
        }  # fmt: skip
        offsets = {"OCTAD_OFFSET": SHAPE_OFFSETS[1], "ODD_OFFSET": SHAPE_OFFSETS[2]}
        out.append((_leech_search_kernel, search, {**offsets, "BLOCK": search_block}, search_warps))
        if dt == "fp32":  # the second pass follows float32 first passes only
            redo = {**search, "sign_ptr": "*fp64", "margin": "fp64"}
            redo.update({"ROWS": "constexpr", "LANES": "constexpr"})
            del redo["BLOCK"]
            constants = {**offsets, "ROWS": _REDO_ROWS, "LANES": 128}
            out.append((_leech_search_redo_kernel, redo, constants, _REDO_WARPS))
        e8 = {
            "x_ptr": f"*{dt}", "out_ptr": f"*{dt}", "tie_ptr": "*i1", "n_rows": "i32",
            "near_tie": "fp32", "BLOCK": "constexpr",
        }  # fmt: skip
        out.append((_e8_decode_kernel, e8, {"BLOCK": _E8_BLOCK}, _E8_WARPS))
        e8_search = {
            "x_ptr": f"*{dt}", "idx_ptr": "*i64", "index_ptr": "*i64", "power_ptr": "*i64",
            "n_rows": "i32", "margin": "fp32", "BLOCK": "constexpr",
        }  # fmt: skip
        out.append((_e8_search_kernel, e8_search, {"BLOCK": _E8_BLOCK}, _E8_WARPS))
    decode = {
        "y_ptr": "*fp64", "n_rows": "i32", "pat_ptr": "*i32", "rep_ptr": "*i32", "bits_ptr": "*i32",
        "colbits_ptr": "*i32", "q_ptr": "*fp64", "ok_ptr": "*i8", "win_ptr": "*i32",
        "best_ptr": "*fp64", "second_ptr": "*fp64", "ERROR": "constexpr", "BLOCK": "constexpr",
    }  # fmt: skip
    constants = {"ERROR": DECODE_SCORE_ERROR, "BLOCK": decode_block}
    out.append((_leech_decode_kernel, decode, constants, decode_warps))
    # The hexacode decoder as decode() launches it: fused, on float32 and on float64 rows (the
    # rows it leaves open go to the groups kernel above).
    hex_block = inspect.signature(leech_decode_points).parameters["block"].default
    hex_warps = inspect.signature(leech_decode_points).parameters["num_warps"].default
    for dt in ("fp32", "fp64"):
        hexa = {
            "x_ptr": f"*{dt}", "n_rows": "i32", "root8_ptr": "*fp64", "hex_ptr": "*i32", "vec_ptr": "*i32",
            "id_ptr": "*i32", "out_ptr": f"*{dt}", "ok_ptr": "*i8", "win_ptr": "*i8", "best_ptr": "*i8",
            "second_ptr": "*i8", "ERROR": "constexpr", "FUSED": "constexpr", "PTX": "constexpr",
            "Y_LIMIT": "constexpr", "BLOCK": "constexpr",
        }  # fmt: skip
        constants = {"ERROR": DECODE_HEXACODE_ERROR, "FUSED": True, "PTX": True, "Y_LIMIT": _Y_LIMIT,
                     "BLOCK": hex_block}  # fmt: skip
        out.append((_leech_hexacode_kernel, hexa, constants, hex_warps))
    # The resonance loss's cosines as the model's float32 hidden states take them, Leech and E8.
    for n in (24, 8):
        cosine = {"h_ptr": "*fp32", "idx_ptr": "*i64", "vec_ptr": "*i8", "cos_ptr": "*fp32", "n_rows": "i32",
                  "N": "constexpr", "WIDTH": "constexpr", "BLOCK": "constexpr"}  # fmt: skip
        constants = {"N": n, "WIDTH": triton.next_power_of_2(n), "BLOCK": _COSINE_BLOCK}
        out.append((_block_cosine_kernel, cosine, constants, _COSINE_WARPS))
        grad = {**cosine, "grad_ptr": "*fp32", "out_ptr": "*fp32"}
        del grad["cos_ptr"]
        grad = {k: grad[k] for k in _block_cosine_grad_kernel.arg_names}
        out.append((_block_cosine_grad_kernel, grad, constants, _COSINE_WARPS))
    return out
