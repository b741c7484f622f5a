"""Where things are: the project, the shared folder beside it, the model cache. One definition each."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = PROJECT_ROOT / "fairseq_plugins"
SCRIPTS_DIR = PROJECT_ROOT / "scripts"


def shared_dir() -> Path:
    """``$SHARED_DIR``, else the ``shared`` folder beside the project (read-only data and models)."""
    return Path(os.environ["SHARED_DIR"]) if os.environ.get("SHARED_DIR") else PROJECT_ROOT.parent / "shared"


def cache_dir() -> Path:
    """``$FAIRSEQ_PEFT_CACHE``, else ``cache/`` in the project: converted and fetched models."""
    return Path(os.environ.get("FAIRSEQ_PEFT_CACHE") or PROJECT_ROOT / "cache")


def data_roots() -> list:
    """Where a recipe looks for a dataset by its folder name: the project's ``data/``, then the shared folder."""
    return [PROJECT_ROOT / "data", shared_dir() / "data"]
