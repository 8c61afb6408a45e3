"""The classical-compressor reference: bits per character that xz and zpaq reach on a text.

Every model result in the project sits beside what general-purpose compressors achieve on the
same validation text, *given the same training text*. The conditional estimate is

    bits(valid | train) = 8 · (C(train + valid) − C(train)),

divided by the number of characters of ``valid``, where ``C`` is the compressed size in bytes. An
adaptive compressor that has read the training text codes the validation text with what it
learned, as a language model that was trained on the training split and is then scored on the
validation split does (except that the compressor keeps adapting while it reads the validation
text, as a model evaluated with dynamic updates would). The unconditioned ``8 · C(valid)`` is
reported beside it.

Compressors (:data:`COMPRESSORS`):

* ``"lzma"`` — Python's :mod:`lzma`, xz container, LZMA2 at preset 9e, with the dictionary as
  large as the input (at least 1 MiB, at most 1.5 GiB, LZMA2's limit): the whole training text
  stays in the window, so every earlier match can be used.
* ``"xz"`` — the ``xz`` program (``xz -9e -T1`` with the same dictionary rule), if installed;
  it should agree with ``"lzma"`` to a few bytes.
* ``"zpaq"`` — the ``zpaq`` archiver at its strongest method (``-m5``: context mixing, blocks of
  up to 64 MiB, one thread), if installed (Debian package ``zpaq``). Far stronger than xz on text.

Caveats of the estimate:

* The window or block limits how much of the training text the compressor can use: beyond
  1.5 GiB (xz) or 64 MiB (zpaq ``-m5``), earlier training text is forgotten or compressed in a
  separate block, and the conditional figure degrades towards the unconditioned one.
* Container overheads (xz headers, the zpaq archive's file name and date) are a few dozen bytes;
  they mostly cancel in the difference and are negligible against the validation text.
* ``C`` is not exactly additive: the difference can be slightly negative for a validation text
  that repeats the training text, and is noisy for validation texts of a few kilobytes.
* Compressors work on UTF-8 bytes; bits per character divide by characters (the table gives bits
  per byte too). Compress the texts a model is scored on (:meth:`leechkit.models.data.Corpus.text`:
  documents each followed by one end-of-document character) so that the figures compare.

This module needs no torch.
"""

from __future__ import annotations

import lzma
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COMPRESSORS",
    "CompressionResult",
    "available_compressors",
    "compressed_size",
    "compression_reference",
    "format_compression_table",
]

COMPRESSORS = ("lzma", "xz", "zpaq")
"""Names of the supported compressors."""

_MIN_DICT = 1 << 20
_MAX_DICT = 1536 << 20  # LZMA2's largest dictionary
_ZPAQ_METHOD = "5"


def _dict_size(length: int) -> int:
    return min(max(length, _MIN_DICT), _MAX_DICT)


def available_compressors() -> list[str]:
    """The compressors usable here: ``"lzma"`` always, ``"xz"`` and ``"zpaq"`` when on the PATH.

    Returns
    -------
    list of str
        Names from :data:`COMPRESSORS`.
    """
    return [name for name in COMPRESSORS if name == "lzma" or shutil.which(name) is not None]


def _lzma_size(data: bytes) -> int:
    preset = 9 | lzma.PRESET_EXTREME
    filters = [{"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": _dict_size(len(data))}]
    return len(lzma.compress(data, format=lzma.FORMAT_XZ, filters=filters))


def _xz_size(data: bytes) -> int:
    command = ["xz", "-9e", "-T1", f"--lzma2=preset=9e,dict={_dict_size(len(data))}", "-c"]
    result = subprocess.run(command, input=data, capture_output=True, check=True)
    return len(result.stdout)


def _zpaq_size(data: bytes) -> int:
    with tempfile.TemporaryDirectory(prefix="leechkit-zpaq-") as folder:
        (Path(folder) / "text").write_bytes(data)
        command = ["zpaq", "a", "archive.zpaq", "text", f"-m{_ZPAQ_METHOD}", "-t1"]
        subprocess.run(command, cwd=folder, capture_output=True, check=True)
        return (Path(folder) / "archive.zpaq").stat().st_size


_SIZERS = {"lzma": _lzma_size, "xz": _xz_size, "zpaq": _zpaq_size}


def compressed_size(data: bytes, compressor: str = "lzma") -> int:
    """Compressed size of ``data`` in bytes, container included.

    Parameters
    ----------
    data : bytes
        The input.
    compressor : str, optional
        One of :data:`COMPRESSORS`.

    Returns
    -------
    int
        The size of the compressed stream (``"lzma"``, ``"xz"``) or archive (``"zpaq"``).

    Raises
    ------
    ValueError
        If the compressor is unknown or its program is not installed.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if compressor not in COMPRESSORS:
        raise ValueError(f"unknown compressor {compressor!r}; expected one of {COMPRESSORS}")
    if compressor != "lzma" and shutil.which(compressor) is None:
        raise ValueError(f"the {compressor!r} program is not installed (not on the PATH)")
    return _SIZERS[compressor](bytes(data))


@dataclass(frozen=True)
class CompressionResult:
    """Compressed sizes of a train/valid pair and the bits per character derived from them.

    Parameters
    ----------
    compressor : str
        The compressor's name.
    valid_characters : int
        Characters of the validation text.
    valid_bytes : int
        UTF-8 bytes of the validation text.
    train_size : int
        ``C(train)`` in bytes.
    joint_size : int
        ``C(train + valid)`` in bytes.
    valid_size : int
        ``C(valid)`` in bytes.
    """

    compressor: str
    valid_characters: int
    valid_bytes: int
    train_size: int
    joint_size: int
    valid_size: int

    @property
    def conditional_bits(self) -> int:
        """Bits of the validation text given the training text: ``8 · (C(train+valid) − C(train))``."""
        return 8 * (self.joint_size - self.train_size)

    @property
    def conditional_bpc(self) -> float:
        """Conditional bits per character of the validation text."""
        return self.conditional_bits / self.valid_characters

    @property
    def conditional_bits_per_byte(self) -> float:
        """Conditional bits per UTF-8 byte of the validation text."""
        return self.conditional_bits / self.valid_bytes

    @property
    def unconditional_bpc(self) -> float:
        """Bits per character of the validation text compressed alone: ``8 · C(valid) / chars``."""
        return 8 * self.valid_size / self.valid_characters

    @property
    def unconditional_bits_per_byte(self) -> float:
        """Bits per UTF-8 byte of the validation text compressed alone."""
        return 8 * self.valid_size / self.valid_bytes


def compression_reference(
    train_text: str, valid_text: str, compressors: Iterable[str] | None = None
) -> list[CompressionResult]:
    """Conditional and unconditioned compression of ``valid_text``, for each compressor.

    Parameters
    ----------
    train_text : str
        The training text (may be empty: then the conditional figure is the unconditioned one
        up to container overhead).
    valid_text : str
        The validation text (non-empty).
    compressors : iterable of str, optional
        Names from :data:`COMPRESSORS` (default: :func:`available_compressors`).

    Returns
    -------
    list of CompressionResult
        One result per compressor, in the order given.
    """
    if not isinstance(train_text, str) or not isinstance(valid_text, str):
        raise TypeError("train_text and valid_text must be str")
    if not valid_text:
        raise ValueError("valid_text is empty")
    if isinstance(compressors, str):
        raise TypeError("compressors must be an iterable of names, not a single str")
    names = available_compressors() if compressors is None else list(compressors)
    train, valid = train_text.encode("utf-8"), valid_text.encode("utf-8")
    results = []
    for name in names:
        results.append(
            CompressionResult(
                compressor=name,
                valid_characters=len(valid_text),
                valid_bytes=len(valid),
                train_size=compressed_size(train, name),
                joint_size=compressed_size(train + valid, name),
                valid_size=compressed_size(valid, name),
            )
        )
    return results


def format_compression_table(results: Iterable[CompressionResult], title: str | None = None) -> str:
    """A plain-text table of compression results (for the command line and the docs).

    Parameters
    ----------
    results : iterable of CompressionResult
        The results, one row each.
    title : str, optional
        A line printed above the table.

    Returns
    -------
    str
        The table.
    """
    header = ["compressor", "bpc | train", "bits/byte | train", "bpc alone", "bits/byte alone", "valid chars"]
    rows = [header]
    for r in results:
        rows.append(
            [
                r.compressor,
                f"{r.conditional_bpc:.4f}",
                f"{r.conditional_bits_per_byte:.4f}",
                f"{r.unconditional_bpc:.4f}",
                f"{r.unconditional_bits_per_byte:.4f}",
                f"{r.valid_characters:,}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if title:
        lines.insert(0, title)
    return "\n".join(lines)
