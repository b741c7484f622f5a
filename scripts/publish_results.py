#!/usr/bin/env python
"""Write docs/results.md, docs/benchmark.md, docs/hf_twin.md's trained comparison and README's results
table from the recipes' and the benchmarks' results.

    python scripts/publish_results.py                 # the results/ of the project
    python scripts/publish_results.py --work-dir W    # the results/ of another WORK_DIR

Only what has run is published; every figure is computed from the runs.jsonl files.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "publish_results.py"


def main(argv=None):
    from peft_roberta.paths import PROJECT_ROOT

    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("--work-dir", default=str(PROJECT_ROOT), help="where results/ is (default: the project)")
    args = parser.parse_args(argv)

    from peft_roberta.analysis.publish import write_pages
    from peft_roberta.bench.page import write_benchmark_page
    from peft_roberta.errors import UserError

    try:
        count = write_pages(args.work_dir, PROJECT_ROOT, write_benchmark_page(args.work_dir, PROJECT_ROOT))
    except (UserError, OSError) as err:
        return fail(PROG, err)
    print(f"wrote docs/results.md, docs/benchmark.md, docs/hf_twin.md and README.md's results table ({count} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
