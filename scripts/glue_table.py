#!/usr/bin/env python
"""The GLUE table of a results file: one column per task (its GLUE metric on dev), ours beside the
published RoBERTa-base rows (LoRA paper Table 2, He et al. 2022).

    python scripts/glue_table.py results/glue/runs.jsonl --out results/glue/glue.md

recipes/glue.sh runs it after its runs.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "glue_table.py"


def main(argv=None):
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("runs", nargs="+", help="runs.jsonl files")
    parser.add_argument("--out", help="also write the table (Markdown) to this file")
    args = parser.parse_args(argv)

    from peft_roberta import machine
    from peft_roberta.analysis.glue import glue_table
    from peft_roberta.analysis.load import InputError, load_runs
    from peft_roberta.pages import write_page

    try:
        rows = load_runs(args.runs)
    except InputError as err:
        return fail(PROG, err)
    precision = ", ".join(sorted(set(rows["precision"].dropna()))) if "precision" in rows else "?"
    profile = ", ".join(sorted(set(rows["profile"].dropna()))) if "profile" in rows else "?"
    text = (f"GLUE dev, mean ± std over seeds (n), from {', '.join(args.runs)}; profile {profile}, precision "
            f"{precision}; {machine.cpu_name()}; {machine.today()}.\n\n{glue_table(rows)}\n")
    print(text)
    if args.out:
        write_page(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
