"""Checkpoint files around a PEFT run: the small PEFT-only file, and plain fairseq RoBERTa exports.

- ``checkpoint_best.peft.pt`` (written beside ``checkpoint_best.pt`` during training): the trained
  parameters, every classification head, the PEFT options and the run's configuration; no frozen
  weight. Together with the base checkpoint it rebuilds the fine-tuned model (:func:`compose`).
- :func:`export_plain`: merges what can be merged (LoRA, IA3) and writes a checkpoint of fairseq's
  own ``roberta`` model that ``RobertaModel.from_pretrained`` loads without this plugin and without
  lifting torch's ``weights_only`` check.
"""
import argparse
import logging
import os

import torch

from .checkpoint_safety import CheckpointError, safe_load

logger = logging.getLogger(__name__)

PEFT_FILE_FORMAT = "fairseq-peft-roberta/1"
PEFT_FILE_SUFFIX = ".peft.pt"

# Model options that belong to this plugin; a plain fairseq RoBERTa configuration has none of them.
PLUGIN_ARG_PREFIXES = ("peft", "lora_", "bitfit_", "adapter_", "ia3_", "head_trainable", "layer_norm_eps")


def atomic_save(obj, path):
    """torch.save to a temporary name beside ``path``, then rename: never a half-written file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def plain_config(cfg):
    """A checkpoint configuration (DictConfig or dict, model section maybe a Namespace) as plain dicts."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)

    def convert(value):
        if isinstance(value, argparse.Namespace):
            value = vars(value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        return str(value)

    return convert(cfg)


def peft_state_dict(model):
    """The parameters a PEFT-only file keeps: whatever trains, what the method added, and the heads."""
    keep = {n for n, p in model.named_parameters() if p.requires_grad}
    keep |= model.peft_parameter_names()
    state = model.state_dict()
    return {
        name: tensor.detach().cpu().clone()
        for name, tensor in state.items()
        if name in keep or name.startswith("classification_heads.")
    }


def save_peft_file(model, cfg, path, base_checkpoint=None):
    payload = {
        "format": PEFT_FILE_FORMAT,
        "peft": model.peft.options(),
        "head_trainable": model.args.head_trainable,
        "base_checkpoint": base_checkpoint,
        "cfg": plain_config(cfg),
        "state": peft_state_dict(model),
    }
    atomic_save(payload, path)
    return path


def load_peft_file(path):
    payload = safe_load(path)
    if not isinstance(payload, dict) or payload.get("format") != PEFT_FILE_FORMAT:
        raise CheckpointError(f"{path}: not a PEFT-only file (expected format {PEFT_FILE_FORMAT})")
    return payload


def base_state_dict(path):
    """The model weights of a fairseq checkpoint or of a PEFT-only file's base."""
    state = safe_load(path)
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: not a fairseq checkpoint (no 'model' entry)")
    return state["model"]


def checkpoint_dict(cfg, model_state, num_updates=0):
    """The smallest dictionary fairseq's loaders accept as a checkpoint (plain types only)."""
    return {
        "args": None,
        "cfg": cfg,
        "model": model_state,
        "optimizer_history": [{
            "criterion_name": "SentencePredictionCriterion",
            "optimizer_name": "FairseqAdam",
            "lr_scheduler_state": {},
            "num_updates": num_updates,
        }],
        "extra_state": {"train_iterator": {"epoch": 1}},
    }


def compose(peft_file, base_checkpoint):
    """A full checkpoint dictionary (as ``torch.load`` gives it) from a base checkpoint and a PEFT-only file."""
    payload = load_peft_file(peft_file)
    model_state = dict(base_state_dict(base_checkpoint))
    model_state.update(payload["state"])
    cfg = dict(payload["cfg"])
    cfg["model"] = argparse.Namespace(**cfg["model"])
    return checkpoint_dict(cfg, model_state)


def export_plain(model, cfg, path):
    """Write ``model`` (merged where its method can merge) as a plain fairseq RoBERTa checkpoint."""
    if model.peft.can_merge:
        model.peft.merge(model)
    elif model.peft.params_with_prefix(model):
        raise CheckpointError(
            f"--peft {model.peft.name} adds modules that cannot merge into RoBERTa's weights; "
            "keep the checkpoint (or its PEFT-only file) and load it with the plugin"
        )
    try:
        peft_keys = model.peft_parameter_names()
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k not in peft_keys}
    finally:
        if model.peft.can_merge:
            model.peft.unmerge(model)
    plain = plain_config(cfg)
    eps = plain["model"].get("layer_norm_eps", 1e-5)
    if eps != 1e-5:
        logger.warning(
            "the model uses LayerNorm eps %g; fairseq's own RoBERTa always uses 1e-5, so outputs "
            "of the export differ slightly from the plugin's", eps,
        )
    plain["model"] = {
        k: v for k, v in plain["model"].items() if not k.startswith(PLUGIN_ARG_PREFIXES)
    }
    plain["model"]["_name"] = "roberta"
    plain["model"]["arch"] = "roberta"
    plain["common"] = {**plain.get("common", {}), "user_dir": None}
    atomic_save(checkpoint_dict(plain, state), path)
    return path
