"""The aggregated results drawn with matplotlib: a bar chart of every group and one heat map per sweep.

matplotlib is imported by the functions that draw (no pyplot, no display needed). No fairseq or torch import.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .load import GROUP_COLUMNS, format_config_value
from .sweeps import sweep_grid


def safe_filename(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``.``, ``_``, ``-`` as ``-``."""
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


def plot_sweep(path: str, title: str, grid: pd.DataFrame, params: dict[str, dict],
               best_config: str, metric: str) -> None:
    """Heat map of `metric` over two swept hyper-parameters (see sweeps.sweep_grid), annotated."""
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
