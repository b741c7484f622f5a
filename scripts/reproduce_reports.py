#!/usr/bin/env python
"""Reproduce the course reports' published figures beside ours, in one Markdown report.

    python scripts/reproduce_reports.py --out-dir reports/ [--tables-only] [--work-dir W]

Writes ``OUT_DIR/reports.md`` with, for each published figure, the number this project computes:

1. trainable-parameter counts (reports 000, 001, 002, 003), computed now on randomly initialised
   models of the reports' shapes through the plugin, beside peft's count of the same configuration
   on a config-only HuggingFace twin (nothing is downloaded);
2. report 004's memory arithmetic through ``scripts/memory_estimate.py``;
3. the accuracy findings (reports 000, 001, 002, 004) at CPU scale with the substitute pretrained
   model all-MiniLM-L6-v2, each read from the ``runs.jsonl`` of a recipe. Unless ``--tables-only``,
   the recipes run first (a recipe skips the runs it already has, so a second call is cheap); their
   outputs go to ``--work-dir`` (default: the project folder), which is passed on as ``WORK_DIR``.
   Other environment variables reach the recipes as they are (e.g. ``MAX_TRAIN=200 MAX_UPDATES=4
   SEEDS=1`` for a smoke run).

Each finding is judged "held", "did not hold" or "inconclusive" from the aggregated means, the
seeds' spread and Welch's t-test (the rules are written into the report). A finding whose recipe
has no results (``--tables-only``, or a recipe that does not exist yet) is marked "not run yet"
with the command that produces it.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import logging
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import aggregate_seeds  # noqa: E402
import memory_estimate  # noqa: E402

PLUGIN_DIR = REPO / "fairseq_plugins"
REPORT_NAME = "reports.md"
ALPHA = 0.05  # Welch's test level

# ============================================================================ 1. parameter counts


def _write_dictionaries(root: Path, vocab_size: int, num_classes: int = 2) -> Path:
    """Dictionary files giving an embedding of ``vocab_size`` rows (fairseq adds 4 symbols, the task <mask>)."""
    (root / "input0").mkdir(parents=True, exist_ok=True)
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "input0" / "dict.txt").write_text("".join(f"w{i} 1\n" for i in range(vocab_size - 5)))
    (root / "label" / "dict.txt").write_text("".join(f"c{i} 1\n" for i in range(num_classes)))
    return root


def _build_fairseq(vocab_size: int, *model_args: str):
    """The plugin model through fairseq's own option parsing (random weights), sentence classification."""
    import torch
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    with tempfile.TemporaryDirectory(prefix="reproduce_reports.") as tmp:
        data = _write_dictionaries(Path(tmp), vocab_size)
        argv = [str(data), "--user-dir", str(PLUGIN_DIR), "--task", "sentence_prediction",
                "--criterion", "sentence_prediction", "--init-token", "0", "--separator-token", "2",
                "--num-classes", "2", "--cpu", *model_args]
        args = options.parse_args_and_arch(options.get_training_parser(), input_args=argv)
        cfg = convert_namespace_to_omegaconf(args)
        torch.manual_seed(1)
        task = tasks.setup_task(cfg.task)
        return task.build_model(cfg.model)


def fairseq_count(vocab_size: int, *model_args: str) -> dict:
    """parameter_report of the plugin model plus its head's trained part."""
    from fairseq_plugins.trainable import parameter_report

    model = _build_fairseq(vocab_size, *model_args)
    report = parameter_report(model, model.trainable_groups)
    report["head"] = sum(n for label, n in report["groups"].items() if label.startswith("head "))
    report["model"] = model
    return report


def _hf_total(model) -> int:
    """Parameters the HF model computes with, each once (peft's frozen copy of a saved module left out)."""
    return sum(p.numel() for n, p in model.named_parameters() if ".original_module." not in f".{n}")


def peft_count(hf_model, peft_config, head_modules) -> dict:
    """peft's trainable count of ``hf_model`` wrapped with ``peft_config``; which head modules train."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = get_peft_model(hf_model, peft_config)
    trainable, _ = model.get_nb_trainable_parameters()
    trained_heads = [name for name in head_modules
                     if any(p.requires_grad for p in model.get_base_model().get_submodule(name).parameters())]
    head = sum(p.numel() for name in trained_heads
               for p in model.get_base_model().get_submodule(name).parameters() if p.requires_grad)
    return {"trainable": trainable, "total": _hf_total(model), "head": head, "trained_heads": trained_heads}


def _bert_config(**shape):
    from transformers import BertConfig

    return BertConfig(**shape)  # defaults: bert-base-uncased (12 x 768, vocab 30,522, 512 positions)


def _hf_bert(**shape):
    from transformers import BertForSequenceClassification

    return BertForSequenceClassification(_bert_config(**shape))


def _hf_distilbert():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    # distilbert-base-cased: 6 x 768, 12 heads, FFN 3072, 28,996 WordPiece tokens, 512 positions
    return DistilBertForSequenceClassification(DistilBertConfig(vocab_size=28_996, n_layers=6, dim=768,
                                                                n_heads=12, hidden_dim=3072))


BERT_BASE_ARGS = ("--arch", "roberta_peft_bert_base", "--max-positions", "512")
BERT_TINY_ARGS = ("--arch", "roberta_peft_bert_tiny", "--max-positions", "512")
BERT_TINY_SHAPE = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
DISTILBERT_ARGS = ("--arch", "roberta_peft_distilbert", "--max-positions", "512")
DISTILBERT_HEAD = ("pre_classifier", "classifier")
ROBERTA_SMALL = dict(vocab=32_000, d=512, n_pos=256, layers=4, d_ff=512)

# report 003's four configurations: (label, our options, peft config factory)
ATTENTION = "q_proj,k_proj,v_proj,out_proj"
ALL_LINEAR = ATTENTION + ",fc1,fc2"
HF_ATTENTION = ["q_lin", "k_lin", "v_lin", "out_lin"]
HF_ALL_LINEAR = HF_ATTENTION + ["lin1", "lin2"]


def _lora(r, alpha, dropout, targets):
    from peft import LoraConfig, TaskType

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                      task_type=TaskType.SEQ_CLS)


def _ia3(targets, feedforward):
    from peft import IA3Config, TaskType

    return IA3Config(target_modules=targets, feedforward_modules=feedforward, task_type=TaskType.SEQ_CLS)


REPORT_003 = [
    ("LoRA r=64 α=16 (dropout 0.1) on q, k, v, out",
     ("--peft", "lora", "--lora-r", "64", "--lora-alpha", "16", "--lora-targets", ATTENTION),
     lambda: _lora(64, 16, 0.1, HF_ATTENTION)),
    ("LoRA r=64 α=16 (dropout 0.1) on q, k, v, out, ffn1, ffn2",
     ("--peft", "lora", "--lora-r", "64", "--lora-alpha", "16", "--lora-targets", ALL_LINEAR),
     lambda: _lora(64, 16, 0.1, HF_ALL_LINEAR)),
    ("LoRA r=32 α=32 (dropout 0.2) on q, k, v, out",
     ("--peft", "lora", "--lora-r", "32", "--lora-alpha", "32", "--lora-targets", ATTENTION),
     lambda: _lora(32, 32, 0.2, HF_ATTENTION)),
    ("IA3 on q, k, v, out, ffn1, ffn2 (ffn1, ffn2 feed-forward)",
     ("--peft", "ia3", "--ia3-targets", ALL_LINEAR, "--ia3-feedforward", "fc1,fc2"),
     lambda: _ia3(HF_ALL_LINEAR, ["lin1", "lin2"])),
]


def _quiet():
    """fairseq's, hydra's and the plugin's INFO logs and deprecation warnings say nothing here."""
    for name in ("fairseq", "fairseq_plugins", "hydra", "transformers", "peft"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


@functools.lru_cache(maxsize=1)
def count_tables() -> dict:
    """Every count of section 1 (computed once per process)."""
    _quiet()
    out = {}

    # report 000: bert-base, LoRA on the query projection, classifier over a frozen pooler
    rows = []
    for rank, published in ((1, 19_970), (4, 75_266), (16, 296_450)):
        ours = fairseq_count(30_522, *BERT_BASE_ARGS, "--peft", "lora", "--lora-targets", "q_proj",
                             "--lora-r", str(rank), "--lora-alpha", str(rank), "--head-trainable", "out_proj")
        theirs = peft_count(_hf_bert(), _lora(rank, rank, 0.0, ["query"]), ("bert.pooler.dense", "classifier"))
        rows.append({"rank": rank, "ours": ours["trainable"], "ours_total": ours["total"],
                     "ours_head": ours["head"], "lora": ours["groups"]["lora q_proj"],
                     "peft": theirs["trainable"], "peft_total": theirs["total"], "peft_head": theirs["head"],
                     "peft_heads": theirs["trained_heads"], "published": published})
    out["000"] = rows

    # report 002: BERT-tiny, BitFit with the head's biases only, and full fine-tuning
    bitfit = fairseq_count(30_522, *BERT_TINY_ARGS, "--peft", "bitfit", "--bitfit-biases", "all",
                           "--head-trainable", "bias")
    full = fairseq_count(30_522, *BERT_TINY_ARGS, "--peft", "none")
    model = full.pop("model")
    lm_head = sum(p.numel() for n, p in model.named_parameters() if n.startswith("encoder.lm_head."))
    positions = tuple(model.encoder.sentence_encoder.embed_positions.weight.shape)
    hf_tiny = _hf_bert(**BERT_TINY_SHAPE)
    hf_biases = sum(p.numel() for n, p in hf_tiny.named_parameters() if n.endswith(".bias"))
    hf_full = sum(p.numel() for p in hf_tiny.parameters())
    out["002"] = {"bitfit": bitfit["trainable"], "bitfit_head": bitfit["head"], "hf_bitfit": hf_biases,
                  "full": full["trainable"], "full_total": full["total"], "hf_full": hf_full,
                  "lm_head": lm_head, "positions": positions,
                  "token_types": hf_tiny.bert.embeddings.token_type_embeddings.weight.numel(),
                  "hf_positions": tuple(hf_tiny.bert.embeddings.position_embeddings.weight.shape)}

    # report 003: DistilBERT shape, LoRA and IA3 configurations; the report gives no count
    rows = []
    for label, options, config in REPORT_003:
        ours = fairseq_count(28_996, *DISTILBERT_ARGS, *options, "--head-trainable", "all")
        theirs = peft_count(_hf_distilbert(), config(), DISTILBERT_HEAD)
        rows.append({"label": label, "options": " ".join(options), "ours": ours["trainable"],
                     "ours_head": ours["head"], "ours_total": ours["total"], "peft": theirs["trainable"],
                     "peft_head": theirs["head"], "peft_heads": theirs["trained_heads"],
                     "peft_total": theirs["total"]})
    out["003"] = rows

    # report 001: the formula against the model's own count of the same weights
    s = ROBERTA_SMALL
    formula = s["vocab"] * s["d"] + (s["n_pos"] + 2) * s["d"] + s["layers"] * (2 * s["d_ff"] * s["d"] + 4 * s["d"] ** 2)
    model = _build_fairseq(s["vocab"], "--arch", "roberta_peft_small", "--max-positions", str(s["n_pos"]))
    params = dict(model.named_parameters())
    embeddings = (params["encoder.sentence_encoder.embed_tokens.weight"].numel()
                  + params["encoder.sentence_encoder.embed_positions.weight"].numel())
    matrices = sum(p.numel() for n, p in params.items()
                   if ".layers." in n and n.endswith(".weight") and ("_proj." in n or ".fc" in n))
    from fairseq_plugins.trainable import counted_parameters

    out["001"] = {"formula": formula, "counted": embeddings + matrices, "embeddings": embeddings,
                  "matrices": matrices, "whole": sum(p.numel() for p in counted_parameters(model).values())}
    return out


# ============================================================================ 2. memory (report 004)

def memory_figures() -> dict:
    preset = memory_estimate.PRESETS["report004"]
    adapters = memory_estimate.estimate(preset["params"], preset["precision"], preset["trainable_fraction"],
                                        preset["peft_mode"], preset["optimizer"])
    gib = {key: adapters[f"{key}_bytes"] / memory_estimate.GIB for key in ("total", "full_finetune", "saving")}
    gb = {key: adapters[f"{key}_bytes"] / memory_estimate.GB for key in ("total", "full_finetune", "saving")}
    weights = preset["params"] * 4
    return {"preset": preset, "result": adapters, "gib": gib, "gb": gb,
            "weights_gib": weights / memory_estimate.GIB, "weights_gb": weights / memory_estimate.GB}


# ============================================================================ 3. findings

@dataclass
class Verdict:
    label: str  # held | did not hold | inconclusive | not run yet
    reason: str


def _values(rows, metric) -> np.ndarray:
    if rows is None or metric not in rows.columns:
        return np.array([])
    return rows[metric].dropna().to_numpy(float)


def welch(a, b) -> dict:
    """mean difference a - b, Welch's p (scipy, as aggregate_seeds) and the 95% CI of the difference."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    out = {"diff": float(a.mean() - b.mean()) if a.size and b.size else math.nan,
           "p": math.nan, "low": math.nan, "high": math.nan}
    if a.size < 2 or b.size < 2:
        return out
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0:
        return out
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out["p"] = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = float(stats.t.ppf(0.975, dof)) * math.sqrt(va + vb)
    out["low"], out["high"] = out["diff"] - half, out["diff"] + half
    return out


def _stat(values) -> str:
    values = np.asarray(values, float)
    if values.size == 0:
        return "–"
    if values.size == 1:
        return f"{values[0]:.1f} (1 seed)"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f} ({values.size} seeds)"


def _p(p) -> str:
    return "n/a" if math.isnan(p) else f"{p:.2g}"


def judge_greater(a, b, name_a, name_b, published_gap, metric="accuracy") -> Verdict:
    """Claim: ``a`` beats ``b`` (published gap ``published_gap`` points).

    held: a > b with Welch p < 0.05; did not hold: b > a with p < 0.05, or the 95% CI of a - b lies
    below half the published gap; inconclusive otherwise, or with fewer than 2 seeds a side.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        return Verdict("inconclusive", f"{name_a} has {a.size} and {name_b} {b.size} seeds with a {metric}; "
                                       "Welch's test needs at least 2 a side.")
    w = welch(a, b)
    ours = f"{name_a} {_stat(a)} vs {name_b} {_stat(b)}"
    gap = f"{w['diff']:+.1f} points (95% CI {w['low']:+.1f} to {w['high']:+.1f}, Welch p = {_p(w['p'])})"
    if math.isnan(w["p"]):
        return Verdict("inconclusive", f"{ours}: no seed-to-seed variance on either side, so no test is possible.")
    if w["p"] < ALPHA and w["diff"] > 0:
        return Verdict("held", f"{ours} {metric}: {name_a} leads by {gap}; published gap {published_gap:.1f} points.")
    if w["p"] < ALPHA and w["diff"] < 0:
        return Verdict("did not hold", f"{ours} {metric}: {name_b} is ahead instead, {gap}; "
                                       f"published gap {published_gap:+.1f} points for {name_a}.")
    if w["high"] < published_gap / 2:
        return Verdict("did not hold", f"{ours} {metric}: {gap}, so even half the published gap of "
                                       f"{published_gap:.1f} points is outside the 95% CI.")
    return Verdict("inconclusive", f"{ours} {metric}: {gap}; the seeds' spread leaves both no gap and "
                                   f"half the published {published_gap:.1f} points possible.")


def judge_similar(groups: dict, margin=1.0, metric="accuracy") -> Verdict:
    """Claim: the groups (label -> values) differ little.

    held: the group means span at most ``margin`` points; did not hold: they span more and the
    highest and lowest differ with Welch p < 0.05; inconclusive otherwise or with < 2 seeds a group.
    """
    groups = {k: np.asarray(v, float) for k, v in groups.items()}
    if len(groups) < 2:
        return Verdict("inconclusive", f"only {len(groups)} of the configurations have results.")
    few = [k for k, v in groups.items() if v.size < 2]
    if few:
        return Verdict("inconclusive", f"{', '.join(map(str, few))} {'has' if len(few) == 1 else 'have'} "
                                       "fewer than 2 seeds; the spread cannot be judged.")
    means = {k: v.mean() for k, v in groups.items()}
    top, bottom = max(means, key=means.get), min(means, key=means.get)
    w = welch(groups[top], groups[bottom])
    span = means[top] - means[bottom]
    listing = ", ".join(f"{k}: {_stat(v)}" for k, v in groups.items())
    if span <= margin:
        return Verdict("held", f"{metric} {listing}: the means span {span:.2f} points, within {margin:g} point "
                               f"(highest vs lowest Welch p = {_p(w['p'])}).")
    if not math.isnan(w["p"]) and w["p"] < ALPHA:
        return Verdict("did not hold", f"{metric} {listing}: {top} beats {bottom} by {span:.1f} points "
                                       f"(Welch p = {_p(w['p'])}), more than {margin:g} point.")
    return Verdict("inconclusive", f"{metric} {listing}: the means span {span:.1f} points (> {margin:g}) but "
                                   f"highest vs lowest has Welch p = {_p(w['p'])}: within the seeds' noise.")


# ---------------------------------------------------------------------------- recipes

@dataclass
class RecipeRun:
    recipe: str
    env: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return REPO / "recipes" / f"{self.recipe}.sh"

    def command(self, work_dir: Path) -> str:
        env = {} if work_dir == REPO else {"WORK_DIR": str(work_dir)}
        env.update(self.env)
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        return f"{prefix + ' ' if prefix else ''}bash recipes/{self.recipe}.sh"

    def results(self, work_dir: Path) -> Path:
        return work_dir / "results" / self.recipe / "runs.jsonl"


def run_recipe(run: RecipeRun, work_dir: Path, log_dir: Path) -> dict:
    """Run one recipe, echoing and logging its output; never raises."""
    if not run.path.is_file():
        print(f"[reproduce_reports] recipes/{run.recipe}.sh does not exist yet: skipped", flush=True)
        return {"status": "missing recipe"}
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{run.recipe}.log"
    env = {**os.environ, **run.env, "WORK_DIR": str(work_dir)}
    print(f"[reproduce_reports] $ {run.command(work_dir)}  (log: {log})", flush=True)
    start = datetime.datetime.now()
    try:
        with open(log, "w", encoding="utf-8") as handle:
            proc = subprocess.Popen(["bash", str(run.path)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                handle.write(line)
                sys.stdout.write(line)
            code = proc.wait()
    except OSError as exc:
        return {"status": "failed", "code": None, "log": log, "error": str(exc)}
    seconds = (datetime.datetime.now() - start).total_seconds()
    print(f"[reproduce_reports] {run.recipe}: exit {code} after {seconds:.0f} s", flush=True)
    return {"status": "ok" if code == 0 else "failed", "code": code, "log": log, "seconds": seconds}


def load_rows(run: RecipeRun, work_dir: Path):
    """(rows of fairseq runs or None, note): a missing or unreadable file gives None and why."""
    path = run.results(work_dir)
    if not path.is_file():
        return None, f"no `{path}`"
    try:
        rows = aggregate_seeds.load_runs([path], warn=lambda message: None)
    except aggregate_seeds.InputError as exc:
        return None, f"`{path}` cannot be read: {exc}"
    rows = rows[rows["impl"] == "fairseq"]
    if rows.empty:
        return None, f"`{path}` has no fairseq rows"
    return rows, f"{len(rows)} fairseq run{'' if len(rows) == 1 else 's'} in `{path}`"


def _profiles(rows) -> str:
    if rows is None or "profile" not in rows.columns:
        return "unknown"
    found = sorted({str(p) for p in rows["profile"].dropna() if str(p)})
    return ", ".join(found) or "unknown"


def choose_on_dev(rows, select="dev_accuracy"):
    """(chosen config, its rows, number of configs): the configuration with the best mean on dev.

    Uses aggregate_seeds' selection (``choose_config``); a test metric is never looked at.
    """
    configs = sorted(set(rows["config"]))
    if len(configs) == 1:
        return configs[0], rows, 1
    summary = aggregate_seeds.aggregate(rows, [select])
    if summary.empty:
        config = max(configs, key=lambda c: (rows["config"] == c).sum())
    else:
        config = aggregate_seeds.choose_config(summary[["config", "n", "mean", "std"]]).iloc[0]["config"]
    return config, rows[rows["config"] == config], len(configs)


def _held_out(rows, name="accuracy"):
    """The evaluation metric: test_<name> where the rows have one, else dev_<name>."""
    if f"test_{name}" in rows.columns and rows[f"test_{name}"].notna().any():
        return f"test_{name}"
    return f"dev_{name}"


def _config_text(rows, keys=("lr", "batch")) -> str:
    params = rows["_config_params"].iloc[0] if "_config_params" in rows.columns else {}
    shown = [f"{k}={aggregate_seeds.format_config_value(params[k])}" for k in keys if k in params]
    return ", ".join(shown) or "(recipe defaults)"


def _seed_list(rows, metric) -> str:
    part = rows[["seed", metric]].dropna().sort_values("seed")
    return ", ".join(f"{v:.1f}" for v in part[metric]) or "–"


# ---------------------------------------------------------------------------- the four findings

@dataclass
class Finding:
    report: str
    title: str
    runs: list
    published: list  # Markdown lines
    compared: str  # what our runs compare
    evaluate: object  # (loaded: dict recipe -> rows) -> (lines, [Verdict])


def _evaluate_000(loaded):
    rows = loaded["sst2_lora_rank"]
    rows = rows[rows["init"] == "pretrained"]
    rank = rows["_config_params"].map(lambda c: c.get("lora_r"))
    rows = rows.assign(_rank=rank)[rank.notna()]
    if rows.empty:
        return ["No pretrained rows with a `lora_r` in their config."], [Verdict("inconclusive", "no rank rows.")]
    metric = _held_out(rows)
    # runs that differ only in lora_r belong together; other settings (e.g. a smoke run) apart
    base = rows["_config_params"].map(lambda c: aggregate_seeds.canonical_config(
        {k: v for k, v in c.items() if k != "lora_r"}))
    rows = rows.assign(_base=base)
    lines, verdicts = [], []
    for (model, base_config), block in rows.groupby(["model", "_base"], sort=True):
        header = ["lora_r", "seeds", f"{metric} (ours, %)", "per seed", "trainable (ours, from the rows)"]
        body, groups = [], {}
        for r, part in sorted(block.groupby("_rank"), key=lambda item: float(item[0])):
            values = _values(part, metric)
            groups[f"r={aggregate_seeds.format_config_value(r)}"] = values
            trained = sorted({int(v) for v in part["trainable_params"].dropna()}) if "trainable_params" in part else []
            body.append([aggregate_seeds.format_config_value(r), len(part), _stat(values),
                         _seed_list(part, metric), ", ".join(f"{t:,}" for t in trained) or "–"])
        lines += [f"Model `{model}`, settings `{base_config or '(none)'}`:", ""]
        lines += aggregate_seeds._markdown_table(header, body) + [""]
        verdict = judge_similar(groups, margin=1.0, metric=metric)
        verdicts.append(verdict)
    return lines, verdicts


PUBLISHED_001 = {"pretrained": [79.9, 80.0, 83.5], "random": [67.5, 68.1, 67.4]}


def _evaluate_001(loaded):
    rows = loaded["cls_books_pretrained_vs_random"]
    lines, verdicts = [], []
    minilm = rows[(rows["model"] == "minilm") & (rows["method"] == "full")]
    header = ["init", "model", "config (chosen on dev)", "seeds", "metric", "ours (%)", "per seed", "published (%)"]
    body, chosen = [], {}
    for init in ("pretrained", "random"):
        part = minilm[minilm["init"] == init]
        if part.empty:
            continue
        config, best, n_configs = choose_on_dev(part)
        metric = _held_out(best)
        chosen[init] = (best, metric)
        published = PUBLISHED_001[init]
        body.append([init, "minilm", f"{n_configs} config(s)", len(best), metric, _stat(_values(best, metric)),
                     _seed_list(best, metric), f"{', '.join(map(str, published))} (mean {np.mean(published):.1f})"])
    others = rows[rows["model"] != "minilm"]
    for (model, init), part in others.groupby(["model", "init"], sort=True):
        config, best, n_configs = choose_on_dev(part)
        metric = _held_out(best)
        note = " (the lab's architecture, MODEL unset)" if model == "roberta-small" else ""
        body.append([init, f"{model}{note}", f"{n_configs} config(s)", len(best), metric,
                     _stat(_values(best, metric)), _seed_list(best, metric), "–"])
    lines += aggregate_seeds._markdown_table(header, body) + [""] if body else ["No rows."]
    if set(chosen) != {"pretrained", "random"}:
        missing = {"pretrained", "random"} - set(chosen)
        return lines, [Verdict("inconclusive", f"no MiniLM {' or '.join(sorted(missing))} rows to compare.")]
    (pre, metric), (rand, metric_r) = chosen["pretrained"], chosen["random"]
    if metric != metric_r:
        metric = "dev_accuracy"
    gap = np.mean(PUBLISHED_001["pretrained"]) - np.mean(PUBLISHED_001["random"])
    verdicts.append(judge_greater(_values(pre, metric), _values(rand, metric), "pretrained", "random",
                                  gap, metric))
    return lines, verdicts


PUBLISHED_002 = {"full": {"dev": 88.8, "test": 87.6, "config": "lr 3e-4, batch 64"},
                 "bitfit": {"dev": 62.4, "test": 62.3, "config": "lr 3e-4, batch 16"}}


def _evaluate_002(loaded):
    rows = loaded["sst2_bitfit_grid"]
    rows = rows[rows["method"].isin(["full", "bitfit"])]
    lines, verdicts = [], []
    header = ["model", "init", "method", "configs", "best config (on dev)", "dev_accuracy (%)",
              "held-out metric", "ours (%)", "published best dev / test (%)"]
    body = []
    for (model, init), block in rows.groupby(["model", "init"], sort=True):
        summary = aggregate_seeds.aggregate(block, [m for m in ("dev_accuracy", "test_accuracy") if m in block.columns])
        chosen = {}
        for method in ("full", "bitfit"):
            part = block[block["method"] == method]
            if part.empty:
                continue
            key = (part["task"].iloc[0], model, method, init, "fairseq")
            sweep = {key: sorted(set(part["config"]))}
            selected = aggregate_seeds.select_best(summary, sweep, "dev_accuracy", warn=lambda m: None)
            if selected.empty:
                continue
            best_config = selected["best_config"].iloc[0]
            best = part[part["config"] == best_config]
            metric = "test_accuracy" if int(selected["test_n"].iloc[0] or 0) > 0 else "dev_accuracy"
            chosen[method] = (best, metric)
            pub = PUBLISHED_002[method]
            body.append([model, init, method, len(sweep[key]), _config_text(best), _stat(_values(best, "dev_accuracy")),
                         metric + ("" if metric.startswith("test") else " (no labelled test: the selection metric)"),
                         _stat(_values(best, metric)), f"{pub['dev']} / {pub['test']} ({pub['config']})"])
        if set(chosen) != {"full", "bitfit"}:
            verdicts.append(Verdict("inconclusive", f"{model} ({init}): only {', '.join(chosen) or 'no'} method rows."))
            continue
        (full, metric_f), (bitfit, metric_b) = chosen["full"], chosen["bitfit"]
        metric = metric_f if metric_f == metric_b else "dev_accuracy"
        verdict = judge_greater(_values(full, metric), _values(bitfit, metric), "full", "BitFit",
                                PUBLISHED_002["full"]["test"] - PUBLISHED_002["bitfit"]["test"], metric)
        verdicts.append(Verdict(verdict.label, f"{model} ({init} init): {verdict.reason}"))
    lines += aggregate_seeds._markdown_table(header, body) + [""] if body else ["No full or BitFit rows."]
    return lines, verdicts


PUBLISHED_004 = {"full": {"accuracy": (85.7, 0.4), "macro_f1": (78.0, 0.7)},
                 "adapter": {"accuracy": (82.6, 0.3), "macro_f1": (71.9, 0.8)}}


def _evaluate_004(loaded):
    chosen = {}
    header = ["method", "init", "config (chosen on dev)", "seeds", "accuracy (ours, %)", "macro-F1 (ours, %)",
              "published accuracy", "published macro-F1"]
    body = []
    for method, recipe in (("full", "restaurant_full"), ("adapter", "restaurant_adapter")):
        rows = loaded.get(recipe)
        if rows is None:
            continue
        rows = rows[(rows["method"] == method) & (rows["init"] == "pretrained")]
        if rows.empty:
            continue
        for model, part in rows.groupby("model", sort=True):
            config, best, n_configs = choose_on_dev(part)
            acc, f1 = _held_out(best), _held_out(best, "macro_f1")
            chosen.setdefault(method, {})[model] = (best, acc, f1)
            pub = PUBLISHED_004[method]
            body.append([f"{method} ({model})", "pretrained", f"{n_configs} config(s)", len(best),
                         f"{_stat(_values(best, acc))} [{acc}]", f"{_stat(_values(best, f1))} [{f1}]",
                         f"{pub['accuracy'][0]:.1f} ± {pub['accuracy'][1]:.1f}",
                         f"{pub['macro_f1'][0]:.1f} ± {pub['macro_f1'][1]:.1f}"])
    lines = aggregate_seeds._markdown_table(header, body) + [""] if body else ["No pretrained rows."]
    verdicts = []
    models = sorted(set(chosen.get("full", {})) & set(chosen.get("adapter", {})))
    if not models:
        have = ", ".join(sorted(chosen)) or "none"
        return lines, [Verdict("inconclusive", f"needs pretrained rows of both full and adapter (have: {have}).")]
    for model in models:
        full, adapter = chosen["full"][model], chosen["adapter"][model]
        for index, name in ((1, "accuracy"), (2, "macro_f1")):
            metric = full[index] if full[index] == adapter[index] else f"dev_{name}"
            gap = PUBLISHED_004["full"][name][0] - PUBLISHED_004["adapter"][name][0]
            verdict = judge_greater(_values(full[0], metric), _values(adapter[0], metric), "full",
                                    "adapters", gap, metric)
            verdicts.append(verdict)
    return lines, verdicts


FINDINGS = [
    Finding("000", "LoRA rank 1, 4 or 16 makes little difference (SST-2)",
            [RecipeRun("sst2_lora_rank", {"MODEL": "minilm"})],
            ["bert-base-uncased, LoRA on the query projection, classifier over a frozen pooler, lr 1e-3, "
             "batch 16, 5 epochs: SST-2 ≈ 90 for r = 1, 4 and 16 (rank made little difference)."],
            "pretrained MiniLM, LoRA on q_proj with r = 1, 4, 16 and the classifier over a frozen pooler "
            "(`HEAD=out_proj`), the recipe's seeds (1 2 3 unless `SEEDS` is set); the report's model was "
            "bert-base-uncased. Judged on the spread of the rank means: at most 1 accuracy point is \"little difference\".",
            _evaluate_000),
    Finding("001", "a pretrained model beats its random-init twin by far (CLS books, full fine-tuning)",
            [RecipeRun("cls_books_pretrained_vs_random", {"MODEL": "minilm", "INITS": "pretrained random"})],
            ["RoBERTa-small (4 × 512, 32,000 French sentencepiece pieces), 5 epochs, seeds 0/1/2, test accuracy: "
             "pretrained 79.9 / 80.0 / 83.5 (mean 81.1), random init 67.5 / 68.1 / 67.4 (mean 67.7)."],
            "pretrained all-MiniLM-L6-v2 (English WordPiece vocabulary on French text) against the same MiniLM "
            "architecture with random weights (`MODEL=minilm`); the lab compared its pretrained RoBERTa-small "
            "with a random RoBERTa-small, which is what the recipe's random rows are only when `MODEL` is unset "
            "(model `roberta-small`, listed below when present, with no pretrained twin here).",
            _evaluate_001),
    Finding("002", "BitFit on a tiny model loses much accuracy against full fine-tuning (SST-2)",
            [RecipeRun("sst2_bitfit_grid")],
            ["BERT-tiny (2 × 128), grid batch {8,16,32,64,128} × lr {3e-4,1e-4,5e-5,3e-5}, 4 epochs: full "
             "best dev 0.888 (lr 3e-4, batch 64), test 0.876; BitFit (biases, head biases) best dev 0.624 "
             "(lr 3e-4, batch 16), test 0.623."],
            "full fine-tuning against BitFit with the head's biases only, on BERT-tiny's shape with random "
            "weights (no pretrained BERT-tiny here; the report's was pretrained) and on pretrained MiniLM, "
            "over the recipe's lr × batch grid; each method's best configuration is chosen on dev "
            "(aggregate_seeds' sweep selection, never on test) and compared on its held-out metric. With the head's "
            "weights frozen at their random init, BitFit learns slowly at the report's learning rates: in the quick "
            "profile (at most 250 updates) it can stay at the majority class (50.9% of SST-2 dev), which makes "
            "the gap an upper bound of what BitFit loses there; `PROFILE=paper` gives it the report's 4 epochs "
            "of every sentence.",
            _evaluate_002),
    Finding("004", "adapters trail full fine-tuning on small data (SemEval-14 restaurants)",
            [RecipeRun("restaurant_full", {"MODEL": "minilm", "INITS": "pretrained"}),
             RecipeRun("restaurant_adapter", {"MODEL": "minilm", "INITS": "pretrained"})],
            ["roberta-base, 5 seeds, 70 epochs: full fine-tuning accuracy 0.857 ± 0.004, macro-F1 0.780 ± 0.007; "
             "Houlsby adapters 0.826 ± 0.003 / 0.719 ± 0.008."],
            "pretrained MiniLM, full fine-tuning against Houlsby adapters (seeds 1 2 3 and 1 2 3 4 5 unless `SEEDS` "
            "is set; the table gives the count), the recipes' "
            "quick profile on CPU; the report's model was roberta-base.",
            _evaluate_004),
]


def evaluate_finding(finding: Finding, work_dir: Path, ran: dict, tables_only: bool):
    """(markdown lines, verdicts) of one finding, from whatever rows exist; never raises."""
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
            lines.append(f"- {note} (profile: {_profiles(rows)}), from `{run.command(work_dir)}`"
                         + ("" if run.path.is_file() else f" (`recipes/{run.recipe}.sh` is not in this checkout)"))
            loaded[run.recipe] = rows
    if problems:
        lines = [f"- {text}" for text in problems] + lines
    if not loaded:
        return lines, [Verdict("not run yet", "no results yet; the command to run is listed above.")]
    try:
        table, verdicts = finding.evaluate(loaded)
    except Exception as exc:  # a malformed row must not stop the report
        return lines, [Verdict("inconclusive", f"the rows could not be evaluated ({type(exc).__name__}: {exc}).")]
    return lines + [""] + table, verdicts


# ============================================================================ the report

def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _profile() -> str:
    if os.environ.get("PROFILE"):
        return f"{os.environ['PROFILE']} (PROFILE from the environment)"
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    return "paper (a GPU is present)" if gpu else "quick (the recipes' default without a GPU)"


def _n(value) -> str:
    return "–" if value is None else f"{value:,}"


def _same(a, b) -> str:
    return "yes" if a == b else f"no ({a - b:+,})"


def render_counts(counts: dict) -> list:
    md = aggregate_seeds._markdown_table
    out = ["## 1. Trainable-parameter counts", "",
           "Computed now on randomly initialised models of the reports' shapes: ours through the plugin "
           "(`fairseq_plugins.trainable.parameter_report`; the model built by fairseq's own option parsing, "
           "with a dictionary of the vocabulary's size), peft's with `get_peft_model(...)."
           "get_nb_trainable_parameters()` on a config-only HuggingFace twin (no download). Our totals leave "
           "out the masked-LM head that sentence classification never uses.", ""]

    out += ["### Report 000: bert-base, LoRA on the query projection, classifier over a frozen pooler", "",
            "Ours: `--arch roberta_peft_bert_base` (vocabulary 30,522) `--peft lora --lora-targets q_proj "
            "--lora-r R --head-trainable out_proj`. peft: `BertForSequenceClassification(BertConfig())` with "
            "`LoraConfig(r=R, target_modules=[\"query\"], task_type=SEQ_CLS)`.", ""]
    body = []
    for row in counts["000"]:
        body.append([row["rank"], _n(row["ours"]), _n(row["peft"]), _n(row["published"]),
                     _same(row["ours"], row["published"]), _same(row["ours"], row["peft"]),
                     f"{row['lora']:,} + {row['ours_head']:,}", f"{row['ours_total']:,} / {row['peft_total']:,}"])
    out += md(["r", "ours", "peft", "published", "ours = published", "ours = peft",
               "ours: LoRA + head", "total: ours / HF"], body) + [""]
    heads = counts["000"][0]["peft_heads"]
    out += [f"Besides LoRA, peft trains the head modules {', '.join(f'`{h}`' for h in heads) or 'none'} "
            "(its default `modules_to_save` for SEQ_CLS)"
            + (": the classifier (768 × 2 + 2 = 1,538) over a frozen pooler, exactly what `--head-trainable "
               "out_proj` trains, so both count the same configuration." if heads == ["classifier"] else ".")
            + " The totals agree too: fairseq has no token-type embeddings (2 × 768) but 2 more position rows "
            "(514 × 768 against 512 × 768).", ""]

    c = counts["002"]
    out += ["### Report 002: BERT-tiny (2 layers, 128 dims, 2 heads, FFN 512)", "",
            "Ours: `--arch roberta_peft_bert_tiny` (vocabulary 30,522). peft has no BitFit: the HF column is "
            "every `.bias` of `BertForSequenceClassification` (2 × 128), which is what the report trained; "
            "for full fine-tuning, every parameter.", ""]
    out += md(["method", "ours", "HF", "published", "ours = published", "ours = HF"], [
        ["BitFit: all biases, head biases only (`--peft bitfit --bitfit-biases all --head-trainable bias`)",
         _n(c["bitfit"]), _n(c["hf_bitfit"]), "3,074", _same(c["bitfit"], 3_074), _same(c["bitfit"], c["hf_bitfit"])],
        ["full (`--peft none`)", _n(c["full"]), _n(c["hf_full"]), "4,386,178", _same(c["full"], 4_386_178),
         _same(c["full"], c["hf_full"])],
    ]) + [""]
    out += [f"BitFit's 3,074 are the encoder's biases (LayerNorms included) and the head's two biases: "
            f"{c['bitfit_head']:,} = 128 (the dense layer, BERT's pooler) + 2 (the classifier). "
            f"The full count matches for a different reason: BERT counts {c['token_types']:,} token-type "
            f"weights (2 × 128) that fairseq's RoBERTa has not, while fairseq holds 2 more position rows "
            f"({c['positions'][0]} × {c['positions'][1]} against HF's {c['hf_positions'][0]} × "
            f"{c['hf_positions'][1]}, its positions start after the padding index): the two differences "
            f"cancel at 256 parameters each. The masked-LM head that classification never uses "
            f"({c['lm_head']:,}: dense 16,512 + LayerNorm 256 + output bias 30,522) is left out; with it the "
            f"model holds {c['full'] + c['lm_head']:,}.", ""]

    out += ["### Report 003: DistilBERT (distilbert-base-cased: 6 layers, 768 dims, 12 heads, FFN 3072, "
            "vocabulary 28,996)", "",
            "The report gives no count. Ours: `--arch roberta_peft_distilbert` with the options shown and "
            "`--head-trainable all`; peft: `DistilBertForSequenceClassification(DistilBertConfig(vocab_size="
            "28996))` with the same `LoraConfig` / `IA3Config` (`q_lin, k_lin, v_lin, out_lin, lin1, lin2`; "
            "IA3 `feedforward_modules=[\"lin1\", \"lin2\"]`), task SEQ_CLS.", ""]
    body = []
    for row in counts["003"]:
        body.append([row["label"], f"`{row['options']}`", _n(row["ours"]), _n(row["peft"]),
                     _same(row["ours"], row["peft"]), f"{row['ours_head']:,} / {row['peft_head']:,}", "– (none given)"])
    out += md(["configuration", "our options", "ours", "peft", "ours = peft", "of which head: ours / peft",
               "published"], body) + [""]
    heads = counts["003"][0]["peft_heads"]
    whole_head = "pre_classifier" in heads
    out += ["The head is included in both counts. HF DistilBERT's head is `pre_classifier` (768 × 768 + 768 = "
            "590,592, ReLU) + `classifier` (768 × 2 + 2 = 1,538); fairseq's is dense (tanh) + out_proj of the "
            f"same shapes. peft trained {', '.join(f'`{h}`' for h in heads) or 'none'}: "
            + ("its default `modules_to_save=[\"classifier\", \"score\"]` is matched as a suffix of the module "
               "name, so `pre_classifier` is caught as well and the whole head (592,130) trains, which is what "
               "`--head-trainable all` counts. With the classifier alone (`--head-trainable out_proj`) each "
               "count would be 590,592 lower." if whole_head else
               "the classifier only; `--head-trainable all` also counts the pre_classifier (590,592)."),
            "Totals (ours / HF, the frozen original of peft's head copies left out): "
            + "; ".join(f"{row['ours_total']:,} / {row['peft_total']:,}" for row in counts["003"])
            + ": fairseq holds 2 more position rows (2 × 768 = 1,536); DistilBERT has no token types.", ""]

    c = counts["001"]
    out += ["### Report 001: RoBERTa-small (4 layers, d = 512, FFN 512, 256 positions, 32,000 words)", "",
            "The report's formula d_vocab·d + (n_pos+2)·d + L·(2·d_ff·d + 4·d²) counts the token and position "
            "embeddings and the layers' weight matrices (no biases, LayerNorms or head). The model's own count "
            "of those weights: `embed_tokens` + `embed_positions` + every q/k/v/out/fc1/fc2 weight of "
            "`--arch roberta_peft_small` (no HF twin: the lab's model is fairseq's).", ""]
    out += md(["count", "value", "published"], [
        ["formula", _n(c["formula"]), "22,807,552"],
        ["model: embeddings + layer weight matrices", f"{c['counted']:,} ({c['embeddings']:,} + {c['matrices']:,})",
         "22,807,552"],
        ["model: every parameter (biases, LayerNorms, classification head; no LM head)", _n(c["whole"]), "–"],
    ]) + [""]
    return out


def render_memory(memory: dict) -> list:
    md = aggregate_seeds._markdown_table
    result, preset = memory["result"], memory["preset"]
    gib, gb = memory["gib"], memory["gb"]
    out = ["## 2. Report 004's memory arithmetic", "",
           f"3B parameters, fp32, Adam, adapters of {preset['trainable_fraction']:.0%} added on top of the frozen "
           "model, through `scripts/memory_estimate.py`'s `estimate` (reproduce with "
           "`python scripts/memory_estimate.py --preset report004`):", ""]
    body = [[c["component"], f"{c['bytes']:,}", f"{c['bytes'] / memory_estimate.GIB:.3f}",
             f"{c['bytes'] / memory_estimate.GB:.3f}"] for c in result["components"]]
    out += md(["component (adapters of 5%)", "bytes", "GiB", "GB"], body) + [""]
    out += md(["figure", "ours, GiB", "ours, GB", "published (written \"GB\")"], [
        ["full fine-tuning", f"{gib['full_finetune']:.3f}", f"{gb['full_finetune']:.3f}", "44.703"],
        ["adapters of 5%", f"{gib['total']:.3f}", f"{gb['total']:.3f}", "13.411"],
        ["saving", f"{gib['saving']:.3f}", f"{gb['saving']:.3f}", "31.292"],
        ["model weights (fp32)", f"{memory['weights_gib']:.3f}", f"{memory['weights_gb']:.3f}", "11.76"],
    ]) + [""]
    out += ["The report writes \"GB\" but its figures are GiB (2^30 bytes): 44.703, 13.411 and 31.292 are "
            "reproduced exactly in GiB, and are 48.000, 14.400 and 33.600 in decimal GB (10^9 bytes). Its "
            f"\"11.76 GB\" of weights is a slip for {memory['weights_gib']:.3f} GiB "
            f"(= {memory['weights_gb']:.3f} GB).", ""]
    return out


RULES = ("Verdicts: a claim that A beats B **held** when A's mean is higher with Welch's p < 0.05 "
         "(`scipy.stats.ttest_ind(equal_var=False)`, as `aggregate_seeds.py`); it **did not hold** when B is "
         "higher with p < 0.05, or when the 95% confidence interval of A − B lies entirely below half the "
         "published gap; otherwise, or with fewer than 2 seeds a side, it is **inconclusive**. \"Little "
         "difference\" (report 000) held when the means span at most 1 point, did not hold when they span more "
         "and the extremes differ with p < 0.05. Metrics are in percent.")


def render_findings(results: list, tables_only: bool, work_dir: Path) -> list:
    out = ["## 3. Accuracy findings at CPU scale (substitute model)", "",
           "**Substitute model, CPU scale.** Every run below fine-tunes all-MiniLM-L6-v2 (`MODEL=minilm`, "
           "6 × 384) or a random-init model, with the recipes' CPU-sized settings, not the reports' models and "
           "budgets: the numbers test whether each finding carries over, they do not reproduce the published "
           "accuracies. Each recipe's rows are read from `WORK_DIR/results/<recipe>/runs.jsonl` "
           f"(`WORK_DIR` = `{work_dir}`)" + ("; with `--tables-only` no recipe was run." if tables_only else "."),
           "", RULES, "", "Report 003's accuracies (32 validation examples, too few to separate methods, as the "
           "report says) are not reproduced; its counts are in section 1.", ""]
    summary = []
    for finding, lines, verdicts in results:
        out += [f"### Report {finding.report}: {finding.title}", "",
                "Published: " + " ".join(finding.published), "",
                f"Ours (CPU scale, substitute model): {finding.compared}", ""]
        out += lines + [""]
        for verdict in verdicts:
            out.append(f"**Finding {verdict.label}**: {verdict.reason}")
            out.append("")
        summary.append([finding.report, finding.title, "; ".join(v.label for v in verdicts),
                        " ".join(f"`{r.command(work_dir)}`" for r in finding.runs)])
    out += ["### Summary", ""]
    out += aggregate_seeds._markdown_table(["report", "finding", "verdict", "command"], summary) + [""]
    return out


def render(counts, memory, results, tables_only, work_dir: Path, commands: list) -> str:
    now = datetime.datetime.now().astimezone()
    out = ["# The course reports reproduced", "",
           f"- Machine: {_cpu()}, {os.cpu_count()} cores ({platform.system()} {platform.machine()})",
           f"- Date: {now:%Y-%m-%d %H:%M %Z}",
           "- Model: all-MiniLM-L6-v2 (`MODEL=minilm`), a substitute for the reports' bert-base-uncased, "
           "RoBERTa-small, BERT-tiny, distilbert-base-cased and roberta-base; counts use models of the "
           "reports' own shapes",
           f"- Profile: {_profile()}",
           f"- Work dir: `{work_dir}`" + (" (`--tables-only`: no recipe run by this call)" if tables_only else ""),
           "",
           "Every number below comes from the commands listed here (the counts and the memory figures are "
           "computed by this script itself):", "", "```bash"]
    out += commands + ["```", ""]
    out += render_counts(counts) + render_memory(memory) + render_findings(results, tables_only, work_dir)
    return "\n".join(out).rstrip() + "\n"


def finding_ids(text):
    """argparse type of --findings: report ids among the findings'."""
    known = [f.report for f in FINDINGS]
    ids = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [i for i in ids if i not in known]
    if unknown or not ids:
        raise argparse.ArgumentTypeError(f"unknown report id(s) {', '.join(unknown) or text!r}; choose from {', '.join(known)}")
    return ids


def build_parser():
    parser = argparse.ArgumentParser(prog="reproduce_reports.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", required=True, type=Path, help="where reports.md is written")
    parser.add_argument("--tables-only", action="store_true",
                        help="run no recipe: counts, memory, and whatever results the work dir already has")
    parser.add_argument("--findings", type=finding_ids, default=[f.report for f in FINDINGS], metavar="IDS",
                        help="comma list of the reports whose accuracy recipes run (default: all, "
                             + ",".join(f.report for f in FINDINGS) + "); the others are judged from existing results")
    parser.add_argument("--work-dir", type=Path, default=REPO,
                        help="the recipes' WORK_DIR (results/, checkpoints/, data-bin/); default: the project")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out_dir = args.out_dir.resolve()
    work_dir = args.work_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    ran = {}
    if not args.tables_only:
        for finding in FINDINGS:
            if finding.report in args.findings:
                for run in finding.runs:
                    ran[run.recipe] = run_recipe(run, work_dir, out_dir / "logs")
    counts = count_tables()
    memory = memory_figures()
    results = []
    for finding in FINDINGS:
        lines, verdicts = evaluate_finding(finding, work_dir, ran, args.tables_only)
        results.append((finding, lines, verdicts))
    this = "python scripts/reproduce_reports.py --out-dir " + shlex.quote(str(args.out_dir)) \
        + ("" if work_dir == REPO else " --work-dir " + shlex.quote(str(args.work_dir))) \
        + (" --tables-only" if args.tables_only else "") \
        + ("" if args.tables_only or len(args.findings) == len(FINDINGS) else " --findings " + ",".join(args.findings))
    commands = [this + "   # this report: section 1 and 2, and runs the recipes below unless --tables-only",
                "python scripts/memory_estimate.py --preset report004   # section 2"]
    commands += [run.command(work_dir) for finding in FINDINGS for run in finding.runs]
    report = out_dir / REPORT_NAME
    text = render(counts, memory, results, args.tables_only, work_dir, commands)
    temporary = report.with_name(f".{REPORT_NAME}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, report)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
