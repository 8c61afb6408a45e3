"""Registers and spills of the Triton kernels per launch shape, compiled for a GPU without one.

Every kernel of :mod:`leechkit.models._triton_kernels` is compiled ahead of time
(``triton.compile`` for the target, default sm_90 = H100) at the launch shapes that
``benchmarks/bench_gpu.py --sweep`` times, and Triton's own ``ptxas -v`` reports its registers
per thread and its spill stores and loads. A spilling shape keeps part of its state in local
memory, which the sweep sees as lost throughput; this script says which shapes spill before
any device time is spent.

    python benchmarks/kernel_resources.py [--arch 90] [--only hexacode] [--max-registers 168 128]

``--sass`` instead disassembles each kernel at its default launch (Triton's nvdisasm) and
counts its SASS instructions outside and inside its loops, in all and on the integer/logic
pipe (16 lanes per scheduler on sm_90, half the float32 add/multiply rate), with the spill
loads and stores: a kernel's instructions per row are the outside count plus each loop
body's count times its trip count (the hexacode decoder's loop runs twice, once per m).
"""

from __future__ import annotations

import argparse
import collections
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

#: SASS opcodes of the integer/logic pipe (ALU) on sm_90: integer and float minima, compares,
#: selects, logic, shifts, permutes and the packed integer (DPX) instructions.
_ALU = {
    "FMNMX", "FSETP", "FSEL", "ISETP", "LOP3", "SEL", "PLOP3", "P2R", "R2P", "IADD3", "SHF", "LEA",
    "VIADD", "IMNMX", "VIMNMX", "VIMNMX3", "VIADDMNMX", "PRMT", "FSET", "ISET", "MOV", "IABS",
}  # fmt: skip
_OPCODE = re.compile(r"\s+/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_]+)")


def sass_counts(
    fn, signature: dict, constants: dict, warps: int, arch: int
) -> list[tuple[str, collections.Counter]]:
    """Opcode counts of one compiled kernel: ``("outside loops", counts)``, then one entry per
    loop body (the lines from a label to the backward branch to it)."""
    target = GPUTarget("cuda", arch, 32)
    source = ASTSource(fn=fn, signature=signature, constexprs=constants)
    compiled = triton.compile(source, target=target, options={"num_warps": warps})
    nvdisasm = os.path.join(os.path.dirname(get_ptxas(arch).path), "nvdisasm")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as f:
            f.write(compiled.asm["cubin"])
        lines = subprocess.run([nvdisasm, "-c", path], capture_output=True, text=True, check=True).stdout
    lines = lines.splitlines()
    labels = {line[:-1]: i for i, line in enumerate(lines) if re.match(r"^\.L_x_\d+:$", line)}
    loops = []
    for i, line in enumerate(lines):
        jump = re.search(r"BRA `\((\.L_x_\d+)\)", line)
        if jump and labels.get(jump.group(1), i) < i:
            loops.append((labels[jump.group(1)], i))
    inside = set()
    out = []
    for k, (start, end) in enumerate(loops):
        body = collections.Counter(m.group(1) for ln in lines[start : end + 1] if (m := _OPCODE.match(ln)))
        if body == collections.Counter(BRA=1):
            continue  # the trap loop behind the last EXIT
        inside.update(range(start, end + 1))
        out.append((f"loop body {k + 1}", body))
    rest = collections.Counter(
        m.group(1) for i, line in enumerate(lines) if i not in inside and (m := _OPCODE.match(line))
    )
    return [("outside loops", rest), *out]


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
    parser.add_argument("--sass", action="store_true", help="count SASS instructions (default launches)")
    args = parser.parse_args(argv)
    print(f"Triton {triton.__version__}, target sm_{args.arch}a\n")
    if args.sass:
        print("| kernel | dtype | part | instructions | ALU pipe | spills | top 4 |")
        print("|---|---|---|---:|---:|---:|---|")
        for fn, signature, constants, warps in kernels.launch_signatures():
            if args.only and args.only not in fn.__name__:
                continue
            dtype = next(v for k, v in signature.items() if k.endswith("_ptr")).lstrip("*")
            for part, counts in sass_counts(fn, signature, constants, warps, args.arch):
                alu = sum(v for k, v in counts.items() if k in _ALU)
                spills = counts["LDL"] + counts["STL"]
                top = ", ".join(f"{k} {v}" for k, v in counts.most_common(4))
                row = [fn.__name__.strip("_"), dtype, part, sum(counts.values()), alu, spills, top]
                print("| " + " | ".join(map(str, row)) + " |")
        return 0
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
