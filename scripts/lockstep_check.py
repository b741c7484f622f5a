#!/usr/bin/env python
"""Train a fairseq run and its HuggingFace twin side by side on the same batches and compare them.

    python scripts/lockstep_check.py                       # MiniLM, SST-2, every method with a twin, 100 updates
    python scripts/lockstep_check.py --docs                # and write the table into docs/hf_twin.md

Dropout off and fp32, so that only rounding separates the two: per update, the relative gap of the
losses; at the end, the largest gap of any trained parameter. Both must stay under --tolerance
(1e-4); the exit status is 1 if one does not.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for, positive_int  # noqa: E402

PROG = "lockstep_check.py"


def main(argv=None):
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("--model", default="minilm", help="pretrained model (preset or directory; default minilm)")
    parser.add_argument("--methods", default="lora,dora,rslora,bitfit,ia3,full",
                        help="comma list of the recipe methods with a twin: lora, dora, rslora, bitfit, ia3, full")
    parser.add_argument("--updates", type=positive_int, default=100)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--work-dir", default=None, help="where data-bin/ is prepared (default: the project)")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/hf_twin.md (its lockstep block)")
    args = parser.parse_args(argv)

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.errors import UserError
    from peft_roberta.hf.report import TWIN_METHODS, lockstep_table, run_lockstep

    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in TWIN_METHODS]
    if unknown:
        parser.error(f"--methods: {unknown[0]} has no HuggingFace twin; choose among {', '.join(TWIN_METHODS)}")
    try:
        results = run_lockstep(args.model, methods, args.updates, args.batch_size, args.work_dir)
    except (UserError, CheckpointError) as err:
        return fail(PROG, err)
    table = lockstep_table(results, args.model, args.tolerance)
    print(table)
    if args.docs:
        from peft_roberta.pages import write_block
        from peft_roberta.paths import PROJECT_ROOT

        write_block(PROJECT_ROOT / "docs" / "hf_twin.md", "lockstep", table)
    within = all(r["max_relative_loss_gap"] <= args.tolerance and r["max_parameter_gap"] <= args.tolerance
                 for r in results)
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
