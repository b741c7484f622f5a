#!/usr/bin/env python
"""Training and inference speed and memory: fairseq + the plugin against HF Trainer + peft.

    python scripts/benchmark.py --quick          # a few minutes on 2 CPU cores
    python scripts/benchmark.py --device cuda --precision bf16

Same machine, weights (the pretrained MiniLM by default), data (SST-2 as the quick profile
prepares it: 32,000 training sentences), batch size and optimizer for both. Each implementation x
method runs in its own process (its peak resident memory is its own) and measures:
  - training throughput over a fixed number of updates after warm-up (which ends with the epoch's
    largest batch, so that the peak memory below is the epoch's), on batches drawn at random
    from an epoch as each library batches it (fairseq: the plugin's length-bucketed task; HF: the
    Trainer's random sampler with dynamic padding): sentences/s and real (non-padding) tokens/s;
  - one epoch's time at the quick profile's settings: the number of batches times the mean step;
  - achieved FLOP/s as a fraction of the matmul peak measured in the same run (FLOPs counted from
    the shapes each implementation really computes: padded positions count; frozen weights get no
    weight gradient; the plugin's last layer computes position 0 only);
  - peak resident memory, the size of the saved trainable state (PEFT-only file / peft adapter) and
    of a full training checkpoint, and inference throughput (dev set, LoRA / IA3 merged).
Writes benchmark.json (one object per impl x method) and benchmark.md into --out-dir.
"""
import argparse
import datetime
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "scripts"))

METHODS = ("lora", "bitfit", "full", "adapter", "ia3")
METHOD_OPTIONS = {
    "lora": ["--lora-r", "8", "--lora-alpha", "16", "--lora-targets", "q_proj,v_proj"],
    "bitfit": ["--bitfit-biases", "all"],
    "full": [],
    "adapter": ["--adapter-dim", "64"],
    "ia3": ["--ia3-targets", "k_proj,v_proj,fc2"],
}
LEARNING_RATES = {"lora": 2e-3, "bitfit": 3e-3, "full": 5e-5, "adapter": 1e-3, "ia3": 5e-3}
NO_HF_TWIN = {"adapter"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer measured updates (a few minutes in all)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma list from " + ",".join(METHODS))
    parser.add_argument("--impls", default="fairseq,hf", help="comma list from fairseq,hf")
    parser.add_argument("--model", default="minilm", help="pretrained model (scripts/get_model.py name or path)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-train", type=int, default=32000, help="training sentences (the quick profile's)")
    parser.add_argument("--steps", type=int, help="measured updates (default 100, --quick 30)")
    parser.add_argument("--warmup", type=int, default=5, help="updates before measuring")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="auto: fp32 on CPU, bf16 on a GPU")
    parser.add_argument("--threads", type=int, help="torch threads on CPU (default: all cores)")
    parser.add_argument("--out-dir", default=os.path.join(REPO, "results", "benchmark"))
    parser.add_argument("--work-dir", default=REPO, help="where data-bin/ is (or is prepared)")
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--data-bin", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    args.impls = [i for i in args.impls.split(",") if i]
    unknown = [m for m in args.methods if m not in METHODS] + [i for i in args.impls if i not in ("fairseq", "hf")]
    if unknown:
        parser.error(f"unknown method or impl: {', '.join(unknown)}")
    args.steps = args.steps or (30 if args.quick else 100)
    return args


# ------------------------------------------------------------------------------- shared helpers
def setup_torch(args):
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = args.precision
    if precision == "auto":
        precision = "bf16" if device == "cuda" else "fp32"
    return device, precision


def precision_options(device, precision):
    """fairseq-train options of a device and precision: on a CPU, bf16 is the plugin's autocast."""
    if device == "cpu":
        return ["--cpu"] + (["--autocast-bf16"] if precision == "bf16" else [])
    return [f"--{precision}"] if precision in ("bf16", "fp16") else []


def synchronize(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, precision, size=2048, repeats=20):
    """GFLOP/s of the best of a few large square matrix products: the hardware's practical peak."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def training_flops(shape, batch, length, impl, method, num_classes=2):
    """FLOPs of one training step on a padded batch x length input (multiply-adds count 2)."""
    layers, d, f = shape["encoder_layers"], shape["encoder_embed_dim"], shape["encoder_ffn_embed_dim"]
    per_token = 2 * (4 * d * d + 2 * d * f)  # q, k, v, out, fc1, fc2
    attention = 2 * 2 * length * length * d  # scores and weighted values, per sequence
    if impl == "fairseq":  # the last layer: keys and values of every position, the rest for position 0
        last = length * 2 * 2 * d * d + 2 * (2 * d * d + 2 * d * f) + 2 * 2 * length * d
        forward = batch * ((layers - 1) * (length * per_token + attention) + last) + batch * 2 * (d * d + d * num_classes)
    else:  # every position of every layer, then the pooler and the classifier
        forward = batch * layers * (length * per_token + attention) + batch * 2 * (d * d + d * num_classes)
    extra = 0  # the method's own modules: forward, and two gradients (input and weights)
    if method == "lora":
        extra = 3 * batch * length * layers * 2 * 2 * 8 * (d + d)  # r=8 on q and v
    elif method == "adapter":
        extra = 3 * batch * length * layers * 2 * 2 * 2 * d * 64  # two adapters of width 64
    if method == "full":
        return 3 * forward + extra  # forward, input gradients, weight gradients
    # frozen weights: no weight gradients; the first layer's q, k, v need no input gradient either
    return 2 * forward - batch * length * 2 * 3 * d * d + extra


def warmup_and_measured(batches, warmup, steps, size_of):
    """(warm-up batches, measured batches), drawn at random from one epoch. The warm-up ends with the
    epoch's largest batch, so the peak memory is the epoch's, reached with the optimizer state allocated."""
    sample = random.Random(0).sample(batches, min(len(batches), warmup + steps))
    return sample[:warmup] + [max(batches, key=size_of)], sample[warmup:]


def loaded_rss_mb():
    """Peak resident memory so far: libraries, data and model loaded, no training step yet."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def file_mb(path):
    total = 0
    for root, _, files in os.walk(path) if os.path.isdir(path) else [("", [], [path])]:
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total / 2**20


# ------------------------------------------------------------------------------- fairseq worker
def fairseq_training(args, method, device, precision):
    """(model_info, cfg, task, trainer, one epoch's batches) of fairseq + the plugin, pretrained weights loaded."""
    from fairseq import checkpoint_utils, options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    with open(os.path.join(args.model_dir, "model_info.json"), encoding="utf-8") as f:
        info = json.load(f)
    argv = [args.data_bin, "--user-dir", os.path.join(REPO, "fairseq_plugins"), "--task", "sentence_prediction_bucketed",
            "--criterion", "sentence_prediction", "--init-token", "0", "--num-classes", "2", *info["train_args"],
            "--peft", "none" if method == "full" else method, *METHOD_OPTIONS[method],
            "--batch-size", str(args.batch_size), "--required-batch-size-multiple", "1", "--optimizer", "adam",
            "--adam-betas", "(0.9,0.98)", "--adam-eps", "1e-6", "--weight-decay", "0.01", "--lr", str(LEARNING_RATES[method]),
            "--lr-scheduler", "polynomial_decay", "--total-num-update", "1000", "--warmup-updates", "50",
            "--num-workers", "0", "--seed", "1", "--finetune-from-model", os.path.join(args.model_dir, "model.pt"),
            "--save-dir", tempfile.mkdtemp(prefix="bench-fairseq-")]
    argv += precision_options(device, precision)
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(options.get_training_parser(), input_args=argv))
    utils.import_user_module(cfg.common)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train")
    task.load_dataset("valid")
    model = task.build_model(cfg.model)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    checkpoint_utils.load_checkpoint(cfg.checkpoint, trainer)
    epoch = trainer.get_train_iterator(epoch=1, load_dataset=False)
    return info, cfg, task, trainer, list(epoch.next_epoch_itr(shuffle=True))


def fairseq_worker(args, method, device, precision):
    import torch
    from fairseq import utils

    info, cfg, task, trainer, batches = fairseq_training(args, method, device, precision)
    warm, measured = warmup_and_measured(batches, args.warmup, args.steps,
                                         lambda batch: batch["net_input"]["src_tokens"].numel())
    rss_loaded_mb = loaded_rss_mb()
    times, sentences, tokens, flops = [], 0, 0, 0
    shape = info["shape"] if "shape" in info else None
    for i, batch in enumerate(warm + measured):
        synchronize(device)
        start = time.perf_counter()
        trainer.train_step([batch])
        synchronize(device)
        if i >= len(warm):
            times.append(time.perf_counter() - start)
            size, length = batch["net_input"]["src_tokens"].shape
            sentences += size
            tokens += int(batch["ntokens"])
            flops += training_flops(shape, size, length, "fairseq", method)
    trained = trainer.get_model()
    state_dir = tempfile.mkdtemp(prefix="bench-state-")
    from fairseq_plugins.peft_checkpoint import save_peft_file

    if method == "full":
        torch.save(trained.state_dict(), os.path.join(state_dir, "model.pt"))
        state_mb = file_mb(os.path.join(state_dir, "model.pt"))
    else:
        state_mb = file_mb(save_peft_file(trained, cfg, os.path.join(state_dir, "checkpoint.peft.pt")))
    trainer.consolidate_optimizer()  # as fairseq does before saving (it sets what save_checkpoint reads)
    trainer.save_checkpoint(os.path.join(state_dir, "checkpoint_last.pt"), {})
    checkpoint_mb = file_mb(os.path.join(state_dir, "checkpoint_last.pt"))
    shutil.rmtree(state_dir)

    trained.eval()
    if trained.peft.can_merge:
        trained.peft.merge(trained)
    valid = task.dataset("valid")
    iterator = task.get_batch_iterator(valid, max_sentences=64).next_epoch_itr(shuffle=False)
    count, elapsed = 0, 0.0
    with torch.no_grad():
        for batch in iterator:
            batch = utils.move_to_cuda(batch) if device == "cuda" else batch
            synchronize(device)
            start = time.perf_counter()
            trained(**batch["net_input"], features_only=True, classification_head_name="sentence_classification_head")
            synchronize(device)
            elapsed += time.perf_counter() - start
            count += batch["nsentences"]
    trainable = sum(p.numel() for p in trained.parameters() if p.requires_grad)
    return dict(step_times=times, sentences=sentences, tokens=tokens, flops=flops, epoch_batches=len(batches),
                state_mb=state_mb, checkpoint_mb=checkpoint_mb, inference_sent_per_s=count / elapsed,
                trainable_params=trainable, rss_loaded_mb=rss_loaded_mb)


# ------------------------------------------------------------------------------- HF worker
def hf_worker(args, method, device, precision):
    import hf_baseline
    import torch
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer

    fairseq_options = ["--batch-size", str(args.batch_size), "--max-update", "1000", "--warmup-updates", "50",
                       "--lr", str(LEARNING_RATES[method]), "--adam-betas", "(0.9,0.98)", "--adam-eps", "1e-6",
                       "--weight-decay", "0.01", *METHOD_OPTIONS[method]]
    fairseq_options += precision_options(device, precision)
    opts = hf_baseline.parse_fairseq_options(fairseq_options)
    hf_dir, _ = hf_baseline.read_model_info(args.model_dir)
    classes = hf_baseline.read_labels(args.data_bin)
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    train = hf_baseline.EncodedExamples(tokenizer, hf_baseline.read_examples(args.data_bin, "train", classes), 512)
    valid = hf_baseline.EncodedExamples(tokenizer, hf_baseline.read_examples(args.data_bin, "valid", classes), 512)
    model, family = hf_baseline.build_model(hf_dir, classes, "pretrained", 1)
    model = hf_baseline.apply_method(model, family, method, opts)
    save_dir = tempfile.mkdtemp(prefix="bench-hf-")
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    trainer = Trainer(model=model, args=hf_baseline.training_arguments(opts, save_dir, 1, steps_per_epoch),
                      data_collator=DataCollatorWithPadding(tokenizer), train_dataset=train, eval_dataset=valid)
    trainer.create_optimizer_and_scheduler(num_training_steps=1000)
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(); training_step divides by it
    loader = trainer.get_train_dataloader()
    batches = list(loader)
    warm, measured = warmup_and_measured(batches, args.warmup, args.steps, lambda batch: batch["input_ids"].numel())
    model.train()
    with open(os.path.join(args.model_dir, "model_info.json"), encoding="utf-8") as f:
        shape = json.load(f)["shape"]
    rss_loaded_mb = loaded_rss_mb()
    times, sentences, tokens, flops = [], 0, 0, 0
    for i, batch in enumerate(warm + measured):
        batch = {k: v.to(trainer.args.device) for k, v in batch.items()}
        synchronize(device)
        start = time.perf_counter()
        trainer.training_step(model, batch)
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
        model.zero_grad()
        synchronize(device)
        if i >= len(warm):
            times.append(time.perf_counter() - start)
            size, length = batch["input_ids"].shape
            sentences += size
            tokens += int(batch["attention_mask"].sum())
            flops += training_flops(shape, size, length, "hf", method)
    state_dir = tempfile.mkdtemp(prefix="bench-state-")
    model.save_pretrained(state_dir)
    state_mb = file_mb(state_dir)
    torch.save({"model": model.state_dict(), "optimizer": trainer.optimizer.state_dict()},
               os.path.join(state_dir, "checkpoint.pt"))
    checkpoint_mb = file_mb(os.path.join(state_dir, "checkpoint.pt"))
    shutil.rmtree(state_dir)
    shutil.rmtree(save_dir, ignore_errors=True)

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if method in ("lora", "ia3"):
        model = model.merge_and_unload()
    model.eval()
    collate = DataCollatorWithPadding(tokenizer)
    count, elapsed = 0, 0.0
    with torch.no_grad():
        for start_index in range(0, len(valid), 64):
            batch = collate([valid[i] for i in range(start_index, min(len(valid), start_index + 64))])
            batch = {k: v.to(trainer.args.device) for k, v in batch.items() if k != "labels"}
            synchronize(device)
            start = time.perf_counter()
            model(**batch)
            synchronize(device)
            elapsed += time.perf_counter() - start
            count += batch["input_ids"].shape[0]
    return dict(step_times=times, sentences=sentences, tokens=tokens, flops=flops, epoch_batches=len(batches),
                state_mb=state_mb, checkpoint_mb=checkpoint_mb, inference_sent_per_s=count / elapsed,
                trainable_params=trainable, rss_loaded_mb=rss_loaded_mb)


def worker(args):
    impl, method = args.worker
    device, precision = setup_torch(args)
    result = (fairseq_worker if impl == "fairseq" else hf_worker)(args, method, device, precision)
    with open(args.result, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


# ------------------------------------------------------------------------------- driver
def prepare(args):
    """The quick profile's SST-2 data for the model (prepared as the recipes do, or reused)."""
    model_dir = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "get_model.py"), args.model],
                               capture_output=True, text=True)
    if model_dir.returncode != 0:
        raise SystemExit(model_dir.stderr.strip())
    model_dir = model_dir.stdout.strip()
    shared = os.path.join(os.path.dirname(REPO), "shared", "data", "glue", "SST-2")
    glue = os.environ.get("GLUE_DIR")
    sst2 = os.path.join(glue, "SST-2") if glue else (os.path.join(REPO, "data", "glue", "SST-2")
                                                       if os.path.isdir(os.path.join(REPO, "data", "glue", "SST-2")) else shared)
    options = [sys.executable, os.path.join(REPO, "scripts", "prepare_data.py"), "--task", f"sst2-{args.max_train}",
               "--train", os.path.join(sst2, "train.tsv"), "--dev", os.path.join(sst2, "dev.tsv"),
               "--text-columns", "sentence", "--label-column", "label", "--max-train", str(args.max_train),
               "--model-dir", model_dir, "--workers", "2"]
    out = subprocess.run(options + ["--print-out-dir"], capture_output=True, text=True, cwd=args.work_dir)
    if out.returncode != 0:
        raise SystemExit(out.stderr.strip())
    data_bin = os.path.join(args.work_dir, out.stdout.strip())
    subprocess.run(options + ["--out-dir", data_bin], check=True, cwd=args.work_dir)
    return model_dir, data_bin


def run_worker(args, impl, method, model_dir, data_bin):
    """One impl x method in a child process; returns its measurements and its own peak RSS."""
    result_path = tempfile.mktemp(suffix=".json")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, method, "--data-bin", data_bin,
           "--model-dir", model_dir, "--result", result_path, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--device", args.device,
           "--precision", args.precision] + (["--threads", str(args.threads)] if args.threads else [])
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read()
    if status != 0 or not os.path.exists(result_path):
        raise SystemExit(f"benchmark.py: error: {impl} {method} failed:\n{stderr[-3000:]}")
    with open(result_path, encoding="utf-8") as f:
        result = json.load(f)
    os.remove(result_path)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def summarize(impl, method, raw, peak_gflops, batch_size):
    step = sum(raw["step_times"]) / len(raw["step_times"])
    seconds = sum(raw["step_times"])
    return {
        "impl": impl, "method": method,
        "sent_per_s": round(raw["sentences"] / seconds, 1),
        "tokens_per_s": round(raw["tokens"] / seconds, 1),
        "step_ms": round(1000 * step, 1),
        "epoch_s": round(raw["epoch_batches"] * step, 1),
        "epoch_batches": raw["epoch_batches"],
        "achieved_gflops": round(raw["flops"] / seconds / 1e9, 1),
        "matmul_peak_gflops": round(peak_gflops, 1),
        "matmul_peak_fraction": round(raw["flops"] / seconds / 1e9 / peak_gflops, 3),
        "peak_rss_mb": round(raw["peak_rss_mb"], 1),
        "loaded_rss_mb": round(raw["rss_loaded_mb"], 1),
        "training_rss_mb": round(raw["peak_rss_mb"] - raw["rss_loaded_mb"], 1),
        "state_mb": round(raw["state_mb"], 3),
        "checkpoint_mb": round(raw["checkpoint_mb"], 1),
        "state_fraction_of_checkpoint": round(raw["state_mb"] / raw["checkpoint_mb"], 4),
        "inference_sent_per_s": round(raw["inference_sent_per_s"], 1),
        "trainable_params": raw["trainable_params"],
        "batch_size": batch_size,
    }


def markdown(rows, machine, args):
    lines = [f"Benchmark ({machine}; MiniLM `{args.model}`, SST-2 {args.max_train} sentences, batch {args.batch_size}, "
             f"{args.steps} measured updates after {args.warmup}; {datetime.date.today()}).", "",
             "| impl | method | sent/s | real tokens/s | epoch (s) | FLOP/s vs matmul peak | peak RSS (MB) | "
             "trained state (MB) | state / checkpoint | inference sent/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['impl']} | {r['method']} | {r['sent_per_s']:.1f} | {r['tokens_per_s']:.0f} | {r['epoch_s']:.0f} | "
                     f"{100 * r['matmul_peak_fraction']:.0f}% | {r['peak_rss_mb']:.0f} | {r['state_mb']:.2f} | "
                     f"{100 * r['state_fraction_of_checkpoint']:.2f}% | {r['inference_sent_per_s']:.0f} |")
    by_key = {(r["impl"], r["method"]): r for r in rows}
    ratios = [(m, by_key[("fairseq", m)], by_key[("hf", m)]) for m in args.methods
              if ("fairseq", m) in by_key and ("hf", m) in by_key]
    if ratios:
        lines += ["", "fairseq / HF:", "", "| method | epoch time | peak RSS | trained state | inference sent/s |",
                  "|---|---|---|---|---|"]
        for m, f, h in ratios:
            lines.append(f"| {m} | {f['epoch_s'] / h['epoch_s']:.2f} | {f['peak_rss_mb'] / h['peak_rss_mb']:.2f} | "
                         f"{f['state_mb'] / h['state_mb']:.2f} | {f['inference_sent_per_s'] / h['inference_sent_per_s']:.2f} |")
    full = by_key.get(("fairseq", "full"))
    if full:
        lines += ["", "fairseq, peak memory against full fine-tuning: " + ", ".join(
            f"{m} {by_key[('fairseq', m)]['peak_rss_mb'] / full['peak_rss_mb']:.2f}"
            for m in args.methods if ("fairseq", m) in by_key and m != "full")]
        lines += ["", "fairseq, memory that training adds to the loaded process (peak RSS minus RSS with "
                  f"libraries, data and model loaded: {full['loaded_rss_mb']:.0f} MB for full), against full "
                  "fine-tuning: " + ", ".join(
                      f"{m} {by_key[('fairseq', m)]['training_rss_mb'] / full['training_rss_mb']:.2f}"
                      for m in args.methods if ("fairseq", m) in by_key and m != "full")]
    return "\n".join(lines) + "\n"


def machine_description(device):
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    model = platform.processor() or "CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    device, precision = setup_torch(args)
    model_dir, data_bin = prepare(args)
    peak = matmul_peak(device, precision)
    print(f"matmul peak: {peak:.1f} GFLOP/s ({device}, {precision})", flush=True)
    raws = []
    for impl in args.impls:
        for method in args.methods:
            if impl == "hf" and method in NO_HF_TWIN:
                continue
            raw = run_worker(args, impl, method, model_dir, data_bin)
            raws.append((impl, method, raw))
            step = sum(raw["step_times"]) / len(raw["step_times"])
            print(f"{impl:7s} {method:7s} {1000 * step:7.1f} ms/step  RSS {raw['peak_rss_mb']:6.0f} MB", flush=True)
    # the peak again at the end: a busy moment at the start must not lower the reference
    peak = max(peak, matmul_peak(device, precision))
    print(f"matmul peak (best of start and end): {peak:.1f} GFLOP/s", flush=True)
    rows = []
    for impl, method, raw in raws:
        row = summarize(impl, method, raw, peak, args.batch_size)
        row.update(device=device, precision=precision, machine=machine_description(device))
        rows.append(row)
    os.makedirs(args.out_dir, exist_ok=True)
    machine = machine_description(device)
    for name, text in (("benchmark.json", json.dumps(rows, indent=2) + "\n"),
                       ("benchmark.md", markdown(rows, machine, args))):
        tmp = os.path.join(args.out_dir, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(args.out_dir, name))
    print(markdown(rows, machine, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
