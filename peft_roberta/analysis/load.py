"""Reading the runs files the recipes append to (``runs.jsonl``, one JSON object per run) into one
validated DataFrame, one row per run.

No fairseq or torch import.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError

GROUP_KEYS = ("task", "model", "method", "init", "impl")
GROUP_COLUMNS = GROUP_KEYS + ("config",)
# Always-numeric bookkeeping fields that are summarised beside the dev_/test_ metrics.
EXTRA_METRICS = ("trainable_params", "wall_s", "peak_rss_mb")
SOURCE = "_source"  # column: "file:line" of the run
CONFIG_PARAMS = "_config_params"  # column: the run's hyper-parameters as a dict
SETTING = "setting"  # column: what sets a run's config apart from its siblings' ("" when nothing does)
FINGERPRINTS = ("data_sha", "model_sha", "options_sha")  # in a recipe row's config: all that shapes it
SIBLING_KEYS = ("task", "model", "method")  # runs that a table would otherwise pool (both inits and impls)


class InputError(UserError):
    """A runs file that cannot be read or is not valid; the message names ``file:line`` or the option."""


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


def is_number(value) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_metric_name(name: str) -> bool:
    return name.startswith(("dev_", "test_")) or name in EXTRA_METRICS


def _json_problem(exc: json.JSONDecodeError) -> str:
    where = "" if exc.msg.endswith(" at") else " at"
    return f"{exc.msg}{where} column {exc.colno}"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a .jsonl file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _record(record, where: str) -> dict:
    """One parsed line checked and normalised: group keys as text, config canonical."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key in GROUP_KEYS:
        value = record.get(key)
        if value is None or value == "":
            raise InputError(f"{where}: missing key '{key}'")
        record[key] = str(value)
    config = record.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise InputError(f"{where}: 'config' must be a JSON object")
    record["config"] = canonical_config(config)
    record[CONFIG_PARAMS] = config
    record[SOURCE] = where
    return record


def read_jsonl(path: Path, warn) -> list[dict]:
    """The runs of one file; a truncated last line (a writer that crashed) is skipped with a warning."""
    text = _read_text(path)
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
                warn(f"warning: {path}:{lineno}: skipping truncated last line "
                     f"({_json_problem(exc)})")
                continue
            raise InputError(f"{path}:{lineno}: not valid JSON ({_json_problem(exc)})") from None
        records.append(_record(record, f"{path}:{lineno}"))
    return records


def _numeric_fields(records: list[dict], required: tuple[str, ...]) -> list[str]:
    """Names of the metric fields; raises InputError for a metric holding a non-number."""
    seen: dict[str, list[tuple[object, str]]] = {}
    for record in records:
        for key, value in record.items():
            if (is_metric_name(key) or key in required) and value is not None:
                seen.setdefault(key, []).append((value, record[SOURCE]))
    for name in required:
        if name not in seen:
            raise InputError(f"--metrics: no run has a value for '{name}'")
    numeric = []
    for key, items in seen.items():
        numbers = [is_number(value) for value, _ in items]
        if all(numbers):
            numeric.append(key)
        elif any(numbers) or key in EXTRA_METRICS or key in required:
            value, source = items[numbers.index(False)]
            raise InputError(f"{source}: field '{key}' is not a number: {value!r}")
        # dev_/test_ fields that are text in every row (e.g. a split name) are not metrics.
    return numeric


def _stderr(message):
    print(message, file=sys.stderr)


def load_runs(paths, extra_metrics=(), warn=None) -> pd.DataFrame:
    """Read and validate JSON-lines run files into one DataFrame (one row per run).

    `config` becomes its canonical string; the parsed dict is kept in
    `_config_params` and the origin ("file:line") in `_source`. Metric fields
    are converted to float (null -> NaN). Raises InputError on bad input.
    """
    warn = warn or _stderr
    paths = [Path(p) for p in paths]
    records, empty = [], []
    for path in paths:
        found = read_jsonl(path, warn)
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
        if is_metric_name(name) and name not in numeric and rows[name].isna().all():
            rows[name] = np.nan
    rows[SETTING] = setting_labels(rows)
    return rows


def setting_labels(rows: pd.DataFrame) -> pd.Series:
    """Per run, the settings in which its config differs from other runs of the same task, model
    and method (either init, either impl), as ``"lr=0.001 max_positions=128"``, or "" when all of them
    share one setting: a table keyed by these labels never pools runs of different settings.

    Runs whose configs carry the same fingerprints (``data_sha``, ``model_sha``, ``options_sha``: every
    resolved option, the data and the weights) share a setting even where one config lacks a key the
    other records (rows written before that setting existed). A key differs only between configs that
    record it; the fingerprints name a difference only when no setting does."""
    labels = pd.Series("", index=rows.index, dtype=object)
    if CONFIG_PARAMS not in rows.columns:
        return labels
    for _, block in rows.groupby([k for k in SIBLING_KEYS if k in rows.columns], sort=False):
        keys = [_setting_key(config) for config in block[CONFIG_PARAMS]]
        settings = dict(zip(keys, block[CONFIG_PARAMS]))  # one config for each setting
        if len(settings) < 2:
            continue
        configs = list(settings.values())
        names = sorted({k for c in configs for k in c})
        differing = [k for k in names if len({format_config_value(c[k]) for c in configs if k in c}) > 1]
        named = [k for k in differing if not k.endswith("_sha")] or differing
        labels[block.index] = [" ".join(f"{k}={format_config_value(settings[key].get(k))}" for k in named)
                               for key in keys]
    return labels


def _setting_key(config: dict):
    fingerprints = tuple(config.get(k) for k in FINGERPRINTS)
    return fingerprints if all(fingerprints) else canonical_config(config)


def metric_columns(rows: pd.DataFrame, extra_metrics=()) -> list[str]:
    """Numeric metric columns: dev_*/test_* first (file order), then bookkeeping, then extras."""
    def numeric(name):
        return name in rows.columns and pd.api.types.is_numeric_dtype(rows[name]) \
            and not pd.api.types.is_bool_dtype(rows[name])
    found = [c for c in rows.columns if c.startswith(("dev_", "test_")) and numeric(c)]
    found += [c for c in EXTRA_METRICS if numeric(c) and c not in found]
    found += [c for c in extra_metrics if numeric(c) and c not in found]
    return found


def check_select_metric(rows: pd.DataFrame, metrics, select_metric: str) -> None:
    """InputError unless ``select_metric`` is a dev metric that some run has a value for."""
    if select_metric.startswith("test_"):
        raise InputError(f"--select-metric: '{select_metric}' is a test metric; "
                         "selection must use a dev_ metric")
    if select_metric not in metrics or rows[select_metric].isna().all():
        available = ", ".join(m for m in metrics if m.startswith("dev_")) or "none"
        raise InputError(f"--select-metric: no run has a value for '{select_metric}' "
                         f"(dev metrics found: {available})")


def with_config(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with a canonical ``config`` string column (rows built without load_runs included)."""
    if "config" not in rows.columns:
        return rows.assign(config="")
    if rows["config"].map(lambda v: isinstance(v, dict)).any() or rows["config"].isna().any():
        return rows.assign(config=rows["config"].map(
            lambda v: canonical_config(v) if isinstance(v, dict) else ("" if pd.isna(v) else str(v))
        ))
    return rows


def repeated_seed_warnings(rows: pd.DataFrame) -> list[str]:
    """One warning per run whose group and seed repeat an earlier run's (both are counted)."""
    if "seed" not in rows.columns:
        return []
    keyed = rows[rows["seed"].notna()]
    repeated = keyed[keyed.duplicated(list(GROUP_COLUMNS) + ["seed"], keep="first")]
    sources = repeated[SOURCE] if SOURCE in repeated.columns else ["?"] * len(repeated)
    out = []
    for source, seed in zip(sources, repeated["seed"]):
        seed = f"{seed:g}" if is_number(seed) else seed
        out.append(f"warning: {source}: seed {seed} repeats an earlier run of the same group; "
                   "both are counted")
    return out
