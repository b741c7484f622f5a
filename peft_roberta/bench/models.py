"""The model a measurement runs on: a preset or a directory (``models.pretrained.resolve``), or the
shape of roberta.base or roberta.large without weights (random init, fairseq only), for memory figures at
that size.
"""
import os
import shutil

from .. import paths
from ..data.publish import built_beside
from ..errors import UserError

SHAPE_MODELS = {"roberta.base": "roberta-base-shape", "roberta.large": "roberta-large-shape"}  # --shape -> --model
# --model name -> (the plugin's architecture, the shape); both share roberta.base's official dictionary
SHAPES = {
    "roberta-base-shape": ("roberta_peft_base", {"encoder_layers": 12, "encoder_embed_dim": 768,
                                                 "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12}),
    "roberta-large-shape": ("roberta_peft_large", {"encoder_layers": 24, "encoder_embed_dim": 1024,
                                                   "encoder_ffn_embed_dim": 4096, "encoder_attention_heads": 16}),
}


def model_name(model, shape=None):
    """The model a --model / --shape pair names (--shape wins)."""
    return SHAPE_MODELS[shape] if shape else model


def resolve_model(name):
    """The model directory of ``name``: a shape of SHAPES or anything ``pretrained.resolve`` takes."""
    if name in SHAPES:
        return shape_model(name)
    from ..models.pretrained import resolve

    return resolve(name)


def has_weights(model_dir):
    return os.path.isfile(os.path.join(model_dir, "model.pt"))


def shape_model(name):
    """A model directory in the cache with the architecture of SHAPES[name], roberta.base's dictionary and
    GPT-2 BPE, no weights."""
    from ..model_dir import is_model_dir, sha256_of, write_model_info
    from ..models.pretrained import ROBERTA_DICT_SHA256, gpt2_bpe_files, locked

    arch, shape = SHAPES[name]
    out_dir = str(paths.cache_dir() / "models" / name)
    dictionary = paths.shared_dir() / "models" / "roberta.base" / "dict.txt"
    with locked(out_dir):
        if is_model_dir(out_dir):
            return out_dir
        if not dictionary.is_file():
            raise UserError(f"{dictionary}: missing ({name} needs the official dictionary)")
        if sha256_of(dictionary) != ROBERTA_DICT_SHA256:
            raise UserError(f"{dictionary}: not the official RoBERTa dictionary (sha256 differs)")
        with built_beside(out_dir) as staging:
            tmp = str(staging)
            shutil.copyfile(dictionary, os.path.join(tmp, "dict.txt"))
            gpt2_bpe_files(tmp)
            write_model_info(tmp, {
                "train_args": ["--arch", arch, "--max-positions", "512"],
                "tokenizer": {"type": "gpt2", "encoder_json": "encoder.json", "vocab_bpe": "vocab.bpe"},
                "has_pooler": False,
                "shape": {**shape, "activation_fn": "gelu", "max_positions": 512},
                "random_init_only": True,
                "source": {"name": name, "from": f"{arch}'s architecture, no weights"},
            })
    return out_dir


def hf_dir_of(model_dir):
    """The HuggingFace directory the model was converted from (None: fairseq only)."""
    from ..model_dir import hf_source

    hf_dir = hf_source(model_dir)
    return hf_dir if hf_dir and os.path.isfile(os.path.join(hf_dir, "config.json")) else None
