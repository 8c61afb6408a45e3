"""Training of lattice transformers: configuration, optimizer, schedule, checkpoints, DDP.

Configuration
    :class:`TrainConfig` holds everything a run needs (model fields, corpus, tokenizer, batch,
    budget, optimizer, schedule, intervals, output folder, seed, device, precision). It is read
    from JSON or TOML (:meth:`TrainConfig.load`; the model fields under ``model``) and updated
    by ``"key"`` / ``"model.key"`` overrides (:meth:`TrainConfig.with_overrides`), which is
    what ``leechkit train --config F --flag value`` does.

Batches
    ``batch_size`` is the *global* number of blocks per optimizer step. It is split into
    ``grad_accum`` micro-batches on each of the ``world_size`` processes, each of
    ``batch_size / (grad_accum · world_size)`` blocks. Micro-batch ``m`` of rank ``r`` is batch
    ``m · world_size + r`` of :func:`leechkit.models.data.train_batches`, so an optimizer step
    sees the same blocks for every split of the global batch: one process, gradient
    accumulation or DDP give the same curve up to floating-point rounding.

Optimization
    AdamW (:func:`build_optimizer`): weight decay on the weight matrices of the linear layers
    only, not on norms, biases, embeddings (the output head is tied to the token embedding)
    or other vectors; linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to
    ``min_lr`` at the last step (:func:`learning_rate`, a pure function of the step); gradient
    clipping by the global norm; bf16 autocast on CUDA (parameters and optimizer state stay in
    float32); float32 on the CPU.

Evaluation, logs, checkpoints
    Every ``eval_interval`` steps and at the end, the whole validation split is scored by
    :func:`leechkit.models.data.evaluate_model` in float32 (honest bits per character). The
    run folder receives ``log.jsonl`` (one JSON record per line: ``start``, ``train`` every
    ``log_interval`` steps, ``eval`` with the validation totals and rates under ``validation``,
    ``checkpoint``, ``end``), ``loss.png``
    (:func:`plot_loss_curve`), ``train_config.json``, and checkpoints ``checkpoint-NNNNNN/``
    every ``checkpoint_interval`` steps and at the end: the model
    (:meth:`LatticeTransformer.save_pretrained`), the tokenizer, ``train_config.json`` and
    ``train_state.pt`` (step, tokens, optimizer state, the random generator state of every
    rank). The ``keep_checkpoints`` newest are kept.

Resume
    ``train(config, resume=...)`` restores the model, optimizer, step and random state and
    continues; the batches are a pure function of ``(seed, step)``. On the CPU with a fixed
    seed a resumed run continues bit for bit (the tests compare the weights). The log is cut
    back to the checkpoint's step.

Multi-GPU
    Under ``torchrun`` (``WORLD_SIZE > 1``) the run initializes ``torch.distributed`` (NCCL on
    CUDA, gloo on the CPU), wraps the model in ``DistributedDataParallel`` (gradients of the
    non-final micro-batches are not synchronized); every process trains the (deterministic)
    tokenizer and packs the training split itself, and only rank 0 writes logs, plots and
    checkpoints and runs the validation pass while the other ranks wait. Logged training losses
    are averaged over the ranks. Command lines are in ``docs/training.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from .config import LatticeTransformerConfig
from .data import IGNORE_INDEX, PackedSplit, evaluate_model, load_corpus, pack_documents, train_batches
from .metrics import BitsReport
from .tokenizer import ByteTokenizer, SentencePieceTokenizer, Tokenizer, load_tokenizer
from .transformer import LatticeTransformer

__all__ = [
    "CHECKPOINT_PREFIX",
    "MODEL_FIELDS",
    "TrainConfig",
    "TrainResult",
    "build_optimizer",
    "find_checkpoint",
    "learning_rate",
    "plot_loss_curve",
    "train",
]

CHECKPOINT_PREFIX = "checkpoint-"
"""Name prefix of the checkpoint folders in a run folder (followed by the step, six digits)."""

#: Fields of :class:`LatticeTransformerConfig` that ``TrainConfig.model`` may set; ``vocab_size``
#: comes from the tokenizer, ``block_size`` and ``resonance_weight`` from the training
#: configuration, ``ignore_index`` is :data:`leechkit.models.data.IGNORE_INDEX`.
MODEL_FIELDS = tuple(
    f.name
    for f in fields(LatticeTransformerConfig)
    if f.name not in ("vocab_size", "block_size", "resonance_weight", "ignore_index")
)

_TOKENIZERS = ("sentencepiece", "byte")
_DTYPES = ("auto", "float32", "bfloat16")
_STATE_FILE = "train_state.pt"
_CONFIG_FILE = "train_config.json"
_LOG_FILE = "log.jsonl"
_PLOT_FILE = "loss.png"
# Fields that may differ between a checkpoint's configuration and the resuming run's.
_RESUMABLE_CHANGES = frozenset(
    {
        "max_steps",
        "max_tokens",
        "eval_interval",
        "eval_batch_size",
        "checkpoint_interval",
        "keep_checkpoints",
        "log_interval",
        "out_dir",
        "device",
        "progress",
        "data_dir",
        "compile",
    }
)


def _check_field(name: str, annotation: str, value: object) -> object:
    """Type-check a TrainConfig field against its annotation string (e.g. ``"int | None"``)."""
    kinds = [k.strip() for k in annotation.split("|")]
    if value is None:
        if "None" in kinds:
            return None
        raise TypeError(f"{name} must not be None")
    base = kinds[0]
    if base == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    elif base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    elif base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    elif base == "str":
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    elif base.startswith("dict"):
        if not isinstance(value, Mapping):
            raise TypeError(f"{name} must be a mapping, got {type(value).__name__}")
        value = dict(value)
    return value


@dataclass
class TrainConfig:
    """Everything a training run needs (module docstring for the batch arithmetic).

    Parameters
    ----------
    model : dict
        Fields of :class:`LatticeTransformerConfig` (names in :data:`MODEL_FIELDS`:
        ``attention``, ``n_layer``, ``n_head``, ``d_model``, ``lattice``, ``kernel``, ...);
        unset fields keep that class's defaults.
    corpus : str
        A name or path for :func:`leechkit.models.data.load_corpus`.
    data_dir : str, optional
        Folder of the shared corpora (default: ``LEECHKIT_DATA`` or ``../shared/data``).
    tokenizer : {"sentencepiece", "byte"}
        SentencePiece BPE trained on the training split, or the byte tokenizer (258 ids).
    vocab_size : int
        SentencePiece vocabulary size (ignored by the byte tokenizer).
    block_size : int
        Tokens per training block (the model's context length).
    batch_size : int
        Blocks per optimizer step, over all processes and micro-batches.
    grad_accum : int
        Micro-batches per optimizer step on each process.
    max_steps : int, optional
        Optimizer steps of the run; exactly one of ``max_steps`` and ``max_tokens`` is set.
    max_tokens : int, optional
        Training-token budget; the run takes ``max_tokens // (batch_size · block_size)`` steps.
    lr : float
        Peak learning rate.
    min_lr : float
        Learning rate at the end of the cosine decay.
    warmup_steps : int
        Steps of linear warm-up (at most the number of steps).
    weight_decay : float
        AdamW weight decay of the linear weight matrices.
    beta1 : float
        AdamW β₁.
    beta2 : float
        AdamW β₂.
    grad_clip : float
        Largest global gradient norm (0 switches clipping off).
    eval_interval : int
        Steps between validation passes (0: only at the end).
    eval_batch_size : int
        Blocks per forward pass in evaluation.
    checkpoint_interval : int
        Steps between checkpoints (0: only at the end).
    keep_checkpoints : int
        Number of newest checkpoints kept in the run folder.
    log_interval : int
        Steps between ``train`` log records (and progress-bar updates).
    out_dir : str
        Run folder (created).
    seed : int
        Seed of the initialization, the batches and dropout.
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; under DDP on
        CUDA each process takes ``cuda:LOCAL_RANK``.
    dtype : {"auto", "float32", "bfloat16"}
        Autocast precision: ``"bfloat16"`` (CUDA only), ``"float32"``, or ``"auto"`` (bfloat16
        where CUDA supports it, else float32).
    resonance_weight : float
        Weight of the resonance loss added to the cross entropy (0: none).
    progress : bool
        Show a progress bar (rank 0 only).
    compile : bool
        Run the training steps through ``torch.compile`` (fuses the small per-layer operations
        that cost kernel launches in eager mode; the first steps pay for the compilation).
        Evaluation, generation and checkpoints use the plain model.

    Raises
    ------
    ValueError
        An impossible configuration (the message gives the numbers).
    TypeError
        A field of the wrong type.
    """

    model: dict[str, object] = field(default_factory=dict)
    corpus: str = "pydoc-topics"
    data_dir: str | None = None
    tokenizer: str = "sentencepiece"
    vocab_size: int = 2048
    block_size: int = 256
    batch_size: int = 32
    grad_accum: int = 1
    max_steps: int | None = 1000
    max_tokens: int | None = None
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_batch_size: int = 16
    checkpoint_interval: int = 500
    keep_checkpoints: int = 2
    log_interval: int = 10
    out_dir: str = "runs/train"
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    resonance_weight: float = 0.0
    progress: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _check_field(f.name, str(f.type), getattr(self, f.name)))
        unknown = sorted(set(self.model) - set(MODEL_FIELDS))
        if unknown:
            moved = {"vocab_size", "block_size", "resonance_weight"} & set(unknown)
            hint = f" ({', '.join(sorted(moved))}: set at the top level, not under model)" if moved else ""
            raise ValueError(f"unknown model fields {unknown}{hint}; known: {list(MODEL_FIELDS)}")
        if self.tokenizer not in _TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {_TOKENIZERS}, got {self.tokenizer!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, got {self.dtype!r}")
        for name in ("vocab_size", "block_size", "batch_size", "grad_accum", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("keep_checkpoints", "log_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_interval", "checkpoint_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.tokenizer == "sentencepiece" and self.vocab_size < 260:
            raise ValueError(f"a SentencePiece vocabulary needs vocab_size >= 260, got {self.vocab_size}")
        if (self.max_steps is None) == (self.max_tokens is None):
            raise ValueError(
                f"set exactly one of max_steps and max_tokens, got max_steps={self.max_steps}, "
                f"max_tokens={self.max_tokens}"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {self.max_steps}")
        if self.max_tokens is not None and self.max_tokens < self.tokens_per_step:
            raise ValueError(
                f"max_tokens={self.max_tokens} is less than one step of batch_size × block_size = "
                f"{self.batch_size} × {self.block_size} = {self.tokens_per_step} tokens"
            )
        if self.batch_size % self.grad_accum:
            raise ValueError(
                f"batch_size={self.batch_size} is not a multiple of grad_accum={self.grad_accum}"
            )
        if self.warmup_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps={self.warmup_steps} exceeds the {self.total_steps} steps of the run"
            )
        if not 0.0 < self.lr:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must lie in [0, lr={self.lr}], got {self.min_lr}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        for name in ("weight_decay", "grad_clip", "resonance_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        self.model_config(self.tokenizer_vocab_size)  # validates the model fields

    # --- derived quantities ----------------------------------------------------------------
    @property
    def tokens_per_step(self) -> int:
        """Training tokens per optimizer step: ``batch_size · block_size``."""
        return self.batch_size * self.block_size

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the run (``max_steps``, or the token budget in whole steps)."""
        if self.max_steps is not None:
            return self.max_steps
        return self.max_tokens // self.tokens_per_step

    @property
    def tokenizer_vocab_size(self) -> int:
        """Vocabulary size the tokenizer will have (258 for the byte tokenizer)."""
        return ByteTokenizer().vocab_size if self.tokenizer == "byte" else self.vocab_size

    def micro_batch_size(self, world_size: int = 1) -> int:
        """Blocks per micro-batch on each process.

        Parameters
        ----------
        world_size : int
            Number of processes.

        Returns
        -------
        int
            ``batch_size / (grad_accum · world_size)``.

        Raises
        ------
        ValueError
            If that is not a positive whole number.
        """
        parts = self.grad_accum * world_size
        if self.batch_size % parts:
            raise ValueError(
                f"batch_size={self.batch_size} does not split into grad_accum={self.grad_accum} × "
                f"world_size={world_size} = {parts} equal micro-batches"
            )
        return self.batch_size // parts

    def model_config(self, vocab_size: int) -> LatticeTransformerConfig:
        """The model configuration for a tokenizer of ``vocab_size`` ids.

        Parameters
        ----------
        vocab_size : int
            The tokenizer's vocabulary size.

        Returns
        -------
        LatticeTransformerConfig
            ``model`` fields plus ``block_size``, ``resonance_weight`` and
            ``ignore_index = IGNORE_INDEX``.
        """
        return LatticeTransformerConfig(
            vocab_size=vocab_size,
            block_size=self.block_size,
            resonance_weight=self.resonance_weight,
            ignore_index=IGNORE_INDEX,
            **self.model,
        )

    # --- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-ready dictionary (``model`` as a nested dictionary)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TrainConfig:
        """Build (and validate) a configuration from a dictionary.

        Parameters
        ----------
        data : mapping
            Field values; unknown keys raise ValueError. If only ``max_tokens`` is given,
            ``max_steps`` is unset.

        Returns
        -------
        TrainConfig
            The configuration.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a training configuration must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training configuration keys {unknown}; known: {sorted(known)}")
        values = dict(data)
        if values.get("max_tokens") is not None and "max_steps" not in values:
            values["max_steps"] = None
        return cls(**values)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a configuration from a ``.json`` or ``.toml`` file.

        Parameters
        ----------
        path : str or path-like
            The file; model fields go in a ``model`` table (TOML) or object (JSON).

        Returns
        -------
        TrainConfig
            The configuration.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"training configuration {path} does not exist")
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            raise ValueError(f"a training configuration is a .json or .toml file, got {path.name!r}")
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> None:
        """Write the configuration as JSON.

        Parameters
        ----------
        path : str or path-like
            Target file.
        """
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def with_overrides(self, overrides: Mapping[str, object]) -> TrainConfig:
        """A copy with some fields replaced (validated again).

        Parameters
        ----------
        overrides : mapping
            ``"field"`` or ``"model.field"`` to value. Setting ``max_tokens`` without
            ``max_steps`` unsets ``max_steps`` and the other way round.

        Returns
        -------
        TrainConfig
            The new configuration.
        """
        data = self.to_dict()
        model = dict(data["model"])
        for key, value in overrides.items():
            if key.startswith("model."):
                model[key[len("model.") :]] = value
            elif key in data:
                data[key] = value
            else:
                raise ValueError(f"unknown training configuration key {key!r}")
        data["model"] = model
        if "max_tokens" in overrides and "max_steps" not in overrides and overrides["max_tokens"] is not None:
            data["max_steps"] = None
        if "max_steps" in overrides and "max_tokens" not in overrides and overrides["max_steps"] is not None:
            data["max_tokens"] = None
        return TrainConfig.from_dict(data)


# --------------------------------------------------------------------------- optimizer


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on the linear layers' weight matrices only.

    Parameters excluded from decay: those of normalization layers, biases, embeddings (the
    tied output head included) and every other parameter with fewer than two dimensions.
    Tied parameters appear once.

    Parameters
    ----------
    model : torch.nn.Module
        The model (not wrapped in DDP).
    config : TrainConfig
        Learning rate, betas and weight decay.

    Returns
    -------
    torch.optim.AdamW
        The optimizer; group 0 decays, group 1 does not. On CUDA the fused kernel is used.
    """
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for parameter in model.parameters():  # each tensor once, tied ones included
        if not parameter.requires_grad:
            continue
        if parameter.dim() >= 2 and id(parameter) not in embeddings:
            decay.append(parameter)
        else:
            no_decay.append(parameter)
    fused = bool(decay or no_decay) and (decay or no_decay)[0].device.type == "cuda"
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        fused=fused or None,
    )


def learning_rate(step: int, config: TrainConfig) -> float:
    """The learning rate of optimizer step ``step`` (0-based): linear warm-up, cosine decay.

    ``lr · (step + 1) / warmup_steps`` during warm-up, then
    ``min_lr + (lr − min_lr) · (1 + cos(π p)) / 2`` with ``p`` going from 0 at the end of the
    warm-up to 1 at the last step.

    Parameters
    ----------
    step : int
        The step.
    config : TrainConfig
        ``lr``, ``min_lr``, ``warmup_steps`` and the number of steps.

    Returns
    -------
    float
        The learning rate.
    """
    warmup, total = config.warmup_steps, config.total_steps
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if total - 1 <= warmup:
        return config.lr
    progress = min(1.0, (step - warmup) / (total - 1 - warmup))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- files


def _checkpoint_folders(run: Path) -> list[Path]:
    """The ``checkpoint-<step>`` folders of a run folder, by increasing step."""
    found = [
        p
        for p in run.glob(f"{CHECKPOINT_PREFIX}*")
        if p.is_dir() and p.name[len(CHECKPOINT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def find_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint folder, or the newest checkpoint of a run folder.

    Parameters
    ----------
    path : str or path-like
        A checkpoint folder (holding ``train_state.pt``) or a run folder holding
        ``checkpoint-NNNNNN`` folders.

    Returns
    -------
    pathlib.Path
        The checkpoint folder.

    Raises
    ------
    FileNotFoundError
        If there is no checkpoint there.
    """
    path = Path(path)
    if (path / _STATE_FILE).is_file():
        return path
    found = [p for p in _checkpoint_folders(path) if (p / _STATE_FILE).is_file()]
    if not found:
        raise FileNotFoundError(
            f"no checkpoint in {path} (expected {_STATE_FILE} or {CHECKPOINT_PREFIX}* folders)"
        )
    return found[-1]


def _read_log(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_loss_curve(log_path: str | os.PathLike, png_path: str | os.PathLike) -> Path:
    """Draw the training and validation losses of a ``log.jsonl`` into a PNG.

    Left: training cross entropy (nats/token, mean over each logging window) and validation
    nats/token against training tokens. Right: validation bits per character. Uses
    matplotlib's Agg canvas (no display needed).

    Parameters
    ----------
    log_path : str or path-like
        The run's ``log.jsonl``.
    png_path : str or path-like
        Target image.

    Returns
    -------
    pathlib.Path
        The image path.
    """
    from matplotlib.figure import Figure

    records = _read_log(Path(log_path))
    train_rows = [r for r in records if r.get("type") == "train"]
    eval_rows = [r for r in records if r.get("type") == "eval"]
    start = next((r for r in records if r.get("type") == "start"), {})
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_bpc = fig.subplots(1, 2)
    if train_rows:
        ax_loss.plot(
            [r["tokens"] for r in train_rows], [r["cross_entropy"] for r in train_rows], label="train", lw=1
        )
    if eval_rows:
        tokens = [r["tokens"] for r in eval_rows]
        rates = [r["validation"] for r in eval_rows]
        ax_loss.plot(tokens, [v["nats_per_token"] for v in rates], "o-", label="validation", ms=3)
        ax_bpc.plot(tokens, [v["bits_per_character"] for v in rates], "o-", color="C1", ms=3)
    ax_loss.set(xlabel="training tokens", ylabel="cross entropy (nats/token)", title="loss")
    ax_loss.legend()
    ax_bpc.set(xlabel="training tokens", ylabel="bits per character", title="validation (whole split)")
    for ax in (ax_loss, ax_bpc):
        ax.grid(alpha=0.3)
    model = start.get("config", {}).get("model", {}) if isinstance(start.get("config"), dict) else {}
    fig.suptitle(f"{start.get('corpus', '')} — attention {model.get('attention', 'vanilla')}")
    out = Path(png_path)
    fig.savefig(out, dpi=100)
    return out


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns (on every rank).

    Parameters
    ----------
    steps : int
        Optimizer steps done in total (including those before a resume).
    tokens : int
        Training tokens seen in total.
    checkpoint : pathlib.Path or None
        The final checkpoint (None on ranks other than 0).
    evaluation : BitsReport or None
        The final validation result (None on ranks other than 0).
    parameters : dict
        :meth:`LatticeTransformer.parameter_counts` of the model.
    tokens_per_second : float
        Training throughput of this run (all processes, evaluation and checkpoints excluded).
    wall_seconds : float
        Wall time of this call.
    out_dir : pathlib.Path
        The run folder.
    """

    steps: int
    tokens: int
    checkpoint: Path | None
    evaluation: BitsReport | None
    parameters: dict[str, int]
    tokens_per_second: float
    wall_seconds: float
    out_dir: Path


@dataclass
class _Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    autocast_dtype: torch.dtype | None
    owns_process_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def _setup_runtime(config: TrainConfig) -> _Runtime:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    name = config.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {config.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={config.device!r} but CUDA is not available")
    if config.dtype == "bfloat16" and device.type != "cuda":
        raise ValueError("dtype='bfloat16' (autocast) is used on CUDA only; use float32 on the CPU")
    rank = local_rank = 0
    owns = False
    if world_size > 1:
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
            owns = True
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    autocast = None
    if device.type == "cuda" and config.dtype != "float32":
        if config.dtype == "bfloat16" or torch.cuda.is_bf16_supported():
            autocast = torch.bfloat16
    return _Runtime(rank, world_size, local_rank, device, autocast, owns)


def _make_tokenizer(config: TrainConfig, corpus_documents: Iterator[str]) -> Tokenizer:
    if config.tokenizer == "byte":
        return ByteTokenizer()
    return SentencePieceTokenizer.train(corpus_documents, vocab_size=config.vocab_size)


def _rng_state(runtime: _Runtime) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state()}
    if runtime.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(runtime.device)
    return state


def _set_rng_state(state: Mapping[str, torch.Tensor], runtime: _Runtime) -> None:
    torch.set_rng_state(state["torch"])
    if runtime.device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], runtime.device)


def _check_resumable(saved: TrainConfig, config: TrainConfig) -> None:
    old, new = saved.to_dict(), config.to_dict()
    changed = sorted(k for k in old if k not in _RESUMABLE_CHANGES and old[k] != new[k])
    if changed:
        detail = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in changed)
        raise ValueError(f"cannot resume with a different configuration ({detail})")


class _Log:
    """Append-only JSONL log written by rank 0."""

    def __init__(self, path: Path, enabled: bool, keep_until_step: int | None) -> None:
        self.path = path
        self.enabled = enabled
        if enabled and keep_until_step is not None:
            kept = [
                r for r in _read_log(path) if int(r.get("step", 0)) <= keep_until_step and r["type"] != "end"
            ]
            path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        elif enabled:
            path.write_text("", encoding="utf-8")

    def write(self, record: dict[str, object]) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def _save_checkpoint(
    out_dir: Path,
    step: int,
    model: LatticeTransformer,
    tokenizer: Tokenizer,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    state: dict[str, object],
) -> Path:
    final = out_dir / f"{CHECKPOINT_PREFIX}{step:06d}"
    staging = out_dir / f".{final.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging)
    tokenizer.save(staging)
    config.save(staging / _CONFIG_FILE)
    torch.save({**state, "optimizer": optimizer.state_dict()}, staging / _STATE_FILE)
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    for old in _checkpoint_folders(out_dir)[: -config.keep_checkpoints]:
        shutil.rmtree(old)
    return final


@dataclass(frozen=True)
class PreparedData:
    """A tokenizer and the corpus splits packed with it, shared by several runs.

    A comparison of many runs on one corpus (``benchmarks/compare_attention.py``) trains the
    tokenizer and packs the splits once and passes them to every :func:`train` call; each
    run still saves the tokenizer with its checkpoints.
    """

    corpus_name: str
    tokenizer: Tokenizer
    train: PackedSplit
    valid: PackedSplit

    @classmethod
    def build(cls, config: TrainConfig) -> PreparedData:
        """Load ``config``'s corpus, make its tokenizer as :func:`train` would, pack both splits."""
        corpus = load_corpus(config.corpus, config.data_dir)
        tokenizer = _make_tokenizer(config, corpus.documents("train"))
        return cls(
            corpus.name,
            tokenizer,
            pack_documents(corpus.documents("train"), tokenizer),
            pack_documents(corpus.documents("valid"), tokenizer),
        )


def train(
    config: TrainConfig,
    resume: str | os.PathLike | None = None,
    prepared: PreparedData | None = None,
) -> TrainResult:
    """Train a lattice transformer (module docstring); DDP when started by ``torchrun``.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration.
    resume : str or path-like, optional
        A checkpoint folder, or a run folder whose newest checkpoint is taken. Its
        configuration must equal ``config`` except for budget, intervals, output folder,
        device, data folder and the progress bar.
    prepared : PreparedData, optional
        A tokenizer and packed splits to use instead of making them from ``config``'s corpus
        (not with ``resume``, which takes the checkpoint's tokenizer). The tokenizer's kind
        must match ``config.tokenizer`` and, for SentencePiece, its size ``config.vocab_size``.

    Returns
    -------
    TrainResult
        Steps, tokens, final checkpoint and validation result (rank 0), throughput.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if prepared is not None:
        if not isinstance(prepared, PreparedData):
            raise TypeError(f"prepared must be a PreparedData, got {type(prepared).__name__}")
        if resume is not None:
            raise ValueError("prepared data cannot be combined with resume (a checkpoint has its tokenizer)")
        kind = "byte" if isinstance(prepared.tokenizer, ByteTokenizer) else "sentencepiece"
        if kind != config.tokenizer or prepared.tokenizer.vocab_size != config.tokenizer_vocab_size:
            raise ValueError(
                f"prepared tokenizer ({kind}, {prepared.tokenizer.vocab_size} ids) does not match the "
                f"configuration ({config.tokenizer}, {config.tokenizer_vocab_size} ids)"
            )
    started = time.perf_counter()
    runtime = _setup_runtime(config)
    try:
        return _train(config, resume, runtime, started, prepared)
    finally:
        if runtime.owns_process_group:
            dist.destroy_process_group()


def _train(
    config: TrainConfig,
    resume: str | os.PathLike | None,
    runtime: _Runtime,
    started: float,
    prepared: PreparedData | None,
) -> TrainResult:
    from tqdm.auto import tqdm

    micro = config.micro_batch_size(runtime.world_size)
    out_dir = Path(config.out_dir)
    checkpoint = find_checkpoint(resume) if resume is not None else None
    state: dict[str, object] = {}
    if checkpoint is not None:
        _check_resumable(TrainConfig.load(checkpoint / _CONFIG_FILE), config)
        state = torch.load(checkpoint / _STATE_FILE, map_location="cpu", weights_only=True)

    if prepared is not None:
        corpus_name, tokenizer, train_data = prepared.corpus_name, prepared.tokenizer, prepared.train
        valid_data: PackedSplit | None = prepared.valid if runtime.is_main else None
    else:
        corpus = load_corpus(config.corpus, config.data_dir)
        corpus_name = corpus.name
        tokenizer = (
            load_tokenizer(checkpoint) if checkpoint else _make_tokenizer(config, corpus.documents("train"))
        )
        train_data = pack_documents(corpus.documents("train"), tokenizer)
        valid_data = pack_documents(corpus.documents("valid"), tokenizer) if runtime.is_main else None

    torch.manual_seed(config.seed)
    model_config = config.model_config(tokenizer.vocab_size)
    if checkpoint is not None:
        model = LatticeTransformer.from_pretrained(checkpoint)
        if model.config != model_config:
            raise ValueError(f"the checkpoint's model configuration differs from the run's: {model.config}")
    else:
        model = LatticeTransformer(model_config)
    model.to(runtime.device)
    optimizer = build_optimizer(model, config)
    step = start_step = int(state.get("step", 0))
    tokens = int(state.get("tokens", 0))
    if checkpoint is not None:
        optimizer.load_state_dict(state["optimizer"])
        rng = state["rng"]
        if len(rng) == runtime.world_size:
            _set_rng_state(rng[runtime.rank], runtime)
        else:  # another world size: a fresh stream per rank (only dropout draws from it)
            torch.manual_seed(config.seed + 1_000_003 * step + runtime.rank)
    else:
        torch.manual_seed(config.seed + runtime.rank)

    net: nn.Module = model
    if runtime.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)  # buffers are frozen
    if config.compile:
        net = torch.compile(net)

    main = runtime.is_main
    if checkpoint is None and _checkpoint_folders(out_dir):
        raise ValueError(
            f"{out_dir} holds checkpoints of an earlier run: resume from it or choose another out_dir"
        )
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        config.save(out_dir / _CONFIG_FILE)
    log = _Log(out_dir / _LOG_FILE, main, step if checkpoint is not None else None)
    counts = model.parameter_counts()
    log.write(
        {
            "type": "start",
            "step": step,
            "tokens": tokens,
            "resumed_from": str(checkpoint) if checkpoint else None,
            "config": config.to_dict(),
            "corpus": corpus_name,
            "parameters": counts,
            "world_size": runtime.world_size,
            "device": str(runtime.device),
            "autocast": str(runtime.autocast_dtype) if runtime.autocast_dtype else "float32",
            "train_tokens": train_data.num_targets,
            "valid_characters": valid_data.num_characters if valid_data is not None else None,
            "tokenizer": repr(tokenizer),
        }
    )

    batches = train_batches(
        train_data,
        config.block_size,
        micro,
        seed=config.seed,
        start_step=step * config.grad_accum,
        rank=runtime.rank,
        world_size=runtime.world_size,
    )
    total = config.total_steps
    bar = tqdm(
        total=total,
        initial=step,
        unit="step",
        desc=f"train {model_config.attention}",
        disable=not (config.progress and main),
        dynamic_ncols=True,
    )
    autocast = (
        torch.autocast("cuda", dtype=runtime.autocast_dtype) if runtime.autocast_dtype else nullcontext()
    )
    window_loss = torch.zeros(2, dtype=torch.float64, device=runtime.device)
    window_steps, window_time, train_time = 0, 0.0, 0.0
    evaluation: BitsReport | None = None
    last_checkpoint: Path | None = None
    grad_norm = torch.zeros((), device=runtime.device)

    def evaluate() -> None:
        nonlocal evaluation
        if main:
            evaluation = evaluate_model(model, valid_data, config.block_size, config.eval_batch_size)
            log.write({"type": "eval", "step": step, "tokens": tokens, "validation": evaluation.as_dict()})
            plot_loss_curve(log.path, out_dir / _PLOT_FILE)
            bar.write(
                f"step {step}: validation {evaluation.nats_per_token:.4f} nats/token, "
                f"{evaluation.bits_per_character:.4f} bits/character"
            )
        runtime.barrier()

    def save() -> None:
        nonlocal last_checkpoint
        rng = [_rng_state(runtime)]
        if runtime.world_size > 1:
            rng = [None] * runtime.world_size
            dist.all_gather_object(rng, _rng_state(runtime))
        if main:
            record = {"step": step, "tokens": tokens, "rng": rng, "world_size": runtime.world_size}
            last_checkpoint = _save_checkpoint(out_dir, step, model, tokenizer, optimizer, config, record)
            log.write({"type": "checkpoint", "step": step, "tokens": tokens, "path": str(last_checkpoint)})
        runtime.barrier()

    model.train()
    while step < total:
        tic = time.perf_counter()
        lr = learning_rate(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for micro_step in range(config.grad_accum):
            x, y = next(batches)
            x, y = x.to(runtime.device, non_blocking=True), y.to(runtime.device, non_blocking=True)
            sync = micro_step == config.grad_accum - 1 or runtime.world_size == 1
            with nullcontext() if sync else net.no_sync(), autocast:
                _, loss = net(x, y)
            (loss / config.grad_accum).backward()
            terms = model.last_loss_terms
            window_loss[0] += loss.detach().double() / config.grad_accum
            window_loss[1] += terms["cross_entropy"].double() / config.grad_accum
        if config.grad_clip > 0:
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens += config.tokens_per_step
        window_steps += 1
        if runtime.device.type == "cuda" and (step % config.log_interval == 0 or step == total):
            torch.cuda.synchronize(runtime.device)
        elapsed = time.perf_counter() - tic
        window_time += elapsed
        train_time += elapsed
        bar.update(1)

        if step % config.log_interval == 0 or step == total:
            if runtime.world_size > 1:
                dist.all_reduce(window_loss)
                window_loss /= runtime.world_size
            mean_loss, mean_ce = (window_loss / window_steps).tolist()
            rate = window_steps * config.tokens_per_step / window_time
            log.write(
                {
                    "type": "train",
                    "step": step,
                    "tokens": tokens,
                    "loss": mean_loss,
                    "cross_entropy": mean_ce,
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "tokens_per_s": rate,
                    "elapsed_s": time.perf_counter() - started,
                }
            )
            bar.set_postfix(loss=f"{mean_ce:.3f}", tok_s=f"{rate:,.0f}", refresh=False)
            window_loss.zero_()
            window_steps, window_time = 0, 0.0
        if step == total or (config.eval_interval and step % config.eval_interval == 0):
            evaluate()
        if step == total or (config.checkpoint_interval and step % config.checkpoint_interval == 0):
            save()
    bar.close()
    if step == start_step:  # resumed at the end: nothing to train, evaluate what was loaded
        evaluate()
        last_checkpoint = checkpoint
    rate = (step - start_step) * config.tokens_per_step / train_time if train_time else 0.0
    wall = time.perf_counter() - started
    log.write({"type": "end", "step": step, "tokens": tokens, "tokens_per_s": rate, "wall_s": wall})
    if main:
        plot_loss_curve(log.path, out_dir / _PLOT_FILE)
    return TrainResult(
        steps=step,
        tokens=tokens,
        checkpoint=last_checkpoint if main else None,
        evaluation=evaluation,
        parameters=counts,
        tokens_per_second=rate,
        wall_seconds=wall,
        out_dir=out_dir,
    )
