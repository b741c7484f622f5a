"""Export a fine-tuned model as a plain fairseq RoBERTa checkpoint.

:func:`export_plain` merges what can be merged (LoRA, IA3) and writes a checkpoint of fairseq's own
``roberta`` model that ``RobertaModel.from_pretrained`` loads without this plugin and without lifting
torch's ``weights_only`` check: every plugin-only option is dropped from its configuration.
"""
import logging

from ..models.roberta_peft import PLUGIN_OPTIONS
from .peft_file import atomic_save, checkpoint_dict, plain_config
from .safety import CheckpointError

logger = logging.getLogger(__name__)

PLUGIN_KEYS = frozenset(option.name for option in PLUGIN_OPTIONS if option.plugin_only)


def export_plain(model, cfg, path, bpe=None):
    """Write ``model`` (merged where its method can merge) as a plain fairseq RoBERTa checkpoint; ``bpe``:
    the tokenizer configuration to record (fairseq's hub builds its ``encode`` from it)."""
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
    plain["model"] = {k: v for k, v in plain["model"].items() if k not in PLUGIN_KEYS}
    plain["model"]["_name"] = "roberta"
    plain["model"]["arch"] = "roberta"
    plain["common"] = {**plain.get("common", {}), "user_dir": None}
    if plain.get("task", {}).get("_name") == "sentence_prediction_bucketed":  # the plugin's: fairseq has the task
        plain["task"]["_name"] = "sentence_prediction"
    if bpe is not None:
        plain["bpe"] = bpe
    atomic_save(checkpoint_dict(plain, state), path)
    return path
