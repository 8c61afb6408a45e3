"""Registers and spills of the Triton kernels per launch shape, compiled for a GPU without one.

Every kernel of :mod:`leechkit.models._triton_kernels` is compiled ahead of time
(``triton.compile`` for the target, default sm_90 = H100) at the launch shapes that
``benchmarks/bench_gpu.py --sweep`` times, and Triton's own ``ptxas -v`` reports its registers
per thread and its spill stores and loads. A spilling shape keeps part of its state in local
memory, which the sweep sees as lost throughput; this script says which shapes spill before
any device time is spent.

    python benchmarks/kernel_resources.py [--arch 90] [--only hexacode] [--max-registers 168 128]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import triton
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import get_ptxas
from triton.compiler import ASTSource

from leechkit.models import _triton_kernels as kernels

#: Launch shapes (rows per program, warps) of the sweep, per kernel.
SHAPES = {
    "_leech_search_kernel": ((32, 1), (64, 2), (128, 2), (128, 4), (256, 4), (256, 8)),
    "_leech_decode_kernel": ((4, 1), (4, 2), (8, 2), (8, 4), (16, 4), (32, 4), (8, 8), (16, 8)),
    "_e8_decode_kernel": ((128, 4),),
    "_leech_hexacode_kernel": ((32, 1), (64, 2), (128, 4), (256, 8)),
}


def resources(
    fn, signature: dict, constants: dict, warps: int, arch: int, max_registers: int | None = None
) -> str:
    """``ptxas -v`` summary (registers, spill stores/loads) of one compiled launch shape, under
    a register cap (Triton's ``maxnreg``) when ``max_registers`` is given."""
    target = GPUTarget("cuda", arch, 32)
    options = {"num_warps": warps} | ({} if max_registers is None else {"maxnreg": max_registers})
    try:
        source = ASTSource(fn=fn, signature=signature, constexprs=constants)
        compiled = triton.compile(source, target=target, options=options)
    except RuntimeError as error:
        return f"does not compile ({str(error).splitlines()[0]})"
    # The ptxas Triton itself uses for this target (the legacy one rejects newer PTX versions).
    ptxas = get_ptxas(arch).path
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.ptx")
        with open(path, "w") as f:
            f.write(compiled.asm["ptx"])
        done = subprocess.run(
            [ptxas, f"-arch=sm_{arch}a", "-v", path, "-o", os.devnull], capture_output=True, text=True
        )
    regs = re.search(r"Used (\d+) registers", done.stderr)
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", done.stderr)
    if regs is None or spills is None:
        return f"ptxas gave no summary: {done.stderr.strip()[:200]}"
    return f"{regs.group(1)} | {spills.group(1)} | {spills.group(2)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability ×10 (90: H100/H200)")
    parser.add_argument("--only", default=None, help="only the kernels whose name contains this")
    parser.add_argument(
        "--max-registers",
        type=int,
        nargs="*",
        default=[],
        metavar="R",
        help="also the hexacode decoder at its default launch under each register cap R",
    )
    args = parser.parse_args(argv)
    print(f"Triton {triton.__version__}, target sm_{args.arch}a\n")
    columns = ["kernel", "dtype", "rows per program", "warps", "registers / thread", "spill stores (B)"]
    print("| " + " | ".join([*columns, "spill loads (B)"]) + " |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for fn, signature, constants, warps in kernels.launch_signatures():
        if args.only and args.only not in fn.__name__:
            continue
        dtype = next(v for k, v in signature.items() if k.endswith("_ptr")).lstrip("*")
        name = fn.__name__.strip("_")
        for block, w in SHAPES[fn.__name__]:
            summary = resources(fn, signature, {**constants, "BLOCK": block}, w, args.arch)
            print(f"| {name} | {dtype} | {block} | {w} | {summary} |", flush=True)
        if fn.__name__ == "_leech_hexacode_kernel":
            for cap in args.max_registers:
                summary = resources(fn, signature, constants, warps, args.arch, cap)
                print(f"| {name}, ≤ {cap} registers | {dtype} | {constants['BLOCK']} | {warps} | {summary} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
