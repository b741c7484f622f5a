"""Trainable-parameter counts of the reports' configurations, computed on randomly initialised models
of the reports' shapes: ours through the plugin (the model built by fairseq's own option parsing),
peft's with ``get_nb_trainable_parameters()`` on a config-only HuggingFace twin (nothing downloaded).

Besides the counts, every shape the report's prose quotes (head, embeddings, positions, LM head) is
read from the models here, so no figure of section 1 is typed by hand. Imports fairseq, torch,
transformers and peft inside the functions.
"""
from __future__ import annotations

import functools
import logging
import tempfile
import warnings
from pathlib import Path

from ..paths import PLUGIN_DIR
from ..published import PUBLISHED

# the shapes of the reports' models (HuggingFace names); bert-base is BertConfig's defaults
BERT_TINY_SHAPE = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
DISTILBERT_SHAPE = dict(vocab_size=28_996, n_layers=6, dim=768, n_heads=12, hidden_dim=3072)  # -base-cased
ROBERTA_SMALL = dict(vocab=32_000, d=512, n_pos=256, layers=4, d_ff=512)  # report 001's lab model

BERT_BASE_ARGS = ("--arch", "roberta_peft_bert_base", "--max-positions", "512")
BERT_TINY_ARGS = ("--arch", "roberta_peft_bert_tiny", "--max-positions", "512")
DISTILBERT_ARGS = ("--arch", "roberta_peft_distilbert", "--max-positions", "512")
BERT_HEAD = ("bert.pooler.dense", "classifier")
DISTILBERT_HEAD = ("pre_classifier", "classifier")
REPORT_000_RANKS = tuple(PUBLISHED["000"]["trainable"])  # the LoRA ranks report 000 counted

# report 003's module names: ours, HuggingFace DistilBERT's, and how the report's labels name them
TARGETS = {"attention": ("q_proj,k_proj,v_proj,out_proj", ["q_lin", "k_lin", "v_lin", "out_lin"], "q, k, v, out"),
           "all": ("q_proj,k_proj,v_proj,out_proj,fc1,fc2", ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
                   "q, k, v, out, ffn1, ffn2")}
FEED_FORWARD = ("fc1,fc2", ["lin1", "lin2"], "ffn1, ffn2")


def _lora(r, alpha, dropout, targets):
    from peft import LoraConfig, TaskType

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                      task_type=TaskType.SEQ_CLS)


def _ia3(targets, feedforward):
    from peft import IA3Config, TaskType

    return IA3Config(target_modules=targets, feedforward_modules=feedforward, task_type=TaskType.SEQ_CLS)


def report_003_setup(spec: dict):
    """(label, our options, peft config factory) of one of report 003's configurations."""
    ours, theirs, named = TARGETS[spec["targets"]]
    if spec["method"] == "lora":
        label = f"LoRA r={spec['r']} α={spec['alpha']} (dropout {spec['dropout']}) on {named}"
        options = ("--peft", "lora", "--lora-r", str(spec["r"]), "--lora-alpha", str(spec["alpha"]),
                   "--lora-targets", ours)
        return label, options, lambda: _lora(spec["r"], spec["alpha"], spec["dropout"], theirs)
    label = f"IA3 on {named} ({FEED_FORWARD[2]} feed-forward)"
    options = ("--peft", "ia3", "--ia3-targets", ours, "--ia3-feedforward", FEED_FORWARD[0])
    return label, options, lambda: _ia3(theirs, FEED_FORWARD[1])


REPORT_003 = [report_003_setup(spec) for spec in PUBLISHED["003"]["configurations"]]


def _write_dictionaries(root: Path, vocab_size: int, num_classes: int = 2) -> Path:
    """Dictionary files giving an embedding of ``vocab_size`` rows (fairseq adds 4 symbols, the task <mask>)."""
    (root / "input0").mkdir(parents=True, exist_ok=True)
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "input0" / "dict.txt").write_text("".join(f"w{i} 1\n" for i in range(vocab_size - 5)))
    (root / "label" / "dict.txt").write_text("".join(f"c{i} 1\n" for i in range(num_classes)))
    return root


def build_fairseq(vocab_size: int, *model_args: str):
    """The plugin model through fairseq's own option parsing (random weights), sentence classification."""
    import torch
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    with tempfile.TemporaryDirectory(prefix="reproduce_reports.") as tmp:
        data = _write_dictionaries(Path(tmp), vocab_size)
        argv = [str(data), "--user-dir", str(PLUGIN_DIR), "--task", "sentence_prediction",
                "--criterion", "sentence_prediction", "--init-token", "0", "--separator-token", "2",
                "--num-classes", "2", "--cpu", *model_args]
        args = options.parse_args_and_arch(options.get_training_parser(), input_args=argv)
        cfg = convert_namespace_to_omegaconf(args)
        torch.manual_seed(1)
        task = tasks.setup_task(cfg.task)
        return task.build_model(cfg.model)


def fairseq_count(vocab_size: int, *model_args: str) -> dict:
    """parameter_report of the plugin model plus its head's trained part (and the model itself)."""
    from fairseq_plugins.trainable import parameter_report

    model = build_fairseq(vocab_size, *model_args)
    report = parameter_report(model, model.trainable_groups)
    report["head"] = sum(n for label, n in report["groups"].items() if label.startswith("head "))
    report["model"] = model
    return report


def _hf_total(model) -> int:
    """Parameters the HF model computes with, each once (peft's frozen copy of a saved module left out)."""
    return sum(p.numel() for n, p in model.named_parameters() if ".original_module." not in f".{n}")


def peft_count(hf_model, peft_config, head_modules) -> dict:
    """peft's trainable count of ``hf_model`` wrapped with ``peft_config``; which head modules train."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = get_peft_model(hf_model, peft_config)
    trainable, _ = model.get_nb_trainable_parameters()
    base = model.get_base_model()
    trained_heads = [name for name in head_modules
                     if any(p.requires_grad for p in base.get_submodule(name).parameters())]
    head = sum(p.numel() for name in trained_heads
               for p in base.get_submodule(name).parameters() if p.requires_grad)
    return {"trainable": trainable, "total": _hf_total(model), "head": head, "trained_heads": trained_heads}


def bert_config(**shape):
    from transformers import BertConfig

    return BertConfig(**shape)  # defaults: bert-base-uncased


def hf_bert(**shape):
    from transformers import BertForSequenceClassification

    return BertForSequenceClassification(bert_config(**shape))


def hf_distilbert():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    return DistilBertForSequenceClassification(DistilBertConfig(**DISTILBERT_SHAPE))


def linear_shape(module) -> dict:
    """A linear layer's output and input widths and its parameter count (weight and bias)."""
    out_features, in_features = module.weight.shape
    return {"out": int(out_features), "in": int(in_features),
            "params": sum(p.numel() for p in module.parameters())}


def fairseq_positions(model) -> tuple:
    return tuple(model.encoder.sentence_encoder.embed_positions.weight.shape)


def _quiet():
    """fairseq's, hydra's and the plugin's INFO logs and deprecation warnings say nothing here."""
    for name in ("fairseq", "fairseq_plugins", "hydra", "transformers", "peft"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def report_000():
    """(a row per rank, the shapes): bert-base, LoRA on the query projection, classifier over a frozen pooler."""
    config = bert_config()
    rows, shapes = [], {}
    for rank in REPORT_000_RANKS:
        ours = fairseq_count(config.vocab_size, *BERT_BASE_ARGS, "--peft", "lora", "--lora-targets", "q_proj",
                             "--lora-r", str(rank), "--lora-alpha", str(rank), "--head-trainable", "out_proj")
        hf = hf_bert()
        if not shapes:
            shapes = {"vocab": config.vocab_size, "classifier": linear_shape(hf.classifier),
                      "token_types": tuple(hf.bert.embeddings.token_type_embeddings.weight.shape),
                      "hf_positions": tuple(hf.bert.embeddings.position_embeddings.weight.shape),
                      "positions": fairseq_positions(ours["model"])}
        theirs = peft_count(hf, _lora(rank, rank, 0.0, ["query"]), BERT_HEAD)
        rows.append({"rank": rank, "ours": ours["trainable"], "ours_total": ours["total"],
                     "ours_head": ours["head"], "lora": ours["groups"]["lora q_proj"],
                     "peft": theirs["trainable"], "peft_total": theirs["total"], "peft_head": theirs["head"],
                     "peft_heads": theirs["trained_heads"], "published": PUBLISHED["000"]["trainable"][rank]})
    return rows, shapes


def _lm_head_parts(model) -> dict:
    """The masked-LM head's parameters by part (its output weight is the tied token embedding)."""
    prefix, parts = "encoder.lm_head.", {}
    for name, p in model.named_parameters():
        if name.startswith(prefix):
            part = name[len(prefix):].split(".")[0]  # dense, layer_norm, or the output bias itself
            parts[part] = parts.get(part, 0) + p.numel()
    return parts


def report_002() -> dict:
    """BERT-tiny: BitFit with the head's biases only, and full fine-tuning."""
    config = bert_config(**BERT_TINY_SHAPE)
    bitfit = fairseq_count(config.vocab_size, *BERT_TINY_ARGS, "--peft", "bitfit", "--bitfit-biases", "all",
                           "--head-trainable", "bias")
    full = fairseq_count(config.vocab_size, *BERT_TINY_ARGS, "--peft", "none")
    model = full.pop("model")
    lm_head = _lm_head_parts(model)
    hf = hf_bert(**BERT_TINY_SHAPE)
    return {"bitfit": bitfit["trainable"], "bitfit_head": bitfit["head"],
            "hf_bitfit": sum(p.numel() for n, p in hf.named_parameters() if n.endswith(".bias")),
            "full": full["trainable"], "full_total": full["total"], "hf_full": sum(p.numel() for p in hf.parameters()),
            "lm_head": sum(lm_head.values()), "lm_head_parts": lm_head, "positions": fairseq_positions(model),
            "token_types": hf.bert.embeddings.token_type_embeddings.weight.numel(),
            "token_type_shape": tuple(hf.bert.embeddings.token_type_embeddings.weight.shape),
            "hf_positions": tuple(hf.bert.embeddings.position_embeddings.weight.shape),
            "pooler_bias": hf.bert.pooler.dense.bias.numel(), "classifier_bias": hf.classifier.bias.numel(),
            "shape": {"layers": config.num_hidden_layers, "hidden": config.hidden_size,
                      "heads": config.num_attention_heads, "ffn": config.intermediate_size,
                      "vocab": config.vocab_size}}


def report_003():
    """(a row per configuration, the shapes): DistilBERT, three LoRA and one IA3 configuration."""
    rows, shapes = [], {}
    for label, options, config in REPORT_003:
        ours = fairseq_count(DISTILBERT_SHAPE["vocab_size"], *DISTILBERT_ARGS, *options, "--head-trainable", "all")
        hf = hf_distilbert()
        if not shapes:
            shapes = {"pre_classifier": linear_shape(hf.pre_classifier), "classifier": linear_shape(hf.classifier),
                      "positions": fairseq_positions(ours["model"]),
                      "hf_positions": tuple(hf.distilbert.embeddings.position_embeddings.weight.shape)}
        theirs = peft_count(hf, config(), DISTILBERT_HEAD)
        rows.append({"label": label, "options": " ".join(options), "ours": ours["trainable"],
                     "ours_head": ours["head"], "ours_total": ours["total"], "peft": theirs["trainable"],
                     "peft_head": theirs["head"], "peft_heads": theirs["trained_heads"],
                     "peft_total": theirs["total"]})
    return rows, shapes


def report_001() -> dict:
    """The report's formula against the model's own count of the same weights."""
    from fairseq_plugins.trainable import counted_parameters

    s = ROBERTA_SMALL
    formula = s["vocab"] * s["d"] + (s["n_pos"] + 2) * s["d"] + s["layers"] * (2 * s["d_ff"] * s["d"] + 4 * s["d"] ** 2)
    model = build_fairseq(s["vocab"], "--arch", "roberta_peft_small", "--max-positions", str(s["n_pos"]))
    params = dict(model.named_parameters())
    embeddings = (params["encoder.sentence_encoder.embed_tokens.weight"].numel()
                  + params["encoder.sentence_encoder.embed_positions.weight"].numel())
    matrices = sum(p.numel() for n, p in params.items()
                   if ".layers." in n and n.endswith(".weight") and ("_proj." in n or ".fc" in n))
    return {"formula": formula, "counted": embeddings + matrices, "embeddings": embeddings,
            "matrices": matrices, "whole": sum(p.numel() for p in counted_parameters(model).values())}


@functools.lru_cache(maxsize=1)
def count_tables() -> dict:
    """Every count of section 1 with the shapes its prose quotes (computed once per process)."""
    _quiet()
    out = {"shapes": {}}
    out["000"], out["shapes"]["000"] = report_000()
    out["002"] = report_002()
    out["003"], out["shapes"]["003"] = report_003()
    out["001"] = report_001()
    return out
