"""The torch tensor quantizer against the library's NumPy one (same codes, scales and values)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leechkit.lattice import QuantizedTensor
from leechkit.lattice import quantize_tensor as numpy_quantize
from leechkit.models import dequantize_tensor, quantize_tensor

RNG = np.random.default_rng(3)


@pytest.mark.parametrize(
    ("lattice", "bits", "block_scale", "group_size", "shape"),
    [
        ("leech", 2, "per-row", None, (3, 50)),
        ("leech", 3, "per-block", 48, (2, 100)),
        ("e8", 2, "per-row", None, (4, 20)),
        ("e8", 4, "per-block", 16, (5, 3, 7)),
        ("scalar", 3, "per-row", None, (6,)),
        ("scalar", 8, "per-block", 5, (2, 11)),
    ],
)
def test_same_codes_scales_and_values_as_the_numpy_quantizer(lattice, bits, block_scale, group_size, shape):
    w = RNG.standard_normal(shape) * 0.05
    w.reshape(-1)[:3] = [0.4, -0.5, 0.0]  # a few large entries overload some blocks
    want = numpy_quantize(w, lattice, bits, block_scale, group_size)
    got = quantize_tensor(torch.as_tensor(w), lattice, bits, block_scale, group_size)
    assert isinstance(got, QuantizedTensor)
    assert np.array_equal(got.codes, want.codes) and np.array_equal(got.scales, want.scales)
    assert (got.shape, got.group_size, got.bits, got.lattice) == (want.shape, want.group_size, bits, lattice)
    back = dequantize_tensor(got)
    assert back.shape == shape and torch.equal(back, torch.as_tensor(want.dequantize()))


def test_zero_rows_and_float32_input():
    w = torch.zeros(2, 24)
    w[1, :5] = torch.tensor([1.0, -2.0, 0.5, 0.25, 3.0])
    got = quantize_tensor(w, "leech", 2)
    want = numpy_quantize(w.numpy(), "leech", 2)
    assert np.array_equal(got.codes, want.codes) and np.array_equal(got.scales, want.scales)


def test_bad_input_raises_clear_errors():
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        quantize_tensor(np.zeros(8))
    with pytest.raises(TypeError, match="real"):
        quantize_tensor(torch.zeros(8, dtype=torch.bool))
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantize_tensor(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="bits"):
        quantize_tensor(torch.zeros(24), bits=1)
    with pytest.raises(ValueError, match="lattice"):
        quantize_tensor(torch.zeros(24), lattice="d4")
    with pytest.raises(ValueError, match="group_size"):
        quantize_tensor(torch.zeros(2, 24), block_scale="per-block", group_size=30)
    with pytest.raises(ValueError, match="one element"):
        quantize_tensor(torch.zeros(0))
    with pytest.raises(TypeError, match="QuantizedTensor"):
        dequantize_tensor(torch.zeros(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_cuda_matches_the_numpy_quantizer(lattice):
    w = RNG.standard_normal((64, 96)) * 0.02
    got = quantize_tensor(torch.as_tensor(w, device="cuda"), lattice, 3)
    want = numpy_quantize(w, lattice, 3)
    assert np.array_equal(got.codes, want.codes) and np.array_equal(got.scales, want.scales)
    back = dequantize_tensor(got, "cuda")
    assert back.device.type == "cuda" and torch.equal(back.cpu(), torch.as_tensor(want.dequantize()))


def test_digits_unpack_the_code_stream():
    q = numpy_quantize(RNG.standard_normal((3, 40)), "e8", 3)
    digits = q.digits()
    assert digits.shape == (3 * q.group_size,) and digits.min() >= 0 and digits.max() < 8
    repacked = np.packbits(((digits[:, None] >> np.arange(2, -1, -1)) & 1).astype(np.uint8).reshape(-1))
    assert np.array_equal(repacked, q.codes)
