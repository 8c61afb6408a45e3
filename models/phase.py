"""Monster-LILA's extras: phase modulation, the "Monster sync" statistic and two pictures.

Phase modulation
----------------
``h ↦ h · (1 + α sin(r h + α))`` elementwise, with ``α = 1/137.036`` (the fine-structure
constant, Monster-LILA's choice) and a learnable scalar frequency ``r``. Because
``|α| < 0.0073`` the map changes every activation by less than 0.73 % of its value: it is a
small, smooth, learnable nonlinearity, nothing more. Its *phase* is ``(r h + α) mod 2π``.

Monster sync
------------
Monster-LILA logs a "Monster sync" number computed from the spectrum of the hidden states.
leechkit defines it precisely as the share of the spectral energy of the (T × d) matrix of
a sequence's hidden states ``H`` carried by its ``k`` largest singular values,

    sync_k(H) = Σ_{i≤k} σ_i² / Σ_i σ_i²  ∈ [k / min(T, d), 1],

with ``k = 24`` by default (one Leech block's worth of directions): 1 when the states lie in
a ``k``-dimensional subspace, ``k / min(T, d)`` when the spectrum is flat.

Pictures
--------
:func:`plot_embedding_pca` (the token embeddings projected on their first two principal
components) and :func:`plot_phase_heatmap` (the phase of the activations, positions ×
features, cyclic colour map) write PNG files with Matplotlib's Agg canvas (no display and
no global backend change).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

__all__ = ["FINE_STRUCTURE", "PhaseModulation", "monster_sync", "plot_embedding_pca", "plot_phase_heatmap"]

#: Monster-LILA's α = 1/137.036.
FINE_STRUCTURE = 1.0 / 137.036


class PhaseModulation(nn.Module):
    """``h ↦ h · (1 + α sin(r h + α))`` with a learnable scalar ``r`` (module docstring).

    Parameters
    ----------
    r_init : float
        Initial frequency ``r``.
    alpha : float
        The constant ``α`` (default 1/137.036).
    """

    def __init__(self, r_init: float = 1.0, alpha: float = FINE_STRUCTURE):
        super().__init__()
        self.alpha = float(alpha)
        self.r = nn.Parameter(torch.tensor(float(r_init)))

    def phase(self, h: torch.Tensor) -> torch.Tensor:
        """The phase ``(r h + α) mod 2π`` of each activation.

        Parameters
        ----------
        h : torch.Tensor
            Activations of any shape.
        """
        return torch.remainder(self.r.to(h.dtype) * h + self.alpha, 2 * math.pi)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Modulate the activations.

        Parameters
        ----------
        h : torch.Tensor
            Activations of any shape.
        """
        return h * (1.0 + self.alpha * torch.sin(self.r.to(h.dtype) * h + self.alpha))


def monster_sync(hidden: torch.Tensor, rank: int = 24) -> torch.Tensor:
    """Share of the spectral energy of each sequence's hidden states in its top ``rank`` directions.

    Parameters
    ----------
    hidden : torch.Tensor
        (..., T, d) hidden states of one or more sequences.
    rank : int
        Number ``k`` of leading singular values.

    Returns
    -------
    torch.Tensor
        (...) float values ``Σ_{i≤k} σ_i² / Σ σ_i²`` (0 for all-zero states).
    """
    if hidden.ndim < 2:
        raise ValueError(f"hidden must have shape (..., T, d), got {tuple(hidden.shape)}")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    energy = torch.linalg.svdvals(hidden.detach().to(torch.float64)) ** 2
    total = energy.sum(dim=-1)
    top = energy[..., :rank].sum(dim=-1)
    return torch.where(total > 0, top / total.clamp_min(1e-300), torch.zeros_like(total)).to(torch.float32)


def _save(fig: object, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, format="png", dpi=120)
    return out


def plot_embedding_pca(
    embedding: torch.Tensor, path: str | Path, labels: list[str] | None = None, max_labels: int = 40
) -> Path:
    """Scatter plot of token embeddings on their first two principal components (PNG).

    Parameters
    ----------
    embedding : torch.Tensor
        (vocab, d) embedding matrix, d ≥ 2.
    path : str or pathlib.Path
        Output PNG file (parent folders are created).
    labels : list of str, optional
        Token strings; the first ``max_labels`` points are annotated.
    max_labels : int
        Most annotations drawn.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from matplotlib.figure import Figure

    emb = embedding.detach().to("cpu", torch.float64)
    if emb.ndim != 2 or emb.shape[1] < 2 or emb.shape[0] < 2:
        raise ValueError(f"embedding must be (vocab ≥ 2, d ≥ 2), got {tuple(emb.shape)}")
    centred = emb - emb.mean(dim=0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    pts = (centred @ vh[:2].T).numpy()
    share = (s[:2] ** 2 / (s**2).sum().clamp_min(1e-300)).tolist()
    fig = Figure(figsize=(6, 6))
    ax = fig.add_subplot()
    ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.6)
    for i, text in enumerate((labels or [])[:max_labels]):
        ax.annotate(text, pts[i], fontsize=7)
    ax.set_xlabel(f"PC 1 ({100 * share[0]:.1f} % of variance)")
    ax.set_ylabel(f"PC 2 ({100 * share[1]:.1f} % of variance)")
    ax.set_title("Token embeddings, first two principal components")
    return _save(fig, path)


def plot_phase_heatmap(
    hidden: torch.Tensor, path: str | Path, r: float = 1.0, alpha: float = FINE_STRUCTURE
) -> Path:
    """Heat map of the phase ``(r h + α) mod 2π`` of activations, positions × features (PNG).

    Parameters
    ----------
    hidden : torch.Tensor
        (T, d) activations of one sequence.
    path : str or pathlib.Path
        Output PNG file (parent folders are created).
    r : float
        Frequency ``r`` (e.g. a trained :class:`PhaseModulation`'s ``r``).
    alpha : float
        The constant ``α``.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from matplotlib.figure import Figure

    h = hidden.detach().to("cpu", torch.float64)
    if h.ndim != 2:
        raise ValueError(f"hidden must be (T, d), got {tuple(h.shape)}")
    phase = torch.remainder(r * h + alpha, 2 * math.pi).numpy()
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    image = ax.imshow(
        phase, aspect="auto", cmap="twilight", vmin=0.0, vmax=2 * math.pi, interpolation="nearest"
    )
    fig.colorbar(image, ax=ax, label="phase (rad)")
    ax.set_xlabel("feature")
    ax.set_ylabel("position")
    ax.set_title(f"Phase (r·h + α) mod 2π, r = {r:.4g}")
    return _save(fig, path)
