"""Tokenizers: lossless round trips (unicode included), exact character counts, deterministic
SentencePiece training, save/load."""

from __future__ import annotations

import io
import json

import pytest
import sentencepiece as spm
from hypothesis import given, settings
from hypothesis import strategies as st

from leechkit.models.data import MissingDataError, pydoc_topics, python_docs
from leechkit.models.tokenizer import (
    END_OF_TEXT,
    ByteTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    load_tokenizer,
)

SAMPLES = [
    "",
    "plain ASCII text.",
    "  leading spaces,\ttabs\n\nand  double  spaces  \n",
    "Unicode: café, naïve, Ærøskøbing, Δ ≤ ∞, 日本語のテキスト, emoji 🦀🐍, combining e\u0301",
    "SentencePiece's space symbol ▁ itself, and ▁▁ twice",
    f"a literal {END_OF_TEXT} inside a document",
    "\x00 control \x1e characters \r\n and a lone\rCR",
]


@pytest.fixture(scope="module")
def sp() -> SentencePieceTokenizer:
    return SentencePieceTokenizer.train(pydoc_topics().documents("train"), vocab_size=1024)


def tokenizers(sp: SentencePieceTokenizer) -> list[Tokenizer]:
    return [ByteTokenizer(), sp]


def check_round_trip(tokenizer: Tokenizer, text: str) -> None:
    ids = tokenizer.encode(text)
    assert all(0 <= i < tokenizer.vocab_size for i in ids)
    assert tokenizer.eot_id not in ids and tokenizer.pad_id not in ids
    assert tokenizer.decode(ids) == text
    assert b"".join(tokenizer.token_bytes(i) for i in ids) == text.encode("utf-8")
    chars, nbytes = tokenizer.character_counts(), tokenizer.byte_counts()
    assert sum(chars[i] for i in ids) == len(text)
    assert sum(nbytes[i] for i in ids) == len(text.encode("utf-8"))


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_samples(sp, text):
    for tokenizer in tokenizers(sp):
        check_round_trip(tokenizer, text)


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_round_trip_any_string(sp, text):
    check_round_trip(sp, text)


def test_round_trip_real_text(sp):
    validation = list(pydoc_topics().documents("valid"))
    try:
        validation += list(python_docs().documents("valid"))[:3]
    except MissingDataError:
        pass  # the shared corpus is optional here; the embedded one is always present
    encoded = sp.encode_batch(validation)
    for text, ids in zip(validation, encoded):
        assert sp.decode(ids) == text
        assert ids == sp.encode(text)
    # BPE compresses real prose: well over one character per token on held-out text
    assert sum(map(len, validation)) / sum(map(len, encoded)) > 2.2


def test_special_tokens(sp):
    byte = ByteTokenizer()
    assert (byte.vocab_size, byte.eot_id, byte.pad_id) == (258, 256, 257)
    assert (sp.vocab_size, sp.eot_id, sp.pad_id) == (1024, 2, 0)
    for tokenizer in tokenizers(sp):
        assert tokenizer.character_counts()[tokenizer.eot_id] == 1
        assert tokenizer.character_counts()[tokenizer.pad_id] == 0
        assert tokenizer.token_bytes(tokenizer.eot_id) == b""
        ids = [tokenizer.eot_id, *tokenizer.encode("ab"), tokenizer.pad_id, tokenizer.eot_id]
        assert tokenizer.decode(ids) == f"{END_OF_TEXT}ab{END_OF_TEXT}"
        with pytest.raises(ValueError, match="outside"):
            tokenizer.decode([tokenizer.vocab_size])
    assert sp.piece(sp.eot_id) == END_OF_TEXT and sp.piece(3) == "<0x00>"


def test_training_is_deterministic(sp):
    again = SentencePieceTokenizer.train(pydoc_topics().documents("train"), vocab_size=1024)
    assert again.model_proto == sp.model_proto
    assert again == sp


def test_vocab_size_is_configurable():
    documents = list(pydoc_topics().documents("train"))[:20]
    assert SentencePieceTokenizer.train(documents, vocab_size=400).vocab_size == 400


def test_save_load(sp, tmp_path):
    for tokenizer, folder in ((ByteTokenizer(), tmp_path / "bytes"), (sp, tmp_path / "sp")):
        assert tokenizer.save(folder) == folder
        loaded = load_tokenizer(folder)
        assert loaded == tokenizer and type(loaded) is type(tokenizer)
        assert loaded.encode(SAMPLES[3]) == tokenizer.encode(SAMPLES[3])
        config = json.loads((folder / "tokenizer.json").read_text())
        assert config["kind"] == tokenizer.kind and config["vocab_size"] == tokenizer.vocab_size


def test_bad_input(sp, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json"):
        load_tokenizer(tmp_path / "missing")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "tokenizer.json").write_text('{"kind": "wordpiece"}')
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        load_tokenizer(tmp_path / "odd")
    with pytest.raises(ValueError, match="vocab_size"):
        SentencePieceTokenizer.train(["some text"], vocab_size=100)
    with pytest.raises(ValueError, match="empty corpus"):
        SentencePieceTokenizer.train(["", "  \n"])
    with pytest.raises(TypeError):
        SentencePieceTokenizer.train("a single string")
    with pytest.raises(TypeError):
        sp.encode(b"bytes")
    with pytest.raises(TypeError):
        ByteTokenizer().encode(3)
    with pytest.raises(ValueError):
        sp.encode("lone surrogate \ud800")
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        SentencePieceTokenizer(b"not a model")
    plain = io.BytesIO()  # SentencePiece's default id layout: <unk>, <s>, </s>, no byte tokens
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(pydoc_topics().documents("valid"))),
        model_writer=plain,
        vocab_size=300,
        minloglevel=2,
    )
    with pytest.raises(ValueError, match="id layout"):
        SentencePieceTokenizer(plain.getvalue())
