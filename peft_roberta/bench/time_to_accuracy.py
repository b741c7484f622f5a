"""Time to accuracy (``scripts/time_to_accuracy.py``): dev accuracy against training time and updates.

For each method (the quick profile: MiniLM, SST-2's 32,000 training sentences, batch 32, one
epoch, the method's quick learning rate) each implementation trains in its own process, one after
the other, and is validated on GLUE dev every ``every`` updates (and at update 0 and at the end):
  - fairseq: fairseq's own Trainer driven in-process with the recipe's fairseq-train options
    (``bench.fairseq_run``), on one epoch of the plugin's length-bucketed batches, validated by
    predicting the task's valid split;
  - hf-tuned (or hf): the Trainer's own ``train()`` in the configuration of ``bench.hf_run``, a
    callback asking for an evaluation every ``every`` steps.
Each point: (updates, seconds of training so far, validations left out, dev accuracy in percent).
A shorter run (``max_updates``) keeps the whole epoch's learning-rate schedule and stops early.

    python -m peft_roberta.bench.time_to_accuracy SPEC.json RESULT.json   (one curve; run() starts it)
"""
import json
import math
import os
import sys
import tempfile
import time

from .measure import child_main, synchronize, write_atomic


def fairseq_curve(spec, save_dir):
    from .fairseq_run import dev_accuracy, start, training_argv
    from .hf_run import fairseq_knobs

    device = spec["device"]
    cfg, task, trainer = start(training_argv(spec["method"], spec["model_dir"], spec["data_bin"], spec["batch_size"],
                                             device, spec["precision"], save_dir=save_dir, lr=spec["lr"]))
    epoch = trainer.get_train_iterator(epoch=1, load_dataset=False)
    iterator = epoch.next_epoch_itr(shuffle=True)  # as fairseq-train draws its first epoch
    trainer.begin_epoch(epoch.epoch)
    per_epoch = len(iterator)
    stop = min(per_epoch, spec["max_updates"] or per_epoch)
    points = [{"updates": 0, "train_s": 0.0, "dev_accuracy": dev_accuracy(trainer, task, cfg, device)}]
    train_s, begin = 0.0, time.perf_counter()
    for batch in iterator:
        trainer.train_step([batch])
        updates = trainer.get_num_updates()
        if updates % spec["every"] == 0 or updates >= stop:
            synchronize(device)
            train_s += time.perf_counter() - begin
            points.append({"updates": updates, "train_s": train_s, "dev_accuracy": dev_accuracy(trainer, task, cfg,
                                                                                                 device)})
            begin = time.perf_counter()
        if updates >= stop:
            break
    return {"points": points, "updates_per_epoch": per_epoch, "config": fairseq_knobs(spec["precision"])}


def validation_clock(every, stop):
    """A TrainerCallback that asks for an evaluation every ``every`` steps and at ``stop`` (where it ends
    training), and records each point with the training time so far (evaluations left out)."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.points, self.train_s, self.begin, self.pending = [], 0.0, 0.0, None

        def on_train_begin(self, args, state, control, **kwargs):
            self.train_s, self.begin = 0.0, time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % every == 0 or state.global_step >= stop:
                self.train_s += time.perf_counter() - self.begin
                self.pending = state.global_step
                control.should_evaluate = True
            if state.global_step >= stop:
                control.should_training_stop = True
            return control

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if self.pending is not None:
                self.points.append({"updates": self.pending, "train_s": self.train_s,
                                    "dev_accuracy": metrics["eval_accuracy"]})
                self.pending = None
                self.begin = time.perf_counter()

    return Clock()


def accuracy(prediction):
    import numpy as np

    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return {"accuracy": 100.0 * float(np.mean(np.argmax(logits, axis=-1) == prediction.label_ids))}


def hf_curve(spec, out_dir):
    from transformers import AutoTokenizer

    from .hf_run import Examples, build_model, knobs, probe_workers, trainer_for
    from .measure import num_classes

    impl, device = spec["impl"], spec["device"]
    tokenizer = AutoTokenizer.from_pretrained(spec["hf_dir"])
    train = Examples(spec["data_bin"], "train", tokenizer)
    valid = Examples(spec["data_bin"], "valid", tokenizer)
    model = build_model(spec["hf_dir"], spec["method"], num_classes(spec["data_bin"]),
                        attn_implementation="sdpa" if impl == "hf-tuned" else None)
    per_epoch = math.ceil(len(train) / spec["batch_size"])
    stop = min(per_epoch, spec["max_updates"] or per_epoch)
    clock = validation_clock(spec["every"], stop)
    workers = spec["workers"] if impl == "hf-tuned" and spec["workers"] != "auto" else 0
    trainer = trainer_for(impl, model, tokenizer, train, valid, batch_size=spec["batch_size"], lr=spec["lr"],
                          warmup_steps=round(0.06 * per_epoch), max_steps=per_epoch, device=device,
                          precision=spec["precision"], out_dir=out_dir, workers=workers,
                          compile=spec["compile"], callbacks=[clock], compute_metrics=accuracy)
    probe = None
    if impl == "hf-tuned" and spec["workers"] == "auto":  # before the clock starts; weights untouched
        timings, _ = probe_workers(trainer, trainer.model, device, min(4, max(1, per_epoch - 2)), autocast=True)
        probe = {str(w): round(s, 4) for w, s in timings.items()}
    points = [{"updates": 0, "train_s": 0.0, "dev_accuracy": trainer.evaluate()["eval_accuracy"]}]
    trainer.train()
    return {"points": points + clock.points, "updates_per_epoch": per_epoch,
            "config": knobs(impl, trainer, trainer.model, spec["precision"], probe)}


def curve(spec):
    with tempfile.TemporaryDirectory(prefix="tta-") as scratch:  # fairseq's save dir, the Trainer's output dir
        return (fairseq_curve if spec["impl"] == "fairseq" else hf_curve)(spec, scratch)


# ------------------------------------------------------------------------------- the driver
def reached(points, target):
    """The first point at or above ``target`` (the resolution is the validation interval), or None."""
    return next((p for p in points if p["dev_accuracy"] >= target), None)


def run(args):
    """Train every method x impl, write time_to_accuracy.{json,png,md} into ``args.out_dir``; returns the Markdown."""
    from .. import machine
    from ..errors import UserError
    from ..runs.settings import profile_defaults
    from ..runs.task_data import prepare_task
    from .measure import resolve_device, resolve_precision, run_child
    from .models import hf_dir_of, resolve_model

    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device, bf16_where_multiplied=True)  # the recipes' auto
    model_dir = resolve_model(args.model)
    hf_dir = hf_dir_of(model_dir)
    if hf_dir is None and any(impl != "fairseq" for impl in args.impls):
        raise UserError(f"model {args.model} has no HuggingFace checkpoint: use --impls fairseq")
    data_bin = str(prepare_task("sst2", model_dir, args.work_dir, max_train=args.max_train))
    curves = []
    for method in args.methods:
        lr = profile_defaults("quick", "sst2", method)["lr"]
        for impl in args.impls:
            spec = {"impl": impl, "method": method, "lr": lr, "model_dir": model_dir, "hf_dir": hf_dir,
                    "data_bin": data_bin, "batch_size": args.batch_size, "every": args.every,
                    "max_updates": args.max_updates, "device": device, "precision": precision,
                    "threads": args.threads, "compile": args.compile, "workers": args.workers}
            result, peak_rss = run_child("peft_roberta.bench.time_to_accuracy", spec, f"{impl} {method}")
            last = result["points"][-1]
            curves.append({"impl": impl, "method": method, "lr": lr, "precision": precision, "peak_rss_mb": peak_rss,
                           **result, "reached": reached(result["points"], args.target)})
            print(f"{impl:8s} {method:5s} {last['updates']:5d} updates {last['train_s']:8.1f} s  dev "
                  f"{last['dev_accuracy']:.2f}", flush=True)
    described = machine.describe(device)
    settings = {"model": args.model, "task": "sst2", "max_train": args.max_train, "batch_size": args.batch_size,
                "every": args.every, "target": args.target, "max_updates": args.max_updates, "device": device,
                "precision": precision, "machine": described, "date": machine.today(),
                "command": getattr(args, "command", "python scripts/time_to_accuracy.py")}
    os.makedirs(args.out_dir, exist_ok=True)
    write_atomic(os.path.join(args.out_dir, "time_to_accuracy.json"),
                 json.dumps({"settings": settings, "curves": curves}, indent=2) + "\n")
    plot(os.path.join(args.out_dir, "time_to_accuracy.png"), curves, args.target)
    text = markdown(curves, settings)
    write_atomic(os.path.join(args.out_dir, "time_to_accuracy.md"), text)
    return text


def plot(path, curves, target):
    """Two panels: dev accuracy against training time, and against updates; the target dashed."""
    import logging

    from matplotlib.figure import Figure

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # importing fairseq sets the root logger to DEBUG

    figure = Figure(figsize=(11, 4.2))
    by_time, by_updates = figure.subplots(1, 2, sharey=True)
    methods = list(dict.fromkeys(c["method"] for c in curves))  # colour: the method; line: the impl
    for c in curves:
        style = {"color": f"C{methods.index(c['method']) % 10}", "marker": "o", "markersize": 3,
                 "label": f"{c['impl']} {c['method']}",
                 "linestyle": {"fairseq": "-", "hf": "--"}.get(c["impl"], ":")}
        by_time.plot([p["train_s"] for p in c["points"]], [p["dev_accuracy"] for p in c["points"]], **style)
        by_updates.plot([p["updates"] for p in c["points"]], [p["dev_accuracy"] for p in c["points"]], **style)
    for axes, label in ((by_time, "training time (s), validations left out"), (by_updates, "updates")):
        axes.axhline(target, color="grey", linestyle="--", linewidth=1)
        axes.set_xlabel(label)
        axes.grid(alpha=0.3)
    by_time.set_ylabel("SST-2 dev accuracy (%)")
    by_updates.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    tmp = path + ".tmp.png"
    figure.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def markdown(curves, settings):
    from ..analysis.tables import markdown_rows

    target = settings["target"]
    rows = []
    for c in curves:
        hit, last = c["reached"], c["points"][-1]
        rows.append([c["impl"], c["method"], f"{c['lr']:g}", c["precision"], last["updates"], f"{last['train_s']:.0f}",
                     f"{last['dev_accuracy']:.2f}", f"{max(p['dev_accuracy'] for p in c['points']):.2f}",
                     f"{hit['train_s']:.0f}" if hit else "not reached", hit["updates"] if hit else "not reached"])
    header = ["impl", "method", "lr", "precision", "updates", "training (s)", "dev accuracy at the end",
              "best dev accuracy", f"time to {target:g}% (s)", f"updates to {target:g}%"]
    lines = [f"Time to accuracy ({settings['machine']}; model `{settings['model']}`, SST-2 {settings['max_train']} "
             f"sentences, batch {settings['batch_size']}, one epoch at the quick profile's learning rates"
             + (f", stopped after {settings['max_updates']} updates" if settings["max_updates"] else "")
             + f"; dev accuracy every {settings['every']} updates; training time leaves validation out; "
             f"{settings['date']}; `{settings.get('command', 'python scripts/time_to_accuracy.py')}`).", "",
             markdown_rows(header, rows)]
    by_key = {(c["impl"], c["method"]): c for c in curves}
    for method in dict.fromkeys(c["method"] for c in curves):
        fairseq, tuned = by_key.get(("fairseq", method)), by_key.get(("hf-tuned", method))
        if fairseq and tuned and fairseq["reached"] and tuned["reached"] and tuned["reached"]["train_s"] > 0:
            ratio = fairseq["reached"]["train_s"] / tuned["reached"]["train_s"]
            lines += ["", f"{method}: fairseq reaches {target:g}% in {ratio:.2f} × the time HF tuned takes."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(child_main(curve))
