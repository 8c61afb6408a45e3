"""How far lattice decoding alone gets the LLVQ direction search (a GPU encoder design study).

A GPU encoder for the union-of-shells code could lean on the fused Leech decoder: decode the
query's direction ``x̂`` scaled to each shell's radius ``ρ = √n`` (and a little inside and
outside it) for candidates, then certify the best cosine ``f`` found shell by shell. For
``z = f·ρ·x̂`` every lattice point ``v`` of norm ``ρ²`` with ``cos(x, v) > f`` lies within
``ρ·√(1 − f²)`` of ``z`` (law of cosines), so ``d(z, Λ)² ≥ ρ²(1 − f²)`` proves that no point
of that shell beats ``f``. Rows certified on every shell are done on the GPU; the others
would go to the exact host search (:meth:`leechkit.lattice.LeechShellCode.nearest`).

This script runs that design with the exact Numba decoder on Gaussian rows and reports, per
``max_norm``: how often the candidates contain the true optimum, how often every shell is
certified, whether a certified row is ever wrong (it must not be), the decodes per row, and
the exact host search's rate in the same run.

    python benchmarks/bench_shell_certificates.py [--rows 2000] [--max-norms 8 12 24]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from leechkit.lattice.decoders import decode_leech
from leechkit.lattice.quantizers.shells import LeechShellCode

#: Radii of the candidate decodes, relative to each shell's radius.
_CANDIDATE_RADII = (0.9, 1.0, 1.1)
#: Certification rounds (each may raise ``f`` when a certifying decode finds a better point).
_ROUNDS = 3


def _cosines(xh: np.ndarray, v: np.ndarray, max_norm: int) -> np.ndarray:
    """Cosines of the decoded points with the unit rows; −1 for points outside the union."""
    norm2 = (v * v).sum(axis=1)
    inside = (norm2 >= 4 - 1e-9) & (norm2 <= max_norm + 1e-9)
    return np.where(inside, (xh * v).sum(axis=1) / np.sqrt(np.maximum(norm2, 1e-300)), -1.0)


def study(x: np.ndarray, max_norm: int) -> dict[str, float]:
    """The design's outcome on rows ``x`` for the union of shells of norm 4…``max_norm``."""
    xh = x / np.linalg.norm(x, axis=1, keepdims=True)
    code = LeechShellCode(max_norm=max_norm)
    code.nearest(x[:4])  # compiles (or loads) the Numba kernels outside the timing
    start = time.perf_counter()
    _, vec = code.nearest(x)
    exact_rate = len(x) / (time.perf_counter() - start)
    vec = np.asarray(vec, dtype=np.float64)
    best = (xh * vec).sum(axis=1) / np.linalg.norm(vec, axis=1)
    norms = range(4, max_norm + 1, 2)
    f = np.full(len(x), -1.0)
    decodes = 0
    for n in norms:
        for s in _CANDIDATE_RADII:
            f = np.maximum(f, _cosines(xh, decode_leech(xh * (np.sqrt(n) * s)), max_norm))
            decodes += 1
    for _ in range(_ROUNDS):
        certified = np.ones(len(x), dtype=bool)
        for n in norms:
            z = xh * (np.sqrt(n) * f)[:, None]
            v = decode_leech(z)
            decodes += 1
            f = np.maximum(f, _cosines(xh, v, max_norm))
            certified &= ((z - v) ** 2).sum(axis=1) >= n * (1 - f * f) - 1e-9
    found = np.abs(f - best) <= 1e-12
    return {
        "found": float(found.mean()),
        "certified": float(certified.mean()),
        "wrong": int((certified & ~found).sum()),
        "decodes": decodes,
        "exact_rate": exact_rate,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--max-norms", type=int, nargs="+", default=[8, 12, 24])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    x = np.random.default_rng(args.seed).standard_normal((args.rows, 24))
    print(f"{args.rows:,} Gaussian rows, seed {args.seed}\n")
    print("| max_norm | optimum among the candidates | certified on every shell | certified but wrong "
          "| decodes per row | exact host search (rows/s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for max_norm in args.max_norms:
        r = study(x, max_norm)
        print(f"| {max_norm} | {r['found']:.1%} | {r['certified']:.1%} | {r['wrong']} | {r['decodes']} "
              f"| {r['exact_rate']:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
