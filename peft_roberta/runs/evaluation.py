"""Evaluate a fine-tuned checkpoint on the binarized dev and test splits, through fairseq's own task."""
import os

import torch

from fairseq_plugins.trainable import parameter_report

from ..metrics import task_metrics

HEAD = "sentence_classification_head"


@torch.no_grad()
def predict_split(model, task, split, batch_size=64):
    """(gold, predicted) over a binarized split, in dataset order: class indices, or numbers for regression."""
    task.load_dataset(split)
    dataset = task.dataset(split)
    iterator = task.get_batch_iterator(dataset, max_sentences=batch_size, ignore_invalid_inputs=False).next_epoch_itr(shuffle=False)
    ids, gold, predicted = [], [], []
    for sample in iterator:
        logits = model(**sample["net_input"], features_only=True, classification_head_name=HEAD)[0]
        ids.append(sample["id"])
        gold.append(sample["target"].view(-1))
        predicted.append(logits.view(-1).float() if task.cfg.regression_target else logits.argmax(dim=-1))
    order = torch.cat(ids).argsort()
    return torch.cat(gold)[order].tolist(), torch.cat(predicted)[order].tolist()


def has_split(data_bin, split):
    labels = [os.path.join(data_bin, "label", f"{split}.{ext}") for ext in ("idx", "label")]
    return os.path.isfile(os.path.join(data_bin, "input0", f"{split}.idx")) and any(map(os.path.isfile, labels))


def evaluate_checkpoint(checkpoint, data_bin, splits=("valid", "test")):
    """{"dev": metrics, "test": metrics or None, "trainable_params", "total_params", "best_updates"}."""
    from fairseq_plugins.checkpoints.safety import safe_load

    from ..models.hub import from_pretrained

    state = safe_load(checkpoint)
    history = state["optimizer_history"]
    updates = history[-1]["num_updates"] if history else 0
    hub = from_pretrained(checkpoint, data=data_bin, state=state)
    model, task = hub.model, hub.task
    model.eval()
    num_classes = task.cfg.num_classes
    results = {}
    for split in splits:
        name = "dev" if split == "valid" else split
        if has_split(data_bin, split):
            gold, predicted = predict_split(model, task, split)
            results[name] = task_metrics(gold, predicted, num_classes, task.cfg.regression_target)
        else:
            results[name] = None
    report = parameter_report(model, model.trainable_groups)
    results.update(trainable_params=report["trainable"], total_params=report["total"], best_updates=updates)
    return results


def split_labels(data_bin, split):
    """The labels of a split: from ``examples/`` (prepare_data.py's), else from fairseq's binarized labels."""
    import json

    examples = os.path.join(data_bin, "examples", f"{split}.jsonl")
    if os.path.isfile(examples):
        with open(examples, encoding="utf-8") as f:
            return [json.loads(line)["label"] for line in f if line.strip()]
    from fairseq.data import Dictionary, data_utils

    dictionary = Dictionary.load(os.path.join(data_bin, "label", "dict.txt"))
    dataset = data_utils.load_indexed_dataset(os.path.join(data_bin, "label", split), dictionary)
    return [dictionary[int(item[0])] for item in dataset]


def majority_baseline(data_bin):
    """The training split's most frequent class and the dev accuracy (percent) of always predicting it;
    for regression, the training mean, whose predictions correlate with nothing (dev_accuracy None)."""
    from collections import Counter

    if os.path.isfile(os.path.join(data_bin, "label", "train.label")):
        with open(os.path.join(data_bin, "label", "train.label"), encoding="utf-8") as f:
            scores = [float(line) for line in f if line.strip()]
        return {"class": round(sum(scores) / len(scores), 4), "dev_accuracy": None}

    labels = lambda split: split_labels(data_bin, split)  # noqa: E731

    majority = Counter(labels("train")).most_common(1)[0][0]
    dev = labels("valid")
    return {"class": majority, "dev_accuracy": 100.0 * sum(label == majority for label in dev) / len(dev)}
