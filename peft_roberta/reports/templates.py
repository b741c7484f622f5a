"""The report's prose: Markdown templates in ``templates/*.md`` with ``$name`` placeholders
(``string.Template``) that the renderer fills with computed values.

A template file holds several named blocks, each starting with a line ``<!-- block: NAME -->``;
a block's text runs to the next such line (blank lines around it dropped). A placeholder left
unfilled is an error (``KeyError``), never silently printed.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from string import Template

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_BLOCK = re.compile(r"^<!-- block: ([\w.-]+) -->[ \t]*$", re.MULTILINE)


@functools.lru_cache(maxsize=None)
def blocks(file: str) -> dict:
    """name -> template text of every block in ``templates/<file>.md``."""
    text = (TEMPLATE_DIR / f"{file}.md").read_text(encoding="utf-8")
    parts = _BLOCK.split(text)
    return {name: body.strip("\n") for name, body in zip(parts[1::2], parts[2::2])}


def fill(file: str, block: str, **values) -> str:
    """The block ``block`` of ``templates/<file>.md`` with every ``$name`` replaced by ``values[name]``."""
    return Template(blocks(file)[block]).substitute(values)


def listing(items, last=" and ") -> str:
    """``a, b and c`` (``last`` joins the final two)."""
    items = [str(item) for item in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]
