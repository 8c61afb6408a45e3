"""Kernels, phase modulation and pictures, adapters, telemetry; torch stays out of the core."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from leechkit.lattice import e8, leech
from leechkit.models import (
    LatticeAdapter,
    LatticeTransformer,
    LatticeTransformerConfig,
    LoRALinear,
    PhaseModulation,
    TelemetryCallback,
    apply_adapters,
    e8_head_directions,
    format_table,
    lattice_frame,
    lila_placeholder_kernel,
    merge_adapters,
    monster_sync,
    plot_embedding_pca,
    plot_phase_heatmap,
    weight_telemetry,
)
from leechkit.models.adapters import lattice_block_map


# --- kernels --------------------------------------------------------------------------------
@pytest.mark.parametrize(("lattice", "norm"), [("leech", 32), ("e8", 8)])
def test_lattice_frame_rows_are_orthogonal_minimal_vectors(lattice, norm):
    ints = lattice_frame(lattice, integer=True).numpy()
    n = ints.shape[0]
    assert np.array_equal(ints @ ints.T, norm * np.eye(n, dtype=np.int64))
    lat = leech() if lattice == "leech" else e8()
    minimal = {tuple(v) for v in lat.minimal_vectors(integer=True).tolist()}
    assert all(tuple(v) in minimal for v in ints.tolist())
    f = lattice_frame(lattice, dtype=torch.float64)
    torch.testing.assert_close(f @ f.T, torch.eye(n, dtype=torch.float64), rtol=0, atol=1e-15)
    assert lattice_frame(lattice).dtype == torch.get_default_dtype()


def test_placeholder_kernel_reproduces_the_seed_construction():
    q = lila_placeholder_kernel()
    assert q.shape == (24, 24) and q.dtype == torch.float32
    torch.testing.assert_close(q @ q.T, torch.eye(24), rtol=0, atol=1e-5)
    base = torch.zeros(24, 24)
    for i in range(23):
        base[i, i] = base[i, i + 1] = 2.0
    base[23, 23], base[23, 0] = 2.0, -2.0
    expected, r = torch.linalg.qr(base)
    assert torch.equal(q, expected)
    torch.testing.assert_close(q @ r, base, rtol=0, atol=1e-5)
    # its rows are not directions of Leech minimal vectors
    vecs = torch.from_numpy(leech().minimal_vectors()).float() / 2.0
    assert (q @ vecs.T).max() < 0.99
    with pytest.raises(ValueError, match="dim"):
        lila_placeholder_kernel(1)


def test_e8_head_directions():
    d = e8_head_directions(10, dtype=torch.float64)
    torch.testing.assert_close(d.norm(dim=1), torch.ones(10, dtype=torch.float64))
    torch.testing.assert_close(d[:8] @ d[:8].T, torch.eye(8, dtype=torch.float64))
    assert len({tuple(r) for r in d.tolist()}) == 10
    with pytest.raises(ValueError, match="n_heads"):
        e8_head_directions(241)


def test_core_does_not_import_torch():
    code = (
        "import sys, leechkit.lattice, leechkit.lattice.lattices.automorphisms; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- phase ------------------------------------------------------------------------------------
def test_phase_modulation_formula_and_gradient():
    mod = PhaseModulation(r_init=2.0).double()
    h = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    alpha = 1 / 137.036
    torch.testing.assert_close(mod(h), h * (1 + alpha * torch.sin(2.0 * h + alpha)))
    assert ((mod(h) - h).abs() <= alpha * h.abs() + 1e-15).all()
    mod(h).sum().backward()
    assert mod.r.grad is not None and h.grad is not None
    assert ((mod.phase(h) >= 0) & (mod.phase(h) < 2 * math.pi)).all()


def test_monster_sync():
    low_rank = torch.randn(2, 40, 3) @ torch.randn(2, 3, 48)
    torch.testing.assert_close(monster_sync(low_rank, rank=3), torch.ones(2))
    flat = torch.eye(30).unsqueeze(0)
    torch.testing.assert_close(monster_sync(flat, rank=6), torch.tensor([0.2]))
    assert monster_sync(torch.zeros(4, 5)).item() == 0.0
    with pytest.raises(ValueError, match="rank"):
        monster_sync(flat, rank=0)


def test_pictures_are_png(tmp_path):
    a = plot_embedding_pca(torch.randn(50, 16), tmp_path / "pca.png", labels=[f"t{i}" for i in range(50)])
    b = plot_phase_heatmap(torch.randn(12, 16), tmp_path / "sub" / "phase.png", r=1.5)
    for path in (a, b):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="embedding"):
        plot_embedding_pca(torch.randn(5), tmp_path / "x.png")


# --- adapters ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("d_in", "d_out"), [(48, 48), (50, 30), (20, 100), (24, 24)])
def test_block_map_covers_every_block(d_in, d_out):
    frame = lattice_frame("leech", dtype=torch.float64)
    k = lattice_block_map(d_in, d_out, frame)
    assert k.shape == (d_out, d_in)
    for a in range(math.ceil(d_out / 24)):
        assert k[a * 24 : (a + 1) * 24].abs().sum() > 0
    for b in range(math.ceil(d_in / 24)):
        assert k[:, b * 24 : (b + 1) * 24].abs().sum() > 0
    if d_in == d_out == 24:
        assert torch.equal(k, frame)


@pytest.mark.parametrize("kind", ["lattice", "lora"])
def test_adapter_training_and_merge(kind):
    torch.manual_seed(0)
    cfg = LatticeTransformerConfig(vocab_size=31, block_size=8, n_layer=2, n_head=2, d_model=48)
    m = LatticeTransformer(cfg)
    idx = torch.randint(0, 31, (2, 8))
    before = m(idx)[0]
    names = apply_adapters(m, target=["blocks.*.attn.proj", "blocks.*.mlp.fc"], kind=kind)
    assert names == ["blocks.0.attn.proj", "blocks.0.mlp.fc", "blocks.1.attn.proj", "blocks.1.mlp.fc"]
    torch.testing.assert_close(m(idx)[0], before)  # adapters start as the identity change
    trainable = [n for n, p in m.named_parameters() if p.requires_grad]
    assert trainable and all(("scales" in n) or ("lora_" in n) for n in trainable)
    frozen = {n: p.clone() for n, p in m.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):
        _, loss = m(idx, idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in m.named_parameters() if n in frozen)
    adapted = m(idx)[0]
    assert not torch.allclose(adapted, before)
    assert merge_adapters(m) == names
    assert all(type(m.get_submodule(n)) is nn.Linear for n in names)
    torch.testing.assert_close(m(idx)[0], adapted, rtol=1e-5, atol=1e-5)


def test_adapter_bad_arguments():
    with pytest.raises(TypeError, match=r"nn\.Linear"):
        LatticeAdapter(nn.Conv1d(2, 2, 1))
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(4, 4), rank=0)
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        apply_adapters(nn.Sequential(nn.Linear(3, 3)), target="nothing*")
    with pytest.raises(ValueError, match="kind"):
        apply_adapters(nn.Sequential(nn.Linear(3, 3)), target="*", kind="dora")


# --- telemetry --------------------------------------------------------------------------------
def test_telemetry_values_and_callback():
    layer = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.diag(torch.tensor([4.0, 2.0, 1.0])))
    (stats,) = weight_telemetry(nn.Sequential(layer))
    assert stats.shape == (3, 3)
    assert stats.spectral_norm == pytest.approx(4.0)
    assert stats.stable_rank == pytest.approx((16 + 4 + 1) / 16)
    assert stats.condition_number == pytest.approx(4.0)
    table = format_table([stats])
    assert "stable rank (SR)" in table and "| 0.weight | 3×3 | 4 | 1.312 | 4 |" in table
    seen = []
    cb = TelemetryCallback(every=2, sink=lambda step, s: seen.append(step))
    m = LatticeTransformer(
        LatticeTransformerConfig(vocab_size=11, block_size=4, n_layer=1, n_head=1, d_model=24)
    )
    for step in range(5):
        cb(step, m)
    assert seen == [0, 2, 4]
    names = [s.name for s in cb.history[0][1]]
    assert "tok_emb.weight" in names and "lm_head.weight" not in names  # tied: reported once
    with pytest.raises(ValueError, match="every"):
        TelemetryCallback(every=0)
