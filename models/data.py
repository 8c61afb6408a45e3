"""Corpora, train/validation splits, and packing into fixed-length blocks for language modelling.

Reading
    :func:`read_documents` streams the documents of a local file: plain text whose documents are
    separated by ``<|endoftext|>`` lines (or, without such lines, by blank lines), or JSONL with a
    ``text`` field. A :class:`Corpus` holds a train and a validation split, each re-readable as a
    stream of documents. A corpus without a validation file is split deterministically by a hash
    of each document (:func:`is_validation_document`).

Named corpora
    * :func:`pydoc_topics` — the embedded default: the English text of CPython's
      ``pydoc_data.topics`` (the language-reference sections that ``help()`` shows), present on
      every CPython installation, no download. 79 documents, 464,970 characters (0.466 MB of
      UTF-8) in CPython 3.11.7; other Python versions ship slightly different text.
    * :func:`python_docs` and :func:`tinystories_sample` — the project's shared real corpora,
      found through ``data_dir``, the ``LEECHKIT_DATA`` environment variable, or
      ``../shared/data`` beside the repository (see :func:`data_directory`).
    * :func:`huggingface_corpus` — optional, online: a Hugging Face ``datasets`` corpus such as
      ``roneneldan/TinyStories`` (needs ``pip install datasets``; imported only when called).

Packing
    :func:`pack_documents` tokenizes a split into one stream ``EOT d₁ EOT d₂ EOT … d_N EOT``
    (no padding). Every document token and every document-ending EOT is a prediction target
    exactly once; the leading EOT is context only. Each position carries the number of
    characters (and bytes) its target accounts for: the target token's UTF-8 lead bytes, and one
    character for the EOT that ends a document. The evaluated text is therefore the documents,
    each followed by one end-of-document character — exactly :meth:`Corpus.text`, which is also
    what the compressor reference compresses — and
    ``bpc = total nats / (ln 2 × PackedSplit.num_characters)`` is exact.

    :func:`train_batches` draws training blocks (seeded, reproducible, resumable by step);
    :func:`eval_batches` covers the whole validation stream exactly once in order, the last
    partial block's missing targets set to :data:`IGNORE_INDEX`; :func:`evaluate_model` sums the
    cross-entropy into a :class:`~leechkit.models.metrics.BitsReport`. For the seed-style
    diagnostic, :func:`padded_document_batches` and :func:`evaluate_padded` reproduce padded,
    unmasked scoring.
"""

from __future__ import annotations

import array
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from .metrics import BitsReport, PaddedLoss
from .tokenizer import END_OF_TEXT, Tokenizer

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_VALID_FRACTION",
    "DOCUMENT_END",
    "END_OF_TEXT",
    "IGNORE_INDEX",
    "Corpus",
    "EvalBatch",
    "MissingDataError",
    "PackedSplit",
    "SplitStatistics",
    "data_directory",
    "eval_batches",
    "evaluate_model",
    "evaluate_padded",
    "huggingface_corpus",
    "is_validation_document",
    "load_corpus",
    "local_corpus",
    "pack_documents",
    "padded_document_batches",
    "pydoc_topics",
    "python_docs",
    "read_documents",
    "tinystories_sample",
    "train_batches",
]

IGNORE_INDEX = -100
"""Target value of positions that are not scored (``torch.nn.functional.cross_entropy`` default)."""

DATA_DIR_ENV = "LEECHKIT_DATA"
"""Environment variable naming the folder that holds ``python-docs/`` and ``tinystories-sample/``."""

DEFAULT_VALID_FRACTION = 0.05
"""Share of documents that the hash split sends to validation when a corpus has no validation file."""

DOCUMENT_END = "\x1e"
"""The end-of-document character of :meth:`Corpus.text` (U+001E, record separator): one character
and one byte, the text counterpart of the EOT token."""

SPLITS = ("train", "valid")
_FORMATS = ("auto", "endoftext", "paragraphs", "jsonl")


class MissingDataError(FileNotFoundError, ValueError):
    """A corpus file or folder does not exist (both a ``FileNotFoundError`` and a ``ValueError``)."""


def _check_split(split: object) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
    return str(split)


def _check_fraction(valid_fraction: object) -> float:
    if isinstance(valid_fraction, bool) or not isinstance(valid_fraction, (int, float)):
        raise TypeError(f"valid_fraction must be a number, got {type(valid_fraction).__name__}")
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must lie strictly between 0 and 1, got {valid_fraction}")
    return float(valid_fraction)


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _as_path(path: object, what: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a str or path, got {type(path).__name__}")
    return Path(path)


# --------------------------------------------------------------------------- reading


def _has_endoftext_line(path: Path) -> bool:
    with path.open(encoding="utf-8") as handle:
        return any(line.rstrip("\r\n") == END_OF_TEXT for line in handle)


def _strip_line_end(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def read_documents(path: str | os.PathLike, format: str = "auto", text_field: str = "text") -> Iterator[str]:
    """Stream the documents of a local UTF-8 file.

    Formats:

    * ``"endoftext"`` — plain text; a line consisting of ``<|endoftext|>`` separates documents.
      The line break before a separator line (or at the end of the file) is not part of the
      document; everything else is kept exactly.
    * ``"paragraphs"`` — plain text; runs of blank (whitespace-only) lines separate documents.
    * ``"jsonl"`` — one JSON object per line with a string field ``text_field``.
    * ``"auto"`` — ``"jsonl"`` for a ``.jsonl`` file; otherwise ``"endoftext"`` if the file has a
      separator line (found by a first pass) and ``"paragraphs"`` if not.

    Documents that are empty or whitespace-only are skipped. Lines are read with universal
    newlines (``\\r\\n`` becomes ``\\n``).

    Parameters
    ----------
    path : str or path-like
        The file.
    format : str, optional
        One of ``"auto"``, ``"endoftext"``, ``"paragraphs"``, ``"jsonl"``.
    text_field : str, optional
        The JSONL field holding the document text.

    Yields
    ------
    str
        The documents, in file order.

    Raises
    ------
    MissingDataError
        If the file does not exist.
    ValueError
        If the format is unknown, a JSONL line is malformed, or the file holds no document.
    """
    path = _as_path(path)
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS}, got {format!r}")
    if not isinstance(text_field, str):
        raise TypeError(f"text_field must be a str, got {type(text_field).__name__}")
    if not path.is_file():
        raise MissingDataError(f"corpus file {path} does not exist")
    return _read_documents(path, format, text_field)


def _read_documents(path: Path, format: str, text_field: str) -> Iterator[str]:
    if format == "auto":
        if path.suffix.lower() == ".jsonl":
            format = "jsonl"
        else:
            format = "endoftext" if _has_endoftext_line(path) else "paragraphs"
    count = 0
    with path.open(encoding="utf-8") as handle:
        if format == "jsonl":
            documents: Iterable[str] = _jsonl_documents(handle, path, text_field)
        elif format == "endoftext":
            documents = _endoftext_documents(handle)
        else:
            documents = _paragraph_documents(handle)
        for document in documents:
            if document.strip():
                count += 1
                yield document
    if count == 0:
        raise ValueError(f"corpus file {path} holds no documents")


def _endoftext_documents(lines: Iterable[str]) -> Iterator[str]:
    buffer: list[str] = []
    for line in lines:
        if line.rstrip("\n") == END_OF_TEXT:
            yield _strip_line_end("".join(buffer))
            buffer = []
        else:
            buffer.append(line)
    yield _strip_line_end("".join(buffer))


def _paragraph_documents(lines: Iterable[str]) -> Iterator[str]:
    buffer: list[str] = []
    for line in lines:
        if line.strip():
            buffer.append(line)
        elif buffer:
            yield _strip_line_end("".join(buffer))
            buffer = []
    if buffer:
        yield _strip_line_end("".join(buffer))


def _jsonl_documents(lines: Iterable[str], path: Path, text_field: str) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not valid JSON ({error})") from error
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise ValueError(f"{path}:{number}: expected an object with a string field {text_field!r}")
        yield record[text_field]


def _document_hash(text: str) -> float:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def is_validation_document(text: str, valid_fraction: float = DEFAULT_VALID_FRACTION) -> bool:
    """Whether the hash split sends a document to validation.

    The document's UTF-8 bytes are hashed with BLAKE2b (8-byte digest) and read as a number
    ``u`` in [0, 1); the document is a validation document when ``u < valid_fraction``. The rule
    is deterministic across machines and Python versions, needs no pass over the corpus, sends
    identical documents to the same split, and sends ``valid_fraction`` of the documents (not
    necessarily of the characters) to validation on average.

    Parameters
    ----------
    text : str
        The document.
    valid_fraction : float, optional
        Expected share of validation documents, strictly between 0 and 1.

    Returns
    -------
    bool
        True for a validation document.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _document_hash(text) < _check_fraction(valid_fraction)


# --------------------------------------------------------------------------- corpora


@dataclass(frozen=True)
class SplitStatistics:
    """Size of one split.

    Parameters
    ----------
    documents : int
        Number of documents.
    characters : int
        Characters of the documents (end-of-document marks not included).
    num_bytes : int
        UTF-8 bytes of the documents.
    """

    documents: int
    characters: int
    num_bytes: int

    @property
    def evaluated_characters(self) -> int:
        """Characters of the evaluated text: the documents plus one end-of-document mark each."""
        return self.characters + self.documents


class Corpus:
    """A text corpus with a training and a validation split, each read as a stream of documents.

    Parameters
    ----------
    name : str
        A short label.
    train : callable
        Called without arguments, returns a fresh iterable of training documents.
    valid : callable
        Called without arguments, returns a fresh iterable of validation documents.
    description : str, optional
        Where the text comes from and how it was split.
    """

    def __init__(
        self,
        name: str,
        train: Callable[[], Iterable[str]],
        valid: Callable[[], Iterable[str]],
        description: str = "",
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        if not (callable(train) and callable(valid)):
            raise TypeError("train and valid must be callables returning iterables of documents")
        self.name = name
        self.description = description
        self._sources = {"train": train, "valid": valid}

    def documents(self, split: str) -> Iterator[str]:
        """Stream the documents of a split.

        Parameters
        ----------
        split : str
            ``"train"`` or ``"valid"``.

        Yields
        ------
        str
            The documents, in a fixed order.
        """
        return self._stream(_check_split(split))

    def _stream(self, split: str) -> Iterator[str]:
        count = 0
        for document in self._sources[split]():
            if not isinstance(document, str):
                raise TypeError(f"corpus {self.name!r} yielded a {type(document).__name__}, not a str")
            count += 1
            yield document
        if count == 0:
            raise ValueError(f"the {split} split of corpus {self.name!r} is empty")

    def text(self, split: str) -> str:
        """The evaluated text of a split: every document followed by :data:`DOCUMENT_END`.

        Its length is the character count that bits per character divide by; it is the text the
        compressor reference compresses.

        Parameters
        ----------
        split : str
            ``"train"`` or ``"valid"``.

        Returns
        -------
        str
            The concatenated text.
        """
        return "".join(document + DOCUMENT_END for document in self.documents(split))

    def statistics(self, split: str) -> SplitStatistics:
        """Count the documents, characters and bytes of a split (one pass).

        Parameters
        ----------
        split : str
            ``"train"`` or ``"valid"``.

        Returns
        -------
        SplitStatistics
            The counts.
        """
        documents = characters = num_bytes = 0
        for document in self.documents(split):
            documents += 1
            characters += len(document)
            num_bytes += len(document.encode("utf-8"))
        return SplitStatistics(documents, characters, num_bytes)

    def __repr__(self) -> str:
        return f"Corpus({self.name!r})"


def local_corpus(
    path: str | os.PathLike,
    valid_path: str | os.PathLike | None = None,
    valid_fraction: float = DEFAULT_VALID_FRACTION,
    format: str = "auto",
    text_field: str = "text",
    name: str | None = None,
) -> Corpus:
    """A corpus from local files.

    With ``valid_path``, ``path`` is the training split and ``valid_path`` the validation split.
    Without it, the documents of ``path`` are split by :func:`is_validation_document`.

    Parameters
    ----------
    path : str or path-like
        The (training) file; see :func:`read_documents` for the formats.
    valid_path : str or path-like, optional
        A separate validation file.
    valid_fraction : float, optional
        Share of documents sent to validation by the hash split (ignored with ``valid_path``).
    format : str, optional
        Passed to :func:`read_documents`.
    text_field : str, optional
        Passed to :func:`read_documents` (JSONL).
    name : str, optional
        Label of the corpus (default: the file name).

    Returns
    -------
    Corpus
        The corpus; the files are read lazily, each time a split is streamed.
    """
    train_file = _as_path(path)
    fraction = _check_fraction(valid_fraction)
    read_documents(train_file, format, text_field)  # validates the arguments and the file's presence
    if valid_path is not None:
        valid_file = _as_path(valid_path, "valid_path")
        read_documents(valid_file, format, text_field)
        return Corpus(
            name or train_file.name,
            lambda: read_documents(train_file, format, text_field),
            lambda: read_documents(valid_file, format, text_field),
            f"{train_file} (train) and {valid_file} (valid)",
        )
    return Corpus(
        name or train_file.name,
        lambda: (d for d in read_documents(train_file, format, text_field) if _document_hash(d) >= fraction),
        lambda: (d for d in read_documents(train_file, format, text_field) if _document_hash(d) < fraction),
        f"{train_file}, hash split with valid_fraction={fraction}",
    )


def data_directory(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the shared corpora (``python-docs/``, ``tinystories-sample/``).

    Resolution order: the argument; the ``LEECHKIT_DATA`` environment variable; ``../shared/data``
    relative to the repository root (exists only in the project's working checkout).

    Parameters
    ----------
    data_dir : str or path-like, optional
        An explicit folder.

    Returns
    -------
    Path
        The folder (not checked for existence; the corpus functions check their files).
    """
    if data_dir is not None:
        return _as_path(data_dir, "data_dir")
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _require(path: Path, corpus: str) -> Path:
    if not path.is_file():
        raise MissingDataError(
            f"{corpus} corpus not found: {path} does not exist. Pass data_dir=... or set "
            f"{DATA_DIR_ENV} to the folder that holds {path.parent.name}/"
        )
    return path


def python_docs(data_dir: str | os.PathLike | None = None) -> Corpus:
    """The CPython 3.11 documentation sources (reStructuredText), with their fixed split.

    ``python-docs/train.txt`` (472 documents, 10.6 M characters) and ``python-docs/valid.txt``
    (25 documents, 0.47 M characters), documents separated by ``<|endoftext|>`` lines.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The shared data folder (see :func:`data_directory`).

    Returns
    -------
    Corpus
        The corpus.

    Raises
    ------
    MissingDataError
        If either file is missing (the message names the path).
    """
    folder = data_directory(data_dir) / "python-docs"
    train = _require(folder / "train.txt", "python-docs")
    valid = _require(folder / "valid.txt", "python-docs")
    return Corpus(
        "python-docs",
        lambda: read_documents(train, "endoftext"),
        lambda: read_documents(valid, "endoftext"),
        "CPython 3.11 documentation sources; every 20th document (sorted by path) is validation",
    )


def tinystories_sample(data_dir: str | os.PathLike | None = None) -> Corpus:
    """The small TinyStories sample: ``stories-a.txt`` trains, ``stories-b.txt`` validates.

    ``stories-a.txt`` (197 kB) has no story boundaries, so its documents are its paragraphs;
    ``stories-b.txt`` holds five whole stories separated by ``<|endoftext|>`` lines. Too small to
    train a model on; meant for reader and tokenizer tests and small evaluations.

    Parameters
    ----------
    data_dir : str or path-like, optional
        The shared data folder (see :func:`data_directory`).

    Returns
    -------
    Corpus
        The corpus.

    Raises
    ------
    MissingDataError
        If either file is missing (the message names the path).
    """
    folder = data_directory(data_dir) / "tinystories-sample"
    train = _require(folder / "stories-a.txt", "tinystories-sample")
    valid = _require(folder / "stories-b.txt", "tinystories-sample")
    return Corpus(
        "tinystories-sample",
        lambda: read_documents(train, "paragraphs"),
        lambda: read_documents(valid, "endoftext"),
        "TinyStories sample: stories-a.txt paragraphs (train), stories-b.txt stories (valid)",
    )


def _overlap_groups(texts: dict[str, str], min_length: int = 80) -> list[list[str]]:
    """Group named texts that share a paragraph (blank-line separated, at least ``min_length``
    characters after stripping): the connected components of the sharing relation."""
    parent = {name: name for name in texts}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    owner: dict[str, str] = {}
    for name in sorted(texts):
        for paragraph in texts[name].split("\n\n"):
            paragraph = paragraph.strip()
            if len(paragraph) >= min_length:
                if paragraph in owner:
                    parent[find(name)] = find(owner[paragraph])
                else:
                    owner[paragraph] = name
    groups: dict[str, list[str]] = {}
    for name in sorted(texts):
        groups.setdefault(find(name), []).append(name)
    return list(groups.values())


def pydoc_topics(valid_fraction: float = 0.1) -> Corpus:
    """The embedded default corpus: CPython's ``pydoc_data.topics``, split without shared text.

    The documents are the topic texts (sections of the language reference, in English), in
    sorted topic order. In CPython 3.11.7: 79 documents, 464,970 characters (466,117 UTF-8
    bytes); other versions differ slightly.

    Many topics repeat each other (``compound`` contains ``if``, ``while`` and ``async``;
    ``specialnames`` contains ``attribute-access``), so a split by document would put the same
    paragraphs on both sides. The topics are therefore grouped first: two topics sharing a
    paragraph of at least 80 characters are in the same group (55 groups in 3.11.7). The groups
    are taken in the order of a BLAKE2b hash of their text, and a group goes to validation if it
    still fits within ``valid_fraction`` of all characters. With the default 0.1 that is 21
    topics, 46,361 characters (9.97 %) in 3.11.7, and 0.6 % of the characters of their lines
    longer than 30 characters also occur in a training topic (rule lines and a traceback
    header), against 39 % for a split by topic. The topics also vary a lot in length (0.2 k to
    62 k characters), which is why the share is filled by characters rather than by a coin per
    document.

    Parameters
    ----------
    valid_fraction : float, optional
        Largest share of the characters given to validation, strictly between 0 and 1.

    Returns
    -------
    Corpus
        The corpus (held in memory; it ships with Python).
    """
    from pydoc_data.topics import topics

    fraction = _check_fraction(valid_fraction)
    names = sorted(topics)
    budget = fraction * sum(len(topics[name]) for name in names)
    groups = _overlap_groups({name: topics[name] for name in names})
    chosen: set[str] = set()
    used = 0
    for group in sorted(groups, key=lambda g: (_document_hash("\n".join(topics[n] for n in g)), g)):
        size = sum(len(topics[name]) for name in group)
        if used + size <= budget:
            chosen.update(group)
            used += size
    train = [topics[name] for name in names if name not in chosen]
    valid = [topics[name] for name in names if name in chosen]
    return Corpus(
        "pydoc-topics",
        lambda: iter(train),
        lambda: iter(valid),
        f"CPython pydoc_data.topics; validation: {len(valid)} topics within {fraction:g} of the characters",
    )


def huggingface_corpus(
    dataset: str = "roneneldan/TinyStories",
    text_field: str = "text",
    train_split: str = "train",
    valid_split: str = "validation",
    config: str | None = None,
    max_documents: int | None = None,
) -> Corpus:
    """An online corpus through Hugging Face ``datasets`` (optional; streamed, never cached whole).

    Needs the ``datasets`` package (``pip install datasets``) and a network connection; the import
    happens here, not when :mod:`leechkit.models.data` is imported. Not used by the tests.

    Parameters
    ----------
    dataset : str, optional
        The dataset name on the Hub, e.g. ``"roneneldan/TinyStories"``.
    text_field : str, optional
        The column holding the document text.
    train_split : str, optional
        The dataset's training split name.
    valid_split : str, optional
        The dataset's validation split name.
    config : str, optional
        The dataset configuration, if it has several.
    max_documents : int, optional
        Read at most this many documents of each split.

    Returns
    -------
    Corpus
        The corpus; each stream of a split opens a new streaming reader.

    Raises
    ------
    ImportError
        If ``datasets`` is not installed.
    """
    try:
        import datasets
    except ImportError as error:
        raise ImportError("huggingface_corpus needs the 'datasets' package: pip install datasets") from error
    if max_documents is not None:
        _check_positive_int("max_documents", max_documents)

    def stream(split: str) -> Iterator[str]:
        rows = datasets.load_dataset(dataset, config, split=split, streaming=True)
        for index, row in enumerate(rows):
            if max_documents is not None and index >= max_documents:
                break
            if row[text_field].strip():
                yield row[text_field]

    return Corpus(
        dataset,
        lambda: stream(train_split),
        lambda: stream(valid_split),
        f"Hugging Face dataset {dataset} ({train_split}/{valid_split})",
    )


def load_corpus(name: str, data_dir: str | os.PathLike | None = None) -> Corpus:
    """A corpus by name or path.

    Names: ``"pydoc-topics"`` (embedded default), ``"python-docs"``, ``"tinystories-sample"``,
    ``"tinystories"`` (online, Hugging Face ``roneneldan/TinyStories``), ``"hf:<dataset>"``
    (online). Anything else is read as a local file with a hash split (:func:`local_corpus`).

    Parameters
    ----------
    name : str
        A corpus name or a file path.
    data_dir : str or path-like, optional
        The shared data folder for ``python-docs`` and ``tinystories-sample``.

    Returns
    -------
    Corpus
        The corpus.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name == "pydoc-topics":
        return pydoc_topics()
    if name == "python-docs":
        return python_docs(data_dir)
    if name == "tinystories-sample":
        return tinystories_sample(data_dir)
    if name == "tinystories":
        return huggingface_corpus("roneneldan/TinyStories")
    if name.startswith("hf:"):
        return huggingface_corpus(name[3:])
    if Path(name).is_file():
        return local_corpus(name)
    raise ValueError(
        f"unknown corpus {name!r}: expected pydoc-topics, python-docs, tinystories-sample, tinystories, "
        "hf:<dataset> or an existing file"
    )


# --------------------------------------------------------------------------- packing


@dataclass(frozen=True)
class PackedSplit:
    """A tokenized split as one stream ``EOT d₁ EOT d₂ … d_N EOT`` with per-position counts.

    Parameters
    ----------
    tokens : torch.Tensor
        int64, shape ``(n,)``: the stream.
    characters : torch.Tensor
        int64, shape ``(n,)``: characters that predicting ``tokens[i]`` accounts for (0 at
        ``i = 0``, which is never a target; 1 for a document-ending EOT).
    num_bytes : torch.Tensor
        int64, shape ``(n,)``: the same in UTF-8 bytes.
    num_documents : int
        Number of documents packed.
    eot_id : int
        The separator (end-of-text) id.
    pad_id : int
        The tokenizer's pad id (used only in the inputs of a last partial evaluation block).
    """

    tokens: torch.Tensor
    characters: torch.Tensor
    num_bytes: torch.Tensor
    num_documents: int
    eot_id: int
    pad_id: int

    @property
    def num_targets(self) -> int:
        """Number of scored positions: every token of the stream but the first."""
        return self.tokens.numel() - 1

    @property
    def num_characters(self) -> int:
        """Characters of the evaluated text (documents plus one end-of-document mark each)."""
        return int(self.characters.sum())

    @property
    def total_bytes(self) -> int:
        """UTF-8 bytes of the evaluated text (documents plus one end-of-document mark each)."""
        return int(self.num_bytes.sum())


def pack_documents(documents: Iterable[str], tokenizer: Tokenizer, chunk_documents: int = 64) -> PackedSplit:
    """Tokenize documents and pack them into one stream with EOT separators (no padding).

    Parameters
    ----------
    documents : iterable of str
        The documents of one split, e.g. ``corpus.documents("valid")``.
    tokenizer : Tokenizer
        The tokenizer (trained on the training split).
    chunk_documents : int, optional
        Documents encoded per tokenizer call.

    Returns
    -------
    PackedSplit
        The stream with its character and byte counts.
    """
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a Tokenizer, got {type(tokenizer).__name__}")
    if isinstance(documents, str):
        raise TypeError("documents must be an iterable of str, not a single str")
    _check_positive_int("chunk_documents", chunk_documents)
    eot = tokenizer.eot_id
    stream = array.array("q", [eot])
    count = 0
    chunk: list[str] = []

    def flush() -> None:
        for ids in tokenizer.encode_batch(chunk):
            stream.extend(ids)
            stream.append(eot)
        chunk.clear()

    for document in documents:
        if not isinstance(document, str):
            raise TypeError(f"documents must be str, got {type(document).__name__}")
        chunk.append(document)
        count += 1
        if len(chunk) == chunk_documents:
            flush()
    flush()
    if count == 0:
        raise ValueError("no documents to pack")
    tokens = torch.frombuffer(stream, dtype=torch.int64).clone()
    characters = torch.tensor(tokenizer.character_counts(), dtype=torch.int64)[tokens]
    num_bytes = torch.tensor(tokenizer.byte_counts(), dtype=torch.int64)[tokens]
    characters[0] = 0
    num_bytes[0] = 0
    return PackedSplit(tokens, characters, num_bytes, count, eot, tokenizer.pad_id)


def _stream_tokens(data: PackedSplit | torch.Tensor) -> torch.Tensor:
    tokens = data.tokens if isinstance(data, PackedSplit) else data
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 1:
        raise TypeError("data must be a PackedSplit or a 1-D tensor of token ids")
    return tokens.long()


def _seeded_generator(seed: int, epoch: int) -> torch.Generator:
    digest = hashlib.blake2b(f"leechkit-train-batches:{seed}:{epoch}".encode(), digest_size=8).digest()
    generator = torch.Generator()
    generator.manual_seed(int.from_bytes(digest, "big") >> 1)
    return generator


def train_batches(
    data: PackedSplit | torch.Tensor,
    block_size: int,
    batch_size: int,
    seed: int = 0,
    start_step: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless training batches of (input, target) blocks cut from the packed stream.

    Epoch ``e`` cuts the stream into ``n = (len - 1) // block_size`` consecutive blocks starting
    at a random offset in ``[0, (len - 1) - n·block_size]`` and visits them in a random order;
    every block's targets are its inputs shifted by one token, with no padding. The offset and the
    order depend only on ``(seed, e)``, so the batch at a given step is a pure function of
    ``(seed, step)``: resuming with ``start_step`` continues the same sequence exactly. With
    ``world_size > 1`` the ranks take disjoint blocks of each global batch (for DDP).

    Parameters
    ----------
    data : PackedSplit or torch.Tensor
        The packed training split, or its 1-D token stream.
    block_size : int
        Tokens per block (sequence length).
    batch_size : int
        Blocks per batch (per rank).
    seed : int, optional
        Seed of the offsets and orders.
    start_step : int, optional
        Index of the first batch to yield (resume).
    rank : int, optional
        This process's rank.
    world_size : int, optional
        Number of processes sharing the global batch.

    Yields
    ------
    tuple of torch.Tensor
        ``(inputs, targets)``, int64, each of shape ``(batch_size, block_size)``.
    """
    tokens = _stream_tokens(data)
    block_size = _check_positive_int("block_size", block_size)
    batch_size = _check_positive_int("batch_size", batch_size)
    world_size = _check_positive_int("world_size", world_size)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(start_step, bool) or not isinstance(start_step, int) or start_step < 0:
        raise ValueError(f"start_step must be a non-negative int, got {start_step!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an int in range({world_size}), got {rank!r}")
    n = (tokens.numel() - 1) // block_size
    if n == 0:
        raise ValueError(f"{tokens.numel()} tokens are too few for one block of {block_size} + 1")
    slack = tokens.numel() - 1 - n * block_size
    window = torch.arange(block_size + 1)
    cached_epoch, starts = -1, torch.empty(0, dtype=torch.int64)
    step = start_step
    while True:
        first = (step * world_size + rank) * batch_size
        indices = torch.arange(first, first + batch_size)
        rows = []
        for g in indices.tolist():
            epoch, k = divmod(g, n)
            if epoch != cached_epoch:
                generator = _seeded_generator(seed, epoch)
                offset = int(torch.randint(0, slack + 1, (1,), generator=generator))
                order = torch.randperm(n, generator=generator)
                starts = offset + order * block_size
                cached_epoch = epoch
            rows.append(starts[k])
        block = tokens[torch.stack(rows)[:, None] + window]
        yield block[:, :-1].contiguous(), block[:, 1:].contiguous()
        step += 1


@dataclass(frozen=True)
class EvalBatch:
    """A batch of evaluation blocks.

    Parameters
    ----------
    inputs : torch.Tensor
        int64, ``(batch, block_size)``; the tail of a last partial block holds the pad id.
    targets : torch.Tensor
        int64, ``(batch, block_size)``; :data:`IGNORE_INDEX` where nothing is scored.
    characters : torch.Tensor
        int64, ``(batch, block_size)``: characters each target accounts for (0 where ignored).
    num_bytes : torch.Tensor
        int64, ``(batch, block_size)``: UTF-8 bytes each target accounts for (0 where ignored).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    characters: torch.Tensor
    num_bytes: torch.Tensor


def eval_batches(packed: PackedSplit, block_size: int, batch_size: int) -> Iterator[EvalBatch]:
    """Cover the whole packed split exactly once, in order, in non-overlapping blocks.

    Block ``k`` has inputs ``tokens[k·T : k·T+T]`` and targets ``tokens[k·T+1 : k·T+T+1]``
    (``T = block_size``); every position ``1 … n-1`` is a target exactly once. The last block is
    completed with the pad id in the inputs and :data:`IGNORE_INDEX` in the targets (and zero
    characters), never scored. The last batch may hold fewer blocks.

    Parameters
    ----------
    packed : PackedSplit
        The packed validation split.
    block_size : int
        Tokens per block.
    batch_size : int
        Blocks per batch.

    Yields
    ------
    EvalBatch
        The batches.
    """
    if not isinstance(packed, PackedSplit):
        raise TypeError(f"packed must be a PackedSplit, got {type(packed).__name__}")
    block_size = _check_positive_int("block_size", block_size)
    batch_size = _check_positive_int("batch_size", batch_size)
    targets_total = packed.num_targets
    blocks = math.ceil(targets_total / block_size)
    size = blocks * block_size
    inputs = torch.full((size,), packed.pad_id, dtype=torch.int64)
    targets = torch.full((size,), IGNORE_INDEX, dtype=torch.int64)
    characters = torch.zeros(size, dtype=torch.int64)
    num_bytes = torch.zeros(size, dtype=torch.int64)
    inputs[:targets_total] = packed.tokens[:-1]
    targets[:targets_total] = packed.tokens[1:]
    characters[:targets_total] = packed.characters[1:]
    num_bytes[:targets_total] = packed.num_bytes[1:]
    shape = (blocks, block_size)
    inputs, targets = inputs.view(shape), targets.view(shape)
    characters, num_bytes = characters.view(shape), num_bytes.view(shape)
    for start in range(0, blocks, batch_size):
        rows = slice(start, start + batch_size)
        yield EvalBatch(inputs[rows], targets[rows], characters[rows], num_bytes[rows])


def _target_device(model: object, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if isinstance(model, torch.nn.Module):
        for parameter in model.parameters():
            return parameter.device
    return torch.device("cpu")


def _logits_of(model: Callable[[torch.Tensor], object], inputs: torch.Tensor) -> torch.Tensor:
    output = model(inputs)
    logits = output[0] if isinstance(output, tuple) else output
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != inputs.shape:
        raise ValueError("the model must map (batch, block) ids to (batch, block, vocab) logits")
    return logits


@torch.no_grad()
def evaluate_model(
    model: Callable[[torch.Tensor], torch.Tensor],
    packed: PackedSplit,
    block_size: int,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> BitsReport:
    """Honest evaluation over the whole packed split: summed nats, tokens, characters, bytes.

    The cross-entropy of each scored position is computed in float32 from the logits and summed
    in float64; ignored positions contribute nothing. A ``torch.nn.Module`` is put in eval mode
    for the pass and restored afterwards.

    Parameters
    ----------
    model : callable
        Maps int64 ids ``(batch, block_size)`` to logits ``(batch, block_size, vocab)`` (or a
        tuple whose first element is the logits).
    packed : PackedSplit
        The packed validation split.
    block_size : int
        Tokens per block (at most the model's context length).
    batch_size : int, optional
        Blocks per forward pass.
    device : str or torch.device, optional
        Where the inputs go (default: the device of the model's first parameter, else the CPU).

    Returns
    -------
    BitsReport
        Totals and the rates derived from them.
    """
    device = _target_device(model, device)
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()
    nats = 0.0
    tokens = characters = num_bytes = 0
    try:
        for batch in eval_batches(packed, block_size, batch_size):
            logits = _logits_of(model, batch.inputs.to(device))
            targets = batch.targets.to(logits.device)
            losses = torch.nn.functional.cross_entropy(
                logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none"
            )
            nats += float(losses.double().sum())
            tokens += int((batch.targets != IGNORE_INDEX).sum())
            characters += int(batch.characters.sum())
            num_bytes += int(batch.num_bytes.sum())
    finally:
        if was_training:
            model.train()
    return BitsReport(nats, tokens, characters, num_bytes)


def padded_document_batches(
    documents: Iterable[str], tokenizer: Tokenizer, block_size: int, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Seed-style blocks, for the diagnostic only: one document per row, truncated or padded.

    Each row is ``[EOT] + encode(document) + [EOT]`` cut to ``block_size + 1`` tokens and filled up
    with the pad id; inputs and targets are that row shifted by one, and the pad targets are
    *not* masked (this is the scoring the seed models used). Text beyond the block is never seen.

    Parameters
    ----------
    documents : iterable of str
        The documents.
    tokenizer : Tokenizer
        The tokenizer.
    block_size : int
        Tokens per row.
    batch_size : int
        Rows per batch.

    Yields
    ------
    tuple of torch.Tensor
        ``(inputs, targets, pad_mask)``: int64 ids and a boolean mask of the pad targets, each of
        shape ``(rows, block_size)``.
    """
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a Tokenizer, got {type(tokenizer).__name__}")
    block_size = _check_positive_int("block_size", block_size)
    batch_size = _check_positive_int("batch_size", batch_size)
    rows: list[list[int]] = []
    for document in documents:
        ids = [tokenizer.eot_id, *tokenizer.encode(document), tokenizer.eot_id][: block_size + 1]
        rows.append(ids + [tokenizer.pad_id] * (block_size + 1 - len(ids)))
        if len(rows) == batch_size:
            yield _padded_batch(rows, tokenizer.pad_id)
            rows = []
    if rows:
        yield _padded_batch(rows, tokenizer.pad_id)


def _padded_batch(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    block = torch.tensor(rows, dtype=torch.int64)
    targets = block[:, 1:]
    return block[:, :-1], targets, targets == pad_id


@torch.no_grad()
def evaluate_padded(
    model: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    device: str | torch.device | None = None,
) -> PaddedLoss:
    """Seed-style scoring of :func:`padded_document_batches`: losses split into real and pad targets.

    Parameters
    ----------
    model : callable
        Maps int64 ids ``(batch, block)`` to logits ``(batch, block, vocab)`` (or a tuple whose
        first element is the logits).
    batches : iterable of tuple of torch.Tensor
        ``(inputs, targets, pad_mask)`` from :func:`padded_document_batches`.
    device : str or torch.device, optional
        Where the inputs go (default: the device of the model's first parameter, else the CPU).

    Returns
    -------
    PaddedLoss
        Summed nats and counts of real and pad targets; ``loss_with_padding`` is the seed-style loss.
    """
    device = _target_device(model, device)
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()
    real_nats = pad_nats = 0.0
    real_tokens = pad_tokens = 0
    try:
        for inputs, targets, pad_mask in batches:
            logits = _logits_of(model, inputs.to(device))
            losses = torch.nn.functional.cross_entropy(
                logits.float().flatten(0, 1), targets.to(logits.device).flatten(), reduction="none"
            ).double()
            mask = pad_mask.to(logits.device).flatten()
            pad_nats += float(losses[mask].sum())
            real_nats += float(losses[~mask].sum())
            pad_tokens += int(mask.sum())
            real_tokens += int((~mask).sum())
    finally:
        if was_training:
            model.train()
    return PaddedLoss(real_nats, real_tokens, pad_nats, pad_tokens)
