#!/usr/bin/env bash
# Set up the project's Python environment from scratch.
#
#   bash scripts/install.sh            # creates .venv/ and installs everything (about 5 minutes)
#
# Environment variables:
#   VENV=DIR        virtual environment to create or reuse (default .venv; VENV=none installs into
#                   the current interpreter)
#   PYTHON=EXE      interpreter for the new environment (default python3)
#   TORCH_SPEC=...  torch requirement installed before anything else (default torch==2.13.0, a CPU
#                   build on this project's machines; an unpinned torch pulls several GB of CUDA
#                   packages). An environment that already imports torch keeps its own.
#   EXTRAS=...      extras of the project to install (default hf,test)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS:-hf,test}

if [[ $VENV != none ]]; then
    [[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
    PY=$VENV/bin/python
else
    PY=$PYTHON
fi
pip() { "$PY" -m pip --disable-pip-version-check "$@"; }

echo "[install] python: $("$PY" --version) in ${VENV}"
if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "[install] $TORCH_SPEC"
    pip install -q "$TORCH_SPEC"
fi
# fairseq ships as a source package with C extensions built against torch: build it without
# isolation, so that pip does not fetch a second, newer torch for the build.
pip install -q setuptools wheel cython numpy
echo "[install] the project with extras [$EXTRAS] (the first fairseq build takes a few minutes)"
pip install -q --no-build-isolation -e ".[$EXTRAS]"

# fairseq declares torchaudio, but its text tasks never use it; the torchaudio wheel on PyPI is
# built for another torch and, when it fails to load, breaks `import transformers`.
if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torchaudio') is None)" \
        && ! "$PY" -c "import torchaudio" 2>/dev/null; then
    echo "[install] removing torchaudio: it does not load against this torch, and nothing here needs it"
    pip uninstall -y -q torchaudio
fi

EXTRAS=$EXTRAS "$PY" - <<'PY'
import importlib
import os
import sys

extras = os.environ["EXTRAS"].split(",")
names = ["torch", "fairseq", "sentencepiece", "numpy", "pandas", "fairseq_plugins"]
names += ["transformers", "peft"] * ("hf" in extras) + ["pytest", "xdist"] * ("test" in extras)
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as err:
        sys.exit(f"[install] {name} does not import: {err}")
import fairseq, torch
print(f"[install] ok: torch {torch.__version__}, fairseq {fairseq.__version__}")
PY
