"""scripts/reproduce_reports.py and peft_roberta.reports: the count tables and memory figures against the
published ones, the report on an empty work dir, and the verdicts on small fake results files in the
recipes' row format."""
import subprocess
import sys
from pathlib import Path

import pytest

from peft_roberta.analysis.load import InputError
from peft_roberta.reports import counts as count_module
from peft_roberta.reports import findings, memory, recipes, verdicts as judge
from peft_roberta.runs.results import append_row

from conftest import load_script  # noqa: E402

REPO = Path(__file__).resolve().parents[1]




main = load_script("reproduce_reports").main


def table_rows(markdown):
    """The cells of every row of the Markdown tables in ``markdown`` (separator lines left out)."""
    rows = []
    for line in markdown.splitlines():
        line = line.strip()
        if line.startswith("|") and not set(line) <= set("|:- "):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows

pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one thread is faster when cores are shared


@pytest.fixture(scope="module")
def counts():
    return count_module.count_tables()  # cached: main() below reuses it


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
    figures = memory.report004_figures()
    assert [round(figures["gib"][k], 3) for k in ("full_finetune", "total", "saving")] == [44.703, 13.411, 31.292]
    assert round(figures["weights_gib"], 3) == 11.176 and figures["weights_gb"] == 12.0


# ---------------------------------------------------------------------------- the report

def test_tables_only_on_an_empty_work_dir(tmp_path, capsys, counts):
    work = tmp_path / "work"
    assert main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(work), "--tables-only"]) == 0
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
            "lora_targets": "q_proj", "data_sha": "d0", "model_sha": "m0", "options_sha": f"o{rank}"}  # as rows hold


def grid_config(method, lr, batch):
    extra = {"bitfit_biases": "all"} if method == "bitfit" else {"full": True}
    return {"lr": lr, "batch": batch, "updates": 100, "warmup_updates": 6, "weight_decay": 0.01, "dropout": 0.1,
            "max_train": 32000, "max_positions": None, "head": "bias" if method == "bitfit" else "all", **extra}


def fake_results(work, held):
    """Rows of the four findings; ``held`` picks data that support each finding, else data that refute it.

    The ranks that support report 000 are tight enough for the equivalence test to show them within
    the margin; the ranks that refute it lie far apart."""
    top, low = (80.0, 60.0) if held else (60.0, 80.0)
    jitter = (0.0, 0.6, -0.5)
    rank_jitter = (0.0, 0.1, -0.1) if held else jitter
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
                                        for r, acc in ranks.items() for s, j in zip((1, 2, 3), rank_jitter)])
    # a grid per method; the test metric of the best-dev point is what counts
    grid = []
    for method, dev, test in (("full", 85.0, 84.0), ("bitfit", 70.0 if held else 84.8, 69.0 if held else 84.2)):
        for lr, batch, shift in ((3e-4, 16, 0.0), (1e-4, 16, -4.0)):
            grid += [row("sst2_bitfit_grid", "sst2", method, "pretrained", s, dev + shift + j, test + shift + j,
                         config=grid_config(method, lr, batch)) for s, j in zip((1, 2, 3), jitter)]
    write_rows(work, "sst2_bitfit_grid", grid)


def verdicts(work):
    found = {}
    for finding in findings.FINDINGS:
        _, result = findings.evaluate_finding(finding, work, {}, tables_only=True)
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
    assert main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work"), "--tables-only"]) == 0
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
    lines, (verdict,) = findings.evaluate_finding(findings.FINDINGS[2], tmp_path, {}, tables_only=True)
    table = "\n".join(lines)
    assert ["bert-tiny", "random", "bitfit", "2", "lr=0.0003, batch=16"] in [row[:5] for row in table_rows(table)]
    assert verdict.label == "held" and "bert-tiny" in verdict.reason


def test_few_seeds_or_noise_is_inconclusive():
    assert judge.judge_greater([80.0], [60.0], "a", "b", 10).label == "inconclusive"
    assert judge.judge_greater([70, 74, 66], [68, 64, 72], "a", "b", 10).label == "inconclusive"
    # significant but opposite, and a tight null result far below half the published gap
    assert judge.judge_greater([60, 60.5, 59.5], [70, 70.5, 69.5], "a", "b", 10).label == "did not hold"
    assert judge.judge_greater([70, 70.4, 69.6], [70.1, 69.8, 70.2], "a", "b", 10).label == "did not hold"
    assert judge.judge_similar({"r=1": [80, 88, 95], "r=4": [90, 92, 91]}).label == "inconclusive"


class LocalRecipe(recipes.RecipeRun):
    folder: Path = None

    @property
    def path(self):
        return self.folder / f"{self.recipe}.sh"


def test_a_missing_or_failing_recipe_does_not_stop_the_report(tmp_path, monkeypatch, counts):
    LocalRecipe.folder = tmp_path
    (tmp_path / "broken.sh").write_text("echo half done; exit 3\n")
    chosen = [findings.Finding("000", "missing", [LocalRecipe("no_such_recipe")], "x", "y", findings.evaluate_000),
              findings.Finding("001", "failing", [LocalRecipe("broken")], "x", "y", findings.evaluate_001)]
    monkeypatch.setattr(findings, "FINDINGS", chosen)
    assert main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")]) == 0
    report = (tmp_path / "out" / "reports.md").read_text()
    assert "`recipes/no_such_recipe.sh` does not exist yet" in report
    assert "the recipe exited with 3" in report and report.count("**Finding not run yet**") == 2
    assert "half done" in (tmp_path / "out" / "logs" / "broken.log").read_text()


def test_findings_option_runs_only_the_chosen_recipes(tmp_path, monkeypatch, counts, capsys):
    LocalRecipe.folder = tmp_path
    for name in ("chosen", "left_out"):
        (tmp_path / f"{name}.sh").write_text(f"echo {name} ran; exit 3\n")
    chosen = [findings.Finding("000", "chosen", [LocalRecipe("chosen")], "x", "y", findings.evaluate_000),
              findings.Finding("001", "left out", [LocalRecipe("left_out")], "x", "y", findings.evaluate_001)]
    monkeypatch.setattr(findings, "FINDINGS", chosen)
    assert main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work"), "--findings", "000"]) == 0
    assert (tmp_path / "out" / "logs" / "chosen.log").is_file()
    assert not (tmp_path / "out" / "logs" / "left_out.log").exists()
    assert "--findings 000" in (tmp_path / "out" / "reports.md").read_text()
    with pytest.raises(SystemExit) as exit_info:
        main(["--out-dir", str(tmp_path / "out"), "--findings", "000,009"])
    assert exit_info.value.code == 2 and "--findings" in capsys.readouterr().err


# ---------------------------------------------------------------------------- "little difference": equivalence

def spread(mean, std):
    """Three seeds with exactly this mean and sample std."""
    return [mean - std, mean, mean + std]


def test_little_difference_is_inconclusive_when_the_seeds_are_noisy():
    groups = {"r=1": spread(88.3, 7.6), "r=4": spread(88.0, 6.1), "r=16": spread(88.7, 3.1)}
    assert [judge.seeds_text(v) for v in groups.values()] == [
        "88.3 ± 7.6 (3 seeds)", "88.0 ± 6.1 (3 seeds)", "88.7 ± 3.1 (3 seeds)"]
    verdict = judge.judge_similar(groups)
    # the means lie within one point, but the spread shows neither equivalence nor a difference
    assert verdict.label == "inconclusive"
    assert "±1 point" in verdict.reason


def test_little_difference_holds_for_tight_groups():
    groups = {"r=1": [82.1, 82.0, 82.2], "r=4": [82.3, 82.2, 82.1], "r=16": [82.0, 82.1, 82.2]}
    verdict = judge.judge_similar(groups)
    assert verdict.label == "held" and "every pair of the 3 groups" in verdict.reason


def test_little_difference_does_not_hold_when_a_pair_is_shown_apart():
    groups = {"r=1": [80.0, 80.6, 79.5], "r=4": [85.0, 85.6, 84.5], "r=16": [80.1, 80.4, 79.9]}
    verdict = judge.judge_similar(groups)
    assert verdict.label == "did not hold" and "outside ±1 point" in verdict.reason
    # within the margin but not tight enough to show it, with another pair far apart: still did not hold
    assert judge.judge_similar({**groups, "r=2": spread(80.2, 3.0)}).label == "did not hold"


def test_little_difference_needs_seeds_and_variance():
    assert judge.judge_similar({"r=1": [82.0], "r=4": [82.1, 82.2]}).label == "inconclusive"
    assert judge.judge_similar({"r=1": [82.0, 82.0], "r=4": [82.5, 82.5]}).label == "inconclusive"
    assert judge.judge_similar({"r=1": [82.0, 82.1]}).label == "inconclusive"


def test_the_rules_state_the_margin_and_the_test():
    rules = judge.rules_values()
    assert rules["margin"] == "1" and rules["tost_confidence"] == "90%" and rules["alpha"] == "0.05"


# ---------------------------------------------------------------------------- errors and labels

def test_unreadable_rows_are_inconclusive_but_bugs_raise(tmp_path):
    # two configurations and no dev metric to choose between them: an input problem, reported
    rows = [row("cls_books_pretrained_vs_random", "cls_books", "full", init, seed, 71.0, 70.0 + seed,
                config={"lr": lr}) for init in ("pretrained", "random") for seed in (0, 1) for lr in (1e-5, 3e-5)]
    for r in rows:
        del r["dev_accuracy"]
    write_rows(tmp_path, "cls_books_pretrained_vs_random", rows)
    _, (verdict,) = findings.evaluate_finding(findings.FINDINGS[1], tmp_path, {}, tables_only=True)
    assert verdict.label == "inconclusive" and "dev_accuracy" in verdict.reason

    def broken(loaded):
        raise TypeError("a bug, not bad input")

    def bad_input(loaded):
        raise InputError("runs.jsonl:3: lora_r is not a number: 'x'")

    run = findings.FINDINGS[1].runs
    _, (verdict,) = findings.evaluate_finding(findings.Finding("001", "t", run, "x", "y", bad_input), tmp_path, {},
                                              tables_only=True)
    assert verdict.label == "inconclusive" and "lora_r is not a number" in verdict.reason
    with pytest.raises(TypeError):
        findings.evaluate_finding(findings.Finding("001", "t", run, "x", "y", broken), tmp_path, {}, tables_only=True)


def test_dev_figures_say_they_chose_the_checkpoint(tmp_path):
    fake_results(tmp_path, held=True)  # the LoRA-rank rows have no test split
    lines, _ = findings.evaluate_finding(findings.FINDINGS[0], tmp_path, {}, tables_only=True)
    header = table_rows("\n".join(lines))[0]
    assert header[2].startswith("dev_accuracy") and "also chose the checkpoint" in header[2]
    # a finding read on its test split says nothing of the kind
    lines, _ = findings.evaluate_finding(findings.FINDINGS[1], tmp_path, {}, tables_only=True)
    assert "also chose" not in "\n".join(lines) and "test_accuracy" in "\n".join(lines)


def test_count_prose_follows_the_model_shapes(counts):
    from copy import deepcopy

    from peft_roberta.reports import render

    changed = deepcopy(counts)
    changed["shapes"]["000"]["classifier"] = {"in": 512, "out": 3, "params": 512 * 3 + 3}
    changed["002"]["lm_head_parts"]["dense"] = 999
    text = "\n\n".join(render.render_counts(changed))
    assert "512 × 3 + 3 = 1,539" in text and "768 × 2 + 2 = 1,538" in text  # 003's classifier is unchanged
    assert "dense 999 + LayerNorm 256 + output bias 30,522" in text


def test_the_report_leaves_no_placeholder(tmp_path, counts):
    assert main(["--out-dir", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work"), "--tables-only"]) == 0
    report = (tmp_path / "out" / "reports.md").read_text()
    assert "$" not in report
    assert "within ±1 point" in report and "90% confidence interval" in report


def test_reports_without_models_import_neither_fairseq_nor_torch():
    code = ("import sys; import peft_roberta.reports.findings, peft_roberta.reports.verdicts, "
            "peft_roberta.reports.memory, peft_roberta.reports.recipes; "
            "assert 'fairseq' not in sys.modules and 'torch' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
