"""The HuggingFace architecture that computes what a fairseq RoBERTa of the plugin computes.

The twin needs no HuggingFace checkpoint: its configuration comes from the fairseq model's shape,
its weights from the fairseq model itself (``hf.weights``), its inputs from fairseq's own token
ids (``hf.data``). What differs per family:
  - ``bert`` (WordPiece models: MiniLM, BERT-tiny's shape): ``BertForSequenceClassification``;
    vocabulary rows in BERT's order (fairseq moved the special tokens first), positions from row 0
    (fairseq's from row 2), a pooler (dense + tanh) and a classifier: fairseq's head exactly;
  - ``roberta`` (GPT-2 BPE and sentencepiece models): ``RobertaForSequenceClassification``, the same
    rows, positions and head as fairseq's RoBERTa;
  - ``distilbert``: ``DistilBertForSequenceClassification``; its head applies ReLU where fairseq's
    applies tanh (a difference by design, listed in ``hf.DIFFERENCES``).
"""
import os

from ..errors import UserError
from ..models.conversion import FAMILIES, bert_vocabulary

# per family: the head's two parts (fairseq's dense, out_proj) inside the HF task model
HEADS = {
    "bert": {"dense": "bert.pooler.dense", "out_proj": "classifier"},
    "roberta": {"dense": "classifier.dense", "out_proj": "classifier.out_proj"},
    "distilbert": {"dense": "pre_classifier", "out_proj": "classifier"},
}
ACTIVATIONS = {"gelu": "gelu", "gelu_accurate": "gelu_new", "relu": "relu"}
POSITION_OFFSET = {"bert": 2, "distilbert": 2, "roberta": 0}  # fairseq's position rows before HF's first


def family_of(model_dir):
    """The HF family of a model directory (None: a model the recipe built, fairseq's own RoBERTa)."""
    if not model_dir:
        return "roberta"
    from ..model_dir import read_model_info

    info = read_model_info(model_dir)
    if (info.get("source") or {}).get("model_type") == "distilbert":
        return "distilbert"
    return "bert" if (info.get("tokenizer") or {}).get("type") == "wordpiece" else "roberta"


def hf_ids(family, model_dir, dictionary_size):
    """fairseq index -> HF token id (a list), and the HF vocabulary size."""
    if family == "roberta":
        return list(range(dictionary_size)), dictionary_size
    vocab = os.path.join(model_dir, "vocab.txt")
    if not os.path.isfile(vocab):
        raise UserError(f"{vocab}: missing (the twin of a WordPiece model needs its vocabulary)")
    order, _ = bert_vocabulary(vocab)
    if len(order) != dictionary_size:
        raise UserError(f"{vocab}: {len(order)} tokens, but fairseq's dictionary has {dictionary_size}")
    return order, len(order)


def hf_config(family, args, vocab_size, num_labels, pad_id, regression=False):
    """The transformers configuration of the fairseq model described by ``args`` (one output for regression)."""
    from transformers import BertConfig, DistilBertConfig, RobertaConfig

    activation = ACTIVATIONS.get(args.activation_fn)
    if activation is None:
        raise UserError(f"--activation-fn {args.activation_fn}: no HuggingFace counterpart")
    positions = args.max_positions
    if regression:
        num_labels = 1
    if family == "distilbert":
        return DistilBertConfig(vocab_size=vocab_size, dim=args.encoder_embed_dim, n_layers=args.encoder_layers,
                                n_heads=args.encoder_attention_heads, hidden_dim=args.encoder_ffn_embed_dim,
                                activation=activation, dropout=args.dropout, attention_dropout=args.attention_dropout,
                                seq_classif_dropout=args.pooler_dropout, max_position_embeddings=positions,
                                pad_token_id=pad_id, num_labels=num_labels)
    common = dict(vocab_size=vocab_size, hidden_size=args.encoder_embed_dim, num_hidden_layers=args.encoder_layers,
                  num_attention_heads=args.encoder_attention_heads, intermediate_size=args.encoder_ffn_embed_dim,
                  hidden_act=activation, hidden_dropout_prob=args.dropout,
                  attention_probs_dropout_prob=args.attention_dropout, classifier_dropout=args.pooler_dropout,
                  layer_norm_eps=args.layer_norm_eps, pad_token_id=pad_id, num_labels=num_labels)
    common["problem_type"] = "regression" if regression else "single_label_classification"
    if family == "bert":
        return BertConfig(max_position_embeddings=positions, type_vocab_size=2, **common)
    return RobertaConfig(max_position_embeddings=positions + 2, type_vocab_size=1, bos_token_id=0, eos_token_id=2,
                         **common)


def layers_path(family):
    """Where the encoder layers sit in the HF task model."""
    prefix = {"bert": "bert", "roberta": "roberta", "distilbert": "distilbert"}[family]
    return f"{prefix}.{FAMILIES[family]['layers']}"


def layer_module_names(family):
    """fairseq name inside a layer (q_proj ... fc2, self_attn_layer_norm, ...) -> HF name."""
    return {fs.split(".")[-1]: hf for hf, fs in FAMILIES[family]["layer_map"].items()}
