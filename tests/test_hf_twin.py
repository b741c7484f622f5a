"""The HuggingFace twin of a fairseq run (peft_roberta/hf, scripts/hf_baseline.py): it starts where
fairseq-train starts, trains in lockstep with it, and runs in a recipe beside it."""
import os
import subprocess
import sys

import pytest
import torch
from conftest import PLUGIN_DIR, REPO, SENTENCE_PREDICTION, TINY_SHAPE, fairseq_train

from fairseq_plugins.checkpoints.safety import safe_load

pytest.importorskip("transformers")
pytest.importorskip("peft")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.usefixtures("one_thread")

LOCKSTEP = ["--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--adam-eps", "1e-6", "--weight-decay", "0.01",
            "--lr-scheduler", "polynomial_decay", "--warmup-updates", "10", "--total-num-update", "100",
            "--max-update", "100", "--batch-size", "16", "--dropout", "0", "--attention-dropout", "0",
            "--required-batch-size-multiple", "1", "--seed", "3", "--cpu"]
METHODS = {"lora": ["--peft", "lora", "--lora-r", "4", "--lora-alpha", "8"], "bitfit": ["--peft", "bitfit"],
           "ia3": ["--peft", "ia3"], "none": ["--peft", "none"],
           "dora": ["--peft", "lora", "--lora-r", "4", "--lora-alpha", "8", "--lora-dora", "--lora-targets",
                    "q_proj,fc1"],
           "rslora": ["--peft", "lora", "--lora-r", "4", "--lora-alpha", "8", "--lora-rslora"]}
LEARNING_RATES = {"lora": "3e-3", "bitfit": "3e-3", "ia3": "1e-2", "none": "1e-3", "dora": "3e-3", "rslora": "1e-3"}


def argv_of(corpus, method, *extra):
    return [str(corpus["finetune_bin"]), "--user-dir", str(PLUGIN_DIR), *SENTENCE_PREDICTION, "--arch", "roberta_peft",
            *TINY_SHAPE, "--num-classes", "2", *LOCKSTEP, "--lr", LEARNING_RATES[method], *METHODS[method], *extra,
            "--save-dir", "/tmp/unused"]


@pytest.mark.parametrize("init", ["pretrained", "random"])
def test_the_twin_starts_where_fairseq_train_starts(corpus, plain_checkpoint, tmp_path, init):
    """fairseq-train at learning rate 0 keeps its step-0 weights; the twin's fairseq model is that model."""
    from peft_roberta.hf.weights import fairseq_start

    extra = ["--finetune-from-model", str(plain_checkpoint)] if init == "pretrained" else []
    argv = argv_of(corpus, "lora", *extra)[:-2]
    fairseq_train(corpus["finetune_bin"], tmp_path, *argv[1:len(argv)], "--lr", "0", "--max-update", "1",
                  "--total-num-update", "1", "--warmup-updates", "0")
    trained = safe_load(tmp_path / "checkpoint_last.pt")["model"]
    _, _, model, _ = fairseq_start(argv + ["--lr", "0", "--max-update", "1", "--total-num-update", "1",
                                           "--warmup-updates", "0", "--save-dir", str(tmp_path / "unused")])
    ours = model.state_dict()
    assert set(trained) == set(ours)
    assert all(torch.equal(trained[k], ours[k]) for k in ours), [k for k in ours if not torch.equal(trained[k], ours[k])]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_lockstep_losses_and_parameters_agree_for_100_updates(corpus, method):
    from peft_roberta.hf.lockstep import lockstep

    result = lockstep(argv_of(corpus, method), None, updates=100)
    assert result["updates"] == 100 and result["loss_moved"]
    assert result["start_logit_difference"] < 1e-5
    assert result["lr_gap"] < 1e-12  # the same learning rate at every update
    assert result["max_relative_loss_gap"] < 1e-4, result["max_relative_loss_gap"]
    assert result["max_parameter_gap"] < 1e-4, (result["worst_parameter"], result["max_parameter_gap"])


def test_lockstep_notices_a_different_optimizer(corpus, monkeypatch):
    """The check can fail: the twin with torch's AdamW (epsilon after bias correction) drifts apart."""
    from peft_roberta.hf import lockstep as check

    def adamw(model, args):
        from transformers import get_polynomial_decay_schedule_with_warmup

        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr[0],
                                      betas=(0.9, 0.98), eps=args.adam_eps, weight_decay=args.weight_decay)
        return optimizer, get_polynomial_decay_schedule_with_warmup(optimizer, int(args.warmup_updates),
                                                                    int(float(args.total_num_update)), lr_end=0.0)

    monkeypatch.setattr(check, "optimizer_and_schedule", adamw)
    result = check.lockstep(argv_of(corpus, "lora"), None, updates=30)
    assert result["max_parameter_gap"] > 1e-4


def test_hf_baseline_refuses_a_method_without_twin_in_one_line(corpus, tmp_path):
    cmd = [sys.executable, str(REPO / "scripts" / "hf_baseline.py"), "--save-dir", str(tmp_path), "--",
           *argv_of(corpus, "lora")[:-2], "--peft", "adapter"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("hf_baseline.py: error: --peft adapter: peft has no")


def test_hf_baseline_trains_and_reports_the_best_checkpoint(corpus, tmp_path):
    import json

    argv = argv_of(corpus, "lora")[:-2]
    argv[argv.index("--max-update") + 1] = "20"
    argv[argv.index("--total-num-update") + 1] = "20"
    cmd = [sys.executable, str(REPO / "scripts" / "hf_baseline.py"), "--save-dir", str(tmp_path), "--", *argv,
           "--validate-interval-updates", "10", "--save-interval-updates", "10"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "hf_result.json").read_text())
    assert result["updates"] == 20 and result["best_updates"] in (10, 20)
    assert 50 < result["dev"]["accuracy"] <= 100 and result["test"] is None
    assert result["hf"]["start_logit_difference"] < 1e-5
    assert (tmp_path / "checkpoint_best").is_dir() and not list(tmp_path.glob("checkpoint-*"))
    assert proc.stdout.count("| INFO | valid | hf |") >= 2


def test_ties_keep_the_later_checkpoint_as_fairseq_does():
    import numpy as np
    from transformers.trainer_utils import EvalPrediction

    from peft_roberta.hf.train import compute_metrics_for

    class State:
        global_step = 0

    holder = {"trainer": type("T", (), {"state": State()})()}
    compute = compute_metrics_for(2, holder)
    prediction = EvalPrediction(predictions=np.array([[0.0, 1.0], [1.0, 0.0]]), label_ids=np.array([1, 1]))
    early = compute(prediction)["selection"]
    State.global_step = 50
    late = compute(prediction)["selection"]
    assert late > early and late - early < 1e-6
