"""Data-parallel training through torchrun and fairseq's own DDP, on CPU (gloo).

The central check: 2 processes x batch 8 train the same weights as 1 process x batch 16. With
dropout 0 and the batches in their fixed order (``--curriculum``: fairseq does not shuffle the
batches of the first epochs), update k sees the same 16 sentences either way, split over the
two processes, so the weights agree to float rounding (measured: max |difference| 1.6e-6 for
MiniLM + LoRA after 60 updates; 2.5e-5 for the tiny model here after 30 full fine-tuning updates
of lr 3e-3, Adam magnifying rounding in its first steps). What remains in a default
run is the order of the batches (fairseq shuffles the list of 8-sentence batches, not of
16-sentence ones) and dropout (every rank seeds its dropout with seed + update number, as one
process does, but draws masks for its own 8 sentences): both are noise of the size of a seed
change (see README, "Several GPUs or nodes").
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, SHARED, TINY_SHAPE, build_model, write_dictionaries

from fairseq_plugins import distributed
from fairseq_plugins.checkpoints.safety import safe_load

TORCHRUN_ENV = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def test_torchrun_environment_becomes_fairseq_options():
    args = distributed.distributed_arguments(["data", "--lr", "1e-3"], TORCHRUN_ENV, cpu=True)
    assert args[:3] == ["data", "--lr", "1e-3"]
    options = " ".join(args[3:])
    for expected in ("--distributed-init-method env://", "--distributed-world-size 2", "--distributed-rank 1",
                     "--device-id 1", "--distributed-no-spawn", "--load-checkpoint-on-all-dp-ranks",
                     "--distributed-backend gloo", "--cpu"):
        assert expected in options
    on_gpu = distributed.distributed_arguments(["data"], TORCHRUN_ENV, cpu=False)
    assert "nccl" in on_gpu and "--cpu" not in on_gpu
    chosen = distributed.distributed_arguments(["data", "--distributed-backend", "gloo"], TORCHRUN_ENV, cpu=False)
    assert chosen.count("--distributed-backend") == 1
    with pytest.raises(SystemExit, match="RANK, WORLD_SIZE not set: start this module with torchrun"):
        distributed.distributed_arguments(["data"], {}, cpu=True)


@pytest.mark.parametrize("peft", ["lora", "bitfit"])
def test_only_trained_parameters_go_into_ddp_buckets(tmp_path, peft):
    """fairseq's pytorch_ddp wrapper (device ids and all) around a PEFT model on CPU."""
    from fairseq.models import distributed_fairseq_model

    data = write_dictionaries(tmp_path / "dicts", vocab_size=60)
    model, _, cfg = build_model(data, "--arch", "roberta_peft", *TINY_SHAPE, "--peft", peft)
    distributed.allow_cpu_ddp()
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        wrapped = distributed_fairseq_model.DistributedFairseqModel(
            cfg.distributed_training, model, process_group=torch.distributed.group.WORLD, device=torch.device("cpu"))
        ddp = wrapped.module
        assert ddp.device_ids is None  # fairseq passed device_ids=[0]; a CPU module takes none
        bucketed = {id(p) for p in ddp._build_params_for_reducer()[0]}
    finally:
        torch.distributed.destroy_process_group()
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert bucketed == {id(p) for name, p in model.named_parameters() if name in trained}
    assert trained and len(trained) < len(dict(model.named_parameters()))
    assert not any(name.startswith("encoder.lm_head.") for name in trained)  # so no unused trained parameter


@pytest.fixture(scope="module")
def data_bin(corpus, tmp_path_factory):
    """The synthetic binary task, with the labels.json that run_experiment.py reads."""
    data = tmp_path_factory.mktemp("dist") / "data-bin"
    shutil.copytree(corpus["finetune_bin"], data)
    (data / "labels.json").write_text(json.dumps({"classes": ["neg", "pos"]}))
    return data


def run_experiment(data_bin, work, name, processes, batch, *extra):
    """One run through scripts/run_experiment.py, from a grid point written as recipe_plan.py writes one."""
    options = ["--batch-size", str(batch), "--required-batch-size-multiple", "1", "--max-update", "30",
               "--optimizer", "adam", "--lr", "3e-3", "--lr-scheduler", "polynomial_decay", "--total-num-update", "30",
               "--warmup-updates", "2", "--weight-decay", "0.01", "--log-interval", "4", *extra]
    point = {"recipe": "dist", "task": "synthetic", "method": "full", "model": "tiny", "model_dir": None,
             "train_args": ["--arch", "roberta_peft", *TINY_SHAPE], "data_bin": str(data_bin), "num_classes": 2,
             "profile": "quick", "precision": "fp32", "label": "", "config": {"batch": batch * processes},
             "fairseq_options": options, "results": str(work / f"{name}.jsonl"), "checkpoints": str(work / name),
             "distributed": {"processes": processes, "nproc_per_node": processes, "nnodes": 1, "node_rank": 0,
                             "master_addr": None, "master_port": None},
             "data_fingerprint": "synthetic", "model_fingerprint": {"digest": "tiny"},
             "splits": {"dev": {"examples": 300, "chose": "the best checkpoint"}, "test": None}}
    (work / f"{name}.point.json").write_text(json.dumps(point))
    cmd = [sys.executable, str(REPO / "scripts" / "run_experiment.py"), "--point", str(work / f"{name}.point.json"),
           "--init", "random", "--seed", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=work)
    assert proc.returncode == 0, proc.stdout[-4000:]
    (row,) = [json.loads(line) for line in (work / f"{name}.jsonl").read_text().splitlines()]
    return row, safe_load(Path(row["save_dir"]) / "checkpoint_best.pt")["model"], proc.stdout


def test_two_processes_train_what_one_process_trains(data_bin, tmp_path):
    fixed = ["--dropout", "0", "--attention-dropout", "0", "--curriculum", "1000"]
    one, one_weights, _ = run_experiment(data_bin, tmp_path, "one", 1, 16, *fixed)
    two, two_weights, log = run_experiment(data_bin, tmp_path, "two", 2, 8, *fixed)

    assert "torch.distributed.run --nproc-per-node 2 --standalone -m fairseq_plugins.distributed" in two["command"]
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert "| INFO | train_inner |" in log and "bsz=16" in log  # fairseq's progress, 2 x 8 sentences an update
    assert one["updates"] == two["updates"] == 30 and one["dev_accuracy"] > 90  # it learned the task
    trained = [name for name in one_weights if name.startswith(("encoder.sentence_encoder", "classification_heads"))]
    worst = max((one_weights[n].float() - two_weights[n].float()).abs().max().item() for n in trained)
    assert worst < 1e-4, worst  # measured 2.5e-5, after 30 Adam steps of lr 3e-3
    for metric in ("dev_accuracy", "dev_f1", "dev_macro_f1"):
        assert one[metric] == two[metric]


@pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")
def test_recipe_with_two_processes_splits_the_total_batch(tmp_path):
    env = {**os.environ, "WORK_DIR": str(tmp_path), "MAX_TRAIN": "200", "MAX_UPDATES": "4", "SEEDS": "1",
           "WORKERS": "1", "PROFILE": "quick", "MODEL": "bert-tiny", "INITS": "random", "NPROCS": "2",
           "BATCH": "16", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    odd = subprocess.run(["bash", str(REPO / "recipes" / "sst2_bitfit.sh")], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env={**env, "NPROCS": "3"})
    assert odd.returncode == 2 and "BATCH=16 does not split over 3 processes" in odd.stdout
    proc = subprocess.run(["bash", str(REPO / "recipes" / "sst2_bitfit.sh")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    (row,) = [json.loads(line) for line in (tmp_path / "results" / "sst2_bitfit" / "runs.jsonl").read_text().splitlines()]
    assert row["world_size"] == 2 and row["config"]["batch"] == 16 and row["updates"] == 4
    assert "--nproc-per-node 2" in row["command"] and "--batch-size 8 " in row["command"]
    assert re.search(r"\|\s*sst2\s*\|\s*bert-tiny\s*\|\s*bitfit\s*\|\s*random\s*\|\s*fairseq\s*\|", proc.stdout)
