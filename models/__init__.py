"""leechkit.models: the PyTorch layer (lattice kernels, attention, transformer, training).

Requires the ``torch`` extra. One module per concept:

* :mod:`.kernels` — frames of mutually orthogonal minimal vectors, the seeds' placeholder;
* :mod:`.config` and :mod:`.transformer` — the validated configuration and the model;
* :mod:`.attention` — causal attention in the modes vanilla / rotate / frozen_qk / e8_bias /
  conway, with a key/value cache;
* :mod:`.losses` and :mod:`.monitor` — the resonance loss, monitor and logit bias;
* :mod:`.phase` — Monster-LILA's phase modulation, "Monster sync" and pictures;
* :mod:`.adapters` — the lattice adapter and LoRA; :mod:`.telemetry` — weight spectra.
"""

from .adapters import LatticeAdapter, LoRALinear, apply_adapters, merge_adapters
from .attention import LatticeAttention
from .config import ATTENTION_MODES, LatticeTransformerConfig
from .kernels import e8_head_directions, lattice_frame, lila_placeholder_kernel
from .losses import ResonanceLoss, max_cosine
from .monitor import ResonanceMonitor, ResonanceState, ResonatorBias
from .phase import PhaseModulation, monster_sync, plot_embedding_pca, plot_phase_heatmap
from .telemetry import TelemetryCallback, format_table, weight_telemetry
from .transformer import LatticeTransformer

__all__ = [
    "ATTENTION_MODES",
    "LatticeAdapter",
    "LatticeAttention",
    "LatticeTransformer",
    "LatticeTransformerConfig",
    "LoRALinear",
    "PhaseModulation",
    "ResonanceLoss",
    "ResonanceMonitor",
    "ResonanceState",
    "ResonatorBias",
    "TelemetryCallback",
    "apply_adapters",
    "e8_head_directions",
    "format_table",
    "lattice_frame",
    "lila_placeholder_kernel",
    "max_cosine",
    "merge_adapters",
    "monster_sync",
    "plot_embedding_pca",
    "plot_phase_heatmap",
    "weight_telemetry",
]
