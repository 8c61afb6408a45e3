"""Automorphisms of the Leech lattice and of E8 as signed permutation matrices.

Leech: the monomial subgroup 2¹²:M₂₄ of Co₀ (SPLAG ch. 10 §3.3, ch. 11)
------------------------------------------------------------------------
The automorphism group of Λ₂₄ is Conway's group Co₀, of order
8,315,553,613,086,720,000. In the Golay-code coordinates of
:mod:`leechkit.lattice.lattices.leech` it contains the *monomial* subgroup

    N = 2¹²:M₂₄ = {ε_C · π : C ∈ 𝒞₂₄, π ∈ M₂₄},   |N| = 2¹² · 244,823,040 = 1,002,795,171,840,

the stabilizer of the coordinate frame (index 8,292,375 in Co₀). Here

* ``π`` is a permutation of the 24 MOG coordinates that maps the Golay code 𝒞₂₄ onto itself;
  these permutations form the Mathieu group M₂₄ (SPLAG ch. 10 §1);
* ``ε_C`` negates the coordinates in the support of a Golay codeword ``C``.

Why they preserve Λ₂₄ (√8 units, ``x ≡ m·1 + 2c (mod 4)``, ``Σ xᵢ ≡ 4m (mod 8)``):
``π`` permutes the congruence pattern ``c`` to another codeword and keeps ``Σ xᵢ``. For ``ε_C``
with ``m = 0``: ``xᵢ`` is even, ``−xᵢ ≡ xᵢ (mod 4)`` and the sum changes by
``−2 Σ_{i∈C} xᵢ ≡ −4 |c ∩ C| ≡ 0 (mod 8)`` because codewords meet evenly. With ``m = 1``:
``−xᵢ ≡ 1 + 2(cᵢ + 1) (mod 4)``, so ``c`` becomes ``c + C``, and the sum changes by
``−2 Σ_{i∈C} xᵢ ≡ −2(|C| + 2|c ∩ C|) ≡ 0 (mod 8)`` because ``|C| ≡ 0 (mod 4)``. So every ``ε_C π``
maps Λ₂₄ into itself; being orthogonal with an inverse of the same kind, onto itself.

Sampling M₂₄ (uniformly, without a table of generators)
-------------------------------------------------------
M₂₄ is 5-transitive and the pointwise stabilizer of 5 points has order 48
(|M₂₄| = 24·23·22·21·20·48). Five points lie in exactly one octad, so an element ``π`` maps a
fixed octad ``O ⊃ {a₀..a₄}`` onto the octad ``O′`` through ``π(a₀..a₄)``; the remaining three
points of ``O`` go to those of ``O′`` in one of the 3 orders allowed by the A₈ that the octad
stabilizer 2⁴:A₈ induces on ``O′``, and the elementary abelian 2⁴ acts regularly on the 16
points outside, so the image of one outside point ``q₀`` fixes the rest. The sampler draws the
5 images uniformly, then tries the 6 orders and the 16 images of ``q₀`` in random order; each
try is completed by propagation through octads (an octad ``X`` meeting ``O`` in 4 points and
containing ``q₀`` has 5 known images, hence a known image octad, which confines the images of
its 3 other points; the 7 such octads through ``q₀`` and a point ``x`` meet only in
``{q₀, x}``) and kept if it maps the Golay code onto itself. The first success is uniform
among the 48 completions, so ``π`` is uniform on M₂₄.

E8: the monomial subgroup W(D₈) = 2⁷:S₈ of W(E8)
------------------------------------------------
In the coordinates D₈ ∪ (D₈ + ½) every coordinate permutation and every change of an *even*
number of signs preserves E8 (an odd number would map (½⁸) to a vector with an odd number of
minus signs, outside E8). These 2⁷ · 8! = 5,160,960 matrices form W(D₈), of index 135 in the
Weyl group W(E8) of order 696,729,600.

Conventions
-----------
A matrix ``M`` acts on column vectors, ``x ↦ M x``; for points stored as rows use
``X @ M.T``. ``M[π(i), i] = s_{π(i)}``: coordinate ``i`` moves to ``π(i)`` and then the sign
``s = (−1)^C`` is applied.

References
----------
J. H. Conway and N. J. A. Sloane, SPLAG, 3rd ed., ch. 4 §§8, 11, ch. 10 §§1, 3 and ch. 11.
R. T. Curtis, "A new combinatorial approach to M₂₄", Math. Proc. Cambridge Philos. Soc. 79
(1976).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import permutations

import numpy as np

from ..codes.golay import golay_code

__all__ = [
    "is_golay_automorphism",
    "random_e8_automorphism",
    "random_leech_automorphism",
    "random_m24_permutation",
    "signed_permutation_matrix",
]

_BITS = np.int64(1) << np.arange(24, dtype=np.int64)


def _as_rng(rng: object) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")


@lru_cache(maxsize=1)
def _octad_masks() -> np.ndarray:
    return (golay_code().octads().astype(np.int64) * _BITS).sum(axis=1)


def _octad_through(points: list[int]) -> int:
    """Bit mask of the unique octad containing five given points."""
    mask = int(sum(1 << p for p in points))
    masks = _octad_masks()
    return int(masks[(masks & mask) == mask][0])


@lru_cache(maxsize=1)
def _base_frame() -> tuple[list[int], int, list[tuple[list[int], list[int]]]]:
    """The base octad ``O`` (sorted points), the outside point ``q₀`` and, for the 70 octads
    meeting ``O`` in 4 points and containing ``q₀``, their points in ``O`` and their 3 other points."""
    omask = int(_octad_masks()[0])
    base = [i for i in range(24) if omask >> i & 1]
    q0 = next(i for i in range(24) if not omask >> i & 1)
    links = []
    for m in _octad_masks():
        m = int(m)
        inside = [i for i in range(24) if m >> i & 1 and omask >> i & 1]
        if len(inside) == 4 and m >> q0 & 1:
            rest = [i for i in range(24) if m >> i & 1 and not omask >> i & 1 and i != q0]
            links.append((inside, rest))
    return base, q0, links


def is_golay_automorphism(perm: object) -> bool:
    """Whether the coordinate permutation maps the Golay code onto itself (is in M₂₄).

    Parameters
    ----------
    perm : array_like of int
        A permutation of ``range(24)``: coordinate ``i`` moves to ``perm[i]``.

    Returns
    -------
    bool
        True when every generator row ``g`` of the code, moved to ``g′[perm[i]] = g[i]``, is a
        codeword (the code is linear, so then the whole code maps onto itself).

    Raises
    ------
    ValueError
        ``perm`` is not a permutation of ``range(24)``.
    """
    p = np.asarray(perm)
    if p.shape != (24,) or not np.issubdtype(p.dtype, np.integer) or sorted(p.tolist()) != list(range(24)):
        raise ValueError(f"perm must be a permutation of range(24), got {p.tolist()}")
    code = golay_code()
    moved = np.zeros_like(code.generator)
    moved[:, p] = code.generator
    return bool(code.contains(moved).all())


def _complete(partial: dict[int, int]) -> np.ndarray | None:
    """The M₂₄ element with the given images of the base octad and ``q₀``, or None."""
    base, q0, links = _base_frame()
    omask_img = sum(1 << partial[b] for b in base)
    outside = [i for i in range(24) if i not in partial]
    cand = {x: set(range(24)) - {partial[b] for b in base} - {partial[q0]} for x in outside}
    for inside, rest in links:
        image = _octad_through([partial[i] for i in inside] + [partial[q0]])
        allowed = {j for j in range(24) if image >> j & 1 and not omask_img >> j & 1} - {partial[q0]}
        for x in rest:
            cand[x] &= allowed
    if any(len(c) != 1 for c in cand.values()):
        return None
    perm = np.empty(24, dtype=np.int64)
    for i, j in partial.items():
        perm[i] = j
    for x, c in cand.items():
        perm[x] = next(iter(c))
    if len(set(perm.tolist())) != 24 or not is_golay_automorphism(perm):
        return None
    return perm


def random_m24_permutation(rng: object = None) -> np.ndarray:
    """A uniformly random element of the Mathieu group M₂₄ (MOG coordinates).

    Parameters
    ----------
    rng : None, int or numpy.random.Generator
        Source of randomness (an int is a seed).

    Returns
    -------
    numpy.ndarray
        int64 array ``perm`` of shape (24,): coordinate ``i`` moves to ``perm[i]``; the moved
        Golay code is the Golay code. See the module docstring for the method.
    """
    gen = _as_rng(rng)
    base, q0, _ = _base_frame()
    first = [int(v) for v in gen.choice(24, size=5, replace=False)]
    target = _octad_through(first)
    rest = [j for j in range(24) if target >> j & 1 and j not in first]
    outside = [j for j in range(24) if not target >> j & 1]
    orders = list(permutations(rest))
    for k in gen.permutation(len(orders)):
        for q_img in gen.permutation(outside):
            partial = dict(zip(base, first + list(orders[k])))
            partial[q0] = int(q_img)
            perm = _complete(partial)
            if perm is not None:
                return perm
    raise RuntimeError("no M24 completion found; the octad tables are inconsistent")


def signed_permutation_matrix(perm: object, signs: object) -> np.ndarray:
    """The matrix ``M`` with ``M[perm[i], i] = signs[perm[i]]`` (``x ↦ M x`` moves, then signs).

    Parameters
    ----------
    perm : array_like of int
        A permutation of ``range(n)``.
    signs : array_like of int
        ``n`` entries in {−1, +1}, indexed by the target coordinate.

    Returns
    -------
    numpy.ndarray
        (n, n) int64 signed permutation matrix.

    Raises
    ------
    ValueError
        ``perm`` is not a permutation or ``signs`` has the wrong length or entries.
    """
    p = np.asarray(perm)
    s = np.asarray(signs)
    n = p.shape[0] if p.ndim == 1 else -1
    if n < 1 or not np.issubdtype(p.dtype, np.integer) or sorted(p.tolist()) != list(range(n)):
        raise ValueError(f"perm must be a permutation of range(n), got {p.tolist()}")
    if s.shape != (n,) or not np.isin(s, (-1, 1)).all():
        raise ValueError(f"signs must be {n} entries in {{-1, +1}}, got {s.tolist()}")
    out = np.zeros((n, n), dtype=np.int64)
    out[p, np.arange(n)] = s[p]
    return out


def random_leech_automorphism(rng: object = None) -> np.ndarray:
    """A uniformly random element ``ε_C π`` of the monomial subgroup 2¹²:M₂₄ of Co₀.

    Parameters
    ----------
    rng : None, int or numpy.random.Generator
        Source of randomness (an int is a seed).

    Returns
    -------
    numpy.ndarray
        (24, 24) int64 signed permutation matrix ``M`` with ``M Λ₂₄ = Λ₂₄``: ``π`` uniform in
        M₂₄ (:func:`random_m24_permutation`), ``C`` a uniform Golay codeword, signs
        ``(−1)^C`` (module docstring).
    """
    gen = _as_rng(rng)
    perm = random_m24_permutation(gen)
    codeword = golay_code().codewords()[gen.integers(4096)]
    return signed_permutation_matrix(perm, 1 - 2 * codeword.astype(np.int64))


def random_e8_automorphism(rng: object = None) -> np.ndarray:
    """A uniformly random element of W(D₈) = 2⁷:S₈ ⊂ W(E8): a coordinate permutation with
    an even number of sign changes.

    Parameters
    ----------
    rng : None, int or numpy.random.Generator
        Source of randomness (an int is a seed).

    Returns
    -------
    numpy.ndarray
        (8, 8) int64 signed permutation matrix ``M`` with ``M E8 = E8`` (module docstring).
    """
    gen = _as_rng(rng)
    perm = gen.permutation(8)
    signs = 1 - 2 * gen.integers(0, 2, size=8)
    if (signs < 0).sum() % 2:
        signs[7] = -signs[7]
    return signed_permutation_matrix(perm, signs)
