"""Input checks shared by the public lattice functions."""

from __future__ import annotations

import numpy as np

__all__ = ["as_points"]


def as_points(x: object, dim: int, what: str = "x") -> tuple[np.ndarray, tuple[int, ...]]:
    """Validate a batch of points and flatten it.

    Parameters
    ----------
    x : array_like
        Real array of shape (..., dim): float16/32/64 or integer. Booleans, complex numbers
        and objects are rejected.
    dim : int
        Required size of the last axis.
    what : str
        Name used in error messages.

    Returns
    -------
    (points, batch_shape)
        ``points`` is a C-contiguous float64 array of shape (m, dim) (a copy only where the
        input was not already so), ``batch_shape`` the leading shape.

    Raises
    ------
    TypeError
        For non-real dtypes.
    ValueError
        For a wrong last dimension or non-finite values.
    """
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{what} must be a real floating-point or integer array, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise ValueError(f"{what} must have last dimension {dim}, got shape {arr.shape}")
    pts = np.ascontiguousarray(arr.reshape(-1, dim), dtype=np.float64)
    if not np.isfinite(pts).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return pts, arr.shape[:-1]
