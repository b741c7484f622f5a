"""The row a finished run appends to ``runs.jsonl``: who it is, what it measured, on which split."""
import os
import resource

from .. import machine
from .evaluation import evaluate_checkpoint, majority_baseline


def metric_fields(prefix, metrics):
    if metrics is None:
        return {f"{prefix}_accuracy": None}
    return {f"{prefix}_{name}": round(value, 4) for name, value in metrics.items()}


def versions(impl):
    from importlib.metadata import PackageNotFoundError, version

    names = ["torch", "fairseq-fixed", "fairseq"] + (["transformers", "peft"] if impl == "hf" else [])
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def build_row(run, trained, command):
    """Evaluate the run's best checkpoint (the HF twin evaluates its own) and compose its row; ``command``:
    the training command line, as text."""
    point = run.point
    if run.impl == "hf":
        import json

        with open(os.path.join(run.save_dir, "hf_result.json"), encoding="utf-8") as f:
            results = json.load(f)
    else:
        results = evaluate_checkpoint(os.path.join(run.save_dir, "checkpoint_best.pt"), point["data_bin"])
    majority = majority_baseline(point["data_bin"])
    dev = results["dev"]
    fingerprints = {"data_sha": point["data_fingerprint"][:12],
                    "model_sha": run.identity["model"]["digest"][:12],
                    "options_sha": options_digest(run.identity["options"])}
    return {
        "run_id": run.run_id, "group_id": _group(run),
        "recipe": point["recipe"], "task": point["task"], "model": point["model"], "method": point["method"],
        "init": run.init, "seed": run.seed, "impl": run.impl, "profile": point["profile"],
        "precision": point["precision"], "point": point["label"], "config": {**point["config"], **fingerprints},
        **metric_fields("dev", dev), **metric_fields("test", results["test"]),
        "splits": point["splits"],
        **at_majority(dev, majority),
        "trainable_params": results["trainable_params"], "total_params": results["total_params"],
        "updates": trained["updates"], "best_updates": results["best_updates"], "world_size": run.world_size,
        "wall_s": trained["train_s"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "data_bin": point["data_bin"], "save_dir": run.save_dir, "command": command,
        "machine": machine.describe(), "date": machine.today(), "versions": versions(run.impl),
        "identity": run.identity,
    }


def at_majority(dev, majority):
    """Whether the run is no better than always predicting the training split's majority class (for
    regression: its mean, which correlates with nothing)."""
    if majority["dev_accuracy"] is None:
        return {"majority_class": majority["class"], "majority_dev_accuracy": None,
                "at_majority": bool(dev["pearson"] <= 0.0)}
    return {"majority_class": majority["class"], "majority_dev_accuracy": round(majority["dev_accuracy"], 4),
            "at_majority": bool(dev["accuracy"] <= majority["dev_accuracy"] + 1e-9)}


def options_digest(options):
    """What the options of a group share: everything but the seed (pretrained and random, fairseq
    and its twin, have the same options)."""
    from .identity import digest

    return digest({k: v for k, v in options.items() if k != "seed"})[:12]


def _group(run):
    from .identity import group_id

    return group_id(run.identity)


def describe(row):
    if row.get("dev_accuracy") is None:  # regression
        dev = f"dev pearson {row['dev_pearson']:.2f} spearman {row['dev_spearman']:.2f}"
        test = f"test pearson {row['test_pearson']:.2f}" if row.get("test_pearson") is not None else "no labelled test"
        flag = " (no better than a constant)" if row["at_majority"] else ""
        return (f"[{row['recipe']}] {row['impl']} {row['init']} seed {row['seed']}: {dev}{flag} | {test} | "
                f"{row['updates']:,} updates in {row['wall_s']:.0f} s | {row['trainable_params']:,} trained")
    dev = f"dev acc {row['dev_accuracy']:.2f}"
    headline = _headline_metric(row.get("task"))
    if headline not in ("accuracy", "pearson") and row.get(f"dev_{headline}") is not None:  # CoLA: MCC first
        dev = f"dev {headline} {row[f'dev_{headline}']:.2f} acc {row['dev_accuracy']:.2f}"
    for extra in ("dev_f1", "dev_macro_f1"):
        if row.get(extra) is not None and (extra != "dev_macro_f1" or row.get("dev_f1") is None):
            dev += f" {extra[4:]} {row[extra]:.2f}"
    if row["at_majority"]:
        dev += f" (no better than always '{row['majority_class']}': {row['majority_dev_accuracy']:.2f})"
    test = f"test acc {row['test_accuracy']:.2f}" if row.get("test_accuracy") is not None else "no labelled test"
    return (f"[{row['recipe']}] {row['impl']} {row['init']} seed {row['seed']}: {dev} | {test} | "
            f"{row['updates']:,} updates in {row['wall_s']:.0f} s | {row['trainable_params']:,} trained")


def _headline_metric(task):
    """The metric the task is judged and its checkpoint chosen on (``runs.tasks``), accuracy if unknown."""
    from .tasks import TASKS

    return TASKS[task].metric if task in TASKS else "accuracy"
