"""The exact smallest-angle search of a union of Leech shells on torch tensors (LLVQ's encoder).

:func:`shell_nearest` returns, for each 24-D row of a tensor, the point of a
:class:`leechkit.lattice.LeechShellCode` with the smallest angle to it: the same index and
vector, bit for bit and tie rule included, as :meth:`LeechShellCode.nearest`. CPU tensors go
to that Numba search. On other devices the search below runs as batched tensor operations
on the device; it names the winning (class, Golay codeword) pair of each row together with
a certificate that the pair is the unique exact optimum, and the rows it cannot certify are
decided by the host search. The smallest-index optimal vector of a certified pair and its
index are found on the device too (:func:`_pair_points`: sorts, the host's tie rules and the
ranking of the bijection, equal to :meth:`LeechShellCode.pair_points`), so only the open
rows travel to the host.

Notation (√8 units, as in :mod:`leechkit.lattice.quantizers.shells`)
---------------------------------------------------------------------
A row ``y`` (scaled by a power of two to ``max|yᵢ| ∈ [1, 2)``, which changes no angle),
``‖y‖ = ny``; a shell ``s`` of norm ``n`` has radius ``ρ = √(8n)``; the *value* of a point
``v`` is ``q(v) = ⟨y, v⟩/ρ = ny·cos(y, v)``, so the best point has the largest value across
shells. The lattice splits into 8,192 cosets ``(m, c)`` (``m ∈ {0, 1}``, ``c`` a Golay
codeword), and each shell's points of a coset into *classes* (multisets of magnitudes); a
(class, coset) pair is the unit of :meth:`LeechShellCode.nearest`.

The search, per row (two rounds of the same steps)
--------------------------------------------------
1. **Bounds.** For each shell computed (below), ``z = τ·y/ny`` with ``τ = f·ρ`` (``f`` a guess of the best
   cosine: the code's first guess ``f₀`` in round 1, the best cosine of round 1 in round 2).
   By the law of cosines every point ``v`` of the shell in a coset ``C`` has
   ``q(v) ≤ ny·(ρ² + τ² − d(z, C)²)/(2τρ)``. The host's column tables give ``d(z, C)²``
   (per coordinate the nearest point of ``r + 4Z``, per MOG column and 4-bit pattern the
   column's cost, parity repair of the multiples of 4), and for each of the 256 groups
   (``m``, hexacode word, parity) of 32 cosets a lower bound on all of its distances (each
   column its cheaper complement, no parity repair): a *group bound* on ``q``.
2. **Refinement.** The ``G`` groups of largest bound (over all shells) are split into their
   32 cosets with exact distances: *coset bounds*.
3. **Evaluation.** The ``C`` cosets of largest bound are evaluated exactly against every
   class of their shell: the sorted pairing of the host (``(−1)^c ⊙ y`` sorted against the
   signed values of an odd class; ``|y|`` on and off the support, each sorted, against the
   odd and even magnitudes of an even class, minus the cheapest sign-parity repair), as one
   matrix product with the 301 classes (at ``max_norm = 24``) and a mask.
4. **Certificate.** With ``q₁`` the best evaluated value, ``q₂`` the best of the other
   evaluated pairs, ``G₊`` the largest group bound not refined, ``C₊`` the largest coset
   bound not evaluated and ``T₊`` the largest bound of the shells not computed (below),
   the row is certified when ``q₁ − max(q₂, G₊, C₊, T₊) > margin``. Every point of the
   code lies in some (shell, coset), whose value is at most its coset bound, which is at
   most its group bound (or its shell's bound ``T``); so every point outside the winning pair has a value
   below ``q₁ − margin`` (up to rounding), and the winning pair is the *unique* exact
   optimum: the host search, which is exact, returns a point of it, and inside the pair its
   point is the one :meth:`LeechShellCode.pair_points` picks (the rules the host uses;
   :func:`_pair_points` applies them on the device). Exact ties between pairs are never
   certified.

Margin and rounding (float64)
-----------------------------
``margin = 2⁻²⁶ · Σ|yᵢ|`` (the host search's pruning margin). The values are sums of 24
products ``|u|·|b|`` with magnitudes ``|b| ≤ 14`` and ``|yᵢ| < 2`` over ``ρ ≥ √32``: their
float64 error (any summation order, as in a matrix product) is below
``24·2⁻⁵³·14·Σ|yᵢ|/√32 < 2⁻⁴⁷·Σ|yᵢ|``. In the bounds ``|z| ≤ τ ≤ ρ ≤ 14``, every ``|e| ≤ 2``
and ``d² ≤ 112``; the rounding of ``z`` (a few ulps of ``τ``) moves ``d`` by less than
``2⁻⁴⁸``, the numerator ``ρ² + τ² − d² ≤ 500`` carries an error below ``2⁻⁴⁰``, and
``2τρ ≥ 16``, so a bound is off by less than ``2⁻⁴⁴·ny ≤ 2⁻⁴⁴·Σ|yᵢ|`` (whatever the order
of the sums: the 0/1 products of the group bounds and the ``D⁰ + Σ ε(D¹ − D⁰)`` form of the
coset distances add a few roundings of quantities below 112 each; the shell bounds are
values, the lattice-distance bounds bounds, of the same sizes). The certificate
compares quantities each within ``2⁻⁴⁴·Σ|yᵢ|`` of their exact values against a margin of
``2⁻²⁶·Σ|yᵢ|``: a certified row is correct. Rows of zeros are never certified (the host
gives them index 0).

Shells
------
A round computes coset tables for its ``L`` largest shells only (for Gaussian data the
winner is in one of the largest: 58 % norm 24, 27 % norm 22, 11 % norm 20 at
``max_norm = 24``). Every other shell ``t`` (radius ``r``) is bounded twice: by its *shell
bound*, ``|y|`` sorted against the sorted magnitudes of each of its classes (no
congruences, the host's first bound), and by the distance to the whole lattice: the least
group distance ``dmin`` of a computed shell ``s`` bounds ``d(z_s, v)²`` for every lattice
point, so ``q(v) ≤ ny·(r² + τ_s² − dmin)/(2τ_s r)`` on shell ``t``. The larger of the
two bounds, the smaller, is the shell's ``T``.

Cost
----
Per row and round: coset tables of ``L`` shells (about 2,000 operations each), 256 group
bounds per shell (a product with a 0/1 matrix), ``32·G`` coset bounds, ``C`` sorts of 24
values and a ``(C, 24) × (24, K)`` product with the ``K`` classes (301 at
``max_norm = 24``). The rounds (``L``, ``G``, ``C``) are :data:`DEFAULT_ROUNDS`: round 1
(3, 4, 4) only sets τ; round 2 (6, 16, 12) certifies about 92 % of Gaussian rows at
``max_norm = 24``, round 3 (7, 48, 24) all but about 0.05 %, and round 4 (all shells,
128 groups, 64 cosets) the rest. Rows still open go to the host: exact ties (zero rows,
some integer rows) always do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from leechkit.lattice.codes.golay import golay_code
from leechkit.lattice.quantizers import _shell_kernels as _k
from leechkit.lattice.quantizers.shells import LeechShellCode
from leechkit.lattice.quantizers.spherical import _leech_tables

__all__ = ["DEFAULT_ROUNDS", "shell_nearest", "shell_search_device", "shell_vectors"]

#: (largest shells computed (None: all), groups refined, cosets evaluated) of the rounds:
#: round 1 finds the cosine that sets τ for round 2, whose bounds certify; the last round
#: retries the rows left open with every shell and more groups and cosets.
DEFAULT_ROUNDS: tuple[tuple[int | None, int, int], ...] = (
    (3, 4, 4),
    (6, 16, 12),
    (7, 48, 24),
    (None, 128, 64),
)
_MARGIN = 2.0**-26
_CHUNK = {"cpu": 1 << 12, "cuda": 1 << 15}
#: Rows per pass of the ranking and unranking of points (a few kB of temporaries per row).
_UNRANK_CHUNK = {"cpu": 1 << 14, "cuda": 1 << 18}


@dataclass(frozen=True)
class _Tables:
    """Device tables of one code (see :func:`_build_tables`)."""

    rho: torch.Tensor  # (S,) float64 shell radii √(8n)
    group_sum: torch.Tensor  # (48, 128) float64 0/1: column j, halved pattern h of group g
    canon: torch.Tensor  # (128, 6) canonical column patterns of group g
    eps_t: torch.Tensor  # (2, 6, 32) float64 0/1: the columns complemented by coset q, per parity
    coset_word: torch.Tensor  # (128, 32) codeword index of those cosets
    word_bits: torch.Tensor  # (4096, 24) int64 codeword bits
    word_weight: torch.Tensor  # (4096,) codeword weights
    slot: torch.Tensor  # (2, 4096) class slot of the coset (m, codeword)
    class_rows: torch.Tensor  # (K, 24) float64 sorted values of every class
    class_shell: torch.Tensor  # (K,) shell of the class
    class_slot: torch.Tensor  # (K,) slot (m, weight) of the class
    class_par: torch.Tensor  # (K,) even classes: required parity of minus signs on the support
    class_omin: torch.Tensor  # (K,) even classes: least odd magnitude (0 for weight 0)
    class_rho: torch.Tensor  # (K,) float64 radius of the class's shell
    class_magnitudes: torch.Tensor  # (K, 24) float64 the class's magnitudes, decreasing
    # The bijection's tables (:mod:`leechkit.lattice.quantizers._shell_kernels`), for ranking
    # the winning point of a certified pair on the device (:func:`_pair_points`):
    class_offset: torch.Tensor  # (K,) first index of the class
    class_m: torch.Tensor  # (K,) 1 for an odd class
    class_sign_count: torch.Tensor  # (K,) number of sign patterns (even classes)
    part_total: torch.Tensor  # (K, 2) arrangements of the two position sets' magnitudes
    part_values: torch.Tensor  # (K, 2, D) their distinct magnitudes, decreasing (−1: padding)
    part_counts: torch.Tensor  # (K, 2, D) and multiplicities
    word_rank: torch.Tensor  # (4096,) rank of a codeword among those of its weight
    class_weight: torch.Tensor  # (K,) codeword weight of an even class
    class_sign_bits: torch.Tensor  # (K,) sign bits of an even class's index
    class_end: torch.Tensor  # (K + 1,) class offsets and the code's size
    words_by_weight: torch.Tensor  # (4096,) codewords listed by weight
    weight_start: torch.Tensor  # (25,) where each weight starts in that list


_TABLE_CACHE: dict[tuple[int, int, str], _Tables] = {}


def _build_tables(code: LeechShellCode, device: torch.device) -> _Tables:
    key = (code.min_norm, code.max_norm, str(device))
    if key in _TABLE_CACHE:
        return _TABLE_CACHE[key]
    ht = _leech_tables()
    canon, gpar, gw, colw, eps = (ht[k] for k in ("canon", "gpar", "gw", "colw", "eps"))
    pats = eps[gpar]  # (128, 32) complement patterns of each group
    flips = (pats[:, :, None] >> np.arange(6)) & 1  # (128, 32, 6)
    coset_word = gw[:, None] ^ np.bitwise_xor.reduce(flips * colw, axis=2)
    words = golay_code().codewords().astype(np.int64)
    weight = words.sum(axis=1)
    slot_of_weight = {0: 0, 8: 1, 12: 2, 16: 3, 24: 4}
    slot = np.stack([np.array([slot_of_weight[w] for w in weight]), np.full(4096, _k.SLOT_ODD)])
    classes = code._classes
    shell_index = {n: s for s, n in enumerate(code.norms)}
    rows = np.zeros((len(classes), 24))
    cshell = np.zeros(len(classes), dtype=np.int64)
    cslot = np.zeros(len(classes), dtype=np.int64)
    cpar = np.zeros(len(classes), dtype=np.int64)
    comin = np.zeros(len(classes))
    for k, c in enumerate(classes):
        cshell[k] = shell_index[c.norm]
        if c.m == 1:
            rows[k] = sorted((a if a % 4 == 1 else -a for a in c.shape), reverse=True)
            cslot[k] = _k.SLOT_ODD
        else:
            odd = [a for a in c.shape if a % 4 == 2]  # the shape is decreasing
            rows[k] = odd + [a for a in c.shape if a % 4 == 0]
            cslot[k] = slot_of_weight[c.weight]
            cpar[k] = (sum(c.shape) // 4) % 2
            comin[k] = odd[-1] if odd else 0.0
    ct, gt = code._tables["ct"], code._tables["gt"]
    cls, cls_off, blk_val, blk_cnt, _, blk_len = ct
    dm = blk_val.shape[2]
    part_values = np.full((len(classes), 2, dm), -1, dtype=np.int64)
    part_counts = np.zeros((len(classes), 2, dm), dtype=np.int64)
    for k in range(len(classes)):
        for p in (_k.P_MAG0, _k.P_MAG1):
            n = blk_len[k, p]
            part_values[k, p, :n], part_counts[k, p, :n] = blk_val[k, p, :n], blk_cnt[k, p, :n]
    part_total = np.stack([cls[:, _k.C_ARR0], np.where(cls[:, _k.C_M] == 1, 1, cls[:, _k.C_ARR1])], 1)
    if int(part_total.max()) >= 1 << 58:
        raise ValueError("the code's arrangement counts are too large for the int64 ranking on the device")
    group_sum = np.zeros((48, 128))
    for j in range(6):
        group_sum[8 * j + (canon[:, j] >> 1), np.arange(128)] = 1.0
    rho = np.sqrt(8.0 * np.array(code.norms, dtype=np.float64))

    def put(a: np.ndarray, dtype: torch.dtype = torch.int64) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    tables = _Tables(
        rho=put(rho, torch.float64),
        group_sum=put(group_sum, torch.float64),
        canon=put(canon),
        eps_t=put(((eps[:, None, :] >> np.arange(6)[:, None]) & 1), torch.float64),
        coset_word=put(coset_word),
        word_bits=put(words),
        word_weight=put(weight),
        slot=put(slot),
        class_rows=put(rows, torch.float64),
        class_shell=put(cshell),
        class_slot=put(cslot),
        class_par=put(cpar),
        class_omin=put(comin, torch.float64),
        class_rho=put(rho[cshell], torch.float64),
        class_magnitudes=put(np.array([c.shape for c in classes]), torch.float64),
        class_offset=put(cls_off[:-1]),
        class_m=put(cls[:, _k.C_M]),
        class_sign_count=put(cls[:, _k.C_NSIGN]),
        part_total=put(part_total),
        part_values=put(part_values),
        part_counts=put(part_counts),
        word_rank=put(gt[1]),
        class_weight=put(cls[:, _k.C_W]),
        class_sign_bits=put(cls[:, _k.C_NSB]),
        class_end=put(cls_off),
        words_by_weight=put(gt[4]),
        weight_start=put(gt[3]),
    )
    _TABLE_CACHE[key] = tables
    return tables


def _coset_tables(y: torch.Tensor, ny: torch.Tensor, tau: torch.Tensor):
    """Column tables of every shell for ``z = τ·y/ny``: ``D``, ``K``, ``F`` (B, S, 2, 6, 16).

    ``D[m, j, c]``: squared distance of column ``j`` of ``z`` to the nearest point of
    ``m + 2c + 4Z⁴`` (``c`` the column's 4 codeword bits, bit ``t`` for row ``t``); ``K``:
    parity of the multiples of 4 used; ``F``: cheapest change of that parity (one coordinate
    to its next point, 4 further). Built as outer sums over the four rows (no gathers).
    """
    z = (tau / ny[:, None])[:, :, None] * y[:, None, :]  # (B, S, 24)
    r = torch.arange(4, dtype=y.dtype, device=y.device)
    kf = torch.floor((z[..., None] - r) * 0.25 + 0.5)  # (B, S, 24, residue)
    e = z[..., None] - (r + 4.0 * kf)
    b, s = z.shape[:2]
    # Residue m + 2·bit: (B, S, m, column, row, bit).
    def split(a: torch.Tensor) -> torch.Tensor:
        return a.view(b, s, 6, 4, 2, 2).permute(0, 1, 5, 2, 3, 4)

    e2, kb, fb = split(e * e), split(torch.remainder(kf, 2)), split(16.0 - 8.0 * e.abs())

    def outer(a: torch.Tensor, op) -> torch.Tensor:
        # Pattern c = b₀ + 2b₁ + 4b₂ + 8b₃: index (b₃, b₂, b₁, b₀) in row-major order.
        out = op(a[..., 3, :, None], a[..., 2, None, :])
        out = op(out[..., None], a[..., 1, None, None, :])
        out = op(out[..., None], a[..., 0, None, None, None, :])
        return out.reshape(*a.shape[:-2], 16)

    kk = outer(kb, torch.add).remainder(2)
    return outer(e2, torch.add), kk, outer(fb, torch.minimum)


def _cosine_bound(ny: torch.Tensor, rho: torch.Tensor, tau: torch.Tensor, d2: torch.Tensor) -> torch.Tensor:
    """Law-of-cosines bound ``ny·(ρ² + τ² − d²)/(2τρ)`` on the value of a shell's points."""
    return ny * (rho * rho + tau * tau - d2) / (2.0 * tau * rho)


def _shell_bounds(y: torch.Tensor, t: _Tables) -> torch.Tensor:
    """Per shell a bound on the values of all its points, without congruences (B, S): ``|y|``
    sorted against the sorted magnitudes of each class (rearrangement inequality)."""
    a = y.abs().sort(dim=1, descending=True).values
    v = (a @ t.class_magnitudes.T) / t.class_rho  # (B, K)
    out = torch.full((y.shape[0], t.rho.shape[0]), -torch.inf, dtype=y.dtype, device=y.device)
    return out.scatter_reduce(1, t.class_shell.expand_as(v), v, "amax")


def _round(
    y: torch.Tensor,
    ny: torch.Tensor,
    f: torch.Tensor,
    sb: torch.Tensor,
    t: _Tables,
    shells: int | None,
    groups: int,
    cosets: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One round of the search (module docstring) on rows ``y`` (B, 24) with cosine guesses ``f``.

    Only the ``shells`` largest shells (all for None) get coset tables; every other shell is
    bounded by its shell bound ``sb`` and by the distance of the computed shells' ``z`` to the
    whole lattice. Returns the best value ``q₁``, its class and codeword, and the largest
    value or bound of everything else, ``max(q₂, G₊, C₊, shells not computed)``.
    """
    b = y.shape[0]
    total = t.rho.shape[0]
    nsh = total if shells is None else min(shells, total)
    first = total - nsh  # the computed shells are first … total − 1
    rho = t.rho[first:]
    rows = torch.arange(b, device=y.device)
    tau = f.clamp(0.25, 1.0)[:, None] * rho  # (B, S)
    d, kk, ff = _coset_tables(y, ny, tau)
    # Group bounds: each column its cheaper complement (the canonical pattern has top bit 0):
    # the sum over the columns as a product with the 0/1 matrix of the canonical patterns.
    mm = torch.minimum(d[..., 0::2], d.flip(-1)[..., 0::2])  # (B, S, 2, 6, 8): D[2h], D[2h ^ 15]
    amin = mm.reshape(b, nsh, 2, 48) @ t.group_sum  # (B, S, 2, 128)
    gb = _cosine_bound(ny[:, None, None, None], rho[:, None, None], tau[:, :, None, None], amin)
    if first:
        # No lattice point is nearer to z_s than √dmin_s, whatever its norm (law of cosines
        # at each other shell's radius r), and no point of a shell beats its shell bound.
        dmin = amin.reshape(b, nsh, 256).amin(-1)  # (B, S)
        r = t.rho[:first, None]  # (first, 1)
        lattice = _cosine_bound(ny[:, None, None], r, tau[:, None, :], dmin[:, None, :]).amin(-1)
        other = torch.minimum(sb[:, :first], lattice).amax(-1)
    else:
        other = torch.full_like(ny, -torch.inf)
    groups = min(groups, nsh * 256 - 1)
    gval, gsel = gb.reshape(b, -1).topk(groups + 1, dim=1)
    g_next = gval[:, groups]
    gsel = gsel[:, :groups]
    s, m, g = gsel // 256, (gsel // 128) % 2, gsel % 128  # (B, G)
    # Coset bounds of the refined groups. Coset q of group g complements the columns of
    # pattern ε_q (of the group's parity) in the group's canonical word, so from the columns
    # and their complements ``d² = Σⱼ D⁰ⱼ + Σⱼ εⱼ(D¹ⱼ − D⁰ⱼ)``, and likewise the parity of
    # the multiples of 4. When that parity is wrong, the repair costs at least the least
    # ``F`` of any column either way (a lower bound of d², so the coset bound stays valid).
    canon = t.canon[g]  # (B, G, 6)
    j = torch.arange(6, device=y.device)
    at = (((s * 2 + m)[:, :, None] * 6 + j) * 16).reshape(b, -1)  # (B, G·6) flat offsets
    picks = [
        torch.stack([a.reshape(b, -1).gather(1, at + c.reshape(b, -1)) for a in (d, kk, ff)], dim=-1)
        for c in (canon, canon ^ 15)
    ]
    c0, c1 = (p.reshape(b, -1, 6, 3) for p in picks)  # (B, G, 6, 3): D, K, F per column
    base = c0[..., :2].sum(2)[..., None]  # (B, G, 2, 1): Σ D⁰, Σ K⁰
    delta = (c1[..., :2] - c0[..., :2]).transpose(2, 3)  # (B, G, 2, 6)
    odd_group = (g % 2 == 1)[:, :, None, None]
    lin = base + torch.where(odd_group, delta @ t.eps_t[1], delta @ t.eps_t[0])  # (B, G, 2, 32)
    repair = torch.minimum(c0[..., 2], c1[..., 2]).amin(-1)[:, :, None]  # (B, G, 1)
    wrong = lin[:, :, 1].remainder(2) != m[:, :, None]
    d2 = lin[:, :, 0] + torch.where(wrong, repair, 0.0)  # (B, G, 32)
    sr = s[:, :, None]
    cb = _cosine_bound(ny[:, None, None], rho[sr], tau[rows[:, None, None], sr], d2)  # (B, G, 32)
    cosets = min(cosets, groups * 32 - 1)
    cval, csel = cb.reshape(b, -1).topk(cosets + 1, dim=1)
    c_next = cval[:, cosets]
    csel = csel[:, :cosets]
    gi = csel // 32
    cs = s.gather(1, gi) + first  # (B, C) shell, type and codeword of each evaluated coset
    cm = m.gather(1, gi)
    cw = t.coset_word[g.gather(1, gi), csel % 32]
    # Exact values: sorted pairings with every class as one product, then masks.
    bits = t.word_bits[cw]  # (B, C, 24)
    ay = y.abs()
    order = ay.argsort(dim=1, descending=True, stable=True)
    ay_sorted = ay.gather(1, order)  # (B, 24)
    on = bits.gather(2, order[:, None, :].expand_as(bits))  # the bits in the order of |y|
    part = (1 - on).argsort(dim=2, stable=True)  # support first, each part by |y| decreasing
    even_vals = ay_sorted[:, None, :].expand_as(bits).gather(2, part)
    odd_vals = (y[:, None, :] * (1 - 2 * bits)).sort(dim=2, descending=True).values
    odd = cm[:, :, None] == 1
    vals = torch.where(odd, odd_vals, even_vals)  # (B, C, 24)
    q = vals @ t.class_rows.T  # (B, C, K): values before the parity repair
    w = t.word_weight[cw]
    amin_on = vals.gather(2, (w - 1).clamp(min=0)[:, :, None])  # least |y| on the support
    negpar = ((bits * (y < 0)[:, None, :]).sum(2) % 2)[:, :, None]
    fix = (~odd) & (w[:, :, None] > 0) & (negpar != t.class_par)
    q.sub_(fix * (2.0 * amin_on) * t.class_omin).div_(t.class_rho)  # in place: (B, C, K) is large
    valid = (t.class_shell == cs[:, :, None]) & (t.class_slot == t.slot[cm, cw][:, :, None])
    q.masked_fill_(~valid, -torch.inf)
    top, arg = q.reshape(b, -1).topk(2, dim=1)
    nk = t.class_rows.shape[0]
    best_cw = cw.gather(1, arg[:, :1] // nk)[:, 0]
    rest = torch.maximum(torch.maximum(top[:, 1], other), torch.maximum(g_next, c_next))
    return top[:, 0], arg[:, 0] % nk, best_cw, rest


def _scaled(rows: torch.Tensor) -> torch.Tensor:
    """float64 rows scaled by a power of two to ``max|yᵢ| ∈ [1, 2)`` (exact; zero rows stay zero)."""
    x = rows.double()
    _, e = torch.frexp(x.abs().amax(dim=1, keepdim=True))
    return torch.ldexp(x, 1 - e)


def _arrangement_rank(seq: torch.Tensor, length: torch.Tensor, values: torch.Tensor, counts: torch.Tensor,
                      total: torch.Tensor) -> torch.Tensor:
    """Rank of the arrangement ``seq[:, :length]`` of each row's multiset among all its
    arrangements, larger values first (the decreasing arrangement has rank 0).

    With ``M`` the arrangements of what is left (``rem`` entries), those that put a larger
    value than ``seq[p]`` at position ``p`` number ``M·(count of larger values)/rem``, an
    exact integer. ``M`` is at most the ``total`` of the row's class (below 2³⁷ up to norm 32;
    :func:`_build_tables` checks that ``24·total`` fits int64), so the products are exact.
    ``values`` (B, D) decreasing with ``counts``; ``total`` (B,) the number of arrangements.
    The same arithmetic as the host's ``_arr_rank``.
    """
    width = seq.shape[1]
    pos = torch.arange(width, device=seq.device)
    active = pos < length[:, None]  # (B, L)
    here = (values[:, None, :] == seq[:, :, None]) & active[:, :, None]  # (B, L, D)
    # What is left of each value before position p, the larger values' share and the entries
    # left, for all positions at once; only the recursion of M is sequential.
    left = counts[:, None, :] - (here.cumsum(1) - here.long())
    larger = torch.where(active, (left * (values[:, None, :] > seq[:, :, None])).sum(2), 0)
    rem = (length[:, None] - pos).clamp(min=1)
    took = torch.where(active, (left * here).sum(2), rem)  # inactive: M·rem/rem = M
    m = total.clone()
    rank = torch.zeros_like(total)
    for lg, tk, rm in zip(larger.unbind(1), took.unbind(1), rem.unbind(1)):
        rank += m * lg // rm
        m = m * tk // rm
    return rank


def _arrangement_unrank(rank: torch.Tensor, length: torch.Tensor, values: torch.Tensor, counts: torch.Tensor,
                        total: torch.Tensor, width: int) -> torch.Tensor:
    """Inverse of :func:`_arrangement_rank`: the arrangement (B, width) of rank ``rank`` of each
    row's multiset in its first ``length`` entries (zeros after).

    At each position the values, larger first, own consecutive blocks of ``M·count/rem``
    ranks; the block holding the rank names the value (the host's ``_arr_unrank``).
    """
    pos = torch.arange(width, device=rank.device)
    actives = (pos < length[:, None]).unbind(1)
    rems = (length[:, None] - pos).clamp(min=1).unbind(1)
    cnt = counts.clone()
    m = total.clone()
    r = rank[:, None].clone()
    out = []
    for active, rem in zip(actives, rems):
        blocks = m[:, None] * cnt // rem[:, None]
        ends = blocks.cumsum(1)
        # The block holding r: exactly one for an active row (the blocks tile [0, M)), none
        # for a row past its length (its counts are spent).
        pick = (ends > r) & (ends - blocks <= r) & active[:, None]
        out.append((pick * values).sum(1))
        r = r - (pick * (ends - blocks)).sum(1, keepdim=True)
        m = torch.where(active, (pick * blocks).sum(1), m)
        cnt = cnt - pick.long()
    return torch.stack(out, 1)


def _support_first(odd: torch.Tensor, support: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """The positions in the bijection's order of the magnitudes (B, 24): the codeword's
    support, then the other positions, each increasing (all 24 in order for an odd class)."""
    return (torch.where(odd, 0, (~support).long()) * 32 + pos).sort(dim=1).indices


def _index_to_vector(idx: torch.Tensor, t: _Tables) -> torch.Tensor:
    """The points (B, 24), int64 in √8 units, of valid indices ``idx`` (B,):
    :meth:`LeechShellCode.index_to_vector` as tensor operations on ``idx``'s device.

    The index names a class (its offset range), then for an odd class the codeword and the
    arrangement of the 24 magnitudes; for an even class the codeword among those of its
    weight, the arrangements of the magnitudes on and off its support (each in increasing
    position order) and the signs of the nonzero entries but the support's last, whose sign
    restores the class's parity of minus signs on the support.
    """
    b = idx.shape[0]
    pos = torch.arange(24, device=idx.device).expand(b, 24)
    k = torch.searchsorted(t.class_end, idx, right=True) - 1
    r = idx - t.class_offset[k]
    odd = t.class_m[k] == 1
    a0, a1 = t.part_total[k, 0], t.part_total[k, 1]
    ns = t.class_sign_count[k]
    w = t.class_weight[k].clamp(min=0)
    # Even: r = ((word rank · a0 + r0) · a1 + r1) · ns + s; odd: r = codeword · a0 + r0.
    s = r % ns
    rest = r // ns
    r1 = torch.where(odd, 0, rest % a1)
    rest = torch.where(odd, r, rest // a1)
    r0 = rest % a0
    word = rest // a0
    cw = torch.where(odd, word, t.words_by_weight[(t.weight_start[w] + word).clamp(max=4095)])
    bits = t.word_bits[cw]
    support = bits == 1
    first = torch.where(odd, 24, w)
    seq = _arrangement_unrank(
        torch.cat([r0, r1]),
        torch.cat([first, 24 - first]),
        torch.cat([t.part_values[k, 0], t.part_values[k, 1]]),
        torch.cat([t.part_counts[k, 0], t.part_counts[k, 1]]),
        torch.cat([a0, a1]),
        24,
    )
    mags = torch.where(pos < first[:, None], seq[:b], seq[b:].gather(1, (pos - first[:, None]).clamp(min=0)))
    by_pos = _support_first(odd[:, None], support, pos)
    vec = torch.empty_like(mags).scatter_(1, by_pos, mags)
    # Odd: bᵢ ≡ 1 (mod 4) is the signed value, negated on the codeword's support.
    signed = torch.where(vec % 4 == 1, vec, -vec)
    odd_vec = torch.where(support, -signed, signed)
    # Even: sign bits of the nonzero entries but the support's last, most significant first.
    last = torch.where(support, pos, -1).amax(1)
    free = (vec != 0) & (pos != last[:, None])
    before = free.long().cumsum(1) - free.long()
    minus = free & (((s[:, None] >> (t.class_sign_bits[k][:, None] - 1 - before).clamp(min=0)) & 1) == 1)
    even_vec = torch.where(minus, -vec, vec)
    neg = (minus & support).sum(1)
    fix = (last >= 0) & ((neg % 2) != t.class_par[k])
    even_vec = torch.where((pos == last[:, None]) & fix[:, None], -even_vec, even_vec)
    return torch.where(odd[:, None], odd_vec, even_vec)


def _pair_points(
    x: torch.Tensor, k: torch.Tensor, cw: torch.Tensor, t: _Tables
) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest-index point maximising ``⟨x, v⟩`` in each row's (class, codeword) pair, and
    its index: :meth:`LeechShellCode.pair_points` as tensor operations on ``x``'s device.

    Only comparisons of entries of ``x`` are used (exact for any finite float64 rows), by the
    rules of :mod:`leechkit.lattice.quantizers.shells` ("Ties and exactness"):

    * the class's values are similarly ordered with the key — ``(−1)^c x`` for an odd class,
      ``|x|`` (support first) for an even one — a stable sort, so equal keys keep their
      positions' order; in an odd class a run of equal keys puts the larger magnitudes first;
    * even classes take the signs of ``x`` (+ for zeros) and repair the parity of the minus
      signs on the support: on its last zero, or without zeros by flipping an entry of least
      ``|x|`` holding the least odd magnitude (the first such minus, else the support's last
      position, else the last such plus).

    The index is the class's offset plus the ranks of the codeword, of the magnitudes'
    arrangements and of the sign bits, as in the host's bijection.

    Parameters
    ----------
    x : torch.Tensor
        (B, 24) float64 rows.
    k, cw : torch.Tensor
        (B,) int64 classes (numbered as in :meth:`LeechShellCode.pair_points`) and codewords.
    t : _Tables
        The code's device tables.

    Returns
    -------
    (indices, vectors)
        int64 (B,) and (B, 24) in √8 units.
    """
    b = x.shape[0]
    pos = torch.arange(24, device=x.device).expand(b, 24)
    bits = t.word_bits[cw]
    odd = (t.class_m[k] == 1)[:, None]
    support = bits == 1
    vals = t.class_rows[k].long()  # the class's values in the order they are dealt out
    key = torch.where(odd, torch.where(support, -x, x), x.abs())
    order = key.sort(dim=1, descending=True, stable=True).indices
    part = torch.where(odd, 0, (~support).long())
    order = order.gather(1, part.gather(1, order).sort(dim=1, stable=True).indices)
    # Odd classes: inside a run of equal keys, larger magnitudes first (a stable sort by run,
    # then by magnitude decreasing: |b| ≤ 31 < 64).
    sorted_key = key.gather(1, order)
    steps = (sorted_key[:, 1:] != sorted_key[:, :-1]).long()
    run = torch.cat([torch.zeros_like(pos[:, :1]), steps], 1).cumsum(1)
    by_run = vals.gather(1, (run * 64 + 63 - vals.abs()).sort(dim=1, stable=True).indices)
    dealt = torch.where(odd, by_run, vals)
    placed = torch.empty_like(dealt).scatter_(1, order, dealt)
    vec = torch.where(torch.where(odd, support, x < 0), -placed, placed)
    # Even classes: the parity of the minus signs on the support.
    last = torch.where(support, pos, -1).amax(1)
    neg = ((x < 0) & support).sum(1)
    wrong = ~odd[:, 0] & support.any(1) & ((neg % 2) != t.class_par[k])
    zero_on = support & (x == 0)
    least = torch.where(support, x.abs(), torch.inf).amin(1, keepdim=True)
    omin = t.class_omin[k].long()[:, None]
    cand = support & (x.abs() == least) & (vec.abs() == omin)
    first_minus = torch.where(cand & (x < 0) & (pos != last[:, None]), pos, 24).amin(1)
    at_last = cand.gather(1, last.clamp(min=0)[:, None])[:, 0]
    no_zero = torch.where(at_last, last, torch.where(cand, pos, -1).amax(1))
    no_zero = torch.where(first_minus < 24, first_minus, no_zero)
    flip = torch.where(zero_on.any(1), torch.where(zero_on, pos, -1).amax(1), no_zero)
    vec = torch.where((pos == flip[:, None]) & wrong[:, None], -vec, vec)
    # Index: ranks of the magnitudes on the support (all positions for an odd class) and off
    # it, each in increasing position order, then of the sign bits.
    w = torch.where(odd[:, 0], 24, support.sum(1))
    by_pos = _support_first(odd, support, pos)
    mags = vec.abs().gather(1, by_pos)
    shifted = mags.gather(1, (pos + w[:, None]).clamp(max=23))
    ranks = _arrangement_rank(
        torch.cat([mags, shifted]),
        torch.cat([w, 24 - w]),
        torch.cat([t.part_values[k, 0], t.part_values[k, 1]]),
        torch.cat([t.part_counts[k, 0], t.part_counts[k, 1]]),
        torch.cat([t.part_total[k, 0], t.part_total[k, 1]]),
    )
    r0, r1 = ranks[:b], ranks[b:]
    signed = (vec != 0) & (pos != last[:, None])
    after = signed.flip(1).long().cumsum(1).flip(1) - signed.long()
    sign_bits = (((vec < 0) & signed).long() << after).sum(1)
    a0, a1 = t.part_total[k, 0], t.part_total[k, 1]
    even_idx = ((t.word_rank[cw] * a0 + r0) * a1 + r1) * t.class_sign_count[k] + sign_bits
    idx = t.class_offset[k] + torch.where(odd[:, 0], cw * a0 + r0, even_idx)
    return idx, vec


def shell_search_device(
    rows: torch.Tensor,
    code: LeechShellCode,
    rounds: tuple[tuple[int | None, int, int], ...] = DEFAULT_ROUNDS,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The device part of :func:`shell_nearest`: winning pairs and their certificates.

    Runs on the device of ``rows`` (any device, CPU tensors included; the tests and the
    benchmark use it there), by the rounds of the module docstring.

    Parameters
    ----------
    rows : torch.Tensor
        (N, 24) finite floating-point rows.
    code : LeechShellCode
    rounds : tuple of (shells, groups, cosets)
        The rounds: the first sets τ only; from the second on each one's certificate is
        checked, and rows left open go on to the next. ``shells``: how many of the largest
        shells get coset tables (None: all).
    chunk_size : int, optional
        Rows per batch (default 4,096 on the CPU, 32,768 on CUDA).

    Returns
    -------
    (classes, codewords, certified)
        int64 (N,), int64 (N,), bool (N,): where ``certified``, the (class, codeword) pair
        that holds the exact optimum (classes numbered as in
        :meth:`LeechShellCode.pair_points`); elsewhere meaningless.
    """
    if len(rounds) < 2:
        raise ValueError("the search needs at least two rounds (the first only sets τ)")
    t = _build_tables(code, rows.device)
    n = rows.shape[0]
    cls = torch.zeros(n, dtype=torch.int64, device=rows.device)
    cw = torch.zeros(n, dtype=torch.int64, device=rows.device)
    ok = torch.zeros(n, dtype=torch.bool, device=rows.device)
    chunk = chunk_size or _CHUNK.get(rows.device.type, 1 << 15)
    for start in range(0, n, chunk):
        y = _scaled(rows[start : start + chunk])
        ny = y.norm(dim=1)
        margin = _MARGIN * y.abs().sum(dim=1)
        sb = _shell_bounds(y, t)
        q, _, _, _ = _round(y, ny, torch.full_like(ny, code._f0), sb, t, *rounds[0])
        f = q / ny
        live = torch.nonzero(ny > 0).flatten()
        out_k = torch.zeros(y.shape[0], dtype=torch.int64, device=y.device)
        out_w = torch.zeros_like(out_k)
        out_ok = torch.zeros(y.shape[0], dtype=torch.bool, device=y.device)
        for shells, groups, cosets in rounds[1:]:
            if live.numel() == 0:
                break
            q1, k1, w1, rest = _round(y[live], ny[live], f[live], sb[live], t, shells, groups, cosets)
            good = q1 - rest > margin[live]
            out_k[live], out_w[live], out_ok[live] = k1, w1, good
            f[live] = torch.maximum(f[live], q1 / ny[live])
            live = live[~good]
        cls[start : start + chunk] = out_k
        cw[start : start + chunk] = out_w
        ok[start : start + chunk] = out_ok
    return cls, cw, ok


def shell_nearest(
    x: torch.Tensor,
    code: LeechShellCode,
    *,
    search: str = "auto",
    return_certified: bool = False,
) -> tuple[torch.Tensor, ...]:
    """The points of ``code`` with the smallest angle to each 24-D row of ``x``, exactly.

    The same indices and vectors as :meth:`LeechShellCode.nearest` (the smallest index among
    the points of exactly maximal cosine), on any device (module docstring).

    Parameters
    ----------
    x : torch.Tensor
        Shape (..., 24), a floating dtype, finite entries.
    code : LeechShellCode
        The union of shells.
    search : {"auto", "host", "device"}
        ``"auto"``: the host search for CPU tensors, the device search otherwise; ``"host"``
        or ``"device"`` force one (the device search runs on CPU tensors too, slowly).
    return_certified : bool
        Also return which rows the device search certified (all False for the host search).

    Returns
    -------
    (indices, vectors[, certified])
        int64 indices (...), int64 points (..., 24) in √8 units, on ``x``'s device.

    Raises
    ------
    TypeError
        ``x`` is not a floating-point tensor.
    ValueError
        Wrong last dimension, NaN or infinite entries, an unknown ``search``.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point torch.Tensor")
    if x.ndim == 0 or x.shape[-1] != 24:
        raise ValueError(f"x must have last dimension 24, got shape {tuple(x.shape)}")
    if search not in ("auto", "host", "device"):
        raise ValueError(f"search must be 'auto', 'host' or 'device', got {search!r}")
    batch = x.shape[:-1]
    rows = x.detach().reshape(-1, 24)
    if rows.shape[0] and not bool(torch.isfinite(rows).all()):
        raise ValueError("x contains NaN or infinite entries")
    on_device = search == "device" or (search == "auto" and rows.device.type != "cpu")
    if on_device and rows.shape[0]:
        cls, cw, ok = shell_search_device(rows, code)
        t = _build_tables(code, rows.device)
        idx = torch.zeros(rows.shape[0], dtype=torch.int64, device=rows.device)
        vec = torch.zeros(rows.shape[0], 24, dtype=torch.int64, device=rows.device)
        sure = torch.nonzero(ok).flatten()
        chunk = _UNRANK_CHUNK.get(rows.device.type, 1 << 18)  # the ranking's passes are light
        for start in range(0, sure.numel(), chunk):
            part = sure[start : start + chunk]
            idx[part], vec[part] = _pair_points(rows[part].double(), cls[part], cw[part], t)
        open_rows = torch.nonzero(~ok).flatten()
        if open_rows.numel():
            found = code.nearest(rows[open_rows].cpu().double().numpy())
            idx[open_rows] = torch.as_tensor(found[0], device=rows.device)
            vec[open_rows] = torch.as_tensor(found[1], device=rows.device)
    else:
        found = code.nearest(rows.cpu().double().numpy())
        idx, vec = (torch.as_tensor(a, device=x.device) for a in found)
        ok = torch.zeros(rows.shape[0], dtype=torch.bool, device=x.device)
    out = (idx.reshape(batch), vec.reshape(*batch, 24))
    return (*out, ok.reshape(batch)) if return_certified else out


def shell_vectors(indices: torch.Tensor, code: LeechShellCode, *, search: str = "auto") -> torch.Tensor:
    """The points of ``code`` with the given indices, on the indices' device.

    :meth:`LeechShellCode.index_to_vector` for torch tensors: CPU tensors go to that Numba
    bijection, other devices run its unranking as tensor operations there
    (:func:`_index_to_vector`, the same points), so dequantizing LLVQ codes needs no host.

    Parameters
    ----------
    indices : torch.Tensor
        Integer tensor (any shape) of indices in ``[0, code.size)``.
    code : LeechShellCode
        The union of shells.
    search : {"auto", "host", "device"}
        ``"auto"``: the host for CPU tensors, the device otherwise; the others force one.

    Returns
    -------
    torch.Tensor
        int64 points (..., 24) in √8 units, on ``indices``' device.

    Raises
    ------
    TypeError
        ``indices`` is not an integer tensor.
    ValueError
        An index outside ``[0, code.size)``, an unknown ``search``.
    """
    if not isinstance(indices, torch.Tensor) or indices.is_floating_point() or indices.is_complex():
        raise TypeError("indices must be an integer torch.Tensor")
    if indices.dtype == torch.bool:
        raise TypeError("indices must be an integer torch.Tensor, got bool")
    if search not in ("auto", "host", "device"):
        raise ValueError(f"search must be 'auto', 'host' or 'device', got {search!r}")
    flat = indices.reshape(-1).long()
    if flat.numel() and not bool(((flat >= 0) & (flat < code.size)).all()):
        raise ValueError(f"indices must lie in [0, {code.size})")
    if search == "host" or (search == "auto" and flat.device.type == "cpu"):
        out = torch.as_tensor(code.index_to_vector(flat.cpu().numpy()), device=flat.device)
        return out.reshape(*indices.shape, 24)
    t = _build_tables(code, flat.device)
    out = torch.empty(flat.shape[0], 24, dtype=torch.int64, device=flat.device)
    # A few kB of temporaries per index; 2¹⁸ indices per pass on CUDA spread the ~650 operator
    # launches of a pass over 6.3 M weights.
    chunk = _UNRANK_CHUNK.get(flat.device.type, 1 << 18)
    for start in range(0, flat.shape[0], chunk):
        out[start : start + chunk] = _index_to_vector(flat[start : start + chunk], t)
    return out.reshape(*indices.shape, 24)
