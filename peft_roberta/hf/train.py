"""The HuggingFace twin of one fairseq run: transformers' Trainer + peft, from the run's own step-0
weights and tokens, with fairseq's optimizer arithmetic and learning-rate schedule.

    build_twin(argv, model_dir)  -> the twin (model, datasets, fairseq settings) of a fairseq command line
    train_twin(twin, save_dir, result_json)  -> trains, evaluates the best checkpoint, writes the result

What the twin shares with the fairseq run and what differs by design is listed in ``hf.DIFFERENCES``.
"""
import ast
import datetime
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass

import torch
from fairseq_plugins.trainable import store_frozen_linears

from ..errors import UserError
from ..metrics import task_metrics
from . import family as families
from .data import TwinExamples, collate
from .methods import apply_method, count_parameters
from .weights import copy_base, copy_method, fairseq_start

# the checkpoint-selection metric: dev accuracy plus this much per update, so that of two checkpoints
# with the same accuracy the later one wins, as fairseq's ``>=`` picks it (HF alone keeps the earlier);
# far below any difference of two accuracies (100 / number of dev examples)
TIE_BREAK_PER_UPDATE = 1e-12


@dataclass
class Twin:
    model: torch.nn.Module
    family: str
    args: object  # fairseq's resolved options (argparse Namespace)
    datasets: dict  # train, valid, test (absent splits left out)
    ids: list  # fairseq index -> HF token id
    pad_id: int
    description: dict  # option target -> what the twin does with it
    num_classes: int
    metric: str  # what the best checkpoint is chosen on (fairseq's --best-checkpoint-metric)
    regression: bool
    start_logit_difference: float  # largest |fairseq - HF| logit on dev examples at step 0


def build_twin(argv, model_dir):
    """The twin of the fairseq-train command line ``argv``, checked against fairseq at step 0."""
    cfg, task, fs_model, _ = fairseq_start(argv)
    args = cfg.model
    family = families.family_of(model_dir)
    ids, vocab_size = families.hf_ids(family, model_dir, len(task.source_dictionary))
    pad_id = ids[task.source_dictionary.pad()]
    num_classes = args.num_classes
    from transformers import AutoModelForSequenceClassification

    regression = bool(cfg.task.regression_target)
    config = families.hf_config(family, args, vocab_size, num_classes, pad_id, regression)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    copy_base(fs_model, model, family, ids)
    model, description = apply_method(model, family, args)
    if args.peft in ("lora", "ia3"):
        copy_method(fs_model, model, family)
    datasets = {"train": TwinExamples(task, "train", ids), "valid": TwinExamples(task, "valid", ids)}
    if os.path.isfile(os.path.join(cfg.task.data, "input0", "test.idx")):
        datasets["test"] = TwinExamples(task, "test", ids)
    difference = start_difference(fs_model, model, task, datasets["valid"], pad_id)
    if args.frozen_weights_dtype == "bf16":  # after the fp32 check above; the Trainer runs under bf16 autocast
        store_frozen_linears(model, torch.bfloat16)
    fs_trained = fairseq_trained_count(fs_model, model, family)
    trainable, _ = count_parameters(model)
    if trainable != fs_trained:
        raise UserError(f"the twin trains {trainable:,} parameters, the fairseq run {fs_trained:,}: "
                        "the method does not map onto the HF model")
    description["initial weights"] = "the fairseq run's at step 0"
    del fs_model
    return Twin(model=model, family=family, args=args, datasets=datasets, ids=ids, pad_id=pad_id,
                description=description, num_classes=num_classes, metric=cfg.checkpoint.best_checkpoint_metric,
                regression=regression, start_logit_difference=difference)


def fairseq_trained_count(fs_model, hf_model, family):
    """Parameters the fairseq run trains that have a twin: its LM head (unused by classification) and
    the position rows before HF's first (the padding offset, never looked up) are left out."""
    positions = fs_model.encoder.sentence_encoder.embed_positions.weight
    hf_rows = next(p.shape[0] for n, p in hf_model.named_parameters()
                   if n.endswith("embeddings.position_embeddings.weight"))
    twin_rows = min(hf_rows, len(positions) - families.POSITION_OFFSET[family])
    count = 0
    for name, param in fs_model.named_parameters():
        if not param.requires_grad or name.startswith("encoder.lm_head."):
            continue
        count += twin_rows * param.shape[1] if param is positions else param.numel()
    return count


@torch.no_grad()
def start_difference(fs_model, hf_model, task, valid, pad_id, count=64):
    """The largest logit difference of the two models on the first dev examples (eval mode)."""
    fs_model.eval()
    hf_model.eval()
    dataset = task.dataset("valid")
    from fairseq.data import data_utils

    tokens = data_utils.collate_tokens([dataset[i]["net_input.src_tokens"] for i in range(min(count, len(valid)))],
                                       pad_idx=task.source_dictionary.pad())
    fs_logits = fs_model(tokens, features_only=True, classification_head_name="sentence_classification_head")[0]
    batch = collate(pad_id)([valid[i] for i in range(len(tokens))])
    hf_logits = hf_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return float((fs_logits.float() - hf_logits.float()).abs().max())


def optimizer_and_schedule(model, args):
    """fairseq's own Adam (epsilon after the square root, before bias correction; decay on every trained
    parameter) and HF's polynomial schedule with warmup, which is fairseq's polynomial_decay update by update."""
    from fairseq.optim.adam import Adam
    from transformers import get_polynomial_decay_schedule_with_warmup

    if args.optimizer != "adam" or args.lr_scheduler != "polynomial_decay":
        raise UserError(f"--optimizer {args.optimizer} --lr-scheduler {args.lr_scheduler}: the twin maps adam "
                        "with polynomial_decay")
    betas = ast.literal_eval(args.adam_betas) if isinstance(args.adam_betas, str) else args.adam_betas
    optimizer = Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr[0], betas=tuple(betas),
                     eps=args.adam_eps, weight_decay=args.weight_decay)
    schedule = get_polynomial_decay_schedule_with_warmup(  # fairseq's args may hold these as text
        optimizer, num_warmup_steps=int(args.warmup_updates), num_training_steps=int(float(args.total_num_update)),
        lr_end=float(args.end_learning_rate), power=float(args.power))
    return optimizer, schedule


def training_arguments(args, save_dir, steps_per_epoch):
    from transformers import TrainingArguments

    max_steps = args.max_update if args.max_update > 0 else -1
    if max_steps > 0 and args.max_epoch > 0:  # fairseq stops at whichever comes first
        max_steps = min(max_steps, args.max_epoch * steps_per_epoch)
    every = args.validate_interval_updates or args.save_interval_updates
    strategy = "steps" if every > 0 else "epoch"
    cuda = torch.cuda.is_available() and not args.cpu
    kwargs = dict(
        output_dir=save_dir, seed=args.seed, data_seed=args.seed, learning_rate=args.lr[0],
        per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=args.batch_size_valid or args.batch_size,
        gradient_accumulation_steps=args.update_freq[0], max_steps=max_steps,
        num_train_epochs=args.max_epoch if max_steps < 0 else 1, max_grad_norm=args.clip_norm,
        eval_strategy=strategy, save_strategy=strategy, load_best_model_at_end=True,
        # fairseq's default --best-checkpoint-metric is the dev loss (lowest wins); a task metric
        # (accuracy, mcc, ...) is compared as fairseq compares it (``selection``)
        metric_for_best_model="loss" if args.best_checkpoint_metric == "loss" else "selection",
        greater_is_better=args.best_checkpoint_metric != "loss",
        save_total_limit=1, save_only_model=True, logging_strategy="steps",
        logging_steps=max(1, args.log_interval), report_to=[], disable_tqdm=True, dataloader_num_workers=0,
        remove_unused_columns=False, label_names=["labels"], use_cpu=not cuda, fp16=bool(args.fp16) and cuda,
        bf16=(bool(args.bf16) and cuda) or bool(args.autocast_bf16),
        # recomputation that needs no input gradient, so that it works under peft's frozen embeddings
        activation_checkpointing=bool(getattr(args, "checkpoint_activations", False)),
        activation_checkpointing_kwargs={"use_reentrant": False})
    if every > 0:
        kwargs.update(eval_steps=every, save_steps=every)
    if getattr(args, "tensorboard_logdir", None):  # the run's --tensorboard-logdir: the twin logs there too
        kwargs.update(report_to=["tensorboard"])
        os.environ["TENSORBOARD_LOGGING_DIR"] = args.tensorboard_logdir  # transformers 5 reads it from there
    return TrainingArguments(**kwargs)


def predictions(output, regression):
    import numpy as np

    logits = output[0] if isinstance(output, (tuple, list)) else output
    return logits.reshape(-1) if regression else np.argmax(logits, axis=-1)


def compute_metrics_for(num_classes, holder, metric="accuracy", regression=False):
    """Trainer's compute_metrics, and ``selection``: the metric as fairseq compares it to choose the best
    checkpoint (rounded to one decimal, as fairseq logs it), a tie going to the later checkpoint."""
    import numpy as np

    def compute(prediction):
        metrics = task_metrics(np.asarray(prediction.label_ids), predictions(prediction.predictions, regression),
                               num_classes, regression)
        step = holder["trainer"].state.global_step if "trainer" in holder else 0
        if metric not in metrics:  # the dev loss: Trainer compares its own eval_loss
            return metrics
        return {**metrics, "selection": round(metrics[metric], 1) + TIE_BREAK_PER_UPDATE * step}

    return compute


def evaluate(trainer, dataset, num_classes, regression=False):
    import numpy as np

    output = trainer.predict(dataset, metric_key_prefix="final")
    return task_metrics(np.asarray(dataset.labels), predictions(output.predictions, regression), num_classes,
                        regression)


def callbacks(holder):
    """fairseq-style progress lines, and validation at each epoch end (fairseq validates there too)."""
    from transformers import TrainerCallback

    def stamp():
        return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")

    class FairseqStyleLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs:
                print(f"{stamp()} | INFO | train_inner | hf | epoch {max(1, math.ceil(state.epoch or 0)):03d} | "
                      f"loss {logs['loss'] / math.log(2):.3f} | lr {logs.get('learning_rate', 0):.4g} | "
                      f"num_updates {state.global_step}", flush=True)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            metrics = metrics or {}
            if "eval_selection" in metrics:
                holder["best"] = max(holder.get("best", -math.inf), metrics["eval_selection"])
            else:
                holder["best"] = min(holder.get("best", math.inf), metrics.get("eval_loss", math.inf))
            fields = " | ".join(f"{k[5:]} {v:.2f}" for k, v in metrics.items()
                                if k in ("eval_accuracy", "eval_f1", "eval_mcc", "eval_pearson", "eval_spearman"))
            print(f"{stamp()} | INFO | valid | hf | valid on 'valid' subset | {fields} | num_updates "
                  f"{state.global_step} | best {holder['best']:.1f}", flush=True)

    class ValidateAtEpochEnd(TrainerCallback):
        last_step = -1

        def on_evaluate(self, args, state, control, **kwargs):
            self.last_step = state.global_step

        def on_epoch_end(self, args, state, control, **kwargs):
            if args.eval_strategy == "steps" and state.global_step != self.last_step:
                control.should_evaluate = control.should_save = True
            return control

    return [FairseqStyleLog(), ValidateAtEpochEnd()]


def train_twin(twin, save_dir, result_json):
    """Train the twin, evaluate its best checkpoint on dev (and test), write ``result_json`` atomically."""
    from transformers import PrinterCallback, Trainer

    os.makedirs(save_dir, exist_ok=True)
    for name in os.listdir(save_dir):  # an interrupted earlier attempt: start afresh
        if re.fullmatch(r"checkpoint-\d+", name):
            shutil.rmtree(os.path.join(save_dir, name), ignore_errors=True)
    args = twin.args
    steps_per_epoch = math.ceil(len(twin.datasets["train"]) / args.batch_size / args.update_freq[0])
    holder = {}
    trainer = Trainer(model=twin.model, args=training_arguments(args, save_dir, steps_per_epoch),
                      data_collator=collate(twin.pad_id), train_dataset=twin.datasets["train"],
                      eval_dataset=twin.datasets["valid"],
                      compute_metrics=compute_metrics_for(twin.num_classes, holder, twin.metric, twin.regression),
                      callbacks=callbacks(holder), optimizers=optimizer_and_schedule(twin.model, args))
    holder["trainer"] = trainer
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    state = trainer.state
    dev = evaluate(trainer, twin.datasets["valid"], twin.num_classes, twin.regression)
    test = evaluate(trainer, twin.datasets["test"], twin.num_classes, twin.regression) if "test" in twin.datasets else None
    best = os.path.join(save_dir, "checkpoint_best")
    if state.best_model_checkpoint and os.path.isdir(state.best_model_checkpoint):
        shutil.rmtree(best, ignore_errors=True)
        os.replace(state.best_model_checkpoint, best)
    for name in os.listdir(save_dir):
        if re.fullmatch(r"checkpoint-\d+", name):
            shutil.rmtree(os.path.join(save_dir, name), ignore_errors=True)
    trainable, total = count_parameters(twin.model)
    result = {"dev": dev, "test": test, "trainable_params": trainable, "total_params": total,
              "updates": state.global_step, "best_updates": state.best_global_step or state.global_step,
              "hf": {"family": twin.family, "start_logit_difference": twin.start_logit_difference,
                     "description": {k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
                                     for k, v in twin.description.items() if k != "trainable parameters"}}}
    directory = os.path.dirname(os.path.abspath(result_json))
    fd, tmp = tempfile.mkstemp(prefix=".hf_result-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, result_json)
    return result
