"""The four accuracy findings of the reports (000, 001, 002, 004), judged on the rows of the recipes
that test them at CPU scale: a table of our figures beside the published ones, and verdicts.

A figure read from the dev split (no labelled test split) is labelled so: dev also chose the
checkpoint (and the configuration of a sweep), so it is not a held-out figure. No fairseq or torch import.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.aggregate import aggregate
from ..analysis.load import InputError, canonical_config, format_config_value
from ..analysis.sweeps import choose_config, select_best
from ..analysis.tables import markdown_rows
from ..paths import shared_dir
from ..published import PUBLISHED
from .recipes import RecipeRun, load_rows, profiles
from .templates import fill, listing
from .verdicts import EQUIVALENCE_MARGIN, Verdict, judge_greater, judge_similar, seeds_text

# recipes/sst2_bitfit_grid.sh in the quick profile: training examples, epochs and the grid's batches
BITFIT_GRID_QUICK = {"max_train": 2000, "epochs": 2, "batches": (16, 64)}
SST2_DEV = ("data", "glue", "SST-2", "dev.tsv")  # under the shared folder


# ---------------------------------------------------------------------------- reading the rows

def values(rows, metric) -> np.ndarray:
    if rows is None or metric not in rows.columns:
        return np.array([])
    return rows[metric].dropna().to_numpy(float)


def _file_of(rows) -> str:
    return str(rows["_source"].iloc[0]).rsplit(":", 1)[0] if "_source" in rows.columns else "the results"


def choose_on_dev(rows, select="dev_accuracy"):
    """(chosen config, its rows, number of configs): the configuration with the best mean on dev.

    Uses the analysis' sweep selection (``choose_config``); a test metric is never looked at.
    """
    configs = sorted(set(rows["config"]))
    if len(configs) == 1:
        return configs[0], rows, 1
    if select not in rows.columns:
        raise InputError(f"{_file_of(rows)}: {len(configs)} configurations but no run has '{select}' to choose on")
    summary = aggregate(rows, [select])
    if summary.empty:
        config = max(configs, key=lambda c: (rows["config"] == c).sum())
    else:
        config = choose_config(summary[["config", "n", "mean", "std"]]).iloc[0]["config"]
    return config, rows[rows["config"] == config], len(configs)


def evaluation_metric(rows, name="accuracy") -> str:
    """test_<name> where the rows have a labelled test split, else dev_<name>."""
    if f"test_{name}" in rows.columns and rows[f"test_{name}"].notna().any():
        return f"test_{name}"
    return f"dev_{name}"


def dev_note(metric: str, configs=1) -> str:
    """Where ``metric`` is a dev metric: that dev also chose the checkpoint (and the configuration)."""
    if not metric.startswith("dev_"):
        return ""
    chose = "the checkpoint and the configuration" if configs > 1 else "the checkpoint"
    return f"no labelled test: dev also chose {chose}"


def metric_label(metric: str, configs=1) -> str:
    """The metric's name, with the dev note where it is a dev metric."""
    note = dev_note(metric, configs)
    return f"{metric} ({note})" if note else metric


def config_text(rows, keys=("lr", "batch")) -> str:
    params = rows["_config_params"].iloc[0] if "_config_params" in rows.columns else {}
    shown = [f"{k}={format_config_value(params[k])}" for k in keys if k in params]
    return ", ".join(shown) or "(recipe defaults)"


def seed_list(rows, metric) -> str:
    if metric not in rows.columns:
        return "–"
    part = rows[["seed", metric]].dropna().sort_values("seed")
    return ", ".join(f"{v:.1f}" for v in part[metric]) or "–"


def _rank(value, rows):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{_file_of(rows)}: lora_r is not a number: {value!r}")
    return value


# ---------------------------------------------------------------------------- the four findings

def evaluate_000(loaded):
    rows = loaded["sst2_lora_rank"]
    rows = rows[rows["init"] == "pretrained"]
    rank = rows["_config_params"].map(lambda c: c.get("lora_r"))
    rows = rows.assign(_rank=rank)[rank.notna()]
    if rows.empty:
        return ["No pretrained rows with a `lora_r` in their config."], [Verdict("inconclusive", "no rank rows.")]
    rows = rows.assign(_rank=rows["_rank"].map(lambda r: _rank(r, rows)))
    metric = evaluation_metric(rows)
    # runs that differ only in lora_r belong together; other settings (e.g. a smoke run) apart. The
    # fingerprint of the resolved fairseq options differs with lora_r too, so it is left out with it
    base = rows["_config_params"].map(lambda c: canonical_config({k: v for k, v in c.items()
                                                                  if k not in ("lora_r", "options_sha")}))
    rows = rows.assign(_base=base)
    lines, verdicts = [], []
    for (model, base_config), block in rows.groupby(["model", "_base"], sort=True):
        note = dev_note(metric)
        header = ["lora_r", "seeds", f"{metric} (ours, %{'; ' + note if note else ''})", "per seed",
                  "trainable (ours, from the rows)"]
        body, groups = [], {}
        for r, part in sorted(block.groupby("_rank"), key=lambda item: float(item[0])):
            found = values(part, metric)
            groups[f"r={format_config_value(r)}"] = found
            trained = sorted({int(v) for v in part["trainable_params"].dropna()}) if "trainable_params" in part else []
            body.append([format_config_value(r), len(part), seeds_text(found), seed_list(part, metric),
                         ", ".join(f"{t:,}" for t in trained) or "–"])
        lines += [f"Model `{model}`, settings `{base_config or '(none)'}`:", "", markdown_rows(header, body), ""]
        verdicts.append(judge_similar(groups, margin=EQUIVALENCE_MARGIN, metric=metric))
    return lines, verdicts


def _published_list(figures) -> str:
    return f"{', '.join(map(str, figures))} (mean {np.mean(figures):.1f})"


def evaluate_001(loaded):
    rows = loaded["cls_books_pretrained_vs_random"]
    published = PUBLISHED["001"]["test_accuracy"]
    minilm = rows[(rows["model"] == "minilm") & (rows["method"] == "full")]
    header = ["init", "model", "config (chosen on dev)", "seeds", "metric", "ours (%)", "per seed", "published (%)"]
    body, chosen = [], {}
    for init in ("pretrained", "random"):
        part = minilm[minilm["init"] == init]
        if part.empty:
            continue
        config, best, n_configs = choose_on_dev(part)
        metric = evaluation_metric(best)
        chosen[init] = (best, metric)
        body.append([init, "minilm", f"{n_configs} config(s)", len(best), metric_label(metric, n_configs),
                     seeds_text(values(best, metric)), seed_list(best, metric), _published_list(published[init])])
    for (model, init), part in rows[rows["model"] != "minilm"].groupby(["model", "init"], sort=True):
        config, best, n_configs = choose_on_dev(part)
        metric = evaluation_metric(best)
        note = " (the lab's architecture, MODEL unset)" if model == "roberta-small" else ""
        body.append([init, f"{model}{note}", f"{n_configs} config(s)", len(best), metric_label(metric, n_configs),
                     seeds_text(values(best, metric)), seed_list(best, metric), "–"])
    lines = [markdown_rows(header, body), ""] if body else ["No rows."]
    if set(chosen) != {"pretrained", "random"}:
        missing = {"pretrained", "random"} - set(chosen)
        return lines, [Verdict("inconclusive", f"no MiniLM {' or '.join(sorted(missing))} rows to compare.")]
    (pre, metric), (rand, metric_r) = chosen["pretrained"], chosen["random"]
    if metric != metric_r:
        metric = "dev_accuracy"
    gap = np.mean(published["pretrained"]) - np.mean(published["random"])
    return lines, [judge_greater(values(pre, metric), values(rand, metric), "pretrained", "random", gap, metric)]


def _percent(fraction) -> str:
    return f"{100 * fraction:.1f}"


def evaluate_002(loaded):
    rows = loaded["sst2_bitfit_grid"]
    rows = rows[rows["method"].isin(["full", "bitfit"])]
    published = PUBLISHED["002"]
    verdicts = []
    header = ["model", "init", "method", "configs", "best config (on dev)", "dev_accuracy (%)",
              "reported metric", "ours (%)", "published best dev / test (%)"]
    body = []
    for (model, init), block in rows.groupby(["model", "init"], sort=True):
        summary = aggregate(block, [m for m in ("dev_accuracy", "test_accuracy") if m in block.columns])
        chosen = {}
        for method in ("full", "bitfit"):
            part = block[block["method"] == method]
            if part.empty:
                continue
            key = (part["task"].iloc[0], model, method, init, "fairseq")
            sweep = {key: sorted(set(part["config"]))}
            selected = select_best(summary, sweep, "dev_accuracy", warn=lambda m: None)
            if selected.empty:
                continue
            best = part[part["config"] == selected["best_config"].iloc[0]]
            metric = "test_accuracy" if int(selected["test_n"].iloc[0] or 0) > 0 else "dev_accuracy"
            chosen[method] = (best, metric)
            pub = published[method]
            body.append([model, init, method, len(sweep[key]), config_text(best),
                         seeds_text(values(best, "dev_accuracy")), metric_label(metric, len(sweep[key])),
                         seeds_text(values(best, metric)),
                         f"{_percent(pub['dev'])} / {_percent(pub['test'])} (lr {pub['lr']}, batch {pub['batch']})"])
        if set(chosen) != {"full", "bitfit"}:
            verdicts.append(Verdict("inconclusive", f"{model} ({init}): only {', '.join(chosen) or 'no'} method rows."))
            continue
        (full, metric_f), (bitfit, metric_b) = chosen["full"], chosen["bitfit"]
        metric = metric_f if metric_f == metric_b else "dev_accuracy"
        gap = 100 * (published["full"]["test"] - published["bitfit"]["test"])
        verdict = judge_greater(values(full, metric), values(bitfit, metric), "full", "BitFit", gap, metric)
        verdicts.append(Verdict(verdict.label, f"{model} ({init} init): {verdict.reason}"))
    lines = [markdown_rows(header, body), ""] if body else ["No full or BitFit rows."]
    return lines, verdicts


def _published_stat(pair) -> str:
    mean, std = pair
    return f"{_percent(mean)} ± {_percent(std)}"


def evaluate_004(loaded):
    published = PUBLISHED["004"]
    chosen = {}
    header = ["method", "init", "config (chosen on dev)", "seeds", "accuracy (ours, %)", "macro-F1 (ours, %)",
              "published accuracy", "published macro-F1"]
    body = []
    for method, recipe in (("full", "restaurant_full"), ("adapter", "restaurant_adapter")):
        rows = loaded.get(recipe)
        if rows is None:
            continue
        rows = rows[(rows["method"] == method) & (rows["init"] == "pretrained")]
        for model, part in rows.groupby("model", sort=True):
            config, best, n_configs = choose_on_dev(part)
            acc, f1 = evaluation_metric(best), evaluation_metric(best, "macro_f1")
            chosen.setdefault(method, {})[model] = (best, acc, f1)
            body.append([f"{method} ({model})", "pretrained", f"{n_configs} config(s)", len(best),
                         f"{seeds_text(values(best, acc))} [{metric_label(acc, n_configs)}]",
                         f"{seeds_text(values(best, f1))} [{metric_label(f1, n_configs)}]",
                         _published_stat(published[method]["accuracy"]),
                         _published_stat(published[method]["macro_f1"])])
    lines = [markdown_rows(header, body), ""] if body else ["No pretrained rows."]
    models = sorted(set(chosen.get("full", {})) & set(chosen.get("adapter", {})))
    if not models:
        have = ", ".join(sorted(chosen)) or "none"
        return lines, [Verdict("inconclusive", f"needs pretrained rows of both full and adapter (have: {have}).")]
    verdicts = []
    for model in models:
        full, adapter = chosen["full"][model], chosen["adapter"][model]
        for index, name in ((1, "accuracy"), (2, "macro_f1")):
            metric = full[index] if full[index] == adapter[index] else f"dev_{name}"
            gap = 100 * (published["full"][name][0] - published["adapter"][name][0])
            verdicts.append(judge_greater(values(full[0], metric), values(adapter[0], metric), "full",
                                          "adapters", gap, metric))
    return lines, verdicts


# ---------------------------------------------------------------------------- definitions

@dataclass
class Finding:
    report: str
    title: str
    runs: list
    published: str  # Markdown: the report's figures
    compared: str  # Markdown: what our runs compare
    evaluate: object  # (loaded: dict recipe -> rows) -> (lines, [Verdict])


def majority_share(path: Path):
    """The share of a TSV file's most frequent ``label``, or None where the file cannot be read."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        return None
    header = lines[0].split("\t") if lines else []
    if "label" not in header or len(lines) < 2:
        return None
    column = header.index("label")
    labels = Counter(line.split("\t")[column] for line in lines[1:])
    return max(labels.values()) / sum(labels.values())


def template_values(runs: dict) -> dict:
    """report id -> the values its title, published and compared templates quote."""
    p = PUBLISHED
    grid = (runs["sst2_lora_rank"].default("GRID") or "").partition("lora_r=")[2]
    ours_ranks = [r for r in grid.split(",") if r] or list(p["000"]["trainable"])
    majority = majority_share(shared_dir().joinpath(*SST2_DEV))
    quick = BITFIT_GRID_QUICK
    seeds = {name: run.default("SEEDS") or "(the recipe's)" for name, run in runs.items()}
    return {
        "000": {"ranks": listing(p["000"]["trainable"], " or "), "report_ranks": listing(p["000"]["trainable"]),
                "ours_ranks": listing(ours_ranks, ", "), "model": p["000"]["model"], "lr": p["000"]["lr"],
                "batch": p["000"]["batch"], "epochs": p["000"]["epochs"],
                "accuracy": f"{100 * p['000']['sst2_accuracy']:g}", "seeds": seeds["sst2_lora_rank"],
                "margin": f"{EQUIVALENCE_MARGIN:g}"},
        "001": {**{k: p["001"][k] for k in ("layers", "d", "epochs")}, "vocab": f"{p['001']['vocab']:,}",
                "seeds": "/".join(map(str, p["001"]["seeds"])),
                **{init: " / ".join(map(str, figures)) for init, figures in p["001"]["test_accuracy"].items()},
                **{f"{init}_mean": f"{np.mean(figures):.1f}" for init, figures in p["001"]["test_accuracy"].items()}},
        "002": {"layers": p["002"]["layers"], "hidden": p["002"]["hidden"], "epochs": p["002"]["epochs"],
                "batches": ",".join(p["002"]["grid"]["batch"]), "lrs": ",".join(p["002"]["grid"]["lr"]),
                **{f"{m}_{k}": f"{p['002'][m][k]:.3f}" for m in ("full", "bitfit") for k in ("dev", "test")},
                **{f"{m}_{k}": p["002"][m][k] for m in ("full", "bitfit") for k in ("lr", "batch")},
                "updates": math.ceil(quick["max_train"] / min(quick["batches"])) * quick["epochs"],
                "majority": "" if majority is None else f" ({100 * majority:.1f}% of SST-2 dev)"},
        "004": {"model": p["004"]["model"], "seeds": p["004"]["seeds"], "epochs": p["004"]["epochs"],
                **{f"{m}_{k}": " ± ".join(f"{v:.3f}" for v in p["004"][m][k])
                   for m in ("full", "adapter") for k in ("accuracy", "macro_f1")},
                "full_seeds": seeds["restaurant_full"], "adapter_seeds": seeds["restaurant_adapter"]},
    }


def default_findings() -> list:
    runs = {"sst2_lora_rank": RecipeRun("sst2_lora_rank", {"MODEL": "minilm"}),
            "cls_books_pretrained_vs_random": RecipeRun("cls_books_pretrained_vs_random",
                                                        {"MODEL": "minilm", "INITS": "pretrained random"}),
            "sst2_bitfit_grid": RecipeRun("sst2_bitfit_grid"),
            "restaurant_full": RecipeRun("restaurant_full", {"MODEL": "minilm", "INITS": "pretrained"}),
            "restaurant_adapter": RecipeRun("restaurant_adapter", {"MODEL": "minilm", "INITS": "pretrained"})}
    recipes = {"000": ["sst2_lora_rank"], "001": ["cls_books_pretrained_vs_random"], "002": ["sst2_bitfit_grid"],
               "004": ["restaurant_full", "restaurant_adapter"]}
    evaluate = {"000": evaluate_000, "001": evaluate_001, "002": evaluate_002, "004": evaluate_004}
    found = template_values(runs)
    return [Finding(report, fill("findings", f"title_{report}", **found[report]), [runs[r] for r in names],
                    fill("findings", f"published_{report}", **found[report]),
                    fill("findings", f"compared_{report}", **found[report]), evaluate[report])
            for report, names in recipes.items()]


FINDINGS = default_findings()


def evaluate_finding(finding: Finding, work_dir: Path, ran: dict, tables_only: bool):
    """(markdown lines, verdicts) of one finding, from whatever rows exist.

    Results that cannot be read or evaluated (InputError) make the finding inconclusive with the
    reason; any other exception is a bug and propagates.
    """
    lines, loaded, problems = [], {}, []
    for run in finding.runs:
        rows, note = load_rows(run, work_dir)
        status = ran.get(run.recipe)
        if rows is None and not run.path.is_file():
            problems.append(f"`recipes/{run.recipe}.sh` does not exist yet; once it does, run "
                            f"`{run.command(work_dir)}`")
        elif rows is None:
            why = "--tables-only: the recipes were not run" if tables_only else \
                f"the recipe exited with {status.get('code')} (log `{status.get('log')}`)" \
                if status and status["status"] == "failed" else "no results"
            problems.append(f"{note} ({why}); run `{run.command(work_dir)}`")
        else:
            if status and status["status"] == "failed":
                lines.append(f"- note: the recipe exited with {status.get('code')} (log `{status.get('log')}`); "
                             "the rows it had written are used.")
            lines.append(f"- {note} (profile: {profiles(rows)}), from `{run.command(work_dir)}`"
                         + ("" if run.path.is_file() else f" (`recipes/{run.recipe}.sh` is not in this checkout)"))
            loaded[run.recipe] = rows
    if problems:
        lines = [f"- {text}" for text in problems] + lines
    if not loaded:
        return lines, [Verdict("not run yet", "no results yet; the command to run is listed above.")]
    try:
        table, verdicts = finding.evaluate(loaded)
    except InputError as exc:  # rows that load but cannot be judged
        return lines, [Verdict("inconclusive", f"the rows could not be evaluated: {exc}")]
    return lines + [""] + table, verdicts
