#!/usr/bin/env python
"""Set whole SST-2 training sentences aside as a labelled test split (GLUE's SST-2 test has no labels).

    python scripts/sst2_heldout.py ../shared/data/glue/SST-2/train.tsv data-bin/sst2-heldout872.split --count 872

Writes SPLIT_DIR/train.tsv (the rest, without the phrases found only inside held-out sentences) and
SPLIT_DIR/test.tsv; reused while the source and the count are unchanged.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for, positive_int  # noqa: E402

PROG = "sst2_heldout.py"


def main(argv=None):
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("source", help="SST-2's train.tsv")
    parser.add_argument("split_dir", help="folder to write train.tsv, test.tsv and split.json into")
    parser.add_argument("--count", type=positive_int, default=872, help="sentences held out (default 872)")
    args = parser.parse_args(argv)

    from peft_roberta.data.sst2_heldout import write_split

    try:
        summary = write_split(args.source, args.split_dir, args.count)
    except OSError as err:
        return fail(PROG, f"{args.source}: {err.strerror or err}")
    if summary:
        print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
