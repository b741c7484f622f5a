#!/usr/bin/env python
"""Where one training step of fairseq + the plugin spends its time and its memory.

    python scripts/profile_step.py --method lora
    python scripts/profile_step.py --method full --out results/profile/full.json

The same setup as ``scripts/benchmark.py`` (pretrained MiniLM, the quick profile's SST-2 data,
batch 32, Adam), in one process for one method. It prints:
  - time: ``torch.profiler`` over a number of steps after warm-up, grouped into matrix products
    (with the FLOP/s they reach against the matmul peak measured in the same run), attention
    kernels, element-wise and normalisation ops, the optimizer, and the rest (Python, autograd,
    data handling): what keeps the step below the matmul peak;
  - memory: resident memory after the libraries are imported, once model, checkpoint and data are
    loaded, and at its peak while training; and on the longest batch of the epoch, the bytes autograd
    saves for the backward pass (by tensor kind), the gradients and the Adam state.
Writes the figures as JSON with ``--out``.
"""
import argparse
import collections
import json
import os
import resource
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import benchmark  # noqa: E402  (the shared setup: data, model, trainer)

MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
OP_GROUPS = {  # group -> aten ops (self time; composite ops such as aten::linear spend theirs in these)
    "matrix products": MATMUL_OPS,
    "attention softmax and mask": {"aten::_softmax", "aten::_softmax_backward_data", "aten::_safe_softmax",
                                   "aten::where", "aten::isneginf", "aten::masked_fill", "aten::masked_fill_",
                                   "aten::logical_not", "aten::all"},
    "layer norm": {"aten::native_layer_norm", "aten::native_layer_norm_backward"},
    "GELU": {"aten::gelu", "aten::gelu_backward"},
    "dropout masks": {"aten::uniform_", "aten::ge_", "aten::bernoulli_", "aten::native_dropout",
                      "aten::native_dropout_backward"},
    "copies and concatenation": {"aten::copy_", "aten::cat", "aten::clone", "aten::_to_copy", "aten::contiguous"},
    "element-wise arithmetic (residuals, dropout products, LoRA scaling, Adam)": {
        "aten::mul", "aten::mul_", "aten::add", "aten::add_", "aten::sub", "aten::div", "aten::div_", "aten::sqrt",
        "aten::addcdiv_", "aten::addcmul_", "aten::lerp_", "aten::fill_", "aten::zero_", "aten::sum", "aten::neg"},
}


def rss_now_mb():
    with open("/proc/self/status", encoding="utf-8") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="lora", choices=benchmark.METHODS)
    parser.add_argument("--model", default="minilm", help="pretrained model (scripts/get_model.py name or path)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-train", type=int, default=32000, help="training sentences (the quick profile's)")
    parser.add_argument("--steps", type=int, default=20, help="profiled updates")
    parser.add_argument("--warmup", type=int, default=5, help="updates before profiling")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: the plugin's --autocast-bf16 (matmuls in bfloat16)")
    parser.add_argument("--work-dir", default=REPO, help="where data-bin/ is (or is prepared)")
    parser.add_argument("--top", type=int, default=0, help="also print the N costliest ops with their input shapes")
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    args.device = "cpu"
    return args


def op_group(name):
    return next((group for group, ops in OP_GROUPS.items() if name in ops), "other aten ops")


def profile_time(trainer, batches, steps, peak_gflops, top=0):
    """Wall time per step split by op group (self time of aten ops; the rest is Python and autograd)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True, record_shapes=top > 0) as prof:
        start = time.perf_counter()
        for batch in batches:
            trainer.train_step([batch])
        wall = time.perf_counter() - start
    groups, matmul_flops = collections.Counter(), 0
    regions = {}
    for event in prof.key_averages():
        if event.key in ("forward", "backward", "optimizer"):
            regions[event.key] = event.cpu_time_total / 1e6
            continue
        if not event.key.startswith("aten::"):
            continue
        groups[op_group(event.key)] += event.self_cpu_time_total / 1e6
        if event.key in MATMUL_OPS:
            matmul_flops += event.flops
    if top:
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=top))
    groups["outside aten ops (Python, autograd engine, fairseq bookkeeping)"] = wall - sum(groups.values())
    matmul_s = groups["matrix products"]
    return {
        "wall_s": wall, "step_ms": 1000 * wall / steps,
        "share": {name: seconds / wall for name, seconds in groups.most_common()},
        "regions_share": {name: seconds / wall for name, seconds in regions.items()},
        "matmul_gflops": matmul_flops / matmul_s / 1e9 if matmul_s else 0.0,
        "matmul_peak_gflops": peak_gflops,
        "step_gflops": matmul_flops / wall / 1e9,
    }


def tensor_kind(shape, hidden, ffn, heads, low_precision=False):
    if not shape:
        return "other"
    if len(shape) == 2 and low_precision:
        return "weights cast to bfloat16 (autocast)"
    if len(shape) >= 3 and shape[-1] == shape[-2] and (len(shape) == 3 or shape[-3] == heads):
        return "attention scores / probabilities (L x L per head)"
    if shape[-1] == ffn:
        return "feed-forward inner activations"
    if shape[-1] == hidden or (len(shape) == 3 and shape[0] % heads == 0 and hidden // heads in shape[1:]):
        return "hidden states, queries, keys, values"
    if shape[-1] <= 64:
        return "low-rank / adapter activations"
    return "other"


def saved_for_backward(model, criterion, batch, shape):
    """Bytes autograd keeps for the backward pass of one forward, by tensor kind (parameters excluded)."""
    import torch

    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen, kinds = set(), collections.Counter()

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters and storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            kind = tensor_kind(tuple(tensor.shape), shape["encoder_embed_dim"], shape["encoder_ffn_embed_dim"],
                               shape["encoder_attention_heads"], tensor.dtype == torch.bfloat16)
            kinds[kind] += storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss, _, _ = criterion(model, batch)
    del loss
    return {kind: nbytes / 2**20 for kind, nbytes in kinds.most_common()}


def profile_memory(trainer, longest, rss, shape):
    model, optimizer = trainer.get_model(), trainer.optimizer
    trained = [p for p in model.parameters() if p.requires_grad]
    state = optimizer.optimizer.state if hasattr(optimizer, "optimizer") else {}
    adam_mb = sum(t.numel() * t.element_size() for s in state.values() for t in s.values() if hasattr(t, "numel"))
    return {
        **rss,
        "weights_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20,
        "gradients_mb": sum(p.numel() * p.element_size() for p in trained) / 2**20,
        "adam_state_mb": adam_mb / 2**20,
        "longest_batch": list(longest["net_input"]["src_tokens"].shape),
        "saved_for_backward_mb": saved_for_backward(model, trainer.criterion, longest, shape),
    }


def report(method, timing, memory):
    lines = [f"## {method}: one training step ({timing['step_ms']:.0f} ms, mean of the profiled steps)", "",
             "| where the time goes | share of the step |", "|---|---|"]
    lines += [f"| {name} | {100 * share:.1f}% |" for name, share in timing["share"].items()]
    lines += ["", "fairseq regions: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in timing["regions_share"].items()),
              f"matrix products run at {timing['matmul_gflops']:.1f} GFLOP/s = "
              f"{100 * timing['matmul_gflops'] / timing['matmul_peak_gflops']:.0f}% of the measured matmul peak "
              f"({timing['matmul_peak_gflops']:.1f}); over the whole step {timing['step_gflops']:.1f} GFLOP/s = "
              f"{100 * timing['step_gflops'] / timing['matmul_peak_gflops']:.0f}% of peak "
              "(FLOPs as the profiler counts them for the matrix products).", "",
             "| memory | MB |", "|---|---|",
             f"| resident after importing torch and fairseq | {memory['imports_rss_mb']:.0f} |",
             f"| resident with model, pretrained checkpoint and data loaded | {memory['loaded_rss_mb']:.0f} |",
             f"| peak resident while training (the warm-up ends with the epoch's longest batch) | "
             f"{memory['training_peak_rss_mb']:.0f} |",
             f"| model weights | {memory['weights_mb']:.1f} |",
             f"| gradients of the trained parameters | {memory['gradients_mb']:.1f} |",
             f"| Adam state | {memory['adam_state_mb']:.1f} |"]
    batch = "×".join(str(n) for n in memory["longest_batch"])
    lines += [f"| saved for backward, longest batch ({batch}): {kind} | {mb:.1f} |"
              for kind, mb in memory["saved_for_backward_mb"].items()]
    lines.append(f"| saved for backward, total | {sum(memory['saved_for_backward_mb'].values()):.1f} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    import importlib

    import torch

    importlib.import_module("fairseq.trainer")  # imported now so that the first memory figure counts it

    if args.threads:
        torch.set_num_threads(args.threads)
    rss = {"imports_rss_mb": rss_now_mb()}
    args.model_dir, args.data_bin = benchmark.prepare(args)
    info, cfg, task, trainer, batches = benchmark.fairseq_training(args, args.method, "cpu", args.precision)
    rss["loaded_rss_mb"] = rss_now_mb()
    def size_of(batch):
        return batch["net_input"]["src_tokens"].numel()

    warm, profiled = benchmark.warmup_and_measured(batches, args.warmup, args.steps, size_of)
    for batch in warm:  # ends with the epoch's longest batch: the peak below is the epoch's
        trainer.train_step([batch])
    rss["training_peak_rss_mb"] = peak_rss_mb()  # read before profiling: the profiler's memory must not count
    peak = benchmark.matmul_peak("cpu", args.precision)
    timing = profile_time(trainer, profiled, len(profiled), peak, args.top)
    memory = profile_memory(trainer, max(batches, key=size_of), rss, info["shape"])
    print(report(args.method, timing, memory))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        tmp = tempfile.NamedTemporaryFile("w", dir=os.path.dirname(os.path.abspath(args.out)), delete=False,
                                          suffix=".tmp", encoding="utf-8")
        with tmp:
            json.dump({"method": args.method, "time": timing, "memory": memory}, tmp, indent=2)
        os.replace(tmp.name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
