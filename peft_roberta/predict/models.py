"""The models to predict with: a fine-tuned checkpoint, or a base checkpoint and PEFT-only files.

Everything is checked before any model is built: each PEFT-only file against the base model
(``check_base``: the sha256 it records) and every model against the label dictionary of the data
(``--data``, else the data-bin the first model records): the dictionary's sha256 (recorded in new
PEFT-only files, else read from the data-bin each model records) and its classification head's size.

The base checkpoint is read once. PEFT-only files of the same method and settings share one model:
each file's parameters and heads are copied in before its predictions, and before the next file's
the base's own values go back into whatever it changed (merging included), so every file computes
exactly what its model computes loaded on its own. A file of another method gets its own model,
built from the base weights already in memory.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from fairseq_plugins.checkpoints.peft_file import (
    PEFT_FILE_FORMAT, check_base, compose_loaded, label_dictionary_sha256, load_peft_file,
)
from fairseq_plugins.checkpoints.safety import CheckpointError, safe_load

from ..data.binarize import LABELS_FILE
from ..errors import UserError

HEAD = "sentence_classification_head"
HEAD_OUTPUT = f"classification_heads.{HEAD}.out_proj.weight"


@dataclass
class Source:
    name: str  # the output's column group
    path: str  # the checkpoint, or the PEFT-only file
    state: dict  # the checkpoint's state, or the PEFT-only file's payload
    peft: bool


def setting(cfg, *keys):
    """``cfg[key1][key2]...`` in a checkpoint's configuration (dicts, DictConfigs or Namespaces), or None."""
    for key in keys:
        cfg = cfg.get(key) if hasattr(cfg, "get") else getattr(cfg, key, None)
    return cfg


def recorded_data(cfg):
    """The data-bin a checkpoint's configuration records."""
    return setting(cfg, "task", "data")


def model_cfg(source):
    """The model section of a source's configuration as a dict."""
    model = setting(source.state["cfg"], "model")
    return dict(model) if hasattr(model, "keys") else vars(model)


def source_names(paths):
    """A short unique name per PEFT-only file: its run folder's name (``checkpoint_best.peft.pt``), else its stem."""
    names = []
    for path in paths:
        base = os.path.basename(path)
        name = os.path.basename(os.path.dirname(os.path.abspath(path))) if base.startswith("checkpoint") else \
            base.split(".")[0]
        unique, count = name, 2
        while unique in names:
            unique, count = f"{name}#{count}", count + 1
        names.append(unique)
    return names


def load(path, loader=safe_load):
    """``loader(path)``; a file torch's unpickler trips over in any other way is a one-line CheckpointError too."""
    try:
        return loader(path)
    except (CheckpointError, UserError):
        raise
    except Exception as err:  # e.g. a KeyError from a text file that torch reads as a legacy pickle
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})"[:300]) from None


def open_sources(checkpoint, peft_files):
    """(sources, base model state or None): the files read and checked against the base model."""
    if checkpoint is None:
        payload = load(peft_files[0], load_peft_file)
        recorded = payload.get("base_checkpoint")
        raise UserError(f"{peft_files[0]}: a PEFT-only file needs the base model it was trained from: give the base "
                        "checkpoint as CHECKPOINT" + (f" (it records {recorded})" if recorded else ""))
    state = load(checkpoint)
    if isinstance(state, dict) and state.get("format") == PEFT_FILE_FORMAT:
        where = f" (it records {state['base_checkpoint']})" if state.get("base_checkpoint") else ""
        raise UserError(f"{checkpoint}: a PEFT-only file, not a checkpoint: give its base checkpoint as CHECKPOINT "
                        f"and this file with --peft-file{where}")
    if not isinstance(state, dict) or "model" not in state or "cfg" not in state:
        raise CheckpointError(f"{checkpoint}: not a fairseq checkpoint (no 'model' and 'cfg' entries)")
    if not peft_files:
        return [Source("model", checkpoint, state, peft=False)], None
    sources = []
    for name, path in zip(source_names(peft_files), peft_files):
        payload = load(path, load_peft_file)
        check_base(payload, path, checkpoint)
        sources.append(Source(name, path, payload, peft=True))
    return sources, state["model"]


@dataclass
class Labels:
    data_dir: str
    classes: list
    text_columns: list | None  # the columns the model was trained on (labels.json), when known
    strip_html: bool


def resolve_labels(sources, data=None) -> Labels:
    """The data-bin whose dictionaries and classes every model uses; refuses a model made for other classes."""
    data_dir = data or recorded_data(sources[0].state["cfg"])
    if not data_dir or not os.path.isdir(data_dir):
        missing = f"the data-bin it records ({data_dir}) is missing" if data_dir else "it records no data-bin"
        raise UserError(f"{sources[0].path}: {missing}: give --data DIR (the data-bin it was trained on)")
    info = _read_json(os.path.join(data_dir, LABELS_FILE)) or {}
    if info.get("regression"):
        raise UserError(f"{data_dir}: a regression task: predict.py predicts classes only")
    reference = label_dictionary_sha256(data_dir)
    if reference is None:
        raise UserError(f"{data_dir}: no label/dict.txt (--data must be a data-bin with a label dictionary)")
    classes = info.get("classes") or dictionary_classes(data_dir)
    for source in sources:
        recorded = recorded_data(source.state["cfg"])
        sha = source.state.get("label_dict_sha256") if source.peft else None
        sha = sha or label_dictionary_sha256(recorded)
        if sha is not None and sha != reference:
            theirs = dictionary_classes(recorded) if label_dictionary_sha256(recorded) == sha else None
            raise UserError(f"{source.path}: trained with another label dictionary"
                            + (f" (classes {', '.join(theirs)})" if theirs else "")
                            + f" than {os.path.join(data_dir, 'label', 'dict.txt')} (classes {', '.join(classes)})")
        weights = (source.state["state"] if source.peft else source.state["model"]).get(HEAD_OUTPUT)
        if weights is None:
            raise UserError(f"{source.path}: no {HEAD} (not fine-tuned for sentence classification)")
        if weights.shape[0] != len(classes):
            raise UserError(f"{source.path}: its classification head has {weights.shape[0]} classes, the label "
                            f"dictionary of {data_dir} {len(classes)} ({', '.join(classes)})")
    fingerprint = _read_json(os.path.join(data_dir, "fingerprint.json")) or {}
    options = fingerprint.get("hashed", {}).get("options", {})
    return Labels(data_dir, list(classes), info.get("text_columns"), bool(options.get("strip_html")))


def dictionary_classes(data_dir):
    """The class names in order from a data-bin's label/dict.txt (a fairseq dictionary: ``symbol count``)."""
    with open(os.path.join(data_dir, "label", "dict.txt"), encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip()]


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def group_key(source):
    """Sources with equal keys build the same model: their parameters swap in and out of one."""
    if not source.peft:
        return ("checkpoint", source.path)
    model = model_cfg(source)
    return json.dumps([source.state.get("peft"), model.get("arch"), model.get("max_positions")],
                      sort_keys=True, default=str)


def models(checkpoint, sources, base_state, labels, tokenizer=None, merge=False):
    """Yield (source, hub) in the order of ``sources``, one model per group, each source's parameters in."""
    from ..models.hub import from_pretrained

    groups = {}
    for source in sources:
        groups.setdefault(group_key(source), []).append(source)
    for members in groups.values():
        first = members[0]
        state = compose_loaded(first.state, base_state) if first.peft else first.state
        try:
            hub = from_pretrained(checkpoint, state=state, data=labels.data_dir, tokenizer=tokenizer)
        except (RuntimeError, ValueError, KeyError) as err:  # e.g. --data with another dictionary: sizes differ
            detail = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
            raise CheckpointError(f"{first.path}: cannot be built with the dictionaries of {labels.data_dir} "
                                  f"({detail[:200]})") from None
        hub.eval()
        touched = set()
        for source in members:
            if source.peft and source is not first:
                load_parameters(hub.model, source, touched, base_state)
            if source.peft:
                touched |= set(source.state["state"])
            merged = merge_into_weights(hub.model) if merge else []
            yield source, hub
            if merged and source is not members[-1]:  # the base's own weights back, bit for bit
                hub.model.peft.unmerge(hub.model)
                touched |= set(merged)
                load_parameters(hub.model, None, set(merged), base_state)
        del hub


def merge_into_weights(model):
    """Merge the method into the base weights where it can; returns the names of the tensors merging changed."""
    peft = getattr(model, "peft", None)
    if peft is None or not peft.can_merge:
        return []
    versions = {name: p._version for name, p in model.named_parameters()}
    peft.merge(model)
    return [name for name, p in model.named_parameters() if p._version != versions[name]]


def load_parameters(model, source, touched, base_state):
    """Copy a PEFT-only file's parameters in; every other tensor in ``touched`` gets the base's value back."""
    import torch

    values = {name: base_state[name] for name in touched if name in base_state}
    values.update(source.state["state"] if source is not None else {})
    current = model.state_dict(keep_vars=True)
    with torch.no_grad():
        for name, value in values.items():
            if name not in current or current[name].shape != value.shape:
                raise CheckpointError(f"{source.path if source else name}: parameter {name} does not fit the model "
                                      "built for the PEFT-only files before it")
            current[name].copy_(value)
