"""fairseq's hub interface (``encode`` -> ``predict``) for converted, official and fine-tuned models.

    from peft_roberta.models import hub
    roberta = hub.from_model_dir("cache/models/minilm")                      # a converted model
    tuned = hub.from_pretrained("checkpoints/run/checkpoint_best.pt", tokenizer="cache/models/minilm")
    tuned.predict("sentence_classification_head", tuned.encode("a gripping film"))

The tokenizer comes from a model directory's ``model_info.json`` (WordPiece, GPT-2 BPE or
sentencepiece), so nothing is downloaded. Models converted with a LayerNorm epsilon other than
fairseq's 1e-5 are built as ``roberta_peft`` (``--peft none``), which honours it exactly.
"""
import os

from fairseq_plugins.checkpoints.peft_file import compose
from fairseq_plugins.checkpoints.safety import safe_load

from ..data.binarize import TOKENIZER_DIR, TOKENIZER_SPEC
from ..model_dir import fairseq_bpe_options


def _recorded_data(state):
    cfg = state.get("cfg") if isinstance(state, dict) else None
    task = cfg.get("task") if isinstance(cfg, dict) else getattr(cfg, "task", None)
    return task.get("data") if isinstance(task, dict) else getattr(task, "data", None)


def data_tokenizer(data_dir):
    """The folder holding a data-bin's tokenizer (files and spec.json), or None."""
    if data_dir and os.path.isfile(os.path.join(data_dir, TOKENIZER_SPEC)):
        return os.path.join(data_dir, TOKENIZER_DIR)
    return None


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
    import torch
    from fairseq import checkpoint_utils
    from fairseq.dataclass.utils import overwrite_args_by_name
    from fairseq.models.roberta import RobertaHubInterface
    from omegaconf import OmegaConf, open_dict

    import fairseq_plugins  # noqa: F401  (registers roberta_peft and the checkpoint allowlist)

    if peft_file is not None:
        state, path = compose(peft_file, base_checkpoint), base_checkpoint
    else:
        state, path = state if state is not None else safe_load(checkpoint), checkpoint
    if tokenizer is None:  # the tokenizer the training data was prepared with (the data-bin keeps it)
        tokenizer = data_tokenizer(data or _recorded_data(state))
    arg_overrides = {**(fairseq_bpe_options(tokenizer) if tokenizer else {}), **overrides}
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
    if hasattr(models[0], "store_frozen_weights"):
        # trained with --frozen-weights-dtype bf16: fp32 again to infer, merge and export (the bf16 values trained)
        models[0].store_frozen_weights(torch.float32)
    return RobertaHubInterface(cfg, task, models[0])


def from_model_dir(model_dir, checkpoint_file="model.pt", **overrides):
    """A converted or official model directory (model.pt, dict.txt, model_info.json) through the hub."""
    return from_pretrained(os.path.join(model_dir, checkpoint_file), data=model_dir, tokenizer=model_dir, **overrides)
