"""Weight quantizers: codebooks, bit accounting, Hessian correction, persistence, models, CLI."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from leechkit.cli.main import main  # noqa: E402
from leechkit.cli.quantize import METHODS as CLI_METHODS  # noqa: E402
from leechkit.lattice import e8  # noqa: E402
from leechkit.lattice.quantizers.shells import LeechShellCode  # noqa: E402
from leechkit.models import LatticeTransformer, LatticeTransformerConfig  # noqa: E402
from leechkit.models._hadamard import RandomHadamard, splitmix64  # noqa: E402
from leechkit.models._weight_codecs import E8Stage, lloyd_max, pack_bits, unpack_bits  # noqa: E402
from leechkit.models.data import is_validation_document  # noqa: E402
from leechkit.models.evaluation import evaluate_checkpoint  # noqa: E402
from leechkit.models.tokenizer import ByteTokenizer  # noqa: E402
from leechkit.models.weight_quant import (  # noqa: E402
    METHODS,
    QuantizedLinear,
    calibration_blocks,
    collect_hessians,
    llvq_stages,
    load_quantized,
    quantize_model,
    quantize_weight,
    save_quantized,
)

ALL = [
    ("rtn", 2),
    ("gptq", 3),
    ("e8", 2),
    ("e8", 3),
    ("leech-voronoi", 2),
    ("llvq", 1),
    ("llvq", 2),
    ("llvq", 3),
]


def correlated_layer(rows: int = 48, cols: int = 72, samples: int = 4000, seed: int = 0):
    """A weight, and the Hessian 2XᵀX/N of strongly correlated inputs (a random mixing of iid noise)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g, dtype=torch.float64) * 0.05
    mix = torch.randn(cols, cols, generator=g, dtype=torch.float64) / math.sqrt(cols)
    x = torch.randn(samples, cols, generator=g, dtype=torch.float64) @ (0.1 * torch.eye(cols) + mix)
    return w.float(), 2 * x.T @ x / samples


def output_error(w: torch.Tensor, w_hat: torch.Tensor, h: torch.Tensor) -> float:
    d = w_hat.double() - w.double()
    return float(((d @ h) * d).sum() / ((w.double() @ h) * w.double()).sum())


def hessian_kwargs(method: str, h: torch.Tensor) -> dict:
    return {"hessian": h} if method == "gptq" else {}


# --------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("width", [1, 2, 3, 7, 8, 13, 24, 47])
def test_bit_packing_round_trip(width):
    g = torch.Generator().manual_seed(width)
    values = torch.randint(0, 1 << min(width, 62), (1001,), generator=g, dtype=torch.int64)
    values[0] = (1 << width) - 1
    packed = pack_bits(values, width)
    assert packed.dtype == torch.uint8 and packed.numel() == math.ceil(1001 * width / 8)
    assert torch.equal(unpack_bits(packed, width, 1001), values)
    with pytest.raises(ValueError, match="values must lie"):
        pack_bits(torch.tensor([1 << width]), width)


def test_splitmix64_reference_value_and_hadamard_is_an_exact_rotation():
    # SplitMix64 from seed 0: the published first output.
    assert int(splitmix64(0, 1)[0]) == 0xE220A8397B1DCDAF
    rot = RandomHadamard(96, seed=5)
    assert rot.block == 32
    x = torch.randn(7, 96, dtype=torch.float64)
    y = rot.forward(x)
    assert torch.allclose(y.norm(dim=1), x.norm(dim=1), atol=1e-12)
    assert torch.allclose(rot.inverse(y), x, atol=1e-12)
    # The matrix of T is orthogonal, and T H Tᵀ is its conjugation.
    t = rot.forward(torch.eye(96, dtype=torch.float64)).T
    assert torch.allclose(t @ t.T, torch.eye(96, dtype=torch.float64), atol=1e-12)
    h = torch.randn(96, 96, dtype=torch.float64)
    h = h @ h.T
    assert torch.allclose(rot.conjugate(h), t @ h @ t.T, atol=1e-9)
    # The seed alone determines the rotation.
    again = RandomHadamard(96, seed=5)
    assert np.array_equal(again.perm, rot.perm) and np.array_equal(again.signs, rot.signs)
    other = RandomHadamard(96, seed=6)
    assert not (np.array_equal(other.perm, rot.perm) and np.array_equal(other.signs, rot.signs))


def test_lloyd_max_finds_two_clusters_and_never_increases_the_error():
    g = torch.Generator().manual_seed(0)
    v = torch.cat(
        [
            torch.randn(500, generator=g, dtype=torch.float64) * 0.01 + 1,
            torch.randn(500, generator=g, dtype=torch.float64) * 0.01 + 3,
        ]
    )
    levels = lloyd_max(v, 2)
    assert torch.allclose(levels, torch.tensor([1.0, 3.0], dtype=torch.float64), atol=0.01)
    x = torch.randn(2000, generator=g, dtype=torch.float64)
    errors = []
    for it in (1, 3, 10, 30):
        lv = lloyd_max(x, 8, iterations=it)
        errors.append(float(torch.min((x[:, None] - lv[None]) ** 2, dim=1).values.mean()))
    assert all(a >= b - 1e-15 for a, b in itertools.pairwise(errors))


@pytest.mark.parametrize("bits", [1, 2])
def test_e8_codebook_is_a_symmetric_ball_of_e8_points_and_the_search_is_exact(bits):
    stage = E8Stage(bits)
    pts = stage.points
    assert pts.shape == ({1: 241, 2: 64497}[bits], 8)
    assert e8().contains(pts).all()
    assert len({tuple(p) for p in pts}) == pts.shape[0]
    assert {tuple(-p) for p in pts} == {tuple(p) for p in pts}
    norms = (pts**2).sum(axis=1)
    assert np.all(np.diff(norms) >= 0)  # index order: by norm
    # Every E8 point of norm below the largest norm used is in the codebook.
    assert (norms < norms.max()).sum() == {1: 1, 2: 56881}[bits]
    g = torch.Generator().manual_seed(bits)
    y = torch.randn(600, 8, generator=g, dtype=torch.float64) * (0.5 if bits == 1 else 1.3)
    y[:100] *= 4  # overload: far outside the ball
    idx = stage.encode(y)
    table = torch.tensor(pts)
    best = torch.cat(
        [
            ((y[i : i + 100, None, :] - table[None]) ** 2).sum(-1).min(dim=1).values
            for i in range(0, y.shape[0], 100)
        ]
    )
    chosen = ((y - table[idx]) ** 2).sum(-1)
    assert torch.allclose(chosen, best, atol=1e-12)


def test_llvq_stage_plan():
    assert llvq_stages(1) == [(6, 6, 0)]
    assert llvq_stages(2) == [(4, 24, 1)]
    assert llvq_stages(3) == [(4, 24, 1), (6, 6, 0)]
    assert llvq_stages(4) == [(4, 24, 1), (4, 24, 1)]
    for lo, hi, g in llvq_stages(2, gain_bits=3):
        assert LeechShellCode(max_norm=hi, min_norm=lo).bits + g <= 48
    with pytest.raises(ValueError, match="less than the 18 bits"):
        llvq_stages(1, gain_bits=7)


# --------------------------------------------------------------------------- layers


def expected_bits(
    layer: QuantizedLinear,
    method: str,
    bits: int,
    rows: int,
    cols: int,
    d: int,
    hadamard: bool,
    group: int | None,
) -> int:
    """The stored bits, from the method's definition (not from the layer's stream list)."""
    unit = d * 16 // math.gcd(d, 16) if hadamard else d
    n_pad = -(-cols // unit) * unit
    groups = 1 if group is None or group >= n_pad else -(-n_pad // group)
    blocks = rows * n_pad // d
    total = 0

    def stream(count: int, width: int) -> int:
        return 8 * math.ceil(count * width / 8)

    if method in ("rtn", "gptq"):
        total += stream(rows * n_pad, bits) + stream(rows * groups, bits + 1) + 16 * rows * groups
    elif method == "e8":
        for r in {1: [1], 2: [2], 3: [2, 1], 4: [2, 2]}[bits]:
            total += stream(blocks, 8 * r) + 16 * rows
    elif method == "leech-voronoi":
        total += stream(rows * n_pad, bits) + 16 * rows
    else:
        for lo, hi, g in llvq_stages(bits):
            shape_bits = LeechShellCode(max_norm=hi, min_norm=lo).bits
            total += stream(blocks, shape_bits) + (stream(blocks, g) if g else 0) + 16 * rows + 16 * (1 << g)
    meta = json.dumps(layer.spec, sort_keys=True, separators=(",", ":"))
    return total + 8 * len(meta.encode())


@pytest.mark.parametrize(("method", "bits"), ALL)
def test_round_trip_shape_and_exact_bit_accounting(method, bits):
    rows, cols = 20, 50  # 50 is not a multiple of 8, 16 or 24: padded columns
    w, h = correlated_layer(rows, cols, 500)
    layer = quantize_weight(w, method, bits, **hessian_kwargs(method, h))
    w_hat = layer.dequantize()
    assert w_hat.shape == (rows, cols) and w_hat.dtype == torch.float32
    assert torch.isfinite(w_hat).all()
    d = {"rtn": 1, "gptq": 1, "e8": 8, "leech-voronoi": 24, "llvq": 24}[method]
    hadamard = method not in ("rtn", "gptq")
    group = 128 if method in ("rtn", "gptq") else None
    assert layer.stored_bits == expected_bits(layer, method, bits, rows, cols, d, hadamard, group)
    assert layer.bits_per_weight == layer.stored_bits / (rows * cols)
    for name, buf in layer.named_buffers():
        assert buf.dtype in (torch.uint8, torch.float16), name
    rel = float(((w_hat - w) ** 2).mean() / (w**2).mean())
    assert rel < {1: 0.7, 2: 0.4, 3: 0.15}[bits]
    out = layer(torch.randn(3, 5, cols))
    assert out.shape == (3, 5, rows)


def test_grouped_scales_and_explicit_gain_bits_are_counted():
    w, _ = correlated_layer(16, 96, 10)
    layer = quantize_weight(w, "rtn", 4, group_size=32)
    assert layer.stored_bits == expected_bits(layer, "rtn", 4, 16, 96, 1, False, 32)
    vq = quantize_weight(w, "e8", 2, group_size=48, hadamard=False)
    assert vq.s0_scale.shape == (16, 2)
    lv = quantize_weight(w, "llvq", 2, gain_bits=2)
    assert lv.spec["stages"][0]["gain_bits"] == 2 and lv.s0_levels.shape == (1, 4)


@pytest.mark.parametrize(("method", "group"), [("rtn", 32), ("e8", 16)])
def test_scale_groups_are_independent(method, group):
    # Each group of columns is quantized as a matrix of its own would be (same codes, same scales).
    w, _ = correlated_layer(6, 96, 10)
    whole = quantize_weight(w, method, 2, group_size=group, hadamard=False).dequantize()
    parts = [
        quantize_weight(w[:, c : c + group], method, 2, hadamard=False).dequantize()
        for c in range(0, 96, group)
    ]
    assert torch.equal(whole, torch.cat(parts, dim=1))


def test_e8_reconstructions_are_scaled_e8_points():
    w, _ = correlated_layer(12, 64, 10)
    layer = quantize_weight(w, "e8", 2, hadamard=False)
    blocks = layer.dequantize().double().reshape(12, 8, 8) / layer.s0_scale.double().reshape(12, 1, 1)
    assert e8().contains(blocks.reshape(-1, 8).numpy(), atol=1e-6).all()
    assert float((blocks**2).sum(-1).max()) <= 12 + 1e-6  # inside the ball


def test_llvq_directions_are_points_of_the_shells():
    w, _ = correlated_layer(10, 48, 10)
    layer = quantize_weight(w, "llvq", 2, hadamard=False)
    code = LeechShellCode(max_norm=24, min_norm=4)
    idx = unpack_bits(layer.s0_codes, code.bits, 20)
    vecs = code.index_to_vector(idx.numpy())
    norms = (vecs.astype(np.int64) ** 2).sum(axis=1) // 8
    assert set(norms.tolist()) <= set(code.norms)
    assert np.array_equal(code.vector_to_index(vecs), idx.numpy())
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    blocks = layer.dequantize().double().numpy().reshape(20, 24)
    gains = np.linalg.norm(blocks, axis=1)
    assert np.allclose(blocks / gains[:, None], unit, atol=1e-6)
    # the gains are the row scale times one of the two stored levels (1 gain bit)
    levels = layer.s0_levels.double().numpy()[0]
    scales = np.repeat(layer.s0_scale.double().numpy()[:, 0], 2)
    ratio = gains / scales
    assert np.all(np.min(np.abs(ratio[:, None] - levels[None]), axis=1) < 1e-5)
    # every direction is the smallest-angle point of the code for its block
    w_blocks = w.double().numpy().reshape(20, 24)
    assert np.array_equal(code.nearest(w_blocks)[0], idx.numpy())


@pytest.mark.parametrize(("method", "bits", "ratio"), [("gptq", 2, 0.8), ("e8", 2, 0.8), ("llvq", 2, 0.8)])
def test_hessian_correction_reduces_the_output_error(method, bits, ratio):
    w, h = correlated_layer()
    base = "rtn" if method == "gptq" else method
    plain = quantize_weight(w, base, bits).dequantize()
    corrected = quantize_weight(w, method, bits, hessian=h).dequantize()
    e_plain, e_corr = output_error(w, plain, h), output_error(w, corrected, h)
    assert e_corr < ratio * e_plain, (e_plain, e_corr)


def test_gaussian_rate_distortion_ordering():
    # On i.i.d. Gaussian weights at 2 bits: LLVQ < E8 ball < scalar RTN in MSE, and LLVQ within
    # 1.2 dB of the Shannon bound 2^(-2R) at its code rate of 2 bits (about 0.9 dB measured;
    # scales and description add 0.1 bits per weight on a matrix this small).
    w = torch.randn(48, 1152, generator=torch.Generator().manual_seed(5))
    mse = {}
    for method in ("rtn", "e8", "llvq"):
        layer = quantize_weight(w, method, 2)
        mse[method] = float(((layer.dequantize() - w) ** 2).mean() / (w**2).mean())
        if method == "llvq":
            gap_db = 10 * math.log10(mse[method] / 2.0**-4)
    assert mse["llvq"] < mse["e8"] < mse["rtn"], mse
    assert gap_db < 1.2


def test_collect_hessians_and_skip_patterns():
    model = TwoLayer()
    x = torch.randn(6, 5, 40)
    h = collect_hessians(model, {"up": model.up}, x, batch_size=4)["up"]
    flat = x.reshape(-1, 40).double()
    assert torch.allclose(h, 2 * flat.T @ flat / flat.shape[0])
    report = quantize_model(model, "rtn", 4, skip=["do*"])
    assert [r.name for r in report.layers] == ["up"] and report.skipped == ["down (skip pattern)"]
    assert isinstance(model.down, nn.Linear) and isinstance(model.up, QuantizedLinear)
    with pytest.raises(ValueError, match="no calibration input reached"):
        collect_hessians(TwoLayer(), {"up": TwoLayer().up}, x)


def test_gptq_with_identity_hessian_is_rtn():
    # With H = I the GPTQ update of the remaining columns is zero: the codes are RTN's.
    w, _ = correlated_layer(8, 40, 10)
    rtn = quantize_weight(w, "rtn", 3)
    gptq = quantize_weight(w, "gptq", 3, hessian=torch.eye(40, dtype=torch.float64), damp=1e-9)
    assert torch.equal(rtn.s0_codes, gptq.s0_codes) and torch.equal(rtn.dequantize(), gptq.dequantize())


def test_bad_inputs_raise_clear_errors():
    w, h = correlated_layer(8, 24, 10)
    bad = w.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantize_weight(bad, "llvq", 2)
    with pytest.raises(ValueError, match="supports integer bits per weight 1…4"):
        quantize_weight(w, "e8", 5)
    with pytest.raises(ValueError, match="supports integer bits per weight 1…8"):
        quantize_weight(w, "rtn", 0)
    with pytest.raises(ValueError, match="method must be one of"):
        quantize_weight(w, "int4", 4)
    with pytest.raises(ValueError, match="2-D"):
        quantize_weight(w[0], "rtn", 4)
    with pytest.raises(ValueError, match="2-D"):
        quantize_weight(w[:, :0], "rtn", 4)
    with pytest.raises(ValueError, match="multiple of the block dimension 8"):
        quantize_weight(w, "e8", 2, group_size=12)
    with pytest.raises(ValueError, match=r"hessian must be a \(24, 24\)"):
        quantize_weight(w, "gptq", 2, hessian=h[:8, :8])
    with pytest.raises(ValueError, match="gptq needs"):
        quantize_weight(w, "gptq", 2)
    with pytest.raises(ValueError, match="rtn takes no Hessian"):
        quantize_weight(w, "rtn", 2, hessian=h[:24, :24])
    with pytest.raises(ValueError, match="gain_bits applies to llvq"):
        quantize_weight(w, "e8", 2, gain_bits=1)
    model = nn.Sequential(nn.Linear(24, 8), nn.ReLU(), nn.Linear(8, 4))
    with torch.no_grad():
        model[2].weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"2: weight contains NaN"):
        quantize_model(model, "rtn", 4)
    assert isinstance(model[0], nn.Linear)  # nothing was replaced
    with pytest.raises(ValueError, match="needs calibration data"):
        quantize_model(nn.Sequential(nn.Linear(4, 4)), "e8", 2, hessian=True)
    with pytest.raises(ValueError, match="no linear layer"):
        quantize_model(nn.Sequential(nn.ReLU()), "rtn", 4)


def test_dtype_casts_keep_codes_and_scales():
    w, _ = correlated_layer(8, 48, 10)
    layer = quantize_weight(w, "llvq", 2, bias=torch.randn(8))
    before = layer.dequantize()
    layer.to(torch.float64)
    assert layer.s0_scale.dtype == torch.float16 and layer.s0_codes.dtype == torch.uint8
    assert layer.bias.dtype == torch.float64
    assert torch.equal(layer.dequantize(), before)
    x = torch.randn(2, 48, dtype=torch.float64)
    assert layer(x).dtype == torch.float64


# --------------------------------------------------------------------------- models


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(40, 72)
        self.down = nn.Linear(72, 40, bias=False)

    def forward(self, x):
        return self.down(torch.relu(self.up(x)))


@pytest.mark.parametrize(
    ("method", "bits"), [("rtn", 4), ("gptq", 2), ("e8", 3), ("leech-voronoi", 2), ("llvq", 2)]
)
def test_save_and_load_are_bit_identical(tmp_path, method, bits):
    torch.manual_seed(0)
    model = TwoLayer()
    calibration = torch.randn(64, 40) if method == "gptq" else None
    report = quantize_model(model, method, bits, calibration)
    assert [r.name for r in report.layers] == ["up", "down"]
    assert report.bits_per_weight == report.stored_bits / report.num_weights
    x = torch.randn(5, 40)
    expected = model(x)
    path = save_quantized(model, tmp_path / "q.safetensors")
    fresh = load_quantized(TwoLayer(), path)
    for name in ("up", "down"):
        assert isinstance(getattr(fresh, name), QuantizedLinear)
        assert torch.equal(getattr(fresh, name).dequantize(), getattr(model, name).dequantize())
    assert torch.equal(fresh(x), expected)
    assert torch.equal(fresh.up.bias, model.up.bias)


def tiny_corpus(path: Path) -> Path:
    words = "lattice leech golay octad code vector norm shell kissing sphere packing theta frame".split()
    docs, valid = [], 0
    while len(docs) < 40 or valid < 2:
        i = len(docs)
        docs.append(
            f"Document {i}: " + " ".join(words[(i * 7 + j * j) % len(words)] for j in range(12 + i % 9))
        )
        valid += is_validation_document(docs[-1])
    path.write_text("\n<|endoftext|>\n".join(docs) + "\n", encoding="utf-8")
    return path


def tiny_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    config = LatticeTransformerConfig(vocab_size=258, block_size=32, n_layer=1, n_head=2, d_model=48)
    model = LatticeTransformer(config)
    model.save_pretrained(folder)
    ByteTokenizer().save(folder)
    return folder


def test_lattice_transformer_quantized_saved_reloaded_generates_and_evaluates(tmp_path):
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    src = tiny_checkpoint(tmp_path / "float")
    model = LatticeTransformer.from_pretrained(src)
    calibration = calibration_blocks(ByteTokenizer(), str(corpus), 32, 256)
    assert calibration.shape == (8, 32)
    report = quantize_model(model, "llvq", 2, calibration)
    names = [r.name for r in report.layers]
    assert "lm_head" not in names and any("lm_head" in s for s in report.skipped)  # tied to tok_emb
    assert all(r.hessian and r.hadamard and r.output_error is not None for r in report.layers)
    out = tmp_path / "quantized"
    model.save_pretrained(out)
    ByteTokenizer().save(out)
    reloaded = LatticeTransformer.from_pretrained(out)
    idx = torch.randint(0, 258, (2, 16))
    assert torch.equal(reloaded(idx)[0], model(idx)[0])
    for name in names:
        assert torch.equal(reloaded.get_submodule(name).dequantize(), model.get_submodule(name).dequantize())
    tokens = reloaded.generate(idx[:, :4], 6, temperature=0)
    assert tokens.shape == (2, 10)
    result = evaluate_checkpoint(out, corpus=str(corpus), padded=False)
    reference = evaluate_checkpoint(src, corpus=str(corpus), padded=False)
    assert math.isfinite(result.report.bits_per_character)
    assert abs(result.report.bits_per_character - reference.report.bits_per_character) < 0.5


def test_hugging_face_gpt2_conv1d_layers_are_quantized_and_reloaded(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=96, n_positions=32, n_embd=48, n_layer=2, n_head=4)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 96, (2, 12))
    with torch.no_grad():
        reference = model(ids).logits
    report = quantize_model(model, "llvq", 2, ids, calibration_batch_size=1)
    names = [r.name for r in report.layers]
    assert len(names) == 8 and all(
        n.startswith("transformer.h.") for n in names
    )  # c_attn, c_proj, c_fc, c_proj
    assert report.layers[0].shape == (144, 48)  # Conv1D(3·48, 48) stored transposed as (in, out)
    assert any("lm_head" in s for s in report.skipped)
    with torch.no_grad():
        logits = model(ids).logits
    assert torch.isfinite(logits).all() and not torch.equal(logits, reference)
    assert float((logits - reference).abs().mean()) < 0.5 * float(reference.abs().mean())
    path = save_quantized(model, tmp_path / "gpt2.safetensors")
    fresh = load_quantized(transformers.GPT2LMHeadModel(config).eval(), path)
    with torch.no_grad():
        assert torch.equal(fresh(ids).logits, logits)


def test_cli_quantize_then_eval(tmp_path, capsys):
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    (ckpt / "train_config.json").write_text(
        json.dumps({"corpus": str(corpus), "tokenizer": "byte", "block_size": 32, "model": {"n_layer": 1}})
    )
    out = tmp_path / "q"
    assert (
        main(
            [
                "quantize",
                str(ckpt),
                "--method",
                "gptq",
                "--bits",
                "4",
                "-o",
                str(out),
                "--calibration-tokens",
                "320",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "calibration: 320 tokens" in text and "total" in text
    report = json.loads((out / "quantization.json").read_text())
    assert report["method"] == "gptq" and report["bits_per_weight"] > 4
    assert main(["eval", str(out), "--no-padded"]) == 0
    assert "bpc" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["quantize", str(ckpt), "--method", "e8", "--bits", "7", "-o", str(tmp_path / "bad")])
    assert "supports integer bits" in capsys.readouterr().err


def test_cli_quantizes_a_hugging_face_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=24, n_layer=1, n_head=2)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "hf")
    assert (
        main(["quantize", str(tmp_path / "hf"), "--method", "rtn", "--bits", "4", "-o", str(tmp_path / "q")])
        == 0
    )
    model = load_quantized(transformers.GPT2LMHeadModel(config), tmp_path / "q" / "model.safetensors")
    assert isinstance(model.transformer.h[0].attn.c_attn, QuantizedLinear)


def test_cli_method_list_matches_the_library():
    assert CLI_METHODS == METHODS


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_voronoi_stage_matches_the_numpy_voronoi_code(bits):
    from leechkit.models._weight_codecs import VoronoiStage

    stage = VoronoiStage(bits)
    rng = np.random.default_rng(bits)
    # Rows of 4 blocks; large scales overload most blocks (the radial shrink), small ones none.
    x = torch.as_tensor(rng.normal(size=(6, 4, 24)) * np.array([0.3, 1, 3, 10, 30, 100])[:, None, None])
    scale = torch.tensor([1.0, 0.5, 0.25, 2.0, 1.0, 0.125], dtype=torch.float64)
    codes, rec = stage.quantize(x, {"scale": scale})
    y = (x / scale[:, None, None]).numpy().reshape(-1, 24)
    want = stage.code.encode(y).astype(np.int64)
    assert np.array_equal(codes["codes"].reshape(-1, 24).numpy(), want)
    points = stage.code.decode(want).reshape(x.shape)
    assert torch.equal(rec, torch.as_tensor(points) * scale[:, None, None])
    back = stage.reconstruct(codes, {"scale": scale[:, None]}, torch.float64)
    assert torch.equal(back, rec)
