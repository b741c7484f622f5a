"""Where one training step of fairseq + the plugin spends its time and its memory (``scripts/profile_step.py``).

Time: ``torch.profiler`` over a number of steps after warm-up, grouped into matrix products (with the
FLOP/s they reach against the matmul peak measured in the same run), attention kernels, element-wise
and normalisation ops, the optimizer, and the rest (Python, autograd, data handling).
Memory: resident memory after the imports, once model, checkpoint and data are loaded, and at its
peak while training; and on the longest batch of the epoch, the bytes autograd saves for the backward
pass (by tensor kind), the weights, the gradients and the Adam state.
"""
import collections
import json
import os
import tempfile
import time

from .. import machine
from .measure import peak_rss_mb, rss_now_mb, warmup_and_measured, write_atomic

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


def op_group(name):
    return next((group for group, ops in OP_GROUPS.items() if name in ops), "other aten ops")


def profile_time(trainer, batches, peak_gflops, top=0):
    """Wall time per step split by op group (self time of aten ops; the rest is Python and autograd)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True, record_shapes=top > 0) as prof:
        start = time.perf_counter()
        for batch in batches:
            trainer.train_step([batch])
        wall = time.perf_counter() - start
    groups, matmul_flops, regions = collections.Counter(), 0, {}
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
        "wall_s": wall, "step_ms": 1000 * wall / len(batches),
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
        "shape": shape,
    }


def report(method, timing, memory, model):
    shape = memory["shape"]
    lines = [f"## {method}, {model} ({shape['encoder_layers']} x {shape['encoder_embed_dim']}): one training step "
             f"({timing['step_ms']:.0f} ms, mean of the profiled steps)", "",
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
              "| resident with model, pretrained checkpoint (if any) and data loaded | "
              f"{memory['loaded_rss_mb']:.0f} |",
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


def run(args):
    """Profile one method: print the report, write the figures to ``args.out`` when given; returns them."""
    import importlib

    from .fairseq_run import epoch_batches, start, training_argv
    from .flops import fairseq_shape, matmul_peak
    from .measure import setup_threads
    from .prepare import prepared

    model_dir, data_bin = prepared(args.model_name, args.work_dir, args.max_train)
    importlib.import_module("fairseq.trainer")  # imported now so that the first memory figure counts it
    setup_threads(args.threads)
    rss = {"imports_rss_mb": rss_now_mb()}
    with tempfile.TemporaryDirectory(prefix="profile-fairseq-") as save_dir:
        cfg, _, trainer = start(training_argv(args.method, model_dir, data_bin, args.batch_size, "cpu",
                                              args.precision, save_dir))
    batches = epoch_batches(trainer)
    rss["loaded_rss_mb"] = rss_now_mb()

    def size_of(batch):
        return batch["net_input"]["src_tokens"].numel()

    warm, profiled = warmup_and_measured(batches, args.warmup, args.steps, size_of)
    for batch in warm:  # ends with the epoch's longest batch: the peak below is the epoch's
        trainer.train_step([batch])
    rss["training_peak_rss_mb"] = peak_rss_mb()  # read before profiling: the profiler's memory must not count
    peak = matmul_peak("cpu", args.precision)
    timing = profile_time(trainer, profiled, peak, args.top)
    memory = profile_memory(trainer, max(batches, key=size_of), rss, fairseq_shape(cfg.model))
    text = report(args.method, timing, memory, args.model_name)
    print(text)
    if args.out:
        write_atomic(args.out, json.dumps({"method": args.method, "model": args.model_name, "time": timing,
                                           "memory": memory}, indent=2))
        provenance = (f"{machine.describe('cpu')}; {args.precision}; {machine.today()}; "
                      f"`{getattr(args, 'command', 'python scripts/profile_step.py')}`.")
        write_atomic(os.path.splitext(args.out)[0] + ".md", f"{text.splitlines()[0][3:]}\n\n{provenance}\n\n"
                     + "\n".join(text.splitlines()[2:]) + "\n")
    return {"method": args.method, "time": timing, "memory": memory}
