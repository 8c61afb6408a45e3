"""ResonanceLoss, max_cosine, ResonanceMonitor and the resonator bias."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from leechkit.lattice import e8, leech
from leechkit.models import (
    ResonanceLoss,
    ResonanceMonitor,
    ResonanceState,
    ResonatorBias,
    lattice_frame,
    lila_placeholder_kernel,
    max_cosine,
    nearest_minimal_vector,
)

VECS = {"leech": leech().minimal_vectors(), "e8": e8().minimal_vectors()}


def brute_force(hidden: torch.Tensor, lattice: str) -> tuple[np.ndarray, np.ndarray]:
    """Max cosine and argmax of every block against all minimal vectors, float64 product."""
    v = VECS[lattice]
    n = v.shape[1]
    blocks = hidden.detach().double().numpy().reshape(-1, n)
    cos = (blocks / np.linalg.norm(blocks, axis=1, keepdims=True)) @ (v / np.linalg.norm(v[0])).T
    return cos.max(axis=1), cos.argmax(axis=1)


@pytest.mark.parametrize("lattice", ["leech", "e8"])
@pytest.mark.parametrize("method", ["structured", "matmul"])
def test_loss_equals_brute_force_max_cosine(lattice, method):
    n = 24 if lattice == "leech" else 8
    hidden = torch.randn(3, 5, 2 * n, generator=torch.Generator().manual_seed(0))
    cos, idx = max_cosine(hidden, lattice, method=method)
    best, arg = brute_force(hidden, lattice)
    assert cos.shape == idx.shape == (3, 5, 2)
    np.testing.assert_allclose(cos.reshape(-1).numpy(), best, rtol=0, atol=1e-6)
    assert np.array_equal(idx.reshape(-1).numpy(), arg)
    loss = ResonanceLoss(lattice, method=method)(hidden)
    torch.testing.assert_close(loss, torch.tensor(1.0 - best.mean(), dtype=torch.float32))


def test_structured_search_is_exact_in_float64():
    hidden = torch.randn(64, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    cos, _ = max_cosine(hidden)
    best, _ = brute_force(hidden, "leech")
    np.testing.assert_allclose(cos.numpy()[:, 0], best, rtol=0, atol=1e-14)
    assert (cos > 0.5).all()  # every direction is within 60 degrees of a minimal vector


@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_gradcheck_float64(lattice):
    n = 24 if lattice == "leech" else 8
    hidden = torch.randn(1, 2, 2 * n, dtype=torch.float64, requires_grad=True)
    loss = ResonanceLoss(lattice)
    assert torch.autograd.gradcheck(loss, (hidden,), eps=1e-6, atol=1e-7)
    frame_loss = ResonanceLoss(lattice, target="frame")
    assert torch.autograd.gradcheck(frame_loss, (hidden,), eps=1e-6, atol=1e-7)


def _cosines_and_gradient(hidden: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    h = hidden.clone().requires_grad_(True)
    cos, idx = max_cosine(h, **kwargs)
    cos.sum().backward()
    return cos.detach(), idx, h.grad


#: Exponents k with every entry of 2ᵏ·h and of its gradient a normal number of the dtype, for
#: Gaussian h of 16 blocks: the huge and tiny ends of float32 and float64.
_NORMAL_EXPONENTS = {torch.float32: (-100, -60, -20, 20, 60, 100), torch.float64: (-1000, -500, 500, 1000)}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("target", ["minimal", "matmul", "frame"])
def test_cosines_are_exactly_scale_invariant_at_huge_and_tiny_magnitudes(dtype, target):
    """ρ(2ᵏh) = ρ(h) and ∇ρ(2ᵏh) = 2⁻ᵏ∇ρ(h), bit for bit, across the dtype's normal range:
    every block is divided by its largest entry, so a power-of-two scale cancels exactly and
    no norm or dot product under- or overflows (at 2⁻¹⁰⁰ a float32 block's squares are below
    float32's range, at 2¹⁰⁰ they are above it)."""
    hidden = torch.randn(2, 4, 48, generator=torch.Generator().manual_seed(7), dtype=torch.float64).to(dtype)
    kwargs = {"vectors": lattice_frame("leech")} if target == "frame" else {"method": "structured"}
    if target == "matmul":
        kwargs = {"method": "matmul"}
    cos, idx, grad = _cosines_and_gradient(hidden, **kwargs)
    best, arg = brute_force(hidden, "leech")
    if target != "frame":
        np.testing.assert_allclose(cos.reshape(-1).double().numpy(), best, rtol=0, atol=1e-6)
        assert np.array_equal(idx.reshape(-1).numpy(), arg)
    for k in _NORMAL_EXPONENTS[dtype]:
        scaled_cos, scaled_idx, scaled_grad = _cosines_and_gradient(hidden * 2.0**k, **kwargs)
        assert torch.equal(scaled_cos, cos), k
        assert torch.equal(scaled_idx, idx), k
        assert torch.equal(scaled_grad, grad * 2.0**-k), k
    if target == "minimal":
        _, search_cos = nearest_minimal_vector(hidden.reshape(-1, 24), return_cosines=True)
        for k in _NORMAL_EXPONENTS[dtype]:
            _, scaled = nearest_minimal_vector((hidden * 2.0**k).reshape(-1, 24), return_cosines=True)
            assert torch.equal(scaled, search_cos), k


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_subnormal_blocks_get_their_cosines(dtype):
    """Blocks of integers times the dtype's least positive value (subnormal entries): a
    multiple of a minimal vector has cosine 1 with it, and an integer block the cosine of
    the float64 brute force on the same integers."""
    least = torch.finfo(dtype).tiny * torch.finfo(dtype).eps
    v = np.rint(VECS["leech"][[17, 150000]] * 8**0.5)  # integer coordinates
    ints = torch.randint(-40, 41, (6, 24), generator=torch.Generator().manual_seed(3)).double()
    rows = torch.cat([torch.from_numpy(v).double(), ints])
    hidden = (rows * least).to(dtype)
    assert torch.equal(hidden.double() / least, rows)  # exactly representable
    cos, idx, grad = _cosines_and_gradient(hidden)
    best, arg = brute_force(rows, "leech")
    assert idx[:2, 0].tolist() == [17, 150000]
    assert np.array_equal(idx[:, 0].numpy(), arg)
    atol = 1e-2 if dtype == torch.bfloat16 else 1e-6
    np.testing.assert_allclose(cos[:, 0].double().numpy(), best, rtol=0, atol=atol)
    assert best[:2].tolist() == pytest.approx([1.0, 1.0], abs=1e-15)
    frame_cos, _ = max_cosine(hidden, vectors=torch.eye(24))
    expected = (rows / rows.norm(dim=1, keepdim=True)).amax(dim=1)
    np.testing.assert_allclose(frame_cos[:, 0].double().numpy(), expected.numpy(), rtol=0, atol=atol)
    # The true gradient, of size about 1/‖h‖, is beyond the dtype's range here: it overflows
    # to ±inf, and never becomes NaN.
    assert not grad.isnan().any()


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(-120, 100),
    st.sampled_from([torch.float32, torch.float64]),
)
def test_resonance_loss_is_scale_invariant(seed, k, dtype):
    """The loss of 2ᵏh equals the loss of h exactly for every k that keeps 2ᵏh normal."""
    hidden = torch.randn(3, 48, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    loss = ResonanceLoss()
    assert torch.equal(loss(hidden * 2.0**k), loss(hidden))


def test_minimal_vector_is_a_fixed_point_and_zero_block_counts_zero():
    v = torch.from_numpy(VECS["leech"][[5, 123456]]).reshape(1, 48) * 3.0
    cos, idx = max_cosine(v)
    torch.testing.assert_close(cos, torch.ones(1, 2, dtype=torch.float64))
    assert idx.tolist() == [[5, 123456]]
    zero = torch.zeros(2, 24)
    cos, _ = max_cosine(zero)
    assert torch.equal(cos, torch.zeros(2, 1))
    for kwargs in ({}, {"vectors": lattice_frame("leech")}):
        _, _, grad = _cosines_and_gradient(torch.cat([zero, torch.ones(2, 24)], dim=1), **kwargs)
        assert torch.equal(grad[:, :24], torch.zeros(2, 24)) and grad[:, 24:].abs().sum() > 0
    assert ResonanceLoss()(zero).item() == 1.0


def test_frame_target_reproduces_the_seed_loss():
    q = lila_placeholder_kernel()
    hidden = torch.randn(4, 6, 48)
    loss = ResonanceLoss("leech", target="frame", vectors=q)(hidden)
    h = torch.nn.functional.normalize(hidden.view(4, 6, 2, 24), dim=-1)
    expected = 1.0 - (h @ torch.nn.functional.normalize(q, dim=-1).T).max(dim=-1).values.mean()
    torch.testing.assert_close(loss, expected)
    frame_loss = ResonanceLoss("leech", target="frame")(hidden)
    assert torch.equal(ResonanceLoss("leech", target="frame").vectors, lattice_frame("leech"))
    assert frame_loss > ResonanceLoss("leech")(hidden)  # 24 rows are a subset of the 196,560


def test_bad_inputs():
    with pytest.raises(ValueError, match="multiple of 24"):
        max_cosine(torch.randn(3, 25))
    with pytest.raises(TypeError, match="floating point"):
        max_cosine(torch.ones(3, 24, dtype=torch.long))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        max_cosine(np.ones((3, 24)))
    with pytest.raises(ValueError, match="method"):
        ResonanceLoss(method="fast")
    with pytest.raises(ValueError, match="lattice"):
        ResonanceLoss("d4")
    with pytest.raises(ValueError, match=r"shape \(m, 8\)"):
        max_cosine(torch.randn(2, 8), "e8", vectors=torch.randn(3, 24))


def test_matmul_chunks_bound_memory_and_agree():
    hidden = torch.randn(50, 24, generator=torch.Generator().manual_seed(3))
    a = max_cosine(hidden, method="matmul", chunk_elements=1)[1]  # one row per chunk
    b = max_cosine(hidden, method="matmul")[1]
    assert torch.equal(a, b)


def test_monitor_states_and_thresholds():
    mon = ResonanceMonitor("leech", awake=0.9, genesis=0.99)
    assert mon.state(0.5) is ResonanceState.DREAMING
    assert mon.state(0.95) is ResonanceState.AWAKE
    assert mon.state(0.995) is ResonanceState.ABSOLUTE_GENESIS
    v = torch.from_numpy(VECS["leech"][42]).float()
    noise = torch.randn(24, generator=torch.Generator().manual_seed(0))
    hidden = torch.stack([torch.cat([noise, v]), torch.cat([noise, noise])])
    reading = mon.read(hidden)
    assert reading.states[0] is ResonanceState.ABSOLUTE_GENESIS
    assert reading.block[0] == 1 and reading.vector_index[0] == 42
    first_only = ResonanceMonitor("leech", block=0).read(hidden)
    assert first_only.block.tolist() == [0, 0]
    assert first_only.resonance[0] == first_only.resonance[1]
    with pytest.raises(ValueError, match="thresholds"):
        ResonanceMonitor(awake=0.99, genesis=0.9)
    assert ResonanceMonitor().awake == 0.95 and ResonanceMonitor().genesis == 0.999


def test_resonator_bias_kernel_cancels():
    kernel = lattice_frame("leech").T
    emb = torch.randn(10, 48)
    bias = ResonatorBias(kernel, vocab_size=10, alpha_init=0.1)
    bias.refresh(emb)
    h = torch.randn(3, 48)
    expected = 0.1 * (h.view(3, 2, 24).sum(1) @ emb.view(10, 2, 24).sum(1).T)
    torch.testing.assert_close(bias(h), expected, rtol=1e-5, atol=1e-5)
    assert [n for n, _ in bias.named_parameters()] == ["alpha"]
