"""The fast exact decoders of Zⁿ, Dₙ and E8 against two independent references.

* The slow exact sphere decoder ``Lattice.closest_point`` (exact rational tie handling),
  compared through :func:`compare_squared_distances`: the fast decoder's point may never be
  strictly farther (ties may pick another point).
* fpylll's CVP on integer targets: with ``x = t / (K·d)`` for an integer vector ``t`` (``d`` the
  denominator of the scale), the nearest point of ``s·L(B)`` to ``x`` is the nearest point of
  ``K·L(B)`` to ``t``, so the distances compare in integer arithmetic.

Adversarial families: lattice points, midpoints of neighbours (ties), points on bisecting
hyperplanes, deep holes, huge and tiny magnitudes, float32 input; plus the documented tie
rules, return_coords, bad input, and the kernels under ``NUMBA_DISABLE_JIT=1``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leechkit.lattice import dn, e8, zn
from leechkit.lattice.decoders import decode_dn, decode_e8, decode_zn
from leechkit.lattice.testing import compare_squared_distances, points_near

LATTICES = {"Z2": zn(2), "Z5": zn(5), "D4": dn(4), "D5": dn(5), "D8": dn(8), "E8": e8()}
IDS = list(LATTICES)


def integer_points(lat, points: np.ndarray) -> np.ndarray:
    """Integer vectors (units of the scale) of float lattice points, checked exactly."""
    ints = np.rint(np.asarray(points) / lat.scale).astype(np.int64)
    assert np.array_equal(ints * lat.scale, points)
    return ints


def assert_nearest(lat, x: np.ndarray) -> None:
    """``lat.decode(x)`` is a lattice point no farther than the exact reference's, exactly."""
    got = lat.decode(x)
    assert got.shape == np.shape(x) and got.dtype == np.float64
    mine = integer_points(lat, got)
    assert lat.contains(mine).all()
    ref = lat.closest_point(x, integer=True)
    signs = compare_squared_distances(lat, np.asarray(x, dtype=np.float64), mine, ref)
    assert (signs <= 0).all(), np.asarray(x)[signs > 0][:3]


def neighbours(lat, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Random lattice points p and p + v with v a random minimal vector (float64)."""
    coeffs = rng.integers(-6, 7, size=(m, lat.rank))
    p = (coeffs @ lat.integer_generator) * lat.scale
    mins = lat.minimal_vectors()
    return p, p + mins[rng.integers(0, mins.shape[0], size=m)]


# --- against the sphere decoder ------------------------------------------------------------
@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_random_points_match_reference(lat):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=(300, lat.dim)) * 3, rng.uniform(-50, 50, size=(100, lat.dim))])
    assert_nearest(lat, x)


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_hypothesis_points_match_reference(lat, data):
    x = data.draw(points_near(lat, radius=1.5))
    assert_nearest(lat, x[None, :])


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_hypothesis_small_dyadic_points(lat, data):
    # Coordinates on a grid of quarters hit ties and parity boundaries all the time.
    q = data.draw(hnp.arrays(np.int64, lat.dim, elements=st.integers(-12, 12)))
    assert_nearest(lat, (q / 4.0)[None, :])


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_lattice_points_decode_to_themselves(lat):
    rng = np.random.default_rng(2)
    p, _ = neighbours(lat, rng, 200)
    assert np.array_equal(lat.decode(p), p)


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_midpoints_and_bisectors(lat):
    rng = np.random.default_rng(3)
    p, q = neighbours(lat, rng, 200)
    mid = (p + q) / 2
    assert_nearest(lat, mid)
    # Points of the bisecting hyperplane of p and q: mid + t·w with w ⟂ (q − p), plus
    # nudges of a few ulps to either side of it.
    d = q - p
    w = rng.integers(-3, 4, size=d.shape).astype(np.float64)
    w -= (np.einsum("ij,ij->i", w, d) / np.einsum("ij,ij->i", d, d))[:, None] * d
    on_plane = mid + 0.25 * w
    assert_nearest(lat, on_plane)
    assert_nearest(lat, np.nextafter(on_plane, on_plane + d))
    assert_nearest(lat, np.nextafter(on_plane, on_plane - d))


@pytest.mark.parametrize(
    ("lat", "hole"),
    [
        (e8(), [1, 0, 0, 0, 0, 0, 0, 0]),
        (e8(), [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, -0.5]),
        (dn(4), [1, 0, 0, 0]),
        (dn(4), [0.5, 0.5, 0.5, 0.5]),
        (dn(5), [1, 0, 0, 0, 0]),
        (dn(5), [0.5, 0.5, 0.5, 0.5, 0.5]),
        (dn(8), [0.5] * 8),
        (zn(5), [0.5] * 5),
    ],
)
def test_holes(lat, hole):
    rng = np.random.default_rng(4)
    p, _ = neighbours(lat, rng, 100)
    x = p + np.asarray(hole, dtype=np.float64)
    assert_nearest(lat, x)
    assert_nearest(lat, np.nextafter(x, x + rng.normal(size=x.shape)))


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_large_and_tiny_magnitudes(lat):
    rng = np.random.default_rng(5)
    big = rng.uniform(-1e6, 1e6, size=(100, lat.dim))
    assert_nearest(lat, big)
    assert_nearest(lat, np.rint(big) + 0.5)
    choices = np.array([0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-20, -1e-20, 0.25, -0.25, 0.5, -0.5, 0.1])
    tiny = rng.choice(choices, size=(300, lat.dim))
    assert_nearest(lat, tiny)
    assert_nearest(lat, tiny + rng.integers(-2, 3, size=tiny.shape))


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_float32_and_integer_input(lat):
    rng = np.random.default_rng(6)
    x32 = (rng.normal(size=(200, lat.dim)) * 3).astype(np.float32)
    assert np.array_equal(lat.decode(x32), lat.decode(x32.astype(np.float64)))
    assert_nearest(lat, x32.astype(np.float64))
    xi = rng.integers(-5, 6, size=(50, lat.dim))
    assert np.array_equal(lat.decode(xi), lat.decode(xi.astype(np.float64)))


def test_batch_shapes_and_strides():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 4, 5, 16)) * 2
    strided = x[:, ::2, :, ::2]  # (3, 2, 5, 8), not contiguous
    got = decode_e8(strided)
    assert got.shape == strided.shape
    assert np.array_equal(got, decode_e8(np.ascontiguousarray(strided)))
    assert np.array_equal(decode_e8(x[0, 0, 0, :8]), decode_e8(x[0, 0, 0, :8][None])[0])
    for decoder in (decode_zn, decode_dn, decode_e8):
        assert decoder(np.zeros((0, 8))).shape == (0, 8)
        assert decoder(np.zeros((2, 0, 8), dtype=np.float32)).shape == (2, 0, 8)


# --- documented tie rules --------------------------------------------------------------------
def test_tie_rules():
    assert np.array_equal(decode_zn([0.5, 1.5, -0.5, -2.5]), [0.0, 2.0, -0.0, -2.0])
    assert np.array_equal(decode_dn([0.5, 1.5, 0.0, 0.0]), [0.0, 2.0, 0.0, 0.0])  # even sum
    # Odd sum: the first coordinate of largest error moves away from its rounding.
    assert np.array_equal(decode_dn([0.5, 0.5, 0.5, 0.6]), [1.0, 0.0, 0.0, 1.0])
    assert np.array_equal(decode_dn([-0.3, 0.3, 1.0, 0.0]), [-1.0, 0.0, 1.0, 0.0])
    assert np.array_equal(decode_dn([1.0, 0.0, 0.0, 0.0]), [2.0, 0.0, 0.0, 0.0])  # integer: up
    # E8 deep hole (1, 0⁷): its 16 nearest points lie in D8; the rule above gives (2, 0⁷).
    assert np.array_equal(decode_e8([1.0, 0, 0, 0, 0, 0, 0, 0]), [2.0, 0, 0, 0, 0, 0, 0, 0])
    # (¼⁸) is equidistant from 0 and (½⁸): an exact tie between the cosets keeps D8.
    assert np.array_equal(decode_e8(np.full(8, 0.25)), np.zeros(8))
    # D8 + ½ with odd Σ⌊xᵢ⌋: the coordinate nearest an integer (x₇ = 1) moves, down to ½.
    assert np.array_equal(decode_e8([0.4] * 7 + [1.0]), np.full(8, 0.5))


def test_ties_are_deterministic_and_symmetric_away_from_ties():
    rng = np.random.default_rng(8)
    x = rng.integers(-8, 9, size=(2000, 8)) / 2.0
    assert np.array_equal(decode_e8(x), decode_e8(x.copy()))
    y = rng.normal(size=(2000, 8)) * 3
    assert np.array_equal(decode_e8(-y), -decode_e8(y))


# --- fpylll as an independent reference ----------------------------------------------------
@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_against_fpylll(lat):
    fpylll = pytest.importorskip("fpylll")
    k = 64
    basis = fpylll.IntegerMatrix.from_matrix((k * lat.integer_generator).tolist())
    fpylll.LLL.reduction(basis)
    rng = np.random.default_rng(9)
    # Odd targets keep off exact ties, on which fpylll's Babai step can loop forever (ties
    # are covered against the sphere decoder above).
    targets = 2 * rng.integers(-20 * k, 20 * k, size=(300, lat.dim)) + 1
    x = targets * (lat.scale / k)  # so that x / scale = t / k: compare ‖t − k·v‖²
    mine = integer_points(lat, lat.decode(x))
    for t, v in zip(targets, mine):
        ref = np.array(fpylll.CVP.closest_vector(basis, tuple(int(a) for a in t)), dtype=np.int64)
        assert ((t - k * v) ** 2).sum() <= ((t - ref) ** 2).sum()


# --- return_coords and quantize -----------------------------------------------------------
@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_return_coords(lat):
    x = np.random.default_rng(10).normal(size=(4, 25, lat.dim)) * 4
    points, coords = lat.decode(x, return_coords=True)
    assert coords.dtype == np.int64 and coords.shape == (4, 25, lat.rank)
    assert np.array_equal(coords @ lat.integer_generator, integer_points(lat, points))
    assert np.array_equal(points, lat.decode(x))


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("decoder", [decode_zn, decode_dn, decode_e8])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_non_finite_or_huge_rejected(decoder, bad):
    x = np.zeros((5, 8))
    x[3, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        decoder(x)
    with np.errstate(over="ignore"), pytest.raises(ValueError, match="NaN or infinite"):
        decoder(x.astype(np.float32))


def test_bad_shapes_and_types_rejected():
    with pytest.raises(ValueError, match="last dimension 8"):
        decode_e8(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="last dimension 8"):
        decode_e8(1.0)
    with pytest.raises(ValueError, match="n ≥ 2"):
        decode_dn(np.zeros((3, 1)))
    with pytest.raises(TypeError, match="real"):
        decode_e8(np.zeros((3, 8), dtype=complex))
    with pytest.raises(TypeError, match="real"):
        decode_zn(np.zeros((3, 8), dtype=bool))
    with pytest.raises(ValueError, match="last dimension 5"):
        zn(5).decode(np.zeros(4))
    with pytest.raises(ValueError, match="step"):
        e8().quantize(np.zeros(8), 0.0)


# --- the kernels as plain Python -------------------------------------------------------------
def test_kernels_run_without_jit():
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from leechkit.lattice.decoders import decode_dn, decode_e8, decode_zn\n"
        "rng = np.random.default_rng(11)\n"
        "x = np.concatenate([rng.normal(size=(200, 8)) * 3, rng.integers(-4, 5, (100, 8)) / 2])\n"
        "np.save(sys.stdout.buffer, np.stack([decode_zn(x), decode_dn(x), decode_e8(x)]))\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    raw = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout
    plain = np.load(io.BytesIO(raw))
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(size=(200, 8)) * 3, rng.integers(-4, 5, (100, 8)) / 2])
    assert np.array_equal(plain, np.stack([decode_zn(x), decode_dn(x), decode_e8(x)]))


@pytest.mark.slow
@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_many_random_points_match_reference(lat):
    rng = np.random.default_rng(12)
    x = np.concatenate(
        [rng.normal(size=(5000, lat.dim)) * 2, rng.integers(-16, 17, size=(5000, lat.dim)) / 4.0]
    )
    assert_nearest(lat, x)


@pytest.mark.parametrize("decoder", [decode_zn, decode_dn, decode_e8])
def test_decode_into_out_and_in_place(decoder):
    x = np.random.default_rng(13).normal(size=(300, 8)) * 3
    expected = decoder(x)
    out = np.empty_like(x)
    assert decoder(x, out=out) is out and np.array_equal(out, expected)
    y = x.copy()
    decoder(y, out=y)  # in place: every row is read before it is overwritten
    assert np.array_equal(y, expected)
    with pytest.raises(ValueError, match="out must be"):
        decoder(x, out=np.empty((300, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="out must be"):
        decoder(x, out=np.empty((8, 300)).T)
