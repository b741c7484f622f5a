"""The published pages are computed from runs.jsonl: the twin verdicts can say differ, agree and inconclusive."""
import json

import pytest

from peft_roberta.analysis.publish import twin_verdict, write_pages

BASE = {"recipe": "fairseq_vs_hf", "task": "sst2", "model": "minilm", "profile": "quick", "precision": "fp32",
        "machine": "test cpu", "date": "2026-11-30", "trainable_params": 10, "wall_s": 60.0}


def rows(method, fairseq, hf):
    out = []
    for impl, values in (("fairseq", fairseq), ("hf", hf)):
        for seed, value in enumerate(values, 1):
            out.append({**BASE, "run_id": f"{method}{impl}{seed}", "method": method, "init": "pretrained",
                        "impl": impl, "seed": seed, "dev_accuracy": value})
    return out


@pytest.fixture
def project(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# x\n<!-- results:begin -->\nold\n<!-- results:end -->\n")
    (tmp_path / "docs" / "hf_twin.md").write_text("<!-- fairseq-vs-hf:begin -->\n<!-- fairseq-vs-hf:end -->\n")
    return tmp_path


def test_twin_table_verdicts_and_readme_counts(project):
    results = project / "results" / "fairseq_vs_hf"
    results.mkdir(parents=True)
    lines = (rows("lora", [86.0, 86.1, 85.9, 86.05], [80.0, 80.2, 79.9, 80.1])  # clearly apart
             + rows("bitfit", [84.0, 84.1, 83.9, 84.05], [84.02, 84.08, 83.95, 84.0])  # within ±1
             + rows("ia3", [70.0, 80.0, 75.0], [72.0, 78.0, 76.0]))  # too noisy to tell
    results.joinpath("runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert write_pages(project, project) == 1
    twin = (project / "docs" / "hf_twin.md").read_text()
    by_method = {line.split("|")[2].strip(): line for line in twin.splitlines() if line.startswith("| sst2")}
    assert by_method["lora"].rstrip(" |").endswith("differ")
    assert "agree within ±1" in by_method["bitfit"]
    assert by_method["ia3"].rstrip(" |").endswith("inconclusive")
    readme = (project / "README.md").read_text()
    assert "old" not in readme
    assert "1 differ, 1 agree within ±1 point, 1 inconclusive" in readme
    assert "test cpu" in twin and "summed over the runs: 22 min (fairseq 11 min, median run 60 s, hf 11 min, median run 60 s)" in twin


def test_rows_without_machine_or_date_say_so(project):
    results = project / "results" / "sst2_lora"
    results.mkdir(parents=True)
    lines = [{k: v for k, v in row.items() if k not in ("machine", "date")} | {"recipe": "sst2_lora"}
             for row in rows("lora", [86.0, 86.2, 85.9], [])]
    results.joinpath("runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    write_pages(project, project)
    page = (project / "docs" / "results.md").read_text()
    assert "machine not recorded in these rows" in page and "date not recorded in these rows" in page


def test_nothing_run_leaves_a_pointer_not_numbers(project):
    assert write_pages(project, project) == 0
    assert "No results yet" in (project / "README.md").read_text()


def test_verdict_needs_a_test_not_a_gap():
    assert twin_verdict(float("nan"), float("nan")) == "inconclusive"
    assert twin_verdict(0.01, 0.9) == "differ"
    assert twin_verdict(0.5, 0.01).startswith("agree")


def test_methods_table_compares_every_method_with_lora(project):
    results = project / "results" / "sst2_methods"
    results.mkdir(parents=True)
    lines = [{**row, "recipe": "sst2_methods", "total_params": 1000, "dev_mcc": 50.0,
              "trainable_params": 10 if row["method"] == "lora" else 100}
             for row in rows("lora", [86.0, 86.2, 85.9], []) + rows("full", [90.0, 90.1, 89.9], [])]
    results.joinpath("runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    write_pages(project, project)
    table = (project / "docs" / "results.md").read_text()
    lora, full = (next(line for line in table.splitlines() if line.startswith(f"| {m} ")) for m in ("lora", "full"))
    assert "| 1.00 " in lora and "| 10.00 " in full  # % of the model
    assert "86.03 ± 0.15 (3)" in lora and lora.rstrip(" |").endswith("–")
    assert float(full.rstrip(" |").rsplit("|", 1)[1]) < 0.001  # 4 points apart over small spreads


def bench_row(impl, method, precision, epoch_s, rss, dim=384, fraction=0.6):
    return {"impl": impl, "method": method, "precision": precision, "epoch_s": epoch_s, "peak_rss_mb": rss,
            "shape": {"encoder_embed_dim": dim}, "matmul_peak_fraction": fraction, "achieved_gflops": 60.0,
            "matmul_peak_gflops": 100.0}


def test_benchmark_targets_are_computed_from_the_measurements(project):
    from peft_roberta.bench.page import targets

    def write(label, rows):
        folder = project / "results" / "benchmark" / label
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps(rows))
        (folder / "benchmark.md").write_text(f"table {label}\n")

    write("cpu", [bench_row("fairseq", "lora", "fp32", 100, 900, fraction=0.8), bench_row("hf-tuned", "lora", "fp32", 150, 900),
                  bench_row("fairseq", "lora", "bf16", 40, 900), bench_row("hf-tuned", "lora", "bf16", 100, 900)])
    write("roberta-base", [bench_row("fairseq", "lora", "fp32", 1, 3000, 768), bench_row("fairseq", "full", "fp32", 1, 4000, 768)])
    curves = project / "results" / "time_to_accuracy"
    curves.mkdir(parents=True)
    (curves / "time_to_accuracy.json").write_text(json.dumps({"settings": {"target": 85, "precision": "bf16"}, "curves": [
        {"impl": "fairseq", "method": "lora", "reached": {"train_s": 50}},
        {"impl": "hf-tuned", "method": "lora", "reached": None}]}))
    epoch, accuracy, matmul, memory = targets(project)
    assert epoch[2] == pytest.approx(0.4) and epoch[4] is True and "bf16" in epoch[3]  # bf16 preferred
    assert accuracy[2] is None and accuracy[4] is None and "HF tuned did not reach 85%" in accuracy[3]
    assert matmul[2] == pytest.approx(0.8) and matmul[4] is True
    assert memory[2] == pytest.approx(0.75) and memory[4] is False
    from peft_roberta.bench.page import write_benchmark_page

    write_pages(project, project, write_benchmark_page(project, project))
    page = (project / "docs" / "benchmark.md").read_text()
    assert "table roberta-base" in page and "| missed" in page


def test_verdicts_use_p_values_adjusted_for_the_tables_pairs():
    import math

    from peft_roberta.analysis.stats import adjusted

    raw = [0.036, 0.42, 0.29, 0.93, 0.34, 0.3, float("nan")]
    q = adjusted(raw)
    assert q[0] == pytest.approx(0.036 * 6) and math.isnan(q[-1])  # the smallest of 6: times 6
    assert all(b >= a for a, b in zip(raw[:-1], q[:-1]))
    assert twin_verdict(raw[0], 0.5) == "differ" and twin_verdict(q[0], 0.5) == "inconclusive"


def test_runs_of_another_setting_are_shown_apart_never_pooled(project):
    """An earlier setting's runs left in runs.jsonl (max_positions=256) get their own line, named by
    the setting that differs; the pair of the later setting is judged on its own runs only."""
    results = project / "results" / "fairseq_vs_hf"
    results.mkdir(parents=True)
    old = [{**r, "config": {"lr": 1e-5, "max_positions": 256}, "run_id": "old" + r["run_id"]}
           for r in rows("full", [60.0], [])]
    new = [{**r, "config": {"lr": 1e-5, "max_positions": 128}}
           for r in rows("full", [86.0, 86.1, 85.9, 86.05], [80.0, 80.2, 79.9, 80.1])]
    results.joinpath("runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old + new))
    write_pages(project, project)
    twin = (project / "docs" / "hf_twin.md").read_text()
    line = next(line for line in twin.splitlines() if line.startswith("| sst2"))
    assert "full (max_positions=128)" in line and "86.01 ± 0.09 (4)" in line and line.rstrip(" |").endswith("differ")
    assert "Not yet run on both sides: sst2 full (max_positions=256) pretrained (runs: fairseq 1, HF 0)" in twin


def test_memory_target_takes_the_lowest_ratio_of_one_run_and_names_its_settings(project):
    from peft_roberta.bench.page import memory_ratio

    plain = [bench_row("fairseq", "lora", "fp32", 1, 3000, 768), bench_row("fairseq", "full", "fp32", 1, 4000, 768)]
    recomputed = [{**bench_row("fairseq", m, "fp32", 1, rss, 768), "checkpoint_activations": True}
                  for m, rss in (("lora", 1400), ("full", 3000))]
    mixed = [plain[0], recomputed[1]]  # LoRA and full of different runs: never compared
    value, detail = memory_ratio([("a", plain), ("b", recomputed), ("c", mixed[:1]), ("d", mixed[1:])])
    assert value == pytest.approx(1400 / 3000)
    assert "activations recomputed in both" in detail and "results/benchmark/b" in detail
    assert memory_ratio([("a", plain)])[0] == pytest.approx(0.75)
    narrow = [{**bench_row("fairseq", m, "bf16", 1, rss, 768), "checkpoint_activations": True,
               "frozen_weights_dtype": "bf16"} for m, rss in (("lora", 1300), ("full", 3100))]
    value, detail = memory_ratio([("b", recomputed), ("e", narrow)])
    assert value == pytest.approx(1300 / 3100) and "frozen weights in bf16, results/benchmark/e" in detail
    # full fine-tuning at its own best (run b), not only in the run that favours LoRA
    assert "each at its lowest of any run: 1300 MB (e) / 3000 MB (b) = 0.43" in detail


def test_glue_section_compares_inits_per_task_and_says_what_the_published_rows_are(project):
    results = project / "results" / "glue"
    results.mkdir(parents=True)
    lines = []
    for task, metric, pretrained, random in (("sst2", "dev_accuracy", [86.0, 86.5, 85.8], [70.0, 68.0, 71.0]),
                                             ("stsb", "dev_pearson", [80.0, 81.0, 79.5], [79.0, 82.0, 80.0])):
        for init, values in (("pretrained", pretrained), ("random", random)):
            lines += [{**BASE, "recipe": "glue", "task": task, "method": "lora", "init": init, "impl": "fairseq",
                       "seed": seed, "run_id": f"{task}{init}{seed}", metric: value}
                      for seed, value in enumerate(values, 1)]
    results.joinpath("runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    write_pages(project, project)
    page = (project / "docs" / "results.md").read_text()
    assert "MiniLM on a CPU is not RoBERTa-base on a GPU" in page
    sentence = next(line for line in page.splitlines() if line.startswith("Pretrained against random init"))
    sst2, stsb = sentence.split(": ", 1)[1].split("; ")
    assert sst2.startswith("SST-2 +16.4 points") and float(sst2.split("p = ")[1].split(" ")[0]) < 0.01
    assert stsb.startswith("STS-B -0.2 points") and float(stsb.split("p = ")[1].split(" ")[0]) > 0.5


def test_runs_with_the_same_fingerprints_share_a_setting_though_one_config_lacks_a_key(project):
    """A row written before a setting existed lacks its key; with the same data, model and options
    fingerprints it is the same setting, not a line of its own."""
    results = project / "results" / "fairseq_vs_hf"
    results.mkdir(parents=True)
    shas = {"data_sha": "d1", "model_sha": "m1", "options_sha": "o1"}
    old = [{**r, "config": {"lr": 1e-5, **shas}} for r in rows("full", [86.0, 86.1], [80.0, 80.2])]
    new = [{**r, "config": {"lr": 1e-5, "checkpoint_activations": False, **shas}, "run_id": "new" + r["run_id"],
            "seed": r["seed"] + 2} for r in rows("full", [85.9, 86.05], [79.9, 80.1])]
    results.joinpath("runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old + new))
    write_pages(project, project)
    twin = (project / "docs" / "hf_twin.md").read_text()
    assert [line.split("|")[2].strip() for line in twin.splitlines() if line.startswith("| sst2")] == ["full"]
    assert "86.01 ± 0.09 (4)" in twin
