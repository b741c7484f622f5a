"""fairseq's hub interface (``encode`` -> ``predict``) for converted, official and fine-tuned models.

    from fairseq_plugins import hub
    roberta = hub.from_model_dir("cache/models/minilm")                      # a converted model
    tuned = hub.from_pretrained("checkpoints/run/checkpoint_best.pt", tokenizer="cache/models/minilm")
    tuned.predict("sentence_classification_head", tuned.encode("a gripping film"))

The tokenizer comes from a model directory's ``model_info.json`` (WordPiece, GPT-2 BPE or
sentencepiece), so nothing is downloaded. Models converted with a LayerNorm epsilon other than
fairseq's 1e-5 are built as ``roberta_peft`` (``--peft none``), which honours it exactly.
"""
import json
import os

from .checkpoint_safety import CheckpointError, safe_load
from .peft_checkpoint import compose

MODEL_INFO = "model_info.json"


def load_model_info(model_dir):
    path = os.path.join(model_dir, MODEL_INFO)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (a model directory needs model.pt, dict.txt and {MODEL_INFO})") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None


def tokenizer_overrides(model_dir):
    """fairseq ``bpe`` options for the tokenizer named in ``model_dir``'s model_info.json."""
    spec = load_model_info(model_dir)["tokenizer"]
    path = lambda key: os.path.join(model_dir, spec[key])  # noqa: E731
    if spec["type"] == "wordpiece":
        return {"bpe": "bert", "bpe_vocab_file": path("vocab"), "bpe_cased": not spec.get("lowercase", True)}
    if spec["type"] == "gpt2":
        return {"bpe": "gpt2", "gpt2_encoder_json": path("encoder_json"), "gpt2_vocab_bpe": path("vocab_bpe")}
    if spec["type"] == "sentencepiece":
        return {"bpe": "sentencepiece", "sentencepiece_model": path("model")}
    raise CheckpointError(f"{model_dir}/{MODEL_INFO}: unknown tokenizer type {spec['type']!r}")


def _exact_layer_norm(cfg):
    """Build checkpoints converted with a non-default LayerNorm eps as roberta_peft, which honours it."""
    model = cfg.model
    if model.get("_name") == "roberta" and model.get("layer_norm_eps", 1e-5) != 1e-5:
        model["_name"] = model["arch"] = "roberta_peft"
        model["peft"] = "none"


def from_pretrained(checkpoint=None, peft_file=None, base_checkpoint=None, data=None, tokenizer=None,
                    state=None, **overrides):
    """A RobertaHubInterface for a checkpoint, or for a base checkpoint plus a PEFT-only file.

    ``data``: the binarized data directory (dictionaries), when the one recorded has moved;
    ``tokenizer``: a model directory whose tokenizer to use; ``state``: the checkpoint already
    loaded (with :func:`safe_load`); ``overrides``: fairseq options.
    """
    from fairseq import checkpoint_utils
    from fairseq.dataclass.utils import overwrite_args_by_name
    from fairseq.models.roberta import RobertaHubInterface
    from omegaconf import OmegaConf, open_dict

    import fairseq_plugins  # noqa: F401  (registers roberta_peft and the checkpoint allowlist)

    if peft_file is not None:
        state, path = compose(peft_file, base_checkpoint), base_checkpoint
    else:
        state, path = state if state is not None else safe_load(checkpoint), checkpoint
    arg_overrides = {**(tokenizer_overrides(tokenizer) if tokenizer else {}), **overrides}
    if data is not None:
        arg_overrides["data"] = os.path.abspath(data)
    cfg = state["cfg"] = OmegaConf.create(state["cfg"], flags={"allow_objects": True})
    with open_dict(cfg):
        if OmegaConf.is_config(cfg.model):
            _exact_layer_norm(cfg)
        cfg.setdefault("bpe", None)  # fairseq fills a section from overrides only where its key exists
        overwrite_args_by_name(cfg, arg_overrides)
        for key, value in overrides.items():  # model options the stored configuration lacks (e.g. --lora-r)
            if key not in cfg.model and not any(OmegaConf.is_dict(section) and key in section
                                                 for section in cfg.values()):
                setattr(cfg.model, key, value)
        setattr(cfg.model, "load_checkpoint_heads", True)  # as RobertaModel.from_pretrained does
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([path], state=state)
    return RobertaHubInterface(cfg, task, models[0])


def from_model_dir(model_dir, checkpoint_file="model.pt", **overrides):
    """A converted or official model directory (model.pt, dict.txt, model_info.json) through the hub."""
    return from_pretrained(os.path.join(model_dir, checkpoint_file), data=model_dir, tokenizer=model_dir, **overrides)
