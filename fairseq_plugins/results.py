"""The results file of a recipe: one JSON object per finished run, appended atomically.

Several recipes (or several processes of one) may append to the same ``runs.jsonl`` at once:
each append takes an exclusive lock, writes one whole line and fsyncs, so lines never interleave.
A run is identified by its key fields; a rerun of a recipe skips runs whose row is already there.
"""
import fcntl
import json
import os

RUN_KEY = ("recipe", "task", "model", "method", "init", "seed", "impl", "config")


def run_key(row):
    return json.dumps([row.get(k) for k in RUN_KEY], sort_keys=True)


def read_rows(path):
    """Complete rows of ``path`` (a truncated last line, left by a crash, is ignored)."""
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                rows.append(json.loads(line))
    return rows


def is_done(path, key_fields):
    key = run_key(key_fields)
    return any(run_key(row) == key for row in read_rows(path))


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
