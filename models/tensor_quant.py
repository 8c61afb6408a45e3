"""Lattice quantization of torch tensors on any device, with the library's packed format.

:func:`quantize_tensor` is :func:`leechkit.lattice.quantize_tensor` for torch tensors: the
same layout (rows, scale groups, zero padding that is stored and counted), the same
Voronoi codes (:class:`leechkit.lattice.VoronoiCode`, radial shrinking of overloaded
blocks) and the same exhaustive search of 16 float16 scales per group — with every nearest-
point decoding done by :func:`.lattice_ops.decode` on the tensor's device (fused Triton
kernels on CUDA, the Numba decoders on the CPU) and the rest in float64 torch arithmetic
there. Only the final bit packing runs on the host. The result is the library's
:class:`~leechkit.lattice.QuantizedTensor`, and :func:`dequantize_tensor` rebuilds the tensor
on any device.

Same results as the NumPy version: the decoders are bit-identical and every other step is
the same IEEE operation, except the per-group RMS that seeds the scale candidates, which torch
sums in another order; a candidate can only change when that last-bit difference crosses a
float16 rounding boundary (the tests compare both versions code for code).

References
----------
J. H. Conway, N. J. A. Sloane, "A fast encoding method for lattice codes and quantizers",
IEEE Trans. Inform. Theory 29 (1983) 820–824.
"""

from __future__ import annotations

import numpy as np
import torch

from leechkit.lattice import QuantizedTensor, VoronoiCode
from leechkit.lattice.quantizers.tensor import _SCALE_FACTORS, _group_length, _lattice

from .lattice_ops import decode

__all__ = ["dequantize_tensor", "quantize_tensor"]

_SHRINK_STEPS = 20


class _TorchVoronoi:
    """The arithmetic of a :class:`VoronoiCode` (scale 1) on torch tensors of one device."""

    def __init__(self, lattice: str, bits: int, device: torch.device, centered: bool = True):
        self.name = lattice
        self.code = VoronoiCode(_lattice(lattice), bits, 1.0, centered=centered)
        lat = self.code.lattice
        self.q = self.code.q
        self.n = lat.dim

        def f64(a: object) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)

        self.unit = f64(lat.scale)  # a tensor divisor: exact IEEE division on every device
        self.shift = f64(self.code.shift)
        self.offset = f64(self.code._offset)
        basis = np.array(lat.integer_generator, dtype=np.int64)
        self.basis = torch.as_tensor(basis, device=device)
        self.basis_inv = f64(np.linalg.inv(basis.astype(np.float64)))

    def _nearest(self, y: torch.Tensor) -> torch.Tensor:
        """Nearest lattice points of ``y`` (ambient scale) as integer vectors (units of the scale)."""
        if self.name == "scalar":
            return torch.round(y).long()  # Z: round half to even, as numpy's rint
        return torch.round(decode(y, self.name) / self.unit).long()

    def _inside(self, v: torch.Tensor) -> torch.Tensor:
        points = v.double() * self.unit + self.shift
        return ~(self._nearest((points - self.offset) / self.q) != 0).any(dim=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Digits (int64, (N, n)) of the blocks ``x`` (N, n), overloaded blocks shrunk radially."""
        y = x - self.shift
        v = self._nearest(y)
        out = torch.nonzero(~self._inside(v)).flatten()
        if out.numel():
            lo = torch.zeros(out.numel(), dtype=torch.float64, device=x.device)
            hi = torch.ones_like(lo)
            for _ in range(_SHRINK_STEPS):
                mid = 0.5 * (lo + hi)
                ok = self._inside(self._nearest(y[out] * mid[:, None]))
                lo = torch.where(ok, mid, lo)
                hi = torch.where(ok, hi, mid)
            v[out] = self._nearest(y[out] * lo[:, None])
        # Basis coordinates by a float solve, then checked exactly in integers.
        u = torch.round(v.double() @ self.basis_inv).long()
        if not bool(((u[:, :, None] * self.basis[None]).sum(1) == v).all()):
            raise RuntimeError("basis coordinates of a decoded point are not exact")
        return torch.remainder(u, self.q)

    def decode(self, digits: torch.Tensor) -> torch.Tensor:
        """Codewords (float64, (N, n)) of digit messages (N, n)."""
        v = (digits[:, :, None] * self.basis[None]).sum(1)
        points = v.double() * self.unit + self.shift
        coarse = self._nearest((points - self.offset) / self.q)
        return points - coarse.double() * (self.q * self.unit)


def _check(w: object, bits: object, lattice: str) -> torch.Tensor:
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"w must be a torch.Tensor, got {type(w).__name__}")
    if w.dtype == torch.bool or w.is_complex():
        raise TypeError(f"w must be a real tensor, got dtype {w.dtype}")
    if w.ndim == 0 or w.numel() == 0:
        raise ValueError(f"w must have at least one dimension and one element, got shape {tuple(w.shape)}")
    values = w.detach().double()
    if not bool(torch.isfinite(values).all()):
        raise ValueError("w contains NaN or infinite values")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 8:
        raise ValueError(f"bits must be an integer in [2, 8], got {bits!r}")
    _lattice(lattice)  # raises for an unknown name
    return values


def quantize_tensor(
    w: torch.Tensor,
    lattice: str = "leech",
    bits: int = 4,
    block_scale: str = "per-row",
    group_size: int | None = None,
) -> QuantizedTensor:
    """Quantize a torch tensor with a lattice Voronoi code and per-group float16 scales.

    The parameters, the layout and the result are those of
    :func:`leechkit.lattice.quantize_tensor`; the work runs on ``w``'s device.

    Parameters
    ----------
    w : torch.Tensor
        Finite real tensor, at least one element, ``ndim ≥ 1``, any device.
    lattice : {"leech", "e8", "scalar"}
        Block lattice: Λ₂₄ (24 weights per block), E8 (8) or Z (1, uniform scalar).
    bits : int
        Bits per weight of the code, 2…8.
    block_scale : {"per-row", "per-block"}
        One scale per row, or one per group of ``group_size`` weights within a row.
    group_size : int, optional
        For ``"per-block"``: a positive multiple of the block dimension; default the smallest
        multiple of it that is ≥ 64.

    Returns
    -------
    QuantizedTensor
        Packed codes and float16 scales (NumPy, on the host).

    Raises
    ------
    TypeError
        ``w`` is not a real torch tensor.
    ValueError
        Empty or non-finite ``w``, unsupported ``bits``, lattice, ``block_scale`` or
        ``group_size``.
    """
    values = _check(w, bits, lattice)
    bits = int(bits)
    device = values.device
    coder = _TorchVoronoi(lattice, bits, device)
    n = coder.n
    rows = values.reshape(values.shape[0], -1) if values.ndim >= 2 else values.reshape(1, -1)
    row_len = rows.shape[1]
    group = _group_length(row_len, n, block_scale, group_size)
    n_groups = -(-row_len // group)
    padded = torch.zeros(rows.shape[0], n_groups * group, dtype=torch.float64, device=device)
    padded[:, :row_len] = rows
    groups = padded.reshape(rows.shape[0], n_groups, group)

    rms = torch.sqrt((groups**2).mean(dim=2))
    tiny = float(np.finfo(np.float16).tiny)
    # An all-zero group gets the smallest normal float16 step, as in the NumPy version.
    base = torch.where(rms > 0, rms * 2.5 / (1 << bits), torch.full_like(rms, tiny))
    best_err = torch.full(rms.shape, torch.inf, dtype=torch.float64, device=device)
    best_scale = torch.zeros(rms.shape, dtype=torch.float16, device=device)
    best_digits = torch.zeros(groups.shape, dtype=torch.int64, device=device)
    for f in _SCALE_FACTORS:
        scale = (base * float(f)).to(torch.float16)
        scale = torch.where(scale > 0, scale, torch.full_like(scale, tiny))
        s = scale.double()[:, :, None]
        digits = coder.encode((groups / s).reshape(-1, n))
        recon = coder.decode(digits).reshape(groups.shape) * s
        err = ((recon - groups) ** 2).sum(dim=2)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_scale = torch.where(better, scale, best_scale)
        best_digits = torch.where(better[:, :, None], digits.reshape(groups.shape), best_digits)
    shifts = np.arange(bits - 1, -1, -1)
    host_digits = best_digits.reshape(-1).cpu().numpy()
    bitstream = ((host_digits[:, None] >> shifts) & 1).astype(np.uint8)
    return QuantizedTensor(
        codes=np.packbits(bitstream.reshape(-1)),
        scales=best_scale.cpu().numpy(),
        shape=tuple(w.shape),
        lattice=lattice,
        bits=bits,
        group_size=group,
    )


def dequantize_tensor(q: QuantizedTensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """The reconstructed tensor (float64, original shape) of ``q``, decoded on ``device``.

    Equal to ``torch.as_tensor(q.dequantize())`` (the lattice decodings are bit-identical).
    """
    if not isinstance(q, QuantizedTensor):
        raise TypeError(f"q must be a QuantizedTensor, got {type(q).__name__}")
    device = torch.device(device)
    coder = _TorchVoronoi(q.lattice, q.bits, device)
    rows, groups = q.scales.shape
    points = coder.decode(torch.as_tensor(q.digits(), device=device).reshape(-1, coder.n))
    scales = torch.as_tensor(q.scales, device=device).double()
    values = points.reshape(rows, groups, q.group_size) * scales[:, :, None]
    row_len = q.numel // rows
    return values.reshape(rows, -1)[:, :row_len].reshape(q.shape)
