"""ResonanceLoss, max_cosine, ResonanceMonitor and the resonator bias."""

import numpy as np
import pytest
import torch

from leechkit.lattice import e8, leech
from leechkit.models import (
    ResonanceLoss,
    ResonanceMonitor,
    ResonanceState,
    ResonatorBias,
    lattice_frame,
    lila_placeholder_kernel,
    max_cosine,
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


def test_minimal_vector_is_a_fixed_point_and_zero_block_counts_zero():
    v = torch.from_numpy(VECS["leech"][[5, 123456]]).reshape(1, 48) * 3.0
    cos, idx = max_cosine(v)
    torch.testing.assert_close(cos, torch.ones(1, 2, dtype=torch.float64))
    assert idx.tolist() == [[5, 123456]]
    zero = torch.zeros(2, 24)
    cos, _ = max_cosine(zero)
    assert torch.equal(cos, torch.zeros(2, 1))
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
