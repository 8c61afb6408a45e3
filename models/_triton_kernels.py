"""Fused Triton kernels for the lattice operations on CUDA tensors.

Imported by :mod:`leechkit.models.lattice_ops` only when Triton is installed; every kernel
has a plain-torch reference there that computes the same quantities, and the tests compare
the two (on the GPU, and on the CPU through ``TRITON_INTERPRET=1``).

Leech spherical search (:func:`leech_search_scores`)
----------------------------------------------------
One thread takes one row, its 24 coordinates in registers (the input is transposed first so
that every coordinate load is coalesced), and walks the candidate families of the structured
search of :mod:`.lattice_ops` without materialising them: the shape (±4², 0²²), the 759
octads (±2⁸ with an even number of minus signs, best value ``T − 4m₁`` for an odd number of
negative entries, the octad's eight coordinates reloaded from the cache), and the 128 cosets
of the even MOG column complements, where for every position ``k`` the sign-parity rule on
the six column sums gives the best (∓3, ±1²³) vector. For each row it keeps the best value,
the family that reached it and the best value of every *other* candidate (runners-up
included), so that the winner is certified by a margin exactly as in the torch reference.
The arithmetic is float64; only the winning family's id and the certificate leave the kernel.

Leech decoding (:func:`leech_decode_scores`)
--------------------------------------------
In √8 units a Leech vector is ``y = m·1 + 2b + 4z`` with ``b`` a Golay codeword and
``Σ zᵢ ≡ m (mod 2)``. For a fixed ``(m, b)`` the closest such vector is exact and cheap: each
coordinate goes to the nearest integer ``≡ m + 2bᵢ (mod 4)``, and if the parities ``zᵢ mod 2``
add up wrongly the coordinate whose second-nearest choice costs least, ``δᵢ = 16 − 8|eᵢ|``
more, takes it. The kernel walks the 8,192 pairs ``(m, b)`` as 2 × 128 cosets of the 32 even
MOG column complements: per coset it forms, for each column and each of its two versions
(complemented or not), the column's cost, parity and cheapest flip from the per-coordinate
class costs, and then the 32 codewords of the coset as sums over the six columns — a
``(BLOCK, 8, 32)`` tile. It keeps the best pair's id, its cost and the best cost of every other
pair; the point itself and the certificate are finished in torch.

E8 decoding (:func:`e8_decode`)
-------------------------------
Conway and Sloane's algorithm (SPLAG ch. 20 §2): E8 = D8 ∪ (D8 + ½). For each coset round
every coordinate, and if the coordinate sum has the wrong parity re-round the coordinate with
the largest rounding error the other way; keep the nearer of the two candidates, the D8
candidate on equal distances. One thread decodes one 8-D point, reading and writing it once,
so the kernel runs at the memory bandwidth.

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups*, 3rd ed., ch. 4 §11
and ch. 11 (Leech lattice, MOG), ch. 20 §2 (decoding Dn and E8).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["e8_decode", "leech_decode_scores", "leech_search_scores"]


@triton.jit
def _update(top, second, win, best, runner, family):
    # ``second`` is the best value of every candidate except the current winner.
    second = tl.maximum(tl.maximum(second, runner), tl.minimum(top, best))
    win = tl.where(best > top, family, win)
    top = tl.maximum(top, best)
    return top, second, win


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
def _running_top3(v, a1, a2, a3, abs_sum):
    av = tl.abs(v)
    a3 = tl.maximum(a3, tl.minimum(a2, av))
    a2 = tl.maximum(a2, tl.minimum(a1, av))
    a1 = tl.maximum(a1, av)
    return a1, a2, a3, abs_sum + av


@triton.jit
def _two_smallest(a, b, c, d, e):
    m1 = tl.minimum(a, b)
    m2 = tl.maximum(a, b)
    m2 = tl.minimum(m2, tl.maximum(m1, c))
    m1 = tl.minimum(m1, c)
    m2 = tl.minimum(m2, tl.maximum(m1, d))
    m1 = tl.minimum(m1, d)
    m2 = tl.minimum(m2, tl.maximum(m1, e))
    m1 = tl.minimum(m1, e)
    return m1, m2


@triton.jit
def _leech_search_kernel(
    xt_ptr, n_rows, octad_ptr, sign_ptr, win_ptr, gap_ptr, margin, BLOCK: tl.constexpr
):
    # xt is the transposed input (24, n_rows): every coordinate load is coalesced.
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = rows < n_rows
    inf = float("inf")
    x0 = tl.load(xt_ptr + 0 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x1 = tl.load(xt_ptr + 1 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x2 = tl.load(xt_ptr + 2 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x3 = tl.load(xt_ptr + 3 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x4 = tl.load(xt_ptr + 4 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x5 = tl.load(xt_ptr + 5 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x6 = tl.load(xt_ptr + 6 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x7 = tl.load(xt_ptr + 7 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x8 = tl.load(xt_ptr + 8 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x9 = tl.load(xt_ptr + 9 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x10 = tl.load(xt_ptr + 10 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x11 = tl.load(xt_ptr + 11 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x12 = tl.load(xt_ptr + 12 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x13 = tl.load(xt_ptr + 13 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x14 = tl.load(xt_ptr + 14 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x15 = tl.load(xt_ptr + 15 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x16 = tl.load(xt_ptr + 16 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x17 = tl.load(xt_ptr + 17 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x18 = tl.load(xt_ptr + 18 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x19 = tl.load(xt_ptr + 19 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x20 = tl.load(xt_ptr + 20 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x21 = tl.load(xt_ptr + 21 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x22 = tl.load(xt_ptr + 22 * n_rows + rows, mask=live, other=0.0).to(tl.float64)
    x23 = tl.load(xt_ptr + 23 * n_rows + rows, mask=live, other=0.0).to(tl.float64)

    # Shape (±4², 0²²): the three largest |xᵢ| (a sorting network on running maxima).
    a1 = tl.zeros((BLOCK,), dtype=tl.float64)
    a2 = tl.zeros((BLOCK,), dtype=tl.float64)
    a3 = tl.zeros((BLOCK,), dtype=tl.float64)
    abs_sum = tl.zeros((BLOCK,), dtype=tl.float64)
    a1, a2, a3, abs_sum = _running_top3(x0, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x1, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x2, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x3, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x4, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x5, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x6, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x7, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x8, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x9, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x10, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x11, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x12, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x13, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x14, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x15, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x16, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x17, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x18, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x19, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x20, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x21, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x22, a1, a2, a3, abs_sum)
    a1, a2, a3, abs_sum = _running_top3(x23, a1, a2, a3, abs_sum)
    top = 4.0 * (a1 + a2)
    second = 4.0 * (a1 + a3)
    win = tl.zeros((BLOCK,), dtype=tl.int32)

    for o in range(759):
        total = tl.zeros((BLOCK,), dtype=tl.float64)
        negs = tl.zeros((BLOCK,), dtype=tl.int32)
        m1 = tl.full((BLOCK,), inf, tl.float64)
        m2 = tl.full((BLOCK,), inf, tl.float64)
        for t in tl.static_range(8):
            p = tl.load(octad_ptr + o * 8 + t)
            v = tl.load(xt_ptr + p * n_rows + rows, mask=live, other=0.0).to(tl.float64)
            av = tl.abs(v)
            total += av
            negs += (v < 0).to(tl.int32)
            m2 = tl.minimum(m2, tl.maximum(m1, av))
            m1 = tl.minimum(m1, av)
        total = 2.0 * total
        odd = (negs % 2) == 1
        best = tl.where(odd, total - 4.0 * m1, total)
        runner = tl.where(odd, total - 4.0 * m2, total - 4.0 * (m1 + m2))
        top, second, win = _update(top, second, win, best, runner, o + 1)

    for g in range(128):
        sp = sign_ptr + g * 24
        s0 = tl.load(sp + 0)
        s1 = tl.load(sp + 1)
        s2 = tl.load(sp + 2)
        s3 = tl.load(sp + 3)
        s4 = tl.load(sp + 4)
        s5 = tl.load(sp + 5)
        s6 = tl.load(sp + 6)
        s7 = tl.load(sp + 7)
        s8 = tl.load(sp + 8)
        s9 = tl.load(sp + 9)
        s10 = tl.load(sp + 10)
        s11 = tl.load(sp + 11)
        s12 = tl.load(sp + 12)
        s13 = tl.load(sp + 13)
        s14 = tl.load(sp + 14)
        s15 = tl.load(sp + 15)
        s16 = tl.load(sp + 16)
        s17 = tl.load(sp + 17)
        s18 = tl.load(sp + 18)
        s19 = tl.load(sp + 19)
        s20 = tl.load(sp + 20)
        s21 = tl.load(sp + 21)
        s22 = tl.load(sp + 22)
        s23 = tl.load(sp + 23)
        g0 = s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3
        g1 = s4 * x4 + s5 * x5 + s6 * x6 + s7 * x7
        g2 = s8 * x8 + s9 * x9 + s10 * x10 + s11 * x11
        g3 = s12 * x12 + s13 * x13 + s14 * x14 + s15 * x15
        g4 = s16 * x16 + s17 * x17 + s18 * x18 + s19 * x19
        g5 = s20 * x20 + s21 * x21 + s22 * x22 + s23 * x23
        b0 = tl.abs(g0)
        b1 = tl.abs(g1)
        b2 = tl.abs(g2)
        b3 = tl.abs(g3)
        b4 = tl.abs(g4)
        b5 = tl.abs(g5)
        tsum = b0 + b1 + b2 + b3 + b4 + b5
        nneg = (g0 < 0).to(tl.int32) + (g1 < 0).to(tl.int32) + (g2 < 0).to(tl.int32)
        nneg += (g3 < 0).to(tl.int32) + (g4 < 0).to(tl.int32) + (g5 < 0).to(tl.int32)
        p0, q0 = _two_smallest(b1, b2, b3, b4, b5)
        p1, q1 = _two_smallest(b0, b2, b3, b4, b5)
        p2, q2 = _two_smallest(b0, b1, b3, b4, b5)
        p3, q3 = _two_smallest(b0, b1, b2, b4, b5)
        p4, q4 = _two_smallest(b0, b1, b2, b3, b5)
        p5, q5 = _two_smallest(b0, b1, b2, b3, b4)
        fam = 760 + g * 24
        top, second, win = _minus_three(g0, p0, q0, x0, s0, tsum, nneg, top, second, win, fam + 0)
        top, second, win = _minus_three(g0, p0, q0, x1, s1, tsum, nneg, top, second, win, fam + 1)
        top, second, win = _minus_three(g0, p0, q0, x2, s2, tsum, nneg, top, second, win, fam + 2)
        top, second, win = _minus_three(g0, p0, q0, x3, s3, tsum, nneg, top, second, win, fam + 3)
        top, second, win = _minus_three(g1, p1, q1, x4, s4, tsum, nneg, top, second, win, fam + 4)
        top, second, win = _minus_three(g1, p1, q1, x5, s5, tsum, nneg, top, second, win, fam + 5)
        top, second, win = _minus_three(g1, p1, q1, x6, s6, tsum, nneg, top, second, win, fam + 6)
        top, second, win = _minus_three(g1, p1, q1, x7, s7, tsum, nneg, top, second, win, fam + 7)
        top, second, win = _minus_three(g2, p2, q2, x8, s8, tsum, nneg, top, second, win, fam + 8)
        top, second, win = _minus_three(g2, p2, q2, x9, s9, tsum, nneg, top, second, win, fam + 9)
        top, second, win = _minus_three(g2, p2, q2, x10, s10, tsum, nneg, top, second, win, fam + 10)
        top, second, win = _minus_three(g2, p2, q2, x11, s11, tsum, nneg, top, second, win, fam + 11)
        top, second, win = _minus_three(g3, p3, q3, x12, s12, tsum, nneg, top, second, win, fam + 12)
        top, second, win = _minus_three(g3, p3, q3, x13, s13, tsum, nneg, top, second, win, fam + 13)
        top, second, win = _minus_three(g3, p3, q3, x14, s14, tsum, nneg, top, second, win, fam + 14)
        top, second, win = _minus_three(g3, p3, q3, x15, s15, tsum, nneg, top, second, win, fam + 15)
        top, second, win = _minus_three(g4, p4, q4, x16, s16, tsum, nneg, top, second, win, fam + 16)
        top, second, win = _minus_three(g4, p4, q4, x17, s17, tsum, nneg, top, second, win, fam + 17)
        top, second, win = _minus_three(g4, p4, q4, x18, s18, tsum, nneg, top, second, win, fam + 18)
        top, second, win = _minus_three(g4, p4, q4, x19, s19, tsum, nneg, top, second, win, fam + 19)
        top, second, win = _minus_three(g5, p5, q5, x20, s20, tsum, nneg, top, second, win, fam + 20)
        top, second, win = _minus_three(g5, p5, q5, x21, s21, tsum, nneg, top, second, win, fam + 21)
        top, second, win = _minus_three(g5, p5, q5, x22, s22, tsum, nneg, top, second, win, fam + 22)
        top, second, win = _minus_three(g5, p5, q5, x23, s23, tsum, nneg, top, second, win, fam + 23)

    certified = top - second > margin * 4.0 * abs_sum
    tl.store(win_ptr + rows, tl.where(certified, win, -1), mask=live)
    tl.store(gap_ptr + rows, top - second, mask=live)


def leech_search_scores(
    x: torch.Tensor, octad_positions: torch.Tensor, coset_signs: torch.Tensor, margin: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Winning candidate family of each row of ``x`` (N, 24), or −1 where it is not certified.

    ``octad_positions`` (759, 8) int32 are the octads' coordinates, ``coset_signs`` (128, 24)
    float64 the coset representatives' signs. Returns the int32 family ids
    (0: shape (±4²), ``1 + o``: octad ``o``, ``760 + 24g + k``: coset ``g``, position ``k``)
    and the float64 gaps between the best and the runner-up.
    """
    xt = x.t().contiguous()
    n = x.shape[0]
    win = torch.empty(n, dtype=torch.int32, device=x.device)
    gap = torch.empty(n, dtype=torch.float64, device=x.device)
    block = 128
    _leech_search_kernel[(triton.cdiv(n, block),)](
        xt, n, octad_positions, coset_signs, win, gap, margin, BLOCK=block, num_warps=4
    )
    return win, gap


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
def _leech_decode_kernel(
    y_ptr, n_rows, rep_ptr, bits_ptr, win_ptr, best_ptr, second_ptr, BLOCK: tl.constexpr
):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, 32)
    c8 = tl.arange(0, 8)
    live = rows < n_rows
    lane = cols[None, :] < 24
    y = tl.load(y_ptr + rows[:, None] * 24 + cols[None, :], mask=live[:, None] & lane, other=0.0)
    y = y.to(tl.float64)
    inf = float("inf")
    # Bit j of the k-th even subset of the six columns (rows 6, 7 are zero).
    sel = tl.load(bits_ptr + c8[:, None] * 32 + cols[None, :])[None, :, :] != 0

    top = tl.full((BLOCK,), inf, tl.float64)
    second = tl.full((BLOCK,), inf, tl.float64)
    win = tl.zeros((BLOCK,), dtype=tl.int32)
    for m in range(2):
        mf = m * 1.0
        cost0, par0, pen0 = _class_costs(y, mf)  # b = 0
        cost1, par1, pen1 = _class_costs(y, mf + 2.0)  # b = 1
        pen0 = tl.where(lane, pen0, inf)
        pen1 = tl.where(lane, pen1, inf)
        cost0 = tl.where(lane, cost0, 0.0)
        cost1 = tl.where(lane, cost1, 0.0)
        par0 = tl.where(lane, par0, 0)
        par1 = tl.where(lane, par1, 0)
        for g in range(128):
            rep = (tl.load(rep_ptr + g * 32 + cols) != 0)[None, :]
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
            value = total + tl.where(parity != m, flip, 0.0)
            best = tl.min(value, axis=1)
            k = tl.argmin(value, axis=1)
            runner = tl.min(tl.where(cols[None, :] == k[:, None], inf, value), axis=1)
            second = tl.minimum(tl.minimum(second, runner), tl.maximum(top, best))
            win = tl.where(best < top, m * 4096 + g * 32 + k, win)
            top = tl.minimum(top, best)
    tl.store(win_ptr + rows, win, mask=live)
    tl.store(best_ptr + rows, top, mask=live)
    tl.store(second_ptr + rows, second, mask=live)


def leech_decode_scores(
    y: torch.Tensor, coset_bits: torch.Tensor, even_masks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best ``(m, codeword)`` pair of each row of ``y`` (N, 24, √8 units, float64).

    ``coset_bits`` (128, 32): the coset representatives' bits; ``even_masks`` (8, 32): bit j
    of the k-th even subset of the six MOG columns. Returns the int32 ids
    ``4096m + 32g + k``, the best squared distance and the best squared distance of every
    other pair (float64).
    """
    y = y.contiguous()
    n = y.shape[0]
    win = torch.empty(n, dtype=torch.int32, device=y.device)
    best = torch.empty(n, dtype=torch.float64, device=y.device)
    second = torch.empty(n, dtype=torch.float64, device=y.device)
    block = 16
    _leech_decode_kernel[(triton.cdiv(n, block),)](
        y, n, coset_bits, even_masks, win, best, second, BLOCK=block, num_warps=4
    )
    return win, best, second


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
    block = 128
    _e8_decode_kernel[(triton.cdiv(x.shape[0], block),)](
        x, out, tie, x.shape[0], near_tie, BLOCK=block, num_warps=4
    )
    return out, tie
