"""Automorphisms of Leech (2¹²:M₂₄ ⊂ Co₀) and E8 (W(D₈) ⊂ W(E8)) as signed permutations."""

import numpy as np
import pytest

from leechkit.lattice import e8, golay_code, leech
from leechkit.lattice.lattices.automorphisms import (
    is_golay_automorphism,
    random_e8_automorphism,
    random_leech_automorphism,
    random_m24_permutation,
    signed_permutation_matrix,
)

WORDS = golay_code().codewords()


def sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


def word_set(words: np.ndarray) -> set[bytes]:
    return {w.tobytes() for w in words}


@pytest.mark.parametrize("seed", range(5))
def test_m24_permutation_maps_the_golay_code_onto_itself(seed):
    perm = random_m24_permutation(seed)
    assert sorted(perm.tolist()) == list(range(24))
    moved = np.zeros_like(WORDS)
    moved[:, perm] = WORDS
    assert word_set(moved) == word_set(WORDS)
    assert is_golay_automorphism(perm)


def test_non_automorphism_is_rejected():
    swap = np.arange(24)
    swap[[0, 1]] = [1, 0]  # a transposition is odd: not in M24 (which is simple)
    assert not is_golay_automorphism(swap)
    with pytest.raises(ValueError, match="permutation of range"):
        is_golay_automorphism([0] * 24)


def test_m24_samples_spread_over_the_points():
    images = {int(random_m24_permutation(s)[0]) for s in range(60)}
    assert len(images) >= 15  # 24 equally likely images; 60 draws miss few


@pytest.mark.parametrize("seed", range(3))
def test_leech_automorphism_permutes_the_minimal_vectors_exactly(seed):
    m = leech().random_automorphism(seed)
    assert m.shape == (24, 24) and m.dtype == np.int64
    assert (np.abs(m).sum(axis=0) == 1).all() and (np.abs(m).sum(axis=1) == 1).all()
    vecs = leech().minimal_vectors(integer=True).astype(np.int64)
    assert np.array_equal(sorted_rows(vecs @ m.T), sorted_rows(vecs))
    assert leech().contains(leech().integer_generator @ m.T).all()


def test_leech_automorphism_uses_codeword_signs():
    m = random_leech_automorphism(np.random.default_rng(7))
    minus = (m.sum(axis=1) < 0).astype(np.uint8)
    assert golay_code().contains(minus)


def test_random_sign_pattern_is_not_an_automorphism():
    signs = np.ones(24, dtype=np.int64)
    signs[:3] = -1  # weight 3 is not a codeword
    m = signed_permutation_matrix(np.arange(24), signs)
    vecs = leech().minimal_vectors(integer=True).astype(np.int64)
    assert not np.array_equal(sorted_rows(vecs @ m.T), sorted_rows(vecs))


@pytest.mark.parametrize("seed", range(5))
def test_e8_automorphism_permutes_the_roots(seed):
    m = e8().random_automorphism(seed)
    roots = e8().minimal_vectors(integer=True).astype(np.int64)
    assert np.array_equal(sorted_rows(roots @ m.T), sorted_rows(roots))
    assert (m.sum(axis=1) < 0).sum() % 2 == 0
    assert np.array_equal(random_e8_automorphism(seed), m)


def test_seeded_sampling_is_reproducible():
    assert np.array_equal(random_leech_automorphism(3), random_leech_automorphism(3))


def test_bad_arguments():
    with pytest.raises(TypeError, match="rng"):
        random_m24_permutation("seed")
    with pytest.raises(ValueError, match="signs"):
        signed_permutation_matrix(np.arange(3), [1, 0, 1])
    with pytest.raises(ValueError, match="permutation"):
        signed_permutation_matrix([0, 0, 1], [1, 1, 1])
