"""The extended Golay code: structure, encoding, syndromes, decoding."""

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings

from leechkit.lattice import golay_code, hexacode
from leechkit.lattice.codes import column_score
from leechkit.lattice.testing import golay_words

CODE = golay_code()
WORDS = CODE.codewords()


def test_weight_enumerator_is_exact():
    assert CODE.weight_enumerator() == {0: 1, 8: 759, 12: 2576, 16: 759, 24: 1}


def test_self_dual_generator():
    g = CODE.generator.astype(np.int64)
    assert g.shape == (12, 24) and g.dtype == np.int64
    assert not ((g @ g.T) % 2).any()
    # rank 12 over GF(2): the information set columns form the identity
    assert np.array_equal(CODE.generator[:, CODE.information_set], np.eye(12, dtype=np.uint8))


def test_codewords_row_i_encodes_bits_of_i():
    assert WORDS.shape == (4096, 24) and WORDS.dtype == np.uint8
    assert len(np.unique(WORDS, axis=0)) == 4096
    for i in (0, 1, 5, 1000, 4095):
        bits = [(i >> (11 - j)) & 1 for j in range(12)]
        assert np.array_equal(WORDS[i], CODE.encode(np.array(bits)))
        assert np.array_equal(WORDS[i][CODE.information_set], bits)


def test_closed_under_addition():
    rng = np.random.default_rng(1)
    a, b = WORDS[rng.integers(0, 4096, 500)], WORDS[rng.integers(0, 4096, 500)]
    assert CODE.contains(a ^ b).all()


def test_octads():
    octads = CODE.octads()
    assert octads.shape == (759, 24)
    assert (octads.sum(axis=1) == 8).all()
    # Steiner system S(5, 8, 24): every 5-set lies in exactly one octad.
    rng = np.random.default_rng(2)
    for _ in range(50):
        five = rng.choice(24, 5, replace=False)
        assert (octads[:, five].sum(axis=1) == 5).sum() == 1


def test_mog_construction_characterises_the_code():
    """Every codeword satisfies the MOG rules (column parity = top-row parity, hexacode scores)."""
    arrays = WORDS.reshape(4096, 6, 4)
    col_parity = arrays.sum(axis=2) % 2
    top_parity = arrays[:, :, 0].sum(axis=1) % 2
    assert (col_parity == top_parity[:, None]).all()
    hexa = {tuple(h) for h in hexacode()}
    assert all(tuple(s) in hexa for s in column_score(arrays))
    assert len(hexa) == 64


def test_hexacode_minimum_distance_is_4():
    h = hexacode()
    dist = (h[:, None, :] != h[None, :, :]).sum(axis=2)
    assert dist[~np.eye(64, dtype=bool)].min() == 4


def test_syndrome_zero_exactly_on_codewords():
    assert not CODE.syndrome(WORDS).any()
    rng = np.random.default_rng(3)
    for _ in range(100):
        w = WORDS[rng.integers(4096)].copy()
        w[rng.integers(24)] ^= 1
        assert CODE.syndrome(w).any() and not CODE.contains(w)


@settings(max_examples=300, deadline=None)
@given(golay_words(max_errors=3))
def test_decode_corrects_up_to_three_errors(word):
    decoded = CODE.decode(word)
    assert decoded.ok
    assert CODE.contains(decoded.codewords)
    assert int(decoded.n_errors) == int((decoded.codewords != word).sum())
    assert decoded.n_errors <= 3


def test_all_patterns_of_weight_at_most_3_on_a_codeword():
    c = WORDS[1234]
    patterns = [s for w in range(4) for s in combinations(range(24), w)]
    received = np.repeat(c[None, :], len(patterns), axis=0)
    for row, support in enumerate(patterns):
        received[row, list(support)] ^= 1
    dec = CODE.decode(received)
    assert dec.ok.all()
    assert (dec.codewords == c).all()
    assert np.array_equal(dec.n_errors, [len(s) for s in patterns])
    assert (dec.messages == c[CODE.information_set]).all()


def test_four_errors_are_detected_not_miscorrected():
    rng = np.random.default_rng(4)
    c = WORDS[rng.integers(4096, size=2000)]
    received = c.copy()
    for row in range(received.shape[0]):
        received[row, rng.choice(24, 4, replace=False)] ^= 1
    dec = CODE.decode(received)
    # A weight-4 error leaves the word at distance 4 from c and at distance ≥ 4 from every
    # other codeword (d = 8), so its coset leader has weight 4: always detected, never
    # corrected to a wrong codeword.
    assert (~dec.ok).all()
    assert (dec.n_errors == -1).all()
    assert np.array_equal(dec.codewords, received)


def test_batch_shapes_and_bad_input():
    batch = WORDS[:6].reshape(2, 3, 24)
    assert CODE.contains(batch).shape == (2, 3)
    assert CODE.decode(batch).codewords.shape == (2, 3, 24)
    with pytest.raises(ValueError, match="last dimension 24"):
        CODE.syndrome(np.zeros((3, 23), dtype=np.uint8))
    with pytest.raises(ValueError, match="0 and 1"):
        CODE.decode(np.full(24, 2))
    with pytest.raises(TypeError, match="dtype"):
        CODE.contains(np.zeros(24, dtype=np.float64))
    with pytest.raises(ValueError, match="last dimension 12"):
        CODE.encode(np.zeros(11, dtype=np.uint8))
