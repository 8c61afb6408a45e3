"""Weight quantization of linear layers: RTN, GPTQ, E8 (QuIP#-style), Leech Voronoi codes and LLVQ.

:func:`quantize_model` replaces the weight of every ``nn.Linear`` (and Hugging Face GPT-2
``Conv1D``, whose weight is stored transposed) of a module by a :class:`QuantizedLinear`
holding packed integer codes, float16 scales and gains, and a small JSON description; the
layer dequantizes on the fly. One interface, five methods:

========================  =====================================================================
``"rtn"``                 scalar round-to-nearest per group of ``group_size`` (default 128)
                          input columns: ``ŵ = s·(q − z)``, ``q`` of ``b`` bits, a float16 step
                          ``s`` and a half-integer zero point ``z`` (``b + 1`` bits) per group
                          chosen by a clipping search (the llama.cpp / bitsandbytes-style
                          baseline with GPTQ's quantizer grid).
``"gptq"``                the same grid with GPTQ's Hessian-based sequential correction
                          (Frantar et al. 2022).
``"e8"``                  a ball of at most ``2^(8b)`` points of E8 per 8 weights (b = 1, 2:
                          241 and 64,497 points; 3 and 4 bits as a 2-bit stage plus a
                          residual 1- or 2-bit stage, as QuIP# does), random-Hadamard
                          incoherence processing by default, a float16 scale per row;
                          optionally Hessian-corrected in 8-column groups.
``"leech-voronoi"``       the Voronoi code of Λ₂₄ at ``b`` integer bits per weight (1…8),
                          float16 scale per row, Hadamard rotation by default.
``"llvq"``                LLVQ's shape–gain code: per 24 weights the point of a union of Leech
                          shells with the smallest angle and a gain of ``g`` bits (Lloyd–Max
                          levels per layer, stored; stages below); with or without the
                          Hessian correction in 24-column groups, with or without the
                          Hadamard rotation.
========================  =====================================================================

Rates
-----
``bits`` is the nominal code rate in bits per weight; :attr:`LayerReport.bits_per_weight`
is the *achieved* rate, counting **everything stored** for the layer: packed code streams,
zero points, float16 scales and gain tables, and the UTF-8 bytes of its JSON description
(the bias, stored in float like the rest of the model, is not a weight of the matrix and is
not counted). The lattice codebooks themselves are not stored: they are defined by the
method (like E8P's table in QuIP#). LLVQ's stages, with ``24·r`` bits per block at ``r``
bits per weight:

* ``r = 1``: the norm-6 shell alone (16,773,120 points, 24 bits) and no gain bit (one gain
  level per layer): on Gaussian data this beats the norm-4 shell with 6 gain bits (relative
  MSE 0.286 against 0.395, the gain of 24 Gaussian weights varies little);
* ``r = 2``: the shells of norms 4…24 (about 2^46.7 points, 47 bits) and 1 gain bit;
* ``bits = 3`` and ``4``: a 2-bit stage followed by a 1- or 2-bit stage on the residual
  (residual vector quantization, the way QuIP# reaches 3 and 4 bits with E8P): a union of
  shells at 72 or 96 bits per block would be impractically large.

An explicit ``gain_bits`` changes the split: the direction codebook is then the largest
union of consecutive shells with ``shape bits + gain_bits ≤ 24·r`` (:func:`llvq_stages`).

Shapes
------
The input dimension ``n`` is padded with zero columns to a multiple of the block dimension
(1, 8 or 24), and with the Hadamard rotation to a multiple of ``lcm(block, 16)``; the padded
weights are quantized and stored like the others (their cost is in the achieved rate) and
never returned: :meth:`QuantizedLinear.dequantize` crops them, and zero inputs would meet them
anyway. Nothing is dropped. Scale groups are ``group_size`` consecutive (padded) columns of a
row, the last one possibly shorter; ``group_size`` must be a multiple of the block dimension.

Hadamard rotation
-----------------
With ``hadamard=True`` the rows of the padded weight are rotated, ``W' = W·Tᵀ`` with
``T`` the seeded random Hadamard transform of :mod:`._hadamard` (random signs, a random
permutation, Walsh–Hadamard blocks of the largest power of two dividing the padded
dimension, at most 4096), the Hessian becomes ``T H Tᵀ``, and ``W'`` is quantized. The
rotation is **stored as its seed** and undone exactly at dequantization
(``Ŵ = Ŵ'·T``, the same float operations every time), so the layer's forward pass is a plain
``F.linear`` with the dequantized weight; nothing is folded into the activations.

Hessian correction (GPTQ)
-------------------------
With calibration inputs ``X`` of a layer, ``H = 2 XᵀX / N``; columns never excited get
``H_ii = 1`` and zero weight, then ``H += λ·mean(diag H)·I`` (``damp = λ = 0.01``). With
``H⁻¹ = UᵀU`` (``U`` upper triangular) the columns are processed in order, ``d`` at a time
(``d`` = 1 for scalar, 8 for E8, 24 for Leech): the block ``B`` is quantized (each row's
``d`` weights to the nearest codeword of the stage, stages applied to the residual in turn)
and the optimal update of the remaining columns ``R`` for the fixed error is

    W_R ← W_R − (W_B − Q_B) · U_BB⁻¹ · U_BR

(for ``d = 1`` GPTQ's ``(w − q)/U_jj · U_j,R``), applied lazily: inside a block of 128
columns (a multiple of ``d``; the scale group when groups are used) at once, to the rest of
the matrix after it. Scales and gain levels of a group are fitted on the group's current
(already corrected) weights when the loop reaches it, as in GPTQ; per-row scales are fitted
on the initial weights. All Hessians are collected in one pass of the *float* model over the
calibration data (not layer by layer through the already quantized layers).

Storage and loading
-------------------
A :class:`QuantizedLinear` registers only integer (uint8) and float16 buffers, plus the float
bias; ``state_dict`` therefore holds no float weight of a quantized layer. Its description
(method, shapes, stages, rotation seed, buffer shapes) is JSON; :func:`quantization_metadata`
collects them for a model and :func:`prepare_quantized` rebuilds empty layers from them, so
that loading is ``prepare_quantized`` then a strict ``load_state_dict``. :func:`save_quantized`
and :func:`load_quantized` do this with one safetensors file (metadata key
:data:`METADATA_KEY`), and :meth:`LatticeTransformer.save_pretrained` /
:meth:`~LatticeTransformer.from_pretrained` write and read the same key, so ``leechkit eval``,
``generate`` and evaluation run quantized checkpoints unchanged. Dequantization is a fixed
sequence of float32 operations on the stored integers and float16 values: on a given device
the same buffers give the same bits, so weights are bit-identical after a reload.

References
----------
E. Frantar, S. Ashkboos, T. Hoefler, D. Alistarh, "GPTQ: Accurate post-training quantization
for generative pre-trained transformers", ICLR 2023 (arXiv:2210.17323).
A. Tseng, J. Chee, Q. Sun, V. Kuleshov, C. De Sa, "QuIP#: Even better LLM quantization with
Hadamard incoherence and lattice codebooks", ICML 2024 (arXiv:2402.04396).
T. van der Ouderaa, M. van Baalen, P. Whatmough, M. Nagel, "Leech lattice vector quantization
for efficient LLM compression", arXiv:2603.11021, 2026.
J. H. Conway, N. J. A. Sloane, "A fast encoding method for lattice codes and quantizers",
IEEE Trans. Inform. Theory 29 (1983) 820–824 (Voronoi codes).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ._hadamard import RandomHadamard
from ._weight_codecs import (
    E8Stage,
    ScalarStage,
    ShellStage,
    Stage,
    VoronoiStage,
    leech_shell_code,
    pack_bits,
    stage_from_meta,
    unpack_bits,
)

__all__ = [
    "METADATA_KEY",
    "METHODS",
    "LayerReport",
    "QuantizationReport",
    "QuantizedLinear",
    "calibration_blocks",
    "collect_hessians",
    "default_group_size",
    "llvq_stages",
    "load_quantized",
    "prepare_quantized",
    "quantization_metadata",
    "quantize_model",
    "quantize_weight",
    "save_quantized",
]

METHODS = ("rtn", "gptq", "e8", "leech-voronoi", "llvq")
"""The quantization methods of :func:`quantize_model`."""

METADATA_KEY = "leechkit.weight_quant"
"""Key of the quantization description in the safetensors metadata."""

_FORMAT_VERSION = 1
_BITS = {
    "rtn": range(1, 9),
    "gptq": range(1, 9),
    "e8": range(1, 5),
    "leech-voronoi": range(1, 9),
    "llvq": range(1, 5),
}
#: Stage rates of the residual methods at each nominal rate.
_STAGE_RATES = {1: (1,), 2: (2,), 3: (2, 1), 4: (2, 2)}
#: Default LLVQ gain bits of a stage of r bits per weight (24·r bits per block).
_LLVQ_GAIN_BITS = {1: 0, 2: 1}
#: Largest shell norm considered for an LLVQ stage (2^51 points up to it: beyond any stage).
_MAX_SHELL = 30
_LAZY_BLOCK = 128


def _check_int(name: str, value: object, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if lo is not None and value < lo:
        raise ValueError(f"{name} must be ≥ {lo}, got {value}")
    return value


def _check_method_bits(method: object, bits: object) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in _BITS[method]:
        allowed = _BITS[method]
        raise ValueError(
            f"{method} supports integer bits per weight {allowed.start}…{allowed.stop - 1}, got {bits!r}"
        )


def default_group_size(method: str) -> int | None:
    """Default scale group (input columns): 128 for the scalar methods, the whole row otherwise.

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    """
    return 128 if method in ("rtn", "gptq") else None


def llvq_stages(bits: int, gain_bits: int | None = None) -> list[tuple[int, int, int]]:
    """LLVQ's stages ``(min_norm, max_norm, gain_bits)`` at ``bits`` per weight (module docstring).

    Each stage of ``r`` bits per weight has ``24·r`` bits per block: ``g`` gain bits and, for
    the direction, the union of consecutive Leech shells ``min_norm…max_norm`` with the most
    points whose index fits in the other ``24·r − g`` bits.

    Parameters
    ----------
    bits : int
        1…4 bits per weight (3 and 4: a 2-bit stage and a residual 1- or 2-bit stage).
    gain_bits : int, optional
        Gain bits of every stage; by default 0 for a 1-bit stage (the norm-6 shell alone,
        16,773,120 points in 24 bits: on Gaussian data it beats the norm-4 shell with 6 gain
        bits, relative MSE 0.286 against 0.395) and 1 for a 2-bit stage (norms 4…24, 47 bits).

    Returns
    -------
    list of tuple
        One ``(min_norm, max_norm, gain_bits)`` per stage.

    Raises
    ------
    ValueError
        If no union of shells fits the stage's ``24·r`` bits beside ``gain_bits``.
    """
    _check_method_bits("llvq", bits)
    if gain_bits is not None:
        _check_int("gain_bits", gain_bits, 0)
        if gain_bits > 16:
            raise ValueError(f"gain_bits must be at most 16, got {gain_bits}")
    sizes = leech_shell_code(_MAX_SHELL).shell_sizes
    out = []
    for rate in _STAGE_RATES[bits]:
        g = _LLVQ_GAIN_BITS[rate] if gain_bits is None else gain_bits
        budget = 24 * rate - g
        best: tuple[int, int, int] | None = None
        for lo in range(4, _MAX_SHELL + 1, 2):
            for hi in range(lo, _MAX_SHELL + 1, 2):
                size = sum(sizes[n] for n in range(lo, hi + 1, 2))
                if (size - 1).bit_length() > budget:
                    break
                if best is None or size > best[0]:
                    best = (size, lo, hi)
        if best is None:
            raise ValueError(
                f"gain_bits={g} leaves {budget} bits of a {24 * rate}-bit block: less than the 18 bits "
                "of the norm-4 shell"
            )
        out.append((best[1], best[2], g))
    return out


def _stages(method: str, bits: int, gain_bits: int | None) -> list[Stage]:
    _check_method_bits(method, bits)
    if gain_bits is not None and method != "llvq":
        raise ValueError(f"gain_bits applies to llvq only, not {method}")
    if method in ("rtn", "gptq"):
        return [ScalarStage(bits)]
    if method == "e8":
        return [E8Stage(r) for r in _STAGE_RATES[bits]]
    if method == "leech-voronoi":
        return [VoronoiStage(bits)]
    return [ShellStage(hi, g, min_norm=lo) for lo, hi, g in llvq_stages(bits, gain_bits)]


# --------------------------------------------------------------------------- the layer


def _compact_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


_DTYPES = {"uint8": torch.uint8, "float16": torch.float16}


class QuantizedLinear(nn.Module):
    """A linear layer whose weight is stored as packed integer codes and float16 scales.

    Build one with :func:`quantize_weight` or :func:`quantize_model`; the constructor makes an
    empty layer from a description (used when loading). ``forward(x) = F.linear(x, Ŵ, b)``
    with ``Ŵ = dequantize()``, computed once and cached (``cache_weight=True``, the default:
    fast, and as much memory as the float weight) or recomputed at every call
    (``cache_weight=False``: only the codes stay in memory). The cache is dropped when the
    layer moves or loads a state dict; it is never saved.

    Parameters
    ----------
    spec : mapping
        The layer's JSON description (:attr:`spec`): method, shapes, stages, rotation and the
        dtype and shape of every buffer.
    cache_weight : bool
        Keep the dequantized weight between calls.

    Attributes
    ----------
    in_features, out_features : int
        Shape of the weight, ``(out_features, in_features)``.
    spec : dict
        The description (JSON-ready).
    """

    def __init__(self, spec: Mapping[str, object], cache_weight: bool = True):
        super().__init__()
        spec = json.loads(_compact_json(dict(spec)))  # a private, JSON-normalized copy
        if spec.get("version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported quantized-layer format version {spec.get('version')!r}")
        self.spec = spec
        self.in_features = int(spec["in_features"])
        self.out_features = int(spec["out_features"])
        self.cache_weight = bool(cache_weight)
        self._stages = [stage_from_meta(s) for s in spec["stages"]]
        self._rotation = None
        if spec["rotation"] is not None:
            self._rotation = RandomHadamard(
                int(spec["padded_in"]), int(spec["rotation"]["seed"]), int(spec["rotation"]["block"])
            )
        for name, (dtype, shape) in sorted(spec["buffers"].items()):
            if dtype not in _DTYPES:
                raise ValueError(f"buffer {name} has unsupported dtype {dtype!r}")
            self.register_buffer(name, torch.zeros(shape, dtype=_DTYPES[dtype]))
        self.bias = nn.Parameter(torch.zeros(self.out_features)) if spec["bias"] else None
        self._cache: torch.Tensor | None = None

    # --- bookkeeping ----------------------------------------------------------------------
    @property
    def method(self) -> str:
        """The quantization method."""
        return str(self.spec["method"])

    @property
    def stored_bits(self) -> int:
        """Bits stored for the weight: every quantization buffer plus the JSON description."""
        buffers = sum(b.numel() * b.element_size() * 8 for b in self.buffers())
        return int(buffers + 8 * len(_compact_json(self.spec).encode()))

    @property
    def bits_per_weight(self) -> float:
        """:attr:`stored_bits` per weight of the (unpadded) matrix."""
        return self.stored_bits / (self.in_features * self.out_features)

    @property
    def weight(self) -> torch.Tensor:
        """The dequantized weight (out_features, in_features), float32 (read-only use)."""
        return self._weight()

    def extra_repr(self) -> str:
        """Shape, method and achieved rate."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, method={self.method}, "
            f"bits={self.spec['bits']}, bits_per_weight={self.bits_per_weight:.4f}, "
            f"bias={self.bias is not None}"
        )

    def _apply(self, fn, recurse: bool = True):
        # Moves follow the module, dtype casts do not reach the codes and float16 scales:
        # the stored values stay exactly what was quantized.
        before = dict(self._buffers)
        out = super()._apply(fn, recurse)
        for name, old in before.items():
            new = self._buffers[name]
            if old is not None and new is not None and new.dtype != old.dtype:
                self._buffers[name] = old.to(device=new.device)
        self._cache = None
        return out

    def _load_from_state_dict(self, *args, **kwargs):
        self._cache = None
        return super()._load_from_state_dict(*args, **kwargs)

    # --- dequantization -------------------------------------------------------------------
    def _weight(self) -> torch.Tensor:
        if self._cache is not None:
            return self._cache
        w = self.dequantize()
        if self.cache_weight:
            self._cache = w
        return w

    def dequantize(self) -> torch.Tensor:
        """The weight (out_features, in_features) in float32, from the stored codes.

        For each stage the code streams are unpacked, decoded to codewords and scaled by the
        row's (group's) float16 scale (and gain level); the stages are summed, the Hadamard
        rotation is undone, and the padding columns are cropped.
        """
        spec = self.spec
        rows, n_pad, d = self.out_features, int(spec["padded_in"]), int(spec["block_dim"])
        group = int(spec["group_size"])
        n_blocks = n_pad // d
        n_groups = -(-n_pad // group)
        device = next(iter(self.buffers())).device
        group_of_block = torch.div(torch.arange(n_blocks, device=device) * d, group, rounding_mode="floor")
        total = torch.zeros(rows, n_blocks, d, dtype=torch.float32, device=device)
        counts = {"coord": rows * n_pad, "block": rows * n_blocks, "group": rows * n_groups}
        shapes = {"coord": (rows, n_blocks, d), "block": (rows, n_blocks), "group": (rows, n_groups)}
        for k, stage in enumerate(self._stages):
            codes: dict[str, torch.Tensor] = {}
            params: dict[str, torch.Tensor] = {}
            for name, width, gran in stage.streams:
                values = unpack_bits(getattr(self, f"s{k}_{name}"), width, counts[gran]).reshape(shapes[gran])
                if gran == "group":
                    params[name] = values.index_select(1, group_of_block)
                else:
                    codes[name] = values
            for name, gran in stage.float_params:
                table = getattr(self, f"s{k}_{name}").to(torch.float32)
                params[name] = table.index_select(1 if gran == "row_group" else 0, group_of_block)
            total = total + stage.reconstruct(codes, params, torch.float32)
        w = total.reshape(rows, n_pad)
        if self._rotation is not None:
            w = self._rotation.inverse(w)
        return w[:, : self.in_features].contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``F.linear(x, Ŵ, bias)`` in the dtype of ``x``."""
        w = self._weight()
        bias = self.bias
        if w.dtype != x.dtype:
            w = w.to(x.dtype)
            bias = bias.to(x.dtype) if bias is not None else None
        return F.linear(x, w, bias)


# --------------------------------------------------------------------------- encoding


def _cholesky_inverse_upper(h: torch.Tensor, damp: float) -> torch.Tensor:
    """``U`` upper triangular with ``(H + λ·mean(diag H)·I)⁻¹ = UᵀU``; more damping if singular."""
    mean = float(torch.diagonal(h).mean())
    eye = torch.eye(h.shape[0], dtype=h.dtype, device=h.device)
    lam = damp
    for _ in range(8):
        chol, info = torch.linalg.cholesky_ex(h + lam * max(mean, 1e-12) * eye)
        if int(info) == 0:
            hinv = torch.cholesky_inverse(chol)
            u, info = torch.linalg.cholesky_ex(hinv, upper=True)
            if int(info) == 0:
                return u
        lam *= 10
    raise ValueError("the calibration Hessian could not be made positive definite by damping")


class _Encoded:
    """Codes and fitted parameters of all stages, laid out for storage."""

    def __init__(self, stages: list[Stage], rows: int, n_pad: int, group: int, device: torch.device):
        d = stages[0].dim
        self.n_blocks = n_pad // d
        self.n_groups = -(-n_pad // group)
        self.codes: list[dict[str, torch.Tensor]] = []
        self.params: list[dict[str, torch.Tensor]] = []
        for st in stages:
            codes = {}
            for name, _, gran in st.streams:
                shape = {
                    "coord": (rows, self.n_blocks, d),
                    "block": (rows, self.n_blocks),
                    "group": (rows, self.n_groups),
                }[gran]
                codes[name] = torch.zeros(shape, dtype=torch.int64, device=device)
            params = {"scale": torch.zeros(rows, self.n_groups, dtype=torch.float64, device=device)}
            if st.table_width():
                params["levels"] = torch.zeros(
                    self.n_groups, st.table_width(), dtype=torch.float64, device=device
                )
            self.codes.append(codes)
            self.params.append(params)

    def store_params(self, k: int, stage: Stage, gi: int, params: dict[str, torch.Tensor]) -> None:
        for name, _, gran in stage.streams:
            if gran == "group":
                self.codes[k][name][:, gi] = params[name]
        self.params[k]["scale"][:, gi] = params["scale"]
        if "levels" in self.params[k]:
            self.params[k]["levels"][gi] = params["levels"]

    def store_codes(self, k: int, stage: Stage, b0: int, b1: int, codes: dict[str, torch.Tensor]) -> None:
        for name, _, gran in stage.streams:
            if gran != "group":
                self.codes[k][name][:, b0:b1] = codes[name]


def _quantize_blocks(
    stages: list[Stage], x: torch.Tensor, params: list[dict[str, torch.Tensor]]
) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
    """All stages on ``x`` (rows, m, d), each on the residual of the previous ones."""
    residual = x
    total = torch.zeros_like(x)
    codes = []
    for stage, p in zip(stages, params):
        c, rec = stage.quantize(residual, p)
        codes.append(c)
        total = total + rec
        residual = x - total
    return codes, total


def _encode(
    w: torch.Tensor, stages: list[Stage], group: int, hessian: torch.Tensor | None, damp: float
) -> tuple[_Encoded, torch.Tensor]:
    """Codes and parameters of the padded, rotated ``w`` (rows, n_pad); and its reconstruction."""
    rows, n_pad = w.shape
    d = stages[0].dim
    enc = _Encoded(stages, rows, n_pad, group, w.device)
    starts = list(range(0, n_pad, group))

    def fit_group(gi: int, x: torch.Tensor) -> tuple[list, list, torch.Tensor]:
        residual, total = x, torch.zeros_like(x)
        params, codes = [], []
        for k, stage in enumerate(stages):
            p, c, rec = stage.fit(residual)
            enc.store_params(k, stage, gi, p)
            params.append(p)
            codes.append(c)
            total = total + rec
            residual = x - total
        return params, codes, total

    per_row = not any(s.table_width() for s in stages)
    if hessian is None and len(starts) > 1 and n_pad % group == 0 and per_row:
        # Equal groups and per-row parameters only: every group is fitted as a row of its own,
        # in one batch (the same arithmetic per row as the loop below, without its overhead).
        n_groups = n_pad // group
        x = w.reshape(rows * n_groups, group // d, d)
        residual, total = x, torch.zeros_like(x)
        for k, stage in enumerate(stages):
            p, c, rec = stage.fit(residual)
            enc.params[k]["scale"] = p["scale"].reshape(rows, n_groups)
            for name, _, gran in stage.streams:
                if gran == "group":
                    enc.codes[k][name] = p[name].reshape(rows, n_groups)
                else:
                    enc.codes[k][name] = c[name].reshape(rows, n_pad // d, *c[name].shape[2:])
            total = total + rec
            residual = x - total
        return enc, total.reshape(rows, n_pad)
    if hessian is None:
        recon = torch.zeros_like(w)
        for gi, c0 in enumerate(starts):
            c1 = min(n_pad, c0 + group)
            x = w[:, c0:c1].reshape(rows, -1, d)
            _, codes, total = fit_group(gi, x)
            for k, stage in enumerate(stages):
                enc.store_codes(k, stage, c0 // d, c1 // d, codes[k])
            recon[:, c0:c1] = total.reshape(rows, -1)
        return enc, recon

    w = w.clone()
    h = hessian.clone()
    dead = torch.diagonal(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    u = _cholesky_inverse_upper(h, damp)
    grouped = group < n_pad
    lazy = group if grouped else max(d, (_LAZY_BLOCK // d) * d)
    recon = torch.zeros_like(w)
    params: list[dict[str, torch.Tensor]] = []
    if not grouped:
        params, _, _ = fit_group(0, w.reshape(rows, -1, d))
    for b0 in range(0, n_pad, lazy):
        b1 = min(n_pad, b0 + lazy)
        w1 = w[:, b0:b1].clone()
        err = torch.zeros_like(w1)
        if grouped:  # the lazy block is the group: fit on its current, corrected weights
            params, _, _ = fit_group(b0 // group, w1.reshape(rows, -1, d))
        for c in range(0, b1 - b0, d):
            col = b0 + c
            x = w1[:, c : c + d]
            codes, q = _quantize_blocks(stages, x.reshape(rows, 1, d), params)
            q = q.reshape(rows, d)
            for k, stage in enumerate(stages):
                enc.store_codes(k, stage, col // d, col // d + 1, codes[k])
            recon[:, col : col + d] = q
            e = torch.linalg.solve_triangular(u[col : col + d, col : col + d], x - q, upper=True, left=False)
            w1[:, c + d :] -= e @ u[col : col + d, col + d : b1]
            err[:, c : c + d] = e
        w[:, b1:] -= err @ u[b0:b1, b1:]
    return enc, recon


def _layer_seed(seed: int, name: str) -> int:
    digest = hashlib.blake2b(f"leechkit-hadamard:{seed}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def quantize_weight(
    weight: torch.Tensor,
    method: str,
    bits: int,
    *,
    bias: torch.Tensor | None = None,
    hessian: torch.Tensor | None = None,
    group_size: int | None = None,
    gain_bits: int | None = None,
    hadamard: bool | None = None,
    seed: int = 0,
    damp: float = 0.01,
    cache_weight: bool = True,
) -> QuantizedLinear:
    """Quantize one weight matrix (out_features, in_features) into a :class:`QuantizedLinear`.

    Parameters
    ----------
    weight : torch.Tensor
        Finite 2-D float weight ``(out, in)``, both sizes ≥ 1 (an HF ``Conv1D`` weight must
        be transposed first).
    method : {"rtn", "gptq", "e8", "leech-voronoi", "llvq"}
        Quantizer (module docstring).
    bits : int
        Nominal bits per weight: 1…8 for rtn, gptq and leech-voronoi, 1…4 for e8 and llvq.
    bias : torch.Tensor, optional
        Bias (out,), kept in float.
    hessian : torch.Tensor, optional
        ``(in, in)`` Hessian ``2XᵀX/N`` of the layer's inputs; given, the quantization is
        Hessian-corrected (required by ``"gptq"``, refused by ``"rtn"``).
    group_size : int, optional
        Input columns per scale group, a multiple of the block dimension (1, 8, 24); default
        :func:`default_group_size` (None: one scale per row).
    gain_bits : int, optional
        LLVQ's gain bits per stage (:func:`llvq_stages`).
    hadamard : bool, optional
        Random Hadamard rotation of the input dimension; default True for e8,
        leech-voronoi and llvq, False for rtn and gptq.
    seed : int
        Seed of the rotation (stored).
    damp : float
        Relative damping ``λ`` of the Hessian, > 0.
    cache_weight : bool
        Passed to :class:`QuantizedLinear`.

    Returns
    -------
    QuantizedLinear
        The layer, on the device of ``weight``.

    Raises
    ------
    ValueError
        Unknown method, unsupported bits, non-finite weights, bad shapes or group size, a
        Hessian of the wrong shape or with non-finite entries.
    """
    _check_method_bits(method, bits)
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor, got {type(weight).__name__}")
    if weight.dim() != 2 or weight.shape[0] == 0 or weight.shape[1] == 0:
        raise ValueError(
            f"weight must be a 2-D (out, in) matrix with both sizes ≥ 1, got {tuple(weight.shape)}"
        )
    if not bool(torch.isfinite(weight).all()):
        raise ValueError("weight contains NaN or infinite values")
    rows, n = weight.shape
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (rows,)):
        raise ValueError(f"bias must be a tensor of shape ({rows},)")
    if method == "gptq" and hessian is None:
        raise ValueError("gptq needs the layer's Hessian (calibration data); without it use rtn")
    if method == "rtn" and hessian is not None:
        raise ValueError("rtn takes no Hessian: Hessian-corrected scalar quantization is gptq")
    if not (isinstance(damp, (int, float)) and math.isfinite(damp) and damp > 0):
        raise ValueError(f"damp must be a positive finite number, got {damp!r}")
    _check_int("seed", seed)
    stages = _stages(method, bits, gain_bits)
    d = stages[0].dim
    if hadamard is None:
        hadamard = method in ("e8", "leech-voronoi", "llvq")
    unit = d * 16 // math.gcd(d, 16) if hadamard else d
    n_pad = -(-n // unit) * unit
    if group_size is None:
        group_size = default_group_size(method)
    if group_size is not None:
        _check_int("group_size", group_size, 1)
        if group_size % d:
            raise ValueError(
                f"group_size must be a multiple of the block dimension {d} of {method}, got {group_size}"
            )
    group = n_pad if group_size is None or group_size >= n_pad else group_size

    work = torch.float64
    w = torch.zeros(rows, n_pad, dtype=work, device=weight.device)
    w[:, :n] = weight.detach().to(work)
    h = None
    if hessian is not None:
        if not isinstance(hessian, torch.Tensor) or hessian.shape != (n, n):
            shape = tuple(hessian.shape) if isinstance(hessian, torch.Tensor) else type(hessian).__name__
            raise ValueError(f"hessian must be a ({n}, {n}) tensor, got {shape}")
        if not bool(torch.isfinite(hessian).all()):
            raise ValueError("hessian contains NaN or infinite values")
        h = torch.zeros(n_pad, n_pad, dtype=work, device=weight.device)
        h[:n, :n] = hessian.detach().to(device=weight.device, dtype=work)
    rotation = None
    if hadamard:
        rot = RandomHadamard(n_pad, seed)
        rotation = {"seed": int(seed), "block": rot.block}
        w = rot.forward(w)
        if h is not None:
            h = rot.conjugate(h)
    enc, _ = _encode(w, stages, group, h, float(damp))

    buffers: dict[str, torch.Tensor] = {}
    for k, stage in enumerate(stages):
        for name, width, _ in stage.streams:
            buffers[f"s{k}_{name}"] = pack_bits(enc.codes[k][name], width)
        buffers[f"s{k}_scale"] = enc.params[k]["scale"].to(torch.float16)
        if "levels" in enc.params[k]:
            buffers[f"s{k}_levels"] = enc.params[k]["levels"].to(torch.float16)
    spec = {
        "version": _FORMAT_VERSION,
        "method": method,
        "bits": int(bits),
        "in_features": int(n),
        "out_features": int(rows),
        "padded_in": int(n_pad),
        "block_dim": int(d),
        "group_size": int(group),
        "hessian": hessian is not None,
        "rotation": rotation,
        "stages": [s.meta() for s in stages],
        "bias": bias is not None,
        "buffers": {
            name: [str(b.dtype).replace("torch.", ""), list(b.shape)] for name, b in sorted(buffers.items())
        },
    }
    layer = QuantizedLinear(spec, cache_weight=cache_weight).to(weight.device)
    for name, b in buffers.items():
        getattr(layer, name).copy_(b)
    if bias is not None:
        with torch.no_grad():
            layer.bias.copy_(bias.detach())
        layer.bias.data = layer.bias.data.to(bias.dtype)
    return layer


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class LayerReport:
    """Quantization result of one layer.

    Attributes
    ----------
    name : str
        Module name in the model.
    method : str
        Quantization method.
    shape : tuple of int
        ``(out_features, in_features)``.
    bits : int
        Nominal bits per weight.
    stored_bits : int
        Everything stored for the weight (codes, scales, gains, zero points, JSON).
    bits_per_weight : float
        ``stored_bits / (out · in)``.
    weight_mse : float
        Mean of ``(W − Ŵ)²`` over the matrix (Ŵ the dequantized weight as stored).
    mean_square : float
        Mean of ``W²`` over the matrix.
    relative_mse : float
        ``weight_mse / mean_square``.
    output_error : float or None
        With calibration data: ``tr(ΔW H ΔWᵀ) / tr(W H Wᵀ)``, the relative squared error of
        the layer's outputs on the calibration inputs.
    hessian : bool
        Hessian-corrected.
    hadamard : bool
        Hadamard-rotated.
    seconds : float
        Quantization time of the layer (wall clock).
    """

    name: str
    method: str
    shape: tuple[int, int]
    bits: int
    stored_bits: int
    bits_per_weight: float
    weight_mse: float
    mean_square: float
    relative_mse: float
    output_error: float | None
    hessian: bool
    hadamard: bool
    seconds: float


@dataclass
class QuantizationReport:
    """What :func:`quantize_model` did: one :class:`LayerReport` per quantized layer.

    Attributes
    ----------
    method : str
        Quantization method.
    bits : int
        Nominal bits per weight.
    layers : list of LayerReport
        The quantized layers, in module order.
    skipped : list of str
        Linear layers left in float, with the reason.
    seconds : float
        Total wall-clock time (Hessian collection included).
    calibration_seconds : float
        Time spent collecting Hessians.
    """

    method: str
    bits: int
    layers: list[LayerReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    calibration_seconds: float = 0.0

    @property
    def num_weights(self) -> int:
        """Weights in the quantized matrices."""
        return sum(r.shape[0] * r.shape[1] for r in self.layers)

    @property
    def stored_bits(self) -> int:
        """Bits stored for all quantized matrices."""
        return sum(r.stored_bits for r in self.layers)

    @property
    def bits_per_weight(self) -> float:
        """Achieved rate over all quantized matrices (everything stored)."""
        return self.stored_bits / self.num_weights

    @property
    def weight_mse(self) -> float:
        """Mean squared weight error over all quantized matrices."""
        return sum(r.weight_mse * r.shape[0] * r.shape[1] for r in self.layers) / self.num_weights

    @property
    def relative_weight_mse(self) -> float:
        """Summed squared weight error over the summed squared weights of all quantized matrices."""
        power = sum(r.mean_square * r.shape[0] * r.shape[1] for r in self.layers)
        return self.weight_mse * self.num_weights / power if power > 0 else math.nan

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary, with the aggregate figures."""
        out = asdict(self)
        out.update(
            num_weights=self.num_weights,
            stored_bits=self.stored_bits,
            bits_per_weight=self.bits_per_weight,
            weight_mse=self.weight_mse,
            relative_weight_mse=self.relative_weight_mse,
        )
        return out

    def table(self) -> str:
        """A plain-text table: one line per layer, then the totals."""
        head = ("layer", "shape", "bits/weight", "weight MSE", "rel. MSE", "output err", "s")
        rows = [head]
        for r in self.layers:
            rows.append(
                (
                    r.name,
                    f"{r.shape[0]}×{r.shape[1]}",
                    f"{r.bits_per_weight:.4f}",
                    f"{r.weight_mse:.3e}",
                    f"{r.relative_mse:.4f}",
                    "" if r.output_error is None else f"{r.output_error:.4f}",
                    f"{r.seconds:.2f}",
                )
            )
        rows.append(
            (
                "total",
                f"{self.num_weights:,}",
                f"{self.bits_per_weight:.4f}",
                f"{self.weight_mse:.3e}",
                "",
                "",
                f"{self.seconds:.2f}",
            )
        )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.insert(len(lines) - 1, lines[1])
        tail = f"{self.method}, {self.bits} nominal bits per weight, {len(self.layers)} layers"
        if self.skipped:
            tail += f"; left in float: {', '.join(self.skipped)}"
        return "\n".join([*lines, tail])


def _linear_like(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None, bool] | None:
    """``(weight as (out, in), bias, transposed)`` of an ``nn.Linear`` or HF ``Conv1D``, else None."""
    if isinstance(module, QuantizedLinear):
        return None
    if isinstance(module, nn.Linear):
        return module.weight, module.bias, False
    # Hugging Face's GPT-2 Conv1D: y = x @ W + b with W of shape (in, out) (duck-typed, so
    # that transformers is never imported here).
    weight = getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf") and isinstance(weight, torch.Tensor):
        if weight.dim() == 2:
            return weight.t(), getattr(module, "bias", None), True
    return None


def _targets(model: nn.Module, skip: Sequence[str]) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """Layers to quantize and the skipped ones (matching ``skip``, or with a shared weight)."""
    owners: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        for pname, p in module.named_parameters(recurse=False):
            owners.setdefault(id(p), []).append(f"{name}.{pname}" if name else pname)
    targets, skipped = [], []
    for name, module in model.named_modules():
        found = _linear_like(module)
        if found is None or not name:
            continue
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in skip):
            skipped.append(f"{name} (skip pattern)")
            continue
        weight = module.weight
        shared = [o for o in owners.get(id(weight), []) if not o.startswith(name + ".")]
        if shared:
            skipped.append(f"{name} (weight shared with {shared[0]})")
            continue
        targets.append((name, module))
    return targets, skipped


def _batches(calibration: object, batch_size: int) -> Iterable[object]:
    if isinstance(calibration, torch.Tensor):
        if calibration.dim() < 2 or calibration.shape[0] == 0:
            raise ValueError(
                "calibration tensor must have shape (samples, ...) with samples ≥ 1, "
                f"got {tuple(calibration.shape)}"
            )
        return (calibration[i : i + batch_size] for i in range(0, calibration.shape[0], batch_size))
    if isinstance(calibration, (str, bytes)) or not isinstance(calibration, Iterable):
        raise TypeError("calibration must be a tensor of inputs or an iterable of model inputs")
    return calibration


@torch.no_grad()
def collect_hessians(
    model: nn.Module,
    layers: Mapping[str, nn.Module],
    calibration: object,
    batch_size: int = 8,
) -> dict[str, torch.Tensor]:
    """``H = 2XᵀX/N`` of the inputs of each layer over calibration data (one pass, float64).

    Parameters
    ----------
    model : torch.nn.Module
        The (float) model, run in eval mode.
    layers : mapping
        Name → linear-like module of ``model`` whose inputs are recorded.
    calibration : torch.Tensor or iterable
        A tensor of inputs (split along dimension 0 into batches of ``batch_size``, each
        passed as ``model(batch)``), or an iterable of inputs: a tensor is passed as
        ``model(t)``, a tuple as ``model(*t)``, a mapping as ``model(**t)``.
    batch_size : int
        Samples per forward pass for a tensor.

    Returns
    -------
    dict
        Name → (in, in) float64 Hessian on the device of the layer.

    Raises
    ------
    ValueError
        No calibration input reached a layer, or inputs were not finite.
    """
    _check_int("batch_size", batch_size, 1)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {name: 0 for name in layers}
    hooks = []

    def hook(name: str, n_in: int):
        def record(module: nn.Module, args: tuple) -> None:
            x = args[0].detach().reshape(-1, n_in).to(torch.float64)
            if name not in sums:
                sums[name] = torch.zeros(n_in, n_in, dtype=torch.float64, device=x.device)
            sums[name].addmm_(x.t(), x)
            counts[name] += x.shape[0]

        return record

    for name, module in layers.items():
        found = _linear_like(module)
        if found is None:
            raise TypeError(f"{name} is not a linear layer")
        hooks.append(module.register_forward_pre_hook(hook(name, found[0].shape[1])))
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        for batch in _batches(calibration, batch_size):
            if isinstance(batch, torch.Tensor):
                model(batch.to(device))
            elif isinstance(batch, Mapping):
                model(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()})
            elif isinstance(batch, (tuple, list)):
                model(*[v.to(device) if isinstance(v, torch.Tensor) else v for v in batch])
            else:
                raise TypeError(f"unsupported calibration item of type {type(batch).__name__}")
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    out = {}
    for name in layers:
        if counts[name] == 0:
            raise ValueError(f"no calibration input reached {name}")
        h = sums[name] * (2.0 / counts[name])
        if not bool(torch.isfinite(h).all()):
            raise ValueError(f"the calibration inputs of {name} are not finite")
        out[name] = h
    return out


def calibration_blocks(
    tokenizer: object,
    corpus: object,
    block_size: int,
    tokens: int,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Calibration inputs from the **training** split of a corpus: ``tokens // block_size`` blocks.

    The training documents are taken in a seeded random order and packed
    (:func:`leechkit.models.data.pack_documents`, end-of-text separators) until there are at
    least four times the requested tokens (or all of them), and the blocks are drawn at
    seeded random offsets of that stream. The validation split is never read, so evaluating
    the quantized model on it stays honest.

    Parameters
    ----------
    tokenizer : Tokenizer
        The model's tokenizer.
    corpus : str or Corpus
        A corpus name or path (:func:`leechkit.models.data.load_corpus`), or a ``Corpus``.
    block_size : int
        Tokens per block (at most the model's context).
    tokens : int
        Calibration tokens wanted, at least one block.
    data_dir : str or path-like, optional
        Folder of the shared corpora.
    seed : int
        Seed of the document order and of the offsets.

    Returns
    -------
    torch.Tensor
        int64 ``(tokens // block_size, block_size)``.
    """
    from .data import Corpus, load_corpus, pack_documents

    _check_int("block_size", block_size, 1)
    _check_int("tokens", tokens, block_size)
    source = corpus if isinstance(corpus, Corpus) else load_corpus(str(corpus), data_dir)
    documents = list(source.documents("train"))
    if not documents:
        raise ValueError(f"corpus {source.name} has no training documents")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(documents), generator=generator).tolist()
    chosen, estimate = [], 0
    for i in order:
        chosen.append(documents[i])
        estimate += len(documents[i]) // 2  # ≥ 2 characters per token for every tokenizer used here
        if estimate >= 4 * tokens:
            break
    stream = pack_documents(chosen, tokenizer).tokens
    n_blocks = tokens // block_size
    if stream.numel() < block_size:
        raise ValueError(
            f"the training split has {stream.numel()} tokens, fewer than one block of {block_size}"
        )
    starts = torch.randint(0, stream.numel() - block_size + 1, (n_blocks,), generator=generator)
    return stream[starts[:, None] + torch.arange(block_size)]


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


def quantize_model(
    model: nn.Module,
    method: str,
    bits: int,
    calibration: object | None = None,
    *,
    group_size: int | None = None,
    gain_bits: int | None = None,
    hessian: bool | None = None,
    hadamard: bool | None = None,
    seed: int = 0,
    skip: Sequence[str] = (),
    damp: float = 0.01,
    calibration_batch_size: int = 8,
    progress: Callable[[str], None] | None = None,
) -> QuantizationReport:
    """Replace the weight of every linear layer of ``model`` by a :class:`QuantizedLinear`, in place.

    Targets are the ``nn.Linear`` and HF ``Conv1D`` modules, except those matching a
    ``skip`` pattern (``fnmatch`` on the module name) and those whose weight is shared with
    another module (a tied output head stays as its embedding). Every target is checked
    before any is replaced.

    Parameters
    ----------
    model : torch.nn.Module
        The model (e.g. a :class:`LatticeTransformer` or a Hugging Face GPT-2).
    method : {"rtn", "gptq", "e8", "leech-voronoi", "llvq"}
        Quantizer (module docstring).
    bits : int
        Nominal bits per weight (see :func:`quantize_weight`).
    calibration : torch.Tensor or iterable, optional
        Model inputs for the Hessians (:func:`collect_hessians`); required by ``"gptq"`` and
        by ``hessian=True``. With calibration data the report also gives each layer's output
        error.
    group_size : int, optional
        Input columns per scale group (default :func:`default_group_size`).
    gain_bits : int, optional
        LLVQ's gain bits (:func:`llvq_stages`).
    hessian : bool, optional
        Hessian correction; default: always for gptq, never for rtn, and for the lattice
        methods when calibration data is given.
    hadamard : bool, optional
        Random Hadamard rotation (default: on for e8, leech-voronoi and llvq).
    seed : int
        Seed of the rotations (each layer's seed is derived from it and the layer's name).
    skip : sequence of str
        ``fnmatch`` patterns of module names left in float.
    damp : float
        Relative Hessian damping.
    calibration_batch_size : int
        Samples per forward pass when ``calibration`` is a tensor.
    progress : callable, optional
        Called with a line of text after each layer.

    Returns
    -------
    QuantizationReport
        Per-layer rates, errors and times.

    Raises
    ------
    ValueError
        Unsupported method or bits, non-finite weights, no layer to quantize, or a Hessian
        requested without calibration data.
    """
    started = time.perf_counter()
    _check_method_bits(method, bits)
    if isinstance(skip, str):
        skip = (skip,)
    if hessian is None:
        hessian = method == "gptq" or (calibration is not None and method != "rtn")
    if hessian and calibration is None:
        raise ValueError(f"the Hessian correction of {method} needs calibration data")
    if method == "gptq" and not hessian:
        raise ValueError("gptq is the Hessian-corrected method: without the correction use rtn")
    if method == "rtn" and hessian:
        raise ValueError("rtn takes no Hessian: Hessian-corrected scalar quantization is gptq")
    _stages(method, bits, gain_bits)  # validates gain_bits before any work
    targets, skipped = _targets(model, skip)
    if not targets:
        raise ValueError("the model has no linear layer to quantize")
    for name, module in targets:
        w = _linear_like(module)[0]
        if w.shape[0] == 0 or w.shape[1] == 0:
            raise ValueError(f"{name}: empty weight of shape {tuple(w.shape)}")
        if not bool(torch.isfinite(w).all()):
            raise ValueError(f"{name}: weight contains NaN or infinite values")
    hessians: dict[str, torch.Tensor] = {}
    tic = time.perf_counter()
    if calibration is not None:
        hessians = collect_hessians(model, dict(targets), calibration, calibration_batch_size)
    report = QuantizationReport(method, bits, skipped=skipped, calibration_seconds=time.perf_counter() - tic)
    for name, module in targets:
        tic = time.perf_counter()
        weight, bias, _ = _linear_like(module)
        h = hessians.get(name)
        layer = quantize_weight(
            weight.detach(),
            method,
            bits,
            bias=bias.detach() if bias is not None else None,
            hessian=h if hessian else None,
            group_size=group_size,
            gain_bits=gain_bits,
            hadamard=hadamard,
            seed=_layer_seed(seed, name),
            damp=damp,
        )
        with torch.no_grad():
            w = weight.detach().to(torch.float64)
            delta = layer.dequantize().to(torch.float64) - w
            mse = float(delta.pow(2).mean())
            power = float(w.pow(2).mean())
            out_err = None
            if h is not None:
                den = float(((w @ h) * w).sum())
                out_err = float(((delta @ h) * delta).sum()) / den if den > 0 else math.nan
        _set_module(model, name, layer)
        seconds = time.perf_counter() - tic
        rep = LayerReport(
            name=name,
            method=method,
            shape=(int(weight.shape[0]), int(weight.shape[1])),
            bits=int(bits),
            stored_bits=layer.stored_bits,
            bits_per_weight=layer.bits_per_weight,
            weight_mse=mse,
            mean_square=power,
            relative_mse=mse / power if power > 0 else math.nan,
            output_error=out_err,
            hessian=bool(hessian),
            hadamard=layer.spec["rotation"] is not None,
            seconds=seconds,
        )
        report.layers.append(rep)
        if progress is not None:
            progress(
                f"{name}: {rep.bits_per_weight:.4f} bits/weight, relative MSE {rep.relative_mse:.4f}"
                + ("" if out_err is None else f", output error {out_err:.4f}")
                + f", {seconds:.2f} s"
            )
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------- persistence


def quantization_metadata(model: nn.Module) -> str | None:
    """The JSON description of every :class:`QuantizedLinear` of ``model`` (None if there is none).

    Parameters
    ----------
    model : torch.nn.Module
        A model after :func:`quantize_model`.
    """
    layers = {name: m.spec for name, m in model.named_modules() if isinstance(m, QuantizedLinear)}
    if not layers:
        return None
    return _compact_json({"version": _FORMAT_VERSION, "layers": layers})


def prepare_quantized(model: nn.Module, metadata: str | Mapping[str, object]) -> nn.Module:
    """Replace the layers named in ``metadata`` by empty :class:`QuantizedLinear` of the stored shapes.

    After this, a strict ``load_state_dict`` of the quantized state fills them.

    Parameters
    ----------
    model : torch.nn.Module
        A model of the architecture that was quantized (its float weights are discarded).
    metadata : str or mapping
        :func:`quantization_metadata` output.

    Returns
    -------
    torch.nn.Module
        ``model``, modified in place.

    Raises
    ------
    ValueError
        A named layer is missing, is not linear, or has another shape.
    """
    data = json.loads(metadata) if isinstance(metadata, str) else dict(metadata)
    if data.get("version") != _FORMAT_VERSION or not isinstance(data.get("layers"), Mapping):
        raise ValueError("not a leechkit weight-quantization description")
    for name, spec in data["layers"].items():
        try:
            module = model.get_submodule(name)
        except AttributeError as err:
            raise ValueError(f"the model has no layer {name!r} to load a quantized weight into") from err
        if isinstance(module, QuantizedLinear):
            device = next(iter(module.buffers())).device
        else:
            found = _linear_like(module)
            if found is None:
                raise ValueError(f"{name} is a {type(module).__name__}, not a linear layer")
            weight = found[0]
            if tuple(weight.shape) != (spec["out_features"], spec["in_features"]):
                raise ValueError(
                    f"{name}: the model's weight is {tuple(weight.shape)}, the stored one "
                    f"({spec['out_features']}, {spec['in_features']})"
                )
            device = weight.device
        _set_module(model, name, QuantizedLinear(spec).to(device))
    return model


def save_quantized(
    model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write a quantized model's state to one safetensors file, its description in the metadata.

    Parameters
    ----------
    model : torch.nn.Module
        A model after :func:`quantize_model`.
    path : str or path-like
        Target ``.safetensors`` file.
    metadata : mapping of str to str, optional
        Extra metadata entries.

    Returns
    -------
    pathlib.Path
        The file.
    """
    from safetensors.torch import save_model

    description = quantization_metadata(model)
    if description is None:
        raise ValueError("the model has no quantized layer: run quantize_model first")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "pt", **(dict(metadata) if metadata else {}), METADATA_KEY: description}
    save_model(model, str(out), metadata=meta)
    return out


def load_quantized(
    model: nn.Module, path: str | os.PathLike, device: str | torch.device = "cpu"
) -> nn.Module:
    """Load a file written by :func:`save_quantized` into a model of the same architecture.

    Parameters
    ----------
    model : torch.nn.Module
        A freshly built model of the quantized architecture (its weights are overwritten).
    path : str or path-like
        The ``.safetensors`` file.
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    torch.nn.Module
        ``model`` with its quantized layers, bit for bit as saved.
    """
    from safetensors import safe_open
    from safetensors.torch import load_model

    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"{src} does not exist")
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata() or {}
    if METADATA_KEY not in meta:
        raise ValueError(f"{src} holds no leechkit weight-quantization description")
    model.to(device)
    prepare_quantized(model, meta[METADATA_KEY])
    load_model(model, str(src), strict=True, device=str(device))
    return model
