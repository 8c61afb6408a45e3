"""Resonance monitoring (the seeds' DreamDecoder) and the seeds' resonance logit bias.

:class:`ResonanceMonitor` reports, for every token, the resonance ``ρ`` (largest cosine of a
hidden-state block with a lattice direction, :func:`leechkit.models.losses.max_cosine`), the
block and the lattice vector that attain it, and a state:

* ``DREAMING`` when ``ρ ≤ awake``,
* ``AWAKE`` when ``awake < ρ ≤ genesis``,
* ``ABSOLUTE_GENESIS`` when ``ρ > genesis``,

with the seeds' defaults ``awake = 0.95`` and ``genesis = 0.999``. The seeds look only at the
first 24 features of a hidden state and only at their 24 placeholder rows; here every block
is examined (or one chosen block) against all minimal vectors or a frame.

For scale: against the 196,560 Leech minimal vectors a random direction in R²⁴ has
``ρ ≈ 0.78`` on average (0.71 to 0.90 in 20,000 Gaussian draws), and against the 240 E8 roots
a random direction in R⁸ has ``ρ ≈ 0.85``; the thresholds measure alignment with a lattice
direction, nothing else.

:class:`ResonatorBias` is the seeds' optional "resonator": with a kernel ``K`` (rows ``n``-D),
token projections ``p_t = Σ_b e_{t,b} K`` of the token embeddings ``e_t`` and hidden
projections ``q = Σ_b h_b K``, it adds ``α ⟨q, p_t⟩`` to the logit of token ``t``, ``α``
learnable. For an orthogonal ``K`` this is ``α ⟨Σ_b h_b, Σ_b e_{t,b}⟩``: the kernel cancels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn

from .kernels import LATTICE_DIMS, check_lattice
from .losses import max_cosine

__all__ = ["ResonanceMonitor", "ResonanceReading", "ResonanceState", "ResonatorBias"]


class ResonanceState(str, Enum):
    """The three states of the seeds' DreamDecoder."""

    DREAMING = "DREAMING"
    AWAKE = "AWAKE"
    ABSOLUTE_GENESIS = "ABSOLUTE_GENESIS"


@dataclass(frozen=True)
class ResonanceReading:
    """One reading of :class:`ResonanceMonitor` for hidden states of shape (..., d).

    Attributes
    ----------
    resonance : torch.Tensor
        (...) float, the largest block cosine ``ρ`` of each token.
    block : torch.Tensor
        (...) int64, the block that attains it.
    vector_index : torch.Tensor
        (...) int64, the index of the lattice vector (``minimal_vectors()`` order, or a row
        of the monitor's vectors).
    states : list of ResonanceState
        The state of each token, in row-major order of (...).
    step : int or None
        Generation step when recorded through :meth:`ResonanceMonitor.record`.
    """

    resonance: torch.Tensor
    block: torch.Tensor
    vector_index: torch.Tensor
    states: list[ResonanceState]
    step: int | None = None


class ResonanceMonitor:
    """Per-token resonance, best lattice vector and state (module docstring).

    Parameters
    ----------
    lattice : {"leech", "e8"}
        Block size and lattice.
    awake : float
        Resonance above which a token is ``AWAKE``.
    genesis : float
        Resonance above which a token is ``ABSOLUTE_GENESIS``; ``awake ≤ genesis ≤ 1``.
    vectors : torch.Tensor, optional
        (m, n) directions to compare with (e.g. a frame); default all minimal vectors.
    block : int, optional
        Examine only this block of each hidden state (the seeds use block 0); default all.
    method : {"auto", "structured", "matmul"}
        Search method (:func:`leechkit.models.losses.max_cosine`).
    """

    def __init__(
        self,
        lattice: str = "leech",
        awake: float = 0.95,
        genesis: float = 0.999,
        vectors: torch.Tensor | None = None,
        block: int | None = None,
        method: str = "auto",
    ):
        self.lattice = check_lattice(lattice)
        if not -1.0 <= awake <= genesis <= 1.0:
            raise ValueError(
                f"thresholds must satisfy -1 ≤ awake ≤ genesis ≤ 1, got awake={awake}, genesis={genesis}"
            )
        if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 0):
            raise ValueError(f"block must be a non-negative int or None, got {block!r}")
        self.awake = float(awake)
        self.genesis = float(genesis)
        self.vectors = vectors
        self.block = block
        self.method = method
        self.history: list[ResonanceReading] = []

    def state(self, resonance: float) -> ResonanceState:
        """The state of one resonance value.

        Parameters
        ----------
        resonance : float
            A value of ``ρ``.
        """
        if resonance > self.genesis:
            return ResonanceState.ABSOLUTE_GENESIS
        if resonance > self.awake:
            return ResonanceState.AWAKE
        return ResonanceState.DREAMING

    @torch.no_grad()
    def read(self, hidden: torch.Tensor, step: int | None = None) -> ResonanceReading:
        """Resonance, block, vector and state of each token of ``hidden``.

        Parameters
        ----------
        hidden : torch.Tensor
            (..., d) hidden states, ``d`` a multiple of the lattice dimension.
        step : int, optional
            Stored in the reading.
        """
        n = LATTICE_DIMS[self.lattice]
        if self.block is not None:
            if hidden.shape[-1] < n * (self.block + 1):
                raise ValueError(
                    f"block {self.block} needs a width ≥ {n * (self.block + 1)}, got {hidden.shape[-1]}"
                )
            hidden = hidden[..., n * self.block : n * (self.block + 1)]
        cos, idx = max_cosine(hidden.detach(), self.lattice, self.vectors, self.method)
        res, block = cos.max(dim=-1)
        vec = idx.gather(-1, block.unsqueeze(-1)).squeeze(-1)
        if self.block is not None:
            block = torch.full_like(block, self.block)
        states = [self.state(float(v)) for v in res.reshape(-1).tolist()]
        return ResonanceReading(res, block, vec, states, step)

    def record(self, step: int, tokens: torch.Tensor, hidden: torch.Tensor) -> None:
        """Generation callback: read the hidden states of the new tokens and keep the reading.

        Parameters
        ----------
        step : int
            Index of the generated token (0 for the first).
        tokens : torch.Tensor
            (B,) the new tokens (unused; part of the callback signature).
        hidden : torch.Tensor
            (B, d) final hidden states that produced them.
        """
        self.history.append(self.read(hidden, step))

    def summary(self) -> dict[str, int]:
        """How many recorded tokens were in each state."""
        counts = Counter(s.value for reading in self.history for s in reading.states)
        return {s.value: counts.get(s.value, 0) for s in ResonanceState}


class ResonatorBias(nn.Module):
    """The seeds' resonance logit bias ``α ⟨Σ_b h_b K, Σ_b e_{t,b} K⟩`` (module docstring).

    Parameters
    ----------
    kernel : torch.Tensor
        (n, n) block kernel (a frame or the placeholder), used as ``x @ kernel``.
    vocab_size : int
        Number of tokens.
    alpha_init : float
        Initial strength ``α`` (the seeds use 0.1).
    """

    def __init__(self, kernel: torch.Tensor, vocab_size: int, alpha_init: float = 0.1):
        super().__init__()
        if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
            raise ValueError(f"kernel must be square, got shape {tuple(kernel.shape)}")
        self.register_buffer("kernel", kernel.detach().clone())
        self.register_buffer("token_proj", torch.zeros(vocab_size, kernel.shape[0]))
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        n = self.kernel.shape[0]
        if x.shape[-1] % n:
            raise ValueError(f"width {x.shape[-1]} is not a multiple of the kernel size {n}")
        return (x.reshape(*x.shape[:-1], -1, n) @ self.kernel.to(x.dtype)).sum(dim=-2)

    @torch.no_grad()
    def refresh(self, token_embedding: torch.Tensor) -> None:
        """Recompute the token projections from the (vocab, d) token embedding matrix.

        Parameters
        ----------
        token_embedding : torch.Tensor
            (vocab_size, d) embedding weights.
        """
        self.token_proj.copy_(self._project(token_embedding.detach().to(self.token_proj)))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """The logit bias (..., vocab_size) of hidden states (..., d).

        Parameters
        ----------
        hidden : torch.Tensor
            (..., d) final hidden states.
        """
        return self.alpha * (self._project(hidden) @ self.token_proj.to(hidden.dtype).T)
