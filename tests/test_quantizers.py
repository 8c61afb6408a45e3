"""Voronoi codes and tensor quantization."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leechkit.lattice import dn, e8, leech, zn
from leechkit.lattice.quantizers.tensor import quantize_tensor
from leechkit.lattice.quantizers.voronoi import VoronoiCode

RNG = np.random.default_rng(11)


@pytest.mark.parametrize(
    ("lat", "k", "n_msgs"),
    [
        (zn(1), 3, None),
        (zn(3), 2, None),
        (dn(4), 2, None),
        (e8(), 2, 3000),
        (e8(), 5, 3000),
        (leech(), 2, 300),
    ],
    ids=["Z1-3", "Z3-2", "D4-2", "E8-2", "E8-5", "Leech-2"],
)
@pytest.mark.parametrize("centered", [True, False])
def test_round_trip_is_exact_for_every_message(lat, k, n_msgs, centered):
    code = VoronoiCode(lat, k, scale=0.7, centered=centered)
    q = 1 << k
    if n_msgs is None:  # all messages
        grids = np.meshgrid(*[np.arange(q)] * lat.dim, indexing="ij")
        msgs = np.stack([g.ravel() for g in grids], axis=1)
    else:
        msgs = RNG.integers(0, q, (n_msgs, lat.dim))
    points = code.decode(msgs)
    assert np.array_equal(code.encode(points), msgs)
    # The codewords are points of the coset Λ + t, scaled.
    assert lat.contains(points / 0.7 - code.shift).all()
    # Distinct messages give distinct codewords.
    assert len({p.tobytes() for p in np.round(points, 9)}) == len({m.tobytes() for m in msgs})
    assert code.bits == k * lat.dim and code.size == q**lat.dim


def test_full_codebook_of_z2_is_a_symmetric_square():
    code = VoronoiCode(zn(2), 2)
    grids = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    pts = code.decode(np.stack([g.ravel() for g in grids], axis=1))
    assert sorted(set(pts[:, 0])) == [-1.5, -0.5, 0.5, 1.5]
    assert np.allclose(pts.mean(axis=0), 0)


def test_points_inside_the_region_are_reproduced_as_their_nearest_lattice_point():
    code = VoronoiCode(e8(), 3, scale=1.0)
    x = RNG.normal(scale=0.8, size=(500, 8))
    expected = e8().decode(x - code.shift) + code.shift
    inside = np.abs(expected).max(axis=1) < 2.5  # well inside 8·V(E8)
    assert inside.sum() > 400
    assert np.allclose(code.quantize(x)[inside], expected[inside])


def test_overload_shrink_clips_the_scalar_code_and_wrap_wraps():
    code = VoronoiCode(zn(1), 2)
    x = np.array([[-9.0], [-1.2], [0.6], [1.4], [7.5]])
    assert code.quantize(x).ravel().tolist() == [-1.5, -1.5, 0.5, 1.5, 1.5]
    wrapped = code.decode(code.encode(np.array([[2.6]]), overload="wrap"))
    assert wrapped.item() == -1.5  # 2.5 wraps by 4 steps


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, (3, 8), elements=st.floats(-1e3, 1e3)), st.integers(1, 6))
def test_encode_always_gives_valid_messages(x, k):
    code = VoronoiCode(e8(), k, scale=0.5)
    m = code.encode(x)
    assert m.shape == (3, 8) and m.max() < (1 << k)
    assert np.array_equal(code.encode(code.decode(m)), m)


def test_pack_unpack_round_trip():
    code = VoronoiCode(e8(), 3)
    m = RNG.integers(0, 8, (5, 2, 8))
    packed = code.pack(m)
    assert packed.shape == (5, 2, 3) and packed.dtype == np.uint8
    assert np.array_equal(code.unpack(packed), m)


def test_voronoi_bad_input():
    with pytest.raises(ValueError, match="full-rank"):
        from leechkit.lattice import Lattice

        VoronoiCode(Lattice([[1, -1, 0], [0, 1, -1]]), 2)
    with pytest.raises(ValueError, match=r"\[1, 16\]"):
        VoronoiCode(e8(), 0)
    with pytest.raises(ValueError, match="scale"):
        VoronoiCode(e8(), 2, scale=-1.0)
    code = VoronoiCode(e8(), 2)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        code.decode(np.full(8, 4))
    with pytest.raises(TypeError, match="integer"):
        code.decode(np.zeros(8))
    with pytest.raises(ValueError, match="last dimension 8"):
        code.encode(np.zeros(7))
    with pytest.raises(ValueError, match="NaN"):
        code.encode(np.full(8, np.nan))
    with pytest.raises(ValueError, match="overload"):
        code.encode(np.zeros(8), overload="clip")


# --- tensors --------------------------------------------------------------------------------
@pytest.mark.parametrize("lattice", ["scalar", "e8", "leech"])
@pytest.mark.parametrize("block_scale", ["per-row", "per-block"])
def test_quantize_tensor_keeps_every_element_and_reports_bits(lattice, block_scale):
    w = RNG.normal(size=(5, 7, 11))  # rows of 77: not a multiple of 8 or 24
    qt = quantize_tensor(w, lattice=lattice, bits=3, block_scale=block_scale)
    d = qt.dequantize()
    assert d.shape == w.shape
    stored_bits = qt.codes.size * 8 + qt.scales.size * 16
    assert qt.bits_per_weight == pytest.approx(stored_bits / w.size)
    assert qt.bits_per_weight >= 3
    assert np.mean((d - w) ** 2) < 0.1


def test_quantize_tensor_is_deterministic_and_follows_rate():
    w = RNG.normal(size=(8, 96))
    errs = []
    for bits in (2, 3, 4):
        qt = quantize_tensor(w, lattice="e8", bits=bits)
        assert np.array_equal(qt.dequantize(), quantize_tensor(w, lattice="e8", bits=bits).dequantize())
        errs.append(np.mean((qt.dequantize() - w) ** 2))
    assert errs[0] > errs[1] > errs[2]
    scalar2 = np.mean((quantize_tensor(w, lattice="scalar", bits=2).dequantize() - w) ** 2)
    assert scalar2 == pytest.approx(0.1188, rel=0.2)  # the best 4-level uniform quantizer of N(0,1)


def test_quantize_tensor_handles_vectors_constants_and_zeros():
    v = np.arange(10, dtype=np.float32)
    assert quantize_tensor(v, "scalar", 8).dequantize() == pytest.approx(v, abs=0.05)
    z = np.zeros((3, 24))
    assert np.abs(quantize_tensor(z, "e8", 2).dequantize()).max() < 1e-4  # smallest float16 steps


def test_quantize_tensor_bad_input():
    w = np.ones((4, 8))
    with pytest.raises(ValueError, match="lattice"):
        quantize_tensor(w, lattice="d4")
    with pytest.raises(ValueError, match="bits"):
        quantize_tensor(w, bits=1)
    with pytest.raises(ValueError, match="block_scale"):
        quantize_tensor(w, block_scale="per-tensor")
    with pytest.raises(ValueError, match="multiple of 8"):
        quantize_tensor(w, lattice="e8", block_scale="per-block", group_size=12)
    with pytest.raises(ValueError, match="NaN"):
        quantize_tensor(np.full((2, 2), np.inf))
    with pytest.raises(ValueError, match="one element"):
        quantize_tensor(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="real"):
        quantize_tensor(np.array(["a"]))
