#!/usr/bin/env python
"""Training and inference speed and memory: fairseq + the plugin against HF Trainer + peft, as shipped and tuned.

    python scripts/benchmark.py --quick          # a few minutes per impl x method on 2 CPU cores
    python scripts/benchmark.py --device cuda --precision bf16
    python scripts/benchmark.py --shape roberta.base --impls fairseq --methods lora,full   # memory at that size

Same machine, weights (the pretrained MiniLM by default), data (SST-2 as the quick profile prepares
it: 32,000 training sentences), batch size and hyperparameters (the quick profile's) for every
implementation:
  - fairseq: fairseq + the plugin (its length-bucketed task, fairseq's Trainer.train_step);
  - hf: HF Trainer + peft as shipped (from_pretrained, AutoTokenizer, DataCollatorWithPadding, the
    Trainer's default sampler, optimizer and attention, no data-loader workers);
  - hf-tuned: length-grouped batches, fused AdamW, sdpa attention, data-loader workers when faster,
    bf16 where the CPU multiplies bfloat16 (--precision auto), torch.compile with --compile.
Each implementation x method runs in its own process (its peak resident memory is its own) and measures:
  - training throughput over a fixed number of updates after warm-up (which ends with the epoch's
    largest batch, so that the peak memory is the epoch's), on batches drawn at random from one epoch
    as each implementation batches it: sentences/s and real (non-padding) tokens/s;
  - one epoch's time: the number of batches times the mean step;
  - achieved FLOP/s as a fraction of the matmul peak measured in the same run, in the run's precision
    (FLOPs counted from the shapes each implementation really computes);
  - peak resident memory through the training steps (and the process's, with saving and inference),
    the size of the saved trainable state (PEFT-only file / peft adapter) and of a full training
    checkpoint, and inference throughput (dev set, LoRA / IA3 merged).
Writes benchmark.json (one object per impl x method) and benchmark.md into --out-dir. --shape
roberta.base or roberta.large (or --model roberta-base-shape / roberta-large-shape): that
architecture, roberta.base's dictionary and GPT-2 BPE with random weights, fairseq only.
"""
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.bench.models import SHAPE_MODELS  # noqa: E402
from peft_roberta.cli import fail, parser_for, positive_int  # noqa: E402

PROG = "benchmark.py"


def main(argv=None):
    from peft_roberta.bench.measure import IMPLS, METHODS, add_common_arguments
    from peft_roberta.paths import PROJECT_ROOT

    parser = parser_for(__doc__, prog=PROG)
    add_common_arguments(parser, 'pretrained model (preset or directory), or roberta-base-shape / '
                         'roberta-large-shape (default minilm)')
    parser.add_argument("--quick", action="store_true", help="fewer measured updates (30 instead of 100)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma list from " + ",".join(METHODS))
    parser.add_argument("--impls", default=",".join(IMPLS), help="comma list from " + ",".join(IMPLS))
    parser.add_argument("--shape", choices=sorted(SHAPE_MODELS), help="random-init model of this shape (fairseq only)")
    parser.add_argument("--steps", type=positive_int, help="measured updates (default 100, --quick 30)")
    parser.add_argument("--warmup", type=int, default=5, help="updates before measuring")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="auto: bf16 on a GPU; on a CPU fp32, except hf-tuned: bf16 where the CPU multiplies it")
    parser.add_argument("--compile", action="store_true",
                        help="hf-tuned: torch.compile (TrainingArguments.torch_compile)")
    parser.add_argument("--checkpoint-activations", action="store_true",
                        help="every impl recomputes each layer's activations in the backward pass (fairseq's "
                        "--checkpoint-activations, HF's activation_checkpointing): less memory, more compute")
    parser.add_argument("--repeats", type=positive_int, default=1,
                        help="measure every impl x method this many times, interleaved; each row is the run with "
                        "the median peak RSS, every run's peak and step time recorded")
    parser.add_argument("--frozen-weights-dtype", default="fp32", choices=["fp32", "bf16"],
                        help="every impl keeps its frozen Linear weights in this dtype (fairseq's "
                        "--frozen-weights-dtype); bf16 needs --precision bf16, under whose autocast it gives the same "
                        "numbers with half the memory")
    parser.add_argument("--out-dir", default=str(PROJECT_ROOT / "results" / "benchmark"))
    args = parser.parse_args(argv)
    args.command = "python scripts/benchmark.py " + shlex.join(sys.argv[1:] if argv is None else argv)

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.bench.benchmark import run
    from peft_roberta.bench.measure import comma_list
    from peft_roberta.bench.models import model_name
    from peft_roberta.errors import UserError

    try:
        args.methods = comma_list(args.methods, METHODS, "methods")
        args.impls = comma_list(args.impls, IMPLS, "impls")
        args.steps = args.steps or (30 if args.quick else 100)
        args.model_name = model_name(args.model, args.shape)
        if args.frozen_weights_dtype == "bf16" and args.precision != "bf16":
            raise UserError(f"--frozen-weights-dtype bf16 needs --precision bf16 (here {args.precision}): "
                            "only under bf16 autocast do the rounded weights give the same numbers")
        print(run(args))
    except (UserError, CheckpointError) as err:
        return fail(PROG, err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
