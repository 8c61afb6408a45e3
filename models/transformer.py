"""A GPT-style language model with lattice attention modes, in the spirit of nanoGPT's model.py.

Architecture
------------
Token and learned absolute position embeddings, ``n_layer`` pre-norm blocks

    x ← x + Attn(LN(x)),   x ← x + MLP(LN(x)),   [x ← PhaseModulation(x)]

(:class:`leechkit.models.attention.LatticeAttention` in the configured mode, GELU MLP of
width ``mlp_ratio · d_model``, Monster-LILA's phase modulation when configured), a final
LayerNorm, and an output head tied to the token embedding. Initialization as in nanoGPT:
normal(0, 0.02), with the residual output projections scaled by ``1/√(2 n_layer)``.

Loss
----
Cross entropy over all positions, skipping targets equal to ``config.ignore_index``
(padding), plus ``resonance_weight · ResonanceLoss(h)`` of the final hidden states ``h`` when
the weight is positive (the seeds use 0.01 against their placeholder rows). If every target
is ignored the cross entropy is NaN (no positions to average over).

Generation
----------
:meth:`LatticeTransformer.generate` samples with temperature (0 = greedy), top-k, top-p
(nucleus), a CTRL-style repetition penalty (a seen token's logit is divided by the penalty
when positive, multiplied when negative), an optional stop token, a key/value cache, and an
optional callback ``callback(step, tokens, hidden)`` called after each token with the final
hidden states that produced it (e.g. :meth:`ResonanceMonitor.record`). Beyond ``block_size``
tokens the context is cropped to the last ``block_size`` and, with the cache, re-encoded
(learned absolute positions cannot be shifted), so cached and uncached generation agree.

Persistence
-----------
:meth:`save_pretrained` writes ``config.json`` and ``model.safetensors`` (parameters and
buffers, including the frozen kernels and automorphisms; the tied head is stored once);
:meth:`from_pretrained` restores the model bit for bit in the stored dtype. Linear layers
quantized by :func:`leechkit.models.weight_quant.quantize_model` are saved as their codes and
scales, with their description in the safetensors metadata, and rebuilt on loading.

References
----------
A. Karpathy, nanoGPT (``model.py``); A. Radford et al., "Language models are unsupervised
multitask learners" (GPT-2), 2019; N. S. Keskar et al., "CTRL", arXiv:1909.05858
(repetition penalty); A. Holtzman et al., "The curious case of neural text degeneration",
ICLR 2020 (top-p).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .attention import FoldedQKV, KVCache, LatticeAttention, fold_qkv_weights, kernel_for
from .config import LatticeTransformerConfig
from .kernels import lattice_frame, lila_placeholder_kernel
from .losses import ResonanceLoss
from .monitor import ResonatorBias
from .phase import PhaseModulation

__all__ = ["Block", "LatticeTransformer", "LatticeTransformerConfig"]

_WEIGHTS = "model.safetensors"
_CONFIG = "config.json"


class MLP(nn.Module):
    """The block's feed-forward network: Linear, GELU, Linear, dropout."""

    def __init__(self, config: LatticeTransformerConfig):
        super().__init__()
        hidden = config.mlp_ratio * config.d_model
        self.fc = nn.Linear(config.d_model, hidden, bias=config.bias)
        self.proj = nn.Linear(hidden, config.d_model, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to (..., d_model) activations."""
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """One pre-norm transformer block (module docstring).

    Parameters
    ----------
    config : LatticeTransformerConfig
        Model configuration.
    layer_index : int
        Position of the block (selects the ``"conway"`` automorphism).
    """

    def __init__(self, config: LatticeTransformerConfig, layer_index: int = 0):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = LatticeAttention(config, layer_index)
        self.ln2 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)
        self.phase = PhaseModulation() if config.phase_modulation else None

    def forward(
        self,
        x: torch.Tensor,
        past_kv: KVCache | None = None,
        use_cache: bool = False,
        qkv: FoldedQKV | None = None,
    ) -> tuple[torch.Tensor, KVCache | None]:
        """Run the block on (B, T, d_model) activations.

        Parameters
        ----------
        x : torch.Tensor
            (B, T, d_model) residual stream of the new positions.
        past_kv : tuple of torch.Tensor, optional
            This block's cache of the earlier positions.
        use_cache : bool
            Return the updated cache.
        qkv : tuple of torch.Tensor, optional
            The attention's folded weight and bias (:func:`fold_qkv_weights`).

        Returns
        -------
        tuple
            ``(x, present)``.
        """
        a, present = self.attn(self.ln1(x), past_kv, use_cache, qkv)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        if self.phase is not None:
            x = self.phase(x)
        return x, present


class LatticeTransformer(nn.Module):
    """Decoder-only language model with lattice attention modes (module docstring).

    Parameters
    ----------
    config : LatticeTransformerConfig
        Validated hyperparameters.
    """

    def __init__(self, config: LatticeTransformerConfig):
        super().__init__()
        if not isinstance(config, LatticeTransformerConfig):
            raise TypeError(f"config must be a LatticeTransformerConfig, got {type(config).__name__}")
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.block_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=config.bias)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight
        self.resonance: ResonanceLoss | None = None
        if config.resonance_weight > 0:
            rows = (
                lila_placeholder_kernel() if config.kernel == "placeholder" else lattice_frame(config.lattice)
            )
            self.resonance = ResonanceLoss(config.lattice, config.resonance_target, rows)
        self.resonator: ResonatorBias | None = None
        self.last_loss_terms: dict[str, torch.Tensor] = {}
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    # --- running -------------------------------------------------------------------------
    def _check_idx(self, idx: object, past_len: int, limit: bool = True) -> torch.Tensor:
        if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int64, torch.int32):
            what = idx.dtype if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise TypeError(f"idx must be an int64 or int32 tensor of token ids, got {what}")
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"idx must have shape (batch, time) with time ≥ 1, got {tuple(idx.shape)}")
        if limit and past_len + idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"sequence of {past_len + idx.shape[1]} positions ({past_len} cached + {idx.shape[1]} new) "
                f"exceeds block_size={self.config.block_size}"
            )
        if idx.device.type == "cpu" and idx.numel():
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= self.config.vocab_size:
                raise ValueError(
                    f"token ids must lie in [0, {self.config.vocab_size}), got range [{lo}, {hi}]"
                )
        return idx

    def hidden_states(
        self, idx: torch.Tensor, past_key_values: list[KVCache] | None = None, use_cache: bool = False
    ) -> tuple[torch.Tensor, list[KVCache] | None]:
        """Final (normalized) hidden states of the new positions, and the updated caches.

        Parameters
        ----------
        idx : torch.Tensor
            (B, T) token ids of the new positions.
        past_key_values : list of tuple, optional
            One cache per block for the earlier positions (from an earlier call with
            ``use_cache=True``).
        use_cache : bool
            Return the updated caches.

        Returns
        -------
        tuple
            ``(hidden, presents)``: (B, T, d_model) and the caches (None unless ``use_cache``).
        """
        past_len = past_key_values[0][0].shape[2] if past_key_values else 0
        idx = self._check_idx(idx, past_len)
        pos = torch.arange(past_len, past_len + idx.shape[1], device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        presents: list[KVCache] | None = [] if use_cache else None
        folds = fold_qkv_weights([block.attn for block in self.blocks])
        for i, block in enumerate(self.blocks):
            x, present = block(x, past_key_values[i] if past_key_values else None, use_cache, folds[i])
            if presents is not None:
                presents.append(present)
        return self.ln_f(x), presents

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Output logits (..., vocab) of final hidden states, with the resonator bias if attached.

        Parameters
        ----------
        hidden : torch.Tensor
            (..., d_model) final hidden states.
        """
        out = self.lm_head(hidden)
        if self.resonator is not None:
            out = out + self.resonator(hidden)
        return out

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of every position and, with targets, the training loss.

        Parameters
        ----------
        idx : torch.Tensor
            (B, T) int64 token ids, ``T ≤ block_size``.
        targets : torch.Tensor, optional
            (B, T) next-token ids; entries equal to ``config.ignore_index`` are skipped.

        Returns
        -------
        tuple
            ``(logits, loss)``: (B, T, vocab) logits and the scalar loss (cross entropy plus
            the weighted resonance loss; None without targets). The terms are kept, detached,
            in :attr:`last_loss_terms`.
        """
        hidden, _ = self.hidden_states(idx)
        logits = self.logits(hidden)
        if targets is None:
            return logits, None
        if not isinstance(targets, torch.Tensor) or targets.shape != idx.shape:
            shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
            raise ValueError(f"targets must be a tensor of the shape of idx {tuple(idx.shape)}, got {shape}")
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=self.config.ignore_index
        )
        loss = ce
        terms = {"cross_entropy": ce.detach()}
        if self.resonance is not None:
            res = self.resonance(hidden)
            loss = ce + self.config.resonance_weight * res
            terms["resonance"] = res.detach()
        self.last_loss_terms = terms
        return logits, loss

    # --- generation ----------------------------------------------------------------------
    @staticmethod
    def _filter(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
        if top_k is not None and top_k < logits.shape[-1]:
            kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if top_p is not None and top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
            probs = sorted_logits.softmax(dim=-1)
            drop = probs.cumsum(dim=-1) - probs > top_p  # the first token is always kept
            mask = torch.zeros_like(drop).scatter(1, order, drop)
            logits = logits.masked_fill(mask, float("-inf"))
        return logits

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        repetition_window: int | None = None,
        stop_token: int | None = None,
        use_cache: bool = True,
        callback: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend each prompt by up to ``max_new_tokens`` sampled tokens (module docstring).

        Parameters
        ----------
        idx : torch.Tensor
            (B, T) prompt token ids.
        max_new_tokens : int
            Number of tokens to generate (≥ 0).
        temperature : float
            Softmax temperature; 0 picks the most likely token (greedy).
        top_k : int, optional
            Keep only the ``top_k`` most likely tokens.
        top_p : float, optional
            Keep the smallest set of most likely tokens whose probability reaches ``top_p``.
        repetition_penalty : float
            ≥ 1; penalty on tokens already in the sequence (1 = none).
        repetition_window : int, optional
            Only the last ``repetition_window`` tokens count as seen (default: all).
        stop_token : int, optional
            A sequence that produced this token is finished; it is padded with the stop token
            until all sequences are finished, then generation ends.
        use_cache : bool
            Use the key/value cache (same tokens as without it).
        callback : callable, optional
            ``callback(step, tokens, hidden)`` after each step with the (B,) new tokens and
            the (B, d_model) final hidden states that produced them.
        generator : torch.Generator, optional
            Random generator for sampling.

        Returns
        -------
        torch.Tensor
            (B, T + generated) token ids.

        Raises
        ------
        ValueError
            Out-of-range sampling parameters or a bad prompt.
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be ≥ 0, got {temperature}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if not repetition_penalty >= 1.0:
            raise ValueError(f"repetition_penalty must be ≥ 1, got {repetition_penalty}")
        if repetition_window is not None and repetition_window < 1:
            raise ValueError(f"repetition_window must be positive or None, got {repetition_window}")
        if stop_token is not None and not 0 <= stop_token < self.config.vocab_size:
            raise ValueError(f"stop_token must be in [0, {self.config.vocab_size}), got {stop_token}")
        self._check_idx(idx, 0, limit=False)
        was_training = self.training
        self.eval()
        block = self.config.block_size
        out = idx
        finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
        past: list[KVCache] | None = None
        try:
            for step in range(max_new_tokens):
                if use_cache and past is not None and out.shape[1] <= block:
                    hidden, past = self.hidden_states(out[:, -1:], past, use_cache=True)
                else:
                    hidden, past = self.hidden_states(out[:, -block:], None, use_cache=use_cache)
                h_last = hidden[:, -1]
                logits = self.logits(h_last).float()
                if repetition_penalty != 1.0:
                    seen_ids = out if repetition_window is None else out[:, -repetition_window:]
                    seen = torch.zeros_like(logits, dtype=torch.bool).scatter(1, seen_ids, True)
                    penalized = torch.where(
                        logits > 0, logits / repetition_penalty, logits * repetition_penalty
                    )
                    logits = torch.where(seen, penalized, logits)
                if temperature == 0:
                    nxt = logits.argmax(dim=-1)
                else:
                    logits = self._filter(logits / temperature, top_k, top_p)
                    nxt = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)[:, 0]
                if stop_token is not None:
                    nxt = torch.where(finished, torch.full_like(nxt, stop_token), nxt)
                    finished |= nxt == stop_token
                out = torch.cat([out, nxt[:, None]], dim=1)
                if callback is not None:
                    callback(step, nxt, h_last)
                if stop_token is not None and bool(finished.all()):
                    break
        finally:
            self.train(was_training)
        return out

    # --- bookkeeping ---------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        """Numbers of trainable and frozen values (tied weights counted once).

        Returns
        -------
        dict
            ``trainable`` (parameters with ``requires_grad``), ``frozen_parameters``
            (parameters without), ``buffers`` (frozen kernels, automorphisms, directions and
            other registered buffers) and ``frozen`` (the last two together).
        """
        params = list(self.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad)
        frozen_params = sum(p.numel() for p in params if not p.requires_grad)
        buffers = sum(b.numel() for b in self.buffers())
        return {
            "trainable": trainable,
            "frozen_parameters": frozen_params,
            "buffers": buffers,
            "frozen": frozen_params + buffers,
        }

    def attach_resonator(self, alpha_init: float = 0.1) -> ResonatorBias:
        """Add the seeds' resonance logit bias (:class:`ResonatorBias`) and fill its token table.

        Parameters
        ----------
        alpha_init : float
            Initial strength ``α``.

        Returns
        -------
        ResonatorBias
            The attached module (call :meth:`ResonatorBias.refresh` after the embeddings change).
        """
        if self.config.d_model % self.config.lattice_dim:
            raise ValueError(
                f"the resonator splits d_model={self.config.d_model} into {self.config.lattice_dim}-D blocks"
            )
        w = self.tok_emb.weight
        self.resonator = ResonatorBias(kernel_for(self.config), self.config.vocab_size, alpha_init).to(
            device=w.device, dtype=w.dtype
        )
        self.resonator.refresh(w)
        return self.resonator

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created).

        Parameters
        ----------
        directory : str or pathlib.Path
            Target folder.

        Returns
        -------
        pathlib.Path
            The folder.
        """
        from safetensors.torch import save_model

        from .weight_quant import METADATA_KEY, quantization_metadata

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out / _CONFIG)
        meta = {"format": "pt", "resonator": json.dumps(self.resonator is not None)}
        quantized = quantization_metadata(self)  # quantized linear layers (weight_quant), if any
        if quantized is not None:
            meta[METADATA_KEY] = quantized
        save_model(self, str(out / _WEIGHTS), metadata=meta)
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> LatticeTransformer:
        """Load a model written by :meth:`save_pretrained`, bit for bit, in its stored dtype.

        Parameters
        ----------
        directory : str or pathlib.Path
            Folder with ``config.json`` and ``model.safetensors``.
        device : str or torch.device
            Where to put the model.
        """
        from safetensors import safe_open
        from safetensors.torch import load_model

        src = Path(directory)
        for name in (_CONFIG, _WEIGHTS):
            if not (src / name).is_file():
                raise FileNotFoundError(f"{src / name} does not exist")
        model = cls(LatticeTransformerConfig.load(src / _CONFIG))
        with safe_open(str(src / _WEIGHTS), framework="pt") as f:
            meta = f.metadata() or {}
            dtype = f.get_slice("ln_f.weight").get_dtype()
        if json.loads(meta.get("resonator", "false")):
            model.attach_resonator()
        model.to(dtype=_DTYPES.get(dtype, torch.float32))
        from .weight_quant import METADATA_KEY, prepare_quantized

        if METADATA_KEY in meta:  # a checkpoint of `leechkit quantize`: rebuild its quantized layers
            prepare_quantized(model, meta[METADATA_KEY])
        load_model(model, str(src / _WEIGHTS), strict=True)
        return model.to(device)


_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
