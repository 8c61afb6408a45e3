"""GPU benchmark of the exact nearest-minimal-vector search (spherical Leech / E8 codes).

One run measures, on the same Gaussian queries:

* the structured torch search of :func:`leechkit.models.lattice_ops.nearest_minimal_vector`
  on the GPU (float64 arithmetic, certified winners, CPU fallback for uncertified rows), in
  eager mode and with the block function compiled by ``torch.compile``;
* the brute-force alternative on the same GPU: the cuBLAS product of the queries with all
  minimal vectors, then ``argmax`` — float32 with TF32 off (IEEE products), and TF32/bf16
  tensor-core variants, which are faster but not exact;
* the Numba search on the machine's CPUs.

Every method's indices are compared with the Numba search (exact). Prints a markdown table
with the device line; ``--json FILE`` also writes the figures. Run on a CUDA machine::

    python benchmarks/bench_gpu.py --points 1000000
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

from leechkit.lattice.quantizers import index_to_vector
from leechkit.lattice.quantizers import nearest_minimal_vector as numba_search
from leechkit.models import lattice_ops


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
    lattice: str, points: int, repeat: int, seed: int, chunk: int, brute_chunk: int
) -> list[dict]:
    """Rows of one code: the structured search, the brute forces and the CPU, same queries."""
    n = 24 if lattice == "leech" else 8
    x_np = np.random.default_rng(seed).standard_normal((points, n)).astype(np.float32)
    x = torch.as_tensor(x_np, device="cuda")
    x64 = x_np.astype(np.float64)
    exact = numba_search(x64, lattice)
    ints = index_to_vector(np.arange(196560 if lattice == "leech" else 240), lattice, integer=True)
    vecs32 = torch.as_tensor(ints, dtype=torch.float32, device="cuda")
    rows = []

    def record(method: str, fn, exact_method: bool) -> None:
        seconds = _best(fn, repeat)
        idx = fn()
        idx = idx.cpu().numpy() if isinstance(idx, torch.Tensor) else idx
        rows.append(
            {
                "code": lattice,
                "method": method,
                "points": points,
                "rate": points / seconds,
                "mismatches": int((idx != exact).sum()),
                "exact": exact_method,
            }
        )

    structured = partial(lattice_ops._device_search, x, lattice, chunk)
    record("structured torch (eager)", structured, True)
    name = "_leech_block" if lattice == "leech" else "_e8_block"
    block = getattr(lattice_ops, name)
    setattr(lattice_ops, name, torch.compile(block, dynamic=False))
    try:
        record("structured torch (torch.compile)", structured, True)
    except Exception as err:  # reported; the eager row still stands
        print(f"torch.compile failed for {lattice}: {type(err).__name__}: {err}", file=sys.stderr)
    finally:
        setattr(lattice_ops, name, block)
    torch.backends.cuda.matmul.allow_tf32 = False
    record("cuBLAS brute force, float32 (TF32 off)", partial(brute_force, x, vecs32, brute_chunk), False)
    torch.backends.cuda.matmul.allow_tf32 = True
    record("cuBLAS brute force, TF32", partial(brute_force, x, vecs32, brute_chunk), False)
    torch.backends.cuda.matmul.allow_tf32 = False
    bf16 = partial(brute_force, x.bfloat16(), vecs32.bfloat16(), brute_chunk)
    record("cuBLAS brute force, bf16", bf16, False)
    record(f"Numba on the CPU ({numba.get_num_threads()} threads)", partial(numba_search, x64, lattice), True)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| code | method | points | queries/s | structured (best) ÷ this | mismatches vs exact |",
        "|---|---|---|---|---|---|",
    ]
    for code in dict.fromkeys(r["code"] for r in rows):
        mine = [r for r in rows if r["code"] == code]
        top = max(float(r["rate"]) for r in mine if str(r["method"]).startswith("structured"))
        for r in mine:
            rate = float(r["rate"])
            lines.append(
                f"| {code} | {r['method']} | {r['points']:,} | {rate / 1e6:.2f} M/s | "
                f"{top / rate:.2f}× | {r['mismatches']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=16384, help="queries per block of the structured search")
    parser.add_argument("--brute-chunk", type=int, default=8192, help="queries per brute-force product")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    print(
        f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
        f"CPU: {platform.processor() or platform.machine()} × {os.cpu_count()}"
    )
    rows = []
    for lattice in ("leech", "e8"):
        rows += run_lattice(lattice, args.points, args.repeat, args.seed, args.chunk, args.brute_chunk)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
