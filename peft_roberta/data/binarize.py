"""The output layout, and the fairseq-preprocess runs that fill it.

    OUT/input0/, OUT/input1/ ...   one per text column: dict.txt, {train,valid,test}.{bin,idx}
    OUT/label/                     the labels, binarized with the class order as dictionary
    OUT/examples/{split}.jsonl     the normalized examples that were binarized, in order
    OUT/labels.json                {"classes": [...], "text_columns": [...], "label_column": ...}
    OUT/fingerprint.json           what the output was built from (see ``pipeline``)
    OUT/tokenizer/                 the tokenizer's files and spec.json (its spec, as in model_info.json):
                                   what turns text into these tokens, for any checkpoint trained on them
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Mapping, Sequence

from .fairseq_tools import run_tool, write_lines
from .labels import write_label_dictionary
from .readers import Example

# Bump when the layout or the meaning of any file changes: older outputs are then rebuilt.
FORMAT_VERSION = 2  # 2: examples/*.jsonl record each example's length in tokens
SPLITS = ("train", "valid", "test")
FINGERPRINT_FILE = "fingerprint.json"
LABELS_FILE = "labels.json"
TOKENIZER_DIR = "tokenizer"
TOKENIZER_SPEC = f"{TOKENIZER_DIR}/spec.json"


def run_preprocess(destdir: Path, prefixes: Mapping[str, Path], workers: int,
                   srcdict: Path | None = None, dict_only: bool = False) -> None:
    """One ``fairseq-preprocess --only-source`` run; ``prefixes`` maps split to its token file."""
    command = [sys.executable, "-m", "fairseq_cli.preprocess", "--only-source",
               "--destdir", str(destdir), "--workers", str(workers)]
    for split, prefix in prefixes.items():
        command += [f"--{split}pref", str(prefix)]
    if srcdict is not None:
        command += ["--srcdict", str(srcdict)]
    if dict_only:
        command.append("--dict-only")
    run_tool(command, f"fairseq-preprocess for {destdir.name}")


def binarize(out_dir: Path, work_dir: Path, token_lines: Sequence[Mapping[str, list[str]]],
             labels: Mapping[str, list[str]], classes: Sequence[str], dictionary: Path | None,
             workers: int, regression: bool = False) -> list[str]:
    """Binarize every text column (``token_lines[i][split]``) and the labels; returns the folders written.

    Without a dictionary, fairseq-preprocess builds one from the training split. With several text
    columns it is built once from all of them, since the model embeds every column with one table.
    """
    if dictionary is None and len(token_lines) > 1:
        joint = work_dir / "train.all-columns"
        write_lines(joint, [line for column in token_lines for line in column["train"]])
        run_preprocess(work_dir / "joint-dictionary", {"train": joint}, workers, dict_only=True)
        dictionary = work_dir / "joint-dictionary" / "dict.txt"
    written = []
    for i, column in enumerate(token_lines):
        name = f"input{i}"
        run_preprocess(out_dir / name, _write_splits(work_dir, name, column), workers, srcdict=dictionary)
        written.append(name)
    if regression:  # fairseq's sentence_prediction reads label/<split>.label: one number per line
        (out_dir / "label").mkdir()
        for split, values in labels.items():
            write_lines(out_dir / "label" / f"{split}.label", [repr(float(v)) for v in values])
        return written + ["label"]
    label_dictionary = work_dir / "label.dict.txt"
    write_label_dictionary(classes, label_dictionary)
    run_preprocess(out_dir / "label", _write_splits(work_dir, "label", labels), workers, srcdict=label_dictionary)
    return written + ["label"]


def expected_files(n_columns: int, splits: Sequence[str], regression: bool = False) -> list[str]:
    """The files a complete output holds, relative to it."""
    folders = [f"input{i}" for i in range(n_columns)] + ([] if regression else ["label"])
    files = [f"{folder}/{split}.{ext}" for folder in folders for split in splits for ext in ("bin", "idx")]
    files += [f"{folder}/dict.txt" for folder in folders]
    files += [f"label/{split}.label" for split in splits] if regression else []
    return files + [f"examples/{split}.jsonl" for split in splits] + [LABELS_FILE, FINGERPRINT_FILE, TOKENIZER_SPEC]


def write_tokenizer(out_dir: Path, tokenizer) -> None:
    """Copy the tokenizer's files into OUT/tokenizer/ with its spec (file names as the spec gives them)."""
    import shutil

    folder = out_dir / TOKENIZER_DIR
    folder.mkdir(exist_ok=True)
    spec = tokenizer.spec()
    for key, path in tokenizer.files().items():
        if Path(path).resolve() != (folder / spec[key]).resolve():
            shutil.copyfile(path, folder / spec[key])
    write_json(out_dir / TOKENIZER_SPEC, spec)


def write_examples(out_dir: Path, examples: Mapping[str, Sequence[Example]],
                   token_counts: Mapping[str, Sequence[int]]) -> None:
    """``examples/{split}.jsonl``: each example's texts, label and length in tokens (with fairseq's specials)."""
    (out_dir / "examples").mkdir()
    for split, rows in examples.items():
        with open(out_dir / "examples" / f"{split}.jsonl", "w", encoding="utf-8", newline="\n") as handle:
            for example, tokens in zip(rows, token_counts[split]):
                handle.write(json.dumps({"texts": list(example.texts), "label": example.label, "tokens": tokens},
                                        ensure_ascii=False) + "\n")


def write_labels(out_dir: Path, classes: Sequence[str], text_columns: Sequence[str], label_column: str,
                 label_range=None, regression: bool = False) -> None:
    """labels.json: the class order (class index i is classes[i]); a regression task has no classes."""
    labels = {"classes": list(classes), "text_columns": list(text_columns), "label_column": label_column}
    if regression:
        labels.update(regression=True, range=list(label_range) if label_range else None)
    write_json(out_dir / LABELS_FILE, labels)


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_splits(work_dir: Path, name: str, lines_by_split: Mapping[str, list[str]]) -> dict[str, Path]:
    prefixes = {}
    for split in SPLITS:
        if split in lines_by_split:
            prefixes[split] = work_dir / f"{split}.{name}"
            write_lines(prefixes[split], lines_by_split[split])
    return prefixes
