"""``leechkit train``, ``eval``, ``leakage``, ``compress`` and ``tour``: the model side of the command.

This module imports no torch at import time (``leechkit info`` stays light and works without
the ``torch`` extra); each command imports :mod:`leechkit.models` when it runs.

``train``
    :func:`leechkit.models.training.train` with a configuration from ``--config`` (JSON or TOML),
    from the checkpoint when resuming, or the defaults, updated by the flags (one per field of
    :class:`~leechkit.models.training.TrainConfig` and of its ``model`` table). Under
    ``torchrun`` it runs DDP: ``torchrun --standalone --nproc_per_node=N -m leechkit.cli train ...``.
``eval CHECKPOINT``
    Honest bits per character over the whole validation split, with the seed-style diagnostics
    (:func:`leechkit.models.evaluation.evaluate_checkpoint`).
``leakage CHECKPOINT``
    The causality check (:func:`leechkit.models.evaluation.leakage_check`); exit status 1 on
    leakage.
``compress``
    The xz / zpaq reference bits per character of a corpus's validation text given its training
    text (:func:`leechkit.models.compression.compression_reference`).
``tour``
    The README's main command: the lattice table, then a short CPU training run on the
    embedded pydoc corpus of ``vanilla`` and ``frozen_qk`` attention (Leech kernel) with the
    same number of trainable parameters and training tokens, evaluated honestly beside the
    compressor reference on the same validation text (:func:`run_tour`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "MODEL_FLAGS",
    "TRAIN_FLAGS",
    "add_compress_arguments",
    "add_eval_arguments",
    "add_leakage_arguments",
    "add_tour_arguments",
    "add_train_arguments",
    "format_tour_table",
    "run_compress",
    "run_eval",
    "run_leakage",
    "run_tour",
    "run_train",
    "tour_configs",
]

#: Flags of ``leechkit train`` for the fields of ``TrainConfig``: ``(field, type, help)``; the type
#: ``bool`` gives ``--flag/--no-flag``, ``"int?"`` and ``"str?"`` accept ``none``.
TRAIN_FLAGS: tuple[tuple[str, object, str], ...] = (
    ("corpus", str, "corpus name (pydoc-topics, python-docs, tinystories-sample, ...) or file"),
    ("data_dir", "str?", "folder of the shared corpora (default: LEECHKIT_DATA or ../shared/data)"),
    ("tokenizer", str, "sentencepiece or byte"),
    ("vocab_size", int, "SentencePiece vocabulary size"),
    ("block_size", int, "tokens per block (context length)"),
    ("batch_size", int, "blocks per optimizer step, over all processes and micro-batches"),
    ("grad_accum", int, "micro-batches per optimizer step on each process"),
    ("max_steps", "int?", "optimizer steps (or give --max-tokens)"),
    ("max_tokens", "int?", "training-token budget instead of --max-steps"),
    ("lr", float, "peak learning rate"),
    ("min_lr", float, "final learning rate of the cosine decay"),
    ("warmup_steps", int, "linear warm-up steps"),
    ("weight_decay", float, "AdamW weight decay of the linear weight matrices"),
    ("beta1", float, "AdamW beta1"),
    ("beta2", float, "AdamW beta2"),
    ("grad_clip", float, "largest global gradient norm (0: off)"),
    ("eval_interval", int, "steps between whole-validation evaluations (0: only at the end)"),
    ("eval_batch_size", int, "blocks per forward pass in evaluation"),
    ("checkpoint_interval", int, "steps between checkpoints (0: only at the end)"),
    ("keep_checkpoints", int, "newest checkpoints kept"),
    ("log_interval", int, "steps between log records"),
    ("out_dir", str, "run folder"),
    ("seed", int, "seed of initialization, batches and dropout"),
    ("device", str, "auto, cpu, cuda or cuda:N"),
    ("dtype", str, "auto, float32 or bfloat16 (autocast, CUDA only)"),
    ("resonance_weight", float, "weight of the resonance loss (0: none)"),
    ("progress", bool, "progress bar"),
    ("compile", bool, "torch.compile the training steps"),
)

#: Flags of ``leechkit train`` for the model fields (``TrainConfig.model``), same layout.
MODEL_FLAGS: tuple[tuple[str, object, str], ...] = (
    ("attention", str, "vanilla, rotate, frozen_qk, e8_bias or conway"),
    ("n_layer", int, "transformer blocks"),
    ("n_head", int, "attention heads"),
    ("d_model", int, "width of the residual stream"),
    ("dropout", float, "dropout probability"),
    ("bias", bool, "biases in the linear layers and norms"),
    ("lattice", str, "leech or e8"),
    ("kernel", str, "frame or placeholder (the seeds' kernel, Leech only)"),
    ("automorphism_seed", int, "seed of the conway mode's automorphisms"),
    ("phase_modulation", bool, "Monster-LILA's phase modulation"),
    ("resonance_target", str, "minimal or frame"),
    ("mlp_ratio", int, "MLP width as a multiple of d_model"),
)


def _optional(kind: type):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _add_flag(group: argparse._ArgumentGroup, name: str, kind: object, text: str, dest: str) -> None:
    flag = "--" + name.replace("_", "-")
    if kind is bool:
        group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
    elif isinstance(kind, str):
        base = {"int?": int, "str?": str}[kind]
        group.add_argument(
            flag,
            dest=dest,
            type=_optional(base),
            default=None,
            metavar=name.upper(),
            help=f"{text}; 'none' unsets",
        )
    else:
        group.add_argument(flag, dest=dest, type=kind, default=None, metavar=name.upper(), help=text)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``leechkit train`` to a parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``train`` subparser.
    """
    parser.add_argument("--config", help="JSON or TOML training configuration (model fields under 'model')")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="CHECKPOINT",
        help="resume from a checkpoint or run folder (default: the newest checkpoint in --out-dir); "
        "without --config the checkpoint's configuration is used",
    )
    parser.add_argument("--print-config", action="store_true", help="print the configuration and exit")
    run = parser.add_argument_group("training (override the configuration)")
    for name, kind, text in TRAIN_FLAGS:
        _add_flag(run, name, kind, text, name)
    model = parser.add_argument_group("model (override the configuration's model table)")
    for name, kind, text in MODEL_FLAGS:
        _add_flag(model, name, kind, text, "model." + name)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    names = [name for name, _, _ in TRAIN_FLAGS] + ["model." + name for name, _, _ in MODEL_FLAGS]
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def run_train(args: argparse.Namespace) -> int:
    """Run ``leechkit train`` (DDP when started by ``torchrun``).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_train_arguments`.

    Returns
    -------
    int
        Exit status.
    """
    from leechkit.models.training import TrainConfig, find_checkpoint, train

    overrides = _overrides(args)
    resume = None
    if args.resume is not None:
        out_dir = overrides.get("out_dir")
        if args.resume == "" and out_dir is None and not args.config:
            raise ValueError("--resume without a folder needs --out-dir or --config")
        if args.resume == "" and out_dir is None:
            out_dir = TrainConfig.load(args.config).out_dir
        resume = find_checkpoint(args.resume or out_dir)
    if args.config:
        base = TrainConfig.load(args.config)
    elif resume is not None:
        base = TrainConfig.load(resume / "train_config.json")
    else:
        base = TrainConfig()
    config = base.with_overrides(overrides)
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
        return 0
    result = train(config, resume=resume)
    if result.checkpoint is not None:
        report = result.evaluation
        print(
            f"{result.steps} steps, {result.tokens:,} tokens, {result.parameters['trainable']:,} trainable "
            f"parameters, {result.tokens_per_second:,.0f} tokens/s, {result.wall_seconds:.1f} s"
        )
        if report is not None:
            print(
                f"validation: {report.nats_per_token:.4f} nats/token, {report.bits_per_token:.4f} "
                f"bits/token, {report.bits_per_character:.4f} bits/character, "
                f"{report.bits_per_byte:.4f} bits/byte"
            )
        print(f"checkpoint: {result.checkpoint}")
    return 0


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``leechkit eval`` to a parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``eval`` subparser.
    """
    parser.add_argument("checkpoint", help="checkpoint folder, or a run folder (its newest checkpoint)")
    parser.add_argument("--corpus", help="corpus to evaluate on (default: the training corpus)")
    parser.add_argument("--data-dir", help="folder of the shared corpora")
    parser.add_argument("--batch-size", type=int, default=8, help="blocks per forward pass")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--assumed-chars-per-token",
        type=float,
        default=None,
        help="token length assumed by the seed-formula diagnostic (default: 4.47, the seeds' implied value)",
    )
    parser.add_argument("--no-padded", action="store_true", help="skip the seed-style padded diagnostic")
    parser.add_argument("--json", help="also write the figures to this JSON file")


def run_eval(args: argparse.Namespace) -> int:
    """Run ``leechkit eval``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_eval_arguments`.

    Returns
    -------
    int
        Exit status.
    """
    from leechkit.models.evaluation import SEED_ASSUMED_CHARACTERS_PER_TOKEN, evaluate_checkpoint

    assumed = args.assumed_chars_per_token or SEED_ASSUMED_CHARACTERS_PER_TOKEN
    result = evaluate_checkpoint(
        args.checkpoint, args.corpus, args.data_dir, args.batch_size, args.device, assumed, not args.no_padded
    )
    print(result.table())
    if args.json:
        data = {"label": result.label, "corpus": result.corpus, **result.report.as_dict()}
        if result.padded is not None:
            data["seed_style_loss_with_padding"] = result.padded.loss_with_padding
            data["pad_fraction"] = result.padded.pad_fraction
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


def add_leakage_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``leechkit leakage`` to a parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``leakage`` subparser.
    """
    parser.add_argument("checkpoint", help="checkpoint folder, or a run folder (its newest checkpoint)")
    parser.add_argument("--positions", type=int, nargs="+", help="positions t (default: 0, T/4, T/2, T-2)")
    parser.add_argument("--batch-size", type=int, default=2, help="random sequences per test")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random tokens")
    parser.add_argument(
        "--tolerance", type=float, default=1e-5, help="largest past change counted as rounding"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")


def run_leakage(args: argparse.Namespace) -> int:
    """Run ``leechkit leakage``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_leakage_arguments`.

    Returns
    -------
    int
        0 without leakage, 1 with.
    """
    from leechkit.models.evaluation import leakage_check, load_checkpoint

    model, _, _ = load_checkpoint(args.checkpoint, args.device)
    report = leakage_check(model, args.positions, args.batch_size, args.seed, args.tolerance)
    print(report.table())
    return 0 if report.passed else 1


def add_compress_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``leechkit compress`` to a parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``compress`` subparser.
    """
    parser.add_argument("--corpus", default="pydoc-topics", help="corpus name or file")
    parser.add_argument("--data-dir", help="folder of the shared corpora")
    parser.add_argument(
        "--compressors", nargs="+", help="lzma, xz, zpaq (default: lzma and, if installed, zpaq)"
    )


def run_compress(args: argparse.Namespace) -> int:
    """Run ``leechkit compress``: the compressor reference table of a corpus.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_compress_arguments`.

    Returns
    -------
    int
        Exit status.
    """
    from leechkit.models.compression import compression_reference, format_compression_table
    from leechkit.models.data import load_corpus

    corpus = load_corpus(args.corpus, args.data_dir)
    results = compression_reference(corpus.text("train"), corpus.text("valid"), args.compressors)
    print(format_compression_table(results, f"{corpus.name}: validation text given the training text"))
    return 0


def tour_configs(tokens: int, out_dir: str | Path, progress: bool = True) -> dict[str, object]:
    """The two training configurations of the tour, with equal trainable parameters and tokens.

    Both: 4 blocks of width 96 with 4 heads (head width 24), block 128, batch 16, SentencePiece
    vocabulary 1024, the pydoc corpus, on the CPU. ``vanilla`` has learned query and key
    projections (2·96² weights per block); ``frozen_qk`` with the Leech frame has none, and an
    MLP of ratio 5 instead of 4 gives the same 2·96² back, so the trainable parameter counts
    are equal.

    Parameters
    ----------
    tokens : int
        Training tokens of each run.
    out_dir : str or pathlib.Path
        Parent folder of the two run folders.
    progress : bool
        Progress bars.

    Returns
    -------
    dict
        Label to :class:`~leechkit.models.training.TrainConfig`.
    """
    from leechkit.models.training import TrainConfig

    common = {
        "corpus": "pydoc-topics",
        "tokenizer": "sentencepiece",
        "vocab_size": 1024,
        "block_size": 128,
        "batch_size": 16,
        "max_steps": None,
        "max_tokens": tokens,
        "lr": 2e-3,
        "min_lr": 2e-4,
        "weight_decay": 0.1,
        "eval_interval": 0,
        "checkpoint_interval": 0,
        "keep_checkpoints": 1,
        "log_interval": 10,
        "device": "cpu",
        "dtype": "float32",
        "progress": progress,
    }
    steps = tokens // (common["batch_size"] * common["block_size"])
    common["warmup_steps"] = max(1, steps // 10)
    model = {"n_layer": 4, "n_head": 4, "d_model": 96}
    out = Path(out_dir)
    return {
        "vanilla": TrainConfig.from_dict(
            {**common, "model": {**model, "attention": "vanilla"}, "out_dir": str(out / "vanilla")}
        ),
        "frozen_qk (Leech)": TrainConfig.from_dict(
            {
                **common,
                "model": {**model, "attention": "frozen_qk", "lattice": "leech", "mlp_ratio": 5},
                "out_dir": str(out / "frozen_qk"),
            }
        ),
    }


def add_tour_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``leechkit tour`` to a parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``tour`` subparser.
    """
    parser.add_argument(
        "--tokens", type=int, default=614_400, help="training tokens per model (default 614,400: 300 steps)"
    )
    parser.add_argument("--out-dir", help="keep the runs here (default: a temporary folder, removed)")
    parser.add_argument("--skip-info", action="store_true", help="skip the lattice table")
    parser.add_argument(
        "--compressors", nargs="+", help="lzma, xz, zpaq (default: lzma and, if installed, zpaq)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_tour(args: argparse.Namespace, info: object = None) -> int:
    """Run ``leechkit tour``: lattice table, compressor reference, two short trainings, one table.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_tour_arguments`.
    info : callable, optional
        Prints the lattice table (``leechkit info``); skipped when None or ``--skip-info``.

    Returns
    -------
    int
        Exit status.
    """
    import torch

    from leechkit.models.compression import available_compressors, compression_reference
    from leechkit.models.data import pydoc_topics
    from leechkit.models.training import train

    start = time.perf_counter()
    if info is not None and not args.skip_info:
        info()
        print()
    corpus = pydoc_topics()
    print(
        f"Training on the embedded corpus: CPython's pydoc_data.topics (English reference text that "
        f"ships with Python), {corpus.statistics('train').characters:,} training and "
        f"{corpus.statistics('valid').evaluated_characters:,} validation characters; "
        f"{torch.get_num_threads()} CPU threads.",
        flush=True,
    )
    # The xz program agrees with lzma to the byte: one xz row is enough.
    compressors = args.compressors or [c for c in available_compressors() if c != "xz"]
    reference = compression_reference(corpus.text("train"), corpus.text("valid"), compressors)
    rows = []
    with tempfile.TemporaryDirectory(prefix="leechkit-tour-") as scratch:
        parent = Path(args.out_dir) if args.out_dir else Path(scratch)
        for label, config in tour_configs(args.tokens, parent, not args.no_progress).items():
            result = train(config)
            rows.append((label, result))
    print()
    print(format_tour_table(rows, reference, args.tokens))
    print(f"\ntour finished in {time.perf_counter() - start:.0f} s")
    return 0


def format_tour_table(rows: Sequence[tuple[str, object]], reference: Sequence[object], tokens: int) -> str:
    """The tour's table: honest validation figures of each model beside the compressors.

    Parameters
    ----------
    rows : sequence of tuple
        ``(label, TrainResult)`` of each model.
    reference : sequence of CompressionResult
        The compressor reference on the same validation text.
    tokens : int
        Training tokens of each model.

    Returns
    -------
    str
        The table with a title and notes.
    """
    header = ["model", "trainable params", "train tokens", "tokens/s", "nats/token", "bits/token", "bpc"]
    table = [header]
    for label, result in rows:
        report = result.evaluation
        table.append(
            [
                label,
                f"{result.parameters['trainable']:,}",
                f"{result.tokens:,}",
                f"{result.tokens_per_second:,.0f}",
                f"{report.nats_per_token:.4f}",
                f"{report.bits_per_token:.4f}",
                f"{report.bits_per_character:.4f}",
            ]
        )
    for r in reference:
        name = {"lzma": "xz -9e (lzma)", "zpaq": "zpaq -m5"}.get(r.compressor, r.compressor)
        table.append([f"{name}, given train", "", "", "", "", "", f"{r.conditional_bpc:.4f}"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    characters = rows[0][1].evaluation.characters if rows else 0
    lines.insert(
        0,
        f"Validation split of pydoc-topics ({characters:,} characters), scored whole; "
        f"bpc = total nats / (ln 2 × characters)",
    )
    lines.append(
        f"Equal trainable parameters and equal training tokens ({tokens:,} requested); compressors: "
        "8·(C(train+valid) − C(train)) / characters of the same validation text."
    )
    return "\n".join(lines)
