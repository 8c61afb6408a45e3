"""Lattice attention: causality, KV cache, the rotate = vanilla invariance, the e8 bias, conway."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from leechkit.lattice import e8, leech
from leechkit.models import LatticeAttention, LatticeTransformer, LatticeTransformerConfig

MODES = ["vanilla", "rotate", "frozen_qk", "e8_bias", "conway"]


@pytest.fixture(autouse=True)
def float64_default():
    """Build the models in float64, so the kernels are orthogonal to float64 rounding."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


LATTICE_CASES = [(mode, "leech") for mode in MODES] + [
    ("rotate", "e8"),
    ("frozen_qk", "e8"),
    ("conway", "e8"),
]


def config(mode: str, lattice: str = "leech", **kw) -> LatticeTransformerConfig:
    width = 48 if lattice == "leech" else 32
    base = dict(
        vocab_size=37, block_size=16, n_layer=2, n_head=2, d_model=width, attention=mode, lattice=lattice
    )
    base.update(kw)
    return LatticeTransformerConfig(**base)


def model(mode: str, lattice: str = "leech", seed: int = 0, **kw) -> LatticeTransformer:
    torch.manual_seed(seed)
    m = LatticeTransformer(config(mode, lattice, **kw)).double().eval()
    for block in m.blocks:  # make the e8 bias visible (it starts at 0)
        if hasattr(block.attn, "head_scales"):
            block.attn.head_scales.data.normal_()
    return m


@pytest.mark.parametrize(("mode", "lattice"), LATTICE_CASES)
def test_causality(mode, lattice):
    m = model(mode, lattice)
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 37, (2, 12), generator=gen)
    logits, _ = m(idx)
    for t in (0, 5, 10):
        changed = idx.clone()
        changed[:, t + 1 :] = torch.randint(0, 37, (2, 11 - t), generator=gen)
        other, _ = m(changed)
        assert torch.equal(logits[:, : t + 1], other[:, : t + 1])
        assert not torch.allclose(logits[:, t + 1 :], other[:, t + 1 :])


@pytest.mark.parametrize(("mode", "lattice"), LATTICE_CASES)
def test_kv_cache_matches_full_attention(mode, lattice):
    torch.manual_seed(0)
    attn = LatticeAttention(config(mode, lattice)).double().eval()
    if hasattr(attn, "head_scales"):
        attn.head_scales.data.normal_()
    x = torch.randn(2, 9, attn.proj.in_features, dtype=torch.float64)
    full, _ = attn(x)
    out, cache = attn(x[:, :4], use_cache=True)  # prefill
    parts = [out]
    y, cache = attn(x[:, 4:6], past_kv=cache, use_cache=True)  # a chunk of two (explicit mask)
    parts.append(y)
    for t in range(6, 9):  # one token at a time
        y, cache = attn(x[:, t : t + 1], past_kv=cache, use_cache=True)
        parts.append(y)
    assert cache[0].shape[2] == 9
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("lattice", "kernel"), [("leech", "frame"), ("e8", "frame"), ("leech", "placeholder")]
)
def test_rotate_scores_equal_vanilla_scores(lattice, kernel):
    torch.manual_seed(0)
    vanilla = LatticeAttention(config("vanilla", lattice)).double()
    rotate = LatticeAttention(config("rotate", lattice, kernel=kernel)).double()
    rotate.load_state_dict({**vanilla.state_dict(), "kernel": rotate.kernel}, strict=True)
    x = torch.randn(3, 11, vanilla.proj.in_features, dtype=torch.float64)
    tol = 1e-12 if kernel == "frame" else 1e-6  # the placeholder is orthogonal to float32 rounding only
    torch.testing.assert_close(rotate.attention_scores(x), vanilla.attention_scores(x), rtol=tol, atol=tol)
    torch.testing.assert_close(rotate(x)[0], vanilla(x)[0], rtol=tol, atol=tol)
    assert not torch.allclose(rotate.project(x)[0], vanilla.project(x)[0])  # q itself is rotated


def test_frozen_qk_scores_are_input_inner_products():
    torch.manual_seed(0)
    attn = LatticeAttention(config("frozen_qk")).double()
    x = torch.randn(2, 7, 48, dtype=torch.float64)
    xh = x.view(2, 7, 2, 24).transpose(1, 2)
    expected = (xh @ xh.transpose(-2, -1)) / math.sqrt(24)
    mask = torch.ones(7, 7, dtype=torch.bool).tril()
    torch.testing.assert_close(
        attn.attention_scores(x)[..., mask], expected[..., mask], rtol=1e-12, atol=1e-12
    )
    assert not any("qkv" in name for name, _ in attn.named_parameters())


@pytest.mark.parametrize("bias", [False, True])
def test_e8_bias_matches_the_formula(bias):
    torch.manual_seed(0)
    cfg = config("e8_bias", bias=bias)
    attn = LatticeAttention(cfg).double()
    attn.head_scales.data = torch.tensor([0.7, -1.3], dtype=torch.float64)
    if bias:
        torch.nn.init.normal_(attn.qkv.bias)
    x = torch.randn(2, 6, 48, dtype=torch.float64)
    q, k, _ = (t.view(2, 6, 2, 24).transpose(1, 2) for t in attn.qkv(x).split(48, dim=2))
    u = attn.head_directions.double()
    pq = torch.einsum("bhtd,hd->bht", q[..., :8], u)
    pk = torch.einsum("bhtd,hd->bht", k[..., :8], u)
    expected = (
        q @ k.transpose(-2, -1) / math.sqrt(24)
        + attn.head_scales.view(1, 2, 1, 1) * pq[..., None] * pk[..., None, :]
    )
    mask = torch.ones(6, 6, dtype=torch.bool).tril()
    torch.testing.assert_close(
        attn.attention_scores(x)[..., mask], expected[..., mask], rtol=1e-12, atol=1e-12
    )
    directions = attn.head_directions.double()
    assert torch.allclose(directions @ directions.T, torch.eye(2, dtype=torch.float64))
    # The scales learn: the folded projection passes gradients to β.
    attn.attention_scores(x).masked_fill(~mask, 0).sum().backward()
    assert attn.head_scales.grad is not None and bool((attn.head_scales.grad != 0).all())


@pytest.mark.parametrize("lattice", ["leech", "e8"])
def test_conway_uses_a_lattice_automorphism(lattice):
    m = LatticeTransformer(config("conway", lattice, automorphism_seed=5))
    lat = leech() if lattice == "leech" else e8()
    vecs = lat.minimal_vectors(integer=True).astype(np.int64)
    key = np.lexsort(vecs.T[::-1])
    mats = []
    for i, block in enumerate(m.blocks):
        g = block.attn.automorphism.numpy().astype(np.int64)
        assert np.array_equal(g, lat.random_automorphism(5 + i))
        moved = vecs @ g.T
        assert np.array_equal(moved[np.lexsort(moved.T[::-1])], vecs[key])
        torch.testing.assert_close(block.attn.key_kernel, block.attn.automorphism.T @ block.attn.kernel)
        mats.append(g)
    assert not np.array_equal(mats[0], mats[1])  # one automorphism per block


def test_conway_scores_are_twisted_inner_products():
    torch.manual_seed(0)
    attn = LatticeAttention(config("conway")).double()
    x = torch.randn(1, 5, 48, dtype=torch.float64)
    xh = x.view(1, 5, 2, 24).transpose(1, 2)
    g = attn.automorphism.double()
    expected = (xh @ g @ xh.transpose(-2, -1)) / math.sqrt(24)  # <x_i, g x_j>
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    torch.testing.assert_close(
        attn.attention_scores(x)[..., mask], expected[..., mask], rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("mode", ["rotate", "conway", "e8_bias"])
def test_folded_weights_follow_a_loaded_state_dict(mode):
    """The folded query/key weights are derived buffers: not saved, rebuilt from the loaded
    kernel, and equal to the activation-space formulas of the module docstring."""
    torch.manual_seed(0)
    attn = LatticeAttention(config(mode)).double()
    derived = {"rotate": "row_kernels", "conway": "frozen_qk_weight", "e8_bias": "direction_lift"}[mode]
    assert derived not in attn.state_dict()
    other = torch.linalg.qr(torch.randn(24, 24, dtype=torch.float64))[0]
    state = dict(attn.state_dict())
    if mode == "e8_bias":
        state["head_scales"] = torch.tensor([0.4, -0.9], dtype=torch.float64)
        state["head_directions"] = attn.head_directions.flip(0)
    else:
        state["kernel"] = other
    if mode == "conway":
        state["key_kernel"] = attn.automorphism.T @ other
    attn.load_state_dict(state)
    x = torch.randn(2, 5, 48, dtype=torch.float64)
    q, k, v = attn.project(x)
    blocks = x.view(2, 5, 2, 24)
    if mode == "rotate":
        q0, k0, v0 = attn.qkv(x).split(48, dim=2)
        want_q = (q0.view(2, 5, 2, 24) @ other).view(2, 5, 48)
        want_k = (k0.view(2, 5, 2, 24) @ other).view(2, 5, 48)
    elif mode == "conway":
        want_q = (blocks @ other).view(2, 5, 48)
        want_k = (blocks @ attn.automorphism.T @ other).view(2, 5, 48)
        v0 = attn.value(x)
    else:
        q0, want_k, v0 = attn.qkv(x).split(48, dim=2)
        qh = q0.view(2, 5, 2, 24).clone()
        u = attn.head_directions
        s = attn.head_scales * math.sqrt(24)
        qh[..., :8] += (s * torch.einsum("bthi,hi->bth", qh[..., :8], u))[..., None] * u
        want_q = qh.view(2, 5, 48)
    heads = lambda t: t.view(2, 5, 2, 24).transpose(1, 2)  # noqa: E731
    torch.testing.assert_close(q, heads(want_q), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(k, heads(want_k), rtol=1e-12, atol=1e-12)
    assert torch.equal(v, heads(v0))


@pytest.mark.parametrize("mode", ["rotate", "e8_bias"])
def test_folded_and_called_projections_agree(mode):
    """A hooked (or quantized) qkv layer is called and the lattice map applied to its output;
    the result equals the folded weight's."""
    torch.manual_seed(0)
    attn = LatticeAttention(config(mode)).double()
    if mode == "e8_bias":
        attn.head_scales.data = torch.tensor([0.4, -0.9], dtype=torch.float64)
    x = torch.randn(2, 5, 48, dtype=torch.float64)
    folded = attn.project(x)
    seen = []
    handle = attn.qkv.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    called = attn.project(x)
    handle.remove()
    assert len(seen) == 1 and torch.equal(seen[0], x)
    for a, b in zip(folded, called):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [False, True])
def test_written_out_fold_gradients_pass_gradcheck(bias):
    """The e8_bias fold is an autograd function with a hand-written backward over a stack of
    layers; its gradients (weights, biases and head scales of both layers) equal the finite
    differences, and its values the generic graph of the formula, layer by layer."""
    from leechkit.models.attention import _DirectionFold

    gen = torch.Generator().manual_seed(1)
    w = [torch.randn(48, 16, generator=gen, requires_grad=True) for _ in range(2)]
    b = [torch.randn(48, generator=gen, requires_grad=True) for _ in range(2)] if bias else []
    lift = torch.zeros(2, 48, 2)
    lift[:, 0:8, 0], lift[:, 8:16, 1] = torch.randn(2, 8, generator=gen), torch.randn(2, 8, generator=gen)
    scales = [torch.randn(2, generator=gen, requires_grad=True) for _ in range(2)]
    lift_t = lift.transpose(1, 2)
    fold = lambda *args: _DirectionFold.apply(lift, lift_t, 2.5 * lift_t, 2.5, 2, *args)  # noqa: E731
    assert torch.autograd.gradcheck(fold, (*w, *b, *scales))
    folded = fold(*w, *b, *scales)
    assert len(folded) == 2 * (1 + bias)
    for layer in range(2):
        u, beta = lift[layer], scales[layer]
        want = torch.addmm(w[layer], u * beta * 2.5, u.T @ w[layer])
        torch.testing.assert_close(folded[layer], want, rtol=1e-12, atol=1e-12)
        if bias:
            want_b = b[layer] + (u * beta * 2.5) @ (u.T @ b[layer])
            torch.testing.assert_close(folded[2 + layer], want_b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [False, True])
def test_written_out_rotate_fold_passes_gradcheck(bias):
    """The rotate fold's autograd function (one node for a stack of layers) has the
    finite-difference gradients and maps every n-row block W_b of each layer to K_bᵀ W_b."""
    from leechkit.models.attention import _BlockFold

    gen = torch.Generator().manual_seed(2)
    w = [torch.randn(12, 5, generator=gen, requires_grad=True) for _ in range(2)]
    b = [torch.randn(12, generator=gen, requires_grad=True) for _ in range(2)] if bias else []
    blocks = torch.randn(6, 4, 4, generator=gen)  # 2 layers of 12 rows, blocks of 4 rows
    fold = lambda *args: _BlockFold.apply(blocks, blocks.transpose(1, 2), 2, *args)  # noqa: E731
    assert torch.autograd.gradcheck(fold, (*w, *b))
    folded = fold(*w, *b)
    assert len(folded) == 2 * (1 + bias)
    for layer in range(2):
        kernel = torch.block_diag(*blocks[3 * layer : 3 * layer + 3])
        torch.testing.assert_close(folded[layer], kernel @ w[layer], rtol=1e-12, atol=1e-12)
        if bias:
            torch.testing.assert_close(folded[2 + layer], kernel @ b[layer], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["rotate", "e8_bias"])
def test_frozen_fold_operands_follow_their_buffers(mode):
    """The frozen operands of a group's fold are stacked once and reused, and rebuilt when a
    layer's derived buffer changes in place, is replaced by a loaded state dict or moves to
    another dtype: each time every layer's fold equals the formula on its current buffers,
    and the folded projection the activation-space reference."""
    from leechkit.models import fold_qkv_weights
    from leechkit.models.attention import _frozen_operands

    m = model(mode, n_layer=3)
    layers = [block.attn for block in m.blocks]
    name = "row_kernels" if mode == "rotate" else "direction_lift"
    x = torch.randn(2, 5, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(5))

    def formula(layer):
        w = layer.qkv.weight
        if mode == "rotate":
            return torch.block_diag(*layer.row_kernels) @ w
        u = layer.direction_lift
        return w + (u * layer.head_scales * math.sqrt(24)) @ (u.T @ w)

    def check(projections=True):
        for layer, (weight, bias) in zip(layers, fold_qkv_weights(layers)):
            torch.testing.assert_close(weight, formula(layer), rtol=1e-12, atol=1e-12)
            if projections:
                q, k, v = F.linear(x, weight, bias).split(48, dim=2)
                for got, want in zip((q, k, v), layer._activation_projection(x)):
                    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)

    check()
    first = _frozen_operands(layers)
    assert all(a is b for a, b in zip(_frozen_operands(layers), first))
    with torch.no_grad():
        getattr(layers[1], name).mul_(-1.0)  # a new version of a buffer
    assert _frozen_operands(layers)[0] is not first[0]
    check(projections=False)  # the buffer no longer matches the kernel or directions
    state = layers[1].state_dict()
    if mode == "rotate":
        state["kernel"] = torch.linalg.qr(torch.randn(24, 24, dtype=torch.float64))[0]
    else:
        state["head_directions"] = layers[1].head_directions.flip(0)
    layers[1].load_state_dict(state)
    check()
    m.float()
    x = x.float()
    assert _frozen_operands(layers)[0].dtype == torch.float32
    for layer, (weight, _) in zip(layers, fold_qkv_weights(layers)):
        torch.testing.assert_close(weight, layer._qkv_projection()[0], rtol=0, atol=0)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("mode", ["rotate", "e8_bias", "conway", "vanilla"])
def test_a_models_shared_fold_equals_each_layers_own(mode, bias):
    """fold_qkv_weights folds all layers of a mode at once; the model's logits and every
    parameter's gradient equal those of the layers folding (or projecting) one by one, and a
    layer whose qkv is watched by a hook is left to project for itself."""
    from leechkit.models import fold_qkv_weights

    m = model(mode, n_layer=3, bias=bias).train()
    idx = torch.randint(0, 37, (2, 9), generator=torch.Generator().manual_seed(4))
    layers = [block.attn for block in m.blocks]
    folds = fold_qkv_weights(layers)
    foldable = mode in ("rotate", "e8_bias")
    assert [f is not None for f in folds] == [foldable] * 3
    for layer, folded in zip(layers, folds):
        if folded is not None:
            own = layer._qkv_projection()
            torch.testing.assert_close(folded[0], own[0], rtol=1e-13, atol=1e-13)
            assert (folded[1] is None) == (not bias)
            if bias:
                torch.testing.assert_close(folded[1], own[1], rtol=1e-13, atol=1e-13)

    def one_by_one():
        x = m.drop(m.tok_emb(idx) + m.pos_emb(torch.arange(9)))
        for block in m.blocks:
            x, _ = block(x)
        return m.ln_f(x)

    def loss_and_grads(hidden):
        m.zero_grad()
        loss = m.logits(hidden()).square().mean()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in m.parameters()]

    want, want_grads = loss_and_grads(one_by_one)
    got, got_grads = loss_and_grads(lambda: m.hidden_states(idx)[0])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    if foldable:
        handle = layers[1].qkv.register_forward_hook(lambda *args: None)
        assert [f is not None for f in fold_qkv_weights(layers)] == [True, False, True]
        handle.remove()


@pytest.mark.parametrize("mode", ["rotate", "e8_bias"])
def test_folds_keep_float32_weights_under_autocast(mode):
    """Under bf16 autocast the fold itself runs in the parameters' dtype (F.linear casts its
    result), and the gradients reach the float32 parameters."""
    torch.set_default_dtype(torch.float32)
    attn = LatticeAttention(config(mode, bias=True))
    weight, _ = attn._qkv_projection()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert attn._qkv_projection()[0].dtype == torch.float32
        y, _ = attn(torch.randn(2, 5, 48))
    assert y.dtype == torch.bfloat16
    y.float().square().sum().backward()
    grads = [p.grad for p in attn.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(weight, attn._qkv_projection()[0], rtol=0, atol=0)


def test_shared_fold_keeps_layers_of_other_lattices_apart():
    """Layers of one mode and weight shape but different lattices (block sizes) are folded in
    separate groups, each equal to the layer's own fold."""
    from leechkit.models import fold_qkv_weights

    layers = [LatticeAttention(config("rotate", lattice="leech", d_model=48)) for _ in range(2)]
    layers.insert(1, LatticeAttention(config("rotate", lattice="e8", d_model=48)))
    for layer, folded in zip(layers, fold_qkv_weights(layers)):
        torch.testing.assert_close(folded[0], layer._qkv_projection()[0], rtol=0, atol=0)
