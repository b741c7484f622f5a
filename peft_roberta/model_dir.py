"""A model directory: ``model.pt`` (a fairseq RoBERTa checkpoint), ``dict.txt``, the tokenizer files and
``model_info.json``. This module is the one reader and writer of ``model_info.json``:

    {"train_args": ["--arch", ...],            the fairseq-train options that build the architecture
     "tokenizer": {"type": "wordpiece" | "gpt2" | "sentencepiece", <file names>, "lowercase": bool},
     "has_pooler": bool,                        a BERT pooler travels as the head "pretrained_pooler"
     "source": {"name", "hf_dir", "sha256": {...}, ...},   where the weights came from
     "shape": {...}, "random_init_only": bool}  (optional)
"""
import hashlib
import json
import os
from pathlib import Path

from .errors import UserError

MODEL_INFO = "model_info.json"
TOKENIZER_TYPES = ("gpt2", "wordpiece", "sentencepiece")


def sha256_of(path, chunk=1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def is_model_dir(path) -> bool:
    return all(os.path.isfile(os.path.join(path, name)) for name in ("dict.txt", MODEL_INFO))


def read_model_info(model_dir) -> dict:
    """The parsed ``model_info.json`` of ``model_dir``; a missing or malformed file is a one-line UserError."""
    path = Path(model_dir) / MODEL_INFO
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (a model directory holds model.pt, dict.txt and {MODEL_INFO})") from None
    except (UnicodeDecodeError, OSError) as err:
        raise UserError(f"{path}: cannot read ({err})") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(info, dict):
        raise UserError(f"{path}: expected a JSON object")
    return info


def write_model_info(model_dir, info: dict) -> None:
    """Write ``model_info.json`` atomically (a temporary file renamed into place)."""
    path = Path(model_dir) / MODEL_INFO
    tmp = path.with_name(MODEL_INFO + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


DATA_TOKENIZER_SPEC = "spec.json"  # what a data-bin's tokenizer/ folder holds beside the files (data.binarize)


def tokenizer_spec(model_dir) -> dict:
    """The ``tokenizer`` object of ``model_info.json`` (or of a data-bin's ``tokenizer/spec.json``), checked."""
    path = Path(model_dir) / MODEL_INFO
    if not path.is_file() and (Path(model_dir) / DATA_TOKENIZER_SPEC).is_file():
        path = Path(model_dir) / DATA_TOKENIZER_SPEC
        spec = json.loads(path.read_text(encoding="utf-8"))
    else:
        spec = read_model_info(model_dir).get("tokenizer")
    if not isinstance(spec, dict):
        raise UserError(f"{path}: no \"tokenizer\" object")
    if spec.get("type") not in TOKENIZER_TYPES:
        raise UserError(f"{path}: unknown tokenizer type {json.dumps(spec.get('type'))} "
                        f"(expected one of: {', '.join(TOKENIZER_TYPES)})")
    return spec


def train_args(model_dir) -> list:
    """The fairseq-train options that build the model's architecture."""
    args = read_model_info(model_dir).get("train_args")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise UserError(f"{Path(model_dir) / MODEL_INFO}: \"train_args\" must be a list of strings")
    return args


def hf_source(model_dir):
    """The HuggingFace directory the model was converted from, or None (no HuggingFace twin)."""
    return (read_model_info(model_dir).get("source") or {}).get("hf_dir")


def is_bert_family(model_dir) -> bool:
    """BERT-family conversions (WordPiece) join a pair as ``<s> a </s> b </s>``, RoBERTa as ``<s> a </s></s> b </s>``."""
    return tokenizer_spec(model_dir)["type"] == "wordpiece"


def fairseq_bpe_options(model_dir) -> dict:
    """fairseq ``bpe`` options for the model's tokenizer (the hub interface's ``encode``)."""
    spec = tokenizer_spec(model_dir)
    path = lambda key: os.path.join(model_dir, spec[key])  # noqa: E731
    if spec["type"] == "wordpiece":
        return {"bpe": "bert", "bpe_vocab_file": path("vocab"), "bpe_cased": not spec.get("lowercase", True)}
    if spec["type"] == "gpt2":
        return {"bpe": "gpt2", "gpt2_encoder_json": path("encoder_json"), "gpt2_vocab_bpe": path("vocab_bpe")}
    return {"bpe": "sentencepiece", "sentencepiece_model": path("model")}


def fingerprint(model_dir) -> dict:
    """What identifies the model for a run: the sha256 of its weights (if any), dictionary and architecture."""
    info = read_model_info(model_dir)
    weights = os.path.join(model_dir, "model.pt")
    return {
        "model.pt": sha256_of(weights) if os.path.isfile(weights) else None,
        "dict.txt": sha256_of(os.path.join(model_dir, "dict.txt")),
        "train_args": info.get("train_args"),
        "tokenizer": info.get("tokenizer"),
    }
