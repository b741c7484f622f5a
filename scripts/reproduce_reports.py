#!/usr/bin/env python
"""Reproduce the course reports' published figures beside ours, in one Markdown report.

    python scripts/reproduce_reports.py --out-dir reports/ [--tables-only] [--work-dir W]

Writes ``OUT_DIR/reports.md`` with, for each published figure, the number this project computes:

1. trainable-parameter counts (reports 000, 001, 002, 003), computed now on randomly initialised
   models of the reports' shapes through the plugin, beside peft's count of the same configuration
   on a config-only HuggingFace twin (nothing is downloaded);
2. report 004's memory arithmetic through the estimator of ``scripts/memory_estimate.py``;
3. the accuracy findings (reports 000, 001, 002, 004) at CPU scale with the substitute pretrained
   model all-MiniLM-L6-v2, each read from the ``runs.jsonl`` of a recipe. Unless ``--tables-only``,
   the recipes run first (a recipe skips the runs it already has, so a second call is cheap); their
   outputs go to ``--work-dir`` (default: the project folder), which is passed on as ``WORK_DIR``.
   Other environment variables reach the recipes as they are (e.g. ``MAX_TRAIN=200 MAX_UPDATES=4
   SEEDS=1`` for a smoke run).

Each finding is judged "held", "did not hold" or "inconclusive" from the seeds' values: Welch's
t-test for "A beats B", an equivalence test (TOST) against a stated margin for "little difference"
(the rules are written into the report). A finding whose recipe has no results (``--tables-only``,
or a recipe that does not exist yet) is marked "not run yet" with the command that produces it.

The work is done by peft_roberta.reports (counts, memory, findings, verdicts, render, reproduce);
the report's prose is peft_roberta/reports/templates/*.md.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peft_roberta.cli import OneLineParser  # noqa: E402
from peft_roberta.paths import PROJECT_ROOT  # noqa: E402
from peft_roberta.reports import findings  # noqa: E402
from peft_roberta.reports.reproduce import invocation, reproduce  # noqa: E402


def finding_ids(text):
    """argparse type of --findings: report ids among the findings'."""
    known = [f.report for f in findings.FINDINGS]
    ids = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [i for i in ids if i not in known]
    if unknown or not ids:
        raise argparse.ArgumentTypeError(f"unknown report id(s) {', '.join(unknown) or text!r}; "
                                         f"choose from {', '.join(known)}")
    return ids


def build_parser():
    every = [f.report for f in findings.FINDINGS]
    parser = OneLineParser(prog="reproduce_reports.py", description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", required=True, type=Path, help="where reports.md is written")
    parser.add_argument("--tables-only", action="store_true",
                        help="run no recipe: counts, memory, and whatever results the work dir already has")
    parser.add_argument("--findings", type=finding_ids, default=every, metavar="IDS",
                        help="comma list of the reports whose accuracy recipes run (default: all, "
                             + ",".join(every) + "); the others are judged from existing results")
    parser.add_argument("--work-dir", type=Path, default=PROJECT_ROOT,
                        help="the recipes' WORK_DIR (results/, checkpoints/, data-bin/); default: the project")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    command = invocation(args.out_dir, args.work_dir, args.tables_only, args.findings)
    report = reproduce(args.out_dir, args.work_dir, args.findings, args.tables_only, command)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
