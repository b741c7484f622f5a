"""Every program in scripts/ is a thin command line: ``--help`` works, and a bad option is one line
``<prog>: error: ...`` with exit status 2, never a usage dump or a traceback."""
import subprocess
import sys

import pytest
from conftest import REPO

SCRIPTS = sorted(p.name for p in (REPO / "scripts").glob("*.py"))


def run(script, *args):
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *args], capture_output=True, text=True,
                          timeout=300)


def test_every_script_is_listed():
    assert len(SCRIPTS) >= 15 and "predict.py" in SCRIPTS and "install.sh" not in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_and_a_bad_option(script):
    helped = run(script, "--help")
    assert helped.returncode == 0 and "usage:" in helped.stdout, helped.stderr[-2000:]
    bad = run(script, "--no-such-option")
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(script) and ": error: " in lines[0], bad.stderr[-2000:]
