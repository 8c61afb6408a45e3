"""leechkit.models: the PyTorch layer (lattice kernels, attention, transformer, training).

Requires the ``torch`` extra. One module per concept:

* :mod:`.kernels` — frames of mutually orthogonal minimal vectors, the seeds' placeholder;
* :mod:`.config` and :mod:`.transformer` — the validated configuration and the model;
* :mod:`.attention` — causal attention in the modes vanilla / rotate / frozen_qk / e8_bias /
  conway, with a key/value cache;
* :mod:`.losses` and :mod:`.monitor` — the resonance loss, monitor and logit bias;
* :mod:`.phase` — Monster-LILA's phase modulation, "Monster sync" and pictures;
* :mod:`.adapters` — the lattice adapter and LoRA; :mod:`.telemetry` — weight spectra;
* :mod:`.training` and :mod:`.evaluation` — the trainer (DDP through torchrun), checkpoint
  evaluation in honest bits per character, the leakage check;
* :mod:`.lattice_ops` — lattice operations on tensors of any device (exact decoding, nearest
  minimal vector), with fused Triton kernels on CUDA; :mod:`.tensor_quant` — the lattice
  tensor quantizer on any device.
* :mod:`.shell_search` — the exact smallest-angle search of a union of Leech shells (LLVQ's
  encoder) on tensors of any device, certified on the device and finished on the host.
* :mod:`.weight_quant` — post-training weight quantization of linear layers (RTN, GPTQ, E8,
  Leech Voronoi codes, LLVQ) into packed :class:`QuantizedLinear` layers, saved with safetensors.
* :mod:`.quantization` — quantization layers: spherical Leech / E8 (Λ24-SQ), the seeds' soft
  E8 quantizer, FSQ / LFQ / BSQ / VQ baselines behind one protocol.
"""

from .adapters import LatticeAdapter, LoRALinear, apply_adapters, merge_adapters
from .attention import LatticeAttention, fold_qkv_weights
from .compression import CompressionResult, compression_reference, format_compression_table
from .config import ATTENTION_MODES, LatticeTransformerConfig
from .data import (
    IGNORE_INDEX,
    Corpus,
    EvalBatch,
    PackedSplit,
    eval_batches,
    evaluate_model,
    load_corpus,
    pack_documents,
    pydoc_topics,
    train_batches,
)
from .evaluation import evaluate_checkpoint, leakage_check, load_checkpoint
from .kernels import e8_head_directions, lattice_frame, lila_placeholder_kernel
from .lattice_ops import decode, nearest_minimal_vector
from .losses import ResonanceLoss, max_cosine
from .metrics import BitsReport, PaddedLoss, format_bits_table
from .monitor import ResonanceMonitor, ResonanceState, ResonatorBias
from .phase import PhaseModulation, monster_sync, plot_embedding_pca, plot_phase_heatmap
from .quantization import (
    QUANTIZER_NAMES,
    BSQQuantizer,
    FSQQuantizer,
    LFQQuantizer,
    Quantizer,
    QuantizerOutput,
    SoftE8Quantizer,
    SphericalLatticeQuantizer,
    VQQuantizer,
    codebook_usage,
    make_quantizer,
)
from .shell_search import shell_nearest, shell_vectors
from .telemetry import TelemetryCallback, format_table, weight_telemetry
from .tensor_quant import dequantize_tensor, quantize_tensor
from .tokenizer import ByteTokenizer, SentencePieceTokenizer, Tokenizer, load_tokenizer
from .training import PreparedData, TrainConfig, TrainResult, train
from .transformer import LatticeTransformer
from .weight_quant import (
    LayerReport,
    QuantizationReport,
    QuantizedLinear,
    calibration_blocks,
    collect_hessians,
    load_quantized,
    quantize_model,
    quantize_weight,
    save_quantized,
)

__all__ = [
    "ATTENTION_MODES",
    "IGNORE_INDEX",
    "QUANTIZER_NAMES",
    "BSQQuantizer",
    "BitsReport",
    "ByteTokenizer",
    "CompressionResult",
    "Corpus",
    "EvalBatch",
    "FSQQuantizer",
    "LFQQuantizer",
    "LatticeAdapter",
    "LatticeAttention",
    "LatticeTransformer",
    "LatticeTransformerConfig",
    "LayerReport",
    "LoRALinear",
    "PackedSplit",
    "PaddedLoss",
    "PhaseModulation",
    "PreparedData",
    "QuantizationReport",
    "QuantizedLinear",
    "Quantizer",
    "QuantizerOutput",
    "ResonanceLoss",
    "ResonanceMonitor",
    "ResonanceState",
    "ResonatorBias",
    "SentencePieceTokenizer",
    "SoftE8Quantizer",
    "SphericalLatticeQuantizer",
    "TelemetryCallback",
    "Tokenizer",
    "TrainConfig",
    "TrainResult",
    "VQQuantizer",
    "apply_adapters",
    "calibration_blocks",
    "codebook_usage",
    "collect_hessians",
    "compression_reference",
    "decode",
    "dequantize_tensor",
    "e8_head_directions",
    "eval_batches",
    "evaluate_checkpoint",
    "evaluate_model",
    "fold_qkv_weights",
    "format_bits_table",
    "format_compression_table",
    "format_table",
    "lattice_frame",
    "leakage_check",
    "lila_placeholder_kernel",
    "load_checkpoint",
    "load_corpus",
    "load_quantized",
    "load_tokenizer",
    "make_quantizer",
    "max_cosine",
    "merge_adapters",
    "monster_sync",
    "nearest_minimal_vector",
    "pack_documents",
    "plot_embedding_pca",
    "plot_phase_heatmap",
    "pydoc_topics",
    "quantize_model",
    "quantize_tensor",
    "quantize_weight",
    "save_quantized",
    "shell_nearest",
    "shell_vectors",
    "train",
    "train_batches",
    "weight_telemetry",
]
