"""Getting a dataset's source files and checking them.

Each source is taken from its official URLs, the first that works, or from ``MIRROR/<name>`` where
a mirror (a folder or a URL) is given. Text sources marked ``crlf_to_lf`` get LF line ends before
their sha256 is checked; kept sources are checked against ``SHA256`` as soon as they arrive.
Every failure is a ``FetchError``: one line, naming the URLs tried or the file that is wrong.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError
from .sources import DATASETS, SHA256, Source

DEFAULT_TIMEOUT_S = 60.0
CHUNK = 1 << 20
USER_AGENT = "fetch_data.py (python urllib)"


class FetchError(UserError):
    """A failure reported to the user as one line (the command adds the dataset and, if ``hint``,
    where to put the files by hand)."""

    def __init__(self, message: str, hint: bool = True):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Downloaded:
    """A downloaded file and the URL it came from."""
    path: Path
    url: str

    def unexpected(self, what: str) -> FetchError:
        return FetchError(f"unexpected content in {self.url}: {what}")


def mirror_url(mirror: str, name: str) -> str:
    """URL of ``name`` in a mirror given as a folder path or as a URL."""
    base = mirror if "://" in mirror else Path(mirror).resolve().as_uri()
    return base.rstrip("/") + "/" + urllib.parse.quote(name)


def describe(err: BaseException) -> str:
    """A short reason for ``err``: ``HTTP 404 Not Found``, ``timed out``, the message."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(err) or type(err).__name__


def download_one(url: str, target: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        while chunk := response.read(CHUNK):
            out.write(chunk)


def download_source(source: Source, urls: tuple[str, ...], folder: Path, timeout: float) -> Downloaded:
    """First of ``urls`` that downloads; FetchError naming every URL tried if none does."""
    target = folder / source.name
    failures = []
    for url in urls:
        try:
            download_one(url, target, timeout)
            return Downloaded(target, url)
        except (OSError, ValueError, http.client.HTTPException) as err:
            failures.append(f"{url} ({describe(err)})")
    raise FetchError("cannot download " + "; also tried ".join(failures))


def download_all(dataset: str, folder: Path, mirror: str | None, timeout: float) -> dict[str, Downloaded]:
    """Every source of ``dataset`` in ``folder``; kept files are checked against SHA256 on arrival."""
    folder.mkdir()
    files = {}
    for source in DATASETS[dataset].sources:
        urls = (mirror_url(mirror, source.name),) if mirror else source.urls
        got = download_source(source, urls, folder, timeout)
        if source.crlf_to_lf:
            crlf_to_lf(got.path)
        if source.keep_as:
            check_sha256(dataset, source.keep_as, got.path, got.url)
        files[source.name] = got
    return files


def crlf_to_lf(path: Path) -> bytes:
    """The file's bytes with CRLF line ends turned into LF (the file is rewritten if it had any)."""
    data = path.read_bytes()
    if b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")
        path.write_bytes(data)
    return data


def url_list(urls: list[str]) -> str:
    """``urls`` in one short phrase: ``https://host/dir/{a,b}`` when they share a folder."""
    if len(urls) == 1:
        return urls[0]
    folder = os.path.commonprefix(urls).rpartition("/")[0] + "/"
    if "://" not in folder or not folder.split("://", 1)[1].strip("/"):
        return ", ".join(urls)
    return folder + "{" + ",".join(url[len(folder):] for url in urls) + "}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(dataset: str, relpath: str, path: Path, origin: str) -> str:
    """The file's sha256; FetchError if ``SHA256`` lists another value for ``relpath``."""
    actual = sha256_of(path)
    expected = SHA256.get(dataset, {}).get(relpath)
    if expected is not None and actual != expected:
        raise FetchError(f"checksum mismatch for {relpath} from {origin}: "
                         f"sha256 {actual}, expected {expected}")
    return actual
