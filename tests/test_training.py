"""Trainer, evaluation and their commands: configuration, exact resume, padding, CLI, DDP, tour."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

from leechkit.cli import training as cli_training  # noqa: E402
from leechkit.cli.main import build_parser, main  # noqa: E402
from leechkit.models import IGNORE_INDEX, LatticeTransformer, LatticeTransformerConfig  # noqa: E402
from leechkit.models.data import evaluate_model, is_validation_document, pack_documents  # noqa: E402
from leechkit.models.evaluation import evaluate_checkpoint, leakage_check, load_checkpoint  # noqa: E402
from leechkit.models.tokenizer import ByteTokenizer  # noqa: E402
from leechkit.models.training import (  # noqa: E402
    MODEL_FIELDS,
    PreparedData,
    TrainConfig,
    build_optimizer,
    find_checkpoint,
    learning_rate,
    train,
)

WORDS = "lattice leech golay octad code vector norm shell kissing sphere packing theta frame".split()


def tiny_corpus(path: Path) -> Path:
    """A local corpus file of end-of-text separated documents; the hash split sends 2 to validation."""
    docs, valid = [], 0
    while len(docs) < 40 or valid < 2:
        i = len(docs)
        words = [WORDS[(i * 7 + j * j) % len(WORDS)] for j in range(12 + i % 9)]
        docs.append(f"Document {i}: " + " ".join(words) + ".\nÉtude ∑ line two.")
        valid += is_validation_document(docs[-1])
    path.write_text("\n<|endoftext|>\n".join(docs) + "\n", encoding="utf-8")
    return path


def tiny_config(out_dir: Path, corpus: Path, **overrides) -> TrainConfig:
    base = dict(
        model={"n_layer": 1, "n_head": 2, "d_model": 32},
        corpus=str(corpus),
        tokenizer="byte",
        block_size=32,
        batch_size=4,
        max_steps=6,
        warmup_steps=2,
        eval_interval=0,
        checkpoint_interval=3,
        keep_checkpoints=3,
        log_interval=1,
        out_dir=str(out_dir),
        device="cpu",
        progress=False,
    )
    base.update(overrides)
    return TrainConfig.from_dict(base)


def train_records(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r["type"] == "train"]


# --------------------------------------------------------------------------- configuration


def test_config_file_and_overrides(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(
        'corpus = "pydoc-topics"\nmax_tokens = 65536\nblock_size = 64\nwarmup_steps = 4\n'
        '[model]\nattention = "frozen_qk"\n'
    )
    config = TrainConfig.load(toml)
    assert config.max_steps is None and config.total_steps == 65536 // (32 * 64)
    assert config.model_config(2048).attention == "frozen_qk"
    changed = config.with_overrides({"model.n_layer": 2, "max_steps": 5, "lr": 3e-4})
    assert changed.total_steps == 5 and changed.max_tokens is None and changed.model["n_layer"] == 2
    saved = tmp_path / "run.json"
    changed.save(saved)
    assert TrainConfig.load(saved) == changed


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"lr": "fast"}, TypeError, "lr must be a number"),
        ({"batch_size": 6, "grad_accum": 4}, ValueError, "not a multiple of grad_accum=4"),
        ({"max_tokens": 100, "max_steps": None}, ValueError, "less than one step"),
        ({"max_tokens": 10**6, "max_steps": 5}, ValueError, "exactly one of max_steps and max_tokens"),
        ({"model": {"vocab_size": 5}}, ValueError, "set at the top level"),
        ({"model": {"attention": "frozen_qk", "d_model": 40, "n_head": 2}}, ValueError, "head_dim"),
        ({"warmup_steps": 2000}, ValueError, "exceeds the 1000 steps"),
        ({"tokenizer": "words"}, ValueError, "tokenizer must be one of"),
        ({"min_lr": 1.0}, ValueError, "min_lr"),
        ({"colour": "red"}, ValueError, "unknown training configuration keys"),
    ],
)
def test_bad_configurations_raise_clear_errors(fields, error, match):
    with pytest.raises(error, match=match):
        TrainConfig.from_dict(fields)


def test_micro_batches_split_the_global_batch():
    config = TrainConfig(batch_size=8, grad_accum=2)
    assert config.micro_batch_size(1) == 4 and config.micro_batch_size(2) == 2
    with pytest.raises(ValueError, match="does not split"):
        config.micro_batch_size(3)


def test_schedule_warmup_then_cosine_to_min_lr():
    config = TrainConfig(max_steps=10, warmup_steps=1, lr=1.0, min_lr=0.1)
    rates = [learning_rate(s, config) for s in range(10)]
    assert rates[0] == 1.0 and rates[1] == 1.0 and math.isclose(rates[-1], 0.1)
    assert math.isclose(rates[5], 0.55) and all(a >= b for a, b in itertools.pairwise(rates))
    assert learning_rate(0, TrainConfig(warmup_steps=4, lr=1.0)) == 0.25


def test_weight_decay_only_on_linear_weight_matrices():
    config = LatticeTransformerConfig(vocab_size=64, block_size=8, n_layer=1, n_head=1, d_model=8, bias=True)
    model = LatticeTransformer(config)
    decay, no_decay = build_optimizer(model, TrainConfig()).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(names[id(p)].endswith(".weight") and p.dim() == 2 for p in decay["params"])
    skipped = {names[id(p)] for p in no_decay["params"]}
    assert {"tok_emb.weight", "pos_emb.weight", "ln_f.weight", "ln_f.bias", "blocks.0.mlp.fc.bias"} <= skipped
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_cli_flags_cover_every_field():
    config_fields = {f for f in TrainConfig.__dataclass_fields__ if f != "model"}
    assert {name for name, _, _ in cli_training.TRAIN_FLAGS} == config_fields
    assert {name for name, _, _ in cli_training.MODEL_FLAGS} == set(MODEL_FIELDS)
    args = build_parser().parse_args(["train", "--attention", "conway", "--no-progress", "--max-tokens", "9"])
    assert cli_training._overrides(args) == {"model.attention": "conway", "progress": False, "max_tokens": 9}


# --------------------------------------------------------------------------- training


def test_resume_continues_bit_exactly(tmp_path):
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    overrides = {"grad_accum": 2, "model": {"n_layer": 1, "n_head": 2, "d_model": 32, "dropout": 0.1}}
    straight = train(tiny_config(tmp_path / "a", corpus, **overrides))
    resumed = train(
        tiny_config(tmp_path / "b", corpus, **overrides), resume=tmp_path / "a" / "checkpoint-000003"
    )
    assert straight.steps == resumed.steps == 6 and straight.tokens == resumed.tokens == 6 * 4 * 32
    a = load_file(straight.checkpoint / "model.safetensors")
    b = load_file(resumed.checkpoint / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state_a = torch.load(straight.checkpoint / "train_state.pt", weights_only=True)["optimizer"]["state"]
    state_b = torch.load(resumed.checkpoint / "train_state.pt", weights_only=True)["optimizer"]["state"]
    assert all(torch.equal(state_a[i]["exp_avg_sq"], state_b[i]["exp_avg_sq"]) for i in state_a)
    losses_a = [r["loss"] for r in train_records(tmp_path / "a")][3:]
    losses_b = [r["loss"] for r in train_records(tmp_path / "b")]
    assert [r["step"] for r in train_records(tmp_path / "b")] == [4, 5, 6]
    assert losses_b == losses_a
    assert straight.evaluation.bits_per_character == resumed.evaluation.bits_per_character
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "checkpoint-000003",
        "checkpoint-000006",
        "log.jsonl",
        "loss.png",
        "train_config.json",
    ]


def test_resume_refuses_a_different_configuration(tmp_path):
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    train(tiny_config(tmp_path / "a", corpus, max_steps=3))
    with pytest.raises(ValueError, match=r"lr: 0\.001 -> 0\.002"):
        train(tiny_config(tmp_path / "b", corpus, max_steps=3, lr=2e-3), resume=tmp_path / "a")
    with pytest.raises(ValueError, match="holds checkpoints of an earlier run"):
        train(tiny_config(tmp_path / "a", corpus, max_steps=3))


def test_prepared_data_gives_the_same_run_and_is_checked(tmp_path):
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    config = tiny_config(tmp_path / "a", corpus, max_steps=3, checkpoint_interval=0)
    prepared = PreparedData.build(config)
    assert prepared.train.tokens.numel() > 0 and prepared.valid.tokens.numel() > 0
    own = train(config)
    shared = train(tiny_config(tmp_path / "b", corpus, max_steps=3, checkpoint_interval=0), prepared=prepared)
    a = load_file(own.checkpoint / "model.safetensors")
    b = load_file(shared.checkpoint / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert own.evaluation.bits_per_character == shared.evaluation.bits_per_character
    with pytest.raises(ValueError, match="does not match the configuration"):
        other = tiny_config(tmp_path / "c", corpus, tokenizer="sentencepiece", vocab_size=300)
        train(other, prepared=prepared)
    with pytest.raises(ValueError, match="resume"):
        train(tiny_config(tmp_path / "d", corpus, max_steps=3), resume=tmp_path / "a", prepared=prepared)
    with pytest.raises(TypeError, match="PreparedData"):
        train(config, prepared=(prepared.tokenizer,))


def test_padding_never_contributes_to_the_loss():
    torch.manual_seed(0)
    config = LatticeTransformerConfig(vocab_size=258, block_size=16, n_layer=1, n_head=2, d_model=32)
    model = LatticeTransformer(config).eval()
    ids = torch.randint(0, 256, (2, 16))
    targets = torch.randint(0, 256, (2, 16))
    targets[:, 11:] = IGNORE_INDEX
    _, loss = model(ids, targets)
    other = ids.clone()
    other[:, 11:] = 257  # different inputs under the ignored targets
    _, same = model(other, targets)
    _, prefix = model(ids[:, :11], targets[:, :11])
    assert torch.equal(loss, same) and torch.allclose(loss, prefix, rtol=1e-6, atol=0)

    # Whole-split evaluation with a padded last block equals scoring the real positions only.
    tokenizer = ByteTokenizer()
    packed = pack_documents(["first document", "second, longer document ∑"], tokenizer)
    assert packed.num_targets % 16  # the last block is padded
    report = evaluate_model(model, packed, block_size=16, batch_size=2)
    stream, nats = packed.tokens, 0.0
    for start in range(0, packed.num_targets, 16):
        x = stream[start : min(start + 16, packed.num_targets)][None]
        y = stream[start + 1 : start + 1 + x.shape[1]][None]
        logits, _ = model(x)
        nats += float(torch.nn.functional.cross_entropy(logits[0].detach(), y[0], reduction="sum"))
    assert report.tokens == packed.num_targets and report.characters == packed.num_characters
    assert math.isclose(report.nats, nats, rel_tol=1e-6)


def test_leakage_check_passes_causal_modes_and_catches_a_leak():
    torch.manual_seed(0)
    for attention in ("vanilla", "rotate", "frozen_qk", "e8_bias", "conway"):
        config = LatticeTransformerConfig(
            vocab_size=50, block_size=12, n_layer=1, n_head=1, d_model=24, attention=attention
        )
        report = leakage_check(LatticeTransformer(config))
        assert report.passed and report.max_abs_diff == 0.0, report.table()

    class Leaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(50, 50)

        def forward(self, idx):
            h = self.emb(idx)
            return h + h.mean(dim=1, keepdim=True)  # every position sees the whole sequence

    report = leakage_check(Leaky(), vocab_size=50, block_size=12)
    assert not report.passed and report.max_abs_diff > 1e-3 and "LEAKAGE" in report.table()


# --------------------------------------------------------------------------- command line


def test_cli_train_eval_leakage_compress_end_to_end(tmp_path, capsys):
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"model": {"n_layer": 1, "n_head": 2, "d_model": 32}, "tokenizer": "byte"}))
    run = tmp_path / "run"
    common = [
        "--corpus",
        str(corpus),
        "--block-size",
        "32",
        "--batch-size",
        "4",
        "--warmup-steps",
        "1",
        "--log-interval",
        "1",
    ]
    assert main(["train", "--config", str(config), *common, "--max-steps", "4", "--out-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "4 steps, 512 tokens" in out and "bits/character" in out
    assert main(["train", "--resume", "--out-dir", str(run), "--max-steps", "5", "--no-progress"]) == 0
    assert "5 steps, 640 tokens" in capsys.readouterr().out
    assert [r["step"] for r in train_records(run)] == [1, 2, 3, 4, 5]  # log cut back to step 4, continued

    result = tmp_path / "eval.json"
    assert main(["eval", str(run), "--json", str(result)]) == 0
    table = capsys.readouterr().out
    figures = json.loads(result.read_text())
    assert f"{figures['bits_per_character']:.4f}" in table and "seed-style loss" in table
    assert figures["characters"] == sum(len(d) + 1 for d in load_valid(corpus))
    again = evaluate_checkpoint(find_checkpoint(run), padded=False)
    assert again.report.nats == figures["nats"]  # deterministic

    assert main(["leakage", str(run / "checkpoint-000005")]) == 0
    assert "no leakage" in capsys.readouterr().out
    assert main(["compress", "--corpus", str(corpus), "--compressors", "lzma"]) == 0
    assert "bpc | train" in capsys.readouterr().out
    model, tokenizer, saved = load_checkpoint(run)
    assert isinstance(tokenizer, ByteTokenizer) and saved.max_steps == 5 and not model.training


def load_valid(corpus: Path) -> list[str]:
    from leechkit.models.data import load_corpus

    return list(load_corpus(str(corpus)).documents("valid"))


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "leechkit.cli", "train", "--print-config", "--attention", "frozen_qk"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert json.loads(result.stdout)["model"] == {"attention": "frozen_qk"}


def test_ddp_two_processes_on_cpu(tmp_path):
    """torchrun with two gloo processes: rank 0 alone writes, the curve matches one process."""
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    args = ["--corpus", str(corpus), "--tokenizer", "byte", "--block-size", "32", "--batch-size", "4"]
    args += ["--max-steps", "4", "--warmup-steps", "1", "--log-interval", "1", "--n-layer", "1"]
    args += ["--d-model", "32", "--n-head", "2", "--device", "cpu", "--no-progress"]
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    result = subprocess.run(
        [*launch, "-m", "leechkit.cli", "train", *args, "--out-dir", str(run)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("checkpoint:") == 1  # only rank 0 reports
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["type"] for r in records].count("start") == 1 and records[0]["world_size"] == 2
    assert [r["step"] for r in records if r["type"] == "train"] == [1, 2, 3, 4]
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint-000004",
        "log.jsonl",
        "loss.png",
        "train_config.json",
    ]
    state = torch.load(run / "checkpoint-000004" / "train_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2

    model, _, _ = load_checkpoint(run, device="cpu")
    assert model.config.n_layer == 1
    single = tiny_config(tmp_path / "one", corpus, max_steps=4, warmup_steps=1, checkpoint_interval=0)
    train(single)
    ddp_losses = [r["loss"] for r in records if r["type"] == "train"]
    one_losses = [r["loss"] for r in train_records(tmp_path / "one")]
    assert ddp_losses == pytest.approx(one_losses, rel=1e-5)


# --------------------------------------------------------------------------- tour


def test_tour_configs_have_equal_trainable_parameters(tmp_path):
    configs = cli_training.tour_configs(204_800, tmp_path)
    counts = [
        LatticeTransformer(c.model_config(c.vocab_size)).parameter_counts()["trainable"]
        for c in configs.values()
    ]
    assert len(set(counts)) == 1
    assert {c.total_steps for c in configs.values()} == {100}


def test_short_tour_prints_both_models_beside_the_compressors(tmp_path, capsys):
    args = Namespace(
        tokens=2 * 16 * 128, out_dir=str(tmp_path), skip_info=True, no_progress=True, compressors=["lzma"]
    )
    assert cli_training.run_tour(args) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0] for line in out.splitlines()}
    assert {"vanilla", "frozen_qk (Leech)", "xz -9e (lzma), given train"} <= rows
    assert (tmp_path / "frozen_qk" / "checkpoint-000002" / "model.safetensors").is_file()


def test_compiled_training_matches_eager_training(tmp_path):
    # torch.compile changes only how the steps run: same weights (to rounding) and the final
    # bpc from the plain model; the e8_bias mode also checks the folded query projection.
    corpus = tiny_corpus(tmp_path / "corpus.txt")
    runs = []
    for name, compiled in (("eager", False), ("compiled", True)):
        config = tiny_config(
            tmp_path / name, corpus, max_steps=3, checkpoint_interval=0, compile=compiled,
            model={"n_layer": 1, "n_head": 2, "d_model": 32, "attention": "e8_bias"},
        )
        runs.append(train(config))
    a = load_file(runs[0].checkpoint / "model.safetensors")
    b = load_file(runs[1].checkpoint / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)
    assert math.isclose(
        runs[0].evaluation.bits_per_character, runs[1].evaluation.bits_per_character, rel_tol=1e-4
    )
