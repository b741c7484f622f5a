"""``predict.py --report FILE``: predictions per second, against the benchmark's inference measure, as Markdown.

Both are timed in the same process on the same model (merged with ``--merge``), best of
``REPEATS`` passes after the prediction itself (the warm-up), interleaved so that a busy moment
weighs on both: ``predict.py``'s whole path from texts to probabilities (tokenizing, length-bucketed
batches, forward, softmax), and the benchmark's (``peft_roberta/bench/workers.py``): the forward
alone on the binarized dev split's batches of 64. Each in fp32 (the benchmark's precision for fairseq
on a CPU) and in bf16 where the CPU multiplies bfloat16.
"""
import os
import shlex
import time
import warnings

from .. import machine
from . import engine, models

REPEATS = 3

USAGE = """\
## Usage

    # a fine-tuned checkpoint; the texts of a TSV/CSV/JSONL file (the columns the model was trained on)
    python scripts/predict.py checkpoints/sst2_lora/RUN/checkpoint_best.pt --input dev.tsv --out predictions.csv
    # labelled: also prints accuracy (and F1 for two classes), as the recipe's evaluation reports them
    python scripts/predict.py checkpoints/sst2_lora/RUN/checkpoint_best.pt --input dev.tsv --label-column label
    # one text per line on standard input, predictions as CSV on standard output
    echo "a gripping film" | python scripts/predict.py checkpoints/sst2_lora/RUN/checkpoint_best.pt
    # a base model and several PEFT-only files: the base is loaded once
    python scripts/predict.py cache/models/minilm/model.pt --peft-file RUN1/checkpoint_best.peft.pt \\
        --peft-file RUN2/checkpoint_best.peft.pt --input dev.tsv --out predictions.jsonl
    # GLUE's submission file SST-2.tsv (or MRPC.tsv) from the official test.tsv
    python scripts/predict.py checkpoints/sst2_lora/RUN/checkpoint_best.pt --glue-submission SST-2 \\
        --input ../shared/data/glue/SST-2/test.tsv --out-dir submission/

- Input: `--input FILE` (`.tsv`/`.txt`, `.csv`, `.jsonl`/`.json`, or `--format`) with a header row;
  `--text-columns` defaults to the columns the model was trained on (the data-bin's `labels.json`),
  `--label-column` makes it labelled, `--id-column` is copied into the output. Without `--input`:
  one text per line on standard input (two tab-separated texts for a sentence-pair model). Texts
  are tokenized as the data-bin's were (its `tokenizer/`), cut to the model's maximum positions
  as the recipes' `--shorten-method truncate` cuts them.
- Output: `--out FILE` (`.csv`, `.tsv`, `.jsonl`; standard output as CSV without it): per row the
  id, the gold label (labelled input), the predicted label (the dataset's own label names) and
  every class's probability (`prob_<class>`). With several `--peft-file`s, one column group per
  file, prefixed with its run folder's name (`NAME.prediction`, `NAME.prob_<class>`; in JSONL an
  object per file under `models`). Written to a temporary name and renamed at the end.
- Several PEFT-only files: each must have been made for the base checkpoint given (its sha256)
  and for the same label dictionary; files of one method and settings swap their parameters and
  heads in and out of one model, a file of another method gets its own, from the same base weights.
- `--precision auto|fp32|bf16`: as the recipes (bf16: torch.autocast on the CPU; auto: bf16 where
  the CPU multiplies bfloat16 natively). `--merge`: fold LoRA / IA3 into the base weights, faster;
  predictions then differ from the recipe's evaluation by float rounding, so an example on the
  decision boundary may flip. Without it, and at the run's precision (its row's `precision`), a
  data-bin split is predicted exactly as the recipe evaluated it: the same tokens, batches and
  precision give, example by example, the accuracy its row reports.
- `--batch-size` (64, the recipes' evaluation batch), `--data DIR` (the data-bin moved),
  `--tokenizer MODEL_DIR` (a data-bin without `tokenizer/`). Bad input, a model made for another
  base or label dictionary, or an output in a missing folder: one line naming the file, exit 2.
"""


def _best_of(passes):
    return min(passes) if passes else None


def measure(hub, rows, batch_size, bf16):
    """{'predictions_per_s', 'forward_per_s', ... per precision}: best of REPEATS interleaved passes."""
    from ..bench.fairseq_run import logits, valid_batches
    from ..runs.evaluation import has_split

    precisions = ["bf16", "fp32"] if bf16 else ["fp32"]
    dev = has_split(hub.task.cfg.data, "valid")
    if dev:
        hub.task.load_dataset("valid")
        with warnings.catch_warnings():  # the data loader's pin_memory warning on a machine without a GPU
            warnings.simplefilter("ignore")
            batches = list(valid_batches(hub.task, "cpu"))
    load_before = os.getloadavg()[0]
    times = {(kind, p): [] for kind in ("predict", "forward") for p in precisions}
    for _ in range(REPEATS):
        for precision in precisions:
            start = time.perf_counter()
            tokens = engine.encode(hub, rows)
            order = engine.length_order([len(t) for t in tokens], engine.task_seed(hub))
            engine.probabilities(hub, tokens, order, batch_size, precision == "bf16")
            times[("predict", precision)].append(time.perf_counter() - start)
            if not dev:
                continue
            import torch

            with torch.no_grad(), engine.precision(hub.model, precision == "bf16"):
                elapsed = 0.0
                for batch in batches:
                    begin = time.perf_counter()
                    logits(hub.model, batch, models.HEAD)
                    elapsed += time.perf_counter() - begin
            times[("forward", precision)].append(elapsed)
    dev_rows = sum(int(batch["nsentences"]) for batch in batches) if dev else 0
    result = {"rows": len(rows), "dev_rows": dev_rows, "precisions": precisions,
              "load": (load_before, os.getloadavg()[0])}
    for (kind, precision), passes in times.items():
        best = _best_of(passes)
        count = len(rows) if kind == "predict" else dev_rows
        result[f"{kind}_{precision}"] = count / best if best else None
    result["predictions_per_s"] = result[f"predict_{precisions[0]}"]
    return result


def _describe_model(source):
    cfg = models.model_cfg(source)
    method = (source.state.get("peft") or {}).get("method") if source.peft else cfg.get("peft", "none")
    base = models.setting(source.state["cfg"], "checkpoint", "finetune_from_model")
    model = os.path.basename(os.path.dirname(base)) if base else "its own weights"
    return method or "none", model


def markdown(request, timing, source, rows):
    method, model = _describe_model(source)
    merged = "merged into the base weights" if request.merge else "not merged"
    command = "python scripts/predict.py " + shlex.join(request.command)
    lines = ["# Predicting with fine-tuned models (`scripts/predict.py`)", "",
             "Labels and probabilities for new texts from a fine-tuned checkpoint, or from a base model and one "
             "or more PEFT-only files; GLUE's submission files. The figures below are written by the command "
             "under them.", "", USAGE, "## Throughput", "",
             f"`{command}`", "",
             f"{machine.today()}; {machine.describe()}; load average {timing['load'][0]:.2f} at the start of the "
             f"measurement, {timing['load'][1]:.2f} at its end. Model: {model} with {method} ({merged}); "
             f"{rows} input rows, batches of {request.batch_size}; best of {REPEATS} passes.", "",
             "| what is timed | fp32 (predictions/s) | bf16 (predictions/s) |", "| --- | ---: | ---: |"]

    def cell(key):
        return f"{timing[key]:.0f}" if timing.get(key) else "not measured"

    lines.append(f"| predict.py: texts to probabilities (tokenizing, batching, forward, softmax) | "
                 f"{cell('predict_fp32')} | {cell('predict_bf16')} |")
    if timing["dev_rows"]:
        lines.append(f"| the benchmark's inference measure: the forward alone on the binarized dev split "
                     f"({timing['dev_rows']} rows, batches of 64) | {cell('forward_fp32')} | {cell('forward_bf16')} |")
        default, rate = timing["precisions"][0], timing["predictions_per_s"]
        same = (f"; at equal precision ({default}) {rate / timing[f'forward_{default}']:.2f} times the forward "
                "alone, the rest being tokenization" if default != "fp32" else "")
        lines += ["", f"predict.py at `--precision {request.precision}` ({default} here): {rate:.0f} predictions/s, "
                  f"{rate / timing['forward_fp32']:.2f} times the benchmark's inference figure as "
                  f"`scripts/benchmark.py` measures fairseq on a CPU (fp32){same}."]
    return "\n".join(lines) + "\n"


def write_report(request, timing, source, rows):
    from .outputs import atomic_text

    with atomic_text(request.report) as handle:
        handle.write(markdown(request, timing, source, rows))
