"""The recipes behind the accuracy findings: how each is invoked, running it with its output logged,
its default settings, and reading the ``runs.jsonl`` it appends to. No fairseq or torch import.
"""
from __future__ import annotations

import datetime
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.load import InputError, load_runs
from ..paths import PROJECT_ROOT

RECIPE_DIR = PROJECT_ROOT / "recipes"


@dataclass
class RecipeRun:
    recipe: str
    env: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return RECIPE_DIR / f"{self.recipe}.sh"

    def command(self, work_dir: Path) -> str:
        env = {} if work_dir == PROJECT_ROOT else {"WORK_DIR": str(work_dir)}
        env.update(self.env)
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        return f"{prefix + ' ' if prefix else ''}bash recipes/{self.recipe}.sh"

    def results(self, work_dir: Path) -> Path:
        return work_dir / "results" / self.recipe / "runs.jsonl"

    def default(self, name: str) -> str | None:
        """The recipe's default of a variable (``NAME=${NAME:-value}``), else recipes/common.sh's."""
        pattern = re.compile(rf"\b{name}=\$\{{{name}:?-\"?([^\"}}]*)\"?\}}")
        for path in (self.path, RECIPE_DIR / "common.sh"):
            try:
                found = pattern.search(path.read_text(encoding="utf-8"))
            except OSError:
                continue
            if found:
                return found.group(1)
        return None


def run_recipe(run: RecipeRun, work_dir: Path, log_dir: Path) -> dict:
    """Run one recipe, echoing and logging its output; never raises."""
    if not run.path.is_file():
        print(f"[reproduce_reports] recipes/{run.recipe}.sh does not exist yet: skipped", flush=True)
        return {"status": "missing recipe"}
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{run.recipe}.log"
    env = {**os.environ, **run.env, "WORK_DIR": str(work_dir)}
    print(f"[reproduce_reports] $ {run.command(work_dir)}  (log: {log})", flush=True)
    start = datetime.datetime.now()
    try:
        with open(log, "w", encoding="utf-8") as handle:
            proc = subprocess.Popen(["bash", str(run.path)], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                handle.write(line)
                sys.stdout.write(line)
            code = proc.wait()
    except OSError as exc:
        return {"status": "failed", "code": None, "log": log, "error": str(exc)}
    seconds = (datetime.datetime.now() - start).total_seconds()
    print(f"[reproduce_reports] {run.recipe}: exit {code} after {seconds:.0f} s", flush=True)
    return {"status": "ok" if code == 0 else "failed", "code": code, "log": log, "seconds": seconds}


def load_rows(run: RecipeRun, work_dir: Path):
    """(rows of fairseq runs or None, note): a missing or unreadable file gives None and why."""
    path = run.results(work_dir)
    if not path.is_file():
        return None, f"no `{path}`"
    try:
        rows = load_runs([path], warn=lambda message: None)
    except InputError as exc:
        return None, f"`{path}` cannot be read: {exc}"
    rows = rows[rows["impl"] == "fairseq"]
    if rows.empty:
        return None, f"`{path}` has no fairseq rows"
    return rows, f"{len(rows)} fairseq run{'' if len(rows) == 1 else 's'} in `{path}`"


def profiles(rows) -> str:
    """The profiles (quick, paper) the rows were trained with, or ``unknown``."""
    if rows is None or "profile" not in rows.columns:
        return "unknown"
    found = sorted({str(p) for p in rows["profile"].dropna() if str(p)})
    return ", ".join(found) or "unknown"
