"""scripts/reproduce_reports.py: the count tables and memory figures against the published ones, the
report on an empty work dir, and the verdicts on small fake results files in the recipes' row format."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

import reproduce_reports as rr  # noqa: E402
from fairseq_plugins.results import append_row  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one thread is faster when cores are shared


@pytest.fixture(scope="module")
def counts():
    return rr.count_tables()  # cached: main() below reuses it


# ---------------------------------------------------------------------------- counts and memory

def test_report_000_counts_ours_peft_and_published(counts):
    assert [(r["rank"], r["ours"], r["peft"], r["published"]) for r in counts["000"]] == [
        (1, 19_970, 19_970, 19_970), (4, 75_266, 75_266, 75_266), (16, 296_450, 296_450, 296_450)]
    for row in counts["000"]:
        # peft's default modules_to_save trains the classifier only, over the frozen pooler, as out_proj does
        assert row["peft_heads"] == ["classifier"] and row["ours_head"] == row["peft_head"] == 768 * 2 + 2
        assert row["lora"] == 12 * 2 * 768 * row["rank"]
        assert row["ours_total"] == row["peft_total"]


def test_report_002_bitfit_and_full_counts(counts):
    c = counts["002"]
    assert c["bitfit"] == c["hf_bitfit"] == 3_074
    assert c["bitfit_head"] == 128 + 2
    assert c["full"] == c["full_total"] == c["hf_full"] == 4_386_178
    # the same total for a different reason: 2 x 128 token types (HF) against 2 more position rows (fairseq)
    assert c["token_types"] == 256 and c["positions"] == (514, 128) and c["hf_positions"] == (512, 128)
    assert c["lm_head"] == 16_512 + 256 + 30_522


def test_report_003_counts_equal_peft_with_the_whole_head(counts):
    lora_qkvo = 6 * 4 * 64 * (768 + 768)
    lora_ffn = 6 * 2 * 64 * (768 + 3072)
    ia3 = 6 * (4 * 768 + 768 + 3072)  # lin1, lin2 feed-forward: their input width is scaled
    head = 768 * 768 + 768 + 768 * 2 + 2
    assert [(r["ours"], r["peft"]) for r in counts["003"]] == [
        (lora_qkvo + head,) * 2, (lora_qkvo + lora_ffn + head,) * 2, (lora_qkvo // 2 + head,) * 2, (ia3 + head,) * 2]
    for row in counts["003"]:
        # peft's "classifier" in modules_to_save also catches "pre_classifier" (a suffix match)
        assert row["peft_heads"] == ["pre_classifier", "classifier"]
        assert row["ours_head"] == row["peft_head"] == head
        assert row["ours_total"] - row["peft_total"] == 2 * 768  # fairseq's two extra position rows


def test_report_001_formula_and_model_count(counts):
    assert counts["001"]["formula"] == counts["001"]["counted"] == 22_807_552


def test_report_004_memory_figures():
    memory = rr.memory_figures()
    assert [round(memory["gib"][k], 3) for k in ("full_finetune", "total", "saving")] == [44.703, 13.411, 31.292]
    assert round(memory["weights_gib"], 3) == 11.176 and memory["weights_gb"] == 12.0


# ---------------------------------------------------------------------------- the report

def test_tables_only_on_an_empty_work_dir(tmp_path, capsys, counts):
    work = tmp_path / "work"
    assert rr.main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(work), "--tables-only"]) == 0
    report = (tmp_path / "out" / "reports.md").read_text()
    assert f"wrote {tmp_path / 'out' / 'reports.md'}" in capsys.readouterr().out
    for figure in ("19,970", "75,266", "296,450", "3,074", "4,386,178", "22,807,552", "44.703", "13.411",
                   "31.292", "11.176", "2,951,426"):
        assert figure in report
    assert report.count("**Finding not run yet**") == 4
    assert "MODEL=minilm INITS='pretrained random' bash recipes/cls_books_pretrained_vs_random.sh" in report
    assert "AMD" in report or "Machine:" in report
    assert not (work / "results").exists()  # nothing was run


# ---------------------------------------------------------------------------- fake results

def row(recipe, task, method, init, seed, dev, test=None, model="minilm", config=None, **metrics):
    """One row as scripts/run_experiment.py writes it."""
    config = config or {"lr": 5e-05, "batch": 16, "updates": 300, "warmup_updates": 18, "weight_decay": 0.01,
                        "dropout": 0.1, "max_train": None, "max_positions": None, "head": "all", "full": True}
    return {"recipe": recipe, "task": task, "model": model, "method": method, "init": init, "seed": seed,
            "impl": "fairseq", "config": config, "profile": "quick",
            "dev_accuracy": dev, "dev_f1": None, "dev_mcc": 0.1, "dev_macro_f1": metrics.get("dev_macro_f1", dev - 5),
            "test_accuracy": test, "test_macro_f1": metrics.get("test_macro_f1", None if test is None else test - 5),
            "trainable_params": metrics.get("trainable", 1000), "total_params": 22_000_000, "updates": 300,
            "best_updates": 300, "wall_s": 12.5, "peak_rss_mb": 900.0,
            "data_bin": f"data-bin/{task}.x", "save_dir": f"checkpoints/{recipe}/{init}.seed{seed}",
            "command": "python -m fairseq_cli.train ..."}


def write_rows(work, recipe, rows):
    for r in rows:
        append_row(str(work / "results" / recipe / "runs.jsonl"), r)


def lora_config(rank):
    return {"lr": 0.002, "batch": 32, "updates": 750, "warmup_updates": 45, "weight_decay": 0.01, "dropout": 0.1,
            "max_train": 32000, "max_positions": None, "head": "out_proj", "lora_r": rank, "lora_alpha": 16,
            "lora_targets": "q_proj"}


def grid_config(method, lr, batch):
    extra = {"bitfit_biases": "all"} if method == "bitfit" else {"full": True}
    return {"lr": lr, "batch": batch, "updates": 100, "warmup_updates": 6, "weight_decay": 0.01, "dropout": 0.1,
            "max_train": 32000, "max_positions": None, "head": "bias" if method == "bitfit" else "all", **extra}


def fake_results(work, held):
    """Rows of the four findings; ``held`` picks data that support each finding, else data that refute it."""
    top, low = (80.0, 60.0) if held else (60.0, 80.0)
    jitter = (0.0, 0.6, -0.5)
    write_rows(work, "cls_books_pretrained_vs_random",
               [row("cls_books_pretrained_vs_random", "cls_books", "full", init, seed, base + j + 1, base + j)
                for init, base in (("pretrained", top), ("random", low)) for seed, j in zip((0, 1, 2), jitter)])
    write_rows(work, "restaurant_full", [row("restaurant_full", "restaurant", "full", "pretrained", s, top + j,
                                             top + j) for s, j in zip((1, 2, 3), jitter)])
    write_rows(work, "restaurant_adapter", [row("restaurant_adapter", "restaurant", "adapter", "pretrained", s,
                                                low + j, low + j) for s, j in zip((1, 2, 3, 4, 5), jitter + (0.2, -0.3))])
    ranks = {1: 88.0, 4: 88.3, 16: 88.5} if held else {1: 80.0, 4: 85.0, 16: 90.0}
    write_rows(work, "sst2_lora_rank", [row("sst2_lora_rank", "sst2", "lora", "pretrained", s, acc + j,
                                            config=lora_config(r), trainable=5378)
                                        for r, acc in ranks.items() for s, j in zip((1, 2, 3), jitter)])
    # a grid per method; the test metric of the best-dev point is what counts
    grid = []
    for method, dev, test in (("full", 85.0, 84.0), ("bitfit", 70.0 if held else 84.8, 69.0 if held else 84.2)):
        for lr, batch, shift in ((3e-4, 16, 0.0), (1e-4, 16, -4.0)):
            grid += [row("sst2_bitfit_grid", "sst2", method, "pretrained", s, dev + shift + j, test + shift + j,
                         config=grid_config(method, lr, batch)) for s, j in zip((1, 2, 3), jitter)]
    write_rows(work, "sst2_bitfit_grid", grid)


def verdicts(work):
    found = {}
    for finding in rr.FINDINGS:
        _, result = rr.evaluate_finding(finding, work, {}, tables_only=True)
        found[finding.report] = [v.label for v in result]
    return found


def test_findings_hold_on_supporting_rows(tmp_path):
    fake_results(tmp_path, held=True)
    assert verdicts(tmp_path) == {"000": ["held"], "001": ["held"], "002": ["held"], "004": ["held", "held"]}


def test_findings_do_not_hold_on_refuting_rows(tmp_path):
    fake_results(tmp_path, held=False)
    assert verdicts(tmp_path) == {"000": ["did not hold"], "001": ["did not hold"], "002": ["did not hold"],
                                  "004": ["did not hold", "did not hold"]}


def test_the_report_shows_rows_beside_the_published_figures(tmp_path, counts):
    fake_results(tmp_path / "work", held=True)
    assert rr.main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work"), "--tables-only"]) == 0
    report = (tmp_path / "out" / "reports.md").read_text()
    assert report.count("**Finding held**") == 5 and "not run yet" not in report
    assert "79.9, 80.0, 83.5" in report and "80.0 ± 0.6 (3 seeds)" in report  # published beside ours
    assert "85.7 ± 0.4" in report and "0.888" in report


def test_sweep_selection_is_on_dev_never_on_test(tmp_path):
    """The BitFit point with the best test accuracy but a worse dev accuracy is not the one chosen."""
    rows = []
    for method, points in (("full", [(3e-4, 64, 88.0, 87.0)]),
                           ("bitfit", [(3e-4, 16, 62.0, 60.0), (1e-4, 8, 61.0, 90.0)])):
        for lr, batch, dev, test in points:
            rows += [row("sst2_bitfit_grid", "sst2", method, "random", s, dev + j, test + j, model="bert-tiny",
                         config=grid_config(method, lr, batch)) for s, j in zip((1, 2, 3), (0.0, 0.4, -0.4))]
    write_rows(tmp_path, "sst2_bitfit_grid", rows)
    lines, (verdict,) = rr.evaluate_finding(rr.FINDINGS[2], tmp_path, {}, tables_only=True)
    table = "\n".join(lines)
    assert "| bert-tiny | random | bitfit | 2 | lr=0.0003, batch=16 |" in table
    assert verdict.label == "held" and "bert-tiny" in verdict.reason


def test_few_seeds_or_noise_is_inconclusive():
    assert rr.judge_greater([80.0], [60.0], "a", "b", 10).label == "inconclusive"
    assert rr.judge_greater([70, 74, 66], [68, 64, 72], "a", "b", 10).label == "inconclusive"
    # significant but opposite, and a tight null result far below half the published gap
    assert rr.judge_greater([60, 60.5, 59.5], [70, 70.5, 69.5], "a", "b", 10).label == "did not hold"
    assert rr.judge_greater([70, 70.4, 69.6], [70.1, 69.8, 70.2], "a", "b", 10).label == "did not hold"
    assert rr.judge_similar({"r=1": [80, 88, 95], "r=4": [90, 92, 91]}).label == "inconclusive"


class LocalRecipe(rr.RecipeRun):
    folder: Path = None

    @property
    def path(self):
        return self.folder / f"{self.recipe}.sh"


def test_a_missing_or_failing_recipe_does_not_stop_the_report(tmp_path, monkeypatch, counts):
    LocalRecipe.folder = tmp_path
    (tmp_path / "broken.sh").write_text("echo half done; exit 3\n")
    findings = [rr.Finding("000", "missing", [LocalRecipe("no_such_recipe")], ["x"], "y", rr._evaluate_000),
                rr.Finding("001", "failing", [LocalRecipe("broken")], ["x"], "y", rr._evaluate_001)]
    monkeypatch.setattr(rr, "FINDINGS", findings)
    assert rr.main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")]) == 0
    report = (tmp_path / "out" / "reports.md").read_text()
    assert "`recipes/no_such_recipe.sh` does not exist yet" in report
    assert "the recipe exited with 3" in report and report.count("**Finding not run yet**") == 2
    assert "half done" in (tmp_path / "out" / "logs" / "broken.log").read_text()


def test_findings_option_runs_only_the_chosen_recipes(tmp_path, monkeypatch, counts, capsys):
    LocalRecipe.folder = tmp_path
    for name in ("chosen", "left_out"):
        (tmp_path / f"{name}.sh").write_text(f"echo {name} ran; exit 3\n")
    findings = [rr.Finding("000", "chosen", [LocalRecipe("chosen")], ["x"], "y", rr._evaluate_000),
                rr.Finding("001", "left out", [LocalRecipe("left_out")], ["x"], "y", rr._evaluate_001)]
    monkeypatch.setattr(rr, "FINDINGS", findings)
    assert rr.main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work"), "--findings", "000"]) == 0
    assert (tmp_path / "out" / "logs" / "chosen.log").is_file()
    assert not (tmp_path / "out" / "logs" / "left_out.log").exists()
    assert "--findings 000" in (tmp_path / "out" / "reports.md").read_text()
    with pytest.raises(SystemExit) as exit_info:
        rr.main(["--out-dir", str(tmp_path / "out"), "--findings", "000,009"])
    assert exit_info.value.code == 2 and "--findings" in capsys.readouterr().err
