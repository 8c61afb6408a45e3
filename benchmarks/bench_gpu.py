"""GPU benchmark of the lattice operations: exact spherical search and exact decoding.

Spherical search (nearest of the 196,560 Leech minimal vectors / 240 E8 roots), on the same
Gaussian queries:

* :func:`leechkit.models.nearest_minimal_vector` on CUDA tensors: the fused Triton kernels
  (the memory-bound E8 kernel on ``--e8-search-points`` queries), and their plain-torch
  reference (the structured search as batched float64 tensor operations) in eager mode and
  compiled by ``torch.compile``;
* the brute-force alternative on the same GPU: the cuBLAS product of the queries with all
  minimal vectors, then ``argmax`` — float32 with TF32 off (IEEE products), and TF32/bf16
  tensor-core variants, which are faster but not exact;
* the Numba search on the machine's CPUs.

Decoding (closest lattice point, float32 in and out): :func:`leechkit.models.decode` on CUDA
tensors (fused Triton kernels; for Leech both the hexacode kernel, the default, and the group
kernel, through the same fallback chain), against the brute-force alternative on the same GPU (Leech:
the 8,192 (m, codeword) cosets as batched tensor operations; E8: the two-coset rounding as
unfused tensor operations) and the Numba decoders on the machine's CPUs.

Every method's answers are compared with the exact Numba search / decoders. Prints markdown
tables with the device line; ``--json FILE`` also writes the figures and ``--plot FILE`` a
bar chart. Run on a CUDA machine::

    python benchmarks/bench_gpu.py --points 1000000 --plot gpu.png

``--decode-stages [N ...]`` instead splits the default Leech decode of N float32 rows into the
raw hexacode kernel, the redo of the rows it leaves open and ``decode`` end to end (with the
rows in pieces of the default size and of each ``--pieces P``), and prints the profiler's
operator tables of two ``decode`` calls of the first size (``--json``, ``--plot``: the table
as JSON and as a line plot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from functools import partial

import numba
import numpy as np
import torch

from leechkit.lattice.decoders import decode_e8, decode_leech
from leechkit.lattice.quantizers import index_to_vector
from leechkit.lattice.quantizers import nearest_minimal_vector as numba_search
from leechkit.models import decode, lattice_ops


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _best(fn, repeat: int) -> float:
    fn()
    _sync()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - start)
    return best


def brute_force(x: torch.Tensor, vecs: torch.Tensor, chunk: int) -> torch.Tensor:
    """argmax of the product with all minimal vectors, ``chunk`` queries at a time."""
    out = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    for s in range(0, x.shape[0], chunk):
        out[s : s + chunk] = (x[s : s + chunk] @ vecs.T).argmax(dim=1)
    return out


def run_lattice(
    lattice: str, points: int, repeat: int, seed: int, chunk: int, brute_chunk: int, fused_points: int
) -> list[dict]:
    """Rows of one code: the fused kernels, the structured search, the brute forces and the
    CPU, on the same queries (the fused E8 kernel, memory-bound, on the first
    ``fused_points`` of them; every other method on the first ``points``)."""
    n = 24 if lattice == "leech" else 8
    total = points if lattice == "leech" else max(points, fused_points)
    x_all = np.random.default_rng(seed).standard_normal((total, n)).astype(np.float32)
    exact_all = numba_search(x_all, lattice)
    x_np, exact = x_all[:points], exact_all[:points]
    x = torch.as_tensor(x_np, device="cuda")
    x64 = x_np.astype(np.float64)
    ints = index_to_vector(np.arange(196560 if lattice == "leech" else 240), lattice, integer=True)
    vecs32 = torch.as_tensor(ints, dtype=torch.float32, device="cuda")
    rows = []

    def record(method: str, fn, exact_method: bool, want: np.ndarray = exact) -> None:
        seconds = _best(fn, repeat)
        idx = fn()
        idx = idx.cpu().numpy() if isinstance(idx, torch.Tensor) else idx
        rows.append(
            {
                "task": "search",
                "code": lattice,
                "method": method,
                "points": len(want),
                "rate": len(want) / seconds,
                "mismatches": int((idx != want).sum()),
                "exact": exact_method,
            }
        )

    if lattice == "e8" and lattice_ops._triton_ready(x):
        big = torch.as_tensor(x_all[:fused_points], device="cuda")
        record(
            "fused Triton kernel",
            partial(lattice_ops._device_search, big, lattice, chunk),
            True,
            exact_all[:fused_points],
        )
        del big
    structured = partial(lattice_ops._device_search, x, lattice, chunk)
    if lattice == "leech" and lattice_ops._triton_ready(x):
        # float32 queries run the float32 kernel (float64 for the rows its margin leaves
        # open); the same queries as float64 tensors run the float64 kernel.
        record("fused Triton kernel (float32)", structured, True)
        wide = partial(lattice_ops._device_search, x.double(), lattice, chunk)
        record("fused Triton kernel (float64)", wide, True)
    os.environ["LEECHKIT_NO_TRITON"] = "1"
    try:
        record("structured torch reference (eager)", structured, True)
        name = "_leech_scores" if lattice == "leech" else "_e8_block"
        block = getattr(lattice_ops, name)
        setattr(lattice_ops, name, torch.compile(block, dynamic=False))
        try:
            record("structured torch reference (torch.compile)", structured, True)
        except Exception as err:  # reported; the other rows still stand
            print(f"torch.compile failed for {lattice}: {type(err).__name__}: {err}", file=sys.stderr)
        finally:
            setattr(lattice_ops, name, block)
    finally:
        del os.environ["LEECHKIT_NO_TRITON"]
    torch.backends.cuda.matmul.allow_tf32 = False
    record("cuBLAS brute force, float32 (TF32 off)", partial(brute_force, x, vecs32, brute_chunk), False)
    torch.backends.cuda.matmul.allow_tf32 = True
    record("cuBLAS brute force, TF32", partial(brute_force, x, vecs32, brute_chunk), False)
    torch.backends.cuda.matmul.allow_tf32 = False
    bf16 = partial(brute_force, x.bfloat16(), vecs32.bfloat16(), brute_chunk)
    record("cuBLAS brute force, bf16", bf16, False)
    record(f"Numba on the CPU ({numba.get_num_threads()} threads)", partial(numba_search, x64, lattice), True)
    return rows


def _e8_unfused(x: torch.Tensor) -> torch.Tensor:
    """Conway–Sloane's E8 decoder as plain tensor operations (float64, no tie fallback)."""
    y = x.double()
    cands = []
    for half in (0.0, 0.5):
        u = y - half
        r = torch.round(u)
        err = u - r
        odd = r.sum(1).remainder(2) != 0
        k = err.abs().argmax(1)
        rows = torch.arange(y.shape[0], device=y.device)
        r[rows, k] += torch.where(odd, torch.where(err[rows, k] >= 0, 1.0, -1.0), 0.0)
        cands.append(r + half)
    d0, d1 = (((y - c) ** 2).sum(1) for c in cands)
    return torch.where((d1 < d0)[:, None], cands[1], cands[0]).float()


def _leech_cosets(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """Closest Leech points by the 8,192-coset formulation as batched tensor operations."""
    t = lattice_ops._tables("leech", x.device)
    y = x.double() * lattice_ops._SQRT8
    win, _, second = lattice_ops._leech_decode_scores_reference(y, t, chunk)
    q, _ = lattice_ops._leech_point(y, win, second, t)
    return (q.double() / lattice_ops._SQRT8).float()


def _decode_with(kernel: str, x: torch.Tensor) -> torch.Tensor:
    """:func:`leechkit.models.decode` of Leech rows with the given fused kernel."""
    default = lattice_ops.LEECH_DECODE_KERNEL
    lattice_ops.LEECH_DECODE_KERNEL = kernel
    try:
        return decode(x, "leech")
    finally:
        lattice_ops.LEECH_DECODE_KERNEL = default


def run_decode(lattice: str, points: int, repeat: int, seed: int, coset_points: int) -> list[dict]:
    """Rows of one decoder: the fused kernel, the GPU brute force and Numba, float32 in and out."""
    n = 24 if lattice == "leech" else 8
    scale = 1.5 if lattice == "leech" else 3.0
    x_np = (np.random.default_rng(seed).standard_normal((points, n)) * scale).astype(np.float32)
    x = torch.as_tensor(x_np, device="cuda")
    numba_decode = decode_leech if lattice == "leech" else decode_e8
    exact = numba_decode(x_np).astype(np.float32)
    rows = []

    def record(method: str, fn, count: int, exact_method: bool) -> None:
        seconds = _best(fn, repeat)
        out = fn()
        out = out.cpu().numpy() if isinstance(out, torch.Tensor) else out.astype(np.float32)
        rows.append(
            {
                "task": "decode",
                "code": lattice,
                "method": method,
                "points": count,
                "rate": count / seconds,
                "mismatches": int((out != exact[:count]).any(axis=1).sum()),
                "exact": exact_method,
            }
        )

    if lattice == "leech":
        # The two fused Leech kernels through the same decode() (float32 in and out, the CPU
        # fallback included): the hexacode decoder first (the default), then the group DP.
        kernels = (("hexacode", "hexacode, one thread per row"), ("groups", "256 groups as tile lanes"))
        for kernel, label in kernels:
            record(f"fused Triton kernel ({label})", partial(_decode_with, kernel, x), points, True)
    else:
        record("fused Triton kernel", partial(decode, x, lattice), points, True)
    if lattice == "leech":
        sub = x[:coset_points]
        record("8,192 cosets as tensor ops", partial(_leech_cosets, sub, 512), coset_points, False)
    else:
        sub = x[: min(points, 20_000_000)]
        record("two-coset rounding as tensor ops", partial(_e8_unfused, sub), sub.shape[0], False)
    cpu_points = min(points, 1_000_000 if lattice == "leech" else 10_000_000)
    record(
        f"Numba on the CPU ({numba.get_num_threads()} threads)",
        partial(numba_decode, x_np[:cpu_points]),
        cpu_points,
        True,
    )
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| task | code | method | points | per second | fused ÷ this | mismatches vs exact |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in dict.fromkeys((r["task"], r["code"]) for r in rows):
        mine = [r for r in rows if (r["task"], r["code"]) == key]
        fused = [float(r["rate"]) for r in mine if str(r["method"]).startswith("fused Triton kernel")]
        top = fused[0] if fused else max(float(r["rate"]) for r in mine)
        for r in mine:
            rate = float(r["rate"])
            lines.append(
                f"| {r['task']} | {r['code']} | {r['method']} | {r['points']:,} | {rate / 1e6:,.2f} M/s | "
                f"{top / rate:.2f}× | {r['mismatches']} |"
            )
    return "\n".join(lines)


def _merged_rows(paths: list[str]) -> list[dict[str, object]]:
    """The rows of several ``--json`` files; a later file's (task, code) groups replace the
    same groups of the earlier files, in the earlier files' order."""
    groups: dict[tuple[object, object], list[dict[str, object]]] = {}
    for path in paths:
        with open(path) as f:
            rows = json.load(f)
        fresh: dict[tuple[object, object], list[dict[str, object]]] = {}
        for r in rows:
            fresh.setdefault((r["task"], r["code"]), []).append(r)
        groups.update(fresh)
    return [r for group in groups.values() for r in group]


def plot(rows: list[dict[str, object]], path: str, device: str) -> None:
    """Horizontal bars of throughput per task and code, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys((r["task"], r["code"]) for r in rows))
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 1.2 + 0.55 * len(rows)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        mine = [r for r in rows if (r["task"], r["code"]) == key]
        labels = [str(r["method"]) for r in mine]
        rates = [float(r["rate"]) for r in mine]
        colors = ["tab:green" if str(r["method"]).startswith("fused") else "tab:gray" for r in mine]
        ax.barh(labels, rates, color=colors)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_title(f"{key[0]} — {key[1]}", fontsize=10)
        ax.tick_params(labelsize=8)
    axes[-1, 0].set_xlabel(f"points per second ({device})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def sweep(points: int, repeat: int, seed: int, registers: list[int], hexacode_only: bool = False) -> None:
    """Rows per second of the raw Leech kernels (no host work) for each launch shape, and of
    the fused hexacode kernel at its default shape under each register cap of ``registers``
    (``hexacode_only``: only the fused hexacode kernel, at its default shape and the caps)."""
    from leechkit.models import _triton_kernels as kernels

    t = lattice_ops._tables("leech", torch.device("cuda"))
    x = torch.as_tensor(np.random.default_rng(seed).standard_normal((points, 24)), device="cuda")
    x = x / x.abs().amax(dim=1, keepdim=True)
    y = x * lattice_ops._SQRT8 * 1.5
    search = (t["octad_positions"], t["float_signs"], t["word_index32"])
    decode_tables = (t["column_patterns"], t["coset_bits"], t["even_masks"], t["even_colbits32"])
    runs = []
    for dtype in (torch.float32, torch.float64):
        xd = x.to(dtype)
        margin = lattice_ops._SEARCH_MARGINS[dtype]
        for block, warps in ((32, 1), (64, 2), (128, 4), (256, 8), (128, 2), (256, 4)):
            run = partial(kernels.leech_search, xd, *search, margin, block, warps)
            runs.append((f"search, {str(dtype)[6:]}", block, warps, run))
    for block, warps in ((4, 1), (4, 2), (8, 2), (8, 4), (16, 4), (32, 4), (8, 8), (16, 8)):
        run = partial(kernels.leech_decode, y, *decode_tables, block, warps)
        runs.append(("decode (groups)", block, warps, run))
    hexacode_tables = (t["hexacode_words"], t["column_vec0"], t["hexacode_ids"], t["root8"])
    x32 = (x * 1.5).float()
    for block, warps in ((32, 1), (64, 2), (128, 4), (256, 8)):
        run = partial(kernels.leech_decode_points, x32, *hexacode_tables, block, warps)
        runs.append(("decode (hexacode, fused, float32)", block, warps, run))
        run = partial(kernels.leech_decode_hexacode, y, *hexacode_tables, block, warps)
        runs.append(("decode (hexacode, leech_decode contract)", block, warps, run))
    if hexacode_only:
        run = partial(kernels.leech_decode_points, x32, *hexacode_tables)
        runs = [("decode (hexacode, fused, float32)", 128, 4, run)]
    for cap in registers:
        run = partial(kernels.leech_decode_points, x32, *hexacode_tables, max_registers=cap)
        runs.append((f"decode (hexacode, fused, float32, ≤ {cap} registers)", 128, 4, run))
    print("| kernel | rows per program | warps | rows per second |\n|---|---:|---:|---:|", flush=True)
    for name, block, warps, run in runs:
        try:
            rate = f"{points / _best(run, repeat):,.0f}"
        except (RuntimeError, ValueError) as error:
            # Some launch shapes cannot compile (the decoder's tl.gather must stay within a
            # warp; its wrapper rejects them up front); the sweep records that and goes on.
            rate = f"rejected ({str(error).splitlines()[0]})"
        print(f"| {name} | {block} | {warps} | {rate} |", flush=True)


def decode_stages(sizes: list[int], repeat: int, seed: int, pieces: list[int]) -> list[dict[str, object]]:
    """Where the time of the default Leech decode of float32 Gaussian rows (σ = 1.5) goes, per
    input size: the raw fused hexacode kernel, the redo of the rows it leaves open (the
    groups kernel in float64, then the CPU for rows still open) on its own, and
    :func:`leechkit.models.decode` end to end (best of ``repeat`` after a warm-up call), with
    the rows in pieces of the default :data:`lattice_ops._PIECE_ROWS` and of each of
    ``pieces`` rows (the redo of a piece overlaps the kernel of the next ones). Returns the
    table's rows (rates in rows per second, ``decode`` keyed by piece size)."""
    from leechkit.models import _triton_kernels as kernels

    t = lattice_ops._tables("leech", torch.device("cuda"))
    tables = (t["hexacode_words"], t["column_vec0"], t["hexacode_ids"], t["root8"])
    g = torch.Generator(device="cuda").manual_seed(seed)
    default = lattice_ops._PIECE_ROWS
    choices = [default] + [p for p in pieces if p != default]
    names = [f"pieces of {p:,} rows{' (default)' if p == default else ''}" for p in choices]
    head = "| rows | open rows | raw kernel (rows/s) | redo of the open rows | decode(), "
    print(f"{head}{' | '.join(names)} |")
    print("|---:|---:|---:|---:|" + "---:|" * len(choices), flush=True)
    rows: list[dict[str, object]] = []
    for n in sizes:
        x = torch.randn(n, 24, device="cuda", generator=g) * 1.5
        _, ok = kernels.leech_decode_points(x, *tables)
        left = x[torch.nonzero(~ok).flatten()]
        raw = _best(partial(kernels.leech_decode_points, x, *tables), repeat)
        redo = _best(partial(lattice_ops._leech_decode_groups, left, 1 << 20), repeat)
        totals = []
        try:
            for p in choices:
                lattice_ops._PIECE_ROWS = p
                totals.append(_best(partial(decode, x, "leech"), repeat))
        finally:
            lattice_ops._PIECE_ROWS = default
        rates = " | ".join(f"{n / total / 1e6:,.1f} M" for total in totals)
        print(
            f"| {n:,} | {len(left):,} ({len(left) / n:.3%}) | {n / raw / 1e6:,.1f} M | "
            f"{redo * 1e3:.2f} ms | {rates} |",
            flush=True,
        )
        rows.append(
            {
                "rows": n,
                "open_rows": len(left),
                "raw_kernel": n / raw,
                "redo_seconds": redo,
                "default_piece_rows": default,
                "decode": {str(p): n / total for p, total in zip(choices, totals)},
            }
        )
        del x, left
    _profile_decode(sizes[0], seed)
    return rows


def plot_stages(rows: list[dict[str, object]], path: str, device: str) -> None:
    """Rows per second against the number of rows: the raw hexacode kernel and
    :func:`decode` end to end for each piece size, beside the 10⁹/s goal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(r["rows"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(sizes, [float(r["raw_kernel"]) for r in rows], "k--", marker="o", label="raw hexacode kernel")
    default = str(rows[0]["default_piece_rows"])
    for piece in rows[0]["decode"]:
        rates = [float(r["decode"][piece]) for r in rows]
        mark = " (default)" if piece == default else ""
        name = f"decode(), pieces of 2^{int(piece).bit_length() - 1} rows{mark}"
        ax.plot(sizes, rates, marker="o", linewidth=2.5 if piece == default else 1.2, label=name)
    ax.axhline(1e9, color="tab:red", linewidth=0.8, label="goal 10⁹ decodes/s")
    ax.set_xscale("log")
    ax.set_xlabel("float32 rows per call")
    ax.set_ylabel("rows per second")
    ax.set_title(f"Exact Leech decoding on the GPU ({device})", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _profile_decode(n: int, seed: int) -> None:
    """Operators of two :func:`decode` calls of ``n`` rows, by device time and by host time:
    where the time beside the raw kernel goes (synchronisations show on the host side)."""
    from torch.profiler import ProfilerActivity, profile

    x = torch.randn(n, 24, device="cuda", generator=torch.Generator(device="cuda").manual_seed(seed)) * 1.5
    decode(x, "leech")
    _sync()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(2):
            decode(x, "leech")
        _sync()
    averages = prof.key_averages()
    print(f"\nprofile of two decode() calls of {n:,} rows, by device time:")
    print(averages.table(sort_by="self_device_time_total", row_limit=12))
    print("by host time:")
    print(averages.table(sort_by="self_cpu_time_total", row_limit=12), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=16384, help="queries per block of the structured search")
    parser.add_argument("--brute-chunk", type=int, default=8192, help="queries per brute-force product")
    parser.add_argument("--leech-points", type=int, default=4_000_000, help="points for the Leech decoders")
    parser.add_argument("--e8-points", type=int, default=100_000_000, help="points for the E8 decoders")
    parser.add_argument("--coset-points", type=int, default=20_000, help="points of the 8,192-coset baseline")
    parser.add_argument(
        "--e8-search-points", type=int, default=100_000_000, help="points for the fused E8 search"
    )
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument(
        "--codes", nargs="+", choices=("leech", "e8"), default=["leech", "e8"], help="the lattices to time"
    )
    parser.add_argument(
        "--sweep", action="store_true", help="only time the raw Leech kernels per launch shape"
    )
    parser.add_argument(
        "--hexacode-only", action="store_true", help="--sweep: only the fused hexacode kernel and its caps"
    )
    parser.add_argument(
        "--max-registers",
        type=int,
        nargs="*",
        default=[],
        metavar="R",
        help="--sweep: also time the fused hexacode kernel with at most R registers per thread",
    )
    parser.add_argument(
        "--decode-stages",
        type=int,
        nargs="*",
        default=None,
        metavar="N",
        help="only the stages of the default Leech decode (raw kernel, redo, end to end) at N rows",
    )
    parser.add_argument(
        "--pieces",
        type=int,
        nargs="*",
        default=[1 << 20, 1 << 22, 1 << 24, 1 << 26],
        metavar="P",
        help="--decode-stages: also time decode() with the rows in pieces of P rows",
    )
    parser.add_argument(
        "--replot",
        nargs="+",
        default=None,
        metavar="JSON",
        help="no GPU: print the table and draw --plot from the rows of earlier --json files "
        "(a later file's (task, code) groups replace an earlier file's)",
    )
    parser.add_argument("--device-name", default="GPU", help="--replot: the device named on the plot")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--plot", default=None, help="also draw the throughput bars to this PNG")
    args = parser.parse_args(argv)
    if args.replot:
        rows = _merged_rows(args.replot)
        print(table(rows))
        if args.plot:
            plot(rows, args.plot, args.device_name)
        return 0
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    print(
        f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
        f"CPU: {platform.processor() or platform.machine()} × {os.cpu_count()}"
    )
    if args.decode_stages is not None:
        rows = decode_stages(
            args.decode_stages or [4_000_000, 16_000_000, 64_000_000], args.repeat, args.seed, args.pieces
        )
        if args.plot:
            plot_stages(rows, args.plot, torch.cuda.get_device_name())
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
        return 0
    if args.sweep:
        sweep(args.points, args.repeat, args.seed, args.max_registers, args.hexacode_only)
        return 0
    rows = []
    for lattice in args.codes:
        count = args.leech_points if lattice == "leech" else args.e8_points
        rows += run_decode(lattice, count, args.repeat, args.seed, args.coset_points)
        print(table(rows), flush=True)
    if not args.skip_search:
        for lattice in args.codes:
            sizes = (args.points, args.repeat, args.seed, args.chunk, args.brute_chunk, args.e8_search_points)
            rows += run_lattice(lattice, *sizes)
    print(table(rows))
    if args.plot:
        plot(rows, args.plot, torch.cuda.get_device_name())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
