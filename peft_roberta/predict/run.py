"""``scripts/predict.py``: check everything, read the input, predict with each model, write the output."""
import os
import sys
from dataclasses import dataclass, field

from ..errors import UserError
from . import engine, inputs, models, outputs


@dataclass
class Request:
    """What ``scripts/predict.py`` parsed (the options' names)."""
    checkpoint: str = None
    peft_files: list = field(default_factory=list)
    input: str = None  # None or '-': standard input
    format: str = "auto"
    text_columns: tuple = None
    label_column: str = None
    id_column: str = None
    out: str = None  # None: standard output
    out_format: str = None
    out_dir: str = "."  # --glue-submission's folder
    glue_submission: str = None
    batch_size: int = 64
    precision: str = "auto"
    merge: bool = False
    data: str = None
    tokenizer: str = None
    report: str = None
    progress: bool = True
    command: list = field(default_factory=list)


def resolve_precision(precision):
    """auto: bf16 where the CPU multiplies bfloat16 natively (the recipes' PRECISION=auto), else fp32."""
    if precision != "auto":
        return precision
    from ..machine import cpu_multiplies_bf16

    return "bf16" if cpu_multiplies_bf16() else "fp32"


def check_request(request):
    """Option combinations and the output's folder: one-line errors before anything loads."""
    if request.glue_submission:
        if request.out or request.report:
            raise UserError(f"--glue-submission {request.glue_submission}: writes {request.glue_submission}.tsv "
                            "into --out-dir; not with --out or --report")
        if len(request.peft_files) > 1:
            raise UserError(f"--glue-submission {request.glue_submission}: one model per submission "
                            f"({len(request.peft_files)} --peft-file given)")
        if request.label_column:
            raise UserError(f"--glue-submission {request.glue_submission}: GLUE's test.tsv has no labels "
                            f"(--label-column {request.label_column})")
        if not os.path.isdir(request.out_dir):
            raise UserError(f"{request.out_dir}: no such folder (--out-dir)")
        outputs.check_writable(os.path.join(request.out_dir, f"{request.glue_submission}.tsv"), "--out-dir")
    if request.out is not None:
        outputs.check_writable(request.out)
    if request.label_column and request.input in (None, "-"):
        raise UserError("--label-column: standard input holds texts only; give the labelled file with --input")
    if request.report:
        if len(request.peft_files) > 1:
            raise UserError("--report: measures one model; give one --peft-file")
        outputs.check_writable(request.report, "--report")
    return outputs.output_format(request.out, request.out_format)


def input_spec(request, labels):
    preset = inputs.GLUE_TASKS.get(request.glue_submission, {})
    texts = request.text_columns or preset.get("text_columns") or labels.text_columns
    if not texts:
        raise UserError(f"--text-columns: {labels.data_dir} records no text columns (labels.json): give them")
    if labels.text_columns and len(texts) != len(labels.text_columns):
        given = "--text-columns" if request.text_columns else f"--glue-submission {request.glue_submission}"
        raise UserError(f"{given}: {len(texts)} text column(s) ({', '.join(texts)}), but the model reads "
                        f"{len(labels.text_columns)}, as trained ({', '.join(labels.text_columns)})")
    return inputs.Spec(tuple(texts), request.label_column, request.id_column or preset.get("id_column"))


def predict_with(hub, rows, cache, batch_size, bf16, progress=None):
    """(predicted class indices, probabilities) of one model over every row."""
    limit = engine.max_tokens(hub)
    if limit not in cache:
        cache[limit] = engine.encode(hub, rows, limit)
    tokens = cache[limit]
    order = engine.length_order([len(t) for t in tokens], engine.task_seed(hub))
    probs = engine.probabilities(hub, tokens, order, batch_size, bf16, progress)
    return probs.argmax(dim=-1).tolist(), probs


def run(request, stdin=None, err=None):
    """Predict as ``request`` says; the metric lines go to ``err`` (stderr). Raises UserError / CheckpointError."""
    err = err or sys.stderr
    fmt = check_request(request)
    sources, base_state = models.open_sources(request.checkpoint, request.peft_files)
    labels = models.resolve_labels(sources, request.data)
    if request.glue_submission:
        outputs.check_glue(request.glue_submission, labels.classes)
    spec = input_spec(request, labels)
    rows = inputs.read_rows(request.input, spec, request.format, labels.strip_html,
                            stdin if stdin is not None else sys.stdin.buffer)
    if spec.label:
        from ..data.labels import check_labels

        check_labels(request.input, rows, labels.classes, "model's classes")
    bf16 = resolve_precision(request.precision) == "bf16"
    results, cache, timing = [], {}, None
    for source, hub in models.models(request.checkpoint, sources, base_state, labels, request.tokenizer,
                                     request.merge):
        bar = engine.progress_bar(len(rows), source.name if len(sources) > 1 else None, request.progress)
        predicted, probs = predict_with(hub, rows, cache, request.batch_size, bf16, bar)
        if bar is not None:
            bar.close()
        results.append((source.name, predicted, probs))
        if request.report:
            from .report import measure

            timing = measure(hub, rows, request.batch_size, bf16)
    if spec.label:
        index = {name: i for i, name in enumerate(labels.classes)}
        gold = [index[row.label] for row in rows]
        for name, predicted, _ in results:
            line, _ = outputs.metric_line(name if len(results) > 1 else None, gold, predicted, labels.classes)
            print(line, file=err)
    if request.glue_submission:
        path = outputs.write_glue_submission(request.out_dir, request.glue_submission, rows, results[0][1],
                                             labels.classes)
        print(f"wrote {path}: {len(rows)} predictions in GLUE's format", file=err)
    else:
        outputs.write_predictions(request.out, fmt, rows, results, labels.classes, spec.id)
        if request.out:
            print(f"wrote {request.out}: {len(rows)} rows, {len(results)} model(s)", file=err)
    if request.report:
        from .report import write_report

        write_report(request, timing, sources[0], len(rows))
        print(f"wrote {request.report}: {timing['predictions_per_s']:.0f} predictions/s", file=err)
    return 0
