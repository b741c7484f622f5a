"""What one child process of the benchmark measures, for one implementation and one method:

  - training steps after a warm-up that ends with the epoch's largest batch (so that the peak memory
    is the epoch's), on batches drawn at random from one epoch as each implementation batches it:
    their times, sentences, real (non-padding) tokens and FLOPs;
  - resident memory once libraries, data and model are loaded, and its peak through the training
    steps (read before saving and inference; the parent reads the whole process's peak too);
  - the saved trainable state (PEFT-only file / peft adapter) and a full training checkpoint;
  - inference throughput on the dev set (LoRA / IA3 merged).

    python -m peft_roberta.bench.workers SPEC.json RESULT.json   (measure.run_child starts it)
"""
import contextlib
import math
import os
import shutil
import sys
import tempfile
import time

from .flops import fairseq_shape, hf_shape, training_flops
from .measure import child_main, file_mb, num_classes, peak_rss_mb, synchronize, warmup_and_measured


def timed_steps(batches, warm_count, step, describe, device):
    """Run ``step`` on every batch; returns the totals of the batches after the first ``warm_count``."""
    totals = {"step_times": [], "sentences": 0, "tokens": 0, "flops": 0, "warmup_s": 0.0}
    for i, batch in enumerate(batches):
        synchronize(device)
        start = time.perf_counter()
        step(batch)
        synchronize(device)
        elapsed = time.perf_counter() - start
        if i < warm_count:
            totals["warmup_s"] += elapsed
            continue
        sentences, tokens, flops = describe(batch)
        totals["step_times"].append(elapsed)
        totals["sentences"] += sentences
        totals["tokens"] += tokens
        totals["flops"] += flops
    return totals


def tensor_breakdown_mb(model, optimizer):
    """MiB held by the frozen and the trained weights, the gradients and the optimizer's state."""
    def mib(tensors):
        return sum(t.numel() * t.element_size() for t in tensors) / 2 ** 20

    params = list(model.parameters())
    state = [v for per_param in optimizer.state.values() for v in per_param.values() if hasattr(v, "element_size")]
    return {"frozen weights": mib(p for p in params if not p.requires_grad),
            "trained weights": mib(p for p in params if p.requires_grad),
            "gradients": mib(p.grad for p in params if p.grad is not None), "optimizer state": mib(state)}


def fairseq_worker(spec):
    import torch

    from fairseq_plugins.checkpoints.peft_file import save_peft_file

    from .fairseq_run import epoch_batches, logits, start, training_argv, valid_batches
    from .hf_run import fairseq_knobs

    method, device, precision = spec["method"], spec["device"], spec["precision"]
    save_dir = tempfile.mkdtemp(prefix="bench-fairseq-")
    argv = training_argv(method, spec["model_dir"], spec["data_bin"], spec["batch_size"], device, precision, save_dir)
    argv += ["--checkpoint-activations"] if spec.get("checkpoint_activations") else []
    argv += ["--frozen-weights-dtype", spec["frozen_weights_dtype"]] if spec.get("frozen_weights_dtype") else []
    cfg, task, trainer = start(argv)
    batches = epoch_batches(trainer)
    warm, measured = warmup_and_measured(batches, spec["warmup"], spec["steps"],
                                         lambda batch: batch["net_input"]["src_tokens"].numel())
    shape = fairseq_shape(cfg.model)
    rss_loaded_mb = peak_rss_mb()

    def describe(batch):
        size, length = batch["net_input"]["src_tokens"].shape
        return size, int(batch["ntokens"]), training_flops(shape, size, length, "fairseq", method)

    result = timed_steps(warm + measured, len(warm), lambda batch: trainer.train_step([batch]), describe, device)
    rss_trained_mb = peak_rss_mb()  # before saving and inference, whose copies are not training's
    memory_mb = tensor_breakdown_mb(trainer.model, trainer.optimizer.optimizer)
    trained = trainer.get_model()
    state_dir = tempfile.mkdtemp(prefix="bench-state-")
    if method == "full":
        torch.save(trained.state_dict(), os.path.join(state_dir, "model.pt"))
        state_mb = file_mb(os.path.join(state_dir, "model.pt"))
    else:
        state_mb = file_mb(save_peft_file(trained, cfg, os.path.join(state_dir, "checkpoint.peft.pt")))
    trainer.consolidate_optimizer()  # as fairseq does before saving (it sets what save_checkpoint reads)
    trainer.save_checkpoint(os.path.join(state_dir, "checkpoint_last.pt"), {})
    checkpoint_mb = file_mb(os.path.join(state_dir, "checkpoint_last.pt"))
    shutil.rmtree(state_dir)
    shutil.rmtree(save_dir, ignore_errors=True)

    trainable = sum(p.numel() for p in trained.parameters() if p.requires_grad)
    trained.eval()
    if trained.peft.can_merge:
        trained.store_frozen_weights(torch.float32)  # merging needs them as wide as the method's parameters
        trained.peft.merge(trained)
    count, elapsed = 0, 0.0
    with torch.no_grad():
        for batch in valid_batches(task, device):
            synchronize(device)
            begin = time.perf_counter()
            logits(trained, batch, cfg.model.classification_head_name)
            synchronize(device)
            elapsed += time.perf_counter() - begin
            count += batch["nsentences"]
    return dict(result, epoch_batches=len(batches), state_mb=state_mb, checkpoint_mb=checkpoint_mb,
                inference_sent_per_s=count / elapsed, trainable_params=trainable, rss_loaded_mb=rss_loaded_mb,
                rss_trained_mb=rss_trained_mb, memory_mb=memory_mb,
                shape=shape, knobs=fairseq_knobs(precision))


def hf_worker(spec):
    import torch
    from transformers import AutoTokenizer, DataCollatorWithPadding

    from fairseq_plugins.trainable import store_frozen_linears

    from ..runs.settings import profile_defaults
    from .hf_run import Examples, build_model, knobs, prepare_for_steps, probe_workers, train_step, trainer_for

    impl, method, device, precision = spec["impl"], spec["method"], spec["device"], spec["precision"]
    tokenizer = AutoTokenizer.from_pretrained(spec["hf_dir"])
    train = Examples(spec["data_bin"], "train", tokenizer)
    valid = Examples(spec["data_bin"], "valid", tokenizer)
    model = build_model(spec["hf_dir"], method, num_classes(spec["data_bin"]),
                        attn_implementation="sdpa" if impl == "hf-tuned" else None)
    if spec.get("frozen_weights_dtype") == "bf16":
        store_frozen_linears(model, torch.bfloat16)
    per_epoch = math.ceil(len(train) / spec["batch_size"])
    out_dir = tempfile.mkdtemp(prefix="bench-hf-")
    trainer = trainer_for(impl, model, tokenizer, train, valid, batch_size=spec["batch_size"],
                          lr=profile_defaults("quick", "sst2", method)["lr"], warmup_steps=round(0.06 * per_epoch),
                          max_steps=per_epoch, device=device, precision=precision, out_dir=out_dir,
                          compile=spec.get("compile", False),
                          activation_checkpointing=spec.get("checkpoint_activations", False))
    step_model = prepare_for_steps(trainer, per_epoch)
    batches = list(trainer.get_train_dataloader())
    warm, measured = warmup_and_measured(batches, spec["warmup"], spec["steps"],
                                         lambda batch: batch["input_ids"].numel())
    shape = hf_shape(model.config)
    rss_loaded_mb = peak_rss_mb()

    def describe(batch):
        size, length = batch["input_ids"].shape
        return size, int(batch["attention_mask"].sum()), training_flops(shape, size, length, "hf", method)

    on_device = [{k: v.to(trainer.args.device) for k, v in batch.items()} for batch in warm + measured]
    result = timed_steps(on_device, len(warm), lambda batch: train_step(trainer, step_model, batch), describe, device)
    rss_trained_mb = peak_rss_mb()  # before saving and inference, whose copies are not training's
    state_dir = tempfile.mkdtemp(prefix="bench-state-")
    trainer.model.save_pretrained(state_dir)
    state_mb = file_mb(state_dir)
    torch.save({"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict()},
               os.path.join(state_dir, "checkpoint.pt"))
    checkpoint_mb = file_mb(os.path.join(state_dir, "checkpoint.pt"))
    shutil.rmtree(state_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    probe = None
    if impl == "hf-tuned":  # the data-loader workers: kept if faster (after the peak memory is read)
        timings, _ = probe_workers(trainer, step_model, device, spec.get("probe_steps", 8))
        probe = {str(workers): round(seconds, 4) for workers, seconds in timings.items()}
    config = knobs(impl, trainer, trainer.model, precision, probe)

    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    inference = trainer.model
    if method in ("lora", "ia3"):
        inference = inference.merge_and_unload()
    inference.eval()
    collate = DataCollatorWithPadding(tokenizer)
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    autocast = torch.autocast(torch.device(device).type, dtype=low) if low else contextlib.nullcontext()
    count, elapsed = 0, 0.0
    with torch.no_grad(), autocast:
        for first in range(0, len(valid), 64):
            batch = collate([valid[i] for i in range(first, min(len(valid), first + 64))])
            batch = {k: v.to(trainer.args.device) for k, v in batch.items() if k != "labels"}
            synchronize(device)
            begin = time.perf_counter()
            inference(**batch)
            synchronize(device)
            elapsed += time.perf_counter() - begin
            count += batch["input_ids"].shape[0]
    return dict(result, epoch_batches=len(batches), state_mb=state_mb, checkpoint_mb=checkpoint_mb,
                inference_sent_per_s=count / elapsed, trainable_params=trainable, rss_loaded_mb=rss_loaded_mb,
                rss_trained_mb=rss_trained_mb,
                shape=shape, knobs=config)


def measure(spec):
    return (fairseq_worker if spec["impl"] == "fairseq" else hf_worker)(spec)


if __name__ == "__main__":
    sys.exit(child_main(measure))
