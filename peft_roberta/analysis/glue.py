"""The GLUE table: one column per task (its GLUE metric, on its dev split), one row per model, method,
init and implementation of ours (mean ± std over seeds), and the published RoBERTa-base rows beside.

Each task's figure is the metric GLUE and the LoRA paper report for it, on the split that chose the
best checkpoint (GLUE's test labels are not public: dev is reported, as in those papers).
"""
import pandas as pd

from ..published import GLUE_PUBLISHED, GLUE_TASK_ORDER
from ..runs.tasks import TASKS
from .stats import describe
from .tables import markdown, mean_std

NAMES = {"mnli": "MNLI", "sst2": "SST-2", "mrpc": "MRPC", "cola": "CoLA", "qnli": "QNLI", "qqp": "QQP",
         "rte": "RTE", "stsb": "STS-B"}
METRIC_NAMES = {"accuracy": "acc", "mcc": "MCC", "pearson": "Pearson"}


def column(task):
    """``CoLA MCC (dev)``: the task, its metric and its split."""
    return f"{NAMES[task]} {METRIC_NAMES[TASKS[task].metric]} (dev)"


def glue_frame(rows: pd.DataFrame):
    """(our rows, the tasks present): mean ± std of each task's metric per model, method, init and impl."""
    tasks = [t for t in GLUE_TASK_ORDER if t in set(rows["task"])]
    keys = ["model", "method", "init", "impl"] + (["setting"] if "setting" in rows else [])  # never pool settings
    table = []
    for key, block in rows[rows["task"].isin(tasks)].groupby(keys, sort=True):
        line = dict(zip(keys, key))
        for task in tasks:
            values = block.loc[block["task"] == task, f"dev_{TASKS[task].metric}"].dropna()
            stat = describe(values.tolist())
            line[column(task)] = mean_std(stat["mean"], stat["std"], stat["n"], digits=1)
            if task == "mnli" and "test_accuracy" in block:  # mismatched dev, beside matched
                extra = describe(block.loc[block["task"] == task, "test_accuracy"].dropna().tolist())
                line["MNLI-mm acc (dev mismatched)"] = mean_std(extra["mean"], extra["std"], extra["n"], digits=1)
        table.append(line)
    return pd.DataFrame(table), tasks


def published_frame(tasks):
    rows = []
    for source, figures in GLUE_PUBLISHED:
        if not any(figures.get(t) is not None for t in tasks):
            continue
        row = {"model": source, "method": "", "init": "pretrained", "impl": "published"}
        row.update({column(t): ("–" if figures.get(t) is None else f"{figures[t]:.1f}") for t in tasks})
        rows.append(row)
    return pd.DataFrame(rows)


def glue_table(rows: pd.DataFrame) -> str:
    """The Markdown table: ours first, then the published rows, columns in GLUE's order."""
    ours, tasks = glue_frame(rows)
    if "setting" in ours and not ours["setting"].astype(bool).any():  # one setting per task: nothing to tell apart
        ours = ours.drop(columns="setting")
    both = pd.concat([ours, published_frame(tasks)], ignore_index=True).fillna("–")
    return markdown(both)
