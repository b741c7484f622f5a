"""Reading labelled examples from TSV, CSV and JSONL files, with file:line errors for bad input.

TSV is read without any quote processing (GLUE sentences contain bare quote characters), CSV with
standard quoting (IMDB texts hold commas, quotes and tabs), JSONL as one object per line. A UTF-8
byte order mark and CRLF line ends are accepted everywhere.
"""
from __future__ import annotations

import codecs
import csv
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from .errors import DataError

FORMATS = ("tsv", "csv", "jsonl")
FORMAT_BY_EXTENSION = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
HTML_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# IMDB reviews run to ~14k characters; the csv module refuses fields above 128k by default.
MAX_FIELD_CHARS = 1 << 24


@dataclass(frozen=True)
class Example:
    texts: tuple[str, ...]
    label: str
    line: int  # where the example starts in its file, for error messages


@dataclass(frozen=True)
class Columns:
    """Which columns (or JSON fields) hold the texts and the label; ``header``: the names of a TSV/CSV
    file's columns when it has no header row (GLUE's CoLA)."""
    texts: tuple[str, ...]
    label: str
    header: tuple[str, ...] = ()

    def option_of(self, name: str) -> str:
        return "--label-column" if name == self.label else "--text-columns"


def detect_format(path: Path, requested: str = "auto") -> str:
    """The format named by ``--format``, or else the one the file extension implies."""
    if requested != "auto":
        return requested
    try:
        return FORMAT_BY_EXTENSION[path.suffix.lower()]
    except KeyError:
        raise DataError(f"{path}: cannot tell the format from the extension '{path.suffix}'; "
                        "give --format tsv, csv or jsonl") from None


def read_bytes(path: Path, option: str) -> bytes:
    """The file's bytes; a missing or unreadable file is a DataError naming the option."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file ({option})") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a file ({option})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}) ({option})") from None


def decode_utf8(path: Path, data: bytes) -> str:
    """Strict UTF-8 without the byte order mark; a bad byte is reported with its line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} "
                        f"at byte {column} of the line)") from None


def normalize_text(text: str, strip_html: bool) -> str:
    """One line of text: line breaks become spaces (every example must stay one line in the files
    the fairseq tools read), optionally ``<br />`` tags too; outer whitespace is dropped."""
    if strip_html:
        text = HTML_LINE_BREAK.sub(" ", text)
    return " ".join(text.splitlines()).strip()


def read_examples(path: Path, data: bytes, fmt: str, columns: Columns, strip_html: bool) -> list[Example]:
    """All examples of one file, validated; raises DataError at the first problem."""
    lines = decode_utf8(path, data).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()  # trailing newlines and blank lines at the very end are harmless
    if not lines:
        raise DataError(f"{path}: empty file")
    if fmt == "jsonl":
        return list(_jsonl_examples(path, lines, columns, strip_html))
    return list(_table_examples(path, delimited_rows(path, lines, fmt), columns, strip_html))


def subsample(examples: Sequence[Example], count: int | None, seed: int) -> list[Example]:
    """A reproducible random sample of ``count`` examples, kept in their original order."""
    if count is None or count >= len(examples):
        return list(examples)
    keep = sorted(random.Random(seed).sample(range(len(examples)), count))
    return [examples[i] for i in keep]


def delimited_rows(path: Path, lines: list[str], fmt: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) for each record of a TSV or CSV file."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    if fmt == "tsv":
        reader = csv.reader((line + "\n" for line in lines), delimiter="\t", quoting=csv.QUOTE_NONE, strict=True)
    else:
        reader = csv.reader((line + "\n" for line in lines), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}:{start}: malformed {fmt.upper()} ({exc})") from None
        yield start, fields
        start = reader.line_num + 1


def table_records(path, rows, names, option_of, header=None) -> Iterator[tuple[int, dict]]:
    """(line number, {name: field}) of each data row of a TSV/CSV file, the columns ``names`` checked
    against the header row (or against ``header``, --column-names, when the file has none)."""
    if header:  # no header row: every line is data, the columns are named by --column-names
        header_line, header, named_by = "--column-names", list(header), "--column-names names"
    else:
        header_line, header = next(rows)
        header, named_by = [name.strip() for name in header], "the header has"
    if not any(header):
        raise DataError(f"{path}:{header_line}: empty header line")
    position = {}
    for name in names:
        if name not in header:
            raise DataError(f"{path}:{header_line}: no column '{name}' ({option_of(name)}); "
                            f"the header has: {', '.join(header)}")
        if header.count(name) > 1:
            raise DataError(f"{path}:{header_line}: column '{name}' appears {header.count(name)} times in the header")
        position[name] = header.index(name)
    count = 0
    for line, fields in rows:
        if len(fields) != len(header):
            if not fields:
                raise DataError(f"{path}:{line}: empty line")
            problem = "missing column" if len(fields) < len(header) else "extra column"
            fields_found = f"{len(fields)} field" + ("" if len(fields) == 1 else "s")
            raise DataError(f"{path}:{line}: {fields_found} but {named_by} {len(header)} ({problem})")
        count += 1
        yield line, {name: fields[i] for name, i in position.items()}
    if count == 0:
        raise DataError(f"{path}: no data rows after the header")


def jsonl_record(path, number, line, names, option_of) -> dict:
    """The JSON object of one JSONL line, with the fields ``names`` checked."""
    if not line.strip():
        raise DataError(f"{path}:{number}: empty line")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise DataError(f"{path}:{number}: expected a JSON object, found {type(record).__name__}")
    for name in names:
        if name not in record:
            raise DataError(f"{path}:{number}: no field '{name}' ({option_of(name)}); "
                            f"the object has: {', '.join(record)}")
    return record


def _table_examples(path, rows, columns: Columns, strip_html) -> Iterator[Example]:
    for line, record in table_records(path, rows, (*columns.texts, columns.label), columns.option_of, columns.header):
        yield _example(path, line, record, columns, strip_html)


def _jsonl_examples(path, lines, columns: Columns, strip_html) -> Iterator[Example]:
    for number, line in enumerate(lines, start=1):
        record = jsonl_record(path, number, line, (*columns.texts, columns.label), columns.option_of)
        yield _example(path, number, record, columns, strip_html)


def _example(path, line, values: dict, columns: Columns, strip_html) -> Example:
    texts = []
    for name in columns.texts:
        value = values[name]
        if not isinstance(value, str):
            raise DataError(f"{path}:{line}: text '{name}' is not a string")
        text = normalize_text(value, strip_html)
        if not text:
            raise DataError(f"{path}:{line}: empty text in '{name}'")
        texts.append(text)
    label = values[columns.label]
    if isinstance(label, bool) or not isinstance(label, (str, int, type(None))):
        raise DataError(f"{path}:{line}: label '{columns.label}' must be a string or an integer")
    label = "" if label is None else str(label).strip()
    if not label:
        raise DataError(f"{path}:{line}: missing label ('{columns.label}' is empty)")
    return Example(tuple(texts), label, line)
