"""The benchmark's driver (``scripts/benchmark.py``): the data, the matmul peak, one child process per
implementation x method (``bench.workers``), the rows and tables written atomically."""
import json
import os

from .. import machine
from ..errors import UserError
from .measure import NO_HF_TWIN, resolve_device, resolve_precision, run_child, write_atomic
from .models import hf_dir_of, resolve_model
from .report import mean_step_s


def median_run(raws):
    """Of repeated measurements of one impl x method, the run with the median training peak RSS (its other
    figures with it), holding every run's peak RSS and mean step time for the record."""
    ordered = sorted(raws, key=lambda raw: raw["peak_rss_mb"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["peak_rss_runs_mb"] = [round(raw["peak_rss_mb"], 1) for raw in raws]
    chosen["step_ms_runs"] = [round(1000 * mean_step_s(raw), 1) for raw in raws]
    return chosen


def plan(args, device, hf_dir):
    """[(impl, method, precision)] to measure, and notes on what is left out or chosen."""
    runs, notes = [], []
    for impl in args.impls:
        if impl != "fairseq" and hf_dir is None:
            notes.append(f"{impl}: left out (model `{args.model_name}` has no HuggingFace checkpoint: fairseq only)")
            continue
        precision = resolve_precision(args.precision, device, bf16_where_multiplied=impl == "hf-tuned")
        for method in args.methods:
            if impl != "fairseq" and method in NO_HF_TWIN:
                continue
            runs.append((impl, method, precision))
    if "hf-tuned" in args.impls and hf_dir is not None:
        from .hf_run import fused_adamw_works

        precision = resolve_precision(args.precision, device, bf16_where_multiplied=True)
        notes.append(f"hf-tuned precision: {precision}" + (
            " (--precision auto: bf16 because this CPU multiplies bfloat16 natively; fairseq and hf stay in "
            "fp32 on a CPU unless --precision bf16)" if args.precision == "auto" and device == "cpu" and
            precision == "bf16" else ""))
        notes.append("hf-tuned optimizer: adamw_torch_fused" if fused_adamw_works(device) else
                     f"hf-tuned optimizer: adamw_torch (torch's fused AdamW does not run on {device} here)")
        notes.append("group_by_length is train_sampling_strategy=\"group_by_length\" in transformers 5; the "
                     "Trainer's default optimizer there is already adamw_torch_fused (torch >= 2.8) and the "
                     "default attention sdpa where torch has it: the table of configurations says what each got")
    if getattr(args, "checkpoint_activations", False):
        notes.append("activation checkpointing in every impl: each layer keeps its input only and runs again in the "
                     "backward pass (fairseq's --checkpoint-activations, HF's activation checkpointing, non-reentrant)")
    if getattr(args, "frozen_weights_dtype", "fp32") == "bf16":
        notes.append("frozen Linear weights in bf16 in every impl (fairseq's --frozen-weights-dtype bf16): the same "
                     "numbers under bf16 autocast, half their memory, no cast per step")
    if "hf-tuned" in args.impls and hf_dir is not None:
        if args.compile:
            notes.append("torch.compile: the warm-up updates include the compilation (warmup_s in benchmark.json); "
                         "inference runs eager")
    return runs, notes


def run(args):
    """Measure, print the progress, write benchmark.json and benchmark.md; returns the Markdown."""
    from ..runs.task_data import prepare_task
    from .flops import matmul_peak
    from .report import markdown, summarize

    device = resolve_device(args.device)
    model_dir = resolve_model(args.model_name)
    hf_dir = hf_dir_of(model_dir)
    data_bin = str(prepare_task("sst2", model_dir, args.work_dir, max_train=args.max_train))
    runs, notes = plan(args, device, hf_dir)
    if not runs:
        raise UserError("nothing to measure (see --impls and --methods)")
    setup = {"model_dir": model_dir, "hf_dir": hf_dir, "data_bin": data_bin, "steps": args.steps,
             "warmup": args.warmup, "batch_size": args.batch_size, "device": device, "threads": args.threads,
             "compile": args.compile, "probe_steps": min(args.steps, 8),
             "checkpoint_activations": bool(getattr(args, "checkpoint_activations", False)),
             "frozen_weights_dtype": getattr(args, "frozen_weights_dtype", "fp32")}
    peaks = {}
    for precision in sorted({p for _, _, p in runs}):
        peaks[precision] = matmul_peak(device, precision)
        print(f"matmul peak: {peaks[precision]:.1f} GFLOP/s ({device}, {precision})", flush=True)
    measured = {}
    for repeat in range(getattr(args, "repeats", 1)):  # interleaved, so that a drift of the machine hits every one
        for impl, method, precision in runs:
            raw, peak_rss = run_child("peft_roberta.bench.workers", {**setup, "impl": impl, "method": method,
                                                                     "precision": precision}, f"{impl} {method}")
            raw["peak_rss_mb"], raw["process_peak_rss_mb"] = raw["rss_trained_mb"], peak_rss
            measured.setdefault((impl, method, precision), []).append(raw)
            print(f"{impl:8s} {method:7s} {precision:4s} {1000 * mean_step_s(raw):7.1f} ms/step  peak RSS {raw['peak_rss_mb']:6.0f} MB "
                  f"in training, {peak_rss:6.0f} MB with saving and inference", flush=True)
    raws = [(impl, method, precision, median_run(found)) for (impl, method, precision), found in measured.items()]
    for precision in peaks:  # again at the end: a busy moment at the start must not lower the reference
        peaks[precision] = max(peaks[precision], matmul_peak(device, precision))
        print(f"matmul peak (best of start and end): {peaks[precision]:.1f} GFLOP/s ({precision})", flush=True)
    described = machine.describe(device)
    rows = []
    for impl, method, precision, raw in raws:
        row = summarize(impl, method, raw, peaks[precision], args.batch_size)
        row.update(device=device, precision=precision, machine=described,
                   checkpoint_activations=setup["checkpoint_activations"],
                   frozen_weights_dtype=setup["frozen_weights_dtype"])
        rows.append(row)
    args.today = machine.today()
    text = markdown(rows, described, args, notes)
    write_atomic(os.path.join(args.out_dir, "benchmark.json"), json.dumps(rows, indent=2) + "\n")
    write_atomic(os.path.join(args.out_dir, "benchmark.md"), text)
    return text
