"""What the fairseq command-line tools exchange with us: child processes and one-text-per-line files."""
from __future__ import annotations

import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

from .errors import ToolError


def run_tool(command: Sequence[str], what: str) -> str:
    """Run ``command``; its output is returned, or its last line is raised in a ToolError."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if proc.returncode != 0:
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        raise ToolError(f"{what} failed (exit {proc.returncode}): {last}")
    return proc.stdout


def write_lines(path: Path, lines: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(line + "\n" for line in lines)


def read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def package_version(*distributions: str) -> str:
    """Version of the first installed distribution among ``distributions`` (fairseq ships under two names)."""
    for name in distributions:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            continue
    return "not installed"
