"""Tokenizers for the language-model layer: SentencePiece BPE and a byte-level tokenizer.

Both map any Python string (valid Unicode, no lone surrogates) to token ids and back without
loss, expose their special tokens (the end-of-text separator that the packer puts between
documents, and a pad token), and know the exact UTF-8 bytes each token stands for. Those bytes
give every token an exact number of characters and bytes (:meth:`Tokenizer.character_counts`,
:meth:`Tokenizer.byte_counts`), which is how :mod:`leechkit.models.data` counts the characters of
the evaluated text for bits per character.

* :class:`SentencePieceTokenizer` — BPE trained with SentencePiece on the training split only
  (:meth:`SentencePieceTokenizer.train`, vocabulary 2048 by default as in the seed models), with
  byte fallback, identity normalization, no dummy prefix and no whitespace collapsing, so that
  ``decode(encode(s)) == s`` for every string. Training is deterministic: no sentence sampling,
  no shuffling, one thread.
* :class:`ByteTokenizer` — the 256 bytes of UTF-8 plus the two special tokens (vocabulary 258).

A tokenizer is saved into a directory (``tokenizer.json``, and ``tokenizer.model`` for
SentencePiece) so that a checkpoint directory carries it; :func:`load_tokenizer` reads either kind.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "END_OF_TEXT",
    "PAD",
    "ByteTokenizer",
    "SentencePieceTokenizer",
    "Tokenizer",
    "load_tokenizer",
]

END_OF_TEXT = "<|endoftext|>"
"""Name of the separator token placed between packed documents (also the end-of-document mark)."""

PAD = "<pad>"
"""Name of the pad token (never placed inside packed training data)."""

_CONFIG_FILE = "tokenizer.json"
_SP_MODEL_FILE = "tokenizer.model"
_SP_SPACE = "\u2581"  # SentencePiece's visible space; a literal one in the text is encoded as bytes
_SP_CHUNK_BYTES = 4000  # training sentences: whole lines of a document, up to this many UTF-8 bytes


def _lead_bytes(data: bytes) -> int:
    """Number of UTF-8 lead bytes (bytes that start a character) in ``data``."""
    return sum(1 for b in data if b & 0xC0 != 0x80)


class Tokenizer(ABC):
    """Common interface of the tokenizers: encode, decode, special ids, exact token bytes, save.

    Subclasses define :meth:`encode`, :meth:`token_bytes`, :attr:`vocab_size`, the special ids and
    :meth:`save`; decoding and the per-token character and byte counts follow from
    :meth:`token_bytes`.
    """

    kind: str = ""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of token ids (all ids lie in ``range(vocab_size)``)."""

    @property
    @abstractmethod
    def eot_id(self) -> int:
        """Id of the end-of-text token, the separator between packed documents."""

    @property
    @abstractmethod
    def pad_id(self) -> int:
        """Id of the pad token (used only where padding is unavoidable, and then masked)."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens added).

        Parameters
        ----------
        text : str
            Any Unicode string without lone surrogates.

        Returns
        -------
        list of int
            Ids whose :meth:`token_bytes` concatenate to ``text.encode("utf-8")``.
        """

    @abstractmethod
    def token_bytes(self, token_id: int) -> bytes:
        """The UTF-8 bytes a token stands for (``b""`` for the special tokens).

        Parameters
        ----------
        token_id : int
            A token id in ``range(vocab_size)``.

        Returns
        -------
        bytes
            The token's surface bytes.
        """

    @abstractmethod
    def save(self, directory: str | Path) -> Path:
        """Write the tokenizer into ``directory`` (created if needed).

        Parameters
        ----------
        directory : str or Path
            Target directory, e.g. a checkpoint directory.

        Returns
        -------
        Path
            The directory.
        """

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """Token ids of several texts (:meth:`encode` applied to each).

        Parameters
        ----------
        texts : iterable of str
            The texts.

        Returns
        -------
        list of list of int
            One id list per text, in order.
        """
        return [self.encode(text) for text in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a sequence of ids; the end-of-text token is written as ``<|endoftext|>``.

        Pad tokens are skipped. Byte sequences that are not valid UTF-8 (a sequence cut inside a
        character) are decoded with the replacement character.

        Parameters
        ----------
        ids : iterable of int
            Token ids.

        Returns
        -------
        str
            The decoded text.
        """
        table = self._byte_table()
        eot, pad = self.eot_id, self.pad_id
        parts: list[str] = []
        run = bytearray()
        for token in ids:
            token = int(token)
            self._check_id(token)
            if token == eot:
                parts.append(run.decode("utf-8", errors="replace"))
                parts.append(END_OF_TEXT)
                run = bytearray()
            elif token != pad:
                run += table[token]
        parts.append(run.decode("utf-8", errors="replace"))
        return "".join(parts)

    def character_counts(self) -> list[int]:
        """Characters each token accounts for: its UTF-8 lead bytes; 1 for end-of-text, 0 for pad.

        Summed over the tokens of a text, the counts give exactly ``len(text)``, whatever the
        segmentation (a character split across byte tokens is counted at its first byte). The
        end-of-text token counts as one character: the end-of-document mark that a model must
        predict.

        Returns
        -------
        list of int
            ``counts[i]`` for every token id ``i``.
        """
        table = self._byte_table()
        counts = [_lead_bytes(data) for data in table]
        counts[self.eot_id] = 1
        counts[self.pad_id] = 0
        return counts

    def byte_counts(self) -> list[int]:
        """UTF-8 bytes each token accounts for; 1 for end-of-text, 0 for pad.

        Returns
        -------
        list of int
            ``counts[i]`` for every token id ``i``.
        """
        counts = [len(data) for data in self._byte_table()]
        counts[self.eot_id] = 1
        counts[self.pad_id] = 0
        return counts

    def _byte_table(self) -> list[bytes]:
        cached = self.__dict__.get("_bytes_cache")
        if cached is None:
            cached = [self.token_bytes(i) for i in range(self.vocab_size)]
            self.__dict__["_bytes_cache"] = cached
        return cached

    def _check_id(self, token: int) -> None:
        if not 0 <= token < self.vocab_size:
            raise ValueError(f"token id {token} outside range({self.vocab_size})")


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


class ByteTokenizer(Tokenizer):
    """Byte-level tokenizer: ids 0–255 are the UTF-8 bytes, 256 is end-of-text, 257 is pad.

    Needs no training; every string round-trips. The reference tokenizer for bits per byte
    (one token per byte, so bits per token equal bits per byte).
    """

    kind = "bytes"

    @property
    def vocab_size(self) -> int:
        """Number of token ids: 258."""
        return 258

    @property
    def eot_id(self) -> int:
        """Id of the end-of-text token: 256."""
        return 256

    @property
    def pad_id(self) -> int:
        """Id of the pad token: 257."""
        return 257

    def encode(self, text: str) -> list[int]:
        """UTF-8 bytes of ``text`` as ids.

        Parameters
        ----------
        text : str
            Any Unicode string without lone surrogates.

        Returns
        -------
        list of int
            One id per byte.
        """
        return list(_check_text(text).encode("utf-8"))

    def token_bytes(self, token_id: int) -> bytes:
        """The byte of a byte token, ``b""`` for the special tokens.

        Parameters
        ----------
        token_id : int
            A token id in ``range(258)``.

        Returns
        -------
        bytes
            One byte, or empty.
        """
        self._check_id(token_id)
        return bytes([token_id]) if token_id < 256 else b""

    def save(self, directory: str | Path) -> Path:
        """Write ``tokenizer.json`` (kind ``"bytes"``) into ``directory``.

        Parameters
        ----------
        directory : str or Path
            Target directory (created if needed).

        Returns
        -------
        Path
            The directory.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config = {"kind": self.kind, "vocab_size": 258, "eot_id": self.eot_id, "pad_id": self.pad_id}
        (path / _CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByteTokenizer)

    def __hash__(self) -> int:
        return hash(self.kind)

    def __repr__(self) -> str:
        return "ByteTokenizer()"


def _training_sentences(documents: Iterable[str], max_bytes: int = _SP_CHUNK_BYTES) -> Iterator[str]:
    """Cut documents into SentencePiece training sentences: runs of whole lines (newlines kept)
    of at most ``max_bytes`` UTF-8 bytes; a longer line is cut into pieces of ``max_bytes // 4``
    characters."""
    for document in documents:
        _check_text(document)
        buffer, size = [], 0
        for line in document.splitlines(keepends=True):
            pieces = [line]
            if len(line.encode("utf-8")) > max_bytes:
                step = max_bytes // 4
                pieces = [line[i : i + step] for i in range(0, len(line), step)]
            for piece in pieces:
                piece_size = len(piece.encode("utf-8"))
                if buffer and size + piece_size > max_bytes:
                    yield "".join(buffer)
                    buffer, size = [], 0
                buffer.append(piece)
                size += piece_size
        if buffer:
            yield "".join(buffer)


class SentencePieceTokenizer(Tokenizer):
    """SentencePiece BPE with byte fallback; lossless on every string.

    Ids: 0 is pad (``<pad>``), 1 is SentencePiece's ``<unk>`` (never produced: byte fallback
    covers every character), 2 is end-of-text (``<|endoftext|>``), 3–258 are the byte tokens
    ``<0x00>``–``<0xFF>``, the rest are the learned pieces. The text is not normalized (identity
    rule, no whitespace collapsing, no dummy prefix), so a token's bytes are exactly the text it
    covers. A literal ``▁`` (U+2581, SentencePiece's space symbol) is encoded through its three
    byte tokens.

    Parameters
    ----------
    model_proto : bytes
        A serialized SentencePiece model with the id layout above (from :meth:`train` or a saved
        directory).
    """

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece as spm

        if not isinstance(model_proto, (bytes, bytearray)):
            raise TypeError(f"model_proto must be bytes, got {type(model_proto).__name__}")
        self._proto = bytes(model_proto)
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=self._proto)
        except RuntimeError as error:
            raise ValueError(f"model_proto is not a SentencePiece model: {error}") from error
        expected = {0: PAD, 1: "<unk>", 2: END_OF_TEXT, 3: "<0x00>", 258: "<0xFF>"}
        if self._sp.get_piece_size() <= 258 or any(
            self._sp.id_to_piece(i) != piece for i, piece in expected.items()
        ):
            raise ValueError("model_proto is not a leechkit SentencePiece model (unexpected id layout)")
        self._space_ids = [3 + b for b in _SP_SPACE.encode("utf-8")]

    @classmethod
    def train(cls, documents: Iterable[str], vocab_size: int = 2048) -> SentencePieceTokenizer:
        """Train BPE on documents (pass the training split only).

        Documents are cut into training sentences of whole lines, at most 4000 UTF-8 bytes each,
        newlines kept (so pieces such as ``"\\n\\n"`` can be learned). Every sentence is used, in
        order, with one thread: the same documents give the same model bytes.

        Parameters
        ----------
        documents : iterable of str
            Training documents, e.g. ``corpus.documents("train")``.
        vocab_size : int, optional
            Vocabulary size including the 3 special and 256 byte tokens (at least 260). The
            training text must be rich enough to yield that many pieces.

        Returns
        -------
        SentencePieceTokenizer
            The trained tokenizer.

        Raises
        ------
        ValueError
            If ``vocab_size`` is too small, the documents are empty, or SentencePiece cannot
            reach ``vocab_size`` pieces on this text.
        """
        import sentencepiece as spm

        if isinstance(documents, str):
            raise TypeError("documents must be an iterable of str, not a single str")
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 260:
            raise ValueError(f"vocab_size must be an int >= 260, got {vocab_size!r}")
        sentences = [s for s in _training_sentences(documents) if s.strip()]
        if not sentences:
            raise ValueError("cannot train a tokenizer on an empty corpus")
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=model,
                model_type="bpe",
                vocab_size=vocab_size,
                byte_fallback=True,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                add_dummy_prefix=False,
                allow_whitespace_only_pieces=True,
                character_coverage=0.9995,
                input_sentence_size=0,
                shuffle_input_sentence=False,
                max_sentence_length=4 * _SP_CHUNK_BYTES,
                num_threads=1,
                pad_id=0,
                unk_id=1,
                eos_id=2,
                bos_id=-1,
                pad_piece=PAD,
                eos_piece=END_OF_TEXT,
                minloglevel=2,
            )
        except RuntimeError as error:
            raise ValueError(f"SentencePiece training failed (vocab_size={vocab_size}): {error}") from error
        return cls(model.getvalue())

    @property
    def model_proto(self) -> bytes:
        """The serialized SentencePiece model."""
        return self._proto

    @property
    def vocab_size(self) -> int:
        """Number of token ids (the trained vocabulary size)."""
        return self._sp.get_piece_size()

    @property
    def eot_id(self) -> int:
        """Id of the end-of-text token: 2."""
        return 2

    @property
    def pad_id(self) -> int:
        """Id of the pad token: 0."""
        return 0

    def piece(self, token_id: int) -> str:
        """SentencePiece's name of a token (``▁`` for spaces, ``<0x41>`` for byte tokens).

        Parameters
        ----------
        token_id : int
            A token id.

        Returns
        -------
        str
            The piece.
        """
        self._check_id(token_id)
        return self._sp.id_to_piece(token_id)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``.

        Parameters
        ----------
        text : str
            Any Unicode string without lone surrogates.

        Returns
        -------
        list of int
            Ids whose :meth:`token_bytes` concatenate to ``text.encode("utf-8")``.
        """
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """Token ids of several texts (one SentencePiece call for all of them).

        Parameters
        ----------
        texts : iterable of str
            The texts.

        Returns
        -------
        list of list of int
            One id list per text, in order.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of str, not a single str")
        texts = [_check_text(text) for text in texts]
        for text in texts:
            text.encode("utf-8")  # lone surrogates raise UnicodeEncodeError (a ValueError) here
        segments = [text.split(_SP_SPACE) for text in texts]
        flat = [segment for parts in segments for segment in parts]
        encoded = iter(self._sp.encode(flat, num_threads=1)) if flat else iter(())
        result = []
        for parts in segments:
            ids: list[int] = []
            for k in range(len(parts)):
                if k:
                    ids.extend(self._space_ids)
                ids.extend(next(encoded))
            result.append(ids)
        return result

    def token_bytes(self, token_id: int) -> bytes:
        """The UTF-8 bytes a token stands for (``▁`` read as a space; ``b""`` for specials).

        Parameters
        ----------
        token_id : int
            A token id.

        Returns
        -------
        bytes
            The token's surface bytes.
        """
        self._check_id(token_id)
        if token_id < 3:
            return b""
        if token_id < 259:
            return bytes([token_id - 3])
        return self._sp.id_to_piece(token_id).replace(_SP_SPACE, " ").encode("utf-8")

    def save(self, directory: str | Path) -> Path:
        """Write ``tokenizer.json`` and ``tokenizer.model`` into ``directory``.

        Parameters
        ----------
        directory : str or Path
            Target directory (created if needed).

        Returns
        -------
        Path
            The directory.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / _SP_MODEL_FILE).write_bytes(self._proto)
        config = {
            "kind": self.kind,
            "model": _SP_MODEL_FILE,
            "vocab_size": self.vocab_size,
            "eot_id": self.eot_id,
            "pad_id": self.pad_id,
        }
        (path / _CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SentencePieceTokenizer) and other._proto == self._proto

    def __hash__(self) -> int:
        return hash(self._proto)

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer(vocab_size={self.vocab_size})"


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Read a tokenizer saved with :meth:`Tokenizer.save`.

    Parameters
    ----------
    directory : str or Path
        A directory holding ``tokenizer.json`` (and ``tokenizer.model`` for SentencePiece).

    Returns
    -------
    Tokenizer
        A :class:`ByteTokenizer` or :class:`SentencePieceTokenizer`.

    Raises
    ------
    FileNotFoundError
        If ``tokenizer.json`` or the model file is missing.
    ValueError
        If the configuration names an unknown kind.
    """
    path = Path(directory)
    config_path = path / _CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"no tokenizer in {path}: {config_path} is missing")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    kind = config.get("kind")
    if kind == ByteTokenizer.kind:
        return ByteTokenizer()
    if kind == SentencePieceTokenizer.kind:
        model_path = path / config.get("model", _SP_MODEL_FILE)
        if not model_path.is_file():
            raise FileNotFoundError(f"SentencePiece model {model_path} is missing")
        return SentencePieceTokenizer(model_path.read_bytes())
    raise ValueError(f"unknown tokenizer kind {kind!r} in {config_path}")
