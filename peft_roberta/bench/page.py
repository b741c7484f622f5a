"""docs/benchmark.md from what the speed and memory commands wrote under ``results/``.

    results/benchmark/<label>/benchmark.{json,md}        scripts/benchmark.py --out-dir ...
    results/time_to_accuracy/time_to_accuracy.{json,md,png}  scripts/time_to_accuracy.py
    results/profile/<label>.{json,md}                    scripts/profile_step.py --out ...

The targets table is computed from the JSON files; each section is the Markdown its command wrote,
which names the command, the machine, the model, the precision and the date.
"""
import json
import shutil
from pathlib import Path

from ..analysis.tables import markdown_rows
from ..pages import write_page

TARGETS = (  # (what, how it is compared, the bound)
    ("fairseq LoRA's epoch against tuned HF + peft's, same precision", "≤", 0.5),
    ("fairseq LoRA's time to the target dev accuracy against tuned HF's", "≤", 0.5),
    ("a fairseq LoRA training step's FLOP/s against the fp32 matmul peak", "≥", 0.75),
    ("peak RSS of LoRA against full fine-tuning at roberta.base's shape (fairseq)", "≤", 0.5),
)


def _json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def benchmark_rows(root):
    """(label, rows) of every results/benchmark/<label>/benchmark.json, by label."""
    found = []
    for path in sorted(Path(root, "results", "benchmark").glob("*/benchmark.json")):
        rows = _json(path)
        if isinstance(rows, list):
            found.append((path.parent.name, rows))
    return found


def _row(rows, impl, method, precision=None):
    return next((r for r in rows if r["impl"] == impl and r["method"] == method
                 and (precision is None or r["precision"] == precision)), None)


def epoch_ratio(benchmarks):
    """fairseq LoRA's epoch / HF tuned LoRA's, measured in one run at one precision (bf16 first)."""
    for precision in ("bf16", "fp32"):
        for label, rows in benchmarks:
            ours, theirs = _row(rows, "fairseq", "lora", precision), _row(rows, "hf-tuned", "lora", precision)
            if ours and theirs:
                return ours["epoch_s"] / theirs["epoch_s"], f"{ours['epoch_s']:.0f} s / {theirs['epoch_s']:.0f} s " \
                                                            f"({precision}, results/benchmark/{label})"
    return None, "not measured"


def accuracy_time_ratio(curves_file):
    data = _json(curves_file)
    if not data:
        return None, "not measured"
    by_key = {(c["impl"], c["method"]): c for c in data["curves"]}
    ours, theirs = by_key.get(("fairseq", "lora")), by_key.get(("hf-tuned", "lora"))
    target = data["settings"]["target"]
    if not ours or not theirs:
        return None, "not measured"
    if not ours["reached"] or not theirs["reached"]:
        missing = " and ".join(n for n, c in (("fairseq", ours), ("HF tuned", theirs)) if not c["reached"])
        return None, f"{missing} did not reach {target:g}%"
    a, b = ours["reached"]["train_s"], theirs["reached"]["train_s"]
    return a / b, f"{a:.0f} s / {b:.0f} s to {target:g}% ({data['settings']['precision']})"


def matmul_fraction(benchmarks):
    for label, rows in benchmarks:
        ours = _row(rows, "fairseq", "lora", "fp32")
        if ours and ours["shape"].get("encoder_embed_dim") == 384:  # the default MiniLM, not a shape model
            return ours["matmul_peak_fraction"], (f"{ours['achieved_gflops']:.0f} / {ours['matmul_peak_gflops']:.0f} "
                                                  f"GFLOP/s (results/benchmark/{label})")
    return None, "not measured"


def memory_ratio(benchmarks):
    """LoRA's peak RSS / full fine-tuning's at roberta.base's shape, both measured in one run; of several
    runs (with and without activation checkpointing or bf16 frozen weights, both sides alike) the lowest,
    named, and beside it each side at its own lowest of any run (full fine-tuning at its best too)."""
    found, lowest = [], {}
    for label, rows in benchmarks:
        lora, full = _row(rows, "fairseq", "lora"), _row(rows, "fairseq", "full")
        if lora and full and lora["shape"].get("encoder_embed_dim") == 768:
            settings = lora["precision"]
            settings += ", activations recomputed in both" if lora.get("checkpoint_activations") else ""
            if lora.get("frozen_weights_dtype", "fp32") != "fp32":
                settings += f", frozen weights in {lora['frozen_weights_dtype']}"
            found.append((lora["peak_rss_mb"] / full["peak_rss_mb"],
                          f"{lora['peak_rss_mb']:.0f} MB / {full['peak_rss_mb']:.0f} MB ({settings}, "
                          f"results/benchmark/{label})"))
            for row in (lora, full):
                if row["method"] not in lowest or row["peak_rss_mb"] < lowest[row["method"]][0]:
                    lowest[row["method"]] = (row["peak_rss_mb"], label)
    if not found:
        return None, "not measured"
    ratio, detail = min(found)
    (lora_mb, lora_label), (full_mb, full_label) = lowest["lora"], lowest["full"]
    return ratio, (f"{detail}; each at its lowest of any run: {lora_mb:.0f} MB ({lora_label}) / {full_mb:.0f} MB "
                   f"({full_label}) = {lora_mb / full_mb:.2f}")


def targets(root):
    """[(what, bound, value or None, detail, met)] of every target, from the results."""
    benchmarks = benchmark_rows(root)
    measured = (epoch_ratio(benchmarks), accuracy_time_ratio(Path(root, "results", "time_to_accuracy",
                                                                  "time_to_accuracy.json")),
                matmul_fraction(benchmarks), memory_ratio(benchmarks))
    out = []
    for (what, sign, bound), (value, detail) in zip(TARGETS, measured):
        met = None if value is None else (value <= bound if sign == "≤" else value >= bound)
        out.append((what, f"{sign} {bound:g}", value, detail, met))
    return out


def targets_table(rows):
    body = [[what, bound, "–" if value is None else f"{value:.2f}", detail,
             "not measured" if met is None else ("met" if met else "missed")] for what, bound, value, detail, met in rows]
    return markdown_rows(["target", "bound", "measured", "from", "verdict"], body)


def write_benchmark_page(root, project_root):
    """docs/benchmark.md (and its plot) from results/; returns the README rows it contributes."""
    root, docs = Path(root), Path(project_root) / "docs"
    rows = targets(root)
    sections = ["# Speed and memory", "",
                "Written by `python scripts/publish_results.py` from what `scripts/benchmark.py`, "
                "`scripts/time_to_accuracy.py` and `scripts/profile_step.py` wrote under `results/`; each section "
                "names its command, machine, model, precision and date. HF + peft runs twice: as shipped, and tuned "
                "as an experienced user would (length-grouped batches, fused AdamW, SDPA, data-loader workers, bf16 "
                "where the CPU multiplies it, torch.compile measured apart).", "",
                "## Targets", "", targets_table(rows), ""]
    for label, _ in benchmark_rows(root):
        text = (root / "results" / "benchmark" / label / "benchmark.md").read_text(encoding="utf-8")
        sections += [f"## Benchmark: {label}", "", text.rstrip(), ""]
    curves = root / "results" / "time_to_accuracy"
    if (curves / "time_to_accuracy.md").is_file():
        sections += ["## Time to accuracy", "", (curves / "time_to_accuracy.md").read_text(encoding="utf-8").rstrip(),
                     ""]
        if (curves / "time_to_accuracy.png").is_file():
            shutil.copyfile(curves / "time_to_accuracy.png", docs / "time_to_accuracy.png")
            sections += ["![dev accuracy against training time and updates](time_to_accuracy.png)", ""]
    for profile in sorted((root / "results" / "profile").glob("*.md")):
        sections += [f"## Profile: {profile.stem}", "", profile.read_text(encoding="utf-8").rstrip(), ""]
    write_page(docs / "benchmark.md", "\n".join(sections).rstrip() + "\n")
    return [[what, f"{value:.2f} ({detail}; target {bound}: {'met' if met else 'missed'})",
             "[docs/benchmark.md](docs/benchmark.md)"] for what, bound, value, detail, met in rows if value is not None]
