"""Everything aggregate_seeds writes, computed from the loaded runs and written all at once: each
file goes under a temporary name in the output folder first, and all are renamed only when every one
was written (an error leaves the folder as it was).

No fairseq or torch import.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import UserError
from .aggregate import aggregate, welch_comparisons
from .load import GROUP_KEYS, InputError
from .plots import plot_group_bars, plot_sweep, safe_filename
from .summary import render_markdown, run_notes
from .sweeps import chosen_configs, config_params, find_sweeps, in_group, select_best


class OutputError(UserError):
    """An output file could not be written (nothing was replaced)."""


class Staging:
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


@dataclass
class Aggregated:
    """The tables of one aggregation and their Markdown rendering."""
    rows: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    sweeps: dict
    sweep_best: pd.DataFrame
    select_metric: str
    markdown: str


def aggregate_runs(rows: pd.DataFrame, metrics, extra_metrics, select_metric: str, inputs,
                   warn) -> Aggregated:
    """Summary over seeds, Welch comparisons, each sweep's choice on ``select_metric`` and summary.md."""
    summary = aggregate(rows, metrics)
    comparisons = welch_comparisons(rows, metrics)
    sweeps = find_sweeps(rows)
    sweep_best = select_best(summary, sweeps, select_metric, warn)
    main_metrics = [m for m in metrics if m.startswith(("dev_", "test_")) or m in extra_metrics]
    main_metrics = [m for m in main_metrics if (summary["metric"] == m).any()]
    markdown = render_markdown(summary, comparisons, sweep_best, sweeps, main_metrics,
                               select_metric, len(rows), [str(p) for p in inputs], run_notes(rows))
    return Aggregated(rows, summary, comparisons, sweeps, sweep_best, select_metric, markdown)


def prepare_out_dir(out_dir: Path) -> None:
    """Create the output folder; InputError (``--out-dir: ...``) where it cannot be."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out-dir: cannot create {out_dir} ({exc.strerror})") from None


def _write_sweeps(staging: Staging, result: Aggregated) -> None:
    summary, metric = result.summary, result.select_metric
    params = config_params(result.rows)
    used_names: set[str] = set()
    for row in result.sweep_best.itertuples(index=False):
        key = tuple(getattr(row, k) for k in GROUP_KEYS)
        grid = summary.loc[in_group(summary, key) & (summary["metric"] == metric),
                           ["config", "mean", "std", "n"]]
        name = "sweep_" + "_".join(safe_filename(part) for part in key)
        suffix, candidate = 1, f"{name}.png"
        while candidate in used_names:  # two groups that map to the same safe name
            suffix += 1
            candidate = f"{name}-{suffix}.png"
        used_names.add(candidate)
        plot_sweep(staging.path(candidate), " / ".join(key), grid, params, row.best_config, metric)


def write_outputs(result: Aggregated, out_dir: Path) -> None:
    """summary.csv, comparisons.csv, sweep_best.csv, summary.md, summary.png and sweep_*.png, all or
    none; OutputError where the folder cannot be written."""
    staging = Staging(out_dir)
    chosen = chosen_configs(result.summary, result.sweeps, result.sweep_best)
    try:
        result.summary.to_csv(staging.path("summary.csv"), index=False)
        result.comparisons.to_csv(staging.path("comparisons.csv"), index=False)
        result.sweep_best.to_csv(staging.path("sweep_best.csv"), index=False)
        Path(staging.path("summary.md")).write_text(result.markdown + "\n", encoding="utf-8")
        plot_group_bars(staging.path("summary.png"), result.summary, chosen, result.select_metric)
        _write_sweeps(staging, result)
        staging.commit()
    except OSError as exc:
        staging.discard()
        raise OutputError(f"--out-dir: cannot write to {out_dir} ({exc})") from None
    except BaseException:
        staging.discard()
        raise
