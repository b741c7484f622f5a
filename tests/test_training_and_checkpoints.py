"""Real ``fairseq-train --user-dir fairseq_plugins`` runs and the checkpoints they leave.

Each method fine-tunes the plain fairseq RoBERTa checkpoint (trained by fairseq itself, without the
plugin) on the binary task; LoRA starts through ``--finetune-from-model`` (the resumable way),
BitFit and full fine-tuning through ``--restore-file`` with fairseq's reset flags.
"""
import re
import subprocess
import sys

import pytest
import torch
from conftest import REPO, TINY_SHAPE, fairseq_train, hub_for, hub_logits, hub_valid_accuracy, plain_fairseq_logits, valid_examples

from fairseq_plugins.checkpoints.safety import safe_load

RESET = ["--reset-optimizer", "--reset-dataloader", "--reset-meters", "--reset-lr-scheduler"]
METHODS = {"lora": ["--peft", "lora"], "bitfit": ["--peft", "bitfit", "--lr", "1e-2"], "none": ["--peft", "none"]}


def start_from(method, plain_checkpoint):
    if method == "lora":
        return ["--finetune-from-model", str(plain_checkpoint)]
    return ["--restore-file", str(plain_checkpoint), *RESET]


def train_command(method, plain_checkpoint, epochs):
    return ["--arch", "roberta_peft", *TINY_SHAPE, "--num-classes", "2", *METHODS[method],
            *start_from(method, plain_checkpoint), "--max-epoch", str(epochs)]


@pytest.fixture(scope="module")
def runs(corpus, plain_checkpoint, tmp_path_factory):
    """method -> (save_dir, training log) after 2 epochs."""
    out = {}
    for method in METHODS:
        save_dir = tmp_path_factory.mktemp(f"run_{method}")
        proc = fairseq_train(corpus["finetune_bin"], save_dir, *train_command(method, plain_checkpoint, 2))
        out[method] = (save_dir, proc.stdout)
    return out





@pytest.mark.parametrize("method", list(METHODS))
def test_training_learns_and_reloads_through_the_hub(corpus, runs, method):
    save_dir, log = runs[method]
    assert re.search(rf"peft={method} \| trainable parameters [\d,]+ of [\d,]+ \([\d.]+%\) \| groups: ", log)
    accuracy = hub_valid_accuracy(corpus, save_dir / "checkpoint_best.pt")
    assert accuracy >= 0.9, f"{method}: valid accuracy {accuracy:.3f}"


@pytest.mark.parametrize("method", ["lora", "bitfit"])
def test_frozen_weights_are_the_plain_checkpoints(runs, plain_checkpoint, method):
    """After training from a plain RoBERTa checkpoint, every frozen encoder weight is still bit-identical."""
    plain = safe_load(plain_checkpoint)["model"]
    tuned = safe_load(runs[method][0] / "checkpoint_best.pt")["model"]
    new_keys = {k for k in tuned if k not in plain}
    assert new_keys and all("lora_" in k or k.startswith("classification_heads.sentence_classification_head")
                            for k in new_keys)
    changed = {k for k in plain if k in tuned and not torch.equal(plain[k], tuned[k])}
    if method == "lora":
        assert changed == set()
    else:
        assert changed and all(k.endswith(".bias") for k in changed)


@pytest.mark.parametrize("method", ["lora", "bitfit"])
def test_peft_only_file_rebuilds_the_model(corpus, runs, plain_checkpoint, method):
    save_dir = runs[method][0]
    peft_file = save_dir / "checkpoint_best.peft.pt"
    payload = safe_load(peft_file)
    assert payload["peft"]["method"] == method
    full_state = safe_load(save_dir / "checkpoint_best.pt")["model"]
    trained = {k for k in full_state if "lora_" in k or k.startswith("classification_heads.")
               or (method == "bitfit" and k.endswith(".bias") and not k.startswith("encoder.lm_head."))}
    assert set(payload["state"]) == trained
    texts, _ = valid_examples(corpus)
    full = hub_logits(hub_for(corpus, checkpoint=str(save_dir / "checkpoint_best.pt")), texts[:40])
    composed = hub_logits(hub_for(corpus, peft_file=str(peft_file), base_checkpoint=str(plain_checkpoint)), texts[:40])
    assert torch.equal(full, composed)


def test_no_peft_only_file_for_full_fine_tuning(runs):
    assert not (runs["none"][0] / "checkpoint_best.peft.pt").exists()


def test_resume_from_checkpoint_last_continues_where_it_stopped(corpus, plain_checkpoint, tmp_path, runs):
    """Stopping after epoch 1 and rerunning the same command for 2 epochs equals one 2-epoch run."""
    first = fairseq_train(corpus["finetune_bin"], tmp_path, *train_command("lora", plain_checkpoint, 1))
    assert "num_updates 50" in first.stdout
    second = fairseq_train(corpus["finetune_bin"], tmp_path, *train_command("lora", plain_checkpoint, 2))
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch 2 @ 50 updates\)", second.stdout)
    resumed = safe_load(tmp_path / "checkpoint_last.pt")["model"]
    straight = safe_load(runs["lora"][0] / "checkpoint_last.pt")["model"]
    assert resumed.keys() == straight.keys()
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)


def test_merged_export_loads_in_plain_fairseq(corpus, runs, tmp_path):
    """The LoRA model merged and exported: fairseq's RobertaModel loads it without the plugin, same logits."""
    save_dir = runs["lora"][0]
    out_dir = tmp_path / "exported"
    subprocess.run([sys.executable, str(REPO / "scripts" / "export_checkpoint.py"),
                    str(save_dir / "checkpoint_best.pt"), str(out_dir)], check=True, capture_output=True)
    texts, _ = valid_examples(corpus)
    ours = hub_logits(hub_for(corpus, checkpoint=str(save_dir / "checkpoint_best.pt")), texts[:40])
    plain = plain_fairseq_logits(corpus, out_dir, tmp_path)
    assert (plain - ours).abs().max() <= 1e-4
