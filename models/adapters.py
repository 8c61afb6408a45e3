"""Parameter-efficient adapters: the lattice adapter (the seeds' LeechLoRA done properly) and LoRA.

Lattice adapter
---------------
For a linear layer ``y = W x + b`` with ``in`` inputs and ``out`` outputs,

    y = W x + b + s ⊙ (K x),

where ``K`` (out × in) is a frozen block map built from the lattice frame ``F`` (n × n,
:func:`leechkit.models.kernels.lattice_frame`): with ``p = ⌈in/n⌉`` input blocks and
``q = ⌈out/n⌉`` output blocks, block ``(a, b)`` of ``K`` is ``F`` when
``a ≡ b (mod min(p, q))`` and 0 otherwise, cropped to (out × in). Every input block reaches
some output block and every output block reads some input block, for any widths (the seeds'
LeechLoRA only works when the input width is 24). ``s`` holds one trainable scale per output
block (``q`` values, initially 0, so the wrapped layer starts unchanged).

LoRA
----
``y = W x + b + (α / r) B A x`` with trainable ``A`` (r × in, Kaiming-uniform) and ``B``
(out × r, zeros) (Hu et al. 2021), for comparison.

:func:`apply_adapters` swaps matching ``nn.Linear`` modules for adapters and freezes every
other parameter of the model; :func:`merge_adapters` folds each adapter into a plain
``nn.Linear`` (``W ← W + diag(s) K`` or ``W ← W + (α/r) B A``) for inference.

References
----------
E. J. Hu et al., "LoRA: Low-rank adaptation of large language models", ICLR 2022.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .kernels import LATTICE_DIMS, check_lattice, lattice_frame, lila_placeholder_kernel

__all__ = ["LatticeAdapter", "LoRALinear", "apply_adapters", "lattice_block_map", "merge_adapters"]


def lattice_block_map(in_features: int, out_features: int, frame: torch.Tensor) -> torch.Tensor:
    """The frozen (out × in) block map ``K`` of the module docstring.

    Parameters
    ----------
    in_features : int
        Input width.
    out_features : int
        Output width.
    frame : torch.Tensor
        (n, n) block.
    """
    n = frame.shape[0]
    p, q = math.ceil(in_features / n), math.ceil(out_features / n)
    full = torch.zeros(q * n, p * n, dtype=frame.dtype)
    m = min(p, q)
    for a in range(q):
        for b in range(p):
            if a % m == b % m:
                full[a * n : (a + 1) * n, b * n : (b + 1) * n] = frame
    return full[:out_features, :in_features].contiguous()


def _check_linear(base: object) -> nn.Linear:
    if not isinstance(base, nn.Linear):
        raise TypeError(f"an adapter wraps an nn.Linear, got {type(base).__name__}")
    return base


class LatticeAdapter(nn.Module):
    """``y = W x + b + s ⊙ (K x)`` around a frozen ``nn.Linear`` (module docstring).

    Parameters
    ----------
    base : torch.nn.Linear
        The layer to adapt; its parameters are frozen.
    lattice : {"leech", "e8"}
        Lattice of the frame (block size 24 or 8).
    kernel : {"frame", "placeholder"}
        The lattice frame, or the seeds' placeholder matrix (Leech only).
    """

    def __init__(self, base: nn.Linear, lattice: str = "leech", kernel: str = "frame"):
        super().__init__()
        self.base = _check_linear(base)
        lattice = check_lattice(lattice)
        if kernel not in ("frame", "placeholder") or (kernel == "placeholder" and lattice != "leech"):
            raise ValueError(f"kernel must be 'frame' or (for Leech) 'placeholder', got {kernel!r}")
        frame = lila_placeholder_kernel() if kernel == "placeholder" else lattice_frame(lattice)
        for p in self.base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.block = LATTICE_DIMS[lattice]
        self.register_buffer("block_map", lattice_block_map(base.in_features, base.out_features, frame).to(w))
        self.scales = nn.Parameter(
            torch.zeros(math.ceil(base.out_features / self.block), device=w.device, dtype=w.dtype)
        )

    def _row_scales(self) -> torch.Tensor:
        return self.scales.repeat_interleave(self.block)[: self.base.out_features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the adapted layer to (..., in_features) inputs.

        Parameters
        ----------
        x : torch.Tensor
            (..., in_features) inputs.
        """
        return self.base(x) + (x @ self.block_map.T) * self._row_scales()

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with ``W + diag(s) K`` (same outputs, no adapter cost)."""
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        out = out.to(device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self._row_scales()[:, None] * self.block_map)
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


class LoRALinear(nn.Module):
    """``y = W x + b + (α/r) B A x`` around a frozen ``nn.Linear`` (module docstring).

    Parameters
    ----------
    base : torch.nn.Linear
        The layer to adapt; its parameters are frozen.
    rank : int
        Rank ``r`` of the update.
    alpha : float
        Scale numerator ``α``.
    """

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0):
        super().__init__()
        self.base = _check_linear(base)
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be a positive int, got {rank!r}")
        for p in self.base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.scaling = float(alpha) / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, device=w.device, dtype=w.dtype))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=w.device, dtype=w.dtype))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the adapted layer to (..., in_features) inputs.

        Parameters
        ----------
        x : torch.Tensor
            (..., in_features) inputs.
        """
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with ``W + (α/r) B A``."""
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        out = out.to(device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.scaling * (self.lora_b @ self.lora_a))
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


Target = str | Sequence[str] | Callable[[str, nn.Module], bool]


def _matcher(target: Target) -> Callable[[str, nn.Module], bool]:
    if callable(target):
        return target
    patterns = [target] if isinstance(target, str) else list(target)
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise TypeError("target must be a name pattern, a sequence of patterns or a callable(name, module)")
    return lambda name, _module: any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def apply_adapters(model: nn.Module, target: Target, kind: str = "lattice", **options: object) -> list[str]:
    """Wrap the matching ``nn.Linear`` modules in adapters and freeze all other parameters.

    Parameters
    ----------
    model : torch.nn.Module
        Model to modify in place.
    target : str, sequence of str or callable
        ``fnmatch`` patterns on module names (e.g. ``"blocks.*.attn.proj"``) or a predicate
        ``target(name, module)``; only ``nn.Linear`` modules are wrapped.
    kind : {"lattice", "lora"}
        :class:`LatticeAdapter` or :class:`LoRALinear`.
    **options
        Passed to the adapter (``lattice``/``kernel``, or ``rank``/``alpha``).

    Returns
    -------
    list of str
        Names of the wrapped modules.

    Raises
    ------
    ValueError
        Unknown kind, or no ``nn.Linear`` matched.
    """
    factories = {"lattice": LatticeAdapter, "lora": LoRALinear}
    if kind not in factories:
        raise ValueError(f"kind must be one of {tuple(factories)}, got {kind!r}")
    match = _matcher(target)
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n and match(n, m)]
    if not names:
        raise ValueError(f"no nn.Linear module of the model matches target {target!r}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        _set_module(model, name, factories[kind](model.get_submodule(name), **options))
    return names


def merge_adapters(model: nn.Module) -> list[str]:
    """Replace every adapter in ``model`` by its merged ``nn.Linear`` (in place).

    Parameters
    ----------
    model : torch.nn.Module
        Model with adapters from :func:`apply_adapters`.

    Returns
    -------
    list of str
        Names of the merged modules.
    """
    names = [n for n, m in model.named_modules() if isinstance(m, (LatticeAdapter, LoRALinear))]
    for name in names:
        _set_module(model, name, model.get_submodule(name).merged())
    return names
