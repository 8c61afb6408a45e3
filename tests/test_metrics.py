"""Evaluation arithmetic: bits per character on a toy distribution equals its entropy by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from leechkit.models.metrics import (
    LN2,
    BitsReport,
    PaddedLoss,
    bits_per_character,
    format_bits_table,
    nats_to_bits,
    seed_formula_bpc,
)

# A source over four symbols with dyadic probabilities: entropy 7/4 bits exactly.
TOY = {"a": Fraction(1, 2), "b": Fraction(1, 4), "c": Fraction(1, 8), "d": Fraction(1, 8)}


def entropy_by_hand(distribution: dict[str, Fraction]) -> Fraction:
    """Σ p·log2(1/p) for dyadic p (exact)."""
    total = Fraction(0)
    for p in distribution.values():
        k = p.denominator.bit_length() - 1
        assert p == Fraction(1, 2**k)
        total += p * k
    return total


def test_bpc_of_toy_distribution_equals_entropy():
    assert entropy_by_hand(TOY) == Fraction(7, 4)
    # a text whose symbol counts match the distribution exactly, coded by the ideal model
    counts = {symbol: int(p * 800) for symbol, p in TOY.items()}
    characters = sum(counts.values())
    nats = sum(n * -math.log(float(TOY[s])) for s, n in counts.items())
    assert bits_per_character(nats, characters) == pytest.approx(7 / 4, rel=1e-14, abs=0)
    report = BitsReport(nats, tokens=characters, characters=characters, num_bytes=characters)
    assert report.bits_per_character == pytest.approx(7 / 4, rel=1e-14, abs=0)
    assert report.bits_per_token == report.bits_per_character == report.bits_per_byte
    # the same text in tokens of two characters (e.g. "ab"): bits per token double, bpc stays
    pairs = BitsReport(nats, tokens=characters // 2, characters=characters, num_bytes=characters)
    assert pairs.bits_per_token == pytest.approx(7 / 2, rel=1e-14, abs=0)
    assert pairs.bits_per_character == report.bits_per_character
    assert pairs.characters_per_token == 2.0


def test_report_rates_and_dict():
    report = BitsReport(nats=1000 * LN2, tokens=250, characters=1000, num_bytes=1250)
    assert report.nats_per_token == pytest.approx(4 * LN2)
    assert report.bits_per_token == pytest.approx(4.0)
    assert report.bits_per_character == pytest.approx(1.0)
    assert report.bits_per_byte == pytest.approx(0.8)
    row = report.as_dict()
    assert row["bytes"] == 1250 and row["bits_per_character"] == pytest.approx(1.0)
    assert nats_to_bits(LN2) == pytest.approx(1.0)


def test_seed_formula_and_padded_loss():
    # the seeds' 0.40 nats/token reported as 0.129 bpc implies 4.47 assumed characters per token
    assert seed_formula_bpc(0.40, 4.47) == pytest.approx(0.1291, abs=5e-5)
    padded = PaddedLoss(real_nats=300.0, real_tokens=100, pad_nats=1.0, pad_tokens=300)
    assert padded.loss_without_padding == 3.0
    assert padded.loss_with_padding == pytest.approx(301 / 400)
    assert padded.pad_fraction == 0.75


def test_table():
    report = BitsReport(nats=700.0, tokens=300, characters=1000, num_bytes=1000)
    table = format_bits_table(
        {"vanilla": report},
        assumed_characters_per_token=4.47,
        padded={"vanilla": PaddedLoss(700.0, 300, 3.0, 700)},
    )
    lines = table.splitlines()
    assert len(lines) == 3 and "seed formula bpc" in lines[0] and "seed-style loss" in lines[0]
    assert f"{report.bits_per_character:.4f}" in lines[2]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: bits_per_character(1.0, 0), ValueError),
        (lambda: bits_per_character(-1.0, 10), ValueError),
        (lambda: bits_per_character(float("nan"), 10), ValueError),
        (lambda: bits_per_character("1.0", 10), TypeError),
        (lambda: bits_per_character(1.0, 10.0), TypeError),
        (lambda: seed_formula_bpc(1.0, 0.0), ValueError),
        (lambda: seed_formula_bpc(1.0, "4"), TypeError),
        (lambda: BitsReport(1.0, 0, 1, 1), ValueError),
        (lambda: BitsReport(1.0, 1, True, 1), TypeError),
        (lambda: PaddedLoss(1.0, 1, 1.0, -1), ValueError),
    ],
)
def test_bad_input(call, error):
    with pytest.raises(error):
        call()
