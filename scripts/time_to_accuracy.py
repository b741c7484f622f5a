#!/usr/bin/env python
"""Time to accuracy: SST-2 dev accuracy against training time, fairseq + the plugin against tuned HF + peft.

    python scripts/time_to_accuracy.py                          # lora and full, fairseq and hf-tuned
    python scripts/time_to_accuracy.py --methods lora --every 25 --target 88

The quick profile for each method (pretrained MiniLM, SST-2's 32,000 training sentences, batch 32,
one epoch, the method's quick learning rate, the recipe's schedule); fairseq + the plugin with the
recipe's fairseq-train options, HF tuned as scripts/benchmark.py's hf-tuned (length-grouped batches,
fused AdamW, sdpa, data-loader workers when faster, bf16 where the CPU multiplies it). Each trains in
its own process, one after the other, validated on GLUE dev every --every updates. Writes
time_to_accuracy.json (every point: updates, training seconds without validation, dev accuracy),
time_to_accuracy.png (accuracy against time and against updates, the target dashed) and
time_to_accuracy.md (when each reaches --target) into --out-dir.
"""
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for, positive_int  # noqa: E402

PROG = "time_to_accuracy.py"
TTA_METHODS = ("lora", "bitfit", "full", "ia3")


def workers(text):
    """``auto`` or a number of data-loader workers (0 or more)."""
    if text in ("auto", "0"):
        return 0 if text == "0" else text
    return positive_int(text)


def main(argv=None):
    from peft_roberta.bench.measure import IMPLS, add_common_arguments
    from peft_roberta.paths import PROJECT_ROOT

    parser = parser_for(__doc__, prog=PROG)
    add_common_arguments(parser, 'pretrained model with a HuggingFace source (default minilm)')
    parser.add_argument("--methods", default="lora,full", help="comma list from " + ",".join(TTA_METHODS))
    parser.add_argument("--impls", default="fairseq,hf-tuned", help="comma list from " + ",".join(IMPLS))
    parser.add_argument("--every", type=positive_int, default=50, help="updates between validations")
    parser.add_argument("--target", type=float, default=85.0, help="dev accuracy (percent) to reach")
    parser.add_argument("--max-updates", type=positive_int, help="stop after this many updates (smoke tests)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="auto (the recipes'): bf16 on a GPU or a CPU that multiplies bfloat16, else fp32")
    parser.add_argument("--workers", type=workers, default="auto",
                        help="hf-tuned data-loader workers (auto: 0 or 2, whichever a short probe finds faster)")
    parser.add_argument("--compile", action="store_true", help="hf-tuned: torch.compile")
    parser.add_argument("--out-dir", default=str(PROJECT_ROOT / "results" / "time_to_accuracy"))
    args = parser.parse_args(argv)
    args.command = "python scripts/time_to_accuracy.py " + shlex.join(sys.argv[1:] if argv is None else argv)

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.bench.measure import comma_list
    from peft_roberta.bench.time_to_accuracy import run
    from peft_roberta.errors import UserError

    try:
        args.methods = comma_list(args.methods, TTA_METHODS, "methods")
        args.impls = comma_list(args.impls, IMPLS, "impls")
        print(run(args))
    except (UserError, CheckpointError) as err:
        return fail(PROG, err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
