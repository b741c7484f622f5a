"""The lockstep check over several methods on a pretrained model (``scripts/lockstep_check.py``)."""
import shlex

from .. import machine, paths
from ..analysis.tables import markdown_rows
from ..runs.plan import fairseq_options
from ..runs.settings import RECIPE_METHODS, profile_defaults

TWIN_METHODS = ("lora", "dora", "rslora", "bitfit", "ia3", "full")  # the recipe methods peft has a twin of
DATA_SIZE = 4000  # SST-2 training sentences prepared for the check (more than 100 batches of 32)


def lockstep_argv(method, model_dir, data_bin, batch_size, train_args, num_classes):
    """The fairseq-train command line of a quick-profile SST-2 run of ``method``, dropout off, fp32."""
    from ..runs.experiment import train_argv

    settings = {**profile_defaults("quick", "sst2", method), **RECIPE_METHODS[method][1], "dropout": 0.0,
                "batch": batch_size, "max_train": None}
    options, _ = fairseq_options(settings, method, DATA_SIZE, "fp32")
    point = {"data_bin": str(data_bin), "model_dir": model_dir, "train_args": train_args, "num_classes": num_classes,
             "method": method, "fairseq_options": options, "distributed": {"processes": 1}, "config": settings}
    return train_argv(point, "pretrained", 1, "fairseq") + ["--save-dir", "/tmp/lockstep-unused", "--cpu"]


def run_lockstep(model, methods, updates, batch_size, work_dir=None):
    import json

    from ..model_dir import train_args
    from ..models.pretrained import resolve
    from ..runs.task_data import prepare_task
    from .lockstep import lockstep

    model_dir = resolve(model)
    data_bin = prepare_task("sst2", model_dir, work_dir or paths.PROJECT_ROOT, max_train=DATA_SIZE)
    classes = json.loads((data_bin / "labels.json").read_text())["classes"]
    results = []
    for method in methods:
        argv = lockstep_argv(method, model_dir, data_bin, batch_size, train_args(model_dir), len(classes))
        result = lockstep(argv, model_dir, updates)
        result.update(method=method, argv=shlex.join(argv))
        results.append(result)
        print(f"{method}: loss {result['first_loss']:.4f} -> {result['last_loss']:.4f}, largest relative loss gap "
              f"{result['max_relative_loss_gap']:.2e}, largest parameter gap {result['max_parameter_gap']:.2e}",
              flush=True)
    return results


def lockstep_table(results, model, tolerance):
    rows = [[r["method"], r["updates"], f"{r['first_loss']:.4f} → {r['last_loss']:.4f}",
             f"{r['start_logit_difference']:.1e}", f"{r['max_relative_loss_gap']:.1e}", f"{r['lr_gap']:.1e}",
             f"{r['max_parameter_gap']:.1e} ({r['worst_parameter']})", r["trained_tensors"],
             "yes" if max(r["max_relative_loss_gap"], r["max_parameter_gap"]) <= tolerance else "NO"]
            for r in results]
    header = ["method", "updates", "loss (nats), first → last", "logit gap at step 0", "largest relative loss gap",
              "largest learning-rate gap", "largest trained-parameter gap at the end", "trained tensors",
              f"within {tolerance:g}"]
    return (f"Lockstep check: fairseq + plugin against its HuggingFace twin, same batches, dropout 0, fp32 "
            f"({machine.describe()}; model `{model}`, SST-2, batch {results[0]['argv'].split('--batch-size ')[1].split()[0]}; "
            f"{machine.today()}; `python scripts/lockstep_check.py`).\n\n" + markdown_rows(header, rows) + "\n")
