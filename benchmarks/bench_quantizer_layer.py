"""Forward + backward throughput of the quantization layers (tokens per second), one run.

Rows, all on the same device and in the same process:

* :class:`leechkit.models.SphericalLatticeQuantizer` — Λ₂₄ (24-D tokens, 17.58 bits) and E8
  (16-D tokens of two blocks, 15.81 bits): exact structured search, straight-through gradient;
* FSQ (levels 8,8,8,8,8,6: 17.585 bits) and LFQ (18 bits, entropy loss over two groups of 9
  bits, training mode) straight from ``vector_quantize_pytorch``, not through the adapters;
* the brute-force Λ₂₄ layer: normalized tokens times all 196,560 normalized codes
  (``argmax`` of ``u @ Cᵀ``, float32, chunked), the same straight-through output.

A row's time is the best of ``--repeat`` timed passes after a warm-up; one pass is the forward
of ``n`` tokens, a scalar loss ``Σ g·q`` (plus the auxiliary loss where there is one) and its
backward to the input. The brute force's indices are compared with the layer's (exact) ones.
The package must be installed (``pip install --no-deps -e .``) and ``vector_quantize_pytorch``
importable. Prints the device line, a Markdown table and the ratios::

    python benchmarks/bench_quantizer_layer.py --device cpu --n 65536
    python benchmarks/bench_quantizer_layer.py --device cuda --n 1048576
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from leechkit.lattice.quantizers import index_to_vector
from leechkit.models import SphericalLatticeQuantizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(step: Callable[[], object], repeat: int, device: torch.device) -> float:
    """Best wall-clock seconds of ``repeat`` calls after one warm-up call."""
    step()
    _sync(device)
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


class BruteForceLeech(torch.nn.Module):
    """Λ₂₄-SQ by the dense product with all 196,560 normalized codes (the baseline)."""

    def __init__(self, chunk: int):
        super().__init__()
        ints = index_to_vector(np.arange(196560), "leech", integer=True)
        self.register_buffer("codes", torch.as_tensor(ints / math.sqrt(32.0), dtype=torch.float32))
        self.chunk = chunk

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = F.normalize(x, dim=-1)
        flat = u.detach().reshape(-1, 24)
        idx = torch.cat(
            [
                (flat[s : s + self.chunk] @ self.codes.T).argmax(dim=1)
                for s in range(0, flat.shape[0], self.chunk)
            ]
        )
        codes = self.codes[idx].reshape(u.shape)
        return codes + (u - u.detach()), idx.reshape(x.shape[:-1])


def make_step(module, width: int, n: int, device: torch.device, kind: str, seed: int = 0):
    """A closure running one forward + backward pass of ``n`` tokens of ``width`` channels."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(n, width, generator=gen).to(device).requires_grad_(True)
    g = torch.randn(n, width, generator=gen).to(device)

    def step():
        x.grad = None
        if kind == "layer":
            out = module(x)
            loss = (out.quantized * g).sum() + out.aux_loss
            idx = out.indices
        elif kind == "fsq":
            q, idx = module(x[None])
            loss = (q[0] * g).sum()
        elif kind == "lfq":
            out = module(x[None])
            loss = (out.quantized[0] * g).sum() + out.entropy_aux_loss
            idx = out.indices
        else:
            q, idx = module(x)
            loss = (q * g).sum()
        loss.backward()
        return idx

    return step


def run(device: torch.device, n: int, n_brute: int, repeat: int, chunk: int, brute_chunk: int) -> list[dict]:
    from vector_quantize_pytorch import FSQ, LFQ

    rows = []

    def record(name: str, width: int, bits: float, count: int, step) -> None:
        seconds = best_time(step, repeat, device)
        rows.append(
            {
                "quantizer": name,
                "width": width,
                "bits": bits,
                "tokens": count,
                "seconds": seconds,
                "rate": count / seconds,
            }
        )

    leech = SphericalLatticeQuantizer("leech", 24, chunk_size=chunk, track_usage=False).to(device)
    leech_step = make_step(leech, 24, n, device, "layer")
    record("Λ24-SQ (SphericalLatticeQuantizer, leech)", 24, leech.bits_per_token, n, leech_step)
    e8 = SphericalLatticeQuantizer("e8", 16, chunk_size=chunk, track_usage=False).to(device)
    record(
        "E8-SQ (SphericalLatticeQuantizer, e8, 2 blocks)",
        16,
        e8.bits_per_token,
        n,
        make_step(e8, 16, n, device, "layer"),
    )
    with_stats = SphericalLatticeQuantizer("leech", 24, chunk_size=chunk).to(device)
    record(
        "Λ24-SQ with usage statistics (torch.unique)",
        24,
        with_stats.bits_per_token,
        n,
        make_step(with_stats, 24, n, device, "layer"),
    )
    fsq = FSQ(levels=[8, 8, 8, 8, 8, 6]).to(device)
    record(
        "FSQ 8,8,8,8,8,6 (vector_quantize_pytorch)",
        6,
        math.log2(8**5 * 6),
        n,
        make_step(fsq, 6, n, device, "fsq"),
    )
    lfq = LFQ(dim=18, codebook_size=2**9, num_codebooks=2).to(device).train()
    record(
        "LFQ 18 bits, 2 × 9 (vector_quantize_pytorch, entropy loss)",
        18,
        18.0,
        n,
        make_step(lfq, 18, n, device, "lfq"),
    )
    brute = BruteForceLeech(brute_chunk).to(device)
    brute_step = make_step(brute, 24, n_brute, device, "brute")
    record(
        "Λ24 brute force: u @ Cᵀ with all 196,560 codes, argmax", 24, math.log2(196560), n_brute, brute_step
    )
    # The exact layer and the brute force on the same n_brute tokens (same generator and seed).
    layer_idx = make_step(leech, 24, n_brute, device, "layer")().reshape(-1)
    brute_idx = brute_step().reshape(-1)
    rows[-1]["mismatches"] = int((layer_idx != brute_idx).sum())
    return rows


def table(rows: list[dict]) -> str:
    by_name = {r["quantizer"]: r for r in rows}
    leech = by_name["Λ24-SQ (SphericalLatticeQuantizer, leech)"]["rate"]
    lines = [
        "| quantizer | token width | bits / token | tokens | tokens / s (fwd + bwd) | Λ24-SQ ÷ this |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['quantizer']} | {r['width']} | {r['bits']:.2f} | {r['tokens']:,} | "
            f"{_rate(r['rate'])} | {leech / r['rate']:.3g}× |"
        )
    return "\n".join(lines)


def _rate(rate: float) -> str:
    return f"{rate / 1e6:.2f} M/s" if rate >= 1e6 else f"{rate / 1e3:.1f} k/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--n", type=int, default=65536, help="tokens per pass (default 65536)")
    parser.add_argument(
        "--n-brute",
        type=int,
        default=None,
        help="tokens per brute-force pass (default: n on CUDA, min(n, 8192) on the CPU)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=8192, help="rows per structured-search chunk")
    parser.add_argument(
        "--brute-chunk",
        type=int,
        default=None,
        help="rows per brute-force product (default 8192 on CUDA: 6.4 GB; 32 on the CPU, fastest here)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch and Numba CPU threads")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA device")
    if args.threads:
        import numba

        # Both pools: torch's intra-op threads and the Numba search's (on the CPU).
        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    n_brute = args.n_brute or (args.n if device.type == "cuda" else min(args.n, 8192))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # IEEE float32 products for the brute force
        what = f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    else:
        what = f"CPU {platform.processor() or platform.machine()}, torch {torch.__version__}"
    import numba

    print(
        f"device: {what}; {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads, "
        f"{numba.get_num_threads()} Numba threads; load average {os.getloadavg()[0]:.2f}"
    )
    brute_chunk = args.brute_chunk or (8192 if device.type == "cuda" else 32)
    rows = run(device, args.n, n_brute, args.repeat, args.chunk, brute_chunk)
    print(table(rows))
    rate = {r["quantizer"]: r["rate"] for r in rows}
    leech = rate["Λ24-SQ (SphericalLatticeQuantizer, leech)"]
    brute_row = rows[-1]
    fsq = rate["FSQ 8,8,8,8,8,6 (vector_quantize_pytorch)"]
    print()
    print(
        f"Λ24-SQ ÷ brute force: {leech / brute_row['rate']:.1f}× (goal ≥ 10×); "
        f"brute-force indices differing from the exact layer: "
        f"{brute_row['mismatches']} of {brute_row['tokens']:,}"
    )
    print(f"FSQ ÷ Λ24-SQ: {fsq / leech:.1f}× (goal ≤ 3×)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": what, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
