"""Input checks and bounded-memory batching shared by the fast decoders.

A decoder kernel reads a C-contiguous (m, n) float32 or float64 block and writes float64
nearest points into an (m, n) block of the output, with at most a few KB of scratch per
thread; it returns how many rows it refused (non-finite or too large, see
:mod:`._root_kernels`). This module feeds it:

* float32/float64 input whose rows can be viewed as (m, n) without copying goes to the kernel
  in one call (the kernel parallelizes with ``prange``), so no copy of the input is made;
* anything else (integers, other float widths, non-contiguous strides) is converted in blocks
  of :data:`BLOCK_POINTS` rows, so the extra memory is a few MB whatever the batch size.

The validity checks of :func:`leechkit.lattice._validation.as_points` are kept (same messages),
but the finiteness test is fused into the kernels instead of a separate pass over the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["BLOCK_POINTS", "check_points", "decode_with", "map_blocks"]

#: Rows converted at a time when the input cannot be read in place (1 MiB of float64 for n=8).
BLOCK_POINTS = 1 << 14

Kernel = Callable[[np.ndarray, np.ndarray], int]


def check_points(x: object, dim: int, what: str = "x") -> np.ndarray:
    """Return ``x`` as an array after checking its dtype and last dimension (no copy).

    Raises
    ------
    TypeError
        For booleans, complex numbers and objects.
    ValueError
        For a last dimension other than ``dim`` (or a 0-d input).
    """
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{what} must be a real floating-point or integer array, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise ValueError(f"{what} must have last dimension {dim}, got shape {arr.shape}")
    return arr


def _rows(arr: np.ndarray, out: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs (2-D source, 2-D output view) covering the batch, without copying the source."""
    dim = arr.shape[-1]
    if arr.ndim <= 2 or arr.flags.c_contiguous:
        yield arr.reshape(-1, dim), out.reshape(-1, dim)
        return
    # A strided array of rank > 2 may not flatten to a view: walk its leading indices.
    for index in np.ndindex(*arr.shape[:-2]):
        yield arr[index], out[index]


def decode_with(
    kernel: Kernel, x: object, dim: int, what: str = "x", out: np.ndarray | None = None
) -> np.ndarray:
    """Run a decoder kernel on a batch of shape (..., dim); float64 result of the same shape.

    ``out``, if given, must be a writeable C-contiguous float64 array of that shape; reusing
    it saves the page faults of a fresh result (a quarter of the time of the E8 decoder).

    Raises
    ------
    TypeError, ValueError
        As :func:`check_points`; ValueError also for NaN, infinite or too-large rows (see
        :data:`._root_kernels.MAGNITUDE_LIMIT`), and for an unsuitable ``out``.
    """
    arr = check_points(x, dim, what)
    if out is None:
        out = np.empty(arr.shape, dtype=np.float64)
    elif not (
        isinstance(out, np.ndarray)
        and out.shape == arr.shape
        and out.dtype == np.float64
        and out.flags.c_contiguous
        and out.flags.writeable
    ):
        raise ValueError(f"out must be a writeable C-contiguous float64 array of shape {arr.shape}")
    refused = 0
    for src, dst in _rows(arr, out):
        if src.dtype in (np.float32, np.float64) and src.flags.c_contiguous:
            refused += kernel(src, dst)
            continue
        dtype = np.float32 if src.dtype == np.float32 else np.float64
        for start in range(0, src.shape[0], BLOCK_POINTS):
            stop = start + BLOCK_POINTS
            block = np.ascontiguousarray(src[start:stop], dtype=dtype)
            refused += kernel(block, dst[start:stop])
    if refused:
        raise ValueError(
            f"{what} contains NaN or infinite values, or rows too large to decode exactly "
            f"(Σ|xᵢ| ≥ 2**50; for E8 ‖x‖ ≥ 2**50): {refused} row(s)"
        )
    return out


def map_blocks(fn: Callable[[np.ndarray], np.ndarray], x: object, dim: int, what: str = "x") -> np.ndarray:
    """Apply ``fn`` to C-contiguous float64 blocks of at most :data:`BLOCK_POINTS` rows.

    ``fn`` maps an (m, dim) block to (m, dim) values; the result, float64 with the shape of
    ``x``, is filled block by block, so temporaries stay a few MB for any batch size.
    """
    arr = check_points(x, dim, what)
    out = np.empty(arr.shape, dtype=np.float64)
    for src, dst in _rows(arr, out):
        for start in range(0, src.shape[0], BLOCK_POINTS):
            stop = start + BLOCK_POINTS
            dst[start:stop] = fn(np.ascontiguousarray(src[start:stop], dtype=np.float64))
    return out
