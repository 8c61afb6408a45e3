"""``leechkit bench decode``: decodes per second of the fast decoders against baselines.

For Z8, D8, E8 and the Leech lattice, one run measures

* the fast decoder (``Lattice.decode``) on a large float64 batch, with one Numba thread and
  with all of them, and for E8 also float32 input; with all threads also the decoder
  function writing into a reused output array (``decode_e8(x, out=out)``);
* the general exact sphere decoder ``Lattice.closest_point`` on a smaller batch;
* fpylll's ``CVP.closest_vector`` (if fpylll is importable), one call per point on integer
  targets (``x`` scaled by 2¹⁶ and rounded, in the integer basis);
* for Leech, the brute-force search over the 8,192 cosets of 4D₂₄;
* the first-call compile time of each fast decoder, in a fresh process whose Numba cache is an
  empty folder (first call minus second call).

Every baseline's points are first decoded by the fast decoder too, and the squared distances
must agree. Rates are the best of several repetitions (wall clock, after a warm-up call), and
the ratios are fast ÷ baseline. The table is printed with the machine, and (unless
``--no-write``) written into the ``## Decoding`` section of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from leechkit.lattice import Lattice, dn, e8, leech, zn
from leechkit.lattice.decoders import decode_dn, decode_e8, decode_leech_bruteforce, decode_zn

__all__ = ["add_arguments", "machine_info", "main", "run", "run_decode_benchmark", "write_section"]

SECTION = "## Decoding"
LATTICES: dict[str, Callable[[], Lattice]] = {
    "Z8": lambda: zn(8),
    "D8": lambda: dn(8),
    "E8": e8,
    "Leech": leech,
}
# Decoders that can write into a caller's array (no page faults of a fresh result).
INTO_OUT: dict[str, Callable[..., np.ndarray]] = {"Z8": decode_zn, "D8": decode_dn, "E8": decode_e8}


def machine_info() -> dict[str, str]:
    """Platform, CPU, usable cores, Numba threads and the load average (other work slows timings)."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "unknown"
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "CPU model": model,
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba threads": str(numba.get_num_threads()),
        "load average at start": load,
    }


def _best_rate(fn: Callable[[], object], points: int, repeat: int) -> float:
    """Points per second of the fastest of ``repeat`` calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return points / best


def _fpylll_rate(lat: Lattice, x: np.ndarray) -> float | None:
    """CVP calls per second of fpylll on integer targets, or None without fpylll."""
    try:
        from fpylll import CVP, LLL, IntegerMatrix
    except ImportError:
        return None
    k = 2**16
    basis = IntegerMatrix.from_matrix((k * lat.integer_generator).tolist())
    LLL.reduction(basis)
    # Odd targets stay off exact ties, on which fpylll's Babai step can fail to terminate.
    targets = [tuple(2 * int(v) + 1 for v in row) for row in np.rint(x / lat.scale * k / 2)]
    start = time.perf_counter()
    for t in targets:
        CVP.closest_vector(basis, t)
    return len(targets) / (time.perf_counter() - start)


_COMPILE_CHILD = """
import json, time
import numpy as np
from leechkit.lattice import dn, e8, leech, zn
out = {}
for name, lat in (("Z8", zn(8)), ("D8", dn(8)), ("E8", e8()), ("Leech", leech())):
    x = np.random.default_rng(0).normal(size=(1000, lat.dim))
    t0 = time.perf_counter(); lat.decode(x); t1 = time.perf_counter(); lat.decode(x)
    out[name] = (t1 - t0) - (time.perf_counter() - t1)
print(json.dumps(out))
"""


def compile_times() -> dict[str, float]:
    """First-call minus second-call seconds of each fast decoder, empty Numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        done = subprocess.run(
            [sys.executable, "-c", _COMPILE_CHILD], env=env, capture_output=True, text=True, check=True
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_same_distances(lat: Lattice, x: np.ndarray, reference: np.ndarray) -> None:
    fast = lat.decode(x)
    d_fast = ((x - fast) ** 2).sum(axis=-1)
    d_ref = ((x - reference) ** 2).sum(axis=-1)
    if not np.allclose(d_fast, d_ref, rtol=1e-9, atol=1e-9):
        raise RuntimeError(f"{lat.name}: fast decoder and baseline disagree on distances")


def run_decode_benchmark(points: int, repeat: int, baseline_points: int) -> list[dict[str, object]]:
    """Measure every row of the table; returns dicts with lattice, method, points and rate."""
    rng = np.random.default_rng(2026)
    rows: list[dict[str, object]] = []
    threads = numba.get_num_threads()
    for name, make in LATTICES.items():
        lat = make()
        n_fast = points if name != "Leech" else max(1, points // 100)
        n_base = baseline_points if name != "Leech" else max(1, baseline_points // 20)
        x = rng.normal(size=(n_fast, lat.dim)) * 4
        inputs = [("float64", x)] + ([("float32", x.astype(np.float32))] if name == "E8" else [])
        for t in sorted({1, threads}):
            numba.set_num_threads(t)
            for dtype, data in inputs:
                label = f"fast `decode`, {dtype}, {t} thread{'s' if t > 1 else ''}"
                rate = _best_rate(lambda d=data, f=lat.decode: f(d), n_fast, repeat)
                rows.append({"lattice": name, "method": label, "points": n_fast, "rate": rate})
                if name in INTO_OUT and t == threads:
                    out = np.empty(x.shape)
                    decoder = INTO_OUT[name].__name__
                    label = f"`{decoder}(x, out=out)`, {dtype}, {t} thread{'s' if t > 1 else ''}"
                    rate = _best_rate(lambda d=data, f=INTO_OUT[name], o=out: f(d, out=o), n_fast, repeat)
                    rows.append({"lattice": name, "method": label, "points": n_fast, "rate": rate})
        numba.set_num_threads(threads)
        top = max(r["rate"] for r in rows if r["lattice"] == name)
        if name == "E8":
            # The memory traffic alone (read 64 B, write 64 B per point), for scale.
            out = np.empty_like(x)
            rate = _best_rate(lambda o=out, src=x: np.copyto(o, src), n_fast, repeat)
            method = "reference: `np.copyto` of the same float64 array"
            rows.append({"lattice": name, "method": method, "points": n_fast, "rate": rate})
        xb = x[:n_base]
        start = time.perf_counter()
        ref = lat.closest_point(xb)
        rate = n_base / (time.perf_counter() - start)
        method = "`closest_point` (sphere decoder)"
        rows.append({"lattice": name, "method": method, "points": n_base, "rate": rate})
        _check_same_distances(lat, xb, ref)
        rate = _fpylll_rate(lat, xb)
        if rate is not None:
            rows.append(
                {"lattice": name, "method": "fpylll `CVP.closest_vector`", "points": n_base, "rate": rate}
            )
        if name == "Leech":
            nb = max(1, n_base // 4)
            decode_leech_bruteforce(xb[:2])
            start = time.perf_counter()
            ref = decode_leech_bruteforce(xb[:nb])
            rate = nb / (time.perf_counter() - start)
            rows.append({"lattice": name, "method": "brute force, 8,192 cosets", "points": nb, "rate": rate})
            _check_same_distances(lat, xb[:nb], ref)
        for row in rows:
            if row["lattice"] == name:
                row["ratio"] = top / float(row["rate"])
    return rows


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v / 1e3:.1f} k/s" if v >= 1e3 else f"{v:.0f} /s"


def _table(rows: list[dict[str, object]], compile_s: dict[str, float]) -> tuple[list[str], list[list[str]]]:
    header = ["lattice", "method", "points", "decodes/s", "fastest ÷ this", "first-call compile"]
    body = []
    for r in rows:
        first = r["method"] == "fast `decode`, float64, 1 thread"
        comp = f"{compile_s[r['lattice']]:.1f} s" if first and r["lattice"] in compile_s else ""
        ratio = "1 (fastest)" if abs(float(r["ratio"]) - 1) < 1e-12 else f"{float(r['ratio']):,.1f}×"
        rate = _rate(float(r["rate"]))
        body.append([str(r["lattice"]), str(r["method"]), f"{r['points']:,}", rate, ratio, comp])
    return header, body


def write_section(page: Path, body: str, section: str = SECTION) -> None:
    """Replace the ``section`` heading's section of ``page`` (up to the next ``## ``), or append it.

    Parameters
    ----------
    page : pathlib.Path
        The markdown page (created with a ``# Performance`` title if missing).
    body : str
        The new section text, without its heading.
    section : str
        The heading line, e.g. ``"## Decoding"``.
    """
    text = page.read_text() if page.exists() else "# Performance\n"
    lines = text.splitlines()
    new = [section, "", *body.rstrip("\n").splitlines(), ""]
    if section in lines:
        start = lines.index(section)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = new
    else:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *new]
    page.write_text("\n".join(lines).rstrip("\n") + "\n")


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def _text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    return "\n".join(out + ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows])


NOTES = """What is timed and what limits it:

- Inputs are `normal(0, 4²)` points. The `decode` rows call `Lattice.decode`, which returns
  a new float64 array, so the page faults of the fresh result are included; the
  `out=out` rows decode into a reused array. Rates are the best of the stated repetitions
  after a warm-up call.
- The E8 kernel decodes both cosets in one pass: the coset choice reduces to a short sum of
  exact floats (see `leechkit.lattice.decoders.e8`), and blocks of 128 rows are transposed
  so that this runs as SIMD across points. It is compute-bound: the `np.copyto` row moves
  the same bytes several times faster. What remains is about 20 vector operations per
  coordinate plus the two block transposes, on a CPU (AMD EPYC, Zen) whose AVX2 units run
  256-bit operations as two 128-bit halves. float32 input halves the bytes read but not the
  work. Two threads give up to twice one thread only when the machine is otherwise idle;
  the load average above shows how busy it was (this machine is shared).
- `closest_point` is the general exact sphere decoder every `Lattice` has (Fincke–Pohst on
  the LLL-reduced basis, exact rational tie resolution); fpylll's CVP is timed one Python
  call per point on integer targets in the scaled integer basis, so its rate includes the
  call overhead; the Leech brute force tries all 8,192 cosets of 4D₂₄ per point. Each
  baseline's points are decoded by the fast decoder too, and the squared distances agree.
- First-call compile: a new process with an empty `NUMBA_CACHE_DIR` decodes 1,000 points
  twice; the difference is the compile time. Later processes load the kernels from the
  on-disk cache.
"""
GOAL_E8 = 50e6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the decoding benchmark (shared by the script and the CLI)."""
    parser.add_argument("--points", type=int, default=20_000_000, help="batch size of the fast rows")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of the fast rows")
    parser.add_argument("--baseline-points", type=int, default=4000, help="points for the baselines")
    parser.add_argument("--no-compile", action="store_true", help="skip the first-call compile timing")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs page")
    parser.add_argument("--docs", default="docs/performance.md", help="page to write the section into")


def _options(args: argparse.Namespace) -> str:
    """The options of ``args`` that differ from the defaults, as command-line text."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = vars(parser.parse_args([]))
    parts = []
    for key, value in vars(args).items():
        if key in base and value != base[key] and key != "no_write":
            flag = "--" + key.replace("_", "-")
            parts.append(flag if value is True else f"{flag} {value}")
    return " ".join(parts)


def _goal_line(rows: list[dict[str, object]]) -> str:
    """Whether the best measured E8 rate meets :data:`GOAL_E8`."""
    candidates = [
        r
        for r in rows
        if r["lattice"] == "E8" and "float64" in str(r["method"]) and "reference" not in str(r["method"])
    ]
    best = max(candidates, key=lambda r: float(r["rate"]))
    verdict = "met" if float(best["rate"]) >= GOAL_E8 else "not met"
    return (
        f"E8 goal ≥ {GOAL_E8 / 1e6:.0f} M decodes/s (float64 in and out): best measured "
        f"{_rate(float(best['rate']))} ({best['method']}), goal {verdict}."
    )


def run(args: argparse.Namespace, command: str) -> int:
    """Run with parsed options (see :func:`add_arguments`); ``command`` is recorded in the docs."""
    info = machine_info()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    compile_s = {} if args.no_compile else compile_times()
    rows = run_decode_benchmark(args.points, args.repeat, args.baseline_points)
    header, body = _table(rows, compile_s)
    print("\n".join(f"{k}: {v}" for k, v in info.items()))
    print()
    print(_text(header, body))
    if not args.no_write:
        options = _options(args)
        text = "\n\n".join(
            [
                f"Measured by `{command}{' ' + options if options else ''}` on {started}; "
                "rerunning the command rewrites this section.",
                _markdown(["machine", ""], [[k, v] for k, v in info.items()]),
                _markdown(header, body),
                _goal_line(rows),
                NOTES,
            ]
        )
        write_section(Path(args.docs), text)
        print(f"\nwrote the '{SECTION}' section of {args.docs}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/bench_decode.py``: parse ``argv`` and :func:`run`."""
    parser = argparse.ArgumentParser(prog="bench_decode.py", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv), "python benchmarks/bench_decode.py")
