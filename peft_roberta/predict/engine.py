"""Texts to class probabilities: encoded as the recipe's data was, in length-bucketed batches.

The hub's ``encode`` gives the tokens the data-bin holds for the same text (``<s> a </s>``, a pair
``<s> a </s> </s> b </s>``), cut to the model's maximum positions as the recipes' ``--shorten-method
truncate`` cuts them. Rows are ordered by length, ties in the seeded random order of the plugin's
length-bucketed task, cut into batches and put back in input order: a data-bin split is batched, padded
and computed exactly as the recipe's evaluation computed it.
"""
import contextlib
import sys

import numpy as np
import torch

from .models import HEAD

PROGRESS_MIN_ROWS = 1000  # a progress bar from this many rows (times models) on


def max_tokens(hub):
    """The longest input the model and the task take (``--max-positions``)."""
    limits = [hub.model.max_positions(), getattr(hub.task, "max_positions", lambda: None)()]
    return min(limit for limit in limits if isinstance(limit, int))


def encode(hub, rows, limit=None):
    """Token tensors of every row, truncated to ``limit`` (default: the model's maximum positions)."""
    if hub.bpe is None:
        from ..errors import UserError

        raise UserError(f"{hub.cfg.task.data}: the data-bin records no tokenizer (no tokenizer/ folder): give "
                        "--tokenizer MODEL_DIR, the model directory the data was prepared for")
    limit = limit or max_tokens(hub)
    return [hub.encode(*row.texts)[:limit] for row in rows]


def length_order(lengths, seed=1):
    """Indices by increasing length, ties in the order of the length-bucketed task (its seeded permutation)."""
    from fairseq.data import data_utils

    with data_utils.numpy_seed(seed):
        shuffle = np.random.permutation(len(lengths))
    return np.lexsort([shuffle, np.asarray(lengths)]).tolist()


@contextlib.contextmanager
def precision(model, bf16):
    """bf16: matrix products in bfloat16 under torch.autocast (the plugin's --autocast-bf16), else fp32."""
    if hasattr(model, "args") and hasattr(model.args, "autocast_bf16"):  # the plugin's roberta_peft
        before = model.args.autocast_bf16
        model.args.autocast_bf16 = bf16
        try:
            yield
        finally:
            model.args.autocast_bf16 = before
    else:
        with torch.autocast("cpu", torch.bfloat16) if bf16 else contextlib.nullcontext():
            yield


@torch.no_grad()
def probabilities(hub, tokens, order, batch_size=64, bf16=False, progress=None):
    """Softmax of each row's logits (float32, rows in input order)."""
    from fairseq.data import data_utils

    model, pad = hub.model, hub.task.source_dictionary.pad()
    head = model.classification_heads[HEAD]
    out = torch.empty(len(tokens), head.out_proj.out_features)
    with precision(model, bf16):
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            src = data_utils.collate_tokens([tokens[i] for i in batch], pad_idx=pad)
            logits = model(src, features_only=True, classification_head_name=HEAD)[0]
            out[batch] = torch.softmax(logits.float(), dim=-1)
            if progress is not None:
                progress.update(len(batch))
    return out


def progress_bar(total, name=None, enabled=True):
    """tqdm on stderr for long inputs; None for short ones."""
    if not enabled or total < PROGRESS_MIN_ROWS:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit=" rows", file=sys.stderr, leave=False, dynamic_ncols=True)


def task_seed(hub):
    return getattr(hub.task.cfg, "seed", 1)
