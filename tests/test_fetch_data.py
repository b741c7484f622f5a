"""scripts/fetch_data.py (peft_roberta.data.fetch) through local mirrors: small fixture files in the
formats of the real sources, and, where ../shared is present, the real files (or sources rebuilt from
them) to prove the output is byte-identical to shared/data (the sha256 of PROVENANCE.md are checked
by the package)."""
import contextlib
import csv
import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import random
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from peft_roberta.data.fetch import DATASETS, OUTPUTS, SHA256, command, convert, download

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "fetch_data.py"
SHARED = Path(os.environ.get("SHARED_DIR") or REPO.parent / "shared")
DATA = SHARED / "data"

needs_shared = pytest.mark.skipif(not DATA.is_dir(), reason=f"the real datasets are not at {DATA} (set SHARED_DIR)")
FRENCH_MODEL = DATA / "cls_books" / "sentencepiece.french.model"


@pytest.fixture(autouse=True)
def no_mirror_from_environment(monkeypatch):
    monkeypatch.delenv(command.MIRROR_ENV, raising=False)


def run_main(*argv):
    """The command line of fetch_data.py in this process: (exit code, stdout lines, stderr text)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = command.main([str(arg) for arg in argv])
    return code, out.getvalue().splitlines(), err.getvalue()


def fetch_ok(dataset, mirror, dest):
    code, lines, err = run_main(dataset, "--dest", dest, "--mirror", mirror)
    assert (code, err) == (0, ""), err
    assert len(lines) == len(OUTPUTS[dataset])
    return lines


def assert_failed(code, lines, err, dest, *needles):
    assert code == 2
    assert lines == []
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("fetch_data.py: error: ")
    for needle in needles:
        assert needle in err, err
    assert not dest.exists()
    if dest.parent.exists():
        assert not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.partial-")]


def without_checksums(monkeypatch, dataset, keep=()):
    """Fixture files are not the real ones: keep only the checksums named in ``keep``."""
    table = {name: digest for name, digest in SHA256[dataset].items() if name in keep}
    monkeypatch.setitem(SHA256, dataset, table)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- sst2 ----------------------------------------------------------------------------------------
SST_FIXTURE = {
    "train.tsv": b"sentence\tlabel\nhide new secretions from the parental units \t0\ngreat fun \t1\n",
    "dev.tsv": b"sentence\tlabel\nit 's a charming and often affecting journey . \t1\n",
    "test.tsv": b"index\tsentence\n0\tuneasy mishmash of styles and genres .\n",
}


def make_sst_zip(folder, files, extra=True):
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "SST-2.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("SST-2/", b"")
        for name, data in files.items():
            zf.writestr(f"SST-2/{name}", data)
        if extra:
            zf.writestr("SST-2/original/README.txt", b"Stanford Sentiment Treebank\n")
    return folder


def test_sst2_fixture_zip(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "sst2")
    mirror = make_sst_zip(tmp_path / "mirror", SST_FIXTURE)
    lines = fetch_ok("sst2", mirror, tmp_path / "out" / "SST-2")
    assert sorted(p.name for p in (tmp_path / "out" / "SST-2").iterdir()) == ["dev.tsv", "test.tsv", "train.tsv"]
    for name, data in SST_FIXTURE.items():
        assert (tmp_path / "out" / "SST-2" / name).read_bytes() == data
    assert all(line.endswith("\tno reference checksum") for line in lines)


@needs_shared
def test_sst2_real_files_are_verified(tmp_path):
    files = {name: (DATA / "glue" / "SST-2" / name).read_bytes() for name in SST_FIXTURE}
    mirror = make_sst_zip(tmp_path / "mirror", files)
    lines = fetch_ok("sst2", mirror, tmp_path / "SST-2")
    assert all(line.endswith("\tverified") for line in lines)


def test_checksum_mismatch_fails_and_leaves_nothing(tmp_path):
    mirror = make_sst_zip(tmp_path / "mirror", SST_FIXTURE)
    dest = tmp_path / "new" / "glue" / "SST-2"
    code, lines, err = run_main("sst2", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "sst2: checksum mismatch for train.tsv",
                  SHA256["sst2"]["train.tsv"])
    assert not (tmp_path / "new").exists()  # the parent folders it made are gone too


def test_sst2_zip_without_a_split_is_rejected(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "sst2")
    mirror = make_sst_zip(tmp_path / "mirror", {"train.tsv": SST_FIXTURE["train.tsv"]})
    dest = tmp_path / "SST-2"
    code, lines, err = run_main("sst2", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "unexpected content in file://", "SST-2.zip", "no SST-2/dev.tsv")


def test_not_a_zip_is_rejected(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "sst2")
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "SST-2.zip").write_bytes(b"<html>rate limited</html>")
    dest = tmp_path / "SST-2"
    code, lines, err = run_main("sst2", "--dest", dest, "--mirror", tmp_path / "mirror")
    assert_failed(code, lines, err, dest, "not a readable zip archive")


def patch_central_directory(archive, flag_bits=0, compress_type=None, name=None):
    """Edit every entry of the zip's central directory: OR ``flag_bits`` into its flags, set its
    compression method, replace ``name`` = (old, new) bytes in its file name (same length)."""
    data = bytearray(archive.read_bytes())
    start = data.find(b"PK\x01\x02")
    while start != -1:
        flags, method = int.from_bytes(data[start + 8:start + 10], "little"), data[start + 10:start + 12]
        data[start + 8:start + 10] = (flags | flag_bits).to_bytes(2, "little")
        if compress_type is not None:
            method = compress_type.to_bytes(2, "little")
        data[start + 10:start + 12] = method
        length = int.from_bytes(data[start + 28:start + 30], "little")
        if name is not None:
            data[start + 46:start + 46 + length] = bytes(data[start + 46:start + 46 + length]).replace(*name)
        start = data.find(b"PK\x01\x02", start + 46 + length)
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, needle", [
    ({"flag_bits": 0x1}, "cannot read SST-2/train.tsv (File 'SST-2/train.tsv' is encrypted"),
    ({"compress_type": 99}, "cannot read SST-2/train.tsv (That compression method is not supported)"),
    ({"flag_bits": 0x800, "name": (b"original", b"origin\xff\xfe")}, "not a readable zip archive ('utf-8' codec"),
])
def test_unreadable_zip_entries_are_rejected(tmp_path, monkeypatch, damage, needle):
    without_checksums(monkeypatch, "sst2")
    mirror = make_sst_zip(tmp_path / "mirror", SST_FIXTURE)
    patch_central_directory(mirror / "SST-2.zip", **damage)
    dest = tmp_path / "SST-2"
    code, lines, err = run_main("sst2", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "unexpected content in file://", needle, "put the files in data/glue/SST-2")


# ---- mrpc ----------------------------------------------------------------------------------------
MSR_HEADER = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
MSR_TRAIN_ROWS = [
    "1\t702876\t702977\tAmrozi accused his brother .\tReferring to him as only \" the witness \" .\n",
    "0\t2108705\t2108831\tYucaipa owned Dominick 's .\tYucaipa bought Dominick 's in 1995 .\n",
    "1\t1330381\t1330521\tCafé prices rose 5 % .\tThe café said prices rose .\n",
]
MSR_TEST_ROWS = [
    "1\t1089874\t1089925\tPCCW 's chief operating officer .\tCurrent Chief Operating Officer .\n",
    "0\t3019446\t3019327\tSales declined .\tSales fell sharply .\n",
]


def make_mrpc_mirror(folder, line_end="\n"):
    folder.mkdir(parents=True)
    for name, rows in (("msr_paraphrase_train.txt", MSR_TRAIN_ROWS), ("msr_paraphrase_test.txt", MSR_TEST_ROWS)):
        (folder / name).write_bytes((MSR_HEADER + "".join(rows)).replace("\n", line_end).encode("utf-8"))
    (folder / "dev_ids.tsv").write_bytes(f"2108705\t2108831{line_end}".encode())
    return folder


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_mrpc_fixture_split_as_glue(tmp_path, monkeypatch, line_end):
    without_checksums(monkeypatch, "mrpc")
    mirror = make_mrpc_mirror(tmp_path / "mirror", line_end)
    dest = tmp_path / "MRPC"
    fetch_ok("mrpc", mirror, dest)

    def read(name):
        return (dest / name).read_bytes().decode("utf-8")

    assert read("train.tsv") == MSR_HEADER + MSR_TRAIN_ROWS[0] + MSR_TRAIN_ROWS[2]
    assert read("dev.tsv") == MSR_HEADER + MSR_TRAIN_ROWS[1]
    assert read("dev.tsv").startswith("\ufeffQuality")  # the BOM of the original header, as GLUE keeps it
    assert read("test.tsv") == (
        "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        "0\t1089874\t1089925\tPCCW 's chief operating officer .\tCurrent Chief Operating Officer .\n"
        "1\t3019446\t3019327\tSales declined .\tSales fell sharply .\n")
    assert read("msr_paraphrase_test.txt") == MSR_HEADER + "".join(MSR_TEST_ROWS)  # labelled, LF
    assert read("dev_ids.tsv") == "2108705\t2108831\n"


def test_mrpc_row_with_missing_field_is_rejected(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "mrpc")
    mirror = make_mrpc_mirror(tmp_path / "mirror")
    with open(mirror / "msr_paraphrase_train.txt", "ab") as f:
        f.write(b"1\t1\t2\tonly one sentence\n")
    dest = tmp_path / "MRPC"
    code, lines, err = run_main("mrpc", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "msr_paraphrase_train.txt", "line 5 has 4 tab-separated fields")


@needs_shared
def test_mrpc_real_files_give_shared_data_byte_for_byte(tmp_path):
    lines = fetch_ok("mrpc", DATA / "glue" / "MRPC", tmp_path / "MRPC")
    assert all(line.endswith("\tverified") for line in lines)  # all six sha256 of PROVENANCE.md
    for name in OUTPUTS["mrpc"]:
        assert (tmp_path / "MRPC" / name).read_bytes() == (DATA / "glue" / "MRPC" / name).read_bytes()


@needs_shared
def test_mrpc_real_files_with_crlf_line_ends_still_verify(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for source in DATASETS["mrpc"].sources:
        data = (DATA / "glue" / "MRPC" / source.name).read_bytes()
        (mirror / source.name).write_bytes(data.replace(b"\n", b"\r\n"))
    lines = fetch_ok("mrpc", mirror, tmp_path / "MRPC")
    assert all(line.endswith("\tverified") for line in lines)


@needs_shared
def test_kept_source_with_wrong_checksum_names_its_url(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for source in DATASETS["mrpc"].sources:
        (mirror / source.name).write_bytes((DATA / "glue" / "MRPC" / source.name).read_bytes())
    with open(mirror / "msr_paraphrase_test.txt", "ab") as f:
        f.write(b"1\t1\t2\ta\tb\n")
    dest = tmp_path / "MRPC"
    code, lines, err = run_main("mrpc", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "mrpc: checksum mismatch for msr_paraphrase_test.txt from file://",
                  "/mirror/msr_paraphrase_test.txt")


# ---- imdb ----------------------------------------------------------------------------------------
def make_imdb_tar(folder, reviews, readme=b"Large Movie Review Dataset v1.0\n", shuffle_seed=0, junk=True):
    """aclImdb_v1.tar.gz with ``reviews`` {'train/pos/0_9.txt': text}, in shuffled member order."""
    members = {f"aclImdb/{path}": text.encode("utf-8") for path, text in reviews.items()}
    if readme is not None:
        members["aclImdb/README"] = readme
    if junk:
        members.update({"aclImdb/imdb.vocab": b"the\nand\n", "aclImdb/train/unsup/0_0.txt": b"unlabelled",
                        "aclImdb/train/urls_pos.txt": b"http://www.imdb.com/title/tt0453418/usercomments\n",
                        "aclImdb/train/labeledBow.feat": b"9 0:9 1:1\n"})
    order = list(members)
    random.Random(shuffle_seed).shuffle(order)
    folder.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for directory in ("aclImdb", "aclImdb/train", "aclImdb/test"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name in order:
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))
    (folder / "aclImdb_v1.tar.gz").write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
    return folder


IMDB_FIXTURE = {
    "train/pos/10_9.txt": "Ten, with a comma.",
    "train/pos/2_7.txt": 'Two "quoted"<br /><br />and a\ttab.',
    "train/neg/3_1.txt": "Très mauvais — a non-ASCII review.",
    "train/neg/0_4.txt": "Zero.",
    "test/neg/1_2.txt": "Once again Mr. Costner has dragged out a movie.",
    "test/pos/0_10.txt": "Fine.",
}


def test_imdb_fixture_tar(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "imdb")
    mirror = make_imdb_tar(tmp_path / "mirror", IMDB_FIXTURE)
    dest = tmp_path / "imdb"
    fetch_ok("imdb", mirror, dest)
    assert (dest / "train.csv").read_bytes().decode("utf-8") == (
        "text,label,rating,file\n"
        "Zero.,0,4,train/neg/0_4.txt\n"
        "Très mauvais — a non-ASCII review.,0,1,train/neg/3_1.txt\n"
        '"Two ""quoted""<br /><br />and a\ttab.",1,7,train/pos/2_7.txt\n'
        '"Ten, with a comma.",1,9,train/pos/10_9.txt\n')
    with open(dest / "test.csv", newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [
            ["text", "label", "rating", "file"],
            ["Once again Mr. Costner has dragged out a movie.", "0", "2", "test/neg/1_2.txt"],
            ["Fine.", "1", "10", "test/pos/0_10.txt"]]
    assert (dest / "README_aclImdb.txt").read_bytes() == b"Large Movie Review Dataset v1.0\n"
    assert sorted(p.name for p in dest.iterdir()) == ["README_aclImdb.txt", "test.csv", "train.csv"]


def test_imdb_archive_without_readme_is_rejected(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "imdb")
    mirror = make_imdb_tar(tmp_path / "mirror", IMDB_FIXTURE, readme=None)
    dest = tmp_path / "imdb"
    code, lines, err = run_main("imdb", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "aclImdb_v1.tar.gz", "no aclImdb/README")


def test_truncated_imdb_archive_is_rejected(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "imdb")
    mirror = make_imdb_tar(tmp_path / "mirror", IMDB_FIXTURE)
    archive = mirror / "aclImdb_v1.tar.gz"
    archive.write_bytes(archive.read_bytes()[:200])
    dest = tmp_path / "imdb"
    code, lines, err = run_main("imdb", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "not a readable .tar.gz archive")


def test_imdb_archive_with_a_bad_pax_header_is_rejected(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "imdb")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("aclImdb/README")
        info.size, info.pax_headers = 3, {"GNU.sparse.major": "0", "GNU.sparse.minor": "1", "GNU.sparse.map": "a,b"}
        tar.addfile(info, io.BytesIO(b"abc"))
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "aclImdb_v1.tar.gz").write_bytes(gzip.compress(raw.getvalue()))
    dest = tmp_path / "imdb"
    code, lines, err = run_main("imdb", "--dest", dest, "--mirror", tmp_path / "mirror")
    assert_failed(code, lines, err, dest, "not a readable .tar.gz archive (invalid literal for int()")


@needs_shared
def test_imdb_rebuilt_archive_gives_shared_data_byte_for_byte(tmp_path):
    """All 50,000 reviews of shared/data/imdb put back into an aclImdb tree (shuffled) and fetched."""
    reviews = {}
    for split in ("train", "test"):
        with open(DATA / "imdb" / f"{split}.csv", newline="", encoding="utf-8") as f:
            for text, _, _, path in list(csv.reader(f))[1:]:
                reviews[path] = text
    mirror = make_imdb_tar(tmp_path / "mirror", reviews, readme=(DATA / "imdb" / "README_aclImdb.txt").read_bytes())
    lines = fetch_ok("imdb", mirror, tmp_path / "imdb")
    assert all(line.endswith("\tverified") for line in lines)


# ---- restaurant ----------------------------------------------------------------------------------
def test_restaurant_fixture_json(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "restaurant")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    examples = {  # as in the source: keys sorted inside each example, 4-space indent; order is kept
        "9_1": {"contra": False, "id": "9_1", "polarity": "positive", "sentence": "Great café.", "term": "café"},
        "3_0": {"contra": True, "id": "3_0", "polarity": "negative", "sentence": "Bad \"service\".", "term": "service"},
    }
    for name in ("train.json", "dev.json", "test_full.json"):
        (mirror / name).write_text(json.dumps(examples, indent=4), encoding="utf-8")
    dest = tmp_path / "restaurant_sup"
    fetch_ok("restaurant", mirror, dest)
    assert (dest / "dev.jsonl").read_text(encoding="utf-8") == (
        '{"id": "9_1", "text": "Great caf\\u00e9.", "aspect": "caf\\u00e9", "label": "positive", "contra": false}\n'
        '{"id": "3_0", "text": "Bad \\"service\\".", "aspect": "service", "label": "negative", "contra": true}\n')
    assert (dest / "raw" / "test_full.json").read_bytes() == (mirror / "test_full.json").read_bytes()


def test_restaurant_example_without_term_is_rejected(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "restaurant")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("train.json", "dev.json", "test_full.json"):
        (mirror / name).write_text('{"1_0": {"id": "1_0", "sentence": "x", "polarity": "neutral", "contra": false}}')
    dest = tmp_path / "restaurant_sup"
    code, lines, err = run_main("restaurant", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "train.json", "example '1_0' lacks term")


@pytest.mark.parametrize("text", ["[" * 100_000, "{\"1_0\": " + "1" * 5000 + "}", "not json"])
def test_restaurant_json_that_cannot_be_read_is_rejected(tmp_path, monkeypatch, text):
    without_checksums(monkeypatch, "restaurant")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("train.json", "dev.json", "test_full.json"):
        (mirror / name).write_text(text)
    dest = tmp_path / "restaurant_sup"
    code, lines, err = run_main("restaurant", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "/mirror/train.json: not JSON (")


@needs_shared
def test_restaurant_real_files_give_shared_data_byte_for_byte(tmp_path):
    lines = fetch_ok("restaurant", DATA / "dsp" / "restaurant_sup" / "raw", tmp_path / "restaurant_sup")
    assert all(line.endswith("\tverified") for line in lines)
    for name in OUTPUTS["restaurant"]:
        assert sha256(tmp_path / "restaurant_sup" / name) == sha256(DATA / "dsp" / "restaurant_sup" / name)


# ---- cls_books -----------------------------------------------------------------------------------
needs_french_model = pytest.mark.skipif(not FRENCH_MODEL.is_file(), reason=f"no {FRENCH_MODEL} (set SHARED_DIR)")


def make_cls_mirror(folder, splits):
    """Mirror with the model and, per split, ``.review.spm`` (pieces) and ``.label`` made from
    ``splits`` {split: [(sentence, label), ...]} with the real sentencepiece model."""
    sentencepiece = pytest.importorskip("sentencepiece")
    processor = sentencepiece.SentencePieceProcessor(model_file=str(FRENCH_MODEL))
    folder.mkdir(parents=True)
    (folder / FRENCH_MODEL.name).write_bytes(FRENCH_MODEL.read_bytes())
    for split, rows in splits.items():
        pieces = "".join(" ".join(processor.encode(sentence, out_type=str)) + "\n" for sentence, _ in rows)
        (folder / f"{split}.review.spm").write_text(pieces, encoding="utf-8")
        (folder / f"{split}.label").write_text("".join(f"{label}\n" for _, label in rows), encoding="utf-8")
    return folder


CLS_FIXTURE = {
    "train": [("Un petit livre très utile pour améliorer la santé.", "1"), ("Je suis déçue par cette histoire.", "0")],
    "valid": [("Du très grand Amélie Nothomb. Un livre qui peut rendre fou !!", "1")],
    "test": [("C'est un chef-d'oeuvre : à lire absolument.", "1"), ("Ennuyeux... 10/18, 500 pages.", "0")],
}


@needs_french_model
def test_cls_books_fixture_pieces_decode_back(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "cls_books", keep=("sentencepiece.french.model",))
    mirror = make_cls_mirror(tmp_path / "mirror", CLS_FIXTURE)
    assert "▁" in (mirror / "train.review.spm").read_text(encoding="utf-8")
    dest = tmp_path / "cls_books"
    lines = fetch_ok("cls_books", mirror, dest)
    assert lines[-1].endswith("sentencepiece.french.model\t1115362 bytes\tsha256 "
                              f"{SHA256['cls_books']['sentencepiece.french.model']}\tverified")
    for split, rows in CLS_FIXTURE.items():
        expected = "sentence\tlabel\n" + "".join(f"{sentence}\t{label}\n" for sentence, label in rows)
        assert (dest / f"{split}.tsv").read_text(encoding="utf-8") == expected
    assert sorted(p.name for p in dest.iterdir()) == [
        "sentencepiece.french.model", "test.tsv", "train.tsv", "valid.tsv"]


@needs_french_model
def test_cls_books_label_count_mismatch_is_rejected(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "cls_books", keep=("sentencepiece.french.model",))
    mirror = make_cls_mirror(tmp_path / "mirror", CLS_FIXTURE)
    (mirror / "valid.label").write_text("1\n0\n")
    dest = tmp_path / "cls_books"
    code, lines, err = run_main("cls_books", "--dest", dest, "--mirror", mirror)
    assert_failed(code, lines, err, dest, "valid.label", "2 labels for 1 reviews")


@needs_french_model
def test_cls_books_rebuilt_pieces_give_shared_data_byte_for_byte(tmp_path):
    """PROVENANCE.md: re-encoding the tsv gives back the source's pieces exactly, so these are the
    source files; decoding them must reproduce train/valid/test.tsv (sha256 checked)."""
    splits = {}
    for split in ("train", "valid", "test"):
        text = (DATA / "cls_books" / f"{split}.tsv").read_text(encoding="utf-8")
        splits[split] = [tuple(line.rsplit("\t", 1)) for line in text.split("\n")[1:-1]]
    mirror = make_cls_mirror(tmp_path / "mirror", splits)
    lines = fetch_ok("cls_books", mirror, tmp_path / "cls_books")
    assert all(line.endswith("\tverified") for line in lines)


# ---- the command line ----------------------------------------------------------------------------
def test_help_lists_datasets_and_mirror():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for word in ("sst2", "mrpc", "imdb", "cls_books", "restaurant", "--dest", "--mirror", command.MIRROR_ENV):
        assert word in proc.stdout


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_mirror_url_fails_in_one_line(tmp_path):
    mirror = f"http://127.0.0.1:{free_port()}/mirror"
    dest = tmp_path / "SST-2"
    proc = subprocess.run([sys.executable, str(SCRIPT), "sst2", "--dest", str(dest), "--timeout", "5"],
                          capture_output=True, text=True, env={**os.environ, command.MIRROR_ENV: mirror})
    assert_failed(proc.returncode, proc.stdout.splitlines(), proc.stderr, dest,
                  f"sst2: cannot download {mirror}/SST-2.zip (", "put the files in data/glue/SST-2")


@pytest.fixture
def http_mirror(tmp_path):
    """(folder, URL): a local HTTP server that serves the folder."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/files"
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path):
        return super().translate_path(path.removeprefix("/files"))

    def log_message(self, *args):
        pass


def test_http_mirror_and_http_error(http_mirror, tmp_path, monkeypatch):
    without_checksums(monkeypatch, "mrpc")
    folder, url = http_mirror
    make_mrpc_mirror(folder / "mrpc")
    fetch_ok("mrpc", f"{url}/mrpc/", tmp_path / "MRPC")
    (folder / "mrpc" / "dev_ids.tsv").unlink()
    dest = tmp_path / "MRPC-again"
    code, lines, err = run_main("mrpc", "--dest", dest, "--mirror", f"{url}/mrpc")
    assert_failed(code, lines, err, dest, f"mrpc: cannot download {url}/mrpc/dev_ids.tsv (HTTP 404 ")


def test_missing_mirror_file_fails(tmp_path):
    (tmp_path / "empty").mkdir()
    dest = tmp_path / "out" / "restaurant_sup"
    code, lines, err = run_main("restaurant", "--dest", dest, "--mirror", tmp_path / "empty")
    assert_failed(code, lines, err, dest, "restaurant: cannot download file://", "/empty/train.json")
    assert not (tmp_path / "out").exists()


def test_official_urls_are_used_without_a_mirror(tmp_path, monkeypatch):
    tried = []

    def offline(url, target, timeout):
        tried.append(url)
        raise OSError("network is unreachable")

    monkeypatch.setattr(download, "download_one", offline)
    dest = tmp_path / "MRPC"
    code, lines, err = run_main("mrpc", "--dest", dest)
    assert_failed(code, lines, err, dest, "cannot download https://dl.fbaipublicfiles.com/senteval/senteval_data/"
                  "msr_paraphrase_train.txt (network is unreachable)")
    assert tried == ["https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_train.txt"]


def test_existing_destination_is_left_alone(tmp_path, monkeypatch):
    without_checksums(monkeypatch, "sst2")
    mirror = make_sst_zip(tmp_path / "mirror", SST_FIXTURE)
    dest = tmp_path / "SST-2"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    code, lines, err = run_main("sst2", "--dest", dest, "--mirror", mirror)
    assert code == 2 and lines == [] and err.count("\n") == 1 and "already exists" in err
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]
    dest.joinpath("mine.txt").unlink()  # an empty folder is filled
    fetch_ok("sst2", mirror, dest)


def test_destination_that_cannot_be_made_fails_in_one_line(tmp_path):
    """An OSError (here: DEST under a file) is still one line and exit code 2."""
    mirror = make_sst_zip(tmp_path / "mirror", SST_FIXTURE)
    (tmp_path / "file").write_text("")
    code, lines, err = run_main("sst2", "--dest", tmp_path / "file" / "SST-2", "--mirror", mirror)
    assert code == 2 and lines == [] and err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"fetch_data.py: error: sst2: cannot write {tmp_path}/file/SST-2 ("), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mirror"]


def broken_converter(files, out):
    raise TypeError("convert_sst2() got an unexpected keyword argument 'bug'")


def test_programming_error_is_a_traceback_not_download_advice(tmp_path, monkeypatch):
    """Only download and conversion failures become the one-line advice; a bug propagates."""
    monkeypatch.setitem(convert.CONVERTERS, "sst2", broken_converter)
    mirror = make_sst_zip(tmp_path / "mirror", SST_FIXTURE)
    dest = tmp_path / "new" / "SST-2"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            pytest.raises(TypeError, match="unexpected keyword argument 'bug'"):
        command.main(["sst2", "--dest", str(dest), "--mirror", str(mirror)])
    assert (out.getvalue(), err.getvalue()) == ("", "")
    assert not (tmp_path / "new").exists()  # the staging folder and the parents it made are gone

    program = ("import sys\n"
               "from peft_roberta.data.fetch import command, convert\n"
               "def broken_converter(files, out):\n"
               "    raise TypeError(\"convert_sst2() got an unexpected keyword argument 'bug'\")\n"
               "convert.CONVERTERS['sst2'] = broken_converter\n"
               "sys.exit(command.main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", program, "sst2", "--dest", str(dest), "--mirror", str(mirror)],
                          capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode not in (0, 2), proc.stderr
    assert "Traceback" in proc.stderr
    assert "TypeError: convert_sst2() got an unexpected keyword argument 'bug'" in proc.stderr
    assert "put the files in" not in proc.stderr and "fetch_data.py: error:" not in proc.stderr
    assert not (tmp_path / "new").exists()
