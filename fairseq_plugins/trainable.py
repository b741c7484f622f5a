"""Which parameters train: the PEFT method's groups plus the classification-head policy, and the count."""
import logging

import torch.nn as nn

logger = logging.getLogger(__name__)

# --head-trainable: which parameters of each RobertaClassificationHead (dense -> tanh -> out_proj) train.
# HF's BertForSequenceClassification trains one Linear over a frozen pooler: "out_proj" is its twin.
HEAD_POLICIES = {
    "all": lambda name: True,
    "out_proj": lambda name: name.startswith("out_proj."),
    "bias": lambda name: name.endswith(".bias"),
    "none": lambda name: False,
}

LM_HEAD_PREFIX = "encoder.lm_head."


def head_parameter_names(model, policy):
    """Group label -> trained parameter names of every classification head, under ``policy``."""
    keep = HEAD_POLICIES[policy]
    groups = {}
    for head_name, head in model.classification_heads.items():
        names = [f"classification_heads.{head_name}.{n}" for n, _ in head.named_parameters() if keep(n)]
        if names:
            groups[f"head {head_name} ({policy})"] = names
    return groups


def counted_parameters(model):
    """name -> parameter, without the masked-LM head when a classification head replaces it.

    The LM head's dense, LayerNorm and bias are unused by sentence classification (its output
    weight is the tied token embedding, which is counted).
    """
    params = dict(model.named_parameters())
    if getattr(model, "classification_heads", None):
        params = {n: p for n, p in params.items() if not n.startswith(LM_HEAD_PREFIX)}
    return params


def set_trainable(model, groups):
    """requires_grad on exactly the parameters named in ``groups``; the rest frozen."""
    wanted = {name for names in groups.values() for name in names}
    params = dict(model.named_parameters())
    missing = wanted - params.keys()
    if missing:
        raise KeyError(f"trainable parameters not in the model: {sorted(missing)[:5]}")
    for name, param in params.items():
        param.requires_grad = name in wanted


def store_frozen_linears(model, dtype):
    """Keep every frozen parameter of every Linear layer in ``dtype``; trained ones stay as they are.

    Under bf16 autocast a Linear layer multiplies in bfloat16 whatever its weights' dtype, so frozen
    weights stored in bfloat16 give bit-identical results with half the memory and no cast per step.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            for param in module.parameters(recurse=False):
                if not param.requires_grad and param.dtype != dtype:
                    param.data = param.data.to(dtype)


def parameter_report(model, groups):
    """Trainable/total counts, percentage and per-group counts (tied weights counted once)."""
    params = counted_parameters(model)
    total = sum(p.numel() for p in params.values())
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    per_group = {label: sum(params[n].numel() for n in names if n in params) for label, names in groups.items()}
    return {
        "trainable": trainable,
        "total": total,
        "percent": 100.0 * trainable / total if total else 0.0,
        "groups": per_group,
    }


def format_report(report, method):
    groups = ", ".join(f"{label}: {count:,}" for label, count in report["groups"].items())
    return (
        f"peft={method} | trainable parameters {report['trainable']:,} of {report['total']:,} "
        f"({report['percent']:.4g}%) | groups: {groups or 'none'}"
    )
