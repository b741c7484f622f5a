"""One reproduction of the course reports: run the findings' recipes (unless tables only), compute the
counts, the memory figures and the verdicts, and write ``reports.md`` atomically.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..paths import PROJECT_ROOT
from . import findings
from .counts import count_tables
from .memory import report004_figures
from .recipes import run_recipe
from .render import render

REPORT_NAME = "reports.md"


def invocation(out_dir: Path, work_dir: Path, tables_only: bool, chosen) -> str:
    """The command line that makes this report (as given: relative paths stay relative)."""
    return ("python scripts/reproduce_reports.py --out-dir " + shlex.quote(str(out_dir))
            + ("" if work_dir.resolve() == PROJECT_ROOT else " --work-dir " + shlex.quote(str(work_dir)))
            + (" --tables-only" if tables_only else "")
            + ("" if tables_only or len(chosen) == len(findings.FINDINGS) else " --findings " + ",".join(chosen)))


def reproduce(out_dir: Path, work_dir: Path, chosen, tables_only: bool, command: str) -> Path:
    """Write ``out_dir/reports.md``; ``chosen``: the report ids whose recipes run (none with tables_only).

    ``command`` is the invocation shown at the top. Returns the report's path.
    """
    out_dir, work_dir = out_dir.resolve(), work_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    ran = {}
    if not tables_only:
        for finding in findings.FINDINGS:
            if finding.report in chosen:
                for run in finding.runs:
                    ran[run.recipe] = run_recipe(run, work_dir, out_dir / "logs")
    counts = count_tables()
    memory = report004_figures()
    results = [(finding, *findings.evaluate_finding(finding, work_dir, ran, tables_only))
               for finding in findings.FINDINGS]
    commands = [command + "   # this report: section 1 and 2, and runs the recipes below unless --tables-only",
                "python scripts/memory_estimate.py --preset report004   # section 2"]
    commands += [run.command(work_dir) for finding in findings.FINDINGS for run in finding.runs]
    report = out_dir / REPORT_NAME
    temporary = report.with_name(f".{REPORT_NAME}.tmp")
    temporary.write_text(render(counts, memory, results, tables_only, work_dir, commands), encoding="utf-8")
    os.replace(temporary, report)
    return report
