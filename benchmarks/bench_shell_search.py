"""The LLVQ encoder on a device against the Numba host search, in the same run.

For each ``max_norm`` (shells 4 … max_norm) and i.i.d. Gaussian rows of 24 values (float32,
as weights come), this times:

* **host**: :meth:`LeechShellCode.nearest` (Numba, all threads), the current llvq path;
* **device search**: :func:`leechkit.models.shell_search.shell_search_device` alone, the
  winning pairs and their certificates on the device (synchronized);
* **end to end**: :func:`leechkit.models.shell_nearest`: the device search, the ranking of
  the certified pairs' points on the device (the rules of :meth:`LeechShellCode.pair_points`)
  and the host search of the rows left open, with the copies between them;

and reports rows/s and weights/s (24 per row), the fraction of rows certified on the device
after each round, and checks that the end-to-end result equals the host's, index for index.

    python benchmarks/bench_shell_search.py --device cuda --rows 1000000
    python benchmarks/bench_shell_search.py --device cpu --rows 2000     # slow; certificates
    python benchmarks/bench_shell_search.py --device cuda --rows 55296 --max-norms 24 --profile 25
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
import torch

from leechkit.lattice.quantizers.shells import LeechShellCode
from leechkit.models import shell_nearest
from leechkit.models import shell_search as ss

GOAL = 1e7  # weights per second on one H100/H200


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeat: int):
    out = fn()  # warm-up (and the result)
    best = float("inf")
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return out, best


def _rate(r: float) -> str:
    return f"{r / 1e6:.2f} M/s" if r >= 1e6 else f"{r / 1e3:.1f} k/s" if r >= 1e3 else f"{r:.0f} /s"


def measure(max_norm: int, x: np.ndarray, device: torch.device, repeat: int, chunk: int | None) -> dict:
    code = LeechShellCode(max_norm)
    xt = torch.as_tensor(x, device=device)
    host, t_host = _timed(lambda: code.nearest(x.astype(np.float64)), device, repeat)
    rounds = ss.DEFAULT_ROUNDS
    certified = []
    for r in range(2, len(rounds) + 1):
        _, _, ok = ss.shell_search_device(xt, code, rounds=rounds[:r], chunk_size=chunk)
        certified.append(float(ok.float().mean()))
    _, t_dev = _timed(lambda: ss.shell_search_device(xt, code, chunk_size=chunk), device, repeat)
    (idx, vec), t_e2e = _timed(lambda: shell_nearest(xt, code, search="device"), device, repeat)
    same = np.array_equal(idx.cpu().numpy(), host[0]) and np.array_equal(vec.cpu().numpy(), host[1])
    n = len(x)
    return {
        "host": n / t_host,
        "device": n / t_dev,
        "e2e": n / t_e2e,
        "certified": certified,
        "same": same,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rows", type=int, default=None, help="default 10⁶ on CUDA, 2,000 on the CPU")
    parser.add_argument("--max-norms", type=int, nargs="+", default=[8, 12, 24])
    parser.add_argument("--repeat", type=int, default=2, help="timed runs after a warm-up (best kept)")
    parser.add_argument("--chunk", type=int, default=None, help="rows per device batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="ROWS",
        help="also print the ROWS costliest operators of one end-to-end call at the last max_norm",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = args.rows or (1_000_000 if device.type == "cuda" else 2_000)
    x = np.random.default_rng(args.seed).standard_normal((rows, 24)).astype(np.float32)
    name = f"CPU, {torch.get_num_threads()} torch threads"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    print(f"{rows:,} Gaussian float32 rows, seed {args.seed}; device: {name}; "
          f"host: Numba, {numba.get_num_threads()} threads; torch {torch.__version__}\n")
    print("| max_norm | host rows/s (weights/s) | device search rows/s (weights/s) "
          "| end to end rows/s (weights/s) | certified on the device after rounds 2, 3, … | equal to host |")
    print("|---:|---:|---:|---:|---:|:---:|")
    for max_norm in args.max_norms:
        r = measure(max_norm, x, device, args.repeat, args.chunk)
        cells = [f"{_rate(r[k])} ({_rate(24 * r[k])})" for k in ("host", "device", "e2e")]
        cert = ", ".join(f"{c:.2%}" for c in r["certified"])
        print(f"| {max_norm} | " + " | ".join(cells) + f" | {cert} | {'yes' if r['same'] else 'NO'} |")
        if max_norm == 24:
            verdict = "met" if 24 * r["e2e"] >= GOAL else "not met"
            print(f"\ngoal ≥ 10⁷ weights/s end to end at max_norm 24: {_rate(24 * r['e2e'])}, {verdict}\n")
        if not r["same"]:
            return 1
    if args.profile:
        _profile(LeechShellCode(args.max_norms[-1]), torch.as_tensor(x, device=device), device, args.profile)
    return 0


def _profile(code: LeechShellCode, xt: torch.Tensor, device: torch.device, rows: int) -> None:
    """Where one end-to-end call spends its time: device kernels and host operators."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    shell_nearest(xt, code, search="device")
    with profile(activities=activities) as prof:
        shell_nearest(xt, code, search="device")
        _sync(device)
    averages = prof.key_averages()
    print(f"profile of one end-to-end call, max_norm {code.max_norm}, {xt.shape[0]:,} rows:")
    if device.type == "cuda":
        print(averages.table(sort_by="self_device_time_total", row_limit=rows, max_name_column_width=48))
    print(averages.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48))


if __name__ == "__main__":
    raise SystemExit(main())
