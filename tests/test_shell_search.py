"""The shell search on torch tensors against the host search (:meth:`LeechShellCode.nearest`).

The device algorithm runs on CPU tensors as well (plain batched torch operations), so its
certificates and results are checked here on small batches; the CUDA path end to end is
checked on 10⁵ rows where CUDA is available.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from leechkit.lattice.quantizers.shells import LeechShellCode  # noqa: E402
from leechkit.models import quantize_weight, shell_nearest, shell_vectors  # noqa: E402
from leechkit.models import shell_search as ss  # noqa: E402
from leechkit.models._weight_codecs import ShellStage, leech_shell_code  # noqa: E402

CUDA = torch.cuda.is_available()


def families(code: LeechShellCode, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Gaussian, sparse, ±1 and small-integer rows, points of the code, bf16-like rounding."""
    mant, exp = np.frexp(rng.standard_normal((n, 24)))
    return {
        "gaussian": rng.standard_normal((n, 24)),
        "sparse": rng.standard_normal((n, 24)) * (rng.random((n, 24)) < 0.25),
        "pm1": rng.choice([-1.0, 1.0], (n, 24)),
        "integers": rng.integers(-2, 3, (n, 24)).astype(np.float64),
        "points": code.index_to_vector(rng.integers(0, code.size, n)).astype(np.float64),
        "bf16": np.ldexp(np.round(mant * 256) / 256, exp),
        "scaled": rng.standard_normal((n, 24)) * 1e-30,
        "zeros": np.zeros((2, 24)),
    }


@pytest.fixture(scope="module", params=[8, 24])
def code(request):
    return leech_shell_code(request.param)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_device_search_equals_the_host_search(code, dtype):
    rng = np.random.default_rng(code.max_norm)
    for name, x in families(code, rng, 60).items():
        xt = torch.as_tensor(x, dtype=dtype)
        want_idx, want_vec = code.nearest(xt.double().numpy())
        idx, vec, certified = shell_nearest(xt, code, search="device", return_certified=True)
        assert idx.dtype == torch.int64 and vec.shape == (len(x), 24)
        assert np.array_equal(idx.numpy(), want_idx), name
        assert np.array_equal(vec.numpy(), want_vec), name
        if name == "zeros":
            assert not certified.any()  # index 0 comes from the host
        if name in ("gaussian", "bf16", "scaled"):
            assert certified.float().mean() > 0.9, name


def test_certified_pairs_are_never_wrong(code):
    """The pairs the device certifies give the host's answer on their own (no fallback)."""
    rng = np.random.default_rng(5)
    x = np.concatenate(list(families(code, rng, 80).values()))
    cls, cw, ok = ss.shell_search_device(torch.as_tensor(x), code)
    ok = ok.numpy()
    want, _ = code.nearest(x)
    got, _ = code.pair_points(x[ok], cls.numpy()[ok], cw.numpy()[ok])
    assert ok.mean() > 0.8
    assert np.array_equal(got, want[ok])


def test_exact_ties_between_pairs_are_left_to_the_host():
    # The first MOG column: the octad vectors (2⁸) of the five octads through it and the
    # (4², 0²²) vectors on two of its cells all reach cos = 1/√2: tied pairs.
    code = LeechShellCode(4)
    x = np.zeros((1, 24))
    x[0, :4] = 1.0
    _, _, ok = ss.shell_search_device(torch.as_tensor(x), code)
    assert not ok.any()
    idx, vec = shell_nearest(torch.as_tensor(x), code, search="device")
    assert np.array_equal(idx.numpy(), code.nearest(x)[0])
    assert np.array_equal(vec.numpy(), code.nearest(x)[1])


def test_host_search_and_shapes():
    code = leech_shell_code(8)
    x = torch.randn(3, 4, 24, generator=torch.Generator().manual_seed(0))
    idx, vec = shell_nearest(x, code)
    assert idx.shape == (3, 4) and vec.shape == (3, 4, 24)
    want = code.nearest(x.numpy())
    assert np.array_equal(idx.numpy(), want[0]) and np.array_equal(vec.numpy(), want[1])
    idx_d, vec_d, ok = shell_nearest(x, code, search="device", return_certified=True)
    assert torch.equal(idx_d, idx) and torch.equal(vec_d, vec) and ok.shape == (3, 4)
    assert shell_nearest(torch.zeros(0, 24), code, search="device")[0].shape == (0,)


def test_bad_input_raises():
    code = leech_shell_code(8)
    with pytest.raises(TypeError, match="floating-point"):
        shell_nearest(torch.zeros(2, 24, dtype=torch.int64), code)
    with pytest.raises(ValueError, match="last dimension 24"):
        shell_nearest(torch.zeros(2, 8), code)
    with pytest.raises(ValueError, match="NaN or infinite"):
        shell_nearest(torch.full((1, 24), float("nan")), code, search="device")
    with pytest.raises(ValueError, match="search"):
        shell_nearest(torch.zeros(1, 24), code, search="gpu")
    with pytest.raises(ValueError, match="two rounds"):
        ss.shell_search_device(torch.zeros(1, 24), code, rounds=((4, 8, 8),))


def random_pairs(code: LeechShellCode, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes of the code and codewords they can pair with (any codeword for an odd class,
    one of the class's weight for an even class)."""
    from leechkit.lattice.quantizers.shells import _golay_tables

    cls = code._tables["ct"][0]
    weight = _golay_tables()["words"].sum(axis=1)
    k = rng.integers(0, len(code._classes), n)
    cw = rng.integers(0, 4096, n)
    for i in np.flatnonzero(cls[k, 1] == 0):
        cw[i] = rng.choice(np.flatnonzero(weight == cls[k[i], 2]))
    return k, cw


def test_device_pair_points_equal_the_host_ranking(code):
    """The device's optimal point of a (class, codeword) pair and its index equal the host's
    on any pair, for rows full of ties (equal magnitudes, zeros, ±1), huge and tiny values."""
    rng = np.random.default_rng(code.max_norm + 1)
    rows = np.concatenate([*families(code, rng, 400).values(), 1e300 * rng.standard_normal((50, 24))])
    rows = np.concatenate([rows, np.round(rows[:400] * 2) / 2, -rows[400:800]])
    k, cw = random_pairs(code, rng, len(rows))
    want_idx, want_vec = code.pair_points(rows, k, cw)
    t = ss._build_tables(code, torch.device("cpu"))
    idx, vec = ss._pair_points(torch.as_tensor(rows), torch.as_tensor(k), torch.as_tensor(cw), t)
    assert np.array_equal(vec.numpy(), want_vec)
    assert np.array_equal(idx.numpy(), want_idx)
    assert np.array_equal(code.index_to_vector(idx.numpy()), want_vec)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_device_pair_points_property(data):
    code = leech_shell_code(data.draw(st.sampled_from([8, 24])))
    level = st.sampled_from([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0])
    rows = np.array(data.draw(st.lists(st.lists(level, min_size=24, max_size=24), min_size=1, max_size=8)))
    k, cw = random_pairs(code, np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))), len(rows))
    t = ss._build_tables(code, torch.device("cpu"))
    idx, vec = ss._pair_points(torch.as_tensor(rows), torch.as_tensor(k), torch.as_tensor(cw), t)
    want_idx, want_vec = code.pair_points(rows, k, cw)
    assert np.array_equal(vec.numpy(), want_vec) and np.array_equal(idx.numpy(), want_idx)


def test_pair_points_checks_its_arguments():
    code = leech_shell_code(8)
    x = np.ones((2, 24))
    with pytest.raises(ValueError, match="rows"):
        code.pair_points(x, [0], [0, 0])
    with pytest.raises(ValueError, match="out of range"):
        code.pair_points(x, [0, 10**6], [0, 0])
    even = next(k for k, c in enumerate(code._classes) if c.m == 0 and c.weight == 8)
    with pytest.raises(ValueError, match="weight"):
        code.pair_points(x, [even, even], [0, 0])  # codeword 0 has weight 0


def test_llvq_weights_are_unchanged_by_the_device_search(monkeypatch):
    w = torch.randn(6, 96, generator=torch.Generator().manual_seed(3))
    host = quantize_weight(w, "llvq", 2)
    monkeypatch.setattr(ShellStage, "search", "device")
    device = quantize_weight(w, "llvq", 2)
    for name, value in host.state_dict().items():
        assert torch.equal(value, device.state_dict()[name]), name
    # Dequantizing through the device unranking gives the host's weights bit for bit.
    assert torch.equal(device.dequantize(), host.dequantize())
    monkeypatch.setattr(ShellStage, "search", "host")
    assert torch.equal(device.dequantize(), host.dequantize())


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_search_equals_the_host_search():
    code = leech_shell_code(24)
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal((100_000, 24)), *families(code, rng, 200).values()])
    for dtype in (torch.float32, torch.float64):
        xt = torch.as_tensor(x, dtype=dtype, device="cuda")
        idx, vec, ok = shell_nearest(xt, code, return_certified=True)
        want_idx, want_vec = code.nearest(xt.double().cpu().numpy())
        assert idx.device.type == "cuda"
        assert np.array_equal(idx.cpu().numpy(), want_idx)
        assert np.array_equal(vec.cpu().numpy(), want_vec)
        assert ok[:100_000].float().mean() > 0.99


def test_device_unranking_equals_the_host_bijection(code):
    """Indices to points on the device: random indices and every class's first and last."""
    rng = np.random.default_rng(code.max_norm + 2)
    offsets = code._tables["ct"][1]
    idx = np.concatenate([rng.integers(0, code.size, 3000), offsets[:-1], offsets[1:] - 1])
    got = shell_vectors(torch.as_tensor(idx).reshape(-1, 2), code, search="device")
    assert got.shape == (len(idx) // 2, 2, 24) and got.dtype == torch.int64
    assert np.array_equal(got.reshape(-1, 24).numpy(), code.index_to_vector(idx))
    assert torch.equal(shell_vectors(torch.as_tensor(idx), code), got.reshape(-1, 24))  # host
    # Device ranking and unranking are inverse on the points the ranking produces.
    k, cw = random_pairs(code, rng, 500)
    t = ss._build_tables(code, torch.device("cpu"))
    pidx, pvec = ss._pair_points(torch.as_tensor(rng.standard_normal((500, 24))), torch.as_tensor(k),
                                 torch.as_tensor(cw), t)
    assert torch.equal(ss._index_to_vector(pidx, t), pvec)


def test_shell_vectors_rejects_bad_input():
    code = leech_shell_code(8)
    with pytest.raises(TypeError, match="integer"):
        shell_vectors(torch.zeros(3), code)
    with pytest.raises(TypeError, match="bool"):
        shell_vectors(torch.zeros(3, dtype=torch.bool), code)
    with pytest.raises(ValueError, match="lie in"):
        shell_vectors(torch.tensor([0, code.size]), code, search="device")
    with pytest.raises(ValueError, match="lie in"):
        shell_vectors(torch.tensor([-1]), code)
    with pytest.raises(ValueError, match="search"):
        shell_vectors(torch.tensor([0]), code, search="gpu")
    assert shell_vectors(torch.zeros(0, dtype=torch.int64), code, search="device").shape == (0, 24)


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_llvq_encoder_and_unranking_equal_the_cpu():
    """The unranking on CUDA equals the host bijection, and a layer encoded on CUDA (device
    search, ranking and unranking) dequantizes there to what the CPU rebuilds from its codes.
    (The codes themselves are not compared with a CPU encoding: the row scales and gains are
    reductions, whose float rounding may differ between the two devices.)"""
    code = leech_shell_code(24)
    rng = np.random.default_rng(11)
    idx = np.concatenate([rng.integers(0, code.size, 100_000), code._tables["ct"][1][:-1]])
    got = shell_vectors(torch.as_tensor(idx, device="cuda"), code)
    assert got.device.type == "cuda" and np.array_equal(got.cpu().numpy(), code.index_to_vector(idx))
    w = torch.randn(96, 480, generator=torch.Generator().manual_seed(5))
    layer = quantize_weight(w.cuda(), "llvq", 2, cache_weight=False)
    on_cuda = layer.dequantize()
    assert on_cuda.device.type == "cuda"
    assert torch.equal(on_cuda.cpu(), layer.to("cpu").dequantize())
    rel = float((on_cuda.cpu() - w).pow(2).mean() / w.pow(2).mean())
    host = quantize_weight(w, "llvq", 2, cache_weight=False).dequantize()
    assert abs(rel - float((host - w).pow(2).mean() / w.pow(2).mean())) < 1e-3
