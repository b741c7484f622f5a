"""Checking a fairseq ``dict.txt`` before fairseq-preprocess sees it (fairseq's own errors carry no
line number)."""
from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .readers import decode_utf8, read_bytes

OVERWRITE_FLAG = "#fairseq:overwrite"
FAIRSEQ_SPECIAL_SYMBOLS = ("<s>", "<pad>", "</s>", "<unk>")


def read_dictionary(path: Path, option: str) -> list[str]:
    """The tokens of a fairseq dictionary (``<token> <count> [#fairseq:overwrite]`` per line), in order."""
    tokens, seen = [], set(FAIRSEQ_SPECIAL_SYMBOLS)
    text = decode_utf8(path, read_bytes(path, option))
    # fairseq reads the file in text mode: \r, \n and \r\n end lines, nothing else does
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        parts = line.rstrip().rsplit(" ", 1)
        overwrite = len(parts) == 2 and parts[1] == OVERWRITE_FLAG
        if overwrite:
            parts = parts[0].rsplit(" ", 1)
        if len(parts) != 2 or not parts[0] or not parts[1].isdigit():
            raise DataError(f"{path}:{number}: expected '<token> <count>' ({option})")
        if parts[0] in seen and not overwrite:
            raise DataError(f"{path}:{number}: token '{parts[0]}' is listed twice ({option})")
        seen.add(parts[0])
        tokens.append(parts[0])
    if not tokens:
        raise DataError(f"{path}: empty dictionary ({option})")
    return tokens
