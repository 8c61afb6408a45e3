"""The torch nearest-minimal-vector search against the exact Numba search.

The device algorithm (``_device_search``) runs on any torch device, so these tests run it on
CPU tensors and compare with :func:`leechkit.lattice.quantizers.nearest_minimal_vector` on
the same float64 values: indices must be identical (same order, same tie rule). The GPU run of
the same comparison is in ``benchmarks/bench_gpu.py`` and the CUDA test below.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leechkit.lattice.quantizers import index_to_vector
from leechkit.lattice.quantizers import nearest_minimal_vector as numba_search
from leechkit.models import lattice_ops as ops
from leechkit.models.lattice_ops import nearest_minimal_vector

DIMS = {"leech": 24, "e8": 8}
RNG = np.random.default_rng(7)


def device_search(x: np.ndarray, lattice: str, device: str = "cpu") -> np.ndarray:
    rows = torch.as_tensor(x, device=device).reshape(-1, DIMS[lattice])
    return ops._device_search(rows, lattice, 256).cpu().numpy()


def test_tables_are_cosets_of_the_column_complements():
    t = ops._leech_tables()
    words = t["word_index"]
    even = words[:, [m for m in range(64) if bin(m).count("1") % 2 == 0]]
    assert (even >= 0).all() and np.array_equal(np.sort(even.ravel()), np.arange(4096))
    assert (words[:, [m for m in range(64) if bin(m).count("1") % 2]] == -1).all()


@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_random_inputs_match_the_numba_search(lattice):
    n = DIMS[lattice]
    gauss = RNG.standard_normal((1500, n))
    cases = [
        gauss,
        gauss.astype(np.float32).astype(np.float64),
        RNG.integers(-2, 3, (1500, n)).astype(np.float64),  # many exact ties
        np.where(RNG.random((1500, n)) < 0.15, gauss, 0.0),  # sparse
        gauss[:300] * 1e-300,
        gauss[:300] * 1e300,
        np.zeros((3, n)),
    ]
    for x in cases:
        assert np.array_equal(device_search(x, lattice), numba_search(x, lattice))


@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_minimal_vectors_and_their_sums(lattice):
    count = 196560 if lattice == "leech" else 240
    i, j = RNG.integers(0, count, (2, 400))
    v = index_to_vector(i, lattice).astype(np.float64)
    assert np.array_equal(device_search(v, lattice), i)  # a minimal vector finds itself
    s = v + index_to_vector(j, lattice)
    assert np.array_equal(device_search(s, lattice), numba_search(s, lattice))


@pytest.mark.parametrize("lattice", ["leech", "e8"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_property_matches_the_numba_search(lattice, data):
    values = st.one_of(
        st.sampled_from([0.0, 0.5, -0.5, 1.0, -1.0, 3.0]),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=True),
    )
    x = data.draw(hnp.arrays(np.float64, (4, DIMS[lattice]), elements=values))
    assert np.array_equal(device_search(x, lattice), numba_search(x, lattice))


def test_public_function_on_cpu_tensors():
    x = torch.randn(2, 3, 24, dtype=torch.float32, requires_grad=True)
    idx, vecs, cos = nearest_minimal_vector(x, return_vectors=True, return_cosines=True)
    assert idx.shape == (2, 3) and idx.dtype == torch.int64 and vecs.dtype == torch.float32
    assert np.array_equal(idx.numpy(), numba_search(x.detach().double().numpy()))
    expect = (x.detach() * vecs).sum(-1) / (x.detach().norm(dim=-1) * 2.0)
    torch.testing.assert_close(cos, expect)
    i8, c8 = nearest_minimal_vector(torch.zeros(8), "e8", return_cosines=True)
    assert i8.item() == 0 and c8.item() == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="last dimension 24"):
        nearest_minimal_vector(torch.zeros(3, 8))
    with pytest.raises(TypeError, match="floating-point"):
        nearest_minimal_vector(torch.zeros(3, 24, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN or infinite"):
        nearest_minimal_vector(torch.full((1, 24), float("nan")))
    with pytest.raises(ValueError, match="lattice"):
        nearest_minimal_vector(torch.zeros(8), "d8")
    with pytest.raises(ValueError, match="chunk_size"):
        nearest_minimal_vector(torch.zeros(24), chunk_size=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_cuda_matches_the_numba_search(lattice):
    n = DIMS[lattice]
    x = np.concatenate([RNG.standard_normal((100_000, n)), RNG.integers(-2, 3, (5000, n))]).astype(np.float64)
    got = nearest_minimal_vector(torch.as_tensor(x, device="cuda"), lattice)
    assert got.device.type == "cuda"
    assert np.array_equal(got.cpu().numpy(), numba_search(x, lattice))
