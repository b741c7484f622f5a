"""The results the README and docs/ quote, computed from the recipes' ``runs.jsonl`` files.

Each section reads one recipe's results (where they exist) and renders a table from them; the README
gets one short table whose every cell is computed here too. Every table names the command that
produced its rows and the machine, model, precision and date they record.
"""
import math
from pathlib import Path

import pandas as pd

from .load import InputError, load_runs
from .stats import ALPHA, adjusted, describe, equivalence, welch
from .tables import markdown_rows, mean_std

TWIN_MARGIN = 1.0  # points: "the twin and the run agree" means their means lie within this of each other
METHOD_ORDER = ("full", "lora", "dora", "rslora", "adapter", "parallel", "ia3", "bitfit", "prefix", "mam")


def read(work_dir, recipe):
    """The rows of ``results/<recipe>/runs.jsonl``, or None when the recipe has not run here."""
    path = Path(work_dir) / "results" / recipe / "runs.jsonl"
    if not path.is_file():
        return None
    try:
        return load_runs([path], warn=lambda message: None)
    except InputError:
        return None


def provenance(rows, command):
    """One line: the command, and the machine, model, precision and dates the rows record."""
    def values(column):  # rows written before rows recorded machine and date say so
        found = sorted({str(v) for v in rows[column].dropna()}) if column in rows else []
        return ", ".join(found) or f"{column} not recorded in these rows"

    return (f"`{command}`: {len(rows)} runs on {values('machine')}; model {values('model')}, profile "
            f"{values('profile')}, precision {values('precision')}; {values('date')}.")


def wall_time(rows):
    """The rows' training wall time per impl, summed (what the command spends beyond data preparation)
    and the median run (robust to a run that shared the CPU with another job)."""
    per_impl = rows.groupby("impl")["wall_s"].agg(["sum", "median"])
    parts = ", ".join(f"{impl} {row['sum'] / 60:.0f} min, median run {row['median']:.0f} s"
                      for impl, row in per_impl.iterrows())
    return f"Training wall time summed over the runs: {per_impl['sum'].sum() / 60:.0f} min ({parts})."


def stat(values, digits=2):
    s = describe(list(values))
    return mean_std(s["mean"], s["std"], s["n"], digits)


def labelled(name, setting):
    """``lora`` or ``lora (lr=0.001)``: a table cell that names the setting apart from its siblings'."""
    return f"{name} ({setting})" if setting else name


def latest_setting(rows):
    """The rows of the setting that ran last (the README quotes what the command gives now)."""
    return rows[rows["setting"] == rows["setting"].iloc[-1]]


def pretrained_vs_random(rows, metric="dev_accuracy"):
    """(table, {setting: Welch result}): per setting and init, mean ± std of the metric; Welch's p
    between the two inits of each setting."""
    body, tests = [], {}
    rows = rows[rows["impl"] == "fairseq"]
    for setting, block in rows.groupby("setting", sort=False):
        sides = {}
        for init in ("pretrained", "random"):
            part = block[block["init"] == init]
            if part.empty:
                continue
            sides[init] = part[metric].dropna().tolist()
            body.append([labelled(init, setting), part["precision"].iloc[0], stat(part[metric]),
                         stat(part.get("dev_f1", part[metric])), stat(part.get("dev_mcc", part[metric]))])
        tests[setting] = welch(sides.get("pretrained", []), sides.get("random", []))
    return markdown_rows(["init", "precision", "dev accuracy", "dev F1", "dev MCC"], body), tests


def methods_table(rows):
    """Per method (pretrained, fairseq): trained parameters, dev accuracy and MCC over seeds, and
    Welch's p against LoRA, raw and adjusted for the table's comparisons (Benjamini-Hochberg). Speed is
    docs/benchmark.md's: these runs' wall times are not timings."""
    body, ps = [], []
    rows = rows[(rows["init"] == "pretrained") & (rows["impl"] == "fairseq")]
    lora_rows = latest_setting(rows[rows["method"] == "lora"]) if (rows["method"] == "lora").any() else rows[:0]
    lora_setting = lora_rows["setting"].iloc[0] if len(lora_rows) else None
    lora = lora_rows["dev_accuracy"].dropna().tolist()
    for (method, setting), part in sorted(rows.groupby(["method", "setting"], sort=False),
                                          key=lambda item: _method_rank(item[0][0])):
        is_lora = method == "lora" and setting == lora_setting
        ps.append(welch(part["dev_accuracy"].dropna().tolist(), lora)["p"] if not is_lora else math.nan)
        body.append([labelled(method, setting), f"{int(part['trainable_params'].iloc[0]):,}",
                     f"{100 * part['trainable_params'].iloc[0] / part['total_params'].iloc[0]:.2f}",
                     stat(part["dev_accuracy"]), stat(part["dev_mcc"]), _p(ps[-1])])
    for line, q in zip(body, adjusted(ps)):
        line.append(_p(q))
    return markdown_rows(["method", "trained parameters", "% of the model", "dev accuracy (chose the checkpoint)",
                          "dev MCC", "Welch's p against LoRA", "adjusted (Benjamini-Hochberg)"], body)


def twin_table(rows):
    """(table, verdicts): fairseq against its HF twin per task, method and init, the headline metric,
    Welch's p (do they differ?), the TOST p (do they agree within ±TWIN_MARGIN?), both adjusted for the
    table's number of pairs (Benjamini-Hochberg), and the verdict from the adjusted ones."""
    from ..runs.tasks import TASKS

    body, tests, unpaired = [], [], []
    for (task, method, init, setting), part in rows.groupby(["task", "method", "init", "setting"], sort=False):
        method = labelled(method, setting)
        metric = f"dev_{TASKS[task].metric}" if task in TASKS else "dev_accuracy"
        if TASKS.get(task) is not None and TASKS[task].test is not None and f"test_{TASKS[task].metric}" in part:
            metric = f"test_{TASKS[task].metric}"
        fs = part.loc[part["impl"] == "fairseq", metric].dropna()
        hf = part.loc[part["impl"] == "hf", metric].dropna()
        if fs.empty or hf.empty:  # a recipe stopped half-way: no pair to judge yet
            unpaired.append(f"{task} {method} {init} (runs: fairseq {len(fs)}, HF {len(hf)})")
            continue
        test = welch(fs.tolist(), hf.tolist())
        tests.append((test["p"], equivalence(fs.tolist(), hf.tolist(), TWIN_MARGIN)["p"]))
        body.append([task, method, init, metric, stat(fs), stat(hf), f"{test['diff']:+.2f}"])
    differ = adjusted([p for p, _ in tests])
    same = adjusted([p for _, p in tests])
    for line, (p_differ, p_same), q_differ, q_same in zip(body, tests, differ, same):
        line += [_p(p_differ), _p(q_differ), _p(p_same), _p(q_same), twin_verdict(q_differ, q_same)]
    table = markdown_rows(["task", "method", "init", "metric (split)", "fairseq + plugin", "HF + peft twin",
                           "fairseq − HF", "Welch's p", "adjusted", f"TOST p (±{TWIN_MARGIN:g})", "adjusted",
                           "verdict"], body)
    tested = sum(p == p for p, _ in tests)
    note = (f"Verdicts at {ALPHA:g} on the p-values adjusted for the {tested} tested pairs of this table "
            "(Benjamini-Hochberg): differ (Welch), agree within the margin (two one-sided tests), else inconclusive.")
    if unpaired:
        note += " Not yet run on both sides: " + "; ".join(unpaired) + "."
    return table + "\n\n" + note, [line[-1] for line in body]


def _method_rank(method):
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def _p(value):
    return "–" if pd.isna(value) else f"{value:.2g}"


def twin_verdict(p_differ, p_same):
    """"differ" (Welch), "agree within ±margin" (TOST) or "inconclusive" (neither test decides)."""
    if p_differ == p_differ and p_differ < ALPHA:
        return "differ"
    if p_same == p_same and p_same < ALPHA:
        return f"agree within ±{TWIN_MARGIN:g}"
    return "inconclusive"


def write_pages(work_dir, project_root, more_readme_rows=()):
    """docs/results.md, docs/hf_twin.md's trained comparison and README's results block, from what has
    run; ``more_readme_rows`` (result, ours, command) join the README's block (the benchmark's)."""
    from ..pages import write_block, write_page
    from .glue import glue_table

    sections, readme = ["# Results", "", "Written by `python scripts/publish_results.py` from the recipes' "
                        "`results/<recipe>/runs.jsonl`; every table names its command, machine, model, precision "
                        "and date. CPU-scale runs with the substitute model all-MiniLM-L6-v2, not RoBERTa-base on a "
                        "GPU: they test the tools and the findings, they do not reproduce the published accuracies.",
                        ""], []
    lora = read(work_dir, "sst2_lora")
    if lora is not None:
        table, tests = pretrained_vs_random(lora)
        ps = "; ".join(f"{labelled('', setting).strip()} {test['p']:.2g}".strip() for setting, test in tests.items())
        sections += ["## SST-2 with LoRA: pretrained against random init", "", provenance(lora, "bash recipes/sst2_lora.sh"),
                     "", table, "", f"Welch's p (accuracy, pretrained vs random): {ps}.", ""]
        lora = latest_setting(lora)
        test = tests[lora["setting"].iloc[0]]
        pre = lora[(lora["init"] == "pretrained") & (lora["impl"] == "fairseq")]["dev_accuracy"]
        ran = lora[(lora["init"] == "random") & (lora["impl"] == "fairseq")]["dev_accuracy"]
        readme.append(["SST-2 LoRA, MiniLM pretrained vs random init (dev accuracy)",
                       f"{stat(pre)} vs {stat(ran)}, Welch's p = {test['p']:.2g}", "`bash recipes/sst2_lora.sh`"])
    methods = read(work_dir, "sst2_methods")
    if methods is not None:
        sections += ["## SST-2, every method on the same 8,000 sentences (pretrained MiniLM)", "",
                     provenance(methods, "bash recipes/sst2_methods.sh"), "", methods_table(methods), ""]
    twin = read(work_dir, "fairseq_vs_hf")
    if twin is not None:
        table, verdicts = twin_table(twin)
        write_block(project_root / "docs" / "hf_twin.md", "fairseq-vs-hf",
                    provenance(twin, "bash recipes/fairseq_vs_hf.sh") + " " + wall_time(twin) + "\n\n" + table)
        counts = {label: sum(v.split(" ")[0] == label for v in verdicts) for label in ("differ", "agree", "inconclusive")}
        readme.append(["fairseq + plugin vs its HF twin (same weights, data, seeds)",
                       f"of {len(verdicts)} (task, method, init) pairs: {counts['differ']} differ, {counts['agree']} "
                       f"agree within ±{TWIN_MARGIN:g} point, {counts['inconclusive']} inconclusive "
                       "([docs/hf_twin.md](docs/hf_twin.md))", "`bash recipes/fairseq_vs_hf.sh`"])
    glue = read(work_dir, "glue")
    if glue is not None:
        from ..runs.tasks import TASKS
        from .glue import NAMES, METRIC_NAMES

        sections += ["## GLUE (dev)", "", provenance(glue, "bash recipes/glue.sh") + " " + wall_time(glue), "",
                     "Ours are the substitute model all-MiniLM-L6-v2 fine-tuned with the quick profile on a CPU; the "
                     "published rows are RoBERTa-base fine-tuned with each task's full settings on GPUs. MiniLM on a "
                     "CPU is not RoBERTa-base on a GPU: the published rows show where each method lands at full "
                     "scale, not figures ours should match. Each column is the task's GLUE metric on its dev split, "
                     "the split that also chose the checkpoint, as the LoRA paper reports it (GLUE's test labels "
                     "are not public).", "", glue_table(glue), ""]
        inits = glue[glue["impl"] == "fairseq"]
        tests = []
        for task, block in inits.groupby("task", sort=False):
            block, metric = latest_setting(block), f"dev_{TASKS[task].metric}"
            sides = [block.loc[block["init"] == init, metric].dropna().tolist() for init in ("pretrained", "random")]
            if all(len(side) >= 2 for side in sides):
                tests.append((NAMES[task], welch(*sides)))
        if tests:
            q = adjusted([test["p"] for _, test in tests])
            sections += ["Pretrained against random init (fairseq; Welch's t-test on each task's metric, p then p "
                         f"adjusted for the {len(tests)} tasks (Benjamini-Hochberg)): " + "; ".join(
                             f"{name} {test['diff']:+.1f} points, p = {_p(test['p'])} ({_p(qi)})"
                             for (name, test), qi in zip(tests, q)) + ".", ""]
        pre = glue[(glue["init"] == "pretrained") & (glue["impl"] == "fairseq")]

        cells = [f"{NAMES[t]} {METRIC_NAMES[TASKS[t].metric]} {stat(g[f'dev_{TASKS[t].metric}'], 1)}"
                 for t, g in ((t, latest_setting(g)) for t, g in pre.groupby("task", sort=False))]
        readme.append(["GLUE dev, LoRA, pretrained MiniLM, quick profile", "; ".join(cells), "`bash recipes/glue.sh`"])
    readme += list(more_readme_rows)
    text = "\n".join(sections).rstrip() + "\n"
    write_page(project_root / "docs" / "results.md", text)
    short = markdown_rows(["result", "ours (mean ± std (seeds))", "command"], readme) if readme else \
        "No results yet: run the recipes, then `python scripts/publish_results.py`."
    write_block(project_root / "README.md", "results", short + "\n\nAll tables, with machine, model, precision and "
                "date: [docs/results.md](docs/results.md), [docs/benchmark.md](docs/benchmark.md), "
                "[reports/reports.md](reports/reports.md).")
    return len(readme)
