"""Building an output directory out of sight and publishing it whole.

The build happens in a staging directory beside the destination (same file system, so the final
rename is atomic) while an exclusive ``flock`` on ``<destination>.lock`` is held; a second run for
the same destination waits for the first and then finds its result.
"""
from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import DataError

STAGING_TAG = ".tmp-"
RETIRED_TAG = ".old-"


def lock_path(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + ".lock")


@contextmanager
def exclusive_lock(out_dir: Path) -> Iterator[None]:
    """Hold the destination's lock; the lock file stays (removing it would race with waiting runs)."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path(out_dir), "a")
    except OSError as exc:
        raise DataError(f"{out_dir}: cannot write beside it ({exc.strerror}) (--out-dir)") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sibling(out_dir: Path, tag: str) -> Path:
    """A new hidden name beside ``out_dir``: ``.<name><tag><pid>-<random>``."""
    return out_dir.with_name(f".{out_dir.name}{tag}{os.getpid()}-{secrets.token_hex(4)}")


def remove_leftovers(out_dir: Path) -> None:
    """Remove staging and retired directories that killed runs left behind; call with the lock held."""
    tags = "|".join(map(re.escape, (STAGING_TAG, RETIRED_TAG)))
    ours = re.compile(rf"\.{re.escape(out_dir.name)}({tags})\d+-[0-9a-f]{{8}}")
    for name in os.listdir(out_dir.parent):
        if ours.fullmatch(name):
            shutil.rmtree(out_dir.parent / name, ignore_errors=True)


@contextmanager
def staging_dir(out_dir: Path) -> Iterator[Path]:
    """A fresh directory beside ``out_dir``, removed on the way out unless it was published."""
    path = _sibling(out_dir, STAGING_TAG)
    path.mkdir()  # mkdir, not mkdtemp: the published directory should get the usual umask permissions
    try:
        yield path
    finally:
        if path.exists():
            shutil.rmtree(path)


def check_replaceable(out_dir: Path, marker: str) -> None:
    """Refuse to replace something this tool did not write (a directory without ``marker``)."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise DataError(f"{out_dir}: exists and is not a directory (--out-dir)")
    if out_dir.is_dir() and not (out_dir / marker).is_file():
        raise DataError(f"{out_dir}: exists but was not written by prepare_data.py (no {marker}); "
                        "remove it or choose another --out-dir")


@contextmanager
def built_beside(out_dir) -> Iterator[Path]:
    """Build a directory out of sight: yields a fresh sibling of ``out_dir``, which replaces ``out_dir`` whole
    when the block ends normally and is removed when it raises (nothing half-written is ever at ``out_dir``)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with staging_dir(out_dir) as staging:
        yield staging
        publish(staging, out_dir)


def publish(staging: Path, out_dir: Path) -> None:
    """Move ``staging`` to ``out_dir``, replacing an older version; call with the lock held.

    Each rename is atomic, so a reader sees the old directory, the new one or (for an instant
    between the two) none, never a mixture.
    """
    retired = None
    if out_dir.exists():
        retired = _sibling(out_dir, RETIRED_TAG)
        os.rename(out_dir, retired)
    os.rename(staging, out_dir)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
