"""Turning the downloaded files of each dataset into the files of shared/data.

- sst2: ``SST-2/{train,dev,test}.tsv`` of the zip are copied unchanged.
- mrpc: split as GLUE does: train rows whose (#1 ID, #2 ID) is in dev_ids go to dev.tsv, the others
  to train.tsv, both with the original header line (it starts with a UTF-8 BOM); test.tsv is the
  test file without its label, under the header ``index\\t#1 ID\\t#2 ID\\t#1 String\\t#2 String``.
  The three originals are kept (msr_paraphrase_test.txt is the labelled test set); their CRLF line
  ends, if the server sends them, become LF first (GLUE reads them in text mode: same output).
- imdb: the archive is read as a stream. train.csv/test.csv have one row per review file, columns
  ``text,label,rating,file``, ``neg`` before ``pos``, numeric id order, the text unchanged, Python
  csv minimal quoting, ``\\n`` line ends; ``aclImdb/README`` becomes README_aclImdb.txt.
  ``unsup/`` and the other files of the archive are skipped.
- restaurant: the three json files are kept in raw/ and turned into jsonl lines
  ``{"id", "text", "aspect", "label", "contra"}`` (sentence->text, term->aspect, polarity->label).
- cls_books: each line of pieces is decoded with ``sentencepiece.french.model`` (needs the
  ``sentencepiece`` package) and written as ``sentence\\tlabel``.

Content that is not what the source should hold (a broken archive, bad JSON, text that is not
UTF-8) is a ``FetchError`` naming the URL, raised here.
"""
from __future__ import annotations

import csv
import gzip
import json
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

from .download import CHUNK, Downloaded, FetchError, crlf_to_lf, describe


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
                try:
                    data = zf.read(member)
                except RuntimeError as err:  # encrypted, or NotImplementedError: unknown compression
                    raise archive.unexpected(f"cannot read {member} ({describe(err)})") from err
                if data.split(b"\n", 1)[0].rstrip(b"\r") != header:
                    raise archive.unexpected(f"{member} does not start with the header {header.decode()!r}")
                (out / split).write_bytes(data)
    # also a name flagged UTF-8 that is not, and NotImplementedError: a zip version zipfile cannot read
    except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError, NotImplementedError) as err:
        raise archive.unexpected(f"not a readable zip archive ({describe(err)})") from err


MRPC_HEADER = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]


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
    # gzip.BadGzipFile is an OSError; ValueError: tarfile on a bad PAX number, int() on a 4301-digit id
    except (tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as err:
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
        except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError, too deep or long
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
