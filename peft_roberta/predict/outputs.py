"""The predictions file: CSV, TSV or JSONL (from ``--out``'s extension), or GLUE's submission TSV.

One row per input row, in input order: the id (``--id-column``), the gold label (a labelled input),
then per model the predicted label and every class's probability. With several PEFT-only files each
has its own column group, prefixed with its name (``NAME.prediction``, ``NAME.prob_<class>``); in
JSONL, an object per model under ``models``. Files are written to a temporary name beside the
target and renamed at the end: an interrupted run leaves no half-written file.
"""
import contextlib
import csv
import json
import os
import sys

from ..errors import UserError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}
DECIMALS = 6


def output_format(path, requested=None):
    if requested:
        return requested
    if path is None:
        return "csv"
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise UserError(f"{path}: cannot tell the output format from the extension '{extension}' (--out): "
                        f"use {', '.join(FORMATS)} or give --out-format")
    return FORMATS[extension]


def check_writable(path, option="--out"):
    """A one-line error now, before any model loads, for an output that cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory ({option} names a file)")
    if not os.path.isdir(folder):
        raise UserError(f"{path}: the folder {folder} does not exist ({option})")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: cannot write into {folder} ({option})")


@contextlib.contextmanager
def atomic_text(path):
    """A text file open for writing at a temporary name beside ``path``, renamed onto it on success only."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def opened(path):
    if path is None:
        yield sys.stdout
    else:
        with atomic_text(path) as handle:
            yield handle


def records(rows, results, classes):
    """One dict per row: ``id``, ``label``, and per model ``(name, prediction, {class: probability})``."""
    for i, row in enumerate(rows):
        models = []
        for name, predicted, probs in results:
            values = probs[i].tolist()
            models.append((name, classes[predicted[i]], {c: round(p, DECIMALS) for c, p in zip(classes, values)}))
        yield {"id": row.id, "label": row.label, "models": models}


def write_predictions(path, fmt, rows, results, classes, id_name=None):
    """Write every row's predictions (``results``: [(name, predicted indices, probabilities)])."""
    labelled = rows[0].label is not None
    single = len(results) == 1
    with opened(path) as handle:
        if fmt == "jsonl":
            for record in records(rows, results, classes):
                out = {id_name: record["id"]} if id_name else {}
                if labelled:
                    out["label"] = record["label"]
                groups = {name: {"prediction": p, "probabilities": probs} for name, p, probs in record["models"]}
                out.update(groups[results[0][0]] if single else {"models": groups})
                handle.write(json.dumps(out, ensure_ascii=False) + "\n")
            return
        writer = csv.writer(handle, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        header = ([id_name] if id_name else []) + (["label"] if labelled else [])
        for name, _, _ in results:
            prefix = "" if single else f"{name}."
            header += [f"{prefix}prediction"] + [f"{prefix}prob_{c}" for c in classes]
        writer.writerow(header)
        for record in records(rows, results, classes):
            line = ([record["id"]] if id_name else []) + ([record["label"]] if labelled else [])
            for _, predicted, probs in record["models"]:
                line += [predicted] + [f"{p:.{DECIMALS}f}" for p in probs.values()]
            writer.writerow(line)


GLUE_CLASSES = ["0", "1"]


def check_glue(task, classes):
    if sorted(classes) != GLUE_CLASSES:
        raise UserError(f"--glue-submission {task}: GLUE expects the labels 0 and 1; the model's classes are "
                        f"{', '.join(classes)}")


def write_glue_submission(out_dir, task, rows, predicted, classes):
    """GLUE's ``TASK.tsv``: header ``index<TAB>prediction``, one row per test example, in the test file's order."""
    path = os.path.join(out_dir, f"{task}.tsv")
    with atomic_text(path) as handle:
        handle.write("index\tprediction\n")
        for row, index in zip(rows, predicted):
            handle.write(f"{row.id}\t{classes[index]}\n")
    return path


def metric_line(name, gold, predicted, classes):
    """``accuracy A, f1 F (N labelled rows)`` as the recipes' rows round them (4 decimals, percent)."""
    from ..metrics import classification_metrics

    metrics = classification_metrics(gold, predicted, len(classes))
    parts = [f"accuracy {round(metrics['accuracy'], 4)}"]
    parts.append(f"f1 {round(metrics['f1'], 4)}" if "f1" in metrics else f"macro_f1 {round(metrics['macro_f1'], 4)}")
    return (f"{name}: " if name else "") + ", ".join(parts) + f" ({len(gold)} labelled rows)", metrics
