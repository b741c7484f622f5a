"""Aggregate fine-tuning runs over seeds: mean, std, 95% CI, Welch tests and sweeps.

Reads the JSON-lines files the training recipes append to (one object per
run), groups runs that differ only in their seed, and writes into --out-dir:
summary.csv (long format), comparisons.csv (Welch's t-tests pretrained vs
random and fairseq vs hf), sweep_best.csv (best configuration per sweep,
chosen on a dev metric only), summary.md (also printed to stdout),
summary.png and one sweep_<group>.png heat map per hyper-parameter sweep.

Usage:
    python scripts/aggregate_seeds.py results/*.jsonl --out-dir results/summary
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

GROUP_KEYS = ("task", "model", "method", "init", "impl")
GROUP_COLUMNS = GROUP_KEYS + ("config",)
SUMMARY_COLUMNS = GROUP_COLUMNS + (
    "metric", "n", "mean", "std", "min", "max", "ci95_low", "ci95_high", "seeds",
)
COMPARISON_COLUMNS = (
    "comparison", "task", "model", "method", "init", "impl", "config", "metric",
    "group_a", "group_b", "n_a", "n_b", "mean_a", "mean_b", "diff", "t", "p", "note",
)
SWEEP_COLUMNS = (
    "task", "model", "method", "init", "impl", "n_configs", "best_config",
    "select_metric", "select_n", "select_mean", "select_std",
    "runner_up_config", "runner_up_mean",
    "test_metric", "test_n", "test_mean", "test_std", "test_ci95_low", "test_ci95_high",
)
# Always-numeric bookkeeping fields that are summarised beside the dev_/test_ metrics.
EXTRA_METRICS = ("trainable_params", "wall_s", "peak_rss_mb")
# (key that differs, side A, side B): groups identical except for that key are compared.
COMPARISONS = (("init", "pretrained", "random"), ("impl", "fairseq", "hf"))
SOURCE = "_source"
CONFIG_PARAMS = "_config_params"


class InputError(ValueError):
    """Bad input; the message is a complete one-line explanation."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


# --------------------------------------------------------------------------- loading

def format_config_value(value) -> str:
    """Text of one hyper-parameter value as it appears in a config string."""
    if value is None:
        return "unset"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def canonical_config(config: dict | None) -> str:
    """`{"lr": 3e-4, "batch": 16}` -> `"batch=16 lr=0.0003"`; empty config -> ""."""
    if not config:
        return ""
    return " ".join(f"{key}={format_config_value(config[key])}" for key in sorted(config))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_metric_name(name: str) -> bool:
    return name.startswith(("dev_", "test_")) or name in EXTRA_METRICS


def _json_problem(exc: json.JSONDecodeError) -> str:
    where = "" if exc.msg.endswith(" at") else " at"
    return f"{exc.msg}{where} column {exc.colno}"


def _read_jsonl(path: Path, warn) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a .jsonl file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None

    # Split on "\n" only: str.splitlines() would also split inside JSON strings
    # that carry raw U+2028 and similar separators.
    lines = [line.rstrip("\r") for line in text.split("\n")]
    non_blank = [i for i, line in enumerate(lines) if line.strip()]
    last_index = non_blank[-1] if non_blank else -1
    records = []
    for index in non_blank:
        lineno = index + 1
        try:
            record = json.loads(lines[index])
        except json.JSONDecodeError as exc:
            if index == last_index:
                # A writer that crashed mid-line leaves exactly this behind.
                warn(f"warning: {path}:{lineno}: skipping truncated last line "
                     f"({_json_problem(exc)})")
                continue
            raise InputError(f"{path}:{lineno}: not valid JSON ({_json_problem(exc)})") from None
        if not isinstance(record, dict):
            raise InputError(
                f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}"
            )
        for key in GROUP_KEYS:
            value = record.get(key)
            if value is None or value == "":
                raise InputError(f"{path}:{lineno}: missing key '{key}'")
            record[key] = str(value)
        config = record.get("config")
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise InputError(f"{path}:{lineno}: 'config' must be a JSON object")
        record["config"] = canonical_config(config)
        record[CONFIG_PARAMS] = config
        record[SOURCE] = f"{path}:{lineno}"
        records.append(record)
    return records


def _numeric_fields(records: list[dict], required: tuple[str, ...]) -> list[str]:
    """Names of the metric fields; raises InputError for a metric holding a non-number."""
    seen: dict[str, list[tuple[object, str]]] = {}
    for record in records:
        for key, value in record.items():
            if (_is_metric_name(key) or key in required) and value is not None:
                seen.setdefault(key, []).append((value, record[SOURCE]))
    for name in required:
        if name not in seen:
            raise InputError(f"--metrics: no run has a value for '{name}'")
    numeric = []
    for key, items in seen.items():
        is_number = [_is_number(value) for value, _ in items]
        if all(is_number):
            numeric.append(key)
        elif any(is_number) or key in EXTRA_METRICS or key in required:
            value, source = items[is_number.index(False)]
            raise InputError(f"{source}: field '{key}' is not a number: {value!r}")
        # dev_/test_ fields that are text in every row (e.g. a split name) are not metrics.
    return numeric


def load_runs(paths, extra_metrics=(), warn=None) -> pd.DataFrame:
    """Read and validate JSON-lines run files into one DataFrame (one row per run).

    `config` becomes its canonical string; the parsed dict is kept in
    `_config_params` and the origin ("file:line") in `_source`. Metric fields
    are converted to float (null -> NaN). Raises InputError on bad input.
    """
    if warn is None:
        def warn(message):
            print(message, file=sys.stderr)
    paths = [Path(p) for p in paths]
    records, empty = [], []
    for path in paths:
        found = _read_jsonl(path, warn)
        records.extend(found)
        if not found:
            empty.append(path)
    if not records:
        raise InputError(f"no runs found in {', '.join(str(p) for p in paths)}")
    for path in empty:
        warn(f"warning: {path}: no runs in this file")
    numeric = _numeric_fields(records, tuple(extra_metrics))
    rows = pd.DataFrame.from_records(records)
    for name in numeric:
        rows[name] = pd.to_numeric(rows[name], errors="raise").astype(float)
    # A dev_/test_ field that is null in every row is still a (data-less) metric.
    for name in rows.columns:
        if _is_metric_name(name) and name not in numeric and rows[name].isna().all():
            rows[name] = np.nan
    return rows


def metric_columns(rows: pd.DataFrame, extra_metrics=()) -> list[str]:
    """Numeric metric columns: dev_*/test_* first (file order), then bookkeeping, then extras."""
    def numeric(name):
        return name in rows.columns and pd.api.types.is_numeric_dtype(rows[name]) \
            and not pd.api.types.is_bool_dtype(rows[name])
    found = [c for c in rows.columns if c.startswith(("dev_", "test_")) and numeric(c)]
    found += [c for c in EXTRA_METRICS if numeric(c) and c not in found]
    found += [c for c in extra_metrics if numeric(c) and c not in found]
    return found


# --------------------------------------------------------------------------- statistics

def _with_config(rows: pd.DataFrame) -> pd.DataFrame:
    if "config" not in rows.columns:
        return rows.assign(config="")
    if rows["config"].map(lambda v: isinstance(v, dict)).any() or rows["config"].isna().any():
        return rows.assign(config=rows["config"].map(
            lambda v: canonical_config(v) if isinstance(v, dict) else ("" if pd.isna(v) else str(v))
        ))
    return rows


def ci95_half_width(std: float, n: int) -> float:
    """Half-width of the 95% Student-t confidence interval of a mean; NaN for n < 2."""
    if n < 2 or not np.isfinite(std):
        return math.nan
    return float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))


def _seed_list(seeds: pd.Series) -> str:
    values = sorted(int(s) for s in seeds.dropna()) if seeds.notna().any() else []
    return " ".join(str(s) for s in values)


def aggregate(rows: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Long summary: one row per (group, metric) with n, mean, std, min, max and 95% CI.

    A group is (task, model, method, init, impl, config). Runs without a value
    for a metric are left out of that metric only; n=1 gives NaN std and CI.
    """
    rows = _with_config(rows)
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
    half = np.array([ci95_half_width(s, n) for s, n in zip(summary["std"], summary["n"])])
    summary["ci95_low"] = summary["mean"] - half
    summary["ci95_high"] = summary["mean"] + half
    order = {name: i for i, name in enumerate(metrics)}
    summary["_order"] = summary["metric"].map(order)
    summary = summary.sort_values(list(GROUP_COLUMNS) + ["_order"], kind="stable")
    return summary[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def group_label(values: dict) -> str:
    label = "/".join(str(values[key]) for key in GROUP_KEYS)
    return f"{label} [{values['config']}]" if values.get("config") else label


def welch_comparisons(rows: pd.DataFrame, metrics) -> pd.DataFrame:
    """Welch's t-test between groups that differ only in init, or only in impl.

    t and p are NaN (with a note) unless both sides have at least two values.
    """
    rows = _with_config(rows)
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
                t_stat = p_value = math.nan
                note = ""
                if a.size >= 2 and b.size >= 2:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        result = stats.ttest_ind(a, b, equal_var=False)
                    t_stat, p_value = float(result.statistic), float(result.pvalue)
                    if math.isnan(p_value):
                        note = "no variance on either side"
                else:
                    note = "needs n>=2 on both sides"
                mean_a = float(a.mean()) if a.size else math.nan
                mean_b = float(b.mean()) if b.size else math.nan
                records.append({
                    "comparison": f"{key}: {side_a} vs {side_b}",
                    **fixed, key: "*", "metric": metric,
                    "group_a": group_label({**fixed, key: side_a}),
                    "group_b": group_label({**fixed, key: side_b}),
                    "n_a": int(a.size), "n_b": int(b.size),
                    "mean_a": mean_a, "mean_b": mean_b, "diff": mean_a - mean_b,
                    "t": t_stat, "p": p_value, "note": note,
                })
    return pd.DataFrame.from_records(records, columns=list(COMPARISON_COLUMNS))


# --------------------------------------------------------------------------- sweeps

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


def _params_for(rows: pd.DataFrame) -> dict[str, dict]:
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


def _parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


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
        in_group = np.logical_and.reduce(
            [summary[name] == value for name, value in zip(GROUP_KEYS, key)]
        )
        dev = summary.loc[in_group & (summary["metric"] == select_metric),
                          ["config", "n", "mean", "std"]]
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
        test = summary.loc[in_group & (summary["config"] == best["config"])
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


# --------------------------------------------------------------------------- plots

def _sort_values(values) -> list:
    def key(v):
        if v is None:
            return (0, 0, "")
        if _is_number(v):
            return (1, float(v), "")
        return (2, 0, format_config_value(v))
    return sorted(values, key=key)


def safe_filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "group"


def plot_group_bars(path: str, summary: pd.DataFrame, chosen: pd.DataFrame, metric: str) -> None:
    """Bar chart of `metric` per (task, model, method) cluster, one bar per init x impl."""
    from matplotlib.figure import Figure

    data = summary[summary["metric"] == metric].merge(chosen, on=list(GROUP_COLUMNS))
    clusters = sorted(set(zip(data["task"], data["model"], data["method"])))
    series = sorted(set(zip(data["init"], data["impl"])))
    width = 0.8 / max(len(series), 1)
    figure = Figure(figsize=(max(6.0, 1.5 + len(clusters) * (0.6 + 0.4 * len(series))), 4.8))
    axes = figure.subplots()
    colours = [f"C{i % 10}" for i in range(len(series))]
    for s_index, (init, impl) in enumerate(series):
        xs, means, errors, counts = [], [], [], []
        for c_index, (task, model, method) in enumerate(clusters):
            match = data[(data["task"] == task) & (data["model"] == model)
                         & (data["method"] == method) & (data["init"] == init)
                         & (data["impl"] == impl)]
            if match.empty:
                continue
            row = match.iloc[0]
            xs.append(c_index - 0.4 + width * (s_index + 0.5))
            means.append(row["mean"])
            half = row["ci95_high"] - row["mean"]
            errors.append(half if np.isfinite(half) else 0.0)
            counts.append(int(row["n"]))
        bars = axes.bar(xs, means, width * 0.95, yerr=errors, capsize=3,
                        color=colours[s_index], label=f"{init} / {impl}")
        for bar, n in zip(bars, counts):
            axes.annotate(f"n={n}", (bar.get_x() + bar.get_width() / 2, 0),
                          xytext=(0, 3), textcoords="offset points",
                          ha="center", va="bottom", fontsize=7, color="white")
    axes.set_xticks(range(len(clusters)))
    axes.set_xticklabels([f"{t}\n{m}\n{model}" for t, model, m in clusters], fontsize=8)
    axes.set_ylabel(f"{metric} (mean over seeds)")
    axes.set_title(f"{metric} per group; error bars: 95% CI of the mean (Student t), "
                   "none for n=1\nsweeps: best config on dev", fontsize=9)
    axes.legend(title="init / impl", fontsize=8, title_fontsize=8,
                loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=120)


# config keys a recipe computes from others (updates from batch and epochs): never an axis of a heat map
# while a setting they depend on is swept, and never held fixed
DERIVED_KEYS = frozenset({"updates", "warmup_updates"})


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


def plot_sweep(path: str, title: str, grid: pd.DataFrame, params: dict[str, dict],
               best_config: str, metric: str) -> None:
    """Heat map of `metric` over two swept hyper-parameters (see sweep_grid), annotated."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    layout = sweep_grid(grid, params, best_config)
    cells, texts, best_cell = layout["means"], layout["texts"], layout["best_cell"]
    x_key, y_key, fixed = layout["x_key"], layout["y_key"], layout["fixed"]
    x_values, y_values = layout["x_values"], layout["y_values"]
    x_labels, y_labels = layout["x_labels"], layout["y_labels"]

    figure = Figure(figsize=(max(4.5, 1.3 + 1.1 * len(x_values)),
                             max(2.6, 1.6 + 0.8 * len(y_values))))
    axes = figure.subplots()
    image = axes.imshow(np.ma.masked_invalid(cells), cmap="viridis", aspect="auto")
    low, high = np.nanmin(cells), np.nanmax(cells)
    for (line, col), text in texts.items():
        relative = 0.5 if high == low else (cells[line, col] - low) / (high - low)
        axes.text(col, line, text, ha="center", va="center", fontsize=8,
                  color="black" if relative > 0.6 else "white")
    if best_cell is not None:
        axes.add_patch(Rectangle((best_cell[1] - 0.5, best_cell[0] - 0.5), 1, 1,
                                 fill=False, edgecolor="red", linewidth=2.5))
    axes.set_xticks(range(len(x_values)))
    axes.set_xticklabels(x_labels)
    axes.set_xlabel(x_key)
    axes.set_yticks(range(len(y_values)))
    axes.set_yticklabels(y_labels if y_key else [""])
    if y_key:
        axes.set_ylabel(y_key)
    others = " ".join(f"{k}={format_config_value(v)}" for k, v in fixed.items())
    subtitle = f"; fixed at best: {others}" if others else ""
    axes.set_title(f"{title}\n{metric}, mean over seeds; red box = selected{subtitle}",
                   fontsize=9)
    figure.colorbar(image, ax=axes, label=metric)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=120)


# --------------------------------------------------------------------------- markdown

def _cell(value) -> str:
    return str(value).replace("|", "\\|")


def _markdown_table(header: list[str], body: list[list]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in body]
    return lines


def format_stat(mean, std, n) -> str:
    """`mean ± std (n)`; `mean (1)` for a single run; `–` when there is no value."""
    if n is None or n == 0 or pd.isna(mean):
        return "–"
    if n < 2 or pd.isna(std):
        return f"{mean:.2f} ({int(n)})"
    return f"{mean:.2f} ± {std:.2f} ({int(n)})"


def _number(value, digits=2) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def _stat_lookup(summary: pd.DataFrame):
    table = {}
    for row in summary.itertuples(index=False):
        table[tuple(getattr(row, c) for c in GROUP_COLUMNS) + (row.metric,)] = row
    return table


def varying_part(configs) -> dict[str, str]:
    """config string -> only its key=value items whose value is not the same in every config."""
    parsed = {c: dict(item.split("=", 1) for item in c.split() if "=" in item) for c in configs}
    keys = {k for items in parsed.values() for k in items}
    varying = sorted(k for k in keys if len({items.get(k) for items in parsed.values()}) > 1)
    return {c: " ".join(f"{k}={items[k]}" for k in varying if k in items) for c, items in parsed.items()}


def render_markdown(summary, comparisons, sweep_best, sweeps, main_metrics, select_metric,
                    n_runs, inputs) -> str:
    lookup = _stat_lookup(summary)
    groups = summary[list(GROUP_COLUMNS)].drop_duplicates().itertuples(index=False, name=None)
    groups = list(groups)
    # the configuration is shown where it tells groups apart, and only the settings that differ
    short = varying_part({group[-1] for group in groups})
    show_config = any(short.values())
    out = ["# Results aggregated over seeds", "",
           f"{n_runs} runs from {', '.join(inputs)}; {len(groups)} groups. "
           "Cells are mean ± sample std (number of runs); metrics in percent.", ""]

    header = list(GROUP_KEYS) + (["config"] if show_config else []) + main_metrics
    body = []
    for group in groups:
        cells = [format_stat(*_stat_fields(lookup.get(group + (m,)))) for m in main_metrics]
        body.append(list(group[:-1]) + ([short[group[-1]]] if show_config else []) + cells)
    out += ["## Groups", ""] + _markdown_table(header, body) + [""]

    out += ["## Welch's t-tests", "",
            "Groups identical except for init (pretrained vs random) or impl (fairseq vs hf); "
            "p from `scipy.stats.ttest_ind(equal_var=False)`, blank unless both sides "
            "have n ≥ 2.", ""]
    shown = comparisons[comparisons["metric"].isin(main_metrics)]
    if shown.empty:
        out += ["No pairs of groups to compare.", ""]
    else:
        header = ["comparison", "task", "model", "method", "fixed"] \
            + (["config"] if show_config else []) \
            + ["metric", "A mean (n)", "B mean (n)", "A − B", "t", "p"]
        body = []
        for row in shown.itertuples(index=False):
            fixed = f"impl={row.impl}" if row.init == "*" else f"init={row.init}"
            p_text = "" if pd.isna(row.p) else f"{row.p:.3g}"
            body.append([row.comparison, row.task, row.model, row.method, fixed]
                        + ([short.get(row.config, row.config)] if show_config else [])
                        + [row.metric, f"{_number(row.mean_a)} ({row.n_a})",
                           f"{_number(row.mean_b)} ({row.n_b})", _number(row.diff),
                           _number(row.t, 3), p_text])
        out += _markdown_table(header, body) + [""]

    out += ["## Best configuration per sweep", ""]
    if not sweeps:
        out += ["No hyper-parameter sweeps (every group has a single configuration).", ""]
        return "\n".join(out)
    test_metrics = [m for m in main_metrics if m.startswith("test_")]
    out += [f"Chosen on the mean of `{select_metric}` over seeds (ties: smaller std, then "
            "config string). Test metrics are reported for the chosen configuration only "
            "and are never used to choose.", ""]
    header = list(GROUP_KEYS) + ["configs", "best config", select_metric] + test_metrics
    body = []
    for row in sweep_best.itertuples(index=False):
        group = tuple(getattr(row, k) for k in GROUP_KEYS) + (row.best_config,)
        body.append(list(group[:-1]) + [row.n_configs, row.best_config]
                    + [format_stat(*_stat_fields(lookup.get(group + (m,))))
                       for m in [select_metric] + test_metrics])
    if body:
        out += _markdown_table(header, body) + [""]
    else:
        out += [f"No sweep has `{select_metric}`; nothing selected.", ""]

    for key, configs in sweeps.items():
        best = sweep_best[np.logical_and.reduce(
            [sweep_best[name] == value for name, value in zip(GROUP_KEYS, key)])]
        best_config = best["best_config"].iloc[0] if not best.empty else None
        out += [f"### Grid: {' / '.join(key)}", ""]
        body = []
        for config in configs:
            stat = format_stat(*_stat_fields(lookup.get(key + (config, select_metric))))
            marker = " **(best)**" if config == best_config else ""
            body.append([(config or "(no config)") + marker, stat])
        out += _markdown_table(["config", select_metric], body) + [""]
    return "\n".join(out)


def _stat_fields(row):
    if row is None:
        return (math.nan, math.nan, 0)
    return (row.mean, row.std, row.n)


# --------------------------------------------------------------------------- output

class _Staging:
    """Write outputs under temporary names in the target folder, then rename all at once."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.pending: list[tuple[str, Path]] = []
        umask = os.umask(0)
        os.umask(umask)
        self.mode = 0o666 & ~umask  # mkstemp creates 0600; give outputs the usual mode

    def path(self, name: str) -> str:
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".tmp")
        os.close(handle)
        os.chmod(temporary, self.mode)
        self.pending.append((temporary, self.folder / name))
        return temporary

    def commit(self) -> None:
        for temporary, final in self.pending:
            os.replace(temporary, final)
        self.pending = []

    def discard(self) -> None:
        for temporary, _ in self.pending:
            try:
                os.remove(temporary)
            except OSError:
                pass
        self.pending = []


def _warn_repeated_seeds(rows: pd.DataFrame, warn) -> None:
    if "seed" not in rows.columns:
        return
    keyed = rows[rows["seed"].notna()]
    repeated = keyed[keyed.duplicated(list(GROUP_COLUMNS) + ["seed"], keep="first")]
    sources = repeated[SOURCE] if SOURCE in repeated.columns else ["?"] * len(repeated)
    for source, seed in zip(sources, repeated["seed"]):
        seed = f"{seed:g}" if _is_number(seed) else seed
        warn(f"warning: {source}: seed {seed} repeats an earlier run of the same group; "
             "both are counted")


def parse_args(argv=None) -> argparse.Namespace:
    parser = _OneLineParser(
        prog="aggregate_seeds.py",
        description="Aggregate training runs (JSON lines) over seeds: mean, std, 95% CI "
                    "(Student t), Welch's t-tests pretrained vs random and fairseq vs hf, "
                    "and best configuration per hyper-parameter sweep (chosen on a dev "
                    "metric, never on test).")
    parser.add_argument("runs", nargs="+", metavar="RUNS.jsonl",
                        help="run files, one JSON object per line; several are concatenated")
    parser.add_argument("--out-dir", required=True, type=Path,
                        help="folder for summary.csv, comparisons.csv, sweep_best.csv, "
                             "summary.md, summary.png and sweep_*.png (created if needed)")
    parser.add_argument("--metrics", action="append", default=[], metavar="NAME[,NAME]",
                        help="extra numeric fields to summarise besides dev_*, test_*, "
                             "trainable_params, wall_s, peak_rss_mb (repeatable, comma-separated)")
    parser.add_argument("--select-metric", default="dev_accuracy", metavar="DEV_METRIC",
                        help="higher-is-better dev metric used to pick the best config of a "
                             "sweep and to draw summary.png (default: dev_accuracy)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already reported in one line
        return exc.code or 0
    prog = "aggregate_seeds.py"

    def warn(message):
        print(message, file=sys.stderr)

    extra = [name.strip() for item in args.metrics for name in item.split(",") if name.strip()]
    if args.select_metric.startswith("test_"):
        print(f"{prog}: error: --select-metric: '{args.select_metric}' is a test metric; "
              "selection must use a dev_ metric", file=sys.stderr)
        return 2
    try:
        rows = load_runs(args.runs, extra_metrics=extra, warn=warn)
        metrics = metric_columns(rows, extra)
        if args.select_metric not in metrics or rows[args.select_metric].isna().all():
            available = ", ".join(m for m in metrics if m.startswith("dev_")) or "none"
            raise InputError(f"--select-metric: no run has a value for '{args.select_metric}' "
                             f"(dev metrics found: {available})")
    except InputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    _warn_repeated_seeds(rows, warn)

    summary = aggregate(rows, metrics)
    comparisons = welch_comparisons(rows, metrics)
    sweeps = find_sweeps(rows)
    sweep_best = select_best(summary, sweeps, args.select_metric, warn)
    main_metrics = [m for m in metrics if m.startswith(("dev_", "test_")) or m in extra]
    main_metrics = [m for m in main_metrics if (summary["metric"] == m).any()]
    markdown = render_markdown(summary, comparisons, sweep_best, sweeps, main_metrics,
                               args.select_metric, len(rows), [str(p) for p in args.runs])

    # Configuration drawn per (task, model, method, init, impl): the only one, or the best.
    chosen = summary[list(GROUP_COLUMNS)].drop_duplicates()
    chosen = chosen[[tuple(g) not in sweeps for g in chosen[list(GROUP_KEYS)].itertuples(
        index=False, name=None)]]
    picked = sweep_best[list(GROUP_KEYS)].assign(config=sweep_best["best_config"])
    chosen = pd.concat([chosen, picked], ignore_index=True)

    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"{prog}: error: --out-dir: cannot create {args.out_dir} ({exc.strerror})",
              file=sys.stderr)
        return 2
    staging = _Staging(args.out_dir)
    params = _params_for(rows)
    used_names: set[str] = set()
    try:
        summary.to_csv(staging.path("summary.csv"), index=False)
        comparisons.to_csv(staging.path("comparisons.csv"), index=False)
        sweep_best.to_csv(staging.path("sweep_best.csv"), index=False)
        Path(staging.path("summary.md")).write_text(markdown + "\n", encoding="utf-8")
        plot_group_bars(staging.path("summary.png"), summary, chosen, args.select_metric)
        for row in sweep_best.itertuples(index=False):
            key = tuple(getattr(row, k) for k in GROUP_KEYS)
            in_group = np.logical_and.reduce(
                [summary[name] == value for name, value in zip(GROUP_KEYS, key)])
            grid = summary.loc[in_group & (summary["metric"] == args.select_metric),
                               ["config", "mean", "std", "n"]]
            name = "sweep_" + "_".join(safe_filename(part) for part in key)
            suffix, candidate = 1, f"{name}.png"
            while candidate in used_names:  # two groups that map to the same safe name
                suffix += 1
                candidate = f"{name}-{suffix}.png"
            used_names.add(candidate)
            plot_sweep(staging.path(candidate), " / ".join(key), grid, params,
                       row.best_config, args.select_metric)
        staging.commit()
    except OSError as exc:
        staging.discard()
        print(f"{prog}: error: --out-dir: cannot write to {args.out_dir} ({exc})",
              file=sys.stderr)
        return 1
    except BaseException:
        staging.discard()
        raise
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
