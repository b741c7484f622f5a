"""The GLUE suite: every task read in GLUE's own file format, judged and its checkpoint chosen on GLUE's
metric (CoLA MCC, STS-B Pearson as a regression, MNLI matched with mismatched beside), one table beside
the published rows; bad scores refused in one line."""
import json
import random
import subprocess
import sys

import pytest
from conftest import PLUGIN_DIR, REPO, SENTENCE_PREDICTION, SHARED, TINY_SHAPE
from test_recipes import run_recipe

needs_data = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")
TINY = {"MODEL": "bert-tiny", "INITS": "random", "SEEDS": "1", "MAX_UPDATES": "2", "VALIDATIONS": "1",
        "OMP_NUM_THREADS": "1"}
WORDS = "the a film plot actor story great dull funny slow bright dark long short good bad".split()


def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))).capitalize() + "."


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def head(source, count, header=True):
    lines = source.read_text(encoding="utf-8").splitlines()
    return lines[: count + (1 if header else 0)]


def glue_root(root, rng, n=48):
    """A GLUE root in GLUE's own layout and formats: the shipped tasks' real first rows, the others
    written in exactly their formats."""
    glue = SHARED / "data" / "glue"
    for task, files in {"SST-2": ("train.tsv", "dev.tsv"), "STS-B": ("train.tsv", "dev.tsv"),
                        "MRPC": ("train.tsv", "dev.tsv", "msr_paraphrase_test.txt")}.items():
        for name in files:
            write(root / task / name, head(glue / task / name, n))
    for name in ("train.tsv", "dev.tsv"):  # no header row
        write(root / "CoLA" / name, head(glue / "CoLA" / name, n, header=False))
    pair = lambda: (sentence(rng), sentence(rng))  # noqa: E731
    nli = ("entailment", "neutral", "contradiction")
    mnli = ["index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
            "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label"]
    mnli_dev = ["index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
                "sentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label"]
    for i in range(n):
        a, b = pair()
        label = nli[i % 3]
        mnli.append(f"{i}\t{i}\t{i}e\tfiction\t( {a} )\t( {b} )\t(ROOT {a})\t(ROOT {b})\t{a}\t{b}\t{label}\t{label}")
    write(root / "MNLI" / "train.tsv", mnli)
    for split in ("dev_matched.tsv", "dev_mismatched.tsv"):
        rows = []
        for i in range(12):
            a, b = pair()
            label = nli[i % 3]
            rows.append(f"{i}\t{i}\t{i}e\tfiction\t( {a} )\t( {b} )\t(ROOT {a})\t(ROOT {b})\t{a}\t{b}\t"
                        f"{label}\t{label}\t{label}\t{label}\t{label}\t{label}")
        write(root / "MNLI" / split, mnli_dev[:1] + rows)
    for task, header, labels in (("QNLI", "index\tquestion\tsentence\tlabel", ("entailment", "not_entailment")),
                                 ("RTE", "index\tsentence1\tsentence2\tlabel", ("entailment", "not_entailment")),
                                 ("QQP", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", ("0", "1"))):
        for split, count in (("train.tsv", n), ("dev.tsv", 12)):
            rows = [header]
            for i in range(count):
                a, b = pair()
                ids = f"{i}\t{2 * i}\t{2 * i + 1}\t" if task == "QQP" else f"{i}\t"
                rows.append(f"{ids}{a}\t{b}\t{labels[i % 2]}")
            write(root / task / split, rows)
    return root


@needs_data
def test_every_glue_task_is_found_and_each_kind_runs_into_one_table(tmp_path):
    root = glue_root(tmp_path / "glue", random.Random(0))
    found = subprocess.run([sys.executable, str(REPO / "scripts" / "recipe_plan.py"), "glue-tasks"], text=True,
                           capture_output=True, env={"GLUE_DIR": str(root), "PATH": "/usr/bin:/bin"})
    assert found.stdout.split() == ["mnli", "sst2", "mrpc", "cola", "qnli", "qqp", "rte", "stsb"]
    # Trained: the tasks whose paths differ (two dev sets, a labelled test file with F1, no header row with
    # MCC, a regression); QNLI, QQP and RTE are read like SST-2 and MRPC, so discovery covers them.
    trained = ["mnli", "mrpc", "cola", "stsb"]
    proc = run_recipe("glue.sh", tmp_path, GLUE_DIR=str(root), MAX_TRAIN="40", TASKS=" ".join(trained), **TINY)
    assert proc.returncode == 0, proc.stdout[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "results" / "glue" / "runs.jsonl").read_text().splitlines()]
    by_task = {r["task"]: r for r in rows}
    assert set(by_task) == set(trained)
    chosen_on = {task: row["identity"]["options"]["best_checkpoint_metric"] for task, row in by_task.items()}
    assert chosen_on["cola"] == "mcc" and chosen_on["stsb"] == "pearson" and chosen_on["mnli"] == "accuracy"
    assert by_task["stsb"]["identity"]["options"]["regression_target"] is True
    assert by_task["stsb"]["dev_pearson"] is not None and by_task["stsb"]["dev_spearman"] is not None
    assert by_task["mnli"]["test_accuracy"] is not None and by_task["mnli"]["splits"]["test"]["name"] == "dev mismatched"
    assert by_task["cola"]["dev_mcc"] is not None and by_task["mrpc"]["dev_f1"] is not None
    table = (tmp_path / "results" / "glue" / "glue.md").read_text()
    for header in ("MNLI acc (dev)", "MNLI-mm acc (dev mismatched)", "MRPC acc (dev)",
                   "CoLA MCC (dev)", "STS-B Pearson (dev)",
                   "LoRA paper, LoRA (0.3M)", "LoRA paper, full FT (125M)", "LoRA paper, BitFit (0.1M)"):
        assert header in table, header


@needs_data
@pytest.mark.parametrize("score,message", [
    ("5.5", "score 5.5 in 'score' is outside 0 to 5 (--label-range)"),
    ("abc", "score 'abc' in 'score' is not a number"),
])
def test_bad_regression_scores_are_refused_in_one_line(tmp_path, score, message):
    root = tmp_path / "glue"
    lines = head(SHARED / "data" / "glue" / "STS-B" / "train.tsv", 40)
    fields = lines[5].split("\t")
    fields[-1] = score
    lines[5] = "\t".join(fields)
    write(root / "STS-B" / "train.tsv", lines)
    write(root / "STS-B" / "dev.tsv", head(SHARED / "data" / "glue" / "STS-B" / "dev.tsv", 10))
    proc = run_recipe("glue.sh", tmp_path, check=False, GLUE_DIR=str(root), TASKS="stsb", **TINY)
    assert proc.returncode == 2 and f"train.tsv:6: {message}" in proc.stdout
    assert "Traceback" not in proc.stdout and not (tmp_path / "checkpoints").exists()


def test_regression_with_more_than_one_output_is_refused_in_one_line(corpus, tmp_path):
    cmd = [sys.executable, "-m", "fairseq_cli.train", str(corpus["finetune_bin"]), "--user-dir", str(PLUGIN_DIR),
           *SENTENCE_PREDICTION, "--task", "sentence_prediction_bucketed", "--arch", "roberta_peft", *TINY_SHAPE,
           "--regression-target", "--num-classes", "2", "--cpu", "--save-dir", str(tmp_path), "--max-update", "1",
           "--batch-size", "8"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "--num-classes 2 with --regression-target: a regression task predicts one number" in proc.stderr


def test_regression_metrics_are_scipys_in_percent():
    from scipy import stats

    from peft_roberta.metrics import regression_metrics

    gold, predicted = [0.0, 1.5, 2.0, 4.0, 5.0], [0.5, 1.0, 2.5, 3.5, 4.0]
    metrics = regression_metrics(gold, predicted)
    assert metrics["pearson"] == pytest.approx(100 * stats.pearsonr(gold, predicted).statistic)
    assert metrics["spearman"] == pytest.approx(100.0)
    assert regression_metrics(gold, [2.0] * 5)["pearson"] == 0.0  # a constant correlates with nothing
