"""Spherical codes of Leech and E8: exact structured search, brute-force reference, bijection."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leechkit.lattice import e8, golay_code, leech
from leechkit.lattice.lattices.leech import leech_minimal_vectors_integer
from leechkit.lattice.quantizers import (
    index_to_vector,
    nearest_minimal_vector,
    nearest_minimal_vector_bruteforce,
    vector_to_index,
)
from leechkit.lattice.quantizers import spherical as sph

RNG = np.random.default_rng(2024)
LEECH_INT = leech_minimal_vectors_integer().astype(np.int64)
E8_INT = e8().minimal_vectors(integer=True).astype(np.int64)
INTS = {"leech": LEECH_INT, "e8": E8_INT}
DIM = {"leech": 24, "e8": 8}


def exact_argmax(x: np.ndarray, lattice: str) -> np.ndarray:
    """Reference with the exact tie rule: smallest index among exactly maximal ⟨x, v⟩.

    Each row is scaled by a power of two to integers (every float is a dyadic rational);
    the inner products with the integer vectors are then exact, in int64 when they fit and
    in Python integers over a wide float64 band of candidates otherwise.
    """
    vecs = INTS[lattice]
    rows = np.asarray(x, dtype=np.float64).reshape(-1, DIM[lattice])
    out = []
    for row in rows:
        ratios = [float(v).as_integer_ratio() for v in row]
        den = max(d for _, d in ratios)
        ints = [n * (den // d) for n, d in ratios]
        if max(abs(v) for v in ints) < 2**55:
            exact = vecs.astype(np.int64) @ np.array(ints, dtype=np.int64)
            out.append(int(np.flatnonzero(exact == exact.max())[0]))
            continue
        amax = np.abs(row).max()
        vals = vecs @ (row / amax)  # only to choose candidates
        cand = np.flatnonzero(vals >= vals.max() - 1e-6 * (np.abs(row / amax).sum() + 1))
        exact = [sum(int(c) * v for c, v in zip(vecs[i], ints)) for i in cand]
        out.append(int(cand[exact.index(max(exact))]))
    return np.array(out, dtype=np.int64).reshape(np.asarray(x).shape[:-1])


def inner(x: np.ndarray, idx: np.ndarray, lattice: str) -> np.ndarray:
    return np.einsum("...i,...i->...", np.asarray(x, dtype=np.float64), INTS[lattice][idx].astype(float))


# --- structure of the tables ----------------------------------------------------------------
def test_groups_enumerate_the_golay_code_with_its_indices():
    t = sph._leech_tables()
    words = golay_code().codewords()
    seen = set()
    for g in range(128):
        base = (t["canon"][g][:, None] >> np.arange(4)) & 1  # (6 columns, 4 rows)
        for pat in t["eps"][t["gpar"][g]]:
            comp = (pat >> np.arange(6)) & 1
            word = (base ^ comp[:, None]).reshape(24)
            w = t["gw"][g] ^ np.bitwise_xor.reduce(np.where(comp == 1, t["colw"], 0))
            assert np.array_equal(words[w], word)
            seen.add(int(w))
    assert len(seen) == 4096


def test_leech_offsets_match_module():
    assert LEECH_INT.shape == (196560, 24)
    assert (LEECH_INT**2).sum(axis=1).tolist() == [32] * 196560


# --- bijection ------------------------------------------------------------------------------
def test_leech_index_to_vector_is_the_documented_order_exhaustively():
    idx = np.arange(196560)
    assert np.array_equal(index_to_vector(idx, integer=True), LEECH_INT)
    floats = index_to_vector(idx)
    assert floats.dtype == np.float64
    assert np.allclose(floats, leech().minimal_vectors(), rtol=0, atol=1e-15)


def test_leech_vector_to_index_round_trip_exhaustively():
    idx = np.arange(196560)
    assert np.array_equal(vector_to_index(LEECH_INT, integer=True), idx)
    assert np.array_equal(vector_to_index(leech().minimal_vectors()), idx)
    assert np.array_equal(vector_to_index(index_to_vector(idx)), idx)


def test_e8_bijection_all_roots():
    idx = np.arange(240)
    assert np.array_equal(index_to_vector(idx, "e8", integer=True), E8_INT)
    assert np.allclose(index_to_vector(idx, "e8"), e8().minimal_vectors())
    assert np.array_equal(vector_to_index(E8_INT, "e8", integer=True), idx)
    assert np.array_equal(vector_to_index(e8().minimal_vectors(), "e8"), idx)


def test_bijection_shapes_and_scalars():
    v = index_to_vector(np.array([[0, 5], [98256, 196559]]))
    assert v.shape == (2, 2, 24)
    assert vector_to_index(v).tolist() == [[0, 5], [98256, 196559]]
    assert index_to_vector(7, integer=True).shape == (24,)
    assert int(vector_to_index(index_to_vector(7))) == 7
    assert vector_to_index(np.zeros((0, 24)), integer=True).shape == (0,)


@pytest.mark.parametrize(
    ("vec", "message"),
    [
        ([4, 4, 4] + [0] * 21, "norm is 6"),
        ([2] * 7 + [0, 2] + [0] * 15, "not an octad"),
        ([-2] + [2] * 7 + [0] * 16, "odd number of minus signs"),  # columns 0, 1: an octad
        ([-3] + [1] * 22 + [-1], "Golay codeword"),
        ([4, 2, 2, 2, 2] + [0] * 19, "not of shape"),
    ],
)
def test_vector_to_index_names_the_problem(vec, message):
    with pytest.raises(ValueError, match=message):
        vector_to_index(np.array([LEECH_INT[3], vec]), integer=True)
    with pytest.raises(ValueError, match=r"v\[1\]"):
        vector_to_index(np.array([LEECH_INT[3], vec]) / np.sqrt(8))


def test_vector_to_index_rejects_bad_input():
    with pytest.raises(ValueError, match="not an integer vector"):
        vector_to_index(LEECH_INT[0] + 0.5, integer=True)
    with pytest.raises(ValueError, match="within"):
        vector_to_index(leech().minimal_vectors()[10] + 1e-3)
    with pytest.raises(ValueError, match="last dimension"):
        vector_to_index(np.zeros(23))
    with pytest.raises(ValueError, match="minimal vector of e8"):
        vector_to_index([2, 1, 1, 1, 1, 0, 0, 0], "e8", integer=True)
    with pytest.raises(ValueError, match="minimal vector of e8"):
        vector_to_index([4, 0, 0, 0, 0, 0, 0, 0], "e8", integer=True)
    with pytest.raises(ValueError, match="out of range"):
        index_to_vector(196560)
    with pytest.raises(ValueError, match="out of range"):
        index_to_vector(-1, "e8")
    with pytest.raises(TypeError):
        index_to_vector(1.0)
    with pytest.raises(ValueError, match="lattice"):
        index_to_vector(0, "d4")


# --- nearest: random inputs against the brute force -----------------------------------------
@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_random_gaussian_matches_bruteforce(lattice):
    x = RNG.standard_normal((400, DIM[lattice]))
    got = nearest_minimal_vector(x, lattice)
    ref = nearest_minimal_vector_bruteforce(x, lattice, chunk_size=97)
    assert got.dtype == np.int64 and got.shape == (400,)
    assert np.array_equal(got, ref)  # no ties with probability 1
    assert np.allclose(inner(x, got, lattice), (x @ INTS[lattice].T.astype(float)).max(axis=1), rtol=1e-14)


@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_float32_and_scaled_inputs(lattice):
    x = RNG.standard_normal((200, DIM[lattice])).astype(np.float32)
    got = nearest_minimal_vector(x, lattice)
    assert np.array_equal(got, exact_argmax(x, lattice))
    for factor in (2.0**1000, 2.0**-1000, 1e-300, 3.7e299):
        assert np.array_equal(nearest_minimal_vector(x.astype(np.float64) * factor, lattice), got)


# --- exact ties -----------------------------------------------------------------------------
def tie_inputs(lattice: str) -> np.ndarray:
    """Inputs full of exact ties: unit vectors, sums of two minimal vectors, small integers,
    repeated magnitudes, sparse vectors, the minimal vectors themselves, zero."""
    n = DIM[lattice]
    vecs = INTS[lattice]
    eye = np.eye(n)
    parts = [eye, -eye, eye[:3] + eye[5:8], np.zeros((1, n))]
    i, j = RNG.integers(0, len(vecs), (2, 150))
    parts.append(vecs[i] + vecs[j])
    parts.append(vecs[RNG.integers(0, len(vecs), 100)])
    parts.append(RNG.integers(-2, 3, (150, n)))
    parts.append(RNG.choice([-2.0, -1.0, 1.0, 2.0], (100, n)))
    parts.append(RNG.choice([-0.75, -0.5, 0.5, 0.75], (100, n)))
    sparse = RNG.standard_normal((100, n)).astype(np.float32).astype(np.float64)
    sparse[RNG.random((100, n)) < 0.7] = 0.0
    parts.append(sparse)
    return np.concatenate(parts).astype(np.float64)


@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_exact_ties_give_the_smallest_index(lattice):
    x = tie_inputs(lattice)
    got = nearest_minimal_vector(x, lattice)
    assert np.array_equal(got, exact_argmax(x, lattice))
    # All these inputs are small dyadic numbers, so the float64 brute force is exact too.
    assert np.array_equal(got, nearest_minimal_vector_bruteforce(x, lattice))


def test_known_answers():
    eye = np.eye(24)
    assert nearest_minimal_vector(eye[0]) == 0  # (4, 4, 0²²): pair (0, 1), signs (+, +)
    assert nearest_minimal_vector(-eye[0]) == 2  # (−4, 4, 0²²)
    assert nearest_minimal_vector(eye[23]) == 4 * 22  # pair (0, 23)
    assert nearest_minimal_vector(np.zeros(24)) == 0
    assert nearest_minimal_vector(np.zeros(8), "e8") == 0
    # E8: x = e₀ → the lexicographically smallest root with 2 at position 0: (2, −2, 0⁶).
    assert E8_INT[nearest_minimal_vector(np.eye(8)[0], "e8")].tolist() == [2, -2, 0, 0, 0, 0, 0, 0]
    idx = RNG.integers(0, 196560, 500)
    assert np.array_equal(nearest_minimal_vector(LEECH_INT[idx]), idx)
    assert np.array_equal(nearest_minimal_vector(leech().minimal_vectors()[idx] * 1e-3), idx)
    assert np.array_equal(nearest_minimal_vector(E8_INT, "e8"), np.arange(240))


def test_ties_with_huge_and_tiny_magnitudes():
    big = 2.0**1000
    x = np.zeros((4, 24))
    x[0, [0, 1]] = big  # tie between shapes (4, 4, ...) and octads through 0, 1
    x[1, [0, 1]] = big
    x[1, 5] = 2.0**-1074  # a subnormal entry breaks the tie, exactly
    x[2, :] = 1e-310  # all equal, subnormal
    x[3, [3, 7]] = [1e300, -1e300]
    x[3, 11] = -1e-300
    assert np.array_equal(nearest_minimal_vector(x), exact_argmax(x, "leech"))


def test_near_ties_in_full_precision_are_resolved_exactly():
    # Sums of two minimal vectors (exact ties), nudged by one ulp here and there: the float
    # kernel cannot separate the candidates and the exact resolution decides.
    i, j = RNG.integers(0, 196560, (2, 40))
    x = (LEECH_INT[i] + LEECH_INT[j]).astype(np.float64)
    mask = RNG.random(x.shape) < 0.2
    x[mask] = np.nextafter(x[mask], np.inf)
    x[:, 0] += 2.0**-45  # long mantissas: not exactly representable on a 47-bit grid
    assert np.array_equal(nearest_minimal_vector(x), exact_argmax(x, "leech"))
    y = (E8_INT[i % 240] + E8_INT[j % 240]).astype(np.float64)
    y[:, 0] += 2.0**-47
    y[:, 3] = np.nextafter(y[:, 3], -np.inf)
    assert np.array_equal(nearest_minimal_vector(y, "e8"), exact_argmax(y, "e8"))


def test_exact_resolution_path(monkeypatch):
    """Rows flagged by the kernel go through the exact resolution and get the exact answer."""
    x = np.array([[1.0 + 2.0**-52, 1.0] + [2.0**-60] * 22])  # span > 47 bits: float mode
    calls = []
    original = sph._resolve_exactly
    monkeypatch.setattr(
        sph, "_resolve_exactly", lambda rows, lat: calls.append(len(rows)) or original(rows, lat)
    )
    x2 = x.copy()
    x2[0, 1:3] = 1.0 + 2.0**-52  # pairs (0, 1), (0, 2), (1, 2) tie exactly → flagged
    got = nearest_minimal_vector(np.concatenate([x, x2]))
    assert np.array_equal(got, exact_argmax(np.concatenate([x, x2]), "leech"))
    assert calls == [1]


@pytest.mark.parametrize("lattice", ["leech", "e8"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_matches_exact_reference(lattice, data):
    n = DIM[lattice]
    values = st.one_of(
        st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0]),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=True),
    )
    x = data.draw(hnp.arrays(np.float64, (3, n), elements=values))
    assert np.array_equal(nearest_minimal_vector(x, lattice), exact_argmax(x, lattice))


# --- interface ------------------------------------------------------------------------------
def test_vectors_cosines_and_shapes():
    x = RNG.standard_normal((2, 3, 24))
    idx, vecs, cos = nearest_minimal_vector(x, return_vectors=True, return_cosines=True)
    assert idx.shape == (2, 3) and vecs.shape == (2, 3, 24) and cos.shape == (2, 3)
    assert np.allclose((vecs**2).sum(axis=-1), 4.0)
    assert np.array_equal(vecs, index_to_vector(idx))
    expect = (x * vecs).sum(axis=-1) / (np.linalg.norm(x, axis=-1) * 2.0)
    assert np.allclose(cos, expect)
    only_cos = nearest_minimal_vector(x * 1e300, return_cosines=True)
    assert len(only_cos) == 2 and np.allclose(only_cos[1], expect)
    z = nearest_minimal_vector(np.zeros(8), "e8", return_cosines=True)
    assert z[0] == 0 and z[1] == 0.0
    single = nearest_minimal_vector(x[0, 0])
    assert single.shape == () and single == idx[0, 0]
    _, v8 = nearest_minimal_vector(np.ones(8), "e8", return_vectors=True)
    assert np.array_equal(v8, np.full(8, 0.5)) and np.allclose((v8**2).sum(), 2.0)


def test_empty_and_bad_input():
    assert nearest_minimal_vector(np.zeros((0, 24))).shape == (0,)
    idx, vecs, cos = nearest_minimal_vector(np.zeros((0, 8)), "e8", return_vectors=True, return_cosines=True)
    assert idx.shape == (0,) and vecs.shape == (0, 8) and cos.shape == (0,)
    bad = np.ones(24)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nearest_minimal_vector(bad)
    bad[3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        nearest_minimal_vector(bad)
    with pytest.raises(ValueError, match="last dimension"):
        nearest_minimal_vector(np.ones(8))
    with pytest.raises(ValueError, match="last dimension"):
        nearest_minimal_vector(np.ones(24), "e8")
    with pytest.raises(TypeError):
        nearest_minimal_vector(np.ones(24, dtype=complex))
    with pytest.raises(ValueError, match="lattice"):
        nearest_minimal_vector(np.ones(24), "leech24")
    with pytest.raises(ValueError, match="chunk_size"):
        nearest_minimal_vector_bruteforce(np.ones(24), chunk_size=0)


def test_kernels_run_without_jit():
    code = (
        "import numpy as np\n"
        "from leechkit.lattice.quantizers import nearest_minimal_vector as f\n"
        "x = np.array([[1.0] + [0.0] * 23, [0.5, -1.5] + [0.25] * 22])\n"
        "r = np.random.default_rng(0).standard_normal((2, 24))\n"
        "print(f(x).tolist(), f(r).tolist(), f(np.eye(8)[:2], 'e8').tolist())\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    x = np.array([[1.0] + [0.0] * 23, [0.5, -1.5] + [0.25] * 22])
    r = np.random.default_rng(0).standard_normal((2, 24))
    expect = [nearest_minimal_vector(x).tolist(), nearest_minimal_vector(r).tolist()]
    expect.append(nearest_minimal_vector(np.eye(8)[:2], "e8").tolist())
    assert out.stdout.strip() == " ".join(str(e) for e in expect)


@pytest.mark.slow
@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_many_random_and_tied_inputs_slow(lattice):
    n = DIM[lattice]
    x = RNG.standard_normal((20000, n))
    assert np.array_equal(nearest_minimal_vector(x, lattice), nearest_minimal_vector_bruteforce(x, lattice))
    ties = RNG.integers(-3, 4, (20000, n)).astype(np.float64)
    brute = nearest_minimal_vector_bruteforce(ties, lattice)
    assert np.array_equal(nearest_minimal_vector(ties, lattice), brute)


def test_lattice_methods_use_the_structured_search():
    x = RNG.standard_normal((7, 24))
    idx, cos = leech().nearest_minimal_vector(x, return_cosines=True)
    assert np.array_equal(idx, nearest_minimal_vector(x))
    assert np.allclose(cos, nearest_minimal_vector(x, return_cosines=True)[1])
    idx8, v8 = e8().nearest_minimal_vector(x[:, :8], return_vectors=True)
    assert np.array_equal(idx8, nearest_minimal_vector(x[:, :8], "e8"))
    assert np.array_equal(v8, e8().minimal_vectors()[idx8])
    with pytest.raises(ValueError, match="24"):
        leech().nearest_minimal_vector(x[:, :8])
