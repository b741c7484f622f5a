#!/usr/bin/env python
"""Predict labels and class probabilities for new texts with a fine-tuned model.

    python scripts/predict.py checkpoints/sst2_lora/RUN/checkpoint_best.pt --input dev.tsv --out predictions.csv
    python scripts/predict.py checkpoints/sst2_lora/RUN/checkpoint_best.pt --input dev.tsv --label-column label
    echo "a gripping film" | python scripts/predict.py checkpoints/sst2_lora/RUN/checkpoint_best.pt
    python scripts/predict.py cache/models/minilm/model.pt --peft-file RUN1/checkpoint_best.peft.pt \\
        --peft-file RUN2/checkpoint_best.peft.pt --input dev.tsv --out predictions.jsonl
    python scripts/predict.py checkpoints/sst2_lora/RUN/checkpoint_best.pt --glue-submission SST-2 \\
        --input ../shared/data/glue/SST-2/test.tsv --out-dir submission/

CHECKPOINT is a fine-tuned checkpoint (checkpoint_best.pt), or the base model with one or more
--peft-file (the base is loaded once; each file's parameters and head are swapped in and out). The
input is a TSV/CSV/JSONL file with a header row (the columns the model was trained on unless
--text-columns; labelled with --label-column: accuracy, and F1 for two classes, go to stderr), or
one text per line on standard input. The output (--out FILE: .csv, .tsv or .jsonl; stdout as CSV
without it) holds per row the predicted label and every class's probability; one column group per
PEFT-only file. Labels are the dataset's own (the data-bin's labels.json); texts are tokenized with
the data-bin's tokenizer. See docs/predict.md.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for, positive_int  # noqa: E402

PROG = "predict.py"
GLUE_TASKS = ("SST-2", "MRPC")  # peft_roberta.predict.inputs.GLUE_TASKS (not imported: --help stays fast)


def comma_list(text):
    items = tuple(item.strip() for item in text.split(","))
    if not all(items):
        raise ValueError(text)
    return items


def build_parser():
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("checkpoint", nargs="?", help="fine-tuned checkpoint, or the base checkpoint with --peft-file")
    parser.add_argument("--peft-file", action="append", default=[], metavar="FILE",
                        help="PEFT-only file (checkpoint_best.peft.pt) made for CHECKPOINT; repeat for several")
    parser.add_argument("--input", metavar="FILE", help="TSV, CSV or JSONL with a header row (default: standard "
                        "input, one text per line, two tab-separated texts for a pair model)")
    parser.add_argument("--format", default="auto", choices=["auto", "tsv", "csv", "jsonl"],
                        help="--input's format (auto: from its extension)")
    parser.add_argument("--text-columns", type=comma_list, metavar="COLS",
                        help="the text column, or two comma-separated for pairs (default: as the model was trained)")
    parser.add_argument("--label-column", metavar="COL", help="the gold label column: the input is labelled")
    parser.add_argument("--id-column", metavar="COL", help="a column copied into the output (e.g. index)")
    parser.add_argument("--out", metavar="FILE", help="predictions: .csv, .tsv or .jsonl (default: CSV on stdout)")
    parser.add_argument("--out-format", choices=["csv", "tsv", "jsonl"], help="the output's format (default: "
                        "from --out's extension)")
    parser.add_argument("--glue-submission", choices=GLUE_TASKS, metavar="TASK",
                        help="write GLUE's TASK.tsv (SST-2 or MRPC) into --out-dir from the official test.tsv")
    parser.add_argument("--out-dir", default=".", help="--glue-submission's folder (default: the current one)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="texts per batch (default 64)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="bf16: torch.autocast (the plugin's --autocast-bf16); auto: bf16 where the CPU "
                        "multiplies bfloat16 natively, as the recipes")
    parser.add_argument("--merge", action="store_true", help="merge LoRA / IA3 into the base weights (faster; "
                        "float rounding may flip a prediction on the decision boundary)")
    parser.add_argument("--data", metavar="DIR", help="the data-bin the model was trained on, if it moved")
    parser.add_argument("--tokenizer", metavar="MODEL_DIR",
                        help="take the tokenizer from this model directory (a data-bin without tokenizer/)")
    parser.add_argument("--threads", type=positive_int, help="torch threads (default: torch's)")
    parser.add_argument("--report", metavar="FILE", help="also time the predictions against the benchmark's "
                        "inference measure and write FILE (docs/predict.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on long inputs")
    parser.add_argument("--verbose", action="store_true", help="show fairseq's log while loading")
    return parser


def main(argv=None, stdin=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.checkpoint is None and not args.peft_file:
        parser.error("the following arguments are required: checkpoint")

    import logging

    disabled = logging.root.manager.disable
    if not args.verbose:
        logging.disable(logging.INFO)  # fairseq logs every step of loading a model
    terminate = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # finally-blocks run: no temporary file left
    try:
        return predict(args, argv, stdin)
    finally:
        signal.signal(signal.SIGTERM, terminate)
        logging.disable(disabled)


def predict(args, argv, stdin):
    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.errors import UserError
    from peft_roberta.predict.run import Request, run

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    request = Request(
        checkpoint=args.checkpoint, peft_files=args.peft_file, input=args.input, format=args.format,
        text_columns=args.text_columns, label_column=args.label_column, id_column=args.id_column, out=args.out,
        out_format=args.out_format, out_dir=args.out_dir, glue_submission=args.glue_submission,
        batch_size=args.batch_size, precision=args.precision, merge=args.merge, data=args.data,
        tokenizer=args.tokenizer, report=args.report, progress=not args.no_progress,
        command=sys.argv[1:] if argv is None else list(argv))
    try:
        return run(request, stdin=stdin)
    except (CheckpointError, UserError) as err:
        return fail(PROG, err)
    except KeyboardInterrupt:
        return fail(PROG, "interrupted; no output written", code=130)


if __name__ == "__main__":
    sys.exit(main())
