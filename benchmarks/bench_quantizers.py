"""Benchmarks of the quantizers: spherical search speed, and MSE versus rate of Voronoi codes.

1. **Spherical search.** Queries per second of the exact structured search
   ``nearest_minimal_vector`` (Leech: 196,560 directions, E8: 240) against the brute-force
   product with all minimal vectors (BLAS ``sgemm`` in float32, chunks of 1,024 queries,
   then ``argmax``), in the same run on the same Gaussian queries. The two must agree on
   every query's maximal inner product (checked in float64, up to the float32 rounding of
   the brute force).
2. **Rate–distortion.** For each rate R ∈ {2, 3, 4} bits per dimension: the uniform scalar
   quantizer (the Voronoi code of Z), the E8 and the Leech Voronoi codes with R bits per
   dimension, on i.i.d. N(0, 1) data. The scale of each is optimised on a training sample
   (a geometric grid, then golden-section refinement of the best bracket) and the MSE is
   measured on an independent test sample. The Shannon bound is D(R) = 2^(−2R); each result
   is reported in dB above it, and as gain over the scalar quantizer. At high rate the
   Leech lattice's granular gain over the scalar quantizer is 1.03 dB (G = 0.065771 against
   1/12). The measured gain over the scalar quantizer is larger, because it also contains
   shaping: a Gaussian source is better matched by the nearly round Voronoi region of
   2^R·Λ₂₄ (E8: 2^R·E8) than by the cube of the scalar code, so less is lost to overload
   (points outside the shaping region, clipped radially) and to unused codewords.

Prints both tables with the machine, writes the ``## Quantizers`` section of
``docs/performance.md`` (unless ``--no-write``) and the plot ``docs/rate_distortion.png``.
Run from the repository root::

    python benchmarks/bench_quantizers.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

import numba
import numpy as np

from leechkit.cli.bench import machine_info, write_section
from leechkit.lattice import Lattice, e8, leech, zn
from leechkit.lattice.quantizers import VoronoiCode, nearest_minimal_vector, nearest_minimal_vector_bruteforce
from leechkit.lattice.quantizers.spherical import _float_vectors

SECTION = "## Quantizers"
LATTICES = {"scalar (Z)": lambda: zn(1), "E8": e8, "Leech": leech}
RATES = (2, 3, 4)
GOAL_SPEEDUP = 10.0


def _best_seconds(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _blas_argmax(q: np.ndarray, vecs: np.ndarray, chunk: int = 1024) -> np.ndarray:
    out = np.empty(q.shape[0], dtype=np.int64)
    for s in range(0, q.shape[0], chunk):
        out[s : s + chunk] = np.argmax(q[s : s + chunk] @ vecs.T, axis=1)
    return out


def spherical_rows(queries: int, brute_queries: int, repeat: int, seed: int) -> tuple[list[list[str]], dict]:
    """Rows of the spherical-search table (structured vs BLAS float32 brute force), and per
    code the structured rate and its ratio to the float32 brute force."""
    rng = np.random.default_rng(seed)
    rows = []
    summary = {}
    for name, dim in (("leech", 24), ("e8", 8)):
        x = rng.standard_normal((queries, dim))
        x32 = x.astype(np.float32)
        vecs32 = _float_vectors(name).astype(np.float32)
        nb = brute_queries if name == "leech" else queries
        t64 = _best_seconds(lambda x=x, n=name: nearest_minimal_vector(x, n), repeat)
        t32 = _best_seconds(lambda x=x32, n=name: nearest_minimal_vector(x, n), repeat)
        tb = _best_seconds(lambda q=x32[:nb], v=vecs32: _blas_argmax(q, v), repeat)
        tb64 = _best_seconds(lambda q=x[:nb], n=name: nearest_minimal_vector_bruteforce(q, n), 1)
        # Agreement: the brute force's choice is within float32 rounding of the exact maximum.
        exact = nearest_minimal_vector(x[:nb], name)
        brute = _blas_argmax(x32[:nb], vecs32)
        vecs = _float_vectors(name)
        gap = np.einsum("ij,ij->i", x[:nb], vecs[exact] - vecs[brute])
        assert gap.min() >= 0 and gap.max() < 1e-4, "brute force and structured search disagree"
        count = len(vecs)
        r64, r32, rb, rb64 = queries / t64, queries / t32, nb / tb, nb / tb64
        label = f"{name} ({count:,} directions)"
        rows += [
            [label, "structured `nearest_minimal_vector`, float64 input", f"{queries:,}", _rate(r64), "1"],
            [label, "structured, float32 input", f"{queries:,}", _rate(r32), f"{r64 / r32:.2f}×"],
            [label, "brute force, float32 BLAS product + argmax", f"{nb:,}", _rate(rb), f"{r64 / rb:.1f}×"],
            [label, "brute force, float64 reference", f"{nb:,}", _rate(rb64), f"{r64 / rb64:.1f}×"],
        ]
        summary[name] = (r64, r64 / rb)
    return rows, summary


def _rate(r: float) -> str:
    return f"{r / 1e6:.2f} M/s" if r >= 1e6 else f"{r / 1e3:.1f} k/s" if r >= 1e3 else f"{r:.0f} /s"


def _mse(lattice: Lattice, bits: int, scale: float, x: np.ndarray) -> float:
    code = VoronoiCode(lattice, bits, scale)
    blocks = x.reshape(-1, lattice.dim)
    return float(np.mean((code.quantize(blocks) - blocks) ** 2))


def best_scale(lattice: Lattice, bits: int, x: np.ndarray) -> float:
    """Scale minimising the training MSE: a geometric grid, then golden-section search."""
    # High-rate guess: the shaping region 2^bits·scale·V must cover about ±4σ per coordinate.
    guess = 8.0 / (2**bits) / math.sqrt(float(lattice.det) ** (1 / lattice.dim))
    grid = guess * np.geomspace(0.4, 2.5, 12)
    errs = [_mse(lattice, bits, s, x) for s in grid]
    k = int(np.argmin(errs))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    phi = (math.sqrt(5) - 1) / 2
    a, b = hi - phi * (hi - lo), lo + phi * (hi - lo)
    fa, fb = _mse(lattice, bits, a, x), _mse(lattice, bits, b, x)
    for _ in range(12):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - phi * (hi - lo)
            fa = _mse(lattice, bits, a, x)
        else:
            lo, a, fa = a, b, fb
            b = lo + phi * (hi - lo)
            fb = _mse(lattice, bits, b, x)
    return a if fa < fb else b


def rate_distortion(samples: int, seed: int) -> list[tuple[int, str, float, float]]:
    """``(rate, quantizer, scale, test MSE)`` for every rate and quantizer, plus the bound."""
    n = samples - samples % 24
    rng = np.random.default_rng(seed)
    train, test = rng.standard_normal(n), rng.standard_normal(n)
    out = []
    for rate in RATES:
        for name, make in LATTICES.items():
            lat = make()
            scale = best_scale(lat, rate, train)
            out.append((rate, name, scale, _mse(lat, rate, scale, test)))
        out.append((rate, "Shannon bound", float("nan"), 2.0 ** (-2 * rate)))
    return out


def rd_table(results: list[tuple[int, str, float, float]]) -> list[list[str]]:
    rows = []
    for rate, name, scale, mse in results:
        bound = 2.0 ** (-2 * rate)
        scalar = next(r[3] for r in results if r[0] == rate and r[1].startswith("scalar"))
        rows.append(
            [
                str(rate),
                name,
                "" if math.isnan(scale) else f"{scale:.4f}",
                f"{mse:.6f}",
                f"{10 * math.log10(mse / bound):.2f}",
                f"{10 * math.log10(scalar / mse):.2f}",
            ]
        )
    return rows


def plot(results: list[tuple[int, str, float, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name in [*LATTICES, "Shannon bound"]:
        pts = [(r[0], r[3]) for r in results if r[1] == name]
        style = "k--" if name == "Shannon bound" else "o-"
        ax.semilogy([p[0] for p in pts], [p[1] for p in pts], style, label=name)
    ax.set_xlabel("rate (bits per dimension)")
    ax.set_ylabel("MSE per dimension")
    ax.set_title("i.i.d. N(0, 1): Voronoi codes against the Shannon bound")
    ax.set_xticks(list(RATES))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=200_000, help="queries of the structured search")
    parser.add_argument("--brute-queries", type=int, default=8_192, help="queries of the Leech brute force")
    parser.add_argument("--samples", type=int, default=240_000, help="samples per set (rate–distortion)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--docs", default="docs/performance.md")
    parser.add_argument("--png", default="docs/rate_distortion.png")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    info = machine_info()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sph, summary = spherical_rows(args.queries, args.brute_queries, args.repeat, args.seed)
    structured, speedup = summary["leech"]
    start = time.perf_counter()
    rd = rate_distortion(args.samples, args.seed)
    rd_seconds = time.perf_counter() - start
    command = "python benchmarks/bench_quantizers.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    verdict = "met" if speedup >= GOAL_SPEEDUP else "not met"
    text = "\n\n".join(
        [
            f"Measured by `{command}` on {stamp}; rerunning the command rewrites this section.",
            _markdown(["machine", ""], [[k, v] for k, v in info.items()]),
            "### Spherical search (nearest of the minimal vectors)",
            _markdown(["code", "method", "queries", "queries/s", "structured ÷ this"], sph),
            f"Leech: structured exact search {structured:,.0f} queries/s, {speedup:.1f}× the float32 "
            f"BLAS brute force in the same run; goal ≥ {GOAL_SPEEDUP:.0f}× {verdict}. Numba threads: "
            f"{numba.get_num_threads()}. The brute force's answers agree with the exact search up to "
            "float32 rounding of the inner products.",
            "### MSE versus rate, i.i.d. N(0, 1)",
            _markdown(
                ["rate", "quantizer", "scale", "test MSE", "dB above D(R)", "gain over scalar (dB)"],
                rd_table(rd),
            ),
            "Rate in bits per dimension; MSE per dimension. The gain over the scalar quantizer is "
            "granular gain (at most 1.03 dB for Leech, 0.65 dB for E8) plus shaping gain: the "
            "Voronoi region of 2^R·Λ is far rounder than the scalar code's cube, so a Gaussian "
            "source loses less to overload.",
            f"{args.samples:,} training and {args.samples:,} test samples, seed {args.seed}; "
            f"{rd_seconds:.0f} s. Plot: ![MSE versus rate](rate_distortion.png)",
        ]
    )
    print(text)
    if not args.no_write:
        write_section(Path(args.docs), text, SECTION)
        plot(rd, Path(args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
