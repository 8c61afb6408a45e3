"""Fused Triton kernels for the lattice operations on CUDA tensors.

Imported by :mod:`leechkit.models.lattice_ops` only when Triton is installed; every kernel
has a plain-torch reference there that computes the same quantities, and the tests compare
the two (on the GPU, and on the CPU through ``TRITON_INTERPRET=1``).

Leech spherical search (:func:`leech_search_scores`)
----------------------------------------------------
One program takes ``BLOCK`` rows as a ``(BLOCK, 32)`` tile (24 coordinates, 8 zero lanes)
and walks the candidate families of the structured search of :mod:`.lattice_ops` without
materialising them: the shape (±4², 0²²), the 759 octads (±2⁸ with an even number of minus
signs, best value ``T − 4m₁`` for an odd number of negative entries), and the 128 cosets of
the even MOG column complements, where for every position ``k`` the sign-parity rule on the
six column sums gives the best (∓3, ±1²³) vector. For each row it keeps the best value, the
family that reached it and the best value of every *other* candidate (runners-up included),
so that the winner is certified by a margin exactly as in the torch reference. The arithmetic
is float64; only the winning family's id and the certificate leave the kernel.

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
def _expand_columns(v, BLOCK: tl.constexpr):
    # (BLOCK, 8) per-column values -> (BLOCK, 32): coordinate k sees its column k // 4.
    return tl.reshape(tl.broadcast_to(tl.expand_dims(v, 2), (BLOCK, 8, 4)), (BLOCK, 32))


@triton.jit
def _update(top, second, win, best, runner, family):
    # ``second`` is the best value of every candidate except the current winner.
    second = tl.maximum(tl.maximum(second, runner), tl.minimum(top, best))
    win = tl.where(best > top, family, win)
    top = tl.maximum(top, best)
    return top, second, win


@triton.jit
def _leech_search_kernel(
    x_ptr, n_rows, octad_ptr, sign_ptr, win_ptr, gap_ptr, margin, BLOCK: tl.constexpr
):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, 32)
    c8 = tl.arange(0, 8)
    live = rows < n_rows
    lane = cols[None, :] < 24
    x = tl.load(x_ptr + rows[:, None] * 24 + cols[None, :], mask=live[:, None] & lane, other=0.0)
    x = x.to(tl.float64)
    ax = tl.abs(x)
    inf = float("inf")

    # Shape (±4², 0²²): the two largest |xᵢ|; runner-up swaps the second for the third.
    a1 = tl.max(ax, axis=1)
    i1 = tl.argmax(ax, axis=1)
    r1 = tl.where(cols[None, :] == i1[:, None], -1.0, ax)
    a2 = tl.max(r1, axis=1)
    i2 = tl.argmax(r1, axis=1)
    a3 = tl.max(tl.where(cols[None, :] == i2[:, None], -1.0, r1), axis=1)
    top = 4.0 * (a1 + a2)
    second = 4.0 * (a1 + a3)
    win = tl.zeros((BLOCK,), dtype=tl.int32)

    negative = x < 0
    for o in range(759):
        on = tl.load(octad_ptr + o * 32 + cols) != 0
        onr = on[None, :]
        total = 2.0 * tl.sum(tl.where(onr, ax, 0.0), axis=1)
        odd = (tl.sum(tl.where(onr & negative, 1, 0), axis=1) % 2) == 1
        masked = tl.where(onr, ax, inf)
        m1 = tl.min(masked, axis=1)
        j1 = tl.argmin(masked, axis=1)
        m2 = tl.min(tl.where(cols[None, :] == j1[:, None], inf, masked), axis=1)
        best = tl.where(odd, total - 4.0 * m1, total)
        runner = tl.where(odd, total - 4.0 * m2, total - 4.0 * (m1 + m2))
        top, second, win = _update(top, second, win, best, runner, o + 1)

    col_ok = c8[None, :] < 6
    for g in range(128):
        s = tl.load(sign_ptr + g * 32 + cols).to(tl.float64)
        xs = x * s[None, :]
        sig = tl.sum(tl.reshape(xs, (BLOCK, 8, 4)), axis=2)  # (BLOCK, 8): six column sums
        sm = tl.where(col_ok, tl.abs(sig), inf)
        low1 = tl.min(sm, axis=1)
        at1 = tl.argmin(sm, axis=1)
        t2 = tl.where(c8[None, :] == at1[:, None], inf, sm)
        low2 = tl.min(t2, axis=1)
        at2 = tl.argmin(t2, axis=1)
        low3 = tl.min(tl.where(c8[None, :] == at2[:, None], inf, t2), axis=1)
        first = c8[None, :] == at1[:, None]
        other1 = tl.where(first, low2[:, None], low1[:, None])
        other2 = tl.where(first | (c8[None, :] == at2[:, None]), low3[:, None], low2[:, None])
        total_all = tl.sum(tl.where(col_ok, tl.abs(sig), 0.0), axis=1)
        neg_all = tl.sum(tl.where(col_ok & (sig < 0), 1, 0), axis=1)
        sig_k = _expand_columns(sig, BLOCK)
        o1 = _expand_columns(other1, BLOCK)
        o2 = _expand_columns(other2, BLOCK)
        # Position k carries the −3: its column sum becomes σ − 4 sᵍ_k x_k.
        a = sig_k - 4.0 * xs
        am = tl.abs(a)
        total = total_all[:, None] - tl.abs(sig_k) + am
        negs = neg_all[:, None] - tl.where(sig_k < 0, 1, 0) + tl.where(a < 0, 1, 0)
        m1 = tl.minimum(am, o1)
        m2 = tl.maximum(o1, tl.minimum(am, o2))
        odd = (negs % 2) == 1
        best_k = tl.where(lane, tl.where(odd, total - 2.0 * m1, total), -inf)
        run_k = tl.where(lane, tl.where(odd, total - 2.0 * m2, total - 2.0 * (m1 + m2)), -inf)
        best = tl.max(best_k, axis=1)
        k = tl.argmax(best_k, axis=1)
        runner = tl.maximum(
            tl.max(run_k, axis=1), tl.max(tl.where(cols[None, :] == k[:, None], -inf, best_k), axis=1)
        )
        top, second, win = _update(top, second, win, best, runner, 760 + g * 24 + k)

    certified = top - second > margin * 4.0 * tl.sum(ax, axis=1)
    tl.store(win_ptr + rows, tl.where(certified, win, -1), mask=live)
    tl.store(gap_ptr + rows, top - second, mask=live)


def leech_search_scores(
    x: torch.Tensor, octad_masks: torch.Tensor, coset_signs: torch.Tensor, margin: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Winning candidate family of each row of ``x`` (N, 24), or −1 where it is not certified.

    ``octad_masks`` (759, 32) and ``coset_signs`` (128, 32) are the 0/1 octad indicators and
    the coset representatives' signs, zero-padded to 32 lanes. Returns the int32 family ids
    (0: shape (±4²), ``1 + o``: octad ``o``, ``760 + 24g + k``: coset ``g``, position ``k``)
    and the float64 gaps between the best and the runner-up.
    """
    x = x.contiguous()
    n = x.shape[0]
    win = torch.empty(n, dtype=torch.int32, device=x.device)
    gap = torch.empty(n, dtype=torch.float64, device=x.device)
    block = 32
    _leech_search_kernel[(triton.cdiv(n, block),)](
        x, n, octad_masks, coset_signs, win, gap, margin, BLOCK=block, num_warps=4
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
