"""Weight quantization measurement (issue 10): honest bpc, weight MSE, Shannon bound, speed.

For each checkpoint (a trained ~20M model of the attention comparison, or ``--train`` to train
them first with the project's trainer), for every method and nominal rate 1, 2, 3, 4 bits per
weight, the script quantizes every linear layer (the tied output head stays as its
embedding), and records

* the achieved bits per weight over the quantized matrices, counting everything stored;
* honest bits per character of the quantized model on the **whole validation split** (float32,
  :func:`leechkit.models.data.evaluate_model`), beside the float model's;
* the weight MSE relative to the mean squared weight, and with calibration data the relative
  output error ``tr(ΔW H ΔWᵀ)/tr(W H Wᵀ)`` averaged over the layers;
* the quantization time (Hessian collection included).

Variants (``VARIANTS``): ``rtn`` and ``gptq`` (scalar, groups of 128, GPTQ with calibration),
``e8`` (E8 ball + random Hadamard), ``e8+H`` (the same with the Hessian correction in 8-column
groups: QuIP#'s recipe), ``leech-voronoi``, ``llvq`` (Hadamard, no Hessian) and ``llvq+H``
(Hadamard and Hessian); at 2 bits also ``llvq, no RHT`` and ``llvq+H, no RHT``. Calibration:
``--calibration-tokens`` tokens of the training split (never the validation split).

Beside the checkpoints: the relative MSE of each method on Gaussian data with the Shannon
bound ``D(R) = σ²·2^(−2R)`` at the achieved and the nominal rate, and the encode and
dequantize throughput (weights/s) of each method at 2 bits on one 2304 × 576 Gaussian matrix
against scalar RTN in the same run (after a warm-up).

Outputs (``--out``): ``results.json`` (written after every entry, so a cut run keeps its rows),
``table.md`` (the Markdown tables of docs/quantization.md) and ``quantization_bpc.png``
(bpc against achieved bits per weight, one panel per checkpoint, and the Gaussian MSE panel).

Usage::

    # the 20M models: train vanilla and e8_bias as in docs/results.md, then the whole grid
    LEECHKIT_DATA=.devdata python benchmarks/quantize_weights.py --train --device cuda --out results/

    # given checkpoints
    python benchmarks/quantize_weights.py --checkpoints runs/vanilla runs/e8_bias \\
        --labels vanilla e8_bias --device cuda --out results/

    # quantization time of a 20M model (random weights, same shapes) and throughput, no evaluation
    python benchmarks/quantize_weights.py --speed-only --device cpu --out speed-cpu/

    # a small model (2 blocks of width 96, vanilla attention) on the embedded pydoc corpus, CPU
    python benchmarks/quantize_weights.py --quick --out results-quick/

    # tables and plot again from results.json
    python benchmarks/quantize_weights.py --render --out results/
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

RATES = (1, 2, 3, 4)
#: label -> (method, options, rates)
VARIANTS: list[tuple[str, str, dict[str, object], tuple[int, ...]]] = [
    ("rtn", "rtn", {}, RATES),
    ("gptq", "gptq", {"hessian": True}, RATES),
    ("e8", "e8", {"hessian": False}, RATES),
    ("e8+H", "e8", {"hessian": True}, RATES),
    ("leech-voronoi", "leech-voronoi", {"hessian": False}, RATES),
    ("llvq", "llvq", {"hessian": False}, RATES),
    ("llvq+H", "llvq", {"hessian": True}, RATES),
    ("llvq, no RHT", "llvq", {"hessian": False, "hadamard": False}, (2,)),
    ("llvq+H, no RHT", "llvq", {"hessian": True, "hadamard": False}, (2,)),
]
GAUSSIAN_METHODS = ("rtn", "e8", "leech-voronoi", "llvq")
SPEED_METHODS = ("rtn", "gptq", "e8", "leech-voronoi", "llvq")
#: Training of the 20M models (docs/results.md): shape and budget of the attention comparison.
SHAPE_20M = {"n_layer": 5, "n_head": 8, "d_model": 576, "lattice": "leech"}
SHAPE_QUICK = {"n_layer": 2, "n_head": 4, "d_model": 96, "lattice": "leech"}
MODES = {"vanilla": {"attention": "vanilla"}, "e8_bias": {"attention": "e8_bias"}}


def device_line(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        memory = props.total_memory / 2**30
        dev = f"{torch.cuda.get_device_name(0)} ({memory:.0f} GiB), CUDA {torch.version.cuda}"
    else:
        dev = f"CPU ({torch.get_num_threads()} torch threads)"
    import numba

    return (
        f"{dev}; {numba.config.NUMBA_NUM_THREADS} Numba threads; PyTorch {torch.__version__}; "
        f"Python {platform.python_version()}"
    )


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# --------------------------------------------------------------------------- training


def train_models(args: argparse.Namespace, out: Path) -> list[tuple[str, Path]]:
    """Train vanilla and e8_bias (the best lattice mode of docs/results.md) with one tokenizer."""
    from leechkit.models.training import PreparedData, TrainConfig, find_checkpoint, train

    shape = SHAPE_QUICK if args.quick else SHAPE_20M
    common = {
        "corpus": args.corpus,
        "data_dir": args.data_dir,
        "tokenizer": "sentencepiece",
        "vocab_size": args.vocab_size,
        "block_size": args.block_size,
        "batch_size": args.batch_size,
        "max_steps": args.steps,
        "lr": args.lr,
        "min_lr": args.lr / 10,
        "warmup_steps": max(1, args.steps // 10),
        "weight_decay": 0.1,
        "eval_interval": 0,
        "eval_batch_size": args.eval_batch_size,
        "checkpoint_interval": 0,
        "keep_checkpoints": 1,
        "log_interval": max(1, args.steps // 5),
        "seed": args.seed,
        "device": args.device,
        "dtype": "auto",
        "progress": False,
    }
    tic = time.perf_counter()
    prepared = PreparedData.build(TrainConfig.from_dict({**common, "model": shape}))
    print(
        f"tokenizer: {prepared.tokenizer.vocab_size} ids, splits packed in {time.perf_counter() - tic:.1f} s",
        flush=True,
    )
    done = []
    for label in args.modes:
        config = TrainConfig.from_dict(
            {**common, "model": {**shape, **MODES[label]}, "out_dir": str(out / "runs" / label)}
        )
        tic = time.perf_counter()
        result = train(config, prepared=prepared)
        print(
            f"trained {label}: {result.parameters['trainable']:,} parameters, {result.tokens:,} tokens, "
            f"{result.evaluation.bits_per_character:.4f} bpc in {time.perf_counter() - tic:.0f} s",
            flush=True,
        )
        done.append((label, find_checkpoint(out / "runs" / label)))
    return done


# --------------------------------------------------------------------------- measurement


def _gaussian(args: argparse.Namespace, device: str) -> list[dict[str, object]]:
    import torch

    from leechkit.models.weight_quant import quantize_weight

    rows, cols = (256, 1536) if args.quick else (512, 2304)
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(1), dtype=torch.float64).float()
    w = w.to(device)
    power = float(w.double().pow(2).mean())
    out = []
    for method in GAUSSIAN_METHODS:
        for bits in RATES:
            tic = time.perf_counter()
            layer = quantize_weight(w, method, bits)
            mse = float((layer.dequantize().double() - w.double()).pow(2).mean()) / power
            rate = layer.bits_per_weight
            out.append(
                {
                    "method": method,
                    "bits": bits,
                    "bits_per_weight": rate,
                    "relative_mse": mse,
                    "shannon_at_rate": 2.0 ** (-2 * rate),
                    "shannon_at_nominal": 2.0 ** (-2 * bits),
                    "gap_db": 10 * math.log10(mse / 2.0 ** (-2 * rate)),
                    "seconds": time.perf_counter() - tic,
                }
            )
            print(
                f"gaussian {method} {bits}: {rate:.4f} bits/weight, relative MSE {mse:.4f} "
                f"(Shannon {2.0 ** (-2 * rate):.4f}, gap {out[-1]['gap_db']:.2f} dB)",
                flush=True,
            )
    return out


def _speed(args: argparse.Namespace, device: str) -> list[dict[str, object]]:
    """Encode and dequantize throughput at 2 bits on one Gaussian matrix, RTN in the same run."""
    import torch

    from leechkit.models.weight_quant import quantize_weight

    rows, cols = (576, 192) if args.quick else (2304, 576)
    g = torch.Generator().manual_seed(2)
    w = (0.02 * torch.randn(rows, cols, generator=g)).to(device)
    x = torch.randn(4 * cols, cols, generator=g, dtype=torch.float64)
    h = (2 * x.T @ x / x.shape[0]).to(device)
    out = []
    chosen = {method for label, method, _, _ in VARIANTS if args.variants is None or label in args.variants}
    for method in [m for m in SPEED_METHODS if m in chosen]:
        kwargs = {"hessian": h} if method == "gptq" else {}
        quantize_weight(w[:48], method, 2, **({"hessian": h} if method == "gptq" else {}))  # warm-up
        _sync(device)
        tic = time.perf_counter()
        layer = quantize_weight(w, method, 2, cache_weight=False, **kwargs)
        _sync(device)
        enc = time.perf_counter() - tic
        layer.dequantize()
        _sync(device)
        tic = time.perf_counter()
        reps = 3
        for _ in range(reps):
            layer.dequantize()
        _sync(device)
        dec = (time.perf_counter() - tic) / reps
        out.append(
            {
                "method": method + (" (Hessian)" if kwargs else ""),
                "weights": rows * cols,
                "shape": [rows, cols],
                "encode_s": enc,
                "encode_weights_per_s": rows * cols / enc,
                "dequantize_s": dec,
                "dequantize_weights_per_s": rows * cols / dec,
            }
        )
        print(
            f"speed {method}: encode {rows * cols / enc:,.0f} weights/s, dequantize "
            f"{rows * cols / dec:,.0f} weights/s",
            flush=True,
        )
    return out


def _profile_encoder(args: argparse.Namespace, device: str, rows: int) -> None:
    """Where one 2-bit llvq encode of the speed matrix spends its time (device and host)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from leechkit.models.weight_quant import quantize_weight

    shape = (576, 192) if args.quick else (2304, 576)
    w = (0.02 * torch.randn(*shape, generator=torch.Generator().manual_seed(2))).to(device)
    quantize_weight(w, "llvq", 2, cache_weight=False)
    _sync(device)
    cuda = torch.device(device).type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        quantize_weight(w, "llvq", 2, cache_weight=False)
        _sync(device)
    averages = prof.key_averages()
    print(f"profile of one llvq encode (2 bits) of a {shape[0]} × {shape[1]} matrix on {device}:")
    if cuda:
        print(averages.table(sort_by="self_device_time_total", row_limit=rows, max_name_column_width=48))
    print(averages.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48))


def _model_timing(args: argparse.Namespace, device: str) -> list[dict[str, object]]:
    """Quantization time of a model of the 20M shape (``--quick``: the small one), random weights, 2 bits."""
    import torch

    from leechkit.models import LatticeTransformer, LatticeTransformerConfig
    from leechkit.models.weight_quant import quantize_model

    shape = SHAPE_QUICK if args.quick else SHAPE_20M
    config = LatticeTransformerConfig(vocab_size=args.vocab_size, block_size=args.block_size, **shape)
    calibration = torch.randint(
        0,
        args.vocab_size,
        (args.calibration_tokens // args.block_size, args.block_size),
        generator=torch.Generator().manual_seed(3),
    )
    out = []
    for label, method, options, rates in VARIANTS:
        if 2 not in rates or (args.variants is not None and label not in args.variants):
            continue
        torch.manual_seed(0)
        model = LatticeTransformer(config).to(device).eval()
        _sync(device)
        tic = time.perf_counter()
        report = quantize_model(
            model,
            method,
            2,
            calibration if options.get("hessian") else None,
            calibration_batch_size=args.eval_batch_size,
            **options,
        )
        _sync(device)
        seconds = time.perf_counter() - tic
        out.append(
            {
                "variant": label,
                "shape": shape,
                "weights": report.num_weights,
                "seconds": seconds,
                "calibration_seconds": report.calibration_seconds,
                "bits_per_weight": report.bits_per_weight,
            }
        )
        print(f"time {label}: {report.num_weights:,} weights in {seconds:.1f} s", flush=True)
        del model
    return out


def measure(args: argparse.Namespace, checkpoints: list[tuple[str, Path]], out: Path) -> dict[str, object]:
    import torch

    from leechkit.models.data import evaluate_model, load_corpus, pack_documents
    from leechkit.models.evaluation import load_checkpoint
    from leechkit.models.weight_quant import calibration_blocks, quantize_model

    started = time.perf_counter()
    deadline = started + 60 * args.max_minutes if args.max_minutes else math.inf
    device = args.device
    data: dict[str, object] = {
        "meta": {
            "device": device_line(device),
            "command": " ".join(["python", *sys.argv]),
            "corpus": args.corpus,
            "calibration_tokens": args.calibration_tokens,
            "quick": bool(args.quick),
        },
        "checkpoints": [],
        "rows": [],
        "skipped": [],
    }
    done: set[tuple[str, str, int]] = set()
    if args.previous:
        # Continue runs cut by their time budget: keep their rows, run only the missing entries.
        parts = [json.loads(Path(f).read_text()) for f in args.previous]
        data = parts[-1]
        data["checkpoints"] = [c for part in parts for c in part["checkpoints"]]
        data["rows"] = [r for part in parts for r in part["rows"]]
        for key in ("gaussian", "speed"):
            data[key] = next((part[key] for part in reversed(parts) if part.get(key)), None)
        data["meta"]["command"] = " ; ".join(part["meta"]["command"] for part in parts)
        data["skipped"] = []
        data["meta"]["continued_by"] = " ".join(["python", *sys.argv])
        done = {(r["checkpoint"], r["variant"], r["bits"]) for r in data["rows"] if "error" not in r}
        data["rows"] = [r for r in data["rows"] if "error" not in r]

    def write() -> None:
        (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")

    corpus = load_corpus(args.corpus, args.data_dir)
    for label, path in checkpoints:
        model, tokenizer, _ = load_checkpoint(path, device)
        block = model.config.block_size
        valid = pack_documents(corpus.documents("valid"), tokenizer)
        float_report = evaluate_model(model, valid, block, args.eval_batch_size)
        calibration = calibration_blocks(tokenizer, corpus, block, args.calibration_tokens, seed=args.seed)
        earlier = next((c for c in data["checkpoints"] if c["label"] == label), None)
        if earlier is not None:
            # A retrained checkpoint must be the same model as the one of the earlier rows;
            # otherwise its earlier rows are dropped and measured again.
            if earlier["float_bpc"] != float_report.bits_per_character:
                print(
                    f"{label}: float bpc {float_report.bits_per_character!r} differs from the earlier "
                    f"run's {earlier['float_bpc']!r}: measuring all of its entries again",
                    flush=True,
                )
                data["rows"] = [r for r in data["rows"] if r["checkpoint"] != label]
                done = {d for d in done if d[0] != label}
            data["checkpoints"].remove(earlier)
        info = {
            "label": label,
            "path": str(path),
            "attention": model.config.attention,
            "parameters": model.parameter_counts()["trainable"],
            "float_bpc": float_report.bits_per_character,
            "valid_characters": float_report.characters,
            "valid_tokens": float_report.tokens,
            "calibration_tokens": int(calibration.numel()),
        }
        data["checkpoints"].append(info)
        print(
            f"{label}: float {float_report.bits_per_character:.4f} bpc on {corpus.name} validation",
            flush=True,
        )
        write()
        # Every variant at 2 bits first (the goal's comparison), then 1, 3 and 4 bits: a run cut
        # by --max-minutes keeps the rows that matter most.
        entries = [(v, m, o, b) for b in (2, 1, 3, 4) for v, m, o, rates in VARIANTS if b in rates]
        for variant, method, options, bits in entries:
            if (label, variant, bits) in done:
                continue
            if time.perf_counter() > deadline:
                data["skipped"].append(f"{label} {variant} {bits}")
                continue
            model, _, _ = load_checkpoint(path, device)
            tic = time.perf_counter()
            try:
                report = quantize_model(
                    model,
                    method,
                    bits,
                    calibration if options.get("hessian") else None,
                    calibration_batch_size=args.eval_batch_size,
                    seed=args.seed,
                    **options,
                )
            except Exception as exc:  # a failure is a row of the table, not the end of the run
                data["rows"].append(
                    {"checkpoint": label, "variant": variant, "bits": bits, "error": repr(exc)}
                )
                print(f"  {variant} {bits}: FAILED {exc!r}", flush=True)
                write()
                continue
            _sync(device)
            seconds = time.perf_counter() - tic
            result = evaluate_model(model, valid, block, args.eval_batch_size)
            errors = [r.output_error for r in report.layers if r.output_error is not None]
            row = {
                "checkpoint": label,
                "variant": variant,
                "method": method,
                "bits": bits,
                "hessian": bool(options.get("hessian")),
                "hadamard": report.layers[0].hadamard,
                "bits_per_weight": report.bits_per_weight,
                "bpc": result.bits_per_character,
                "delta_bpc": result.bits_per_character - info["float_bpc"],
                "relative_weight_mse": report.relative_weight_mse,
                "output_error": sum(errors) / len(errors) if errors else None,
                "seconds": seconds,
                "layers": len(report.layers),
                "weights": report.num_weights,
            }
            data["rows"].append(row)
            print(
                f"  {variant:15s} {bits} bits: {row['bits_per_weight']:.4f} bits/weight, "
                f"{row['bpc']:.4f} bpc (+{row['delta_bpc']:.4f}), relative MSE "
                f"{row['relative_weight_mse']:.4f}, {seconds:.1f} s",
                flush=True,
            )
            write()
            del model
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    if not data.get("gaussian"):
        data["gaussian"] = _gaussian(args, device)
        write()
    if not data.get("speed"):
        data["speed"] = _speed(args, device)
        write()
    data["meta"]["total_s"] = time.perf_counter() - started
    write()
    return data


# --------------------------------------------------------------------------- rendering


def _degradation(data: dict[str, object], checkpoint: str, bits: int = 2) -> list[str]:
    rows = {r["variant"]: r for r in data["rows"] if r["checkpoint"] == checkpoint and r.get("bits") == bits}
    lines = []
    llvq = rows.get("llvq+H")
    for other in ("e8+H", "gptq", "e8"):
        if llvq is None or other not in rows or "error" in llvq or "error" in rows[other]:
            continue
        a, b = llvq["delta_bpc"], rows[other]["delta_bpc"]
        ratio = a / b if b else math.inf
        pa, pb = 2.0**a - 1, 2.0**b - 1
        lines.append(
            f"- {checkpoint}, {bits} bits: llvq+H loses {a:+.4f} bpc at "
            f"{llvq['bits_per_weight']:.3f} bits/weight, "
            f"{other} {b:+.4f} at {rows[other]['bits_per_weight']:.3f}: ratio of the degradations "
            f"{ratio:.2f}; per-character perplexity +{100 * pa:.1f} % against +{100 * pb:.1f} %."
        )
    return lines


def render(out: Path) -> str:
    data = json.loads((out / "results.json").read_text())
    lines: list[str] = []
    for ck in data["checkpoints"]:
        lines += [
            f"**{ck['label']}** ({ck['attention']} attention, {ck['parameters']:,} trainable parameters): "
            f"float model {ck['float_bpc']:.4f} bpc on {ck['valid_characters']:,} validation characters; "
            f"calibration {ck['calibration_tokens']:,} training tokens.",
            "",
            "| variant | bits | achieved bits/weight | bpc | Δ bpc | rel. weight MSE | rel. output error "
            "| time (s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            f"| float | 32 | 32 | {ck['float_bpc']:.4f} | | | | |",
        ]
        order = {v[0]: i for i, v in enumerate(VARIANTS)}
        mine = [r for r in data["rows"] if r["checkpoint"] == ck["label"]]
        for r in sorted(mine, key=lambda r: (order.get(r["variant"], len(order)), r["bits"])):
            if "error" in r:
                lines.append(f"| {r['variant']} | {r['bits']} | failed: {r['error']} | | | | | |")
                continue
            oe = "" if r["output_error"] is None else f"{r['output_error']:.4f}"
            lines.append(
                f"| {r['variant']} | {r['bits']} | {r['bits_per_weight']:.4f} | {r['bpc']:.4f} | "
                f"{r['delta_bpc']:+.4f} | {r['relative_weight_mse']:.4f} | {oe} | {r['seconds']:.1f} |"
            )
        lines.append("")
        lines += _degradation(data, ck["label"])
        lines.append("")
    if data.get("skipped"):
        lines += [f"Not run (time budget): {', '.join(data['skipped'])}.", ""]
    if data.get("gaussian"):
        lines += [
            "Gaussian data (relative MSE = MSE/σ²; Shannon bound D(R) = 2^(−2R)):",
            "",
            "| method | bits | achieved bits/weight | rel. MSE | D(achieved R) | D(nominal R) | gap (dB) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for g in data["gaussian"]:
            lines.append(
                f"| {g['method']} | {g['bits']} | {g['bits_per_weight']:.4f} | {g['relative_mse']:.4f} | "
                f"{g['shannon_at_rate']:.4f} | {g['shannon_at_nominal']:.4f} | {g['gap_db']:.2f} |"
            )
        lines.append("")
    if data.get("speed"):
        rtn = next((s for s in data["speed"] if s["method"] == "rtn"), None)
        rows, cols = data["speed"][0].get("shape", [2304, 576])
        lines += [
            f"Throughput at 2 bits, one {rows} × {cols} Gaussian matrix (weights/s; ratio to RTN in the same "
            "run; encode includes the scale search, dequantize is from the packed codes):",
            "",
            "| method | encode | × RTN | dequantize | × RTN |",
            "|---|---:|---:|---:|---:|",
        ]
        for s in data["speed"]:
            e, d = s["encode_weights_per_s"], s["dequantize_weights_per_s"]
            er = e / rtn["encode_weights_per_s"] if rtn else math.nan
            dr = d / rtn["dequantize_weights_per_s"] if rtn else math.nan
            lines.append(f"| {s['method']} | {e:,.0f} | {er:.3f} | {d:,.0f} | {dr:.3f} |")
        lines.append("")
    if data.get("timing"):
        shape = data["timing"][0].get("shape", SHAPE_20M)
        lines += [
            f"Quantization time of a model of {shape['n_layer']} blocks of width {shape['d_model']} at "
            "2 bits (random weights; the Hessian variants include the calibration pass):",
            "",
            "| variant | weights | achieved bits/weight | seconds | of which calibration |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {t['variant']} | {t['weights']:,} | {t['bits_per_weight']:.4f} | {t['seconds']:.1f} | "
            f"{t['calibration_seconds']:.1f} |"
            for t in data["timing"]
        ]
        lines.append("")
    lines.append(f"Device: {data['meta']['device']}.")
    text = "\n".join(lines) + "\n"
    (out / "table.md").write_text(text)
    _plot(data, out / "quantization_bpc.png")
    return text


def _plot(data: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    checkpoints = data["checkpoints"]
    panels = len(checkpoints) + (1 if data.get("gaussian") else 0)
    if panels == 0:
        return
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2), squeeze=False)
    styles = {
        "rtn": ("tab:gray", "s"),
        "gptq": ("tab:brown", "D"),
        "e8": ("tab:cyan", "^"),
        "e8+H": ("tab:blue", "v"),
        "leech-voronoi": ("tab:purple", "x"),
        "llvq": ("tab:orange", "o"),
        "llvq+H": ("tab:red", "o"),
        "llvq, no RHT": ("gold", "P"),
        "llvq+H, no RHT": ("tab:pink", "P"),
    }
    for ax, ck in zip(axes[0], checkpoints):
        # The degradations span three decades (1-bit codes against 4-bit ones): bpc above the
        # float model's on a symmetric log scale (linear within ±10⁻³, where noise can make a
        # quantized model score below the float one).
        for variant, *_ in VARIANTS:
            pts = sorted(
                (r["bits_per_weight"], r["bpc"] - ck["float_bpc"])
                for r in data["rows"]
                if r["checkpoint"] == ck["label"] and r["variant"] == variant and "error" not in r
            )
            if pts:
                color, marker = styles[variant]
                ax.plot(*zip(*pts), marker=marker, color=color, label=variant, lw=1.2, ms=5)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.axhline(0.0, color="k", ls="--", lw=1)
        ax.set_xlabel("achieved bits per weight (everything stored)")
        ax.set_ylabel(f"validation bpc − float model's {ck['float_bpc']:.4f}")
        ax.set_title(f"{ck['label']} ({ck['parameters'] / 1e6:.1f} M parameters)", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    if data.get("gaussian"):
        ax = axes[0][-1]
        for method in GAUSSIAN_METHODS:
            pts = sorted(
                (g["bits_per_weight"], g["relative_mse"]) for g in data["gaussian"] if g["method"] == method
            )
            color, marker = styles[method]
            ax.semilogy(*zip(*pts), marker=marker, color=color, label=method, lw=1.2, ms=5)
        r = [0.9 + 0.05 * i for i in range(80)]
        ax.semilogy(r, [2.0 ** (-2 * x) for x in r], "k--", lw=1, label="Shannon D(R) = 2^(−2R)")
        ax.set_xlabel("achieved bits per weight")
        ax.set_ylabel("relative MSE on Gaussian data")
        ax.set_title("Gaussian weights", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoints", nargs="+", help="checkpoint or run folders")
    p.add_argument("--labels", nargs="+", help="one label per checkpoint (default: folder names)")
    p.add_argument(
        "--train", action="store_true", help="train vanilla and e8_bias first (docs/results.md shape)"
    )
    p.add_argument(
        "--modes",
        nargs="+",
        choices=sorted(MODES),
        help="models to train (default: vanilla e8_bias, --quick: vanilla)",
    )
    p.add_argument("--quick", action="store_true", help="small model on the embedded pydoc corpus, CPU")
    p.add_argument(
        "--speed-only", action="store_true", help="only the timing of a 20M-shape model and throughput"
    )
    p.add_argument(
        "--variants",
        nargs="+",
        choices=[v[0] for v in VARIANTS],
        help="--speed-only: time only these variants (and the speed rows of their methods)",
    )
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="ROWS",
        help="--speed-only: also print the ROWS costliest operators of one llvq encode of the speed matrix",
    )
    p.add_argument("--render", action="store_true", help="only the tables and the plot from OUT/results.json")
    p.add_argument("--out", default="results-quantization")
    p.add_argument("--corpus", default="python-docs")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--calibration-tokens", type=int, default=32768)
    p.add_argument(
        "--previous",
        nargs="+",
        help="results.json of cut runs: keep their rows and run only the missing entries",
    )
    p.add_argument("--max-minutes", type=float, default=0, help="no entry starts past this budget (0: none)")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.render:
        print(render(out))
        return 0
    if args.quick:
        args.corpus = "pydoc-topics" if args.corpus == "python-docs" else args.corpus
        args.steps = 300 if args.steps == 600 else args.steps
        args.vocab_size, args.block_size, args.batch_size = 512, 128, 16
        args.calibration_tokens = min(args.calibration_tokens, 8192)
        args.train = args.train or not args.checkpoints
        args.modes = args.modes or ["vanilla"]
    args.modes = args.modes or ["vanilla", "e8_bias"]
    if args.speed_only:
        data = {
            "meta": {"device": device_line(args.device), "command": " ".join(["python", *sys.argv])},
            "checkpoints": [],
            "rows": [],
        }
        data["timing"] = _model_timing(args, args.device)
        data["speed"] = _speed(args, args.device)
        (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
        print(render(out))
        if args.profile:
            _profile_encoder(args, args.device, args.profile)
        return 0
    if args.train:
        checkpoints = train_models(args, out)
    elif args.checkpoints:
        labels = args.labels or [Path(c).name for c in args.checkpoints]
        if len(labels) != len(args.checkpoints):
            p.error("give one label per checkpoint")
        checkpoints = list(zip(labels, [Path(c) for c in args.checkpoints]))
    else:
        p.error("give --checkpoints, --train, --quick or --speed-only")
    data = measure(args, checkpoints, out)
    if args.quick:
        data["timing"] = _model_timing(args, args.device)
        (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    print(render(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
