"""The compressor reference on texts whose answer is known: i.i.d. symbols (bpc at least the
entropy, not far above it), a text conditioned on itself (nearly free)."""

from __future__ import annotations

import math
import random
import shutil

import pytest

from leechkit.models.compression import (
    COMPRESSORS,
    available_compressors,
    compressed_size,
    compression_reference,
    format_compression_table,
)

HAVE_ZPAQ = shutil.which("zpaq") is not None
HAVE_XZ = shutil.which("xz") is not None
needs_zpaq = pytest.mark.skipif(
    not HAVE_ZPAQ, reason="the zpaq program is not installed (apt-get install zpaq)"
)

# i.i.d. source over four letters with dyadic probabilities: entropy 1.75 bits per character
PROBABILITIES = {"a": 0.5, "b": 0.25, "c": 0.125, "d": 0.125}
ENTROPY = -sum(p * math.log2(p) for p in PROBABILITIES.values())


def iid_text(length: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choices(list(PROBABILITIES), weights=list(PROBABILITIES.values()), k=length))


@pytest.mark.parametrize(
    ("compressor", "slack"),
    [("lzma", 0.6), pytest.param("zpaq", 0.1, marks=needs_zpaq)],
)
def test_iid_text_costs_at_least_its_entropy(compressor, slack):
    assert ENTROPY == 1.75
    train, valid = iid_text(40_000, 1), iid_text(20_000, 2)
    (result,) = compression_reference(train, valid, [compressor])
    # no compressor beats the source entropy (up to the sample's fluctuation); a good one comes close
    assert ENTROPY - 0.02 <= result.conditional_bpc <= ENTROPY + slack
    assert ENTROPY - 0.02 <= result.unconditional_bpc
    assert result.conditional_bpc == result.conditional_bits_per_byte  # ASCII: one byte per character


@pytest.mark.parametrize("compressor", ["lzma", pytest.param("zpaq", marks=needs_zpaq)])
def test_text_conditioned_on_itself_is_nearly_free(compressor):
    text = iid_text(30_000, 3)
    (result,) = compression_reference(text, text, [compressor])
    assert result.conditional_bpc < 0.02
    assert result.unconditional_bpc > ENTROPY - 0.02


def test_unicode_counts_characters_and_bytes():
    valid = "ünïcödé ✓ " * 200
    (result,) = compression_reference("", valid, ["lzma"])
    assert result.valid_characters == len(valid) and result.valid_bytes == len(valid.encode())
    assert result.conditional_bpc > result.conditional_bits_per_byte


@pytest.mark.skipif(not HAVE_XZ, reason="the xz program is not installed")
def test_xz_program_matches_python_lzma():
    data = iid_text(20_000, 4).encode()
    assert abs(compressed_size(data, "xz") - compressed_size(data, "lzma")) <= 16


def test_table_and_availability():
    assert set(available_compressors()) <= set(COMPRESSORS) and "lzma" in available_compressors()
    results = compression_reference(iid_text(2000, 5), iid_text(1000, 6), ["lzma"])
    table = format_compression_table(results, title="toy")
    lines = table.splitlines()
    assert lines[0] == "toy" and "bpc | train" in lines[1] and lines[3].startswith("lzma")
    assert f"{results[0].conditional_bpc:.4f}" in lines[3]


def test_bad_input(monkeypatch):
    with pytest.raises(ValueError, match="unknown compressor"):
        compressed_size(b"abc", "bzip3")
    with pytest.raises(TypeError):
        compressed_size("abc", "lzma")
    with pytest.raises(ValueError, match="empty"):
        compression_reference("train", "", ["lzma"])
    with pytest.raises(TypeError):
        compression_reference(b"train", "valid", ["lzma"])
    with pytest.raises(TypeError):
        compression_reference("train", "valid", "lzma")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ValueError, match="not installed"):
        compressed_size(b"abc", "zpaq")
    assert available_compressors() == ["lzma"]
