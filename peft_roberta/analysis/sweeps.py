"""Hyper-parameter sweeps: groups of runs that differ in their configuration, the configuration chosen
on a dev metric (never on test), and the layout of a sweep's heat map.

No fairseq or torch import.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .load import CONFIG_PARAMS, GROUP_COLUMNS, GROUP_KEYS, InputError, format_config_value, is_number

SWEEP_COLUMNS = (
    "task", "model", "method", "init", "impl", "n_configs", "best_config",
    "select_metric", "select_n", "select_mean", "select_std",
    "runner_up_config", "runner_up_mean",
    "test_metric", "test_n", "test_mean", "test_std", "test_ci95_low", "test_ci95_high",
)
# config keys a recipe computes from others (updates from batch and epochs): never an axis of a heat map
# while a setting they depend on is swept, and never held fixed
DERIVED_KEYS = frozenset({"updates", "warmup_updates"})


def in_group(summary: pd.DataFrame, key: tuple) -> np.ndarray:
    """Mask of the summary rows of one (task, model, method, init, impl)."""
    return np.logical_and.reduce([summary[name] == value for name, value in zip(GROUP_KEYS, key)])


def choose_config(candidates: pd.DataFrame) -> pd.DataFrame:
    """Rank configs of one sweep on a single dev metric: columns config, mean, std.

    Best first: highest mean, then smaller std (n=1, std NaN, ranks after any
    finite std), then config string. Only the given dev-metric table is seen.
    """
    ranked = candidates.assign(
        _mean=-candidates["mean"].round(9),
        _std=candidates["std"].fillna(math.inf),
    )
    ranked = ranked.sort_values(["_mean", "_std", "config"], kind="stable")
    return ranked.drop(columns=["_mean", "_std"]).reset_index(drop=True)


def _parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def config_params(rows: pd.DataFrame) -> dict[str, dict]:
    """Map canonical config string -> parsed hyper-parameters."""
    params = {}
    for config, parsed in zip(rows["config"], rows.get(CONFIG_PARAMS, rows["config"])):
        if config in params:
            continue
        if isinstance(parsed, dict):
            params[config] = parsed
        else:  # rows built without load_runs: parse "k=v k=v"
            pairs = (item.split("=", 1) for item in str(config).split() if "=" in item)
            params[config] = {k: _parse_value(v) for k, v in pairs}
    return params


def find_sweeps(rows: pd.DataFrame) -> dict[tuple, list[str]]:
    """(task, model, method, init, impl) -> sorted configs, for keys with >1 config."""
    configs = rows.groupby(list(GROUP_KEYS), sort=True)["config"].agg(lambda c: sorted(set(c)))
    return {key: value for key, value in configs.items() if len(value) > 1}


def select_best(summary: pd.DataFrame, sweeps: dict, select_metric: str, warn) -> pd.DataFrame:
    """sweep_best table: best config per sweep on `select_metric`, with its test result."""
    if select_metric.startswith("test_"):
        raise InputError("--select-metric: selection must not use a test_ metric")
    test_metric = "test_" + select_metric[len("dev_"):] if select_metric.startswith("dev_") else ""
    records = []
    for key, configs in sweeps.items():
        group = in_group(summary, key)
        dev = summary.loc[group & (summary["metric"] == select_metric), ["config", "n", "mean", "std"]]
        if dev.empty:
            warn(f"warning: sweep {'/'.join(key)}: no config has {select_metric}; not selected")
            continue
        ranked = choose_config(dev)
        best = ranked.iloc[0]
        record = dict(zip(GROUP_KEYS, key))
        record.update({
            "n_configs": len(configs), "best_config": best["config"],
            "select_metric": select_metric, "select_n": int(best["n"]),
            "select_mean": best["mean"], "select_std": best["std"],
            "runner_up_config": ranked["config"].iloc[1] if len(ranked) > 1 else "",
            "runner_up_mean": ranked["mean"].iloc[1] if len(ranked) > 1 else math.nan,
            "test_metric": test_metric,
        })
        # The test result is looked up only after the choice is made.
        test = summary.loc[group & (summary["config"] == best["config"])
                           & (summary["metric"] == test_metric)]
        if not test.empty:
            row = test.iloc[0]
            record.update({"test_n": int(row["n"]), "test_mean": row["mean"],
                           "test_std": row["std"], "test_ci95_low": row["ci95_low"],
                           "test_ci95_high": row["ci95_high"]})
        else:
            record["test_n"] = 0
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(SWEEP_COLUMNS))


def chosen_configs(summary: pd.DataFrame, sweeps: dict, sweep_best: pd.DataFrame) -> pd.DataFrame:
    """The configuration shown per (task, model, method, init, impl): the only one, or the sweep's best."""
    chosen = summary[list(GROUP_COLUMNS)].drop_duplicates()
    chosen = chosen[[tuple(g) not in sweeps for g in chosen[list(GROUP_KEYS)].itertuples(
        index=False, name=None)]]
    picked = sweep_best[list(GROUP_KEYS)].assign(config=sweep_best["best_config"])
    return pd.concat([chosen, picked], ignore_index=True)


def _sort_values(values) -> list:
    def key(v):
        if v is None:
            return (0, 0, "")
        if is_number(v):
            return (1, float(v), "")
        return (2, 0, format_config_value(v))
    return sorted(values, key=key)


def sweep_grid(grid: pd.DataFrame, params: dict[str, dict], best_config: str) -> dict:
    """Lay the configs of one sweep (columns config, mean, std, n) out on two axes.

    Axes are the swept hyper-parameters with the most values (ties: by name;
    DERIVED_KEYS only when nothing else varies); the first goes along x. Any
    further swept keys are fixed at the best
    config's values. Returns x_key, y_key (None for a 1-row grid), x_values,
    y_values, fixed, means (rows x columns, NaN where no run), texts and best_cell.
    """
    configs = list(grid["config"])
    keys = sorted({key for config in configs for key in params[config]})
    values = {key: _sort_values(
        list({format_config_value(params[c].get(key)): params[c].get(key) for c in configs}.values())
    ) for key in keys}
    swept = sorted((k for k in keys if len(values[k]) > 1), key=lambda k: (-len(values[k]), k))
    # settings the recipe derives from the swept ones (batch or epochs set the updates) are no axes
    chosen = [k for k in swept if k not in DERIVED_KEYS]
    swept = chosen or swept
    if not swept:  # only one config of the sweep has the metric: a single cell
        params = {best_config: {"config": best_config or "(no config)"}}
        swept, values = ["config"], {"config": [best_config or "(no config)"]}
    x_key = swept[0]
    y_key = swept[1] if len(swept) > 1 else None
    best = params[best_config]
    fixed = {key: best.get(key) for key in swept[2:]}
    shown = grid[[all(format_config_value(params[c].get(k)) == format_config_value(v)
                      for k, v in fixed.items()) for c in configs]]

    x_values = values[x_key]
    y_values = values[y_key] if y_key else [None]
    x_labels = [format_config_value(v) for v in x_values]
    y_labels = [format_config_value(v) for v in y_values]
    means = np.full((len(y_values), len(x_values)), np.nan)
    texts = {}
    best_cell = None
    for _, row in shown.iterrows():
        p = params[row["config"]]
        col = x_labels.index(format_config_value(p.get(x_key)))
        line = y_labels.index(format_config_value(p.get(y_key))) if y_key else 0
        means[line, col] = row["mean"]
        spread = f"\n±{row['std']:.2f}" if row["n"] >= 2 else ""
        texts[(line, col)] = f"{row['mean']:.2f}{spread}\nn={int(row['n'])}"
        if row["config"] == best_config:
            best_cell = (line, col)
    return {"x_key": x_key, "y_key": y_key, "x_values": x_values, "y_values": y_values,
            "x_labels": x_labels, "y_labels": y_labels, "fixed": fixed, "means": means,
            "texts": texts, "best_cell": best_cell}
