"""Tests of the fast Leech decoder against the brute-force reference and the sphere decoder.

Distances are compared exactly with :func:`compare_squared_distances`. The fast decoder is exact
(float64 near-ties are certified and sent to the exact sphere decoder), so it must return a
point exactly as near as :meth:`Lattice.closest_point`'s, and never a farther one than the
float64 brute-force reference, which may err on near-ties (points rounded from an exact tie,
deep holes) but must agree exactly on generic points.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leechkit.lattice.decoders.leech import decode_leech, decode_leech_integer
from leechkit.lattice.decoders.leech_reference import decode_leech_bruteforce
from leechkit.lattice.lattices.leech import leech, leech_minimal_vectors_integer
from leechkit.lattice.testing import compare_squared_distances, lattice_points, points_near

SQRT8 = math.sqrt(8.0)
LEECH = leech()


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _assert_not_farther(x: np.ndarray, p: np.ndarray, q: np.ndarray) -> None:
    """Exactly: ‖x − p/√8‖ ≤ ‖x − q/√8‖ for every row (p from the fast decoder)."""
    signs = compare_squared_distances(LEECH, x, p, q)
    assert (signs <= 0).all(), np.flatnonzero(signs > 0)


def _assert_same_distance(x: np.ndarray, p: np.ndarray, q: np.ndarray) -> None:
    """Exactly equally near (a tie or the same point)."""
    signs = compare_squared_distances(LEECH, x, p, q)
    assert (signs == 0).all(), np.flatnonzero(signs != 0)


def _sqdist(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    return ((x - p / SQRT8) ** 2).sum(axis=-1)


def _random_lattice_points(rng: np.random.Generator, n: int, coeff: int = 3) -> np.ndarray:
    u = rng.integers(-coeff, coeff + 1, size=(n, 24))
    return u @ LEECH.integer_generator


# --- agreement with the references ---------------------------------------------------------


@pytest.mark.parametrize("scale", [0.05, 0.5, 1.0, 2.0, 10.0])
def test_agrees_with_bruteforce_gaussian(scale: float) -> None:
    x = _rng(int(scale * 100)).normal(scale=scale, size=(400, 24))
    fast = decode_leech_integer(x)
    ref = decode_leech_bruteforce(x, integer=True)
    _assert_same_distance(x, fast, ref)
    # away from ties the closest point is unique: the very same point
    assert (fast == ref).all()


@pytest.mark.parametrize("magnitude", [1e3, 1e6])
def test_agrees_with_bruteforce_large_magnitudes(magnitude: float) -> None:
    rng = _rng(int(magnitude))
    x = rng.uniform(-magnitude, magnitude, size=(200, 24))
    fast = decode_leech_integer(x)
    _assert_same_distance(x, fast, decode_leech_bruteforce(x, integer=True))


def test_agrees_with_sphere_decoder() -> None:
    x = _rng(7).normal(scale=1.5, size=(150, 24))
    fast = decode_leech_integer(x)
    _assert_same_distance(x, fast, LEECH.closest_point(x, integer=True))


@settings(max_examples=60, deadline=None)
@given(points_near(LEECH, radius=2.0, max_coefficient=5))
def test_hypothesis_points_near(x: np.ndarray) -> None:
    x = x[None, :]
    fast = decode_leech_integer(x)
    _assert_not_farther(x, fast, decode_leech_bruteforce(x, integer=True))
    _assert_same_distance(x, fast, LEECH.closest_point(x, integer=True))


# --- adversarial families -------------------------------------------------------------------


def test_lattice_points_decode_to_themselves() -> None:
    p = np.concatenate([_random_lattice_points(_rng(1), 300), leech_minimal_vectors_integer()[::997]])
    assert (decode_leech_integer(p / SQRT8) == p).all()


@settings(max_examples=60, deadline=None)
@given(lattice_points(LEECH, max_coefficient=20, integer=True))
def test_hypothesis_lattice_points(p: np.ndarray) -> None:
    assert (decode_leech_integer(p / SQRT8) == p).all()


def _exact_tie_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float points exactly equidistant from v = (4, 4, 0²²) and w = (4, 0, 4, 0²¹) (√8 units).

    ‖v‖ = ‖w‖ and x·(v − w) = 4(x₁ − x₂) = 0 whenever x₁ = x₂ exactly, so x is on their
    bisecting hyperplane with no rounding; x = α(v + w) + dyadic noise with equal noise on
    coordinates 1 and 2. Their midpoint is at distance 1 from both and √3 from 0.
    """
    v = np.zeros(24, dtype=np.int64)
    v[[0, 1]] = 4
    w = np.zeros(24, dtype=np.int64)
    w[[0, 2]] = 4
    alpha = np.round(rng.uniform(0.16, 0.19, size=(n, 1)) * 2**20) / 2**20
    noise = rng.integers(-40, 41, size=(n, 24)) / 2**9
    noise[:, 2] = noise[:, 1]
    x = alpha * (v + w) + noise
    assert (x[:, 1] == x[:, 2]).all()
    return x, np.broadcast_to(v, x.shape), np.broadcast_to(w, x.shape)


def test_exact_ties_on_bisecting_hyperplane() -> None:
    x, v, w = _exact_tie_points(_rng(2), 100)
    _assert_same_distance(x, v, w)  # the construction: exact ties
    fast = decode_leech_integer(x)
    _assert_same_distance(x, fast, LEECH.closest_point(x, integer=True))
    _assert_not_farther(x, fast, decode_leech_bruteforce(x, integer=True))
    at_tie = (fast == v).all(axis=1) | (fast == w).all(axis=1)
    assert at_tie.mean() > 0.5  # most of these points decode to v or w themselves


def test_tie_rule_is_deterministic() -> None:
    x, _, _ = _exact_tie_points(_rng(3), 40)
    a = decode_leech_integer(x)
    b = decode_leech_integer(x[::-1])[::-1]  # other lanes, other blocks
    assert (a == b).all()


def test_rounded_midpoints_are_near_ties() -> None:
    """Midpoints of two lattice points, rounded to float64: decided exactly all the same."""
    rng = _rng(4)
    p = _random_lattice_points(rng, 60)
    mins = leech_minimal_vectors_integer()
    q = p + mins[rng.integers(0, mins.shape[0], size=60)]
    x = (p + q) / (2 * SQRT8)
    fast = decode_leech_integer(x)
    _assert_same_distance(x, fast, LEECH.closest_point(x, integer=True))
    _assert_not_farther(x, fast, decode_leech_bruteforce(x, integer=True))
    # the distance to the midpoint is half a minimal vector: exactly 1
    np.testing.assert_allclose(_sqdist(x, fast), 1.0, atol=1e-12)


def test_deep_holes_at_covering_radius() -> None:
    """(4, 0²³)/√8 and its images under lattice translations are deep holes: distance √2."""
    rng = _rng(5)
    hole = np.zeros(24)
    hole[0] = 4.0
    perms = np.array([rng.permutation(24) for _ in range(50)])
    holes = hole[perms] + _random_lattice_points(rng, 50)
    x = holes / SQRT8
    fast = decode_leech_integer(x)
    np.testing.assert_allclose(_sqdist(x, fast), 2.0, atol=1e-12)
    _assert_same_distance(x, fast, LEECH.closest_point(x, integer=True))
    _assert_not_farther(x, fast, decode_leech_bruteforce(x, integer=True))


def test_tiny_magnitudes_decode_to_zero() -> None:
    x = _rng(6).normal(scale=1e-12, size=(50, 24))
    assert (decode_leech_integer(x) == 0).all()
    assert (decode_leech_integer(np.zeros((3, 24))) == 0).all()


def test_float32_input() -> None:
    x = _rng(8).normal(scale=2.0, size=(300, 24)).astype(np.float32)
    fast = decode_leech_integer(x)
    assert (fast == decode_leech_integer(x.astype(np.float64))).all()
    _assert_same_distance(x.astype(np.float64), fast, decode_leech_bruteforce(x, integer=True))


def test_integer_input() -> None:
    x = _rng(9).integers(-5, 6, size=(100, 24))
    fast = decode_leech_integer(x)
    _assert_same_distance(x.astype(np.float64), fast, LEECH.closest_point(x, integer=True))
    _assert_not_farther(x.astype(np.float64), fast, decode_leech_bruteforce(x, integer=True))


# --- invariants ------------------------------------------------------------------------------


def test_translation_by_lattice_vectors() -> None:
    rng = _rng(10)
    x = rng.normal(size=(500, 24))
    v = _random_lattice_points(rng, 500)
    assert (decode_leech_integer(x + v / SQRT8) == decode_leech_integer(x) + v).all()


def test_odd_symmetry() -> None:
    x = _rng(11).normal(scale=1.3, size=(500, 24))
    assert (decode_leech_integer(-x) == -decode_leech_integer(x)).all()


def test_output_in_lattice_and_within_covering_radius() -> None:
    x = _rng(12).normal(scale=3.0, size=(2000, 24))
    p = decode_leech_integer(x)
    assert LEECH.contains(p).all()
    assert (_sqdist(x, p) <= 2.0 + 1e-12).all()
    np.testing.assert_allclose(decode_leech(x), p / SQRT8, rtol=0, atol=0)


# --- the public API --------------------------------------------------------------------------


def test_shapes_and_empty_batches() -> None:
    x = _rng(13).normal(size=(2, 3, 24))
    out = decode_leech(x)
    assert out.shape == (2, 3, 24) and out.dtype == np.float64
    assert decode_leech_integer(x).dtype == np.int64
    assert decode_leech(x[0, 0]).shape == (24,)
    assert decode_leech(np.zeros((0, 24))).shape == (0, 24)
    assert decode_leech_integer(np.zeros((0, 5, 24))).shape == (0, 5, 24)


def test_chunked_decoding_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    import leechkit.lattice.decoders.leech as mod

    x = _rng(14).normal(size=(1000, 24))
    whole = decode_leech_integer(x)
    monkeypatch.setattr(mod, "CHUNK", 77)
    assert (decode_leech_integer(x) == whole).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_rejected(bad: float) -> None:
    x = np.zeros((3, 24))
    x[1, 5] = bad
    with pytest.raises(ValueError):
        decode_leech(x)


@pytest.mark.parametrize("shape", [(23,), (4, 25), ()])
def test_wrong_shape_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        decode_leech(np.zeros(shape))


def test_bad_dtype_and_magnitude_rejected() -> None:
    with pytest.raises(TypeError):
        decode_leech(np.zeros((2, 24), dtype=bool))
    with pytest.raises(ValueError):
        decode_leech(np.full((1, 24), 2.0**51))


def test_kernel_runs_without_jit() -> None:
    """The kernels are plain Python under NUMBA_DISABLE_JIT=1 and give the same points."""
    x = _rng(15).normal(scale=1.5, size=(5, 24))
    expected = decode_leech_integer(x)
    code = (
        "import sys, numpy as np\n"
        "from leechkit.lattice.decoders._leech_kernels import decode_batch\n"
        "x = np.array(eval(sys.stdin.read()))\n"
        "out = np.zeros(x.shape, dtype=np.int64)\n"
        "unsure = np.zeros(x.shape[0], dtype=np.bool_)\n"
        "decode_batch(x, out, unsure)\n"
        "assert not unsure.any()\n"
        "print(out.tolist())\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    args = [sys.executable, "-c", code]
    res = subprocess.run(args, input=repr(x.tolist()), capture_output=True, text=True, env=env, check=True)
    assert (np.array(eval(res.stdout)) == expected).all()


# --- thorough checks ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scale", [0.3, 1.0, 1.7, 4.0])
def test_many_points_against_bruteforce(scale: float) -> None:
    x = _rng(100 + int(10 * scale)).normal(scale=scale, size=(5000, 24))
    _assert_same_distance(x, decode_leech_integer(x), decode_leech_bruteforce(x, integer=True))


@pytest.mark.slow
def test_many_points_against_sphere_decoder() -> None:
    x = _rng(200).normal(scale=1.0, size=(600, 24))
    _assert_same_distance(x, decode_leech_integer(x), LEECH.closest_point(x, integer=True))


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(points_near(LEECH, radius=3.0, max_coefficient=30), st.sampled_from([1.0, -1.0]))
def test_hypothesis_many_points(x: np.ndarray, sign: float) -> None:
    x = sign * x[None, :]
    fast = decode_leech_integer(x)
    _assert_not_farther(x, fast, decode_leech_bruteforce(x, integer=True))
    _assert_same_distance(x, fast, LEECH.closest_point(x, integer=True))
