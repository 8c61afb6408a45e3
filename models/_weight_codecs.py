"""Codebooks of the weight quantizers (private to :mod:`leechkit.models.weight_quant`).

A *stage* quantizes blocks of ``dim`` consecutive weights of a row to integer codes, given
per-row (per-group) parameters that it fits itself; a layer is quantized by one stage or by a
sum of stages (residual quantization). Every stage has the same four operations:

``fit(x)``
    Parameters for the group ``x`` of shape (rows, m, dim) (a scale per row, a scalar zero
    point per row, or a table of gain levels), and the codes and reconstruction of ``x``
    under them.
``quantize(x, params)``
    Codes and reconstruction of ``x`` (rows, m, dim) under fitted parameters.
``reconstruct(codes, params, dtype)``
    The reconstruction from stored codes, with the parameters expanded to one per block
    (``scale``/``zero``: (rows, blocks); ``levels``: (blocks, L)).
``streams`` / ``float_params``
    What is stored: integer streams (name, bit width, one value per coordinate, per block or
    per row and group) and float16 tables (per row and group, or per group).

Stages
------
* :class:`ScalarStage` — uniform scalar levels ``s·(q − z)``, ``q ∈ [0, 2^b)``, with a
  float16 step ``s`` and a half-integer zero point ``z ∈ {0, ½, …, 2^b − 1}`` stored in
  ``b + 1`` bits per group (the zero point of GPTQ, refined by halves so that one bit gives
  the symmetric levels ±s/2). ``(s, z)`` minimise the group's squared error over a grid of
  clipping ratios of the min–max range (the ``mse`` grid of GPTQ's reference quantizer).
* :class:`E8Stage` — a ball of E8 points per 8 weights, ``b ∈ {1, 2}`` bits per weight:
  the whole classes (orbits under signed permutations) of the shells of least norm that fit
  in ``2^(8b)`` points (:func:`e8_codebook`; 241 and 64,497 points), a ball-shaped E8
  codebook in the spirit of QuIP#'s E8P. The nearest codeword is found exactly, class by
  class (sorted pairing and a sign-parity repair, :class:`E8Stage`). Per-row float16 scale
  chosen among a grid by the squared error of the full round trip.
* :class:`VoronoiStage` — the Voronoi code of Λ₂₄ with ``k`` bits per dimension
  (:class:`leechkit.lattice.VoronoiCode`, radial shrinking of overloaded points),
  per-row float16 scale chosen the same way.
* :class:`ShellStage` — LLVQ's shape–gain code: the direction of a block is the point of a
  union of Leech shells with the smallest angle to it
  (:class:`leechkit.lattice.LeechShellCode`), the gain ``⟨x/s, u⟩`` (``u`` the unit
  direction, ``s`` the row's float16 RMS) is coded with ``g`` bits by the nearest of ``2^g``
  float16 levels fitted per group by Lloyd–Max iterations on the group's gains. Since the
  direction is unit, ``⟨x, u⟩`` is the least-squares gain and the nearest level to it
  minimises the block's error for that direction.

References
----------
E. Frantar, S. Ashkboos, T. Hoefler, D. Alistarh, "GPTQ: Accurate post-training quantization
for generative pre-trained transformers", ICLR 2023 (arXiv:2210.17323).
A. Tseng et al., "QuIP#: Even better LLM quantization with Hadamard incoherence and lattice
codebooks", ICML 2024.
T. van der Ouderaa, M. van Baalen, P. Whatmough, M. Nagel, "Leech lattice vector quantization
for efficient LLM compression", arXiv:2603.11021, 2026.
S. P. Lloyd, "Least squares quantization in PCM", IEEE Trans. Inform. Theory 28 (1982) 129–137.
J. H. Conway, N. J. A. Sloane, *Sphere Packings, Lattices and Groups*, 3rd ed., ch. 20.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from functools import lru_cache

import numpy as np
import torch

__all__ = [
    "E8Stage",
    "ScalarStage",
    "ShellStage",
    "Stage",
    "VoronoiStage",
    "lloyd_max",
    "pack_bits",
    "stage_from_meta",
    "unpack_bits",
]

#: Smallest float16 step: an all-zero row or group gets it (its weights are then reproduced
#: within ~1e-4 whatever the codes).
TINY = float(np.finfo(np.float16).tiny)
_FP16_MAX = float(np.finfo(np.float16).max)


# --------------------------------------------------------------------------- bit packing


def pack_bits(values: torch.Tensor, width: int) -> torch.Tensor:
    """Pack non-negative integers of ``width`` bits into a uint8 stream, most significant bit first.

    Parameters
    ----------
    values : torch.Tensor
        Integer tensor of any shape (flattened in row-major order), entries in ``[0, 2^width)``.
    width : int
        Bits per value, 1…62.

    Returns
    -------
    torch.Tensor
        uint8, ``⌈numel·width/8⌉`` bytes, on the device of ``values``.
    """
    if not 1 <= width <= 62:
        raise ValueError(f"width must be in [1, 62], got {width}")
    v = values.reshape(-1).to(torch.int64)
    if v.numel() and (int(v.min()) < 0 or int(v.max()) >= 1 << width):
        raise ValueError(f"values must lie in [0, 2^{width})")
    out = []
    # Chunks bound the (count × width) bit matrix to ~64 MB.
    chunk = max(8, (1 << 26) // width // 8 * 8)
    shifts = torch.arange(width - 1, -1, -1, device=v.device, dtype=torch.int64)
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], device=v.device, dtype=torch.int32)
    for start in range(0, max(v.numel(), 1), chunk):
        part = v[start : start + chunk]
        bits = ((part[:, None] >> shifts) & 1).to(torch.int32).reshape(-1)
        pad = (-bits.numel()) % 8
        if pad:
            bits = torch.cat([bits, bits.new_zeros(pad)])
        out.append((bits.reshape(-1, 8) * weights).sum(dim=1).to(torch.uint8))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.uint8, device=v.device)


def unpack_bits(packed: torch.Tensor, width: int, count: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: the first ``count`` values (int64) of a packed stream.

    Parameters
    ----------
    packed : torch.Tensor
        uint8 stream of at least ``⌈count·width/8⌉`` bytes.
    width : int
        Bits per value.
    count : int
        Number of values.
    """
    need = -(-count * width // 8)
    if packed.dtype != torch.uint8 or packed.dim() != 1 or packed.numel() < need:
        raise ValueError(
            f"packed must be a 1-D uint8 stream of at least {need} bytes, "
            f"got {packed.dtype} {tuple(packed.shape)}"
        )
    out = torch.empty(count, dtype=torch.int64, device=packed.device)
    shifts8 = torch.arange(7, -1, -1, device=packed.device, dtype=torch.int64)
    shifts = torch.arange(width - 1, -1, -1, device=packed.device, dtype=torch.int64)
    chunk = max(8, (1 << 26) // width // 8 * 8)  # values per chunk: a multiple of 8 starts on a byte
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        first = start * width // 8
        nbytes = -(-n * width // 8)
        bits = (packed[first : first + nbytes].to(torch.int64)[:, None] >> shifts8) & 1
        bits = bits.reshape(-1)[: n * width].reshape(n, width)
        out[start : start + n] = (bits << shifts).sum(dim=1)
    return out


def fp16_round(x: torch.Tensor) -> torch.Tensor:
    """Values rounded to float16 (clamped to its range), returned in the dtype of ``x``."""
    return x.clamp(-_FP16_MAX, _FP16_MAX).to(torch.float16).to(x.dtype)


def _positive_scale(s: torch.Tensor) -> torch.Tensor:
    """float16-rounded positive steps (a zero or underflowing step becomes :data:`TINY`)."""
    s = fp16_round(s)
    return torch.where(s > 0, s, torch.full_like(s, TINY))


def lloyd_max(values: torch.Tensor, levels: int, iterations: int = 40) -> torch.Tensor:
    """Lloyd–Max levels (1-D k-means) of ``values`` for ``levels`` cells, sorted ascending.

    Starts at the quantiles ``(i + ½)/L`` and alternates nearest-level cells (midpoint
    boundaries) and cell means; an empty cell keeps its level. Each iteration does not
    increase the squared error (Lloyd 1982).

    Parameters
    ----------
    values : torch.Tensor
        1-D float tensor, at least one value.
    levels : int
        Number of levels ``L ≥ 1``.
    iterations : int
        Number of Lloyd iterations.
    """
    v = values.reshape(-1)
    q = (torch.arange(levels, dtype=v.dtype, device=v.device) + 0.5) / levels
    level = (
        torch.quantile(v, q) if v.numel() <= 16_000_000 else torch.quantile(v[:: v.numel() // 8_000_000], q)
    )
    for _ in range(iterations if levels > 1 else 1):
        level = torch.sort(level).values
        cells = (
            torch.searchsorted(0.5 * (level[1:] + level[:-1]), v)
            if levels > 1
            else torch.zeros_like(v, dtype=torch.int64)
        )
        sums = torch.zeros(levels, dtype=v.dtype, device=v.device).index_add_(0, cells, v)
        # Counted by index_add_ rather than bincount, which synchronises with the host on CUDA
        # (it sizes its output from the largest value) in each of the iterations.
        counts = torch.zeros(levels, dtype=torch.int64, device=v.device)
        counts = counts.index_add_(0, cells, torch.ones_like(cells)).to(v.dtype)
        level = torch.where(counts > 0, sums / counts.clamp(min=1), level)
    return torch.sort(level).values


def nearest_level(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Index of the nearest entry of the sorted 1-D ``levels`` for each value (ties: the lower)."""
    if levels.numel() == 1:
        return torch.zeros_like(values, dtype=torch.int64)
    bounds = 0.5 * (levels[1:] + levels[:-1])
    return torch.searchsorted(bounds, values.contiguous(), right=False)


# --------------------------------------------------------------------------- stages


class Stage(ABC):
    """A block quantizer with fitted per-group parameters (module docstring)."""

    kind: str
    dim: int

    @property
    @abstractmethod
    def streams(self) -> list[tuple[str, int, str]]:
        """Integer streams ``(name, width, granularity)``, granularity "coord", "block" or "group"."""

    @property
    def float_params(self) -> list[tuple[str, str]]:
        """Float16 tables ``(name, granularity)``: "row_group" → (rows, groups), "group" → (groups, L)."""
        return [("scale", "row_group")]

    @abstractmethod
    def meta(self) -> dict[str, object]:
        """JSON description from which :func:`stage_from_meta` rebuilds the stage."""

    @abstractmethod
    def fit(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """``(params, codes, reconstruction)`` of the group ``x`` (rows, m, dim)."""

    @abstractmethod
    def quantize(
        self, x: torch.Tensor, params: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``(codes, reconstruction)`` of ``x`` (rows, m, dim) under group parameters."""

    @abstractmethod
    def reconstruct(
        self, codes: dict[str, torch.Tensor], params: dict[str, torch.Tensor], dtype: torch.dtype
    ) -> torch.Tensor:
        """(rows, blocks, dim) reconstruction from codes and per-block parameters."""

    def table_width(self) -> int:
        """Entries per group of the "group" float tables (0 if none)."""
        return 0


def _row_rms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).mean(dim=(1, 2)).sqrt()


def _scale_search(
    stage: Stage, x: torch.Tensor, base: torch.Tensor, factors: np.ndarray
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """The float16 per-row scale among ``base · factors`` with the least round-trip error per row."""
    best_err = torch.full((x.shape[0],), math.inf, dtype=x.dtype, device=x.device)
    best_scale = torch.zeros_like(best_err)
    best_codes: dict[str, torch.Tensor] = {}
    best_rec = torch.zeros_like(x)
    for f in factors:
        scale = _positive_scale(base * float(f))
        codes, rec = stage.quantize(x, {"scale": scale})
        err = (rec - x).pow(2).sum(dim=(1, 2))
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_scale = torch.where(better, scale, best_scale)
        best_rec = torch.where(better[:, None, None], rec, best_rec)
        for name, c in codes.items():
            mask = better.reshape(-1, *([1] * (c.dim() - 1)))
            best_codes[name] = torch.where(mask, c, best_codes[name]) if name in best_codes else c
    return {"scale": best_scale}, best_codes, best_rec


class ScalarStage(Stage):
    """Uniform scalar quantization with a float16 step and a half-integer zero point (module docstring).

    Parameters
    ----------
    bits : int
        Bits per weight ``b``, 1…8.
    """

    kind = "scalar"
    dim = 1
    #: Clipping ratios of the min–max range tried by :meth:`fit` (1 = no clipping).
    CLIP = np.linspace(1.0, 0.2, 33)

    def __init__(self, bits: int):
        self.bits = int(bits)
        self.maxq = (1 << self.bits) - 1

    @property
    def streams(self) -> list[tuple[str, int, str]]:
        """Codes (``b`` bits per weight) and doubled zero points (``b + 1`` bits per group)."""
        return [("codes", self.bits, "coord"), ("zero", self.bits + 1, "group")]

    def meta(self) -> dict[str, object]:
        """``{"kind": "scalar", "bits": b}``."""
        return {"kind": self.kind, "bits": self.bits}

    def _levels(self, v: torch.Tensor, scale: torch.Tensor, zero2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = zero2.to(v.dtype)[:, None] * 0.5
        q = torch.clamp(torch.round(v / scale[:, None] + z), 0, self.maxq)
        return q, (q - z) * scale[:, None]

    def fit(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """Step and zero point of least squared error over :attr:`CLIP`, then the codes."""
        v = x.reshape(x.shape[0], -1)
        lo = v.min(dim=1).values.clamp(max=0)
        hi = v.max(dim=1).values.clamp(min=0)
        best_err = torch.full_like(lo, math.inf)
        best_s, best_z = torch.zeros_like(lo), torch.zeros_like(lo, dtype=torch.int64)
        for p in self.CLIP:
            scale = _positive_scale((hi - lo) * float(p) / self.maxq)
            zero2 = torch.clamp(torch.round(-2.0 * float(p) * lo / scale), 0, 2 * self.maxq).to(torch.int64)
            _, rec = self._levels(v, scale, zero2)
            err = (rec - v).pow(2).sum(dim=1)
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_s = torch.where(better, scale, best_s)
            best_z = torch.where(better, zero2, best_z)
        params = {"scale": best_s, "zero": best_z}
        codes, rec = self.quantize(x, params)
        return params, codes, rec

    def quantize(
        self, x: torch.Tensor, params: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Nearest level of each weight, clamped to the code range."""
        v = x.reshape(x.shape[0], -1)
        q, rec = self._levels(v, params["scale"], params["zero"])
        return {"codes": q.to(torch.int64).reshape(x.shape)}, rec.reshape(x.shape)

    def reconstruct(
        self, codes: dict[str, torch.Tensor], params: dict[str, torch.Tensor], dtype: torch.dtype
    ) -> torch.Tensor:
        """``(q − z)·s`` in ``dtype`` (``q − z`` is exact; one rounding in the product)."""
        q = codes["codes"].to(dtype)
        z = params["zero"].to(dtype)[..., None] * 0.5
        return (q - z) * params["scale"].to(dtype)[..., None]


# --- E8 ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _e8_points(radius2: int) -> np.ndarray:
    """All points of E8 of squared norm ≤ ``radius2``, in doubled units (int64)."""
    # E8 in doubled units: all entries even or all odd, sum ≡ 0 (mod 4). Coordinates are built
    # one at a time, pruning partial norms beyond the radius.
    limit = 4 * radius2
    out = []
    for parity in (0, 1):
        vals = np.arange(-2 * math.isqrt(radius2) - 1, 2 * math.isqrt(radius2) + 2)
        vals = vals[vals % 2 == parity]
        rows = np.zeros((1, 0), dtype=np.int64)
        norms = np.zeros(1, dtype=np.int64)
        for _ in range(8):
            cand_rows = np.repeat(rows, vals.size, axis=0)
            cand_vals = np.tile(vals, rows.shape[0])
            cand_norms = np.repeat(norms, vals.size) + cand_vals**2
            keep = cand_norms <= limit
            rows = np.concatenate([cand_rows[keep], cand_vals[keep, None]], axis=1)
            norms = cand_norms[keep]
        out.append(rows[rows.sum(axis=1) % 4 == 0])
    return np.concatenate(out)


@lru_cache(maxsize=4)
def e8_codebook(bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The E8-ball codebook of :class:`E8Stage` and its classes.

    The points of E8 fall into *classes*: the orbits of a sorted magnitude pattern under
    permutations and sign changes (all sign patterns for integer points, whose sum is even
    whatever the signs; for half-integer points the sign patterns with a number of minus
    signs ≡ Σ|cᵢ| (mod 2)). The codebook is every class of the shells of norm ≤ ``r`` and
    the largest union of classes of the next shell that keeps the size ≤ ``2^(8b)``
    (b = 1: the 241 points of norm ≤ 2; b = 2: the 56,881 points of norm ≤ 10 and the
    classes (3/2⁵, 1/2³) and (2³, 0⁵) of norm 12, 64,497 points, 15.98 bits). Whole classes
    keep the codebook centrally symmetric and let :meth:`E8Stage.encode` search it exactly
    class by class.

    Parameters
    ----------
    bits : int
        1 or 2: at most ``2^(8·bits)`` points.

    Returns
    -------
    tuple of numpy.ndarray
        ``(points, classes)``: the points in doubled units (int64), ordered by norm then
        lexicographically (the index order); the classes as rows of the 8 sorted doubled
        magnitudes (decreasing).
    """
    size = 1 << (8 * bits)
    pts = _e8_points(16)
    norms = (pts**2).sum(axis=1) // 4
    mags = -np.sort(-np.abs(pts), axis=1)
    chosen = np.zeros(pts.shape[0], dtype=bool)
    for n in np.unique(norms):
        shell = norms == n
        if chosen.sum() + shell.sum() <= size:
            chosen |= shell
            continue
        _, inverse = np.unique(mags[shell], axis=0, return_inverse=True)
        counts = np.bincount(inverse.reshape(-1))
        room = size - int(chosen.sum())
        best, best_mask = 0, 0
        for mask in range(1 << len(counts)):
            total = sum(int(counts[i]) for i in range(len(counts)) if mask >> i & 1)
            if best < total <= room:
                best, best_mask = total, mask
        keep = np.array([best_mask >> int(i) & 1 for i in inverse.reshape(-1)], dtype=bool)
        idx = np.flatnonzero(shell)[keep]
        chosen[idx] = True
        break
    points = pts[chosen]
    order = np.lexsort((*points.T[::-1], (points**2).sum(axis=1)))
    points = points[order]
    classes = np.unique(-np.sort(-np.abs(points), axis=1), axis=0)
    return points, classes


def _point_keys(q: np.ndarray | torch.Tensor):
    """Base-32 key of doubled-unit vectors with entries in [−15, 15] (injective there)."""
    weights = 32 ** np.arange(8, dtype=np.int64)
    if isinstance(q, torch.Tensor):
        return ((q + 16) * torch.as_tensor(weights, device=q.device)).sum(dim=-1)
    return ((q + 16) * weights).sum(axis=-1)


class E8Stage(Stage):
    """A ball of at most ``2^(8b)`` points of E8 per 8 weights (module docstring, :func:`e8_codebook`).

    Parameters
    ----------
    bits : int
        1 or 2 bits per weight.

    Notes
    -----
    Nearest codeword, exactly (up to float ties): ``|y − c|² = |y|² − 2⟨y, c⟩ + |c|²``, so the
    best codeword maximises ``⟨y, c⟩ − |c|²/2``. Inside a class ``|c|`` is fixed and the
    largest ``⟨y, c⟩`` pairs the sorted ``|y|`` with the sorted magnitudes, signs following
    ``y`` (rearrangement inequality); for a half-integer class whose sign parity ``y`` does not
    meet, the cheapest repair flips the sign of the smallest ``|yᵢ|`` (paired with the
    smallest magnitude), costing ``2·min|yᵢ|·min mag``. The best class wins; its codeword is
    rebuilt from the pairing and looked up in the sorted keys of the codebook.
    """

    kind = "e8"
    dim = 8
    #: Scale factors tried per row (relative to RMS-matching of data and codebook).
    FACTORS = np.geomspace(0.75, 1.35, 8)

    def __init__(self, bits: int):
        if bits not in (1, 2):
            raise ValueError(f"an E8 stage has 1 or 2 bits per weight, got {bits}")
        self.bits = int(bits)
        points, classes = e8_codebook(self.bits)
        self.points = points.astype(np.float64) / 2.0
        self.size = points.shape[0]
        self.rms = float(np.sqrt((self.points**2).mean()))
        keys = _point_keys(points)
        self._sort = np.argsort(keys)
        self._keys = keys[self._sort]
        self._classes = classes.astype(np.float64) / 2.0
        half = (classes[:, 0] % 2 == 1).astype(np.float64)
        # Half-integer classes: required parity of the number of minus signs, Σ|cᵢ| mod 2.
        self._half = half
        self._parity = np.where(half > 0, (classes.sum(axis=1) // 2) % 2, 0).astype(np.float64)
        self._norms = (self._classes**2).sum(axis=1)
        self._dev: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}

    @property
    def streams(self) -> list[tuple[str, int, str]]:
        """One index of ``8b`` bits per block."""
        return [("codes", 8 * self.bits, "block")]

    def meta(self) -> dict[str, object]:
        """``{"kind": "e8", "bits": b}``."""
        return {"kind": self.kind, "bits": self.bits}

    def _tables(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        key = (device, dtype)
        if key not in self._dev:
            t = lambda a, dt=dtype: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
            self._dev[key] = (
                t(self.points),
                t(self._classes),
                t(self._half),
                t(self._parity),
                t(self._norms),
                torch.as_tensor(self._keys, device=device),
                torch.as_tensor(self._sort, device=device),
            )
        return self._dev[key]

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codeword of each row of ``y`` (N, 8) (Notes)."""
        _, classes, half, parity, norms, keys, sort = self._tables(y.device, y.dtype)
        mag, order = torch.sort(y.abs(), dim=1, descending=True)
        value = mag @ classes.T  # (N, classes): the sorted pairing
        neg = torch.remainder((y < 0).sum(dim=1, keepdim=True).to(y.dtype), 2)
        wrong = (half[None, :] > 0) & (neg != parity[None, :])
        value = value - wrong.to(y.dtype) * 2.0 * mag[:, 7:8] * classes[None, :, 7]
        best = torch.argmax(value - 0.5 * norms[None, :], dim=1)
        sign = torch.where(y < 0, -1.0, 1.0).to(y.dtype)
        flip = wrong.gather(1, best[:, None])[:, 0]
        last = order[:, 7]
        sign_last = sign.gather(1, last[:, None])[:, 0]
        sign = sign.scatter(1, last[:, None], torch.where(flip, -sign_last, sign_last)[:, None])
        code = torch.zeros_like(y).scatter(1, order, classes[best])
        q = torch.round(2.0 * code * sign).to(torch.int64)
        pos = torch.searchsorted(keys, _point_keys(q))
        return sort[pos]

    def quantize(
        self, x: torch.Tensor, params: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Nearest codeword of ``x/s`` per block."""
        s = params["scale"][:, None, None]
        idx = self.encode((x / s).reshape(-1, 8)).reshape(x.shape[:2])
        pts = self._tables(x.device, x.dtype)[0]
        return {"codes": idx}, pts[idx] * s

    def fit(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """Per-row float16 scale of least round-trip error among :attr:`FACTORS`."""
        return _scale_search(self, x, _row_rms(x) / self.rms, self.FACTORS)

    def reconstruct(
        self, codes: dict[str, torch.Tensor], params: dict[str, torch.Tensor], dtype: torch.dtype
    ) -> torch.Tensor:
        """Codeword (exact in float32: half units) times the row's scale."""
        idx = codes["codes"]
        if idx.numel() and int(idx.max()) >= self.size:
            raise ValueError(f"E8 code index beyond the codebook's {self.size} points")
        pts = self._tables(idx.device, dtype)[0]
        return pts[idx] * params["scale"].to(dtype)[..., None]


# --- Leech Voronoi ----------------------------------------------------------------------------


class VoronoiStage(Stage):
    """The Voronoi code of the Leech lattice with ``k`` bits per dimension (module docstring).

    Parameters
    ----------
    bits : int
        ``k``, 1…8 bits per weight.
    """

    kind = "voronoi"
    dim = 24
    #: Scale factors tried per row, relative to matching the RMS of the data to the RMS of
    #: the code's region (``√G · 2^k``, ``G ≈ 0.0658`` the Leech lattice's normalized
    #: second moment, unit determinant).
    FACTORS = np.geomspace(0.8, 2.0, 6)
    _REGION_RMS = math.sqrt(0.06577)

    def __init__(self, bits: int):
        from leechkit.lattice import VoronoiCode, leech

        self.bits = int(bits)
        # The uncentred code: at 1 bit per dimension the centred coset leaves the origin far from
        # every codeword (relative MSE ≈ 1 on Gaussian data, against ≈ 0.6), and at 2 bits it is
        # also slightly worse (0.090 against 0.086).
        self.code = VoronoiCode(leech(), self.bits, 1.0, centered=False)
        self._coders: dict[str, object] = {}

    def _coder(self, device: torch.device):
        """The code's arithmetic on ``device`` (decoding there: Triton on CUDA, Numba on the
        CPU): the same digits and points as :attr:`code`."""
        from .tensor_quant import _TorchVoronoi

        key = str(device)
        if key not in self._coders:
            self._coders[key] = _TorchVoronoi("leech", self.bits, device, centered=False)
        return self._coders[key]

    @property
    def streams(self) -> list[tuple[str, int, str]]:
        """24 digits of ``k`` bits per block."""
        return [("codes", self.bits, "coord")]

    def meta(self) -> dict[str, object]:
        """``{"kind": "voronoi", "bits": k}``."""
        return {"kind": self.kind, "bits": self.bits}

    def quantize(
        self, x: torch.Tensor, params: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Voronoi-code message of ``x/s`` per block (shrink on overload), on ``x``'s device."""
        s = params["scale"][:, None, None]
        coder = self._coder(x.device)
        digits = coder.encode((x / s).detach().to(torch.float64).reshape(-1, 24))
        points = coder.decode(digits).to(x.dtype)
        return {"codes": digits.reshape(x.shape)}, points.reshape(x.shape) * s

    def fit(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """Per-row float16 scale of least round-trip error among :attr:`FACTORS`."""
        base = _row_rms(x) / (self._REGION_RMS * (1 << self.bits))
        return _scale_search(self, x, base, self.FACTORS)

    def reconstruct(
        self, codes: dict[str, torch.Tensor], params: dict[str, torch.Tensor], dtype: torch.dtype
    ) -> torch.Tensor:
        """Decoded codeword (float64, rounded to ``dtype``) times the row's scale."""
        digits = codes["codes"]
        pts = self._coder(digits.device).decode(digits.reshape(-1, 24).long())
        return pts.to(dtype).reshape(digits.shape) * params["scale"].to(dtype)[..., None]


# --- Leech shells (LLVQ) ----------------------------------------------------------------------


@lru_cache(maxsize=8)
def leech_shell_code(max_norm: int, min_norm: int = 4):
    """A cached :class:`leechkit.lattice.LeechShellCode` (its tables take a moment to build)."""
    from leechkit.lattice.quantizers.shells import LeechShellCode

    return LeechShellCode(max_norm=max_norm, min_norm=min_norm)


class ShellStage(Stage):
    """LLVQ's shape–gain stage on a union of Leech shells (module docstring).

    Parameters
    ----------
    max_norm : int
        Largest shell norm of the direction codebook.
    gain_bits : int
        Bits ``g`` of the gain index (``2^g`` levels per group), 0…16.
    min_norm : int
        Smallest shell norm.
    code : object, optional
        The direction codebook (default: ``LeechShellCode(max_norm, min_norm)``); anything
        with its ``bits``, ``nearest`` and ``index_to_vector``.
    """

    kind = "shells"
    dim = 24
    #: Where :meth:`directions` searches and :meth:`reconstruct` turns indices into points:
    #: ``"auto"`` (by the tensor's device), ``"device"``
    #: (the torch search of :mod:`leechkit.models.shell_search`, any device) or ``"host"``.
    search = "auto"

    def __init__(self, max_norm: int, gain_bits: int, min_norm: int = 4, code: object | None = None):
        self.max_norm = int(max_norm)
        self.min_norm = int(min_norm)
        self.gain_bits = int(gain_bits)
        if not 0 <= self.gain_bits <= 16:
            raise ValueError(f"gain_bits must be in [0, 16], got {gain_bits}")
        self.code = leech_shell_code(self.max_norm, self.min_norm) if code is None else code
        self.shape_bits = int(self.code.bits)

    @property
    def streams(self) -> list[tuple[str, int, str]]:
        """The direction's index (``code.bits``) and the gain's index (``g`` bits) per block."""
        out = [("codes", self.shape_bits, "block")]
        if self.gain_bits:
            out.append(("gains", self.gain_bits, "block"))
        return out

    @property
    def float_params(self) -> list[tuple[str, str]]:
        """Row scales and the group's ``2^g`` gain levels."""
        return [("scale", "row_group"), ("levels", "group")]

    def table_width(self) -> int:
        """``2^g`` gain levels per group."""
        return 1 << self.gain_bits

    def meta(self) -> dict[str, object]:
        """Norms, gain bits and the direction index width."""
        return {
            "kind": self.kind,
            "min_norm": self.min_norm,
            "max_norm": self.max_norm,
            "gain_bits": self.gain_bits,
            "shape_bits": self.shape_bits,
        }

    def directions(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices and unit vectors (float64) of the smallest-angle shell points of rows of ``y`` (N, 24).

        CUDA (non-CPU) rows of a :class:`~leechkit.lattice.LeechShellCode` are searched on
        their device (:func:`leechkit.models.shell_search.shell_nearest`, the same results
        as the host search; :attr:`search` ``"device"`` forces that search on CPU tensors
        too), other rows and codebooks by ``code.nearest`` on the host.
        """
        from leechkit.lattice.quantizers.shells import LeechShellCode

        from .shell_search import shell_nearest

        device = self.search == "device" or (self.search == "auto" and y.device.type != "cpu")
        if device and isinstance(self.code, LeechShellCode):
            idx, vec = shell_nearest(y.detach(), self.code, search="device")
            return idx, self._unit_tensor(vec)
        arr = np.ascontiguousarray(y.detach().cpu().to(torch.float64).numpy())
        idx, vec = self.code.nearest(arr)
        unit = self._unit(np.asarray(vec))
        return torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(y.device), torch.from_numpy(unit).to(
            y.device
        )

    @staticmethod
    def _unit_tensor(vec: torch.Tensor) -> torch.Tensor:
        """:meth:`_unit` on the tensor's device: the same correctly rounded float64 operations
        (exact integer sums, sqrt, division), so bit-identical to the host path."""
        v = vec.to(torch.float64)
        return v / torch.sqrt((v * v).sum(dim=-1, keepdim=True))

    @staticmethod
    def _unit(vec: np.ndarray) -> np.ndarray:
        v = vec.astype(np.float64)
        return v / np.sqrt((v * v).sum(axis=-1, keepdims=True))

    def _shape(self, x: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = x / scale[:, None, None]
        idx, unit = self.directions(y.reshape(-1, 24))
        unit = unit.to(x.dtype).reshape(x.shape)
        return idx.reshape(x.shape[:2]), unit, (y * unit).sum(dim=-1)

    def fit(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """Row RMS as scale, Lloyd–Max gain levels of the group, then the codes."""
        scale = _positive_scale(_row_rms(x))
        idx, unit, gain = self._shape(x, scale)
        levels = torch.sort(fp16_round(lloyd_max(gain.reshape(-1), 1 << self.gain_bits))).values
        params = {"scale": scale, "levels": levels}
        return params, *self._finish(idx, unit, gain, params)

    def _finish(
        self, idx: torch.Tensor, unit: torch.Tensor, gain: torch.Tensor, params: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        g = nearest_level(gain, params["levels"])
        codes = {"codes": idx}
        if self.gain_bits:
            codes["gains"] = g
        rec = unit * (params["levels"][g] * params["scale"][:, None])[..., None]
        return codes, rec

    def quantize(
        self, x: torch.Tensor, params: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Smallest-angle direction and nearest gain level per block."""
        idx, unit, gain = self._shape(x, params["scale"])
        return self._finish(idx, unit, gain, params)

    def reconstruct(
        self, codes: dict[str, torch.Tensor], params: dict[str, torch.Tensor], dtype: torch.dtype
    ) -> torch.Tensor:
        """Unit direction times level times scale, in ``dtype``."""
        from leechkit.lattice.quantizers.shells import LeechShellCode

        from .shell_search import shell_vectors

        idx = codes["codes"]
        device = self.search == "device" or (self.search == "auto" and idx.device.type != "cpu")
        if device and isinstance(self.code, LeechShellCode):
            unit = self._unit_tensor(shell_vectors(idx.reshape(-1), self.code, search="device")).to(dtype)
        else:
            vec = self.code.index_to_vector(idx.detach().cpu().numpy().reshape(-1))
            unit = torch.from_numpy(self._unit(np.asarray(vec))).to(device=idx.device, dtype=dtype)
        unit = unit.reshape(*idx.shape, 24)
        levels = params["levels"].to(dtype)  # (blocks, L)
        g = codes["gains"] if self.gain_bits else torch.zeros_like(idx)
        level = torch.gather(levels.expand(idx.shape[0], -1, -1), 2, g[..., None])[..., 0]
        return unit * (level * params["scale"].to(dtype))[..., None]


def stage_from_meta(meta: dict[str, object]) -> Stage:
    """Rebuild a stage from :meth:`Stage.meta`.

    Parameters
    ----------
    meta : dict
        The stage's JSON description.
    """
    kind = meta.get("kind")
    if kind == "scalar":
        return ScalarStage(int(meta["bits"]))
    if kind == "e8":
        return E8Stage(int(meta["bits"]))
    if kind == "voronoi":
        return VoronoiStage(int(meta["bits"]))
    if kind == "shells":
        stage = ShellStage(int(meta["max_norm"]), int(meta["gain_bits"]), int(meta["min_norm"]))
        if stage.shape_bits != int(meta["shape_bits"]):
            raise ValueError(
                f"the stored direction index has {meta['shape_bits']} bits, the shell code {stage.shape_bits}"
            )
        return stage
    raise ValueError(f"unknown stage kind {kind!r}")
