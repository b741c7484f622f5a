"""The results file of a recipe: one JSON object per finished run, appended atomically.

Several recipes (or several processes of one) may append to the same ``runs.jsonl`` at once:
each append takes an exclusive lock, writes one whole line and fsyncs, so lines never interleave.
A run is identified by its ``run_id`` (``runs.identity``); a rerun skips runs whose row is there.
A line that cannot be read (a crash mid-write, an edit by hand) is skipped with a warning naming
the file and line: its run is simply not done.
"""
import fcntl
import json
import os
import sys


def read_rows(path, warn=None):
    """The readable rows of ``path``; unreadable lines are reported through ``warn`` and skipped."""
    if warn is None:
        def warn(message):
            print(message, file=sys.stderr)
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                warn(f"warning: {path}:{number}: unreadable line skipped ({err.msg}); its run counts as not done")
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                warn(f"warning: {path}:{number}: not a JSON object, skipped")
    return rows


def find_row(path, run_id, warn=None):
    """The row of ``run_id`` in ``path``, or None."""
    return next((row for row in read_rows(path, warn) if row.get("run_id") == run_id), None)


def _drop_partial_tail(f):
    """A writer killed mid-line leaves a fragment without a newline: cut it before appending."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    f.seek(size - 1)
    if f.read(1) == b"\n":
        return
    f.seek(0)
    content = f.read()
    f.truncate(content.rfind(b"\n") + 1)


def append_row(path, row):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    line = (json.dumps(row) + "\n").encode("utf-8")
    with open(path, "ab+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            _drop_partial_tail(f)
            f.seek(0, os.SEEK_END)
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
