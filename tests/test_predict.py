"""scripts/predict.py on tiny recipe runs from the real MiniLM and the real GLUE files: the recipe's dev
accuracy reproduced exactly, several PEFT-only files on one base equal to each model alone, GLUE's
submission format, and one-line refusals of bad input."""
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO, SHARED, load_script, run_dir
from test_recipes import rows, run_recipe

pytestmark = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")
GLUE = SHARED / "data" / "glue"
SST2_DEV = GLUE / "SST-2" / "dev.tsv"
# enough updates to leave the majority class, so that the dev accuracy says something
TINY = {"MAX_TRAIN": "320", "MAX_UPDATES": "10", "VALIDATIONS": "1", "SEEDS": "1", "INITS": "pretrained",
        "OMP_NUM_THREADS": "1"}
predict_script = load_script("predict")


def predict(*argv, stdin=None, capsys=None):
    """(exit code, stdout, stderr) of predict.py's main in this process."""
    code = predict_script.main([str(a) for a in argv], stdin=io.BytesIO(stdin.encode()) if stdin else None)
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sst2(tmp_path_factory):
    """A LoRA and a BitFit run on the same base model and data-bin."""
    work = tmp_path_factory.mktemp("sst2")
    run_recipe("sst2_lora.sh", work, **TINY)
    run_recipe("sst2_bitfit.sh", work, **TINY)
    return {"work": work, "lora": run_dir(work, "sst2_lora"), "bitfit": run_dir(work, "sst2_bitfit"),
            "lora_row": rows(work, "sst2_lora")[0], "bitfit_row": rows(work, "sst2_bitfit")[0],
            "base": REPO / "cache" / "models" / "minilm" / "model.pt"}


@pytest.fixture(scope="module")
def dev_subset(tmp_path_factory):
    """The first 200 rows of SST-2 dev (quicker comparisons)."""
    path = tmp_path_factory.mktemp("subset") / "dev200.tsv"
    path.write_text("".join(SST2_DEV.read_text(encoding="utf-8").splitlines(keepends=True)[:201]), encoding="utf-8")
    return path


def test_help():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "predict.py"), "--help"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and "--peft-file" in done.stdout and "--glue-submission" in done.stdout


def test_dev_accuracy_is_the_recipes(sst2, tmp_path, capsys):
    """The run's row (the recipe's evaluation on the binarized dev split) and predict.py on dev.tsv agree exactly,
    example by example: the same tokens, batches and precision."""
    from peft_roberta.models.hub import from_pretrained
    from peft_roberta.runs.evaluation import predict_split

    for method in ("lora", "bitfit"):
        row = sst2[f"{method}_row"]
        assert not row["at_majority"], "the tiny run should leave the majority class"
        out = tmp_path / f"{method}.csv"
        code, _, err = predict(sst2[method] / "checkpoint_best.pt", "--input", SST2_DEV, "--label-column", "label",
                               "--out", out, "--precision", row["precision"], capsys=capsys)
        assert code == 0, err
        assert f"accuracy {row['dev_accuracy']}, f1 {row['dev_f1']} (872 labelled rows)" in err
        hub = from_pretrained(str(sst2[method] / "checkpoint_best.pt"))
        hub.eval()
        _, predicted = predict_split(hub.model, hub.task, "valid")
        assert [int(r["prediction"]) for r in read_csv(out)] == predicted  # labels "0"/"1" are class indices


def test_tokens_are_the_binarized_ones(sst2):
    """hub.encode (cut to the maximum positions) gives the data-bin's tokens; a long text is cut as
    fairseq's --shorten-method truncate cuts it."""
    from fairseq.data import ListDataset
    from fairseq.data.shorten_dataset import maybe_shorten_dataset

    from peft_roberta.models.hub import from_pretrained
    from peft_roberta.predict import engine, inputs

    hub = from_pretrained(str(sst2["lora"] / "checkpoint_best.pt"))
    hub.task.load_dataset("valid")
    dataset = hub.task.dataset("valid").dataset
    texts = [json.loads(line)["texts"] for line in open(sst2["lora_row"]["data_bin"] + "/examples/valid.jsonl")]
    tokens = engine.encode(hub, [inputs.Row(tuple(t), None, None, i) for i, t in enumerate(texts)])
    assert all(torch.equal(tokens[i], dataset[i]["net_input.src_tokens"]) for i in range(len(texts)))
    long = " ".join(["remarkably"] * 700)
    full = hub.encode(long)
    (cut,) = engine.encode(hub, [inputs.Row((long,), None, None, 1)])
    truncated = maybe_shorten_dataset(ListDataset([full], [len(full)]), "valid", "", "truncate", 512, 1)
    assert len(cut) == 512 and torch.equal(cut, truncated[0])


def test_several_peft_files_equal_each_model_alone(sst2, dev_subset, tmp_path, capsys):
    """LoRA, a second LoRA (same method: swapped on one model) and BitFit (its own model) on one base."""
    payload = torch.load(sst2["lora"] / "checkpoint_best.peft.pt", weights_only=False)
    generator = torch.Generator().manual_seed(0)
    for name, tensor in payload["state"].items():  # another LoRA of the same shape
        if "lora_B" in name or "classification_heads" in name:
            payload["state"][name] = tensor + 0.05 * torch.randn(tensor.shape, generator=generator)
    (tmp_path / "lora2").mkdir()
    torch.save(payload, tmp_path / "lora2" / "checkpoint_best.peft.pt")
    files = [sst2["lora"] / "checkpoint_best.peft.pt", tmp_path / "lora2" / "checkpoint_best.peft.pt",
             sst2["bitfit"] / "checkpoint_best.peft.pt"]
    alone = [sst2["lora"] / "checkpoint_best.pt", None, sst2["bitfit"] / "checkpoint_best.pt"]
    for merge in ([], ["--merge"]):
        together = tmp_path / f"together{len(merge)}.csv"
        args = [a for f in files for a in ("--peft-file", f)]
        code, _, err = predict(sst2["base"], *args, "--input", dev_subset, "--out", together, *merge, capsys=capsys)
        assert code == 0, err
        table = read_csv(together)
        names = [sst2["lora"].name, "lora2", sst2["bitfit"].name]
        assert list(table[0]) == [f"{n}.{c}" for n in names for c in ("prediction", "prob_0", "prob_1")]
        for name, peft_file, checkpoint in zip(names, files, alone):
            single = tmp_path / f"{name}{len(merge)}.csv"
            model = [checkpoint] if checkpoint else [sst2["base"], "--peft-file", peft_file]
            code, _, err = predict(*model, "--input", dev_subset, "--out", single, *merge, capsys=capsys)
            assert code == 0, err
            expected = read_csv(single)
            assert [{k.split(".")[-1]: v for k, v in r.items() if k.startswith(name + ".")} for r in table] == expected


def test_merge_changes_little(sst2, dev_subset, tmp_path, capsys):
    outs = []
    for merge in ([], ["--merge"]):
        outs.append(tmp_path / f"m{len(merge)}.csv")
        code, _, err = predict(sst2["lora"] / "checkpoint_best.pt", "--input", dev_subset, "--out", outs[-1], *merge,
                               capsys=capsys)
        assert code == 0, err
    plain, merged = read_csv(outs[0]), read_csv(outs[1])
    assert max(abs(float(a["prob_1"]) - float(b["prob_1"])) for a, b in zip(plain, merged)) < 0.01
    assert sum(a["prediction"] == b["prediction"] for a, b in zip(plain, merged)) >= 0.98 * len(plain)


def test_standard_input_and_jsonl(sst2, tmp_path, capsys):
    checkpoint = sst2["lora"] / "checkpoint_best.pt"
    code, out, err = predict(checkpoint, stdin="a gripping , moving film\nan utter bore .\n", capsys=capsys)
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 2 and set(table[0]) == {"prediction", "prob_0", "prob_1"}
    assert abs(float(table[0]["prob_0"]) + float(table[0]["prob_1"]) - 1) < 1e-5
    jsonl = tmp_path / "dev.jsonl"
    jsonl.write_text("".join(json.dumps({"id": f"x{i}", "text": t}) + "\n" for i, t in
                             enumerate(["a gripping , moving film", "an utter bore ."])), encoding="utf-8")
    code, _, err = predict(checkpoint, "--input", jsonl, "--text-columns", "text", "--id-column", "id",
                           "--out", tmp_path / "out.jsonl", capsys=capsys)
    assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["x0", "x1"]
    assert [r["prediction"] for r in records] == [r["prediction"] for r in table]
    assert set(records[0]["probabilities"]) == {"0", "1"}


def check_submission(path, test_file):
    """GLUE's format: the header, then one ``index<TAB>0|1`` row per test example, in the test file's order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    indices = [line.split("\t", 1)[0] for line in test_file.read_text(encoding="utf-8").splitlines()[1:]]
    assert lines[0] == "index\tprediction"
    parsed = [line.split("\t") for line in lines[1:]]
    assert [fields[0] for fields in parsed] == indices
    assert all(len(fields) == 2 and fields[1] in ("0", "1") for fields in parsed)


def test_glue_submission_sst2(sst2, tmp_path, capsys):
    code, _, err = predict(sst2["lora"] / "checkpoint_best.pt", "--glue-submission", "SST-2", "--input",
                           GLUE / "SST-2" / "test.tsv", "--out-dir", tmp_path, capsys=capsys)
    assert code == 0, err
    check_submission(tmp_path / "SST-2.tsv", GLUE / "SST-2" / "test.tsv")
    assert len((tmp_path / "SST-2.tsv").read_text().splitlines()) == 1 + 1821


def test_glue_submission_mrpc(tmp_path_factory, capsys):
    work = tmp_path_factory.mktemp("mrpc")
    run_recipe("mrpc_lora.sh", work, **{**TINY, "MAX_TRAIN": "64", "MAX_UPDATES": "2"})
    out = tmp_path_factory.mktemp("submission")
    code, _, err = predict(run_dir(work, "mrpc_lora") / "checkpoint_best.pt", "--glue-submission", "MRPC",
                           "--input", GLUE / "MRPC" / "test.tsv", "--out-dir", out, capsys=capsys)
    assert code == 0, err
    check_submission(out / "MRPC.tsv", GLUE / "MRPC" / "test.tsv")
    assert len((out / "MRPC.tsv").read_text().splitlines()) == 1 + 1725


@pytest.fixture(scope="module")
def other_labels(sst2, tmp_path_factory):
    """Copies of the data-bin whose label dictionary names other classes: two, and three."""
    made = {}
    for name, classes in (("renamed", ["neg", "pos"]), ("three", ["a", "b", "c"])):
        data_bin = tmp_path_factory.mktemp(name) / "data-bin"
        shutil.copytree(sst2["lora_row"]["data_bin"], data_bin)
        (data_bin / "label" / "dict.txt").write_text("".join(f"{c} 1\n" for c in classes))
        info = json.loads((data_bin / "labels.json").read_text())
        (data_bin / "labels.json").write_text(json.dumps({**info, "classes": classes}))
        made[name] = data_bin
    return made


def bad_cases(sst2, other_labels, tmp_path):
    lora, bitfit = sst2["lora"], sst2["bitfit"]
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "junk.pt").write_text("not a checkpoint\n")
    (tmp_path / "bad_label.tsv").write_text("sentence\tlabel\na fine film\t1\na dull one\tpositive\n")
    ckpt, peft = lora / "checkpoint_best.pt", lora / "checkpoint_best.peft.pt"
    foreign = tmp_path / "foreign" / "checkpoint_best.peft.pt"  # a PEFT-only file made for another base model
    foreign.parent.mkdir()
    torch.save({**torch.load(peft, weights_only=False), "base_sha256": "0" * 64}, foreign)
    return {
        "missing column": ([ckpt, "--input", SST2_DEV, "--text-columns", "review"], SST2_DEV, "no column 'review'"),
        "empty file": ([ckpt, "--input", tmp_path / "empty.tsv"], tmp_path / "empty.tsv", "empty file"),
        "unreadable checkpoint": ([tmp_path / "junk.pt", "--input", SST2_DEV], tmp_path / "junk.pt", "checkpoint"),
        "label not a class": ([ckpt, "--input", tmp_path / "bad_label.tsv", "--label-column", "label"],
                              f"{tmp_path / 'bad_label.tsv'}:3", "'positive' is not one of"),
        "another label dictionary": ([ckpt, "--input", SST2_DEV, "--data", other_labels["renamed"]], ckpt,
                                     "another label dictionary"),
        "another label dictionary, PEFT file": ([sst2["base"], "--peft-file", peft, "--input", SST2_DEV, "--data",
                                                 other_labels["renamed"]], peft, "another label dictionary"),
        "three classes": ([ckpt, "--input", SST2_DEV, "--data", other_labels["three"]], ckpt, "classes a, b, c"),
        "PEFT file without its base": (["--peft-file", peft, "--input", SST2_DEV], peft, "needs the base model"),
        "PEFT file as checkpoint": ([peft, "--input", SST2_DEV], peft, "a PEFT-only file, not a checkpoint"),
        "PEFT file on another base": ([bitfit / "checkpoint_best.pt", "--peft-file", peft, "--input", SST2_DEV], peft,
                                      "made for the base model"),
        "second PEFT file for another base": ([sst2["base"], "--peft-file", peft, "--peft-file", foreign, "--input",
                                               SST2_DEV], foreign, "made for the base model with sha256 0000"),
        "output in a missing folder": ([ckpt, "--input", SST2_DEV, "--out", tmp_path / "no" / "out.csv"],
                                       tmp_path / "no" / "out.csv", "does not exist"),
    }


CASES = ["missing column", "empty file", "unreadable checkpoint", "label not a class", "another label dictionary",
         "another label dictionary, PEFT file", "three classes", "PEFT file without its base",
         "PEFT file as checkpoint", "PEFT file on another base", "second PEFT file for another base",
         "output in a missing folder"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_naming_the_file(sst2, other_labels, tmp_path, capsys, case):
    argv, named, message = bad_cases(sst2, other_labels, tmp_path)[case]
    out = tmp_path / "out.csv"
    code, stdout, err = predict(*argv, *([] if "--out" in argv else ["--out", out]), capsys=capsys)
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("predict.py: error: "), err
    assert str(named) in err and message in err, err
    assert not out.exists()


def test_an_interrupted_write_leaves_no_file(sst2, dev_subset, tmp_path, capsys, monkeypatch):
    from peft_roberta.predict import outputs

    out = tmp_path / "out.csv"
    out.write_text("the previous predictions\n")
    real = outputs.records

    def interrupted(*args, **kwargs):
        for i, record in enumerate(real(*args, **kwargs)):
            if i == 50:
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(outputs, "records", interrupted)
    code, _, err = predict(sst2["lora"] / "checkpoint_best.pt", "--input", dev_subset, "--out", out, capsys=capsys)
    assert code == 130 and "interrupted" in err
    assert out.read_text() == "the previous predictions\n" and os.listdir(tmp_path) == ["out.csv"]


def test_a_terminated_run_leaves_no_file(sst2, tmp_path):
    """SIGTERM while predicting (the progress bar shows): no output, no temporary file."""
    texts = [line.split("\t")[1] for line in (GLUE / "SST-2" / "test.tsv").read_text().splitlines()[1:]] * 3
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "predict.py"),
                             str(sst2["lora"] / "checkpoint_best.pt"), "--out", str(tmp_path / "out.csv")],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    proc.stdin.write("\n".join(texts).encode())
    proc.stdin.close()
    seen, deadline = b"", time.time() + 120
    while b"rows" not in seen and time.time() < deadline:
        chunk = os.read(proc.stderr.fileno(), 256)
        assert chunk, f"predict.py ended before predicting: {seen.decode()}"
        seen += chunk
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143
    assert os.listdir(tmp_path) == []


def test_report(sst2, dev_subset, tmp_path, capsys):
    """--report: predictions per second against the benchmark's measure, with the command that wrote them."""
    report = tmp_path / "predict.md"
    code, _, err = predict(sst2["lora"] / "checkpoint_best.pt", "--input", dev_subset, "--merge", "--out",
                           tmp_path / "out.csv", "--report", report, "--precision", "fp32", capsys=capsys)
    assert code == 0, err
    text = report.read_text()
    assert "## Usage" in text and "## Throughput" in text and f"--report {report}" in text
    assert "minilm with lora (merged into the base weights); 200 input rows" in text
    assert "the benchmark's inference measure" in text and "not measured" in text  # bf16 not asked for
