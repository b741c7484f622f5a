#!/usr/bin/env python
"""The HuggingFace twin of one fairseq run: transformers' Trainer + peft on the same weights and data.

    python scripts/hf_baseline.py --data-bin data-bin/sst2.wordpiece-1a2b3c4d --method lora \\
        --init pretrained --seed 1 --save-dir checkpoints/sst2_lora/hf.pretrained.seed1 \\
        --result-json checkpoints/sst2_lora/hf.pretrained.seed1/hf_result.json \\
        --model-dir cache/models/minilm --train-args "--arch roberta_peft ..." \\
        -- --batch-size 32 --max-update 500 --lr 1e-3 --lora-r 8 --lora-alpha 16 ...

scripts/run_experiment.py --impl hf runs it with the recipe's fairseq-train options after ``--``.
It reads the examples fairseq binarized (``D/examples/{train,valid,test}.jsonl``, class order from
``D/labels.json``), builds ``AutoModelForSequenceClassification`` from the HuggingFace directory
the fairseq model was converted from (``model_info.json``: ``source.hf_dir``), trains it with
``Trainer`` and writes ``{"dev", "test", "trainable_params", "total_params", "updates",
"best_updates"}`` to ``--result-json`` (metrics: ``fairseq_plugins.metrics.classification_metrics``
of the best checkpoint, in percent). ``--init random``: the same architecture, seeded, no weights
loaded. Methods: lora and ia3 through peft, bitfit and full by freezing parameters; ``adapter`` has
no peft twin (exit 2).

fairseq options and what they become (others are ignored):

    fairseq-train                      HuggingFace
    --lr LR (first value)              learning_rate
    --batch-size / --max-sentences     per_device_train_batch_size (eval: --batch-size-valid or the same)
    --update-freq N                    gradient_accumulation_steps
    --max-update N                     max_steps (without it: num_train_epochs = --max-epoch; with
                                       both, whichever ends first)
    --warmup-updates K                 warmup_steps
    --lr-scheduler polynomial_decay    lr_scheduler_type linear (power 1, --end-learning-rate 0), else
                                       polynomial with lr_end and power; decays over max_steps
    --lr-scheduler fixed               constant_with_warmup
    --optimizer adam                   AdamW (torch): adam_beta1/2 from --adam-betas, adam_epsilon
    --weight-decay W                   weight_decay, on EVERY trained parameter as fairseq's Adam does
                                       (HF's default exempts biases and LayerNorms: overridden here)
    --clip-norm C                      max_grad_norm (fairseq's 0.0 = no clipping = HF's 0.0)
    --dropout P                        hidden_dropout_prob (DistilBERT: dropout); default 0.1
    --attention-dropout P              attention_probs_dropout_prob (DistilBERT: attention_dropout); 0.1
    --pooler-dropout P                 classifier_dropout (DistilBERT: seq_classif_dropout); default 0
    --max-positions L                  tokenizer max_length with truncation (else the model's limit, 512)
    --validate-interval-updates E      eval and save every E steps (else --save-interval-updates), plus
                                       at each epoch end and at the last step, as fairseq validates;
                                       without either: every epoch
    best checkpoint (accuracy, max)    load_best_model_at_end on dev accuracy; a tie keeps the later
                                       checkpoint, as fairseq does (metric "selection" = accuracy +
                                       1e-12 x update; HF alone would keep the earlier)
    --log-interval N                   logging_steps
    --head-trainable P                 which head parameters train (below)
    --lora-r/-alpha/-dropout/-targets  LoraConfig(r, lora_alpha, lora_dropout, target_modules, SEQ_CLS)
    --ia3-targets, --ia3-feedforward   IA3Config(target_modules, feedforward_modules, SEQ_CLS)
    --bitfit-biases G                  requires_grad on the named biases only
    --peft-layers LAYERS               the encoder layers the targets / biases are taken from
    --cpu, --fp16, --bf16              use_cpu, fp16, bf16 (the last two on a GPU only)
    --autocast-bf16                    bf16 (the Trainer's autocast, on a CPU as well)
    --seed of this script              transformers.set_seed, TrainingArguments(seed, data_seed)

Targets are fairseq's names mapped to the HF modules of the architecture (BERT/RoBERTa: q_proj ->
attention.self.query, k_proj -> attention.self.key, v_proj -> attention.self.value, out_proj ->
attention.output.dense, fc1 -> intermediate.dense, fc2 -> output.dense; DistilBERT: q_lin, k_lin,
v_lin, out_lin, lin1, lin2), given to peft as one anchored regular expression over full module
names (``bert.encoder.layer.(0|1|...).(output.dense|...)``), so fc2's ``output.dense`` cannot
also catch out_proj's ``attention.output.dense``.

The classification head. fairseq's head is dense -> tanh -> out_proj, its dense started from BERT's
pooler; HF BERT computes the same thing as pooler (dense + tanh) -> classifier. --head-trainable:
``all`` = pooler dense + classifier train, ``out_proj`` = the classifier only (pooler frozen, HF's
usual setting), ``bias`` = the biases of both, ``none`` = neither. RoBERTa's HF head is
classifier.dense + classifier.out_proj (dense starts at random in HF, from the pooler in fairseq),
DistilBERT's pre_classifier (ReLU, not tanh) + classifier. With peft the head goes through
``modules_to_save`` (peft adds ``classifier`` itself for SEQ_CLS; BERT's ``pooler.dense`` is added
when the policy trains it) so that the best checkpoint holds it; the policy then sets requires_grad
on the active copies. Dropout: fairseq's head applies --pooler-dropout (default 0.0, which the recipes keep) before
dense and before out_proj; HF applies classifier_dropout once, between pooler and classifier (its
default would be hidden_dropout_prob = 0.1), so it is set to --pooler-dropout: with 0 both heads are
dropout-free. fairseq's --activation-dropout (default 0) has no HF BERT counterpart.

Parameter counts are over the model that trains, each tensor once (peft's frozen original of a
``modules_to_save`` copy is not counted); the trainable count equals peft's
get_nb_trainable_parameters()[0]. Against fairseq's counts (fairseq_plugins.trainable): fairseq's
leave out BERT's token-type embeddings (2 x d) but hold 2 more position rows (514 x d), so for BERT
with two token types (MiniLM) the totals agree exactly (LoRA r 8 on q, v, head all: 222,338 of
22,787,714 in both); HF RoBERTa holds 1 token-type row more than
fairseq (+d), DistilBERT 2 position rows fewer (-2d); with --max-positions L < 512 fairseq keeps only
L + 2 position rows while HF keeps all. Trainable counts of lora, ia3 and bitfit agree.

Known differences from the fairseq run, besides initialisations drawn by other code (the new head,
LoRA's A, a random-init encoder) and dropout masks: HF's default random sampler (RandomSampler,
seeded by data_seed) pads each random batch, where fairseq's recipes use length-bucketed batches
(sentence_prediction_bucketed); truncation keeps HF's final [SEP] (fairseq cuts the sequence at L
tokens); a pair is [CLS] a [SEP] b [SEP] with token type 1 on b (fairseq: <s> a </s> </s> b </s>,
all type 0); the printed losses are in bits, as fairseq prints them. What agrees: the learning rate
update by update (fairseq's begin_epoch sets lr(0) = 0 under warmup, as HF's schedule does; both
reach the end value at --total-num-update = --max-update), Adam(W) with decay on every parameter,
the validation points and the choice of the best checkpoint.

Output: HF's progress as fairseq-style ``| INFO | train_inner`` / ``| INFO | valid`` lines on stdout
(run_experiment echoes them), the best checkpoint in ``SAVE_DIR/checkpoint_best/`` (HF format: the
adapter and head for peft, the whole model otherwise), the result JSON written atomically. Bad input
(missing data-bin files, a model directory without ``source.hf_dir``, the adapter method) is one
line on stderr and exit code 2.
"""
import argparse
import ast
import datetime
import json
import math
import os
import re
import shlex
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

PROG = "hf_baseline.py"
METHODS = ("lora", "bitfit", "ia3", "full")
NO_TWIN = {"adapter": "--method adapter has no peft twin (peft has no Houlsby/Pfeiffer bottleneck adapter "
                      "for encoder classifiers); the HF baseline covers lora, bitfit, ia3 and full"}
HEAD_POLICIES = ("all", "out_proj", "bias", "none")
LINEAR_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
LAYER_NORMS = ("self_attn_layer_norm", "final_layer_norm")
EMBEDDING_NORM = "layernorm_embedding"
# per model family: the head's two parts (fairseq dense, out_proj) inside the HF task model, and the
# extra module peft must copy and save when the dense part trains (peft adds "classifier" itself;
# "pooler.dense", not the "pooler" container: peft 0.21's IA3 merge_and_unload fails on a wrapped
# module without a weight)
HEADS = {
    "bert": {"dense": "bert.pooler.dense", "out_proj": "classifier", "save": ["pooler.dense"]},
    "roberta": {"dense": "classifier.dense", "out_proj": "classifier.out_proj", "save": []},
    "distilbert": {"dense": "pre_classifier", "out_proj": "classifier", "save": ["pre_classifier"]},
}
DROPOUT_KEYS = {  # (hidden dropout, attention dropout, classifier dropout) config names
    "bert": ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"),
    "roberta": ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"),
    "distilbert": ("dropout", "attention_dropout", "seq_classif_dropout"),
}


class UsageError(Exception):
    """Bad input: reported as one line on stderr, exit code 2."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{PROG}: error: {message}\n")


# ---------------------------------------------------------------------------------- options
def build_parser():
    parser = _OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0],
                            usage="%(prog)s --data-bin D --method M --save-dir DIR [options] -- FAIRSEQ_TRAIN_OPTIONS",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--data-bin", required=True, help="prepare_data.py output (examples/*.jsonl, labels.json)")
    parser.add_argument("--method", required=True, help="lora, bitfit, ia3 or full (adapter: no peft twin)")
    parser.add_argument("--init", default="pretrained", choices=["pretrained", "random"],
                        help="pretrained weights, or the same architecture at random (seeded)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save-dir", required=True, help="Trainer output directory (checkpoints)")
    parser.add_argument("--result-json", help="where to write the results (default SAVE_DIR/hf_result.json)")
    parser.add_argument("--train-args", default="", help="the fairseq architecture options of the run")
    parser.add_argument("--model-dir", help="model directory (get_model.py output) whose model_info.json "
                                            "names the HuggingFace source")
    return parser


def _first_float(text):
    return float(str(text).split(",")[0])


def _first_int(text):
    return int(str(text).split(",")[0])


class _FairseqOptionParser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"fairseq options: {message}")


def fairseq_option_parser():
    """The fairseq-train options that have an HF counterpart, with fairseq's (or the plugin's) defaults."""
    p = _FairseqOptionParser(add_help=False, allow_abbrev=False)
    add = p.add_argument
    add("--batch-size", "--max-sentences", type=int, default=None)
    add("--batch-size-valid", type=int, default=None)
    add("--update-freq", type=_first_int, default=1)
    add("--max-update", type=int, default=0)
    add("--max-epoch", type=int, default=0)
    add("--optimizer", default="adam")
    add("--adam-betas", default="(0.9, 0.999)")
    add("--adam-eps", type=float, default=1e-8)
    add("--weight-decay", "--wd", type=float, default=0.0)
    add("--lr", type=_first_float, default=0.25)
    add("--lr-scheduler", default="fixed")
    add("--warmup-updates", type=int, default=0)
    add("--total-num-update", type=int, default=None)
    add("--end-learning-rate", type=float, default=0.0)
    add("--power", type=float, default=1.0)
    add("--dropout", type=float, default=0.1)
    add("--attention-dropout", type=float, default=0.1)
    add("--pooler-dropout", type=float, default=0.0)
    add("--clip-norm", type=float, default=0.0)
    add("--head-trainable", default="all")
    add("--log-interval", type=int, default=100)
    add("--validate-interval-updates", type=int, default=0)
    add("--save-interval-updates", type=int, default=0)
    add("--max-positions", type=int, default=None)
    add("--peft-layers", default="all")
    add("--lora-r", type=int, default=8)
    add("--lora-alpha", type=float, default=8.0)
    add("--lora-dropout", type=float, default=0.0)
    add("--lora-targets", default="q_proj,v_proj")
    add("--ia3-targets", default="k_proj,v_proj,fc2")
    add("--ia3-feedforward", default="fc2")
    add("--bitfit-biases", default="all")
    add("--cpu", action="store_true")
    add("--fp16", action="store_true")
    add("--bf16", action="store_true")
    add("--autocast-bf16", action="store_true")
    return p


def parse_fairseq_options(argv):
    """Namespace of the options above; unknown fairseq options are ignored."""
    opts, _ = fairseq_option_parser().parse_known_args(argv)
    try:
        betas = ast.literal_eval(opts.adam_betas)
        opts.adam_betas = (float(betas[0]), float(betas[1]))
    except (ValueError, SyntaxError, TypeError, IndexError):
        raise UsageError(f"--adam-betas {opts.adam_betas!r}: expected '(beta1, beta2)'") from None
    if opts.head_trainable not in HEAD_POLICIES:
        raise UsageError(f"--head-trainable {opts.head_trainable!r}: choose {', '.join(HEAD_POLICIES)}")
    if opts.optimizer != "adam":
        raise UsageError(f"--optimizer {opts.optimizer}: only adam has an HF twin here")
    if opts.lr_scheduler not in ("polynomial_decay", "fixed"):
        raise UsageError(f"--lr-scheduler {opts.lr_scheduler}: only polynomial_decay and fixed are mapped")
    if opts.batch_size is None:
        raise UsageError("fairseq options: --batch-size is required (the HF twin batches by sentences)")
    if opts.max_update <= 0 and opts.max_epoch <= 0:
        raise UsageError("fairseq options: give --max-update (or --max-epoch)")
    opts.layers = parse_layers(opts.peft_layers)
    return opts


def parse_layers(text):
    """'all' -> None; '0,1,4-7' -> [0, 1, 4, 5, 6, 7] (fairseq's --peft-layers)."""
    if text in (None, "", "all"):
        return None
    layers = set()
    for part in str(text).split(","):
        try:
            first, _, last = part.strip().partition("-")
            layers.update(range(int(first), int(last or first) + 1))
        except ValueError:
            raise UsageError(f"--peft-layers {text!r}: expected 'all' or indices such as '0,1,4-7'") from None
    return sorted(layers)


def split_names(text, allowed, option, all_word=None):
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if all_word is not None and names == [all_word]:
        return list(allowed)
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise UsageError(f"{option} {text!r}: choose a comma list of {', '.join(allowed)}")
    return names


def option_value(argv, name):
    """The last value of ``name`` in a list of command-line words (None if absent)."""
    value = None
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif word.startswith(name + "="):
            value = word.split("=", 1)[1]
    return value


# ---------------------------------------------------------------------------------- inputs
def read_model_info(model_dir):
    """(hf_dir, model_info) of a model directory; UsageError when it has no HuggingFace source."""
    if not model_dir:
        raise UsageError("--model-dir is required: its model_info.json names the HuggingFace source (source.hf_dir)")
    path = os.path.join(model_dir, "model_info.json")
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path}: missing (is --model-dir a get_model.py model directory?)") from None
    except json.JSONDecodeError as err:
        raise UsageError(f"{path}: not valid JSON ({err})") from None
    hf_dir = (info.get("source") or {}).get("hf_dir")
    if not hf_dir:
        raise UsageError(f"{path}: no source.hf_dir; this model was not converted from a HuggingFace "
                         "checkpoint, so it has no HF twin")
    if not os.path.isfile(os.path.join(hf_dir, "config.json")):
        raise UsageError(f"{path}: source.hf_dir {hf_dir} has no config.json")
    return hf_dir, info


def read_labels(data_bin):
    path = os.path.join(data_bin, "labels.json")
    try:
        with open(path, encoding="utf-8") as f:
            classes = [str(c) for c in json.load(f)["classes"]]
    except FileNotFoundError:
        raise UsageError(f"{path}: missing (is --data-bin a prepare_data.py output?)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise UsageError(f"{path}: no list of classes ({err})") from None
    if len(classes) < 2:
        raise UsageError(f"{path}: {len(classes)} class(es); the HF twin needs a classification task")
    return classes


def read_examples(data_bin, split, classes, required=True):
    """[(texts, label index)] of examples/<split>.jsonl; None for an absent optional split."""
    path = os.path.join(data_bin, "examples", f"{split}.jsonl")
    if not os.path.isfile(path):
        if required:
            raise UsageError(f"{path}: missing (prepare_data.py writes the examples it binarized there)")
        return None
    index = {c: i for i, c in enumerate(classes)}
    examples = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                texts, label = row["texts"], str(row["label"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UsageError(f"{path}:{number}: not a {{\"texts\": [...], \"label\": ...}} line") from None
            if label not in index:
                raise UsageError(f"{path}:{number}: label {label!r} is not among labels.json's classes")
            if not isinstance(texts, list) or len(texts) not in (1, 2):
                raise UsageError(f"{path}:{number}: 'texts' must hold one text or a pair")
            examples.append((texts, index[label]))
    if not examples:
        raise UsageError(f"{path}: no examples")
    if len({len(t) for t, _ in examples}) > 1:
        raise UsageError(f"{path}: mixes single texts and pairs")
    return examples


class EncodedExamples:
    """A torch-style dataset of tokenized examples (input_ids, attention_mask[, token_type_ids], labels)."""

    def __init__(self, tokenizer, examples, max_length):
        firsts = [texts[0] for texts, _ in examples]
        seconds = [texts[1] for texts, _ in examples] if len(examples[0][0]) == 2 else None
        encoded = tokenizer(firsts, seconds, truncation=True, max_length=max_length)
        self.labels = [label for _, label in examples]
        self.features = [{key: encoded[key][i] for key in encoded} | {"labels": label}
                         for i, label in enumerate(self.labels)]

    def __len__(self):
        return len(self.features)

    def __getitem__(self, i):
        return self.features[i]


# ---------------------------------------------------------------------------------- model
def family_of(config):
    from fairseq_plugins.hf_conversion import FAMILIES

    if config.model_type not in FAMILIES:
        raise UsageError(f"model_type {config.model_type!r} has no mapping (bert, roberta, distilbert)")
    return config.model_type


def layer_module_names(family):
    """fairseq name (q_proj ... fc2, self_attn_layer_norm, final_layer_norm) -> HF name inside a layer."""
    from fairseq_plugins.hf_conversion import FAMILIES

    return {fs.split(".")[-1]: hf for hf, fs in FAMILIES[family]["layer_map"].items()}


def layers_path(model, family):
    """Where the encoder layers sit in the HF task model, e.g. ``bert.encoder.layer``."""
    from fairseq_plugins.hf_conversion import FAMILIES

    return f"{model.base_model_prefix}.{FAMILIES[family]['layers']}"


def num_layers(model, family):
    return len(model.get_submodule(layers_path(model, family)))


def check_layers(model, family, layers):
    count = num_layers(model, family)
    if layers is not None and any(i >= count for i in layers):
        raise UsageError(f"--peft-layers: layer {max(layers)} does not exist (the model has {count})")


def target_pattern(model, family, targets, layers=None):
    """An anchored regex over full module names of ``targets`` (fairseq names) in ``layers`` (None: all).

    peft fullmatches a string ``target_modules`` against each module name, so ``fc2`` (``output.dense``)
    cannot match out_proj's ``attention.output.dense``.
    """
    names = layer_module_names(family)
    indices = r"\d+" if layers is None else "|".join(str(i) for i in layers)
    modules = "|".join(re.escape(names[t]) for t in targets)
    return rf"{re.escape(layers_path(model, family))}\.({indices})\.({modules})"


def model_max_length(config, family):
    positions = config.max_position_embeddings
    if family == "roberta":  # HF RoBERTa stores fairseq's two offset rows (padding index + 1)
        positions -= (1 if config.pad_token_id is None else config.pad_token_id) + 1
    return positions


def build_model(hf_dir, classes, init, seed, dropout=0.1, attention_dropout=0.1, pooler_dropout=0.0):
    """AutoModelForSequenceClassification of ``hf_dir``: its weights, or (``random``) its architecture only."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, set_seed

    config = AutoConfig.from_pretrained(hf_dir)
    family = family_of(config)
    hidden, attention, classifier = DROPOUT_KEYS[family]
    config.num_labels = len(classes)
    config.id2label = dict(enumerate(classes))
    config.label2id = {c: i for i, c in enumerate(classes)}
    setattr(config, hidden, dropout)
    setattr(config, attention, attention_dropout)
    setattr(config, classifier, pooler_dropout)
    set_seed(seed)
    if init == "pretrained":
        model = AutoModelForSequenceClassification.from_pretrained(hf_dir, config=config)
    else:
        model = AutoModelForSequenceClassification.from_config(config)
    return model, family


def lora_config(model, family, opts):
    from peft import LoraConfig, TaskType

    targets = split_names(opts.lora_targets, LINEAR_TARGETS, "--lora-targets")
    return LoraConfig(r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_dropout=opts.lora_dropout,
                      target_modules=target_pattern(model, family, targets, opts.layers),
                      task_type=TaskType.SEQ_CLS, modules_to_save=head_modules_to_save(family, opts.head_trainable))


def ia3_config(model, family, opts):
    from peft import IA3Config, TaskType

    targets = split_names(opts.ia3_targets, LINEAR_TARGETS, "--ia3-targets")
    if opts.ia3_feedforward.strip() == "none":
        feedforward = []
    else:
        feedforward = split_names(opts.ia3_feedforward, LINEAR_TARGETS, "--ia3-feedforward")
    strays = [t for t in feedforward if t not in targets]
    if strays:
        raise UsageError(f"--ia3-feedforward names {','.join(strays)}, which --ia3-targets does not include")
    return IA3Config(target_modules=target_pattern(model, family, targets, opts.layers),
                     feedforward_modules=target_pattern(model, family, feedforward, opts.layers) if feedforward else [],
                     task_type=TaskType.SEQ_CLS, modules_to_save=head_modules_to_save(family, opts.head_trainable))


def head_modules_to_save(family, policy):
    """Modules peft must copy, train and save beside its own ``classifier`` for this head policy."""
    return list(HEADS[family]["save"]) if policy in ("all", "bias") else None


def head_parameters(model, family):
    """role (dense, out_proj) -> [(name, parameter)] of the head parts that compute the logits."""
    from peft import PeftModel

    base = model.get_base_model() if isinstance(model, PeftModel) else model
    parts = {}
    for role in ("dense", "out_proj"):
        module = base
        for attr in HEADS[family][role].split("."):
            module = _unwrap(getattr(module, attr))
        parts[role] = list(_unwrap(module).named_parameters())
    return parts


def _unwrap(module):
    """The active copy of a peft ModulesToSaveWrapper; any other module as it is."""
    copies = getattr(module, "modules_to_save", None)
    if copies is not None and hasattr(module, "original_module"):
        return copies[module.active_adapters[0]]
    return module


def set_head_trainable(model, family, policy):
    for role, params in head_parameters(model, family).items():
        for name, param in params:
            if policy == "all":
                train = True
            elif policy == "out_proj":
                train = role == "out_proj"
            elif policy == "bias":
                train = name.endswith("bias")
            else:
                train = False
            param.requires_grad = train


def bias_names(model, family, groups, layers=None):
    """Full names of the encoder biases BitFit trains: ``groups`` (fairseq's names) in ``layers``."""
    names = layer_module_names(family)
    path = layers_path(model, family)
    selected = range(num_layers(model, family)) if layers is None else layers
    wanted = []
    for i in selected:
        for group in groups:
            if group in names:
                module = model.get_submodule(f"{path}.{i}.{names[group]}")
                if module.bias is not None:
                    wanted.append(f"{path}.{i}.{names[group]}.bias")
    if EMBEDDING_NORM in groups:
        wanted.append(f"{model.base_model_prefix}.embeddings.LayerNorm.bias")
    return wanted


def apply_method(model, family, method, opts):
    """The model that trains: peft-wrapped (lora, ia3) or with requires_grad set (bitfit, full)."""
    check_layers(model, family, opts.layers)
    if method in ("lora", "ia3"):
        from peft import get_peft_model

        config = (lora_config if method == "lora" else ia3_config)(model, family, opts)
        model = get_peft_model(model, config)
    elif method == "bitfit":
        groups = split_names(opts.bitfit_biases, LINEAR_TARGETS + LAYER_NORMS + (EMBEDDING_NORM,),
                             "--bitfit-biases", all_word="all")
        wanted = set(bias_names(model, family, groups, opts.layers))
        for name, param in model.named_parameters():
            param.requires_grad = name in wanted
    else:
        for param in model.parameters():
            param.requires_grad = True
    set_head_trainable(model, family, opts.head_trainable)
    return model


def count_parameters(model):
    """(trainable, total) over the parameters the model computes with, each tensor once.

    peft's frozen ``original_module`` of a ``modules_to_save`` copy is left out (it is not used);
    ``trainable`` equals peft's ``get_nb_trainable_parameters()[0]``.
    """
    trainable = total = 0
    for name, param in model.named_parameters():
        if ".original_module." in f".{name}":
            continue
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return trainable, total


# ---------------------------------------------------------------------------------- training
def training_arguments(opts, save_dir, seed, steps_per_epoch):
    import torch
    from transformers import TrainingArguments

    if opts.lr_scheduler == "fixed":
        scheduler, scheduler_kwargs = "constant_with_warmup", {}
    elif opts.power == 1.0 and opts.end_learning_rate == 0.0:
        scheduler, scheduler_kwargs = "linear", {}
    else:
        scheduler, scheduler_kwargs = "polynomial", {"lr_end": opts.end_learning_rate, "power": opts.power}
    max_steps = opts.max_update if opts.max_update > 0 else -1
    if max_steps > 0 and opts.max_epoch > 0:  # fairseq stops at whichever comes first
        max_steps = min(max_steps, opts.max_epoch * steps_per_epoch)
    every = opts.validate_interval_updates or opts.save_interval_updates
    strategy = "steps" if every > 0 else "epoch"
    cuda = torch.cuda.is_available() and not opts.cpu
    kwargs = dict(
        output_dir=save_dir, seed=seed, data_seed=seed,
        learning_rate=opts.lr, per_device_train_batch_size=opts.batch_size,
        per_device_eval_batch_size=opts.batch_size_valid or opts.batch_size,
        gradient_accumulation_steps=opts.update_freq,
        max_steps=max_steps, num_train_epochs=opts.max_epoch if max_steps < 0 else 1,
        warmup_steps=opts.warmup_updates, lr_scheduler_type=scheduler, lr_scheduler_kwargs=scheduler_kwargs,
        weight_decay=opts.weight_decay, adam_beta1=opts.adam_betas[0], adam_beta2=opts.adam_betas[1],
        adam_epsilon=opts.adam_eps, max_grad_norm=opts.clip_norm,
        eval_strategy=strategy, save_strategy=strategy,
        load_best_model_at_end=True, metric_for_best_model="selection", greater_is_better=True,
        save_total_limit=1, save_only_model=True,
        logging_strategy="steps", logging_steps=max(1, opts.log_interval),
        report_to=[], disable_tqdm=True, dataloader_num_workers=0, remove_unused_columns=False,
        label_names=["labels"], use_cpu=not cuda, fp16=opts.fp16 and cuda,
        bf16=(opts.bf16 and cuda) or opts.autocast_bf16,
    )
    if every > 0:
        kwargs.update(eval_steps=every, save_steps=every)
    return TrainingArguments(**kwargs)


def make_trainer_class():
    from transformers import Trainer

    class FairseqLikeTrainer(Trainer):
        """Trainer whose AdamW decays every trained parameter, as fairseq's Adam does."""

        def get_decay_parameter_names(self, model):
            return [name for name, _ in model.named_parameters()]

    return FairseqLikeTrainer


def make_callbacks(state_holder):
    """fairseq-style progress lines, and validation at each epoch end (fairseq validates there too)."""
    from transformers import TrainerCallback

    def stamp():
        return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")

    def epoch_of(state):
        return max(1, math.ceil(state.epoch or 0))

    class FairseqStyleLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                fields = [f"loss {logs['loss'] / math.log(2):.3f}"]
                if "learning_rate" in logs:
                    fields.append(f"lr {logs['learning_rate']:.4g}")
                if "grad_norm" in logs:
                    fields.append(f"gnorm {logs['grad_norm']:.3f}")
                print(f"{stamp()} | INFO | train_inner | hf | epoch {epoch_of(state):03d} | "
                      + " | ".join(fields) + f" | num_updates {state.global_step}", flush=True)
            elif "train_runtime" in logs:
                print(f"{stamp()} | INFO | train | hf | epoch {epoch_of(state):03d} | "
                      f"num_updates {state.global_step} | wall {logs['train_runtime']:.0f} s", flush=True)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            metrics = metrics or {}
            fields = [f"loss {metrics['eval_loss'] / math.log(2):.3f}"] if "eval_loss" in metrics else []
            fields += [f"{k[5:]} {v:.2f}" for k, v in metrics.items()
                       if k in ("eval_accuracy", "eval_f1", "eval_macro_f1", "eval_mcc")]
            best = max(state_holder.get("best", -1.0), metrics.get("eval_accuracy", -1.0))
            state_holder["best"] = best
            print(f"{stamp()} | INFO | valid | hf | epoch {epoch_of(state):03d} | valid on 'valid' subset | "
                  + " | ".join(fields) + f" | num_updates {state.global_step} | best_accuracy {best:.2f}", flush=True)

    class ValidateAtEpochEnd(TrainerCallback):
        def __init__(self):
            self.last_step = -1

        def on_evaluate(self, args, state, control, **kwargs):
            self.last_step = state.global_step

        def on_epoch_end(self, args, state, control, **kwargs):
            if args.eval_strategy == "steps" and state.global_step != self.last_step:
                control.should_evaluate = True
                control.should_save = True
            return control

    return [FairseqStyleLog(), ValidateAtEpochEnd()]


# the checkpoint-selection metric: dev accuracy plus this much per update, so that of two checkpoints
# with the same accuracy the later one wins, as fairseq's ``>=`` picks it (HF keeps a tie's first);
# far below any difference of two accuracies (100 / number of dev examples)
TIE_BREAK_PER_UPDATE = 1e-12


def compute_metrics_for(num_classes, holder):
    """Trainer's compute_metrics: classification_metrics, plus ``selection`` (accuracy, later wins ties)."""
    import numpy as np

    from fairseq_plugins.metrics import classification_metrics

    def compute(eval_prediction):
        logits = eval_prediction.predictions
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        metrics = classification_metrics(np.asarray(eval_prediction.label_ids), np.argmax(logits, axis=-1),
                                         num_classes)
        trainer = holder.get("trainer")
        step = trainer.state.global_step if trainer is not None else 0
        return {**metrics, "selection": metrics["accuracy"] + TIE_BREAK_PER_UPDATE * step}

    return compute


def evaluate(trainer, dataset, num_classes):
    import numpy as np

    from fairseq_plugins.metrics import classification_metrics

    output = trainer.predict(dataset, metric_key_prefix="final")
    logits = output.predictions[0] if isinstance(output.predictions, (tuple, list)) else output.predictions
    return classification_metrics(np.asarray(dataset.labels), np.argmax(logits, axis=-1), num_classes)


def write_json_atomically(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hf_result-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def checkpoint_dirs(save_dir):
    found = []
    for name in os.listdir(save_dir):
        match = re.fullmatch(r"checkpoint-(\d+)", name)
        if match and os.path.isdir(os.path.join(save_dir, name)):
            found.append((int(match.group(1)), os.path.join(save_dir, name)))
    return sorted(found)


def keep_best_checkpoint(save_dir, best_dir):
    """Leave the best checkpoint as SAVE_DIR/checkpoint_best and remove the other HF checkpoints."""
    target = os.path.join(save_dir, "checkpoint_best")
    if best_dir and os.path.isdir(best_dir):
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.replace(best_dir, target)
    for _, path in checkpoint_dirs(save_dir):
        shutil.rmtree(path, ignore_errors=True)


def run(args, fairseq_argv):
    if args.method in NO_TWIN:
        raise UsageError(NO_TWIN[args.method])
    if args.method not in METHODS:
        raise UsageError(f"--method {args.method!r}: choose {', '.join(METHODS)}")
    opts = parse_fairseq_options(fairseq_argv)
    hf_dir, _ = read_model_info(args.model_dir)
    classes = read_labels(args.data_bin)
    train = read_examples(args.data_bin, "train", classes)
    valid = read_examples(args.data_bin, "valid", classes)
    test = read_examples(args.data_bin, "test", classes, required=False)

    import transformers
    from transformers import AutoTokenizer, DataCollatorWithPadding, PrinterCallback, set_seed

    transformers.logging.set_verbosity_warning()
    model, family = build_model(hf_dir, classes, args.init, args.seed, opts.dropout, opts.attention_dropout,
                                opts.pooler_dropout)
    arch_layers = option_value(shlex.split(args.train_args), "--encoder-layers")
    if arch_layers is not None and int(arch_layers) != num_layers(model, family):
        raise UsageError(f"--train-args builds {arch_layers} layers but {hf_dir} has {num_layers(model, family)}: "
                         "is --model-dir the model of this run?")
    limit = model_max_length(model.config, family)
    wanted = opts.max_positions or option_value(shlex.split(args.train_args), "--max-positions")
    max_length = min(int(wanted), limit) if wanted else limit
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    datasets = {name: EncodedExamples(tokenizer, examples, max_length)
                for name, examples in (("train", train), ("valid", valid), ("test", test)) if examples}
    set_seed(args.seed)  # peft's new weights (LoRA's A) are drawn from the run's seed
    model = apply_method(model, family, args.method, opts)
    trainable, total = count_parameters(model)
    print(f"hf_baseline: {family} from {hf_dir} ({args.init}), method {args.method}, head {opts.head_trainable}: "
          f"trainable parameters {trainable:,} of {total:,} ({100.0 * trainable / total:.4g}%); "
          f"max length {max_length}; {len(train)} train, {len(valid)} valid"
          + (f", {len(test)} test" if test else "") + " examples", flush=True)
    if opts.total_num_update and opts.max_update and opts.total_num_update != opts.max_update:
        print(f"hf_baseline: note: --total-num-update {opts.total_num_update} differs from --max-update "
              f"{opts.max_update}; the HF schedule decays over max_steps = {opts.max_update}", flush=True)

    os.makedirs(args.save_dir, exist_ok=True)
    for _, stale in checkpoint_dirs(args.save_dir):  # an interrupted earlier run: start afresh
        shutil.rmtree(stale, ignore_errors=True)
    steps_per_epoch = math.ceil(len(train) / opts.batch_size / opts.update_freq)
    holder = {}
    trainer = make_trainer_class()(
        model=model, args=training_arguments(opts, args.save_dir, args.seed, steps_per_epoch),
        data_collator=DataCollatorWithPadding(tokenizer), train_dataset=datasets["train"],
        eval_dataset=datasets["valid"], processing_class=tokenizer,
        compute_metrics=compute_metrics_for(len(classes), holder), callbacks=make_callbacks(holder),
    )
    holder["trainer"] = trainer
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    state = trainer.state
    best_updates = state.best_global_step or state.global_step
    dev = evaluate(trainer, datasets["valid"], len(classes))
    if state.best_metric is not None and abs(dev["accuracy"] - state.best_metric) > 1e-6:
        print(f"hf_baseline: warning: the reloaded best checkpoint gives dev accuracy {dev['accuracy']:.4f}, "
              f"its validation gave {state.best_metric:.4f}", flush=True)  # (the tie-break adds < 1e-6)
    test_metrics = evaluate(trainer, datasets["test"], len(classes)) if "test" in datasets else None
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M:%S} | INFO | valid | hf | best checkpoint at num_updates "
          f"{best_updates}: dev accuracy {dev['accuracy']:.2f}"
          + (f" | test accuracy {test_metrics['accuracy']:.2f}" if test_metrics else ""), flush=True)
    keep_best_checkpoint(args.save_dir, state.best_model_checkpoint)
    result = {
        "dev": dev, "test": test_metrics, "trainable_params": trainable, "total_params": total,
        "updates": state.global_step, "best_updates": best_updates,
        "hf": {"hf_dir": hf_dir, "family": family, "init": args.init, "method": args.method,
               "head_trainable": opts.head_trainable, "max_length": max_length,
               "learning_rate": opts.lr, "batch_size": opts.batch_size, "warmup_steps": opts.warmup_updates,
               "weight_decay": opts.weight_decay, "seed": args.seed},
    }
    write_json_atomically(args.result_json or os.path.join(args.save_dir, "hf_result.json"), result)
    return 0


def split_argv(argv):
    """(this script's options, the fairseq options after ``--``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def main(argv=None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything comes from local directories
    own, fairseq_argv = split_argv(argv)
    try:
        args = build_parser().parse_args(own)
    except SystemExit as exc:  # --help, or a usage error already reported in one line
        return exc.code or 0
    try:
        return run(args, fairseq_argv)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
