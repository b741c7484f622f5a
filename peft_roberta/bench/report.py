"""The benchmark's rows (benchmark.json) and tables (benchmark.md)."""
from ..analysis.tables import markdown_rows

KNOB_COLUMNS = (("batching", "batches"), ("optimizer", "optimizer"), ("attention", "attention"),
                ("dataloader_workers", "data-loader workers"), ("precision", "precision"),
                ("torch_compile", "torch.compile"))
RATIOS = (("hf", "fairseq / HF"), ("hf-tuned", "fairseq / HF tuned"))


def mean_step_s(raw):
    """The mean time of a child's measured training steps, in seconds."""
    return sum(raw["step_times"]) / len(raw["step_times"])


def summarize(impl, method, raw, peak_gflops, batch_size):
    """One row: throughput, one epoch's time, FLOP/s against the matmul peak, memory, sizes, inference."""
    seconds = sum(raw["step_times"])
    step = mean_step_s(raw)
    return {
        "impl": impl, "method": method,
        "sent_per_s": round(raw["sentences"] / seconds, 1),
        "tokens_per_s": round(raw["tokens"] / seconds, 1),
        "step_ms": round(1000 * step, 1),
        "epoch_s": round(raw["epoch_batches"] * step, 1),
        "epoch_batches": raw["epoch_batches"],
        "warmup_s": round(raw["warmup_s"], 1),
        "achieved_gflops": round(raw["flops"] / seconds / 1e9, 1),
        "matmul_peak_gflops": round(peak_gflops, 1),
        "matmul_peak_fraction": round(raw["flops"] / seconds / 1e9 / peak_gflops, 3),
        "peak_rss_mb": round(raw["peak_rss_mb"], 1),  # through loading and the training steps
        "process_peak_rss_mb": round(raw.get("process_peak_rss_mb", raw["peak_rss_mb"]), 1),  # saving, inference too
        "peak_rss_runs_mb": raw.get("peak_rss_runs_mb", [round(raw["peak_rss_mb"], 1)]),  # --repeats: every run's
        "step_ms_runs": raw.get("step_ms_runs", [round(1000 * step, 1)]),
        "memory_mb": {k: round(v, 1) for k, v in raw.get("memory_mb", {}).items()},  # fairseq: tensors by role
        "loaded_rss_mb": round(raw["rss_loaded_mb"], 1),
        "training_rss_mb": round(raw["peak_rss_mb"] - raw["rss_loaded_mb"], 1),
        "state_mb": round(raw["state_mb"], 3),
        "checkpoint_mb": round(raw["checkpoint_mb"], 1),
        "state_fraction_of_checkpoint": round(raw["state_mb"] / raw["checkpoint_mb"], 4),
        "inference_sent_per_s": round(raw["inference_sent_per_s"], 1),
        "trainable_params": raw["trainable_params"],
        "batch_size": batch_size,
        "shape": raw["shape"],
        "config": raw["knobs"],
    }


def ratio_table(by_key, methods, other, title):
    pairs = [(m, by_key[("fairseq", m)], by_key[(other, m)]) for m in methods
             if ("fairseq", m) in by_key and (other, m) in by_key]
    if not pairs:
        return []
    rows = [[m, f"{f['epoch_s'] / h['epoch_s']:.2f}", f"{f['peak_rss_mb'] / h['peak_rss_mb']:.2f}",
             f"{f['state_mb'] / h['state_mb']:.2f}", f"{f['inference_sent_per_s'] / h['inference_sent_per_s']:.2f}"]
            for m, f, h in pairs]
    return ["", f"{title}:", "",
            markdown_rows(["method", "epoch time", "peak RSS", "trained state", "inference sent/s"], rows)]


def knob_table(rows):
    """What each implementation runs with (one line per impl; the first row of each carries its config)."""
    seen, lines = {}, []
    for r in rows:
        seen.setdefault(r["impl"], r["config"])
    for impl, config in seen.items():
        cells = [impl] + [str(config.get(key)) for key, _ in KNOB_COLUMNS]
        probe = config.get("workers_probe_s_per_step")
        if probe:
            cells[4] += " (probe, s/step: " + ", ".join(f"{w} workers {s:.3f}" for w, s in probe.items()) + ")"
        lines.append(cells)
    return ["", "What each implementation runs with (\"hf\": HF Trainer + peft as shipped; \"hf-tuned\": as an "
                "experienced user tunes it; the measured steps use batches drawn beforehand from the Trainer's own "
                "loader, so the data-loader workers are probed apart):", "",
            markdown_rows(["impl"] + [title for _, title in KNOB_COLUMNS], lines)]


def memory_breakdown(rows):
    """Each fairseq row's peak RSS split by role: the tensors counted exactly, the rest as measured."""
    body = []
    for r in rows:
        parts = r.get("memory_mb")
        if r["impl"] != "fairseq" or not parts:
            continue
        weights = parts["frozen weights"] + parts["trained weights"]
        rest = r["peak_rss_mb"] - r["loaded_rss_mb"] - parts["gradients"] - parts["optimizer state"]
        body.append([r["method"], f"{r['loaded_rss_mb'] - weights:.0f}", f"{parts['frozen weights']:.0f}",
                     f"{parts['trained weights']:.0f}", f"{parts['gradients']:.0f}", f"{parts['optimizer state']:.0f}",
                     f"{rest:.0f}", f"{r['peak_rss_mb']:.0f}"])
    if not body:
        return []
    return ["", "fairseq, peak RSS in training by role (MB; weights, gradients and Adam state counted from the "
                "tensors, libraries and data = RSS once loaded minus the weights, activations and the rest = the "
                "peak minus all of these):", "",
            markdown_rows(["method", "libraries and data", "frozen weights", "trained weights", "gradients",
                           "Adam state", "activations and the rest", "peak RSS"], body)]


def markdown(rows, machine, args, notes=()):
    header = ["impl", "method", "precision", "sent/s", "real tokens/s", "epoch (s)", "FLOP/s vs matmul peak",
              "peak RSS (MB)", "with saving, inference (MB)", "trained state (MB)", "state / checkpoint",
              "inference sent/s"]
    table = [[r["impl"], r["method"], r["precision"], f"{r['sent_per_s']:.1f}", f"{r['tokens_per_s']:.0f}",
              f"{r['epoch_s']:.0f}", f"{100 * r['matmul_peak_fraction']:.0f}%", f"{r['peak_rss_mb']:.0f}",
              f"{r.get('process_peak_rss_mb', r['peak_rss_mb']):.0f}", f"{r['state_mb']:.2f}", f"{100 * r['state_fraction_of_checkpoint']:.2f}%",
              f"{r['inference_sent_per_s']:.0f}"] for r in rows]
    lines = [f"Benchmark ({machine}; model `{args.model_name}`, SST-2 {args.max_train} sentences, batch "
             f"{args.batch_size}, {args.steps} measured updates after {args.warmup}; {args.today}; "
             f"`{getattr(args, 'command', 'python scripts/benchmark.py')}`).", "",
             markdown_rows(header, table), "",
             "Peak RSS: the process's peak through loading and the training steps; the next column adds saving a "
             "full checkpoint and the inference pass, which are not training's memory."]
    repeated = [r for r in rows if len(r["peak_rss_runs_mb"]) > 1]
    if repeated:
        lines += ["", f"Each row is the median of {len(repeated[0]['peak_rss_runs_mb'])} runs by peak RSS (its other "
                  "figures from that run); every run: " + "; ".join(
                      f"{r['impl']} {r['method']} " + ", ".join(f"{v:.0f}" for v in r["peak_rss_runs_mb"]) + " MB, "
                      + ", ".join(f"{v:.0f}" for v in r["step_ms_runs"]) + " ms/step" for r in repeated)]
    by_key = {(r["impl"], r["method"]): r for r in rows}
    for other, title in RATIOS:
        lines += ratio_table(by_key, args.methods, other, title)
    if any(r["impl"] != "fairseq" for r in rows):
        lines += knob_table(rows)
    full = by_key.get(("fairseq", "full"))
    others = [m for m in args.methods if ("fairseq", m) in by_key and m != "full"]
    if full and others:
        lines += ["", "fairseq, peak memory against full fine-tuning: " + ", ".join(
            f"{m} {by_key[('fairseq', m)]['peak_rss_mb'] / full['peak_rss_mb']:.2f}" for m in others)]
        lines += ["", "fairseq, memory that training adds to the loaded process (peak RSS minus RSS with "
                  f"libraries, data and model loaded: {full['loaded_rss_mb']:.0f} MB for full), against full "
                  "fine-tuning: " + ", ".join(
                      f"{m} {by_key[('fairseq', m)]['training_rss_mb'] / full['training_rss_mb']:.2f}" for m in others)]
    lines += memory_breakdown(rows)
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
