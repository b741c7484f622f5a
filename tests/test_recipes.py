"""The recipes end to end at a tiny scale, on the real data of ../shared/data.

Each run is a real fairseq-train (a few updates on a few hundred examples) from the real default
model; the outputs go to a temporary WORK_DIR.
"""
import json
import os
import re
import shutil
import subprocess

import pytest
from conftest import REPO, SHARED

pytestmark = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")

TINY = {"MAX_TRAIN": "200", "MAX_UPDATES": "4", "SEEDS": "1", "WORKERS": "1", "PROFILE": "quick"}


def run_recipe(recipe, work_dir, check=True, **env):
    full_env = {**os.environ, **TINY, "WORK_DIR": str(work_dir), "PYTHONWARNINGS": "ignore", **env}
    proc = subprocess.run(["bash", str(REPO / "recipes" / recipe)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=full_env, cwd=work_dir)
    if check and proc.returncode != 0:
        raise AssertionError(f"{recipe} failed ({proc.returncode}):\n{proc.stdout[-4000:]}")
    return proc


def rows(work_dir, recipe):
    path = work_dir / "results" / recipe / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def sst2(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("sst2")
    return work_dir, run_recipe("sst2_lora.sh", work_dir)


def test_single_sentence_recipe_runs_pretrained_and_random(sst2):
    work_dir, proc = sst2
    results = rows(work_dir, "sst2_lora")
    assert sorted(r["init"] for r in results) == ["pretrained", "random"]
    for row in results:
        assert row["task"] == "sst2" and row["method"] == "lora" and row["model"] == "minilm"
        assert row["impl"] == "fairseq" and row["seed"] == 1 and row["updates"] == 4
        assert 0 <= row["dev_accuracy"] <= 100 and row["test_accuracy"] is None
        assert {"dev_f1", "dev_mcc", "dev_macro_f1", "wall_s", "peak_rss_mb", "command"} <= row.keys()
        assert 0 < row["trainable_params"] < row["total_params"]
    assert "| INFO | train_inner |" in proc.stdout or "| INFO | valid |" in proc.stdout  # fairseq's progress
    assert proc.stdout.count("[sst2_lora] fairseq ") == 2  # one line per finished run
    assert re.search(r"\|\s*sst2\s*\|\s*minilm\s*\|\s*lora\s*\|\s*pretrained\s*\|\s*fairseq\s*\|", proc.stdout)
    labels = json.loads(next((work_dir / "data-bin").glob("sst2-200.*/labels.json")).read_text())
    assert labels["classes"] == ["0", "1"]


def test_rerun_skips_finished_runs_and_reuses_the_data(sst2):
    work_dir, _ = sst2
    again = run_recipe("sst2_lora.sh", work_dir)
    assert "up to date, skipping" in again.stdout
    assert again.stdout.count("already in") == 2
    assert len(rows(work_dir, "sst2_lora")) == 2


def test_tensorboard_logs_every_run_and_is_not_part_of_its_identity(sst2, tmp_path):
    work_dir, _ = sst2
    board = tmp_path / "board"
    again = run_recipe("sst2_lora.sh", work_dir, TENSORBOARD=str(board))
    assert again.stdout.count("already in") == 2  # logging somewhere else is the same run
    run_recipe("sst2_lora.sh", work_dir, TENSORBOARD=str(board), INITS="random", SEEDS="5", BASELINE="hf")
    logs = list((board / "sst2_lora").rglob("events.out.tfevents.*"))
    runs = {path.relative_to(board / "sst2_lora").parts[0] for path in logs}
    assert {run.split(".")[0] for run in runs} == {"fairseq", "hf"}
    assert all(".random.seed5." in run for run in runs)


def test_a_changed_input_rebuilds_the_data(sst2, tmp_path):
    work_dir, _ = sst2
    data = tmp_path / "SST-2"
    shutil.copytree(SHARED / "data" / "glue" / "SST-2", data)
    with open(data / "dev.tsv", "a") as f:
        f.write("a brand new dev sentence\t1\n")
    proc = run_recipe("sst2_lora.sh", work_dir, DATA_DIR=str(data), INITS="random", SEEDS="2")
    assert "up to date" not in proc.stdout and "binarized" in proc.stdout


def test_pair_recipe_with_a_labelled_test(tmp_path):
    run_recipe("mrpc_lora.sh", tmp_path, INITS="pretrained")
    (row,) = rows(tmp_path, "mrpc_lora")
    assert row["task"] == "mrpc" and row["test_accuracy"] is not None
    assert row["dev_f1"] is not None and row["test_f1"] is not None
    data_bin = next(p for p in (tmp_path / "data-bin").glob("mrpc-200.*") if p.is_dir())
    assert (data_bin / "input1" / "train.bin").is_file()


def test_custom_recipe_with_three_classes(tmp_path):
    restaurant = SHARED / "data" / "dsp" / "restaurant_sup"
    run_recipe("custom.sh", tmp_path, TASK="restaurant_custom", TRAIN=str(restaurant / "train.jsonl"),
               DEV=str(restaurant / "dev.jsonl"), TEST=str(restaurant / "test.jsonl"), TEXT_COLUMNS="aspect,text",
               LABEL_COLUMN="label", METHOD="bitfit", INITS="pretrained")
    (row,) = rows(tmp_path, "custom")
    assert row["task"] == "restaurant_custom" and row["method"] == "bitfit"
    assert row["dev_macro_f1"] is not None and "dev_f1" not in row
    labels = json.loads(next((tmp_path / "data-bin").glob("restaurant_custom-200.*/labels.json")).read_text())
    assert labels["classes"] == ["negative", "neutral", "positive"]


@pytest.mark.parametrize("env,message", [
    ({"METHOD": "prefx"}, "METHOD=prefx"),
    ({"SEEDS": "1 two"}, "'two' is not a non-negative integer"),
    ({"INITS": "pretrained randm"}, "'randm' is neither pretrained nor random"),
    ({"PROFILE": "fast"}, "PROFILE=fast"),
    ({"PRECISION": "fp16"}, "PRECISION=fp16"),
    ({"GRID": "lr=1e-3 rank=4"}, "GRID: 'rank=4'"),
    ({"MODEL": "no-such-model"}, "MODEL=no-such-model"),
])
def test_bad_options_stop_before_training(tmp_path, env, message):
    proc = run_recipe("sst2_lora.sh", tmp_path, check=False, **env)
    assert proc.returncode == 2
    assert message in proc.stdout and "Traceback" not in proc.stdout
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "results").exists()
