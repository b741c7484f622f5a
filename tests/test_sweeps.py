"""Hyper-parameter grids: GRID in every recipe, one row per point x seed, skip on rerun, and the
aggregator's choice on dev with the test metric of the chosen configuration (real tiny runs of
recipes/sst2_bitfit_grid.sh, on the real SST-2 of ../shared/data)."""
import csv
import json
import os
import subprocess

import pytest
from conftest import REPO, SHARED

needs_data = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")
RECIPE = "sst2_bitfit_grid"


def test_grid_points_cover_the_product_and_any_hyperparameter():
    from peft_roberta.runs.recipe import parse_grid

    points = parse_grid("lr=1e-3,5e-4 lora_targets=q_proj|q_proj,v_proj adam_eps=1e-8", "lora")
    assert [label for label, _ in points] == [
        "lr=1e-3 lora_targets=q_proj adam_eps=1e-8", "lr=1e-3 lora_targets=q_proj,v_proj adam_eps=1e-8",
        "lr=5e-4 lora_targets=q_proj adam_eps=1e-8", "lr=5e-4 lora_targets=q_proj,v_proj adam_eps=1e-8"]
    assert points[1][1] == {"lr": 1e-3, "lora_targets": "q_proj,v_proj", "adam_eps": 1e-8}
    assert parse_grid("", "lora") == [("", {})]


def test_every_value_gives_valid_json_in_the_runs_config():
    """Values are parsed, not pasted into text: LR=.001 (once invalid JSON) is the number 0.001."""
    from peft_roberta.runs.plan import fairseq_options
    from peft_roberta.runs.recipe import parse_grid
    from peft_roberta.runs.settings import profile_defaults

    (_, point), = parse_grid("lr=.001", "lora")
    _, config = fairseq_options({**profile_defaults("quick", "sst2", "lora"), **point}, "lora", 1000, "fp32")
    assert json.loads(json.dumps(config))["lr"] == 0.001


@pytest.mark.parametrize("grid,message", [
    ("lr=1e-3 lr=5e-4", "GRID: 'lr' is given twice"),
    ("lora_r=1,4", "GRID: 'lora_r' only acts with METHOD=lora (METHOD=bitfit)"),
    ("max_train=100,200", "GRID: 'max_train=100,200' is not key=v1,v2,..."),
    ("lr=1e-3,abc", "GRID lr=abc: expected a positive number"),
])
def test_bad_grids_are_refused_in_one_line(grid, message):
    from peft_roberta.errors import UserError
    from peft_roberta.runs.recipe import parse_grid

    with pytest.raises(UserError) as refused:
        parse_grid(grid, "bitfit")
    assert message in str(refused.value) and "\n" not in str(refused.value)


def run_grid(work_dir):
    env = {**os.environ, "WORK_DIR": str(work_dir), "PROFILE": "quick", "METHOD": "bitfit", "MODEL": "bert-tiny",
           "INITS": "random", "GRID": "lr=3e-3,3e-5", "SEEDS": "1 2", "HELD_OUT": "100", "MAX_TRAIN": "200",
           "MAX_UPDATES": "4", "WORKERS": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(["bash", str(REPO / "recipes" / f"{RECIPE}.sh")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("sweep")
    first = run_grid(work_dir)
    again = run_grid(work_dir)
    rows = [json.loads(line) for line in (work_dir / "results" / RECIPE / "runs.jsonl").read_text().splitlines()]
    return work_dir, first, again, rows


@needs_data
def test_every_point_and_seed_writes_one_row(sweep):
    _, first, _, rows = sweep
    assert sorted((r["config"]["lr"], r["seed"]) for r in rows) == [(3e-05, 1), (3e-05, 2), (0.003, 1), (0.003, 2)]
    for row in rows:
        assert row["method"] == "bitfit" and row["model"] == "bert-tiny" and row["init"] == "random"
        assert row["config"]["head"] == "bias" and row["trainable_params"] == 3074  # report 002's BitFit count
        assert row["test_accuracy"] is not None and row["updates"] == 4
    assert first.stdout.count("[sst2_bitfit_grid] fairseq random seed") == 4


@needs_data
def test_rerun_skips_the_finished_points(sweep):
    _, _, again, rows = sweep
    assert again.stdout.count("already in") == 4 and len(rows) == 4
    assert "held-out test:" not in again.stdout  # the split is written once


@needs_data
def test_held_out_test_is_never_trained_on(sweep):
    work_dir = sweep[0]
    split = work_dir / "data-bin" / "sst2-heldout100.split"
    test = (split / "test.tsv").read_text().splitlines()[1:]
    train = (split / "train.tsv").read_text().splitlines()[1:]
    assert len(test) == 100
    assert not {line.split("\t")[0] for line in test} & {line.split("\t")[0] for line in train}
    stats = json.loads((split / "split.json").read_text())
    assert stats["train"] == len(train) and stats["dropped_phrases"] > 0
    (data_bin,) = [p for p in (work_dir / "data-bin").glob("sst2-heldout100-200.*") if p.is_dir()]
    assert len((data_bin / "examples" / "test.jsonl").read_text().splitlines()) == 100


@needs_data
def test_best_configuration_is_chosen_on_dev_and_reported_on_test(sweep):
    work_dir, first, _, rows = sweep
    out = work_dir / "results" / RECIPE
    (best,) = list(csv.DictReader((out / "sweep_best.csv").open()))
    assert best["n_configs"] == "2" and best["select_metric"] == "dev_accuracy" and best["test_metric"] == "test_accuracy"
    by_config = {}
    for row in rows:
        by_config.setdefault(row["config"]["lr"], []).append(row)
    mean = {lr: (sum(r["dev_accuracy"] for r in runs) / 2, sum(r["test_accuracy"] for r in runs) / 2)
            for lr, runs in by_config.items()}
    chosen = 3e-3 if "lr=0.003" in best["best_config"] else 3e-5
    assert float(best["select_mean"]) == pytest.approx(max(dev for dev, _ in mean.values()))
    assert float(best["select_mean"]) == pytest.approx(mean[chosen][0])
    assert float(best["test_mean"]) == pytest.approx(mean[chosen][1]) and best["test_n"] == "2"
    summary = (out / "summary.md").read_text()
    assert "## Best configuration per sweep" in summary and "### Grid: sst2 / bert-tiny / bitfit / random / fairseq" in summary
    assert "lr=0.003" in summary and "lr=3e-05" in summary and "**(best)**" in summary
    assert "## Best configuration per sweep" in first.stdout
    heatmap = out / "sweep_sst2_bert-tiny_bitfit_random_fairseq.png"
    assert heatmap.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_axes_are_the_swept_settings():
    import pandas as pd

    from peft_roberta.analysis.load import canonical_config
    from peft_roberta.analysis.sweeps import sweep_grid

    params = {}
    for batch in (8, 16, 32):
        for lr in (3e-4, 1e-4):
            updates = 4 * (1000 // batch)  # 4 epochs of 1,000 sentences
            config = {"lr": lr, "batch": batch, "updates": updates, "warmup_updates": round(0.06 * updates)}
            params[canonical_config(config)] = config
    grid = pd.DataFrame({"config": list(params), "mean": range(len(params)), "std": 0.0, "n": 2})
    layout = sweep_grid(grid, params, grid["config"].iloc[-1])
    assert {layout["x_key"], layout["y_key"]} == {"batch", "lr"}
    assert not pd.isna(layout["means"]).any()
