"""Evaluation of a trained checkpoint: honest bits per character, diagnostics, leakage check.

:func:`evaluate_checkpoint` scores a checkpoint written by :func:`leechkit.models.training.train`
over the whole validation split of a corpus (by default the one it was trained on) with
:func:`leechkit.models.data.evaluate_model`: nats/token, bits/token, **bits per character =
total nats / (ln 2 × characters of the evaluated text)** and bits per byte. Beside them, in
the same table (:meth:`CheckpointEvaluation.table`), the two labelled diagnostics of
:mod:`leechkit.models.metrics`: the seeds' formula (per-token loss / (ln 2 × an assumed
average token length), by default the :data:`SEED_ASSUMED_CHARACTERS_PER_TOKEN` implied by
the seeds' 0.40 nats/token and 0.129 bpc) and the seed-style loss with pad targets scored.

:func:`leakage_check` tests causality: for positions ``t``, the tokens after ``t`` are replaced
by different random tokens and the logits at positions ``≤ t`` are compared with those of the
original sequence. A causal model gives a maximum absolute difference of 0 (or rounding); a
model whose attention sees the future (Monster-LILA has no causal mask) does not. The logits
after ``t`` must change, which shows that the perturbation reached the model.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .data import evaluate_model, evaluate_padded, load_corpus, pack_documents, padded_document_batches
from .metrics import LN2, BitsReport, PaddedLoss, format_bits_table
from .tokenizer import Tokenizer, load_tokenizer
from .training import TrainConfig, find_checkpoint
from .transformer import LatticeTransformer

__all__ = [
    "SEED_ASSUMED_CHARACTERS_PER_TOKEN",
    "CheckpointEvaluation",
    "LeakageReport",
    "evaluate_checkpoint",
    "leakage_check",
    "load_checkpoint",
]

SEED_ASSUMED_CHARACTERS_PER_TOKEN = 0.40 / (LN2 * 0.129)
"""Characters per token implied by the seeds' report (0.40 nats/token ↦ 0.129 bpc): about 4.47."""


def _resolve(checkpoint: str | os.PathLike) -> Path:
    path = Path(checkpoint)
    return path if (path / "config.json").is_file() else find_checkpoint(path)


def load_checkpoint(
    checkpoint: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[LatticeTransformer, Tokenizer, TrainConfig | None]:
    """Load the model, tokenizer and (if present) training configuration of a checkpoint.

    Parameters
    ----------
    checkpoint : str or path-like
        A checkpoint folder, or a run folder (its newest checkpoint is taken). A folder
        written by :meth:`LatticeTransformer.save_pretrained` plus :meth:`Tokenizer.save`
        works too (then without a training configuration).
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    tuple
        ``(model, tokenizer, config)``; the model in eval mode.
    """
    path = _resolve(checkpoint)
    model = LatticeTransformer.from_pretrained(path, device=device).eval()
    tokenizer = load_tokenizer(path)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"{path}: the tokenizer has {tokenizer.vocab_size} ids but the model {model.config.vocab_size}"
        )
    config_file = path / "train_config.json"
    config = TrainConfig.load(config_file) if config_file.is_file() else None
    return model, tokenizer, config


@dataclass(frozen=True)
class CheckpointEvaluation:
    """The result of :func:`evaluate_checkpoint`.

    Parameters
    ----------
    label : str
        Row label (the checkpoint's attention mode and folder).
    corpus : str
        Name of the evaluated corpus.
    report : BitsReport
        Honest totals over the whole validation split.
    padded : PaddedLoss or None
        Seed-style scoring (one document per row, padded, pad targets scored), if computed.
    assumed_characters_per_token : float
        The assumed token length of the seed-formula column.
    """

    label: str
    corpus: str
    report: BitsReport
    padded: PaddedLoss | None
    assumed_characters_per_token: float

    def table(self) -> str:
        """The honest figures and the labelled diagnostics in one plain-text table, with notes.

        Returns
        -------
        str
            The table and a few explanatory lines.
        """
        padded = {self.label: self.padded} if self.padded is not None else None
        lines = [
            f"validation split of {self.corpus}: {self.report.tokens:,} tokens, "
            f"{self.report.characters:,} characters, {self.report.num_bytes:,} bytes",
            format_bits_table({self.label: self.report}, self.assumed_characters_per_token, padded),
            "",
            "bpc = total nats / (ln 2 × characters of the evaluated text), characters counted; "
            "the last two columns are diagnostics, not measurements:",
            f"  seed formula: nats/token / (ln 2 × {self.assumed_characters_per_token:.3g} assumed "
            f"characters per token; counted here: {self.report.characters_per_token:.3f})",
        ]
        if self.padded is not None:
            lines.append(
                f"  seed-style loss: one document per block, padded, pad targets scored "
                f"({100 * self.padded.pad_fraction:.1f} % of the targets are padding; without them "
                f"{self.padded.loss_without_padding:.4f} nats/token on the truncated documents)"
            )
        return "\n".join(lines)


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    corpus: str | None = None,
    data_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    assumed_characters_per_token: float = SEED_ASSUMED_CHARACTERS_PER_TOKEN,
    padded: bool = True,
) -> CheckpointEvaluation:
    """Score a checkpoint over the whole validation split (module docstring).

    Parameters
    ----------
    checkpoint : str or path-like
        A checkpoint folder or a run folder (see :func:`load_checkpoint`).
    corpus : str, optional
        Corpus name or path (default: the one in the checkpoint's training configuration).
    data_dir : str or path-like, optional
        Folder of the shared corpora.
    batch_size : int
        Blocks per forward pass.
    device : str or torch.device
        Where to evaluate.
    assumed_characters_per_token : float
        Token length assumed by the seed-formula diagnostic.
    padded : bool
        Also compute the seed-style padded loss.

    Returns
    -------
    CheckpointEvaluation
        Honest report and diagnostics.
    """
    model, tokenizer, config = load_checkpoint(checkpoint, device)
    if corpus is None:
        if config is None:
            raise ValueError(f"{checkpoint} has no training configuration: pass corpus=")
        corpus = config.corpus
        data_dir = config.data_dir if data_dir is None else data_dir
    source = load_corpus(corpus, data_dir)
    block = model.config.block_size
    report = evaluate_model(model, pack_documents(source.documents("valid"), tokenizer), block, batch_size)
    padded_loss = None
    if padded:
        batches = padded_document_batches(source.documents("valid"), tokenizer, block, batch_size)
        padded_loss = evaluate_padded(model, batches)
    path = _resolve(checkpoint)
    label = f"{model.config.attention} ({path.parent.name}/{path.name})"
    return CheckpointEvaluation(label, source.name, report, padded_loss, float(assumed_characters_per_token))


@dataclass(frozen=True)
class LeakageReport:
    """The result of :func:`leakage_check`.

    Parameters
    ----------
    attention : str
        The model's attention mode.
    positions : tuple of int
        The positions ``t`` tested.
    past_max_abs_diff : tuple of float
        For each ``t``, the largest absolute change of a logit at a position ``≤ t``.
    future_max_abs_diff : tuple of float
        For each ``t``, the largest absolute change of a logit after ``t`` (must be positive).
    tolerance : float
        Largest past change accepted as rounding.
    """

    attention: str
    positions: tuple[int, ...]
    past_max_abs_diff: tuple[float, ...]
    future_max_abs_diff: tuple[float, ...]
    tolerance: float

    @property
    def max_abs_diff(self) -> float:
        """The largest change of a past logit over all tested positions."""
        return max(self.past_max_abs_diff)

    @property
    def passed(self) -> bool:
        """No past logit moved beyond the tolerance, and every perturbation changed later logits."""
        return self.max_abs_diff <= self.tolerance and min(self.future_max_abs_diff) > 0

    def table(self) -> str:
        """A plain-text table of the check, one row per position, and the verdict.

        Returns
        -------
        str
            The table.
        """
        rows = [("t", "max |Δ logit| at ≤ t", "max |Δ logit| after t")]
        rows += [
            (str(t), f"{p:.3e}", f"{f:.3e}")
            for t, p, f in zip(self.positions, self.past_max_abs_diff, self.future_max_abs_diff)
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "no leakage" if self.passed else "LEAKAGE: past logits depend on future tokens"
        if self.max_abs_diff <= self.tolerance and not min(self.future_max_abs_diff) > 0:
            verdict = "inconclusive: the perturbation did not change later logits"
        lines.append(
            f"attention {self.attention}: max |Δ| at ≤ t = {self.max_abs_diff:.3e} "
            f"(tolerance {self.tolerance:g}): {verdict}"
        )
        return "\n".join(lines)


@torch.no_grad()
def leakage_check(
    model: nn.Module,
    positions: tuple[int, ...] | list[int] | None = None,
    batch_size: int = 2,
    seed: int = 0,
    tolerance: float = 1e-5,
    vocab_size: int | None = None,
    block_size: int | None = None,
) -> LeakageReport:
    """Perturb the tokens after position ``t``; the logits at positions ``≤ t`` must not change.

    Random token sequences of the full block length are scored twice, the second time with
    every token after ``t`` replaced by a different random token; float32, eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, T) ids to logits (B, T, V) (or a tuple starting with them); a
        :class:`LatticeTransformer` or anything with a ``config`` carrying ``vocab_size`` and
        ``block_size`` (else pass them).
    positions : sequence of int, optional
        Positions ``t`` in ``[0, block_size − 1)`` (default: 0, a quarter, the middle, and the
        last but one).
    batch_size : int
        Sequences per test.
    seed : int
        Seed of the random tokens.
    tolerance : float
        Largest past change counted as rounding.
    vocab_size : int, optional
        Overrides ``model.config.vocab_size``.
    block_size : int, optional
        Overrides ``model.config.block_size``.

    Returns
    -------
    LeakageReport
        Per-position maximum changes and the verdict.
    """
    config = getattr(model, "config", None)
    vocab = vocab_size if vocab_size is not None else getattr(config, "vocab_size", None)
    block = block_size if block_size is not None else getattr(config, "block_size", None)
    if not isinstance(vocab, int) or not isinstance(block, int):
        raise TypeError("pass vocab_size and block_size for a model without a config carrying them")
    if block < 2 or vocab < 2:
        raise ValueError(f"the check needs block_size >= 2 and vocab_size >= 2, got {block} and {vocab}")
    if positions is None:
        positions = sorted({0, block // 4, block // 2, block - 2})
    positions = tuple(int(t) for t in positions)
    if not positions or any(not 0 <= t < block - 1 for t in positions):
        raise ValueError(f"positions must lie in [0, {block - 1}), got {positions}")
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a finite non-negative number, got {tolerance}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()

    def logits_of(ids: torch.Tensor) -> torch.Tensor:
        out = model(ids.to(device))
        return (out[0] if isinstance(out, tuple) else out).float()

    past, future = [], []
    try:
        idx = torch.randint(0, vocab, (batch_size, block), generator=generator)
        reference = logits_of(idx)
        for t in positions:
            shift = torch.randint(1, vocab, (batch_size, block - t - 1), generator=generator)
            perturbed = idx.clone()
            perturbed[:, t + 1 :] = (idx[:, t + 1 :] + shift) % vocab
            diff = (logits_of(perturbed) - reference).abs()
            past.append(float(diff[:, : t + 1].max()))
            future.append(float(diff[:, t + 1 :].max()))
    finally:
        model.train(was_training)
    attention = getattr(config, "attention", type(model).__name__)
    return LeakageReport(str(attention), positions, tuple(past), tuple(future), float(tolerance))
