"""Quantizers in a small convolutional autoencoder: Λ24-SQ against E8, FSQ, LFQ, BSQ and VQ.

Every quantizer of :func:`leechkit.models.make_quantizer` is trained in the same autoencoder
on image data that ships with installed packages (nothing is downloaded):

* ``digits`` — scikit-learn's ``load_digits``: 1,797 images of 8 × 8 pixels (values 0..16,
  scaled to [0, 1]); a fixed random 20 % are held out (split seed 1234, the same for every
  run). Two stride-2 stages give 2 × 2 = 4 tokens per image.
* ``patches`` — non-overlapping 16 × 16 patches of eight of scikit-image's bundled sample
  images in grey (camera, astronaut, coffee, chelsea, rocket, coins, moon, clock), [0, 1];
  the patches in the rightmost quarter of each image are held out. 4 × 4 = 16 tokens per
  patch.

The autoencoder: conv 3×3 → two stride-2 convs 4×4 (GELU, ``--width`` channels) → a 1×1
conv to the quantizer's own token width → quantizer → 1×1 conv → two stride-2 transposed
convs → conv 3×3. Loss: pixel MSE plus the quantizer's auxiliary loss; Adam, cosine decay,
``--steps`` steps of ``--batch-size`` images. Every quantizer runs with the defaults of
:func:`~leechkit.models.make_quantizer`: no auxiliary loss for Λ24-SQ, E8-SQ, the soft E8 and
FSQ; the library's entropy loss (weight 0.1, two groups of 9 bits) and a commitment loss
(β = 0.25) for LFQ and BSQ, with the entropy's inverse temperature 1 for LFQ (the library's
100 let LFQ collapse to a handful of codes, see ``LFQQuantizer``) and 100 for BSQ; the
library's commitment loss (weight 1) and EMA codebook for VQ.

Bits per token (the rate of one token):

========== ============================================== ==========
quantizer  codebook                                       bits/token
========== ============================================== ==========
leech      196,560 normalized Leech minimal vectors        17.58
e8         two 8-D blocks of 240 normalized E8 roots       15.81
e8_soft    the seed's soft E8 quantizer, two blocks        15.81
fsq        FSQ levels 8,8,8,8,8,6 (196,608 codes)          17.585
lfq        LFQ, 18 sign bits                               18
bsq        BSQ, 18 sign bits on the 18-D sphere            18
vq         learned codebook of ``--vq-size`` codes         log₂ size
========== ============================================== ==========

E8 with three blocks would be 23.72 bits, farther from 17.58 than two blocks (15.81). The
learned codebook is 4,096 codes (12 bits) by default: a codebook of 2¹⁷ would need a
(tokens × 131,072) distance matrix and EMA update per step and has far more codes than the
training set has tokens (digits: 5,752).

Metrics on the held-out images, per run: pixel MSE and PSNR ``10 log₁₀(1/MSE)`` (peak 1, from
the mean MSE over the held-out set), distinct token codes used and their perplexity
``2^H`` (H the entropy of the empirical token-code distribution; a token of several indices
is one mixed-radix code), training time; over seeds, mean ± sample standard deviation.
Writes ``results.json`` and a PNG grid of held-out originals and reconstructions (the first
seed's models) to ``--out``; prints a Markdown table. The defaults (300 steps, one thread)
took 6 minutes on the project's shared 2-core CPU machine; docs/quantization.md reports
1,000 steps::

    python benchmarks/autoencoder_experiment.py --out /tmp/quantization
    python benchmarks/autoencoder_experiment.py --steps 1000 --out /tmp/quantization \
        --grid docs/quantization_grid.png
    python benchmarks/autoencoder_experiment.py --device cuda --steps 1000 --out /tmp/q_cuda
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leechkit.models import QUANTIZER_NAMES, make_quantizer

DATASETS = ("digits", "patches")
SKIMAGE_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "clock")
LABELS = {
    "leech": "Λ24-SQ",
    "e8": "E8-SQ ×2",
    "e8_soft": "seed soft E8 ×2",
    "fsq": "FSQ",
    "lfq": "LFQ",
    "bsq": "BSQ",
    "vq": "VQ",
}


# --- data ---------------------------------------------------------------------------------------
def load_digits_split(split_seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) float32 arrays (n, 1, 8, 8) in [0, 1]; a fixed random 20 % held out."""
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32) / 16.0
    order = np.random.default_rng(split_seed).permutation(len(images))
    n_test = len(images) // 5
    return images[order[n_test:], None], images[order[:n_test], None]


def load_patch_split(size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) grey patches (n, 1, size, size) in [0, 1] of the bundled sample images;
    the patches of the rightmost quarter of each image's patch grid are held out."""
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.util import img_as_float32

    train, test = [], []
    for name in SKIMAGE_IMAGES:
        image = getattr(data, name)()
        grey = rgb2gray(image) if image.ndim == 3 else image
        grey = img_as_float32(grey)
        rows, cols = grey.shape[0] // size, grey.shape[1] // size
        grid = grey[: rows * size, : cols * size].reshape(rows, size, cols, size).transpose(0, 2, 1, 3)
        cut = cols - cols // 4
        train.append(grid[:, :cut].reshape(-1, size, size))
        test.append(grid[:, cut:].reshape(-1, size, size))
    return np.concatenate(train)[:, None], np.concatenate(test)[:, None]


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        return load_digits_split()
    if name == "patches":
        return load_patch_split()
    raise ValueError(f"unknown dataset {name!r}; choose from {DATASETS}")


# --- model --------------------------------------------------------------------------------------
class ConvAutoencoder(nn.Module):
    """Two stride-2 stages down, a 1×1 projection to the quantizer's width, and back up."""

    def __init__(self, quantizer: nn.Module, width: int = 32):
        super().__init__()
        self.quantizer = quantizer
        d = quantizer.dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(width, d, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(d, width, 1),
            nn.GELU(),
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(width, 1, 3, padding=1),
        )

    def forward(self, images: torch.Tensor):
        z = self.encoder(images).permute(0, 2, 3, 1)  # tokens channel-last: (B, h, w, d)
        out = self.quantizer(z)
        return self.decoder(out.quantized.permute(0, 3, 1, 2)), out


def build(name: str, width: int, vq_size: int) -> ConvAutoencoder:
    if name in ("e8", "e8_soft"):
        quantizer = make_quantizer(name, dim=16)
    elif name == "vq":
        quantizer = make_quantizer(name, codebook_size=vq_size)
    else:
        quantizer = make_quantizer(name)
    return ConvAutoencoder(quantizer, width)


def token_codes(indices: torch.Tensor, quantizer: nn.Module) -> torch.Tensor:
    """One int64 code per token: the indices of a token's codebooks as a mixed-radix number."""
    if quantizer.num_codebooks == 1:
        return indices.reshape(-1)
    flat = indices.reshape(-1, quantizer.num_codebooks)
    code = torch.zeros(flat.shape[0], dtype=torch.int64, device=flat.device)
    for j in range(quantizer.num_codebooks):
        code = code * quantizer.codebook_size + flat[:, j]
    return code


def grid_indices(n: int, k: int) -> np.ndarray:
    """``k`` held-out images evenly spread over the held-out set (all images, all regions)."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(np.int64))


# --- one run ------------------------------------------------------------------------------------
def train_and_evaluate(name: str, dataset: str, data, seed: int, args, device: torch.device) -> dict:
    train_x, test_x = data
    torch.manual_seed(seed)
    model = build(name, args.width, args.vq_size).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))
    )
    train_t = torch.as_tensor(train_x, device=device)
    rng = np.random.default_rng(seed)
    model.train()
    start = time.perf_counter()
    for _ in range(args.steps):
        batch = train_t[torch.as_tensor(rng.integers(0, len(train_x), args.batch_size), device=device)]
        recon, out = model(batch)
        loss = F.mse_loss(recon, batch) + out.aux_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start

    model.eval()
    test_t = torch.as_tensor(test_x, device=device)
    sq_err, codes, recons = 0.0, [], []
    with torch.no_grad():
        for s in range(0, len(test_t), 512):
            batch = test_t[s : s + 512]
            recon, out = model(batch)
            sq_err += float(((recon - batch) ** 2).sum())
            codes.append(token_codes(out.indices, model.quantizer))
            recons.append(recon.clamp(0, 1).cpu())
    mse = sq_err / test_t.numel()
    codes = torch.cat(codes)
    _, counts = torch.unique(codes, return_counts=True)
    p = counts.double() / codes.numel()
    entropy = float(-(p * torch.log2(p)).sum())
    q = model.quantizer
    return {
        "dataset": dataset,
        "quantizer": name,
        "seed": seed,
        "bits_per_token": q.bits_per_token,
        "token_codebook_size": q.codebook_size**q.num_codebooks,
        "mse": mse,
        "psnr": 10 * math.log10(1.0 / mse),
        "test_tokens": int(codes.numel()),
        "codes_used": int(counts.numel()),
        "code_perplexity": 2.0**entropy,
        "train_seconds": seconds,
        "final_train_loss": float(loss.detach()),
        "_recon": torch.cat(recons)[grid_indices(len(test_x), args.grid_images)].numpy(),
    }


# --- reporting ----------------------------------------------------------------------------------
def summarize(runs: list[dict]) -> list[dict]:
    """Mean and sample standard deviation over seeds of each (dataset, quantizer)."""
    out = []
    keys = dict.fromkeys((r["dataset"], r["quantizer"]) for r in runs)
    for dataset, name in keys:
        group = [r for r in runs if r["dataset"] == dataset and r["quantizer"] == name]
        row = {
            "dataset": dataset,
            "quantizer": name,
            "seeds": len(group),
            "bits_per_token": group[0]["bits_per_token"],
        }
        for metric in ("mse", "psnr", "codes_used", "code_perplexity", "train_seconds"):
            values = [float(r[metric]) for r in group]
            row[metric] = statistics.fmean(values)
            row[metric + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["test_tokens"] = group[0]["test_tokens"]
        out.append(row)
    return out


def markdown(summary: list[dict]) -> str:
    lines = [
        "| data | quantizer | bits / token | test MSE | PSNR (dB) | codes used / test tokens | "
        "code perplexity | train time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary:
        lines.append(
            f"| {r['dataset']} | {LABELS[r['quantizer']]} | {r['bits_per_token']:.2f} | "
            f"{r['mse']:.5f} ± {r['mse_std']:.5f} | {r['psnr']:.2f} ± {r['psnr_std']:.2f} | "
            f"{r['codes_used']:,.0f} ± {r['codes_used_std']:.0f} / {r['test_tokens']:,} | "
            f"{r['code_perplexity']:,.0f} ± {r['code_perplexity_std']:.0f} | "
            f"{r['train_seconds']:.1f} ± {r['train_seconds_std']:.1f} |"
        )
    return "\n".join(lines)


def save_grid(
    path: Path, originals: dict[str, np.ndarray], recons: dict[tuple[str, str], np.ndarray]
) -> None:
    """Originals in the first row, then one row of reconstructions per quantizer, per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(originals)
    names = list(dict.fromkeys(name for _, name in recons))
    cols = max(len(v) for v in originals.values())
    fig, axes = plt.subplots(
        1 + len(names),
        len(datasets) * (cols + 1) - 1,
        figsize=(0.62 * (len(datasets) * (cols + 1) - 1) + 1.2, 0.66 * (1 + len(names)) + 0.4),
        squeeze=False,
    )
    for ax in axes.ravel():
        ax.axis("off")
    for d, dataset in enumerate(datasets):
        rows = [("original", originals[dataset])] + [(LABELS[n], recons[(dataset, n)]) for n in names]
        for r, (label, images) in enumerate(rows):
            for c in range(len(images)):
                ax = axes[r, d * (cols + 1) + c]
                ax.imshow(images[c, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                if c == 0 and d == 0:
                    ax.text(-0.15, 0.5, label, transform=ax.transAxes, ha="right", va="center", fontsize=8)
            if r == 0:
                axes[0, d * (cols + 1)].set_title(dataset, loc="left", fontsize=9)
    fig.subplots_adjust(left=0.13, right=0.995, top=0.93, bottom=0.01, wspace=0.06, hspace=0.08)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quantizers", default=",".join(QUANTIZER_NAMES), help="comma-separated names")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="digits and/or patches")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (default 300)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=32, help="conv channels (default 32)")
    parser.add_argument("--vq-size", type=int, default=4096, help="learned VQ codebook size (default 4096)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and Numba CPU threads (default 1: the layers are too small to gain from more, and "
        "on a busy machine a second thread stalls every operation)",
    )
    parser.add_argument("--grid-images", type=int, default=8, help="held-out images per row of the grid")
    parser.add_argument("--out", default="autoencoder_results", help="folder for results.json and the grid")
    parser.add_argument(
        "--grid", default=None, help="PNG path of the grid (default OUT/quantization_grid.png)"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.quantizers.split(",") if n.strip()]
    unknown = [n for n in names if n not in QUANTIZER_NAMES]
    if unknown:
        parser.error(f"unknown quantizers {unknown}; choose from {QUANTIZER_NAMES}")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if any(d not in DATASETS for d in datasets):
        parser.error(f"datasets must be among {DATASETS}")
    seeds = [int(s) for s in args.seeds.split(",")]
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA device")
    if args.threads:
        import numba

        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "logical_cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }
    print(f"environment: {environment}", flush=True)

    runs, originals, recons = [], {}, {}
    total = time.perf_counter()
    for dataset in datasets:
        data = load_dataset(dataset)
        print(f"{dataset}: {len(data[0])} training and {len(data[1])} held-out images", flush=True)
        originals[dataset] = data[1][grid_indices(len(data[1]), args.grid_images)]
        for name in names:
            for seed in seeds:
                run = train_and_evaluate(name, dataset, data, seed, args, device)
                image = run.pop("_recon")
                if seed == seeds[0]:
                    recons[(dataset, name)] = image
                runs.append(run)
                print(
                    f"  {name:8s} seed {seed}: MSE {run['mse']:.5f}, PSNR {run['psnr']:.2f} dB, "
                    f"{run['codes_used']} codes used of {run['test_tokens']} tokens, "
                    f"{run['train_seconds']:.1f} s",
                    flush=True,
                )
    summary = summarize(runs)
    table = markdown(summary)
    print()
    print(table)
    grid = Path(args.grid) if args.grid else out_dir / "quantization_grid.png"
    save_grid(grid, originals, recons)
    config = {k: v for k, v in vars(args).items()}
    with open(out_dir / "results.json", "w") as f:
        json.dump(
            {
                "config": config,
                "environment": environment,
                "runs": runs,
                "summary": summary,
                "total_seconds": time.perf_counter() - total,
            },
            f,
            indent=1,
        )
    print(f"\nwrote {out_dir / 'results.json'} and {grid}; total {time.perf_counter() - total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
