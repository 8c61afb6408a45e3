"""The quantization layers of ``leechkit.models.quantization``.

* Indices of :class:`SphericalLatticeQuantizer` equal a brute-force nearest search (the
  float64 product with all minimal vectors, ``nearest_minimal_vector_bruteforce``) on random,
  adversarial (exact codewords, ties, sparse, zero) and float32 / bfloat16 / float64 inputs; on
  integer-valued inputs that product is exact, so the tie rule (smallest index) is checked too.
* The forward value is the code bit for bit; the gradient is the straight-through gradient of
  the normalization; ``gradcheck`` (float64) passes on the differentiable parts.
* Bad input raises clear errors; layers save and load through safetensors state dicts.
* The ``vector-quantize-pytorch`` baselines follow the same protocol.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.torch import load_file, save_file
from torch import nn

from leechkit.lattice.quantizers import (
    index_to_vector,
    nearest_minimal_vector,
    nearest_minimal_vector_bruteforce,
)
from leechkit.models import (
    QUANTIZER_NAMES,
    BSQQuantizer,
    Quantizer,
    QuantizerOutput,
    SoftE8Quantizer,
    SphericalLatticeQuantizer,
    codebook_usage,
    make_quantizer,
)

BLOCK = {"leech": 24, "e8": 8}
COUNT = {"leech": 196560, "e8": 240}
RNG = np.random.default_rng(11)


def layer_indices(q: SphericalLatticeQuantizer, x: torch.Tensor) -> np.ndarray:
    """The layer's indices as (rows, blocks)."""
    idx = q(x).indices
    return idx.reshape(-1, q.num_codebooks).numpy()


def reference(x: torch.Tensor, lattice: str) -> np.ndarray:
    """Brute-force indices of the blocks of ``x`` (float64 product with all minimal vectors)."""
    blocks = x.detach().float().double().numpy().reshape(-1, BLOCK[lattice])
    return nearest_minimal_vector_bruteforce(blocks, lattice).reshape(-1, x.shape[-1] // BLOCK[lattice])


def adversarial(lattice: str, rows: int) -> dict[str, np.ndarray]:
    n = BLOCK[lattice]
    eye = np.eye(n)
    ints = RNG.integers(-2, 3, (rows, n)).astype(np.float64)
    codes = index_to_vector(RNG.integers(0, COUNT[lattice], rows), lattice)
    return {
        "unit vectors (ties)": np.concatenate([eye, -eye, eye[:3] + eye[1:4]]),
        "small integers (ties)": ints,
        "exact codewords, scaled": codes * RNG.uniform(0.01, 100, (rows, 1)),
        # integer units: the brute force's products are exact, so its first maximum is the tie rule
        "sums of two codewords (ties)": (
            index_to_vector(RNG.integers(0, COUNT[lattice], rows), lattice, integer=True)
            + index_to_vector(RNG.integers(0, COUNT[lattice], rows), lattice, integer=True)
        ).astype(np.float64),
        "sparse": np.where(RNG.random((rows, n)) < 0.1, RNG.standard_normal((rows, n)), 0.0),
        "zeros": np.zeros((2, n)),
    }


# --- exact agreement with the brute force ---------------------------------------------------
@pytest.mark.parametrize("lattice", ["leech", "e8"])
@pytest.mark.parametrize("blocks", [1, 2])
def test_random_inputs_match_the_brute_force(lattice, blocks):
    q = SphericalLatticeQuantizer(lattice, dim=blocks * BLOCK[lattice])
    x = torch.randn(3, 50, q.dim)
    got = layer_indices(q, x)
    assert got.shape == (150, blocks)
    assert np.array_equal(got, reference(x, lattice))
    assert got.min() >= 0 and got.max() < COUNT[lattice]


@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_adversarial_inputs_match_the_brute_force(lattice):
    q = SphericalLatticeQuantizer(lattice)
    for name, x in adversarial(lattice, 200).items():
        xt = torch.as_tensor(x, dtype=torch.float64)
        assert np.array_equal(layer_indices(q, xt), reference(xt, lattice)), name
    # e_0: the tie rule picks the smallest index among the maxima (integer products are exact).
    e0 = torch.zeros(BLOCK[lattice], dtype=torch.float64)
    e0[0] = 1
    values = index_to_vector(np.arange(COUNT[lattice]), lattice, integer=True)[:, 0]
    assert q(e0).indices.item() == int(np.flatnonzero(values == values.max())[0])
    assert q(torch.zeros(BLOCK[lattice])).indices.item() == 0


@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_codewords_quantize_to_themselves(lattice):
    q = SphericalLatticeQuantizer(lattice, dim=2 * BLOCK[lattice])
    i = torch.as_tensor(RNG.integers(0, COUNT[lattice], (300, 2)))
    out = q(q.indices_to_codes(i))
    assert torch.equal(out.indices, i)
    assert torch.equal(out.quantized, q.indices_to_codes(i))


@pytest.mark.parametrize("lattice", ["leech", "e8"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_dtypes(lattice, dtype):
    q = SphericalLatticeQuantizer(lattice, dim=2 * BLOCK[lattice])
    x = torch.randn(40, q.dim).to(dtype)
    x[0, : BLOCK[lattice]] = 0  # a zero block
    x[1, 0] = 1  # and ties in low precision
    x[1, 1 : BLOCK[lattice]] = 0
    out = q(x)
    assert out.quantized.dtype == dtype and out.quantized.shape == x.shape
    # the search runs on the exact float32 copy of half-precision values
    assert np.array_equal(out.indices.numpy(), reference(x, lattice))
    assert torch.equal(out.quantized, q.indices_to_codes(out.indices, dtype))
    norms = out.quantized.double().reshape(40, 2, -1).norm(dim=-1)
    tol = {torch.bfloat16: 2e-2, torch.float16: 2e-3}.get(dtype, 1e-6)
    torch.testing.assert_close(norms, torch.ones_like(norms), atol=tol, rtol=0)


values = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 0.5, -2.0, 3.0]),
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=32),
)


@pytest.mark.parametrize("lattice", ["leech", "e8"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_property_indices_are_the_exact_nearest(lattice, data):
    x = data.draw(hnp.arrays(np.float32, (3, BLOCK[lattice]), elements=values))
    q = SphericalLatticeQuantizer(lattice)
    got = q(torch.as_tensor(x)).indices.numpy()
    assert np.array_equal(got, nearest_minimal_vector(x.astype(np.float64), lattice))
    # the exact winner's inner product is the brute-force maximum
    vecs = index_to_vector(np.arange(COUNT[lattice]), lattice, integer=True).astype(np.float64)
    dots = x.astype(np.float64) @ vecs.T
    chosen = dots[np.arange(3), got]
    np.testing.assert_allclose(chosen, dots.max(axis=1), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("lattice", ["leech", "e8"])
@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from([torch.float32, torch.bfloat16, torch.float64]),
    blocks=st.integers(1, 3),
    scale=st.floats(0.05, 20.0),
)
def test_property_indices_and_codes_round_trip(lattice, data, dtype, blocks, scale):
    q = SphericalLatticeQuantizer(lattice, dim=blocks * BLOCK[lattice], learned_scale=True, scale=scale)
    shape = (5, blocks) if blocks > 1 else (5,)
    i = torch.as_tensor(data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, COUNT[lattice] - 1))))
    codes = q.indices_to_codes(i, dtype)
    assert codes.dtype == dtype and codes.shape == (5, q.dim)
    assert torch.equal(q.codes_to_indices(codes), i)
    assert torch.equal(q.indices_to_codes(q.codes_to_indices(codes), dtype), codes)


def test_codes_are_the_normalized_minimal_vectors():
    q = SphericalLatticeQuantizer("leech")
    i = torch.arange(0, 196560, 97)
    expect = index_to_vector(i.numpy(), "leech") / 2.0  # norm 4 → unit
    torch.testing.assert_close(
        q.indices_to_codes(i, torch.float64), torch.as_tensor(expect), rtol=0, atol=1e-15
    )
    e8 = SphericalLatticeQuantizer("e8")
    expect8 = index_to_vector(np.arange(240), "e8") / math.sqrt(2)
    torch.testing.assert_close(
        e8.indices_to_codes(torch.arange(240), torch.float64), torch.as_tensor(expect8)
    )


# --- gradients ----------------------------------------------------------------------------
@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_straight_through_gradient(lattice):
    q = SphericalLatticeQuantizer(lattice, dim=2 * BLOCK[lattice], learned_scale=True, scale=1.7)
    x = torch.randn(6, q.dim, dtype=torch.float64, requires_grad=True)
    g = torch.randn(6, q.dim, dtype=torch.float64)
    out = q(x)
    (out.quantized * g).sum().backward()
    # the gradient of s·u(x), u the blockwise normalization
    x2 = x.detach().clone().requires_grad_(True)
    (1.7 * q.normalize(x2).reshape(6, -1) * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    assert x.grad.abs().sum() > 0
    # normalization gradients are tangent to the sphere: orthogonal to each block
    radial = (x.grad.reshape(6, 2, -1) * x.detach().reshape(6, 2, -1)).sum(-1)
    torch.testing.assert_close(radial, torch.zeros_like(radial), atol=1e-12, rtol=0)
    codes = q.indices_to_codes(out.indices, torch.float64) / 1.7
    torch.testing.assert_close(q.log_scale.grad, (1.7 * codes * g).sum().to(torch.float32))


def test_gradcheck_differentiable_parts():
    x = torch.randn(3, 48, dtype=torch.float64, requires_grad=True)
    leech = SphericalLatticeQuantizer("leech", dim=48, commitment_weight=0.25)
    assert torch.autograd.gradcheck(leech.normalize, (x,))
    # the commitment term is smooth where the winners do not change (random x: everywhere
    # within gradcheck's perturbations)
    assert torch.autograd.gradcheck(lambda t: leech(t).aux_loss, (x,))
    # the learned scale
    scaled = SphericalLatticeQuantizer("leech", dim=48, learned_scale=True, scale=0.8).double()
    log_s = scaled.log_scale.detach().clone().requires_grad_(True)

    def with_scale(s):
        return torch.func.functional_call(scaled, {"log_scale": s}, (x.detach(),)).quantized

    assert torch.autograd.gradcheck(with_scale, (log_s,))
    # the seed's soft E8 reconstruction
    soft = SoftE8Quantizer(16, temperature=0.7)
    x8 = torch.randn(4, 16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(soft.soft_reconstruction, (x8,))


def test_commitment_loss_value():
    q = SphericalLatticeQuantizer("leech", dim=48, commitment_weight=0.5)
    x = torch.randn(10, 48)
    out = q(x)
    cos = out.stats["mean_cosine"]
    torch.testing.assert_close(out.aux_loss, 0.5 * (2 - 2 * cos).float(), rtol=1e-5, atol=1e-6)
    assert float(SphericalLatticeQuantizer("leech")(x[:, :24]).aux_loss) == 0.0


def test_seed_soft_e8_quantizer():
    q = SoftE8Quantizer(16, temperature=0.5)
    x = torch.randn(20, 16, requires_grad=True)
    out = q(x)
    hard = SphericalLatticeQuantizer("e8", dim=16)(x)
    assert torch.equal(out.indices, hard.indices)  # the exact nearest root
    roots = torch.as_tensor(index_to_vector(np.arange(240), "e8"), dtype=torch.float32)
    assert torch.equal(out.quantized.detach(), roots[out.indices].reshape(20, 16))
    g = torch.randn(20, 16)
    (out.quantized * g).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    (q.soft_reconstruction(x2).reshape(20, 16) * g).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    # at low temperature the soft reconstruction tends to the hard root
    cold = SoftE8Quantizer(16, temperature=1e-3).soft_reconstruction(x.detach() * 10).reshape(20, 16)
    torch.testing.assert_close(cold, roots[SoftE8Quantizer(16)(x.detach() * 10).indices].reshape(20, 16))
    assert torch.equal(q.codes_to_indices(q.indices_to_codes(out.indices)), out.indices)


# --- errors -------------------------------------------------------------------------------
def test_bad_input_raises_clear_errors():
    q = SphericalLatticeQuantizer("leech", dim=48)
    with pytest.raises(ValueError, match="last dimension to be 48"):
        q(torch.randn(4, 30))
    with pytest.raises(ValueError, match="last dimension to be 48"):
        q(torch.randn(4, 24))
    with pytest.raises(ValueError, match="multiple of 24"):
        SphericalLatticeQuantizer("leech", dim=30)
    with pytest.raises(ValueError, match="multiple of 8"):
        SphericalLatticeQuantizer("e8", dim=12)
    with pytest.raises(ValueError, match="multiple of 8"):
        SoftE8Quantizer(10)
    with pytest.raises(ValueError, match="lattice"):
        SphericalLatticeQuantizer("d4")
    with pytest.raises(TypeError, match="floating-point"):
        q(torch.zeros(2, 48, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        q(np.zeros((2, 48)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        q(torch.full((2, 48), float("nan")))
    with pytest.raises(ValueError, match="NaN or infinite"):
        q(torch.tensor([[float("inf")] + [0.0] * 47]))
    with pytest.raises(ValueError, match=r"\[0, 196560\)"):
        q.indices_to_codes(torch.tensor([[0, 196560]]))
    with pytest.raises(TypeError, match="integer indices"):
        q.indices_to_codes(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        q.indices_to_codes(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="not a code"):
        q.codes_to_indices(torch.randn(2, 48))
    with pytest.raises(ValueError, match="scale"):
        SphericalLatticeQuantizer("leech", scale=0.0)
    with pytest.raises(ValueError, match="unknown quantizer"):
        make_quantizer("pq")
    with pytest.raises(ValueError, match="project to 5 channels"):
        make_quantizer("fsq", dim=6, levels=(8, 8, 8, 5, 5))
    with pytest.raises(ValueError, match="divide"):
        make_quantizer("lfq", dim=18, num_codebooks=4)
    with pytest.raises(ValueError, match="last dimension to be 18"):
        make_quantizer("bsq")(torch.randn(3, 24))


# --- saving and loading ---------------------------------------------------------------------
class TinyAutoencoder(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        self.quantizer = make_quantizer(name, dim=16 if name == "e8" else None)
        self.encoder = nn.Linear(10, self.quantizer.dim)
        self.decoder = nn.Linear(self.quantizer.dim, 10)

    def forward(self, x):
        return self.decoder(self.quantizer(self.encoder(x)).quantized)


@pytest.mark.parametrize("name", QUANTIZER_NAMES)
def test_save_and_load_with_the_model(name, tmp_path):
    torch.manual_seed(0)
    model = TinyAutoencoder(name)
    x = torch.randn(32, 10)
    model.train()
    model(x)  # a training step's buffer updates (the learned codebook's EMA)
    model.eval()
    state = model.state_dict()
    assert not any(k.endswith("int_codes") for k in state)  # the fixed codes are not stored
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "m.safetensors")
    torch.manual_seed(1)
    fresh = TinyAutoencoder(name).eval()
    fresh.load_state_dict(load_file(tmp_path / "m.safetensors"), strict=True)
    assert torch.equal(fresh(x), model(x))


def test_learned_scale_is_saved(tmp_path):
    q = SphericalLatticeQuantizer("leech", learned_scale=True, scale=2.5)
    assert set(q.state_dict()) == {"log_scale"}
    with torch.no_grad():
        q.log_scale.add_(0.3)
    save_file(q.state_dict(), tmp_path / "q.safetensors")
    fresh = SphericalLatticeQuantizer("leech", learned_scale=True)
    fresh.load_state_dict(load_file(tmp_path / "q.safetensors"))
    x = torch.randn(5, 24)
    assert torch.equal(fresh(x).quantized, q(x).quantized)
    torch.testing.assert_close(fresh(x).quantized.norm(dim=-1), torch.full((5,), 2.5 * math.exp(0.3)))


# --- the protocol, for every layer ----------------------------------------------------------
BITS = {
    "leech": math.log2(196560),
    "e8": 2 * math.log2(240),
    "e8_soft": math.log2(240),
    "fsq": math.log2(8**5 * 6),
    "lfq": 18.0,
    "bsq": 18.0,
    "vq": 12.0,
}


@pytest.mark.parametrize("name", QUANTIZER_NAMES)
def test_protocol(name):
    torch.manual_seed(0)
    q = make_quantizer(name, dim=16 if name == "e8" else None)
    assert isinstance(q, Quantizer)
    assert q.bits_per_token == pytest.approx(BITS[name])
    assert q.bits_per_token == pytest.approx(q.num_codebooks * math.log2(q.codebook_size))
    x = torch.randn(4, 7, q.dim, requires_grad=True)
    out = q(x)
    assert isinstance(out, QuantizerOutput)
    assert out.quantized.shape == x.shape and out.quantized.dtype == x.dtype
    tail = () if q.num_codebooks == 1 else (q.num_codebooks,)
    assert out.indices.shape == (4, 7, *tail) and out.indices.dtype == torch.int64
    assert int(out.indices.min()) >= 0 and int(out.indices.max()) < q.codebook_size
    assert out.aux_loss.ndim == 0
    assert set(out.stats) >= {"usage_entropy", "perplexity", "codes_used", "utilization"}
    assert 1 <= float(out.stats["perplexity"]) <= 28 * q.num_codebooks + 1e-9
    (out.quantized.sum() + out.aux_loss).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the input
    q.eval()
    with torch.no_grad():
        out = q(x)
    codes = q.indices_to_codes(out.indices)
    torch.testing.assert_close(codes, out.quantized, rtol=0, atol=1e-6)
    assert torch.equal(q.codes_to_indices(codes), out.indices)
    assert torch.equal(q.codes_to_indices(out.quantized), out.indices)


def test_bsq_codes_lie_on_the_sphere_of_all_channels():
    q = BSQQuantizer(18).eval()
    out = q(torch.randn(50, 18) * 3)
    torch.testing.assert_close(out.quantized.norm(dim=-1), torch.ones(50))
    torch.testing.assert_close(out.quantized.abs(), torch.full((50, 18), 18**-0.5))


def test_codebook_usage():
    stats = codebook_usage(torch.tensor([[3, 3], [5, 5]]), 8)
    assert float(stats["usage_entropy"]) == 1.0 and float(stats["perplexity"]) == 2.0
    assert int(stats["codes_used"]) == 2 and float(stats["utilization"]) == 0.25
    stats = codebook_usage(torch.arange(16), 16)
    assert float(stats["usage_entropy"]) == 4.0 and float(stats["utilization"]) == 1.0
    assert int(codebook_usage(torch.zeros(0, dtype=torch.int64), 4)["codes_used"]) == 0
    assert SphericalLatticeQuantizer("leech", track_usage=False)(torch.randn(3, 24)).stats == {}


# --- thorough and device checks -------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_many_random_inputs_match_the_brute_force(lattice):
    q = SphericalLatticeQuantizer(lattice, dim=3 * BLOCK[lattice])
    x = torch.randn(4000, q.dim) * torch.rand(4000, 1) * 100
    assert np.array_equal(layer_indices(q, x), reference(x, lattice))
    xb = x.bfloat16()
    assert np.array_equal(layer_indices(q, xb), reference(xb, lattice))
    single = SphericalLatticeQuantizer(lattice)
    for name, arr in adversarial(lattice, 3000).items():
        xt = torch.as_tensor(arr)
        assert np.array_equal(layer_indices(single, xt), reference(xt, lattice)), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_cuda_matches_cpu(lattice):
    q = SphericalLatticeQuantizer(lattice, dim=2 * BLOCK[lattice])
    on_gpu = SphericalLatticeQuantizer(lattice, dim=2 * BLOCK[lattice]).cuda()
    x = torch.randn(20000, q.dim)
    x[:100] = torch.as_tensor(RNG.integers(-2, 3, (100, q.dim)), dtype=torch.float32)
    for inputs in (x, x.bfloat16()):
        cpu, gpu = q(inputs), on_gpu(inputs.cuda())
        assert torch.equal(cpu.indices, gpu.indices.cpu())
        assert torch.equal(cpu.quantized, gpu.quantized.cpu())
