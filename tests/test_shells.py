"""Leech shell codes: class counts, the index bijection and the exact smallest-angle search."""

import math
import os
import subprocess
import sys
from collections import Counter
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leechkit.lattice import LeechShellCode, golay_code, leech
from leechkit.lattice.lattices.leech import leech_minimal_vectors_integer
from leechkit.lattice.quantizers import nearest_minimal_vector
from leechkit.lattice.quantizers import shells as sh

RNG = np.random.default_rng(1234)
WORDS = golay_code().codewords().astype(np.int64)
WORD_ROW = {tuple(w): i for i, w in enumerate(WORDS.tolist())}
WEIGHTS = WORDS.sum(axis=1)
CODE24 = LeechShellCode(24)


# --- independent references -------------------------------------------------------------------
def leech_theta_coefficient(norm: int) -> int:
    """Number of Leech vectors of norm ``2k`` from Θ = E₁₂ − (65520/691)Δ, in Python integers:
    ``(65520/691)(σ₁₁(k) − τ(k))``, τ from the q-expansion of q∏(1 − qⁿ)²⁴."""
    k = norm // 2
    series = [1] + [0] * k  # ∏(1 − qⁿ)²⁴ up to q^(k−1)
    for n in range(1, k):
        for _ in range(24):
            for i in range(k, n - 1, -1):
                series[i] -= series[i - n]
    tau = series[k - 1]
    sigma11 = sum(d**11 for d in range(1, k + 1) if k % d == 0)
    num = 65520 * (sigma11 - tau)
    assert num % 691 == 0
    return num // 691


WORD_MASKS = np.sort((WORDS << np.arange(24)).sum(axis=1))


def in_leech(v: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """The congruences of the Leech lattice checked directly (√8 units), row by row:
    all entries ≡ m (mod 2), (v − m)/2 mod 2 a Golay codeword, Σv ≡ 4m (mod 8)."""
    v = np.asarray(v).reshape(-1, 24)
    out = np.empty(v.shape[0], dtype=bool)
    for s in range(0, v.shape[0], chunk):
        w = v[s : s + chunk]
        w = w if w.dtype == np.int8 else w.astype(np.int64)
        m = w[:, :1] & 1
        same = ((w & 1) == m).all(axis=1)
        bits = np.packbits(((w - m) & 3) >> 1, axis=1, bitorder="little")  # bit i = coordinate i
        masks = np.concatenate([bits, np.zeros((len(w), 1), np.uint8)], axis=1).view("<u4")[:, 0]
        at = np.minimum(np.searchsorted(WORD_MASKS, masks), 4095)
        total = w.sum(axis=1, dtype=np.int64) - 4 * m[:, 0]
        out[s : s + chunk] = same & (WORD_MASKS[at] == masks) & (total % 8 == 0)
    return out


def squared_norms(v: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    v = np.asarray(v).reshape(-1, 24)
    return np.concatenate(
        [(v[s : s + chunk].astype(np.int64) ** 2).sum(axis=1) for s in range(0, len(v), chunk)]
    )


def arrangement_rank(seq: list[int]) -> int:
    """Rank of ``seq`` among the arrangements of its multiset, larger values first (definition)."""
    left = Counter(seq)
    rank = 0
    for p, val in enumerate(seq):
        for a in sorted(left, reverse=True):
            if a == val:
                break
            if left[a]:
                left[a] -= 1
                rank += math.factorial(len(seq) - p - 1) // math.prod(
                    math.factorial(c) for c in left.values()
                )
                left[a] += 1
        left[val] -= 1
    return rank


def documented_index(code: LeechShellCode, v: np.ndarray) -> int:
    """The index of ``v`` computed from the order written in the docstring of ``shells``."""
    v = [int(a) for a in v]
    norm = sum(a * a for a in v) // 8
    shape = tuple(sorted((abs(a) for a in v), reverse=True))
    cls = next(c for c in code.classes(norm) if c.shape == shape)
    m = v[0] & 1
    if m == 1:
        word = WORD_ROW[tuple(((a - 1) % 4) // 2 for a in v)]
        return cls.offset + word * cls.arrangements + arrangement_rank([abs(a) for a in v])
    c = tuple((a % 4) // 2 for a in v)
    word = WORD_ROW[c]
    rank = int((WEIGHTS[:word] == WEIGHTS[word]).sum())
    on = [abs(a) for a, b in zip(v, c) if b]
    off = [abs(a) for a, b in zip(v, c) if not b]
    a1 = math.factorial(len(off)) // math.prod(math.factorial(n) for n in Counter(off).values())
    support = [i for i in range(24) if c[i]]
    bits = [int(v[i] < 0) for i in range(24) if v[i] and not (support and i == support[-1])]
    signs = int("".join(map(str, bits)), 2) if bits else 0
    return (
        cls.offset
        + ((rank * (cls.arrangements // a1) + arrangement_rank(on)) * a1 + arrangement_rank(off)) * cls.signs
        + signs
    )


def cosines(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    return (x * v).sum(-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(v, axis=-1))


def best_cosine_exhaustive(code: LeechShellCode, x: np.ndarray) -> float:
    """max cos over the code by an independent float64 method: every one of the 8192 cosets and
    every class, each by the rearrangement inequality (sorted pairing), vectorised over codewords."""
    best = -np.inf
    us = -np.sort(-((1 - 2 * WORDS) * x), axis=1)
    ax = np.abs(x)
    per_weight = {}
    for w in (0, 8, 12, 16, 24):
        support = WORDS[WEIGHTS == w] == 1
        on = -np.sort(-np.where(support, ax, -1.0), axis=1)[:, :w]
        off = -np.sort(-np.where(~support, ax, -1.0), axis=1)[:, : 24 - w]
        per_weight[w] = (on, off, ((x < 0) & support).sum(axis=1) % 2)
    for c in code._classes:
        if c.m == 1:
            b = np.sort([a if a % 4 == 1 else -a for a in c.shape])[::-1].astype(float)
            value = (us @ b).max()
        else:
            on, off, neg = per_weight[c.weight]
            odd = np.array([a for a in c.shape if a % 4 == 2], dtype=float)
            even = np.array([a for a in c.shape if a % 4 == 0], dtype=float)
            vals = on @ odd + off @ even
            if c.weight:
                vals = vals - (neg != (sum(c.shape) // 4) % 2) * 2 * on[:, -1] * odd[-1]
            value = vals.max()
        best = max(best, value / math.sqrt(8 * c.norm))
    return best / np.linalg.norm(x)


@pytest.fixture(scope="module")
def shells46() -> np.ndarray:
    """All 16,969,680 points of norms 4 and 6 in index order (int8), from ``index_to_vector``;
    ``test_norm_4_and_6_are_a_bijection_onto_the_lattice_points`` proves this list right."""
    code = LeechShellCode(6)
    out = np.empty((16969680, 24), dtype=np.int8)
    for s in range(0, out.shape[0], 1 << 20):
        out[s : s + (1 << 20)] = code.index_to_vector(np.arange(s, min(out.shape[0], s + (1 << 20))))
    return out


def brute_per_shell(points: np.ndarray, x: np.ndarray, chunk: int = 1 << 18) -> dict[int, tuple]:
    """For shells 4 and 6 separately: the first index of the maximal ⟨x, v⟩ and that maximum
    (float64 products; exact for the small dyadic inputs used for ties)."""
    x = np.asarray(x, dtype=np.float64)
    out = {}
    for norm, lo, hi in ((4, 0, 196560), (6, 196560, points.shape[0])):
        best = np.full(x.shape[0], -np.inf)
        arg = np.zeros(x.shape[0], dtype=np.int64)
        for s in range(lo, hi, chunk):
            vals = x @ points[s : min(hi, s + chunk)].astype(np.float64).T
            j = vals.argmax(axis=1)
            top = vals[np.arange(x.shape[0]), j]
            upd = top > best
            best[upd], arg[upd] = top[upd], j[upd] + s
        out[norm] = (arg, best)
    return out


def brute_nearest(per_shell: dict[int, tuple], norms: tuple[int, ...]) -> np.ndarray:
    """Index in the code of those norms: the shell with the larger cosine (no exact ties are
    possible between norms 4 and 6, √(6/4) being irrational), indices shifted when 4 is absent."""
    if norms == (4,):
        return per_shell[4][0]
    if norms == (6,):
        return per_shell[6][0] - 196560
    (a4, b4), (a6, b6) = per_shell[4], per_shell[6]
    return np.where(b4 / math.sqrt(32) >= b6 / math.sqrt(48), a4, a6)


def tie_inputs(points: np.ndarray, n: int) -> np.ndarray:
    """Inputs full of exact ties: unit vectors, lattice points, sums of two points, small
    integers, repeated magnitudes, halves, sparse float32 values, zero."""
    eye = np.eye(24)
    parts = [eye[[0, 5, 23]], -eye[[0, 11]], eye[:3] + eye[5:8], np.zeros((1, 24))]
    i, j = RNG.integers(0, points.shape[0], (2, n))
    parts += [points[i].astype(float), points[i].astype(float) + points[j]]
    parts.append(points[RNG.integers(0, 196560, n)] * 0.125)
    parts.append(RNG.integers(-2, 3, (n, 24)))
    parts.append(RNG.choice([-2.0, -1.0, 1.0, 2.0], (n, 24)))
    parts.append(RNG.choice([-0.75, -0.5, 0.5, 0.75, 0.0], (n, 24)))
    sparse = RNG.standard_normal((n, 24)).astype(np.float32).astype(np.float64)
    sparse[RNG.random((n, 24)) < 0.75] = 0.0
    parts.append(sparse)
    return np.concatenate(parts).astype(np.float64)


# --- classes and counts -----------------------------------------------------------------------
def test_shell_sizes_match_the_theta_series_formula_up_to_norm_32():
    code = LeechShellCode(32)
    assert code.norms == tuple(range(4, 33, 2))
    for norm in code.norms:
        assert code.shell_sizes[norm] == leech_theta_coefficient(norm), norm
        assert sum(c.count for c in code.classes(norm)) == code.shell_sizes[norm]
    assert code.size == sum(leech_theta_coefficient(n) for n in code.norms)
    assert [code.shell_sizes[n] for n in (4, 6, 8, 10, 12)] == [
        196560,
        16773120,
        398034000,
        4629381120,
        34417656000,
    ]


def test_code_sizes_bits_and_norms():
    assert CODE24.size == sum(leech_theta_coefficient(n) for n in range(4, 25, 2))
    assert CODE24.bits == math.ceil(math.log2(CODE24.size)) == 47
    assert 2**46 < CODE24.size < 2**47
    small = LeechShellCode(6, min_norm=6)
    assert small.norms == (6,) and small.size == 16773120 and small.bits == 24
    assert isinstance(CODE24.size, int) and all(isinstance(s, int) for s in CODE24.shell_sizes.values())
    assert LeechShellCode(4).size == 196560 and LeechShellCode(4).bits == 18


def test_class_records_are_consistent():
    offset = 0
    for norm in CODE24.norms:
        classes = CODE24.classes(norm)
        assert [c.m for c in classes] == sorted(c.m for c in classes)  # even classes first
        for c in classes:
            assert c.offset == offset
            offset += c.count
            assert c.norm == norm and len(c.shape) == 24 and sum(a * a for a in c.shape) == 8 * norm
            assert list(c.shape) == sorted(c.shape, reverse=True)
            assert all(a % 2 == c.m for a in c.shape)
            assert c.count == c.codewords * c.arrangements * c.signs
            if c.m == 1:
                assert c.weight is None and c.codewords == 4096 and c.signs == 1
                assert c.arrangements == math.factorial(24) // math.prod(
                    math.factorial(n) for n in Counter(c.shape).values()
                )
            else:
                assert c.weight == sum(a % 4 == 2 for a in c.shape)
                assert c.codewords == int((WEIGHTS == c.weight).sum())
        for m in (0, 1):
            shapes = [tuple(-a for a in c.shape) for c in classes if c.m == m]
            assert shapes == sorted(shapes)  # decreasing lexicographic order of the shapes
    assert offset == CODE24.size
    with pytest.raises(ValueError, match="not a shell"):
        CODE24.classes(26)


def test_class_counts_by_counting_the_materialised_shells(shells46):
    # A shape is its histogram of magnitudes 0…6, packed base 25: Σᵢ 25^|vᵢ|.
    base = 25 ** np.arange(7, dtype=np.int64)
    for norm, lo, hi in ((4, 0, 196560), (6, 196560, 16969680)):
        keys = np.concatenate(
            [base[np.abs(shells46[s : min(hi, s + (1 << 20))])].sum(axis=1) for s in range(lo, hi, 1 << 20)]
        )
        found = dict(zip(*np.unique(keys, return_counts=True)))
        want = {int(np.bincount(c.shape, minlength=7) @ base): c.count for c in CODE24.classes(norm)}
        assert {int(k): int(n) for k, n in found.items()} == want


@pytest.mark.slow
def test_shell_sizes_match_enumeration_of_the_lattice():
    theta = leech().theta_series(6)
    code = LeechShellCode(6)
    assert {int(k): v for k, v in theta.items() if k >= 4} == code.shell_sizes


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((5,), ValueError),
        ((6, 2), ValueError),
        ((4, 6), ValueError),
        ((8, 5), ValueError),
        ((2,), ValueError),
        ((6.0,), TypeError),
        ((True,), TypeError),
        ((200,), ValueError),
    ],
)
def test_bad_norms(args, error):
    with pytest.raises(error):
        LeechShellCode(*args)


# --- the bijection ----------------------------------------------------------------------------
def test_norm_4_is_the_order_of_the_minimal_vectors():
    code = LeechShellCode(4)
    idx = np.arange(196560)
    assert np.array_equal(code.index_to_vector(idx), leech_minimal_vectors_integer())
    assert np.array_equal(code.vector_to_index(leech_minimal_vectors_integer()), idx)


def test_norm_4_and_6_are_a_bijection_onto_the_lattice_points(shells46):
    norms = squared_norms(shells46)
    assert (norms[:196560] == 32).all() and (norms[196560:] == 48).all()
    assert in_leech(shells46).all()
    assert leech().contains(shells46[::997].astype(np.int64)).all()
    # Distinct rows: each int8 row is three 64-bit words, mixed into one hash; equal rows have
    # equal hashes, so distinct hashes prove distinct rows (colliding pairs are compared fully).
    words = np.ascontiguousarray(shells46).view(np.uint64)
    mix = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)
    h = (words[:, 0] * mix[0]) ^ ((words[:, 1] * mix[1]) >> np.uint64(7)) ^ (words[:, 2] * mix[2])
    order = np.argsort(h, kind="stable")
    dup = np.flatnonzero(np.diff(h[order]) == 0)
    assert not any((words[order[d]] == words[order[d + 1]]).all() for d in dup)
    assert shells46.shape[0] == leech_theta_coefficient(4) + leech_theta_coefficient(6)


def test_membership_reference_rejects_non_points():
    good = leech_minimal_vectors_integer()[[0, 2000, 150000]].astype(np.int64)
    bad = np.array(
        [
            [2] * 7 + [0, 2] + [0] * 15,  # not an octad
            [-2] + [2] * 7 + [0] * 16,  # odd number of minus signs
            [-3] + [1] * 22 + [-1],  # not a codeword
            [3, 2] + [1] * 22,  # mixed parity
        ]
    )
    assert in_leech(good).all() and not in_leech(bad).any()
    assert not in_leech(good.astype(np.int8) + np.eye(24, dtype=np.int8)[:3] * 4).all()


def test_round_trip_strided_over_norms_4_and_6(shells46):
    code = LeechShellCode(6)
    idx = np.arange(5, 16969680, 53)
    assert np.array_equal(code.vector_to_index(shells46[idx]), idx)
    assert np.array_equal(code.index_to_vector(idx), shells46[idx])


@pytest.mark.slow
def test_round_trip_exhaustive_over_norms_4_and_6(shells46):
    code = LeechShellCode(6)
    assert np.array_equal(code.vector_to_index(shells46), np.arange(16969680))
    only6 = LeechShellCode(6, min_norm=6)
    assert np.array_equal(only6.vector_to_index(shells46[196560:]), np.arange(16773120))


def test_class_boundaries_and_documented_order():
    idx = np.array(
        sorted({i for c in CODE24._classes for i in (c.offset, c.offset + 1, c.offset + c.count - 1)})
    )
    vecs = CODE24.index_to_vector(idx)
    for i, v in zip(idx.tolist(), vecs):
        c = next(c for c in CODE24._classes if c.offset <= i < c.offset + c.count)
        assert tuple(sorted(np.abs(v).tolist(), reverse=True)) == c.shape
        assert documented_index(CODE24, v) == i
    assert np.array_equal(CODE24.vector_to_index(vecs), idx)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, CODE24.size - 1))
def test_round_trip_random_indices_norm_24(i):
    v = CODE24.index_to_vector(i)
    assert v.shape == (24,) and v.dtype == np.int64
    assert in_leech(v).all()
    assert (v @ v) % 16 == 0 and 32 <= v @ v <= 8 * 24
    assert int(CODE24.vector_to_index(v)) == i
    assert documented_index(CODE24, v) == i


def test_round_trip_many_random_indices_batched():
    for code in (CODE24, LeechShellCode(32, min_norm=20)):
        idx = RNG.integers(0, code.size, 100000)
        v = code.index_to_vector(idx.reshape(100, 1000))
        assert v.shape == (100, 1000, 24)
        flat = v.reshape(-1, 24)
        assert in_leech(flat).all()
        norms = (flat * flat).sum(axis=1) // 8
        assert set(np.unique(norms).tolist()) <= set(code.norms)
        assert np.array_equal(code.vector_to_index(v), idx.reshape(100, 1000))
        assert leech().contains(flat[:500]).all()
    # min_norm shifts the indices by the sizes of the missing shells
    upper = LeechShellCode(24, min_norm=16)
    shift = sum(CODE24.shell_sizes[n] for n in range(4, 16, 2))
    idx = RNG.integers(0, upper.size, 1000)
    assert np.array_equal(CODE24.index_to_vector(idx + shift), upper.index_to_vector(idx))


def test_bijection_input_forms():
    assert CODE24.index_to_vector(np.zeros((0,), dtype=np.int64)).shape == (0, 24)
    assert CODE24.vector_to_index(np.zeros((0, 24), dtype=np.int64)).shape == (0,)
    v = CODE24.index_to_vector(np.uint32(77))
    assert int(CODE24.vector_to_index(v.astype(np.int8))) == 77
    assert int(CODE24.vector_to_index(v.astype(np.float32))) == 77
    assert int(CODE24.vector_to_index(v.tolist())) == 77
    assert CODE24.index_to_vector(CODE24.size - 1).shape == (24,)


@pytest.mark.parametrize(
    ("vec", "message"),
    [
        ([4, 4, 4] + [0] * 21, "norms"),  # norm 6: not in the norm-4 code
        ([2] * 7 + [0, 2] + [0] * 15, "Golay codeword"),  # norm 4, not an octad
        ([-2] + [2] * 7 + [0] * 16, "sum"),  # an octad with an odd number of minus signs
        ([-3] + [1] * 22 + [-1], "Golay codeword"),
        ([4, 2, 2, 2, 2] + [0] * 19, "magnitudes"),
        ([5, 2, 1, 1, 1] + [0] * 19, "odd and even"),
        ([7] + [1] * 23, "norms"),
    ],
)
def test_vector_to_index_names_the_problem(vec, message):
    code = LeechShellCode(4)
    good = leech_minimal_vectors_integer()[3]
    with pytest.raises(ValueError, match=message):
        code.vector_to_index(np.array([good, vec]))
    with pytest.raises(ValueError, match=r"v\[1\]"):
        code.vector_to_index(np.array([good, vec]))


def test_bad_indices_and_vectors():
    with pytest.raises(ValueError, match="out of range"):
        CODE24.index_to_vector(CODE24.size)
    with pytest.raises(ValueError, match="out of range"):
        CODE24.index_to_vector([-1])
    with pytest.raises(ValueError, match="out of range"):
        CODE24.index_to_vector(2**70)
    with pytest.raises(ValueError, match="out of range"):
        CODE24.index_to_vector(np.array([2**64 - 1], dtype=np.uint64))
    with pytest.raises(TypeError):
        CODE24.index_to_vector(1.0)
    with pytest.raises(TypeError):
        CODE24.index_to_vector(True)
    with pytest.raises(ValueError, match="integer vector"):
        CODE24.vector_to_index(np.full(24, 0.5))
    with pytest.raises(ValueError, match="last dimension"):
        CODE24.vector_to_index(np.zeros(23, dtype=np.int64))
    with pytest.raises(ValueError, match="norms"):
        CODE24.vector_to_index(np.zeros(24, dtype=np.int64))
    with pytest.raises(ValueError, match="norms"):
        CODE24.vector_to_index(np.full(24, np.iinfo(np.int64).min))
    with pytest.raises(ValueError, match="norms"):
        CODE24.vector_to_index(np.full(24, 2**63, dtype=np.uint64))
    with pytest.raises(ValueError, match="norms"):  # a Leech vector of norm 26 is not in the code
        CODE24.vector_to_index(LeechShellCode(26, min_norm=26).index_to_vector(5))
    with pytest.raises(ValueError, match="NaN"):
        CODE24.vector_to_index(np.full(24, np.nan))
    with pytest.raises(TypeError):
        CODE24.vector_to_index(np.ones(24, dtype=complex))


# --- nearest: brute force over norms 4 and 6 --------------------------------------------------
@pytest.fixture(scope="module")
def brute_cases(shells46):
    """Queries (Gaussian, float32, exact ties) with their brute-force answers per shell."""
    gauss = RNG.standard_normal((24, 24))
    f32 = RNG.standard_normal((12, 24)).astype(np.float32)
    ties = tie_inputs(shells46, 4)
    x = np.concatenate([gauss, f32.astype(np.float64), ties])
    return x, brute_per_shell(shells46, x), len(gauss), len(f32)


@pytest.mark.parametrize(("max_norm", "min_norm"), [(6, 4), (6, 6), (4, 4)])
def test_nearest_equals_brute_force(brute_cases, max_norm, min_norm):
    x, per_shell, ng, nf = brute_cases
    code = LeechShellCode(max_norm, min_norm)
    idx, vec = code.nearest(x)
    want = brute_nearest(per_shell, code.norms)
    want[np.linalg.norm(x, axis=1) == 0] = 0  # x = 0: index 0 (the brute force says so too)
    assert np.array_equal(idx, want)
    assert np.array_equal(vec, code.index_to_vector(idx))
    # float32 input gives the same answer as its float64 values
    f32 = x[ng : ng + nf].astype(np.float32)
    assert np.array_equal(code.nearest(f32)[0], idx[ng : ng + nf])


def test_norm_4_code_agrees_with_the_spherical_search(shells46):
    x = np.concatenate([RNG.standard_normal((300, 24)), tie_inputs(shells46, 20)])
    assert np.array_equal(LeechShellCode(4).nearest(x)[0], nearest_minimal_vector(x))


def exact_brute_norm6(points: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact smallest-index argmax of the cosine over norms 4–6 for arbitrary float64 rows:
    candidates within a wide float band of the running best (one pass), then exact
    comparisons in Python integers."""
    y = rows / np.abs(rows).max(axis=1, keepdims=True)
    scale = np.where(np.arange(points.shape[0]) < 196560, 1 / math.sqrt(32), 1 / math.sqrt(48))
    best = np.full(len(rows), -np.inf)
    cands: list[list[int]] = [[] for _ in rows]
    for s in range(0, points.shape[0], 1 << 18):
        e = min(points.shape[0], s + (1 << 18))
        vals = (y @ points[s:e].astype(np.float64).T) * scale[s:e]
        best = np.maximum(best, vals.max(axis=1))
        r, c = np.nonzero(vals >= best[:, None] - 1e-6)
        for a, b in zip(r, c):
            cands[a].append(b + s)
    out = []
    for row, cand in zip(rows, cands):
        ratios = [float(v).as_integer_ratio() for v in row]
        den = max(d for _, d in ratios)
        xs = [n * (den // d) for n, d in ratios]
        top = None
        for i in cand:
            val = sum(int(a) * b for a, b in zip(points[i], xs))
            norm = 4 if i < 196560 else 6
            if top is None or sh._cos_greater(val, norm, top[0], top[1]) > 0:
                top = (val, norm, i)
        out.append(top[2])
    return np.array(out)


def test_near_ties_in_full_precision_are_resolved_exactly(shells46, monkeypatch):
    """Rows with long mantissas (float mode) and exact or one-ulp ties go through the exact
    resolution, which must give the exact answer."""
    i, j = RNG.integers(0, shells46.shape[0], (2, 6))
    x = shells46[i].astype(np.float64) + shells46[j]
    mask = RNG.random(x.shape) < 0.2
    x[mask] = np.nextafter(x[mask], np.inf)
    x[:, 0] += 2.0**-45
    y = np.zeros((3, 24))
    y[0, [0, 1]] = 2.0**1000
    y[1, [0, 1]] = 2.0**1000
    y[1, 5] = 2.0**-1074  # a subnormal entry breaks the tie, exactly
    y[2, [3, 7, 11]] = [1e300, -1e300, -1e-300]
    x = np.concatenate([x, y])
    calls = []
    original = LeechShellCode._resolve_exactly
    monkeypatch.setattr(
        LeechShellCode, "_resolve_exactly", lambda self, row: calls.append(1) or original(self, row)
    )
    got = LeechShellCode(6).nearest(x)[0]
    assert np.array_equal(got, exact_brute_norm6(shells46, x))
    assert len(calls) >= 3


@pytest.mark.slow
def test_nearest_equals_brute_force_many(shells46):
    x = np.concatenate(
        [
            RNG.standard_normal((200, 24)),
            tie_inputs(shells46, 30),
            RNG.standard_normal((100, 24)).astype(np.float32),
        ]
    )
    per = brute_per_shell(shells46, x)
    for max_norm, min_norm in ((6, 4), (6, 6), (4, 4)):
        code = LeechShellCode(max_norm, min_norm)
        want = brute_nearest(per, code.norms)
        want[np.linalg.norm(x, axis=1) == 0] = 0
        assert np.array_equal(code.nearest(x)[0], want)


# --- nearest: larger codes --------------------------------------------------------------------
@pytest.mark.parametrize("max_norm", [8, 12, 24])
def test_nearest_reaches_the_exhaustive_best_cosine(max_norm):
    code = CODE24 if max_norm == 24 else LeechShellCode(max_norm)
    x = np.concatenate(
        [
            RNG.standard_normal((12, 24)),
            RNG.integers(-3, 4, (4, 24)),
            RNG.standard_normal((4, 24)) * (RNG.random((4, 24)) < 0.3),
        ]
    )
    idx, vec = code.nearest(x)
    assert in_leech(vec).all() and np.array_equal(code.vector_to_index(vec), idx)
    got = cosines(x, vec)
    for r in range(len(x)):
        assert got[r] == pytest.approx(best_cosine_exhaustive(code, x[r]), rel=1e-12, abs=1e-12)


def test_nearest_beats_scaled_decodes_and_the_small_shells(brute_cases):
    xs, per_all, ng, _ = brute_cases
    x = xs[:ng]
    idx, vec = CODE24.nearest(x)
    assert np.array_equal(CODE24.index_to_vector(idx), vec)
    norms = (vec * vec).sum(axis=1) // 8
    assert ((norms >= 4) & (norms <= 24) & (norms % 2 == 0)).all() and in_leech(vec).all()
    got = cosines(x, vec)
    # Every point of norms 4 and 6 …
    per = {n: (a[:ng], b[:ng]) for n, (a, b) in per_all.items()}
    small = np.maximum(per[4][1] / math.sqrt(32), per[6][1] / math.sqrt(48)) / np.linalg.norm(x, axis=1)
    assert (got >= small - 1e-12).all()
    # … and the nearest lattice points of many scalings t·x that land in the norm range.
    for t in np.geomspace(0.5, 5.0, 40):
        pts = np.rint(leech().decode(t * x / np.linalg.norm(x, axis=1, keepdims=True)) * math.sqrt(8))
        n = (pts * pts).sum(axis=1) / 8
        ok = (n >= 4) & (n <= 24)
        assert (got[ok] >= cosines(x[ok], pts[ok]) - 1e-12).all()


def test_known_answers_and_ties_between_shells():
    e0 = np.eye(24)[0]
    # ±8·e₀ has norm 8 and cosine 1: the first vector of shell 8, sign bit 0 or 1.
    first8 = CODE24.size - sum(CODE24.shell_sizes[n] for n in range(8, 25, 2))
    assert CODE24.nearest(e0)[1].tolist() == [8] + [0] * 23
    assert [int(CODE24.nearest(s * e0)[0]) for s in (1, -1)] == [first8, first8 + 1]
    # Without norm 8: (±12, 4, 0²²) of norm 20 (cos 12/√160), the 4 taking + on a zero of x.
    code = LeechShellCode(24, min_norm=10)
    assert code.nearest(e0)[1].tolist() == [12, 4] + [0] * 22
    assert code.nearest(-e0)[1].tolist() == [-12, 4] + [0] * 22
    assert int(code.nearest(-e0)[0]) == documented_index(code, np.array([-12, 4] + [0] * 22))
    # Norms 22–24 only: (13, 1²³) with the zero codeword (cos 13/√192 beats 12/√176 of (12, 2⁸)).
    code = LeechShellCode(24, min_norm=22)
    want = np.array([13] + [1] * 23)
    assert code.nearest(e0)[1].tolist() == want.tolist()
    assert int(code.nearest(e0)[0]) == documented_index(code, want)
    # −e₀: −13 ≡ 3 (mod 4) needs c₀ = 1; every such codeword ties, the first one wins.
    c = WORDS[np.flatnonzero(WORDS[:, 0] == 1)[0]]
    want = (1 - 2 * c) * np.array([13] + [1] * 23)
    assert code.nearest(-e0)[1].tolist() == want.tolist()
    assert int(code.nearest(-e0)[0]) == documented_index(code, want)
    assert int(CODE24.nearest(np.zeros(24))[0]) == 0
    # A point v of norm 4 ties with 2v (norm 16): the smaller index, v, wins; without norm 4, 2v.
    v4 = leech_minimal_vectors_integer()[RNG.integers(0, 196560, 20)].astype(np.int64)
    assert np.array_equal(CODE24.nearest(v4)[1], v4)
    assert np.array_equal(CODE24.nearest(v4 * 0.3)[0], CODE24.vector_to_index(v4))
    assert np.array_equal(LeechShellCode(24, min_norm=6).nearest(v4)[1], 2 * v4)
    # Points of every shell are their own nearest direction (the smaller multiple if two fit).
    idx = RNG.integers(0, CODE24.size, 300)
    pts = CODE24.index_to_vector(idx)
    got, vec = CODE24.nearest(pts * 1.5)
    assert np.array_equal(CODE24.index_to_vector(got), vec)
    half = pts // 2
    halves = (pts % 2 == 0).all(axis=1) & in_leech(half) & ((half * half).sum(axis=1) >= 32)
    assert np.array_equal(vec[~halves], pts[~halves])
    assert np.array_equal(vec[halves], half[halves])


def test_scale_and_dtype_invariance():
    x = RNG.standard_normal((60, 24))
    idx = CODE24.nearest(x)[0]
    for factor in (2.0**-1000, 2.0**900, 3.0, 1e-300):
        assert np.array_equal(CODE24.nearest(x * factor)[0], idx)
    ints = RNG.integers(-5, 6, (40, 24))
    assert np.array_equal(CODE24.nearest(ints)[0], CODE24.nearest(ints.astype(np.float32))[0])
    x16 = x.astype(np.float16)
    assert np.array_equal(CODE24.nearest(x16)[0], CODE24.nearest(x16.astype(np.float64))[0])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_norm_4_code_matches_exact_argmax(data):
    values = st.one_of(
        st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0]),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=True),
    )
    x = data.draw(hnp.arrays(np.float64, (2, 24), elements=values))
    got = _small_code(4).nearest(x)[0]
    vecs = leech_minimal_vectors_integer().astype(np.int64)
    for r, row in enumerate(x):
        ratios = [float(v).as_integer_ratio() for v in row]
        den = max(d for _, d in ratios)
        xs = [n * (den // d) for n, d in ratios]
        if max(abs(v) for v in xs) < 2**55:
            exact = vecs @ np.array(xs, dtype=np.int64)
            assert got[r] == int(np.flatnonzero(exact == exact.max())[0])
            continue
        y = row / np.abs(row).max()
        vals = vecs @ y
        cand = np.flatnonzero(vals >= vals.max() - 1e-6 * (np.abs(y).sum() + 1))
        exact = [sum(int(c) * v for c, v in zip(vecs[i], xs)) for i in cand]
        assert got[r] == cand[exact.index(max(exact))]


@cache
def _small_code(max_norm: int) -> LeechShellCode:
    return LeechShellCode(max_norm)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([8, 10, 16]))
def test_property_nearest_is_optimal_in_its_own_shell_neighbourhood(seed, max_norm):
    """Random points of the code, perturbed: the answer is at least as good as the point."""
    code = _small_code(max_norm)
    rng = np.random.default_rng(seed)
    p = code.index_to_vector(rng.integers(0, code.size, 4))
    x = p + rng.standard_normal((4, 24)) * rng.choice([0.01, 0.5, 2.0])
    idx, vec = code.nearest(x)
    assert (cosines(x, vec) >= cosines(x, p) - 1e-12).all()
    assert np.array_equal(code.vector_to_index(vec), idx)


def test_pair_rule_matches_enumeration_of_small_pairs():
    """The smallest-index optimal vector of one (class, codeword) pair, against listing the pair."""
    from leechkit.lattice.quantizers import _shell_kernels as _k

    code = _small_code(16)
    t = code._tables
    words = sh._golay_tables()
    small = [k for k, c in enumerate(code._classes) if c.arrangements * c.signs <= 30000]
    for trial in range(160):
        k = int(RNG.choice(small))
        c = code._classes[k]
        if c.m == 1:
            cw = int(RNG.integers(4096))
            start, count = c.offset + cw * c.arrangements, c.arrangements
        else:
            cw = int(RNG.choice(np.flatnonzero(WEIGHTS == c.weight)))
            count = c.arrangements * c.signs
            start = c.offset + int(words["cwrank"][cw]) * count
        x = [
            RNG.integers(-2, 3, 24),
            RNG.choice([0.0, 1.0, -1.0], 24),
            RNG.standard_normal(24) * (RNG.random(24) < 0.4),
            RNG.choice([-3.0, -1.0, 1.0, 2.0, 0.0], 24),
        ][trial % 4]
        x = np.asarray(x, dtype=np.float64)
        vals = code.index_to_vector(np.arange(start, start + count)) @ x
        out = np.empty(24, dtype=np.int64)
        got = _k.pair_index(x, k, cw, code.min_norm, code.max_norm, t["ct"], t["kt"], t["gt"], out)
        assert got == start + int(np.flatnonzero(vals == vals.max())[0])


def test_nearest_shapes_and_bad_input():
    x = RNG.standard_normal((2, 3, 24))
    idx, vec = CODE24.nearest(x)
    assert idx.shape == (2, 3) and idx.dtype == np.int64 and vec.shape == (2, 3, 24) and vec.dtype == np.int64
    single = CODE24.nearest(x[0, 0])
    assert single[0].shape == () and single[1].shape == (24,) and single[0] == idx[0, 0]
    empty = CODE24.nearest(np.zeros((0, 24)))
    assert empty[0].shape == (0,) and empty[1].shape == (0, 24)
    bad = np.ones(24)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CODE24.nearest(bad)
    bad[3] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        CODE24.nearest(bad)
    with pytest.raises(ValueError, match="last dimension"):
        CODE24.nearest(np.ones(8))
    with pytest.raises(TypeError):
        CODE24.nearest(np.ones(24, dtype=complex))
    with pytest.raises(TypeError):
        CODE24.nearest(np.ones(24, dtype=bool))


def test_kernels_run_without_jit():
    code = (
        "import numpy as np\n"
        "from leechkit.lattice import LeechShellCode\n"
        "c = LeechShellCode(10)\n"
        "x = np.array([[1.0] + [0.0] * 23, [0.5, -1.5] + [0.25] * 22])\n"
        "r = np.random.default_rng(0).standard_normal((2, 24))\n"
        "i = np.array([5, 123456789, c.size - 1])\n"
        "v = c.index_to_vector(i)\n"
        "print(c.nearest(x)[0].tolist(), c.nearest(r)[0].tolist(), c.vector_to_index(v).tolist(),"
        " v.sum(axis=1).tolist())\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    c = _small_code(10)
    x = np.array([[1.0] + [0.0] * 23, [0.5, -1.5] + [0.25] * 22])
    r = np.random.default_rng(0).standard_normal((2, 24))
    i = np.array([5, 123456789, c.size - 1])
    expect = [
        c.nearest(x)[0].tolist(),
        c.nearest(r)[0].tolist(),
        c.vector_to_index(c.index_to_vector(i)).tolist(),
        c.index_to_vector(i).sum(axis=1).tolist(),
    ]
    assert out.stdout.strip() == " ".join(str(e) for e in expect)
