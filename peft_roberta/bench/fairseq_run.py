"""fairseq + the plugin in-process, as a recipe runs it: the quick profile's fairseq-train options for a
method (``runs.plan``), composed into a command line as a run composes it (``runs.experiment``), built
by fairseq itself up to its first update (``hf.weights.fairseq_start``); then fairseq's own
``Trainer.train_step`` on the plugin's length-bucketed batches.
"""
import os

from .measure import count_lines, num_classes, precision_options


def training_argv(method, model_dir, data_bin, batch_size, device, precision, save_dir, lr=None, seed=1):
    """The fairseq-train command line of a quick-profile SST-2 run of ``method`` on ``data_bin`` (the
    method's quick learning rate unless ``lr``), saving (if ever) into ``save_dir``."""
    from ..model_dir import train_args
    from ..runs.experiment import train_argv
    from ..runs.plan import fairseq_options
    from ..runs.settings import profile_defaults

    settings = {**profile_defaults("quick", "sst2", method), "batch": batch_size, "max_train": None}
    if lr is not None:
        settings["lr"] = lr
    n_train = count_lines(os.path.join(data_bin, "examples", "train.jsonl"))
    options, _ = fairseq_options(settings, method, n_train, "fp32")
    point = {"data_bin": str(data_bin), "model_dir": model_dir, "train_args": train_args(model_dir),
             "num_classes": num_classes(data_bin), "method": method, "fairseq_options": options,
             "distributed": {"processes": 1}, "config": settings}
    init = "pretrained" if os.path.isfile(os.path.join(model_dir, "model.pt")) else "random"
    return train_argv(point, init, seed, "fairseq") + ["--save-dir", save_dir] + precision_options(device, precision)


def start(argv):
    """(cfg, task, trainer) at step 0, the training split loaded."""
    from ..hf.weights import fairseq_start

    cfg, task, _, trainer = fairseq_start(argv)
    task.load_dataset(cfg.dataset.train_subset, combine=True, epoch=1)
    return cfg, task, trainer


def epoch_batches(trainer):
    """One epoch's batches as fairseq-train draws them (shuffled length buckets)."""
    epoch = trainer.get_train_iterator(epoch=1, load_dataset=False)
    return list(epoch.next_epoch_itr(shuffle=True))


def valid_batches(task, device, batch_size=64):
    """The dev split in batches of ``batch_size`` (the task's order), on ``device``."""
    from fairseq import utils

    iterator = task.get_batch_iterator(task.dataset("valid"), max_sentences=batch_size, seed=1,
                                       ignore_invalid_inputs=False).next_epoch_itr(shuffle=False)
    for batch in iterator:
        yield utils.move_to_cuda(batch) if device == "cuda" else batch


def logits(model, batch, head):
    return model(**batch["net_input"], features_only=True, classification_head_name=head)[0]


def dev_accuracy(trainer, task, cfg, device):
    """Accuracy (percent) on the dev split, the model in eval mode (then back in training mode)."""
    import torch

    model = trainer.model
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for batch in valid_batches(task, device):
            predicted = logits(model, batch, cfg.model.classification_head_name).argmax(-1)
            correct += int((predicted == batch["target"].view(-1)).sum())
            total += int(batch["nsentences"])
    model.train()
    return 100.0 * correct / total
