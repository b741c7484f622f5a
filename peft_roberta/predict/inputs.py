"""The texts to classify: a TSV / CSV / JSONL file (the recipes' column options) or standard input.

A file is read as ``recipes/custom.sh`` reads one (``data.readers``: UTF-8, a header row, TSV without
quote processing, CSV with standard quoting, JSONL objects), with the same one-line ``path:line:``
errors; texts are normalized as the data-bin's were (line breaks to spaces, ``<br />`` too when it was
prepared with ``--strip-html``). The label column is optional; an id column (GLUE's ``index``) is
carried into the output. Standard input holds one text per line (two tab-separated texts for a
sentence-pair model).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.errors import DataError
from ..data.readers import (decode_utf8, delimited_rows, detect_format, jsonl_record, normalize_text, read_bytes,
                            table_records)

STDIN = "<stdin>"

# --glue-submission TASK: the official test.tsv's columns.
GLUE_TASKS = {
    "SST-2": {"text_columns": ("sentence",), "id_column": "index"},
    "MRPC": {"text_columns": ("#1 String", "#2 String"), "id_column": "index"},
}


@dataclass(frozen=True)
class Row:
    texts: tuple[str, ...]
    label: str | None
    id: str | None
    line: int  # where the row starts in its input, for error messages


@dataclass(frozen=True)
class Spec:
    """Which columns (JSON fields) to read: the texts, and optionally the label and an id."""
    texts: tuple[str, ...]
    label: str | None = None
    id: str | None = None

    def option_of(self, name):
        return {self.label: "--label-column", self.id: "--id-column"}.get(name, "--text-columns")

    def names(self):
        return [*self.texts, *(name for name in (self.label, self.id) if name)]


def read_rows(source, spec: Spec, fmt="auto", strip_html=False, stdin=None) -> list[Row]:
    """Every row of ``source`` (a path, or None / '-' for ``stdin``), validated; a DataError at the first problem."""
    if source in (None, "-"):
        return read_lines(stdin, len(spec.texts), strip_html)
    path = Path(source)
    fmt = detect_format(path, fmt)
    lines = decode_utf8(path, read_bytes(path, "--input")).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty file")
    if fmt == "jsonl":
        return [_jsonl_row(path, number, line, spec, strip_html) for number, line in enumerate(lines, start=1)]
    return list(_table_rows(path, delimited_rows(path, lines, fmt), spec, strip_html))


def read_lines(stream, n_texts, strip_html) -> list[Row]:
    """One row per line of ``stream``: a text, or ``n_texts`` tab-separated texts."""
    data = stream.read()
    lines = (decode_utf8(Path(STDIN), data) if isinstance(data, bytes) else data).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{STDIN}: no text (give one text per line, or --input FILE)")
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.rstrip("\r").split("\t") if n_texts > 1 else [line]
        if len(fields) != n_texts:
            raise DataError(f"{STDIN}:{number}: {len(fields)} tab-separated texts, the model reads {n_texts}")
        texts = tuple(normalize_text(text, strip_html) for text in fields)
        if not all(texts):
            raise DataError(f"{STDIN}:{number}: empty text")
        rows.append(Row(texts, None, None, number))
    return rows


def _table_rows(path, rows, spec: Spec, strip_html):
    for line, record in table_records(path, rows, spec.names(), spec.option_of):
        yield _row(path, line, record, spec, strip_html)


def _jsonl_row(path, number, line, spec: Spec, strip_html):
    return _row(path, number, jsonl_record(path, number, line, spec.names(), spec.option_of), spec, strip_html)


def _row(path, line, values, spec: Spec, strip_html):
    texts = []
    for name in spec.texts:
        if not isinstance(values[name], str):
            raise DataError(f"{path}:{line}: text '{name}' is not a string")
        text = normalize_text(values[name], strip_html)
        if not text:
            raise DataError(f"{path}:{line}: empty text in '{name}'")
        texts.append(text)
    label = _scalar(path, line, values, spec.label, "label") if spec.label else None
    if spec.label and not label:
        raise DataError(f"{path}:{line}: missing label ('{spec.label}' is empty)")
    return Row(tuple(texts), label, _scalar(path, line, values, spec.id, "id") if spec.id else None, line)


def _scalar(path, line, values, name, what):
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, type(None))):
        raise DataError(f"{path}:{line}: {what} '{name}' must be a string or an integer")
    return "" if value is None else str(value).strip()
