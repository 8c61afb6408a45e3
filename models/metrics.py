"""Evaluation arithmetic that does not depend on the model: nats, bits, characters, bytes.

The honest figure is **bits per character = total nats / (ln 2 × number of characters of the
evaluated text)**: the summed cross-entropy of every evaluated position (padding excluded), over
the characters those positions account for (counted, not assumed). :class:`BitsReport` holds the
four totals and derives nats/token, bits/token, bits/character and bits/byte from them.

Beside it, two labelled diagnostics reproduce how the seed models' figures were obtained, so the
inflation is visible in one table (:func:`format_bits_table`):

* :func:`seed_formula_bpc` — ``loss / (ln 2 × assumed average token length)``: bits per
  character from a per-token loss and an *assumed* number of characters per token. (The seeds'
  0.129 bpc from 0.40 nats/token implies an assumed 4.47 characters per token.)
* :class:`PaddedLoss` — the mean loss with pad targets counted, as when short documents are padded
  to the block length and scored without ``ignore_index``; predicting a pad after a pad is nearly
  free, so the mean falls as the share of padding grows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "LN2",
    "BitsReport",
    "PaddedLoss",
    "bits_per_character",
    "format_bits_table",
    "nats_to_bits",
    "seed_formula_bpc",
]

LN2 = math.log(2.0)
"""The natural logarithm of 2: nats per bit."""


def _check_count(name: str, value: object, positive: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}, got {value}")
    return value


def _check_nats(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and non-negative, got {value}")
    return float(value)


def nats_to_bits(nats: float) -> float:
    """Convert nats to bits (divide by ln 2).

    Parameters
    ----------
    nats : float
        An information quantity in nats.

    Returns
    -------
    float
        The same quantity in bits.
    """
    return _check_nats("nats", nats) / LN2


def bits_per_character(total_nats: float, characters: int) -> float:
    """Bits per character: ``total_nats / (ln 2 × characters)``.

    Parameters
    ----------
    total_nats : float
        Summed cross-entropy (natural log) over every evaluated position.
    characters : int
        Number of characters of the evaluated text (positive).

    Returns
    -------
    float
        Bits per character.
    """
    return _check_nats("total_nats", total_nats) / (LN2 * _check_count("characters", characters))


def seed_formula_bpc(loss: float, assumed_characters_per_token: float) -> float:
    """The seeds' bits per character: ``loss / (ln 2 × assumed average token length)``.

    A diagnostic, not a measurement: the characters per token are assumed rather than counted,
    and ``loss`` is whatever per-token mean was reported (with padding counted, if it was).

    Parameters
    ----------
    loss : float
        A mean loss in nats per token.
    assumed_characters_per_token : float
        The assumed average token length in characters (positive).

    Returns
    -------
    float
        The seed-formula bits per character.
    """
    assumed = assumed_characters_per_token
    if isinstance(assumed, bool) or not isinstance(assumed, (int, float)):
        raise TypeError("assumed_characters_per_token must be a real number")
    if not assumed > 0 or not math.isfinite(assumed):
        raise ValueError(f"assumed_characters_per_token must be positive and finite, got {assumed}")
    return _check_nats("loss", loss) / (LN2 * assumed)


@dataclass(frozen=True)
class BitsReport:
    """Totals of an evaluation and the rates derived from them.

    Parameters
    ----------
    nats : float
        Summed cross-entropy in nats over every evaluated (non-ignored) position.
    tokens : int
        Number of evaluated positions.
    characters : int
        Number of characters those positions account for (the evaluated text's length).
    num_bytes : int
        Number of UTF-8 bytes those positions account for.
    """

    nats: float
    tokens: int
    characters: int
    num_bytes: int

    def __post_init__(self) -> None:
        _check_nats("nats", self.nats)
        _check_count("tokens", self.tokens)
        _check_count("characters", self.characters)
        _check_count("num_bytes", self.num_bytes)

    @property
    def nats_per_token(self) -> float:
        """Mean cross-entropy per evaluated token, in nats."""
        return self.nats / self.tokens

    @property
    def bits_per_token(self) -> float:
        """Mean cross-entropy per evaluated token, in bits."""
        return self.nats / (LN2 * self.tokens)

    @property
    def bits_per_character(self) -> float:
        """Total bits over the number of characters of the evaluated text."""
        return self.nats / (LN2 * self.characters)

    @property
    def bits_per_byte(self) -> float:
        """Total bits over the number of UTF-8 bytes of the evaluated text."""
        return self.nats / (LN2 * self.num_bytes)

    @property
    def characters_per_token(self) -> float:
        """Counted average token length in characters."""
        return self.characters / self.tokens

    def as_dict(self) -> dict[str, float]:
        """Totals and rates as a flat dictionary (for JSON logs).

        Returns
        -------
        dict
            ``nats``, ``tokens``, ``characters``, ``bytes`` and the derived rates.
        """
        return {
            "nats": self.nats,
            "tokens": self.tokens,
            "characters": self.characters,
            "bytes": self.num_bytes,
            "nats_per_token": self.nats_per_token,
            "bits_per_token": self.bits_per_token,
            "bits_per_character": self.bits_per_character,
            "bits_per_byte": self.bits_per_byte,
            "characters_per_token": self.characters_per_token,
        }


@dataclass(frozen=True)
class PaddedLoss:
    """Loss totals of padded, unmasked evaluation (the seed models' way), split by target kind.

    Parameters
    ----------
    real_nats : float
        Summed cross-entropy over targets that are real tokens.
    real_tokens : int
        Number of real targets.
    pad_nats : float
        Summed cross-entropy over targets that are padding.
    pad_tokens : int
        Number of pad targets.
    """

    real_nats: float
    real_tokens: int
    pad_nats: float
    pad_tokens: int

    def __post_init__(self) -> None:
        _check_nats("real_nats", self.real_nats)
        _check_nats("pad_nats", self.pad_nats)
        _check_count("real_tokens", self.real_tokens)
        _check_count("pad_tokens", self.pad_tokens, positive=False)

    @property
    def loss_with_padding(self) -> float:
        """The seed-style loss: mean over all targets, pad targets included (nats/token)."""
        return (self.real_nats + self.pad_nats) / (self.real_tokens + self.pad_tokens)

    @property
    def loss_without_padding(self) -> float:
        """Mean over real targets only (nats/token)."""
        return self.real_nats / self.real_tokens

    @property
    def pad_fraction(self) -> float:
        """Share of the scored targets that are padding."""
        return self.pad_tokens / (self.real_tokens + self.pad_tokens)


def format_bits_table(
    reports: Mapping[str, BitsReport],
    assumed_characters_per_token: float | None = None,
    padded: Mapping[str, PaddedLoss] | None = None,
) -> str:
    """A plain-text table of evaluation results, with the seed-style diagnostics when given.

    Parameters
    ----------
    reports : mapping of str to BitsReport
        One row per model (or corpus), keyed by its label.
    assumed_characters_per_token : float, optional
        If given, adds the diagnostic column ``seed formula bpc`` (honest loss / (ln 2 × this)).
    padded : mapping of str to PaddedLoss, optional
        If given, adds the diagnostic column ``seed-style loss`` (pad targets counted) for the
        labels it holds.

    Returns
    -------
    str
        The table, one line per row, columns aligned.
    """
    header = ["model", "nats/token", "bits/token", "bpc", "bits/byte", "chars/token"]
    if assumed_characters_per_token is not None:
        header.append(f"seed formula bpc (@{assumed_characters_per_token:g} chars/token)")
    if padded is not None:
        header.append("seed-style loss (pad scored)")
    rows = [header]
    for label, report in reports.items():
        row = [
            str(label),
            f"{report.nats_per_token:.4f}",
            f"{report.bits_per_token:.4f}",
            f"{report.bits_per_character:.4f}",
            f"{report.bits_per_byte:.4f}",
            f"{report.characters_per_token:.3f}",
        ]
        if assumed_characters_per_token is not None:
            row.append(f"{seed_formula_bpc(report.nats_per_token, assumed_characters_per_token):.4f}")
        if padded is not None:
            row.append(f"{padded[label].loss_with_padding:.4f}" if label in padded else "-")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
