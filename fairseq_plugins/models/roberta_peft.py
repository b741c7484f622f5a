"""``roberta_peft``: fairseq's RobertaModel with a ``--peft`` switch (none, lora, bitfit, ...).

    fairseq-train DATA --user-dir fairseq_plugins --task sentence_prediction \\
        --arch roberta_peft_base --peft lora --lora-r 8 --lora-targets q_proj,v_proj ...

Checkpoints keep fairseq's parameter names; the parameters a method adds (``lora_A``...) are extra
keys. Restoring a plain RoBERTa checkpoint creates them fresh, as RoBERTa does for a new head.
"""
import contextlib
import logging

import torch
from fairseq.models import register_model, register_model_architecture
from fairseq.models.roberta.model import RobertaClassificationHead, RobertaModel
from fairseq.models.roberta.model import base_architecture as roberta_base_architecture
from fairseq.utils import safe_getattr, safe_hasattr

from ..modules.encoder import PeftRobertaEncoder, set_layer_norm_eps
from ..options import Option, OptionError, layers_arg, parse_layers
from ..peft import METHODS, build_method
from ..trainable import (
    HEAD_POLICIES, LM_HEAD_PREFIX, format_report, head_parameter_names, parameter_report, set_trainable,
    store_frozen_linears,
)

logger = logging.getLogger(__name__)

# A converted BERT's pooler travels in checkpoints as this classification head; a new head's dense
# layer starts from it (--head-init pooler), as HF's BertForSequenceClassification does.
POOLER_HEAD = "pretrained_pooler"

# The options every method shares; each method declares its own in its file (peft/*.py).
MODEL_OPTIONS = (
    Option("peft", str, "none", "parameter-efficient method; 'none' is full fine-tuning", choices=tuple(sorted(METHODS)),
           hf="method", recipe=None),
    Option("peft_layers", layers_arg, "all", "encoder layers the method applies to: 'all' or e.g. '0,1,8-11'",
           hf="target layers", metavar="LAYERS"),
    Option("head_trainable", str, "all", "which classification-head parameters train: all, out_proj (HF BERT's "
           "classifier over a frozen pooler), bias, none", choices=tuple(sorted(HEAD_POLICIES)),
           hf="trainable parameters", recipe="HEAD"),
    Option("head_init", str, "pooler", "start a new classification head's dense layer from the pretrained BERT "
           "pooler when the restored checkpoint has one, as HF does, or at random", choices=("pooler", "random"),
           hf="initial weights"),
    Option("layer_norm_eps", float, 1e-5, "LayerNorm epsilon (BERT-family conversions use 1e-12)",
           hf="config.layer_norm_eps", metavar="EPS", recipe=None),
    Option("autocast_bf16", None, False, "run the forward pass under torch.autocast with bfloat16 matmuls; "
           "weights, gradients and optimizer state stay fp32 (fast on CPUs with AVX512-BF16 or AMX)",
           hf="TrainingArguments.bf16", recipe=None),
    Option("checkpoint_activations", None, False, "keep only each encoder layer's input for the backward pass "
           "and compute the rest again there: less memory, one more forward pass per update, the same numbers",
           hf="TrainingArguments.activation_checkpointing"),
    Option("frozen_weights_dtype", str, "fp32", "keep the frozen weights of Linear layers in this dtype: bf16 "
           "halves their memory and gives the same numbers, since --autocast-bf16 (which it needs) rounds them "
           "so at every use anyway; the trained parameters stay fp32", choices=("fp32", "bf16"),
           hf="frozen Linear weights' dtype", metavar="DTYPE"),
)
# Every option the plugin adds to fairseq-train, in the order --help lists them.
PLUGIN_OPTIONS = MODEL_OPTIONS + tuple(option for method in METHODS.values() for option in method.options)


@register_model("roberta_peft")
class RobertaPeftModel(RobertaModel):
    """RoBERTa whose encoder layers a PEFT method wraps, training only what the method names."""

    def __init__(self, args, encoder):
        super().__init__(args, encoder)
        set_layer_norm_eps(self, args.layer_norm_eps)
        self.frozen_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.frozen_weights_dtype]
        self.peft = build_method(args)
        self.peft.apply(self)
        self.update_trainable()

    @staticmethod
    def add_args(parser):
        RobertaModel.add_args(parser)
        for option in PLUGIN_OPTIONS:
            option.add_to(parser)

    @classmethod
    def build_model(cls, args, task):
        from omegaconf import OmegaConf

        if OmegaConf.is_config(args):  # a configuration loaded from a checkpoint
            OmegaConf.set_struct(args, False)
        base_architecture(args)
        if not safe_hasattr(args, "max_positions"):
            if not safe_hasattr(args, "tokens_per_sample"):
                args.tokens_per_sample = task.max_positions()
            args.max_positions = args.tokens_per_sample
        encoder = PeftRobertaEncoder(args, task.source_dictionary)
        return cls(args, encoder)

    def forward(self, src_tokens, features_only=False, return_all_hiddens=False, classification_head_name=None,
                **kwargs):
        autocast = self.args.autocast_bf16  # set by base_architecture, also for older checkpoints
        # a disabled torch.autocast region would switch off fairseq's own --amp: enter none at all
        with torch.autocast(src_tokens.device.type, torch.bfloat16) if autocast else contextlib.nullcontext():
            if classification_head_name is None:
                x, extra = super().forward(src_tokens, features_only, return_all_hiddens, **kwargs)
            else:
                head = self.classification_heads[classification_head_name]
                # RoBERTa's classification head reads position 0 only: the last layer need not compute the others
                first_only = not return_all_hiddens and isinstance(head, RobertaClassificationHead)
                x, extra = self.encoder(src_tokens, features_only=True, return_all_hiddens=return_all_hiddens,
                                        first_position_only=first_only, **kwargs)
                x = head(x)
        return (x.float() if autocast else x), extra  # the loss and the metrics in fp32

    def register_classification_head(self, name, num_classes=None, inner_dim=None, **kwargs):
        super().register_classification_head(name, num_classes, inner_dim, **kwargs)
        self.update_trainable()
        logger.info(format_report(parameter_report(self, self.trainable_groups), self.peft.name))

    def update_trainable(self):
        """Freeze everything except the method's groups and the head policy's parameters."""
        groups = self.peft.trainable_groups(self)
        if self.classification_heads:  # the masked-LM head is unused by sentence classification
            groups = {label: [n for n in names if not n.startswith(LM_HEAD_PREFIX)] for label, names in groups.items()}
        groups.update(head_parameter_names(self, self.args.head_trainable))
        set_trainable(self, groups)
        self.trainable_groups = groups
        if self.frozen_dtype != torch.float32:
            store_frozen_linears(self, self.frozen_dtype)

    def store_frozen_weights(self, dtype):
        """Keep the frozen Linear weights in ``dtype`` from now on (the hub widens them back to fp32 for
        inference, merging and export)."""
        self.frozen_dtype = dtype
        store_frozen_linears(self, dtype)

    def _keep_needed_positions(self, state_dict, prefix):
        """A checkpoint with more learned positions than --max-positions: the rows past it are never used."""
        key = prefix + "encoder.sentence_encoder.embed_positions.weight"
        rows = self.encoder.sentence_encoder.embed_positions.weight.shape[0]
        if key in state_dict and state_dict[key].shape[0] > rows:
            logger.info("keeping the first %d of the checkpoint's %d position embeddings (--max-positions %d)",
                        rows, state_dict[key].shape[0], self.args.max_positions)
            state_dict[key] = state_dict[key][:rows]

    def peft_parameter_names(self):
        """Names of the parameters the PEFT method added to the base model."""
        return set(self.peft.params_with_prefix(self))

    def upgrade_state_dict_named(self, state_dict, name):
        prefix = name + "." if name else ""
        pooler_prefix = f"{prefix}classification_heads.{POOLER_HEAD}.dense."
        pooler = {k[len(pooler_prefix):]: v for k, v in state_dict.items() if k.startswith(pooler_prefix)}
        fresh_heads = [h for h in self.classification_heads if f"{prefix}classification_heads.{h}.dense.weight" not in state_dict]
        super().upgrade_state_dict_named(state_dict, name)
        self._keep_needed_positions(state_dict, prefix)
        if pooler and self.args.head_init == "pooler":
            for head in fresh_heads:
                if self.classification_heads[head].dense.weight.shape == pooler["weight"].shape:
                    logger.info("classification head %s: dense layer starts from the pretrained pooler", head)
                    for part, value in pooler.items():
                        state_dict[f"{prefix}classification_heads.{head}.dense.{part}"] = value
        own = self.peft_parameter_names()
        foreign = [
            k for k in state_dict
            if k.startswith(prefix) and k[len(prefix):] not in own and _is_peft_key(k)
        ]
        if foreign:
            raise ValueError(
                f"the checkpoint holds parameters of another PEFT setting ({foreign[0]}, ...): "
                "export it to a plain checkpoint with scripts/export_checkpoint.py and restore that"
            )
        current = self.state_dict()
        for key in own:
            if prefix + key not in state_dict:  # restoring a plain checkpoint: start the method fresh
                state_dict[prefix + key] = current[key]


def _is_peft_key(key):
    last = key.rsplit(".", 1)[-1]
    return any(last.startswith(p) for method in METHODS.values() for p in method.param_prefixes)


@register_model_architecture("roberta_peft", "roberta_peft")
def base_architecture(args):
    for option in PLUGIN_OPTIONS:
        option.fill_default(args)
    roberta_base_architecture(args)
    check_layers(args)
    check_frozen_dtype(args)


def check_layers(args):
    """--peft-layers against the architecture's layer count, while fairseq-train parses its options."""
    layers, count = parse_layers(args.peft_layers), safe_getattr(args, "encoder_layers", None)
    if layers and count is not None and layers[-1] >= count:
        raise OptionError(f"--peft-layers {args.peft_layers}: layer {layers[-1]} does not exist "
                          f"(the model has {count} layers, 0-{count - 1})")


def check_frozen_dtype(args):
    """bf16 frozen weights give the same numbers only where autocast rounds them anyway, in matrix products."""
    if args.frozen_weights_dtype == "fp32":
        return
    if not args.autocast_bf16:
        raise OptionError(f"--frozen-weights-dtype {args.frozen_weights_dtype} needs --autocast-bf16 "
                          "(PRECISION=bf16): in fp32 the rounded weights would change the numbers")
    if safe_getattr(args, "lora_dora", False):
        raise OptionError(f"--frozen-weights-dtype {args.frozen_weights_dtype} does not combine with --lora-dora: "
                          "DoRA's weight norm reads the frozen weights outside a matrix product")


def _shape(layers, dim, ffn, heads, **extra):
    def arch(args):
        args.encoder_layers = safe_getattr(args, "encoder_layers", layers)
        args.encoder_embed_dim = safe_getattr(args, "encoder_embed_dim", dim)
        args.encoder_ffn_embed_dim = safe_getattr(args, "encoder_ffn_embed_dim", ffn)
        args.encoder_attention_heads = safe_getattr(args, "encoder_attention_heads", heads)
        for key, value in extra.items():
            setattr(args, key, safe_getattr(args, key, value))
        base_architecture(args)

    return arch


# name -> shape; BERT-family shapes carry BERT's LayerNorm epsilon for converted weights.
ARCHITECTURES = {
    "roberta_peft_base": _shape(12, 768, 3072, 12),
    "roberta_peft_large": _shape(24, 1024, 4096, 16),
    # RoBERTa-small of the ALTeGraD course lab (report 001)
    "roberta_peft_small": _shape(4, 512, 512, 8, max_positions=256),
    "roberta_peft_minilm": _shape(6, 384, 1536, 12, layer_norm_eps=1e-12),
    "roberta_peft_bert_tiny": _shape(2, 128, 512, 2, layer_norm_eps=1e-12),
    "roberta_peft_bert_base": _shape(12, 768, 3072, 12, layer_norm_eps=1e-12),
    "roberta_peft_distilbert": _shape(6, 768, 3072, 12, layer_norm_eps=1e-12),
}
for _name, _arch in ARCHITECTURES.items():
    register_model_architecture("roberta_peft", _name)(_arch)
