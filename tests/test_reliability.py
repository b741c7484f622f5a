"""Interrupted runs, determinism, concurrent recipes and bad model input, at a tiny scale on real data."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, SHARED, run_dir
from test_recipes import TINY, rows, run_recipe

from fairseq_plugins.checkpoints.safety import safe_load

pytestmark = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")

# 12 updates, validated and saved every 2: enough checkpoints to kill a run between two of them
RESUMABLE = {"MAX_UPDATES": "12", "VALIDATIONS": "4", "INITS": "pretrained"}


def best_weights(work_dir, seed):
    state = safe_load(run_dir(work_dir, "sst2_lora", seed=seed) / "checkpoint_best.pt")["model"]
    return {k: v for k, v in state.items() if "lora_" in k or k.startswith("classification_heads")}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Seeds 1 and 2, uninterrupted."""
    work_dir = tmp_path_factory.mktemp("straight")
    run_recipe("sst2_lora.sh", work_dir, SEEDS="1 2", **RESUMABLE)
    return work_dir


def test_same_seed_same_result_and_other_seeds_differ(straight, tmp_path):
    run_recipe("sst2_lora.sh", tmp_path, SEEDS="1", **RESUMABLE)
    (again,) = rows(tmp_path, "sst2_lora")
    first = {r["seed"]: r for r in rows(straight, "sst2_lora")}
    metrics = [k for k in again if k.startswith("dev_")]
    assert {k: again[k] for k in metrics} == {k: first[1][k] for k in metrics}
    same = best_weights(straight, 1), best_weights(tmp_path, 1)
    assert all(torch.equal(same[0][k], same[1][k]) for k in same[0])
    other = best_weights(straight, 2)
    assert not all(torch.equal(same[0][k], other[k]) for k in same[0])


def test_killed_run_resumes_to_the_same_result(straight, tmp_path):
    env = {**os.environ, **TINY, **RESUMABLE, "SEEDS": "1", "WORK_DIR": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(["bash", str(REPO / "recipes" / "sst2_lora.sh")], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    logs = lambda: list((tmp_path / "checkpoints" / "sst2_lora").glob("fairseq.pretrained.seed1.*/train.log"))  # noqa: E731
    while time.time() < deadline and not any("num_updates 6" in log.read_text() for log in logs()):
        time.sleep(0.2)
    (log,) = logs()
    os.killpg(proc.pid, signal.SIGKILL)  # the recipe, run_experiment and fairseq-train at once
    proc.wait()
    assert not (tmp_path / "results" / "sst2_lora" / "runs.jsonl").exists(), "killed before the run ended"
    resumed = run_recipe("sst2_lora.sh", tmp_path, SEEDS="1", **RESUMABLE)
    assert "already in" not in resumed.stdout
    assert "Loaded checkpoint" in log.read_text().split("$ ")[-1]  # the second attempt resumed
    (row,) = rows(tmp_path, "sst2_lora")
    reference = next(r for r in rows(straight, "sst2_lora") if r["seed"] == 1)
    assert row["dev_accuracy"] == reference["dev_accuracy"] and row["updates"] == reference["updates"] == 12
    ours, theirs = best_weights(tmp_path, 1), best_weights(straight, 1)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_concurrent_recipes_share_data_and_results(tmp_path):
    env = {**os.environ, **TINY, "INITS": "random", "WORK_DIR": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen(["bash", str(REPO / "recipes" / recipe)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for recipe in ("sst2_lora.sh", "sst2_lora.sh", "sst2_bitfit.sh")]
    outputs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    lora = rows(tmp_path, "sst2_lora")
    assert len(lora) == 1 and len(rows(tmp_path, "sst2_bitfit")) == 1
    assert sum("already in" in out for out in outputs[:2]) == 1  # the second sst2_lora waited, then skipped
    data_bins = [p for p in (tmp_path / "data-bin").iterdir() if p.is_dir()]
    assert len(data_bins) == 1 and json.loads((data_bins[0] / "fingerprint.json").read_text())
    assert not [p for p in (tmp_path / "data-bin").iterdir() if ".tmp" in p.name]


def model_dir_from_minilm(tmp_path, truncate=False, drop_dict_lines=0):
    """A copy of the default model directory, with its model.pt cut short or its dict.txt shortened."""
    minilm = Path(subprocess.run([sys.executable, str(REPO / "scripts" / "get_model.py"), "minilm"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    target = tmp_path / "model"
    target.mkdir()
    for name in ("model_info.json", "vocab.txt"):
        shutil.copyfile(minilm / name, target / name)
    weights = (minilm / "model.pt").read_bytes()
    (target / "model.pt").write_bytes(weights[: len(weights) // 3] if truncate else weights)
    lines = (minilm / "dict.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (target / "dict.txt").write_text("".join(lines[: len(lines) - drop_dict_lines]), encoding="utf-8")
    return target


@pytest.mark.parametrize("problem,message", [
    ({"truncate": True}, "truncated or not a torch checkpoint"),
    ({"drop_dict_lines": 3}, "the dictionary is not the model's"),
])
def test_bad_model_directory_is_refused_in_one_line(tmp_path, problem, message):
    model = model_dir_from_minilm(tmp_path, **problem)
    proc = run_recipe("sst2_lora.sh", tmp_path, check=False, MODEL=str(model))
    assert proc.returncode == 2 and message in proc.stdout
    assert "Traceback" not in proc.stdout and not (tmp_path / "checkpoints").exists()


def test_missing_data_directory_is_refused(tmp_path):
    proc = run_recipe("sst2_lora.sh", tmp_path, check=False, DATA_DIR=str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "DATA_DIR=" in proc.stdout and "no such directory" in proc.stdout
