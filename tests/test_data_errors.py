"""Bad input to scripts/prepare_data.py: one ``prepare_data.py: error: <where>: <what>`` line on
stderr, exit code 2, and nothing written (no output, staging or lock file). Also: what looks odd
but is fine (a byte order mark, CRLF line ends, mixed formats) is accepted."""
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conftest import load_script  # noqa: E402

prepare_data = load_script("prepare_data")

TRAIN = b"sentence\tlabel\nfine film\t1\nbad film\t0\n"
DEV = b"sentence\tlabel\nok film\t1\n"
BOM = b"\xef\xbb\xbf"


def run_cli(*argv):
    """prepare_data.main in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = prepare_data.main([str(arg) for arg in argv])
    return code, out.getvalue(), err.getvalue()


def write_files(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def assert_refused(tmp_path, argv, expected):
    """Exit 2, one stderr line matching ``expected`` (after the prefix), and no trace on disk."""
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = run_cli(*argv)
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("prepare_data.py: error: "), lines[0]
    message = lines[0][len("prepare_data.py: error: "):]
    assert re.fullmatch(expected, message), message
    assert out == ""
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    return message


def argv_for(tmp_path, *extra, dev="dev.tsv", tokenizer=("--tokenizer", "wordpiece")):
    return ["--task", "t", "--train", tmp_path / "train.tsv", "--dev", tmp_path / dev, "--text-columns", "sentence",
            "--label-column", "label", *tokenizer, "--out-dir", tmp_path / "data-bin" / "t", *extra]


def with_option(argv, option, value):
    """``argv`` with ``option`` set to ``value`` (None: a flag), replacing an earlier value."""
    if value is None:
        return argv + [option]
    if option in argv:
        i = argv.index(option)
        return argv[:i + 1] + [value] + argv[i + 2:]
    return argv + [option, value]


# (files written over the good train.tsv/dev.tsv, extra options, expected message)
BAD_FILES = {
    "missing column in a row": (
        {"train.tsv": b"sentence\tlabel\nfine film\t1\nbad film\n"}, [],
        r".*/train\.tsv:3: 1 field but the header has 2 \(missing column\)"),
    "extra column in a row": (
        {"train.tsv": b"sentence\tlabel\nfine film\t1\t7\n"}, [],
        r".*/train\.tsv:2: 3 fields but the header has 2 \(extra column\)"),
    "empty file": ({"train.tsv": b""}, [], r".*/train\.tsv: empty file"),
    "empty file with a BOM and blank lines": ({"dev.tsv": BOM + b"\r\n\n"}, [], r".*/dev\.tsv: empty file"),
    "header only": ({"train.tsv": b"sentence\tlabel\n"}, [], r".*/train\.tsv: no data rows after the header"),
    "header without the text column": (
        {}, ["--text-columns", "text"],
        r".*/train\.tsv:1: no column 'text' \(--text-columns\); the header has: sentence, label"),
    "header without the label column": (
        {"dev.tsv": b"sentence\tgold\nok\t1\n"}, [],
        r".*/dev\.tsv:1: no column 'label' \(--label-column\); the header has: sentence, gold"),
    "dev label not a training class": (
        {"dev.tsv": b"sentence\tlabel\nok\t1\nmeh\t2\n"}, [],
        r".*/dev\.tsv:3: label '2' is not one of the training labels \(0, 1\)"),
    "training label not in --classes": (
        {}, ["--classes", "1,2"],
        r".*/train\.tsv:3: label '0' is not one of the classes given by --classes \(1, 2\)"),
    "invalid UTF-8": (
        {"train.tsv": b"sentence\tlabel\na\t1\nb\t0\nc\xff d\t1\n"}, [],
        r".*/train\.tsv:4: not valid UTF-8 \(byte 0xff at byte 2 of the line\)"),
    "empty text": ({"train.tsv": b"sentence\tlabel\na\t1\n \t0\n"}, [], r".*/train\.tsv:3: empty text in 'sentence'"),
    "empty text after --strip-html": (
        {"train.tsv": b"sentence\tlabel\na\t1\n<br /><BR>\t0\n"}, ["--strip-html", None],
        r".*/train\.tsv:3: empty text in 'sentence'"),
    "missing label": ({"train.tsv": b"sentence\tlabel\na\t1\nb\t\n"}, [],
                      r".*/train\.tsv:3: missing label \('label' is empty\)"),
    "label with a space": ({"train.tsv": b"sentence\tlabel\na\tvery good\n"}, [],
                           r".*/train\.tsv:2: label 'very good' contains whitespace "
                           r"\(a label must be a single token\)"),
    "blank line inside": ({"train.tsv": b"sentence\tlabel\na\t1\n\nb\t0\n"}, [], r".*/train\.tsv:3: empty line"),
    "missing --test file": ({}, ["--test", "nope.tsv"], r"nope\.tsv: no such file \(--test\)"),
    "unknown extension": ({"train.xlsx": b"x"}, ["--train", "train.xlsx"],
                          r"train\.xlsx: cannot tell the format from the extension '\.xlsx'; "
                          r"give --format tsv, csv or jsonl"),
    "unclosed CSV quote": (
        {"train.csv": b'sentence,label\na,1\n"b, 0\nc,1\n'}, ["--train", "train.csv"],
        r"train\.csv:3: malformed CSV \(unexpected end of data\)"),
    "JSONL line not JSON": (
        {"train.jsonl": b'{"sentence": "a", "label": 1}\n{"sentence": "b", label: 0}\n'}, ["--train", "train.jsonl"],
        r"train\.jsonl:2: not valid JSON \(Expecting property name enclosed in double quotes at column 19\)"),
    "JSONL line without the field": (
        {"train.jsonl": b'{"sentence": "a", "label": 1}\n{"text": "b", "label": 0}\n'}, ["--train", "train.jsonl"],
        r"train\.jsonl:2: no field 'sentence' \(--text-columns\); the object has: text, label"),
    "malformed --dict": ({"dict.txt": b"hello 3\nworld\n"}, ["--dict", "dict.txt"],
                         r"dict\.txt:2: expected '<token> <count>' \(--dict\)"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_input_is_refused_with_one_line(tmp_path, monkeypatch, case):
    files, extra, expected = BAD_FILES[case]
    write_files(tmp_path, {"train.tsv": TRAIN, "dev.tsv": DEV, **files})
    monkeypatch.chdir(tmp_path)  # relative names in `extra` resolve here
    argv = argv_for(tmp_path)
    for option, value in zip(extra[::2], extra[1::2]):
        argv = with_option(argv, option, value)
    assert_refused(tmp_path, argv, expected)


def write_model_dir(folder: Path, info, dictionary=True):
    write_files(folder, {"vocab.txt": "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nfine\nfilm\n"})
    if info is not None:
        write_files(folder, {"model_info.json": info if isinstance(info, str) else json.dumps(info)})
    if dictionary:
        write_files(folder, {"dict.txt": "fine 1\nfilm 1\n"})
    return folder


WORDPIECE_INFO = {"arch": "roberta_peft_minilm", "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt"}}
BAD_MODEL_DIRS = {
    "no model_info.json": (None, True, r".*/model/model_info\.json: no such file \(a model directory holds "
                                       r"model\.pt, dict\.txt and model_info\.json\)"),
    "model_info.json not JSON": ('{"arch": "x",\n "tokenizer": {type: 1}}', True,
                                 r".*/model/model_info\.json:2: not valid JSON \(Expecting property name enclosed "
                                 r"in double quotes at column 16\)"),
    "no tokenizer entry": ({"arch": "x"}, True, r".*/model/model_info\.json: no \"tokenizer\" object"),
    "unknown tokenizer type": ({"tokenizer": {"type": "bpe"}}, True,
                               r".*/model_info\.json: unknown tokenizer type \"bpe\" \(expected one of: gpt2, "
                               r"wordpiece, sentencepiece\)"),
    "tokenizer file missing": ({"tokenizer": {"type": "sentencepiece", "model": "spm.model"}}, True,
                               r".*/model/spm\.model: no such file \(named in .*/model/model_info\.json\)"),
    "no dict.txt": (WORDPIECE_INFO, False,
                    r".*/model/dict\.txt: no such file \(--model-dir needs the model's dictionary\)"),
}


@pytest.mark.parametrize("case", list(BAD_MODEL_DIRS))
def test_bad_model_dir_is_refused_with_one_line(tmp_path, case):
    info, dictionary, expected = BAD_MODEL_DIRS[case]
    write_files(tmp_path, {"train.tsv": TRAIN, "dev.tsv": DEV})
    model_dir = write_model_dir(tmp_path / "model", info, dictionary)
    assert_refused(tmp_path, argv_for(tmp_path, tokenizer=("--model-dir", model_dir)), expected)


def without(argv, option):
    i = argv.index(option)
    return argv[:i] + argv[i + 2:]


BAD_OPTIONS = {
    "no label column": (lambda argv, tmp: without(argv, "--label-column"),
                        r"the following arguments are required: --label-column"),
    "two tokenizer sources": (lambda argv, tmp: argv + ["--model-dir", tmp],
                              r"argument --model-dir: not allowed with argument --tokenizer"),
    "bad --max-train": (lambda argv, tmp: argv + ["--max-train", "0"],
                        r"argument --max-train: expected a positive integer, got '0'"),
    "--train-sentencepiece for wordpiece": (lambda argv, tmp: argv + ["--train-sentencepiece", "100"],
                                            r"--train-sentencepiece: only with --tokenizer sentencepiece"),
    "sentencepiece without a model": (
        lambda argv, tmp: with_option(argv, "--tokenizer", "sentencepiece"),
        r"--tokenizer-file: sentencepiece needs a model file, or --train-sentencepiece VOCAB_SIZE"),
    "label column also a text": (lambda argv, tmp: with_option(argv, "--label-column", "sentence"),
                                 r"--label-column: 'sentence' is also a text column"),
    "class listed twice": (lambda argv, tmp: argv + ["--classes", "0,1,0"], r"--classes: '0' is listed twice"),
    "task name with a slash": (lambda argv, tmp: with_option(argv, "--task", "a/b"),
                               r"--task: 'a/b' is not a plain name \(letters, digits, '\.', '_', '-'\)"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_options_are_refused_with_one_line(tmp_path, case):
    edit, expected = BAD_OPTIONS[case]
    write_files(tmp_path, {"train.tsv": TRAIN, "dev.tsv": DEV})
    assert_refused(tmp_path, edit(argv_for(tmp_path), tmp_path), expected)


def test_an_unrelated_existing_directory_is_not_replaced(tmp_path):
    write_files(tmp_path, {"train.tsv": TRAIN, "dev.tsv": DEV, "data-bin/t/notes.txt": b"mine"})
    code, out, err = run_cli(*argv_for(tmp_path))
    assert code == 2
    assert err.splitlines() == [f"prepare_data.py: error: {tmp_path}/data-bin/t: exists but was not written by "
                                "prepare_data.py (no fingerprint.json); remove it or choose another --out-dir"]
    assert (tmp_path / "data-bin" / "t" / "notes.txt").read_bytes() == b"mine"
    assert not any(".tmp-" in name for name in os.listdir(tmp_path / "data-bin"))


def test_the_real_command_prints_one_line_and_no_traceback(tmp_path):
    write_files(tmp_path, {"train.tsv": b"sentence\tlabel\nfine film\t1\nbad film\n", "dev.tsv": DEV})
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_data.py"), *map(str, argv_for(tmp_path))],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2
    assert proc.stderr == (f"prepare_data.py: error: {tmp_path}/train.tsv:3: "
                           "1 field but the header has 2 (missing column)\n")
    assert proc.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["dev.tsv", "train.tsv"]


def test_bom_crlf_and_mixed_formats_are_accepted(tmp_path):
    from fairseq.data import Dictionary, data_utils

    write_files(tmp_path, {
        "train.tsv": BOM + b'sentence\tlabel\r\nfine "film"\t1\r\nbad, film\t0\r\n',
        "dev.csv": b'sentence,label\r\n"ok,\r\nfilm",1\r\nbad,0\r\n',
        "test.jsonl": BOM + b'{"sentence": "good film", "label": 1}\r\n{"sentence": "so bad", "label": "0"}\r\n',
    })
    out = tmp_path / "data-bin" / "t"
    code, stdout, err = run_cli(*argv_for(tmp_path, "--test", tmp_path / "test.jsonl", dev="dev.csv"))
    assert (code, err) == (0, ""), err
    assert stdout.startswith("read 2 train, 2 valid, 2 test rows; 2 classes: 0, 1\n")
    rows = {split: [json.loads(line) for line in (out / "examples" / f"{split}.jsonl").read_text().splitlines()]
            for split in ("train", "valid", "test")}
    assert all(isinstance(row.pop("tokens"), int) for split in rows.values() for row in split)
    assert rows == {
        "train": [{"texts": ['fine "film"'], "label": "1"}, {"texts": ["bad, film"], "label": "0"}],
        "valid": [{"texts": ["ok, film"], "label": "1"}, {"texts": ["bad"], "label": "0"}],
        "test": [{"texts": ["good film"], "label": "1"}, {"texts": ["so bad"], "label": "0"}],
    }
    labels = Dictionary.load(str(out / "label" / "dict.txt"))
    binarized = data_utils.load_indexed_dataset(str(out / "label" / "test"), labels)
    assert [labels[binarized[i][0]] for i in range(len(binarized))] == ["1", "0"]
    assert sorted(os.listdir(out.parent)) == ["t", "t.lock"]
