"""Writing generated pages: whole pages, or blocks between ``<!-- name:begin -->`` and
``<!-- name:end -->`` markers, replaced whole while everything else in the file is left as it is;
always through a temporary name, so that no reader ever sees a half-written page.
"""
import os
import re
from pathlib import Path

from .errors import UserError


def replace_block(text, name, content, where="README.md"):
    """``text`` with the block ``name`` replaced by ``content``."""
    pattern = re.compile(rf"(<!-- {re.escape(name)}:begin -->\n).*?(<!-- {re.escape(name)}:end -->)", re.S)
    if not pattern.search(text):
        raise UserError(f"{where}: no <!-- {name}:begin --> ... <!-- {name}:end --> block")
    return pattern.sub(lambda m: m.group(1) + content.rstrip("\n") + "\n" + m.group(2), text)


def write_page(path, text):
    """Write ``text`` to ``path`` through a temporary name beside it: never a half-written page."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_block(path, name, content):
    """Replace the block ``name`` of ``path`` atomically."""
    path = Path(path)
    write_page(path, replace_block(path.read_text(encoding="utf-8"), name, content, where=str(path)))
