"""The PEFT method of a fairseq run, applied to its HuggingFace twin: peft's LoRA (with its DoRA and rsLoRA
variants, ``use_dora`` / ``use_rslora``) and IA3, BitFit and
full fine-tuning by ``requires_grad``, the head policy; every plugin option lands where its
declaration's ``hf`` says (:data:`TARGETS`), which :func:`apply_method` reports in its description.

Targets are fairseq's names mapped to the HF modules of the family (BERT: q_proj ->
attention.self.query ... fc2 -> output.dense), given to peft as one anchored regular expression
over full module names, so fc2's ``output.dense`` cannot also catch ``attention.output.dense``.
"""
import re

from fairseq_plugins.options import parse_layers, split_list

from ..errors import UserError
from .family import HEADS, layer_module_names, layers_path

# what each plugin option becomes in the twin (Option.hf), as the keys of apply_method's description
TARGETS = ("method", "target layers", "trainable parameters", "initial weights", "config.layer_norm_eps",
           "TrainingArguments.bf16", "TrainingArguments.activation_checkpointing", "frozen Linear weights' dtype",
           "LoraConfig.r",
           "LoraConfig.lora_alpha", "LoraConfig.lora_dropout", "LoraConfig.target_modules", "LoraConfig.use_dora",
           "LoraConfig.use_rslora", "IA3Config.target_modules", "IA3Config.feedforward_modules")
COVERED = "the twin covers lora (with DoRA and rsLoRA), bitfit, ia3 and none (full fine-tuning)"
NO_TWIN = {
    "adapter": "peft has no Houlsby/Pfeiffer bottleneck adapter for encoder classifiers (nor He et al.'s parallel "
               "adapter); " + COVERED,
    "prefix": "peft 0.21's prefix tuning passes the prefixes as past_key_values, which transformers 5's BERT and "
              "RoBERTa classifiers no longer accept; " + COVERED,
    "mam": "peft has no parallel adapter, and its prefix tuning no longer runs on transformers 5's BERT and "
           "RoBERTa classifiers; " + COVERED,
}
LAYER_NORMS = ("self_attn_layer_norm", "final_layer_norm")
# the head goes through peft's modules_to_save so that a PEFT checkpoint holds it (names peft matches
# as suffixes of module names; BERT's "pooler.dense", not "pooler": peft cannot merge a wrapped module
# that has no weight of its own)
SAVED_HEAD = {"bert": ["pooler.dense", "classifier"], "roberta": ["classifier"],
              "distilbert": ["pre_classifier", "classifier"]}
EMBEDDING_NORM = "layernorm_embedding"


def check_layers(family, layers, count):
    if layers is not None and layers[-1] >= count:
        raise UserError(f"--peft-layers: layer {layers[-1]} does not exist (the model has {count} layers, "
                        f"0-{count - 1})")


def target_pattern(family, targets, layers=None):
    """An anchored regex over full module names of ``targets`` (fairseq names) in ``layers`` (None: all)."""
    names = layer_module_names(family)
    indices = r"\d+" if layers is None else "|".join(str(i) for i in layers)
    modules = "|".join(re.escape(names[t]) for t in targets)
    return rf"{re.escape(layers_path(family))}\.({indices})\.({modules})"


def bias_names(model, family, groups, layers, count):
    """Full names of the encoder biases BitFit trains: ``groups`` (fairseq's names) in ``layers``."""
    names = layer_module_names(family)
    wanted = []
    for i in range(count) if layers is None else layers:
        for group in groups:
            if group in names:
                module = model.get_submodule(f"{layers_path(family)}.{i}.{names[group]}")
                if module.bias is not None:
                    wanted.append(f"{layers_path(family)}.{i}.{names[group]}.bias")
    if EMBEDDING_NORM in groups:
        wanted.append(f"{layers_path(family).split('.')[0]}.embeddings.LayerNorm.bias")
    return wanted


def _active(module):
    """The trained copy of a module peft saves (ModulesToSaveWrapper); any other module as it is."""
    copies = getattr(module, "modules_to_save", None)
    return copies["default"] if copies is not None and hasattr(module, "original_module") else module


def head_modules(model, family):
    """role (dense, out_proj) -> the module that computes it (peft's trained copy where there is one)."""
    from peft import PeftModel

    base = model.get_base_model() if isinstance(model, PeftModel) else model
    parts = {}
    for role in ("dense", "out_proj"):
        module = base
        for attr in HEADS[family][role].split("."):
            module = _active(getattr(_active(module), attr))
        parts[role] = module
    return parts


def set_head_trainable(model, family, policy):
    for role, module in head_modules(model, family).items():
        for name, param in module.named_parameters():
            param.requires_grad = {"all": True, "out_proj": role == "out_proj",
                                   "bias": name.endswith("bias"), "none": False}[policy]


def apply_method(model, family, args):
    """(the model that trains, a description: each TARGETS key -> what the twin does with its option)."""
    method = args.peft
    if method in NO_TWIN:
        raise UserError(f"--peft {method}: {NO_TWIN[method]}")
    count = len(model.get_submodule(layers_path(family)))
    layers = parse_layers(args.peft_layers)
    check_layers(family, layers, count)
    save = SAVED_HEAD[family]
    description = {"method": method, "target layers": layers,
                   "config.layer_norm_eps": getattr(model.config, "layer_norm_eps", None),
                   "TrainingArguments.bf16": bool(args.autocast_bf16),
                   "TrainingArguments.activation_checkpointing": bool(getattr(args, "checkpoint_activations", False)),
                   "frozen Linear weights' dtype": getattr(args, "frozen_weights_dtype", "fp32")}
    if method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                            target_modules=target_pattern(family, split_list(args.lora_targets), layers),
                            use_dora=bool(getattr(args, "lora_dora", False)),
                            use_rslora=bool(getattr(args, "lora_rslora", False)),
                            task_type=TaskType.SEQ_CLS, modules_to_save=save)
        model = get_peft_model(model, config)
        description.update({f"LoraConfig.{k}": getattr(config, k) for k in ("r", "lora_alpha", "lora_dropout",
                                                                             "target_modules", "use_dora",
                                                                             "use_rslora")})
    elif method == "ia3":
        from peft import IA3Config, TaskType, get_peft_model

        targets = split_list(args.ia3_targets)
        feedforward = [t for t in split_list(args.ia3_feedforward) if t != "none"]
        config = IA3Config(target_modules=target_pattern(family, targets, layers),
                           feedforward_modules=target_pattern(family, feedforward, layers) if feedforward else [],
                           task_type=TaskType.SEQ_CLS, modules_to_save=save)
        model = get_peft_model(model, config)
        description.update({"IA3Config.target_modules": config.target_modules,
                            "IA3Config.feedforward_modules": config.feedforward_modules})
    elif method == "bitfit":
        from fairseq_plugins.peft.bitfit import BIAS_GROUPS

        groups = split_list(args.bitfit_biases)
        groups = list(BIAS_GROUPS) if groups == ["all"] else groups
        wanted = set(bias_names(model, family, groups, layers, count))
        for name, param in model.named_parameters():
            param.requires_grad = name in wanted
    else:  # full fine-tuning
        for param in model.parameters():
            param.requires_grad = True
    set_head_trainable(model, family, args.head_trainable)
    freeze_token_types(model)
    description["trainable parameters"] = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    return model, description


def freeze_token_types(model):
    """fairseq's RoBERTa has no token types (a conversion folds BERT's row 0 into the positions): the
    twin keeps its token-type rows at zero, frozen, so that both train the same parameters."""
    for name, param in model.named_parameters():
        if "token_type_embeddings" in name:
            param.requires_grad = False


def count_parameters(model):
    """(trainable, total) over the parameters the model computes with (peft's frozen originals of
    saved modules and the token-type rows fairseq does not have left out)."""
    trainable = total = 0
    for name, param in model.named_parameters():
        if ".original_module." in f".{name}" or "token_type_embeddings" in name:
            continue
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return trainable, total
