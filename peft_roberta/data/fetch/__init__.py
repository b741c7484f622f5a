"""Downloading a dataset from its official source into the layout of shared/data.

``fetch(dataset, dest, mirror, timeout)`` downloads (``download``), converts (``convert``) and
checks every file against the sha256 of shared/data/PROVENANCE.md (``sources``). The files are
written into a hidden sibling of DEST that is renamed to DEST at the end, so DEST is either complete
or absent. ``command`` is the command line of ``scripts/fetch_data.py``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from . import convert
from .download import FetchError, check_sha256, describe, download_all, url_list
from .sources import DATASETS, OUTPUTS, SHA256

__all__ = ["DATASETS", "FAILURES", "FetchError", "OUTPUTS", "SHA256", "fetch"]

# What fetch() raises for reasons outside the program. The converters turn broken archives, bad JSON
# and text that is not UTF-8 into FetchError where they read them; an OSError is left only by the
# checks of DEST made before anything is written (permission denied, ...). Anything else is a bug.
FAILURES = (FetchError, OSError)


def missing_ancestors(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, nearest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def fetch(dataset: str, dest: Path, mirror: str | None, timeout: float) -> list[tuple[Path, int, str, bool]]:
    """Download, convert and check ``dataset`` into ``dest``; (path, bytes, sha256, checked) per file."""
    spec = DATASETS[dataset]
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FetchError(f"{dest} already exists and is not an empty folder; remove it first", hint=False)
    convert.PRECHECKS.get(dataset, lambda: None)()
    created = missing_ancestors(dest)
    staging = None
    finished = False
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
        files = download_all(dataset, staging / ".downloads", mirror, timeout)
        convert.CONVERTERS[dataset](files, staging)
        for source in spec.sources:
            if source.keep_as:
                (staging / source.keep_as).parent.mkdir(parents=True, exist_ok=True)
                os.replace(files[source.name].path, staging / source.keep_as)
        shutil.rmtree(staging / ".downloads")
        report = []
        origin = "the conversion of " + url_list([got.url for got in files.values()])
        for relpath in OUTPUTS[dataset]:
            path = staging / relpath
            digest = check_sha256(dataset, relpath, path, origin)
            report.append((dest / relpath, path.stat().st_size, digest, relpath in SHA256.get(dataset, {})))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        os.rename(staging, dest)
        finished = True
        return report
    except OSError as err:
        raise FetchError(f"cannot write {dest} ({describe(err)})") from err
    finally:
        if not finished:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            for folder in created:
                try:
                    folder.rmdir()
                except OSError:
                    break
