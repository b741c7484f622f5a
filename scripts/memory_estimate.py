"""Estimate the training memory of fine-tuning a transformer, full or parameter-efficient.

Counts the bytes of the weights, gradients, optimizer states and (optionally)
activations, and compares with full fine-tuning under the same settings.
Every figure is shown in GiB (2**30 bytes) and in decimal GB (10**9 bytes).
Course report 004 labels its figures "GB" but computes them in GiB.

Usage:
    python scripts/memory_estimate.py --preset report004
    python scripts/memory_estimate.py --params 125M --trainable-fraction 0.01 --peft-mode added \\
        --precision mixed --batch 32 --seq-len 128 --layers 12 --hidden 768 --heads 12

Byte model (per parameter; "trained" = parameters that receive gradients):
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
from __future__ import annotations

import argparse
import json
import re
import sys

from cli_types import positive_int

GIB = 2 ** 30
GB = 10 ** 9

PRECISIONS = ("fp32", "mixed")
OPTIMIZERS = ("adam", "sgd")
PEFT_MODES = ("added", "subset")
ADAM_STATES = 2

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


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


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
    """Activation memory kept for the backward pass of a BERT-style encoder (module docstring)."""
    ffn = 4 * hidden if ffn is None else ffn
    p = bytes_per_value
    tokens = batch * seq_len
    per_layer = tokens * ((8 * p + 2) * hidden + 2 * p * ffn) \
        + (2 * p + 1) * heads * seq_len * seq_len * batch
    return layers * per_layer


def _components(params, precision, trainable, peft_mode, optimizer, activations):
    weight_bytes = 4 if precision == "fp32" else 2
    width = "fp32" if precision == "fp32" else "16-bit"
    rows = []
    if peft_mode == "added":
        rows.append((f"frozen model weights ({width})", params * weight_bytes))
        rows.append((f"added module weights ({width})", trainable * weight_bytes))
    else:
        rows.append((f"model weights ({width})", params * weight_bytes))
    rows.append((f"gradients ({width}, trained params)", trainable * weight_bytes))
    if precision == "mixed":
        rows.append(("fp32 master weights (trained params)", trainable * 4))
    if optimizer == "adam":
        rows.append(("Adam states m, v (fp32)", trainable * 4 * ADAM_STATES))
    if activations is not None:
        rows.append(("activations", activations))
    return rows


def estimate(params, precision="fp32", trainable_fraction=1.0, peft_mode="subset",
             optimizer="adam", batch=None, seq_len=None, layers=None, hidden=None,
             heads=None, ffn=None) -> dict:
    """Memory estimate as a dict: components [{component, bytes}], total_bytes,
    full_finetune_bytes (same settings, every parameter trained) and saving_bytes.

    trainable_fraction=1.0 with peft_mode="subset" is full fine-tuning.
    Activations are included when batch, seq_len, layers, hidden and heads are given.
    """
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
    shape = dict(batch=batch, seq_len=seq_len, layers=layers, hidden=hidden, heads=heads)
    activations = None
    if any(value is not None for value in shape.values()):
        missing = [name for name, value in shape.items() if value is None]
        if missing:
            raise ValueError(f"activation estimate needs {', '.join(missing)}")
        if any(value < 1 for value in shape.values()) or (ffn is not None and ffn < 1):
            raise ValueError("activation sizes must be positive")
        activations = activation_bytes(batch, seq_len, layers, hidden, heads, ffn,
                                       4 if precision == "fp32" else 2)
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


UNITS_NOTE = ("GiB = 2^30 bytes, GB = 10^9 bytes. Report 004 writes 'GB' for values "
              "computed in GiB (its '11.76 GB' of weights is 11.176 GiB = 12.000 GB).")


def _with_units(result: dict) -> dict:
    out = dict(result)
    out["components"] = [{**c, "GiB": gib(c["bytes"]), "GB": gb(c["bytes"])}
                         for c in result["components"]]
    for key in ("total", "full_finetune", "saving"):
        out[f"{key}_GiB"] = gib(result[f"{key}_bytes"])
        out[f"{key}_GB"] = gb(result[f"{key}_bytes"])
    out["units"] = UNITS_NOTE
    return out


def _count_option(text: str) -> int:
    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.05, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    # argparse %-formats help strings, so a literal "%" must be doubled
    presets = "; ".join(f"{name}: {spec['about']}" for name, spec in PRESETS.items())
    presets = presets.replace("%", "%%")
    parser = _OneLineParser(
        prog="memory_estimate.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Training-memory calculator for full and parameter-efficient fine-tuning\n"
                    "of a transformer. Every figure is shown in GiB (2^30 bytes) and decimal\n"
                    "GB (10^9 bytes); course report 004 writes 'GB' for values in GiB.",
        epilog=__doc__[__doc__.index("Byte model"):])
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help=f"starting values, overridden by explicit options ({presets})")
    parser.add_argument("--params", type=_count_option,
                        help="number of model parameters: 3e9, 125M, 3B, 22_713_216")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="fp32: 4-byte weights, gradients and Adam states; mixed: 16-bit "
                             "weights and gradients for the model plus fp32 master weights and "
                             "fp32 Adam states for the trained parameters (default: fp32)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS,
                        help="adam: two fp32 states per trained parameter; sgd: none "
                             "(default: adam)")
    parser.add_argument("--trainable-fraction", type=_fraction, metavar="F",
                        help="train only F x params (default: full fine-tuning)")
    parser.add_argument("--peft-mode", choices=PEFT_MODES,
                        help="added: F x params new parameters on top of the frozen model "
                             "(adapters, LoRA); subset: F of the existing parameters are "
                             "trained (BitFit) (default: added)")
    group = parser.add_argument_group(
        "activations",
        "per-layer count of Korthikanti et al. 2022 with p = 4-byte (fp32) or 2-byte\n"
        "(mixed) values and 1-byte dropout masks, S*B*((8p+2)*H + 2p*F) + (2p+1)*A*S^2*B\n"
        "bytes per layer (details below); needs --batch, --seq-len, --layers, --hidden,\n"
        "--heads (a --preset supplies the last three)")
    group.add_argument("--batch", type=positive_int, metavar="B", help="sequences per batch")
    group.add_argument("--seq-len", type=positive_int, metavar="S", help="tokens per sequence")
    group.add_argument("--layers", type=positive_int, metavar="L", help="encoder layers")
    group.add_argument("--hidden", type=positive_int, metavar="H", help="hidden size")
    group.add_argument("--heads", type=positive_int, metavar="A", help="attention heads")
    group.add_argument("--ffn", type=positive_int, metavar="F",
                       help="FFN inner size (default: 4 x hidden)")
    parser.add_argument("--json", action="store_true",
                        help="print the estimate as JSON instead of a table")
    return parser


def main(argv=None) -> int:
    try:
        return _run(build_parser(), argv)
    except SystemExit as exc:  # --help, or a usage error already reported in one line
        return exc.code or 0


def _run(parser: argparse.ArgumentParser, argv) -> int:
    args = parser.parse_args(argv)
    preset = PRESETS.get(args.preset, {})

    def pick(name, default=None):
        value = getattr(args, name)
        return value if value is not None else preset.get(name, default)

    params = pick("params")
    if params is None:
        parser.error("--params is required (or choose a --preset)")
    fraction = pick("trainable_fraction")
    if fraction is None and args.peft_mode is not None:
        parser.error("--peft-mode needs --trainable-fraction")
    peft_mode = pick("peft_mode", "added") if fraction is not None else "subset"
    if fraction is None:
        fraction = 1.0
    if peft_mode == "subset" and fraction > 1:
        parser.error(f"--trainable-fraction: must be at most 1 with --peft-mode subset, "
                     f"got {fraction:g}")

    explicit_shape = [name for name in ACTIVATION_OPTIONS + ("ffn",)
                      if getattr(args, name) is not None]
    shape = {}
    if explicit_shape:
        shape = {name: pick(name) for name in ACTIVATION_OPTIONS + ("ffn",)}
        missing = [name for name in ACTIVATION_OPTIONS if shape[name] is None]
        if missing:
            options = ", ".join("--" + name.replace("_", "-") for name in missing)
            parser.error(f"the activation estimate also needs {options}")

    result = estimate(params, pick("precision", "fp32"), fraction, peft_mode,
                      pick("optimizer", "adam"), **shape)
    if args.json:
        print(json.dumps(_with_units(result), indent=2))
        return 0
    print(f"Training memory: {describe(result)}")
    print()
    print(format_table(result))
    print()
    print(UNITS_NOTE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
