"""The PEFT-only file: ``checkpoint_best.peft.pt``, written beside ``checkpoint_best.pt`` during training.

It holds the trained parameters, every classification head, the PEFT settings and the run's
configuration; no frozen weight. Together with the base checkpoint it rebuilds the fine-tuned
model (:func:`compose`). Also the small pieces every checkpoint writer here shares.
"""
import argparse
import contextlib
import functools
import hashlib
import os

import torch

from .safety import CheckpointError, safe_load

PEFT_FILE_FORMAT = "fairseq-peft-roberta/1"
PEFT_FILE_SUFFIX = ".peft.pt"
LABEL_DICTIONARY = os.path.join("label", "dict.txt")  # in a data-bin


@contextlib.contextmanager
def replaced_atomically(path):
    """A temporary name beside ``path`` to write; renamed over ``path`` when the block succeeds, removed
    otherwise: never a half-written file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj, path):
    """torch.save through ``replaced_atomically``."""
    with replaced_atomically(path) as tmp:
        torch.save(obj, tmp)


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


@functools.lru_cache(maxsize=8)
def _sha256(path, size, mtime_ns):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_sha256(path):
    """sha256 of a file, computed once per process for each (path, size, mtime)."""
    stat = os.stat(path)
    return _sha256(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def label_dictionary_sha256(data_dir):
    """sha256 of a data-bin's label dictionary (``label/dict.txt``: the class order), or None without one."""
    path = os.path.join(data_dir, LABEL_DICTIONARY) if isinstance(data_dir, str) and data_dir else None
    return file_sha256(path) if path and os.path.isfile(path) else None


def save_peft_file(model, cfg, path, base_checkpoint=None):
    plain = plain_config(cfg)
    payload = {
        "format": PEFT_FILE_FORMAT,
        "peft": model.peft.settings(),
        "head_trainable": model.args.head_trainable,
        "base_checkpoint": base_checkpoint,
        "base_sha256": file_sha256(base_checkpoint) if base_checkpoint else None,
        "label_dict_sha256": label_dictionary_sha256((plain.get("task") or {}).get("data")),
        "cfg": plain,
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


def check_base(payload, peft_file, base_checkpoint):
    """Refuse a base model other than the one the PEFT-only file was trained on (one line)."""
    if payload.get("base_checkpoint") is None:
        raise CheckpointError(f"{peft_file}: trained from random initial weights, which exist only in its full "
                              "checkpoint (checkpoint_best.pt): load that instead")
    recorded = payload.get("base_sha256")
    actual = file_sha256(base_checkpoint)
    if recorded and recorded != actual:
        raise CheckpointError(f"{peft_file}: made for the base model with sha256 {recorded[:16]}..., not "
                              f"{base_checkpoint} (sha256 {actual[:16]}...)")


def compose(peft_file, base_checkpoint):
    """A full checkpoint dictionary (as ``torch.load`` gives it) from a base checkpoint and a PEFT-only file."""
    payload = load_peft_file(peft_file)
    check_base(payload, peft_file, base_checkpoint)
    model_state = dict(base_state_dict(base_checkpoint))
    model_state.update(payload["state"])
    cfg = dict(payload["cfg"])
    cfg["model"] = argparse.Namespace(**cfg["model"])
    return checkpoint_dict(cfg, model_state)


def compose_loaded(payload, model_state):
    """:func:`compose` for a PEFT-only file already loaded (:func:`load_peft_file`, checked with
    :func:`check_base`) and base weights already in memory (:func:`base_state_dict`): several PEFT-only
    files on one base then read the base checkpoint once."""
    state = dict(model_state)
    state.update(payload["state"])
    cfg = dict(payload["cfg"])
    cfg["model"] = argparse.Namespace(**cfg["model"])
    return checkpoint_dict(cfg, state)
