"""DoRA, rsLoRA, prefix tuning, the parallel adapter and MAM (issue 18): what trains, bad options refused in
one line, and real ``fairseq-train`` runs (the log's report, the PEFT-only file, resuming). Their
numbers against peft and against direct computations: tests/test_new_methods.py."""
import re
import subprocess
import sys

import pytest
import torch
from conftest import (PLUGIN_DIR, SENTENCE_PREDICTION, TINY_SHAPE, assert_one_step_moves_only_trained, build_model,
                      fairseq_train, hub_for, hub_logits, valid_examples)

from fairseq_plugins.checkpoints.safety import safe_load

pytestmark = pytest.mark.usefixtures("one_thread")
LAYERS, D = 2, 64  # TINY_SHAPE


def tiny(corpus, *args):
    return build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *args)[0]


# --- what trains ------------------------------------------------------------------------------------

def bottleneck(width, dim):
    return 2 * width * dim + dim + width


@pytest.mark.parametrize("args,groups,expected", [
    (["--peft", "lora", "--lora-dora", "--lora-r", "4"], {"lora q_proj", "lora v_proj"}, LAYERS * 2 * (2 * 4 * D + D)),
    (["--peft", "prefix", "--prefix-length", "5"], {"prefix"}, LAYERS * 2 * 5 * D),
    (["--peft", "prefix", "--prefix-projection", "--prefix-length", "5", "--prefix-hidden-size", "16"],
     {"prefix encoder"}, 5 * D + D * 16 + 16 + 16 * LAYERS * 2 * D + LAYERS * 2 * D),
    (["--peft", "adapter", "--adapter-type", "parallel", "--adapter-dim", "8"], {"parallel adapter ffn"},
     LAYERS * bottleneck(D, 8)),
    (["--peft", "mam", "--mam-prefix-length", "5", "--mam-adapter-dim", "8", "--peft-layers", "1"],
     {"prefix", "parallel adapter ffn"}, 2 * 5 * D + bottleneck(D, 8)),
])
def test_trainable_parameter_counts(corpus, args, groups, expected):
    model = tiny(corpus, *args, "--head-trainable", "none")
    assert set(model.trainable_groups) == groups
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected


@pytest.mark.parametrize("args,expect_trained,off_zero", [
    (["--peft", "lora", "--lora-dora", "--lora-dropout", "0.1"], ["lora_", "classification_heads"], "lora_B"),
    (["--peft", "prefix"], ["prefix.prefix_", "classification_heads"], "nothing"),
    (["--peft", "prefix", "--prefix-projection"], ["prefix_encoder.prefix_", "classification_heads"], "nothing"),
    (["--peft", "adapter", "--adapter-type", "parallel"], ["ffn_parallel.adapter_", "classification_heads"],
     "adapter_up"),
    (["--peft", "mam"], ["prefix.prefix_", "ffn_parallel.adapter_", "classification_heads"], "adapter_up"),
])
def test_optimizer_step_moves_only_trained_parameters(corpus, batch, args, expect_trained, off_zero):
    assert_one_step_moves_only_trained(tiny(corpus, *args), batch, expect_trained, off_zero=off_zero)


# --- bad options --------------------------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [("--prefix-length", "0"), ("--prefix-hidden-size", "0"),
                                          ("--adapter-scaling", "0"), ("--adapter-scaling", "-2"),
                                          ("--mam-adapter-scaling", "nan"), ("--mam-prefix-length", "-1")])
def test_bad_values_are_refused_by_the_parser(corpus, capsys, option, value):
    with pytest.raises(SystemExit) as exit_info:
        tiny(corpus, option, value)
    assert exit_info.value.code == 2 and option in capsys.readouterr().err


CROSS_OPTION = [
    (["--peft", "bitfit", "--lora-dora"], "--lora-dora only acts with --peft lora (here --peft bitfit)"),
    (["--peft", "adapter", "--lora-rslora"], "--lora-rslora only acts with --peft lora (here --peft adapter)"),
    (["--peft", "mam", "--prefix-projection"], "--prefix-projection only acts with --peft prefix (here --peft mam)"),
    (["--peft", "prefix", "--prefix-hidden-size", "64"],
     "--prefix-hidden-size 64: the hidden size of the prefix MLP only acts with --prefix-projection"),
    (["--peft", "mam", "--mam-prefix-hidden-size", "64"],
     "--mam-prefix-hidden-size 64: the hidden size of the prefix MLP only acts with --mam-prefix-projection"),
]


@pytest.mark.parametrize("args,message", CROSS_OPTION)
def test_options_that_do_not_fit_together_are_refused(corpus, args, message):
    from fairseq_plugins.options import OptionError

    with pytest.raises(OptionError, match=re.escape(message)):
        tiny(corpus, *args)


@pytest.mark.parametrize("args,message", [CROSS_OPTION[0], CROSS_OPTION[3],
                                          (["--peft", "prefix", "--prefix-length", "0"], "'0': expected a positive")])
def test_bad_options_are_one_line_in_fairseq_train(corpus, tmp_path, args, message):
    cmd = [sys.executable, "-m", "fairseq_cli.train", str(corpus["finetune_bin"]), "--user-dir", str(PLUGIN_DIR),
           *SENTENCE_PREDICTION, "--arch", "roberta_peft", *TINY_SHAPE, "--num-classes", "2", "--cpu",
           "--save-dir", str(tmp_path), "--max-update", "1", "--batch-size", "8", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode != 0 and message in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_prefix_and_adapters_cannot_be_exported_as_plain_roberta(corpus, tmp_path):
    from fairseq_plugins.checkpoints.export import export_plain
    from fairseq_plugins.checkpoints.safety import CheckpointError

    model, _, cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, "--peft", "prefix")
    with pytest.raises(CheckpointError, match="--peft prefix adds modules that cannot merge"):
        export_plain(model, cfg, tmp_path / "model.pt")


# --- fairseq-train: the log, the PEFT-only file, resuming ---------------------------------------------

RUNS = {"dora": ["--peft", "lora", "--lora-dora", "--lora-targets", "q_proj,v_proj,fc1"],
        "mam": ["--peft", "mam", "--mam-prefix-projection", "--mam-prefix-length", "4", "--mam-adapter-dim", "16",
                "--mam-prefix-hidden-size", "32"]}
GROUPS = {"dora": r"lora q_proj: [\d,]+, lora v_proj: [\d,]+, lora fc1: [\d,]+",
          "mam": r"prefix encoder: [\d,]+, parallel adapter ffn: [\d,]+"}


def run(corpus, plain_checkpoint, save_dir, method, updates):
    return fairseq_train(corpus["finetune_bin"], save_dir, "--arch", "roberta_peft", *TINY_SHAPE, "--num-classes", "2",
                         *RUNS[method], "--finetune-from-model", str(plain_checkpoint), "--max-update", str(updates))


@pytest.mark.parametrize("method", list(RUNS))
def test_training_resumes_and_the_peft_only_file_rebuilds_the_model(corpus, plain_checkpoint, tmp_path, method):
    """A run stopped after 8 updates (mid-epoch) and rerun to 16 ends where a straight 16-update run ends."""
    straight = run(corpus, plain_checkpoint, tmp_path / "straight", method, 16)
    assert re.search(rf"peft={RUNS[method][1]} \| trainable parameters [\d,]+ of [\d,]+ \([\d.]+%\) \| "
                     rf"groups: {GROUPS[method]}", straight.stdout)
    run(corpus, plain_checkpoint, tmp_path / "resumed", method, 8)
    second = run(corpus, plain_checkpoint, tmp_path / "resumed", method, 16)
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch 1 @ 8 updates\)", second.stdout)
    resumed = safe_load(tmp_path / "resumed" / "checkpoint_last.pt")["model"]
    expected = safe_load(tmp_path / "straight" / "checkpoint_last.pt")["model"]
    assert resumed.keys() == expected.keys() and all(torch.equal(resumed[k], expected[k]) for k in expected)

    save_dir = tmp_path / "straight"
    payload = safe_load(save_dir / "checkpoint_best.peft.pt")
    full = safe_load(save_dir / "checkpoint_best.pt")["model"]
    method_keys = {k for k in full if re.search(r"\.(lora|prefix|adapter)_\w+$", k)}
    assert set(payload["state"]) == method_keys | {k for k in full if k.startswith("classification_heads.")}
    if method == "mam":  # the PEFT-only file keeps the prefixes the MLP computes, next to the MLP
        assert payload["peft"]["prefix_projection"] and payload["peft"]["adapter_type"] == "parallel"
        assert any(k.endswith("prefix.prefix_key") for k in payload["state"])
    else:
        assert payload["peft"]["dora"] and any(k.endswith("lora_magnitude") for k in payload["state"])
        plain = safe_load(plain_checkpoint)["model"]  # frozen weights untouched
        assert all(torch.equal(full[k], plain[k]) for k in plain if k in full and not k.startswith("classif"))
    texts, _ = valid_examples(corpus)
    ours = hub_logits(hub_for(corpus, checkpoint=str(save_dir / "checkpoint_best.pt")), texts[:40])
    composed = hub_logits(hub_for(corpus, peft_file=str(save_dir / "checkpoint_best.peft.pt"),
                                  base_checkpoint=str(plain_checkpoint)), texts[:40])
    assert torch.equal(ours, composed)
