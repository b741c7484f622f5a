"""Tests for scripts/aggregate_seeds.py and the package it runs (peft_roberta.analysis)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from peft_roberta.analysis.aggregate import aggregate
from peft_roberta.analysis.load import load_runs
from peft_roberta.analysis.sweeps import sweep_grid

from conftest import load_script  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"




main = load_script("aggregate_seeds").main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OUTPUTS = ("summary.csv", "comparisons.csv", "sweep_best.csv", "summary.md", "summary.png")


def run(seed, dev, test=None, init="pretrained", impl="fairseq", task="sst2",
        method="lora", config=None, **extra):
    row = {"task": task, "method": method, "model": "roberta.base", "init": init,
           "seed": seed, "impl": impl, "dev_accuracy": dev, "test_accuracy": test,
           "trainable_params": 1000, "wall_s": 1.5, "peak_rss_mb": 900.0, "command": "x"}
    if config is not None:
        row["config"] = config
    row.update(extra)
    return row


def write_runs(path, rows, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def stat(summary, metric, **group):
    mask = summary["metric"] == metric
    for key, value in group.items():
        mask &= summary[key] == value
    assert mask.sum() == 1, (metric, group)
    return summary[mask].iloc[0]


def welch_p(a, b):
    """Welch's two-sided p-value from the textbook formulas."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    return t, 2 * stats.t.sf(abs(t), df)


PRETRAINED = [80.0, 82.0, 84.0]
RANDOM = [70.0, 71.0, 75.0, 73.0]


@pytest.fixture
def basic_runs(tmp_path):
    rows = [run(s, d, test=t) for s, d, t in zip([1, 2, 3], PRETRAINED, [70.0, None, 74.0])]
    rows += [run(s, d, init="random") for s, d in zip([1, 2, 3, 4], RANDOM)]
    rows.append(run(1, 90.0, impl="hf"))  # a single hf run: n = 1
    rows[0]["dev_f1"] = 60.0
    del rows[1]["test_accuracy"]  # absent, not just null
    return write_runs(tmp_path / "runs.jsonl", rows)


def test_known_mean_std_ci(basic_runs):
    summary = aggregate(load_runs([basic_runs]))
    dev = stat(summary, "dev_accuracy", init="pretrained", impl="fairseq")
    half = stats.t.ppf(0.975, 2) * 2 / math.sqrt(3)
    assert dev["n"] == 3 and dev["mean"] == pytest.approx(82)
    assert dev["std"] == pytest.approx(2)
    assert (dev["min"], dev["max"]) == (80, 84)
    assert dev["ci95_low"] == pytest.approx(82 - half)
    assert dev["ci95_high"] == pytest.approx(82 + half)
    random_dev = stat(summary, "dev_accuracy", init="random")
    assert random_dev["std"] == pytest.approx(np.std(RANDOM, ddof=1))


def test_missing_metrics_counted_per_metric(basic_runs):
    summary = aggregate(load_runs([basic_runs]))
    test = stat(summary, "test_accuracy", init="pretrained", impl="fairseq")
    assert test["n"] == 2 and test["mean"] == pytest.approx(72)
    assert test["std"] == pytest.approx(math.sqrt(8))
    f1 = stat(summary, "dev_f1", init="pretrained", impl="fairseq")
    assert f1["n"] == 1
    # groups where a metric never appears get no row for it
    assert not ((summary["metric"] == "test_accuracy") & (summary["init"] == "random")).any()


def test_single_run_group_is_shown(basic_runs):
    summary = aggregate(load_runs([basic_runs]))
    single = stat(summary, "dev_accuracy", impl="hf")
    assert single["n"] == 1 and single["mean"] == 90
    assert math.isnan(single["std"]) and math.isnan(single["ci95_low"])


def test_cli_outputs_and_welch(basic_runs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(basic_runs), "--out-dir", str(out)]) == 0
    markdown = capsys.readouterr().out
    assert markdown.strip() == (out / "summary.md").read_text().strip()
    assert "82.00 ± 2.00 (3)" in markdown
    assert "90.00 (1)" in markdown

    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    for column in ("task", "model", "method", "init", "impl", "config", "metric", "n", "mean",
                   "std", "min", "max", "ci95_low", "ci95_high"):
        assert column in summary.columns
    single = summary[(summary["impl"] == "hf") & (summary["metric"] == "dev_accuracy")].iloc[0]
    assert single["std"] == "" and single["ci95_low"] == ""  # blank, not a number

    comparisons = pd.read_csv(out / "comparisons.csv")
    init_dev = comparisons[(comparisons["comparison"].str.startswith("init"))
                           & (comparisons["metric"] == "dev_accuracy")].iloc[0]
    t, p = welch_p(PRETRAINED, RANDOM)
    assert init_dev["t"] == pytest.approx(t)
    assert init_dev["p"] == pytest.approx(p)
    assert init_dev["diff"] == pytest.approx(np.mean(PRETRAINED) - np.mean(RANDOM))
    # fairseq (n=3) vs hf (n=1): shown, but no test
    impl_dev = comparisons[(comparisons["comparison"].str.startswith("impl"))
                           & (comparisons["metric"] == "dev_accuracy")].iloc[0]
    assert impl_dev["n_b"] == 1 and math.isnan(impl_dev["p"])
    assert impl_dev["mean_b"] == 90

    for name in OUTPUTS:
        assert (out / name).exists(), name
    assert (out / "summary.png").read_bytes()[:8] == PNG_MAGIC
    assert matplotlib.image.imread(out / "summary.png").ndim == 3
    assert not list(out.glob("*.tmp"))
    # no sweep in this input: header-only sweep_best.csv
    assert pd.read_csv(out / "sweep_best.csv").empty


def sweep_rows():
    """lr x lora_r x batch sweep; lr=1e-3 r=8 batch=16 wins on dev, lr=1e-4 r=4 wins on test."""
    rows = []
    for lr in (1e-4, 3e-4, 1e-3):
        for r in (4, 8):
            for batch in (16, 32):
                dev = 70 + lr * 1e4 + (r == 8) - (batch == 32)
                test = 60 + (95 - 60) * (lr == 1e-4 and r == 4)
                for seed, noise in zip((1, 2), (-0.5, 0.5)):
                    rows.append(run(seed, dev + noise, test=test, task="rte",
                                    config={"lr": lr, "lora_r": r, "batch": batch}))
    return rows


def test_sweep_selects_on_dev_never_test(tmp_path, capsys):
    runs = write_runs(tmp_path / "sweep.jsonl", sweep_rows())
    out = tmp_path / "out"
    assert main([str(runs), "--out-dir", str(out)]) == 0
    markdown = capsys.readouterr().out
    best = pd.read_csv(out / "sweep_best.csv")
    assert len(best) == 1
    row = best.iloc[0]
    assert row["best_config"] == "batch=16 lora_r=8 lr=0.001"
    assert row["n_configs"] == 12
    assert row["select_mean"] == pytest.approx(70 + 10 + 1)
    assert row["test_mean"] == pytest.approx(60)  # the chosen config's test, not the best test
    assert "## Best configuration per sweep" in markdown
    assert "### Grid: rte / roberta.base / lora / pretrained / fairseq" in markdown
    png = out / "sweep_rte_roberta.base_lora_pretrained_fairseq.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert matplotlib.image.imread(png).shape[0] > 50


def test_sweep_ties_broken_by_std_then_name(tmp_path, capsys):
    # lr=1, 2, 3, 5 all have mean 80; std: sqrt(8), sqrt(2), 0, 0.
    # lr=4 has the best test by far but a poor dev score.
    rows = [run(1, 78, config={"lr": 1}), run(2, 82, config={"lr": 1}),
            run(1, 79, config={"lr": 2}), run(2, 81, config={"lr": 2}),
            run(1, 80, config={"lr": 5}), run(2, 80, config={"lr": 5}),
            run(1, 80, config={"lr": 3}), run(2, 80, config={"lr": 3}),
            run(1, 70, test=99, config={"lr": 4})]
    runs = write_runs(tmp_path / "tie.jsonl", rows)
    out = tmp_path / "out"
    assert main([str(runs), "--out-dir", str(out)]) == 0
    capsys.readouterr()
    best = pd.read_csv(out / "sweep_best.csv").iloc[0]
    assert best["best_config"] == "lr=3"  # std 0, and "lr=3" < "lr=5"
    assert best["runner_up_config"] == "lr=5"
    png = out / "sweep_sst2_roberta.base_lora_pretrained_fairseq.png"
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_sweep_grid_layout_fixes_extra_keys_at_best(tmp_path):
    rows = load_runs([write_runs(tmp_path / "sweep.jsonl", sweep_rows())])
    summary = aggregate(rows)
    grid = summary[summary["metric"] == "dev_accuracy"][["config", "mean", "std", "n"]]
    params = dict(zip(rows["config"], rows["_config_params"]))
    layout = sweep_grid(grid, params, "batch=16 lora_r=8 lr=0.001")
    # lr has 3 values -> x; batch and lora_r have 2 -> batch (by name) on y; lora_r fixed at 8
    assert layout["x_key"] == "lr" and layout["y_key"] == "batch"
    assert layout["fixed"] == {"lora_r": 8}
    expected = np.array([[70 + lr * 1e4 + 1 - (batch == 32) for lr in (1e-4, 3e-4, 1e-3)]
                         for batch in (16, 32)])
    np.testing.assert_allclose(layout["means"], expected)
    assert layout["best_cell"] == (0, 2)

    one_key = grid[grid["config"].str.startswith("batch=16 lora_r=8")]
    layout = sweep_grid(one_key, params, "batch=16 lora_r=8 lr=0.001")
    assert layout["y_key"] is None and layout["means"].shape == (1, 3)


def test_truncated_last_line_is_skipped_with_warning(tmp_path):
    rows = [run(1, 80.0), run(2, 82.0)]
    runs = write_runs(tmp_path / "runs.jsonl", rows, tail='{"task": "sst2", "met')
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPTS / "aggregate_seeds.py"), str(runs),
                           "--out-dir", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if "truncated" in line]
    assert len(warning) == 1 and f"{runs}:3" in warning[0]
    summary = pd.read_csv(out / "summary.csv")
    assert stat(summary, "dev_accuracy")["n"] == 2
    assert "81.00 ± 1.41 (2)" in done.stdout


def test_malformed_middle_line_writes_nothing(tmp_path):
    runs = tmp_path / "runs.jsonl"
    runs.write_text(json.dumps(run(1, 80.0)) + "\n{oops\n" + json.dumps(run(2, 82.0)) + "\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPTS / "aggregate_seeds.py"), str(runs),
                           "--out-dir", str(out)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{runs}:2" in lines[0]
    assert not out.exists() or not any(out.iterdir())


def one_line_error(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    missing = tmp_path / "nope.jsonl"
    assert str(missing) in one_line_error(capsys, [str(missing), "--out-dir", out])

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert "no runs" in one_line_error(capsys, [str(empty), "--out-dir", out])

    no_impl = run(1, 80.0)
    del no_impl["impl"]
    keyless = write_runs(tmp_path / "keyless.jsonl", [run(2, 81.0), no_impl])
    message = one_line_error(capsys, [str(keyless), "--out-dir", out])
    assert f"{keyless}:2" in message and "impl" in message

    text_metric = write_runs(tmp_path / "text.jsonl", [run(1, 80.0), run(2, "81")])
    assert f"{text_metric}:2" in one_line_error(capsys, [str(text_metric), "--out-dir", out])

    good = write_runs(tmp_path / "good.jsonl", [run(1, 80.0)])
    message = one_line_error(capsys, [str(good), "--out-dir", out, "--select-metric",
                                      "test_accuracy"])
    assert "--select-metric" in message
    assert "--metrics" in one_line_error(capsys, [str(good), "--out-dir", out,
                                                  "--metrics", "no_such_field"])
    assert not Path(out).exists()


def test_help(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--select-metric" in out and "--out-dir" in out


def test_several_files_are_concatenated(tmp_path, capsys):
    first = write_runs(tmp_path / "a.jsonl", [run(1, 80.0), run(2, 84.0)])
    second = write_runs(tmp_path / "b.jsonl", [run(3, 88.0, updates=120)])
    out = tmp_path / "out"
    assert main([str(first), str(second), "--out-dir", str(out), "--metrics", "updates"]) == 0
    capsys.readouterr()
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    dev = stat(summary, "dev_accuracy")
    assert dev["n"] == 3 and float(dev["mean"]) == pytest.approx(84)
    assert dev["seeds"] == "1 2 3"
    assert stat(summary, "updates")["n"] == 1
    # rows without config get an empty config string
    assert set(summary["config"]) == {""}


def test_repeated_seed_is_warned_about(tmp_path, capsys):
    first = write_runs(tmp_path / "a.jsonl", [run(1, 80.0), run(2, 84.0)])
    rerun = write_runs(tmp_path / "b.jsonl", [run(2, 85.0), run(2, 85.0, init="random")])
    assert main([str(first), str(rerun), "--out-dir", str(tmp_path / "out")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "seed 2" in line]
    assert warnings == [f"warning: {rerun}:1: seed 2 repeats an earlier run of the same "
                        "group; both are counted"]


def test_analysis_imports_neither_fairseq_nor_torch():
    code = ("import sys; import peft_roberta.analysis.load, peft_roberta.analysis.aggregate, "
            "peft_roberta.analysis.sweeps, peft_roberta.analysis.plots, peft_roberta.analysis.summary, "
            "peft_roberta.analysis.outputs, peft_roberta.analysis.stats, peft_roberta.analysis.tables; "
            "assert 'fairseq' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
