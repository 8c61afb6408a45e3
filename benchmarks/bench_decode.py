"""Benchmark of the fast decoders: decodes per second against the general baselines.

Z8, D8, E8 and Leech: the fast ``Lattice.decode`` (one thread and all threads; E8 also with
float32 input) against ``Lattice.closest_point`` (sphere decoder), fpylll's CVP and, for
Leech, the brute-force 8,192-coset search; plus first-call compile times. Prints the table
with the machine and writes it into the ``## Decoding`` section of ``docs/performance.md``.
The same benchmark is ``leechkit bench decode``. Run from the repository root::

    python benchmarks/bench_decode.py              # 20M points per fast row
    python benchmarks/bench_decode.py --no-write   # print only
"""

from __future__ import annotations

import sys

from leechkit.cli.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
