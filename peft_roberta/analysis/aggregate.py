"""Runs aggregated over seeds (mean, std, 95% CI per group and metric) and Welch's t-tests between
groups that differ only in their init (pretrained vs random) or their implementation (fairseq vs hf).

A group is (task, model, method, init, impl, config). No fairseq or torch import.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .load import GROUP_COLUMNS, GROUP_KEYS, metric_columns, with_config

SUMMARY_COLUMNS = GROUP_COLUMNS + (
    "metric", "n", "mean", "std", "min", "max", "ci95_low", "ci95_high", "seeds",
)
COMPARISON_COLUMNS = (
    "comparison", "task", "model", "method", "init", "impl", "config", "metric",
    "group_a", "group_b", "n_a", "n_b", "mean_a", "mean_b", "diff", "t", "p", "note",
)
# (key that differs, side A, side B): groups identical except for that key are compared.
COMPARISONS = (("init", "pretrained", "random"), ("impl", "fairseq", "hf"))


def _seed_list(seeds: pd.Series) -> str:
    values = sorted(int(s) for s in seeds.dropna()) if seeds.notna().any() else []
    return " ".join(str(s) for s in values)


def aggregate(rows: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Long summary: one row per (group, metric) with n, mean, std, min, max and 95% CI.

    Runs without a value for a metric are left out of that metric only; n=1 gives NaN std and CI.
    """
    rows = with_config(rows)
    metrics = list(metrics) if metrics is not None else metric_columns(rows)
    has_seed = "seed" in rows.columns
    parts = []
    for metric in metrics:
        values = pd.to_numeric(rows[metric], errors="coerce")
        present = rows.loc[values.notna(), list(GROUP_COLUMNS)].copy()
        if present.empty:
            continue
        present["value"] = values[values.notna()].astype(float)
        present["seed"] = pd.to_numeric(rows.loc[values.notna(), "seed"], errors="coerce") \
            if has_seed else np.nan
        grouped = present.groupby(list(GROUP_COLUMNS), sort=True)
        table = grouped["value"].agg(n="count", mean="mean", std="std", min="min", max="max")
        table["seeds"] = grouped["seed"].agg(_seed_list)
        table = table.reset_index()
        table.insert(len(GROUP_COLUMNS), "metric", metric)
        parts.append(table)
    if not parts:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    summary = pd.concat(parts, ignore_index=True)
    summary["n"] = summary["n"].astype(int)
    half = np.array([stats.ci_half_width(s, n) for s, n in zip(summary["std"], summary["n"])])
    summary["ci95_low"] = summary["mean"] - half
    summary["ci95_high"] = summary["mean"] + half
    order = {name: i for i, name in enumerate(metrics)}
    summary["_order"] = summary["metric"].map(order)
    summary = summary.sort_values(list(GROUP_COLUMNS) + ["_order"], kind="stable")
    return summary[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def group_label(values: dict) -> str:
    """``task/model/method/init/impl [config]``."""
    label = "/".join(str(values[key]) for key in GROUP_KEYS)
    return f"{label} [{values['config']}]" if values.get("config") else label


def _comparison(a, b) -> dict:
    """Welch's test of a - b (stats.welch), with a note where no test is possible."""
    result = stats.welch(a, b)
    note = ""
    if a.size < 2 or b.size < 2:
        note = "needs n>=2 on both sides"
    elif np.isnan(result["p"]):
        note = "no variance on either side"
    mean_a = float(a.mean()) if a.size else np.nan
    mean_b = float(b.mean()) if b.size else np.nan
    return {"n_a": int(a.size), "n_b": int(b.size), "mean_a": mean_a, "mean_b": mean_b,
            "diff": mean_a - mean_b, "t": result["t"], "p": result["p"], "note": note}


def welch_comparisons(rows: pd.DataFrame, metrics) -> pd.DataFrame:
    """Welch's t-test between groups that differ only in init, or only in impl.

    t and p are NaN (with a note) unless both sides have at least two values and some variance.
    """
    rows = with_config(rows)
    records = []
    for key, side_a, side_b in COMPARISONS:
        shared = [c for c in GROUP_COLUMNS if c != key]
        candidates = rows[rows[key].isin([side_a, side_b])]
        for shared_values, block in candidates.groupby(shared, sort=True):
            a_rows = block[block[key] == side_a]
            b_rows = block[block[key] == side_b]
            if a_rows.empty or b_rows.empty:
                continue
            fixed = dict(zip(shared, shared_values))
            for metric in metrics:
                a = pd.to_numeric(a_rows[metric], errors="coerce").dropna().to_numpy(float)
                b = pd.to_numeric(b_rows[metric], errors="coerce").dropna().to_numpy(float)
                if a.size == 0 and b.size == 0:
                    continue
                records.append({
                    "comparison": f"{key}: {side_a} vs {side_b}",
                    **fixed, key: "*", "metric": metric,
                    "group_a": group_label({**fixed, key: side_a}),
                    "group_b": group_label({**fixed, key: side_b}),
                    **_comparison(a, b),
                })
    return pd.DataFrame.from_records(records, columns=list(COMPARISON_COLUMNS))
