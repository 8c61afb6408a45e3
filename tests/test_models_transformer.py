"""LatticeTransformer: configuration checks, loss, generation, frozen buffers, persistence."""

import json

import pytest
import torch
import torch.nn.functional as F

from leechkit.models import LatticeTransformer, LatticeTransformerConfig, ResonanceMonitor

MODES = ["vanilla", "rotate", "frozen_qk", "e8_bias", "conway"]


def small(mode: str = "vanilla", **kw) -> LatticeTransformerConfig:
    base = dict(vocab_size=41, block_size=16, n_layer=2, n_head=2, d_model=48, attention=mode)
    base.update(kw)
    return LatticeTransformerConfig(**base)


def build(mode: str = "vanilla", seed: int = 0, **kw) -> LatticeTransformer:
    torch.manual_seed(seed)
    return LatticeTransformer(small(mode, **kw))


# --- configuration ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(d_model=50, n_head=4), "d_model=50 is not a multiple of n_head=4"),
        (dict(attention="rotate", d_model=64, n_head=2), "head_dim = d_model / n_head = 64 / 2 = 32"),
        (dict(attention="conway", lattice="e8", d_model=36, n_head=3), "e8 dimension 8"),
        (dict(attention="e8_bias", d_model=8, n_head=2), "head_dim ≥ 8"),
        (dict(attention="sideways"), "attention must be one of"),
        (dict(lattice="d4"), "lattice must be one of"),
        (dict(kernel="placeholder", lattice="e8"), "Leech only"),
        (dict(dropout=1.0), "dropout must be in"),
        (dict(resonance_weight=-0.1), "resonance_weight"),
        (dict(resonance_weight=0.1, d_model=40, n_head=2), "d_model=40 into 24-D blocks"),
        (dict(block_size=0), "block_size must be positive"),
    ],
)
def test_invalid_configs_raise_with_the_numbers(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        small(**kw)


def test_config_types_and_round_trip(tmp_path):
    with pytest.raises(TypeError, match="n_layer must be an int"):
        small(n_layer=2.0)
    cfg = small("conway", automorphism_seed=3, phase_modulation=True)
    cfg.save(tmp_path / "c.json")
    assert LatticeTransformerConfig.load(tmp_path / "c.json") == cfg
    with pytest.raises(ValueError, match="unknown configuration keys"):
        LatticeTransformerConfig.from_dict({**cfg.to_dict(), "n_embd": 4})
    with pytest.raises(TypeError, match="LatticeTransformerConfig"):
        LatticeTransformer({"vocab_size": 3})


# --- forward and loss ---------------------------------------------------------------------
def test_loss_ignores_padding():
    m = build()
    idx = torch.randint(0, 41, (3, 10))
    targets = torch.randint(0, 41, (3, 10))
    targets[0, 6:] = -100
    targets[2, :3] = -100
    logits, loss = m(idx, targets)
    keep = targets != -100
    expected = F.cross_entropy(logits[keep], targets[keep])
    torch.testing.assert_close(loss, expected)
    assert logits.shape == (3, 10, 41)
    assert m(idx)[1] is None


def test_resonance_term_is_added():
    m = build(resonance_weight=0.5)
    idx = torch.randint(0, 41, (2, 8))
    _, loss = m(idx, idx)
    terms = m.last_loss_terms
    torch.testing.assert_close(loss.detach(), terms["cross_entropy"] + 0.5 * terms["resonance"])
    loss.backward()
    assert m.tok_emb.weight.grad is not None


def test_bad_inputs_raise_clearly():
    m = build()
    with pytest.raises(TypeError, match="int64 or int32"):
        m(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="shape"):
        m(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="exceeds block_size=16"):
        m(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 41\)"):
        m(torch.full((1, 3), 41))
    with pytest.raises(ValueError, match="targets"):
        m(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature"):
        m.generate(torch.zeros(1, 2, dtype=torch.long), 3, temperature=-1.0)
    with pytest.raises(ValueError, match="top_p"):
        m.generate(torch.zeros(1, 2, dtype=torch.long), 3, top_p=0.0)
    with pytest.raises(ValueError, match="repetition_penalty"):
        m.generate(torch.zeros(1, 2, dtype=torch.long), 3, repetition_penalty=0.5)


# --- generation -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_kv_cache_generation_equals_recomputation(mode):
    torch.set_default_dtype(torch.float64)
    try:
        m = build(mode, seed=1)
    finally:
        torch.set_default_dtype(torch.float32)
    prompt = torch.randint(0, 41, (2, 5), generator=torch.Generator().manual_seed(2))
    cached = m.generate(prompt, 20, temperature=0.0, use_cache=True)  # runs past block_size=16
    plain = m.generate(prompt, 20, temperature=0.0, use_cache=False)
    assert cached.shape == (2, 25)
    assert torch.equal(cached, plain)
    # greedy generation is the argmax of the full forward pass, token by token
    logits, _ = m(cached[:, :16])
    assert torch.equal(logits[:, 4:15].argmax(-1), cached[:, 5:16])


def test_sampling_options():
    m = build(seed=3)
    prompt = torch.zeros(4, 1, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    a = m.generate(prompt, 6, temperature=0.8, top_k=5, top_p=0.9, generator=gen)
    b = m.generate(prompt, 6, temperature=0.8, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]])
    kept = LatticeTransformer._filter(logits, top_k=2, top_p=None)
    assert torch.isinf(kept[0, 2:]).all() and torch.isfinite(kept[0, :2]).all()
    nucleus = LatticeTransformer._filter(logits, top_k=None, top_p=0.5)
    assert torch.isfinite(nucleus[0]).sum() == 1  # p(first) = 0.64 ≥ 0.5
    assert torch.equal(m.generate(prompt, 0), prompt)


def test_top_k_one_is_greedy_and_repetition_penalty_changes_choices():
    m = build(seed=4)
    prompt = torch.randint(0, 41, (2, 3))
    greedy = m.generate(prompt, 8, temperature=0.0)
    assert torch.equal(m.generate(prompt, 8, temperature=1.0, top_k=1), greedy)
    fixed = torch.zeros(41)
    fixed[7], fixed[8] = 5.0, 4.0
    m.logits = lambda h: fixed.expand(h.shape[0], -1).clone()
    start = torch.zeros(2, 1, dtype=torch.long)
    assert (m.generate(start, 3, temperature=0.0)[:, 1:] == 7).all()
    penalized = m.generate(start, 3, temperature=0.0, repetition_penalty=2.0)
    assert penalized[0].tolist() == [0, 7, 8, 7]  # 5/2 < 4, then 4/2 < 5/2
    windowed = m.generate(start, 3, temperature=0.0, repetition_penalty=2.0, repetition_window=1)
    assert windowed[0].tolist() == [0, 7, 8, 7]


def test_stop_token_pads_and_ends():
    m = build(seed=5)
    prompt = torch.randint(0, 41, (3, 2))
    free = m.generate(prompt, 6, temperature=0.0)
    stop = int(free[0, 2])  # the first generated token of row 0
    out = m.generate(prompt, 6, temperature=0.0, stop_token=stop)
    assert (out[0, 2:] == stop).all()
    for row in range(3):
        hits = (out[row, 2:] == stop).nonzero()
        if len(hits):
            assert (out[row, 2 + int(hits[0]) :] == stop).all()


def test_resonance_callback_during_generation():
    m = build(seed=6)
    monitor = ResonanceMonitor("leech")
    out = m.generate(torch.zeros(2, 1, dtype=torch.long), 5, temperature=0.0, callback=monitor.record)
    assert out.shape == (2, 6)
    assert [r.step for r in monitor.history] == list(range(5))
    assert monitor.history[0].resonance.shape == (2,)
    assert sum(monitor.summary().values()) == 10


# --- frozen kernels -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["rotate", "frozen_qk", "e8_bias", "conway"])
def test_frozen_kernels_are_buffers_unchanged_by_training(mode):
    m = build(mode, phase_modulation=True, resonance_weight=0.1)
    buffers = {name: b.clone() for name, b in m.named_buffers()}
    assert buffers, "lattice modes register frozen buffers"
    param_ids = {id(p) for p in m.parameters()}
    assert not any(id(b) in param_ids for b in m.buffers())
    assert not any(n.endswith(("kernel", "automorphism", "head_directions")) for n, _ in m.named_parameters())
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1)
    idx = torch.randint(0, 41, (2, 12))
    for _ in range(2):
        _, loss = m(idx, idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for name, b in m.named_buffers():
        assert torch.equal(b, buffers[name]), name
    counts = m.parameter_counts()
    assert counts["buffers"] == sum(b.numel() for b in buffers.values()) > 0
    assert counts["trainable"] == sum(p.numel() for p in m.parameters())
    assert counts["frozen"] == counts["buffers"]


def test_frozen_qk_has_fewer_trainable_parameters():
    vanilla = build("vanilla").parameter_counts()["trainable"]
    frozen = build("frozen_qk").parameter_counts()["trainable"]
    assert vanilla - frozen == 2 * 2 * 48 * 48  # two blocks lose W_q and W_k


# --- persistence ----------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "dtype"), [("conway", torch.float32), ("e8_bias", torch.float64)])
def test_save_load_round_trip_is_bit_exact(tmp_path, mode, dtype):
    m = build(mode, phase_modulation=True).to(dtype)
    m.attach_resonator(0.3)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    m.save_pretrained(tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["attention"] == mode
    loaded = LatticeTransformer.from_pretrained(tmp_path / "ckpt")
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    assert loaded.lm_head.weight is loaded.tok_emb.weight
    idx = torch.randint(0, 41, (2, 9))
    assert torch.equal(m.eval()(idx)[0], loaded.eval()(idx)[0])
    with pytest.raises(FileNotFoundError):
        LatticeTransformer.from_pretrained(tmp_path / "missing")
