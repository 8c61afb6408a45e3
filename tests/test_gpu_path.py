"""The GPU path: torch decoding and search on any device, the fused kernels and their references.

Three layers, each run where it can be:

* the torch API on CPU tensors (Numba underneath) and the torch references of the fused
  kernels (which run on any device) against the Numba decoders and search — everywhere;
* the Triton kernels themselves in Triton's interpreter (``TRITON_INTERPRET=1``, in a
  subprocess, on small batches) against those references — where Triton is installed;
* the CUDA path end to end against Numba on 10⁶ random points and the adversarial families —
  on a CUDA machine only (skipped here).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from leechkit.lattice import e8, leech
from leechkit.lattice.decoders import decode_e8, decode_leech, decode_leech_integer
from leechkit.lattice.quantizers import nearest_minimal_vector as numba_search
from leechkit.models import decode, nearest_minimal_vector
from leechkit.models import lattice_ops as ops

RNG = np.random.default_rng(11)
HAS_TRITON = importlib.util.find_spec("triton") is not None
CUDA = torch.cuda.is_available()


def adversarial_leech(n: int) -> np.ndarray:
    """Ties, lattice points, midpoints, deep-hole-like and huge/tiny inputs (standard scale)."""
    v = leech().minimal_vectors()
    i, j = RNG.integers(0, len(v), (2, n))
    return np.concatenate(
        [
            v[i],  # lattice points
            v[i] + v[j],
            0.5 * v[i],  # midpoints of 0 and a minimal vector: exact ties
            0.5 * (v[i] + v[j]),
            0.5 * v[i] + 1e-9 * RNG.standard_normal((n, 24)),  # near ties
            RNG.integers(-3, 4, (n, 24)) / np.sqrt(8),
            RNG.standard_normal((n, 24)) * 1e6,
            RNG.standard_normal((n, 24)) * 1e-12,
            np.zeros((2, 24)),
        ]
    )


def adversarial_e8(n: int) -> np.ndarray:
    return np.concatenate(
        [
            RNG.integers(-4, 5, (n, 8)) / 2.0,  # half-integers: many coset ties
            RNG.integers(-8, 9, (n, 8)) / 4.0,  # quarter points: rounding ties
            RNG.standard_normal((n, 8)) * 1e4,
            RNG.standard_normal((n, 8)) * 1e-30,
            np.full((2, 8), 0.25),
        ]
    )


# --- the torch API on CPU tensors --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_decode_on_cpu_tensors_is_the_numba_decoder(dtype):
    x = RNG.standard_normal((500, 24)) * 2
    got = decode(torch.as_tensor(x, dtype=dtype), "leech")
    assert got.dtype == dtype and got.shape == (500, 24)
    want = decode_leech(torch.as_tensor(x, dtype=dtype).double().numpy())
    assert torch.equal(got, torch.as_tensor(want).to(dtype))
    y = RNG.standard_normal((3, 5, 8))
    got8 = decode(torch.as_tensor(y, dtype=dtype), "e8")
    assert got8.shape == (3, 5, 8)
    want8 = decode_e8(torch.as_tensor(y, dtype=dtype).double().numpy())
    assert torch.equal(got8, torch.as_tensor(want8).to(dtype))


def test_decode_rejects_bad_input():
    with pytest.raises(TypeError, match="floating-point"):
        decode(torch.zeros(24, dtype=torch.int64))
    with pytest.raises(ValueError, match="last dimension 8"):
        decode(torch.zeros(4, 24), "e8")
    with pytest.raises(ValueError, match="lattice"):
        decode(torch.zeros(24), "d4")
    with pytest.raises(ValueError, match="NaN or infinite"):
        decode(torch.full((2, 24), float("inf")))
    with pytest.raises(ValueError, match="2\\*\\*50"):
        decode(torch.full((1, 8), 2.0**51), "e8")
    assert decode(torch.zeros(0, 24)).shape == (0, 24)


# --- the references of the fused kernels -------------------------------------------------------


def reference_decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = ops._tables("leech", torch.device("cpu"))
    y = torch.as_tensor(x, dtype=torch.float64) * ops._SQRT8
    win, _, second = ops._leech_decode_scores_reference(y, t)
    q, certified = ops._leech_point(y, win, second, t)
    return q.numpy(), certified.numpy()


def test_leech_reference_scores_and_certificates_agree_with_the_exact_decoder():
    x = np.concatenate([RNG.standard_normal((400, 24)) * 1.5, adversarial_leech(40)])
    q, certified = reference_decode(x)
    exact = decode_leech_integer(x)
    assert certified.mean() > 0.6  # ties are left to the exact decoder, the rest is certified
    assert np.array_equal(q[certified], exact[certified])
    # Every exact tie is among the uncertified rows.
    midpoints = slice(2 * 40 + 0, 3 * 40)
    assert not certified[400:][midpoints].any()


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, (3, 24), elements=st.floats(-6, 6, allow_nan=False)))
def test_leech_reference_certified_rows_are_exact(x):
    q, certified = reference_decode(x)
    assert np.array_equal(q[certified], decode_leech_integer(x)[certified])


def test_structured_search_scores_and_index_reconstruction():
    x = np.concatenate([RNG.standard_normal((300, 24)), RNG.integers(-2, 3, (100, 24)).astype(float)])
    t = ops._tables("leech", torch.device("cpu"))
    xt = torch.as_tensor(x)
    win, certified = ops._leech_scores(xt, t)
    idx = ops._leech_index(xt, win, t)
    exact = numba_search(x, "leech")
    assert np.array_equal(idx.numpy()[certified.numpy()], exact[certified.numpy()])


# --- the Triton kernels in the interpreter ------------------------------------------------------

INTERPRETED = textwrap.dedent(
    """
    import numpy as np, torch
    from leechkit.models import lattice_ops as ops
    from leechkit.models import _triton_kernels as K
    from leechkit.lattice import leech
    from leechkit.lattice.decoders import decode_e8, decode_leech_integer
    from leechkit.lattice.quantizers import nearest_minimal_vector as numba_search
    rng = np.random.default_rng(5)
    t = ops._tables("leech", torch.device("cpu"))
    v = leech().minimal_vectors()
    x = np.concatenate([rng.standard_normal((20, 24)), 0.5 * v[:4], v[10:12] + v[99000:99002],
                        rng.integers(-2, 3, (6, 24)).astype(float)])
    # Spherical search: the kernel's certified families equal the reference's, on rows near
    # minimal vectors of every shape as well (one program of 128 rows), and so do its indices.
    near = v[rng.integers(0, len(v), 96)] + 0.3 * rng.standard_normal((96, 24))
    xall = np.concatenate([x, near])
    xt = torch.as_tensor(xall)
    tables = (t["octad_positions"], t["float_signs"], t["word_index32"])
    idx, win, _ = K.leech_search(xt, *tables, ops._MARGIN)
    ref, cert = ops._leech_scores(xt, t)
    exact = torch.as_tensor(numba_search(xall, "leech"))
    assert torch.equal(win >= 0, cert) and torch.equal(idx >= 0, cert), "certificates differ"
    assert torch.equal(win.long()[cert], ref[cert]), "winning families differ"
    assert torch.equal(idx.long()[cert], exact[cert]), "indices differ"
    won = ref[cert]
    assert (won == 0).any() and ((won >= 1) & (won < 760)).any() and (won >= 760).any()
    # The rows scaled by powers of two far out of the unit range: the same answers.
    for power in (-900, 1000):
        i2, _, _ = K.leech_search(torch.ldexp(xt, torch.tensor(power)), *tables, ops._MARGIN)
        assert torch.equal(i2, idx), f"scaling by 2**{power} changes the search"
    # In float32 (float32 rows, the wider margin) it certifies a subset, with the same winners,
    # also on rows near the float32 range's ends and rows whose tiny entries underflow.
    x32 = xt.float()
    ref32, cert32 = ops._leech_scores(x32.double(), t)
    exact32 = torch.as_tensor(numba_search(x32.double().numpy(), "leech"))
    tables32 = (t["octad_positions"], t["float_signs32"], t["word_index32"])
    i32, w32, _ = K.leech_search(x32, *tables32, ops._SEARCH_MARGINS[torch.float32])
    ok = w32 >= 0
    assert not (ok & ~cert32).any() and torch.equal(w32.long()[ok], ref32[ok]), "float32 search differs"
    assert torch.equal(i32.long()[ok], exact32[ok]), "float32 indices differ"
    assert ok.float().mean() > 0.8, "float32 search certifies too few rows"
    for power in (-100,):
        i2, _, _ = K.leech_search(torch.ldexp(x32, torch.tensor(power)), *tables,
                                  ops._SEARCH_MARGINS[torch.float32])
        assert torch.equal(i2, i32), f"float32 scaling by 2**{power} changes the search"
    mixed = x32.clone()
    mixed[:, 0] = 3.5  # the row's scale is 2**-2, so the subnormal entries below underflow
    mixed[:, 1:12:2] = torch.where(mixed[:, 1:12:2] < 0, -(2.0**-148), 2.0**-148)
    im, _, _ = K.leech_search(mixed, *tables, ops._SEARCH_MARGINS[torch.float32])
    want = torch.as_tensor(numba_search(mixed.double().numpy(), "leech"))
    sure = im >= 0
    assert sure.float().mean() > 0.5 and torch.equal(im.long()[sure], want[sure]), "underflow rows differ"
    # The float64 second pass (lane-parallel, queued behind the float32 pass) decides the rows
    # the float32 pass left open exactly as the float64 kernel does, near ties included.
    a, b = rng.integers(0, len(v), (2, 8))
    close = torch.as_tensor(0.5 * (v[a] + v[b]) + 1e-6 * rng.standard_normal((8, 24))).float()
    both = torch.cat([x32, close])
    redo = (t["float_signs"], ops._MARGIN)
    i2p, w2p, _ = K.leech_search(both, *tables32, ops._SEARCH_MARGINS[torch.float32], redo=redo)
    i64, w64, _ = K.leech_search(both.double(), *tables, ops._MARGIN)
    first, _, _ = K.leech_search(both, *tables32, ops._SEARCH_MARGINS[torch.float32])
    assert ((first == -1) & (i64 >= 0)).sum() >= 4, "the second pass had nothing to decide"
    assert torch.equal(i2p, i64) and torch.equal(w2p, w64), "second pass differs from float64"
    # Rows with a NaN or an infinite entry are flagged −2, the others unchanged.
    bad = x32.clone()
    bad[3, 5], bad[7, 0], bad[9, 23] = float("nan"), float("inf"), -float("inf")
    ib, wb, _ = K.leech_search(bad, *tables32, ops._SEARCH_MARGINS[torch.float32], redo=redo)
    flagged = torch.zeros(len(bad), dtype=torch.bool)
    flagged[[3, 7, 9]] = True
    assert bool((ib[flagged] == -2).all()) and bool((wb[flagged] == -2).all()), "non-finite rows not flagged"
    assert torch.equal(ib[~flagged], K.leech_search(x32, *tables32, ops._SEARCH_MARGINS[torch.float32],
                                                    redo=redo)[0][~flagged])
    # The chain used on CUDA (float32, then float64 for the rows left open, then the CPU):
    # every index is the exact search's, ties and all.
    assert torch.equal(ops._fused_search(x32, t), exact32), "chained search differs"
    xt = torch.as_tensor(x)
    # Leech decoding: the kernel's best pair and distances equal the 8,192-coset reference.
    y = xt * ops._SQRT8
    kq, kok, kw, kb, ks = K.leech_decode(y, t["column_patterns"], t["coset_bits"], t["even_masks"],
                                         t["even_colbits32"])
    rw, rb, rs = ops._leech_decode_scores_reference(y, t)
    err = K.DECODE_SCORE_ERROR
    unique = (rs - rb) > 2 * err
    assert torch.equal(kw.long()[unique], rw[unique]), "decoding winners differ"
    assert torch.allclose(kb, rb, rtol=0, atol=err) and torch.allclose(ks, rs, rtol=0, atol=err)
    # The certified points are the Numba decoder's.
    q, ok = ops._leech_point(y, kw.long(), ks, t, err)
    want = decode_leech_integer(x)
    assert ok.float().mean() > 0.5 and np.array_equal(q.numpy()[ok.numpy()], want[ok.numpy()])
    # The kernel's own points and certificates are the torch reference's.
    assert torch.equal(kok, ok), "decoding certificates differ"
    assert torch.equal(kq[ok], q[ok].double()), "decoded points differ"
    # E8: the kernel's points equal the Numba decoder's wherever it does not defer a tie.
    z = np.concatenate([rng.standard_normal((300, 8)) * 3, rng.integers(-4, 5, (100, 8)) / 2.0,
                        rng.integers(-8, 9, (100, 8)) / 4.0])
    for dtype in (torch.float64, torch.float32):
        zt = torch.as_tensor(z, dtype=dtype)
        out, tie = K.e8_decode(zt, ops._E8_NEAR_TIE)
        want = torch.as_tensor(decode_e8(zt.double().numpy())).to(dtype)
        assert torch.equal(out[~tie], want[~tie]), "E8 points differ"
    # E8 search: the kernel certifies exactly the reference's rows, with its indices, which
    # are the exact search's; ties (integer and half-integer rows, zeros, roots and midpoints
    # of two roots) stay open, and the chain through the CPU gives every index exactly.
    from leechkit.lattice import e8
    r = e8().minimal_vectors()
    i, j = rng.integers(0, 240, (2, 60))
    w = np.concatenate([rng.standard_normal((200, 8)), r[i], 0.5 * (r[i] + r[j]),
                        r[i] + 1e-7 * rng.standard_normal((60, 8)), rng.integers(-2, 3, (60, 8)) / 1.0,
                        rng.integers(-4, 5, (60, 8)) / 2.0, np.zeros((2, 8))])
    t8 = ops._tables("e8", torch.device("cpu"))
    search = (t8["index"], t8["powers"], ops._MARGIN)
    exact8 = torch.as_tensor(numba_search(w, "e8"))
    for dtype in (torch.float64, torch.float32):
        wt = torch.as_tensor(w, dtype=dtype)
        got = K.e8_search(wt, *search)
        ref, cert = ops._e8_block(wt.double(), t8)
        assert torch.equal(got >= 0, cert), f"E8 search certificates differ ({dtype})"
        assert torch.equal(got[cert], ref[cert]), "E8 search indices differ from the reference"
        want = torch.as_tensor(numba_search(wt.double().numpy(), "e8"))
        assert torch.equal(got[cert], want[cert]) and 0.5 < cert.float().mean() < 0.95
        assert torch.equal(ops._fused_e8_search(wt, t8), want), f"E8 search chain differs ({dtype})"
    assert torch.equal(ops._fused_e8_search(torch.as_tensor(w).bfloat16(), t8),
                       torch.as_tensor(numba_search(torch.as_tensor(w).bfloat16().double().numpy(), "e8")))
    # Tiny rows (sums of subnormals) are certified as at unit scale; rows with entries of 2¹⁰⁰⁰
    # or more are left open (their sums could overflow) and decided by the CPU search.
    wt = torch.as_tensor(w)
    tiny = torch.ldexp(wt, torch.tensor(-1060))  # rounded to subnormals: other rows, exact answers
    got_tiny = K.e8_search(tiny, *search)
    sure = got_tiny >= 0
    assert sure.float().mean() > 0.5, "tiny rows are not certified"
    want = torch.as_tensor(numba_search(tiny.numpy(), "e8"))
    assert torch.equal(got_tiny[sure], want[sure]), "tiny rows differ"
    huge = torch.ldexp(wt, torch.tensor(1000))
    assert bool((K.e8_search(huge, *search)[wt.abs().amax(1) >= 1] == -1).all()), "a huge row is certified"
    assert torch.equal(ops._fused_e8_search(huge, t8), exact8), "huge rows differ"
    # NaN and infinite entries: flagged −2 by the kernel, a ValueError from the chain.
    bad = wt[:6].clone()
    bad[1, 2], bad[3, 0], bad[4, 7] = float("nan"), float("inf"), -float("inf")
    flags = K.e8_search(bad, *search)
    assert flags[[1, 3, 4]].eq(-2).all() and flags[[0, 2, 5]].ge(-1).all(), "non-finite rows not flagged"
    try:
        ops._fused_e8_search(bad, t8)
    except ValueError as error:
        assert "NaN" in str(error)
    else:
        raise AssertionError("a NaN row was searched")
    print("ok")
    """
)


INTERPRETED_HEXACODE = textwrap.dedent(
    """
    import numpy as np, torch
    from leechkit.models import lattice_ops as ops
    from leechkit.models import _triton_kernels as K
    from leechkit.lattice import leech
    from leechkit.lattice.decoders import decode_leech
    rng = np.random.default_rng(7)
    t = ops._tables("leech", torch.device("cpu"))
    tabs = (t["hexacode_words"], t["column_vec0"], t["hexacode_ids"], t["root8"])
    v = leech().minimal_vectors()

    # The families, each decoded in the dtypes listed; all families of a dtype share one launch
    # (the interpreter's time is per program of 128 rows, not per row).
    f32, f64 = torch.float32, torch.float64
    families = [(f"gaussian {s}", rng.standard_normal((32, 24)) * s, (f32, f64), 0.9, False)
                for s in (1e-3, 1.0, 1e3, 1e4)]
    i, j = rng.integers(0, len(v), (2, 16))
    # deep holes (squared distance 2 = the covering radius², e.g. 4e_k/√8), exact and perturbed
    holes = np.zeros((16, 24))
    holes[np.arange(16), rng.permutation(24)[:16]] = rng.choice([-4.0, 4.0], 16)
    holes = holes / np.sqrt(8) + v[i]
    families += [
        ("deep holes", holes, (f64,), None, True),
        ("near deep holes", holes + 1e-9 * rng.standard_normal((16, 24)), (f64,), None, False),
        ("midpoints", 0.5 * (v[i] + v[j]), (f64,), None, True),
        ("near midpoints", 0.5 * (v[i] + v[j]) + 1e-12 * rng.standard_normal((16, 24)), (f32, f64), None,
         False),
        ("near points", v[i] + v[j] + 1e-9 * rng.standard_normal((16, 24)), (f32, f64), 0.9, False),
        ("integer points", rng.integers(-3, 4, (16, 24)) / np.sqrt(8), (f64,), None, False),
        ("bfloat16", rng.standard_normal((8, 24)).astype(np.float16), (torch.bfloat16,), None, False),
    ]
    for dtype in (f32, f64, torch.bfloat16):
        chosen = [f for f in families if dtype in f[2]]
        # Certified rows are the Numba decoder's points bit for bit; the chain of decode()
        # (hexacode kernel, groups kernel, CPU) gives every row's point.
        xt = torch.as_tensor(np.concatenate([f[1] for f in chosen]), dtype=dtype)
        want = torch.as_tensor(decode_leech(xt.double().numpy())).to(dtype)
        out, ok = K.leech_decode_points(xt, *tabs)
        narrow = dtype not in (f32, f64)
        assert out.dtype == (f64 if narrow else dtype) and ok.shape == (len(xt),)
        out = out.to(dtype)
        got = ops._leech_decode_device(xt, kernel="hexacode").to(dtype)
        start = 0
        for name, x, _, least, none in chosen:
            part = slice(start, start + len(x))
            start += len(x)
            sure = ok[part]
            assert torch.equal(out[part][sure], want[part][sure]), f"{name} {dtype}: certified rows differ"
            if least is not None:
                assert sure.float().mean() >= least, f"{name} {dtype}: {sure.float().mean()}"
            if none:
                assert not sure.any(), f"{name} {dtype}: a tie is certified"
            assert torch.equal(got[part], want[part]), f"{name} {dtype}: the decode chain differs"
    # Rows the exact decoders refuse are never certified, and the decode chain names them.
    bad = rng.standard_normal((4, 24))
    bad[0, 3], bad[1, 7], bad[2, 0], bad[3, 5] = np.nan, np.inf, 2.0**50, -(2.0**50)
    good = rng.standard_normal((3, 24))
    _, ok = K.leech_decode_points(torch.as_tensor(np.concatenate([good, bad])), *tabs)
    assert ok[:3].all() and not ok[3:].any(), "a refused row is certified"
    for rows, message in ((bad[:2], "NaN"), (bad[2:], "2**50")):
        try:
            ops._leech_decode_device(torch.as_tensor(np.concatenate([good, rows])), kernel="hexacode")
        except ValueError as error:
            assert message in str(error), str(error)
        else:
            raise AssertionError(f"rows with {message} decoded")

    # The contract of leech_decode: points, certificates, pair ids and distances agree with the
    # 8,192-coset reference.
    x = np.concatenate([rng.standard_normal((40, 24)) * 1.5, 0.5 * v[:4]])
    y = torch.as_tensor(x) * ops._SQRT8
    q, ok, win, best, second = K.leech_decode_hexacode(y, *tabs)
    rw, rb, rs = ops._leech_decode_scores_reference(y, t)
    err = K.DECODE_HEXACODE_ERROR
    unique = ok & ((rs - rb) > 2 * err)
    assert unique.float().mean() > 0.8 and not ok[40:].any()
    assert torch.equal(win.long()[unique], rw[unique]), "pair ids differ"
    assert torch.allclose(best[ok], rb[ok], rtol=0, atol=1e-9), "distances differ"
    assert (second[ok] <= rs[ok] + err).all() and (second[ok] > best[ok]).all(), "runner-up bound"
    rq, rok = ops._leech_point(y, win.long(), second, t, err)
    assert torch.equal(rq[ok].double(), q[ok]), "points differ from the reference's rebuild"
    print("ok")
    """
)


@pytest.mark.skipif(not HAS_TRITON, reason="Triton is not installed")
def test_hexacode_kernel_in_the_interpreter_is_exact_where_it_certifies():
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run(
        [sys.executable, "-c", INTERPRETED_HEXACODE], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")

INTERPRETED_COSINE = textwrap.dedent(
    """
    import numpy as np, torch
    from leechkit.models import _triton_kernels as K
    from leechkit.models import losses as L
    from leechkit.lattice.quantizers import nearest_minimal_vector as numba_search
    rng = np.random.default_rng(11)
    cpu = torch.device("cpu")
    for lattice, n in (("leech", 24), ("e8", 8)):
        vecs = L._integer_table(lattice, cpu)
        base = rng.standard_normal((150, n))
        base[:3] = 0.0
        base[3] = 3.0 * vecs[5].numpy()  # a multiple of a minimal vector: cosine 1
        base[4:10] *= 1e-6
        idx = torch.as_tensor(numba_search(base, lattice))
        unit = L._unit_table(lattice, cpu, torch.float64)[idx]
        weights = torch.as_tensor(rng.standard_normal(150))
        # (bfloat16 loads read zeros in Triton 3.9's interpreter; the CUDA test covers them.)
        for dtype in (torch.float64, torch.float32, torch.float16):
            h = torch.as_tensor(base).to(dtype)
            # The float64 torch reference on the same (rounded) blocks.
            ref_in = h.double().requires_grad_(True)
            ref = L._CosineToFixed.apply(ref_in, unit)
            ref.backward(weights)
            eps = torch.finfo(dtype).eps
            cos = K.block_cosines(h, idx, vecs)
            assert cos.dtype == dtype and cos.shape == (150,)
            torch.testing.assert_close(cos.double(), ref.detach(), rtol=0, atol=4 * eps)
            assert torch.equal(cos[:3], torch.zeros(3, dtype=dtype)) and abs(float(cos[3]) - 1) <= eps
            grad = K.block_cosine_grads(h, idx, vecs, weights.to(dtype))
            assert grad.dtype == dtype and grad.shape == h.shape
            assert torch.equal(grad[:3], torch.zeros(3, n, dtype=dtype)), "zero blocks get a gradient"
            # Relative to the gradient's size |w|/‖h‖, on the nonzero rows (float16's gradients
            # of the rows of size 10⁻⁶ are beyond its range: inf, as they should be).
            keep = torch.arange(10 if dtype == torch.float16 else 3, 150)
            size = weights[keep, None].abs() / h[keep].double().norm(dim=1, keepdim=True)
            torch.testing.assert_close(
                grad[keep].double() / size, ref_in.grad[keep] / size, rtol=0, atol=8 * eps
            )
            if dtype in (torch.float32, torch.float64):
                # Powers of two cancel exactly, far out of the unit range.
                for k in ((-100, 100) if dtype == torch.float32 else (-1000, 1000)):
                    assert torch.equal(K.block_cosines(h * 2.0**k, idx, vecs), cos), (lattice, dtype, k)
                    g2 = K.block_cosine_grads(h * 2.0**k, idx, vecs, weights.to(dtype))
                    assert torch.equal(g2[10:], grad[10:] * 2.0**-k), (lattice, dtype, k)
        # Subnormal blocks (integers times the least float32): the cosines of the integers.
        ints = torch.as_tensor(rng.integers(-40, 41, (20, n))).double()
        tiny = (ints * 2.0**-149).float()
        ti = torch.as_tensor(numba_search(ints.numpy(), lattice))
        want = (ints / ints.norm(dim=1, keepdim=True) * L._unit_table(lattice, cpu, torch.float64)[ti]).sum(1)
        torch.testing.assert_close(K.block_cosines(tiny, ti, vecs).double(), want, rtol=0, atol=2**-23)
        assert not K.block_cosine_grads(tiny, ti, vecs, torch.ones(20)).isnan().any()
        # The autograd node of the CUDA path, checked in float64 by finite differences.
        h = torch.as_tensor(base[10:14]).requires_grad_(True)
        assert torch.autograd.gradcheck(lambda t: L._FusedCosine.apply(t, idx[10:14], vecs), (h,))
    # max_cosine through the fused branch (as on CUDA) equals the torch branch, batch shape,
    # values and gradients.
    hidden = torch.as_tensor(rng.standard_normal((3, 5, 48)))
    results = []
    for fused in (False, True):
        L._triton_ready = lambda t, fused=fused: fused
        x = hidden.clone().requires_grad_(True)
        cos, idx = L.max_cosine(x)
        (cos * torch.arange(30.0).reshape(3, 5, 2)).sum().backward()
        results.append((cos.detach(), idx, x.grad))
    assert results[1][0].shape == (3, 5, 2) and torch.equal(results[0][1], results[1][1])
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=1e-15)
    torch.testing.assert_close(results[1][2], results[0][2], rtol=1e-13, atol=1e-15)
    print("ok")
    """
)


@pytest.mark.skipif(not HAS_TRITON, reason="Triton is not installed")
def test_cosine_kernels_in_the_interpreter_match_the_torch_reference():
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run(
        [sys.executable, "-c", INTERPRETED_COSINE], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


@pytest.mark.skipif(not HAS_TRITON, reason="Triton is not installed")
def test_kernel_wrappers_reject_bad_arguments_before_launching():
    from leechkit.models import _triton_kernels as K

    t = ops._tables("leech", torch.device("cpu"))
    y = torch.zeros(4, 24, dtype=torch.float64)
    dec = (t["column_patterns"], t["coset_bits"], t["even_masks"], t["even_colbits32"])
    search = (t["octad_positions"], t["float_signs"], t["word_index32"], ops._MARGIN)
    with pytest.raises(ValueError, match="2 \\* num_warps"):
        K.leech_decode(y, *dec, block=8, num_warps=8)
    with pytest.raises(ValueError, match="float64 of shape"):
        K.leech_decode(y.float(), *dec)
    with pytest.raises(TypeError, match="float32 or float64"):
        K.leech_search(y.half(), *search)
    with pytest.raises(ValueError, match="shape"):
        K.leech_search(y[:, :8], *search)
    t8 = ops._tables("e8", torch.device("cpu"))
    with pytest.raises(TypeError, match="float32 or float64"):
        K.e8_search(y[:, :8].half(), t8["index"], t8["powers"], ops._MARGIN)
    with pytest.raises(ValueError, match="shape \\(N, 8\\)"):
        K.e8_search(y, t8["index"], t8["powers"], ops._MARGIN)
    with pytest.raises(TypeError, match="int64"):
        K.e8_search(y[:, :8], t8["index"].int(), t8["powers"], ops._MARGIN)
    hexa = (t["hexacode_words"], t["column_vec0"], t["hexacode_ids"], t["root8"])
    with pytest.raises(ValueError, match="32 \\* num_warps"):
        K.leech_decode_points(y, *hexa, block=64, num_warps=4)
    with pytest.raises(ValueError, match="float64 of shape"):
        K.leech_decode_hexacode(y.float(), *hexa)
    with pytest.raises(ValueError, match="shape"):
        K.leech_decode_points(y[:, :8], *hexa)
    with pytest.raises(ValueError, match="max_registers"):
        K.leech_decode_points(y, *hexa, max_registers=8)
    with pytest.raises(ValueError, match="kernel must be"):
        ops._leech_decode_device(y, kernel="octads")
    vecs = torch.zeros(5, 24, dtype=torch.int8)
    idx = torch.zeros(4, dtype=torch.int64)
    with pytest.raises(TypeError, match="float16, bfloat16"):
        K.block_cosines(y.long(), idx, vecs)
    with pytest.raises(TypeError, match="int8 of shape"):
        K.block_cosines(y, idx, vecs.float())
    with pytest.raises(ValueError, match="shape \\(N, 24\\)"):
        K.block_cosines(y[:, :8], idx, vecs)
    with pytest.raises(TypeError, match="idx must be int64"):
        K.block_cosines(y, idx.int(), vecs)
    with pytest.raises(TypeError, match="idx must be int64 of shape \\(4,\\)"):
        K.block_cosines(y, idx[:3], vecs)
    with pytest.raises(ValueError, match="grad must be floating of shape"):
        K.block_cosine_grads(y, idx, vecs, torch.ones(3))


def _launches() -> list:
    """Each kernel at the launch its wrapper uses (:func:`launch_signatures`), one test case
    each; the float64 twin of the hexacode decoder (the same search, other loads and stores,
    about 1.5 minutes to compile here) is in the slow set."""
    if not HAS_TRITON:
        return [pytest.param(None, marks=pytest.mark.skip(reason="Triton is not installed"))]
    from leechkit.models import _triton_kernels as K

    out = []
    for launch in K.launch_signatures():
        fn, signature = launch[0], launch[1]
        dtype = next(v for k, v in signature.items() if k.endswith("_ptr")).lstrip("*")
        slow = fn.__name__ == "_leech_hexacode_kernel" and dtype == "fp64"
        marks = [pytest.mark.slow] if slow else []
        out.append(pytest.param(launch, id=f"{fn.__name__.strip('_')}-{dtype}", marks=marks))
    return out


@pytest.mark.parametrize("launch", _launches())
def test_triton_kernels_compile_for_the_h100_without_a_gpu(launch):
    """Each kernel, at the launch its wrapper uses, compiles to a cubin for sm_90 (Triton's own
    ptxas, no GPU needed): compile-time failures such as a ``tl.gather`` layout that Triton
    cannot lower show up here, not first on the device."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    fn, signature, constants, warps = launch
    assert list(signature) == list(fn.arg_names), f"{fn.__name__}: the test's signature is stale"
    source = ASTSource(fn=fn, signature=signature, constexprs=constants)
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
    assert compiled.asm["cubin"], f"{fn.__name__} produced no cubin"


@pytest.mark.skipif(not HAS_TRITON, reason="Triton is not installed")
def test_triton_kernels_in_the_interpreter_match_their_references():
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run(
        [sys.executable, "-c", INTERPRETED], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


# --- CUDA end to end (skipped without a GPU) ----------------------------------------------------

cuda_only = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


@cuda_only
@pytest.mark.parametrize("kernel", ["hexacode", "groups"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_leech_decode_matches_numba(dtype, kernel, monkeypatch):
    monkeypatch.setattr(ops, "LEECH_DECODE_KERNEL", kernel)
    v = leech().minimal_vectors()
    i, j = RNG.integers(0, len(v), (2, 2000))
    holes = np.zeros((2000, 24))
    holes[np.arange(2000), RNG.integers(0, 24, 2000)] = RNG.choice([-4.0, 4.0], 2000)
    x = np.concatenate(
        [
            RNG.standard_normal((1_000_000, 24)) * 1.5,
            *(RNG.standard_normal((20_000, 24)) * s for s in (1e-3, 1e3, 1e4)),
            adversarial_leech(2000),
            holes / np.sqrt(8) + v[i],  # deep holes
            holes / np.sqrt(8) + v[i] + 1e-9 * RNG.standard_normal((2000, 24)),
            0.5 * (v[i] + v[j]) + 1e-12 * RNG.standard_normal((2000, 24)),
        ]
    )
    xt = torch.as_tensor(x, dtype=dtype, device="cuda")
    got = decode(xt, "leech")
    assert got.device.type == "cuda" and got.dtype == dtype
    want = torch.as_tensor(decode_leech(xt.double().cpu().numpy())).to(dtype)
    assert torch.equal(got.cpu(), want)


@cuda_only
def test_cuda_leech_decode_in_pieces_redoes_every_piece_and_raises_for_a_bad_row(monkeypatch):
    # Pieces of 4,096 rows: the open rows of every piece are redone on the side stream while
    # later pieces decode; a NaN or a huge row in the last piece raises and leaves the
    # streams usable.
    monkeypatch.setattr(ops, "LEECH_DECODE_KERNEL", "hexacode")
    monkeypatch.setattr(ops, "_PIECE_ROWS", 4096)
    v = leech().minimal_vectors()
    i, j = RNG.integers(0, len(v), (2, 3000))
    x = np.concatenate(
        [
            RNG.standard_normal((40_000, 24)) * 1.5,
            adversarial_leech(3000),
            0.5 * (v[i] + v[j]) + 1e-12 * RNG.standard_normal((3000, 24)),
            RNG.standard_normal((1234, 24)) * 1e4,
        ]
    )
    xt = torch.as_tensor(x, dtype=torch.float32, device="cuda")
    got = decode(xt, "leech")
    want = torch.as_tensor(decode_leech(xt.double().cpu().numpy())).float()
    assert torch.equal(got.cpu(), want)
    for bad, message in ((float("nan"), "NaN"), (2.0**51, "2\\*\\*50")):
        y = xt.clone()
        y[-5, 3] = bad
        with pytest.raises(ValueError, match=message):
            decode(y, "leech")
    assert torch.equal(decode(xt, "leech").cpu(), want)


@cuda_only
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_e8_decode_matches_numba(dtype):
    x = np.concatenate([RNG.standard_normal((1_000_000, 8)) * 3, adversarial_e8(20000)])
    xt = torch.as_tensor(x, dtype=dtype, device="cuda")
    got = decode(xt, "e8")
    want = torch.as_tensor(decode_e8(xt.double().cpu().numpy())).to(dtype)
    assert torch.equal(got.cpu(), want)


@cuda_only
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_cuda_search_matches_numba_on_a_million_points_and_adversarial_inputs(dtype):
    # float32 and bfloat16 run the float32 kernel (float64 for the rows its margin leaves
    # open), float64 the float64 kernel; near ties probe the margins.
    v = leech().minimal_vectors()
    pairs = v[RNG.integers(0, len(v), 5000)] + v[RNG.integers(0, len(v), 5000)]
    x = np.concatenate(
        [
            RNG.standard_normal((1_000_000, 24)),
            v[RNG.integers(0, len(v), 5000)],
            RNG.integers(-2, 3, (5000, 24)).astype(float),
            np.where(RNG.random((5000, 24)) < 0.1, 1.0, 0.0),
            pairs + 10.0 ** RNG.uniform(-7, -2, (5000, 1)) * RNG.standard_normal((5000, 24)),
        ]
    )
    xt = torch.as_tensor(x).to(dtype).to("cuda")
    got = nearest_minimal_vector(xt)
    assert np.array_equal(got.cpu().numpy(), numba_search(xt.double().cpu().numpy(), "leech"))


@cuda_only
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_cuda_e8_search_matches_numba_on_a_million_points_and_adversarial_inputs(dtype):
    r = e8().minimal_vectors()
    i, j = RNG.integers(0, 240, (2, 5000))
    x = np.concatenate(
        [
            RNG.standard_normal((1_000_000, 8)),
            adversarial_e8(5000),
            r[i],
            0.5 * (r[i] + r[j]),
            r[i] + r[j] + 10.0 ** RNG.uniform(-9, -2, (5000, 1)) * RNG.standard_normal((5000, 8)),
        ]
    )
    xt = torch.as_tensor(x).to(dtype).to("cuda")
    got = nearest_minimal_vector(xt, "e8")
    assert got.device.type == "cuda"
    assert np.array_equal(got.cpu().numpy(), numba_search(xt.double().cpu().numpy(), "e8"))
    bad = xt[:10].clone()
    bad[4, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        nearest_minimal_vector(bad, "e8")


@cuda_only
@pytest.mark.parametrize("lattice", ["leech", "e8"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_cuda_resonance_cosines_and_gradients_match_the_cpu(lattice, dtype):
    """The fused cosine kernels behind max_cosine on CUDA against the torch reference on the
    CPU: the same indices, cosines within the dtype's rounding, gradients within its rounding
    of their size, also for huge, tiny and zero blocks."""
    from leechkit.models import max_cosine

    n = 24 if lattice == "leech" else 8
    rows = RNG.standard_normal((200_000, n))
    rows[:4] = 0.0
    rows[4:1000] *= 10.0 ** RNG.uniform(-30, 30, (996, 1))
    h = torch.as_tensor(rows).to(dtype)
    weights = torch.as_tensor(RNG.standard_normal(len(rows))).to(dtype)
    out = []
    for device in ("cpu", "cuda"):
        x = h.to(device).requires_grad_(True)
        cos, idx = max_cosine(x, lattice)
        cos.backward(weights.to(device)[:, None])
        out.append((cos.detach().cpu().double(), idx.cpu(), x.grad.cpu().double()))
    (cos_cpu, idx_cpu, grad_cpu), (cos_gpu, idx_gpu, grad_gpu) = out
    eps = torch.finfo(dtype).eps
    assert torch.equal(idx_cpu, idx_gpu)
    torch.testing.assert_close(cos_gpu, cos_cpu, rtol=0, atol=8 * eps)
    assert torch.equal(cos_gpu[:4], torch.zeros(4, 1, dtype=torch.float64))
    assert torch.equal(grad_gpu[:4], torch.zeros(4, n, dtype=torch.float64))
    finite = grad_cpu.isfinite().all(dim=1) & grad_gpu.isfinite().all(dim=1)
    finite[:4] = False
    size = weights.double()[finite, None].abs() / h[finite].double().norm(dim=1, keepdim=True)
    torch.testing.assert_close(grad_gpu[finite] / size, grad_cpu[finite] / size, rtol=0, atol=16 * eps)


@cuda_only
def test_cuda_decode_of_lattice_points_is_the_identity():
    pts = e8().minimal_vectors()
    got = decode(torch.as_tensor(pts, device="cuda", dtype=torch.float32), "e8")
    assert torch.equal(got.cpu().double(), torch.as_tensor(pts))
