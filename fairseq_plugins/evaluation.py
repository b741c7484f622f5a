"""Evaluate a fine-tuned checkpoint on the binarized dev and test splits, through fairseq's own task."""
import os

import torch

from .metrics import classification_metrics
from .trainable import parameter_report

HEAD = "sentence_classification_head"


@torch.no_grad()
def predict_split(model, task, split, batch_size=64):
    """(gold class indices, predicted class indices) over a binarized split, in dataset order."""
    task.load_dataset(split)
    dataset = task.dataset(split)
    iterator = task.get_batch_iterator(dataset, max_sentences=batch_size, ignore_invalid_inputs=False).next_epoch_itr(shuffle=False)
    ids, gold, predicted = [], [], []
    for sample in iterator:
        logits = model(**sample["net_input"], features_only=True, classification_head_name=HEAD)[0]
        ids.append(sample["id"])
        gold.append(sample["target"].view(-1))
        predicted.append(logits.argmax(dim=-1))
    order = torch.cat(ids).argsort()
    return torch.cat(gold)[order].tolist(), torch.cat(predicted)[order].tolist()


def has_split(data_bin, split):
    return os.path.isfile(os.path.join(data_bin, "input0", f"{split}.idx")) and \
        os.path.isfile(os.path.join(data_bin, "label", f"{split}.idx"))


def evaluate_checkpoint(checkpoint, data_bin, splits=("valid", "test")):
    """{"dev": metrics, "test": metrics or None, "trainable_params", "total_params", "best_updates"}."""
    from .checkpoint_safety import safe_load
    from .hub import from_pretrained

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
            results[name] = classification_metrics(gold, predicted, num_classes)
        else:
            results[name] = None
    report = parameter_report(model, model.trainable_groups)
    results.update(trainable_params=report["trainable"], total_params=report["total"], best_updates=updates)
    return results
