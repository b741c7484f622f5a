"""Bad input and faults: each is refused before work starts with one line naming the culprit, or
recovered from, and no run ever reads another's state. docs/reliability.md lists every case here
(test_the_docs_list_every_case keeps the two together)."""
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, SHARED, run_dir
from test_recipes import run_recipe

pytestmark = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")
FAST = {"MODEL": "bert-tiny", "INITS": "random", "METHOD": "lora", "MAX_TRAIN": "64", "MAX_UPDATES": "2",
        "VALIDATIONS": "1", "OMP_NUM_THREADS": "1"}
SST2 = SHARED / "data" / "glue" / "SST-2"


def write_tsv(path, rows, header=("sentence", "label")):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def sst2_rows(start, count):
    lines = (SST2 / "train.tsv").read_text(encoding="utf-8").splitlines()[1 + start:1 + start + count]
    return [line.split("\t") for line in lines]


def custom(tmp_path, name, rows, dev=None, **env):
    train = write_tsv(tmp_path / f"{name}-train.tsv", rows)
    dev = write_tsv(tmp_path / f"{name}-dev.tsv", dev or rows[:20])
    return run_recipe("custom.sh", tmp_path, check=False, TASK=name, TRAIN=str(train), DEV=str(dev),
                      TEXT_COLUMNS="sentence", LABEL_COLUMN="label", **{**FAST, **env})


def one_line_refusal(proc, message):
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert message in proc.stdout, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout


# ---------------------------------------------------------------- defect 1: one run's state never reaches another
def test_runs_of_two_tasks_never_share_a_checkpoint_folder(tmp_path):
    first = custom(tmp_path, "a", sst2_rows(0, 64))
    second = custom(tmp_path, "b", sst2_rows(1000, 64))
    assert first.returncode == second.returncode == 0, second.stdout[-3000:]
    folders = [p for p in (tmp_path / "checkpoints" / "custom").iterdir() if p.is_dir()]
    assert len(folders) == 2
    logs = {p: (p / "train.log").read_text() for p in folders}
    assert not any("Loaded checkpoint" in log for log in logs.values())  # each started from scratch
    rows = [json.loads(line) for line in (tmp_path / "results" / "custom" / "runs.jsonl").read_text().splitlines()]
    assert {r["task"] for r in rows} == {"a", "b"} and len({r["run_id"] for r in rows}) == 2
    assert {Path(r["save_dir"]) for r in rows} == set(folders)


# ---------------------------------------------------------------- defects 2-6: refused before any data is prepared
@pytest.mark.parametrize("case,env,message", [
    ("one class", {"ONE_CLASS": "1"}, "every training example has the label '1'"),
    ("three text columns", {"TEXT_COLUMNS": "a,b,c"}, "TEXT_COLUMNS=a,b,c: give one text column, or two"),
    ("LR=abc", {"LR": "abc"}, "LR=abc: expected a positive number"),
    ("WARMUP=abc", {"WARMUP": "abc"}, "WARMUP=abc: expected a fraction in [0, 1)"),
    ("BATCH=abc", {"BATCH": "abc"}, "BATCH=abc: expected a positive integer"),
    ("BATCH=0", {"BATCH": "0"}, "BATCH=0: expected a positive integer"),
    ("LORA_TARGETS=foo", {"LORA_TARGETS": "foo"}, "LORA_TARGETS=foo: 'foo': unknown foo"),
    ("PEFT_LAYERS=7", {"PEFT_LAYERS": "7"}, "--peft-layers 7: layer 7 does not exist (the model has 2 layers, 0-1)"),
    ("BITFIT_BIASES with lora", {"BITFIT_BIASES": "all"}, "BITFIT_BIASES=all: only acts with METHOD=bitfit"),
    ("FROZEN_WEIGHTS_DTYPE=bf16 in fp32", {"FROZEN_WEIGHTS_DTYPE": "bf16", "PRECISION": "fp32"},
     "--frozen-weights-dtype bf16 needs --autocast-bf16 (PRECISION=bf16)"),
    ("missing TRAIN file", {"TRAIN": "nowhere.tsv"}, "TRAIN=nowhere.tsv: no such file"),
])
def test_bad_settings_are_refused_in_one_line_before_any_work(tmp_path, case, env, message):
    one_class = env.pop("ONE_CLASS", None)
    rows, dev_rows = sst2_rows(0, 64), sst2_rows(100, 20)
    if one_class:
        rows, dev_rows = [(text, "1") for text, _ in rows], [(text, "1") for text, _ in dev_rows]
    train = write_tsv(tmp_path / "train.tsv", rows)
    dev = write_tsv(tmp_path / "dev.tsv", dev_rows)
    proc = run_recipe("custom.sh", tmp_path, check=False, **{
        **FAST, "TASK": "t", "TRAIN": str(train), "DEV": str(dev), "TEXT_COLUMNS": "sentence",
        "LABEL_COLUMN": "label", **env})
    one_line_refusal(proc, message)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "results").exists()
    if case != "one class":  # the class count is known once the files are read, at preparation
        assert not (tmp_path / "data-bin").exists()


def test_examples_longer_than_the_model_are_cut_and_said_so_at_preparation(tmp_path):
    long = " ".join(["a wonderfully long and winding review"] * 40)
    rows = sst2_rows(0, 63) + [(long, "1")]
    proc = custom(tmp_path, "long", rows, dev=sst2_rows(100, 19) + [(long, "0")], MAX_POSITIONS="64")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "train: 1 of 64 examples are longer than 64 tokens" in proc.stdout
    assert "valid: 1 of 20 examples are longer than 64 tokens" in proc.stdout


def test_relative_paths_are_taken_from_where_the_recipe_was_started(tmp_path):
    write_tsv(tmp_path / "train.tsv", sst2_rows(0, 64))
    write_tsv(tmp_path / "dev.tsv", sst2_rows(100, 20))
    proc = subprocess.run(["bash", str(REPO / "recipes" / "custom.sh")], cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env={**os.environ, **FAST, "TASK": "rel", "TRAIN": "train.tsv", "DEV": "dev.tsv",
                               "TEXT_COLUMNS": "sentence", "LABEL_COLUMN": "label", "WORK_DIR": "work",
                               "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "work" / "results" / "custom" / "runs.jsonl").is_file()
    assert not (REPO / "work").exists()


# ---------------------------------------------------------------- defect 7: a corrupt results line
def test_a_corrupt_line_in_runs_jsonl_is_skipped_with_a_warning(tmp_path):
    rows = sst2_rows(0, 64)
    assert custom(tmp_path, "c", rows).returncode == 0
    results = tmp_path / "results" / "custom" / "runs.jsonl"
    results.write_text("{not json\n" + results.read_text())
    again = custom(tmp_path, "c", rows)
    # the runs go on (the corrupt line is skipped with a warning, the run after it is found done); the
    # aggregation, which must not drop a row silently, then names the file and line
    assert "Traceback" not in again.stdout and "already in" in again.stdout
    assert f"{results}:1: unreadable line skipped" in again.stdout
    assert again.returncode == 2 and f"{results}:1: not valid JSON" in again.stdout


# ---------------------------------------------------------------- defects 8-9: checkpoints and model files
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    work = tmp_path_factory.mktemp("finished")
    proc = custom(work, "f", sst2_rows(0, 64))
    assert proc.returncode == 0, proc.stdout[-3000:]
    return work, run_dir(work, "custom", init="random")


def bad_files(tmp_path, finished):
    _, folder = finished
    (tmp_path / "text.pt").write_text("not a checkpoint\n")
    torch.save({"model": {}}, tmp_path / "no_cfg.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    (tmp_path / "exists").write_text("a file\n")
    return {"a text file": (tmp_path / "text.pt", "not a readable checkpoint"),
            "a torch file without cfg": (tmp_path / "no_cfg.pt", "not a fairseq checkpoint"),
            "a list": (tmp_path / "list.pt", "not a fairseq checkpoint"),
            "a PEFT-only file": (folder / "checkpoint_best.peft.pt", "a PEFT-only file: give its base"),
            "an existing file as OUT_DIR": (folder / "checkpoint_best.pt", "exists and is not a directory")}


@pytest.mark.parametrize("case", ["a text file", "a torch file without cfg", "a list", "a PEFT-only file",
                                  "an existing file as OUT_DIR"])
def test_export_refuses_bad_checkpoints_in_one_line(tmp_path, finished, case):
    path, message = bad_files(tmp_path, finished)[case]
    out = tmp_path / "exists" if case == "an existing file as OUT_DIR" else tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "export_checkpoint.py"), str(path), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert case == "an existing file as OUT_DIR" or not out.exists()


class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/fairseq-peft-pwned",))


@pytest.mark.parametrize("case,message", [
    ("malformed config.json", "config.json:1: not valid JSON"),
    ("pickled os.system", "refused to load"),
    ("truncated weights", "truncated or not a torch checkpoint"),
])
def test_converter_refuses_bad_huggingface_files_in_one_line(tmp_path, case, message):
    from peft_roberta.models.pretrained import minilm_source

    hf = tmp_path / "hf"
    hf.mkdir()
    source = Path(minilm_source())
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        if (source / name).is_file():
            (hf / name).write_bytes((source / name).read_bytes())
    weights = torch.load(next(source.glob("*.bin"))) if list(source.glob("*.bin")) else None
    if case == "malformed config.json":
        (hf / "config.json").write_text("{ 'model_type': bert }")
        torch.save({"x": torch.zeros(1)}, hf / "pytorch_model.bin")
    elif case == "pickled os.system":
        with open(hf / "pytorch_model.bin", "wb") as f:
            pickle.dump({"weights": Boom()}, f)
    else:
        from safetensors.torch import load_file

        state = weights or load_file(str(source / "model.safetensors"))
        torch.save(state, hf / "pytorch_model.bin")
        data = (hf / "pytorch_model.bin").read_bytes()
        (hf / "pytorch_model.bin").write_bytes(data[: len(data) // 3])
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "convert_hf_to_fairseq.py"), str(hf),
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not Path("/tmp/fairseq-peft-pwned").exists() and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- defects 10-12: faults during a run
def test_a_full_disk_while_saving_gives_one_line_and_leaves_no_temporary_file(tmp_path):
    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (3 << 20, 3 << 20))  # 3 MB: the logs fit, a checkpoint not

    rows = sst2_rows(0, 64)
    write_tsv(tmp_path / "train.tsv", rows)
    write_tsv(tmp_path / "dev.tsv", rows[:20])
    custom(tmp_path, "d", rows, MAX_UPDATES="1")  # data and model ready, so that only the run meets the limit
    env = {**os.environ, **FAST, "TASK": "d2", "TRAIN": str(tmp_path / "train.tsv"), "DEV": str(tmp_path / "dev.tsv"),
           "TEXT_COLUMNS": "sentence", "LABEL_COLUMN": "label", "WORK_DIR": str(tmp_path), "PYTHONWARNINGS": "ignore",
           "MAX_UPDATES": "2"}
    proc = subprocess.run(["bash", str(REPO / "recipes" / "custom.sh")], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=small_files)
    assert proc.returncode != 0
    assert "training exited with" in proc.stdout and "Traceback (most recent call last)" not in proc.stdout.split(
        "run_experiment.py: error")[-1]
    assert not list((tmp_path / "checkpoints").rglob("*.tmp*"))


def test_a_truncated_checkpoint_last_is_moved_aside_and_the_run_starts_over(tmp_path):
    from peft_roberta.runs import experiment

    rows = sst2_rows(0, 64)
    assert custom(tmp_path, "t", rows, MAX_UPDATES="4").returncode == 0
    folder = run_dir(tmp_path, "custom", init="random")
    (folder / "checkpoint_last.pt").write_bytes((folder / "checkpoint_best.pt").read_bytes()[:1000])
    assert experiment.last_checkpoint_updates(str(folder)) == 0
    assert not (folder / "checkpoint_last.pt").exists() and list(folder.glob("checkpoint_last.pt.unreadable-*"))


def test_a_run_whose_training_ended_is_evaluated_without_another_update(tmp_path):
    """Killed after training, before its row: the rerun must not train one update more."""
    rows = sst2_rows(0, 64)
    assert custom(tmp_path, "k", rows, MAX_UPDATES="3").returncode == 0
    folder = run_dir(tmp_path, "custom", init="random")
    results = tmp_path / "results" / "custom" / "runs.jsonl"
    (row,) = [json.loads(line) for line in results.read_text().splitlines()]
    # the state of a run killed between the end of fairseq-train and its row: checkpoint_last, no marker, no row
    (folder / "checkpoint_last.pt").write_bytes((folder / "checkpoint_best.pt").read_bytes())
    (folder / "training_done.json").unlink()
    results.unlink()
    log_before = (folder / "train.log").read_text()
    again = custom(tmp_path, "k", rows, MAX_UPDATES="3")
    assert again.returncode == 0 and "training had ended at update 3; evaluating" in again.stdout
    (rerun,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert rerun["updates"] == row["updates"] == 3 and rerun["dev_accuracy"] == row["dev_accuracy"]
    assert (folder / "train.log").read_text() == log_before  # fairseq-train did not start again


# ---------------------------------------------------------------- defect 13: defaults that do not learn
def test_small_custom_datasets_get_enough_updates_and_runs_at_the_majority_are_flagged(tmp_path):
    from peft_roberta.runs.plan import schedule
    from peft_roberta.runs.settings import profile_defaults

    rule = profile_defaults("quick", "custom", "lora")
    assert rule["epochs"] == 3 and rule["min_updates"] == 400
    small = schedule(rule, n_train=2500)  # 2,500 pairs, batch 32: 79 updates an epoch
    assert small["updates"] == 6 * 79 and small["updates"] >= 400
    assert schedule(rule, n_train=160000)["updates"] == 3 * 5000  # large data: 3 epochs
    proc = custom(tmp_path, "m", sst2_rows(0, 64), LR="1e-9")  # learns nothing: stays at the majority class
    assert proc.returncode == 0
    (row,) = [json.loads(line) for line in (tmp_path / "results" / "custom" / "runs.jsonl").read_text().splitlines()]
    majority = row["majority_dev_accuracy"]
    assert row["at_majority"] == (row["dev_accuracy"] <= majority)
    summary = (tmp_path / "results" / "custom" / "summary.md").read_text()
    assert row["at_majority"] is False or "no better than the majority class" in summary


def test_the_docs_list_every_case():
    doc = (REPO / "docs" / "reliability.md").read_text()
    source = Path(__file__).read_text()
    import re

    cases = re.findall(r'^    \("([^"]+)", \{', source, flags=re.M) + re.findall(r'"(a [^"]+|an [^"]+)": \(', source)
    cases += re.findall(r'^    \("([^"]+)", "', source, flags=re.M)
    tests = re.findall(r"^def (test_\w+)", source, flags=re.M)
    missing = [c for c in cases + tests if c not in doc and c != "test_the_docs_list_every_case"]
    assert not missing, f"docs/reliability.md does not list: {missing}"
