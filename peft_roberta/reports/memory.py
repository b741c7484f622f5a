"""The training memory of fine-tuning a transformer, full or parameter-efficient: the bytes of the
weights, gradients, optimizer states and (optionally) activations, beside full fine-tuning under
the same settings. Every figure is shown in GiB (2**30 bytes) and in decimal GB (10**9 bytes);
course report 004 labels its figures "GB" but computes them in GiB.

No fairseq or torch import.
"""
from __future__ import annotations

import re

from ..errors import UserError
from ..published import PUBLISHED

GIB = 2 ** 30
GB = 10 ** 9

PRECISIONS = ("fp32", "mixed")
OPTIMIZERS = ("adam", "sgd")
PEFT_MODES = ("added", "subset")
ADAM_STATES = 2

BYTE_MODEL = """Byte model (per parameter; "trained" = parameters that receive gradients):
    fp32:  every stored weight 4; per trained parameter: gradient 4, Adam m and v 4 + 4.
    mixed: every stored weight 2 (16-bit); per trained parameter: gradient 2,
           fp32 master weight 4, Adam m and v 4 + 4 (the usual 16 bytes per
           parameter for full fine-tuning).
    sgd:   no optimizer state (plain SGD without momentum).
PEFT modes, with F = --trainable-fraction and P = --params:
    added:  F*P new parameters (adapters, LoRA) on top of the P frozen ones;
            P + F*P weights are stored, only the F*P have gradients and states.
    subset: F*P of the P existing parameters are trained (BitFit); P weights stored.

Activations (with --batch B --seq-len S --layers L --hidden H --heads A [--ffn F]):
what autograd keeps per encoder layer of a BERT/RoBERTa block when every
layer is trained, following the per-layer count of Korthikanti et al. (2022,
"Reducing Activation Recomputation in Large Transformer Models"), with p bytes
per activation (4 for fp32, 2 for mixed) and 1-byte dropout masks:
    attention: input of the Q/K/V projection p*SBH, Q and K 2p*SBH, softmax
               output p*A*S*S*B (the raw scores are not kept: softmax backward
               uses its output), dropout mask 1*A*S*S*B, dropout output
               p*A*S*S*B, V p*SBH, input of the output projection p*SBH,
               output dropout mask 1*SBH;
    FFN:       input p*SBH, GELU input p*SBF, GELU output p*SBF, dropout mask 1*SBH;
    LayerNorm: the two LayerNorm inputs (the residual sums) 2p*SBH; the
               residual additions themselves keep nothing.
    per layer = S*B*((8p+2)*H + 2p*F) + (2p+1)*A*S*S*B bytes, times L.
With p=2 and F=4H this is the paper's S*B*H*(34 + 5*A*S/H); with p=4 (fp32) it
is S*B*H*(66 + 9*A*S/H). Embeddings, the classification head and the
framework's workspace are not counted. For PEFT this is an upper bound: a
frozen linear layer does not need its input kept for a weight gradient.
"""

# Parameter counts are those of the Hugging Face encoders (with pooler).
PRESETS = {
    "report004": {"params": 3_000_000_000, "precision": "fp32", "optimizer": "adam",
                  "trainable_fraction": 0.05, "peft_mode": "added",
                  "about": "3B parameters, fp32, Adam, adapters of 5% (course report 004)"},
    "roberta-base": {"params": 124_645_632, "layers": 12, "hidden": 768, "heads": 12,
                     "ffn": 3072, "about": "RoBERTa-base encoder"},
    "roberta-large": {"params": 355_359_744, "layers": 24, "hidden": 1024, "heads": 16,
                      "ffn": 4096, "about": "RoBERTa-large encoder"},
    "minilm": {"params": 22_713_216, "layers": 6, "hidden": 384, "heads": 12, "ffn": 1536,
               "about": "MiniLM-L6-H384 (all-MiniLM-L6-v2) encoder"},
}
ACTIVATION_OPTIONS = ("batch", "seq_len", "layers", "hidden", "heads")
SUFFIXES = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "b": 10 ** 9, "g": 10 ** 9, "t": 10 ** 12}
FIGURES = ("full_finetune", "total", "saving")  # the estimate's totals, report 004's order


def parse_count(text: str) -> int:
    """'3e9', '125M', '3B', '1.5k', '22_713_216' -> number of parameters."""
    match = re.fullmatch(r"\s*((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([kmbgt]?)\s*",
                         text.replace("_", "").replace(",", ""), flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"expected a count like 3e9, 125M or 3B, got {text!r}")
    count = round(float(match.group(1)) * SUFFIXES[match.group(2).lower()])
    if count < 1:
        raise ValueError(f"expected a positive count, got {text!r}")
    return count


def activation_bytes(batch, seq_len, layers, hidden, heads, ffn=None, bytes_per_value=4) -> int:
    """Activation memory kept for the backward pass of a BERT-style encoder (BYTE_MODEL)."""
    ffn = 4 * hidden if ffn is None else ffn
    p = bytes_per_value
    tokens = batch * seq_len
    per_layer = tokens * ((8 * p + 2) * hidden + 2 * p * ffn) \
        + (2 * p + 1) * heads * seq_len * seq_len * batch
    return layers * per_layer


def weight_bytes(precision: str) -> int:
    """Bytes of one stored weight: 4 in fp32, 2 (16-bit) in mixed precision."""
    return 4 if precision == "fp32" else 2


def _components(params, precision, trainable, peft_mode, optimizer, activations):
    size = weight_bytes(precision)
    width = "fp32" if precision == "fp32" else "16-bit"
    rows = []
    if peft_mode == "added":
        rows.append((f"frozen model weights ({width})", params * size))
        rows.append((f"added module weights ({width})", trainable * size))
    else:
        rows.append((f"model weights ({width})", params * size))
    rows.append((f"gradients ({width}, trained params)", trainable * size))
    if precision == "mixed":
        rows.append(("fp32 master weights (trained params)", trainable * 4))
    if optimizer == "adam":
        rows.append(("Adam states m, v (fp32)", trainable * 4 * ADAM_STATES))
    if activations is not None:
        rows.append(("activations", activations))
    return rows


def _check(params, precision, trainable_fraction, peft_mode, optimizer):
    if params < 1:
        raise ValueError("params must be positive")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}")
    if peft_mode not in PEFT_MODES:
        raise ValueError(f"peft_mode must be one of {PEFT_MODES}")
    if not trainable_fraction > 0 or (peft_mode == "subset" and trainable_fraction > 1):
        raise ValueError("trainable_fraction must be in (0, 1] for subset, > 0 for added")


def estimate(params, precision="fp32", trainable_fraction=1.0, peft_mode="subset",
             optimizer="adam", batch=None, seq_len=None, layers=None, hidden=None,
             heads=None, ffn=None) -> dict:
    """Memory estimate as a dict: components [{component, bytes}], total_bytes,
    full_finetune_bytes (same settings, every parameter trained) and saving_bytes.

    trainable_fraction=1.0 with peft_mode="subset" is full fine-tuning.
    Activations are included when batch, seq_len, layers, hidden and heads are given.
    """
    _check(params, precision, trainable_fraction, peft_mode, optimizer)
    shape = dict(batch=batch, seq_len=seq_len, layers=layers, hidden=hidden, heads=heads)
    activations = None
    if any(value is not None for value in shape.values()):
        missing = [name for name, value in shape.items() if value is None]
        if missing:
            raise ValueError(f"activation estimate needs {', '.join(missing)}")
        if any(value < 1 for value in shape.values()) or (ffn is not None and ffn < 1):
            raise ValueError("activation sizes must be positive")
        activations = activation_bytes(batch, seq_len, layers, hidden, heads, ffn, weight_bytes(precision))
    params = int(params)
    trainable = round(trainable_fraction * params)
    rows = _components(params, precision, trainable, peft_mode, optimizer, activations)
    full = _components(params, precision, params, "subset", optimizer, activations)
    total = sum(size for _, size in rows)
    full_total = sum(size for _, size in full)
    return {
        "params": params, "precision": precision, "optimizer": optimizer,
        "peft_mode": peft_mode, "trainable_fraction": trainable_fraction,
        "trainable_params": trainable,
        "stored_params": params + (trainable if peft_mode == "added" else 0),
        "components": [{"component": name, "bytes": size} for name, size in rows],
        "total_bytes": total,
        "full_finetune_bytes": full_total,
        "saving_bytes": full_total - total,
        "activation_shape": {**shape, "ffn": (ffn or 4 * hidden)} if activations else None,
    }


def gib(size: int) -> float:
    return size / GIB


def gb(size: int) -> float:
    return size / GB


def preset_estimate(name: str) -> dict:
    """``estimate`` of a preset's parameters, precision, optimizer and trained fraction (no activations)."""
    preset = PRESETS[name]
    return estimate(preset["params"], preset.get("precision", "fp32"), preset.get("trainable_fraction", 1.0),
                    preset.get("peft_mode", "subset"), preset.get("optimizer", "adam"))


def units_note() -> str:
    """What GiB and GB are, and report 004's weights (written "GB") against ours in both units."""
    weights = preset_estimate("report004")["params"] * weight_bytes(PRESETS["report004"]["precision"])
    published = PUBLISHED["004"]["memory"]["weights"]
    return (f"GiB = 2^{GIB.bit_length() - 1} bytes, GB = 10^{len(str(GB)) - 1} bytes. Report 004 writes "
            f"'GB' for values computed in GiB (its '{published} GB' of weights is {gib(weights):.3f} GiB "
            f"= {gb(weights):.3f} GB).")


def format_table(result: dict) -> str:
    """Plain-text table: component, bytes, GiB, GB, then total, full fine-tuning and saving."""
    rows = [(c["component"], c["bytes"]) for c in result["components"]]
    rows.append(("total", result["total_bytes"]))
    rows.append(("full fine-tuning, same settings", result["full_finetune_bytes"]))
    rows.append(("saving vs full fine-tuning", result["saving_bytes"]))
    name_width = max(len("component"), *(len(name) for name, _ in rows))
    byte_width = max(len("bytes"), *(len(f"{size:,}") for _, size in rows))
    line = f"{{:<{name_width}}}  {{:>{byte_width}}}  {{:>10}}  {{:>10}}"
    out = [line.format("component", "bytes", "GiB", "GB")]
    out.append("-" * len(out[0]))
    for index, (name, size) in enumerate(rows):
        if index == len(result["components"]):
            out.append("-" * len(out[0]))
        out.append(line.format(name, f"{size:,}", f"{gib(size):.3f}", f"{gb(size):.3f}"))
    return "\n".join(out)


def describe(result: dict) -> str:
    """One line: parameters, precision, optimizer, what is trained and the activations' shape."""
    if result["peft_mode"] == "subset" and result["trainable_params"] == result["params"]:
        training = "full fine-tuning"
    elif result["peft_mode"] == "added":
        training = (f"frozen model + added modules of {result['trainable_fraction']:g} x params "
                    f"({result['trainable_params']:,} trained)")
    else:
        training = (f"{result['trainable_fraction']:g} of the parameters trained "
                    f"({result['trainable_params']:,})")
    text = (f"{result['params']:,} parameters, {result['precision']}, {result['optimizer']}; "
            f"{training}")
    shape = result["activation_shape"]
    if shape:
        text += (f"; activations for batch {shape['batch']} x {shape['seq_len']} tokens, "
                 f"{shape['layers']} layers, hidden {shape['hidden']}, {shape['heads']} heads, "
                 f"FFN {shape['ffn']}")
    return text


def report_text(result: dict) -> str:
    """The command's plain-text output: a description line, the table and the units note."""
    return f"Training memory: {describe(result)}\n\n{format_table(result)}\n\n{units_note()}"


def with_units(result: dict) -> dict:
    """The estimate with every byte count also in GiB and GB, and the units note (the --json output)."""
    out = dict(result)
    out["components"] = [{**c, "GiB": gib(c["bytes"]), "GB": gb(c["bytes"])}
                         for c in result["components"]]
    for key in ("total", "full_finetune", "saving"):
        out[f"{key}_GiB"] = gib(result[f"{key}_bytes"])
        out[f"{key}_GB"] = gb(result[f"{key}_bytes"])
    out["units"] = units_note()
    return out


def resolve(options: dict, preset_name=None) -> dict:
    """``estimate``'s keyword arguments from command-line options (None: not given) over a preset.

    Raises UserError, naming the option, for a combination that cannot be estimated.
    """
    preset = PRESETS.get(preset_name, {})

    def pick(name, default=None):
        value = options.get(name)
        return value if value is not None else preset.get(name, default)

    params = pick("params")
    if params is None:
        raise UserError("--params is required (or choose a --preset)")
    fraction = pick("trainable_fraction")
    if fraction is None and options.get("peft_mode") is not None:
        raise UserError("--peft-mode needs --trainable-fraction")
    peft_mode = pick("peft_mode", "added") if fraction is not None else "subset"
    if fraction is None:
        fraction = 1.0
    if peft_mode == "subset" and fraction > 1:
        raise UserError(f"--trainable-fraction: must be at most 1 with --peft-mode subset, got {fraction:g}")
    shape = {}
    if any(options.get(name) is not None for name in ACTIVATION_OPTIONS + ("ffn",)):
        shape = {name: pick(name) for name in ACTIVATION_OPTIONS + ("ffn",)}
        missing = [name for name in ACTIVATION_OPTIONS if shape[name] is None]
        if missing:
            names = ", ".join("--" + name.replace("_", "-") for name in missing)
            raise UserError(f"the activation estimate also needs {names}")
    return dict(params=params, precision=pick("precision", "fp32"), trainable_fraction=fraction,
                peft_mode=peft_mode, optimizer=pick("optimizer", "adam"), **shape)


def report004_figures() -> dict:
    """Report 004's memory arithmetic: the estimate of its preset, its totals and its frozen weights in
    GiB and GB, and the preset itself."""
    result = preset_estimate("report004")
    weights = result["params"] * weight_bytes(result["precision"])
    return {"preset": PRESETS["report004"], "result": result,
            "gib": {key: gib(result[f"{key}_bytes"]) for key in FIGURES},
            "gb": {key: gb(result[f"{key}_bytes"]) for key in FIGURES},
            "weights_gib": gib(weights), "weights_gb": gb(weights)}
