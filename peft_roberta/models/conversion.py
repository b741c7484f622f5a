"""Convert a HuggingFace BERT, RoBERTa or DistilBERT checkpoint into a fairseq RoBERTa model directory.

The encoders are the same computation under other names, with three details that matter:
  - fairseq's learned positions start after the padding index (row ``padding_idx + 1`` = 2 is the
    first token), so BERT's position rows move down by two;
  - BERT adds a token-type embedding; every sentence here is type 0, so that row is folded into
    every position row;
  - BERT-family LayerNorms use eps 1e-12 (fairseq's default is 1e-5): carried as ``layer_norm_eps``.
The vocabulary is reordered so that fairseq's four special symbols (<s>, <pad>, </s>, <unk>) take
BERT's [CLS], [PAD], [SEP], [UNK] rows and <mask> (added last by fairseq's tasks) takes [MASK].

The output directory holds ``model.pt`` (fairseq's ``roberta`` model: loadable by fairseq's own
``RobertaModel.from_pretrained`` and restorable into ``roberta_peft``), ``dict.txt``, the tokenizer
files and ``model_info.json`` (architecture arguments, tokenizer, source and its checksums).
A BERT pooler is kept as the classification head ``pretrained_pooler``, from which the plugin
starts a new head's dense layer, as HF's BertForSequenceClassification does.
"""
import argparse
import json
import os
import shutil

import torch
from fairseq_plugins.checkpoints.peft_file import atomic_save, checkpoint_dict
from fairseq_plugins.checkpoints.safety import CheckpointError, safe_load
from fairseq_plugins.models.roberta_peft import POOLER_HEAD

from ..data.publish import built_beside
from ..model_dir import sha256_of, write_model_info
BERT_SPECIALS = {"cls": "[CLS]", "pad": "[PAD]", "sep": "[SEP]", "unk": "[UNK]", "mask": "[MASK]"}
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_accurate", "gelu_pytorch_tanh": "gelu_accurate", "relu": "relu"}


def read_hf_checkpoint(hf_dir):
    """(config dict, state dict, weights file) of a HuggingFace model directory."""
    config_path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(config_path):
        raise CheckpointError(f"{hf_dir}: no config.json (is this a HuggingFace model directory?)")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{config_path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config_path}: cannot read ({err})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: expected a JSON object")
    safetensors_path = os.path.join(hf_dir, "model.safetensors")
    bin_path = os.path.join(hf_dir, "pytorch_model.bin")
    if os.path.isfile(safetensors_path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return config, load_file(safetensors_path), safetensors_path
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{safetensors_path}: truncated or not a safetensors file ({err})") from None
    if os.path.isfile(bin_path):
        state = safe_load(bin_path)  # torch's weights_only loading: a pickled program is refused, not run
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{bin_path}: not a state dict of tensors")
        return config, state, bin_path
    raise CheckpointError(f"{hf_dir}: neither model.safetensors nor pytorch_model.bin")


def _strip_prefix(state, prefixes):
    """Drop the task-model prefix (``bert.``, ``roberta.``, ``distilbert.``) where there is one."""
    for prefix in prefixes:
        if any(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


# Per model family: HF layer-parameter name -> fairseq name (inside ``layers.{i}.``).
BERT_LAYER = {
    "attention.self.query": "self_attn.q_proj",
    "attention.self.key": "self_attn.k_proj",
    "attention.self.value": "self_attn.v_proj",
    "attention.output.dense": "self_attn.out_proj",
    "attention.output.LayerNorm": "self_attn_layer_norm",
    "intermediate.dense": "fc1",
    "output.dense": "fc2",
    "output.LayerNorm": "final_layer_norm",
}
DISTILBERT_LAYER = {
    "attention.q_lin": "self_attn.q_proj",
    "attention.k_lin": "self_attn.k_proj",
    "attention.v_lin": "self_attn.v_proj",
    "attention.out_lin": "self_attn.out_proj",
    "sa_layer_norm": "self_attn_layer_norm",
    "ffn.lin1": "fc1",
    "ffn.lin2": "fc2",
    "output_layer_norm": "final_layer_norm",
}
FAMILIES = {
    "bert": {"prefixes": ("bert.",), "layers": "encoder.layer", "layer_map": BERT_LAYER},
    "roberta": {"prefixes": ("roberta.",), "layers": "encoder.layer", "layer_map": BERT_LAYER},
    "distilbert": {"prefixes": ("distilbert.",), "layers": "transformer.layer", "layer_map": DISTILBERT_LAYER},
}


def model_shape(config):
    """fairseq architecture arguments for a HF config."""
    family = config.get("model_type")
    if family not in FAMILIES:
        raise CheckpointError(f"model_type {family!r} is not supported (bert, roberta, distilbert)")
    if family == "distilbert":
        layers, dim, ffn, heads = config["n_layers"], config["dim"], config["hidden_dim"], config["n_heads"]
        act, dropout, attn_dropout, eps = config.get("activation", "gelu"), config["dropout"], config["attention_dropout"], 1e-12
    else:
        layers, dim = config["num_hidden_layers"], config["hidden_size"]
        ffn, heads = config["intermediate_size"], config["num_attention_heads"]
        act, eps = config.get("hidden_act", "gelu"), config.get("layer_norm_eps", 1e-12)
        dropout, attn_dropout = config["hidden_dropout_prob"], config["attention_probs_dropout_prob"]
    if act not in ACTIVATIONS:
        raise CheckpointError(f"activation {act!r} has no fairseq equivalent")
    positions = config["max_position_embeddings"]
    if family == "roberta":  # HF RoBERTa already stores fairseq's two offset rows
        positions -= config.get("pad_token_id", 1) + 1
    return {
        "encoder_layers": layers, "encoder_embed_dim": dim, "encoder_ffn_embed_dim": ffn,
        "encoder_attention_heads": heads, "activation_fn": ACTIVATIONS[act], "dropout": dropout,
        "attention_dropout": attn_dropout, "max_positions": positions, "layer_norm_eps": eps,
    }


def train_arguments(shape):
    """The fairseq-train options that build this architecture with the plugin."""
    args = ["--arch", "roberta_peft"]
    for key in ("encoder_layers", "encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_attention_heads",
                "activation_fn", "max_positions", "layer_norm_eps"):
        args += ["--" + key.replace("_", "-"), str(shape[key])]
    return args


def bert_vocabulary(vocab_path, specials=BERT_SPECIALS):
    """(fairseq row order as HF token ids, dict.txt symbols) for a WordPiece vocab.txt."""
    with open(vocab_path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    index = {t: i for i, t in enumerate(tokens)}
    missing = [s for s in specials.values() if s not in index]
    if missing:
        raise CheckpointError(f"{vocab_path}: special tokens {missing} are not in the vocabulary")
    special_ids = {index[s] for s in specials.values()}
    symbols = [t for i, t in enumerate(tokens) if i not in special_ids]
    order = [index[specials[k]] for k in ("cls", "pad", "sep", "unk")]
    order += [index[t] for t in symbols] + [index[specials["mask"]]]
    return order, symbols


def roberta_vocabulary(config):
    """HF RoBERTa rows are already in fairseq's order; dict.txt lists the BPE ids 4 .. V-2."""
    size = config["vocab_size"]
    return list(range(size)), [str(i) for i in range(4, size - 1)]


def convert_state(config, hf_state, row_order):
    """fairseq ``roberta`` state (encoder weights, pooler head) from a HF state dict."""
    family = FAMILIES[config["model_type"]]
    hf = _strip_prefix(hf_state, family["prefixes"])
    shape = model_shape(config)
    out = {}
    emb = "encoder.sentence_encoder."
    words = hf["embeddings.word_embeddings.weight"]
    out[emb + "embed_tokens.weight"] = words[row_order].clone()

    positions = hf["embeddings.position_embeddings.weight"]
    if "embeddings.token_type_embeddings.weight" in hf:
        positions = positions + hf["embeddings.token_type_embeddings.weight"][0]
    if config["model_type"] != "roberta":  # make room for fairseq's two rows before the first position
        positions = torch.cat([torch.zeros(2, positions.shape[1], dtype=positions.dtype), positions])
    positions = positions.clone()
    positions[1] = 0  # the padding row
    out[emb + "embed_positions.weight"] = positions
    for part in ("weight", "bias"):
        out[emb + f"layernorm_embedding.{part}"] = hf[f"embeddings.LayerNorm.{part}"]

    for i in range(shape["encoder_layers"]):
        for hf_name, fs_name in family["layer_map"].items():
            for part in ("weight", "bias"):
                out[f"{emb}layers.{i}.{fs_name}.{part}"] = hf[f"{family['layers']}.{i}.{hf_name}.{part}"]

    if "pooler.dense.weight" in hf:
        head = f"classification_heads.{POOLER_HEAD}."
        out[head + "dense.weight"] = hf["pooler.dense.weight"]
        out[head + "dense.bias"] = hf["pooler.dense.bias"]
        out[head + "out_proj.weight"] = torch.zeros(1, shape["encoder_embed_dim"])
        out[head + "out_proj.bias"] = torch.zeros(1)
    return {k: v.float().contiguous() for k, v in out.items()}, shape


def fairseq_template(shape, dict_path, seed=0):
    """A freshly built fairseq RoBERTa state dict of this shape and dictionary: every key fairseq expects."""
    from fairseq.data import Dictionary

    from fairseq_plugins.models.roberta_peft import RobertaPeftModel

    dictionary = Dictionary.load(dict_path)
    dictionary.add_symbol("<mask>")

    class _Task:  # what RobertaModel.build_model asks of a task
        source_dictionary = dictionary

        @staticmethod
        def max_positions():
            return shape["max_positions"]

    torch.manual_seed(seed)
    model = RobertaPeftModel.build_model(argparse.Namespace(**shape, peft="none"), _Task)
    return model.state_dict(), len(dictionary)


def lm_head_state(hf_state):
    """The masked-LM head, where the HF checkpoint has one (BertForMaskedLM, RobertaForMaskedLM)."""
    names = {
        "bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias"),
        "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias"),
    }
    for dense, norm, bias in names.values():
        if dense + ".weight" in hf_state:
            return {
                "encoder.lm_head.dense.weight": hf_state[dense + ".weight"],
                "encoder.lm_head.dense.bias": hf_state[dense + ".bias"],
                "encoder.lm_head.layer_norm.weight": hf_state[norm + ".weight"],
                "encoder.lm_head.layer_norm.bias": hf_state[norm + ".bias"],
                "encoder.lm_head.bias": hf_state[bias],
            }
    return {}


def model_config(shape, data="."):
    """The plain configuration stored in model.pt: fairseq's ``roberta`` plus the LayerNorm eps."""
    # load_checkpoint_heads is listed so that fairseq's hub can switch it on (it only overrides keys
    # that exist) and keep the pooler head instead of deleting it with a warning per tensor
    model = {"_name": "roberta", "arch": "roberta", **shape, "pooler_activation_fn": "tanh",
             "load_checkpoint_heads": False}
    task = {"_name": "masked_lm", "data": data, "tokens_per_sample": shape["max_positions"]}
    return {"model": model, "task": task, "criterion": {"_name": "masked_lm"}, "common": {"user_dir": None},
            "bpe": None}


def _tokenizer_json_model(hf_dir):
    """The ``model`` section of a fast tokenizer's tokenizer.json (what transformers 5 saves)."""
    path = os.path.join(hf_dir, "tokenizer.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)["model"]


def _write_vocab_files(config, hf_dir, out_dir):
    """Write the vocabulary files fairseq's tokenizers read, from the slow or the fast tokenizer files."""
    fast = _tokenizer_json_model(hf_dir)
    if config["model_type"] == "roberta":
        names = {"vocab.json": "encoder.json", "merges.txt": "vocab.bpe"}
        if all(os.path.isfile(os.path.join(hf_dir, n)) for n in names):
            for src, dst in names.items():
                shutil.copyfile(os.path.join(hf_dir, src), os.path.join(out_dir, dst))
            return
        if fast is None or fast.get("type") != "BPE":
            raise CheckpointError(f"{hf_dir}: no vocab.json + merges.txt or tokenizer.json (RoBERTa's BPE files)")
        with open(os.path.join(out_dir, "encoder.json"), "w", encoding="utf-8") as f:
            json.dump(fast["vocab"], f)
        merges = [m if isinstance(m, str) else " ".join(m) for m in fast["merges"]]
        with open(os.path.join(out_dir, "vocab.bpe"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(m + "\n" for m in merges))
        return
    if os.path.isfile(os.path.join(hf_dir, "vocab.txt")):
        shutil.copyfile(os.path.join(hf_dir, "vocab.txt"), os.path.join(out_dir, "vocab.txt"))
        return
    if fast is None or fast.get("type") != "WordPiece":
        raise CheckpointError(f"{hf_dir}: no vocab.txt or tokenizer.json (the WordPiece vocabulary)")
    tokens = sorted(fast["vocab"], key=fast["vocab"].get)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in tokens)


def _lowercase(hf_dir):
    path = os.path.join(hf_dir, "tokenizer_config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("do_lower_case", True)
    return True


def tokenizer_files(config, hf_dir, out_dir):
    """Write the tokenizer files; returns (tokenizer spec for model_info.json, fairseq row order, dict symbols)."""
    _write_vocab_files(config, hf_dir, out_dir)
    if config["model_type"] == "roberta":
        order, symbols = roberta_vocabulary(config)
        return {"type": "gpt2", "encoder_json": "encoder.json", "vocab_bpe": "vocab.bpe"}, order, symbols
    order, symbols = bert_vocabulary(os.path.join(out_dir, "vocab.txt"))
    return {"type": "wordpiece", "vocab": "vocab.txt", "lowercase": _lowercase(hf_dir)}, order, symbols


def convert(hf_dir, out_dir, source_name=None):
    """Convert ``hf_dir`` into ``out_dir`` (written in a temporary sibling, then renamed into place)."""
    config, hf_state, weights_path = read_hf_checkpoint(hf_dir)
    try:
        model_shape(config)
    except KeyError as err:
        raise CheckpointError(f"{os.path.join(hf_dir, 'config.json')}: no {err} (not a BERT, RoBERTa or DistilBERT "
                              "configuration)") from None
    with built_beside(out_dir) as staging:
        tmp = str(staging)
        tokenizer, order, symbols = tokenizer_files(config, hf_dir, tmp)
        if len(order) != hf_state_vocab_size(hf_state):
            raise CheckpointError(f"{hf_dir}: the vocabulary has {len(order)} tokens but the embedding "
                                  f"{hf_state_vocab_size(hf_state)} rows")
        state, shape = convert_state(config, hf_state, order)
        dict_path = os.path.join(tmp, "dict.txt")
        with open(dict_path, "w", encoding="utf-8") as f:
            f.writelines(f"{symbol} 1\n" for symbol in symbols)
        template, dict_size = fairseq_template(shape, dict_path)
        if dict_size != len(order):
            raise CheckpointError(f"{hf_dir}: dict.txt gives {dict_size} symbols, the embedding {len(order)}")
        lm_head = lm_head_state(hf_state)
        if lm_head:
            lm_head["encoder.lm_head.bias"] = lm_head["encoder.lm_head.bias"][order]
        for key, value in {**state, **lm_head}.items():
            if key not in template and not key.startswith(f"classification_heads.{POOLER_HEAD}."):
                raise CheckpointError(f"{hf_dir}: converted {key} has no place in fairseq's RoBERTa")
            if key in template and template[key].shape != value.shape:
                raise CheckpointError(f"{hf_dir}: {key} has shape {tuple(value.shape)}, "
                                      f"fairseq expects {tuple(template[key].shape)}")
        state = {**template, **lm_head, **state}
        state["encoder.lm_head.weight"] = state["encoder.sentence_encoder.embed_tokens.weight"]
        atomic_save(checkpoint_dict(model_config(shape), state), os.path.join(tmp, "model.pt"))
        info = {
            "train_args": train_arguments(shape),
            "shape": shape,
            "tokenizer": tokenizer,
            "has_pooler": f"classification_heads.{POOLER_HEAD}.dense.weight" in state,
            "source": {
                "name": source_name or os.path.abspath(hf_dir),
                "hf_dir": os.path.abspath(hf_dir),  # the HuggingFace twin of this model (scripts/hf_baseline.py)
                "model_type": config["model_type"],
                "weights": os.path.basename(weights_path),
                "sha256": {os.path.basename(p): sha256_of(p) for p in (weights_path, os.path.join(hf_dir, "config.json"))},
            },
        }
        write_model_info(tmp, info)
    return out_dir


def hf_state_vocab_size(hf_state):
    for key, value in hf_state.items():
        if key.endswith("embeddings.word_embeddings.weight"):
            return value.shape[0]
    raise CheckpointError("no word embeddings in the checkpoint")

