#!/usr/bin/env python
"""Download a dataset from its official source and convert it to the layout of shared/data.

    python scripts/fetch_data.py sst2 --dest data/glue/SST-2
    python scripts/fetch_data.py mrpc --dest data/glue/MRPC --mirror ../shared/data/glue/MRPC

The datasets, --mirror and the other options: ``--help``. The code: ``peft_roberta.data.fetch``
(sources, download, convert; the command line in ``command``).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.data.fetch.command import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
