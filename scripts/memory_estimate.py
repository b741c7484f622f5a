"""Estimate the training memory of fine-tuning a transformer, full or parameter-efficient.

Counts the bytes of the weights, gradients, optimizer states and (optionally)
activations, and compares with full fine-tuning under the same settings.
Every figure is shown in GiB (2**30 bytes) and in decimal GB (10**9 bytes).
Course report 004 labels its figures "GB" but computes them in GiB.

Usage:
    python scripts/memory_estimate.py --preset report004
    python scripts/memory_estimate.py --params 125M --trainable-fraction 0.01 --peft-mode added \\
        --precision mixed --batch 32 --seq-len 128 --layers 12 --hidden 768 --heads 12

The estimator is peft_roberta.reports.memory (its BYTE_MODEL is shown by --help).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peft_roberta.cli import OneLineParser, positive_int  # noqa: E402
from peft_roberta.errors import UserError  # noqa: E402
from peft_roberta.reports import memory  # noqa: E402


def _count_option(text: str) -> int:
    try:
        return memory.parse_count(text)
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
    presets = "; ".join(f"{name}: {spec['about']}" for name, spec in memory.PRESETS.items())
    presets = presets.replace("%", "%%")
    parser = OneLineParser(
        prog="memory_estimate.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Training-memory calculator for full and parameter-efficient fine-tuning\n"
                    "of a transformer. Every figure is shown in GiB (2^30 bytes) and decimal\n"
                    "GB (10^9 bytes); course report 004 writes 'GB' for values in GiB.",
        epilog=memory.BYTE_MODEL)
    parser.add_argument("--preset", choices=sorted(memory.PRESETS),
                        help=f"starting values, overridden by explicit options ({presets})")
    parser.add_argument("--params", type=_count_option,
                        help="number of model parameters: 3e9, 125M, 3B, 22_713_216")
    parser.add_argument("--precision", choices=memory.PRECISIONS,
                        help="fp32: 4-byte weights, gradients and Adam states; mixed: 16-bit "
                             "weights and gradients for the model plus fp32 master weights and "
                             "fp32 Adam states for the trained parameters (default: fp32)")
    parser.add_argument("--optimizer", choices=memory.OPTIMIZERS,
                        help="adam: two fp32 states per trained parameter; sgd: none "
                             "(default: adam)")
    parser.add_argument("--trainable-fraction", type=_fraction, metavar="F",
                        help="train only F x params (default: full fine-tuning)")
    parser.add_argument("--peft-mode", choices=memory.PEFT_MODES,
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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        options = {name: value for name, value in vars(args).items() if name not in ("preset", "json")}
        try:
            settings = memory.resolve(options, args.preset)
        except UserError as exc:
            parser.error(str(exc))
    except SystemExit as exc:  # --help, or a usage error already reported in one line
        return exc.code or 0
    result = memory.estimate(**settings)
    print(json.dumps(memory.with_units(result), indent=2) if args.json else memory.report_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
