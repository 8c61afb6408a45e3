"""Weight telemetry: stable rank, condition number and spectral norm of each weight matrix.

For a weight matrix ``W`` with singular values ``σ₁ ≥ … ≥ σ_m`` (``m = min(rows, cols)``):

* spectral norm ``‖W‖₂ = σ₁``;
* stable rank ``‖W‖_F² / ‖W‖₂² = Σ σ_i² / σ₁²`` (between 1 and ``m``; the seeds' "SR");
* condition number ``σ₁ / σ_m`` (∞ when ``σ_m = 0``; the seeds' "CN").

Every parameter with two dimensions is reported (embeddings and linear weights; a tied
weight once), computed in float64 on CPU. :class:`TelemetryCallback` runs the table every
``every`` steps during training.

References
----------
M. Rudelson and R. Vershynin, "Sampling from large matrices: an approach through geometric
functional analysis", J. ACM 54 (2007) (stable rank).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["TelemetryCallback", "WeightStats", "format_table", "weight_telemetry"]


@dataclass(frozen=True)
class WeightStats:
    """Spectral statistics of one weight matrix.

    Attributes
    ----------
    name : str
        Parameter name.
    shape : tuple of int
        Matrix shape.
    spectral_norm : float
        Largest singular value.
    stable_rank : float
        ``‖W‖_F² / ‖W‖₂²`` (0 for a zero matrix).
    condition_number : float
        Largest over smallest singular value (``inf`` if singular).
    """

    name: str
    shape: tuple[int, int]
    spectral_norm: float
    stable_rank: float
    condition_number: float


def weight_telemetry(model: nn.Module, trainable_only: bool = False) -> list[WeightStats]:
    """Statistics of every two-dimensional parameter of ``model``, in parameter order.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    trainable_only : bool
        Skip parameters without ``requires_grad``.

    Returns
    -------
    list of WeightStats
        One entry per matrix.
    """
    rows = []
    for name, p in model.named_parameters():
        if p.ndim != 2 or (trainable_only and not p.requires_grad):
            continue
        s = torch.linalg.svdvals(p.detach().to("cpu", torch.float64))
        top, low = float(s[0]), float(s[-1])
        rows.append(
            WeightStats(
                name=name,
                shape=(int(p.shape[0]), int(p.shape[1])),
                spectral_norm=top,
                stable_rank=float((s**2).sum()) / top**2 if top > 0 else 0.0,
                condition_number=top / low if low > 0 else math.inf,
            )
        )
    return rows


def format_table(stats: list[WeightStats]) -> str:
    """A markdown table of :func:`weight_telemetry` output.

    Parameters
    ----------
    stats : list of WeightStats
        The rows.
    """
    lines = [
        "| weight | shape | spectral norm | stable rank (SR) | condition number (CN) |",
        "|---|---|---:|---:|---:|",
    ]
    for s in stats:
        lines.append(
            f"| {s.name} | {s.shape[0]}×{s.shape[1]} | {s.spectral_norm:.4g} | {s.stable_rank:.4g} "
            f"| {s.condition_number:.4g} |"
        )
    return "\n".join(lines)


class TelemetryCallback:
    """Training callback: every ``every`` steps compute the telemetry and pass it on.

    Parameters
    ----------
    every : int
        Interval in steps (step 0 included).
    sink : callable, optional
        ``sink(step, stats)``; default prints :func:`format_table`.
    trainable_only : bool
        Passed to :func:`weight_telemetry`.
    """

    def __init__(
        self,
        every: int = 1000,
        sink: Callable[[int, list[WeightStats]], None] | None = None,
        trainable_only: bool = False,
    ):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.every = every
        self.sink = sink
        self.trainable_only = trainable_only
        self.history: list[tuple[int, list[WeightStats]]] = []

    def __call__(self, step: int, model: nn.Module) -> list[WeightStats] | None:
        """Compute and report the telemetry when ``step`` is a multiple of ``every``.

        Parameters
        ----------
        step : int
            Current training step.
        model : torch.nn.Module
            The model.

        Returns
        -------
        list of WeightStats or None
            The statistics, or None on other steps.
        """
        if step % self.every:
            return None
        stats = weight_telemetry(model, self.trainable_only)
        self.history.append((step, stats))
        if self.sink is None:
            print(f"step {step}\n{format_table(stats)}")
        else:
            self.sink(step, stats)
        return stats
