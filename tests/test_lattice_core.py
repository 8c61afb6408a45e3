"""The exact Lattice class and the standard lattices: invariants, vectors, theta series, points."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leechkit.lattice import Lattice, dn, e8, golay_code, leech, zn
from leechkit.lattice.testing import compare_squared_distances, lattice_points, points_near

A2 = Lattice([[1, -1, 0], [0, 1, -1]], name="A2")


# --- exact invariants ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lat", "det", "even", "unimodular", "min_norm"),
    [
        (e8(), 1, True, True, 2),
        (leech(), 1, True, True, 4),
        (zn(5), 1, False, True, 1),
        (dn(4), 4, True, False, 2),
        (dn(7), 4, True, False, 2),
        (A2, 3, True, False, 2),
    ],
    ids=["E8", "Leech", "Z5", "D4", "D7", "A2"],
)
def test_exact_invariants(lat, det, even, unimodular, min_norm):
    assert lat.det == det and isinstance(lat.det, sympy.Rational)
    assert lat.is_integral
    assert lat.is_even is even
    assert lat.is_unimodular is unimodular
    assert lat.minimal_norm == min_norm and isinstance(lat.minimal_norm, sympy.Rational)


def test_scales_and_generators():
    L = leech()
    assert L.integer_generator.shape == (24, 24)
    assert L.scale_squared == sympy.Rational(1, 8)
    assert np.allclose(L.generator, L.integer_generator / np.sqrt(8))
    gram = L.gram()
    assert all(v.is_integer for v in gram) and all(gram[i, i] % 2 == 0 for i in range(24))
    E = e8()
    assert E.scale_squared == sympy.Rational(1, 4)
    assert E.gram().det() == 1


def test_non_rational_gram_and_generic_scale():
    lat = Lattice([[1, 0], [0, 2]], sympy.sqrt(3))
    assert lat.det == 36 and lat.minimal_norm == 3 and not lat.is_unimodular
    half = Lattice([[1, 1], [1, -1]], 0.5)
    assert half.scale_squared == sympy.Rational(1, 4) and half.det == sympy.Rational(1, 4)
    assert not half.is_integral


def test_constructor_rejects_bad_bases():
    with pytest.raises(ValueError, match="linearly dependent"):
        Lattice([[1, 2], [2, 4]])
    with pytest.raises(ValueError, match="independent"):
        Lattice([[1], [2]])
    with pytest.raises(TypeError, match="integer matrix"):
        Lattice([[0.5, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="scale"):
        Lattice([[1]], scale=-1)
    with pytest.raises(ValueError, match="scale"):
        Lattice([[1]], scale=sympy.root(2, 4))
    with pytest.raises(ValueError, match="2-D"):
        Lattice([1, 2, 3])
    with pytest.raises(TypeError):
        zn(2.5)
    with pytest.raises(ValueError, match="at least 2"):
        dn(1)


# --- minimal vectors ----------------------------------------------------------------------
def _shape_key(v: np.ndarray) -> tuple:
    return tuple(sorted(np.abs(v).tolist(), reverse=True))


def test_leech_minimal_vectors_shapes_and_count():
    vecs = leech().minimal_vectors(integer=True)
    assert vecs.shape == (196560, 24) and vecs.dtype == np.int8
    assert leech().kissing_number == 196560
    keys = np.sort(np.abs(vecs), axis=1)[:, ::-1]
    counts = {}
    for k, c in zip(*np.unique(keys, axis=0, return_counts=True)):
        counts[tuple(int(t) for t in k[:2]) + (int(k[-1]),)] = int(c)
    assert counts == {(4, 4, 0): 1104, (2, 2, 0): 97152, (3, 1, 1): 98304}
    assert (np.einsum("ij,ij->i", vecs.astype(np.int64), vecs.astype(np.int64)) == 32).all()


def test_leech_minimal_vectors_satisfy_the_congruences_directly():
    """Independent of the basis: x ≡ m·1 + 2c (mod 4) with c in the code, Σx ≡ 4m (mod 8)."""
    vecs = leech().minimal_vectors(integer=True).astype(np.int64)
    m = vecs[:, 0] % 2
    assert ((vecs % 2) == m[:, None]).all()
    c = ((vecs - m[:, None]) % 4) // 2
    assert golay_code().contains(c.astype(np.uint8)).all()
    assert (vecs.sum(axis=1) % 8 == 4 * m).all()


def test_leech_minimal_vectors_distinct_closed_in_lattice():
    L = leech()
    vecs = L.minimal_vectors(integer=True)
    as_set = {v.tobytes() for v in vecs}
    assert len(as_set) == 196560
    assert all((-v).tobytes() in as_set for v in vecs[::97])
    assert L.contains(vecs.astype(np.int64)).all()
    assert L.contains(L.minimal_vectors()[::50]).all()


def test_leech_minimal_vector_order_is_as_documented():
    vecs = leech().minimal_vectors(integer=True)
    assert vecs[0].tolist() == [4, 4] + [0] * 22
    assert vecs[3].tolist() == [-4, -4] + [0] * 22
    octad0 = golay_code().octads()[0]
    assert np.array_equal(vecs[1104], 2 * octad0.astype(np.int8))
    assert vecs[98256].tolist() == [-3] + [1] * 23
    w1 = golay_code().codewords()[1]
    expected = (1 - 2 * w1.astype(np.int8))
    expected[5] = -3 * expected[5]
    assert np.array_equal(vecs[98256 + 24 + 5], expected)


def test_leech_inner_products_take_only_the_allowed_values_sample():
    vecs = leech().minimal_vectors(integer=True).astype(np.float32)
    rng = np.random.default_rng(5)
    sample = np.concatenate([vecs[[0, 1104, 98256]], vecs[rng.integers(0, 196560, 400)]])
    ips = np.unique(sample @ vecs.T) / 8  # standard scale
    assert set(ips.tolist()) <= {-4, -2, -1, 0, 1, 2, 4}


@pytest.mark.slow
def test_leech_inner_products_exhaustive():
    vecs = leech().minimal_vectors(integer=True).astype(np.float32)
    seen: set[float] = set()
    for start in range(0, vecs.shape[0], 8192):
        seen |= set(np.unique(vecs[start : start + 8192] @ vecs.T).tolist())
    assert {v / 8 for v in seen} == {-4, -2, -1, 0, 1, 2, 4}


def test_e8_roots():
    roots = e8().minimal_vectors()
    assert roots.shape == (240, 8) and e8().kissing_number == 240
    integral = np.all(roots == np.round(roots), axis=1)
    assert integral.sum() == 112
    assert (np.abs(roots[integral]).sum(axis=1) == 2).all()
    halves = roots[~integral]
    assert (np.abs(halves) == 0.5).all() and ((halves < 0).sum(axis=1) % 2 == 0).all()
    assert len({r.tobytes() for r in roots}) == 240
    ints = e8().minimal_vectors(integer=True)
    assert np.array_equal(ints[np.lexsort(ints.T[::-1])], ints)  # documented order


@pytest.mark.parametrize(("n", "kissing"), [(2, 4), (3, 12), (4, 24), (5, 40), (8, 112)])
def test_dn_kissing_numbers(n, kissing):
    assert dn(n).kissing_number == kissing == 2 * n * (n - 1)


# --- theta series -------------------------------------------------------------------------
def test_theta_e8():
    assert e8().theta_series(8) == {0: 1, 2: 240, 4: 2160, 6: 6720, 8: 17520}


def test_theta_leech_to_norm_6():
    assert leech().theta_series(6) == {0: 1, 2: 0, 4: 196560, 6: 16773120}


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_theta_zn_matches_brute_force(n):
    theta = zn(n).theta_series(9)
    box = np.array(list(itertools.product(range(-3, 4), repeat=n)))
    norms = (box**2).sum(axis=1)
    assert theta == {k: int((norms == k).sum()) for k in range(10)}


def test_theta_d4_and_a2():
    assert dn(4).theta_series(8) == {0: 1, 2: 24, 4: 24, 6: 96, 8: 24}
    assert A2.theta_series(8) == {0: 1, 2: 6, 4: 0, 6: 6, 8: 6}


def test_theta_rejects_negative():
    with pytest.raises(ValueError, match="max_norm"):
        e8().theta_series(-1)


# --- membership ---------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["E8", "Leech", "D5", "A2"]), st.data())
def test_contains_sums_and_differences(name, data):
    lat = {"E8": e8(), "Leech": leech(), "D5": dn(5), "A2": A2}[name]
    a = data.draw(lattice_points(lat))
    b = data.draw(lattice_points(lat))
    assert lat.contains(np.stack([a + b, a - b, -a])).all()
    ai = data.draw(lattice_points(lat, integer=True))
    assert lat.contains(ai)
    assert not lat.contains(ai + np.eye(lat.dim, dtype=np.int64)[0])


def test_contains_rejects_perturbations_and_bad_input():
    rng = np.random.default_rng(6)
    for lat in (e8(), leech(), dn(6), A2):
        pts = (rng.integers(-5, 6, (50, lat.rank)) @ lat.integer_generator) * lat.scale
        assert lat.contains(pts).all()
        assert not lat.contains(pts + rng.normal(scale=1e-3, size=pts.shape)).any()
    assert not e8().contains(np.array([1, 0, 0, 0, 0, 0, 0, 0]))  # integer input: odd sum
    assert e8().contains(np.array([1, 1, 0, 0, 0, 0, 0, 0]) * 2)  # doubled units: (1,1,0,…)
    assert e8().contains(np.zeros((2, 3, 8))).shape == (2, 3)
    with pytest.raises(ValueError, match="last dimension 8"):
        e8().contains(np.zeros(7))
    with pytest.raises(ValueError, match="NaN"):
        e8().contains(np.full(8, np.nan))
    with pytest.raises(TypeError, match="dtype"):
        e8().contains(np.array(["a"] * 8))


# --- closest point ------------------------------------------------------------------------
def _exact_sq_dist(x: np.ndarray, v: np.ndarray, scale: Fraction) -> Fraction:
    return sum(((Fraction(float(a)) - scale * int(b)) ** 2 for a, b in zip(x, v)), Fraction(0))


def _brute_force_closest(lat: Lattice, x: np.ndarray, radius: int = 3) -> np.ndarray:
    """Search a coefficient box around the rounded coordinates, in exact arithmetic."""
    red = lat._reduced
    t = np.rint((x / lat.scale) @ np.linalg.pinv(red.astype(float))).astype(np.int64)
    box = np.array(list(itertools.product(range(-radius, radius + 1), repeat=lat.rank)))
    cands = (t + box) @ red
    scale = Fraction(str(lat.exact_scale))
    return min(cands, key=lambda v: _exact_sq_dist(x, v, scale))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["Z2", "A2", "D4"]), hnp.arrays(np.float64, 4, elements=st.floats(-50, 50)))
def test_closest_point_matches_brute_force(name, raw):
    lat = {"Z2": zn(2), "A2": A2, "D4": dn(4)}[name]
    x = raw[: lat.dim]
    got = lat.closest_point(x, integer=True)
    ref = _brute_force_closest(lat, x)
    assert compare_squared_distances(lat, x, got, ref) <= 0
    assert compare_squared_distances(lat, x, ref, got) <= 0


def _e8_by_d8_cosets(x: np.ndarray) -> list[Fraction]:
    """SPLAG ch. 20: the nearer of the nearest points of D8 and D8 + ½ (exact arithmetic)."""

    def nearest_d8(y: list[Fraction]) -> list[Fraction]:
        f = [Fraction(round(v)) for v in y]
        if sum(f) % 2:
            k = max(range(8), key=lambda i: abs(y[i] - f[i]))
            f[k] += 1 if y[k] > f[k] else -1
        return f

    xs = [Fraction(float(v)) for v in x]
    half = Fraction(1, 2)
    a = nearest_d8(xs)
    b = [v + half for v in nearest_d8([v - half for v in xs])]
    da = sum((u - v) ** 2 for u, v in zip(xs, a))
    db = sum((u - v) ** 2 for u, v in zip(xs, b))
    return a if da <= db else b


@settings(max_examples=100, deadline=None)
@given(points_near(e8(), radius=1.5))
def test_closest_point_e8_matches_d8_coset_method(x):
    got = e8().closest_point(x, integer=True)
    ref = np.array([int(2 * v) for v in _e8_by_d8_cosets(x)])
    assert compare_squared_distances(e8(), x, got, ref) == 0


def test_closest_point_projects_onto_span_and_handles_batches():
    x = np.array([[0.2, 0.9, 5.0], [10.0, 10.0, 10.0]])  # A2 lives in Σx = 0
    got = A2.closest_point(x)
    assert A2.contains(got).all() and np.allclose(got.sum(axis=1), 0)
    assert np.array_equal(A2.closest_point(np.zeros((0, 3))).shape, (0, 3))
    assert e8().closest_point(np.zeros((2, 5, 8))).shape == (2, 5, 8)
    with pytest.raises(ValueError, match="infinite"):
        e8().closest_point(np.full(8, np.inf))


def test_closest_point_leech_is_within_covering_radius_and_in_lattice():
    L = leech()
    x = np.random.default_rng(7).normal(scale=4, size=(60, 24))
    cp = L.closest_point(x)
    assert L.contains(cp).all()
    assert (((x - cp) ** 2).sum(axis=1) <= 2 + 1e-9).all()
    assert np.array_equal(L.closest_point(L.minimal_vectors()[:20]), L.minimal_vectors()[:20])
