"""Corpora and packing: reading formats, deterministic splits, packing that never drops or
duplicates a character, evaluation that covers the split exactly once with padding only as
ignore_index, reproducible and resumable training batches, exact bits per character."""

from __future__ import annotations

import json
import math
import sys
from fractions import Fraction

import pytest
import torch

from leechkit.models.data import (
    DATA_DIR_ENV,
    DOCUMENT_END,
    END_OF_TEXT,
    IGNORE_INDEX,
    Corpus,
    MissingDataError,
    data_directory,
    eval_batches,
    evaluate_model,
    evaluate_padded,
    huggingface_corpus,
    is_validation_document,
    load_corpus,
    local_corpus,
    pack_documents,
    padded_document_batches,
    pydoc_topics,
    python_docs,
    read_documents,
    tinystories_sample,
    train_batches,
)
from leechkit.models.tokenizer import ByteTokenizer, SentencePieceTokenizer

SHARED = data_directory()
needs_shared = pytest.mark.skipif(
    not (SHARED / "python-docs" / "valid.txt").is_file(),
    reason=f"shared corpora not found at {SHARED} (set {DATA_DIR_ENV})",
)

DOCUMENTS = [
    "First document.\nIt has two lines.",
    "Unicode: café, Δ ≤ ∞, 日本語, 🦀🐍 and SentencePiece's ▁ symbol.",
    f"A document quoting the separator {END_OF_TEXT} in running text.",
    "  indented\n\n\nwith blank lines inside and trailing spaces  ",
    "x",
]


@pytest.fixture(scope="module")
def sp() -> SentencePieceTokenizer:
    return SentencePieceTokenizer.train(pydoc_topics().documents("train"), vocab_size=512)


# --------------------------------------------------------------------------- reading


def test_read_endoftext(tmp_path):
    path = tmp_path / "corpus.txt"
    text = f"one\ntwo\n{END_OF_TEXT}\n\nthree\n{END_OF_TEXT}\n{END_OF_TEXT}\nfour\n\n"
    path.write_text(text, encoding="utf-8")
    assert list(read_documents(path)) == ["one\ntwo", "\nthree", "four\n"]
    assert list(read_documents(path, "endoftext")) == ["one\ntwo", "\nthree", "four\n"]


def test_read_paragraphs(tmp_path):
    path = tmp_path / "stories.txt"
    path.write_text("\n\nFirst para\nline two\n\n  \n\nSecond\n", encoding="utf-8")
    assert list(read_documents(path)) == ["First para\nline two", "Second"]


def test_read_jsonl(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rows = [{"text": "alpha"}, {"text": "β\nγ", "id": 2}, {"text": "   "}, {"text": "delta"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert list(read_documents(path)) == ["alpha", "β\nγ", "delta"]
    other = tmp_path / "other.jsonl"
    other.write_text('{"body": "x"}\n', encoding="utf-8")
    assert list(read_documents(other, text_field="body")) == ["x"]
    with pytest.raises(ValueError, match=r"other\.jsonl:1"):
        list(read_documents(other))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.jsonl:2: not valid JSON"):
        list(read_documents(broken))


def test_read_errors(tmp_path):
    with pytest.raises(MissingDataError, match="does not exist"):
        read_documents(tmp_path / "absent.txt")
    with pytest.raises(ValueError):  # MissingDataError is also a ValueError
        read_documents(tmp_path / "absent.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no documents"):
        list(read_documents(empty))
    with pytest.raises(ValueError, match="format"):
        read_documents(empty, format="csv")
    with pytest.raises(TypeError):
        read_documents(3)


# --------------------------------------------------------------------------- splits and corpora


def test_hash_split_is_deterministic_and_near_fraction():
    documents = [f"document number {i}" for i in range(4000)]
    flags = [is_validation_document(d, 0.1) for d in documents]
    assert flags == [is_validation_document(d, 0.1) for d in documents]
    assert 0.085 < sum(flags) / len(flags) < 0.115
    assert is_validation_document("same text", 0.3) == is_validation_document("same text", 0.3)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="strictly between"):
            is_validation_document("x", bad)
    with pytest.raises(TypeError):
        is_validation_document("x", "0.1")
    with pytest.raises(TypeError):
        is_validation_document(b"x", 0.1)


def test_local_corpus_split_partitions(tmp_path):
    documents = [f"document {i}\nbody {i * i}" for i in range(300)]
    path = tmp_path / "all.txt"
    path.write_text(f"\n{END_OF_TEXT}\n".join(documents) + "\n", encoding="utf-8")
    corpus = local_corpus(path, valid_fraction=0.2)
    train, valid = list(corpus.documents("train")), list(corpus.documents("valid"))
    assert sorted(train + valid) == sorted(documents)
    assert not set(train) & set(valid) and 30 < len(valid) < 90
    assert train == list(corpus.documents("train"))  # re-readable, same order
    separate = local_corpus(path, valid_path=path)
    assert list(separate.documents("valid")) == documents
    with pytest.raises(ValueError, match="split"):
        corpus.documents("test")
    with pytest.raises(MissingDataError):
        local_corpus(tmp_path / "absent.txt")
    with pytest.raises(ValueError, match="strictly between"):
        local_corpus(path, valid_fraction=0)


def test_corpus_text_and_statistics():
    corpus = Corpus("toy", lambda: DOCUMENTS, lambda: DOCUMENTS[:2])
    text = corpus.text("valid")
    assert text == DOCUMENTS[0] + DOCUMENT_END + DOCUMENTS[1] + DOCUMENT_END
    stats = corpus.statistics("valid")
    assert stats.documents == 2 and stats.evaluated_characters == len(text)
    assert stats.num_bytes == sum(len(d.encode()) for d in DOCUMENTS[:2])
    empty = Corpus("empty", lambda: DOCUMENTS, lambda: [])
    with pytest.raises(ValueError, match="valid split of corpus 'empty' is empty"):
        empty.statistics("valid")
    with pytest.raises(TypeError):
        Corpus("bad", DOCUMENTS, lambda: [])


def test_pydoc_topics_embedded_corpus():
    from pydoc_data.topics import topics

    corpus = pydoc_topics()
    train, valid = corpus.statistics("train"), corpus.statistics("valid")
    assert train.documents + valid.documents == len(topics)
    total = train.characters + valid.characters
    assert total == sum(map(len, topics.values()))
    assert 400_000 < total < 550_000  # about 0.46 MB of English prose
    assert 0.09 < valid.characters / total <= 0.1
    assert list(corpus.documents("valid")) == list(pydoc_topics().documents("valid"))
    # topics repeat each other; the split keeps every shared paragraph on one side
    seen = {p.strip() for d in corpus.documents("train") for p in d.split("\n\n") if len(p.strip()) >= 80}
    assert not any(p.strip() in seen for d in corpus.documents("valid") for p in d.split("\n\n"))
    assert pydoc_topics(0.2).statistics("valid").characters > valid.characters
    with pytest.raises(ValueError):
        pydoc_topics(1.0)


def test_named_corpora_missing_path(tmp_path, monkeypatch):
    with pytest.raises(MissingDataError, match=str(tmp_path / "python-docs" / "train.txt")):
        python_docs(tmp_path)
    with pytest.raises(MissingDataError, match=r"stories-a\.txt"):
        tinystories_sample(tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "elsewhere"))
    assert data_directory() == tmp_path / "elsewhere"
    with pytest.raises(MissingDataError, match=DATA_DIR_ENV):
        load_corpus("python-docs")
    with pytest.raises(ValueError, match="unknown corpus"):
        load_corpus("no-such-corpus")
    assert load_corpus("pydoc-topics").name == "pydoc-topics"


def test_huggingface_loader_is_optional(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed; nothing is downloaded
    with pytest.raises(ImportError, match="pip install datasets"):
        huggingface_corpus()


@needs_shared
def test_shared_corpora():
    docs = python_docs()
    assert docs.statistics("valid").documents == 25
    assert sum(1 for _ in docs.documents("train")) == 472
    stories = tinystories_sample()
    assert stories.statistics("valid").documents == 5
    assert load_corpus("tinystories-sample").statistics("train").documents > 1000


# --------------------------------------------------------------------------- packing


def split_at_eot(tokens: list[int], eot: int) -> list[list[int]]:
    segments, current = [], []
    for token in tokens:
        if token == eot:
            segments.append(current)
            current = []
        else:
            current.append(token)
    segments.append(current)
    return segments


@pytest.mark.parametrize("kind", ["bytes", "sentencepiece"])
def test_packing_never_drops_or_duplicates_a_character(kind, sp):
    tokenizer = ByteTokenizer() if kind == "bytes" else sp
    documents = DOCUMENTS + list(pydoc_topics().documents("valid"))[:5]
    packed = pack_documents(iter(documents), tokenizer, chunk_documents=3)
    tokens = packed.tokens.tolist()
    assert tokens[0] == tokens[-1] == tokenizer.eot_id
    assert tokenizer.pad_id not in tokens
    segments = split_at_eot(tokens, tokenizer.eot_id)
    assert segments[0] == [] and segments[-1] == []
    assert [tokenizer.decode(s) for s in segments[1:-1]] == documents
    text = "".join(d + DOCUMENT_END for d in documents)
    assert packed.num_characters == len(text)
    assert packed.total_bytes == len(text.encode("utf-8"))
    assert packed.num_documents == len(documents) and packed.num_targets == len(tokens) - 1
    with pytest.raises(ValueError, match="no documents"):
        pack_documents([], tokenizer)
    with pytest.raises(TypeError):
        pack_documents("a string", tokenizer)


@pytest.mark.parametrize("block_size", [1, 7, 64, 10_000])
def test_eval_covers_the_split_exactly_once(block_size, sp):
    packed = pack_documents(DOCUMENTS, sp)
    targets, characters, n_batches = [], 0, 0
    for batch in eval_batches(packed, block_size, batch_size=3):
        n_batches += 1
        assert batch.inputs.shape == batch.targets.shape == batch.characters.shape
        assert batch.inputs.shape[1] == block_size and batch.inputs.shape[0] <= 3
        assert (batch.targets != sp.pad_id).all()  # padding never appears as a target
        ignored = batch.targets == IGNORE_INDEX
        assert (batch.characters[ignored] == 0).all() and (batch.num_bytes[ignored] == 0).all()
        assert (batch.inputs[ignored] == sp.pad_id).all() and (batch.inputs[~ignored] != sp.pad_id).all()
        targets += batch.targets.flatten().tolist()
        characters += int(batch.characters.sum())
    n = packed.num_targets
    blocks = math.ceil(n / block_size)
    assert n_batches == math.ceil(blocks / 3) and len(targets) == blocks * block_size
    assert targets[:n] == packed.tokens[1:].tolist()  # every position once, in order
    assert targets[n:] == [IGNORE_INDEX] * (blocks * block_size - n)  # only the last block's tail
    assert characters == packed.num_characters == len("".join(d + DOCUMENT_END for d in DOCUMENTS))


def test_train_batches_reproducible_resumable_sharded(sp):
    packed = pack_documents(list(pydoc_topics().documents("valid"))[:6], sp)
    tokens = packed.tokens
    stream = train_batches(packed, block_size=16, batch_size=4, seed=3)
    first = [next(stream) for _ in range(12)]
    for inputs, targets in first:
        assert inputs.shape == targets.shape == (4, 16) and inputs.dtype == torch.int64
        assert (targets != sp.pad_id).all() and (targets != IGNORE_INDEX).all()
        assert torch.equal(inputs[:, 1:], targets[:, :-1])
    again = train_batches(tokens, block_size=16, batch_size=4, seed=3)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, (next(again) for _ in range(12))))
    resumed = next(train_batches(packed, block_size=16, batch_size=4, seed=3, start_step=7))
    assert torch.equal(resumed[0], first[7][0]) and torch.equal(resumed[1], first[7][1])
    other_seed = next(train_batches(packed, block_size=16, batch_size=4, seed=4))
    assert not torch.equal(other_seed[0], first[0][0])
    # two ranks split each global batch of the single-process run with batch 8
    single = next(train_batches(packed, block_size=16, batch_size=8, seed=3))
    rank0 = next(train_batches(packed, block_size=16, batch_size=4, seed=3, rank=0, world_size=2))
    rank1 = next(train_batches(packed, block_size=16, batch_size=4, seed=3, rank=1, world_size=2))
    assert torch.equal(torch.cat([rank0[0], rank1[0]]), single[0])


def test_train_epoch_visits_each_block_once():
    tokens = torch.arange(1 + 5 * 10)  # 50 targets: 5 blocks of 10, no slack
    stream = train_batches(tokens, block_size=10, batch_size=5, seed=0)
    inputs, targets = next(stream)
    assert sorted(inputs[:, 0].tolist()) == [0, 10, 20, 30, 40]
    assert torch.equal(targets, inputs + 1)
    with pytest.raises(ValueError, match="too few"):
        next(train_batches(torch.arange(10), block_size=10, batch_size=1))
    with pytest.raises(ValueError, match="rank"):
        next(train_batches(tokens, block_size=10, batch_size=1, rank=2, world_size=2))
    with pytest.raises(TypeError):
        next(train_batches(tokens, block_size=10.0, batch_size=1))


# --------------------------------------------------------------------------- exact bits per character


class DyadicModel(torch.nn.Module):
    """Predicts the same distribution everywhere: a 1/2, b 1/4, c 1/8, end-of-text 1/8."""

    def __init__(self, vocab: int, probabilities: dict[int, float]) -> None:
        super().__init__()
        logits = torch.full((vocab,), -1e4)
        for token, p in probabilities.items():
            logits[token] = math.log(p)
        self.register_buffer("logits", logits)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(*ids.shape, -1)


def test_bpc_of_toy_distribution_is_its_entropy():
    tokenizer = ByteTokenizer()
    a, b, c = tokenizer.encode("abc")
    model = DyadicModel(tokenizer.vocab_size, {a: 0.5, b: 0.25, c: 0.125, tokenizer.eot_id: 0.125})
    # symbol frequencies equal the model's probabilities: 4 a, 2 b, 1 c, 1 end of document
    documents = ["abacaba", "baacaab"]
    packed = pack_documents(documents, tokenizer)
    for block_size in (3, 5, 64):
        report = evaluate_model(model, packed, block_size=block_size, batch_size=2)
        entropy = Fraction(1, 2) * 1 + Fraction(1, 4) * 2 + Fraction(1, 8) * 3 + Fraction(1, 8) * 3
        assert entropy == Fraction(7, 4)
        assert (report.tokens, report.characters, report.num_bytes) == (16, 16, 16)
        assert report.bits_per_character == pytest.approx(float(entropy), rel=1e-6)
        assert report.bits_per_character == pytest.approx(report.bits_per_byte, rel=1e-12)


def test_seed_style_padding_diagnostic():
    tokenizer = ByteTokenizer()
    model = DyadicModel(tokenizer.vocab_size, {ord("a"): 0.25, tokenizer.eot_id: 0.25, tokenizer.pad_id: 0.5})
    documents = ["aa", "aaaa", "aaaaaaaaaaaa"]
    batches = list(padded_document_batches(documents, tokenizer, block_size=8, batch_size=2))
    assert [inputs.shape[0] for inputs, _, _ in batches] == [2, 1]
    inputs, _, pad_mask = batches[0]
    assert inputs[0].tolist()[:4] == [tokenizer.eot_id, 97, 97, tokenizer.eot_id]
    assert pad_mask[0].tolist() == [False] * 3 + [True] * 5
    loss = evaluate_padded(model, batches)
    assert (loss.real_tokens, loss.pad_tokens) == (3 + 5 + 8, 5 + 3)
    assert loss.loss_without_padding == pytest.approx(math.log(4), rel=1e-6)
    assert loss.loss_with_padding < loss.loss_without_padding  # padding flatters the loss
