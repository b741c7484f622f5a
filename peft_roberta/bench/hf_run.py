"""HF Trainer + peft as users run it, in two configurations, on the model's own HuggingFace checkpoint:

  - ``hf``, as shipped: ``AutoModelForSequenceClassification.from_pretrained``, ``AutoTokenizer``,
    ``DataCollatorWithPadding``, the Trainer's default sampler (random), default optimizer, default
    attention implementation, no data-loader workers, fp32 unless another precision is asked;
  - ``hf-tuned``, as an experienced user tunes it: length-grouped batches (``group_by_length``; in
    transformers 5 ``train_sampling_strategy="group_by_length"``) with dynamic padding, fused AdamW
    (``adamw_torch_fused``, where torch has it for the device), ``attn_implementation="sdpa"``,
    data-loader workers when they are faster (:func:`probe_workers`), bf16 where the CPU multiplies
    bfloat16 natively (precision auto), ``torch.compile`` on request.

In both, every method trains the parameters fairseq's run trains: the head (BERT: the pooler's dense
and the classifier) in peft's ``modules_to_save`` for LoRA and IA3, by ``requires_grad`` for BitFit.
Both take the recipe's hyperparameters (learning rate, Adam's betas and epsilon, weight decay,
warmup then linear decay, no gradient clipping: fairseq's ``--clip-norm 0``), so that only the
implementation differs. Examples come from the data-bin's ``examples/{split}.jsonl``, tokenized by
the HF tokenizer (truncation at 512). No fairseq import here: an HF process weighs only what HF needs.
"""
import json
import os
import re
import time

from ..errors import UserError
from .measure import NO_HF_TWIN, synchronize

# per HF model type: where the layers are, fairseq's layer-module names in HF, and the head fairseq's
# classification head is (BERT: pooler dense + classifier; RoBERTa: classifier.dense + out_proj)
FAMILIES = {
    "bert": {"layers": "bert.encoder.layer", "head": ["pooler.dense", "classifier"]},
    "roberta": {"layers": "roberta.encoder.layer", "head": ["classifier"]},
}
LAYER_MODULES = {"q_proj": "attention.self.query", "k_proj": "attention.self.key", "v_proj": "attention.self.value",
                 "out_proj": "attention.output.dense", "fc1": "intermediate.dense", "fc2": "output.dense"}


class Examples:
    """A split of the data-bin as HF features: the tokenizer's ids, attention mask (token types), label."""

    def __init__(self, data_bin, split, tokenizer, max_length=512):
        with open(os.path.join(data_bin, "labels.json"), encoding="utf-8") as f:
            classes = [str(c) for c in json.load(f)["classes"]]
        with open(os.path.join(data_bin, "examples", f"{split}.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        columns = list(zip(*(row["texts"] for row in rows)))
        encoded = tokenizer(*[list(c) for c in columns], truncation=True, max_length=max_length)
        self.features = [{**{key: values[i] for key, values in encoded.items()},
                          "labels": classes.index(str(row["label"]))} for i, row in enumerate(rows)]

    def __len__(self):
        return len(self.features)

    def __getitem__(self, i):
        return self.features[i]


def family_of(model):
    family = model.config.model_type
    if family not in FAMILIES:
        raise UserError(f"HF model type {family}: the benchmark maps bert and roberta only")
    return family


def target_pattern(family, targets):
    """One anchored regex over full module names (so fc2's ``output.dense`` cannot also catch
    ``attention.output.dense``), as peft matches a string ``target_modules``."""
    modules = "|".join(re.escape(LAYER_MODULES[t]) for t in targets)
    return rf"{re.escape(FAMILIES[family]['layers'])}\.\d+\.({modules})"


def build_model(hf_dir, method, num_labels, attn_implementation=None, seed=1):
    """The pretrained model with a new head, the method applied; the head trains as fairseq's does."""
    from transformers import AutoModelForSequenceClassification, set_seed

    if method in NO_HF_TWIN:
        raise UserError(f"{method}: no HF counterpart ({NO_HF_TWIN[method]})")
    set_seed(seed)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForSequenceClassification.from_pretrained(hf_dir, num_labels=num_labels, **kwargs)
    family = family_of(model)
    head = FAMILIES[family]["head"]
    if method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"],
                                                 task_type=TaskType.SEQ_CLS, modules_to_save=head))
    elif method == "ia3":
        from peft import IA3Config, TaskType, get_peft_model

        model = get_peft_model(model, IA3Config(target_modules=target_pattern(family, ["k_proj", "v_proj", "fc2"]),
                                                feedforward_modules=target_pattern(family, ["fc2"]),
                                                task_type=TaskType.SEQ_CLS, modules_to_save=head))
    elif method == "bitfit":
        for name, param in model.named_parameters():
            param.requires_grad = name.endswith(".bias") or any(name.startswith(h + ".") or f".{h}." in name
                                                                   for h in head)
    return model


def fused_adamw_works(device):
    """Whether torch's fused AdamW steps on ``device`` (on CPUs since torch 2.4)."""
    import torch

    try:
        param = torch.nn.Parameter(torch.zeros(2, device=device))
        param.grad = torch.ones(2, device=device)
        torch.optim.AdamW([param], fused=True).step()
        return True
    except (RuntimeError, TypeError, ValueError):
        return False


def trainer_for(impl, model, tokenizer, train, valid, *, batch_size, lr, warmup_steps, max_steps, device, precision,
                out_dir, workers=0, compile=False, seed=1, callbacks=None, compute_metrics=None,
                activation_checkpointing=False):
    """The Trainer of ``impl`` (hf or hf-tuned) with the recipe's hyperparameters; ``activation_checkpointing``
    recomputes each layer in the backward pass (enabled here, since the benchmark steps without Trainer.train)."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    kwargs = dict(output_dir=out_dir, per_device_train_batch_size=batch_size, per_device_eval_batch_size=64,
                  learning_rate=lr, weight_decay=0.01, adam_beta1=0.9, adam_beta2=0.98, adam_epsilon=1e-6,
                  warmup_steps=warmup_steps, max_steps=max_steps, lr_scheduler_type="linear", max_grad_norm=0.0,
                  seed=seed, report_to=[], disable_tqdm=True, save_strategy="no", eval_strategy="no",
                  logging_strategy="no", use_cpu=device == "cpu", bf16=precision == "bf16", fp16=precision == "fp16")
    if impl == "hf-tuned":
        kwargs.update(train_sampling_strategy="group_by_length", dataloader_num_workers=workers, torch_compile=compile,
                      optim="adamw_torch_fused" if fused_adamw_works(device) else "adamw_torch")
    if activation_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return Trainer(model=model, args=TrainingArguments(**kwargs), processing_class=tokenizer,
                   data_collator=DataCollatorWithPadding(tokenizer), train_dataset=train, eval_dataset=valid,
                   callbacks=callbacks, compute_metrics=compute_metrics)


def prepare_for_steps(trainer, num_training_steps):
    """What ``Trainer.train`` does before its first step, on one process: the optimizer, then
    ``accelerator.prepare`` (mixed-precision autocast, ``torch.compile``), then the schedule.
    Returns the model to step with."""
    trainer.create_optimizer()
    model, trainer.optimizer = trainer.accelerator.prepare(trainer.model, trainer.optimizer)
    trainer.create_scheduler(num_training_steps=num_training_steps, optimizer=trainer.optimizer)
    trainer.model_wrapped = model
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(); training_step divides by it
    return model


def train_step(trainer, model, batch):
    """One update as the Trainer's loop makes it (no clipping: max_grad_norm 0)."""
    trainer.training_step(model, batch)
    trainer.optimizer.step()
    trainer.lr_scheduler.step()
    model.zero_grad()


def probe_workers(trainer, model, device, steps, autocast=False, choices=(0, 2)):
    """Seconds per forward + backward with batches from the Trainer's own loader, for each number of
    data-loader workers (their start-up and one untimed step left out; weights, optimizer and random
    streams untouched). ``autocast``: enter the Trainer's mixed precision here (a model that
    ``accelerator.prepare`` has not wrapped yet). Returns ({workers: seconds per step}, the fastest)."""
    import contextlib

    import torch

    def step(batch):
        batch = {key: value.to(trainer.args.device) for key, value in batch.items()}
        with trainer.accelerator.autocast() if autocast else contextlib.nullcontext():
            loss = model(**batch).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    timings = {}
    with torch.random.fork_rng(devices=[]):
        for workers in choices:
            trainer.args.dataloader_num_workers = workers
            iterator = iter(trainer.get_train_dataloader())
            step(next(iterator))  # untimed: the workers' start, a recompilation (torch.compile) if any
            elapsed, done = 0.0, 0
            for batch in iterator:
                if done == steps:
                    break
                synchronize(device)
                start = time.perf_counter()
                step(batch)
                synchronize(device)
                elapsed += time.perf_counter() - start
                done += 1
            del iterator
            timings[workers] = elapsed / max(done, 1)
    chosen = min(timings, key=timings.get)
    trainer.args.dataloader_num_workers = chosen
    return timings, chosen


def knobs(impl, trainer, model, precision, probe=None):
    """What the configuration runs with, knob by knob (benchmark.md's table of configurations)."""
    args = trainer.args
    optim = getattr(args.optim, "value", args.optim)
    grouped = args.train_sampling_strategy == "group_by_length"
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"batching": ("length-grouped (group_by_length)" if grouped else "random (the Trainer's default)") +
                        ", padded to the batch's longest",
            "optimizer": f"{optim}" + (" (the Trainer's default here)" if impl == "hf" else ""),
            "attention": str(getattr(base.config, "_attn_implementation", None)) + (
                " (the default)" if impl == "hf" else ""),
            "dataloader_workers": args.dataloader_num_workers,
            "workers_probe_s_per_step": probe, "precision": precision, "torch_compile": bool(args.torch_compile)}


def fairseq_knobs(precision):
    return {"batching": "length-bucketed (sentence_prediction_bucketed), padded to the batch's longest",
            "optimizer": "fairseq adam", "attention": "the plugin's encoder", "dataloader_workers": 0,
            "workers_probe_s_per_step": None,
            "precision": precision + (" (--autocast-bf16)" if precision == "bf16" else ""), "torch_compile": False}
