"""Quantization layers: lookup-free spherical Leech / E8 codes, and baselines behind one protocol.

Spherical lattice quantization (Λ24-SQ)
---------------------------------------
:class:`SphericalLatticeQuantizer` splits the last dimension of its input into blocks ``x_b``
of the lattice dimension ``n`` (24 for the Leech lattice Λ₂₄, 8 for E8), puts each block on
the unit sphere and replaces it by the nearest of the fixed directions

    C = { v / ‖v‖ : v a minimal vector }     (196,560 for Λ₂₄, 240 for E8),

    u_b = x_b / ‖x_b‖,      i_b = argmax_{c ∈ C} ⟨u_b, c⟩,      q_b = s · c_{i_b}.

All minimal vectors have the same norm, so the largest inner product is also the smallest
angle and the smallest Euclidean distance on the sphere. The search is the exact structured
search of :func:`leechkit.models.lattice_ops.nearest_minimal_vector` (Numba on CPU tensors,
batched torch operations on other devices; never the product with all 196,560 codes): the
same index for the same input on every device, the smallest index among exactly equal
maxima. A Λ₂₄ block costs ``log₂ 196560 ≈ 17.58`` bits, an E8 block ``log₂ 240 ≈ 7.91``.
This is the spherical Leech quantization of Zhao et al. (arXiv:2512.14697), lookup-free in
the sense that no codebook is stored or learned: indices and codes map to each other by
closed formulas (:func:`leechkit.lattice.quantizers.index_to_vector`).

Gradients are straight-through (Bengio et al. 2013; van den Oord et al. 2017): the forward
value is exactly ``s · c_{i_b}``, the backward pass is that of ``s · u_b``, i.e. the Jacobian
of the normalization ``(I − u uᵀ)/‖x_b‖``, written as ``c + (u − sg(u))`` so the value is the
code bit for bit. ``s`` is 1, or a learned positive scale ``exp(log_scale)``. An optional
commitment term ``β · mean_b ‖u_b − sg(c_{i_b})‖²`` (``= β · mean(2 − 2 cos)``) is returned as
the auxiliary loss; by default ``β = 0`` and, as in the paper, no entropy or commitment loss
is needed.

The seeds' soft E8 quantizer
----------------------------
:class:`SoftE8Quantizer` reproduces, from its description and labelled as such, the
``E8Quantizer`` of the E8-LILA seed: the inner products ``sⱼ = ⟨x_b, rⱼ⟩`` of each 8-D block
with the 240 roots ``rⱼ`` (norm √2), the softmax ``p = softmax(s / τ)``, the soft
reconstruction ``Σⱼ pⱼ rⱼ``, and the hard nearest root with a straight-through estimator whose
gradient is that of the soft reconstruction: ``q_b = r_{i_b} + (soft − sg(soft))``.

Protocol and baselines
----------------------
Every layer here follows :class:`Quantizer`: it maps a channel-last tensor (..., ``dim``) to a
:class:`QuantizerOutput` (quantized tensor, int64 indices, auxiliary loss, statistics), has
``codebook_size`` (codes per index), ``num_codebooks`` (indices per token) and
``bits_per_token = num_codebooks · log₂ codebook_size``, and converts between indices and codes
with ``indices_to_codes`` / ``codes_to_indices``. Indices have shape (...) for one index per
token and (..., num_codebooks) otherwise. :class:`FSQQuantizer`, :class:`LFQQuantizer`,
:class:`BSQQuantizer` and :class:`VQQuantizer` wrap the modules of ``vector-quantize-pytorch``
(FSQ, LFQ and the learned-codebook ``VectorQuantize``) into the protocol; the quantization, the
straight-through estimators, the entropy and commitment losses and the codebook updates are the
library's. :func:`make_quantizer` builds any of them by name.

Statistics
----------
``usage_entropy = −Σ_k p_k log₂ p_k`` (bits) of the empirical distribution ``p`` of the
indices in the batch (all codebooks pooled), ``perplexity = 2^usage_entropy`` (the number of
equally used codes with that entropy), ``codes_used`` (distinct indices) and
``utilization = codes_used / codebook_size``; the spherical layers add ``mean_cosine``, the mean
of ``⟨u_b, c_{i_b}⟩``. :func:`codebook_usage` computes the first four for any index tensor.

Precision
---------
float16 and bfloat16 inputs are searched on a float32 copy (exact: every bfloat16 and float16
value is a float32 value) and normalized in float32; the output has the input's dtype, with
the code rounded once to it. float64 inputs are normalized and coded in float64.

References
----------
H. Zhao et al., "Spherical Leech Quantization for Visual Tokenization and Generation",
arXiv:2512.14697 (Λ24-SQ). J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and
Groups*, 3rd ed., ch. 4 §§8, 11 (E8, Λ₂₄ and their minimal vectors). F. Mentzer et al., "Finite
Scalar Quantization: VQ-VAE Made Simple", arXiv:2309.15505 (FSQ). L. Yu et al., "Language Model
Beats Diffusion — Tokenizer is Key to Visual Generation", arXiv:2310.05737 (LFQ). Y. Zhao,
Y. Xiong and P. Krähenbühl, "Image and Video Tokenization with Binary Spherical Quantization",
arXiv:2406.07548 (BSQ). A. van den Oord et al., "Neural Discrete Representation Learning",
arXiv:1711.00937 (VQ-VAE). Y. Bengio et al., arXiv:1308.3432 (straight-through estimator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leechkit.lattice.quantizers import index_to_vector

from .kernels import LATTICE_DIMS, check_lattice
from .lattice_ops import _search_rows

__all__ = [
    "QUANTIZER_NAMES",
    "BSQQuantizer",
    "FSQQuantizer",
    "LFQQuantizer",
    "Quantizer",
    "QuantizerOutput",
    "SoftE8Quantizer",
    "SphericalLatticeQuantizer",
    "VQQuantizer",
    "codebook_usage",
    "make_quantizer",
]

#: Names accepted by :func:`make_quantizer`.
QUANTIZER_NAMES = ("leech", "e8", "e8_soft", "fsq", "lfq", "bsq", "vq")

_COUNTS = {"leech": 196560, "e8": 240}
#: Squared norm of the minimal vectors in integer units (√8 units for Λ₂₄, doubled E8).
_INT_NORM = {"leech": 32.0, "e8": 8.0}
_HALF = (torch.float16, torch.bfloat16)


@dataclass
class QuantizerOutput:
    """What every quantization layer returns.

    Attributes
    ----------
    quantized : torch.Tensor
        Same shape and dtype as the input; the codes in the forward pass, with the layer's
        gradient estimator in the backward pass.
    indices : torch.Tensor
        int64, shape (...) with one index per token or (..., num_codebooks), values in
        ``[0, codebook_size)``.
    aux_loss : torch.Tensor
        Scalar to add to the training loss (commitment, entropy); zero when the layer has none.
    stats : dict of str to torch.Tensor
        Codebook usage of the batch (see the module docstring); empty when the layer's
        ``track_usage`` is off.
    """

    quantized: torch.Tensor
    indices: torch.Tensor
    aux_loss: torch.Tensor
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


@runtime_checkable
class Quantizer(Protocol):
    """The interface shared by the quantization layers (an ``nn.Module`` in practice).

    Attributes
    ----------
    dim : int
        Width of the tokens: the input is (..., dim), channel last.
    codebook_size : int
        Number of codes each index addresses.
    num_codebooks : int
        Indices per token (blocks of a lattice, groups of bits).
    bits_per_token : float
        ``num_codebooks · log₂ codebook_size``.
    """

    dim: int
    codebook_size: int
    num_codebooks: int
    bits_per_token: float

    def __call__(self, x: torch.Tensor) -> QuantizerOutput:
        """Quantize a (..., dim) tensor."""
        ...

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """The codes (..., dim) of indices shaped like ``QuantizerOutput.indices``."""
        ...

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """The indices of codes; the exact inverse of ``indices_to_codes``."""
        ...


def codebook_usage(indices: torch.Tensor, codebook_size: int) -> dict[str, torch.Tensor]:
    """Usage entropy (bits), perplexity, distinct codes and utilization of a batch of indices.

    Parameters
    ----------
    indices : torch.Tensor
        Integer indices of any shape; all entries are pooled.
    codebook_size : int
        Number of codes, for ``utilization = codes_used / codebook_size``.

    Returns
    -------
    dict of str to torch.Tensor
        ``usage_entropy`` ``H = −Σ p log₂ p`` of the empirical distribution (float64),
        ``perplexity`` ``2^H``, ``codes_used`` (int64) and ``utilization`` (float64); an empty
        batch gives ``H = 0``, perplexity 1 and no codes used.
    """
    flat = indices.detach().reshape(-1)
    if flat.numel() == 0:
        zero = torch.zeros((), dtype=torch.float64, device=flat.device)
        return {
            "usage_entropy": zero,
            "perplexity": zero + 1,
            "codes_used": torch.zeros((), dtype=torch.int64, device=flat.device),
            "utilization": zero,
        }
    _, counts = torch.unique(flat, return_counts=True)
    p = counts.double() / flat.numel()
    entropy = -(p * torch.log2(p)).sum()
    used = torch.tensor(counts.numel(), dtype=torch.int64, device=flat.device)
    return {
        "usage_entropy": entropy,
        "perplexity": torch.exp2(entropy),
        "codes_used": used,
        "utilization": used.double() / codebook_size,
    }


def _check_input(x: object, dim: int, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} expects a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{what} expects a floating-point tensor, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[-1] != dim:
        raise ValueError(f"{what} expects the last dimension to be {dim}, got shape {tuple(x.shape)}")
    return x


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(x.detach()).all()):
        raise ValueError(f"{what} got NaN or infinite entries")


def _check_indices(
    indices: object, shape_tail: tuple[int, ...], codebook_size: int, what: str
) -> torch.Tensor:
    if not isinstance(indices, torch.Tensor):
        raise TypeError(f"{what} expects a torch.Tensor of indices, got {type(indices).__name__}")
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise TypeError(f"{what} expects integer indices, got dtype {indices.dtype}")
    if shape_tail and (
        indices.ndim < len(shape_tail) or tuple(indices.shape[-len(shape_tail) :]) != shape_tail
    ):
        raise ValueError(
            f"{what} expects indices of shape (..., {shape_tail[0]}), got {tuple(indices.shape)}"
        )
    if indices.numel() and bool(((indices < 0) | (indices >= codebook_size)).any()):
        raise ValueError(f"{what}: indices must lie in [0, {codebook_size})")
    return indices.long()


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _exact_match(codes: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Raise unless ``codes`` equal ``expected`` up to a few units of the last place."""
    if codes.numel() == 0:
        return
    tol = 8 * torch.finfo(codes.dtype).eps * expected.detach().abs().amax().clamp_min(1.0)
    bad = (codes.detach().to(expected.dtype) - expected.detach()).abs() > tol
    if bool(bad.any()):
        where = tuple(int(i) for i in torch.nonzero(bad)[0].tolist())
        raise ValueError(f"{what}: the entry at {where} is not a code of this quantizer")


@lru_cache(maxsize=2)
def _integer_codes(lattice: str) -> torch.Tensor:
    """All minimal vectors in integer units as an int8 (count, n) table, in index order."""
    ints = index_to_vector(np.arange(_COUNTS[lattice]), lattice, integer=True)
    return torch.from_numpy(ints.astype(np.int8))


class SphericalLatticeQuantizer(nn.Module):
    """Λ24-SQ / E8-SQ: blocks snapped to the nearest normalized minimal vector, exactly.

    See the module docstring for the definition, the straight-through gradient and the
    statistics. The codebook is not stored as a parameter: codes come from an int8 table of
    the minimal vectors (a non-persistent buffer, 4.7 MB for Λ₂₄, rebuilt from closed
    formulas), so the ``state_dict`` holds only ``log_scale`` when the scale is learned.

    Parameters
    ----------
    lattice : {"leech", "e8"}
        Λ₂₄ (blocks of 24, 196,560 codes) or E8 (blocks of 8, 240 codes).
    dim : int, optional
        Token width, a multiple of the block size; default one block.
    learned_scale : bool
        Multiply the codes by a learned ``exp(log_scale)`` (initial value ``scale``).
    scale : float
        The (initial) positive scale ``s`` of the codes; 1 puts them on the unit sphere.
    commitment_weight : float
        ``β`` of the commitment term returned as ``aux_loss`` (0: none).
    eps : float
        Lower bound of ``‖x_b‖`` in the normalization (a zero block gets index 0, the tie rule).
    chunk_size : int
        Rows searched at once off the CPU (see :func:`~leechkit.models.nearest_minimal_vector`).
    track_usage : bool
        Compute the usage statistics of every batch (one ``torch.unique``).
    """

    def __init__(
        self,
        lattice: str = "leech",
        dim: int | None = None,
        learned_scale: bool = False,
        scale: float = 1.0,
        commitment_weight: float = 0.0,
        eps: float = 1e-12,
        chunk_size: int = 8192,
        track_usage: bool = True,
    ):
        super().__init__()
        self.lattice = check_lattice(lattice)
        self.block = LATTICE_DIMS[lattice]
        dim = self.block if dim is None else dim
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1 or dim % self.block:
            raise ValueError(f"dim must be a positive multiple of {self.block} for {lattice}, got {dim!r}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be positive and finite, got {scale!r}")
        if not (math.isfinite(commitment_weight) and commitment_weight >= 0):
            raise ValueError(f"commitment_weight must be non-negative, got {commitment_weight!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.dim = dim
        self.num_codebooks = dim // self.block
        self.codebook_size = _COUNTS[lattice]
        self.bits_per_token = self.num_codebooks * math.log2(self.codebook_size)
        self.commitment_weight = float(commitment_weight)
        self.eps = float(eps)
        self.chunk_size = int(chunk_size)
        self.track_usage = bool(track_usage)
        self._inv_norm = _INT_NORM[lattice] ** -0.5
        if learned_scale:
            self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
            self._fixed_scale = None
        else:
            self.log_scale = None
            self._fixed_scale = None if scale == 1.0 else float(scale)
        self.register_buffer("int_codes", _integer_codes(lattice), persistent=False)

    def extra_repr(self) -> str:
        """The lattice, width and rate."""
        return f"lattice={self.lattice!r}, dim={self.dim}, bits_per_token={self.bits_per_token:.2f}"

    def _scaled(self, t: torch.Tensor) -> torch.Tensor:
        if self.log_scale is not None:
            return t * self.log_scale.to(t.dtype).exp()
        return t if self._fixed_scale is None else t * self._fixed_scale

    def _unit_codes(self, idx: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        table = self.int_codes.to(idx.device)
        return table[idx].to(dtype) * self._inv_norm

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The blocks of ``x`` on the unit sphere, ``u_b = x_b / max(‖x_b‖, eps)`` (differentiable).

        Parameters
        ----------
        x : torch.Tensor
            (..., dim) floating tensor.

        Returns
        -------
        torch.Tensor
            (..., num_codebooks, block) in float32 (float64 for float64 input).
        """
        x = _check_input(x, self.dim, type(self).__name__)
        blocks = x.reshape(*x.shape[:-1], self.num_codebooks, self.block).to(_compute_dtype(x.dtype))
        return F.normalize(blocks, dim=-1, eps=self.eps)

    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Quantize each block of ``x`` to its nearest normalized minimal vector.

        Parameters
        ----------
        x : torch.Tensor
            (..., dim) floating tensor, finite.

        Returns
        -------
        QuantizerOutput
            ``quantized`` (..., dim) in ``x``'s dtype, ``indices`` (...) or (..., num_codebooks),
            ``aux_loss`` (the commitment term, 0 by default) and ``stats``.

        Raises
        ------
        TypeError
            ``x`` is not a floating-point tensor.
        ValueError
            Wrong last dimension; NaN or infinite entries.
        """
        x = _check_input(x, self.dim, type(self).__name__)
        _check_finite(x, type(self).__name__)
        blocks = x.detach().reshape(-1, self.block)
        # The search only needs the direction: a float32 copy of half-precision input is exact.
        search = blocks.float() if blocks.dtype in _HALF else blocks
        idx = _search_rows(search, self.lattice, self.chunk_size)
        idx = idx.reshape(*x.shape[:-1], self.num_codebooks)
        u = self.normalize(x)
        codes = self._unit_codes(idx, u.dtype)
        # c + (u − sg(u)) has the value c exactly and the gradient of u.
        quantized = self._scaled(codes + (u - u.detach())).reshape(x.shape).to(x.dtype)
        if self.commitment_weight > 0:
            aux = self.commitment_weight * (u - codes).pow(2).sum(-1).mean()
        else:
            aux = torch.zeros((), dtype=u.dtype, device=x.device)
        stats: dict[str, torch.Tensor] = {}
        if self.track_usage:
            stats = codebook_usage(idx, self.codebook_size)
            stats["mean_cosine"] = (u.detach() * codes).sum(-1).mean()
        if self.num_codebooks == 1:
            idx = idx[..., 0]
        return QuantizerOutput(quantized, idx, aux, stats)

    def indices_to_codes(self, indices: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The codes ``s · c_i`` of indices, bit for bit as ``forward`` returns them.

        Parameters
        ----------
        indices : torch.Tensor
            Integer tensor (...) (one block per token) or (..., num_codebooks), values in
            ``[0, codebook_size)``.
        dtype : torch.dtype
            Floating dtype of the codes (computed in float32, or float64, then rounded once).

        Returns
        -------
        torch.Tensor
            (..., dim) codes on the indices' device.
        """
        tail = () if self.num_codebooks == 1 else (self.num_codebooks,)
        idx = _check_indices(indices, tail, self.codebook_size, "indices_to_codes")
        if self.num_codebooks == 1:
            idx = idx[..., None]
        codes = self._scaled(self._unit_codes(idx, _compute_dtype(dtype)))
        return codes.reshape(*idx.shape[:-1], self.dim).to(dtype)

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Indices of codes (the inverse of :meth:`indices_to_codes`; exact).

        Each block is searched like an input; a code is its own nearest direction by a wide
        margin (other codes are at cosine ≤ 1/2), and the result is checked against the codes.

        Parameters
        ----------
        codes : torch.Tensor
            (..., dim) codes of this quantizer (any floating dtype).

        Returns
        -------
        torch.Tensor
            int64 indices shaped like ``QuantizerOutput.indices``.

        Raises
        ------
        ValueError
            A block that is not a code of this quantizer (at its current scale).
        """
        codes = _check_input(codes, self.dim, "codes_to_indices")
        _check_finite(codes, "codes_to_indices")
        blocks = codes.detach().reshape(-1, self.block)
        search = blocks.float() if blocks.dtype in _HALF else blocks
        idx = _search_rows(search, self.lattice, self.chunk_size)
        idx = idx.reshape(*codes.shape[:-1], self.num_codebooks)
        if self.num_codebooks == 1:
            idx = idx[..., 0]
        with torch.no_grad():
            _exact_match(codes, self.indices_to_codes(idx, codes.dtype), "codes_to_indices")
        return idx


class SoftE8Quantizer(nn.Module):
    """The E8-LILA seed's soft E8 quantizer, reproduced from its description (seed's method).

    For each 8-D block ``x_b``: inner products ``sⱼ = ⟨x_b, rⱼ⟩`` with the 240 E8 roots (norm
    √2, standard scale), ``p = softmax(s / τ)``, soft reconstruction ``Σⱼ pⱼ rⱼ``, hard nearest
    root ``r_i`` (the exact search, smallest index on ties); the output ``r_i + (soft − sg(soft))``
    has the value of the hard root and the gradient of the soft reconstruction. Blocks are not
    normalized (the seed's similarity is the plain inner product); the similarities and the
    softmax run in float32 (float64 for float64 input) with autocast off.

    Parameters
    ----------
    dim : int
        Token width, a multiple of 8.
    temperature : float
        Softmax temperature ``τ > 0``.
    track_usage : bool
        Compute the usage statistics of every batch.
    """

    def __init__(self, dim: int = 8, temperature: float = 1.0, track_usage: bool = True):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1 or dim % 8:
            raise ValueError(f"dim must be a positive multiple of 8 for E8, got {dim!r}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be positive and finite, got {temperature!r}")
        self.dim = dim
        self.num_codebooks = dim // 8
        self.codebook_size = 240
        self.bits_per_token = self.num_codebooks * math.log2(240)
        self.temperature = float(temperature)
        self.track_usage = bool(track_usage)
        self.register_buffer("int_codes", _integer_codes("e8"), persistent=False)

    def extra_repr(self) -> str:
        """Width, temperature and rate."""
        return f"dim={self.dim}, temperature={self.temperature:g}, bits_per_token={self.bits_per_token:.2f}"

    def _roots(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return self.int_codes.to(device=device, dtype=dtype) * 0.5

    def soft_reconstruction(self, x: torch.Tensor) -> torch.Tensor:
        """``Σⱼ softmax(⟨x_b, r⟩/τ)ⱼ rⱼ`` per block: the differentiable part (seed's method).

        Parameters
        ----------
        x : torch.Tensor
            (..., dim) floating tensor.

        Returns
        -------
        torch.Tensor
            (..., num_codebooks, 8) in float32 (float64 for float64 input).
        """
        x = _check_input(x, self.dim, type(self).__name__)
        cdtype = _compute_dtype(x.dtype)
        blocks = x.reshape(*x.shape[:-1], self.num_codebooks, 8).to(cdtype)
        roots = self._roots(cdtype, x.device)
        with torch.autocast(device_type=x.device.type, enabled=False):
            p = torch.softmax(blocks @ roots.T / self.temperature, dim=-1)
            return p @ roots

    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Hard nearest roots with the soft reconstruction's gradient (seed's method).

        Parameters
        ----------
        x : torch.Tensor
            (..., dim) floating tensor, finite.

        Returns
        -------
        QuantizerOutput
            ``quantized`` (..., dim) in ``x``'s dtype (roots of norm √2), ``indices`` in
            ``[0, 240)``, a zero ``aux_loss`` and ``stats``.

        Raises
        ------
        TypeError
            ``x`` is not a floating-point tensor.
        ValueError
            Wrong last dimension; NaN or infinite entries.
        """
        x = _check_input(x, self.dim, type(self).__name__)
        _check_finite(x, type(self).__name__)
        blocks = x.detach().reshape(-1, 8)
        search = blocks.float() if blocks.dtype in _HALF else blocks
        idx = _search_rows(search, "e8").reshape(*x.shape[:-1], self.num_codebooks)
        soft = self.soft_reconstruction(x)
        hard = self._roots(soft.dtype, x.device)[idx]
        quantized = (hard + (soft - soft.detach())).reshape(x.shape).to(x.dtype)
        stats = codebook_usage(idx, 240) if self.track_usage else {}
        if self.num_codebooks == 1:
            idx = idx[..., 0]
        aux = torch.zeros((), dtype=soft.dtype, device=x.device)
        return QuantizerOutput(quantized, idx, aux, stats)

    def indices_to_codes(self, indices: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The roots (standard scale) of indices, as ``forward`` returns them.

        Parameters
        ----------
        indices : torch.Tensor
            Integer tensor (...) or (..., num_codebooks) in ``[0, 240)``.
        dtype : torch.dtype
            Floating dtype of the codes.

        Returns
        -------
        torch.Tensor
            (..., dim) codes.
        """
        tail = () if self.num_codebooks == 1 else (self.num_codebooks,)
        idx = _check_indices(indices, tail, 240, "indices_to_codes")
        if self.num_codebooks == 1:
            idx = idx[..., None]
        roots = self._roots(_compute_dtype(dtype), idx.device)
        return roots[idx].reshape(*idx.shape[:-1], self.dim).to(dtype)

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Indices of roots (the inverse of :meth:`indices_to_codes`; exact, checked).

        Parameters
        ----------
        codes : torch.Tensor
            (..., dim) roots.

        Returns
        -------
        torch.Tensor
            int64 indices shaped like ``QuantizerOutput.indices``.
        """
        codes = _check_input(codes, self.dim, "codes_to_indices")
        _check_finite(codes, "codes_to_indices")
        blocks = codes.detach().reshape(-1, 8)
        search = blocks.float() if blocks.dtype in _HALF else blocks
        idx = _search_rows(search, "e8").reshape(*codes.shape[:-1], self.num_codebooks)
        if self.num_codebooks == 1:
            idx = idx[..., 0]
        with torch.no_grad():
            _exact_match(codes, self.indices_to_codes(idx, codes.dtype), "codes_to_indices")
        return idx


# --- vector-quantize-pytorch baselines -------------------------------------------------------
class _LibraryQuantizer(nn.Module):
    """Shared plumbing: a (..., dim) tensor goes to the library as (1, N, dim) and comes back."""

    dim: int
    codebook_size: int
    num_codebooks: int
    bits_per_token: float
    track_usage: bool

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_input(x, self.dim, type(self).__name__)
        _check_finite(x, type(self).__name__)
        return x.reshape(1, -1, self.dim)

    def _index_shape(self, lead: torch.Size) -> tuple[int, ...]:
        return tuple(lead) if self.num_codebooks == 1 else (*lead, self.num_codebooks)

    def _output(self, x: torch.Tensor, quantized: torch.Tensor, idx: torch.Tensor, aux) -> QuantizerOutput:
        idx = idx.reshape(self._index_shape(x.shape[:-1])).long()
        if not isinstance(aux, torch.Tensor):
            aux = torch.tensor(float(aux), device=x.device)
        stats = codebook_usage(idx, self.codebook_size) if self.track_usage else {}
        return QuantizerOutput(quantized.reshape(x.shape), idx, aux.reshape(-1).sum(), stats)

    def _flat_indices(self, indices: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        tail = () if self.num_codebooks == 1 else (self.num_codebooks,)
        idx = _check_indices(indices, tail, self.codebook_size, "indices_to_codes")
        lead = tuple(idx.shape[: idx.ndim - len(tail)])
        return idx.reshape(1, -1, *tail), lead

    def extra_repr(self) -> str:
        """Width and rate."""
        return f"dim={self.dim}, bits_per_token={self.bits_per_token:.2f}"


def _native_width(name: str, dim: int | None, native: int) -> int:
    if dim is not None and dim != native:
        raise ValueError(
            f"{name} quantizes {native}-dimensional tokens here, got dim={dim}; project to {native} "
            "channels before the quantizer (every quantizer sees its own width)"
        )
    return native


class FSQQuantizer(_LibraryQuantizer):
    """Finite scalar quantization (Mentzer et al. 2023): ``vector_quantize_pytorch.FSQ``.

    Each of the ``len(levels)`` channels is bounded by ``tanh`` and rounded to one of
    ``levels[i]`` values (straight-through rounding); the code is the tuple of levels, the
    index its mixed-radix number. ``codebook_size = Π levels``.

    Parameters
    ----------
    levels : sequence of int
        Levels per channel; the default ``(8, 8, 8, 8, 8, 6)`` has 196,608 codes
        (17.585 bits), within 0.0004 bit of Λ₂₄'s 196,560.
    dim : int, optional
        Token width; must equal ``len(levels)`` (no hidden projection).
    track_usage : bool
        Compute the usage statistics of every batch.
    """

    def __init__(
        self,
        levels: tuple[int, ...] | list[int] = (8, 8, 8, 8, 8, 6),
        dim: int | None = None,
        track_usage: bool = True,
    ):
        super().__init__()
        from vector_quantize_pytorch import FSQ

        levels = [int(v) for v in levels]
        if not levels or min(levels) < 3:
            raise ValueError(f"levels must be a non-empty list of integers ≥ 3, got {levels}")
        self.dim = _native_width("FSQ", dim, len(levels))
        self.levels = tuple(levels)
        self.fsq = FSQ(levels=levels)
        self.codebook_size = int(np.prod(levels))
        self.num_codebooks = 1
        self.bits_per_token = math.log2(self.codebook_size)
        self.track_usage = bool(track_usage)

    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Quantize with the library's FSQ.

        Parameters
        ----------
        x : torch.Tensor
            (..., dim) floating tensor.

        Returns
        -------
        QuantizerOutput
            Codes in [−1, 1] per channel; no auxiliary loss (zero).
        """
        quantized, idx = self.fsq(self._flat(x))
        return self._output(x, quantized, idx, 0.0)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """The library's ``indices_to_codes``.

        Parameters
        ----------
        indices : torch.Tensor
            Integer tensor (...) in ``[0, codebook_size)``.

        Returns
        -------
        torch.Tensor
            (..., dim) float32 codes.
        """
        idx, lead = self._flat_indices(indices)
        return self.fsq.indices_to_codes(idx[0][None]).reshape(*lead, self.dim)

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """The library's ``codes_to_indices``, checked to be exact.

        Parameters
        ----------
        codes : torch.Tensor
            (..., dim) FSQ codes.

        Returns
        -------
        torch.Tensor
            int64 indices (...).
        """
        codes = _check_input(codes, self.dim, "codes_to_indices")
        idx = self.fsq.codes_to_indices(codes.float()).long()
        _exact_match(codes, self.indices_to_codes(idx.clamp(0, self.codebook_size - 1)), "codes_to_indices")
        return idx


def _default_groups(bits: int) -> int:
    """Fewest groups of equal size ≤ 12 bits (the library's entropy term is a product with
    all 2^(bits/groups) codes of a group; 2^18 columns would not fit a CPU step)."""
    return next(g for g in range(1, bits + 1) if bits % g == 0 and bits // g <= 12)


class LFQQuantizer(_LibraryQuantizer):
    """Lookup-free quantization (Yu et al. 2023): ``vector_quantize_pytorch.LFQ``.

    Each channel is quantized to its sign (codes ±1, straight-through); the library adds its
    entropy penalty (per-sample entropy minus batch codebook entropy, weight
    ``entropy_loss_weight``) and optional commitment loss as ``aux_loss`` in training. The
    entropy is computed per group of ``dim / num_codebooks`` bits (the library's
    ``num_codebooks``), which factorizes it as the LFQ and BSQ papers do for large codebooks.

    Parameters
    ----------
    dim : int
        Bits per token (one channel per bit).
    num_codebooks : int, optional
        Groups of bits; default the fewest groups of at most 12 bits (2 × 9 for 18 bits).
    entropy_loss_weight : float
        The library's entropy loss weight.
    commitment_loss_weight : float
        The library's commitment loss weight ``β`` (default 0.25 as in MAGVIT-v2).
    inv_temperature : float, optional
        Inverse temperature of the soft assignments in the entropy loss; default 1. The
        library's default, 100, makes neighbouring codes' logits differ by about 400 for
        inputs of order 1, so the softmax is one-hot and the entropy loss has no gradient: in
        the autoencoder experiment LFQ then collapsed to at most five codes (with or without
        commitment loss).
    track_usage : bool
        Compute the usage statistics of every batch.
    """

    _spherical = False
    _inv_temperature = 1.0

    def __init__(
        self,
        dim: int = 18,
        num_codebooks: int | None = None,
        entropy_loss_weight: float = 0.1,
        commitment_loss_weight: float = 0.25,
        inv_temperature: float | None = None,
        track_usage: bool = True,
    ):
        super().__init__()
        from vector_quantize_pytorch import LFQ

        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim (bits per token) must be a positive integer, got {dim!r}")
        groups = _default_groups(dim) if num_codebooks is None else int(num_codebooks)
        if groups < 1 or dim % groups:
            raise ValueError(f"num_codebooks must divide dim={dim}, got {num_codebooks!r}")
        self.dim = dim
        self.num_codebooks = groups
        self.codebook_size = 2 ** (dim // groups)
        self.bits_per_token = float(dim)
        self.track_usage = bool(track_usage)
        self.inv_temperature = float(self._inv_temperature if inv_temperature is None else inv_temperature)
        if not (math.isfinite(self.inv_temperature) and self.inv_temperature > 0):
            raise ValueError(f"inv_temperature must be positive, got {inv_temperature!r}")
        # BSQ: codes ±1/√L on the unit sphere of all L channels (the input is normalized over
        # all of them in forward); the library's spherical=True would normalize each group.
        self.code_scale = dim**-0.5 if self._spherical else 1.0
        self.lfq = LFQ(
            dim=dim,
            codebook_size=self.codebook_size,
            num_codebooks=groups,
            entropy_loss_weight=entropy_loss_weight,
            commitment_loss_weight=commitment_loss_weight,
            codebook_scale=self.code_scale,
        )

    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Quantize with the library's LFQ.

        Parameters
        ----------
        x : torch.Tensor
            (..., dim) floating tensor.

        Returns
        -------
        QuantizerOutput
            Sign codes, the library's entropy (and commitment) loss as ``aux_loss`` in
            training mode (zero in eval mode).
        """
        flat = self._flat(x)
        if self._spherical:
            flat = F.normalize(flat, dim=-1)
        out = self.lfq(flat, inv_temperature=self.inv_temperature)
        return self._output(x, out.quantized, out.indices, out.entropy_aux_loss)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """The library's ``indices_to_codes``.

        Parameters
        ----------
        indices : torch.Tensor
            Integer tensor (...) or (..., num_codebooks) in ``[0, codebook_size)``.

        Returns
        -------
        torch.Tensor
            (..., dim) float32 codes.
        """
        idx, lead = self._flat_indices(indices)
        return self.lfq.indices_to_codes(idx).reshape(*lead, self.dim)

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Indices from the signs of the codes (the library's bit order), checked to be exact.

        Parameters
        ----------
        codes : torch.Tensor
            (..., dim) codes.

        Returns
        -------
        torch.Tensor
            int64 indices shaped like ``QuantizerOutput.indices``.
        """
        codes = _check_input(codes, self.dim, "codes_to_indices")
        bits = (codes.detach().reshape(*codes.shape[:-1], self.num_codebooks, -1) > 0).long()
        idx = (bits * self.lfq.mask.long().to(bits.device)).sum(-1)
        if self.num_codebooks == 1:
            idx = idx[..., 0]
        _exact_match(codes, self.indices_to_codes(idx), "codes_to_indices")
        return idx


class BSQQuantizer(LFQQuantizer):
    """Binary spherical quantization (Zhao, Xiong, Krähenbühl 2024) with the library's LFQ.

    ``u = x / ‖x‖`` over all ``L = dim`` channels, code ``sign(u) / √L`` (on the unit sphere),
    straight-through; the library's LFQ quantizes ``u`` with ``codebook_scale = 1/√L`` and adds
    its entropy loss, factorized over groups of bits as in BSQ. (The library's
    ``spherical=True`` normalizes each group separately, which with several groups is a
    product of smaller spheres, not BSQ.)

    Parameters
    ----------
    dim : int
        Bits per token ``L``.
    num_codebooks : int, optional
        Groups of bits for the entropy term; default the fewest of at most 12 bits.
    entropy_loss_weight : float
        The library's entropy loss weight.
    commitment_loss_weight : float
        The library's commitment loss weight ``β`` (default 0.25).
    inv_temperature : float, optional
        Inverse temperature of the entropy loss's soft assignments; default the library's
        100 (on the unit sphere the coordinates are of order 1/√L, so the softmax is not
        saturated).
    track_usage : bool
        Compute the usage statistics of every batch.
    """

    _spherical = True
    _inv_temperature = 100.0

    def __init__(
        self,
        dim: int = 18,
        num_codebooks: int | None = None,
        entropy_loss_weight: float = 0.1,
        commitment_loss_weight: float = 0.25,
        inv_temperature: float | None = None,
        track_usage: bool = True,
    ):
        super().__init__(
            dim, num_codebooks, entropy_loss_weight, commitment_loss_weight, inv_temperature, track_usage
        )


class VQQuantizer(_LibraryQuantizer):
    """A learned codebook: ``vector_quantize_pytorch.VectorQuantize`` (VQ-VAE with EMA updates).

    Nearest code in Euclidean distance, codebook updated by exponential moving averages
    (library defaults: decay 0.8, commitment weight 1, rotation-trick gradients), codes unused
    for a while re-seeded from the batch (``threshold_ema_dead_code``).

    Parameters
    ----------
    dim : int
        Token width.
    codebook_size : int
        Number of learned codes.
    threshold_ema_dead_code : float
        The library's dead-code threshold (0 disables re-seeding).
    track_usage : bool
        Compute the usage statistics of every batch.
    **kwargs
        Further ``VectorQuantize`` arguments.
    """

    def __init__(
        self,
        dim: int = 24,
        codebook_size: int = 4096,
        threshold_ema_dead_code: float = 2.0,
        track_usage: bool = True,
        **kwargs,
    ):
        super().__init__()
        from vector_quantize_pytorch import VectorQuantize

        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if codebook_size < 2:
            raise ValueError(f"codebook_size must be at least 2, got {codebook_size}")
        self.dim = dim
        self.codebook_size = int(codebook_size)
        self.num_codebooks = 1
        self.bits_per_token = math.log2(self.codebook_size)
        self.track_usage = bool(track_usage)
        self.vq = VectorQuantize(
            dim=dim,
            codebook_size=self.codebook_size,
            threshold_ema_dead_code=threshold_ema_dead_code,
            **kwargs,
        )

    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Quantize with the library's ``VectorQuantize`` (updates the codebook in training mode).

        Parameters
        ----------
        x : torch.Tensor
            (..., dim) floating tensor.

        Returns
        -------
        QuantizerOutput
            Nearest codes, the library's commitment loss as ``aux_loss``.
        """
        quantized, idx, loss = self.vq(self._flat(x))
        return self._output(x, quantized, idx, loss)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """The codebook rows of indices (the library's ``get_output_from_indices``).

        Parameters
        ----------
        indices : torch.Tensor
            Integer tensor (...) in ``[0, codebook_size)``.

        Returns
        -------
        torch.Tensor
            (..., dim) codes.
        """
        idx, lead = self._flat_indices(indices)
        return self.vq.get_output_from_indices(idx).reshape(*lead, self.dim)

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Index of the codebook row nearest to each code, checked to be that row.

        Parameters
        ----------
        codes : torch.Tensor
            (..., dim) codebook rows.

        Returns
        -------
        torch.Tensor
            int64 indices (...).
        """
        codes = _check_input(codes, self.dim, "codes_to_indices")
        book = self.vq.codebook.detach()
        flat = codes.detach().reshape(-1, self.dim).to(book.dtype)
        idx = torch.cdist(flat, book).argmin(dim=-1).reshape(codes.shape[:-1])
        _exact_match(codes, self.indices_to_codes(idx), "codes_to_indices")
        return idx


def make_quantizer(name: str, dim: int | None = None, **kwargs) -> nn.Module:
    """Build a quantization layer by name (all follow :class:`Quantizer`).

    | name | layer | default `dim` | bits / token |
    |---|---|---|---|
    | `leech` | `SphericalLatticeQuantizer` (Λ₂₄) | 24 | 17.58 |
    | `e8` | `SphericalLatticeQuantizer` (E8) | 8 | 7.91 per block |
    | `e8_soft` | `SoftE8Quantizer` (the seed's method) | 8 | 7.91 per block |
    | `fsq` | `FSQQuantizer`, levels 8,8,8,8,8,6 | 6 | 17.585 |
    | `lfq` | `LFQQuantizer` | 18 | 18 |
    | `bsq` | `BSQQuantizer` | 18 | 18 |
    | `vq` | `VQQuantizer`, 4,096 learned codes | 24 | 12 |

    Parameters
    ----------
    name : str
        One of :data:`QUANTIZER_NAMES`.
    dim : int, optional
        Token width (a multiple of the block size for the lattice layers; the number of bits
        for ``lfq``/``bsq``; ``len(levels)`` for ``fsq``).
    **kwargs
        Passed to the layer's constructor.

    Returns
    -------
    torch.nn.Module
        The layer.

    Raises
    ------
    ValueError
        Unknown name, or a width the layer does not accept.
    """
    if name == "leech" or name == "e8":
        return SphericalLatticeQuantizer(name, dim, **kwargs)
    if name == "e8_soft":
        return SoftE8Quantizer(8 if dim is None else dim, **kwargs)
    if name == "fsq":
        if dim is not None and "levels" not in kwargs and dim != 6:
            raise ValueError(f"fsq with dim={dim} needs levels= (one level count per channel)")
        return FSQQuantizer(dim=dim, **kwargs)
    if name in ("lfq", "bsq"):
        cls = LFQQuantizer if name == "lfq" else BSQQuantizer
        return cls(18 if dim is None else dim, **kwargs)
    if name == "vq":
        return VQQuantizer(24 if dim is None else dim, **kwargs)
    raise ValueError(f"unknown quantizer {name!r}; choose one of {QUANTIZER_NAMES}")
