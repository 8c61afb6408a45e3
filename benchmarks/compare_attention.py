"""The attention comparison of issue 6: equal parameters, equal tokens, honest bits per character.

Trains vanilla, rotate, frozen_qk, e8_bias and conway attention, each without and with the
resonance loss, plus the seeds' placeholder kernel (frozen_qk with ``kernel="placeholder"``),
on one corpus (python-docs by default) with one SentencePiece tokenizer (trained once on the
training split and reused by every run), one seed, and the same number of optimizer steps
(hence training tokens). Each model is scored on the whole validation split by the library's
evaluation (float32; bpc = total nats / (ln 2 × characters)).

Equal trainable parameters: frozen_qk, conway and the placeholder have no trainable query/key
projections (2·d² weights fewer per block); an MLP ratio of 5 instead of 4 gives them back
(2·d² more per block), so every configuration has the same trainable parameter count (e8_bias
adds one scale per head).

Usage (GPU, the run in docs/results.md)::

    LEECHKIT_DATA=.devdata python benchmarks/compare_attention.py --steps 600 \\
        --max-minutes 8.4 --out results/

    # compressor reference on the same validation text (CPU; needs zpaq for the zpaq row)
    python benchmarks/compare_attention.py --compressors-only --compressors lzma zpaq --out results/

    # merge and render docs/results.md and the plot from the JSON files
    python benchmarks/compare_attention.py --render --out results/ --docs docs/

Tiny CPU check: ``--tiny --device cpu --steps 3``.

Results are written after every run (``results.json``), so a run cut short by ``--max-minutes``
(no new configuration starts once the estimated time of one more would pass the budget) or by
a time limit still leaves the finished rows.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

SEED_CLAIM_BPC = 0.129

#: label -> model fields (beside the common shape); ``resonance`` is added per run.
MODES: list[tuple[str, dict[str, object]]] = [
    ("vanilla", {"attention": "vanilla"}),
    ("rotate", {"attention": "rotate"}),
    ("frozen_qk", {"attention": "frozen_qk", "mlp_ratio": 5}),
    ("e8_bias", {"attention": "e8_bias"}),
    ("conway", {"attention": "conway", "mlp_ratio": 5}),
]
PLACEHOLDER = (
    "placeholder (seed kernel, frozen_qk)",
    {"attention": "frozen_qk", "kernel": "placeholder", "mlp_ratio": 5},
)


def run_list(resonance_weight: float) -> list[tuple[str, dict[str, object], float]]:
    """The 11 runs, in the order they are trained: plain modes, placeholder, then with resonance."""
    runs = [(label, fields, 0.0) for label, fields in MODES]
    runs.append((PLACEHOLDER[0], PLACEHOLDER[1], 0.0))
    runs += [(f"{label} + resonance", fields, resonance_weight) for label, fields in MODES]
    return runs


def device_line() -> str:
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        memory = props.total_memory / 2**30
        dev = f"{torch.cuda.get_device_name(0)} ({memory:.0f} GiB), CUDA {torch.version.cuda}"
    else:
        dev = f"CPU ({torch.get_num_threads()} threads)"
    return f"{dev}; PyTorch {torch.__version__}; Python {platform.python_version()}"


def train_all(args: argparse.Namespace) -> int:
    import torch

    from leechkit.models.data import load_corpus
    from leechkit.models.training import PreparedData, TrainConfig, train

    started = time.perf_counter()
    deadline = started + 60 * args.max_minutes if args.max_minutes else math.inf
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_dir = Path(args.runs_dir) if args.runs_dir else out / "runs"
    corpus = load_corpus(args.corpus, args.data_dir)
    print(
        f"corpus {corpus.name}: {corpus.statistics('train').characters:,} train / "
        f"{corpus.statistics('valid').characters:,} valid characters",
        flush=True,
    )
    shape = {"n_layer": args.n_layer, "n_head": args.n_head, "d_model": args.d_model, "lattice": "leech"}
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
        "log_interval": max(1, min(50, args.steps // 5)),
        "seed": args.seed,
        "device": args.device,
        "dtype": args.dtype,
        "progress": False,
    }
    meta = {
        "device": device_line(),
        "command": " ".join(["python", *sys.argv]),
        "corpus": corpus.name,
        "shape": shape,
        "common": {k: v for k, v in common.items() if k != "data_dir"},
        "tokens_per_run": args.steps * args.batch_size * args.block_size,
        "resonance_weight": args.resonance_weight,
        "seed_claim_bpc": SEED_CLAIM_BPC,
    }
    rows: list[dict[str, object]] = []
    skipped: list[str] = []
    # One tokenizer and one packing of the splits for every run.
    tic = time.perf_counter()
    prepared = PreparedData.build(TrainConfig.from_dict({**common, "model": shape}))
    print(
        f"tokenizer: SentencePiece {prepared.tokenizer.vocab_size} trained and splits packed in "
        f"{time.perf_counter() - tic:.1f} s",
        flush=True,
    )

    def write() -> None:
        (out / "results.json").write_text(
            json.dumps({"meta": meta, "rows": rows, "skipped": skipped}, indent=2) + "\n"
        )

    write()
    runs = run_list(args.resonance_weight)
    if args.only:
        runs = [r for r in runs if any(r[0].startswith(o) for o in args.only)]
    for i, (label, fields, weight) in enumerate(runs):
        walls = [r["wall_s"] for r in rows]
        estimate = max(walls) if walls else 0.0
        if time.perf_counter() + estimate > deadline:
            skipped.extend(r[0] for r in runs[i:])
            print(f"time budget of {args.max_minutes} min reached: skipping {skipped}", flush=True)
            break
        slug = label.split(" ")[0] + ("-res" if weight else "")
        config = TrainConfig.from_dict(
            {
                **common,
                "model": {**shape, **fields},
                "resonance_weight": weight,
                "out_dir": str(runs_dir / slug),
            }
        )
        print(
            f"[{i + 1}/{len(runs)}] {label}: {config.model} resonance={weight} "
            f"({time.perf_counter() - started:.0f} s elapsed)",
            flush=True,
        )
        tic = time.perf_counter()
        try:
            result = train(config, prepared=prepared)
        except Exception as error:  # report and go on: one failing mode must not lose the others
            print(f"  FAILED: {type(error).__name__}: {error}", flush=True)
            rows.append(
                {
                    "label": label,
                    "error": f"{type(error).__name__}: {error}",
                    "wall_s": time.perf_counter() - tic,
                }
            )
            write()
            continue
        report = result.evaluation
        row = {
            "label": label,
            "model": config.model,
            "resonance_weight": weight,
            "trainable": result.parameters["trainable"],
            "tokens": result.tokens,
            "tokens_per_s": result.tokens_per_second,
            "wall_s": time.perf_counter() - tic,
            "validation": report.as_dict(),
            "nats_per_token": report.nats_per_token,
            "bits_per_token": report.bits_per_token,
            "bpc": report.bits_per_character,
        }
        rows.append(row)
        write()
        print(
            f"  {result.tokens:,} tokens at {result.tokens_per_second:,.0f} tokens/s; validation "
            f"{report.nats_per_token:.4f} nats/token, {report.bits_per_token:.4f} bits/token, "
            f"{report.bits_per_character:.4f} bpc ({row['wall_s']:.0f} s)",
            flush=True,
        )
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    meta["total_s"] = time.perf_counter() - started
    write()
    if args.compressors:
        compressors_only(args, corpus)
    render(out, Path(args.docs) if args.docs else out)
    print(f"done in {meta['total_s']:.0f} s", flush=True)
    return 0


def compressors_only(args: argparse.Namespace, corpus=None) -> int:
    from leechkit.models.compression import compression_reference
    from leechkit.models.data import load_corpus

    corpus = corpus or load_corpus(args.corpus, args.data_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    results = compression_reference(corpus.text("train"), corpus.text("valid"), args.compressors or None)
    rows = [
        {
            "compressor": r.compressor,
            "valid_characters": r.valid_characters,
            "conditional_bpc": r.conditional_bpc,
            "unconditional_bpc": r.unconditional_bpc,
        }
        for r in results
    ]
    (out / "compressors.json").write_text(json.dumps({"corpus": corpus.name, "rows": rows}, indent=2) + "\n")
    for r in rows:
        print(
            f"{r['compressor']}: {r['conditional_bpc']:.4f} bpc given train, "
            f"{r['unconditional_bpc']:.4f} alone "
            f"({r['valid_characters']:,} characters)",
            flush=True,
        )
    print(f"compressors in {time.perf_counter() - tic:.0f} s", flush=True)
    return 0


def render(out: Path, docs: Path) -> None:
    """The table (Markdown) and the plot from results.json (+ compressors.json if present)."""
    data = json.loads((out / "results.json").read_text())
    comp_path = out / "compressors.json"
    compressors = json.loads(comp_path.read_text())["rows"] if comp_path.exists() else []
    docs.mkdir(parents=True, exist_ok=True)
    lines = [
        "| config | trainable params | train tokens | tokens/s | nats/token | bits/token | honest bpc |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        if "error" in r:
            lines.append(f"| {r['label']} | failed: {r['error']} | | | | | |")
            continue
        lines.append(
            f"| {r['label']} | {r['trainable']:,} | {r['tokens']:,} | {r['tokens_per_s']:,.0f} | "
            f"{r['nats_per_token']:.4f} | {r['bits_per_token']:.4f} | {r['bpc']:.4f} |"
        )
    names = {"lzma": "xz -9e (lzma)", "xz": "xz -9e", "zpaq": "zpaq -m5"}
    for c in compressors:
        name = names.get(c["compressor"], c["compressor"])
        lines.append(f"| {name}, given train | | | | | | {c['conditional_bpc']:.4f} |")
    lines.append(f"| seeds' claim (not measured here) | | | | | | {data['meta']['seed_claim_bpc']} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = [r for r in data["rows"] if "error" not in r]
    labels = [r["label"] for r in good] + [names.get(c["compressor"], c["compressor"]) for c in compressors]
    values = [r["bpc"] for r in good] + [c["conditional_bpc"] for c in compressors]
    colors = ["tab:orange" if r["resonance_weight"] else "tab:blue" for r in good]
    colors = [("tab:red" if "placeholder" in r["label"] else c) for r, c in zip(good, colors)]
    colors += ["tab:gray"] * len(compressors)
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(labels) + 1.4))
    y = range(len(labels))
    ax.barh(list(y), values, color=colors)
    for i, v in zip(y, values):
        ax.text(v, i, f" {v:.3f}", va="center", fontsize=8)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("validation bits per character (whole split; lower is better)")
    ax.set_xlim(0, max(values) * 1.15 if values else 1)
    meta = data["meta"]
    ax.set_title(f"{meta['corpus']}: {meta['tokens_per_run']:,} training tokens per model", fontsize=9)
    fig.tight_layout()
    fig.savefig(docs / "results_bpc.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default="python-docs")
    p.add_argument("--data-dir", default=None, help="default: LEECHKIT_DATA or ../shared/data")
    p.add_argument("--out", default="results", help="results.json, table.md, runs/ (default ./results)")
    p.add_argument("--runs-dir", default=None, help="run folders (checkpoints); default OUT/runs")
    p.add_argument("--docs", default=None, help="where the plot goes (default OUT)")
    p.add_argument("--steps", type=int, default=600, help="optimizer steps per run (equal tokens)")
    p.add_argument(
        "--max-minutes", type=float, default=0, help="total budget; no run starts past it (0: none)"
    )
    p.add_argument("--n-layer", type=int, default=5)
    p.add_argument("--n-head", type=int, default=8)
    p.add_argument("--d-model", type=int, default=576)
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.add_argument(
        "--resonance-weight", type=float, default=0.01, help="λ of the '+ resonance' runs (seeds: 0.01)"
    )
    p.add_argument("--only", nargs="+", help="run only labels starting with these")
    p.add_argument("--compressors", nargs="+", help="also compute these compressor rows (lzma, xz, zpaq)")
    p.add_argument("--compressors-only", action="store_true")
    p.add_argument("--render", action="store_true", help="only render table/plot from OUT's JSON files")
    p.add_argument("--tiny", action="store_true", help="a tiny shape for a CPU smoke test")
    args = p.parse_args(argv)
    if args.tiny:
        args.n_layer, args.n_head, args.d_model = 1, 2, 48
        args.block_size, args.batch_size, args.vocab_size, args.eval_batch_size = 32, 4, 512, 16
    if args.compressors_only:
        return compressors_only(args)
    if args.render:
        render(Path(args.out), Path(args.docs) if args.docs else Path(args.out))
        return 0
    return train_all(args)


if __name__ == "__main__":
    sys.exit(main())
