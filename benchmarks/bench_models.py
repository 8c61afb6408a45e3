"""Benchmark of the model layer: training-step throughput per attention mode, resonance-loss cost.

For each attention mode a :class:`LatticeTransformer` of the same size (same widths, depth and
context; the frozen modes have fewer trainable parameters) runs full training steps (forward,
cross entropy, backward, AdamW) on random tokens, the modes taking turns step by step; the
table gives tokens per second (median step) and the speed ratio to ``vanilla``: the median
and quartiles over the rounds of vanilla's step time over the mode's in the same round.
Then the resonance loss (forward and backward through the final hidden states of the
vanilla model) is timed against the model's forward pass and against its training step:
against all minimal vectors (196,560 Leech / 240 E8; the exact structured search: Numba on
the CPU, the fused Triton kernels on CUDA) and against the 24 (8) frame rows, the seeds'
behaviour, and the full loss inside the training step: the same model's step with the loss
added to the cross entropy, timed in the same rounds as the plain step (median and quartiles
of the per-round differences). Prints markdown tables. Run from the repository root::

    python benchmarks/bench_models.py                    # CPU, small model, about a minute
    python benchmarks/bench_models.py --device cuda --batch 32 --seq 256 --d-model 384 --n-layer 6
    # the same with torch.compile, and the 8 costliest operators of each mode
    python benchmarks/bench_models.py --device cuda --batch 32 --seq 256 --d-model 384 --n-layer 6 --compile
    python benchmarks/bench_models.py --device cuda --batch 32 --seq 256 --d-model 384 --n-layer 6 --profile 8
    # --cuda-graph (CUDA, without --compile): each training step replayed from a CUDA graph,
    # so the table gives each mode's GPU work without the host's launch overhead
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time
from collections.abc import Callable

import torch

from leechkit.models import ATTENTION_MODES, LatticeTransformer, LatticeTransformerConfig, ResonanceLoss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _interleaved_times(
    fns: list[Callable[[], object]], device: torch.device, steps: int, warmup: int
) -> list[list[float]]:
    """Seconds of each call of each function, ``steps`` rounds of one call each (round-robin,
    so that a change of machine load affects all rows alike)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    _sync(device)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(steps):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            _sync(device)
            times[i].append(time.perf_counter() - start)
    return times


def _paired_ratios(base: list[float], other: list[float]) -> tuple[float, float, float]:
    """Median and quartiles of the per-round speed ratios ``base_r / other_r``: the rounds pair
    the calls that ran next to each other, so a slow drift of the machine cancels."""
    ratios = sorted(b / o for b, o in zip(base, other))
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0]
    q1, q2, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return q2, q1, q3


def _config(args: argparse.Namespace, mode: str) -> LatticeTransformerConfig:
    return LatticeTransformerConfig(
        vocab_size=args.vocab,
        block_size=args.seq,
        n_layer=args.n_layer,
        n_head=args.n_head,
        d_model=args.d_model,
        attention=mode,
        lattice=args.lattice,
    )


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _graphed(
    model: Callable[..., object], opt: torch.optim.Optimizer, idx: torch.Tensor, args: argparse.Namespace
) -> Callable[[], None]:
    """A training step of ``model`` captured in a CUDA graph (whole-network capture, as in
    the CUDA graphs section of the PyTorch notes): replaying it launches the same kernels
    with no host work between them, so a host-paced eager step is timed by its GPU work
    alone. The gradients are None when capture starts, so the captured backward writes them
    in the graph's memory instead of adding to them."""

    def step() -> None:
        with _autocast(idx.device, args.bf16):
            _, loss = model(idx, idx)
        loss.backward()
        opt.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(args.warmup, 3)):
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    opt.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def bench_modes(args: argparse.Namespace, device: torch.device) -> list[tuple[str, int, list[float]]]:
    """(mode, trainable parameters, seconds of each timed training step) for each mode."""
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen).to(device)
    counts, steps, seconds = [], [], []
    for mode in args.modes:
        torch.manual_seed(0)
        model = LatticeTransformer(_config(args, mode)).to(device).train()
        # capturable: the optimizer's step counter stays on the device, as a graph needs.
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, capturable=args.cuda_graph)
        # torch.compile fuses the small per-layer operations of the lattice modes, which in
        # eager mode cost kernel launches rather than arithmetic at this model size.
        run = torch.compile(model) if args.compile else model

        def step(run: Callable[..., object] = run, opt: torch.optim.Optimizer = opt) -> None:
            with _autocast(device, args.bf16):
                _, loss = run(idx, idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        counts.append(model.parameter_counts()["trainable"])
        if args.cuda_graph:
            # One mode's graph at a time, released with its model before the next is built:
            # several captured training steps alive in one process ended in an illegal memory
            # access on the H200. A replayed step has no host overhead to drift, so the modes
            # need no round-robin timing.
            graphed = _graphed(run, opt, idx, args)
            seconds += _interleaved_times([graphed], device, args.steps, args.warmup)
            del graphed, step, run, opt, model
            torch.cuda.empty_cache()
        else:
            steps.append(step)
    if not args.cuda_graph:
        seconds = _interleaved_times(steps, device, args.steps, args.warmup)
    if args.profile:
        for mode, step in zip(args.modes, steps):
            _profile(f"training steps, attention {mode}", step, device, args.profile)
    return list(zip(args.modes, counts, seconds))


def _profile(what: str, step: Callable[[], object], device: torch.device, rows: int) -> None:
    """The operators that take the most (device) time in two calls of ``step``."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(2):
            step()
        _sync(device)
    # Top-level operators (not called from another aten operator; the backward's count too):
    # in eager mode each is one dispatch, so their number is what the host pays per call.
    def top_level(e) -> bool:
        parent = e.cpu_parent
        return e.name.startswith("aten::") and (parent is None or not parent.name.startswith("aten::"))

    ops = sum(1 for e in prof.events() if top_level(e))
    print(f"profile of two {what}: {ops / 2:.0f} top-level aten operators per call")
    averages = prof.key_averages()
    if device.type == "cuda":
        print(averages.table(sort_by="self_device_time_total", row_limit=rows))
        # In eager mode a step can be bound by the host's operator dispatch rather than by the
        # device: the host-side table shows where those microseconds go.
        print(f"host side of the same two {what}:")
    print(averages.table(sort_by="self_cpu_time_total", row_limit=rows))


def bench_resonance(
    args: argparse.Namespace, device: torch.device
) -> tuple[list[tuple[str, float]], tuple[float, float, float]]:
    """Seconds of the vanilla forward pass, its training step and the resonance losses; and
    what the full loss adds inside a training step.

    The standalone rows time the loss alone (forward and backward) on fixed hidden states of
    the model. The in-step figure times the same model's training step with the full loss
    added to the cross entropy (``resonance_weight`` 0.1, the model's own hidden states), in
    the same rounds as the plain step: returned as the median and quartiles of the per-round
    differences, in seconds. The loss's launches then overlap with the step's queued GPU work
    and its one host synchronisation waits for it, so the two measures can differ."""
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen).to(device)
    models = []
    for weight in (0.0, 0.1):
        torch.manual_seed(0)
        config = dataclasses.replace(_config(args, "vanilla"), resonance_weight=weight)
        models.append(LatticeTransformer(config).to(device).train())
    model = models[0]

    def forward() -> None:
        with _autocast(device, args.bf16):
            model(idx, idx)

    def train_step(model: LatticeTransformer) -> Callable[[], None]:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step() -> None:
            with _autocast(device, args.bf16):
                _, loss = model(idx, idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    with torch.no_grad():
        hidden = model.hidden_states(idx)[0].float()
    count = "196,560" if args.lattice == "leech" else "240"
    n = 24 if args.lattice == "leech" else 8
    labels = ["forward pass (with loss)", "training step", f"training step + resonance loss, all {count}"]
    fns: list[Callable[[], object]] = [forward, train_step(models[0]), train_step(models[1])]
    for label, loss_fn in (
        (f"resonance loss, all {count} minimal vectors", ResonanceLoss(args.lattice)),
        (f"resonance loss, {n} frame rows (seed)", ResonanceLoss(args.lattice, target="frame").to(device)),
    ):
        h = hidden.clone().requires_grad_(True)

        def resonance(h: torch.Tensor = h, loss_fn: ResonanceLoss = loss_fn) -> None:
            loss_fn(h).backward()

        labels.append(label)
        fns.append(resonance)
    times = _interleaved_times(fns, device, args.steps, args.warmup)
    if args.profile:
        # Where the full loss spends its time: the search kernels, the redo of the rows the
        # float32 search leaves open, the host synchronisations and the tensor work around them.
        _profile(f"calls of the {labels[3]} (forward + backward)", fns[3], device, args.profile)
    added = sorted(b - a for a, b in zip(times[1], times[2]))
    q1, q2, q3 = statistics.quantiles(added, n=4, method="inclusive") if len(added) > 1 else added * 3
    return [(label, statistics.median(t)) for label, t in zip(labels, times)], (q2, q1, q3)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--modes", nargs="+", default=list(ATTENTION_MODES), choices=ATTENTION_MODES)
    parser.add_argument("--lattice", default="leech", choices=("leech", "e8"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--d-model", type=int, default=192)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per row (median)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the model")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile every model of the mode table (more warm-up)"
    )
    parser.add_argument(
        "--cuda-graph",
        action="store_true",
        help="replay each mode's training step from a CUDA graph (times the GPU work, not the host)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="ROWS",
        help="print the ROWS costliest operators per mode and of the full resonance loss",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.cuda_graph and (device.type != "cuda" or args.compile or args.profile):
        parser.error("--cuda-graph needs --device cuda, and no --compile or --profile")
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    else:
        what = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(
        f"torch {torch.__version__} on {what}; batch {args.batch} x {args.seq} tokens, "
        f"d_model {args.d_model}, {args.n_layer} layers, {args.n_head} heads, vocab {args.vocab}, "
        f"lattice {args.lattice}"
        f"{', bf16 autocast' if args.bf16 else ''}{', torch.compile' if args.compile else ''}"
        f"{', CUDA graph' if args.cuda_graph else ''}; "
        f"median of {args.steps} steps\n"
    )
    rows = bench_modes(args, device)
    base = next((t for m, _, t in rows if m == "vanilla"), None)
    tokens = args.batch * args.seq
    # The speed ratio per round (vanilla's step time over the mode's, the two calls of one
    # round), its median and quartiles over the rounds; eager rounds interleave the modes,
    # graph replays run one mode after the other.
    print("| attention mode | trainable parameters | ms / step | tokens / s | vs vanilla | quartiles |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, params, times in rows:
        seconds = statistics.median(times)
        ratio, spread = "n/a", "n/a"
        if base:
            mid, low, high = _paired_ratios(base, times)
            ratio, spread = f"{mid:.2f}x", f"{low:.2f}–{high:.2f}"
        print(f"| {mode} | {params:,} | {1e3 * seconds:.1f} | {tokens / seconds:,.0f} | {ratio} | {spread} |")
    print()
    res, (added, low, high) = bench_resonance(args, device)
    fwd, step = res[0][1], res[1][1]
    print("| vanilla model | ms | vs forward | vs training step |")
    print("|---|---:|---:|---:|")
    for label, seconds in res:
        print(f"| {label} | {1e3 * seconds:.1f} | {seconds / fwd:.0%} | {seconds / step:.0%} |")
    print(
        f"\nInside the training step (weight 0.1, paired rounds) the full resonance loss adds "
        f"{1e3 * added:.2f} ms per step, {added / step:.0%} of the step "
        f"(quartiles {low / step:.0%}–{high / step:.0%})."
    )


if __name__ == "__main__":
    main()
