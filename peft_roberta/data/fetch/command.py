"""Download a dataset from its official source and convert it to the layout of shared/data.

    python scripts/fetch_data.py sst2 --dest data/glue/SST-2
    python scripts/fetch_data.py mrpc --dest data/glue/MRPC --mirror ../shared/data/glue/MRPC

The recipes call this only when a dataset is not in $DATA_DIR, data/ or ../shared/data. The result
is byte-for-byte what shared/data/PROVENANCE.md describes: every file written is checked against
the sha256 listed there. DEST is either complete or absent. Any failure prints one
"fetch_data.py: error: DATASET: ..." line on stderr and exits with code 2.

--mirror DIR_OR_URL (or $FETCH_DATA_MIRROR) replaces every official URL by DIR_OR_URL/<name>, where
<name> is one of the file names listed below (a flat folder; the names do not collide between
datasets). Offline, a folder holding the original files works, e.g. ../shared/data/glue/MRPC for
mrpc or ../shared/data/dsp/restaurant_sup/raw for restaurant.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ...cli import OneLineParser, fail
from . import FAILURES, FetchError, fetch
from .download import DEFAULT_TIMEOUT_S
from .sources import DATASETS

PROG = "fetch_data.py"
MIRROR_ENV = "FETCH_DATA_MIRROR"


def build_parser() -> OneLineParser:
    """The options; the help ends with the datasets and the file names a mirror must hold."""
    first, _, rest = __doc__.strip().partition("\n\n")
    sources = "\n".join(f"  {name:<11} -> data/{spec.layout}: " + ", ".join(source.name for source in spec.sources)
                        for name, spec in DATASETS.items())
    parser = OneLineParser(
        prog=PROG, description=first, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"{rest}\n\ndatasets and the files they download (the names a --mirror must hold):\n{sources}\n"
               "URLs and sha256: peft_roberta/data/fetch/sources.py.")
    parser.add_argument("dataset", choices=sorted(DATASETS), help="which dataset to fetch")
    parser.add_argument("--dest", required=True, type=Path,
                        help="folder to create (must not exist, or be empty), e.g. data/glue/SST-2")
    parser.add_argument("--mirror", default=os.environ.get(MIRROR_ENV) or None, metavar="DIR_OR_URL",
                        help=f"take every file from DIR_OR_URL/<name> instead of the official URLs "
                             f"(default ${MIRROR_ENV})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"network timeout in seconds (default {DEFAULT_TIMEOUT_S:g})")
    return parser


def main(argv=None) -> int:
    """``fetch_data.py``: fetch one dataset, print one line per file written; 2 on a failure."""
    args = build_parser().parse_args(argv)
    try:
        report = fetch(args.dataset, args.dest, args.mirror, args.timeout)
    except FAILURES as err:  # only these: a programming error is a traceback, not download advice
        layout = DATASETS[args.dataset].layout
        message = " ".join(str(err).split())
        if not isinstance(err, FetchError):
            message = f"unexpected {type(err).__name__}: {message}"
        if getattr(err, "hint", True):
            message += f"; put the files in data/{layout} or $DATA_DIR/{layout}, or pass --mirror DIR"
        return fail(PROG, f"{args.dataset}: {message}")
    for path, size, digest, checked in report:
        print(f"{path}\t{size} bytes\tsha256 {digest}\t{'verified' if checked else 'no reference checksum'}")
    return 0
