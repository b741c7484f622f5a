"""scripts/prepare_data.py on small subsets of the real datasets, with the real tokenizers and the
real fairseq-preprocess; the binarized files are read back with fairseq's own loaders."""
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
DATA = SHARED / "data"
sys.path.insert(0, str(REPO))

from conftest import load_script  # noqa: E402

prepare_data = load_script("prepare_data")
from peft_roberta.data import locations  # noqa: E402
from peft_roberta.data.pipeline import Request, digest_of, fingerprint_parts  # noqa: E402
from peft_roberta.data.readers import Columns  # noqa: E402
from peft_roberta.data.tokenizers import SentencePiece, WordPiece  # noqa: E402

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"the real datasets are not at {DATA} (set SHARED_DIR)")
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
WORDPIECE_VOCAB = locations.default_wordpiece_vocab()


def run_cli(*argv):
    """prepare_data.main in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = prepare_data.main([str(arg) for arg in argv])
    return code, out.getvalue(), err.getvalue()


def built(*argv):
    code, out, err = run_cli(*argv)
    assert code == 0, err
    assert err == ""
    return out


def wordpiece_dictionary(vocab: Path, path: Path) -> Path:
    """dict.txt for a WordPiece vocab as the model converter writes it: vocab order minus BERT's specials."""
    tokens = [t for t in vocab.read_text(encoding="utf-8").split("\n") if t and t not in BERT_SPECIALS]
    path.write_text("".join(f"{token} 1\n" for token in tokens), encoding="utf-8")
    return path


def bert_tokenizer():
    from transformers import BertTokenizer
    return BertTokenizer(str(WORDPIECE_VOCAB), do_lower_case=True)


def load_split(out_dir: Path, folder: str, split: str):
    """(dictionary, dataset) of one binarized split, through fairseq's loaders."""
    from fairseq.data import Dictionary, data_utils
    dictionary = Dictionary.load(str(out_dir / folder / "dict.txt"))
    dataset = data_utils.load_indexed_dataset(str(out_dir / folder / split), dictionary)
    assert dataset is not None, f"{out_dir / folder / split}: not found"
    return dictionary, dataset


def decoded(dictionary, dataset, index):
    """Symbols of one binarized line, without the </s> fairseq-preprocess appends."""
    symbols = [dictionary[i] for i in dataset[index].tolist()]
    assert symbols[-1] == "</s>"
    return symbols[:-1]


def examples(out_dir: Path, split: str):
    lines = (out_dir / "examples" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def raw_tsv(path: Path, column: str):
    """A column of a GLUE TSV, read without csv: tab-split lines after the optional BOM."""
    lines = path.read_text(encoding="utf-8-sig").split("\n")
    header = lines[0].split("\t")
    return [line.split("\t")[header.index(column)] for line in lines[1:] if line]


def assert_labels_in_class_order(out_dir: Path, split: str, classes):
    label_dict, dataset = load_split(out_dir, "label", split)
    labels = [example["label"] for example in examples(out_dir, split)]
    assert len(dataset) == len(labels)
    for i, label in enumerate(labels):
        assert dataset[i].tolist()[0] - label_dict.nspecial == classes.index(label)


def leftovers(parent: Path):
    return sorted(name for name in os.listdir(parent) if ".tmp-" in name or ".old-" in name)


@pytest.fixture(scope="module")
def wordpiece_model_dir(tmp_path_factory):
    """A model directory like the converter writes, without the weights prepare_data never reads."""
    model_dir = tmp_path_factory.mktemp("minilm")
    shutil.copyfile(WORDPIECE_VOCAB, model_dir / "vocab.txt")
    wordpiece_dictionary(WORDPIECE_VOCAB, model_dir / "dict.txt")
    (model_dir / "model_info.json").write_text(json.dumps({
        "arch": "roberta_peft_minilm", "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt", "lowercase": True}}))
    return model_dir


@pytest.fixture(scope="module")
def sst2(tmp_path_factory, wordpiece_model_dir):
    if not DATA.is_dir():
        pytest.skip(f"the real datasets are not at {DATA} (set SHARED_DIR)")
    out_dir = tmp_path_factory.mktemp("sst2") / "data-bin" / "sst2"
    argv = ["--task", "sst2", "--train", DATA / "glue/SST-2/train.tsv", "--dev", DATA / "glue/SST-2/dev.tsv",
            "--text-columns", "sentence", "--label-column", "label", "--model-dir", wordpiece_model_dir,
            "--max-train", "200", "--out-dir", out_dir, "--workers", "1"]
    stdout = built(*argv)
    return {"out": out_dir, "argv": argv, "stdout": stdout}


@needs_data
def test_sst2_wordpiece_matches_bert_tokenizer(sst2, wordpiece_model_dir):
    out = sst2["out"]
    lines = sst2["stdout"].splitlines()
    assert lines[0].startswith("read 200 train (sampled from 67349), 872 valid rows; 2 classes: 0, 1")
    assert lines[1].startswith("tokenized ") and lines[1].endswith("0.00% not in the dictionary")
    assert lines[2] == f"binarized input0, label into {out}"
    assert (out / "input0" / "dict.txt").read_text() == (wordpiece_model_dir / "dict.txt").read_text()

    tokenizer = bert_tokenizer()
    dictionary, valid = load_split(out, "input0", "valid")
    sentences = raw_tsv(DATA / "glue/SST-2/dev.tsv", "sentence")
    assert len(valid) == len(sentences) == 872
    for i in range(5):
        assert decoded(dictionary, valid, i) == tokenizer.tokenize(sentences[i])

    # the sample keeps the file's order (a subsequence of it) and its texts, outer spaces stripped
    _, train = load_split(out, "input0", "train")
    train_texts = [example["texts"][0] for example in examples(out, "train")]
    assert len(train) == len(train_texts) == 200
    remaining = iter(text.strip() for text in raw_tsv(DATA / "glue/SST-2/train.tsv", "sentence"))
    assert all(any(text == candidate for candidate in remaining) for text in train_texts)
    for i in range(3):
        assert decoded(dictionary, train, i) == tokenizer.tokenize(train_texts[i])


@needs_data
def test_sst2_labels_follow_the_fixed_order(sst2):
    out = sst2["out"]
    assert json.loads((out / "labels.json").read_text()) == {
        "classes": ["0", "1"], "text_columns": ["sentence"], "label_column": "label"}
    assert (out / "label" / "dict.txt").read_text().split("\n")[:2] == ["0 1", "1 1"]
    assert_labels_in_class_order(out, "valid", ["0", "1"])
    assert_labels_in_class_order(out, "train", ["0", "1"])
    assert Counter(e["label"] for e in examples(out, "valid")) == {"0": 428, "1": 444}


@needs_data
def test_sst2_rerun_is_skipped(sst2):
    fingerprint = sst2["out"] / "fingerprint.json"
    before = fingerprint.stat().st_mtime_ns
    assert built(*sst2["argv"]) == f"{sst2['out']}: up to date, skipping\n"
    assert fingerprint.stat().st_mtime_ns == before


@needs_data
def test_mrpc_pair_with_bom_and_labelled_test(tmp_path):
    mrpc = DATA / "glue/MRPC"
    out = tmp_path / "mrpc"
    built("--task", "mrpc", "--train", mrpc / "train.tsv", "--dev", mrpc / "dev.tsv",
          "--test", mrpc / "msr_paraphrase_test.txt", "--text-columns", "#1 String,#2 String",
          "--label-column", "Quality", "--tokenizer", "wordpiece",
          "--dict", wordpiece_dictionary(WORDPIECE_VOCAB, tmp_path / "dict.txt"),
          "--max-train", "100", "--out-dir", out)
    assert (out / "input0" / "dict.txt").read_text() == (out / "input1" / "dict.txt").read_text()
    sizes = {split: len(load_split(out, folder, split)[1])
             for folder in ("input0", "input1", "label") for split in ("train", "valid", "test")}
    assert sizes == {"train": 100, "valid": 408, "test": 1725}
    assert Counter(e["label"] for e in examples(out, "test")) == {"1": 1147, "0": 578}
    assert_labels_in_class_order(out, "test", ["0", "1"])

    tokenizer = bert_tokenizer()
    for folder, column in (("input0", "#1 String"), ("input1", "#2 String")):
        dictionary, test = load_split(out, folder, "test")
        first = raw_tsv(mrpc / "msr_paraphrase_test.txt", column)[0]
        assert decoded(dictionary, test, 0) == tokenizer.tokenize(first)

    # fairseq's sentence_prediction task reads the layout: <s> first </s> second </s>, targets in class order
    from fairseq.tasks.sentence_prediction import SentencePredictionConfig, SentencePredictionTask
    task = SentencePredictionTask.setup_task(SentencePredictionConfig(
        data=str(out), num_classes=2, init_token=0, separator_token=2, max_positions=512, seed=1,
        regression_target=False))
    task.load_dataset("test")
    batch = task.dataset("test").collater([task.dataset("test")[i] for i in range(8)])
    assert batch["target"].view(-1).tolist() == [int(e["label"]) for e in examples(out, "test")[:8]]
    assert (batch["net_input"]["src_tokens"] == task.source_dictionary.eos()).sum(dim=1).tolist() == [3] * 8


@needs_data
def test_restaurant_jsonl_pair_three_classes_trained_sentencepiece(tmp_path, monkeypatch):
    import sentencepiece as spm

    rest = DATA / "dsp/restaurant_sup"
    monkeypatch.chdir(tmp_path)
    stdout = built("--task", "restaurant", "--train", rest / "train.jsonl", "--dev", rest / "dev.jsonl",
                   "--test", rest / "test.jsonl", "--text-columns", "aspect,text", "--label-column", "label",
                   "--tokenizer", "sentencepiece", "--train-sentencepiece", "300", "--max-train", "300")
    out = Path("data-bin/restaurant.spm-trained300")
    assert "trained a 300-piece unigram sentencepiece model on 600 training texts" in stdout
    classes = ["negative", "neutral", "positive"]
    assert json.loads((out / "labels.json").read_text())["classes"] == classes
    assert_labels_in_class_order(out, "test", classes)
    assert Counter(e["label"] for e in examples(out, "test")) == {"positive": 728, "negative": 196, "neutral": 196}
    # one dictionary for both inputs, built from the training pieces of both columns
    assert (out / "input0" / "dict.txt").read_text() == (out / "input1" / "dict.txt").read_text()

    processor = spm.SentencePieceProcessor(model_file=str(out / "tokenizer" / "sentencepiece.model"))
    assert processor.get_piece_size() == 300
    retrained = SentencePiece(train_vocab_size=300, seed=0)  # same texts, same seed: same bytes
    retrained.prepare([text for e in examples(out, "train") for text in e["texts"]], tmp_path, 1)
    assert retrained.model.read_bytes() == (out / "tokenizer" / "sentencepiece.model").read_bytes()
    first = examples(out, "train")[0]
    for folder, text in zip(("input0", "input1"), first["texts"]):
        dictionary, train = load_split(out, folder, "train")
        assert decoded(dictionary, train, 0) == processor.encode(text, out_type=str)
    assert leftovers(out.parent) == []


@needs_data
def test_imdb_csv_strip_html_with_gpt2_and_the_official_dictionary(tmp_path):
    from fairseq.data.encoders.gpt2_bpe_utils import get_encoder

    with open(DATA / "imdb/train.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with_tab = next(row for row in rows if "\t" in row["text"] and "<br" in row["text"])
    subset = rows[:12] + [with_tab] + rows[-12:]
    with open(tmp_path / "train.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(subset)
    with open(tmp_path / "dev.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[100:104] + rows[-104:-100])

    out = tmp_path / "imdb.gpt2"
    stdout = built("--task", "imdb", "--train", tmp_path / "train.csv", "--dev", tmp_path / "dev.csv",
                   "--text-columns", "text", "--label-column", "label", "--tokenizer", "gpt2",
                   "--strip-html", "--out-dir", out)
    assert "with gpt2:" in stdout and "0.00% not in the dictionary" in stdout
    train = examples(out, "train")
    assert len(train) == len(subset)
    assert not any("<br" in e["texts"][0] for split in ("train", "valid") for e in examples(out, split))
    assert train[12]["texts"][0] == re.sub(r"<br\s*/?>", " ", with_tab["text"]).strip()
    assert "\t" in train[12]["texts"][0]

    official = (locations.roberta_dictionary()).read_text(encoding="utf-8")
    assert (out / "input0" / "dict.txt").read_text(encoding="utf-8") == official
    encoder = get_encoder(str(locations.gpt2_bpe_dir() / "encoder.json"), str(locations.gpt2_bpe_dir() / "vocab.bpe"))
    dictionary, binarized = load_split(out, "input0", "train")
    for i in (0, 12):
        assert decoded(dictionary, binarized, i) == [str(t) for t in encoder.encode(train[i]["texts"][0])]
    assert all(dictionary.unk() not in binarized[i].tolist() for i in range(len(binarized)))


@needs_data
def test_cls_books_with_the_given_sentencepiece_model(tmp_path):
    import sentencepiece as spm

    books, model = DATA / "cls_books", DATA / "cls_books/sentencepiece.french.model"
    out = tmp_path / "books"
    built("--task", "cls_books", "--train", books / "train.tsv", "--dev", books / "valid.tsv",
          "--text-columns", "sentence", "--label-column", "label", "--tokenizer", "sentencepiece",
          "--tokenizer-file", model, "--max-train", "100", "--out-dir", out)
    model_sha256 = hashlib.sha256(model.read_bytes()).hexdigest()
    assert json.loads((out / "fingerprint.json").read_text())["hashed"]["tokenizer"]["model"] == model_sha256
    assert SentencePiece(model).name == f"spm-{model_sha256[:8]}"
    processor = spm.SentencePieceProcessor(model_file=str(model))
    dictionary, train = load_split(out, "input0", "train")
    text = examples(out, "train")[0]["texts"][0]
    assert decoded(dictionary, train, 0) == processor.encode(text, out_type=str)
    assert len(load_split(out, "input0", "valid")[1]) == 400


# ----------------------------------------------------------------- rebuilds and concurrency (no shared data)

def write_tiny_corpus(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    words = ["good", "bad", "film", "plot", "actors", "boring", "great", "awful", "fun", "slow"]
    for split, count in (("train", 16), ("dev", 6)):
        rows = [f"{words[i % 10]} {words[(3 * i + 1) % 10]} movie number {i}\t{i % 2}" for i in range(count)]
        (folder / f"{split}.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return folder


def tiny_argv(folder: Path, out_dir: Path, *extra):
    return ["--task", "tiny", "--train", folder / "train.tsv", "--dev", folder / "dev.tsv",
            "--text-columns", "sentence", "--label-column", "label", "--tokenizer", "wordpiece",
            "--out-dir", out_dir, *extra]


@pytest.fixture(scope="module")
def concurrent_build(tmp_path_factory):
    """The tiny corpus prepared by two CLI processes started together."""
    root = tmp_path_factory.mktemp("concurrent")
    corpus = write_tiny_corpus(root / "corpus")
    out_dir = root / "data-bin" / "tiny"
    command = [sys.executable, str(REPO / "scripts" / "prepare_data.py"), *map(str, tiny_argv(corpus, out_dir))]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate() for proc in procs]
    results = [(proc.returncode, *output) for proc, output in zip(procs, outputs)]
    return {"root": root, "corpus": corpus, "out": out_dir, "results": results}


def test_two_concurrent_runs_publish_one_valid_output(concurrent_build):
    out = concurrent_build["out"]
    results = concurrent_build["results"]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert all(err == "" for _, _, err in results)
    skipped = f"{out}: up to date, skipping\n"
    builder, waiter = sorted((stdout for _, stdout, _ in results), key=lambda stdout: stdout == skipped)
    assert builder.endswith(f"binarized input0, label into {out}\n")
    assert waiter == skipped
    assert sorted(os.listdir(out.parent)) == ["tiny", "tiny.lock"]
    assert len(load_split(out, "input0", "train")[1]) == 16
    assert len(load_split(out, "label", "valid")[1]) == 6


def test_changed_input_byte_or_option_rebuilds(concurrent_build, tmp_path):
    # a copy of the inputs and the output elsewhere: paths are not part of the fingerprint
    corpus = Path(shutil.copytree(concurrent_build["corpus"], tmp_path / "corpus"))
    out = Path(shutil.copytree(concurrent_build["out"], tmp_path / "data-bin" / "tiny"))
    assert built(*tiny_argv(corpus, out)) == f"{out}: up to date, skipping\n"

    train = corpus / "train.tsv"
    train.write_bytes(train.read_bytes().replace(b"movie number 3", b"movie number 4", 1))
    (out.parent / ".tiny.tmp-999-0123abcd").mkdir()  # what a killed run leaves behind
    assert "binarized input0, label" in built(*tiny_argv(corpus, out))
    assert leftovers(out.parent) == []
    assert examples(out, "train")[3]["texts"] == [train.read_text().split("\n")[4].split("\t")[0]]

    assert "binarized input0, label" in built(*tiny_argv(corpus, out, "--max-train", "10"))
    assert len(examples(out, "train")) == 10
    assert built(*tiny_argv(corpus, out, "--max-train", "10")) == f"{out}: up to date, skipping\n"
    assert leftovers(out.parent) == []


def test_fingerprint_covers_every_option_that_changes_the_output(tmp_path):
    corpus = write_tiny_corpus(tmp_path / "corpus")
    raw = {split: (corpus / f"{split}.tsv").read_bytes() for split in ("train", "dev")}

    def digest(raw=raw, **changes):
        fields = dict(inputs={"train": corpus / "train.tsv", "valid": corpus / "dev.tsv"},
                      columns=Columns(("sentence",), "label"), tokenizer=WordPiece(WORDPIECE_VOCAB),
                      dictionary=None, out_dir=tmp_path / "out")
        fields.update(changes)
        request = Request(**fields)
        return digest_of(fingerprint_parts(request, {"train": raw["train"], "valid": raw["dev"]},
                                           {"train": "tsv", "valid": "tsv"}))

    base = digest()
    assert digest(workers=4, out_dir=tmp_path / "elsewhere") == base
    assert digest(inputs={"train": tmp_path / "moved.tsv", "valid": corpus / "dev.tsv"}) == base
    changed = [
        digest(raw={**raw, "train": raw["train"] + b"x"}),
        digest(tokenizer=WordPiece(WORDPIECE_VOCAB, lowercase=False)),
        digest(dictionary=wordpiece_dictionary(WORDPIECE_VOCAB, tmp_path / "dict.txt")),
        digest(max_train=5), digest(max_train=5, subset_seed=1), digest(strip_html=True),
        digest(classes=["1", "0"]), digest(columns=Columns(("sentence",), "other")),
    ]
    assert len({base, *changed}) == len(changed) + 1
