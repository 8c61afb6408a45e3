"""Benchmark of the lattice core: Leech minimal vectors and theta series.

Measured, each against a reference taken in the same run:

(a) Building the 196,560 minimal vectors of the Leech lattice from the Golay code
    (``leech_minimal_vectors_integer``, its cache cleared before every repetition), against
    the generic path: ``Lattice.minimal_vectors`` of a plain :class:`Lattice` with the same
    integer basis and scale, which LLL-reduces the basis, finds the minimal norm and
    enumerates all vectors of that norm. Both results are checked to be the same set.
(b) The theta series of Leech up to norm 6 (1 + 196,560 + 16,773,120 = 16,969,681 vectors
    enumerated), steady state, and the first call in a fresh process with an empty Numba
    cache (so it includes compiling the enumeration kernel); E8 up to norm 8 for reference.

The figures are printed as a table together with the machine they were measured on, and
written into the ``## Lattice core`` section of ``docs/performance.md`` (other sections of
that file are left as they are). Run from the repository root::

    python benchmarks/bench_core.py              # default: 3 repetitions of the slow timings
    python benchmarks/bench_core.py --no-write   # print only
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from leechkit.lattice import Lattice, e8, golay_code, leech

# `leechkit.lattice.lattices.leech` is shadowed by the function `leech` as an attribute of
# its package, so the module is fetched from the import system.
leech_module = importlib.import_module("leechkit.lattice.lattices.leech")

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_PAGE = REPO_ROOT / "docs" / "performance.md"
SECTION = "## Lattice core"
LEECH_THETA_6 = {0: 1, 2: 0, 4: 196560, 6: 16773120}
E8_THETA_8 = {0: 1, 2: 240, 4: 2160, 6: 6720, 8: 17520}
THETA_GOAL_S = 30.0


# --- machine ---------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    """Total memory from /proc/meminfo, in GiB, as text."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def load_average() -> str:
    """1-, 5- and 15-minute load averages (other work on the machine slows the timings)."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def machine_info() -> dict[str, str]:
    """Platform, cores, CPU model, memory, library versions and Numba threads."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "CPU model": cpu_model(),
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "memory": memory_gib(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba threads": str(numba.get_num_threads()),
        "load average at start": load_average(),
    }


def git_revision() -> str:
    """Short commit hash of the working tree (with ``+dirty`` if it has changes), or ``unknown``."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


# --- timing ----------------------------------------------------------------------------------
def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    """Wall-clock seconds of ``repeat`` calls of ``fn`` and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def build_from_golay() -> np.ndarray:
    """The Leech minimal vectors from the Golay code, the Golay code itself already built."""
    leech_module.leech_minimal_vectors_integer.cache_clear()
    return leech_module.leech_minimal_vectors_integer()


def build_from_scratch() -> np.ndarray:
    """As :func:`build_from_golay`, but constructing the Golay code (MOG + hexacode) too."""
    golay_code.cache_clear()
    return build_from_golay()


def build_generic() -> np.ndarray:
    """The minimal vectors by enumeration: a fresh base-class Lattice with Leech's basis."""
    lat = leech()
    plain = Lattice(lat.integer_generator, lat.exact_scale, name="Leech (generic)")
    return plain.minimal_vectors(integer=True)


def theta_as_ints(theta: dict) -> dict[int, int]:
    """``{norm: count}`` with the (integral) exact norms converted to ``int``."""
    return {int(k): int(v) for k, v in theta.items()}


def cold_child() -> None:
    """Run in a fresh process with an empty NUMBA_CACHE_DIR: first and second theta call."""
    start = time.perf_counter()
    lat = leech()
    construct = time.perf_counter() - start
    start = time.perf_counter()
    first = theta_as_ints(lat.theta_series(6))
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    second = theta_as_ints(lat.theta_series(6))
    second_s = time.perf_counter() - start
    if first != LEECH_THETA_6 or second != LEECH_THETA_6:
        raise AssertionError(f"wrong Leech theta series: {first}, {second}")
    # The first call also LLL-reduces the basis once; time that on a fresh instance (kernel
    # compiled by now, and norm 0 has a single vector) to separate it from the compilation.
    fresh = Lattice(lat.integer_generator, lat.exact_scale)
    start = time.perf_counter()
    fresh.theta_series(0)
    setup_s = time.perf_counter() - start
    print(
        json.dumps(
            {"construct_s": construct, "first_s": first_s, "second_s": second_s, "setup_s": setup_s}
        )
    )


def run_cold() -> dict[str, float]:
    """First-call timing of the Leech theta series in a new process with an empty Numba cache."""
    with tempfile.TemporaryDirectory(prefix="leechkit-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--cold-child"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- report ----------------------------------------------------------------------------------
def fmt_s(seconds: float) -> str:
    """Seconds with a sensible number of digits."""
    if seconds < 1e-2:
        return f"{seconds * 1e3:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table for the terminal."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def write_section(page: Path, body: str) -> None:
    """Replace the ``## Lattice core`` section of ``page`` (up to the next ``## `` heading)."""
    text = page.read_text() if page.exists() else "# Performance\n"
    lines = text.splitlines()
    new = [SECTION, "", *body.rstrip("\n").splitlines(), ""]
    try:
        start = lines.index(SECTION)
    except ValueError:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *new]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = new
    page.write_text("\n".join(lines).rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and (unless ``--no-write``) update the docs page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the slow timings (default 3)")
    parser.add_argument("--fast-repeat", type=int, default=20, help="runs of the fast ones (default 20)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold_child:
        cold_child()
        return 0
    if args.repeat < 1 or args.fast_repeat < 1:
        parser.error("repetitions must be at least 1")

    command = " ".join(["python benchmarks/bench_core.py", *(argv if argv is not None else sys.argv[1:])])
    machine = machine_info()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(text_table(["machine", ""], [[k, v] for k, v in machine.items()]))
    print()

    # Warm-up: load (or compile) the enumeration kernels and build the cached objects, so that
    # the timings below are steady-state.
    lat = leech()
    e8().theta_series(2)
    e8().minimal_vectors()
    lat.theta_series(0)

    # (a) minimal vectors.
    golay_times, golay_vecs = timed(build_from_golay, args.fast_repeat)
    scratch_times, _ = timed(build_from_scratch, args.fast_repeat)
    generic_times, generic_vecs = timed(build_generic, args.repeat)
    golay_sorted = np.asarray(golay_vecs, dtype=np.int64)
    golay_sorted = golay_sorted[np.lexsort(golay_sorted.T[::-1])]
    if golay_vecs.shape != (196560, 24) or not np.array_equal(golay_sorted, generic_vecs):
        raise AssertionError("the Golay construction and the enumeration disagree")

    # (b) theta series.
    theta_times, theta = timed(lambda: theta_as_ints(lat.theta_series(6)), args.repeat)
    if theta != LEECH_THETA_6:
        raise AssertionError(f"wrong Leech theta series {theta}")
    e8_times, e8_theta = timed(lambda: theta_as_ints(e8().theta_series(8)), args.fast_repeat)
    if e8_theta != E8_THETA_8:
        raise AssertionError(f"wrong E8 theta series {e8_theta}")
    cold = run_cold()

    med = statistics.median
    ratio = med(generic_times) / med(golay_times)
    ratio_scratch = med(generic_times) / med(scratch_times)
    n_theta = sum(LEECH_THETA_6.values())
    header = ["task", "median", "best", "runs", "result"]
    rows = [
        [
            "Leech minimal vectors from the Golay code (code cached)",
            fmt_s(med(golay_times)),
            fmt_s(min(golay_times)),
            str(args.fast_repeat),
            f"196,560 vectors; {ratio:,.0f}× faster than the baseline",
        ],
        [
            "same, Golay code rebuilt too (MOG + hexacode)",
            fmt_s(med(scratch_times)),
            fmt_s(min(scratch_times)),
            str(args.fast_repeat),
            f"{ratio_scratch:,.0f}× faster than the baseline",
        ],
        [
            "baseline: generic `Lattice.minimal_vectors` (LLL + enumeration)",
            fmt_s(med(generic_times)),
            fmt_s(min(generic_times)),
            str(args.repeat),
            "same set of 196,560 vectors (checked)",
        ],
        [
            "Leech theta series up to norm 6 (steady state)",
            fmt_s(med(theta_times)),
            fmt_s(min(theta_times)),
            str(args.repeat),
            f"{n_theta:,} vectors, {n_theta / med(theta_times) / 1e6:.2f} M/s; "
            f"goal < {THETA_GOAL_S:.0f} s {'met' if med(theta_times) < THETA_GOAL_S else 'NOT met'}",
        ],
        [
            "Leech theta series up to norm 6, first call, empty Numba cache",
            fmt_s(cold["first_s"]),
            "",
            "1",
            f"compile ≈ {fmt_s(cold['first_s'] - cold['second_s'] - cold['setup_s'])}: first call "
            f"− second call ({fmt_s(cold['second_s'])}) − basis reduction ({fmt_s(cold['setup_s'])})",
        ],
        [
            "E8 theta series up to norm 8 (reference)",
            fmt_s(med(e8_times)),
            fmt_s(min(e8_times)),
            str(args.fast_repeat),
            "1 + 240 + 2,160 + 6,720 + 17,520 vectors",
        ],
    ]
    print(text_table(header, rows))
    print(f"\ncommand: {command}\nload average at the end: {load_average()}")

    if not args.no_write:
        body = "\n".join(
            [
                f"Measured by `{command}` on {when} (commit `{git_revision()}`); every figure "
                "below comes from that run, and rerunning the command rewrites this section.",
                "",
                markdown_table(
                    ["machine", ""],
                    [*([k, v] for k, v in machine.items()), ["load average at the end", load_average()]],
                ),
                "",
                markdown_table(header, rows),
                "",
                "What is timed:",
                "",
                "- **Minimal vectors.** `leech_minimal_vectors_integer()` writes the three shapes "
                "(±4², 0²²), (±2⁸, 0¹⁶) and (∓3, ±1²³) straight from the octads and codewords of the "
                "Golay code; its cache is cleared before each run. The baseline, in the same run, is "
                "the generic path every `Lattice` has: a fresh `Lattice(leech().integer_generator, "
                "leech().exact_scale)` LLL-reduces the basis, finds the minimal norm and enumerates "
                "all vectors of that norm (Fincke–Pohst), then sorts them. The benchmark checks that "
                "both give the same set of vectors.",
                "- **Theta series.** `leech().theta_series(6)` enumerates every vector of norm ≤ 6 "
                "with the single-threaded Numba kernel (the Numba thread count matters only for "
                "`closest_point`). The first-call row runs in a new process whose `NUMBA_CACHE_DIR` "
                "is an empty folder, so it pays for compiling the kernel; the kernels are cached on "
                "disk afterwards, and a later process only loads them.",
                "- Medians and best of the stated number of runs; wall-clock time "
                "(`time.perf_counter`), after a warm-up that loads the kernels. The load averages "
                "show how busy the machine was; the one at the end includes the benchmark's own "
                "process (about 1 while it runs).",
            ]
        )
        write_section(DOCS_PAGE, body)
        print(f"updated {DOCS_PAGE.relative_to(REPO_ROOT)} ({SECTION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
