"""One data preparation: read and check every input, then, under the output's lock, skip if the
published output has the same fingerprint, else tokenize, binarize and publish atomically.

All input is validated before anything is written, so bad input leaves nothing behind.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import binarize as layout
from .dictionary import read_dictionary
from .errors import DataError
from .fingerprint import bytes_sha256, digest_of, file_sha256
from .labels import check_labels, class_order
from .publish import check_replaceable, exclusive_lock, publish, remove_leftovers, staging_dir
from .readers import Columns, Example, detect_format, read_bytes, read_examples, subsample
from .splits import SPLIT_SEED, carve_dev
from .tokenizers import Tokenizer

OPTION_OF_SPLIT = {"train": "--train", "valid": "--dev", "test": "--test"}


@dataclass
class Request:
    inputs: dict[str, Path]  # "train", "valid" (unless dev_from_train) and optionally "test"
    columns: Columns
    tokenizer: Tokenizer
    dictionary: Path | None  # None: fairseq-preprocess builds one from the training split
    out_dir: Path
    file_format: str = "auto"
    max_train: int | None = None
    subset_seed: int = 0
    strip_html: bool = False
    classes: Sequence[str] | None = None
    workers: int = 1
    dictionary_option: str = "--dict"  # the option to blame for a bad dictionary
    dev_from_train: int | None = None  # carve a stratified dev split of this size out of the training split
    max_positions: int | None = None  # report the examples longer than this (fairseq cuts them); not hashed
    regression: bool = False  # the label is a number (fairseq's --regression-target), not a class
    label_range: tuple[float, float] | None = None  # a regression label must lie in [low, high]


@dataclass
class CheckedInputs:
    """The inputs of a request, read and validated."""
    raw: dict[str, bytes]
    formats: dict[str, str]
    examples: dict[str, list[Example]]  # the training examples after --max-train
    total_train: int
    classes: list[str]
    vocabulary: set[str] | None  # the dictionary's tokens, if there is a dictionary


def read_inputs(request: Request) -> CheckedInputs:
    """Read and check every input file and the dictionary; raises DataError at the first problem."""
    raw = {split: read_bytes(path, OPTION_OF_SPLIT[split]) for split, path in request.inputs.items()}
    formats = {split: detect_format(path, request.file_format) for split, path in request.inputs.items()}
    examples = {split: read_examples(request.inputs[split], raw[split], formats[split], request.columns,
                                     request.strip_html) for split in request.inputs}
    if request.dev_from_train:
        examples["train"], examples["valid"] = carve_dev(examples["train"], request.dev_from_train)
        examples = {split: examples[split] for split in ("train", "valid", "test") if split in examples}
    total_train = len(examples["train"])
    examples["train"] = subsample(examples["train"], request.max_train, request.subset_seed)
    if request.regression:
        for split, rows in examples.items():
            check_scores(request.inputs.get(split, request.inputs["train"]), rows, request.columns.label,
                         request.label_range)
        vocabulary = set(read_dictionary(request.dictionary, request.dictionary_option)) if request.dictionary else None
        return CheckedInputs(raw, formats, examples, total_train, [], vocabulary)
    classes = class_order((example.label for example in examples["train"]), request.classes)
    known_as = "classes given by --classes" if request.classes else "training labels"
    for split, rows in examples.items():
        check_labels(request.inputs["train" if split not in request.inputs else split], rows, classes, known_as)
    if len(classes) < 2:
        raise DataError(f"{request.inputs['train']}: every training example has the label '{classes[0]}': "
                        "a classifier needs at least two classes")
    vocabulary = None
    if request.dictionary is not None:
        vocabulary = set(read_dictionary(request.dictionary, request.dictionary_option))
    return CheckedInputs(raw, formats, examples, total_train, classes, vocabulary)


def prepare(request: Request, log: Callable[[str], None] = print) -> bool:
    """Build ``request.out_dir``; returns False when it was already up to date."""
    inputs = read_inputs(request)
    hashed = fingerprint_parts(request, inputs.raw, inputs.formats)
    digest = digest_of(hashed)
    out_dir, examples = request.out_dir, inputs.examples
    with exclusive_lock(out_dir):
        expected = layout.expected_files(len(request.columns.texts), list(examples), request.regression)
        if is_up_to_date(out_dir, digest, expected):
            log(f"{out_dir}: up to date, skipping")
            _report_lengths(out_dir, request.max_positions, log)
            return False
        check_replaceable(out_dir, layout.FINGERPRINT_FILE)
        remove_leftovers(out_dir)
        log(_read_summary(examples, inputs.total_train, inputs.classes))
        with staging_dir(out_dir) as staging:
            work_dir = staging / "work"
            work_dir.mkdir()
            token_lines = _tokenize(request, examples, staging, work_dir, inputs.vocabulary, log)
            labels = {split: [example.label for example in rows] for split, rows in examples.items()}
            written = layout.binarize(staging, work_dir, token_lines, labels, inputs.classes, request.dictionary,
                                      request.workers, regression=request.regression)
            shutil.rmtree(work_dir)
            layout.write_examples(staging, examples, _token_counts(token_lines, examples))
            layout.write_labels(staging, inputs.classes, request.columns.texts, request.columns.label,
                                request.label_range if request.regression else None, request.regression)
            layout.write_tokenizer(staging, request.tokenizer)
            layout.write_json(staging / layout.FINGERPRINT_FILE, {
                "sha256": digest,
                "hashed": hashed,
                "sources": {split: str(path.resolve()) for split, path in request.inputs.items()},
            })
            publish(staging, out_dir)
        log(f"binarized {', '.join(written)} into {out_dir}")
        _report_lengths(out_dir, request.max_positions, log)
    return True


def check_scores(path: Path, examples, column: str, label_range) -> None:
    """Every regression label must be a number, inside ``label_range`` when one is given (file:line errors)."""
    import math

    for example in examples:
        try:
            value = float(example.label)
        except ValueError:
            raise DataError(f"{path}:{example.line}: score '{example.label}' in '{column}' is not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{path}:{example.line}: score '{example.label}' in '{column}' is not a finite number")
        if label_range and not label_range[0] <= value <= label_range[1]:
            raise DataError(f"{path}:{example.line}: score {example.label} in '{column}' is outside "
                            f"{label_range[0]:g} to {label_range[1]:g} (--label-range)")


def _token_counts(token_lines, examples):
    """Per split, each example's length as fairseq's sentence_prediction builds it: ``<s> a </s>``, and for a
    pair ``<s> a </s> </s> b </s>`` (RoBERTa's separator counted: the longest form)."""
    counts = {}
    for split, rows in examples.items():
        lengths = [2 * len(token_lines)] * len(rows)
        for column in token_lines:
            lengths = [n + len(line.split()) for n, line in zip(lengths, column[split])]
        counts[split] = lengths
    return counts


def _report_lengths(out_dir: Path, max_positions: int | None, log) -> None:
    """Say, per split, how many examples are longer than ``max_positions`` tokens (fairseq cuts them)."""
    if not max_positions:
        return
    for split in layout.SPLITS:
        path = out_dir / "examples" / f"{split}.jsonl"
        if not path.is_file():
            continue
        lengths = [json.loads(line).get("tokens", 0) for line in path.read_text(encoding="utf-8").splitlines()]
        longer = [n for n in lengths if n > max_positions]
        if longer:
            log(f"{split}: {len(longer)} of {len(lengths)} examples are longer than {max_positions} tokens "
                f"(the longest {max(longer)}) and are cut to {max_positions} (--max-positions)")


def fingerprint_parts(request: Request, raw: dict[str, bytes], formats: dict[str, str]) -> dict:
    """Everything the output depends on; paths are left out, so moved inputs do not force a rebuild."""
    return {
        "format_version": layout.FORMAT_VERSION,
        "inputs": {split: {"sha256": bytes_sha256(data), "format": formats[split]} for split, data in raw.items()},
        "options": {
            "text_columns": list(request.columns.texts),
            "label_column": request.columns.label,
            "strip_html": request.strip_html,
            "max_train": request.max_train,
            "subset_seed": request.subset_seed if request.max_train is not None else None,
            "classes": list(request.classes) if request.classes else None,
            "dev_from_train": {"count": request.dev_from_train, "seed": SPLIT_SEED} if request.dev_from_train else None,
            "header": list(request.columns.header) or None,
            "regression": {"range": list(request.label_range) if request.label_range else None}
            if request.regression else None,
        },
        "tokenizer": request.tokenizer.identity(),
        "dictionary": file_sha256(request.dictionary) if request.dictionary else None,
    }


def is_up_to_date(out_dir: Path, digest: str, expected_files: Sequence[str]) -> bool:
    """The published output has this fingerprint and all its files (nobody deleted a part of it)."""
    try:
        recorded = json.loads((out_dir / layout.FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or recorded.get("sha256") != digest:
        return False
    return all((out_dir / name).is_file() for name in expected_files)


def _tokenize(request: Request, examples: dict[str, list[Example]], staging: Path, work_dir: Path,
              vocabulary: set[str] | None, log) -> list[dict[str, list[str]]]:
    """Token lines per text column and split."""
    tokenizer, n_columns = request.tokenizer, len(request.columns.texts)
    training_texts = [text for example in examples["train"] for text in example.texts]
    prepared = tokenizer.prepare(training_texts, staging, request.workers)
    if prepared:
        log(prepared)
    columns = [[example.texts[i] for rows in examples.values() for example in rows] for i in range(n_columns)]
    encoded = tokenizer.encode_columns(columns, work_dir, request.workers)
    token_lines, start = [{} for _ in range(n_columns)], 0
    for split, rows in examples.items():
        for i in range(n_columns):
            token_lines[i][split] = encoded[i][start:start + len(rows)]
        start += len(rows)
    n_tokens = unknown = 0
    for line in (line for column in encoded for line in column):
        tokens = line.split()
        n_tokens += len(tokens)
        if vocabulary is not None:
            unknown += sum(token not in vocabulary for token in tokens)
    coverage = "dictionary built from the training split"
    if vocabulary is not None:
        coverage = f"{100 * unknown / max(n_tokens, 1):.2f}% not in the dictionary"
    log(f"tokenized {sum(map(len, columns))} texts with {tokenizer.name}: {n_tokens} tokens, {coverage}")
    return token_lines


def _read_summary(examples: dict[str, list[Example]], total_train: int, classes: Sequence[str]) -> str:
    counts = [f"{len(rows)} {split}" for split, rows in examples.items()]
    if len(examples["train"]) < total_train:
        counts[0] += f" (sampled from {total_train})"
    kind = f"{len(classes)} classes: {', '.join(classes)}" if classes else "numeric labels (regression)"
    return f"read {', '.join(counts)} rows; {kind}"
