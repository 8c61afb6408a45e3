"""Invariants of the fast decoders of Zⁿ, Dₙ, E8 and Leech, and their quantizer quality.

* translation: ``decode(x + v) = decode(x) + v`` for lattice vectors ``v``;
* symmetry: ``decode(−x) = −decode(x)`` away from ties;
* the output is in the lattice and within the covering radius of ``x`` (Zⁿ: √n/2;
  Dₙ: max(1, √n/2), from the holes (1, 0ⁿ⁻¹) and (½ⁿ); E8: 1; Leech: √2, SPLAG ch. 2 §1 and
  ch. 4);
* ``return_coords`` gives integer coordinates of the same points; ``quantize(x, s)`` is
  ``s · decode(x / s)``;
* the normalized second moment ``G = E‖x − Q(x)‖² / (n · V^{2/n})``, ``V = √det``, by Monte
  Carlo over ``x = U · generator`` with ``U`` uniform in [0, 1)ⁿ (the fundamental
  parallelepiped, so the error is uniform over the Voronoi cell), matches SPLAG Table 2.3
  within 0.3 %; the sample sizes keep the Monte Carlo standard error below 0.05 %, which the
  test also checks from the sample itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leechkit.lattice import dn, e8, leech, zn

LATTICES = {"Z3": zn(3), "Z8": zn(8), "D4": dn(4), "D5": dn(5), "D8": dn(8), "E8": e8(), "Leech": leech()}
IDS = list(LATTICES)
COVERING_RADIUS_SQ = {"Z3": 0.75, "Z8": 2.0, "D4": 1.0, "D5": 1.25, "D8": 2.0, "E8": 1.0, "Leech": 2.0}


def dyadic_points(rng: np.random.Generator, m: int, n: int, spread: float = 4.0) -> np.ndarray:
    """Random points on the grid 2⁻²⁰Z, so that adding a lattice vector is exact."""
    return np.round(rng.normal(size=(m, n)) * spread * 2.0**20) / 2.0**20


def lattice_vectors(lat, rng: np.random.Generator, m: int) -> np.ndarray:
    coeffs = rng.integers(-5, 6, size=(m, lat.rank))
    return (coeffs @ lat.integer_generator) * lat.scale


def in_lattice(lat, points: np.ndarray) -> bool:
    ints = np.rint(points / lat.scale).astype(np.int64)
    return bool(np.allclose(ints * lat.scale, points, rtol=0, atol=1e-9) and lat.contains(ints).all())


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_translation_invariance(lat):
    rng = np.random.default_rng(20)
    x = dyadic_points(rng, 400, lat.dim)
    v = lattice_vectors(lat, rng, 400)
    got = lat.decode(x + v)
    if lat.name == "Leech":
        # v is a float multiple of 1/√8, so x + v is rounded: compare integer vectors.
        assert np.array_equal(np.rint((got - v) * math.sqrt(8)), np.rint(lat.decode(x) * math.sqrt(8)))
    else:
        assert np.array_equal(got, lat.decode(x) + v)


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_point_symmetry(lat):
    x = np.random.default_rng(21).normal(size=(400, lat.dim)) * 3  # ties have probability 0
    assert np.array_equal(lat.decode(-x), -lat.decode(x))


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_output_in_lattice_within_covering_radius(lat):
    rng = np.random.default_rng(22)
    x = np.concatenate([rng.normal(size=(500, lat.dim)) * 5, rng.integers(-6, 7, (200, lat.dim)) / 2])
    got = lat.decode(x)
    assert in_lattice(lat, got)
    dist_sq = ((x - got) ** 2).sum(axis=1)
    assert dist_sq.max() <= COVERING_RADIUS_SQ[lat.name] * (1 + 1e-12)


@pytest.mark.parametrize("lat", LATTICES.values(), ids=IDS)
def test_return_coords_and_quantize(lat):
    rng = np.random.default_rng(23)
    x = rng.normal(size=(2, 60, lat.dim)) * 3
    points, coords = lat.decode(x, return_coords=True)
    assert coords.dtype == np.int64 and coords.shape == (2, 60, lat.rank)
    assert np.array_equal(points, lat.decode(x))
    assert np.allclose(coords @ lat.generator, points, rtol=0, atol=1e-9)
    for step in (0.37, 2.0, 1e-3):
        assert np.array_equal(lat.quantize(x, step), step * lat.decode(x / step))


@pytest.mark.parametrize("lat", [v for k, v in LATTICES.items() if k != "Leech"], ids=IDS[:-1])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_hypothesis_translation_and_covering(lat, data):
    x = data.draw(hnp.arrays(np.float64, lat.dim, elements=st.floats(-1e3, 1e3, allow_subnormal=True)))
    coeffs = data.draw(hnp.arrays(np.int64, lat.rank, elements=st.integers(-50, 50)))
    v = (coeffs @ lat.integer_generator) * lat.scale
    got = lat.decode(x)
    assert ((x - got) ** 2).sum() <= COVERING_RADIUS_SQ[lat.name] * (1 + 1e-12)
    shifted = lat.decode(x + v)
    # x + v may round; the decoded distance must be the same up to that rounding.
    assert math.isclose(
        ((x + v - shifted) ** 2).sum(), ((x - got) ** 2).sum(), rel_tol=1e-9, abs_tol=1e-9
    )


# --- normalized second moment ------------------------------------------------------------------
NSM = {
    "Z8": (zn(8), 1 / 12, 1_000_000),
    "D4": (dn(4), 0.0766032, 1_000_000),
    "E8": (e8(), 0.0716821, 1_000_000),
    "Leech": (leech(), 0.0657710, 200_000),
}


@pytest.mark.parametrize("name", list(NSM))
def test_normalized_second_moment(name):
    lat, expected, samples = NSM[name]
    rng = np.random.default_rng(24)
    n = lat.dim
    volume = math.sqrt(float(lat.det))
    x = rng.random((samples, n)) @ lat.generator
    err = ((x - lat.decode(x)) ** 2).sum(axis=1) / (n * volume ** (2 / n))
    g = err.mean()
    standard_error = err.std() / math.sqrt(samples)
    assert standard_error / expected < 5e-4  # well below the 0.3 % tolerance
    assert abs(g / expected - 1) < 3e-3, (g, expected, standard_error)
