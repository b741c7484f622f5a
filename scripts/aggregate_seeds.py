"""Aggregate fine-tuning runs over seeds: mean, std, 95% CI, Welch tests and sweeps.

Reads the JSON-lines files the training recipes append to (one object per
run), groups runs that differ only in their seed, and writes into --out-dir:
summary.csv (long format), comparisons.csv (Welch's t-tests pretrained vs
random and fairseq vs hf), sweep_best.csv (best configuration per sweep,
chosen on a dev metric only), summary.md (also printed to stdout),
summary.png and one sweep_<group>.png heat map per hyper-parameter sweep.

Usage:
    python scripts/aggregate_seeds.py results/*.jsonl --out-dir results/summary

The work is done by peft_roberta.analysis (load, aggregate, sweeps, plots, summary, outputs).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peft_roberta.analysis.load import (InputError, check_select_metric, load_runs,  # noqa: E402
                                        metric_columns, repeated_seed_warnings)
from peft_roberta.analysis.outputs import (OutputError, aggregate_runs, prepare_out_dir,  # noqa: E402
                                           write_outputs)
from peft_roberta.cli import OneLineParser, fail  # noqa: E402

PROG = "aggregate_seeds.py"


def parse_args(argv=None) -> argparse.Namespace:
    parser = OneLineParser(
        prog=PROG,
        description="Aggregate training runs (JSON lines) over seeds: mean, std, 95% CI "
                    "(Student t), Welch's t-tests pretrained vs random and fairseq vs hf, "
                    "and best configuration per hyper-parameter sweep (chosen on a dev "
                    "metric, never on test).")
    parser.add_argument("runs", nargs="+", metavar="RUNS.jsonl",
                        help="run files, one JSON object per line; several are concatenated")
    parser.add_argument("--out-dir", required=True, type=Path,
                        help="folder for summary.csv, comparisons.csv, sweep_best.csv, "
                             "summary.md, summary.png and sweep_*.png (created if needed)")
    parser.add_argument("--metrics", action="append", default=[], metavar="NAME[,NAME]",
                        help="extra numeric fields to summarise besides dev_*, test_*, "
                             "trainable_params, wall_s, peak_rss_mb (repeatable, comma-separated)")
    parser.add_argument("--select-metric", default="dev_accuracy", metavar="DEV_METRIC",
                        help="higher-is-better dev metric used to pick the best config of a "
                             "sweep and to draw summary.png (default: dev_accuracy)")
    return parser.parse_args(argv)


def warn(message):
    print(message, file=sys.stderr)


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already reported in one line
        return exc.code or 0
    extra = [name.strip() for item in args.metrics for name in item.split(",") if name.strip()]
    if args.select_metric.startswith("test_"):
        return fail(PROG, f"--select-metric: '{args.select_metric}' is a test metric; "
                          "selection must use a dev_ metric")
    try:
        rows = load_runs(args.runs, extra_metrics=extra, warn=warn)
        metrics = metric_columns(rows, extra)
        check_select_metric(rows, metrics, args.select_metric)
    except InputError as exc:
        return fail(PROG, exc)
    for message in repeated_seed_warnings(rows):
        warn(message)
    result = aggregate_runs(rows, metrics, extra, args.select_metric, args.runs, warn)
    try:
        prepare_out_dir(args.out_dir)
    except InputError as exc:
        return fail(PROG, exc)
    try:
        write_outputs(result, args.out_dir)
    except OutputError as exc:
        return fail(PROG, exc, code=1)
    print(result.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
