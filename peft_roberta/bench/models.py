"""The model a measurement runs on: a preset or a directory (``models.pretrained.resolve``), or the
shape of roberta.base without its weights (random init, fairseq only), for memory figures at that size.
"""
import os
import shutil

from .. import paths
from ..data.publish import built_beside
from ..errors import UserError

SHAPE_MODELS = {"roberta.base": "roberta-base-shape"}  # --shape value -> --model name
ROBERTA_BASE_SHAPE = {"encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
                      "encoder_attention_heads": 12, "activation_fn": "gelu", "max_positions": 512}


def model_name(model, shape=None):
    """The model a --model / --shape pair names (--shape wins)."""
    return SHAPE_MODELS[shape] if shape else model


def resolve_model(name):
    """The model directory of ``name``: ``roberta-base-shape`` or anything ``pretrained.resolve`` takes."""
    if name == "roberta-base-shape":
        return roberta_base_shape()
    from ..models.pretrained import resolve

    return resolve(name)


def has_weights(model_dir):
    return os.path.isfile(os.path.join(model_dir, "model.pt"))


def roberta_base_shape():
    """A model directory in the cache with roberta.base's architecture, dictionary and GPT-2 BPE, no weights."""
    from ..model_dir import is_model_dir, sha256_of, write_model_info
    from ..models.pretrained import ROBERTA_DICT_SHA256, gpt2_bpe_files, locked

    out_dir = str(paths.cache_dir() / "models" / "roberta.base-shape")
    dictionary = paths.shared_dir() / "models" / "roberta.base" / "dict.txt"
    with locked(out_dir):
        if is_model_dir(out_dir):
            return out_dir
        if not dictionary.is_file():
            raise UserError(f"{dictionary}: missing (roberta.base's shape needs the official dictionary)")
        if sha256_of(dictionary) != ROBERTA_DICT_SHA256:
            raise UserError(f"{dictionary}: not the official RoBERTa dictionary (sha256 differs)")
        with built_beside(out_dir) as staging:
            tmp = str(staging)
            shutil.copyfile(dictionary, os.path.join(tmp, "dict.txt"))
            gpt2_bpe_files(tmp)
            write_model_info(tmp, {
                "train_args": ["--arch", "roberta_peft_base", "--max-positions", "512"],
                "tokenizer": {"type": "gpt2", "encoder_json": "encoder.json", "vocab_bpe": "vocab.bpe"},
                "has_pooler": False,
                "shape": ROBERTA_BASE_SHAPE,
                "random_init_only": True,
                "source": {"name": "roberta-base-shape", "from": "roberta.base's architecture, no weights"},
            })
    return out_dir


def hf_dir_of(model_dir):
    """The HuggingFace directory the model was converted from (None: fairseq only)."""
    from ..model_dir import hf_source

    hf_dir = hf_source(model_dir)
    return hf_dir if hf_dir and os.path.isfile(os.path.join(hf_dir, "config.json")) else None
