"""The configuration of a lattice transformer: one validated dataclass, JSON round trip."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .kernels import LATTICE_DIMS

__all__ = ["ATTENTION_MODES", "LATTICE_MODES", "LatticeTransformerConfig"]

#: The attention modes of :class:`leechkit.models.attention.LatticeAttention`.
ATTENTION_MODES = ("vanilla", "rotate", "frozen_qk", "e8_bias", "conway")
#: Modes that apply a lattice kernel to 24-D (Leech) or 8-D (E8) blocks of each head.
LATTICE_MODES = ("rotate", "frozen_qk", "conway")
_KERNELS = ("frame", "placeholder")
_TARGETS = ("minimal", "frame")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")


@dataclass
class LatticeTransformerConfig:
    """Hyperparameters of :class:`leechkit.models.transformer.LatticeTransformer`.

    Parameters
    ----------
    vocab_size : int
        Number of token ids.
    block_size : int
        Longest context (learned absolute position embeddings).
    n_layer : int
        Number of transformer blocks.
    n_head : int
        Attention heads per block; ``head_dim = d_model / n_head``.
    d_model : int
        Width of the residual stream.
    dropout : float
        Dropout on embeddings, attention weights and block outputs, in [0, 1).
    bias : bool
        Biases in the linear layers.
    attention : str
        One of :data:`ATTENTION_MODES` (see :mod:`leechkit.models.attention`).
    lattice : {"leech", "e8"}
        Lattice of the kernels (24-D or 8-D blocks) and of the resonance loss.
    kernel : {"frame", "placeholder"}
        ``"frame"``: the orthonormal frame of minimal vectors (:func:`lattice_frame`);
        ``"placeholder"``: the seeds' QR matrix (:func:`lila_placeholder_kernel`, Leech only).
    automorphism_seed : int
        Seed of the lattice automorphism of each block in ``"conway"`` mode (block ``i`` uses
        ``automorphism_seed + i``).
    phase_modulation : bool
        Monster-LILA's phase modulation at the end of each block
        (:class:`leechkit.models.phase.PhaseModulation`).
    resonance_weight : float
        Weight λ ≥ 0 of the resonance loss added to the cross entropy (the seeds use 0.01).
    resonance_target : {"minimal", "frame"}
        Resonance against all minimal vectors, or against the kernel's rows (seed behaviour).
    ignore_index : int
        Target id that the loss ignores (padding).
    mlp_ratio : int
        Hidden width of the MLP as a multiple of ``d_model``.

    Raises
    ------
    ValueError
        A configuration that cannot work; the message gives the numbers (e.g. a head width
        that is not a multiple of the lattice dimension in a lattice mode).
    TypeError
        A field of the wrong type.
    """

    vocab_size: int
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 192
    dropout: float = 0.0
    bias: bool = False
    attention: str = "vanilla"
    lattice: str = "leech"
    kernel: str = "frame"
    automorphism_seed: int = 0
    phase_modulation: bool = False
    resonance_weight: float = 0.0
    resonance_target: str = "minimal"
    ignore_index: int = -100
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model", "mlp_ratio"):
            _positive_int(name, getattr(self, name))
        for name in ("automorphism_seed", "ignore_index"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int):
                raise TypeError(f"{name} must be an int, got {type(getattr(self, name)).__name__}")
        if self.attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {self.attention!r}")
        if self.lattice not in LATTICE_DIMS:
            raise ValueError(f"lattice must be one of {tuple(LATTICE_DIMS)}, got {self.lattice!r}")
        if self.kernel not in _KERNELS:
            raise ValueError(f"kernel must be one of {_KERNELS}, got {self.kernel!r}")
        if self.resonance_target not in _TARGETS:
            raise ValueError(f"resonance_target must be one of {_TARGETS}, got {self.resonance_target!r}")
        if self.kernel == "placeholder" and self.lattice != "leech":
            raise ValueError(f"the placeholder kernel is 24 x 24 (Leech only), got lattice={self.lattice!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not float(self.resonance_weight) >= 0.0:
            raise ValueError(f"resonance_weight must be ≥ 0, got {self.resonance_weight}")
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model={self.d_model} is not a multiple of n_head={self.n_head} "
                f"(head_dim would be {self.d_model / self.n_head:g})"
            )
        n = self.lattice_dim
        if self.attention in LATTICE_MODES and self.head_dim % n:
            raise ValueError(
                f"attention={self.attention!r} needs head_dim to be a multiple of the {self.lattice} "
                f"dimension {n}: head_dim = d_model / n_head = {self.d_model} / {self.n_head} "
                f"= {self.head_dim}"
            )
        if self.attention == "e8_bias" and (self.head_dim < 8 or self.n_head > 240):
            raise ValueError(
                f"attention='e8_bias' needs head_dim ≥ 8 and at most 240 heads, "
                f"got head_dim={self.head_dim}, n_head={self.n_head}"
            )
        if self.resonance_weight > 0 and self.d_model % n:
            raise ValueError(
                f"the resonance loss splits d_model={self.d_model} into {n}-D blocks ({self.lattice}); "
                f"{self.d_model} is not a multiple of {n}"
            )

    @property
    def head_dim(self) -> int:
        """Width of one attention head, ``d_model // n_head``."""
        return self.d_model // self.n_head

    @property
    def lattice_dim(self) -> int:
        """Dimension of the lattice: 24 (Leech) or 8 (E8)."""
        return LATTICE_DIMS[self.lattice]

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LatticeTransformerConfig:
        """Build (and validate) a configuration from :meth:`to_dict` output.

        Parameters
        ----------
        data : dict
            Field values; unknown keys raise ValueError.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown configuration keys: {unknown}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write the configuration as JSON.

        Parameters
        ----------
        path : str or pathlib.Path
            Target file.
        """
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> LatticeTransformerConfig:
        """Read a configuration written by :meth:`save`.

        Parameters
        ----------
        path : str or pathlib.Path
            JSON file.
        """
        return cls.from_dict(json.loads(Path(path).read_text()))
