"""The fixed class order: class index i (what fairseq's sentence_prediction predicts) is classes[i]."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

from .dictionary import FAIRSEQ_SPECIAL_SYMBOLS
from .errors import DataError
from .readers import Example

INTEGER = re.compile(r"[+-]?\d+")


def class_order(training_labels: Iterable[str], requested: Sequence[str] | None = None) -> list[str]:
    """``requested`` (from ``--classes``) if given, else the sorted training labels: numeric order
    when every label is an integer ("2" before "10"), lexicographic otherwise."""
    if requested:
        for name in requested:
            problem = label_problem(name)
            if problem:
                raise DataError(f"--classes: class '{name}' {problem}")
        duplicates = sorted({name for name in requested if list(requested).count(name) > 1})
        if duplicates:
            raise DataError(f"--classes: '{duplicates[0]}' is listed twice")
        return list(requested)
    labels = set(training_labels)
    if all(INTEGER.fullmatch(label) for label in labels):
        return sorted(labels, key=lambda label: (int(label), label))
    return sorted(labels)


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a fairseq label token, or None."""
    if any(char.isspace() for char in label):
        return "contains whitespace (a label must be a single token)"
    if label in FAIRSEQ_SPECIAL_SYMBOLS:  # fairseq's Dictionary holds these already
        return "is one of fairseq's special symbols"
    return None


def check_labels(path: Path, examples: Sequence[Example], classes: Sequence[str], known_as: str) -> None:
    """Every label must be one of ``classes``; the first that is not is a file:line error."""
    known = set(classes)
    for example in examples:
        problem = label_problem(example.label)
        if problem:
            raise DataError(f"{path}:{example.line}: label '{example.label}' {problem}")
        if example.label not in known:
            raise DataError(f"{path}:{example.line}: label '{example.label}' is not one of the {known_as} "
                            f"({', '.join(classes)})")


def write_label_dictionary(classes: Sequence[str], path: Path) -> None:
    """A fairseq dict.txt listing the classes in order, for ``fairseq-preprocess --srcdict``."""
    path.write_text("".join(f"{name} 1\n" for name in classes), encoding="utf-8")
