"""summary.md: the aggregated groups, Welch's tests and the sweeps' choices as Markdown tables
(``tables.markdown_rows``, pandas). No fairseq or torch import.
"""
from __future__ import annotations

import math

import pandas as pd

from .load import GROUP_COLUMNS, GROUP_KEYS
from .sweeps import in_group
from .tables import markdown_rows, mean_std


def _number(value, digits=2) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


class StatLookup:
    """(group columns..., metric) -> ``mean ± std (n)`` of the summary, ``–`` where there is none."""

    def __init__(self, summary: pd.DataFrame):
        self.rows = {tuple(getattr(row, c) for c in GROUP_COLUMNS) + (row.metric,): row
                     for row in summary.itertuples(index=False)}

    def text(self, key: tuple) -> str:
        row = self.rows.get(key)
        if row is None:
            return mean_std(math.nan, math.nan, 0)
        return mean_std(row.mean, row.std, row.n)


def varying_part(configs) -> dict[str, str]:
    """config string -> only its key=value items whose value is not the same in every config."""
    parsed = {c: dict(item.split("=", 1) for item in c.split() if "=" in item) for c in configs}
    keys = {k for items in parsed.values() for k in items}
    varying = sorted(k for k in keys if len({items.get(k) for items in parsed.values()}) > 1)
    return {c: " ".join(f"{k}={items[k]}" for k in varying if k in items) for c, items in parsed.items()}


def run_notes(rows: pd.DataFrame) -> dict:
    """What the rows say beyond their metrics: each split's role (a short tag for the column headers and a
    legend) and, per group, the runs no better than the majority class."""
    notes = {"roles": {"dev": "chose the checkpoint", "test": "held out"}, "legend": [], "majority": {}}
    if "splits" in rows.columns:
        for splits in rows["splits"].dropna():
            dev = (splits or {}).get("dev") or {}
            if not dev.get("chose"):
                continue
            both = "configuration" in dev["chose"]
            notes["roles"]["dev"] = "chose checkpoint and configuration" if both else "chose the checkpoint"
            notes["legend"].append(
                f"dev_*: the dev split ({dev.get('examples')} examples, {dev.get('source', 'dev file')}), on which "
                f"{dev['chose']} {'were' if both else 'was'} chosen"
                + ("; the task has no labelled test split, so it is the reported figure, as GLUE and the LoRA "
                   "paper report it" if dev.get("reported_as_result") else "") + ".")
            test = (splits or {}).get("test")
            if test:
                notes["legend"].append(f"test_*: the test split ({test.get('examples')} examples), which chose nothing.")
            break
    if "at_majority" in rows.columns:
        for group, block in rows.groupby(list(GROUP_COLUMNS), sort=False):
            flagged = int(block["at_majority"].fillna(False).astype(bool).sum())
            notes["majority"][tuple(group)] = (flagged, len(block))
    return notes


def column_name(metric, roles) -> str:
    """``dev_accuracy (chose the checkpoint)``: every metric column says what its split chose."""
    split = metric.split("_", 1)[0]
    return f"{metric} ({roles[split]})" if split in roles else metric


def _groups_section(groups, lookup, main_metrics, short, show_config, notes) -> list:
    roles, majority = notes["roles"], notes["majority"]
    flag = any(k for k, _ in majority.values())
    header = list(GROUP_KEYS) + (["config"] if show_config else []) + [column_name(m, roles) for m in main_metrics]
    header += ["runs no better than the majority class"] if flag else []
    body = []
    for group in groups:
        cells = [lookup.text(group + (m,)) for m in main_metrics]
        if flag:
            k, n = majority.get(group, (0, 0))
            cells.append(f"{k} of {n}" if k else "")
        body.append(list(group[:-1]) + ([short[group[-1]]] if show_config else []) + cells)
    out = ["## Groups", "", markdown_rows(header, body), ""] + [line + "\n" for line in notes.get("legend", [])]
    if flag:
        out += ["Runs no better than the majority class: dev accuracy at most that of always predicting the "
                "training split's most frequent class; such a run learned nothing the table can show.", ""]
    return out


def _welch_section(comparisons, main_metrics, short, show_config) -> list:
    out = ["## Welch's t-tests", "",
           "Groups identical except for init (pretrained vs random) or impl (fairseq vs hf); "
           "p from `scipy.stats.ttest_ind(equal_var=False)`, blank unless both sides "
           "have n ≥ 2.", ""]
    shown = comparisons[comparisons["metric"].isin(main_metrics)]
    if shown.empty:
        return out + ["No pairs of groups to compare.", ""]
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
    return out + [markdown_rows(header, body), ""]


def _sweep_section(sweep_best, sweeps, lookup, main_metrics, select_metric) -> list:
    out = ["## Best configuration per sweep", ""]
    if not sweeps:
        return out + ["No hyper-parameter sweeps (every group has a single configuration).", ""]
    test_metrics = [m for m in main_metrics if m.startswith("test_")]
    out += [f"Chosen on the mean of `{select_metric}` over seeds (ties: smaller std, then "
            "config string). Test metrics are reported for the chosen configuration only "
            "and are never used to choose.", ""]
    header = list(GROUP_KEYS) + ["configs", "best config", select_metric] + test_metrics
    body = []
    for row in sweep_best.itertuples(index=False):
        group = tuple(getattr(row, k) for k in GROUP_KEYS) + (row.best_config,)
        body.append(list(group[:-1]) + [row.n_configs, row.best_config]
                    + [lookup.text(group + (m,)) for m in [select_metric] + test_metrics])
    if body:
        out += [markdown_rows(header, body), ""]
    else:
        out += [f"No sweep has `{select_metric}`; nothing selected.", ""]

    for key, configs in sweeps.items():
        best = sweep_best[in_group(sweep_best, key)]
        best_config = best["best_config"].iloc[0] if not best.empty else None
        body = []
        for config in configs:
            marker = " **(best)**" if config == best_config else ""
            body.append([(config or "(no config)") + marker, lookup.text(key + (config, select_metric))])
        out += [f"### Grid: {' / '.join(key)}", "", markdown_rows(["config", select_metric], body), ""]
    return out


def render_markdown(summary, comparisons, sweep_best, sweeps, main_metrics, select_metric,
                    n_runs, inputs, notes=None) -> str:
    """The whole summary.md: groups, Welch's tests, the best configuration of each sweep and its grid."""
    lookup = StatLookup(summary)
    groups = list(summary[list(GROUP_COLUMNS)].drop_duplicates().itertuples(index=False, name=None))
    # the configuration is shown where it tells groups apart, and only the settings that differ
    short = varying_part({group[-1] for group in groups})
    show_config = any(short.values())
    out = ["# Results aggregated over seeds", "",
           f"{n_runs} runs from {', '.join(inputs)}; {len(groups)} groups. "
           "Cells are mean ± sample std (number of runs); metrics in percent.", ""]
    notes = notes or {"roles": {"dev": "chose the checkpoint", "test": "held out"}, "legend": [], "majority": {}}
    out += _groups_section(groups, lookup, main_metrics, short, show_config, notes)
    out += _welch_section(comparisons, main_metrics, short, show_config)
    out += _sweep_section(sweep_best, sweeps, lookup, main_metrics, select_metric)
    return "\n".join(out)
