"""The ``leechkit`` command line.

Subcommands
-----------
``info``
    A table of Zⁿ, Dₙ, E8 and Leech: dimension, determinant, minimal norm, kissing number,
    theta-series coefficients, evenness and unimodularity, all computed on the spot.
``vectors NAME -o FILE``
    Write the minimal vectors of a lattice to ``.npy`` or ``.csv``.
``bench decode``
    Decodes per second of the fast decoders against the general baselines
    (:mod:`leechkit.cli.bench`).
``quantize CHECKPOINT --method M --bits B -o OUT``
    Weight quantization of a checkpoint (:mod:`leechkit.cli.quantize`): RTN, GPTQ, E8,
    Leech Voronoi codes or LLVQ; ``eval`` and ``from_pretrained`` load the result.
``train``, ``eval CHECKPOINT``, ``leakage CHECKPOINT``, ``compress``, ``tour``
    Training (DDP under ``torchrun``), honest evaluation, the causality check, the compressor
    reference, and the README's tour (:mod:`leechkit.cli.training`; these need the ``torch``
    extra).

``python -m leechkit.cli`` runs the same command; under ``torchrun`` use the module form:
``torchrun --standalone --nproc_per_node=2 -m leechkit.cli train ...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from leechkit.cli import bench, quantize, training
from leechkit.lattice import Lattice, dn, e8, leech, zn

__all__ = ["build_parser", "lattice_by_name", "main"]


def lattice_by_name(name: str) -> Lattice:
    """Look a lattice up by name: ``leech``, ``e8``, ``zN`` or ``dN`` (e.g. ``z8``, ``d4``)."""
    key = name.strip().lower()
    if key == "leech":
        return leech()
    if key == "e8":
        return e8()
    if len(key) > 1 and key[0] in "zd" and key[1:].isdigit():
        n = int(key[1:])
        return zn(n) if key[0] == "z" else dn(n)
    raise ValueError(f"unknown lattice {name!r}: use leech, e8, zN or dN (e.g. z8, d4)")


def _info_rows(names: Sequence[str], max_norm: int) -> list[list[str]]:
    rows = []
    for name in names:
        lat = lattice_by_name(name)
        theta = lat.theta_series(max_norm)
        kissing = theta[lat.minimal_norm] if lat.minimal_norm <= max_norm else lat.kissing_number
        series = ", ".join(f"{int(c)}" for c in theta.values())
        rows.append(
            [
                lat.name,
                str(lat.dim),
                str(lat.det),
                str(lat.minimal_norm),
                str(kissing),
                f"{series} (norms {', '.join(str(k) for k in theta)})",
                "yes" if lat.is_even else "no",
                "yes" if lat.is_unimodular else "no",
            ]
        )
    return rows


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def _cmd_info(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    header = ["lattice", "dim", "det", "min norm", "kissing", "theta series", "even", "unimodular"]
    rows = _info_rows(args.lattices, args.max_norm)
    print(_format_table(header, rows))
    print(f"\nall values computed by exact enumeration in {time.perf_counter() - start:.1f} s")
    return 0


def _cmd_vectors(args: argparse.Namespace) -> int:
    lat = lattice_by_name(args.lattice)
    vecs = lat.minimal_vectors(integer=args.integer)
    out = Path(args.output)
    if out.suffix == ".npy":
        np.save(out, vecs)
    elif out.suffix == ".csv":
        fmt = "%d" if args.integer else "%.17g"
        np.savetxt(out, vecs, delimiter=",", fmt=fmt)
    else:
        raise ValueError(f"output must end in .npy or .csv, got {out.name!r}")
    print(f"wrote {vecs.shape[0]} minimal vectors of {lat.name} ({vecs.dtype}) to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``leechkit`` command."""
    parser = argparse.ArgumentParser(prog="leechkit", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="invariants of Zn, Dn, E8 and Leech, computed")
    info.add_argument("--lattices", nargs="+", default=["z8", "d8", "e8", "leech"])
    info.add_argument("--max-norm", type=int, default=4, help="theta series up to this norm")
    info.set_defaults(func=_cmd_info)

    vec = sub.add_parser("vectors", help="write the minimal vectors of a lattice")
    vec.add_argument("lattice", help="leech, e8, zN or dN")
    vec.add_argument("-o", "--output", required=True, help="file ending in .npy or .csv")
    vec.add_argument("--integer", action="store_true", help="integer units (Leech: times √8)")
    vec.set_defaults(func=_cmd_vectors)

    bench_parser = sub.add_parser("bench", help="benchmarks")
    benchmarks = bench_parser.add_subparsers(dest="benchmark", required=True)
    decode = benchmarks.add_parser("decode", help="decodes per second of the fast decoders vs baselines")
    bench.add_arguments(decode)
    decode.set_defaults(func=lambda args: bench.run(args, "leechkit bench decode"))

    train = sub.add_parser("train", help="train a lattice transformer (DDP under torchrun)")
    training.add_train_arguments(train)
    train.set_defaults(func=training.run_train)

    evaluate = sub.add_parser("eval", help="honest bits per character of a checkpoint, with diagnostics")
    training.add_eval_arguments(evaluate)
    evaluate.set_defaults(func=training.run_eval)

    leakage = sub.add_parser("leakage", help="check that past logits ignore future tokens")
    training.add_leakage_arguments(leakage)
    leakage.set_defaults(func=training.run_leakage)

    compress = sub.add_parser("compress", help="xz and zpaq reference bits per character of a corpus")
    training.add_compress_arguments(compress)
    compress.set_defaults(func=training.run_compress)

    quant = sub.add_parser("quantize", help="weight quantization of a checkpoint (rtn, gptq, e8, llvq)")
    quantize.add_quantize_arguments(quant)
    quant.set_defaults(func=quantize.run_quantize)

    tour = sub.add_parser("tour", help="lattice table, then vanilla vs lattice attention trained on the CPU")
    training.add_tour_arguments(tour)
    tour.set_defaults(func=lambda args: training.run_tour(args, lambda: _cmd_info(info.parse_args([]))))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``leechkit`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        parser.exit(2, f"leechkit: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
