#!/usr/bin/env python
"""Download a dataset from its official source and convert it to the layout of shared/data.

    python scripts/fetch_data.py sst2 --dest data/glue/SST-2
    python scripts/fetch_data.py mrpc --dest data/glue/MRPC --mirror ../shared/data/glue/MRPC

The recipes call this only when a dataset is not in $DATA_DIR, data/ or ../shared/data. The result
is byte-for-byte what ``shared/data/PROVENANCE.md`` describes: every file written is checked
against the sha256 listed there (``SHA256`` below; for cls_books, the sha256 of the shared files,
as PROVENANCE.md lists those four values one row off). The files are written into a hidden sibling of
DEST that is renamed to DEST at the end, so DEST is either complete or absent. Any failure prints
one ``fetch_data.py: error: DATASET: ...`` line on stderr and exits with code 2.

``--mirror DIR_OR_URL`` (or $FETCH_DATA_MIRROR) replaces every official URL by
``DIR_OR_URL/<name>``, where <name> is the ``Source.name`` in ``DATASETS`` (a flat folder; the
names do not collide between datasets). Offline, a folder holding the original files works, e.g.
``../shared/data/glue/MRPC`` for mrpc or ``../shared/data/dsp/restaurant_sup/raw`` for restaurant.

Sources:

- sst2: GLUE's ``SST-2.zip``; ``SST-2/{train,dev,test}.tsv`` are copied unchanged.
- mrpc: the MSR Paraphrase Corpus files that GLUE's ``download_glue_data.py`` uses (SentEval's
  copies of ``msr_paraphrase_{train,test}.txt``) and GLUE's ``mrpc_dev_ids.tsv``. They are split as
  GLUE does: train rows whose (#1 ID, #2 ID) is in dev_ids go to dev.tsv, the others to train.tsv,
  both with the original header line (it starts with a UTF-8 BOM); test.tsv is the test file
  without its label, under the header ``index\\t#1 ID\\t#2 ID\\t#1 String\\t#2 String``. The three
  originals are kept (msr_paraphrase_test.txt is the labelled test set). CRLF line ends, if the
  server sends them, become LF before the checksum is checked (GLUE reads the files in text mode,
  so its output is the same either way). The license file of the corpus is not among these sources.
- imdb: Stanford's ``aclImdb_v1.tar.gz``, read as a stream. train.csv/test.csv have one row per
  review file, columns ``text,label,rating,file``, ``neg`` before ``pos``, numeric id order, the text
  unchanged, Python csv minimal quoting, ``\\n`` line ends; ``aclImdb/README`` becomes
  README_aclImdb.txt. ``unsup/`` and the other files of the archive are skipped.
- restaurant: Xu et al.'s SemEval-14 restaurant split in howardhsu/ASC_failure (pinned commit);
  the three json files are kept in raw/ and turned into jsonl lines
  ``{"id", "text", "aspect", "label", "contra"}`` (sentence->text, term->aspect, polarity->label).
- cls_books: the CLS books data of moussaKam/transfer_learning_transformers (pinned commit), stored
  as sentencepiece pieces (``*.review.spm``, one review a line) and ``*.label``; each line is
  decoded with the repository's ``sentencepiece.french.model`` (needs the ``sentencepiece``
  package) and written as ``sentence\\tlabel``. ASSUMPTION to check online: the paths
  ``cls-books/{train,valid,test}.{review.spm,label}`` and ``sentencepiece.french.model`` at the
  repository root. ``cls-books/valid.review.spm`` is known to exist at that commit; the others
  follow the repository's documented download commands (``valid.label`` by analogy).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

PROG = "fetch_data.py"
MIRROR_ENV = "FETCH_DATA_MIRROR"

GLUE = "https://dl.fbaipublicfiles.com/glue/data/"
SENTEVAL = "https://dl.fbaipublicfiles.com/senteval/senteval_data/"
ASC_FAILURE = ("https://raw.githubusercontent.com/howardhsu/ASC_failure/"
               "380a817662d626ceecc2985d731efe633440ebca/asc/rest/")
CLS_REPO = ("https://raw.githubusercontent.com/moussaKam/transfer_learning_transformers/"
            "b14c34637f62e5c6ebf86401be0f6aba1099e8ba/")


@dataclass(frozen=True)
class Source:
    """One file to download: its name (in a mirror, and in DEST if kept) and official URLs."""
    name: str
    urls: tuple[str, ...]
    keep_as: str | None = None  # copied unchanged to DEST/keep_as, checked on arrival
    crlf_to_lf: bool = False    # text whose CRLF line ends become LF before the check


@dataclass(frozen=True)
class Dataset:
    layout: str  # folder under data/ (and under shared/data/)
    sources: tuple[Source, ...]


# ---- the sources ---------------------------------------------------------------------------------
DATASETS: dict[str, Dataset] = {
    "sst2": Dataset("glue/SST-2", (
        Source("SST-2.zip", (GLUE + "SST-2.zip",)),
    )),
    "mrpc": Dataset("glue/MRPC", (
        Source("msr_paraphrase_train.txt", (SENTEVAL + "msr_paraphrase_train.txt",),
               keep_as="msr_paraphrase_train.txt", crlf_to_lf=True),
        Source("msr_paraphrase_test.txt", (SENTEVAL + "msr_paraphrase_test.txt",),
               keep_as="msr_paraphrase_test.txt", crlf_to_lf=True),
        # GLUE's download script uses the firebase URL; the second is the copy HF datasets uses.
        Source("dev_ids.tsv", (
            "https://firebasestorage.googleapis.com/v0/b/mtl-sentence-representations.appspot.com/o/"
            "data%2Fmrpc_dev_ids.tsv?alt=media&token=ec5c0836-31d5-48f4-b431-7480817f1adc",
            GLUE + "mrpc_dev_ids.tsv",
        ), keep_as="dev_ids.tsv", crlf_to_lf=True),
    )),
    "imdb": Dataset("imdb", (
        Source("aclImdb_v1.tar.gz", ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",)),
    )),
    "restaurant": Dataset("dsp/restaurant_sup", (
        Source("train.json", (ASC_FAILURE + "train.json",), keep_as="raw/train.json"),
        Source("dev.json", (ASC_FAILURE + "dev.json",), keep_as="raw/dev.json"),
        Source("test_full.json", (ASC_FAILURE + "test_full.json",), keep_as="raw/test_full.json"),
    )),
    "cls_books": Dataset("cls_books", (
        Source("sentencepiece.french.model", (CLS_REPO + "sentencepiece.french.model",),
               keep_as="sentencepiece.french.model"),
        *(Source(f"{split}.{kind}", (f"{CLS_REPO}cls-books/{split}.{kind}",))
          for split in ("train", "valid", "test") for kind in ("review.spm", "label")),
    )),
}

# sha256 of every file written to DEST, from shared/data/PROVENANCE.md (equal to the files in
# shared/data). Kept sources are checked as soon as they arrive, converted files before DEST is put
# in place.
SHA256: dict[str, dict[str, str]] = {
    "sst2": {
        "train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
        "dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
        "test.tsv": "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13",
    },
    "mrpc": {
        "train.tsv": "122becc469405bc16f9defcb8715d2a4b7ce600e9d9381e6dc42bfdd1494c51d",
        "dev.tsv": "81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7",
        "test.tsv": "4ee428d354c01fa35c2f0f6ab835398abb0bec01f17ed68fbcb6c04265505b0a",
        "dev_ids.tsv": "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7",
        "msr_paraphrase_train.txt": "61a88818ec384d8465297dda1883b469f1b22d442ab90183d13e06233b180591",
        "msr_paraphrase_test.txt": "0360d0d3427a0ae14882e2b3a799df0fab6cb5203d5e8ee481949283da62acb6",
    },
    "imdb": {
        "train.csv": "0aad65be872850e170a869b3936cd33438d2dacbd150af621924924cfb50e631",
        "test.csv": "702c6d68152f3ac09d316f1874c4c4b306cbf58e1b33eaefac859c024d350b7b",
        "README_aclImdb.txt": "53daaefbef0d46b6da0386ac3811960cc10f42d59ceac9cecbb543f5b30c657a",
    },
    "restaurant": {
        "raw/train.json": "c63942f9c384dc1c35a16e9cdd838622d610f1cb1ea58ef7fd095e966ed7aaa5",
        "raw/dev.json": "5051f3c4b31c86c5d48ce3c654cc522194afacd8b87f2e0c90ebead04d8dafdd",
        "raw/test_full.json": "7db632b9e004f4427341fbf66c9ee5303a5ffb10e05cb474e5d64dc46d190204",
        "train.jsonl": "b22a8d2e6100805833e6f17b7509f467434f2550a6779d2fd173de19681e43d1",
        "dev.jsonl": "4cbd1bb0ff6afa5789da94dd579c7bda0d9645f9e2b76bcafa07704c585376df",
        "test.jsonl": "8a72899745eb4ac6ff0f9d353280d594f28775d8e866e4aed0d3e6d328d89357",
    },
    # The cls_books table of PROVENANCE.md lists these four values one row off (train.tsv's value
    # against the model, and so on); these are the sha256 of the files in shared/data/cls_books.
    "cls_books": {
        "sentencepiece.french.model": "4cc472d2d984575d2d1774cfc0150ff9acad6f4430f2f34901d3a30062cd164b",
        "train.tsv": "50bcc4b679e44b1deafea8f12dd14479c3ef0b5617be812bd397b20ae9c93f2d",
        "valid.tsv": "993f69fdc074d321a28e85cc91594e9dac6d518040edf4bd15e30953cb49b988",
        "test.tsv": "e35a4ea650be85f151f9fb4a80c6187a87cef0001e41fa51b96e9b39b4ba21f8",
    },
}

# Files each dataset writes (relative to DEST), in the order they are reported.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "sst2": ("train.tsv", "dev.tsv", "test.tsv"),
    "mrpc": ("train.tsv", "dev.tsv", "test.tsv", "dev_ids.tsv",
             "msr_paraphrase_train.txt", "msr_paraphrase_test.txt"),
    "imdb": ("train.csv", "test.csv", "README_aclImdb.txt"),
    "restaurant": ("train.jsonl", "dev.jsonl", "test.jsonl",
                   "raw/train.json", "raw/dev.json", "raw/test_full.json"),
    "cls_books": ("train.tsv", "valid.tsv", "test.tsv", "sentencepiece.french.model"),
}

DEFAULT_TIMEOUT_S = 60.0
CHUNK = 1 << 20


class FetchError(Exception):
    """A failure reported to the user as one line (``main`` adds the dataset and, if ``hint``, where
    to put the files by hand)."""

    def __init__(self, message: str, hint: bool = True):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Downloaded:
    path: Path
    url: str

    def unexpected(self, what: str) -> FetchError:
        return FetchError(f"unexpected content in {self.url}: {what}")


# ---- downloading ---------------------------------------------------------------------------------
def mirror_url(mirror: str, name: str) -> str:
    """URL of ``name`` in a mirror given as a folder path or as a URL."""
    base = mirror if "://" in mirror else Path(mirror).resolve().as_uri()
    return base.rstrip("/") + "/" + urllib.parse.quote(name)


def describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(err) or type(err).__name__


def download_one(url: str, target: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": f"{PROG} (python urllib)"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        while chunk := response.read(CHUNK):
            out.write(chunk)


def download(source: Source, urls: tuple[str, ...], folder: Path, timeout: float) -> Downloaded:
    """First of ``urls`` that downloads; FetchError naming every URL tried if none does."""
    target = folder / source.name
    failures = []
    for url in urls:
        try:
            download_one(url, target, timeout)
            return Downloaded(target, url)
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"{url} ({describe(err)})")
    raise FetchError("cannot download " + "; also tried ".join(failures))


def url_list(urls: list[str]) -> str:
    """``urls`` in one short phrase: ``https://host/dir/{a,b}`` when they share a folder."""
    if len(urls) == 1:
        return urls[0]
    folder = os.path.commonprefix(urls).rpartition("/")[0] + "/"
    if "://" not in folder or not folder.split("://", 1)[1].strip("/"):
        return ", ".join(urls)
    return folder + "{" + ",".join(url[len(folder):] for url in urls) + "}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(dataset: str, relpath: str, path: Path, origin: str) -> str:
    actual = sha256_of(path)
    expected = SHA256.get(dataset, {}).get(relpath)
    if expected is not None and actual != expected:
        raise FetchError(f"checksum mismatch for {relpath} from {origin}: "
                         f"sha256 {actual}, expected {expected}")
    return actual


# ---- conversions (one per dataset) ---------------------------------------------------------------
def convert_sst2(files: dict[str, Downloaded], out: Path) -> None:
    archive = files["SST-2.zip"]
    headers = {"train.tsv": b"sentence\tlabel", "dev.tsv": b"sentence\tlabel", "test.tsv": b"index\tsentence"}
    try:
        with zipfile.ZipFile(archive.path) as zf:
            names = set(zf.namelist())
            for split, header in headers.items():
                member = f"SST-2/{split}"
                if member not in names:
                    raise archive.unexpected(f"no {member} in the zip")
                data = zf.read(member)
                if data.split(b"\n", 1)[0].rstrip(b"\r") != header:
                    raise archive.unexpected(f"{member} does not start with the header {header.decode()!r}")
                (out / split).write_bytes(data)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise archive.unexpected(f"not a readable zip archive ({describe(err)})") from err


MRPC_HEADER = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]


def crlf_to_lf(path: Path) -> bytes:
    """The file's bytes with CRLF line ends turned into LF (the file is rewritten if it had any)."""
    data = path.read_bytes()
    if b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")
        path.write_bytes(data)
    return data


def lf_text(download: Downloaded) -> str:
    """The file as UTF-8 text with LF line ends."""
    data = crlf_to_lf(download.path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise download.unexpected(f"not UTF-8 ({err.reason} at byte {err.start})") from err


def lines_of(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def msr_rows(download: Downloaded) -> tuple[str, list[list[str]]]:
    """Header line (BOM kept) and the 5 fields of each row, split like GLUE's script does."""
    lines = lines_of(lf_text(download))
    if not lines or lines[0].lstrip("\ufeff").split("\t") != MRPC_HEADER:
        raise download.unexpected("the first line is not the MSR Paraphrase header " + "\\t".join(MRPC_HEADER))
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.strip().split("\t")
        if len(fields) != 5:
            raise download.unexpected(f"line {number} has {len(fields)} tab-separated fields, not 5")
        rows.append(fields)
    return lines[0], rows


def convert_mrpc(files: dict[str, Downloaded], out: Path) -> None:
    header, train_rows = msr_rows(files["msr_paraphrase_train.txt"])
    _, test_rows = msr_rows(files["msr_paraphrase_test.txt"])
    dev_ids = {tuple(line.strip().split("\t")) for line in lines_of(lf_text(files["dev_ids.tsv"]))}
    if not dev_ids or any(len(pair) != 2 for pair in dev_ids):
        raise files["dev_ids.tsv"].unexpected("expected lines of two tab-separated ids")
    train = [header]
    dev = [header]
    for row in train_rows:
        (dev if (row[1], row[2]) in dev_ids else train).append("\t".join(row))
    test = ["index\t#1 ID\t#2 ID\t#1 String\t#2 String"]
    test += [f"{index}\t" + "\t".join(row[1:]) for index, row in enumerate(test_rows)]
    for name, lines in (("train.tsv", train), ("dev.tsv", dev), ("test.tsv", test)):
        (out / name).write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))


IMDB_REVIEW = re.compile(r"aclImdb/(train|test)/(neg|pos)/(\d+)_(\d+)\.txt")
IMDB_README = "aclImdb/README"


def convert_imdb(files: dict[str, Downloaded], out: Path) -> None:
    archive = files["aclImdb_v1.tar.gz"]
    reviews: dict[str, list[tuple[int, int, str, int, str]]] = {"train": [], "test": []}
    readme = None
    try:
        with gzip.open(archive.path, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                name = member.name[2:] if member.name.startswith("./") else member.name
                match = IMDB_REVIEW.fullmatch(name)
                if not member.isfile() or (match is None and name != IMDB_README):
                    continue
                data = tar.extractfile(member).read()
                if match is None:
                    readme = data
                    continue
                split, polarity, review_id, rating = match.groups()
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise archive.unexpected(f"{name} is not UTF-8") from err
                label = 1 if polarity == "pos" else 0
                reviews[split].append((label, int(review_id), text, int(rating), name[len("aclImdb/"):]))
            while stream.read(CHUNK):  # the tar can end before the gzip data does: a truncated
                pass                   # download shows up here as EOFError
    except (tarfile.TarError, zlib.error, EOFError, OSError) as err:  # gzip.BadGzipFile is an OSError
        raise archive.unexpected(f"not a readable .tar.gz archive ({describe(err)})") from err
    if readme is None:
        raise archive.unexpected(f"no {IMDB_README} in the archive")
    for split, rows in reviews.items():
        for polarity, label in (("neg", 0), ("pos", 1)):
            if not any(row[0] == label for row in rows):
                raise archive.unexpected(f"no aclImdb/{split}/{polarity}/*.txt in the archive")
        rows.sort(key=lambda row: (row[0], row[1]))
        with open(out / f"{split}.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["text", "label", "rating", "file"])
            for label, _, text, rating, path in rows:
                writer.writerow([text, label, rating, path])
    (out / "README_aclImdb.txt").write_bytes(readme)


RESTAURANT_SPLITS = {"train.json": "train.jsonl", "dev.json": "dev.jsonl", "test_full.json": "test.jsonl"}
RESTAURANT_FIELDS = {"id": "id", "text": "sentence", "aspect": "term", "label": "polarity", "contra": "contra"}


def convert_restaurant(files: dict[str, Downloaded], out: Path) -> None:
    for source, target in RESTAURANT_SPLITS.items():
        download = files[source]
        try:
            records = json.loads(download.path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise download.unexpected(f"not JSON ({err})") from err
        if not isinstance(records, dict) or not records:
            raise download.unexpected("expected a JSON object of examples keyed by id")
        lines = []
        for key, record in records.items():
            missing = [raw for raw in RESTAURANT_FIELDS.values() if not isinstance(record, dict) or raw not in record]
            if missing:
                raise download.unexpected(f"example {key!r} lacks {', '.join(missing)}")
            lines.append(json.dumps({field: record[raw] for field, raw in RESTAURANT_FIELDS.items()}) + "\n")
        (out / target).write_bytes("".join(lines).encode("utf-8"))


def load_sentencepiece():
    try:
        import sentencepiece
    except ImportError as err:
        raise FetchError("the Python package sentencepiece is needed to decode the reviews "
                         "(pip install sentencepiece)") from err
    return sentencepiece


def convert_cls_books(files: dict[str, Downloaded], out: Path) -> None:
    sentencepiece = load_sentencepiece()
    model = files["sentencepiece.french.model"]
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.Load(str(model.path))
    except (OSError, RuntimeError) as err:
        raise model.unexpected(f"not a sentencepiece model ({err})") from err
    for split in ("train", "valid", "test"):
        pieces_file, labels_file = files[f"{split}.review.spm"], files[f"{split}.label"]
        reviews = lines_of(lf_text(pieces_file))
        labels = [label.strip() for label in lines_of(lf_text(labels_file))]
        if len(reviews) != len(labels):
            raise labels_file.unexpected(f"{len(labels)} labels for {len(reviews)} reviews")
        if set(labels) - {"0", "1"}:
            raise labels_file.unexpected(f"labels other than 0/1: {sorted(set(labels) - {'0', '1'})[:3]}")
        rows = ["sentence\tlabel\n"]
        for number, (review, label) in enumerate(zip(reviews, labels, strict=True), start=1):
            sentence = processor.DecodePieces([piece for piece in review.split(" ") if piece])
            if "\t" in sentence or "\n" in sentence:
                raise pieces_file.unexpected(f"review {number} decodes to text with a tab or newline")
            rows.append(f"{sentence}\t{label}\n")
        (out / f"{split}.tsv").write_bytes("".join(rows).encode("utf-8"))


CONVERTERS = {
    "sst2": convert_sst2,
    "mrpc": convert_mrpc,
    "imdb": convert_imdb,
    "restaurant": convert_restaurant,
    "cls_books": convert_cls_books,
}
PRECHECKS = {"cls_books": load_sentencepiece}


# ---- putting it together -------------------------------------------------------------------------
def missing_ancestors(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, nearest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def fetch(dataset: str, dest: Path, mirror: str | None, timeout: float) -> list[tuple[Path, int, str, bool]]:
    """Download, convert and check ``dataset`` into ``dest``; (path, bytes, sha256, checked) per file."""
    spec = DATASETS[dataset]
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FetchError(f"{dest} already exists and is not an empty folder; remove it first", hint=False)
    PRECHECKS.get(dataset, lambda: None)()
    created = missing_ancestors(dest)
    staging = None
    finished = False
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
        files = download_all(dataset, staging / ".downloads", mirror, timeout)
        CONVERTERS[dataset](files, staging)
        for source in spec.sources:
            if source.keep_as:
                (staging / source.keep_as).parent.mkdir(parents=True, exist_ok=True)
                os.replace(files[source.name].path, staging / source.keep_as)
        shutil.rmtree(staging / ".downloads")
        report = []
        origin = "the conversion of " + url_list([got.url for got in files.values()])
        for relpath in OUTPUTS[dataset]:
            path = staging / relpath
            digest = check_sha256(dataset, relpath, path, origin)
            report.append((dest / relpath, path.stat().st_size, digest, relpath in SHA256.get(dataset, {})))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        os.rename(staging, dest)
        finished = True
        return report
    except OSError as err:
        raise FetchError(f"cannot write {dest} ({describe(err)})") from err
    finally:
        if not finished:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            for folder in created:
                try:
                    folder.rmdir()
                except OSError:
                    break


def download_all(dataset: str, folder: Path, mirror: str | None, timeout: float) -> dict[str, Downloaded]:
    """Every source of ``dataset`` in ``folder``; kept files are checked against SHA256 on arrival."""
    folder.mkdir()
    files = {}
    for source in DATASETS[dataset].sources:
        urls = (mirror_url(mirror, source.name),) if mirror else source.urls
        got = download(source, urls, folder, timeout)
        if source.crlf_to_lf:
            crlf_to_lf(got.path)
        if source.keep_as:
            check_sha256(dataset, source.keep_as, got.path, got.url)
        files[source.name] = got
    return files


def build_parser() -> argparse.ArgumentParser:
    sources = "\n".join(f"  {name:<11} -> data/{spec.layout}: " + ", ".join(source.name for source in spec.sources)
                        for name, spec in DATASETS.items())
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"datasets and the files they download (the names a --mirror must hold):\n{sources}\n"
               "URLs and sha256: the tables at the top of scripts/fetch_data.py.")
    parser.add_argument("dataset", choices=sorted(DATASETS), help="which dataset to fetch")
    parser.add_argument("--dest", required=True, type=Path,
                        help="folder to create (must not exist, or be empty), e.g. data/glue/SST-2")
    parser.add_argument("--mirror", default=os.environ.get(MIRROR_ENV) or None, metavar="DIR_OR_URL",
                        help=f"take every file from DIR_OR_URL/<name> instead of the official URLs "
                             f"(default ${MIRROR_ENV})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"network timeout in seconds (default {DEFAULT_TIMEOUT_S:g})")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = fetch(args.dataset, args.dest, args.mirror, args.timeout)
    except Exception as err:  # noqa: BLE001 - every failure is one line and exit code 2
        layout = DATASETS[args.dataset].layout
        message = " ".join(str(err).split())
        if not isinstance(err, FetchError):
            message = f"unexpected {type(err).__name__}: {message}"
        if getattr(err, "hint", True):
            message += f"; put the files in data/{layout} or $DATA_DIR/{layout}, or pass --mirror DIR"
        print(f"{PROG}: error: {args.dataset}: {message}", file=sys.stderr)
        return 2
    for path, size, digest, checked in report:
        print(f"{path}\t{size} bytes\tsha256 {digest}\t{'verified' if checked else 'no reference checksum'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
