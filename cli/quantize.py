"""``leechkit quantize``: weight quantization of a checkpoint (:mod:`leechkit.models.weight_quant`).

::

    leechkit quantize CHECKPOINT --method {rtn,gptq,e8,leech-voronoi,llvq} --bits B -o OUT
        [--group-size N] [--gain-bits G] [--hessian/--no-hessian] [--hadamard/--no-hadamard]
        [--calibration-tokens N] [--data CORPUS] [--data-dir DIR] [--seed S] [--skip PATTERN ...]
        [--device cpu|cuda] [--report FILE]

``CHECKPOINT`` is a checkpoint or run folder of the trainer (or any folder written by
``LatticeTransformer.save_pretrained`` plus a tokenizer). ``OUT`` receives the quantized model
(``config.json``, ``model.safetensors`` with uint8 code streams, float16 scales and the JSON
description in its metadata), the tokenizer, the training configuration when the checkpoint
has one, and ``quantization.json`` (the per-layer report). ``leechkit eval OUT``,
``LatticeTransformer.from_pretrained(OUT)`` and ``generate`` then run the quantized model.

A Hugging Face model folder (a ``config.json`` with a ``model_type``, e.g. GPT-2 written by
``save_pretrained``) is quantized too, without calibration data: ``OUT`` then holds its
``config.json`` and ``model.safetensors`` written by :func:`~leechkit.models.weight_quant.save_quantized`
(load it with :func:`~leechkit.models.weight_quant.load_quantized` into a model built from that
configuration).

Calibration: the Hessian methods (``gptq``, and the lattice methods with ``--hessian``) use
``--calibration-tokens`` tokens (default 32,768) in blocks of the model's context length
drawn from the **training** split of ``--data`` (default: the checkpoint's training corpus),
never from the validation split (:func:`~leechkit.models.weight_quant.calibration_blocks`).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

__all__ = ["DEFAULT_CALIBRATION_TOKENS", "METHODS", "add_quantize_arguments", "run_quantize"]

#: The methods of :data:`leechkit.models.weight_quant.METHODS`, repeated here so that building
#: the parser imports no torch (``leechkit info`` works without the torch extra).
METHODS = ("rtn", "gptq", "e8", "leech-voronoi", "llvq")

DEFAULT_CALIBRATION_TOKENS = 32_768
"""Calibration tokens of the Hessian methods when ``--calibration-tokens`` is not given."""


def add_quantize_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``leechkit quantize`` to a parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``quantize`` subparser.
    """
    parser.add_argument("checkpoint", help="checkpoint or run folder (or a Hugging Face model folder)")
    parser.add_argument("--method", required=True, choices=METHODS, help="quantizer")
    parser.add_argument("--bits", type=int, required=True, help="nominal bits per weight")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument(
        "--group-size", type=int, help="input columns per scale group (default: 128 scalar, row)"
    )
    parser.add_argument("--gain-bits", type=int, help="llvq: gain bits per stage")
    parser.add_argument(
        "--hessian",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Hessian (GPTQ) correction from calibration data (default: on for gptq only)",
    )
    parser.add_argument(
        "--hadamard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random Hadamard rotation (default: on for e8, leech-voronoi, llvq)",
    )
    parser.add_argument(
        "--calibration-tokens",
        type=int,
        help=f"calibration tokens for the Hessian (default {DEFAULT_CALIBRATION_TOKENS:,} when needed)",
    )
    parser.add_argument("--data", help="corpus of the calibration data (default: the training corpus)")
    parser.add_argument("--data-dir", help="folder of the shared corpora")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rotations and calibration blocks")
    parser.add_argument("--damp", type=float, default=0.01, help="relative Hessian damping")
    parser.add_argument("--skip", nargs="+", default=[], metavar="PATTERN", help="module names left in float")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--report", help="also write the report JSON here (default: OUT/quantization.json)")


def _is_hf(folder: Path) -> bool:
    config = folder / "config.json"
    if not config.is_file():
        return False
    try:
        return "model_type" in json.loads(config.read_text())
    except json.JSONDecodeError:
        return False


def run_quantize(args: argparse.Namespace) -> int:
    """Run ``leechkit quantize``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_quantize_arguments`.

    Returns
    -------
    int
        Exit status.
    """
    from leechkit.models.weight_quant import calibration_blocks, quantize_model, save_quantized

    source = Path(args.checkpoint)
    out = Path(args.output)
    if out.resolve() == source.resolve():
        raise ValueError("the output folder must differ from the checkpoint")
    needs_hessian = args.method == "gptq" or bool(args.hessian)
    tokens = args.calibration_tokens
    if tokens is None:
        tokens = DEFAULT_CALIBRATION_TOKENS if needs_hessian else 0
    if tokens < 0:
        raise ValueError(f"--calibration-tokens must be ≥ 0, got {tokens}")
    if needs_hessian and tokens == 0:
        raise ValueError(f"{args.method} with the Hessian correction needs --calibration-tokens > 0")
    options = dict(
        group_size=args.group_size,
        gain_bits=args.gain_bits,
        hessian=args.hessian,
        hadamard=args.hadamard,
        seed=args.seed,
        skip=tuple(args.skip),
        damp=args.damp,
        progress=lambda line: print(line, flush=True),
    )

    if _is_hf(source):
        if tokens:
            raise ValueError("calibration data for Hugging Face models is not supported by the command")
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(source)).to(args.device).eval()
        report = quantize_model(model, args.method, args.bits, **options)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "config.json", out / "config.json")
        save_quantized(model, out / "model.safetensors")
    else:
        from leechkit.models.evaluation import load_checkpoint
        from leechkit.models.training import find_checkpoint

        path = source if (source / "config.json").is_file() else find_checkpoint(source)
        model, tokenizer, config = load_checkpoint(path, args.device)
        calibration = None
        if tokens:
            corpus = args.data or (config.corpus if config is not None else None)
            if corpus is None:
                raise ValueError(
                    f"{path} has no training configuration: pass --data for the calibration corpus"
                )
            data_dir = args.data_dir or (config.data_dir if config is not None else None)
            block = model.config.block_size
            calibration = calibration_blocks(
                tokenizer, corpus, block, max(tokens, block), data_dir, args.seed
            )
            print(
                f"calibration: {calibration.numel():,} tokens of the training split of {corpus}", flush=True
            )
        report = quantize_model(model, args.method, args.bits, calibration, **options)
        model.save_pretrained(out)
        tokenizer.save(out)
        if (path / "train_config.json").is_file():
            shutil.copy2(path / "train_config.json", out / "train_config.json")
    report_path = Path(args.report) if args.report else out / "quantization.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    print(report.table())
    print(f"wrote {out}")
    return 0
