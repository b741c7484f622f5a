#!/usr/bin/env python
"""Where one training step of fairseq + the plugin spends its time and its memory.

    python scripts/profile_step.py --method lora
    python scripts/profile_step.py --method full --out results/profile/full.json
    python scripts/profile_step.py --shape roberta.base --method lora --steps 2   # roberta.base's size, random init

The same setup as ``scripts/benchmark.py`` (pretrained MiniLM, the quick profile's SST-2 data and
options, batch 32, Adam), in one process for one method. It prints:
  - time: ``torch.profiler`` over a number of steps after warm-up, grouped into matrix products
    (with the FLOP/s they reach against the matmul peak measured in the same run), attention
    kernels, element-wise and normalisation ops, the optimizer, and the rest (Python, autograd,
    data handling): what keeps the step below the matmul peak;
  - memory: resident memory after the libraries are imported, once model, checkpoint and data are
    loaded, and at its peak while training; and on the longest batch of the epoch, the bytes autograd
    saves for the backward pass (by tensor kind), the weights, the gradients and the Adam state.
--shape roberta.base or roberta.large (or --model roberta-base-shape / roberta-large-shape): that
architecture, roberta.base's official dictionary and GPT-2 BPE (the data tokenized with it), random
weights: memory figures at that size.
Writes the figures as JSON with ``--out``.
"""
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.bench.models import SHAPE_MODELS  # noqa: E402
from peft_roberta.cli import fail, parser_for, positive_int  # noqa: E402

PROG = "profile_step.py"


def main(argv=None):
    from peft_roberta.bench.measure import METHODS, add_common_arguments

    parser = parser_for(__doc__, prog=PROG)
    add_common_arguments(parser, 'pretrained model (preset or directory), or roberta-base-shape / '
                         'roberta-large-shape (default minilm)')
    parser.add_argument("--method", default="lora", choices=METHODS)
    parser.add_argument("--shape", choices=sorted(SHAPE_MODELS), help="random-init model of this shape")
    parser.add_argument("--steps", type=positive_int, default=20, help="profiled updates")
    parser.add_argument("--warmup", type=int, default=5, help="updates before profiling")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: the plugin's --autocast-bf16 (matmuls in bfloat16)")
    parser.add_argument("--top", type=int, default=0, help="also print the N costliest ops with their input shapes")
    parser.add_argument("--out", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    args.command = "python scripts/profile_step.py " + shlex.join(sys.argv[1:] if argv is None else argv)

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.bench.models import model_name
    from peft_roberta.bench.profile import run
    from peft_roberta.errors import UserError

    args.model_name = model_name(args.model, args.shape)
    try:
        run(args)
    except (UserError, CheckpointError) as err:
        return fail(PROG, err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
